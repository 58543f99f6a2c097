//! `cargo bench --bench load -- --scale [--database postgres] [--fraction D] [--seconds S] [--seed-only]`:
//! the portal after a year (issue 18). It seeds, straight into the database with one
//! generated `INSERT … SELECT` per table, 1,000,000 accounts in 50 organisations, 100,000 live
//! sessions across the realms, 5,000,000 incidents and 1,000,000 sign-outs spread over a year
//! and 100,000 audit rows (`--fraction 10` seeds a tenth of each, for trying the run out);
//! then, with 8 connections, measures every page a person or an admin opens, every CSV export
//! in full with the server's peak memory, sign-ins, a cleanup round ending 100,000 expired
//! sessions with page views going on, and a retention round deleting eleven months of rows,
//! with the database's size before and after. The user dashboard is measured on an empty
//! database first, with the same server and client, so the two rates stand side by side.
//! Prints one table and writes the figures to `target/scale.json` (`scale-postgres.json`).

use std::cell::RefCell;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http_body_util::BodyExt as _;

use super::{histogram, ms, peak_memory_kib_of, realmgate, request, sign_in, Database, Http, Jar};

/// The connections of every measured page (the target is at 8).
const CONNECTIONS: usize = 8;
/// Accounts of the bench's own browsers: `user0..7@load.example`, one per connection.
const BROWSERS: usize = CONNECTIONS;
const ADMIN: &str = "admin@load.example";
const ORGANISATIONS: i64 = 50;
/// Requests per page at most; a page also stops after `--seconds`.
const REQUESTS_PER_PAGE: u64 = 800;

struct Counts {
    accounts: i64,
    live_sessions: i64,
    expired_sessions: i64,
    incidents: i64,
    logouts: i64,
    audit: i64,
}

impl Counts {
    fn divided_by(d: i64) -> Self {
        Self {
            accounts: 1_000_000 / d,
            live_sessions: 100_000 / d,
            expired_sessions: 100_000 / d,
            incidents: 5_000_000 / d,
            logouts: 1_000_000 / d,
            audit: 100_000 / d,
        }
    }
}

/// A running server: its process, address and log (standard error, line by line).
struct Running {
    child: Child,
    base: String,
    log: mpsc::Receiver<String>,
    /// Each cleanup batch's step and write-lock hold (µs) seen so far in the log.
    batches: RefCell<Vec<(String, u64)>>,
}

