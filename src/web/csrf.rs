//! Per-realm CSRF tokens under `csrf.user` / `csrf.admin`, and the origin check.
//!
//! Each realm has its own token so that signing in or out in one tab (which replaces or
//! removes that realm's token) never breaks a form left open in the other realm's tab.

use actix_session::Session;
use actix_web::http::header::{HeaderMap, ORIGIN};
use actix_web::HttpRequest;

use crate::app::error::{AppError, AppResult};
use crate::db::{self, audit::Incident};
use crate::domain::crypto;
use crate::domain::events::IncidentKind;
use crate::web::realm::BrowserRealm;
use crate::web::routes::client::client_info;
use crate::web::startup::AppState;

/// The realm's token, minted (a session write) only when it is missing.
pub fn token(session: &Session, realm: BrowserRealm) -> AppResult<String> {
    if let Ok(Some(existing)) = session.get::<String>(realm.csrf_key()) {
        return Ok(existing);
    }
    replace(session, realm)
}

/// A fresh token for the realm: at sign-in, so a token seen before it is worthless after.
pub fn replace(session: &Session, realm: BrowserRealm) -> AppResult<String> {
    let fresh = crypto::random_token::<32>();
    session
        .insert(realm.csrf_key(), &fresh)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session insert: {e}")))?;
    Ok(fresh)
}

pub fn remove(session: &Session, realm: BrowserRealm) {
    session.remove(realm.csrf_key());
}

#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    CrossSite,
    ForeignOrigin,
    BadToken,
}

fn check(
    headers: &HeaderMap,
    allowed_origins: &[String],
    expected: Option<&str>,
    submitted: &str,
) -> Result<(), Refusal> {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(Refusal::CrossSite);
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
        {
            return Err(Refusal::ForeignOrigin);
        }
    }
    match expected {
        Some(expected) if crypto::ct_eq(expected, submitted) => Ok(()),
        _ => Err(Refusal::BadToken),
    }
}

/// Checks a submitted form against the realm's token and the request's origin. A refusal is
/// recorded as `csrf_rejected` and answered 403; the session is left as it was.
pub async fn verify(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    realm: BrowserRealm,
    submitted: &str,
) -> AppResult<()> {
    let expected = session.get::<String>(realm.csrf_key()).ok().flatten();
    let Err(refusal) = check(
        req.headers(),
        &state.allowed_origins,
        expected.as_deref(),
        submitted,
    ) else {
        return Ok(());
    };
    let client = client_info(req, &state.config.server.trusted_proxies);
    let details = format!("{refusal:?} on {} {}", req.method(), req.path());
    let now = state.clock.now();
    let floods = state.config.lockout.incidents_per_ip;
    db::block(&state.pool, move |conn| {
        Incident::new(IncidentKind::CsrfRejected, &client)
            .realm(realm)
            .details(details)
            .record(conn, now, floods)
            .map_err(db::DbError::from)
    })
    .await?;
    Err(AppError::Forbidden(
        "This form has expired or did not come from this site. Go back, reload the page and try again."
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn origins() -> Vec<String> {
        vec!["http://127.0.0.1:8080".into()]
    }

    #[test]
    fn token_and_origin_rules() {
        let mut h = HeaderMap::new();
        assert_eq!(check(&h, &origins(), Some("abc"), "abc"), Ok(()));
        assert_eq!(
            check(&h, &origins(), Some("abc"), "abd"),
            Err(Refusal::BadToken)
        );
        assert_eq!(check(&h, &origins(), None, ""), Err(Refusal::BadToken));
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert_eq!(check(&h, &origins(), Some("abc"), "abc"), Ok(()));
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert_eq!(
            check(&h, &origins(), Some("abc"), "abc"),
            Err(Refusal::ForeignOrigin)
        );
        h.insert(ORIGIN, HeaderValue::from_static("null"));
        assert_eq!(
            check(&h, &origins(), Some("abc"), "abc"),
            Err(Refusal::ForeignOrigin)
        );
        let mut h = HeaderMap::new();
        h.insert(
            actix_web::http::header::HeaderName::from_static("sec-fetch-site"),
            HeaderValue::from_static("cross-site"),
        );
        assert_eq!(
            check(&h, &origins(), Some("abc"), "abc"),
            Err(Refusal::CrossSite)
        );
    }
}
