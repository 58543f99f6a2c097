//! The api's one error answer (SPEC §13): every status under `/api/` is JSON
//! `{"error": "<code>", "message": "<text>"}`, never a page. Handlers return `ApiError`;
//! `startup::edge` turns anything else that reaches an `/api` path (actix's own 404/405, a
//! refused `Host`, a failed extractor) into the same shape.

use std::borrow::Cow;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::app::error::AppError;

pub const JSON: &str = "application/json; charset=utf-8";

/// `WWW-Authenticate` of a 401 (RFC 6750 §3).
pub const CHALLENGE: &str = r#"Bearer realm="realmgate""#;
pub const CHALLENGE_INVALID: &str = r#"Bearer realm="realmgate", error="invalid_token""#;

/// The body of every error under `/api/`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// A stable code for programs: `invalid_credentials`, `invalid_token`, `locked`, ...
    #[schema(example = "invalid_token")]
    pub error: Cow<'static, str>,
    /// A sentence for people.
    pub message: Cow<'static, str>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    challenge: Option<&'static str>,
    retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)
    }
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// No token at all: the bare challenge.
    pub fn token_required() -> Self {
        Self {
            challenge: Some(CHALLENGE),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "token_required",
                "Send a token as `Authorization: Bearer <token>`; POST /api/v1/tokens makes one.",
            )
        }
    }

    /// A malformed, unknown, revoked or expired token.
    pub fn invalid_token(message: &'static str) -> Self {
        Self {
            challenge: Some(CHALLENGE_INVALID),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
        }
    }

    pub fn with_challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing at this address.",
        )
    }

    /// The answer for `status` when nothing more specific was said (actix's own 404 and 405,
    /// a refused `Host`): the code and message every api client can rely on.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => ("invalid_request", "The request could not be read."),
            401 => ("token_required", "A token is required."),
            403 => ("forbidden", "This is not allowed."),
            404 => ("not_found", "There is nothing at this address."),
            405 => (
                "method_not_allowed",
                "This address does not answer that method.",
            ),
            408 => (
                "request_timeout",
                "The request body did not arrive in time.",
            ),
            409 => ("conflict", "The request conflicts with the current state."),
            413 => ("payload_too_large", "The body is larger than 16 KiB."),
            415 => (
                "unsupported_media_type",
                "Send the body as application/json.",
            ),
            429 => ("too_many_requests", "Too many requests. Try again later."),
            503 => (
                "unavailable",
                "The service is busy. Try again in a few seconds.",
            ),
            s if s >= 500 => ("internal_error", "Something went wrong on our side."),
            _ => ("error", "The request failed."),
        };
        Self::new(status, code, message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.content_type(JSON);
        if let Some(challenge) = self.challenge {
            res.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still be on its way.
            res.force_close();
        }
        res.json(ErrorBody {
            error: Cow::Borrowed(self.code),
            message: self.message.clone(),
        })
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status = e.status_code();
        if status.is_server_error() {
            log::error!("{e:?}");
        }
        match e {
            AppError::BadRequest(m) | AppError::Forbidden(m) => Self {
                message: m.into(),
                ..Self::for_status(status)
            },
            AppError::TooMany {
                message,
                retry_after_secs,
            } => Self {
                message: message.into(),
                ..Self::for_status(status)
            }
            .retry_after(retry_after_secs),
            AppError::Unavailable => Self::for_status(status).retry_after(5),
            _ => Self::for_status(status),
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        AppError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_code_and_a_message() {
        for status in [400, 401, 403, 404, 405, 408, 409, 413, 415, 429, 500, 503] {
            let e = ApiError::for_status(StatusCode::from_u16(status).unwrap());
            assert_ne!(e.code, "error", "{status}");
            assert!(!e.message.is_empty());
        }
        let e = ApiError::from(AppError::Unavailable);
        assert_eq!((e.status.as_u16(), e.retry_after), (503, Some(5)));
    }
}