impl Running {
    fn start(dir: &std::path::Path, url: &str, env: &[(&str, &str)]) -> Self {
        let mut cmd = realmgate(dir, url);
        cmd.env("REALMGATE_BIND", "127.0.0.1:0")
            .env("REALMGATE_IP_MAX_FAILURES", "1000000")
            // The cleanup says what each round did and how long each batch held the write
            // lock (at debug); the rest of the log stays at warnings.
            .env("RUST_LOG", "warn,realmgate::app::maintenance=debug")
            .env("REALMGATE_CLEANUP_INTERVAL", "1h")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("serve printed its address").unwrap();
            if let Some(rest) = line.strip_prefix("Realmgate is serving on ") {
                break rest.trim_end_matches('/').to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            base,
            log,
            batches: RefCell::default(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first `cleanup:` line logged since the last call, if one came, with the holds of
    /// the batches logged before it.
    fn cleanup_line(&self) -> Option<(String, Vec<(String, u64)>)> {
        for line in self.log.try_iter() {
            if let Some(batch) = line.split_once("cleanup batch: ").map(|(_, b)| b) {
                let step = batch.split(", ").next().unwrap_or("").to_owned();
                let held = batch
                    .split_once("held the write lock ")
                    .and_then(|(_, us)| us.trim_end_matches(" us").parse().ok());
                match held {
                    Some(held) => self.batches.borrow_mut().push((step, held)),
                    // The spread would be short of a batch without saying so.
                    None => eprintln!("scale: a cleanup batch line not understood: {line}"),
                }
            } else if line.contains("cleanup: ") {
                return Some((line, self.batches.take()));
            }
        }
        None
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn current_memory_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The CPU group the kernel schedules `pid` in: its session's autogroup (when autogroup
/// scheduling is on) and its cgroups. PostgreSQL starts every backend in a session of its own
/// (`setsid`), so with autogroup on each backend is a group of its own beside the portal's, and
/// the cleanup's longest write-lock hold in this run was 782 ms against 26 ms with autogroup
/// off (docs/performance.md). `None` when not on this machine, or when `pid` is not a
/// PostgreSQL process here (the server's pid from another host or pid namespace).
fn cpu_group(pid: u32, expect_postgres: bool) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if expect_postgres && comm.trim() != "postgres" {
        return None;
    }
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let autogroup_on = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled")
        .is_ok_and(|s| s.trim() == "1");
    let autogroup = if autogroup_on {
        std::fs::read_to_string(format!("/proc/{pid}/autogroup"))
            .ok()?
            .split_whitespace()
            .next()?
            .to_owned()
    } else {
        "autogroup off".to_owned()
    };
    // The hierarchy that schedules: cgroup v2's, or v1's `cpu` controller.
    let cpu = cgroup
        .lines()
        .find(|l| {
            l.starts_with("0::")
                || l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == "cpu"))
        })
        .unwrap_or("");
    Some(format!("{autogroup}, cgroup {cpu}"))
}

/// The spread of a round's write-lock holds against the 50 ms bound, in all and per step: a
/// single long batch and a round of them call for different fixes.
fn holds(batches: Vec<(String, u64)>) -> serde_json::Value {
    // The run's own histograms, one for the round and one per step.
    let spread = |h: &Histogram<u64>| {
        serde_json::json!({
            "batches": h.len(),
            "over_50ms": h.count_between(50_001, u64::MAX),
            "p50_ms": ms(h, 0.5),
            "p99_ms": ms(h, 0.99),
            "max_ms": h.max() as f64 / 1000.0,
        })
    };
    let mut all = histogram();
    let mut steps = std::collections::BTreeMap::<&str, Histogram<u64>>::new();
    for (step, us) in &batches {
        let us = (*us).max(1);
        let _ = all.record(us);
        let _ = steps.entry(step).or_insert_with(histogram).record(us);
    }
    let mut json = spread(&all);
    json["steps"] = steps
        .iter()
        .map(|(step, h)| (step.to_string(), spread(h)))
        .collect();
    // With each batch's place in the round (1 is the first): a first batch that pays for a
    // cold start and one late in the round are different findings.
    let mut longest: Vec<(usize, &(String, u64))> = batches.iter().enumerate().collect();
    longest.sort_by_key(|(_, (_, us))| std::cmp::Reverse(*us));
    json["longest"] = longest
        .iter()
        .take(5)
        .map(|(i, (step, us))| {
            serde_json::json!({"step": step, "ms": *us as f64 / 1000.0, "batch": i + 1})
        })
        .collect();
    json
}

/// A raw connection of the run's backend, for seeding and for reading sizes.
enum Raw {
    Sqlite(diesel::SqliteConnection),
    Postgres(diesel::PgConnection),
}

impl Raw {
    fn open(url: &str, postgres: bool) -> Self {
        use diesel::Connection as _;
        if postgres {
            Raw::Postgres(diesel::PgConnection::establish(url).unwrap())
        } else {
            Raw::Sqlite(diesel::SqliteConnection::establish(url).unwrap())
        }
    }

    fn run(&mut self, sql: &str) {
        use diesel::connection::SimpleConnection as _;
        let r = match self {
            Raw::Sqlite(c) => c.batch_execute(sql),
            Raw::Postgres(c) => c.batch_execute(sql),
        };
        r.unwrap_or_else(|e| panic!("{e}: {sql}"));
    }

    fn number(&mut self, sql: &str) -> i64 {
        use diesel::RunQueryDsl as _;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let q = diesel::sql_query(sql);
        let rows: Vec<N> = match self {
            Raw::Sqlite(c) => q.load(c),
            Raw::Postgres(c) => q.load(c),
        }
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
        rows.first().map_or(0, |r| r.n)
    }

    fn is_postgres(&self) -> bool {
        matches!(self, Raw::Postgres(_))
    }

    /// `n` rows numbered 1..=n, as a FROM clause naming the number `i`.
    fn numbers(&self, n: i64) -> String {
        if self.is_postgres() {
            format!("generate_series(1, {n}) AS g(i)")
        } else {
            format!(
                "(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) \
                 SELECT i FROM g)"
            )
        }
    }

    /// The time `seconds` (an SQL expression) before `now`, as each backend stores it.
    fn before(&self, now: &str, seconds: &str) -> String {
        if self.is_postgres() {
            format!("(TIMESTAMP '{now}' - ({seconds}) * INTERVAL '1 second')")
        } else {
            format!("strftime('%Y-%m-%d %H:%M:%f', '{now}', printf('%+.3f seconds', -({seconds})))")
        }
    }

    fn boolean(&self, b: bool) -> &'static str {
        match (self.is_postgres(), b) {
            (true, true) => "TRUE",
            (true, false) => "FALSE",
            (false, true) => "1",
            (false, false) => "0",
        }
    }

    /// What the database holds: the bytes on disk, and the bytes in use (SQLite reuses the
    /// pages a delete frees without giving them back; PostgreSQL's `VACUUM` does the same).
    fn size(&mut self, url: &str) -> (f64, f64) {
        let mib = |b: i64| b as f64 / 1024.0 / 1024.0;
        match self {
            Raw::Sqlite(_) => {
                let file = |p: String| std::fs::metadata(p).map_or(0, |m| m.len() as i64);
                let on_disk = file(url.to_owned()) + file(format!("{url}-wal"));
                let used = self.number("SELECT page_size * (page_count - freelist_count) AS n FROM pragma_page_size, pragma_page_count, pragma_freelist_count");
                (mib(on_disk), mib(used))
            }
            Raw::Postgres(_) => {
                let on_disk = self.number("SELECT pg_database_size(current_database()) AS n");
                // What the tables' live rows take, without the free space VACUUM keeps.
                let used = self.number(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid) * \
                     CASE WHEN s.n_live_tup + s.n_dead_tup = 0 THEN 1 ELSE \
                     s.n_live_tup::float8 / (s.n_live_tup + s.n_dead_tup) END), 0)::bigint AS n \
                     FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid",
                );
                (mib(on_disk), mib(used))
            }
        }
    }
}

/// The bench's own accounts: eight users and one platform admin, with one real hash.
fn seed_browsers(raw: &mut Raw, hash: &str, now: &str) {
    let (t, f) = (raw.boolean(true), raw.boolean(false));
    let mut values = Vec::new();
    for i in 0..BROWSERS {
        values.push(format!(
            "('user{i}@load.example', 'Load {i}', '{hash}', {f}, {t}, {f}, '{now}', '{now}', 1, {f})"
        ));
    }
    values.push(format!(
        "('{ADMIN}', 'Load admin', '{hash}', {t}, {t}, {f}, '{now}', '{now}', 1, {t})"
    ));
    raw.run(&format!(
        "INSERT INTO accounts (email, name, password_hash, is_admin, is_active, \
         must_change_password, email_confirmed_at, created_at, organisation_id, \
         is_platform_admin) VALUES {}",
        values.join(", ")
    ));
}

