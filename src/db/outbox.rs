//! The durable outbox's rows (SPEC §17): written in the transaction of the change that causes
//! them, claimed by a worker under a lease, and marked sent or failed. What a payload holds and
//! how it is sealed is `app::outbox`'s business; here it is an opaque string.

use chrono::{NaiveDateTime, Timelike as _};
use diesel::prelude::*;

use super::schema::outbox;
use super::{Conn, Run as _};

/// What a row asks the worker to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Mail,
    SignUp,
    ResetRequest,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Mail => "mail",
            Kind::SignUp => "sign_up",
            Kind::ResetRequest => "reset_request",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Kind::Mail, Kind::SignUp, Kind::ResetRequest]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// Adds a pending row, due now; its id.
pub fn insert(
    conn: &mut Conn,
    kind: Kind,
    recipient: &str,
    subject: &str,
    payload: &str,
    now: NaiveDateTime,
) -> QueryResult<i32> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::kind.eq(kind.as_str()),
            outbox::recipient.eq(recipient),
            outbox::subject.eq(subject),
            outbox::payload.eq(payload),
            outbox::state.eq(PENDING),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(now),
            outbox::created_at.eq(now),
        ))
        .returning(outbox::id)
        .one(conn)
}

/// A row a worker holds until `lease` (its `claimed_until`): every mark below is made only
/// while the row still carries that lease, so a worker whose lease ran out (and whose row
/// another took) cannot finish it too.
#[derive(Debug)]
pub struct Claimed {
    pub id: i32,
    pub lease: NaiveDateTime,
    pub kind: Option<Kind>,
    pub payload: Option<String>,
    /// Attempts made before this one.
    pub attempts: i32,
}

/// Takes the next due row under a lease ending at `lease_until`, or `None` when nothing is
/// due. The lease is one conditional update, so of several workers (instances on PostgreSQL)
/// exactly one gets each row; a worker that dies holding one loses it when the lease ends.
pub fn claim_next(
    conn: &mut Conn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<Claimed>> {
    // Whole seconds: the lease is compared for equality later, and each backend keeps its own
    // precision of a timestamp.
    let lease_until = lease_until.with_nanosecond(0).unwrap_or(lease_until);
    let free = outbox::claimed_until
        .is_null()
        .or(outbox::claimed_until.le(now));
    // Another worker may take a candidate between the read and the update: try the next.
    for _ in 0..4 {
        let candidate: Vec<i32> = outbox::table
            .filter(outbox::state.eq(PENDING))
            .filter(outbox::next_attempt_at.le(now))
            .filter(free)
            .order((outbox::next_attempt_at, outbox::id))
            .select(outbox::id)
            .limit(1)
            .all(conn)?;
        let Some(id) = candidate.into_iter().next() else {
            return Ok(None);
        };
        let taken = diesel::update(
            outbox::table
                .find(id)
                .filter(outbox::state.eq(PENDING))
                .filter(free),
        )
        .set(outbox::claimed_until.eq(lease_until))
        .exec(conn)?;
        if taken == 1 {
            let (kind, payload, attempts): (String, Option<String>, i32) = outbox::table
                .find(id)
                .select((outbox::kind, outbox::payload, outbox::attempts))
                .one(conn)?;
            return Ok(Some(Claimed {
                id,
                lease: lease_until,
                kind: Kind::parse(&kind),
                payload,
                attempts,
            }));
        }
    }
    Ok(None)
}

/// Marks a held row sent and empties its payload; false when it was no longer this worker's
/// (done by another, or its lease taken over). A row marked sent is never sent again.
pub fn mark_sent(
    conn: &mut Conn,
    row: &Claimed,
    attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(held(row))
        .set((
            outbox::state.eq(SENT),
            outbox::payload.eq(None::<String>),
            outbox::attempts.eq(attempts),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(None::<String>),
            outbox::finished_at.eq(now),
        ))
        .exec(conn)
        .map(|n| n == 1)
}

/// The row while it is still pending under `row`'s lease.
#[allow(clippy::type_complexity)]
fn held(
    row: &Claimed,
) -> diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Find<outbox::table, i32>,
        diesel::dsl::Eq<outbox::state, &'static str>,
    >,
    diesel::dsl::Eq<outbox::claimed_until, Option<NaiveDateTime>>,
> {
    outbox::table
        .find(row.id)
        .filter(outbox::state.eq(PENDING))
        .filter(outbox::claimed_until.eq(Some(row.lease)))
}

/// Puts a held row back, due at `next_at`, with why this attempt failed.
pub fn retry_later(
    conn: &mut Conn,
    row: &Claimed,
    attempts: i32,
    next_at: NaiveDateTime,
    error: &str,
) -> QueryResult<()> {
    diesel::update(held(row))
        .set((
            outbox::attempts.eq(attempts),
            outbox::next_attempt_at.eq(next_at),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(error),
        ))
        .exec(conn)
        .map(drop)
}

/// Gives up on a held row: failed, payload emptied (its link dies with it).
pub fn mark_failed(
    conn: &mut Conn,
    row: &Claimed,
    attempts: i32,
    error: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(held(row))
        .set((
            outbox::state.eq(FAILED),
            outbox::payload.eq(None::<String>),
            outbox::attempts.eq(attempts),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(error),
            outbox::finished_at.eq(now),
        ))
        .exec(conn)
        .map(drop)
}

/// `(pending, failed)`, for the console's dashboard, `/readyz`'s neighbours and the metrics.
pub fn counts(conn: &mut Conn) -> QueryResult<(i64, i64)> {
    let rows: Vec<(String, i64)> = outbox::table
        .filter(outbox::state.eq_any([PENDING, FAILED]))
        .group_by(outbox::state)
        .select((outbox::state, diesel::dsl::count_star()))
        .all(conn)?;
    let of = |state: &str| rows.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
    Ok((of(PENDING), of(FAILED)))
}

/// One row as `realmgate outbox` lists it: never its payload.
#[derive(Debug, Queryable)]
pub struct Listed {
    pub id: i32,
    pub kind: String,
    pub state: String,
    pub recipient: String,
    pub subject: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Pending and failed rows, oldest first, at most `limit`.
pub fn list_open(conn: &mut Conn, limit: i64) -> QueryResult<Vec<Listed>> {
    outbox::table
        .filter(outbox::state.eq_any([PENDING, FAILED]))
        .order(outbox::id)
        .limit(limit)
        .select((
            outbox::id,
            outbox::kind,
            outbox::state,
            outbox::recipient,
            outbox::subject,
            outbox::attempts,
            outbox::next_attempt_at,
            outbox::last_error,
            outbox::created_at,
        ))
        .all(conn)
}

/// Deletes at most `limit` rows sent or failed before `before` (the cleanup, after
/// `REALMGATE_RETENTION`); how many.
pub fn finished_before(
    conn: &mut Conn,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<i32>> {
    outbox::table
        .filter(outbox::finished_at.lt(before))
        .select(outbox::id)
        .limit(limit)
        .all(conn)
}

/// Deletes those of `ids` finished before `before`; how many.
pub fn delete_finished(conn: &mut Conn, ids: &[i32], before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::finished_at.lt(before)),
    )
    .exec(conn)
}
