//! An account's own credential and session flows, each one transaction that returns what
//! happened: changing the password and completing a reset (SPEC §8, each with its notice mail
//! in the same transaction), a failed current-password
//! check (SPEC §9), revoking one of its own sessions and signing out everywhere else (SPEC §5).

use chrono::NaiveDateTime;

use crate::app::mail::Mail;
use crate::app::outbox::Writer;
use crate::db::accounts::{self, Account};
use crate::db::audit::Incident;
use crate::db::sessions::AuthSession;
use crate::db::tokens::{self, Purpose};
use crate::db::{lockout, password_checks, sessions, Conn};
use crate::domain::client::ClientInfo;
use crate::domain::events::{IncidentKind, LogoutReason};
use crate::domain::ids::{AccountId, SecretHash, SessionId, SessionSecret};
use crate::domain::realm::Realm;

/// Completes a password reset with `token` for `account`, whose new password is already
/// hashed. `false` when the token was used, expired or voided meanwhile (nothing changed).
pub fn complete_reset(
    conn: &mut Conn,
    account: &Account,
    (token, new_hash): (&str, &str),
    client: &ClientInfo,
    notice: (&Writer, &Mail),
    floods: u32,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    let (account_id, email) = (account.id, account.email.as_str());
    conn.write_transaction(|conn| {
        // One conditional update: two tabs racing with one link cannot both win.
        if tokens::consume(conn, token, Purpose::Reset, now)? != Some(account_id) {
            return Ok(false);
        }
        accounts::set_new_password(conn, account_id, new_hash)?;
        tokens::void_all(conn, account_id, Purpose::Reset, now)?;
        // A completed reset proves the owner: the email's lock goes too.
        lockout::unlock_email(conn, email)?;
        // The link reached the mailbox: that confirms the address too.
        accounts::confirm_email(conn, account_id, now)?;
        sessions::revoke_all_for(
            conn,
            account_id,
            &[],
            LogoutReason::PasswordReset,
            Some(client),
            now,
        )?;
        Incident::new(IncidentKind::PasswordResetCompleted, client)
            .realm(Realm::User)
            .account(account_id)
            .record(conn, now, floods)?;
        notice.0.mail(conn, notice.1, now)?;
        Ok(true)
    })
}

/// A credential event (deactivation, sign-out everywhere): every session of the account ends,
/// in every realm, and every pending reset link. Call inside a write transaction. `client` is
/// the account's own when it asked; an admin's is not written into the account's sign-outs
/// (SPEC §14: an organisation admin reads those, and platform admins are out of their view).
pub fn end_sessions_and_links(
    conn: &mut Conn,
    id: AccountId,
    reason: LogoutReason,
    client: Option<&ClientInfo>,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    sessions::revoke_all_for(conn, id, &[], reason, client, now)?;
    tokens::void_all(conn, id, Purpose::Reset, now)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    Revoked,
    NotFound,
    /// Another account's session: answered as `NotFound`, recorded as `unauthorized_access`.
    NotYours,
}

/// Revokes session `id` of the account signed in as `current`: a sign-out (`user_logout`)
/// when it is `current` itself, else `revoked_by_user`.
pub fn revoke_own_session(
    conn: &mut Conn,
    current: &AuthSession,
    id: &SessionId,
    client: &ClientInfo,
    floods: u32,
    now: NaiveDateTime,
) -> diesel::QueryResult<Revoked> {
    let (realm, account_id) = (current.realm, current.account_id);
    let reason = if *id == current.id {
        LogoutReason::UserLogout
    } else {
        LogoutReason::RevokedByUser
    };
    conn.write_transaction(|conn| {
        let Some(row) = sessions::find(conn, id)? else {
            return Ok(Revoked::NotFound);
        };
        if row.account_id != account_id {
            Incident::new(IncidentKind::UnauthorizedAccess, client)
                .realm(realm)
                .account(account_id)
                .details("revoke of another account's session")
                .record(conn, now, floods)?;
            return Ok(Revoked::NotYours);
        }
        sessions::revoke(conn, &row, reason, Some(client), now)?;
        Ok(Revoked::Revoked)
    })
}

/// Old secret → new secret, for the sessions of the account that a browser holds (SPEC §8):
/// the same registry rows with a new `secret_hash`, so a copy of the old cookie stops working.
pub struct Rotation {
    pairs: Vec<(SessionSecret, SessionSecret)>,
}

impl Rotation {
    /// The new secret for one the browser held, if that session was rotated.
    pub fn new_for(&self, old: &SessionSecret) -> Option<&SessionSecret> {
        self.pairs.iter().find(|(o, _)| o == old).map(|(_, n)| n)
    }
}

