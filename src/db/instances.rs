//! `instances` (PostgreSQL, SPEC §16): which instances are running on this database, so a
//! start can tell a cold start of the whole service from a rolling restart.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::instances;
use super::{per_backend, Conn, Run as _};

/// How often a running instance beats.
pub const BEAT: std::time::Duration = std::time::Duration::from_secs(10);
/// An instance that has not beaten for this long is taken for gone.
pub const ALIVE: chrono::Duration = chrono::Duration::seconds(30);

/// Records instance `id` as running; returns how many others beat within `ALIVE`. One write
/// transaction, so instances starting together count each other exactly once.
pub fn join(conn: &mut Conn, id: &str, now: NaiveDateTime) -> QueryResult<i64> {
    conn.write_transaction(|conn| {
        // Rows of instances that died without leaving.
        diesel::delete(instances::table.filter(instances::last_beat_at.le(now - ALIVE)))
            .exec(conn)?;
        let others = instances::table
            .filter(instances::id.ne(id))
            .count()
            .one(conn)?;
        diesel::insert_into(instances::table)
            .values((
                instances::id.eq(id),
                instances::started_at.eq(now),
                instances::last_beat_at.eq(now),
            ))
            .exec(conn)?;
        Ok(others)
    })
}

/// An upsert: an instance whose row another's `join` removed (it missed beats for 30 s, in a
/// long pause say) is counted as running again from its next beat.
pub fn beat(conn: &mut Conn, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    per_backend!(conn, |c| diesel::insert_into(instances::table)
        .values((
            instances::id.eq(id),
            instances::started_at.eq(now),
            instances::last_beat_at.eq(now),
        ))
        .on_conflict(instances::id)
        .do_update()
        .set(instances::last_beat_at.eq(now))
        .execute(c))
    .map(drop)
}

/// A graceful stop.
pub fn leave(conn: &mut Conn, id: &str) -> QueryResult<()> {
    diesel::delete(instances::table.find(id))
        .exec(conn)
        .map(drop)
}
