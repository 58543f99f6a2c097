//! Several `realmgate` processes on one database (SPEC §16): they start together, migrate once
//! and make one bootstrap admin between them. Runs on both backends.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::helpers::{TestDatabase, TEST_KEY};

/// A `realmgate serve` on a random loopback port.
pub struct Instance {
    pub child: Child,
    pub port: u16,
    /// What it printed before it said where it serves.
    pub banner: Vec<String>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn command(db: &str, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_realmgate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REALMGATE_DATABASE_URL", db)
        .env("REALMGATE_SECRET_KEY", TEST_KEY)
        .env("REALMGATE_BIND", "127.0.0.1:0")
        .env("REALMGATE_MAIL", "log")
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for a spawned `serve` to print its address; `None` if it exited first.
pub fn wait_until_serving(mut child: Child) -> Result<Instance, Vec<String>> {
    use std::io::Read as _;
    // Drained all along, so a chatty instance never blocks on a full pipe; kept for the
    // message when it fails to start.
    let mut stderr = child.stderr.take().unwrap();
    let said = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let started = Instant::now();
    let mut banner = Vec::new();
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix("Realmgate is serving on http://127.0.0.1:") {
            let port = rest.trim_end_matches('/').parse().unwrap();
            return Ok(Instance {
                child,
                port,
                banner,
            });
        }
        banner.push(line);
        assert!(started.elapsed() < Duration::from_secs(60), "no start");
    }
    let _ = child.wait();
    banner.push(format!("stderr: {}", said.join().unwrap_or_default()));
    Err(banner)
}

/// One raw HTTP/1.1 GET; the whole answer.
pub fn get(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn three_instances_started_together_on_an_empty_database_make_one_admin() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path(), "instances");
    let children: Vec<Child> = (0..3)
        .map(|_| command(&db.url, &[]).spawn().unwrap())
        .collect();
    let started: Vec<Result<Instance, Vec<String>>> =
        children.into_iter().map(wait_until_serving).collect();
    for s in &started {
        assert!(
            s.is_ok(),
            "an instance failed to start: {s:?}",
            s = s.as_ref().err()
        );
    }
    let told = started
        .iter()
        .flatten()
        .filter(|i| {
            i.banner
                .iter()
                .any(|l| l.contains("No admin account existed"))
        })
        .count();
    assert_eq!(told, 1, "exactly one instance made and printed the admin");
    for instance in started.iter().flatten() {
        let health = get(instance.port, "/healthz");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    }

    use realmgate::db::schema::accounts as a;
    let pool = realmgate::db::connect(&db.url).unwrap();
    let admins: i64 = a::table
        .filter(a::is_admin.eq(true))
        .count()
        .get_result(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(admins, 1);
}

/// Stops an instance as an operator's `systemctl stop` would (SIGTERM), and waits for it.
fn stop_gracefully(mut instance: Instance) {
    let pid = instance.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    while instance.child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no graceful stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_rolling_restart_keeps_sessions_and_a_cold_start_clears_them() {
    if crate::BACKEND != realmgate::db::Backend::Postgres {
        return; // the instances heartbeat is PostgreSQL's (SPEC §16)
    }
    use realmgate::db::{accounts, schema::auth_sessions as s, sessions};
    use realmgate::domain::ids::{SessionId, SessionSecret};
    use realmgate::domain::realm::Realm;

    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path(), "restarts");
    let clear = [("REALMGATE_CLEAR_SESSIONS_ON_START", "true")];
    let first = wait_until_serving(command(&db.url, &clear).spawn().unwrap()).unwrap();
    assert!(
        first
            .banner
            .iter()
            .any(|l| l.contains("Server restart detected: cleared 0 session(s)")),
        "{:?}",
        first.banner
    );

    // A live session, as a sign-in would leave it.
    let pool = realmgate::db::connect(&db.url).unwrap();
    let mut conn = pool.get().unwrap();
    let now = chrono::Utc::now().naive_utc();
    let account = accounts::insert(
        &mut conn,
        &accounts::NewAccount::new("kept@example.com", "Kept", "x", now).confirmed(now),
    )
    .unwrap();
    let id = SessionId::generate();
    sessions::insert(
        &mut conn,
        &sessions::NewSession {
            id: &id,
            secret_hash: &SessionSecret::generate().hash(),
            account_id: account.id,
            realm: Realm::User,
            remember: false,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: now + chrono::Duration::hours(1),
            absolute_expires_at: now + chrono::Duration::hours(1),
            ip: "127.0.0.1",
            user_agent: "test",
            device_name: None,
        },
    )
    .unwrap();
    let reason = |conn: &mut realmgate::db::Conn| -> Option<String> {
        s::table
            .find(id.as_str())
            .select(s::revoke_reason)
            .first(conn)
            .unwrap()
    };

    // Rolling: a second instance starts while the first runs; nobody is signed out.
    let second = wait_until_serving(command(&db.url, &clear).spawn().unwrap()).unwrap();
    assert!(
        second
            .banner
            .iter()
            .any(|l| l.contains("[SECURITY] Joined 1 running instance(s): sessions kept")),
        "{:?}",
        second.banner
    );
    assert_eq!(reason(&mut conn), None);

    // Cold: both stop, then one starts; every session ends.
    stop_gracefully(first);
    stop_gracefully(second);
    let third = wait_until_serving(command(&db.url, &clear).spawn().unwrap()).unwrap();
    assert!(
        third
            .banner
            .iter()
            .any(|l| l.contains("Server restart detected: cleared 1 session(s)")),
        "{:?}",
        third.banner
    );
    assert_eq!(reason(&mut conn).as_deref(), Some("server_restart"));
}

#[test]
fn a_postgres_url_never_prints_its_password() {
    if crate::BACKEND != realmgate::db::Backend::Postgres {
        return;
    }
    let server = std::env::var("REALMGATE_TEST_POSTGRES").unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    // The test cluster trusts loopback, so a wrong database is what fails here.
    let url =
        format!("{base}/no_such_database").replacen("postgres@", "postgres:Sup3rS3cretPw@", 1);
    for args in [&["check"][..], &["migrate"][..], &["serve"][..]] {
        let out = command(&url, &[])
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?}: {said}");
        assert!(!said.contains("Sup3rS3cretPw"), "{args:?}: {said}");
        assert!(
            said.contains("no_such_database"),
            "{args:?} names the problem: {said}"
        );
        assert!(
            said.contains("REALMGATE_DATABASE_URL"),
            "{args:?} names the setting: {said}"
        );
    }
}

#[test]
fn the_periodic_cleanup_runs_on_one_instance_at_a_time() {
    if crate::BACKEND != realmgate::db::Backend::Postgres {
        return; // one SQLite file has one writer at a time anyway
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path(), "cleaner");
    let pool = realmgate::db::connect(&db.url).unwrap();
    let (mut one, mut other) = (pool.get().unwrap(), pool.get().unwrap());
    // While one instance's connection cleans, another's skips its round.
    let inner = one
        .as_only_cleaner(|_| Ok(other.as_only_cleaner(|_| Ok(())).unwrap()))
        .unwrap();
    assert_eq!(inner, Some(None));
    // Released after: the next round runs wherever it starts.
    assert_eq!(other.as_only_cleaner(|_| Ok(7)).unwrap(), Some(7));
}
