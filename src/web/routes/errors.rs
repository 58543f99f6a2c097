//! How an `AppError` becomes an answer: its status, the portal's HTML error page, and the
//! headers that go with it (`Retry-After`, `Connection: close`).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::app::error::AppError;
use crate::web::templates::{self, ErrorPage};

/// A page that fails to render is our fault: a 500, its cause in the log.
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
