//! Change password, for both realms (SPEC §8): the sessions this browser holds stay signed in,
//! the account's others are revoked.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_flash_messages::{FlashMessage, IncomingFlashMessages};
use serde::Deserialize;

use super::register::checked_password;
use super::{held_secret_hashes, html, see_other, signed_in_chrome};
use crate::client::ClientInfo;
use crate::csrf;
use crate::db::audit::{Incident, IncidentKind, LogoutReason};
use crate::db::lockout::{self, Subject};
use crate::db::{self, accounts, sessions};
use crate::error::{AppError, AppResult};
use crate::form::Form;
use crate::mail::Mail;
use crate::realm::{RealmKind, SignedIn};
use crate::startup::AppState;
use crate::templates::{self, PasswordPage};

pub const CHANGED: &str = "Your password has been changed.";

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

    // SECURITY: wrong current passwords count against the email's lockout, so a stolen
    // session cannot guess its way to the password at Argon2 speed.
    let email_subject = Subject::Email(signed.account.email.clone());
    let now = state.clock.now();
    let subject = email_subject.clone();
    let locked = db::block(&state.pool, move |conn| {
        Ok(lockout::locked_until(conn, &subject, now)?)
    })
    .await?;
    if let Some(until) = locked {
        let secs = u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1);
        return Err(AppError::TooMany {
            message: format!(
                "Too many failed attempts. Try again in {} minutes.",
                secs.div_ceil(60)
            ),
            retry_after_secs: secs,
        });
    }
    let verified = state
        .hasher
        .verify(
            Some(signed.account.password_hash.clone()),
            form.current_password.clone(),
        )
        .await?;
    if !verified.matches {
        let policy = state.config.lockout.clone();
        db::block(&state.pool, move |conn| {
            Ok(lockout::count_failure(conn, &email_subject, &policy, now)?)
        })
        .await?;
        return refuse("Your current password is not correct.");
    }
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
    let hash = state.hasher.hash(password.expose().to_owned()).await?;

    let client = ClientInfo::from_request(&req, &state.config.trusted_proxies);
    let keep = held_secret_hashes(&req, &session);
    let this_device = crate::cookies::read_device(&req).map(|d| crate::crypto::sha256_hex(&d));
    let account_email = signed.account.email.clone();
    let now = state.clock.now();
    let account_id = signed.account.id;
    let audit_client = client.clone();
    db::block(&state.pool, move |conn| {
        Ok(conn.immediate_transaction(|conn| {
            accounts::set_new_password(conn, account_id, &hash)?;
            // Browsers that knew the old password lose their separate lockout budget.
            crate::db::lockout::forget_devices(conn, &account_email, this_device.as_deref())?;
            sessions::revoke_all_for(
                conn,
                account_id,
                &keep,
                LogoutReason::PasswordChanged,
                Some(&audit_client),
                now,
            )?;
            Incident::new(IncidentKind::PasswordChanged, &audit_client)
                .realm(realm)
                .account(account_id)
                .record(conn, now)
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
    Ok(see_other(realm.home_path()))
}
