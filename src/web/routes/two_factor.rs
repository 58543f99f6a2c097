//! The second factor's pages, for both browser realms (SPEC §15): the code step of sign-in
//! (`/login/2fa`, `/admin/login/2fa`) and the account's own page (`/account/2fa`,
//! `/admin/account/2fa`) that turns it on, makes new recovery codes and turns it off.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_flash_messages::{FlashMessage, IncomingFlashMessages};
use serde::Deserialize;

use super::login::{self, Signed, INVALID_CREDENTIALS, OPEN_ELSEWHERE};
use super::password::{check_current, signed_out, CurrentPassword, InFlight, GUESSING};
use super::{html, see_other, SignedPage};
use crate::app::auth::{second_step, SecondStep, SignInOutcome};
use crate::app::error::{AppError, AppResult};
use crate::app::second_factor::{self, CodeCheck, Guarded};
use crate::db::audit::Incident;
use crate::db::{self, two_factor};
use crate::domain::client::ClientInfo;
use crate::domain::config::LockoutPolicy;
use crate::domain::events::IncidentKind;
use crate::domain::second_factor::TotpSecret;
use crate::web::csrf;
use crate::web::form::{CsrfField, CsrfForm};
use crate::web::realm::{BrowserRealm, RealmKind, RealmSession, SignedIn};
use crate::web::startup::AppState;
use crate::web::templates::{self, Chrome, CodePage, TwoFactorPage};

pub const INVALID_CODE: &str = "Invalid code.";
const EXPIRED: &str = "Your sign-in took too long. Please sign in again.";
const TOO_MANY: &str = "Too many wrong codes. Please sign in again.";
/// SPEC §15: 5 wrong codes end the pending sign-in.
const MAX_WRONG: u8 = 5;

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    csrf_token: String,
}

impl CsrfField for CodeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

fn code_page(
    realm: BrowserRealm,
    chrome: Chrome,
    status: StatusCode,
    csrf_token: &str,
    error: Option<&str>,
) -> AppResult<HttpResponse> {
    let page = CodePage {
        chrome,
        action: realm.second_step_path(),
        login_path: realm.login_path(),
        csrf_token,
        error,
    };
    Ok(html(status, templates::render(&page)?))
}

/// The realm's sign-in form again (the pending sign-in is over), with why.
fn sign_in_again(
    state: &AppState,
    session: &Session,
    realm: BrowserRealm,
    message: &str,
) -> AppResult<HttpResponse> {
    RealmSession::of(session, realm).clear_pending();
    let token = csrf::token(session, realm)?;
    login::page(
        state,
        realm,
        Chrome::anonymous(),
        StatusCode::UNAUTHORIZED,
        &token,
        login::Shown {
            error: Some(message),
            ..login::Shown::default()
        },
    )
}

/// `GET /login/2fa`: the code form while a sign-in of this realm waits; else the sign-in.
pub async fn code_form<R: RealmKind>(
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    let now = state.clock.now().and_utc().timestamp();
    match RealmSession::of(&session, realm).pending() {
        Some(p) if p.until > now => {
            let token = csrf::token(&session, realm)?;
            code_page(
                realm,
                Chrome::new(None, &flashes),
                StatusCode::OK,
                &token,
                None,
            )
        }
        _ => Ok(see_other(realm.login_path())),
    }
}

/// `POST /login/2fa`: a TOTP code or a recovery code completes the waiting sign-in.
pub async fn code_submit<R: RealmKind>(
    req: HttpRequest,
    client: ClientInfo,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(form, _): CsrfForm<R, CodeForm>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    let keys = RealmSession::of(&session, realm);
    let now = state.clock.now().and_utc().timestamp();
    let Some(mut pending) = keys.pending().filter(|p| p.until > now) else {
        return sign_in_again(&state, &session, realm, EXPIRED);
    };
    let (caller, remembered) = login::browser_caller(&req, &session, &state, realm, client);
    let step = second_step(
        &state,
        realm.into(),
        caller,
        pending.account,
        form.code,
        pending.remember,
    )
    .await?;
    let again = |status: StatusCode, message: &str| {
        let token = csrf::token(&session, realm)?;
        code_page(realm, Chrome::anonymous(), status, &token, Some(message))
    };
    match step {
        SecondStep::SignedIn {
            outcome:
                SignInOutcome::SignedIn {
                    secret,
                    account_id,
                    device,
                    ..
                },
            recovery_left,
        } => {
            if let Some(left) = recovery_left {
                FlashMessage::warning(format!(
                    "You signed in with a recovery code. {left} recovery code(s) left."
                ))
                .send();
            }
            let signed = Signed {
                secret,
                account_id,
                device,
                remember: pending.remember,
                next: pending.next,
            };
            login::finish(&req, &session, &state, realm, signed, remembered)
        }
        SecondStep::SignedIn { .. } => {
            keys.clear_pending();
            let token = csrf::token(&session, realm)?;
            login::page(
                &state,
                realm,
                Chrome::anonymous(),
                StatusCode::CONFLICT,
                &token,
                login::Shown {
                    error: Some(OPEN_ELSEWHERE),
                    ..login::Shown::default()
                },
            )
        }
        SecondStep::Wrong => {
            pending.wrong = pending.wrong.saturating_add(1);
            if pending.wrong >= MAX_WRONG {
                return sign_in_again(&state, &session, realm, TOO_MANY);
            }
            keys.set_pending(&pending)?;
            again(StatusCode::UNAUTHORIZED, INVALID_CODE)
        }
        SecondStep::Locked { retry_after_secs } => {
            let mut res = again(
                StatusCode::TOO_MANY_REQUESTS,
                &login::locked_message(retry_after_secs),
            )?;
            res.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            Ok(res)
        }
        SecondStep::Refused => sign_in_again(&state, &session, realm, INVALID_CREDENTIALS),
    }
}

