//! Storage: SQLite (embedded, the default) or PostgreSQL (several instances) through one r2d2
//! pool of `Conn`. One place opens connections, runs each backend's migrations, defines the
//! write transaction and moves queries off the async workers.
//!
//! Single-row reads use `get_result` (a cursor that stops at the first row), never Diesel's
//! `first()`: `first()` sends `LIMIT ?` with a bound 1, and SQLite (since 3.47) plans around a
//! bound LIMIT and so re-prepares the statement every time it is bound, which defeats Diesel's
//! statement cache. Profiled under load that re-parsing was half of the server's CPU time in
//! page views (docs/performance.md).

pub mod accounts;
pub mod admin_actions;
pub mod audit;
pub mod counters;
pub mod housekeeping;
pub mod instances;
pub mod lockout;
pub mod organisations;
pub mod outbox;
pub mod password_checks;
pub mod rates;
pub mod reports;
pub mod schema;
pub mod sessions;
pub mod tokens;
pub mod two_factor;
mod types;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection as _, TransactionManager};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_dsl::LoadQuery;
use diesel::r2d2::{ManageConnection, R2D2Connection as _};
use diesel::{Connection as _, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness as _};

pub use crate::domain::config::Backend;

/// One connection to either backend. Queries are written once against it (Diesel's
/// `MultiConnection`); the few statements that each backend spells its own way (upserts and
/// `RETURNING`) go through `per_backend!`, which compiles one text for each.
#[derive(diesel::MultiConnection)]
pub enum Conn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the backend's own connection: for a statement that Diesel's
/// multi-backend cannot express. Written once, compiled for each backend.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Postgres($c) => $body,
            $crate::db::Conn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use per_backend;

/// Runs a query on the backend's own connection, so Diesel's statement cache sees the
/// query's static type and reuses the prepared statement. Through the multi-backend the SQL
/// text was built again on every execution: 58% more instructions per page view on SQLite
/// (docs/performance.md). A query that is the same text on both backends (almost all of them)
/// runs this way; a boxed query (its type names one backend) runs through `Conn` itself.
pub trait Run: Sized + RunQueryDsl<SqliteConnection> + RunQueryDsl<PgConnection> {
    /// `get_result`: the one row (`NotFound` when there is none).
    fn one<'q, U>(self, conn: &mut Conn) -> diesel::QueryResult<U>
    where
        Self: LoadQuery<'q, SqliteConnection, U> + LoadQuery<'q, PgConnection, U>,
    {
        match conn {
            Conn::Sqlite(c) => RunQueryDsl::<SqliteConnection>::get_result(self, c),
            Conn::Postgres(c) => RunQueryDsl::<PgConnection>::get_result(self, c),
        }
    }

    /// `load`: every row.
    fn all<'q, U>(self, conn: &mut Conn) -> diesel::QueryResult<Vec<U>>
    where
        Self: LoadQuery<'q, SqliteConnection, U> + LoadQuery<'q, PgConnection, U>,
    {
        match conn {
            Conn::Sqlite(c) => RunQueryDsl::<SqliteConnection>::load(self, c),
            Conn::Postgres(c) => RunQueryDsl::<PgConnection>::load(self, c),
        }
    }

    /// `execute`: how many rows it changed.
    fn exec(self, conn: &mut Conn) -> diesel::QueryResult<usize>
    where
        Self: ExecuteDsl<SqliteConnection> + ExecuteDsl<PgConnection>,
    {
        match conn {
            Conn::Sqlite(c) => RunQueryDsl::<SqliteConnection>::execute(self, c),
            Conn::Postgres(c) => RunQueryDsl::<PgConnection>::execute(self, c),
        }
    }
}

impl<T: RunQueryDsl<SqliteConnection> + RunQueryDsl<PgConnection>> Run for T {}

pub type Pool = diesel::r2d2::Pool<Manager>;

/// `REALMGATE_DB_POOL_SIZE`'s default: on SQLite (WAL) many readers and one writer at a time;
/// on PostgreSQL, per instance, against the server's `max_connections`.
pub const POOL_SIZE: u32 = 8;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// PostgreSQL advisory lock keys (one namespace per purpose).
mod lock_key {
    /// Held by each write transaction: see `Conn::write_transaction`.
    pub const WRITE: i64 = 0x7267_0001;
    /// Held while migrating, so instances starting together migrate once.
    pub const MIGRATE: i64 = 0x7267_0002;
    /// Held by the instance running the periodic cleanup.
    pub const CLEANUP: i64 = 0x7267_0003;
}

/// Opens connections of the backend the URL names (never trying one after another: a
/// PostgreSQL URL that fails must not become a SQLite file of that name).
pub struct Manager {
    url: String,
    backend: Backend,
}

