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
use crate::web::templates::{self, Chrome, LoginPage, SignedInAs};

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

/// What a sign-in page shows besides the realm's form.
#[derive(Default)]
pub struct Shown<'a> {
    pub email: &'a str,
    pub next: &'a str,
    pub error: Option<&'a str>,
    /// A lockout: the page says that a reset unlocks.
    pub locked: bool,
    /// Someone is signed in to this realm already.
    pub who: Option<SignedInAs>,
    /// In place of the realm's heading (an admin confirming a named action).
    pub heading: Option<String>,
}

pub fn page(
    state: &AppState,
    realm: BrowserRealm,
    chrome: Chrome,
    status: StatusCode,
    csrf_token: &str,
    shown: Shown<'_>,
) -> AppResult<HttpResponse> {
    let confirming = shown.who.as_ref().is_some_and(|w| w.confirm);
    let page = LoginPage {
        chrome,
        heading: shown
            .heading
            .unwrap_or_else(|| realm.sign_in_heading().to_owned()),
        action: realm.login_path(),
        is_admin: realm == BrowserRealm::Admin,
        show_remember_me: realm.persists() && !confirming,
        email: shown.email,
        next: &safe_next(realm, shown.next).unwrap_or_default(),
        csrf_token,
        error: shown.error,
        locked: shown.locked,
        focus_password: !shown.email.is_empty() || confirming,
        signup: state.config.signup.enabled,
        who: shown.who,
        confirming,
    };
    Ok(html(status, templates::render(&page)?))
}

/// A flash of this prefix (at `Debug`, which no page shows) carries an address for the next
/// sign-in form to fill in: after a confirmed address, that address (SPEC §5 keeps the
/// redirect to a bare `/login`).
pub const PREFILL: &str = "prefill-email:";

pub fn prefill(email: &str) {
    actix_web_flash_messages::FlashMessage::new(
        format!("{PREFILL}{email}"),
        actix_web_flash_messages::Level::Debug,
    )
    .send();
}

pub async fn form<R: RealmKind>(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    flashes: IncomingFlashMessages,
    query: web::Query<LoginQuery>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    let prefilled = flashes
        .iter()
        .filter(|m| m.level() == actix_web_flash_messages::Level::Debug)
        .find_map(|m| m.content().strip_prefix(PREFILL))
        .unwrap_or_default()
        .to_owned();
    // Someone signed in to this realm who opens its sign-in page sees who, and a way on; an
    // admin sees the password confirmation of the console (SPEC §5's re-authentication).
    // SPEC I6: the sign-in page always renders; a database that cannot say who is signed in
    // leaves the plain form.
    let signed = crate::web::realm::peek::<R>(&req, &state)
        .await
        .unwrap_or_else(|e| {
            log::warn!("sign-in page: cannot tell who is signed in: {e:?}");
            None
        });
    match signed {
        Some(signed) => {
            let who = SignedInAs::of(realm, &signed.account.name, &signed.account.email);
            let admin = who.confirm;
            let page = super::SignedPage::build(signed, &session, &flashes)?;
            self::page(
                &state,
                realm,
                page.chrome,
                StatusCode::OK,
                &page.csrf_token,
                Shown {
                    next: &query.next,
                    heading: admin.then(|| "Confirm your password".to_owned()),
                    who: Some(who),
                    ..Shown::default()
                },
            )
        }
        None => {
            let token = csrf::token(&session, realm)?;
            self::page(
                &state,
                realm,
                Chrome::new(None, &flashes),
                StatusCode::OK,
                &token,
                Shown {
                    email: &prefilled,
                    next: &query.next,
                    ..Shown::default()
                },
            )
        }
    }
}

pub async fn submit<R: RealmKind>(
    req: HttpRequest,
    client: ClientInfo,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(form, _): CsrfForm<R, LoginForm>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    // An admin confirming their password (signed in already): a refusal keeps the console's
    // page, not the bare sign-in form.
    let confirming = if realm == BrowserRealm::Admin {
        crate::web::realm::peek::<R>(&req, &state)
            .await
            .ok()
            .flatten()
            .filter(|s| s.account.email == form.email.trim().to_lowercase())
    } else {
        None
    };
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
    let again = |status: StatusCode, message: &str, locked: bool| {
        if let Some(signed) = confirming.clone() {
            let who = SignedInAs::of(realm, &signed.account.name, &signed.account.email);
            let page = super::SignedPage::build_quiet(signed, &session)?;
            return self::page(
                &state,
                realm,
                page.chrome,
                status,
                &page.csrf_token,
                Shown {
                    next: &form.next,
                    error: Some(message),
                    locked,
                    who: Some(who),
                    heading: Some("Confirm your password".to_owned()),
                    ..Shown::default()
                },
            );
        }
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
            &state,
            realm,
            Chrome::anonymous(),
            status,
            &token,
            Shown {
                email: shown_email,
                next: &form.next,
                error: Some(message),
                locked,
                ..Shown::default()
            },
        )
    };
    let (secret, account_id, device) = match outcome {
        // The api realm's alone; a browser changes the password after signing in.
        SignInOutcome::Refused
        | SignInOutcome::PasswordChangeRequired
        | SignInOutcome::TwoFactorRequired
        | SignInOutcome::InvalidCode => {
            return again(StatusCode::UNAUTHORIZED, INVALID_CREDENTIALS, false)
        }
        SignInOutcome::Blocked => return again(StatusCode::CONFLICT, OPEN_ELSEWHERE, false),
        SignInOutcome::Locked { retry_after_secs } => {
            let message = locked_message(retry_after_secs);
            let mut res = again(StatusCode::TOO_MANY_REQUESTS, &message, true)?;
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
