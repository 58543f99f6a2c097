//! A strict JSON body (SPEC §13): `application/json` only (415 otherwise), at most 16 KiB
//! (413), a JSON object of exactly the route's fields (400 for anything else: not JSON, not an
//! object, invalid UTF-8, a missing, mistyped or unknown field, nesting past serde_json's
//! limit). The 400's message names a missing field, never a value the client sent, so a
//! password in the wrong place does not come back in the answer.

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::web::form::MAX_FORM_BYTES;

pub struct ApiJson<T>(pub T);

/// `application/json`, with no parameter but an optional `charset=utf-8` (JSON is UTF-8).
fn is_json(req: &HttpRequest) -> bool {
    let Some(raw) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = raw.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("charset")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            })
        })
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > MAX_FORM_BYTES) {
                return Err(ApiError::for_status(
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                ));
            }
            if !json {
                return Err(ApiError::for_status(
                    actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ));
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| match e {
                    actix_web::error::PayloadError::Io(io)
                        if io.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        ApiError::for_status(actix_web::http::StatusCode::REQUEST_TIMEOUT)
                    }
                    _ => ApiError::bad_request("The body was cut off."),
                })?;
                if body.len() + chunk.len() > MAX_FORM_BYTES {
                    return Err(ApiError::for_status(
                        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(ApiJson)
        })
    }
}

pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Not an object is refused before the fields are looked at, so `[]` or `"x"` gets the
    // same clear answer whatever the route's type would make of it. Parsing straight into the
    // route's type (not through `serde_json::Value`) refuses a repeated field instead of
    // keeping the last one.
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    match first {
        None => return Err(ApiError::bad_request("The body is not valid JSON.")),
        Some(b'{') => {}
        Some(_) => return Err(ApiError::bad_request("The body must be a JSON object.")),
    }
    serde_json::from_slice(body).map_err(|e| {
        if !e.is_data() {
            return ApiError::bad_request("The body is not valid JSON.");
        }
        let text = e.to_string();
        let missing = text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .filter(|f| f.len() <= 32 && f.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        ApiError::bad_request(match missing {
            Some(field) => format!("The body is missing the field `{field}`."),
            None => "The body has an unknown, repeated or mistyped field.".to_owned(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        #[serde(default)]
        device_name: Option<String>,
    }

    fn message(body: &str) -> String {
        let e = parse::<Body>(body.as_bytes()).unwrap_err();
        actix_web::body::to_bytes(actix_web::ResponseError::error_response(&e).into_body())
            .now_or_never()
            .unwrap()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .unwrap()
    }

    use futures_util::FutureExt as _;

    #[test]
    fn refuses_everything_but_the_fields_and_never_echoes_a_value() {
        assert!(parse::<Body>(br#"{"email":"a@b.example"}"#).is_ok());
        for bad in [
            "",
            "{",
            "[]",
            "\"x\"",
            "null",
            r#"{"email":1}"#,
            r#"{"email":"a","extra":1}"#,
            r#"{"email":"a","email":"b"}"#,
        ] {
            assert!(parse::<Body>(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse::<Body>(&[b'{', 0xff, b'}']).is_err(), "invalid UTF-8");
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(parse::<Body>(deep.as_bytes()).is_err(), "nesting");
        assert!(message("{}").contains("`email`"));
        let m = message(r#"{"email":"a","device_name":["hunter2-secret"]}"#);
        assert!(!m.contains("hunter2"), "{m}");
        let m = message(r#"{"email":"a","hunter2-secret":1}"#);
        assert!(!m.contains("hunter2"), "{m}");
    }
}
