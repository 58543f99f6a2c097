//! Failed sign-in counters and locks (SPEC §9), kept in the database.
//!
//! Every attempt is counted as a failure *before* its password is checked, in the same write
//! transaction that checks the lock, so parallel guesses cannot slip past the limit; a success
//! then gives its count back.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{per_backend, Conn, Run as _};

use super::schema::{known_devices, login_failures};
use crate::domain::clock::after;
use crate::domain::config::LockoutPolicy;

/// What a counter is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A normalised email, whether or not it has an account.
    Email(String),
    /// A client IP.
    Ip(String),
    /// A browser that signed in to this email before (`device hash:email`).
    Device(String),
}

impl Subject {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            Subject::Email(s) => ("email", s),
            Subject::Ip(s) => ("ip", s),
            Subject::Device(s) => ("device", s),
        }
    }

    fn max(&self, policy: &LockoutPolicy) -> u32 {
        match self {
            Subject::Ip(_) => policy.ip_max_failures,
            _ => policy.max_failures,
        }
    }
}

#[derive(Queryable)]
struct Row {
    failures: i32,
    window_started_at: NaiveDateTime,
    locked_until: Option<NaiveDateTime>,
}

fn find(conn: &mut Conn, subject: &Subject) -> QueryResult<Option<Row>> {
    let (kind, key) = subject.parts();
    login_failures::table
        .find((kind, key))
        .select((
            login_failures::failures,
            login_failures::window_started_at,
            login_failures::locked_until,
        ))
        .one(conn)
        .optional()
}

/// When the subject is locked, until when.
pub fn locked_until(
    conn: &mut Conn,
    subject: &Subject,
    now: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    Ok(find(conn, subject)?
        .and_then(|r| r.locked_until)
        .filter(|until| *until > now))
}

/// Counts one failure. Returns `true` when this failure reached the limit and locked it.
pub fn count_failure(
    conn: &mut Conn,
    subject: &Subject,
    policy: &LockoutPolicy,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let (kind, key) = subject.parts();
    let row = find(conn, subject)?;
    let window_over = |r: &Row| {
        now >= after(r.window_started_at, policy.window)
            || r.locked_until.is_some_and(|until| until <= now)
    };
    let (failures, window_started_at) = match row {
        Some(r) if !window_over(&r) => (r.failures + 1, r.window_started_at),
        _ => (1, now),
    };
    let locks = u32::try_from(failures).unwrap_or(u32::MAX) >= subject.max(policy);
    let locked_until = locks.then(|| after(now, policy.lockout));
    let counts = (
        login_failures::failures.eq(failures),
        login_failures::window_started_at.eq(window_started_at),
        login_failures::locked_until.eq(locked_until),
    );
    per_backend!(conn, |c| diesel::insert_into(login_failures::table)
        .values((
            login_failures::kind.eq(kind),
            login_failures::subject.eq(key),
            counts,
        ))
        .on_conflict((login_failures::kind, login_failures::subject))
        .do_update()
        .set(counts)
        .execute(c))?;
    Ok(locks)
}

/// Gives back one counted failure (the attempt succeeded), without lifting a lock.
pub fn give_back(conn: &mut Conn, subject: &Subject) -> QueryResult<()> {
    let (kind, key) = subject.parts();
    diesel::update(
        login_failures::table
            .find((kind, key))
            .filter(login_failures::failures.gt(0))
            .filter(login_failures::locked_until.is_null()),
    )
    .set(login_failures::failures.eq(login_failures::failures - 1))
    .exec(conn)
    .map(drop)
}

pub fn clear(conn: &mut Conn, subject: &Subject) -> QueryResult<()> {
    let (kind, key) = subject.parts();
    diesel::delete(login_failures::table.find((kind, key)))
        .exec(conn)
        .map(drop)
}

/// Unlocks an email: its own counter and every known device's counter for it (admin unlock,
/// completed reset). The devices known for it are forgotten too, so whoever held the old
/// password cannot keep a separate budget of guesses per device they ever used.
pub fn unlock_email(conn: &mut Conn, email: &str) -> QueryResult<()> {
    forget_devices(conn, email, None)?;
    clear(conn, &Subject::Email(email.to_owned()))?;
    diesel::delete(
        login_failures::table
            .filter(login_failures::kind.eq("device"))
            .filter(
                login_failures::subject
                    .like(format!("%:{}", escape_like(email)))
                    .escape('\\'),
            ),
    )
    .exec(conn)
    .map(drop)
}

