//! Password reset (SPEC §8). The flow keeps its state only under `reset.*` and removes only
//! those keys, so whoever else is signed in to this browser, in either realm, stays signed in.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use actix_web_flash_messages::{FlashMessage, IncomingFlashMessages};
use serde::Deserialize;

use super::register::checked_password;
use super::{html, see_other};
use crate::app::account;
use crate::app::error::{AppError, AppResult};
use crate::app::mail::Mail;
use crate::db::rates::{self, RateKind};
use crate::db::tokens::{self, Purpose};
use crate::db::{self, accounts};
use crate::domain::client::ClientInfo;
use crate::domain::Email;
use crate::web::csrf;
use crate::web::form::{CsrfField, CsrfForm};
use crate::web::realm::{BrowserRealm, UserRealm};
use crate::web::startup::AppState;
use crate::web::templates::{self, Chrome, ResetConfirmPage, ResetRequestPage};

pub const SENT: &str = "If an account exists for that address, a reset link has been sent.";
/// SPEC §8's words, for an invitation's completion too: the contract quotes them for every
/// completed password link, and outside tests rely on them.
pub const DONE: &str = "Your password has been reset. Please sign in.";
const TOKEN_KEY: &str = "reset.token";

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf_token: String,
}

impl CsrfField for RequestForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
    #[serde(default)]
    csrf_token: String,
}

impl CsrfField for ConfirmForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

fn invalid_link() -> AppError {
    AppError::BadRequestWithLink {
        message: "This reset link is not valid, was already used, or has expired.",
        href: "/password/reset",
        text: "Request a new link",
    }
}

fn request_page(
    session: &Session,
    chrome: Chrome,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    sent: Option<&AppState>,
) -> AppResult<HttpResponse> {
    let token = csrf::token(session, BrowserRealm::User)?;
    let page = ResetRequestPage {
        chrome,
        email: if sent.is_some() { "" } else { email },
        csrf_token: &token,
        error,
        sent: sent.map(|_| SENT),
        sent_to: if sent.is_some() { email } else { "" },
        mail_note: sent.and_then(super::mail_note),
    };
    Ok(html(status, templates::render(&page)?))
}

pub async fn request_form(
    session: Session,
    flashes: IncomingFlashMessages,
) -> AppResult<HttpResponse> {
    request_page(
        &session,
        Chrome::new(None, &flashes),
        StatusCode::OK,
        "",
        None,
        None,
    )
}

pub async fn request(
    client: ClientInfo,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(form, _): CsrfForm<UserRealm, RequestForm>,
) -> AppResult<HttpResponse> {
    let Ok(email) = Email::parse(&form.email) else {
        return request_page(
            &session,
            Chrome::anonymous(),
            StatusCode::BAD_REQUEST,
            &form.email,
            Some("Enter a valid email address."),
            None,
        );
    };
    // SECURITY: look-up, rate limits, token and mail all happen in the outbox worker, so this
    // answer is the same, and as fast, for every well-formed address: the request writes one
    // outbox row, in the transaction that counts the per-network limit (SPEC §8, §17). That
    // limit is per network, so the answer still says nothing about the address. Over it,
    // nothing is written and the answer is unchanged.
    let ip = crate::domain::client::rate_key(client.ip);
    let now = state.clock.now();
    let writer = state.writer.clone();
    let shown = email.as_str().to_owned();
    let open = db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            let open = rates::hit(
                conn,
                RateKind::ResetRequestPerIp,
                &ip,
                crate::app::outbox::RESET_REQUESTS_PER_IP,
                now,
            )?;
            if open {
                writer.reset_request(conn, &email, &client, now)?;
            }
            Ok::<_, diesel::result::Error>(open)
        })?)
    })
    .await?;
    if open {
        state.outbox.wake();
    } else {
        log::warn!(target: "security", "reset requests from a network over the hourly limit");
    }
    request_page(
        &session,
        Chrome::anonymous(),
        StatusCode::OK,
        &shown,
        None,
        Some(&state),
    )
}

