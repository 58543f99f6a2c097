//! Self sign-up with address confirmation (SPEC §8).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_flash_messages::{FlashMessage, IncomingFlashMessages};
use serde::Deserialize;

use super::{html, see_other};
use crate::app::error::{AppError, AppResult};
use crate::db::rates::{self, RateKind};
use crate::db::{self, accounts, tokens};
use crate::domain::client::ClientInfo;
use crate::domain::{Email, Name, NewPassword};
use crate::web::csrf;
use crate::web::form::Form;
use crate::web::realm::BrowserRealm;
use crate::web::startup::AppState;
use crate::web::templates::{self, Chrome, NoticePage, RegisterPage};

pub const CHECK_EMAIL: &str = "Check your email to finish signing up.";
pub const CONFIRMED: &str = "Your email address is confirmed.";

#[derive(Deserialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    #[serde(default)]
    csrf_token: String,
}

fn enabled(state: &AppState) -> AppResult<()> {
    if state.config.signup.enabled {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

fn form_page(
    session: &Session,
    chrome: Chrome,
    status: StatusCode,
    form: &RegisterForm,
    error: Option<&str>,
) -> AppResult<HttpResponse> {
    let token = csrf::token(session, BrowserRealm::User)?;
    let page = RegisterPage {
        chrome,
        email: &form.email,
        name: &form.name,
        csrf_token: &token,
        error,
    };
    Ok(html(status, templates::render(&page)?))
}

pub async fn form(
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    enabled(&state)?;
    form_page(
        &session,
        Chrome::new(None, &flashes),
        StatusCode::OK,
        &RegisterForm::default(),
        None,
    )
}

pub async fn submit(
    req: HttpRequest,
    client: ClientInfo,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<RegisterForm>,
) -> AppResult<HttpResponse> {
    enabled(&state)?;
    // Not a CsrfForm: with sign-up off, the answer is the 404 whatever the token.
    csrf::verify(&req, &session, &state, BrowserRealm::User, &form.csrf_token).await?;
    let refuse = |message: &str| {
        form_page(
            &session,
            Chrome::anonymous(),
            StatusCode::BAD_REQUEST,
            &form,
            Some(message),
        )
    };
    let Ok(email) = Email::parse(&form.email) else {
        return refuse("Enter a valid email address.");
    };
    let name = match Name::parse(&form.name) {
        Ok(name) => name,
        Err(message) => return refuse(message),
    };
    if form.password != form.password_confirm {
        return refuse("The two passwords do not match.");
    }
    let ip = crate::domain::client::rate_key(client.ip);
    let limit = state.config.signup.per_ip;
    let now = state.clock.now();
    let too_many = || AppError::TooMany {
        message: "Too many sign-ups from your network. Try again in an hour.".into(),
        retry_after_secs: 3600,
    };
    // Refused before the strength check, which costs milliseconds of CPU: a network over its
    // limit cannot make the portal run zxcvbn for it. Only an accepted sign-up counts.
    let subject = ip.clone();
    let open = db::block(&state.pool, move |conn| {
        Ok(rates::within(
            conn,
            RateKind::SignupPerIp,
            &subject,
            limit,
            now,
        )?)
    })
    .await?;
    if !open {
        return Err(too_many());
    }
    let password = match checked_password(&form.password, email.as_str(), name.as_str()).await? {
        Ok(p) => p,
        Err(message) => return refuse(&message),
    };
    // SECURITY: the same answer, at once, for a new and an existing address: the request
    // writes one outbox row either way, in the transaction that counts it, and the worker
    // does the rest (a link or a notice, only to the mailbox). SPEC §8, §17.
    let writer = state.writer.clone();
    let shown = email.as_str().to_owned();
    let allowed = db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            if !rates::hit(conn, RateKind::SignupPerIp, &ip, limit, now)? {
                return Ok::<_, diesel::result::Error>(false);
            }
            writer.sign_up(conn, &email, &name, &password, now)?;
            Ok(true)
        })?)
    })
    .await?;
    if !allowed {
        return Err(too_many());
    }
    state.outbox.wake();
    let page = NoticePage {
        chrome: Chrome::anonymous(),
        heading: "Check your email",
        message: CHECK_EMAIL,
        detail: Some(format!(
            "We wrote to {shown}. The link in it works for 24 hours; if nothing arrives, look in the spam folder or sign up again."
        )),
        mail_note: super::mail_note(&state),
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}

/// The password policy, off the async workers (zxcvbn is CPU work).
pub async fn checked_password(
    raw: &str,
    email: &str,
    name: &str,
) -> AppResult<Result<NewPassword, String>> {
    let (raw, email, name) = (raw.to_owned(), email.to_owned(), name.to_owned());
    web::block(move || NewPassword::parse(&raw, &email, &name))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("password policy: {e}")))
}

/// `GET /register/confirm/{token}`.
pub async fn confirm(
    token: web::Path<String>,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let token = token.into_inner();
    let now = state.clock.now();
    let confirmed = db::block(&state.pool, move |conn| {
        // A link that is no link takes no write lock.
        if tokens::peek(conn, &token, tokens::Purpose::Confirm, now)?.is_none() {
            return Ok(None);
        }
        Ok(conn.write_transaction(|conn| {
            let Some(id) = tokens::consume(conn, &token, tokens::Purpose::Confirm, now)? else {
                return Ok::<_, diesel::result::Error>(None);
            };
            accounts::confirm_email(conn, id, now)?;
            Ok(accounts::find(conn, id)?.map(|a| a.email))
        })?)
    })
    .await?;
    let Some(email) = confirmed else {
        return Err(AppError::BadRequest(
            "This confirmation link is not valid, was already used, or has expired. Sign in, or sign up again to get a new one."
                .into(),
        ));
    };
    // The sign-in form fills the address in (the redirect stays a bare `/login`, SPEC §5).
    super::login::prefill(&email);
    FlashMessage::success(CONFIRMED).send();
    Ok(see_other("/login"))
}
