//! The routes of SPEC §13 under `/api/v1`. Their request and answer types are the ones the
//! OpenAPI document is generated from (`super::ApiDoc`), so the two cannot drift apart.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bearer::ApiCaller;
use super::error::{ApiError, ErrorBody, CHALLENGE, JSON};
use super::json::ApiJson;
use crate::app::account::{self, Revoked};
use crate::app::auth::{sign_in, Caller, SignInOutcome};
use crate::db::{self, sessions};
use crate::domain::client::{describe_device, ClientInfo};
use crate::domain::events::LogoutReason;
use crate::domain::ids::SessionId;
use crate::domain::realm::Realm;
use crate::domain::DeviceName;
use crate::web::startup::AppState;

/// RFC 3339 in UTC, to the second: how every time leaves the api.
fn time(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status).content_type(JSON).json(body)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
    /// What the app calls this device, shown on the sessions pages: 1–100 characters, no
    /// control characters.
    #[serde(default)]
    #[schema(example = "Ada's phone")]
    pub device_name: Option<String>,
    /// A second-factor code, for accounts that have one.
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    /// `rgat_` and 43 base64url characters. Send it as `Authorization: Bearer <token>`.
    #[schema(example = "rgat_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    pub token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub session_id: String,
    /// The absolute bound: the token ends then, whatever its use.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Unused until then, the token ends; each use moves it on.
    #[schema(format = DateTime)]
    pub idle_expires_at: String,
}

/// `POST /api/v1/tokens`: sign in (SPEC §13 and §9's lockout, as the sign-in pages).
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 201, description = "Signed in: a new token", body = TokenResponse),
        (status = 400, description = "Not a JSON object of these fields, or a bad `device_name`", body = ErrorBody),
        (status = 401, description = "`invalid_credentials` whatever the cause; `two_factor_required` (the right password, no `code`) or `invalid_code`", body = ErrorBody),
        (status = 403, description = "`password_change_required`: change it in a browser first", body = ErrorBody),
        (status = 409, description = "`concurrent_session`: REALMGATE_SINGLE_SESSION=block", body = ErrorBody),
        (status = 413, description = "The body is over 16 KiB", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 429, description = "`locked`, with `Retry-After`", body = ErrorBody),
    )
)]
pub async fn create_token(
    client: ClientInfo,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let TokenRequest {
        email,
        password,
        device_name,
        code,
    } = body;
    let device_name = match device_name.as_deref().map(DeviceName::parse) {
        None => None,
        Some(Ok(name)) => Some(name.into_string()),
        Some(Err(message)) => return Err(ApiError::bad_request(message)),
    };
    let caller = Caller {
        client,
        earlier_secrets: Vec::new(),
        device: None,
        device_name,
    };
    let outcome = sign_in(&state, Realm::Api, caller, email, password, false, code).await?;
    match outcome {
        SignInOutcome::SignedIn {
            secret, session, ..
        } => Ok(json(
            StatusCode::CREATED,
            &TokenResponse {
                token: secret.expose().to_owned(),
                token_type: "Bearer",
                session_id: session.id.to_string(),
                expires_at: time(session.absolute_expires_at),
                idle_expires_at: time(session.idle_expires_at),
            },
        )),
        SignInOutcome::Refused => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            crate::web::routes::INVALID_CREDENTIALS,
        )
        .with_challenge(CHALLENGE)),
        SignInOutcome::Locked { retry_after_secs } => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            crate::web::routes::locked_message(retry_after_secs),
        )
        .retry_after(retry_after_secs)),
        SignInOutcome::Blocked => Err(ApiError::new(
            StatusCode::CONFLICT,
            "concurrent_session",
            crate::web::routes::OPEN_ELSEWHERE,
        )),
        // SPEC §15. The browser-only outcome cannot come of an api sign-in; it is answered as
        // the missing code it would be.
        SignInOutcome::TwoFactorRequired | SignInOutcome::SecondFactor { .. } => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "two_factor_required",
            "This account has a second factor: send its current code (or a recovery code) as `code`.",
        )
        .with_challenge(CHALLENGE)),
        SignInOutcome::InvalidCode => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "Invalid code.",
        )
        .with_challenge(CHALLENGE)),
        SignInOutcome::PasswordChangeRequired => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "password_change_required",
            "Change your password in the browser before you sign in here.",
        )),
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub slug: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeSession {
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    #[schema(format = DateTime)]
    pub idle_expires_at: String,
    #[schema(format = DateTime)]
    pub absolute_expires_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Me {
    pub id: i32,
    pub email: String,
    pub name: String,
    pub organisation: Organisation,
    /// The session this token is.
    pub session: MeSession,
}

/// `GET /api/v1/me`: the token's account and session.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's account and session", body = Me),
        (status = 401, description = "No token (`token_required`), or `invalid_token`", body = ErrorBody),
        (status = 403, description = "`password_change_required`", body = ErrorBody),
    )
)]
pub async fn me(caller: ApiCaller) -> HttpResponse {
    let ApiCaller {
        account,
        session,
        organisation,
    } = caller;
    json(
        StatusCode::OK,
        &Me {
            id: account.id.0,
            email: account.email,
            name: account.name,
            organisation: Organisation {
                slug: organisation.slug,
                name: organisation.name,
            },
            session: MeSession {
                id: session.id.to_string(),
                created_at: time(session.created_at),
                last_seen_at: time(session.last_seen_at),
                idle_expires_at: time(session.idle_expires_at),
                absolute_expires_at: time(session.absolute_expires_at),
            },
        },
    )
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionItem {
    pub id: String,
    #[schema(example = "api")]
    pub realm: &'static str,
    /// The api client's `device_name`, or the browser a web session was signed in from.
    pub device: String,
    pub ip: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    /// This token's own session.
    pub current: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionList {
    pub sessions: Vec<SessionItem>,
}

/// `GET /api/v1/sessions`: the account's live sessions in every realm.
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions, newest first", body = SessionList),
        (status = 401, description = "No token, or `invalid_token`", body = ErrorBody),
        (status = 403, description = "`password_change_required`", body = ErrorBody),
    )
)]
pub async fn list_sessions(
    caller: ApiCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let account_id = caller.account.id;
    let live = db::block(&state.pool, move |conn| {
        Ok(sessions::live_for_account(conn, account_id, now)?)
    })
    .await?;
    let sessions = live
        .iter()
        .map(|s| SessionItem {
            id: s.id.to_string(),
            realm: s.realm.as_str(),
            device: describe_device(s.realm, s.device_name.as_deref(), &s.user_agent),
            ip: s.ip.clone(),
            created_at: time(s.created_at),
            last_seen_at: time(s.last_seen_at),
            current: s.id == caller.session.id,
        })
        .collect();
    Ok(json(StatusCode::OK, &SessionList { sessions }))
}

