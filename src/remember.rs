//! "Remember me" (user realm only): a second cookie, `realmgate_remember`, holding the secret
//! of a long-lived user-realm registry row. It restores the user realm when the session cookie
//! has none (the browser was closed); each device's remembered session is its own row.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::HttpRequest;

use crate::config::Config;
use crate::db::tokens::well_formed;

pub const COOKIE: &str = "realmgate_remember";

pub fn cookie(secret: &str, config: &Config) -> Cookie<'static> {
    let max_age = i64::try_from(config.remember_me.as_secs()).unwrap_or(i64::MAX);
    Cookie::build(COOKIE, secret.to_owned())
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.cookie_secure)
        .path("/")
        .max_age(time::Duration::seconds(max_age))
        .finish()
}

/// A cookie that makes the browser forget the remember cookie.
pub fn removal(config: &Config) -> Cookie<'static> {
    let mut c = cookie("", config);
    c.make_removal();
    c
}

/// The remembered secret, if the browser sent one that could be a secret at all.
pub fn read(req: &HttpRequest) -> Option<String> {
    req.cookie(COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| well_formed(v))
}