fn escape_like(raw: &str) -> String {
    raw.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Forgets the browsers known for `email`, except `keep` (a device hash).
pub fn forget_devices(conn: &mut Conn, email: &str, keep: Option<&str>) -> QueryResult<()> {
    diesel::delete(
        known_devices::table
            .filter(known_devices::email.eq(email))
            .filter(known_devices::device_hash.ne(keep.unwrap_or(""))),
    )
    .exec(conn)
    .map(drop)
}

/// Forgets at most `limit` browsers whose last successful sign-in is before `cutoff`
/// (retention); returns how many.
pub fn forget_devices_unused_since(
    conn: &mut Conn,
    cutoff: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let keys: Vec<(String, String)> = known_devices::table
        .filter(known_devices::last_success_at.lt(cutoff))
        .select((known_devices::device_hash, known_devices::email))
        .limit(limit)
        .all(conn)?;
    for (device_hash, email) in &keys {
        diesel::delete(known_devices::table.find((device_hash, email))).exec(conn)?;
    }
    Ok(keys.len())
}

pub fn device_subject(device_hash: &str, email: &str) -> Subject {
    Subject::Device(format!("{device_hash}:{email}"))
}

pub fn is_known_device(conn: &mut Conn, device_hash: &str, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        known_devices::table.find((device_hash, email)),
    ))
    .one(conn)
}

pub fn remember_device(
    conn: &mut Conn,
    device_hash: &str,
    email: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    per_backend!(conn, |c| diesel::insert_into(known_devices::table)
        .values((
            known_devices::device_hash.eq(device_hash),
            known_devices::email.eq(email),
            known_devices::last_success_at.eq(now),
        ))
        .on_conflict((known_devices::device_hash, known_devices::email))
        .do_update()
        .set(known_devices::last_success_at.eq(now))
        .execute(c))
    .map(drop)
}

/// Whether an email is locked right now (for the admin console).
pub fn email_locked(conn: &mut Conn, email: &str, now: NaiveDateTime) -> QueryResult<bool> {
    Ok(locked_until(conn, &Subject::Email(email.to_owned()), now)?.is_some())
}

/// Deletes counters whose window and lock are both over (cleanup).
pub fn delete_stale(
    conn: &mut Conn,
    policy: &LockoutPolicy,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let window = chrono::Duration::from_std(policy.window).unwrap_or(chrono::Duration::MAX);
    let Some(stale_before) = now.checked_sub_signed(window) else {
        return Ok(0);
    };
    let keys: Vec<(String, String)> = login_failures::table
        .filter(login_failures::window_started_at.lt(stale_before))
        .filter(
            login_failures::locked_until
                .is_null()
                .or(login_failures::locked_until.le(now)),
        )
        .select((login_failures::kind, login_failures::subject))
        .limit(limit)
        .all(conn)?;
    for (kind, subject) in &keys {
        diesel::delete(login_failures::table.find((kind, subject))).exec(conn)?;
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            max_failures: 3,
            ip_max_failures: 10,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(120),
            incidents_per_ip: 60,
        }
    }

    #[test]
    fn counts_locks_and_forgets_after_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::connect(dir.path().join("t.db").to_str().unwrap()).unwrap();
        let mut conn = pool.get().unwrap();
        let t0 = chrono::Utc::now().naive_utc();
        let s = Subject::Email("a@b.example".into());
        assert!(!count_failure(&mut conn, &s, &policy(), t0).unwrap());
        assert!(!count_failure(&mut conn, &s, &policy(), t0).unwrap());
        assert!(
            count_failure(&mut conn, &s, &policy(), t0).unwrap(),
            "third locks"
        );
        assert!(locked_until(&mut conn, &s, t0).unwrap().is_some());
        let later = t0 + chrono::Duration::seconds(121);
        assert!(
            locked_until(&mut conn, &s, later).unwrap().is_none(),
            "the lock ends"
        );
        assert!(
            !count_failure(&mut conn, &s, &policy(), later).unwrap(),
            "a fresh window"
        );

        let other = Subject::Email("c@d.example".into());
        count_failure(&mut conn, &other, &policy(), t0).unwrap();
        count_failure(&mut conn, &other, &policy(), t0).unwrap();
        let after_window = t0 + chrono::Duration::seconds(61);
        assert!(!count_failure(&mut conn, &other, &policy(), after_window).unwrap());

        unlock_email(&mut conn, "a@b.example").unwrap();
        assert!(find(&mut conn, &s).unwrap().is_none());
    }
}
