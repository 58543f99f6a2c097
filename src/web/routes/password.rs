//! Change password, for both realms (SPEC §8): the sessions this browser holds stay signed in,
//! the account's others are revoked.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use actix_web_flash_messages::{FlashMessage, IncomingFlashMessages};
use serde::Deserialize;

use super::held::{self, Held};
use super::register::checked_password;
use super::{html, see_other, SignedPage};
use crate::app::account::{self, PasswordChange};
use crate::app::error::{AppError, AppResult};
use crate::app::mail::Mail;
use crate::db::password_checks::{self, Admission};
use crate::db::{self};
use crate::domain::client::ClientInfo;
use crate::domain::crypto::sha256_hex;
use crate::domain::ids::SessionId;
use crate::web::cookies;
use crate::web::form::{CsrfField, CsrfForm};
use crate::web::realm::{BrowserRealm, RealmKind, RealmSession, SignedIn, SESSION_ENDED};
use crate::web::startup::AppState;
use crate::web::templates::{self, PasswordPage};

pub const CHANGED: &str = "Your password has been changed.";
pub const GUESSING: &str =
    "You have been signed out: too many wrong current passwords. Sign in again to continue.";

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
    #[serde(default)]
    csrf_token: String,
}

impl CsrfField for ChangeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

fn page<R: RealmKind>(
    page: SignedPage<R>,
    status: StatusCode,
    error: Option<&str>,
) -> AppResult<HttpResponse> {
    let account = &page.signed.account;
    let page = PasswordPage {
        action: R::REALM.password_path(),
        email: &account.email,
        must_change: account.must_change_password,
        csrf_token: &page.csrf_token,
        error,
        chrome: page.chrome,
    };
    Ok(html(status, templates::render(&page)?))
}

pub async fn form<R: RealmKind>(signed: SignedPage<R>) -> AppResult<HttpResponse> {
    page(signed, StatusCode::OK, None)
}

pub async fn change<R: RealmKind>(
    req: HttpRequest,
    client: ClientInfo,
    signed: SignedIn<R>,
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
    CsrfForm(form, _): CsrfForm<R, ChangeForm>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    // The page is built only to answer a refusal, after the token passed (SPEC §6).
    let refuse = |message: &str| {
        let page_of = SignedPage::build(signed.clone(), &session, &flashes)?;
        page(page_of, StatusCode::BAD_REQUEST, Some(message))
    };

    // SECURITY: every cheap check first, so a request that would fail anyway never makes a
    // hashing thread work (SPEC §9).
    if form.new_password != form.new_password_confirm {
        return refuse("The two new passwords do not match.");
    }
    if form.new_password == form.current_password {
        return refuse("Choose a password different from your current one.");
    }
    let session_id = signed.session.id.clone();
    let account_id = signed.account.id;
    let window = state.config.lockout.window;
    // A check that would be refused is refused now, from reads alone: a storm of them from
    // one account then costs neither the strength check's CPU nor the write lock.
    let id = session_id.clone();
    let now = state.clock.now();
    let early = db::block(&state.pool, move |conn| {
        Ok(password_checks::would_admit(
            conn, &id, account_id, window, now,
        )?)
    })
    .await?;
    refused(early)?;
    let password = match checked_password(
        &form.new_password,
        &signed.account.email,
        &signed.account.name,
    )
    .await?
    {
        Ok(p) => p,
        Err(message) => return refuse(&message),
    };

    let mut in_flight = match check_current(&state, &signed, &client, form.current_password).await?
    {
        CurrentPassword::Correct(in_flight) => in_flight,
        CurrentPassword::Wrong => return refuse("Your current password is not correct."),
        CurrentPassword::Ended => {
            return signed_out(&session, &state, realm, signed.session.remember, GUESSING)
        }
    };
    let floods = state.config.lockout.incidents_per_ip;
    let hash = state.hasher.hash(password.expose().to_owned()).await?;

    let held = Held::read(&req, &session, &state.config.cookie);
    let this_device = cookies::read_device(&req, &state.config.cookie).map(|d| sha256_hex(&d));
    let (changing, id) = (signed.account.clone(), session_id.clone());
    let now = state.clock.now();
    let audit_client = client.clone();
    let notice = Mail::password_notice(
        &signed.account.email,
        "changed",
        now,
        &client.ip.to_string(),
    )?;
    let writer = state.writer.clone();
    let rotation = db::block(&state.pool, move |conn| {
        let change = PasswordChange {
            session_id: &id,
            account: &changing,
            new_hash: &hash,
            held: held.secrets(),
            this_device: this_device.as_deref(),
            realm: realm.into(),
        };
        Ok(account::change_password(
            conn,
            &change,
            &audit_client,
            (&writer, &notice),
            floods,
            now,
        )?)
    })
    .await?;
    in_flight.disarm();
    let Some(rotation) = rotation else {
        return signed_out(
            &session,
            &state,
            realm,
            signed.session.remember,
            SESSION_ENDED,
        );
    };
    state.outbox.wake();
    FlashMessage::success(CHANGED).send();
    let mut res = see_other(realm.home_path());
    held::apply(&rotation, &req, &session, &mut res, &state.config.cookie)?;
    Ok(res)
}

