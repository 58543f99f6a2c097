//! The sessions "this browser" holds: both realms' session secrets and the remember cookie.
//!
//! They are kept when a password change or "sign out everywhere else" revokes the account's
//! other sessions, and they get new secrets in that same response (SPEC §8), so a copy of the
//! cookie or of the remember cookie taken earlier stops working.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse};

use crate::app::account::Rotation;
use crate::app::error::{AppError, AppResult};
use crate::domain::config::CookieSettings;
use crate::domain::ids::{SecretHash, SessionSecret};
use crate::web::cookies;
use crate::web::realm::{BrowserRealm, RealmSession};

pub struct Held {
    /// Distinct secrets: a session restored from the remember cookie holds the same secret in
    /// both places.
    secrets: Vec<SessionSecret>,
}

impl Held {
    pub fn read(req: &HttpRequest, session: &Session, cookie: &CookieSettings) -> Self {
        let mut secrets: Vec<SessionSecret> = Vec::new();
        let found = BrowserRealm::ALL
            .iter()
            .filter_map(|realm| RealmSession::of(session, *realm).secret())
            .chain(cookies::read_remember(req, cookie));
        for secret in found {
            if !secrets.contains(&secret) {
                secrets.push(secret);
            }
        }
        Self { secrets }
    }

    /// SHA-256 of each secret, as the registry stores them.
    pub fn hashes(&self) -> Vec<SecretHash> {
        self.secrets.iter().map(SessionSecret::hash).collect()
    }

    /// The secrets themselves, for the flow that rotates them (`app::account`).
    pub fn secrets(&self) -> &[SessionSecret] {
        &self.secrets
    }
}

/// Writes the new secrets where the old ones were: the realms' keys in the session cookie, and
/// the remember cookie. Other accounts' keys in this browser are not touched.
pub fn apply(
    rotation: &Rotation,
    req: &HttpRequest,
    session: &Session,
    res: &mut HttpResponse,
    cookie: &CookieSettings,
) -> AppResult<()> {
    for realm in BrowserRealm::ALL {
        let keys = RealmSession::of(session, realm);
        if let Some(new) = keys.secret().and_then(|old| rotation.new_for(&old)) {
            keys.replace_secret(new)?;
        }
    }
    let remembered = cookies::read_remember(req, cookie);
    if let Some(new) = remembered.and_then(|old| rotation.new_for(&old)) {
        res.add_cookie(&cookies::remember(new, cookie))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cookie: {e}")))?;
    }
    Ok(())
}