/// `DELETE /api/v1/sessions/{id}`: revoke one of the account's sessions, in any realm.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/{id}",
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "A session id from GET /api/v1/sessions")),
    responses(
        (status = 204, description = "Revoked (this token's own session: signed out)"),
        (status = 401, description = "No token, or `invalid_token`", body = ErrorBody),
        (status = 403, description = "`password_change_required`", body = ErrorBody),
        (status = 404, description = "No such session of this account", body = ErrorBody),
    )
)]
pub async fn revoke_session(
    caller: ApiCaller,
    client: ClientInfo,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = SessionId::from(id.into_inner());
    let now = state.clock.now();
    let floods = state.config.lockout.incidents_per_ip;
    let outcome = db::block(&state.pool, move |conn| {
        Ok(account::revoke_own_session(
            conn,
            &caller.session,
            &id,
            &client,
            floods,
            now,
        )?)
    })
    .await?;
    match outcome {
        Revoked::Revoked => Ok(HttpResponse::NoContent().finish()),
        Revoked::NotFound | Revoked::NotYours => Err(ApiError::not_found()),
    }
}

/// `DELETE /api/v1/tokens/current`: sign this token out.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/current",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out: the token never works again"),
        (status = 401, description = "No token, or `invalid_token`", body = ErrorBody),
    )
)]
pub async fn sign_out(
    caller: ApiCaller,
    client: ClientInfo,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            sessions::revoke(
                conn,
                &caller.session,
                LogoutReason::UserLogout,
                Some(&client),
                now,
            )
        })?)
    })
    .await?;
    log::info!(target: "security", "sign-out realm=api account={}", caller.account.id);
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/logout-everywhere`: end every session of the account in every realm.
#[utoipa::path(
    post,
    path = "/api/v1/logout-everywhere",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session of the account has ended, this one too"),
        (status = 401, description = "No token, or `invalid_token`", body = ErrorBody),
        (status = 403, description = "`password_change_required`", body = ErrorBody),
    )
)]
pub async fn logout_everywhere(
    caller: ApiCaller,
    client: ClientInfo,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let id = caller.account.id;
    db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            account::end_sessions_and_links(
                conn,
                id,
                LogoutReason::LogoutEverywhere,
                Some(&client),
                now,
            )
        })?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