/// SECURITY: the URL carries the database password.
impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field(
                "url",
                &crate::domain::config::redact_database_url(&self.url),
            )
            .field("backend", &self.backend)
            .finish()
    }
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Conn, Self::Error> {
        use diesel::r2d2::Error;
        match self.backend {
            Backend::Sqlite => {
                let mut conn =
                    SqliteConnection::establish(&self.url).map_err(Error::ConnectionError)?;
                // NORMAL is durable under WAL except for the last transactions on power loss;
                // foreign keys are off in SQLite unless asked for.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(Error::QueryError)?;
                Ok(Conn::Sqlite(conn))
            }
            Backend::Postgres => PgConnection::establish(&self.url)
                .map(Conn::Postgres)
                .map_err(Error::ConnectionError),
        }
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        per_backend!(conn, |c| c.is_broken())
    }
}

impl Conn {
    /// The portal's write transaction. On SQLite `BEGIN IMMEDIATE`: the write lock is taken at
    /// once, so two writers queue (busy timeout) instead of one failing at its first write. On
    /// PostgreSQL a transaction whose first statement takes one transaction-scoped advisory
    /// lock: write transactions of every instance then run one at a time, exactly as on
    /// SQLite, so every count-then-write flow is exact across instances for the same reason it
    /// is exact on one file. Reads never take it.
    pub fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.write_transaction_held(f).map(|(value, _)| value)
    }

    /// `write_transaction`, with how long it held the write lock: from the lock taken (a wait
    /// for it is not counted) to the commit done.
    pub fn write_transaction_held<T, E, F>(&mut self, f: F) -> Result<(T, std::time::Duration), E>
    where
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        match self {
            Conn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
            Conn::Postgres(c) => {
                AnsiTransactionManager::begin_transaction(c)?;
                let locked = c.batch_execute(&format!(
                    "SELECT pg_advisory_xact_lock({})",
                    lock_key::WRITE
                ));
                if let Err(e) = locked {
                    let _ = AnsiTransactionManager::rollback_transaction(c);
                    return Err(e.into());
                }
            }
        }
        let held = std::time::Instant::now();
        match f(self) {
            Ok(value) => {
                per_backend!(self, |c| AnsiTransactionManager::commit_transaction(c))?;
                Ok((value, held.elapsed()))
            }
            Err(e) => {
                // The caller's error is the one worth answering with; a failed rollback (the
                // connection is gone, say) leaves the connection broken, and the pool drops it.
                if let Err(rollback) =
                    per_backend!(self, |c| AnsiTransactionManager::rollback_transaction(c))
                {
                    log::warn!("rollback failed: {rollback}");
                }
                Err(e)
            }
        }
    }

    /// Runs `f` with SQLite's automatic WAL checkpoint off on this connection, for a run of
    /// write batches that checkpoint between them (`checkpoint`): a checkpoint run by a commit
    /// copies the WAL into the file (hundreds of ms after a large batch) before that commit
    /// returns. Other connections keep checkpointing as before. Nothing on PostgreSQL.
    pub fn without_auto_checkpoint<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> diesel::QueryResult<T>,
    ) -> diesel::QueryResult<T> {
        if let Conn::Sqlite(c) = self {
            c.batch_execute("PRAGMA wal_autocheckpoint = 0")?;
        }
        let out = f(self);
        // Restored whatever `f` returned (SQLite's default, as every other connection has
        // it); `f`'s own error is the one answered.
        let restored = match self {
            Conn::Sqlite(c) => c.batch_execute("PRAGMA wal_autocheckpoint = 1000"),
            Conn::Postgres(_) => Ok(()),
        };
        let value = out?;
        restored?;
        Ok(value)
    }

    /// A passive WAL checkpoint (it waits for no reader or writer), outside any transaction.
    pub fn checkpoint(&mut self) -> diesel::QueryResult<()> {
        match self {
            Conn::Sqlite(c) => c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)"),
            Conn::Postgres(_) => Ok(()),
        }
    }

    /// Runs the periodic cleanup `f` unless another instance is running it now (on
    /// PostgreSQL, `pg_try_advisory_lock`); `None` when skipped. On SQLite it always runs: its
    /// write transactions already take turns.
    pub fn as_only_cleaner<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> diesel::QueryResult<T>,
    ) -> diesel::QueryResult<Option<T>> {
        use diesel::RunQueryDsl as _;
        let Conn::Postgres(c) = self else {
            return f(self).map(Some);
        };
        let got: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "pg_try_advisory_lock({})",
            lock_key::CLEANUP
        )))
        .get_result(c)?;
        if !got {
            return Ok(None);
        }
        // The lock belongs to this pooled connection's session: it must be released whatever
        // `f` does, or no instance would clean up again while the connection lives.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        let unlocked = per_backend!(self, |c| c
            .batch_execute(&format!("SELECT pg_advisory_unlock({})", lock_key::CLEANUP)));
        match ran {
            Ok(ran) => {
                let value = ran?;
                unlocked?;
                Ok(Some(value))
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Conn::Postgres(_) => Backend::Postgres,
            Conn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// `connect_with` the defaults of `REALMGATE_DB_POOL_SIZE` and `REALMGATE_DB_TIMEOUT`
/// (tools and tests).
pub fn connect(database_url: &str) -> anyhow::Result<Pool> {
    connect_with(database_url, POOL_SIZE, Duration::from_secs(5))
}

/// The pool of an instance: `server`'s database, pool size and timeout.
pub fn connect_server(server: &crate::domain::config::Server) -> anyhow::Result<Pool> {
    connect_with(&server.database_url, server.db_pool_size, server.db_timeout)
}

/// Opens (on SQLite creating when missing) the database, migrates it, and returns a pool of
/// `size` connections. A request waits at most `timeout` for one (then its 503); on PostgreSQL
/// the same bound is put on connecting and on unacknowledged writes to the server, so an
/// unreachable database answers within it instead of hanging.
pub fn connect_with(database_url: &str, size: u32, timeout: Duration) -> anyhow::Result<Pool> {
    let backend = Backend::of(database_url);
    let database_url = &match backend {
        Backend::Postgres => with_timeouts(database_url, timeout),
        Backend::Sqlite => database_url.to_owned(),
    };
    // Never the URL itself in a message: a PostgreSQL URL carries its password.
    let shown = crate::domain::config::redact_database_url(database_url);
    if backend == Backend::Postgres {
        // One connection first, so a refused login, a missing database or an old server is
        // one clear line rather than a pool timeout.
        let mut conn = PgConnection::establish(database_url).map_err(|e| {
            anyhow::anyhow!(
                "REALMGATE_DATABASE_URL: cannot connect to the database {shown}: {}",
                one_line(&e, database_url)
            )
        })?;
        check_postgres_version(&mut conn)
            .map_err(|e| anyhow::anyhow!("REALMGATE_DATABASE_URL {shown}: {e}"))?;
    }
    if backend == Backend::Sqlite {
        // WAL (many readers beside the one writer) is a property of the file: set it once,
        // before the pool opens its connections in parallel, where concurrent switches report
        // "database is locked".
        let mut conn = SqliteConnection::establish(database_url).map_err(|e| {
            anyhow::anyhow!("REALMGATE_DATABASE_URL: cannot open the database {shown}: {e}")
        })?;
        // The switch needs the file to itself and does not wait on the busy timeout: while
        // another process starting beside this one migrates, it answers "database is
        // locked" at once. Retried for as long as a busy writer would be waited for.
        let started = std::time::Instant::now();
        loop {
            match conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;") {
                Ok(()) => break,
                Err(e) if e.to_string().contains("locked") && started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "cannot use WAL on the database {shown}: {e}"
                    ))
                }
            }
        }
    }
    let manager = Manager {
        url: database_url.to_owned(),
        backend,
    };
    let pool = diesel::r2d2::Pool::builder()
        .max_size(size.max(1))
        .connection_timeout(timeout)
        // No `SELECT 1` at each check-out (one more statement on every request): a
        // PostgreSQL connection that lost its server fails its next query (a 503), Diesel
        // then reports it broken, and the pool replaces it (tests/api/faults.rs). Checking
        // first only made each request of an outage wait out the timeout.
        .test_on_check_out(false)
        .build(manager)
        .map_err(|e| {
            anyhow::anyhow!(
                "REALMGATE_DATABASE_URL: cannot open the database {shown}: {}",
                one_line(&e, database_url)
            )
        })?;
    run_migrations(&pool)?;
    Ok(pool)
}

