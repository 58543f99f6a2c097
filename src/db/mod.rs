//! SQLite through an r2d2 pool: one place sets the PRAGMAs, runs migrations and moves queries
//! off the async workers.

pub mod accounts;
pub mod audit;
pub mod lockout;
pub mod rates;
pub mod reports;
pub mod schema;
pub mod sessions;
pub mod tokens;

use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool as R2d2Pool};
use diesel::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness as _};

use crate::error::AppError;

pub type Pool = R2d2Pool<ConnectionManager<SqliteConnection>>;
pub type Conn = SqliteConnection;

/// Pooled SQLite connections (WAL: many readers, one writer at a time).
pub const POOL_SIZE: u32 = 8;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the one writer; NORMAL is durable under WAL except for
        // the last transactions on power loss; foreign keys are off in SQLite unless asked for.
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Opens (creating when missing) the database, migrates it, and returns a pool.
pub fn connect(database_url: &str) -> anyhow::Result<Pool> {
    let manager = ConnectionManager::<SqliteConnection>::new(database_url);
    let pool = R2d2Pool::builder()
        .max_size(POOL_SIZE)
        .connection_timeout(Duration::from_secs(5))
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

/// Runs `f` with a pooled connection on the blocking thread pool; the connection is taken
/// inside the closure because waiting for it blocks too.
pub async fn block<T, F>(pool: &Pool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut Conn) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get().map_err(|e| {
            log::error!("database pool: {e}");
            AppError::Unavailable
        })?;
        f(&mut conn)
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
}