/// A year of a busy portal, one statement per table; returns each step's seconds.
fn seed_year(raw: &mut Raw, c: &Counts, hash: &str, now: &str) -> Vec<(String, f64)> {
    let mut steps = Vec::new();
    let mut step = |raw: &mut Raw, name: &str, sql: String| {
        let t = Instant::now();
        raw.run(&sql);
        steps.push((name.to_owned(), t.elapsed().as_secs_f64()));
        eprintln!("scale: seeded {name} in {:.1} s", t.elapsed().as_secs_f64());
    };
    let (t, f) = (raw.boolean(true), raw.boolean(false));
    let year = 365 * 86_400;
    // Account ids of the seeded accounts: after the bench's own (fewer than 100).
    let first = 100;
    let account = |expr: &str| format!("({first} + ({expr}) % {})", c.accounts);
    let org_of = |account: &str| format!("(1 + ({account}) % {ORGANISATIONS})");
    step(
        raw,
        "organisations",
        format!(
            "INSERT INTO organisations (slug, name, is_active, created_at) SELECT \
             'org-' || i, 'Organisation ' || i, {t}, '{now}' FROM {} WHERE i > 1",
            raw.numbers(ORGANISATIONS)
        ),
    );
    raw.run(&format!(
        "INSERT INTO accounts (id, email, name, password_hash, is_admin, is_active, \
         must_change_password, email_confirmed_at, created_at, organisation_id, \
         is_platform_admin) VALUES ({}, 'gap@load.example', 'Gap', '{hash}', {f}, {f}, {f}, \
         NULL, '{now}', 1, {f})",
        first - 1
    ));
    step(
        raw,
        "accounts",
        format!(
            "INSERT INTO accounts (id, email, name, password_hash, is_admin, is_active, \
             must_change_password, email_confirmed_at, created_at, last_login_at, \
             organisation_id, is_platform_admin) SELECT {first} + i - 1, \
             'person' || i || '@scale.example', 'Person ' || i, '{hash}', \
             i % 1000 = 0, i % 97 <> 0, {f}, {created}, {created}, {created}, {org}, {f} FROM {}",
            raw.numbers(c.accounts),
            created = raw.before(now, &format!("{year} - i * {year}.0 / {}", c.accounts)),
            org = org_of(&format!("{first} + i - 1")),
        ),
    );
    let realm = |i: &str| {
        format!(
            "CASE WHEN {i} % 20 < 12 THEN 'user' WHEN {i} % 20 < 15 THEN 'admin' ELSE 'api' END"
        )
    };
    step(
        raw,
        "live sessions",
        format!(
            "INSERT INTO auth_sessions (id, secret_hash, account_id, realm, remember, created_at, \
             last_seen_at, idle_expires_at, absolute_expires_at, ip, user_agent, device_name) \
             SELECT 'scale-live-' || i, 'scale-live-secret-' || i, {acct}, {realm}, {f}, \
             {created}, {seen}, {idle}, {absolute}, '10.' || (i % 250) || '.0.1', \
             'Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0', \
             CASE WHEN i % 20 >= 15 THEN 'Phone ' || i END FROM {}",
            raw.numbers(c.live_sessions),
            acct = account("i * 7"),
            realm = realm("i"),
            created = raw.before(now, &format!("i * {}.0 / {}", 7 * 86_400, c.live_sessions)),
            seen = raw.before(now, "i % 600"),
            idle = raw.before(now, "-86400"),
            absolute = raw.before(now, "-2592000"),
        ),
    );
    let kind = "CASE WHEN i % 100 < 60 THEN 'login_failed' WHEN i % 100 < 70 THEN \
                'account_locked' WHEN i % 100 < 80 THEN 'ip_changed' WHEN i % 100 < 88 THEN \
                'csrf_rejected' WHEN i % 100 < 95 THEN 'password_reset_requested' WHEN \
                i % 100 < 99 THEN 'two_factor_failed' ELSE 'session_mismatch' END";
    let severity = "CASE WHEN i % 100 < 60 THEN 'info' WHEN i % 100 < 70 THEN 'warning' WHEN \
                    i % 100 < 80 THEN 'info' WHEN i % 100 < 88 THEN 'warning' WHEN i % 100 < 95 \
                    THEN 'info' WHEN i % 100 < 99 THEN 'warning' ELSE 'critical' END";
    // One incident in three names no account (a wrong address), as failed sign-ins do.
    step(
        raw,
        "incidents",
        format!(
            "INSERT INTO security_incidents (kind, severity, realm, account_id, email_attempted, \
             ip, user_agent, details, created_at, organisation_id, request_id) SELECT {kind}, \
             {severity}, {realm}, CASE WHEN i % 3 = 0 THEN NULL ELSE {acct} END, \
             'person' || (i % 50000) || '@scale.example', '10.' || (i % 250) || '.' || \
             (i % 200) || '.9', 'Mozilla/5.0 (Macintosh) Safari/605.1.15', NULL, {created}, \
             CASE WHEN i % 3 = 0 THEN NULL ELSE {org} END, 'scale-' || i FROM {}",
            raw.numbers(c.incidents),
            realm = realm("i"),
            acct = account("i * 13"),
            org = org_of(&account("i * 13")),
            created = raw.before(now, &format!("{year} - i * {year}.0 / {}", c.incidents)),
        ),
    );
    let reason = "CASE WHEN i % 10 < 5 THEN 'user_logout' WHEN i % 10 < 8 THEN 'idle_timeout' \
                  WHEN i % 10 < 9 THEN 'absolute_timeout' ELSE 'revoked_by_user' END";
    step(
        raw,
        "sign-outs",
        format!(
            "INSERT INTO logout_activity (account_id, realm, session_id, reason, ip, user_agent, \
             created_at, organisation_id) SELECT {acct}, {realm}, 'scale-gone-' || i, {reason}, \
             '10.1.' || (i % 200) || '.7', 'Mozilla/5.0 (Windows NT 10.0) Chrome/131.0', \
             {created}, {org} FROM {}",
            raw.numbers(c.logouts),
            acct = account("i * 11"),
            realm = realm("i"),
            org = org_of(&account("i * 11")),
            created = raw.before(now, &format!("{year} - i * {year}.0 / {}", c.logouts)),
        ),
    );
    let action = "CASE WHEN i % 4 = 0 THEN 'deactivate' WHEN i % 4 = 1 THEN 'unlock' WHEN \
                  i % 4 = 2 THEN 'send_reset' ELSE 'revoke_session' END";
    step(
        raw,
        "audit",
        format!(
            "INSERT INTO admin_actions (actor_account_id, action, target_account_id, \
             organisation_id, ip, user_agent, details, created_at) SELECT \
             (SELECT id FROM accounts WHERE email = '{ADMIN}'), {action}, {acct}, {org}, \
             '10.2.0.1', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0', NULL, {created} FROM {}",
            raw.numbers(c.audit),
            acct = account("i * 17"),
            org = org_of(&account("i * 17")),
            created = raw.before(now, &format!("{year} - i * {year}.0 / {}", c.audit)),
        ),
    );
    if raw.is_postgres() {
        // What autovacuum reaches soon after a bulk load: statistics and a visibility map.
        step(raw, "vacuum analyze", "VACUUM ANALYZE".into());
    }
    steps
}