/// libpq's and the server's own bounds, unless the URL sets them: `connect_timeout` (whole
/// seconds), `tcp_user_timeout` (how long sent data may stay unacknowledged), and for the
/// session `lock_timeout` (the write transaction's advisory lock is waited for at most the
/// timeout, then a 503) and `idle_in_transaction_session_timeout` (an instance frozen inside
/// a write transaction loses its session, and with it the lock every instance waits for).
fn with_timeouts(url: &str, timeout: Duration) -> String {
    let mut url = url.to_owned();
    let secs = timeout.as_secs().max(1);
    let options = format!(
        "-c%20lock_timeout%3D{}%20-c%20idle_in_transaction_session_timeout%3D{}",
        secs * 1000,
        secs * 6000
    );
    for (key, value) in [
        ("connect_timeout", secs.to_string()),
        ("tcp_user_timeout", (secs * 1000).to_string()),
        ("options", options),
    ] {
        if !url.contains(&format!("{key}=")) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{key}={value}"));
        }
    }
    url
}

/// One connection to an existing database, neither created nor migrated (`realmgate check`).
pub fn open_existing(database_url: &str) -> Result<Conn, String> {
    match Backend::of(database_url) {
        Backend::Sqlite => {
            let path = database_url.trim_start_matches("sqlite://");
            if !(path == ":memory:" || std::path::Path::new(path).is_file()) {
                return Err(format!(
                    "{path} does not exist (run `realmgate migrate` to create it)"
                ));
            }
            let mut conn = SqliteConnection::establish(database_url).map_err(|e| e.to_string())?;
            conn.batch_execute("SELECT 1").map_err(|e| e.to_string())?;
            Ok(Conn::Sqlite(conn))
        }
        Backend::Postgres => {
            let url = with_timeouts(database_url, Duration::from_secs(5));
            let mut conn = PgConnection::establish(&url).map_err(|e| one_line(&e, &url))?;
            check_postgres_version(&mut conn)?;
            Ok(Conn::Postgres(conn))
        }
    }
}

