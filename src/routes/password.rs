//! Change password, for both realms (SPEC §8): the sessions this browser holds stay signed in,
//! the account's others are revoked.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_flash_messages::{FlashMessage, IncomingFlashMessages};
use serde::Deserialize;

use super::held::Held;
use super::register::checked_password;
use super::{html, see_other, signed_in_chrome};
use crate::client::ClientInfo;
use crate::csrf;
use crate::db::audit::{Incident, IncidentKind, LogoutReason};
use crate::db::password_checks::{self, Admission};
use crate::db::tokens::{self, Purpose};
use crate::db::{self, accounts, sessions};
use crate::error::{AppError, AppResult};
use crate::form::Form;
use crate::mail::Mail;
use crate::realm::{RealmKind, SignedIn};
use crate::startup::AppState;
use crate::templates::{self, PasswordPage};

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

fn page<R: RealmKind>(
    signed: &SignedIn<R>,
    session: &Session,
    flashes: &IncomingFlashMessages,
    status: StatusCode,
    error: Option<&str>,
) -> AppResult<HttpResponse> {
    let chrome = signed_in_chrome(signed, session, flashes)?;
    let token = csrf::token(session, R::REALM)?;
    let page = PasswordPage {
        chrome,
        action: R::REALM.password_path(),
        email: &signed.account.email,
        must_change: signed.account.must_change_password,
        csrf_token: &token,
        error,
    };
    Ok(html(status, templates::render(&page)?))
}

pub async fn form<R: RealmKind>(
    signed: SignedIn<R>,
    session: Session,
    flashes: IncomingFlashMessages,
) -> AppResult<HttpResponse> {
    page(&signed, &session, &flashes, StatusCode::OK, None)
}

pub async fn change<R: RealmKind>(
    req: HttpRequest,
    signed: SignedIn<R>,
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
    Form(form): Form<ChangeForm>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    csrf::verify(&req, &session, &state, realm, &form.csrf_token).await?;
    let refuse = |message: &str| {
        page(
            &signed,
            &session,
            &flashes,
            StatusCode::BAD_REQUEST,
            Some(message),
        )
    };

    // SECURITY: every cheap check first, so a request that would fail anyway never makes a
    // hashing thread work (SPEC §9).
    if form.new_password != form.new_password_confirm {
        return refuse("The two new passwords do not match.");
    }
    if form.new_password == form.current_password {
        return refuse("Choose a password different from your current one.");
    }
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

    // Counted per registry row before Argon2, in the transaction that admits it; the email's
    // sign-in lock is never consulted, so a stranger's wrong sign-ins cannot stop the owner.
    let session_id = signed.session.id.clone();
    let account_id = signed.account.id;
    let window = state.config.lockout.window;
    let now = state.clock.now();
    let id = session_id.clone();
    let admission = db::block(&state.pool, move |conn| {
        Ok(conn.immediate_transaction(|conn| {
            password_checks::admit(conn, &id, account_id, window, now)
        })?)
    })
    .await?;
    match admission {
        Admission::Admitted => {}
        Admission::InFlight => {
            return Err(AppError::TooMany {
                message: "Your password is being checked already. Wait a moment and try again."
                    .into(),
                retry_after_secs: 1,
            })
        }
        Admission::OverCap { retry_after_secs } => {
            return Err(AppError::TooMany {
                message: format!(
                    "Too many password checks. Try again in {} minutes.",
                    retry_after_secs.div_ceil(60)
                ),
                retry_after_secs,
            })
        }
    }
    let verified = state
        .hasher
        .verify(
            Some(signed.account.password_hash.clone()),
            form.current_password.clone(),
        )
        .await;
    let client = ClientInfo::from_request(&req, &state.config.trusted_proxies);
    let floods = state.config.incidents_per_ip;
    // A check the hasher could not run (a saturated pool's 503) is no wrong password.
    let wrong = matches!(&verified, Ok(v) if !v.matches);
    let (id, row, audit_client) = (session_id.clone(), signed.session.clone(), client.clone());
    let now = state.clock.now();
    let ended = db::block(&state.pool, move |conn| {
        Ok(conn.immediate_transaction(|conn| {
            let wrong_so_far = password_checks::finish(conn, &id, wrong)?;
            if wrong_so_far < password_checks::MAX_WRONG {
                return Ok::<_, diesel::result::Error>(false);
            }
            let ended = sessions::revoke(
                conn,
                &row,
                LogoutReason::PasswordGuessing,
                Some(&audit_client),
                now,
            )?;
            if ended {
                log::warn!(
                    target: "security",
                    "session {} ended after {wrong_so_far} wrong current passwords",
                    row.id
                );
                Incident::new(IncidentKind::PasswordGuessing, &audit_client)
                    .realm(realm)
                    .account(account_id)
                    .details(format!(
                        "session {}: {wrong_so_far} wrong current passwords",
                        row.id
                    ))
                    .record(conn, now, floods)?;
            }
            Ok(true)
        })?)
    })
    .await?;
    let verified = verified?;
    if ended {
        session.remove(realm.session_key());
        session.remove(realm.account_key());
        csrf::remove(&session, realm);
        return Err(AppError::Unauthenticated {
            realm,
            message: Some(GUESSING),
        });
    }
    if !verified.matches {
        return refuse("Your current password is not correct.");
    }
    let hash = state.hasher.hash(password.expose().to_owned()).await?;

    let held = Held::read(&req, &session, &state.config);
    let keep = held.hashes();
    let this_device =
        crate::cookies::read_device(&req, &state.config).map(|d| crate::crypto::sha256_hex(&d));
    let account_email = signed.account.email.clone();
    let now = state.clock.now();
    let audit_client = client.clone();
    let rotation = db::block(&state.pool, move |conn| {
        Ok(conn.immediate_transaction(|conn| {
            accounts::set_new_password(conn, account_id, &hash)?;
            // Browsers that knew the old password lose their separate lockout budget.
            crate::db::lockout::forget_devices(conn, &account_email, this_device.as_deref())?;
            tokens::void_all(conn, account_id, Purpose::Reset, now)?;
            sessions::revoke_all_for(
                conn,
                account_id,
                &keep,
                LogoutReason::PasswordChanged,
                Some(&audit_client),
                now,
            )?;
            let rotation = held.rotate(conn, account_id)?;
            Incident::new(IncidentKind::PasswordChanged, &audit_client)
                .realm(realm)
                .account(account_id)
                .record(conn, now, floods)?;
            Ok::<_, diesel::result::Error>(rotation)
        })?)
    })
    .await?;
    state.mailer.send(Mail::password_notice(
        &signed.account.email,
        "changed",
        now,
        &client.ip.to_string(),
    ));
    FlashMessage::success(CHANGED).send();
    let mut res = see_other(realm.home_path());
    rotation.apply(&req, &session, &mut res, &state.config)?;
    Ok(res)
}
