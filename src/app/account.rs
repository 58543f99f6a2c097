//! An account's own credential and session flows, each one transaction that returns what
//! happened: completing a reset (SPEC §8), and revoking one of its own sessions (SPEC §5).

use chrono::NaiveDateTime;

use crate::db::accounts::{self, Account};
use crate::db::audit::{Incident, IncidentKind, LogoutReason};
use crate::db::tokens::{self, Purpose};
use crate::db::{lockout, sessions, Conn};
use crate::domain::client::ClientInfo;
use crate::domain::realm::Realm;

/// Completes a password reset with `token` for `account`, whose new password is already
/// hashed. `false` when the token was used, expired or voided meanwhile (nothing changed).
pub fn complete_reset(
    conn: &mut Conn,
    token: &str,
    account: &Account,
    new_hash: &str,
    client: &ClientInfo,
    floods: u32,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    let (account_id, email) = (account.id, account.email.as_str());
    conn.immediate_transaction(|conn| {
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
        Ok(true)
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    Revoked,
    NotFound,
    /// Another account's session: answered as `NotFound`, recorded as `unauthorized_access`.
    NotYours,
}

/// Revokes session `id` of `account_id` (`reason`: a sign-out for its current session, else
/// `revoked_by_user`).
pub fn revoke_own_session(
    conn: &mut Conn,
    account_id: i32,
    id: &str,
    reason: LogoutReason,
    client: &ClientInfo,
    floods: u32,
    now: NaiveDateTime,
) -> diesel::QueryResult<Revoked> {
    conn.immediate_transaction(|conn| {
        let Some(row) = sessions::find(conn, id)? else {
            return Ok(Revoked::NotFound);
        };
        if row.account_id != account_id {
            Incident::new(IncidentKind::UnauthorizedAccess, client)
                .realm(Realm::User)
                .account(account_id)
                .details("revoke of another account's session")
                .record(conn, now, floods)?;
            return Ok(Revoked::NotYours);
        }
        sessions::revoke(conn, &row, reason, Some(client), now)?;
        Ok(Revoked::Revoked)
    })
}