/// SPEC §16: PostgreSQL 15 or later.
fn check_postgres_version(conn: &mut PgConnection) -> Result<(), String> {
    use diesel::RunQueryDsl as _;
    let version: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
        "current_setting('server_version_num')::integer",
    ))
    .get_result(conn)
    .map_err(|e| e.to_string())?;
    if version < 150_000 {
        return Err(format!(
            "PostgreSQL {}.{} is too old; Realmgate needs 15 or later",
            version / 10_000,
            version % 10_000 / 100
        ));
    }
    Ok(())
}

/// libpq's messages run over several lines (a start-up error is one), and may quote what
/// they were given: never the password.
fn one_line(e: &impl std::fmt::Display, url: &str) -> String {
    let line = e
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    crate::domain::config::scrub_password(&line, url)
}

/// Applies pending migrations, once however many instances start together: on SQLite inside
/// one `BEGIN IMMEDIATE` (each migration a savepoint in it), on PostgreSQL under an advisory
/// lock. The later ones find nothing to do.
pub fn run_migrations(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.get()?;
    let failed = |e| anyhow::anyhow!("migrations failed: {e}");
    match &mut *conn {
        Conn::Sqlite(_) => conn.write_transaction(|conn| match conn {
            Conn::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(drop)
                .map_err(failed),
            Conn::Postgres(_) => Ok(()),
        })?,
        Conn::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({})", lock_key::MIGRATE))?;
            let ran = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(drop)
                .map_err(failed);
            let unlocked =
                c.batch_execute(&format!("SELECT pg_advisory_unlock({})", lock_key::MIGRATE));
            ran?;
            unlocked?
        }
    };
    Ok(())
}

/// What storage can fail with. Busy (another writer held the lock past the busy timeout) and
/// an exhausted pool are told apart from real faults: those are worth a 503 and a retry.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `SQLITE_BUSY`: another connection held the write lock past the busy timeout.
    #[error("database busy: {0}")]
    Busy(String),
    /// `SQLITE_LOCKED`: a table was locked by this same connection's other statement.
    #[error("database table locked: {0}")]
    Locked(String),
    /// No connection came free in the pool's wait.
    #[error("database pool: {0}")]
    Pool(String),
    /// The connection to the server was lost (a restart, the network): worth a 503; the
    /// pool replaces the connection.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    #[error("database: {0}")]
    Query(diesel::result::Error),
    /// The blocking task itself failed (it panicked or was cancelled).
    #[error("database task: {0}")]
    Task(String),
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::Unknown, ref info) => {
                let message = info.message().to_owned();
                if message.contains("table is locked") {
                    DbError::Locked(message)
                } else if message.contains("locked")
                    || message.contains("busy")
                    || message.contains("lock timeout")
                {
                    DbError::Busy(message)
                } else {
                    DbError::Query(e)
                }
            }
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                ref info,
            ) => DbError::Unreachable(info.message().to_owned()),
            // The connection died at COMMIT (and so at the rollback after it), or an earlier
            // failure left the transaction manager unusable: the pool drops the connection.
            Error::RollbackErrorOnCommit { .. } | Error::BrokenTransactionManager => {
                DbError::Unreachable(e.to_string())
            }
            e => DbError::Query(e),
        }
    }
}

