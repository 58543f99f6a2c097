//! Single-use links sent by mail. Only the SHA-256 of a token is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Conn, Run as _};

use super::schema::{accounts, email_tokens};
use crate::domain::crypto;
use crate::domain::ids::AccountId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A password reset link.
    Reset,
    /// An account an admin made without a password: its link to choose one (issue 17). It is a
    /// reset link in every rule (single use, voided by every credential event, SPEC §8); only
    /// its wording and its lifetime (`REALMGATE_INVITE_TTL`) differ.
    Invite,
    Confirm,
}

impl Purpose {
    const fn as_str(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::Invite => "invite",
            Purpose::Confirm => "confirm",
        }
    }

    /// The stored purposes a link of this purpose is one of: a password link is a reset link
    /// or an invitation, alike for use and for voiding.
    const fn family(self) -> &'static [&'static str] {
        match self {
            Purpose::Reset | Purpose::Invite => &["reset", "invite"],
            Purpose::Confirm => &["confirm"],
        }
    }
}

/// 32 random bytes, 43 base64url characters: what the person gets in the link.
pub struct PlainToken(String);

impl PlainToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Whether a string can be a token at all, so garbage never reaches the database.
pub fn well_formed(raw: &str) -> bool {
    raw.len() == 43
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Voids every unused token of the account for `purpose`: a credential event (deactivation,
/// password change, completed reset, sign-out everywhere) ends pending reset links (SPEC §8).
pub fn void_all(
    conn: &mut Conn,
    account_id: AccountId,
    purpose: Purpose,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        email_tokens::table
            .filter(email_tokens::account_id.eq(account_id))
            .filter(email_tokens::purpose.eq_any(purpose.family()))
            .filter(email_tokens::used_at.is_null()),
    )
    .set(email_tokens::used_at.eq(now))
    .exec(conn)
    .map(drop)
}

/// Issues a token for `account`, voiding the account's earlier unused ones of that purpose.
pub fn issue(
    conn: &mut Conn,
    account_id: AccountId,
    purpose: Purpose,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<PlainToken> {
    let token = crypto::random_token::<32>();
    void_all(conn, account_id, purpose, now)?;
    diesel::insert_into(email_tokens::table)
        .values((
            email_tokens::token_hash.eq(crypto::sha256_hex(&token)),
            email_tokens::account_id.eq(account_id),
            email_tokens::purpose.eq(purpose.as_str()),
            email_tokens::created_at.eq(now),
            email_tokens::expires_at.eq(expires_at),
        ))
        .exec(conn)?;
    Ok(PlainToken(token))
}

/// The account a still-valid token belongs to, without using it up. A token of a deactivated
/// account is no token: its link answers like a used one and changes nothing.
pub fn peek(
    conn: &mut Conn,
    token: &str,
    purpose: Purpose,
    now: NaiveDateTime,
) -> QueryResult<Option<AccountId>> {
    if !well_formed(token) {
        return Ok(None);
    }
    email_tokens::table
        .inner_join(accounts::table)
        .filter(email_tokens::token_hash.eq(crypto::sha256_hex(token)))
        .filter(email_tokens::purpose.eq_any(purpose.family()))
        .filter(email_tokens::used_at.is_null())
        .filter(email_tokens::expires_at.gt(now))
        .filter(accounts::is_active.eq(true))
        .select(email_tokens::account_id)
        .one(conn)
        .optional()
}

/// Whether a good password link is an invitation (for its pages' wording).
pub fn is_invite(conn: &mut Conn, token: &str) -> QueryResult<bool> {
    if !well_formed(token) {
        return Ok(false);
    }
    diesel::select(diesel::dsl::exists(
        email_tokens::table
            .filter(email_tokens::token_hash.eq(crypto::sha256_hex(token)))
            .filter(email_tokens::purpose.eq(Purpose::Invite.as_str())),
    ))
    .one(conn)
}

/// Uses the token up with one conditional update, so two tabs racing with the same link
/// cannot both succeed. Returns the account, or `None` when unknown, used or expired.
pub fn consume(
    conn: &mut Conn,
    token: &str,
    purpose: Purpose,
    now: NaiveDateTime,
) -> QueryResult<Option<AccountId>> {
    let Some(account_id) = peek(conn, token, purpose, now)? else {
        return Ok(None);
    };
    let used = diesel::update(
        email_tokens::table
            .filter(email_tokens::token_hash.eq(crypto::sha256_hex(token)))
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::expires_at.gt(now)),
    )
    .set(email_tokens::used_at.eq(now))
    .exec(conn)?;
    Ok((used == 1).then_some(account_id))
}