/// A code refused unchecked because the email is locked: 429 as SPEC §6.
fn locked(retry_after_secs: u64) -> AppError {
    AppError::TooMany {
        message: login::locked_message(retry_after_secs),
        retry_after_secs,
    }
}

/// The QR code of `uri`, drawn on the server as SVG (no outside service; the CSP is unchanged).
fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(e) => {
            log::error!("QR code: {e}");
            String::new()
        }
    }
}

struct Shown {
    enrolment: Option<TotpSecret>,
    enabled: bool,
    remaining: i64,
}

async fn render<R: RealmKind>(
    page: SignedPage<R>,
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
    new_codes: Option<Vec<String>>,
    fresh_secret: bool,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    let key = state.config.cookie.key.as_bytes().to_vec();
    let (id, now) = (page.signed.account.id, state.clock.now());
    let shown = db::block(&state.pool, move |conn| {
        let enabled = two_factor::is_enabled(conn, id)?;
        let enrolment = if enabled {
            None
        } else if fresh_secret {
            second_factor::begin(conn, &key, id, now)?
        } else {
            second_factor::pending(conn, &key, id)?
        };
        Ok(Shown {
            enrolment,
            enabled,
            remaining: two_factor::remaining_codes(conn, id)?,
        })
    })
    .await?;
    let email = page.signed.account.email.clone();
    let required = realm == BrowserRealm::Admin && state.config.admin.two_factor_required;
    let view = TwoFactorPage {
        chrome: page.chrome,
        action: realm.two_factor_path(),
        csrf_token: &page.csrf_token,
        enabled: shown.enabled,
        required,
        remaining: shown.remaining,
        qr_svg: shown
            .enrolment
            .as_ref()
            .map(|s| qr_svg(&s.uri(&email)))
            .unwrap_or_default(),
        secret_base32: shown
            .enrolment
            .as_ref()
            .map(TotpSecret::base32)
            .unwrap_or_default(),
        uri: shown
            .enrolment
            .as_ref()
            .map(|s| s.uri(&email))
            .unwrap_or_default(),
        new_codes: new_codes.unwrap_or_default(),
        error,
    };
    Ok(html(status, templates::render(&view)?))
}

/// `GET /account/2fa`: the factor's state; without one, a new secret to enrol (shown once).
pub async fn page<R: RealmKind>(
    page: SignedPage<R>,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    render(page, &state, StatusCode::OK, None, None, true).await
}

/// The answer to a form of the second-factor page, after its CSRF token passed: the page
/// again, with the same pending secret.
struct Reply<'a, R: RealmKind> {
    signed: SignedIn<R>,
    session: &'a Session,
    flashes: &'a IncomingFlashMessages,
    state: &'a AppState,
}

impl<R: RealmKind> Reply<'_, R> {
    async fn page(
        &self,
        status: StatusCode,
        error: Option<&str>,
        new_codes: Option<Vec<String>>,
    ) -> AppResult<HttpResponse> {
        let page = SignedPage::build(self.signed.clone(), self.session, self.flashes)?;
        render(page, self.state, status, error, new_codes, false).await
    }

    async fn refused(&self, status: StatusCode, error: &str) -> AppResult<HttpResponse> {
        self.page(status, Some(error), None).await
    }

    /// The current password, checked as SPEC §9 counts it: `Ok` holds the check's in-flight
    /// mark, `Err` the answer to anything but a right password.
    async fn current_password(
        &self,
        client: &ClientInfo,
        typed: String,
    ) -> AppResult<Result<InFlight, HttpResponse>> {
        Ok(
            match check_current(self.state, &self.signed, client, typed).await? {
                CurrentPassword::Correct(in_flight) => Ok(in_flight),
                CurrentPassword::Wrong => Err(self
                    .refused(
                        StatusCode::BAD_REQUEST,
                        "Your current password is not correct.",
                    )
                    .await?),
                CurrentPassword::Ended => Err(signed_out(
                    self.session,
                    self.state,
                    R::REALM,
                    self.signed.session.remember,
                    GUESSING,
                )?),
            },
        )
    }
}