/// `GET /password/reset/{token}`: moves the token from the address bar into `reset.*`.
pub async fn follow_link(
    token: web::Path<String>,
    session: Session,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let token = token.into_inner();
    let now = state.clock.now();
    let checked = token.clone();
    let valid = db::block(&state.pool, move |conn| {
        Ok(tokens::peek(conn, &checked, Purpose::Reset, now)?)
    })
    .await?;
    if valid.is_none() {
        return Err(invalid_link());
    }
    session
        .insert(TOKEN_KEY, token)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session insert: {e}")))?;
    Ok(see_other("/password/reset/confirm"))
}

/// The account the token in `reset.*` belongs to, while the token is still good, and whether
/// the link is an invitation.
async fn pending(
    session: &Session,
    state: &AppState,
) -> AppResult<(String, accounts::Account, bool)> {
    let token = session
        .get::<String>(TOKEN_KEY)
        .ok()
        .flatten()
        .ok_or_else(invalid_link)?;
    let now = state.clock.now();
    let checked = token.clone();
    let (account, invite) = db::block(&state.pool, move |conn| {
        match tokens::peek(conn, &checked, Purpose::Reset, now)? {
            Some(id) => Ok(accounts::find(conn, id)?
                .map(|a| (a, tokens::is_invite(conn, &checked)))
                .map(|(a, invite)| invite.map(|i| (a, i)))
                .transpose()?),
            None => Ok(None),
        }
    })
    .await?
    .ok_or_else(invalid_link)?;
    Ok((token, account, invite))
}

fn confirm_page(
    session: &Session,
    status: StatusCode,
    (email, invite): (&str, bool),
    error: Option<&str>,
) -> AppResult<HttpResponse> {
    let token = csrf::token(session, BrowserRealm::User)?;
    let page = ResetConfirmPage {
        chrome: Chrome::anonymous(),
        email,
        invite,
        csrf_token: &token,
        error,
    };
    Ok(html(status, templates::render(&page)?))
}

pub async fn confirm_form(session: Session, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let (_, account, invite) = pending(&session, &state).await?;
    confirm_page(&session, StatusCode::OK, (&account.email, invite), None)
}

pub async fn confirm(
    client: ClientInfo,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(form, _): CsrfForm<UserRealm, ConfirmForm>,
) -> AppResult<HttpResponse> {
    let (token, account, invite) = pending(&session, &state).await?;
    // A refused password leaves the token unused, so the person can try again.
    if form.new_password != form.new_password_confirm {
        return confirm_page(
            &session,
            StatusCode::BAD_REQUEST,
            (&account.email, invite),
            Some("The two passwords do not match."),
        );
    }
    let password = match checked_password(&form.new_password, &account.email, &account.name).await?
    {
        Ok(p) => p,
        Err(message) => {
            return confirm_page(
                &session,
                StatusCode::BAD_REQUEST,
                (&account.email, invite),
                Some(&message),
            )
        }
    };
    let hash = state.hasher.hash(password.expose().to_owned()).await?;

    let now = state.clock.now();
    let floods = state.config.lockout.incidents_per_ip;
    let resetting = account.clone();
    let audit_client = client.clone();
    let what = if invite { "set" } else { "reset" };
    let notice = Mail::password_notice(&account.email, what, now, &client.ip.to_string())?;
    let writer = state.writer.clone();
    let done = db::block(&state.pool, move |conn| {
        Ok(account::complete_reset(
            conn,
            &resetting,
            (&token, &hash),
            &audit_client,
            (&writer, &notice),
            floods,
            now,
        )?)
    })
    .await?;
    if !done {
        return Err(invalid_link());
    }
    state.outbox.wake();
    // Only the reset flow's own keys: anyone signed in to this browser stays signed in.
    session.remove(TOKEN_KEY);
    super::login::prefill(&account.email);
    FlashMessage::success(DONE).send();
    Ok(see_other("/login"))
}
