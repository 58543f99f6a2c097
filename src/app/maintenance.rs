//! Housekeeping: restart sign-out, operator sign-out, and the periodic cleanup (SPEC §9). All
//! of it works in small batches, each its own short transaction, so it never holds the
//! database for long.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::admin_actions::AdminActionRow;
use crate::db::sessions;
use crate::db::{housekeeping, lockout, Conn, Pool};
use crate::domain::config::Config;
use crate::domain::events::{AdminActionKind, LogoutReason};
use crate::domain::realm::Realm;

const BATCH: i64 = 500;

/// Expired sessions ended per batch: each is an update of the row (out of five partial
/// indexes), a counter, and a logout row with its indexes. At a year's rows, with page views
/// filling both cores, 250 held the write lock 26 ms at the median and up to 60–69 ms on
/// PostgreSQL with the kernel's autogroup off (41 ms on SQLite), the same in one statement as
/// in five: the time is the rows' work, shared with the page views, not round trips. 100 kept
/// the longest at 26 ms there. (With autogroup on, no batch size helps: docs/deployment.md.)
const EXPIRY_BATCH: i64 = 100;

/// Revokes every live session (of one realm, or every realm) with `reason`, each with its
/// logout activity, in batches. With `audited` (`realmgate sessions clear`), the first batch's
/// transaction writes the `sessions_clear` audit row, so no batch commits unaudited, and the
/// last one completes it with the total (SPEC §17). Returns how many ended.
pub fn clear_sessions(
    conn: &mut Conn,
    realm: Option<Realm>,
    reason: LogoutReason,
    audited: bool,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mut total = 0;
    let mut audit_row = None;
    let what = format!(
        "realmgate sessions clear: realm={}",
        realm.map_or("all", Realm::as_str)
    );
    loop {
        let (ended, last) = conn.write_transaction(|conn| {
            if audited && audit_row.is_none() {
                audit_row = Some(
                    AdminActionRow::new(AdminActionKind::SessionsClear)
                        .details(format!("{what} (started)"))
                        .record_returning(conn, now)?,
                );
            }
            let rows = housekeeping::live_sessions(conn, realm, now, BATCH)?;
            sessions::revoke_each(conn, &rows, reason, None, now)?;
            let last = rows.len() < BATCH as usize;
            if let (true, Some(id)) = (last, audit_row) {
                crate::db::admin_actions::set_details(
                    conn,
                    id,
                    &format!("{what} ended={}", total + rows.len()),
                )?;
            }
            Ok::<_, diesel::result::Error>((rows.len(), last))
        })?;
        total += ended;
        if last {
            return Ok(total);
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub sessions_ended: usize,
    pub tokens_deleted: usize,
    pub counters_deleted: usize,
    pub old_rows_deleted: usize,
    /// The longest any one batch held the write lock (from the lock taken to its commit done;
    /// SQLite's WAL checkpoint runs between batches, not in them): page views that write wait
    /// at most this long behind the cleanup.
    pub longest_batch: Duration,
    /// What that batch deleted or ended, for the operator who reads a long hold in the log.
    pub longest_step: &'static str,
    pub batches: usize,
}

impl CleanupReport {
    /// Whether the round changed anything (an idle round is not logged).
    pub fn did_work(&self) -> bool {
        self.sessions_ended + self.tokens_deleted + self.counters_deleted + self.old_rows_deleted
            > 0
    }

    /// Runs one batch of `what` as its own write transaction, timing it; how many rows it
    /// changed. Each batch is logged at debug, for the spread of the holds, not only the
    /// longest (the scale run counts those over its bound from these lines).
    fn batch(
        &mut self,
        what: &'static str,
        conn: &mut Conn,
        step: impl FnOnce(&mut Conn) -> QueryResult<usize>,
    ) -> QueryResult<usize> {
        let (n, held) = conn.write_transaction_held(step)?;
        log::debug!(
            "cleanup batch: {what}, {n} row(s), held the write lock {} us",
            held.as_micros()
        );
        if held > self.longest_batch || self.longest_step.is_empty() {
            self.longest_batch = held;
            self.longest_step = what;
        }
        self.batches += 1;
        conn.checkpoint()?;
        Ok(n)
    }

    /// Repeats `step` (each run its own batch) until a run deletes less than a batch.
    fn batched(
        &mut self,
        what: &'static str,
        conn: &mut Conn,
        mut step: impl FnMut(&mut Conn) -> QueryResult<usize>,
    ) -> QueryResult<usize> {
        let mut total = 0;
        loop {
            let n = self.batch(what, conn, &mut step)?;
            total += n;
            if n < BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Deletes in batches whose rows are found before each batch's transaction, a read outside
    /// the write lock, and deleted by id inside it (`delete` checks the condition again), until
    /// a search finds less than a batch.
    fn swept<K>(
        &mut self,
        what: &'static str,
        conn: &mut Conn,
        mut find: impl FnMut(&mut Conn) -> QueryResult<Vec<K>>,
        mut delete: impl FnMut(&mut Conn, &[K]) -> QueryResult<usize>,
    ) -> QueryResult<usize> {
        let mut total = 0;
        loop {
            let found = find(conn)?;
            if found.is_empty() {
                return Ok(total);
            }
            let n = self.batch(what, conn, |conn| delete(conn, &found))?;
            total += n;
            if found.len() < BATCH as usize || n == 0 {
                return Ok(total);
            }
        }
    }
}

impl std::fmt::Display for CleanupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ended {} expired session(s); deleted {} token(s), {} counter(s), {} row(s) past \
             retention; {} batch(es), the longest holding the write lock {} ms",
            self.sessions_ended,
            self.tokens_deleted,
            self.counters_deleted,
            self.old_rows_deleted,
            self.batches,
            self.longest_batch.as_millis()
        )?;
        if self.batches > 0 {
            write!(f, " ({})", self.longest_step)?;
        }
        Ok(())
    }
}

/// One full cleanup pass.
pub fn cleanup(conn: &mut Conn, config: &Config, now: NaiveDateTime) -> QueryResult<CleanupReport> {
    conn.without_auto_checkpoint(|conn| cleanup_batches(conn, config, now))
}

fn cleanup_batches(
    conn: &mut Conn,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<CleanupReport> {
    let mut report = CleanupReport::default();
    // Sessions past their bounds end with the reason their bound gives, and logout activity.
    // Each batch is found before its transaction, outside the write lock: on a registry of
    // 200,000 rows the search costs more than the batch's writes (321 ms held, in the scale
    // run, when it ran inside). In the lock a row is ended only if it is still unrevoked
    // and expired, its bounds read again there (`FOR UPDATE` on PostgreSQL): a request may
    // have moved its idle bound since (on PostgreSQL a last-seen touch takes no write lock).
    loop {
        let found: Vec<_> = housekeeping::expired_sessions(conn, now, EXPIRY_BATCH)?
            .into_iter()
            .map(|row| row.id)
            .collect();
        let ended = report.batch("expired sessions", conn, |conn| {
            sessions::end_expired(conn, &found, now)
        })?;
        report.sessions_ended += ended;
        // A batch that ended none (every row found was touched or ended since) ends the search
        // too, so a disagreement between the search and `expiry` cannot loop.
        if found.len() < EXPIRY_BATCH as usize || ended == 0 {
            break;
        }
    }
    // Spent or expired mail tokens.
    report.tokens_deleted = report.batched("mail tokens", conn, |conn| {
        housekeeping::delete_spent_tokens(conn, now, BATCH)
    })?;
    // Failure counters whose window and lock are over, and rate events older than an hour.
    report.counters_deleted = report.batched("failure counters", conn, |conn| {
        lockout::delete_stale(conn, &config.lockout, now, BATCH)
    })?;
    let hour_ago = now - chrono::Duration::hours(1);
    // A rotated-away secret is recognised for an hour: long enough for any request another
    // tab had on its way; after that it is simply unknown.
    report.counters_deleted += report.batched("rotated secrets", conn, |conn| {
        sessions::forget_rotated_before(conn, hour_ago, BATCH)
    })?;
    // Flood counters matter only for their own minute; an hour's worth is kept to read.
    report.counters_deleted += report.batched("flood counters", conn, |conn| {
        crate::db::audit::delete_incident_counts_before(conn, hour_ago, BATCH)
    })?;
    report.counters_deleted += report.batched("rate events", conn, |conn| {
        housekeeping::delete_rate_events_before(conn, hour_ago, BATCH)
    })?;
    // The chart's per-day rows past its seven days, a day a batch.
    let week_ago = now.date() - chrono::Duration::days(8);
    loop {
        let n = report.batch("chart days", conn, |conn| {
            crate::db::counters::forget_oldest_chart_day_before(conn, week_ago)
        })?;
        report.counters_deleted += n;
        if n == 0 {
            break;
        }
    }
    // Past the retention: incidents, logout activity, revoked sessions, browsers that have
    // not signed in since, finished outbox rows and the admin audit.
    let retention =
        chrono::Duration::from_std(config.housekeeping.retention).unwrap_or(chrono::Duration::MAX);
    if let Some(cutoff) = now.checked_sub_signed(retention) {
        // Each found outside the write lock (the revoked sessions by a scan: no index holds
        // `revoked_at`), deleted inside it by id.
        report.old_rows_deleted += report.swept(
            "incidents",
            conn,
            |conn| housekeeping::incidents_before(conn, cutoff, BATCH),
            |conn, ids| housekeeping::delete_incidents(conn, ids, cutoff),
        )?;
        report.old_rows_deleted += report.swept(
            "sign-outs",
            conn,
            |conn| housekeeping::logouts_before(conn, cutoff, BATCH),
            |conn, ids| housekeeping::delete_logouts(conn, ids, cutoff),
        )?;
        report.old_rows_deleted += report.swept(
            "revoked sessions",
            conn,
            |conn| housekeeping::revoked_sessions_before(conn, cutoff, BATCH),
            |conn, ids| housekeeping::delete_revoked_sessions(conn, ids, cutoff),
        )?;
        report.old_rows_deleted += report.batched("browsers", conn, |conn| {
            lockout::forget_devices_unused_since(conn, cutoff, BATCH)
        })?;
        // Outbox rows sent or failed (their payloads were emptied when they finished), and
        // the admin audit.
        report.old_rows_deleted += report.swept(
            "outbox",
            conn,
            |conn| crate::db::outbox::finished_before(conn, cutoff, BATCH),
            |conn, ids| crate::db::outbox::delete_finished(conn, ids, cutoff),
        )?;
        report.old_rows_deleted += report.swept(
            "audit",
            conn,
            |conn| crate::db::admin_actions::before(conn, cutoff, BATCH),
            |conn, ids| crate::db::admin_actions::delete(conn, ids, cutoff),
        )?;
    }
    Ok(report)
}

/// What a start did about sessions (SPEC §9, §16).
#[derive(Debug, PartialEq, Eq)]
pub enum StartSessions {
    /// `REALMGATE_CLEAR_SESSIONS_ON_START` is off.
    Kept,
    /// A cold start: every live session ended (`server_restart`).
    Cleared(usize),
    /// A rolling restart on PostgreSQL: this many other instances are running, so nobody is
    /// signed out.
    Joined(i64),
}

/// Registers this instance (PostgreSQL) and, with `clear`, ends every live session unless
/// other instances beat within the last 30 s.
pub fn start_instance(
    conn: &mut Conn,
    instance_id: &str,
    clear: bool,
    now: NaiveDateTime,
) -> QueryResult<StartSessions> {
    let others = match conn.backend() {
        crate::db::Backend::Postgres => crate::db::instances::join(conn, instance_id, now)?,
        crate::db::Backend::Sqlite => 0,
    };
    if !clear {
        return Ok(StartSessions::Kept);
    }
    if others > 0 {
        return Ok(StartSessions::Joined(others));
    }
    clear_sessions(conn, None, LogoutReason::ServerRestart, false, now).map(StartSessions::Cleared)
}

/// The running heartbeat of `spawn_heartbeat`.
pub struct Heartbeat {
    stopped: std::sync::Arc<tokio::sync::Mutex<bool>>,
}

impl Heartbeat {
    /// Stops beating, after the beat in progress if there is one: a graceful stop leaves the
    /// `instances` table after this, and no late beat may bring its row back.
    pub async fn stop(&self) {
        *self.stopped.lock().await = true;
    }
}

/// On PostgreSQL, beats for `instance_id` every 10 s as a task of the current thread's runtime
/// (the server's system), so other instances starting know this one runs.
pub fn spawn_heartbeat(
    pool: Pool,
    instance_id: String,
    clock: crate::domain::clock::Clock,
) -> Heartbeat {
    let stopped = std::sync::Arc::new(tokio::sync::Mutex::new(false));
    let state = stopped.clone();
    tokio::task::spawn_local(async move {
        let mut ticker = tokio::time::interval(crate::db::instances::BEAT);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let stopped = state.lock().await;
            if *stopped {
                return;
            }
            let (pool, id, now) = (pool.clone(), instance_id.clone(), clock.now());
            let beat = crate::db::block(&pool, move |conn| {
                Ok(crate::db::instances::beat(conn, &id, now)?)
            })
            .await;
            if let Err(e) = beat {
                log::warn!("instance heartbeat failed: {e}");
            }
            drop(stopped);
        }
    });
    Heartbeat { stopped }
}

/// Whether a background loop still goes round (`/readyz`, SPEC §17): it beats each round, and
/// counts as alive while its last beat is recent enough.
#[derive(Clone)]
pub struct Liveness {
    last: std::sync::Arc<std::sync::atomic::AtomicI64>,
    within: Duration,
    clock: crate::domain::clock::Clock,
}

impl Liveness {
    /// Alive from now, for `within` after each beat. A loop that never starts counts as alive
    /// for its first `within`.
    pub fn new(within: Duration, clock: crate::domain::clock::Clock) -> Self {
        let now = clock.now().and_utc().timestamp();
        Self {
            last: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(now)),
            within,
            clock,
        }
    }

    /// The cleanup's: two intervals and a minute, so one slow round is not an outage.
    pub fn for_cleanup(config: &Config, clock: crate::domain::clock::Clock) -> Self {
        let every = config.housekeeping.cleanup_interval;
        Self::new(every.saturating_mul(2) + Duration::from_secs(60), clock)
    }

    fn now(&self) -> i64 {
        self.clock.now().and_utc().timestamp()
    }

    pub fn beat(&self) {
        self.last
            .store(self.now(), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn alive(&self) -> bool {
        let age = self.now() - self.last.load(std::sync::atomic::Ordering::Relaxed);
        age <= i64::try_from(self.within.as_secs()).unwrap_or(i64::MAX)
    }
}

/// Runs `cleanup` every `REALMGATE_CLEANUP_INTERVAL` as a task of the current thread's
/// runtime (the server's system); it stops with it. Each round beats `alive`.
pub fn spawn_cleanup_loop(
    pool: Pool,
    config: std::sync::Arc<Config>,
    clock: crate::domain::clock::Clock,
    alive: Liveness,
) {
    let every = config
        .housekeeping
        .cleanup_interval
        .max(Duration::from_secs(1));
    tokio::task::spawn_local(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.tick().await; // the first tick is immediate; start after one interval
        loop {
            ticker.tick().await;
            let (pool, config, now) = (pool.clone(), config.clone(), clock.now());
            let outcome = tokio::task::spawn_blocking(move || {
                let mut conn = pool.get().map_err(|e| anyhow::anyhow!("{e}"))?;
                // On PostgreSQL one instance at a time; the others skip this round.
                let ran = conn.as_only_cleaner(|conn| cleanup(conn, &config, now))?;
                Ok::<_, anyhow::Error>(ran.unwrap_or_default())
            })
            .await;
            alive.beat();
            match outcome {
                Ok(Ok(report)) if report.did_work() => log::info!("cleanup: {report}"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => log::warn!("cleanup failed: {e:#}"),
                Err(e) => log::warn!("cleanup could not run: {e}"),
            }
        }
    });
}