/// Sessions idle since an hour ago, never revoked: the cleanup round's work.
fn seed_expired(raw: &mut Raw, c: &Counts, now: &str) {
    let f = raw.boolean(false);
    raw.run(&format!(
        "INSERT INTO auth_sessions (id, secret_hash, account_id, realm, remember, created_at, \
         last_seen_at, idle_expires_at, absolute_expires_at, ip, user_agent) SELECT \
         'scale-expired-' || i, 'scale-expired-secret-' || i, (100 + (i * 3) % {n}), 'user', \
         {f}, {created}, {created}, {idle}, {absolute}, '10.3.0.1', 'Mozilla/5.0' FROM {}",
        raw.numbers(c.expired_sessions),
        n = c.accounts,
        created = raw.before(now, "7200"),
        idle = raw.before(now, "3600 + i % 600"),
        absolute = raw.before(now, "-86400"),
    ));
}

/// Signed-in browsers with the email their pages show.
type Browsers = Vec<(Jar, String)>;

/// A page measured: requests, p50/p99, rate, and every answer that was not the page.
struct Measured {
    name: String,
    path: String,
    hist: Histogram<u64>,
    count: u64,
    errors: std::collections::BTreeMap<String, u64>,
    seconds: f64,
}

impl Measured {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "page": self.name,
            "path": self.path,
            "requests": self.count,
            "per_second": self.count as f64 / self.seconds.max(0.001),
            "p50_ms": ms(&self.hist, 0.5),
            "p99_ms": ms(&self.hist, 0.99),
            "max_ms": ms(&self.hist, 1.0),
            "errors": self.errors,
        })
    }
}

/// `CONNECTIONS` loops GET `path` (each with its browser's cookie) until `REQUESTS_PER_PAGE`
/// answers or the deadline; a 200 must show `expect(connection)`.
async fn measure(
    http: &Http,
    base: &str,
    jars: &[(Jar, String)],
    name: &str,
    path: &str,
    seconds: u64,
    until: Option<&dyn Fn() -> bool>,
) -> Measured {
    let hist = Rc::new(RefCell::new(histogram()));
    let errors = Rc::new(RefCell::new(std::collections::BTreeMap::new()));
    let sent = Rc::new(RefCell::new(0u64));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let done = Rc::new(RefCell::new(false));
    futures_util::future::join_all((0..CONNECTIONS).map(|c| {
        let (hist, errors, sent, done) = (hist.clone(), errors.clone(), sent.clone(), done.clone());
        let (jar, email) = jars[c % jars.len()].clone();
        let url = format!("{base}{path}");
        async move {
            loop {
                if *done.borrow() || Instant::now() >= deadline {
                    break;
                }
                if let Some(until) = until {
                    if until() {
                        *done.borrow_mut() = true;
                        break;
                    }
                } else if *sent.borrow() >= REQUESTS_PER_PAGE {
                    break;
                }
                *sent.borrow_mut() += 1;
                let t = Instant::now();
                let outcome = request(http, &jar, hyper::Method::GET, &url, None).await;
                let micros = (t.elapsed().as_micros() as u64).max(1);
                match outcome {
                    Ok((200, body)) if body.contains(email.as_str()) => {
                        let _ = hist.borrow_mut().record(micros);
                    }
                    Ok((200, _)) => {
                        *errors.borrow_mut().entry("wrong page".into()).or_default() += 1
                    }
                    Ok((status, _)) => {
                        *errors
                            .borrow_mut()
                            .entry(format!("status {status}"))
                            .or_default() += 1
                    }
                    Err(e) => *errors.borrow_mut().entry(e).or_default() += 1,
                }
            }
        }
    }))
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let count = *sent.borrow();
    let hist = hist.borrow().clone();
    let errors = errors.borrow().clone();
    Measured {
        name: name.to_owned(),
        path: path.to_owned(),
        hist,
        count,
        errors,
        seconds,
    }
}

