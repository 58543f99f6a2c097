//! The sessions "this browser" holds: both realms' session secrets and the remember cookie.
//!
//! They are kept when a password change or "sign out everywhere else" revokes the account's
//! other sessions, and they get new secrets in that same response (SPEC §8), so a copy of the
//! cookie or of the remember cookie taken earlier stops working.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse};

use crate::app::error::{AppError, AppResult};
use crate::db::{sessions, Conn};
use crate::domain::config::Config;
use crate::domain::crypto;
use crate::web::cookies;
use crate::web::realm::{Realm, RealmSession};

pub struct Held {
    /// Distinct secrets: a session restored from the remember cookie holds the same secret in
    /// both places.
    secrets: Vec<String>,
}

impl Held {
    pub fn read(req: &HttpRequest, session: &Session, config: &Config) -> Self {
        let mut secrets: Vec<String> = Vec::new();
        let found = Realm::ALL
            .iter()
            .filter_map(|realm| RealmSession::of(session, *realm).secret())
            .chain(cookies::read_remember(req, config));
        for secret in found {
            if !secrets.contains(&secret) {
                secrets.push(secret);
            }
        }
        Self { secrets }
    }

    /// SHA-256 of each secret, as the registry stores them.
    pub fn hashes(&self) -> Vec<String> {
        self.secrets.iter().map(|s| crypto::sha256_hex(s)).collect()
    }

    /// New secrets for every held session of `account_id`, written to the registry. Call in
    /// the transaction that revokes the others; `apply` then hands them to the browser.
    pub fn rotate(
        &self,
        conn: &mut Conn,
        account_id: i32,
        now: chrono::NaiveDateTime,
    ) -> diesel::QueryResult<Rotation> {
        let mut pairs = Vec::new();
        for old in &self.secrets {
            let new = crypto::random_token::<32>();
            let old_hash = crypto::sha256_hex(old);
            let new_hash = crypto::sha256_hex(&new);
            if sessions::rotate_secret(conn, account_id, &old_hash, &new_hash, now)? {
                pairs.push((old.clone(), new));
            }
        }
        Ok(Rotation { pairs })
    }
}

/// Old secret → new secret, for the sessions of the account this browser holds.
pub struct Rotation {
    pairs: Vec<(String, String)>,
}

impl Rotation {
    fn new_for(&self, old: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(o, _)| o == old)
            .map(|(_, n)| n.as_str())
    }

    /// Writes the new secrets where the old ones were: the realms' keys in the session cookie,
    /// and the remember cookie. Other accounts' keys in this browser are not touched.
    pub fn apply(
        &self,
        req: &HttpRequest,
        session: &Session,
        res: &mut HttpResponse,
        config: &Config,
    ) -> AppResult<()> {
        for realm in Realm::ALL {
            let keys = RealmSession::of(session, realm);
            if let Some(new) = keys.secret().as_deref().and_then(|old| self.new_for(old)) {
                keys.replace_secret(new)?;
            }
        }
        let remembered = cookies::read_remember(req, config);
        if let Some(new) = remembered.as_deref().and_then(|old| self.new_for(old)) {
            res.add_cookie(&cookies::remember(new, config))
                .map_err(|e| AppError::Internal(anyhow::anyhow!("cookie: {e}")))?;
        }
        Ok(())
    }
}
