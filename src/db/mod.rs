//! SQLite through an r2d2 pool: one place sets the PRAGMAs, runs migrations and moves queries
//! off the async workers.
//!
//! Single-row reads use `get_result` (a cursor that stops at the first row), never Diesel's
//! `first()`: `first()` sends `LIMIT ?` with a bound 1, and SQLite (since 3.47) plans around a
//! bound LIMIT and so re-prepares the statement every time it is bound, which defeats Diesel's
//! statement cache. Profiled under load that re-parsing was half of the server's CPU time in
//! page views (docs/performance.md).

pub mod accounts;
pub mod audit;
pub mod housekeeping;
pub mod lockout;
pub mod password_checks;
pub mod rates;
pub mod reports;
pub mod schema;
pub mod sessions;
pub mod tokens;
mod types;

use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool as R2d2Pool};
use diesel::{Connection as _, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness as _};

pub type Pool = R2d2Pool<ConnectionManager<SqliteConnection>>;
pub type Conn = SqliteConnection;

/// Pooled SQLite connections (WAL: many readers, one writer at a time).
pub const POOL_SIZE: u32 = 8;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // NORMAL is durable under WAL except for the last transactions on power loss; foreign
        // keys are off in SQLite unless asked for.
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Opens (creating when missing) the database, migrates it, and returns a pool.
pub fn connect(database_url: &str) -> anyhow::Result<Pool> {
    // WAL (many readers beside the one writer) is a property of the file: set it once, before
    // the pool opens its connections in parallel, where concurrent switches report "database
    // is locked".
    SqliteConnection::establish(database_url)
        .map_err(|e| anyhow::anyhow!("cannot open the database {database_url}: {e}"))?
        .batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")
        .map_err(|e| anyhow::anyhow!("cannot use WAL on the database {database_url}: {e}"))?;
    let manager = ConnectionManager::<SqliteConnection>::new(database_url);
    let pool = R2d2Pool::builder()
        .max_size(POOL_SIZE)
        .connection_timeout(Duration::from_secs(5))
        // A connection to a local file does not go stale; testing each check-out with
        // `SELECT 1` was one more statement on every request.
        .test_on_check_out(false)
        .connection_customizer(Box::new(Pragmas))
        .build(manager)
        .map_err(|e| anyhow::anyhow!("cannot open the database {database_url}: {e}"))?;
    run_migrations(&pool)?;
    Ok(pool)
}

pub fn run_migrations(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.get()?;
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
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
                } else if message.contains("locked") || message.contains("busy") {
                    DbError::Busy(message)
                } else {
                    DbError::Query(e)
                }
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
    tokio::task::spawn_blocking(move || {
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

    /// A migrated in-memory database whose statements are recorded as they start.
    fn recording() -> (SqliteConnection, Arc<Mutex<Vec<String>>>) {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.run_pending_migrations(MIGRATIONS).unwrap();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                sink.lock().unwrap().push(query.to_string());
            }
        });
        (conn, seen)
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
        let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(&mut conn)
            .unwrap();
        assert!(
            plan.iter().any(|p| p
                .detail
                .contains("COVERING INDEX auth_sessions_live_by_realm")),
            "{:?}",
            plan.iter().map(|p| &p.detail).collect::<Vec<_>>()
        );
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
                },
            )
            .unwrap();
        }
        seen.lock().unwrap().clear();

        let newer = SecretHash("newer".into());
        let (row, _) = sessions::find_by_secret_with_account(&mut conn, Realm::User, &newer)
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
