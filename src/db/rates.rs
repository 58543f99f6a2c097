//! Sliding-hour counters kept in the database, so several instances would share them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Conn, Run as _};

use super::schema::rate_events;

#[derive(Clone, Copy, Debug)]
pub enum RateKind {
    SignupPerIp,
    ResetRequestPerIp,
    ResetMailPerAccount,
}

impl RateKind {
    const fn as_str(self) -> &'static str {
        match self {
            RateKind::SignupPerIp => "signup_ip",
            RateKind::ResetRequestPerIp => "reset_ip",
            RateKind::ResetMailPerAccount => "reset_mail",
        }
    }
}

/// Whether one more event would be within `limit` for the past hour. Records nothing: for
/// refusing early, before expensive work; `hit` decides.
pub fn within(
    conn: &mut Conn,
    kind: RateKind,
    subject: &str,
    limit: u32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let since = now - chrono::Duration::hours(1);
    let recent: i64 = rate_events::table
        .filter(rate_events::kind.eq(kind.as_str()))
        .filter(rate_events::subject.eq(subject))
        .filter(rate_events::created_at.gt(since))
        .count()
        .one(conn)?;
    Ok(recent < i64::from(limit))
}

/// Records one event and says whether it is within `limit` for the past hour (this one
/// included). Call inside a write transaction so parallel requests count correctly.
pub fn hit(
    conn: &mut Conn,
    kind: RateKind,
    subject: &str,
    limit: u32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    if !within(conn, kind, subject, limit, now)? {
        return Ok(false);
    }
    diesel::insert_into(rate_events::table)
        .values((
            rate_events::kind.eq(kind.as_str()),
            rate_events::subject.eq(subject),
            rate_events::created_at.eq(now),
        ))
        .exec(conn)?;
    Ok(true)
}
