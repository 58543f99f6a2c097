//! What operators see of each request (SPEC §17): its id, the span every log line of it is
//! written in, and its access log line.

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _};
use tracing::Instrument as _;

use crate::domain::ids::RequestId;
use crate::web::routes::client::client_info;
use crate::web::startup::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Outermost: gives the request its id (kept in its extensions for `client_info`, so its
/// incidents carry it), runs everything inside a span that names it, answers with it in
/// `X-Request-Id`, and writes the access log line inside the same span.
pub async fn request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::from_header(req.headers().get(&REQUEST_ID).map(|v| v.as_bytes()));
    let span = tracing::info_span!("request", request_id = id.as_str());
    // The method as asked: `edge` answers HEAD as GET and rewrites it below.
    let method = req.method().clone();
    let started = std::time::Instant::now();
    req.extensions_mut().insert(id.clone());
    let client = req
        .app_data::<web::Data<AppState>>()
        .map(|state| client_info(req.request(), &state.config.server.trusted_proxies).ip);
    let answered = next.call(req).instrument(span.clone()).await;
    let _inside = span.enter();
    let mut res = match answered {
        Ok(res) => res,
        Err(e) => {
            // Answered by actix from the error; there is no response here to mark.
            tracing::warn!(target: "access", "{method} request failed before an answer: {e}");
            return Err(e);
        }
    };
    let bytes = match res.response().body().size() {
        BodySize::Sized(n) => n.to_string(),
        BodySize::None => "0".to_owned(),
        BodySize::Stream => "-".to_owned(),
    };
    // The normalised path (`startup::normalise_path` rewrote it in place), masked.
    let path = redact_path(res.request().path());
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: "access",
        client = %client.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
        status = res.status().as_u16(),
        bytes = %bytes,
        duration_ms = %format!("{ms:.2}"),
        "{method} {path}"
    );
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}

/// SECURITY: the access log never shows a token, so the token path segments are masked, and
/// so is any segment long enough to be a token or secret wherever it stands (a mistyped
/// `//password/reset/TOKEN` is a 404 but still holds the token); control characters are
/// escaped so a path cannot forge log lines.
pub fn redact_path(path: &str) -> String {
    let masked = ["/register/confirm/", "/password/reset/"]
        .iter()
        .find_map(|prefix| {
            let rest = path.strip_prefix(prefix)?;
            (rest != "confirm" && !rest.is_empty()).then(|| format!("{prefix}[redacted]"))
        })
        .unwrap_or_else(|| {
            path.split('/')
                .map(|segment| {
                    let token_like = segment.len() >= 20
                        && segment
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'%'));
                    if token_like {
                        "[redacted]"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        });
    masked.escape_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::redact_path;

    #[test]
    fn access_log_masks_tokens_and_escapes() {
        assert_eq!(
            redact_path("/password/reset/abcDEF"),
            "/password/reset/[redacted]"
        );
        assert_eq!(
            redact_path("/password/reset/confirm"),
            "/password/reset/confirm"
        );
        assert_eq!(
            redact_path("/register/confirm/tok"),
            "/register/confirm/[redacted]"
        );
        assert_eq!(redact_path("/a\nb"), "/a\\nb");
        let token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
        assert_eq!(
            redact_path(&format!("//password/reset/{token}")),
            "//password/reset/[redacted]"
        );
        assert_eq!(
            redact_path(&format!("/password/reset%2F{token}")),
            "/password/[redacted]"
        );
        assert_eq!(redact_path("/account/sessions"), "/account/sessions");
    }
}
