//! The two long-lived cookies beside the session cookie.
//!
//! - `realmgate_remember` ("keep me signed in", user realm only) holds the secret of a
//!   long-lived user-realm registry row. It restores the user realm when the session cookie has
//!   none (the browser was closed); each device's remembered session is its own row.
//! - `realmgate_device` holds a random id given at each successful sign-in. A browser that has
//!   signed in to an account before keeps its own failure budget for that account while the
//!   account's email is locked, so an attacker cannot lock the real owner out
//!   (docs/security.md). It grants nothing else.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::HttpRequest;

use crate::domain::config::CookieSettings;
use crate::domain::ids::SessionSecret;

pub const REMEMBER: &str = "realmgate_remember";
pub const DEVICE: &str = "realmgate_device";
pub const SECURE_REMEMBER: &str = "__Host-realmgate_remember";
pub const SECURE_DEVICE: &str = "__Host-realmgate_device";

/// SECURITY: when Secure, every cookie is named with `__Host-` (SPEC §3), which browsers set
/// only from this exact host, over HTTPS, with `Path=/` and no `Domain`; so a sibling host
/// cannot plant one. The plain name is then never read.
fn name(cookie: &CookieSettings, plain: &'static str, host: &'static str) -> &'static str {
    if cookie.secure {
        host
    } else {
        plain
    }
}

const DEVICE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(400 * 86400);

fn persistent(
    name: &'static str,
    value: &str,
    max_age: std::time::Duration,
    cookie: &CookieSettings,
) -> Cookie<'static> {
    let secs = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    Cookie::build(name, value.to_owned())
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(cookie.secure)
        .path("/")
        .max_age(time::Duration::seconds(secs))
        .finish()
}

pub fn remember(secret: &SessionSecret, cookie: &CookieSettings) -> Cookie<'static> {
    let name = name(cookie, REMEMBER, SECURE_REMEMBER);
    persistent(name, secret.expose(), cookie.remember_me, cookie)
}

/// A cookie that makes the browser forget the remember cookie.
pub fn remember_removal(cookie: &CookieSettings) -> Cookie<'static> {
    let mut c = persistent(
        name(cookie, REMEMBER, SECURE_REMEMBER),
        "",
        cookie.remember_me,
        cookie,
    );
    c.make_removal();
    c
}

pub fn device(id: &str, cookie: &CookieSettings) -> Cookie<'static> {
    persistent(
        name(cookie, DEVICE, SECURE_DEVICE),
        id,
        DEVICE_MAX_AGE,
        cookie,
    )
}

/// The remembered secret (32 random bytes, base64url), if the browser sent one.
pub fn read_remember(req: &HttpRequest, cookie: &CookieSettings) -> Option<SessionSecret> {
    read(req, name(cookie, REMEMBER, SECURE_REMEMBER), 43).map(SessionSecret::from)
}

/// The device id (16 random bytes, base64url), if the browser sent one.
pub fn read_device(req: &HttpRequest, cookie: &CookieSettings) -> Option<String> {
    read(req, name(cookie, DEVICE, SECURE_DEVICE), 22)
}

/// A cookie value only when it could be one of ours at all, so garbage never reaches a query.
fn read(req: &HttpRequest, name: &str, len: usize) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_owned()).filter(|v| {
        v.len() == len
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}
