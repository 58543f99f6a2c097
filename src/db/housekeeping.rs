//! The cleanup's queries (SPEC §9): each takes at most `limit` rows, so the caller can work in
//! small batches, each its own short transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Conn, Run as _};

use super::schema::{
    auth_sessions, email_tokens, logout_activity, rate_events, security_incidents,
};
use super::sessions::AuthSession;
use crate::domain::ids::SessionId;
use crate::domain::realm::Realm;

/// Up to `limit` live sessions, of one realm or all.
pub fn live_sessions(
    conn: &mut Conn,
    realm: Option<Realm>,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<AuthSession>> {
    let mut query = auth_sessions::table
        .filter(auth_sessions::revoked_at.is_null())
        .filter(auth_sessions::idle_expires_at.gt(now))
        .filter(auth_sessions::absolute_expires_at.gt(now))
        .into_boxed();
    if let Some(realm) = realm {
        query = query.filter(auth_sessions::realm.eq(realm));
    }
    // Boxed (its filters vary), so it names the multi-backend and runs through `Conn`.
    query
        .limit(limit)
        .select(AuthSession::as_select())
        .load(conn)
}

/// Up to `limit` unrevoked sessions past their idle or absolute bound.
pub fn expired_sessions(
    conn: &mut Conn,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<AuthSession>> {
    auth_sessions::table
        .filter(auth_sessions::revoked_at.is_null())
        .filter(
            auth_sessions::idle_expires_at
                .le(now)
                .or(auth_sessions::absolute_expires_at.le(now)),
        )
        .limit(limit)
        .select(super::sessions::columns())
        .all(conn)
}

/// Deletes up to `limit` used or expired mail tokens; how many.
pub fn delete_spent_tokens(conn: &mut Conn, now: NaiveDateTime, limit: i64) -> QueryResult<usize> {
    let ids: Vec<i32> = email_tokens::table
        .filter(
            email_tokens::used_at
                .is_not_null()
                .or(email_tokens::expires_at.le(now)),
        )
        .select(email_tokens::id)
        .limit(limit)
        .all(conn)?;
    diesel::delete(email_tokens::table.filter(email_tokens::id.eq_any(&ids))).exec(conn)
}

/// Deletes up to `limit` rate events from before `before`; how many.
pub fn delete_rate_events_before(
    conn: &mut Conn,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let ids: Vec<i32> = rate_events::table
        .filter(rate_events::created_at.lt(before))
        .select(rate_events::id)
        .limit(limit)
        .all(conn)?;
    diesel::delete(rate_events::table.filter(rate_events::id.eq_any(&ids))).exec(conn)
}

/// Up to `limit` incidents from before `before` (retention), found outside the write lock.
pub fn incidents_before(
    conn: &mut Conn,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<i32>> {
    security_incidents::table
        .filter(security_incidents::created_at.lt(before))
        .select(security_incidents::id)
        .limit(limit)
        .all(conn)
}

/// Deletes those of `ids` still from before `before`; how many.
pub fn delete_incidents(conn: &mut Conn, ids: &[i32], before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        security_incidents::table
            .filter(security_incidents::id.eq_any(ids))
            .filter(security_incidents::created_at.lt(before)),
    )
    .exec(conn)
}

/// Up to `limit` logout activity rows from before `before` (retention).
pub fn logouts_before(conn: &mut Conn, before: NaiveDateTime, limit: i64) -> QueryResult<Vec<i32>> {
    logout_activity::table
        .filter(logout_activity::created_at.lt(before))
        .select(logout_activity::id)
        .limit(limit)
        .all(conn)
}

/// Deletes those of `ids` still from before `before`; how many.
pub fn delete_logouts(conn: &mut Conn, ids: &[i32], before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        logout_activity::table
            .filter(logout_activity::id.eq_any(ids))
            .filter(logout_activity::created_at.lt(before)),
    )
    .exec(conn)
}

/// Up to `limit` sessions revoked before `before` (retention).
pub fn revoked_sessions_before(
    conn: &mut Conn,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<SessionId>> {
    auth_sessions::table
        .filter(auth_sessions::revoked_at.lt(before))
        .select(auth_sessions::id)
        .limit(limit)
        .all(conn)
}

/// Deletes those of `ids` revoked before `before`; how many.
pub fn delete_revoked_sessions(
    conn: &mut Conn,
    ids: &[SessionId],
    before: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        auth_sessions::table
            .filter(auth_sessions::id.eq_any(ids))
            .filter(auth_sessions::revoked_at.lt(before)),
    )
    .exec(conn)
}
