//! A strict `application/x-www-form-urlencoded` extractor.
//!
//! Stricter than `web::Form`: invalid percent-encoding or UTF-8 is a 400 instead of being
//! silently replaced, a repeated field is a 400 (two `next` values must not let one check see
//! one and the redirect use the other), and bodies over 16 KiB are a 413.

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;

use crate::app::error::AppError;

pub const MAX_FORM_BYTES: usize = 16 * 1024;

pub struct Form<T>(pub T);

/// A form whose `csrf_token` field `CsrfForm` checks.
pub trait CsrfField {
    fn csrf_token(&self) -> &str;
}

/// A form of realm `R` whose CSRF token and origin passed (SPEC §6): `Form<T>`, then
/// `csrf::verify` against the realm's token, before the handler runs. The guard, being
/// middleware, has already run; a refusal is the 403 page and a `csrf_rejected` incident.
pub struct CsrfForm<R, T>(pub T, pub std::marker::PhantomData<R>);

impl<R, T> FromRequest for CsrfForm<R, T>
where
    R: crate::web::realm::RealmKind,
    T: DeserializeOwned + CsrfField + 'static,
{
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        use actix_session::SessionExt as _;
        let form = Form::<T>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let Form(form) = form.await?;
            let Some(state) = req
                .app_data::<actix_web::web::Data<crate::web::startup::AppState>>()
                .cloned()
            else {
                return Err(AppError::Internal(anyhow::anyhow!("AppState missing")));
            };
            let session = req.get_session();
            crate::web::csrf::verify(&req, &session, &state, R::REALM, form.csrf_token()).await?;
            Ok(CsrfForm(form, std::marker::PhantomData))
        })
    }
}

/// The body of a form whose only field is its CSRF token (sign-out, revoke, admin actions).
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf_token: String,
}

impl CsrfField for CsrfOnly {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > MAX_FORM_BYTES) {
                return Err(AppError::PayloadTooLarge);
            }
            if !is_form {
                return Err(AppError::BadRequest("Expected a submitted form.".into()));
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| match e {
                    actix_web::error::PayloadError::Io(io)
                        if io.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        AppError::RequestTimeout
                    }
                    _ => AppError::BadRequest("The form was cut off.".into()),
                })?;
                if body.len() + chunk.len() > MAX_FORM_BYTES {
                    return Err(AppError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(Form)
        })
    }
}

pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let bad = || {
        AppError::BadRequest("The form could not be read. Reload the page and try again.".into())
    };
    let mut pairs = Vec::new();
    for part in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match part.iter().position(|b| *b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        pairs.push((decode(key).ok_or_else(bad)?, decode(value).ok_or_else(bad)?));
    }
    let de =
        serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(pairs.into_iter());
    T::deserialize(de).map_err(|_| bad())
}

fn decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct F {
        a: String,
        #[serde(default)]
        b: String,
    }

    #[test]
    fn parses_strictly() {
        let f: F = parse(b"a=x+y%21&c=ignored").unwrap();
        assert_eq!((f.a.as_str(), f.b.as_str()), ("x y!", ""));
        assert!(parse::<F>(b"a=1&a=2").is_err(), "repeated field");
        assert!(parse::<F>(b"a=%ff").is_err(), "invalid UTF-8");
        assert!(parse::<F>(b"a=%zz").is_err(), "bad escape");
        assert!(parse::<F>(b"a=%4").is_err(), "short escape");
        assert!(parse::<F>(b"b=1").is_err(), "missing field");
        let f: F = parse("a=' OR 1=1; DROP TABLE accounts; --".as_bytes()).unwrap();
        assert!(f.a.contains("DROP"));
    }
}