/// Runs `f` with a pooled connection on a blocking thread, never on an async worker; the
/// connection is taken inside because waiting for it blocks too.
pub async fn block<T, F>(pool: &Pool, f: F) -> Result<T, DbError>
where
    F: FnOnce(&mut Conn) -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    // The request's span goes along, so what the query logs carries the request's id.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _inside = span.enter();
        let mut conn = pool.get().map_err(|e| DbError::Pool(e.to_string()))?;
        f(&mut conn)
    })
    .await
    .map_err(|e| DbError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::InstrumentationEvent;
    use diesel::Connection as _;
    use diesel::RunQueryDsl as _;

    use super::*;
    use crate::domain::ids::{SecretHash, SessionId};
    use crate::domain::realm::Realm;

    /// A lost connection and a lock wait past `lock_timeout` are 503s (retry later), not
    /// faults (500s): SPEC §16 asks for no 500 while the database is away.
    #[test]
    fn outages_and_lock_waits_are_unavailable_not_faults() {
        use diesel::result::{DatabaseErrorKind, Error};
        let db = |kind, message: &str| Error::DatabaseError(kind, Box::new(message.to_owned()));
        assert!(matches!(
            DbError::from(db(DatabaseErrorKind::ClosedConnection, "server closed")),
            DbError::Unreachable(_)
        ));
        assert!(matches!(
            DbError::from(db(DatabaseErrorKind::UnableToSendCommand, "no connection")),
            DbError::Unreachable(_)
        ));
        assert!(matches!(
            DbError::from(Error::RollbackErrorOnCommit {
                rollback_error: Box::new(db(DatabaseErrorKind::ClosedConnection, "gone")),
                commit_error: Box::new(db(DatabaseErrorKind::ClosedConnection, "gone")),
            }),
            DbError::Unreachable(_)
        ));
        assert!(matches!(
            DbError::from(db(
                DatabaseErrorKind::Unknown,
                "canceling statement due to lock timeout"
            )),
            DbError::Busy(_)
        ));
        assert!(matches!(
            DbError::from(db(DatabaseErrorKind::UniqueViolation, "duplicate")),
            DbError::Query(_)
        ));
    }

    /// libpq's and the server's bounds are added to a PostgreSQL URL unless it sets them.
    #[test]
    fn postgres_urls_get_the_timeouts_unless_they_set_them() {
        let url = with_timeouts("postgres://rg@db/rg", Duration::from_secs(5));
        assert!(
            url.starts_with("postgres://rg@db/rg?connect_timeout=5&tcp_user_timeout=5000&options=")
        );
        assert!(
            url.contains("lock_timeout%3D5000")
                && url.contains("idle_in_transaction_session_timeout%3D30000")
        );
        let own = with_timeouts(
            "postgres://rg@db/rg?connect_timeout=1",
            Duration::from_secs(5),
        );
        assert!(own.contains("connect_timeout=1&tcp_user_timeout=5000"));
        assert_eq!(own.matches("connect_timeout").count(), 1);
    }

    /// SQLite rebuilds `auth_sessions` for the api realm inside the migrations' transaction, with
    /// foreign keys on: every session and every row that references one must come through.
    #[test]
    fn the_api_realm_migration_keeps_sessions_and_the_rows_that_reference_them() {
        use diesel::migration::MigrationSource;
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::sql_query("PRAGMA foreign_keys = ON")
            .execute(&mut conn)
            .unwrap();
        let names: Vec<String> =
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
                .unwrap()
                .iter()
                .map(|m| m.name().to_string())
                .collect();
        let before = names.iter().position(|n| n.contains("api_realm")).unwrap();
        for _ in 0..before {
            conn.run_next_migration(SQLITE_MIGRATIONS).unwrap();
        }
        for sql in [
            "INSERT INTO accounts (id, email, name, password_hash, created_at) \
             VALUES (1, 'a@example.com', 'A', 'x', '2026-12-01 00:00:00')",
            "INSERT INTO auth_sessions (id, secret_hash, account_id, realm, created_at, \
             last_seen_at, idle_expires_at, absolute_expires_at, ip, user_agent) \
             VALUES ('s1', 'h1', 1, 'user', '2026-12-01 00:00:00', '2026-12-01 00:00:00', \
             '2026-12-02 00:00:00', '2026-12-02 00:00:00', '127.0.0.1', 'ua')",
            "INSERT INTO password_checks (session_id, account_id, checks, window_started_at, wrong) \
             VALUES ('s1', 1, 2, '2026-12-01 00:00:00', 1)",
            "INSERT INTO rotated_secrets (secret_hash, session_id, rotated_at) \
             VALUES ('old', 's1', '2026-12-01 00:00:00')",
        ] {
            diesel::sql_query(sql).execute(&mut conn).unwrap();
        }
        conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        let count = |conn: &mut SqliteConnection, table: &str| {
            #[derive(diesel::QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                .get_result::<N>(conn)
                .unwrap()
                .n
        };
        for table in ["auth_sessions", "password_checks", "rotated_secrets"] {
            assert_eq!(count(&mut conn, table), 1, "{table}");
        }
        let insert = |conn: &mut SqliteConnection, id: &str, realm: &str| {
            diesel::sql_query(format!(
                "INSERT INTO auth_sessions (id, secret_hash, account_id, realm, created_at, \
                 last_seen_at, idle_expires_at, absolute_expires_at, ip, user_agent, device_name) \
                 VALUES ('{id}', 'h{id}', 1, '{realm}', '2026-12-01 00:00:00', \
                 '2026-12-01 00:00:00', '2026-12-02 00:00:00', '2026-12-02 00:00:00', \
                 '127.0.0.1', 'ua', 'phone')"
            ))
            .execute(conn)
        };
        assert!(insert(&mut conn, "s2", "api").is_ok());
        assert!(
            insert(&mut conn, "s3", "mobile").is_err(),
            "the realm check stands"
        );
        // The references still cascade, to the new table.
        diesel::sql_query("DELETE FROM auth_sessions WHERE id = 's1'")
            .execute(&mut conn)
            .unwrap();
        assert_eq!(count(&mut conn, "rotated_secrets"), 0);
        assert_eq!(count(&mut conn, "password_checks"), 0);
    }

    /// A migrated in-memory database whose statements are recorded as they start.
    fn recording() -> (Conn, Arc<Mutex<Vec<String>>>) {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                sink.lock().unwrap().push(query.to_string());
            }
        });
        (Conn::Sqlite(conn), seen)
    }

    /// The console's live-session count per realm reads the index alone, not every live row
    /// (migration `live_count_covering_index`).
    #[test]
    fn live_count_per_realm_reads_only_the_index() {
        #[derive(diesel::QueryableByName)]
        struct Plan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let (mut conn, seen) = recording();
        let now = chrono::Utc::now().naive_utc();
        sessions::count_live(&mut conn, Some(Realm::User), None, now).unwrap();
        let sql = seen.lock().unwrap().last().cloned().unwrap();
        let sql = sql.split(" -- binds:").next().unwrap();
        let Conn::Sqlite(sqlite) = &mut conn else {
            unreachable!()
        };
        let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(sqlite)
            .unwrap();
        assert!(
            plan.iter().any(|p| p
                .detail
                .contains("COVERING INDEX auth_sessions_live_realm_seen")),
            "{:?}",
            plan.iter().map(|p| &p.detail).collect::<Vec<_>>()
        );
    }

    /// Issue 18: the audit lists' key pages, (created_at, id) newest first after a key, search
    /// the `created_at` index from the key (its rowid is the id), with no sort of the matches.
    #[test]
    fn the_audit_lists_key_pages_read_the_time_index_in_order() {
        #[derive(diesel::QueryableByName)]
        struct Plan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        use crate::db::reports::{self, Filters, Reach, Window};
        use crate::domain::organisation::Scope;
        let (mut conn, seen) = recording();
        let now = chrono::Utc::now().naive_utc();
        let window = Window::PageAfter {
            page: 5000,
            after: (now, 1_000_000),
        };
        let reach = Reach::of(Scope::Platform);
        let f = Filters::default();
        let mut plans = Vec::new();
        for (index, run) in [
            (
                "security_incidents_created",
                &mut (|c: &mut Conn| reports::incidents(c, reach, &f, window).map(drop))
                    as &mut dyn FnMut(&mut Conn) -> diesel::QueryResult<()>,
            ),
            ("logout_activity_created", &mut |c: &mut Conn| {
                reports::logouts(c, reach, &f, window).map(drop)
            }),
            ("admin_actions_created", &mut |c: &mut Conn| {
                reports::admin_actions(c, reach, &f, window).map(drop)
            }),
        ] {
            seen.lock().unwrap().clear();
            run(&mut conn).unwrap();
            // The page's own read is the first statement (the bounded count comes after).
            let sql = seen.lock().unwrap().first().cloned().unwrap();
            let sql = sql.split(" -- binds:").next().unwrap().to_owned();
            let Conn::Sqlite(sqlite) = &mut conn else {
                unreachable!()
            };
            let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(sqlite)
                .unwrap();
            let details: Vec<String> = plan.into_iter().map(|p| p.detail).collect();
            assert!(
                details.iter().any(|d| d.contains(index)),
                "{index}: {details:?}"
            );
            assert!(
                !details.iter().any(|d| d.contains("TEMP B-TREE")),
                "{index}: sorted the matches: {details:?}"
            );
            // A search from the key, not a scan from the newest row.
            assert!(
                details.iter().any(|d| d.starts_with("SEARCH")
                    && d.contains(index)
                    && d.contains("created_at<?")),
                "{index}: {details:?}"
            );
            plans.push(details);
        }
    }

    /// SQLite's plan of a recorded statement, one line per step.
    fn plan_of(conn: &mut Conn, recorded: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Plan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let sql = recorded.split(" -- binds:").next().unwrap_or(recorded);
        let Conn::Sqlite(sqlite) = conn else {
            unreachable!()
        };
        let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(sqlite)
            .unwrap();
        plan.into_iter().map(|p| p.detail).collect()
    }

    /// Issue 18: the console's figures read the kept counters and the backlog of expired
    /// unrevoked sessions from the expiry indexes; no statement reads the registry or the
    /// accounts through (each was a scan of 100,000 sessions or 1,000,000 accounts a view).
    #[test]
    fn the_console_figures_read_counters_and_the_expiry_indexes() {
        use crate::domain::ids::OrganisationId;
        use crate::domain::organisation::Scope;
        let (mut conn, seen) = recording();
        let now = chrono::Utc::now().naive_utc();
        crate::db::counters::figures(&mut conn, Scope::Platform, now).unwrap();
        crate::db::counters::figures(&mut conn, Scope::Organisation(OrganisationId(1)), now)
            .unwrap();
        crate::db::counters::by_organisation(&mut conn, now).unwrap();
        let statements = seen.lock().unwrap().clone();
        assert_eq!(statements.len(), 3, "one statement each");
        for sql in statements {
            let details = plan_of(&mut conn, &sql);
            // `owner` and `s` are the statements' names for accounts and sessions.
            for table in ["auth_sessions", "accounts", "owner", "s"] {
                assert!(
                    !details
                        .iter()
                        .any(|d| d.starts_with(&format!("SCAN {table} "))
                            || d == &format!("SCAN {table}")),
                    "read every row of {table}: {details:?}"
                );
            }
            assert!(
                !details.iter().any(|d| d.contains("live_realm_seen")),
                "the backlog from the expiry indexes, not the list's: {details:?}"
            );
            assert!(
                !details
                    .iter()
                    .any(|d| d.ends_with("accounts_organisation (organisation_id=?)")),
                "platform admins by their own index, not the organisation's accounts: \
                 {details:?}"
            );
            for index in ["auth_sessions_open_idle", "auth_sessions_open_absolute"] {
                assert!(
                    details.iter().any(|d| d.contains(index)),
                    "the backlog from {index}: {details:?}"
                );
            }
        }
    }

    /// Issue 18: a search whose next 2,000 accounts do not fill its page reads its matches
    /// from the trigram index (`accounts_search`), not by a scan of every account; one of two
    /// characters (no trigram) does not try it.
    #[test]
    fn a_sparse_account_search_reads_the_trigram_index() {
        use crate::db::reports::{self, Reach, Window};
        use crate::domain::organisation::Scope;
        let (mut conn, seen) = recording();
        let Conn::Sqlite(c) = &mut conn else {
            unreachable!()
        };
        c.batch_execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2100) \
             INSERT INTO accounts (email, name, password_hash, is_admin, is_active, \
             must_change_password, created_at) SELECT 'p' || i || '@example.com', 'P ' || i, \
             'x', 0, 1, 0, '2026-01-01 00:00:00' FROM n",
        )
        .unwrap();
        let search = |conn: &mut Conn, q: &str| {
            seen.lock().unwrap().clear();
            let found =
                reports::accounts(conn, Reach::of(Scope::Platform), q, Window::Page(1)).unwrap();
            (found.rows.len(), seen.lock().unwrap().clone())
        };
        let (found, statements) = search(&mut conn, "p2099@");
        assert_eq!(found, 1);
        let indexed = statements
            .iter()
            .find(|s| s.contains("accounts_search MATCH"))
            .unwrap_or_else(|| panic!("no statement read the index: {statements:?}"));
        let details = plan_of(&mut conn, indexed);
        assert!(
            details
                .iter()
                .any(|d| d.contains("VIRTUAL TABLE INDEX") && d.contains("accounts_search")),
            "{details:?}"
        );
        assert!(
            details
                .iter()
                .any(|d| d.contains("SEARCH accounts USING INTEGER PRIMARY KEY")),
            "the matches' rows by id, not a scan: {details:?}"
        );
        let (_, statements) = search(&mut conn, "p2");
        assert!(
            !statements.iter().any(|s| s.contains("accounts_search")),
            "{statements:?}"
        );
    }

    /// Issue 18: a typed page of the account list finds its start in the ids' own index, not
    /// by walking the table's rows in rowid order.
    #[test]
    fn a_typed_account_page_walks_the_ids_index() {
        use crate::db::reports::{self, Reach, Window};
        use crate::domain::organisation::Scope;
        let (mut conn, seen) = recording();
        reports::accounts(
            &mut conn,
            Reach::of(Scope::Platform),
            "",
            Window::Page(5000),
        )
        .unwrap();
        let statements = seen.lock().unwrap().clone();
        let walk = statements
            .iter()
            .find(|s| s.contains("OFFSET"))
            .unwrap_or_else(|| panic!("no walk to the page's start: {statements:?}"));
        let details = plan_of(&mut conn, walk);
        assert!(
            details
                .iter()
                .any(|d| d.contains("COVERING INDEX accounts_ids")),
            "{details:?}"
        );
    }

    /// The account list's api devices are read by account, not by walking every live api
    /// session (issue 18's scale run: 208 ms a view with 25,000 of them).
    #[test]
    fn the_account_lists_devices_are_read_by_account() {
        use crate::domain::ids::AccountId;
        let (mut conn, seen) = recording();
        let now = chrono::Utc::now().naive_utc();
        crate::db::sessions::live_api_devices(&mut conn, &[AccountId(1), AccountId(2)], now)
            .unwrap();
        let sql = seen.lock().unwrap().first().cloned().unwrap();
        let details = plan_of(&mut conn, &sql);
        assert!(
            details
                .iter()
                .any(|d| d.starts_with("SEARCH auth_sessions") && d.contains("(account_id=?)")),
            "{details:?}"
        );
    }

    /// The severity and reason filters read their own index in the list's order: no walk of
    /// the time index past the other rows, no sort (issue 18).
    #[test]
    fn the_severity_and_reason_filters_read_their_own_index_in_order() {
        use crate::db::reports::{self, Filters, Reach, Window};
        use crate::domain::organisation::Scope;
        let (mut conn, seen) = recording();
        let reach = Reach::of(Scope::Platform);
        let severity = Filters {
            severity: Some("critical".into()),
            ..Filters::default()
        };
        let reason = Filters {
            kind: Some("absolute_timeout".into()),
            ..Filters::default()
        };
        for (index, run) in [
            (
                "security_incidents_severity",
                &mut (|c: &mut Conn| {
                    reports::incidents(c, reach, &severity, Window::Page(1)).map(drop)
                }) as &mut dyn FnMut(&mut Conn) -> diesel::QueryResult<()>,
            ),
            ("logout_activity_reason", &mut |c: &mut Conn| {
                reports::logouts(c, reach, &reason, Window::Page(1)).map(drop)
            }),
        ] {
            seen.lock().unwrap().clear();
            run(&mut conn).unwrap();
            // The page's read, then its bounded count: both by the filter's index.
            let statements = seen.lock().unwrap().clone();
            assert!(statements.len() >= 2, "{statements:?}");
            for sql in &statements[..2] {
                let details = plan_of(&mut conn, sql);
                assert!(
                    details
                        .iter()
                        .any(|d| d.starts_with("SEARCH") && d.contains(index)),
                    "{index}: {details:?}"
                );
                assert!(
                    !details.iter().any(|d| d.contains("TEMP B-TREE")),
                    "{index}: sorted the matches: {details:?}"
                );
            }
        }
    }

    /// The console's session list reads the live sessions' last-seen indexes in its order (no
    /// sort of every live session), and a typed page finds its key in an index alone; so do
    /// the audit lists' and the account list's typed pages (issue 18).
    #[test]
    fn the_lists_and_their_typed_pages_read_indexes_in_order() {
        use crate::db::reports::{self, Filters, Reach, Window};
        use crate::domain::ids::AccountId;
        use crate::domain::organisation::Scope;
        let (mut conn, seen) = recording();
        let now = chrono::Utc::now().naive_utc();
        let reach = Reach::of(Scope::Platform);
        let f = Filters::default();
        let sessions = |realm, window: Window<reports::SeenKey>| {
            move |c: &mut Conn| {
                reports::live_sessions(c, reach, realm, None, now, window.clone()).map(drop)
            }
        };
        type Read = Box<dyn Fn(&mut Conn) -> diesel::QueryResult<()>>;
        let cases: Vec<(&str, &str, Read)> = vec![
            (
                "sessions",
                "INDEX auth_sessions_live_seen",
                Box::new(sessions(None, Window::Page(1))),
            ),
            (
                "sessions of a realm",
                "INDEX auth_sessions_live_realm_seen",
                Box::new(sessions(Some(Realm::Api), Window::Page(1))),
            ),
            (
                "sessions, typed page",
                "COVERING INDEX auth_sessions_live_seen",
                Box::new(sessions(None, Window::Page(3000))),
            ),
            (
                "incidents, typed page",
                "COVERING INDEX security_incidents_created",
                Box::new(move |c: &mut Conn| {
                    reports::incidents(c, reach, &f, Window::Page(5000)).map(drop)
                }),
            ),
            (
                // By the table's own order (its rowid is the id): no index is narrower.
                "accounts, typed page",
                "SCAN accounts",
                Box::new(move |c: &mut Conn| {
                    reports::accounts(c, reach, "", Window::<AccountId>::Page(5000)).map(drop)
                }),
            ),
        ];
        for (what, index, run) in cases {
            seen.lock().unwrap().clear();
            run(&mut conn).unwrap();
            // The page's own read, or a typed page's key, is the first statement.
            let sql = seen.lock().unwrap().first().cloned().unwrap();
            let details = plan_of(&mut conn, &sql);
            assert!(
                details.iter().any(|d| d.contains(index)),
                "{what}: {details:?}"
            );
            assert!(
                !details.iter().any(|d| d.contains("TEMP B-TREE")),
                "{what}: sorted the matches: {details:?}"
            );
        }
    }

    /// The queries every page view runs must not bind a LIMIT (see the module comment): with
    /// one, SQLite re-parses them on every execution.
    #[test]
    fn page_view_queries_bind_no_limit() {
        let (mut conn, seen) = recording();
        let now = chrono::Utc::now().naive_utc();
        let account = accounts::insert(
            &mut conn,
            &accounts::NewAccount::new("a@example.com", "A", "x", now).confirmed(now),
        )
        .unwrap();
        for (id, at) in [("older", now - chrono::Duration::hours(2)), ("newer", now)] {
            sessions::insert(
                &mut conn,
                &sessions::NewSession {
                    id: &SessionId::from(id.to_owned()),
                    secret_hash: &SecretHash(id.into()),
                    account_id: account.id,
                    realm: Realm::User,
                    remember: false,
                    created_at: at,
                    last_seen_at: at,
                    idle_expires_at: now + chrono::Duration::hours(1),
                    absolute_expires_at: now + chrono::Duration::hours(1),
                    ip: "127.0.0.1",
                    user_agent: "test",
                    device_name: None,
                },
            )
            .unwrap();
        }
        seen.lock().unwrap().clear();

        let newer = SecretHash("newer".into());
        let (row, _, _) = sessions::find_by_secret_with_account(&mut conn, Realm::User, &newer)
            .unwrap()
            .unwrap();
        assert!(sessions::find_by_secret(&mut conn, Realm::User, &newer)
            .unwrap()
            .is_some());
        assert!(accounts::find(&mut conn, account.id).unwrap().is_some());
        let previous = sessions::previous_sign_in(&mut conn, account.id, &row).unwrap();
        assert_eq!(
            previous.map(|(at, _)| at),
            Some(now - chrono::Duration::hours(2))
        );
        assert_eq!(
            sessions::count_live(&mut conn, None, Some(account.id), now).unwrap(),
            2
        );
        assert!(sessions::touch_if_live(&mut conn, &row.id, now, now).unwrap());

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 6, "{seen:?}");
        for sql in seen.iter() {
            assert!(!sql.contains("LIMIT"), "{sql}");
        }
    }
}
