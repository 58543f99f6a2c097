//! `two_factor` and `recovery_codes` (SPEC §15). Every check that must hold once is one
//! conditional update: a time step accepted, a recovery code used, an enrolment confirmed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{recovery_codes, two_factor};
use super::{Conn, Run as _};
use crate::domain::ids::AccountId;

#[derive(Queryable, Clone, Debug)]
pub struct Factor {
    pub secret_sealed: String,
    pub enabled_at: Option<NaiveDateTime>,
    pub last_step: Option<i64>,
}

pub fn find(conn: &mut Conn, account: AccountId) -> QueryResult<Option<Factor>> {
    two_factor::table
        .find(account)
        .select((
            two_factor::secret_sealed,
            two_factor::enabled_at,
            two_factor::last_step,
        ))
        .one(conn)
        .optional()
}

/// Which of these accounts have a second factor on (the console's account list).
pub fn enabled_among(conn: &mut Conn, accounts: &[AccountId]) -> QueryResult<Vec<AccountId>> {
    two_factor::table
        .filter(two_factor::account_id.eq_any(accounts))
        .filter(two_factor::enabled_at.is_not_null())
        .select(two_factor::account_id)
        .all(conn)
}

pub fn is_enabled(conn: &mut Conn, account: AccountId) -> QueryResult<bool> {
    Ok(find(conn, account)?.is_some_and(|f| f.enabled_at.is_some()))
}

/// A new pending secret for `account`, replacing an earlier pending one. `false` (nothing
/// written) when a factor is already on.
pub fn put_pending(
    conn: &mut Conn,
    account: AccountId,
    sealed: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    if is_enabled(conn, account)? {
        return Ok(false);
    }
    diesel::delete(two_factor::table.find(account)).exec(conn)?;
    diesel::insert_into(two_factor::table)
        .values((
            two_factor::account_id.eq(account),
            two_factor::secret_sealed.eq(sealed),
            two_factor::created_at.eq(now),
        ))
        .exec(conn)
        .map(|_| true)
}

/// Turns the pending factor on, its confirming code's `step` the first accepted.
pub fn enable(
    conn: &mut Conn,
    account: AccountId,
    step: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        two_factor::table
            .find(account)
            .filter(two_factor::enabled_at.is_null()),
    )
    .set((
        two_factor::enabled_at.eq(now),
        two_factor::last_step.eq(step),
    ))
    .exec(conn)
    .map(|n| n == 1)
}

/// Accepts `step` for `account` if no code of it or a later step was accepted before: two
/// parallel uses of one code cannot both pass.
pub fn accept_step(conn: &mut Conn, account: AccountId, step: i64) -> QueryResult<bool> {
    diesel::update(
        two_factor::table
            .find(account)
            .filter(two_factor::enabled_at.is_not_null())
            .filter(
                two_factor::last_step
                    .is_null()
                    .or(two_factor::last_step.lt(step)),
            ),
    )
    .set(two_factor::last_step.eq(step))
    .exec(conn)
    .map(|n| n == 1)
}

/// Removes the factor and its recovery codes. Whether there was one.
pub fn remove(conn: &mut Conn, account: AccountId) -> QueryResult<bool> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::account_id.eq(account)))
        .exec(conn)?;
    diesel::delete(two_factor::table.find(account))
        .exec(conn)
        .map(|n| n == 1)
}

/// The account's recovery codes become these (their hashes); the old ones die.
pub fn replace_recovery_codes(
    conn: &mut Conn,
    account: AccountId,
    hashes: &[String],
) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::account_id.eq(account)))
        .exec(conn)?;
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::account_id.eq(account),
                recovery_codes::code_hash.eq(hash),
            ))
            .exec(conn)?;
    }
    Ok(())
}

/// Uses an unused recovery code of `account`: `true` once, then never again.
pub fn use_recovery_code(
    conn: &mut Conn,
    account: AccountId,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        recovery_codes::table
            .filter(recovery_codes::account_id.eq(account))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .exec(conn)
    .map(|n| n >= 1)
}

pub fn remaining_codes(conn: &mut Conn, account: AccountId) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::account_id.eq(account))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .one(conn)
}