/// New secrets for every session of `account_id` among `held` (the browser's secrets). Call
/// in the transaction that revokes the others.
fn rotate_held(
    conn: &mut Conn,
    account_id: AccountId,
    held: &[SessionSecret],
    now: NaiveDateTime,
) -> diesel::QueryResult<Rotation> {
    let mut pairs = Vec::new();
    for old in held {
        let new = SessionSecret::generate();
        if sessions::rotate_secret(conn, account_id, &old.hash(), &new.hash(), now)? {
            pairs.push((old.clone(), new));
        }
    }
    Ok(Rotation { pairs })
}

fn hashes(secrets: &[SessionSecret]) -> Vec<SecretHash> {
    secrets.iter().map(SessionSecret::hash).collect()
}

/// "Sign out everywhere else": every session of the account but those `held` by this browser
/// ends (`revoked_by_user`), every pending reset link is void, and the held ones get new
/// secrets. Returns how many ended, and the rotation.
pub fn sign_out_others(
    conn: &mut Conn,
    account_id: AccountId,
    held: &[SessionSecret],
    client: &ClientInfo,
    now: NaiveDateTime,
) -> diesel::QueryResult<(usize, Rotation)> {
    conn.write_transaction(|conn| {
        let ended = sessions::revoke_all_for(
            conn,
            account_id,
            &hashes(held),
            LogoutReason::RevokedByUser,
            Some(client),
            now,
        )?;
        tokens::void_all(conn, account_id, Purpose::Reset, now)?;
        Ok((ended, rotate_held(conn, account_id, held, now)?))
    })
}

/// Records a current-password check that did not pass (`wrong`: the password was checked
/// and did not match; otherwise the hasher could not run) and releases its in-flight mark.
/// The 5th wrong one ends the session (SPEC §9); returns whether this call ended it.
pub fn failed_password_check(
    conn: &mut Conn,
    session: &AuthSession,
    realm: Realm,
    wrong: bool,
    client: &ClientInfo,
    floods: u32,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    conn.write_transaction(|conn| {
        let wrong_so_far = password_checks::finish(conn, &session.id, wrong)?;
        password_checks::release(conn, &session.id)?;
        if wrong_so_far < password_checks::MAX_WRONG {
            return Ok(false);
        }
        let reason = LogoutReason::PasswordGuessing;
        if sessions::revoke(conn, session, reason, Some(client), now)? {
            log::warn!(
                target: "security",
                "session {} ended after {wrong_so_far} wrong current passwords",
                session.id
            );
            Incident::new(IncidentKind::PasswordGuessing, client)
                .realm(realm)
                .account(session.account_id)
                .details(format!(
                    "session {}: {wrong_so_far} wrong current passwords",
                    session.id
                ))
                .record(conn, now, floods)?;
        }
        Ok(true)
    })
}

/// A password change whose current password was checked and whose new one is hashed.
pub struct PasswordChange<'a> {
    /// The registry row of the session that asked.
    pub session_id: &'a SessionId,
    pub account: &'a Account,
    pub new_hash: &'a str,
    /// The secrets this browser holds: those sessions stay, with new secrets.
    pub held: &'a [SessionSecret],
    /// The hash of this browser's device id: it keeps its lockout budget.
    pub this_device: Option<&'a str>,
    pub realm: Realm,
}

/// Commits a password change (SPEC §8) and releases the check's in-flight mark. `None` when
/// the session or the account ended while Argon2 ran: then nothing changed (SPEC I3).
pub fn change_password(
    conn: &mut Conn,
    change: &PasswordChange<'_>,
    client: &ClientInfo,
    notice: (&Writer, &Mail),
    floods: u32,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<Rotation>> {
    let account_id = change.account.id;
    conn.write_transaction(|conn| {
        password_checks::release(conn, change.session_id)?;
        let session_live =
            sessions::find(conn, change.session_id)?.is_some_and(|r| r.revoked_at.is_none());
        let account_active = accounts::find(conn, account_id)?.is_some_and(|a| a.is_active);
        if !(session_live && account_active) {
            return Ok(None);
        }
        accounts::set_new_password(conn, account_id, change.new_hash)?;
        // Browsers that knew the old password lose their separate lockout budget.
        lockout::forget_devices(conn, &change.account.email, change.this_device)?;
        tokens::void_all(conn, account_id, Purpose::Reset, now)?;
        sessions::revoke_all_for(
            conn,
            account_id,
            &hashes(change.held),
            LogoutReason::PasswordChanged,
            Some(client),
            now,
        )?;
        let rotation = rotate_held(conn, account_id, change.held, now)?;
        Incident::new(IncidentKind::PasswordChanged, client)
            .realm(change.realm)
            .account(account_id)
            .record(conn, now, floods)?;
        notice.0.mail(conn, notice.1, now)?;
        Ok(Some(rotation))
    })
}
