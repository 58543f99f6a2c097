//! One realm's keys in the shared session cookie (SPEC §3): `R.session`, `R.account`, and its
//! CSRF token. Every read and write of them goes through here, so "remove this realm's keys"
//! is written once and can never touch another realm's.

use actix_session::Session;

use super::BrowserRealm;
use crate::app::error::{AppError, AppResult};
use crate::domain::ids::{AccountId, SessionSecret};

/// `R.pending`: whose password was right, where to go after, whether to remember, until when
/// (Unix seconds) the code may come, and how many wrong codes so far.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub account: AccountId,
    pub next: String,
    pub remember: bool,
    pub until: i64,
    pub wrong: u8,
}

pub struct RealmSession<'a> {
    session: &'a Session,
    realm: BrowserRealm,
}

impl<'a> RealmSession<'a> {
    pub fn of(session: &'a Session, realm: BrowserRealm) -> Self {
        Self { session, realm }
    }

    /// The session secret this browser holds for the realm.
    pub fn secret(&self) -> Option<SessionSecret> {
        self.session
            .get::<String>(self.realm.session_key())
            .ok()
            .flatten()
            .map(SessionSecret::from)
    }

    /// The account the cookie names for the realm (`None` when missing or garbled).
    pub fn claimed_account(&self) -> Option<AccountId> {
        self.session
            .get::<AccountId>(self.realm.account_key())
            .ok()
            .flatten()
    }

    /// Writes the realm's secret and account (a sign-in, or a restore from the remember
    /// cookie).
    pub fn sign_in(&self, secret: &SessionSecret, account_id: AccountId) -> AppResult<()> {
        self.replace_secret(secret)?;
        self.session
            .insert(self.realm.account_key(), account_id)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("session insert: {e}")))
    }

    /// A new secret for the same session (SPEC §8's rotation).
    pub fn replace_secret(&self, secret: &SessionSecret) -> AppResult<()> {
        self.session
            .insert(self.realm.session_key(), secret.expose())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("session insert: {e}")))
    }

    /// Forgets the realm's session (its secret and account), leaving its open forms' CSRF
    /// token: the guard, when a session has ended under an open page.
    pub fn forget(&self) {
        self.session.remove(self.realm.session_key());
        self.session.remove(self.realm.account_key());
    }

    /// Signs the realm out of this cookie: its session, a pending sign-in and its CSRF token,
    /// nothing else.
    pub fn sign_out(&self) {
        self.forget();
        self.clear_pending();
        crate::web::csrf::remove(self.session, self.realm);
    }

    /// A sign-in of this realm waiting for its second factor (`R.pending`, SPEC §15).
    pub fn pending(&self) -> Option<Pending> {
        self.session
            .get::<Pending>(self.realm.pending_key())
            .ok()
            .flatten()
    }

    pub fn set_pending(&self, pending: &Pending) -> AppResult<()> {
        self.session
            .insert(self.realm.pending_key(), pending)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("session insert: {e}")))
    }

    pub fn clear_pending(&self) {
        self.session.remove(self.realm.pending_key());
    }
}