/// One export in full, streamed: rows, seconds, and the file name it was given.
async fn export(http: &Http, base: &str, jar: &Jar, path: &str) -> (u64, f64, String) {
    let started = Instant::now();
    let mut req = hyper::Request::builder().uri(format!("{base}{path}"));
    if let Some(c) = jar.cookie_header() {
        req = req.header(hyper::header::COOKIE, c);
    }
    let res = http
        .request(
            req.body(http_body_util::Full::new(super::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{path}");
    let name = res
        .headers()
        .get(hyper::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut body = res.into_body();
    let mut lines = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            lines += data.iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    (
        lines.saturating_sub(1),
        started.elapsed().as_secs_f64(),
        name,
    )
}

/// The rows counted in a file name such as `incidents-2345-rows.csv`.
fn rows_in_name(name: &str) -> Option<u64> {
    let stem = name.split("-rows.csv").next()?;
    stem.rsplit('-').next()?.parse().ok()
}

fn sign_in_jars(rt: &tokio::runtime::Runtime, http: &Http, base: &str) -> (Browsers, Browsers) {
    rt.block_on(async {
        let mut users = Vec::new();
        for i in 0..BROWSERS {
            let (jar, email) = (Jar::default(), format!("user{i}@load.example"));
            sign_in(http, base, &jar, "/login", &email)
                .await
                .expect("user sign-in");
            users.push((jar, email));
        }
        let admin = Jar::default();
        sign_in(http, base, &admin, "/admin/login", ADMIN)
            .await
            .expect("admin sign-in");
        (users, vec![(admin, ADMIN.to_owned())])
    })
}

/// The key (`after=`) of the last row of page `page - 1` of `table`, newest first, as the
/// portal's "Next" link carries it.
fn key_before_page(raw: &mut Raw, table: &str, page: i64) -> String {
    let offset = (page - 1) * 25 - 1;
    let nanos = if raw.is_postgres() {
        "(EXTRACT(EPOCH FROM created_at) * 1000000)::bigint * 1000".to_owned()
    } else {
        "CAST(ROUND((julianday(created_at) - 2440587.5) * 86400000.0) AS INTEGER) * 1000000"
            .to_owned()
    };
    let at = raw.number(&format!(
        "SELECT {nanos} AS n FROM {table} ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET {offset}"
    ));
    let id = raw.number(&format!(
        "SELECT CAST(id AS BIGINT) AS n FROM {table} ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET {offset}"
    ));
    assert!(id > 0, "{table} has a row {offset} back");
    format!("{at}.{id}")
}

pub fn run(postgres: bool, fraction: i64, seconds: u64, seed_only: bool) {
    assert!(!(seed_only && postgres), "--seed-only is for SQLite");
    let counts = Counts::divided_by(fraction.max(1));
    let dir = tempfile::tempdir().unwrap();
    let database = Database::new(dir.path(), postgres);
    let url = database.url.clone();
    let out = realmgate(dir.path(), &url).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let hash = realmgate::app::auth::password::hash_now(
        &realmgate::domain::config::HashParams::spec(),
        super::PASSWORD,
    )
    .unwrap();
    let now = chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut raw = Raw::open(&url, postgres);
    if !postgres {
        raw.run("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;");
    }
    seed_browsers(&mut raw, &hash, &now);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http: Http =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build_http();

    // The user dashboard on an empty database, for the rate it keeps at scale.
    let server = Running::start(dir.path(), &url, &[]);
    let (users, admins) = sign_in_jars(&rt, &http, &server.base);
    eprintln!("scale: the user dashboard on an empty database ({seconds} s)");
    // A rate needs the whole phase, not a request count: no cap.
    let whole_phase = || false;
    let empty_dashboard = rt.block_on(measure(
        &http,
        &server.base,
        &users,
        "user dashboard, empty database",
        "/dashboard",
        seconds,
        Some(&whole_phase),
    ));
    server.stop();

    eprintln!("scale: seeding a year");
    let seeding = Instant::now();
    let steps = seed_year(&mut raw, &counts, &hash, &now);
    let seed_seconds = seeding.elapsed().as_secs_f64();
    let size_seeded = raw.size(&url);
    if seed_only {
        eprintln!("scale: seeded in {seed_seconds:.0} s; the database is {url}");
        let _kept = dir.keep();
        return;
    }

    let server = Running::start(dir.path(), &url, &[]);
    let base = server.base.clone();
    let pid = server.pid();
    let memory_start = current_memory_kib(pid);
    // Where the database's backends are scheduled, beside the portal's: part of what the run
    // measured, on a machine the two share.
    let groups = postgres.then(|| {
        let backend = raw.number("SELECT CAST(pg_backend_pid() AS BIGINT) AS n");
        let (portal, database) = (
            cpu_group(pid, false),
            u32::try_from(backend)
                .ok()
                .and_then(|backend| cpu_group(backend, true)),
        );
        serde_json::json!({
            "portal": portal,
            "database": database,
            "shared": database.as_ref().map(|d| Some(d) == portal.as_ref()),
        })
    });
    let account_id = raw.number(
        "SELECT CAST(id AS BIGINT) AS n FROM accounts WHERE email = 'person4242@scale.example'",
    );
    // The deep pages: the 5,000th (3,000th of the sessions), or the last one at a --fraction.
    let deep = |rows: i64, page: i64| page.min(rows / 25).max(2);
    let (inc_page, log_page) = (deep(counts.incidents, 5000), deep(counts.logouts, 5000));
    let (acc_page, ses_page) = (
        deep(counts.accounts, 5000),
        deep(counts.live_sessions, 3000),
    );
    let incidents_key = key_before_page(&mut raw, "security_incidents", inc_page);
    let logouts_key = key_before_page(&mut raw, "logout_activity", log_page);
    let audit_key = key_before_page(&mut raw, "admin_actions", 5000.min(counts.audit / 25));
    let audit_page = 5000.min(counts.audit / 25);
    let day = (chrono::Utc::now() - chrono::Duration::days(100))
        .format("%Y-%m-%d")
        .to_string();
    let user_pages: Vec<(String, String)> = [
        ("user dashboard", "/dashboard"),
        ("user sessions", "/account/sessions"),
        ("user activity", "/account/activity"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let admin_pages: Vec<(String, String)> = vec![
        ("console dashboard".into(), "/admin".into()),
        ("accounts".into(), "/admin/users".into()),
        (
            "accounts, search of one".into(),
            "/admin/users?q=person424242%40".into(),
        ),
        (
            "accounts, search of many".into(),
            "/admin/users?q=scale.example".into(),
        ),
        (
            "accounts, one organisation".into(),
            "/admin/users?organisation=org-7".into(),
        ),
        (
            format!("accounts, page {acc_page}"),
            format!("/admin/users?page={acc_page}"),
        ),
        ("sessions".into(), "/admin/sessions".into()),
        (
            "sessions, realm api".into(),
            "/admin/sessions?realm=api".into(),
        ),
        (
            "sessions, one account".into(),
            format!("/admin/sessions?account={account_id}"),
        ),
        (
            format!("sessions, page {ses_page}"),
            format!("/admin/sessions?page={ses_page}"),
        ),
        ("incidents".into(), "/admin/incidents".into()),
        (
            "incidents, kind".into(),
            "/admin/incidents?kind=account_locked".into(),
        ),
        (
            "incidents, severity critical".into(),
            "/admin/incidents?severity=critical".into(),
        ),
        (
            "incidents, one account".into(),
            format!("/admin/incidents?account={account_id}"),
        ),
        (
            "incidents, one day".into(),
            format!("/admin/incidents?from={day}&to={day}"),
        ),
        (
            "incidents, one organisation".into(),
            "/admin/incidents?organisation=org-7".into(),
        ),
        (
            format!("incidents, page {inc_page} by Next"),
            format!("/admin/incidents?page={inc_page}&after={incidents_key}"),
        ),
        (
            format!("incidents, page {inc_page} typed"),
            format!("/admin/incidents?page={inc_page}"),
        ),
        ("sign-outs".into(), "/admin/logouts".into()),
        (
            "sign-outs, reason".into(),
            "/admin/logouts?reason=absolute_timeout".into(),
        ),
        ("sign-outs, realm".into(), "/admin/logouts?realm=api".into()),
        (
            "sign-outs, one account".into(),
            format!("/admin/logouts?account={account_id}"),
        ),
        (
            "sign-outs, one day".into(),
            format!("/admin/logouts?from={day}&to={day}"),
        ),
        (
            format!("sign-outs, page {log_page} by Next"),
            format!("/admin/logouts?page={log_page}&after={logouts_key}"),
        ),
        (
            format!("sign-outs, page {log_page} typed"),
            format!("/admin/logouts?page={log_page}"),
        ),
        ("audit".into(), "/admin/audit".into()),
        ("audit, action".into(), "/admin/audit?action=unlock".into()),
        (
            "audit, one account".into(),
            format!("/admin/audit?account={account_id}"),
        ),
        (
            format!("audit, page {audit_page} by Next"),
            format!("/admin/audit?page={audit_page}&after={audit_key}"),
        ),
        ("organisations".into(), "/admin/organisations".into()),
    ];
    let mut pages = Vec::new();
    rt.block_on(async {
        for (name, path) in &user_pages {
            eprintln!("scale: {name}");
            pages.push(measure(&http, &base, &users, name, path, seconds, None).await);
        }
        pages.push(
            measure(
                &http,
                &base,
                &users,
                "user dashboard, a year in",
                "/dashboard",
                seconds,
                Some(&whole_phase),
            )
            .await,
        );
        for (name, path) in &admin_pages {
            eprintln!("scale: {name}");
            pages.push(measure(&http, &base, &admins, name, path, seconds, None).await);
        }
    });

    eprintln!("scale: exports");
    let memory_before_exports = peak_memory_kib_of(pid);
    let exports: Vec<serde_json::Value> = rt.block_on(async {
        let mut out = Vec::new();
        for (name, path) in [
            ("incidents", "/admin/incidents?format=csv"),
            (
                "incidents, kind login_failed",
                "/admin/incidents?format=csv&kind=login_failed",
            ),
            ("sign-outs", "/admin/logouts?format=csv"),
            ("audit", "/admin/audit?format=csv"),
        ] {
            let (rows, secs, file) = export(&http, &base, &admins[0].0, path).await;
            let named = rows_in_name(&file);
            eprintln!("scale: export {name}: {rows} rows in {secs:.1} s ({file})");
            assert_eq!(
                named,
                Some(rows),
                "the export is whole and its name says so: {file}"
            );
            out.push(serde_json::json!({
                "export": name, "path": path, "rows": rows, "seconds": secs,
                "rows_per_second": rows as f64 / secs.max(0.001), "file": file,
                "server_peak_mib": peak_memory_kib_of(pid) as f64 / 1024.0,
            }));
        }
        out
    });
    let memory_after_exports = peak_memory_kib_of(pid);

    eprintln!("scale: sign-ins");
    let sign_ins = rt.block_on(async {
        let hist = Rc::new(RefCell::new(histogram()));
        let started = Instant::now();
        futures_util::future::join_all((0..CONNECTIONS).map(|c| {
            let (http, base, hist) = (http.clone(), base.clone(), hist.clone());
            async move {
                for k in 0..10 {
                    let email = format!("person{}@scale.example", 1 + c * 1000 + k);
                    let t = Instant::now();
                    if sign_in(&http, &base, &Jar::default(), "/login", &email)
                        .await
                        .is_ok()
                    {
                        let _ = hist
                            .borrow_mut()
                            .record((t.elapsed().as_micros() as u64).max(1));
                    }
                }
            }
        }))
        .await;
        let hist = hist.borrow().clone();
        (hist, started.elapsed().as_secs_f64())
    });
    server.stop();

    // The cleanup round: 100,000 sessions past their idle time, ended while page views go on.
    let cleanup = |raw: &mut Raw, name: &str, env: &[(&str, &str)]| {
        let before = raw.size(&url);
        let server = Running::start(dir.path(), &url, env);
        let started = Instant::now();
        let line = RefCell::new(None::<(String, Vec<(String, u64)>)>);
        let finished = || {
            if line.borrow().is_none() {
                *line.borrow_mut() = server.cleanup_line();
            }
            line.borrow().is_some() || started.elapsed() > Duration::from_secs(900)
        };
        eprintln!("scale: {name}");
        let during = rt.block_on(measure(
            &http,
            &server.base,
            &users,
            &format!("user dashboard during {name}"),
            "/dashboard",
            900,
            Some(&finished),
        ));
        let (line, batches) = line
            .into_inner()
            .unwrap_or_else(|| ("no cleanup line in 900 s".into(), Vec::new()));
        server.stop();
        let after = raw.size(&url);
        eprintln!("scale: {line}");
        let holds = holds(batches);
        (
            during,
            line,
            started.elapsed().as_secs_f64(),
            before,
            after,
            holds,
        )
    };
    let t = Instant::now();
    seed_expired(&mut raw, &counts, &now);
    eprintln!(
        "scale: seeded {} expired sessions in {:.1} s",
        counts.expired_sessions,
        t.elapsed().as_secs_f64()
    );
    // The seed writes without syncing (SQLite `synchronous = OFF`, the bench's PostgreSQL
    // `fsync = off`), so its data sits dirty in the page cache; the first sync inside a round
    // (SQLite syncs the WAL's header when the WAL is reused) then flushed it: the round's first
    // batch held the lock 53-59 ms in two of three runs, the rest at most 17. A deployment
    // does not write a year at once; flushed here, before the rounds are timed.
    let synced = Instant::now();
    let _ = std::process::Command::new("sync").status();
    eprintln!(
        "scale: flushed the seed's writes (sync) in {:.1} s",
        synced.elapsed().as_secs_f64()
    );
    let short = [("REALMGATE_CLEANUP_INTERVAL", "3s")];
    let expiry_round = cleanup(&mut raw, "the cleanup round", &short);
    let ended = raw.number("SELECT COUNT(*) AS n FROM auth_sessions WHERE id LIKE 'scale-expired-%' AND revoked_at IS NOT NULL");
    let retention = [
        ("REALMGATE_CLEANUP_INTERVAL", "3s"),
        ("REALMGATE_RETENTION", "30d"),
    ];
    let retention_round = cleanup(&mut raw, "the retention round", &retention);
    let incidents_left = raw.number("SELECT COUNT(*) AS n FROM security_incidents");

    let json = serde_json::json!({
        "database": if postgres { "postgres" } else { "sqlite" },
        "connections": CONNECTIONS,
        "seeded": { "accounts": counts.accounts, "organisations": ORGANISATIONS, "live_sessions": counts.live_sessions, "incidents": counts.incidents, "sign_outs": counts.logouts, "audit": counts.audit, "seconds": seed_seconds, "steps": steps.iter().map(|(n, s)| serde_json::json!({"step": n, "seconds": s})).collect::<Vec<_>>() },
        "empty_dashboard": empty_dashboard.json(),
        "pages": pages.iter().map(Measured::json).collect::<Vec<_>>(),
        "exports": exports,
        "memory_mib": { "start": memory_start as f64 / 1024.0, "peak_before_exports": memory_before_exports as f64 / 1024.0, "peak_after_exports": memory_after_exports as f64 / 1024.0 },
        "sign_in": { "count": sign_ins.0.len(), "p50_ms": ms(&sign_ins.0, 0.5), "p99_ms": ms(&sign_ins.0, 0.99), "per_second": sign_ins.0.len() as f64 / sign_ins.1 },
        "cleanup": { "expired_sessions": counts.expired_sessions, "ended": ended, "log": expiry_round.1, "seconds_from_start": expiry_round.2, "page_views_during": expiry_round.0.json(), "holds": expiry_round.5 },
        "retention": { "retention": "30d", "log": retention_round.1, "seconds_from_start": retention_round.2, "holds": retention_round.5, "size_mib_before": { "on_disk": retention_round.3.0, "in_use": retention_round.3.1 }, "size_mib_after": { "on_disk": retention_round.4.0, "in_use": retention_round.4.1 }, "incidents_left": incidents_left, "page_views_during": retention_round.0.json() },
        "size_mib_seeded": { "on_disk": size_seeded.0, "in_use": size_seeded.1 },
        "cpu_groups": groups,
    });
    report(&json);
    let name = if postgres {
        "scale-postgres.json"
    } else {
        "scale.json"
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    eprintln!("scale: wrote {}", path.display());
    drop(raw);
    drop(database);
}

fn report(j: &serde_json::Value) {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    println!(
        "\nRealmgate at scale ({}), {} connections",
        j["database"].as_str().unwrap_or(""),
        j["connections"]
    );
    let g = &j["cpu_groups"];
    if !g.is_null() {
        println!(
            "CPU groups: {} (portal: {}; database backend: {})",
            match g["shared"].as_bool() {
                Some(true) => "the database shares the portal's",
                Some(false) => "the database is in a group of its own",
                None => "the database is not on this machine",
            },
            g["portal"].as_str().unwrap_or("unknown"),
            g["database"].as_str().unwrap_or("unknown")
        );
    }
    let s = &j["seeded"];
    println!(
        "seeded {} accounts, {} live sessions, {} incidents, {} sign-outs, {} audit rows in {:.0} s",
        s["accounts"], s["live_sessions"], s["incidents"], s["sign_outs"], s["audit"], f(&s["seconds"])
    );
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>7}",
        "page", "p50 ms", "p99 ms", "req/s", "errors"
    );
    let row = |p: &serde_json::Value| {
        let errors: u64 = p["errors"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
        println!(
            "{:<40} {:>9.1} {:>9.1} {:>9.0} {:>7}",
            p["page"].as_str().unwrap_or(""),
            f(&p["p50_ms"]),
            f(&p["p99_ms"]),
            f(&p["per_second"]),
            errors
        );
    };
    row(&j["empty_dashboard"]);
    for p in j["pages"].as_array().into_iter().flatten() {
        row(p);
    }
    row(&j["cleanup"]["page_views_during"]);
    row(&j["retention"]["page_views_during"]);
    let empty = f(&j["empty_dashboard"]["per_second"]);
    let full = j["pages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["page"] == "user dashboard, a year in")
        .map_or(f64::NAN, |p| f(&p["per_second"]));
    println!(
        "user dashboard rate a year in / empty: {:.0}%",
        100.0 * full / empty
    );
    for e in j["exports"].as_array().into_iter().flatten() {
        println!(
            "export {:<30} {:>9} rows {:>8.0} rows/s, server peak {:.0} MiB",
            e["export"].as_str().unwrap_or(""),
            e["rows"],
            f(&e["rows_per_second"]),
            f(&e["server_peak_mib"])
        );
    }
    let m = &j["memory_mib"];
    println!(
        "server memory: {:.0} MiB at start, peak {:.0} MiB before the exports, {:.0} MiB after",
        f(&m["start"]),
        f(&m["peak_before_exports"]),
        f(&m["peak_after_exports"])
    );
    let si = &j["sign_in"];
    println!(
        "sign-in ({} at {} connections): p50 {:.0} ms, p99 {:.0} ms",
        si["count"],
        j["connections"],
        f(&si["p50_ms"]),
        f(&si["p99_ms"])
    );
    let c = &j["cleanup"];
    println!(
        "cleanup: {} of {} expired sessions ended; {}",
        c["ended"],
        c["expired_sessions"],
        c["log"].as_str().unwrap_or("")
    );
    for (name, h) in [
        ("cleanup", &j["cleanup"]["holds"]),
        ("retention", &j["retention"]["holds"]),
    ] {
        let longest: Vec<String> = h["longest"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                format!(
                    "{:.0} ms {} (batch {})",
                    f(&b["ms"]),
                    b["step"].as_str().unwrap_or(""),
                    b["batch"]
                )
            })
            .collect();
        println!(
            "{name} holds: {} batches, p50 {:.1} ms, p99 {:.1} ms, {} over 50 ms; longest: {}",
            h["batches"],
            f(&h["p50_ms"]),
            f(&h["p99_ms"]),
            h["over_50ms"],
            longest.join(", ")
        );
        for (step, s) in h["steps"].as_object().into_iter().flatten() {
            println!(
                "  {step:<20} {:>6} batches, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                s["batches"],
                f(&s["p50_ms"]),
                f(&s["p99_ms"]),
                f(&s["max_ms"])
            );
        }
    }
    let r = &j["retention"];
    println!(
        "retention 30d: {}; size {:.0} MiB on disk / {:.0} MiB in use before, {:.0} / {:.0} after; {} incidents left",
        r["log"].as_str().unwrap_or(""), f(&r["size_mib_before"]["on_disk"]), f(&r["size_mib_before"]["in_use"]), f(&r["size_mib_after"]["on_disk"]), f(&r["size_mib_after"]["in_use"]), r["incidents_left"]
    );
}