/// What the page's own code checks need from the request.
fn code_inputs<R: RealmKind>(
    signed: &SignedIn<R>,
    state: &AppState,
) -> (
    Vec<u8>,
    crate::db::accounts::Account,
    LockoutPolicy,
    chrono::NaiveDateTime,
) {
    (
        state.config.cookie.key.as_bytes().to_vec(),
        signed.account.clone(),
        state.config.lockout.clone(),
        state.clock.now(),
    )
}

/// `POST /account/2fa`: `current_password` and a current `code` turn the factor on; the page
/// then shows the 10 recovery codes, once.
pub async fn enable<R: RealmKind>(
    client: ClientInfo,
    signed: SignedIn<R>,
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
    CsrfForm(form, _): CsrfForm<R, CodeForm>,
) -> AppResult<HttpResponse> {
    let reply = Reply {
        signed,
        session: &session,
        flashes: &flashes,
        state: &state,
    };
    let in_flight = match reply
        .current_password(&client, form.current_password)
        .await?
    {
        Ok(in_flight) => in_flight,
        Err(res) => return Ok(res),
    };
    let (key, account, policy, now) = code_inputs(&reply.signed, &state);
    let (realm, code) = (R::REALM, form.code);
    let codes = db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            let codes = second_factor::confirm(conn, &key, account.id, &code, now)?;
            if codes.is_some() {
                Incident::new(IncidentKind::TwoFactorEnabled, &client)
                    .realm(realm)
                    .account(account.id)
                    .record(conn, now, policy.incidents_per_ip)?;
            }
            Ok::<_, diesel::result::Error>(codes)
        })?)
    })
    .await?;
    in_flight.release().await?;
    match codes {
        Some(codes) => {
            FlashMessage::success("Your second factor is on.").send();
            reply.page(StatusCode::OK, None, Some(codes)).await
        }
        None => reply.refused(StatusCode::BAD_REQUEST, INVALID_CODE).await,
    }
}

/// `POST /account/2fa/disable`: `current_password` and `code` turn the factor off; refused for
/// an admin while `REALMGATE_ADMIN_2FA=required`, from either page.
pub async fn disable<R: RealmKind>(
    client: ClientInfo,
    signed: SignedIn<R>,
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
    CsrfForm(form, _): CsrfForm<R, CodeForm>,
) -> AppResult<HttpResponse> {
    if signed.account.is_admin && state.config.admin.two_factor_required {
        return Err(AppError::Forbidden(
            "Admins must keep a second factor on this portal.".into(),
        ));
    }
    let reply = Reply {
        signed,
        session: &session,
        flashes: &flashes,
        state: &state,
    };
    let in_flight = match reply
        .current_password(&client, form.current_password)
        .await?
    {
        Ok(in_flight) => in_flight,
        Err(res) => return Ok(res),
    };
    let (key, account, policy, now) = code_inputs(&reply.signed, &state);
    let (realm, code) = (R::REALM, form.code);
    let off = db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            let by = (&client, realm.into());
            match second_factor::check_code_guarded(conn, &key, &account, &code, by, &policy, now)?
            {
                Guarded::Locked(secs) => return Ok::<_, diesel::result::Error>(Err(secs)),
                Guarded::Checked(CodeCheck::Refused) => return Ok(Ok(false)),
                Guarded::Checked(_) => {}
            }
            two_factor::remove(conn, account.id)?;
            Incident::new(IncidentKind::TwoFactorDisabled, &client)
                .realm(realm)
                .account(account.id)
                .record(conn, now, policy.incidents_per_ip)?;
            Ok(Ok(true))
        })?)
    })
    .await?;
    in_flight.release().await?;
    if !off.map_err(locked)? {
        return reply.refused(StatusCode::BAD_REQUEST, INVALID_CODE).await;
    }
    FlashMessage::success("Your second factor is off.").send();
    Ok(see_other(R::REALM.two_factor_path()))
}

/// `POST /account/2fa/recovery-codes`: a current `code` makes 10 new recovery codes, shown
/// once; the old ones die.
pub async fn recovery_codes<R: RealmKind>(
    client: ClientInfo,
    signed: SignedIn<R>,
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
    CsrfForm(form, _): CsrfForm<R, CodeForm>,
) -> AppResult<HttpResponse> {
    let (key, account, policy, now) = code_inputs(&signed, &state);
    let (realm, code) = (R::REALM, form.code);
    let codes = db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            let by = (&client, realm.into());
            match second_factor::check_code_guarded(conn, &key, &account, &code, by, &policy, now)?
            {
                Guarded::Locked(secs) => return Ok::<_, diesel::result::Error>(Err(secs)),
                Guarded::Checked(CodeCheck::Refused) => return Ok(Ok(None)),
                Guarded::Checked(_) => {}
            }
            Ok(Ok(Some(second_factor::new_recovery_codes(
                conn, account.id,
            )?)))
        })?)
    })
    .await?
    .map_err(locked)?;
    let reply = Reply {
        signed,
        session: &session,
        flashes: &flashes,
        state: &state,
    };
    match codes {
        Some(codes) => reply.page(StatusCode::OK, None, Some(codes)).await,
        None => reply.refused(StatusCode::BAD_REQUEST, INVALID_CODE).await,
    }
}
