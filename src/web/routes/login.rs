//! `GET/POST /login` and `/admin/login`: one implementation, the realm as a type parameter.

use actix_identity::Identity;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage as _, HttpRequest, HttpResponse};
use actix_web_flash_messages::IncomingFlashMessages;
use serde::Deserialize;

use super::{html, safe_next, see_other};
use crate::app::auth::{sign_in, Caller, SignInOutcome};
use crate::app::error::{AppError, AppResult};
use crate::domain::client::ClientInfo;
use crate::web::cookies;
use crate::web::csrf;
use crate::web::form::{CsrfField, CsrfForm};
use crate::web::realm::{BrowserRealm, Pending, RealmKind, RealmSession};
use crate::web::startup::AppState;
use crate::web::templates::{self, Chrome, LoginPage};

pub const INVALID_CREDENTIALS: &str = "Invalid email or password.";
pub const OPEN_ELSEWHERE: &str = "Your account is open on another device.";

/// SPEC §6's exact words, "N minutes", even when N is 1.
pub fn locked_message(retry_after_secs: u64) -> String {
    let minutes = retry_after_secs.div_ceil(60);
    format!("Too many failed attempts. Try again in {minutes} minutes.")
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember_me: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf_token: String,
}

impl CsrfField for LoginForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

pub fn page(
    realm: BrowserRealm,
    chrome: Chrome,
    status: StatusCode,
    email: &str,
    next: &str,
    csrf_token: &str,
    error: Option<&str>,
) -> AppResult<HttpResponse> {
    let page = LoginPage {
        chrome,
        heading: realm.sign_in_heading(),
        action: realm.login_path(),
        is_admin: realm == BrowserRealm::Admin,
        show_remember_me: realm.persists(),
        email,
        next: &safe_next(realm, next).unwrap_or_default(),
        csrf_token,
        error,
    };
    Ok(html(status, templates::render(&page)?))
}

pub async fn form<R: RealmKind>(
    session: Session,
    flashes: IncomingFlashMessages,
    query: web::Query<LoginQuery>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    let token = csrf::token(&session, realm)?;
    page(
        realm,
        Chrome::new(None, &flashes),
        StatusCode::OK,
        "",
        &query.next,
        &token,
        None,
    )
}

pub async fn submit<R: RealmKind>(
    req: HttpRequest,
    client: ClientInfo,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(form, _): CsrfForm<R, LoginForm>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    let (browser, remembered) = browser_caller(&req, &session, &state, realm, client);
    let remember_me = form.remember_me == "on";
    let outcome = sign_in(
        &state,
        realm.into(),
        browser,
        form.email.clone(),
        form.password,
        remember_me,
        None,
    )
    .await?;
    let again = |status: StatusCode, message: &str| {
        let token = csrf::token(&session, realm)?;
        // SECURITY: a password typed into the email field is not shown back.
        let looks_like_email = form.email.contains('@')
            && form.email.len() <= 254
            && !form.email.chars().any(char::is_control);
        let shown_email = if looks_like_email {
            form.email.as_str()
        } else {
            ""
        };
        page(
            realm,
            Chrome::anonymous(),
            status,
            shown_email,
            &form.next,
            &token,
            Some(message),
        )
    };
    let (secret, account_id, device) = match outcome {
        // The api realm's alone; a browser changes the password after signing in.
        SignInOutcome::Refused
        | SignInOutcome::PasswordChangeRequired
        | SignInOutcome::TwoFactorRequired
        | SignInOutcome::InvalidCode => {
            return again(StatusCode::UNAUTHORIZED, INVALID_CREDENTIALS)
        }
        SignInOutcome::Blocked => return again(StatusCode::CONFLICT, OPEN_ELSEWHERE),
        SignInOutcome::Locked { retry_after_secs } => {
            let message = locked_message(retry_after_secs);
            let mut res = again(StatusCode::TOO_MANY_REQUESTS, &message)?;
            res.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            return Ok(res);
        }
        SignInOutcome::SecondFactor { account_id } => {
            // SPEC §15: no session yet; the realm's code page, for this realm only.
            let ttl =
                i64::try_from(state.config.admin.two_factor_pending_ttl.as_secs()).unwrap_or(300);
            RealmSession::of(&session, realm).set_pending(&Pending {
                account: account_id,
                next: safe_next(realm, &form.next)
                    .map(|n| n.into_owned())
                    .unwrap_or_default(),
                remember: remember_me,
                until: state.clock.now().and_utc().timestamp() + ttl,
                wrong: 0,
            })?;
            return Ok(see_other(realm.second_step_path()));
        }
        SignInOutcome::SignedIn {
            secret,
            account_id,
            device,
            ..
        } => (secret, account_id, device),
    };
    let signed = Signed {
        secret,
        account_id,
        device,
        remember: remember_me,
        next: form.next,
    };
    finish(&req, &session, &state, realm, signed, remembered)
}

/// What this browser brings to a sign-in of `realm` (both steps): the realm's secrets it holds
/// (session cookie and, for the user realm, the remember cookie, which the new session
/// replaces) and its device cookie. Also whether it had a remember cookie.
pub fn browser_caller(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    realm: BrowserRealm,
    client: ClientInfo,
) -> (Caller, bool) {
    let remembered = realm
        .persists()
        .then(|| cookies::read_remember(req, &state.config.cookie))
        .flatten();
    let had_remembered = remembered.is_some();
    let caller = Caller {
        client,
        earlier_secrets: RealmSession::of(session, realm)
            .secret()
            .into_iter()
            .chain(remembered)
            .collect(),
        device: cookies::read_device(req, &state.config.cookie),
        device_name: None,
    };
    (caller, had_remembered)
}

/// A sign-in that opened a registry row, to put into this browser.
pub struct Signed {
    pub secret: crate::domain::ids::SessionSecret,
    pub account_id: crate::domain::ids::AccountId,
    pub device: Option<String>,
    pub remember: bool,
    pub next: String,
}

/// The browser's half of a sign-in (SPEC §3, §6): the realm's keys, a new CSRF token, the
/// remember and device cookies, and the 303 to `next`.
pub fn finish(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    realm: BrowserRealm,
    signed: Signed,
    had_remembered: bool,
) -> AppResult<HttpResponse> {
    let Signed {
        secret,
        account_id,
        device,
        remember,
        next,
    } = signed;
    let remember_cookie = if remember && realm.persists() {
        Some(cookies::remember(&secret, &state.config.cookie))
    } else if had_remembered {
        // The earlier remembered session was just replaced: forget it.
        Some(cookies::remember_removal(&state.config.cookie))
    } else {
        None
    };
    // actix-identity's login renews the session before the realm's keys are written.
    Identity::login(&req.extensions(), secret.expose().to_owned())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("identity login: {e}")))?;
    let keys = RealmSession::of(session, realm);
    keys.sign_in(&secret, account_id)?;
    keys.clear_pending();
    csrf::replace(session, realm)?;
    let mut res = see_other(&safe_next(realm, &next).unwrap_or(realm.home_path().into()));
    for c in remember_cookie
        .into_iter()
        .chain(device.map(|d| cookies::device(&d, &state.config.cookie)))
    {
        res.add_cookie(&c)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cookie: {e}")))?;
    }
    Ok(res)
}

/// `GET /sign-in`: the old address, kept working for bookmarks.
pub async fn old_address(req: HttpRequest) -> HttpResponse {
    let location = match req.query_string() {
        "" => "/login".to_owned(),
        q => format!("/login?{q}"),
    };
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}