/// What a current-password check by a signed-in session came to.
pub enum CurrentPassword {
    /// Right; the check stays in flight (one at a time per session) until the caller's last
    /// transaction releases it, or the mark is dropped.
    Correct(InFlight),
    Wrong,
    /// The 5th wrong one: the session was ended (`password_guessing`).
    Ended,
}

/// A current-password check by a signed-in session (changing the password, turning a second
/// factor on or off), counted as SPEC §9 counts every such check: admitted per registry row
/// before Argon2, in the transaction that admits it, one at a time, at most 10 a window, the 5th
/// wrong one ending the session. The email's sign-in lock is never consulted, so a stranger's
/// wrong sign-ins cannot stop the owner.
pub async fn check_current<R: RealmKind>(
    state: &AppState,
    signed: &SignedIn<R>,
    client: &ClientInfo,
    typed: String,
) -> AppResult<CurrentPassword> {
    let (id, account_id) = (signed.session.id.clone(), signed.account.id);
    let (window, now) = (state.config.lockout.window, state.clock.now());
    let admission = db::block(&state.pool, move |conn| {
        Ok(conn
            .write_transaction(|conn| password_checks::admit(conn, &id, account_id, window, now))?)
    })
    .await?;
    refused(admission)?;
    let mut in_flight = InFlight {
        pool: state.pool.clone(),
        session_id: Some(signed.session.id.clone()),
    };
    let verified = state
        .hasher
        .verify(Some(signed.account.password_hash.clone()), typed)
        .await;
    let row = signed.session.clone();
    if matches!(&verified, Ok(v) if v.matches) {
        return Ok(CurrentPassword::Correct(in_flight));
    }
    let wrong = verified.is_ok();
    let (client, floods, now) = (
        client.clone(),
        state.config.lockout.incidents_per_ip,
        state.clock.now(),
    );
    let realm = R::REALM.into();
    let ended = db::block(&state.pool, move |conn| {
        Ok(account::failed_password_check(
            conn, &row, realm, wrong, &client, floods, now,
        )?)
    })
    .await?;
    in_flight.disarm();
    verified?;
    Ok(if ended {
        CurrentPassword::Ended
    } else {
        CurrentPassword::Wrong
    })
}

/// A refused admission as its 429.
fn refused(admission: Admission) -> AppResult<()> {
    match admission {
        Admission::Admitted => Ok(()),
        Admission::InFlight => Err(AppError::TooMany {
            message: "Your password is being checked already. Wait a moment and try again.".into(),
            retry_after_secs: 1,
        }),
        Admission::OverCap { retry_after_secs } => Err(AppError::TooMany {
            message: format!(
                "Too many password checks. Try again in {} minutes.",
                retry_after_secs.div_ceil(60)
            ),
            retry_after_secs,
        }),
    }
}

/// This realm's session ended during the request: its keys go, and the remember cookie with
/// a remembered session, and the answer is the 401 page with a sign-in link.
pub fn signed_out(
    session: &Session,
    state: &AppState,
    realm: BrowserRealm,
    remembered: bool,
    message: &'static str,
) -> AppResult<HttpResponse> {
    RealmSession::of(session, realm).sign_out();
    let mut res = AppError::Unauthenticated {
        realm,
        message: Some(message),
    }
    .error_response();
    if remembered {
        res.add_cookie(&crate::web::cookies::remember_removal(&state.config.cookie))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cookie: {e}")))?;
    }
    Ok(res)
}

/// Releases a check's in-flight mark if its request ends before the check's last
/// transaction did (an error on the way, or the connection dropped mid-check).
pub struct InFlight {
    pool: db::Pool,
    session_id: Option<SessionId>,
}

impl InFlight {
    /// Releases the mark now: the check is over and nothing that needed it is left.
    pub async fn release(mut self) -> AppResult<()> {
        if let Some(id) = self.session_id.take() {
            db::block(&self.pool, move |conn| {
                Ok(password_checks::release(conn, &id)?)
            })
            .await?;
        }
        Ok(())
    }

    /// The caller's last transaction released the mark itself.
    pub fn disarm(&mut self) {
        self.session_id = None;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let Some(id) = self.session_id.take() else {
            return;
        };
        let pool = self.pool.clone();
        // Off the async worker, as all database work; without a runtime (never, in the
        // server) the mark simply goes stale after a few seconds.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(move || {
                if let Ok(mut conn) = pool.get() {
                    if let Err(e) = password_checks::release(&mut conn, &id) {
                        log::warn!("could not release a password check: {e}");
                    }
                }
            });
        }
    }
}
