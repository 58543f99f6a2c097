//! One error type for handlers. Its variants are chosen by what the person should see; the
//! cause goes to the log once, never to the page.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::realm::Realm;
use crate::templates::{self, ErrorPage};

pub type AppResult<T> = Result<T, AppError>;

#[derive(thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A refused signed-in request that is not a GET: 401 with a sign-in link.
    #[error("sign-in required for the {} realm", .realm.as_str())]
    Unauthenticated {
        realm: Realm,
        message: Option<&'static str>,
    },
    /// A 400 whose page offers a way on (a link and its text).
    #[error("bad request: {message}")]
    BadRequestWithLink {
        message: &'static str,
        href: &'static str,
        text: &'static str,
    },
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within `REALMGATE_BODY_TIMEOUT` (SPEC §6): 408, and the
    /// connection is closed, since the rest of the body may still be on its way.
    #[error("request body timed out")]
    RequestTimeout,
    /// 429 with `Retry-After`.
    #[error("too many requests")]
    TooMany {
        message: String,
        retry_after_secs: u64,
    },
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl std::fmt::Debug for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Internal(e) => write!(f, "internal error: {e:#}"),
            other => write!(f, "{other}"),
        }
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(e: crate::db::DbError) -> Self {
        use crate::db::DbError;
        match e {
            DbError::Query(diesel::result::Error::NotFound) => AppError::NotFound,
            DbError::Busy(_) | DbError::Locked(_) | DbError::Pool(_) => {
                log::warn!("{e}");
                AppError::Unavailable
            }
            e => AppError::Internal(anyhow::Error::new(e)),
        }
    }
}

impl From<crate::auth::password::HashError> for AppError {
    fn from(e: crate::auth::password::HashError) -> Self {
        match e {
            crate::auth::password::HashError::Busy => AppError::Unavailable,
            crate::auth::password::HashError::Failed(e) => AppError::Internal(e),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        crate::db::DbError::from(e).into()
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("template"))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) | AppError::BadRequestWithLink { .. } => {
                StatusCode::BAD_REQUEST
            }
            AppError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            log::error!("{self:?}");
        }
        let (message, link): (String, Option<(&str, &str)>) = match self {
            AppError::BadRequest(m)
            | AppError::Forbidden(m)
            | AppError::TooMany { message: m, .. } => (m.clone(), None),
            AppError::BadRequestWithLink {
                message,
                href,
                text,
            } => ((*message).to_owned(), Some((*href, *text))),
            AppError::Unauthenticated { realm, message } => (
                message
                    .unwrap_or("You need to sign in to do that.")
                    .to_owned(),
                Some((realm.login_path(), "Sign in")),
            ),
            _ => (templates::default_message(status).to_owned(), None),
        };
        let mut res = error_page(status, &message, link);
        let retry_after = match self {
            AppError::Unavailable => Some(5),
            AppError::TooMany {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        if matches!(self, AppError::RequestTimeout) {
            res.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        res
    }
}

/// The portal's error page for `status`, used by `AppError` and by the fallback handlers for
/// errors raised by actix itself (unknown route, wrong method, bad extractor input).
pub fn error_page(status: StatusCode, message: &str, link: Option<(&str, &str)>) -> HttpResponse {
    let page = ErrorPage {
        chrome: templates::Chrome::anonymous(),
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("Error"),
        message,
        link_href: link.map(|l| l.0),
        link_text: link.map(|l| l.1),
    };
    match templates::render(&page) {
        Ok(body) => HttpResponse::build(status)
            .content_type(templates::HTML)
            .body(body),
        Err(e) => {
            log::error!("error page failed to render: {e:?}");
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(status.to_string())
        }
    }
}
