//! Current-password checks by a signed-in session (SPEC §9 "Abuse by a signed-in session").
//!
//! A check is admitted, counted and marked in flight in one write transaction before Argon2
//! runs, so parallel requests from one session (or from several sessions of one account)
//! cannot get more checks than the cap, and never two at once. The counter is per registry
//! row and never consults the email's sign-in lock: a stranger's wrong sign-ins cannot stop
//! the owner from changing the password.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{per_backend, Conn, Run as _};

use super::schema::{auth_sessions, password_checks};
use crate::domain::clock::after;
use crate::domain::ids::{AccountId, SessionId};

/// At most this many checks admitted per session in one `REALMGATE_LOGIN_WINDOW`.
pub const MAX_CHECKS: i32 = 10;
/// The wrong current password that ends the session.
pub const MAX_WRONG: i32 = 5;
/// A check marked in flight for longer than this was cut off (a crash): it no longer blocks
/// the next one. A check waits at most 5 s for a hashing thread, then hashes at most twice.
const STALE: Duration = Duration::from_secs(15);

#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Another check of this session or account is with Argon2 right now.
    InFlight,
    /// The window's checks are used up; the next window starts after this many seconds.
    OverCap {
        retry_after_secs: u64,
    },
}

#[derive(Queryable)]
struct Row {
    checks: i32,
    window_started_at: NaiveDateTime,
}

/// What `admit` would answer, from reads alone: lets a request that will be refused anyway
/// be refused before any costly check (the strength policy) and without taking the write
/// lock. `admit` decides again inside its transaction.
pub fn would_admit(
    conn: &mut Conn,
    session_id: &SessionId,
    account_id: AccountId,
    window: Duration,
    now: NaiveDateTime,
) -> QueryResult<Admission> {
    Ok(state(conn, session_id, account_id, window, now)?.0)
}

/// Admits one check (counted, marked in flight) or says why not. Call inside an immediate
/// transaction, so parallel requests are decided one after another.
pub fn admit(
    conn: &mut Conn,
    session_id: &SessionId,
    account_id: AccountId,
    window: Duration,
    now: NaiveDateTime,
) -> QueryResult<Admission> {
    let (admission, checks, window_started_at) = state(conn, session_id, account_id, window, now)?;
    if admission != Admission::Admitted {
        return Ok(admission);
    }
    per_backend!(conn, |c| diesel::insert_into(password_checks::table)
        .values((
            password_checks::session_id.eq(session_id),
            password_checks::account_id.eq(account_id),
            password_checks::checks.eq(checks),
            password_checks::window_started_at.eq(window_started_at),
            password_checks::wrong.eq(0),
            password_checks::in_flight_since.eq(Some(now)),
        ))
        .on_conflict(password_checks::session_id)
        .do_update()
        .set((
            password_checks::checks.eq(checks),
            password_checks::window_started_at.eq(window_started_at),
            password_checks::in_flight_since.eq(Some(now)),
        ))
        .execute(c))?;
    Ok(Admission::Admitted)
}

/// The answer, and the window's count and start should the check be admitted.
fn state(
    conn: &mut Conn,
    session_id: &SessionId,
    account_id: AccountId,
    window: Duration,
    now: NaiveDateTime,
) -> QueryResult<(Admission, i32, NaiveDateTime)> {
    let stale_before = now - chrono::Duration::from_std(STALE).unwrap_or_default();
    // One in flight per account covers one per session, and keeps an account with many
    // sessions from holding many hashing threads at once. Only live sessions' marks count, so
    // signing a thief's session out frees the owner at once.
    let busy: bool = diesel::select(diesel::dsl::exists(
        password_checks::table
            .inner_join(auth_sessions::table)
            .filter(password_checks::account_id.eq(account_id))
            .filter(password_checks::in_flight_since.gt(stale_before))
            .filter(auth_sessions::revoked_at.is_null()),
    ))
    .one(conn)?;
    if busy {
        return Ok((Admission::InFlight, 0, now));
    }
    let row: Option<Row> = password_checks::table
        .find(session_id)
        .select((password_checks::checks, password_checks::window_started_at))
        .one(conn)
        .optional()?;
    Ok(match row {
        Some(r) if now < after(r.window_started_at, window) => {
            if r.checks >= MAX_CHECKS {
                let ends = after(r.window_started_at, window);
                let secs = (ends - now).num_seconds().max(1);
                let retry_after_secs = u64::try_from(secs).unwrap_or(1);
                (
                    Admission::OverCap { retry_after_secs },
                    r.checks,
                    r.window_started_at,
                )
            } else {
                (Admission::Admitted, r.checks + 1, r.window_started_at)
            }
        }
        _ => (Admission::Admitted, 1, now),
    })
}

/// Records the check's outcome: a wrong password is counted. Returns the session's wrong
/// checks so far. The check stays marked in flight until `release`.
pub fn finish(conn: &mut Conn, session_id: &SessionId, wrong: bool) -> QueryResult<i32> {
    let added = i32::from(wrong);
    diesel::update(password_checks::table.find(session_id))
        .set(password_checks::wrong.eq(password_checks::wrong + added))
        .returning(password_checks::wrong)
        .one(conn)
        .optional()
        .map(|w| w.unwrap_or(0))
}

/// The check is over (answered, failed, or its request dropped).
pub fn release(conn: &mut Conn, session_id: &SessionId) -> QueryResult<()> {
    diesel::update(password_checks::table.find(session_id))
        .set(password_checks::in_flight_since.eq(None::<NaiveDateTime>))
        .exec(conn)
        .map(drop)
}
