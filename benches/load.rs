//! `cargo bench --bench load [-- --accounts N --connections C --seconds S --storm S --honest H
//! --password-storm P --database sqlite|postgres --instances N --api]` (several instances:
//! PostgreSQL, behind nginx); `REALMGATE_LOAD_BIN=path` runs that server binary instead of this
//! commit's release build (before/after comparisons). `--api` runs the api realm's figures
//! instead: token sign-ins per second, then `GET /api/v1/me` and `/dashboard` views side by
//! side (`target/load-api.json`).
//!
//! One repeatable load run against the release `realmgate` binary on a random loopback port
//! with a temporary database: seeding, sign-in of every account, page views with a
//! cross-account check, the static-file ceiling, a sign-in storm, honest sign-ins before and
//! during a storm of one account's current-password checks, and the server's peak memory.
//! Prints one table (the password storm's figures side by side, before and during) and writes
//! the same figures to `target/load.json` (`load-postgres.json`, `load-postgres-N.json`). Every loop is bounded
//! by count or time; all traffic goes to 127.0.0.1.
// A benchmark stops at the first thing that goes wrong, with a message saying what.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Http = Client<HttpConnector, Full<Bytes>>;

#[path = "../tests/common/nginx.rs"]
mod nginx;
#[path = "load/scale.rs"]
mod scale;
use nginx::free_port;

struct Options {
    accounts: usize,
    connections: usize,
    seconds: u64,
    storm_connections: usize,
    /// Honest connections of the password storm phase, each signing in as its own account.
    honest: usize,
    /// The attacker's connections in the password storm phase, all one account.
    password_storm: usize,
    /// `--database postgres`: a PostgreSQL database (on `REALMGATE_TEST_POSTGRES`, or a
    /// throwaway cluster this run starts) instead of a SQLite file.
    postgres: bool,
    /// `--instances N` (PostgreSQL): N servers on the one database behind nginx.
    instances: usize,
    /// `--api`: the api realm's run.
    api: bool,
    /// `--scale`: the portal after a year (`scale.rs`); `--fraction D` seeds 1/D of it.
    scale: bool,
    fraction: i64,
    /// `--seed-only`: seed the year, print where the database is, keep it and stop (to read
    /// query plans against it with `sqlite3`).
    seed_only: bool,
}

fn options() -> Options {
    let mut o = Options {
        accounts: 1000,
        connections: 64,
        seconds: 10,
        storm_connections: 32,
        honest: 8,
        password_storm: 32,
        postgres: false,
        instances: 1,
        api: false,
        scale: false,
        fraction: 1,
        seed_only: false,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = || args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match args[i].as_str() {
            "--accounts" => o.accounts = value().expect("--accounts N") as usize,
            "--connections" => o.connections = value().expect("--connections N") as usize,
            "--seconds" => o.seconds = value().expect("--seconds N"),
            "--storm" => o.storm_connections = value().expect("--storm N") as usize,
            "--honest" => o.honest = value().expect("--honest N") as usize,
            "--instances" => o.instances = value().expect("--instances N") as usize,
            "--api" => {
                o.api = true;
                i += 1;
                continue;
            }
            "--scale" => {
                o.scale = true;
                i += 1;
                continue;
            }
            "--fraction" => o.fraction = value().expect("--fraction D") as i64,
            "--seed-only" => o.seed_only = true,
            "--database" => {
                o.postgres = match args.get(i + 1).map(String::as_str) {
                    Some("postgres") => true,
                    Some("sqlite") => false,
                    _ => panic!("--database sqlite|postgres"),
                };
            }
            "--password-storm" => {
                o.password_storm = value().expect("--password-storm N") as usize;
            }
            _ => {
                i += 1;
                continue; // cargo passes --bench; ignore what is not ours
            }
        }
        i += 2;
    }
    // Each honest loop of the password storm has an account of its own: loops sharing one
    // would meet in its lockout count (every attempt counts against the email before its
    // password is checked), which is not what the phase measures.
    assert!(
        o.honest <= o.accounts,
        "--honest {} needs at least as many --accounts",
        o.honest
    );
    assert!(
        o.instances == 1 || o.postgres,
        "--instances needs --database postgres"
    );
    o
}

/// What the client talks to: one server, or several behind nginx; and the database.
struct Server {
    children: Vec<Child>,
    nginx: Option<Child>,
    base: String,
    _database: Database,
    _dirs: Vec<tempfile::TempDir>,
}

impl Server {
    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(nginx) = self.nginx.as_mut() {
            nginx::stop(nginx);
        }
        for child in self.children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The run's database: a SQLite file, or a PostgreSQL database (dropped at the end) on a
/// server of `REALMGATE_TEST_POSTGRES` or on a cluster this run started (stopped at the end).
struct Database {
    url: String,
    postgres: Option<(String, String)>,
    cluster: Option<(tempfile::TempDir, String)>,
}

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-test-cluster.sh")
}

impl Database {
    fn new(dir: &std::path::Path, postgres: bool) -> Self {
        if !postgres {
            return Self {
                url: dir.join("load.db").to_str().unwrap().to_owned(),
                postgres: None,
                cluster: None,
            };
        }
        let (server, cluster) = match std::env::var("REALMGATE_TEST_POSTGRES") {
            Ok(url) => (url, None),
            Err(_) => {
                let dir = tempfile::tempdir().unwrap();
                let port = free_port().to_string();
                let out = Command::new(script())
                    .args(["start", dir.path().to_str().unwrap()])
                    .env("PGPORT_TEST", &port)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "starting PostgreSQL: {out:?}");
                let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
                (url, Some((dir, port)))
            }
        };
        use diesel::prelude::*;
        let name = "rg_load";
        let mut admin = diesel::PgConnection::establish(&server).unwrap();
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        let (base, _) = server.rsplit_once('/').unwrap();
        Self {
            url: format!("{base}/{name}"),
            postgres: Some((server, name.to_owned())),
            cluster,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        use diesel::prelude::*;
        if let Some((server, name)) = &self.postgres {
            if let Ok(mut admin) = diesel::PgConnection::establish(server) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
        if let Some((dir, port)) = &self.cluster {
            let _ = Command::new(script())
                .args(["stop", dir.path().to_str().unwrap()])
                .env("PGPORT_TEST", port)
                .output();
        }
    }
}

fn realmgate(dir: &std::path::Path, database_url: &str) -> Command {
    // REALMGATE_LOAD_BIN measures another build (an older commit, say) with this same client.
    let bin = std::env::var_os("REALMGATE_LOAD_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_realmgate").into());
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REALMGATE_DATABASE_URL", database_url)
        .env("REALMGATE_SECRET_KEY", "ab".repeat(64))
        .env("REALMGATE_MAIL", "log")
        .env("RUST_LOG", "warn")
        .current_dir(dir);
    cmd
}

/// Seeds `n` accounts (and a few admins, and the password storm's attacker) straight into the
/// database: one real Argon2id hash of the SPEC's parameters, shared, so seeding 10,000
/// accounts takes seconds.
fn seed(database_url: &str, n: usize, admins: usize) {
    use diesel::prelude::*;
    use realmgate::db::schema::accounts as a;
    let pool = realmgate::db::connect(database_url).unwrap();
    let hash = realmgate::app::auth::password::hash_now(
        &realmgate::domain::config::HashParams::spec(),
        PASSWORD,
    )
    .unwrap();
    let now = chrono::Utc::now().naive_utc();
    let mut conn = pool.get().unwrap();
    conn.write_transaction(|conn| {
        for i in 0..=n + admins {
            let (email, admin) = if i < n {
                (format!("user{i}@load.example"), false)
            } else if i < n + admins {
                (format!("admin{}@load.example", i - n), true)
            } else {
                (ATTACKER.to_owned(), false)
            };
            diesel::insert_into(a::table)
                .values((
                    a::email.eq(&email),
                    a::name.eq(format!("Load {i}")),
                    a::password_hash.eq(&hash),
                    a::is_admin.eq(admin),
                    a::email_confirmed_at.eq(Some(now)),
                    a::created_at.eq(now),
                ))
                .execute(conn)?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
}

const PASSWORD: &str = "load test password violet marmalade";
/// The password storm's own account: apart from the honest ones, so that its lockout and its
/// checks' limits are its own.
const ATTACKER: &str = "attacker@load.example";

fn start(dir: tempfile::TempDir, database: Database, instances: usize) -> Server {
    // With several instances the public URL is nginx's, so each binds a port chosen here.
    let front = (instances > 1).then(free_port);
    let mut children = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..instances {
        let port = if front.is_some() { free_port() } else { 0 };
        let mut cmd = realmgate(dir.path(), &database.url);
        cmd.env("REALMGATE_BIND", format!("127.0.0.1:{port}"))
            // Every attempt is counted against the IP before its password is checked, so 64
            // sign-ins in flight at once from this one address would trip the default IP
            // lock of 50 (docs/security.md says so). The load comes from one IP.
            .env("REALMGATE_IP_MAX_FAILURES", "1000000")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(front) = front {
            cmd.env("REALMGATE_PUBLIC_URL", format!("http://127.0.0.1:{front}"));
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
        ports.push(if front.is_some() {
            port
        } else {
            base.rsplit(':').next().unwrap().parse().unwrap()
        });
        children.push(child);
    }
    let mut dirs = vec![dir];
    let (base, nginx) = match front {
        None => (format!("http://127.0.0.1:{}", ports[0]), None),
        Some(front) => {
            let conf_dir = tempfile::tempdir().unwrap();
            let nginx = nginx::start(conf_dir.path(), front, &ports);
            dirs.push(conf_dir);
            (format!("http://127.0.0.1:{front}"), Some(nginx))
        }
    };
    Server {
        children,
        nginx,
        base,
        _database: database,
        _dirs: dirs,
    }
}

/// One browser: its session cookie and, if it keeps one, its device cookie.
#[derive(Clone, Default)]
struct Jar {
    session: Rc<RefCell<Option<String>>>,
    /// `None` for the jars of the earlier phases, whose requests stay as they were when their
    /// figures were first taken.
    device: Option<Rc<RefCell<Option<String>>>>,
}

impl Jar {
    /// A browser that keeps `realmgate_device`, as a real one does: once it has signed in, its
    /// sign-ins count against its own budget for the email and go on while the email is
    /// locked (docs/security.md), which is what a persistent attacker's browser has.
    fn keeping_device() -> Jar {
        Jar {
            session: Rc::default(),
            device: Some(Rc::default()),
        }
    }

    fn take_from(&self, headers: &hyper::HeaderMap) {
        for v in headers.get_all(hyper::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let value = |rest: &str| Some(rest.split(';').next().unwrap_or("").to_owned());
            if let Some(rest) = v.strip_prefix("realmgate_session=") {
                *self.session.borrow_mut() = value(rest);
            } else if let (Some(device), Some(rest)) =
                (&self.device, v.strip_prefix("realmgate_device="))
            {
                *device.borrow_mut() = value(rest);
            }
        }
    }

    fn cookie_header(&self) -> Option<String> {
        let session = self.session.borrow();
        let device = self.device.as_ref().and_then(|d| d.borrow().clone());
        match (session.as_ref(), device) {
            (None, None) => None,
            (Some(s), None) => Some(format!("realmgate_session={s}")),
            (None, Some(d)) => Some(format!("realmgate_device={d}")),
            (Some(s), Some(d)) => Some(format!("realmgate_session={s}; realmgate_device={d}")),
        }
    }
}

async fn request(
    http: &Http,
    jar: &Jar,
    method: hyper::Method,
    url: &str,
    form: Option<String>,
) -> Result<(u16, String), String> {
    let (status, _, body) = send(http, jar, method, url, form).await?;
    Ok((status, body))
}

/// `request`, with the answer's `Location`.
async fn send(
    http: &Http,
    jar: &Jar,
    method: hyper::Method,
    url: &str,
    form: Option<String>,
) -> Result<(u16, Option<String>, String), String> {
    let mut req = hyper::Request::builder().method(method).uri(url);
    if let Some(c) = jar.cookie_header() {
        req = req.header(hyper::header::COOKIE, c);
    }
    let body = match form {
        Some(f) => {
            req = req.header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
            Full::new(Bytes::from(f))
        }
        None => Full::new(Bytes::new()),
    };
    let res = http
        .request(req.body(body).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    jar.take_from(res.headers());
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

fn csrf_in(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    page.find(marker)
        .map(|i| {
            page[i + marker.len()..]
                .split('"')
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default()
}

/// GET the sign-in form, then POST it with the form's CSRF token. `Ok` with how long the POST
/// took: the Argon2id verification is in it, the form's GET is not.
async fn sign_in(
    http: &Http,
    base: &str,
    jar: &Jar,
    login: &str,
    email: &str,
) -> Result<Duration, String> {
    let (_, page) = request(
        http,
        jar,
        hyper::Method::GET,
        &format!("{base}{login}"),
        None,
    )
    .await?;
    let form = format!(
        "email={}&password={}&csrf_token={}",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+"),
        csrf_in(&page)
    );
    let posted = Instant::now();
    let (status, _) = request(
        http,
        jar,
        hyper::Method::POST,
        &format!("{base}{login}"),
        Some(form),
    )
    .await?;
    if status == 303 {
        Ok(posted.elapsed())
    } else {
        Err(format!("sign-in answered {status}"))
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

#[derive(Default)]
struct Run {
    count: u64,
    errors: u64,
    wrong_account: u64,
    /// What the errors were: a status other than 200, or the client's error.
    error_kinds: std::collections::BTreeMap<String, u64>,
}

/// `connections` loops for `seconds`, each GETting a page of a random signed-in account (or the
/// static file) and checking that the page shows that account's own email.
async fn views(
    http: &Http,
    base: &str,
    jars: &[(Jar, String)],
    admins: &[(Jar, String)],
    connections: usize,
    seconds: u64,
    static_only: bool,
) -> (Run, Histogram<u64>, Histogram<u64>, f64) {
    let hist = Rc::new(RefCell::new(histogram()));
    let admin_hist = Rc::new(RefCell::new(histogram()));
    let run = Rc::new(RefCell::new(Run::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (http, hist, admin_hist, run) =
            (http.clone(), hist.clone(), admin_hist.clone(), run.clone());
        let base = base.to_owned();
        let jars = jars.to_vec();
        let admins = admins.to_vec();
        tasks.push(async move {
            let mut n: u64 = c as u64 * 7919;
            while Instant::now() < deadline {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (jar, email, path) = if static_only {
                    (&jars[0].0, "", "/static/style.css")
                } else if !admins.is_empty() && n % 100 == 0 {
                    let (j, e) = &admins[(n >> 33) as usize % admins.len()];
                    (j, e.as_str(), "/admin")
                } else {
                    let (j, e) = &jars[(n >> 33) as usize % jars.len()];
                    (j, e.as_str(), "/dashboard")
                };
                let t = Instant::now();
                let outcome = request(
                    &http,
                    jar,
                    hyper::Method::GET,
                    &format!("{base}{path}"),
                    None,
                )
                .await;
                let micros = t.elapsed().as_micros() as u64;
                let mut r = run.borrow_mut();
                r.count += 1;
                match outcome {
                    Ok((200, body)) => {
                        let _ = hist.borrow_mut().record(micros.max(1));
                        if path == "/admin" {
                            let _ = admin_hist.borrow_mut().record(micros.max(1));
                        }
                        if !static_only && !body.contains(email) {
                            r.wrong_account += 1;
                        }
                    }
                    Ok((status, _)) => {
                        r.errors += 1;
                        *r.error_kinds.entry(format!("status {status}")).or_default() += 1;
                    }
                    Err(e) => {
                        r.errors += 1;
                        *r.error_kinds.entry(e).or_default() += 1;
                    }
                }
            }
        });
    }
    futures_util::future::join_all(tasks).await;
    let elapsed = started.elapsed().as_secs_f64();
    let run = Rc::try_unwrap(run).ok().unwrap().into_inner();
    let hist = Rc::try_unwrap(hist).ok().unwrap().into_inner();
    let admin_hist = Rc::try_unwrap(admin_hist).ok().unwrap().into_inner();
    (run, hist, admin_hist, elapsed)
}

/// Honest sign-ins: what the honest loops of the password storm phase saw.
struct SignIns {
    /// The POST /login of each sign-in that succeeded.
    hist: Histogram<u64>,
    count: u64,
    /// The sign-ins that did not succeed, by what they answered.
    failures: std::collections::BTreeMap<String, u64>,
    seconds: f64,
}

/// `connections` loops until `deadline`, loop `c` signing in again and again as `user{c}`,
/// each time as a new browser, as people arriving do.
async fn honest_sign_ins(
    http: &Http,
    base: &str,
    connections: usize,
    deadline: Instant,
) -> SignIns {
    let hist = Rc::new(RefCell::new(histogram()));
    let count = Rc::new(RefCell::new(0u64));
    let failures = Rc::new(RefCell::new(std::collections::BTreeMap::new()));
    let started = Instant::now();
    futures_util::future::join_all((0..connections).map(|c| {
        let (http, base) = (http.clone(), base.to_owned());
        let (hist, count, failures) = (hist.clone(), count.clone(), failures.clone());
        async move {
            let email = format!("user{c}@load.example");
            while Instant::now() < deadline {
                match sign_in(&http, &base, &Jar::default(), "/login", &email).await {
                    Ok(posted) => {
                        let micros = posted.as_micros() as u64;
                        let _ = hist.borrow_mut().record(micros.max(1));
                        *count.borrow_mut() += 1;
                    }
                    Err(e) => *failures.borrow_mut().entry(e).or_default() += 1,
                }
            }
        }
    }))
    .await;
    let done = "the honest loops are over";
    SignIns {
        hist: Rc::try_unwrap(hist).expect(done).into_inner(),
        count: Rc::try_unwrap(count).expect(done).into_inner(),
        failures: Rc::try_unwrap(failures).expect(done).into_inner(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// What the attacker's connections got.
#[derive(Default)]
struct PasswordStorm {
    /// Answers to POST /account/password, by status.
    checks: std::collections::BTreeMap<u16, u64>,
    /// Answers to GET /account/password other than the form, by status.
    form_refusals: std::collections::BTreeMap<u16, u64>,
    /// Answers that said the session was over.
    sessions_ended: u64,
    /// Sign-ins again after a session ended.
    re_sign_ins: u64,
    /// Sign-ins again that did not sign in, by what they answered.
    re_sign_in_failures: std::collections::BTreeMap<String, u64>,
    /// Requests that got no answer, by the client's error.
    errors: std::collections::BTreeMap<String, u64>,
    /// Forms fetched without posting them (the control run).
    views: u64,
}

/// How long an attacker's connection waits after a request that got it nowhere (a refused
/// sign-in, no form, no answer) before the next one. Retrying those at once would turn a storm
/// of password checks into a flood of cheap refusals, which is a different measurement.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Whether an answer says the session is over: the guard's 401 for a POST, or a redirect to
/// the sign-in page.
fn session_ended(base: &str, status: u16, location: Option<&str>) -> bool {
    let to_login =
        location.is_some_and(|l| l.strip_prefix(base).unwrap_or(l).starts_with("/login"));
    status == 401 || ((300..400).contains(&status) && to_login)
}

/// A new password that passes the strength check: five groups of five random letters, about
/// 117 bits, with nothing to URL-encode. The server may run its cheap checks on the new
/// password before the current one's Argon2id; a weak one would turn every check into a cheap
/// refusal and the storm into no hashing at all.
fn passphrase() -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| {
            (0..5)
                .map(|_| char::from(rng.gen_range(b'a'..=b'z')))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// One attacker connection until `deadline`: its jar is signed in as the attacker; it asks for
/// the password form and posts a wrong current password, again and again, and signs in again
/// whenever an answer says its session is over.
/// One attacker connection. With `post` false it only fetches the form, again and again: the
/// control, the same connections' request load without a single password check.
async fn password_storm_connection(
    http: Http,
    base: String,
    jar: Jar,
    deadline: Instant,
    tally: Rc<RefCell<PasswordStorm>>,
    post: bool,
) {
    let url = format!("{base}/account/password");
    let pause =
        || tokio::time::sleep(RETRY_PAUSE.min(deadline.saturating_duration_since(Instant::now())));
    let mut signed_in = true;
    let mut guess = 0u64;
    while Instant::now() < deadline {
        if !signed_in {
            // The ended session's cookie is no use; the device cookie stays, as in a browser.
            *jar.session.borrow_mut() = None;
            match sign_in(&http, &base, &jar, "/login", ATTACKER).await {
                Ok(_) => {
                    signed_in = true;
                    tally.borrow_mut().re_sign_ins += 1;
                }
                Err(e) => {
                    *tally.borrow_mut().re_sign_in_failures.entry(e).or_default() += 1;
                    pause().await;
                    continue;
                }
            }
        }
        let token = match send(&http, &jar, hyper::Method::GET, &url, None).await {
            Ok((200, _, page)) => csrf_in(&page),
            Ok((status, location, _)) => {
                *tally.borrow_mut().form_refusals.entry(status).or_default() += 1;
                if session_ended(&base, status, location.as_deref()) {
                    tally.borrow_mut().sessions_ended += 1;
                    signed_in = false;
                } else {
                    pause().await;
                }
                continue;
            }
            Err(e) => {
                *tally.borrow_mut().errors.entry(e).or_default() += 1;
                pause().await;
                continue;
            }
        };
        if !post {
            tally.borrow_mut().views += 1;
            continue;
        }
        guess += 1;
        let new_password = passphrase();
        let form = serde_urlencoded::to_string([
            ("current_password", format!("not the password {guess}")),
            ("new_password", new_password.clone()),
            ("new_password_confirm", new_password),
            ("csrf_token", token),
        ])
        .expect("the password form encodes");
        match send(&http, &jar, hyper::Method::POST, &url, Some(form)).await {
            Ok((status, location, _)) => {
                let mut t = tally.borrow_mut();
                *t.checks.entry(status).or_default() += 1;
                if session_ended(&base, status, location.as_deref()) {
                    t.sessions_ended += 1;
                    signed_in = false;
                }
            }
            Err(e) => {
                *tally.borrow_mut().errors.entry(e).or_default() += 1;
                pause().await;
            }
        }
    }
}

/// CPU time the servers have used so far (user + system), in microseconds, all instances
/// together.
fn cpu_micros(pids: &[u32]) -> u64 {
    pids.iter().map(|pid| cpu_micros_of(*pid)).sum()
}

fn cpu_micros_of(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised name start at field 3; utime and stime are 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or("", |(_, rest)| rest)
        .split(' ')
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // The kernel reports USER_HZ ticks, 100 a second on Linux.
    ticks * 10_000
}

/// The largest peak resident memory of any instance.
fn peak_memory_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .map(|pid| peak_memory_kib_of(*pid))
        .max()
        .unwrap_or(0)
}

fn peak_memory_kib_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

/// What the machine's cores allow: Argon2id hashes with the SPEC's parameters (a
/// verification does the same work) per second with every core hashing at once, and the
/// milliseconds one hash then takes. The best of three short rounds: on a shared machine
/// noise only ever makes hashing slower.
fn argon2_ceiling(cores: usize) -> (f64, f64) {
    let rounds = 5;
    let best = (0..3)
        .map(|_| {
            let started = Instant::now();
            let threads: Vec<_> = (0..cores)
                .map(|_| {
                    std::thread::spawn(move || {
                        let params = realmgate::domain::config::HashParams::spec();
                        for _ in 0..rounds {
                            realmgate::app::auth::password::hash_now(&params, PASSWORD).unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            (cores * rounds) as f64 / started.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max);
    (best, cores as f64 * 1000.0 / best)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// One api request: a bearer token and a JSON body, as an app sends them.
async fn api_request(
    http: &Http,
    method: hyper::Method,
    url: &str,
    token: Option<&str>,
    json: Option<String>,
) -> Result<(u16, String), String> {
    let mut req = hyper::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match json {
        Some(j) => {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(j))
        }
        None => Full::new(Bytes::new()),
    };
    let res = http
        .request(req.body(body).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// `connections` loops for `seconds`, each GETting `/api/v1/me` with a random account's token
/// and checking that the answer names that account.
async fn api_views(
    http: &Http,
    base: &str,
    tokens: &[(String, String)],
    connections: usize,
    seconds: u64,
) -> (Run, Histogram<u64>, f64) {
    let hist = Rc::new(RefCell::new(histogram()));
    let run = Rc::new(RefCell::new(Run::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    futures_util::future::join_all((0..connections).map(|c| {
        let (http, hist, run) = (http.clone(), hist.clone(), run.clone());
        let url = format!("{base}/api/v1/me");
        async move {
            let mut n: u64 = c as u64 * 7919;
            while Instant::now() < deadline {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (token, email) = &tokens[(n >> 33) as usize % tokens.len()];
                let t = Instant::now();
                let outcome = api_request(&http, hyper::Method::GET, &url, Some(token), None).await;
                let micros = t.elapsed().as_micros() as u64;
                let mut r = run.borrow_mut();
                r.count += 1;
                match outcome {
                    Ok((200, body)) => {
                        let _ = hist.borrow_mut().record(micros.max(1));
                        if !body.contains(&format!("\"email\":\"{email}\"")) {
                            r.wrong_account += 1;
                        }
                    }
                    Ok((status, _)) => {
                        r.errors += 1;
                        *r.error_kinds.entry(format!("status {status}")).or_default() += 1;
                    }
                    Err(e) => {
                        r.errors += 1;
                        *r.error_kinds.entry(e).or_default() += 1;
                    }
                }
            }
        }
    }))
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let run = Rc::try_unwrap(run).ok().unwrap().into_inner();
    let hist = Rc::try_unwrap(hist).ok().unwrap().into_inner();
    (run, hist, elapsed)
}

/// `--api`: every account signs in twice, in a browser and as an app (the token sign-ins are
/// timed), then the dashboard and `/api/v1/me` are viewed, one phase after the other with the
/// same connections and length, on the same server.
fn api_run(o: &Options) {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::new(dir.path(), o.postgres);
    let out = realmgate(dir.path(), &database.url)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (argon2_per_second, argon2_ms) = argon2_ceiling(cores);
    seed(&database.url, o.accounts, 0);
    let server = start(dir, database, o.instances);
    let base = server.base.clone();
    let pids = server.pids();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(async {
        let http: Http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build_http();
        let emails: Vec<String> = (0..o.accounts).map(|i| format!("user{i}@load.example")).collect();
        eprintln!("load --api: {} token sign-ins", o.accounts);
        let hist = Rc::new(RefCell::new(histogram()));
        let tokens = Rc::new(RefCell::new(Vec::new()));
        let failures = Rc::new(RefCell::new(0u64));
        let next = Rc::new(RefCell::new(0usize));
        let started = Instant::now();
        futures_util::future::join_all((0..o.connections.max(1)).map(|_| {
            let (http, base, emails) = (http.clone(), base.clone(), &emails);
            let (hist, tokens, failures, next) =
                (hist.clone(), tokens.clone(), failures.clone(), next.clone());
            async move {
                loop {
                    let i = {
                        let mut n = next.borrow_mut();
                        *n += 1;
                        *n - 1
                    };
                    let Some(email) = emails.get(i) else { break };
                    let body = serde_json::json!({"email": email, "password": PASSWORD, "device_name": "load"}).to_string();
                    let t = Instant::now();
                    let url = format!("{base}/api/v1/tokens");
                    match api_request(&http, hyper::Method::POST, &url, None, Some(body)).await {
                        Ok((201, answer)) => {
                            let _ = hist.borrow_mut().record(t.elapsed().as_micros().max(1) as u64);
                            let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
                            let token = v["token"].as_str().unwrap().to_owned();
                            tokens.borrow_mut().push((token, email.clone()));
                        }
                        _ => *failures.borrow_mut() += 1,
                    }
                }
            }
        }))
        .await;
        let token_secs = started.elapsed().as_secs_f64();
        let token_hist = hist.borrow().clone();
        let tokens = tokens.borrow().clone();
        let token_failures = *failures.borrow();

        eprintln!("load --api: browser sign-ins for the dashboard");
        let jars: Vec<(Jar, String)> = emails.iter().map(|e| (Jar::default(), e.clone())).collect();
        for chunk in jars.chunks(o.connections.max(1)) {
            futures_util::future::join_all(chunk.iter().map(|(jar, email)| {
                let (http, base) = (http.clone(), base.clone());
                async move { sign_in(&http, &base, jar, "/login", email).await.expect("browser sign-in") }
            }))
            .await;
        }
        eprintln!("load --api: /dashboard then /api/v1/me ({} s each)", o.seconds);
        let cpu = cpu_micros(&pids);
        let (dash, dash_hist, _, dash_secs) =
            views(&http, &base, &jars, &[], o.connections, o.seconds, false).await;
        let dash_cpu = (cpu_micros(&pids) - cpu) as f64 / dash.count.max(1) as f64;
        let cpu = cpu_micros(&pids);
        let (me, me_hist, me_secs) = api_views(&http, &base, &tokens, o.connections, o.seconds).await;
        let me_cpu = (cpu_micros(&pids) - cpu) as f64 / me.count.max(1) as f64;
        let view = |r: &Run, h: &Histogram<u64>, secs: f64, cpu: f64| {
            serde_json::json!({
                "per_second": r.count as f64 / secs, "p50_ms": ms(h, 0.5), "p99_ms": ms(h, 0.99),
                "server_cpu_us": cpu, "errors": r.errors, "error_kinds": r.error_kinds,
                "wrong_account": r.wrong_account,
            })
        };
        serde_json::json!({
            "machine": { "cores": cores, "argon2_ms": argon2_ms, "argon2_per_second_all_cores": argon2_per_second, "note": "load client and server share the machine" },
            "options": { "accounts": o.accounts, "connections": o.connections, "seconds": o.seconds, "database": if o.postgres { "postgres" } else { "sqlite" }, "instances": o.instances },
            "token_sign_in": { "count": tokens.len(), "failures": token_failures, "per_second": tokens.len() as f64 / token_secs, "p50_ms": ms(&token_hist, 0.5), "p99_ms": ms(&token_hist, 0.99) },
            "dashboard": view(&dash, &dash_hist, dash_secs, dash_cpu),
            "api_me": view(&me, &me_hist, me_secs, me_cpu),
            "peak_memory_mib": peak_memory_kib(&pids) as f64 / 1024.0,
        })
    });
    let f = |path: &[&str]| {
        let mut v = &report;
        for p in path {
            v = &v[*p];
        }
        v.as_f64().unwrap_or(0.0)
    };
    println!();
    println!(
        "Realmgate load run, api realm: {} accounts, {} connections, {} s per phase; {} × {}",
        o.accounts,
        o.connections,
        o.seconds,
        o.instances,
        if o.postgres { "PostgreSQL" } else { "SQLite" },
    );
    println!("{:<44} {:>12}", "figure", "value");
    for (label, value) in [
        (
            "Argon2id per second, all cores (ceiling)",
            f(&["machine", "argon2_per_second_all_cores"]),
        ),
        (
            "token sign-ins per second",
            f(&["token_sign_in", "per_second"]),
        ),
        (
            "token sign-ins / Argon2id ceiling",
            f(&["token_sign_in", "per_second"])
                / f(&["machine", "argon2_per_second_all_cores"]).max(0.001),
        ),
        ("token sign-in p50 (ms)", f(&["token_sign_in", "p50_ms"])),
        ("token sign-in p99 (ms)", f(&["token_sign_in", "p99_ms"])),
        ("token sign-in failures", f(&["token_sign_in", "failures"])),
    ] {
        println!("{label:<44} {value:>12.2}");
    }
    println!("{:<44} {:>12} {:>12}", "", "/dashboard", "/api/v1/me");
    for (label, key) in [
        ("per second", "per_second"),
        ("p50 (ms)", "p50_ms"),
        ("p99 (ms)", "p99_ms"),
        ("server CPU per request (µs)", "server_cpu_us"),
        ("errors", "errors"),
        ("answers naming another account", "wrong_account"),
    ] {
        println!(
            "{label:<44} {:>12.2} {:>12.2}",
            f(&["dashboard", key]),
            f(&["api_me", key])
        );
    }
    println!(
        "{:<44} {:>12.2}",
        "peak memory (MiB)",
        f(&["peak_memory_mib"])
    );
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&target);
    let path = target.join(if o.postgres {
        "load-api-postgres.json"
    } else {
        "load-api.json"
    });
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("figures written to {}", path.display());
    drop(server);
}

fn main() {
    let o = options();
    if o.api {
        api_run(&o);
        return;
    }
    if o.scale {
        // Its own phases are shorter: some forty pages are measured one after another.
        scale::run(o.postgres, o.fraction, o.seconds.min(5), o.seed_only);
        return;
    }
    let admins = 4;
    let dir = tempfile::tempdir().unwrap();
    let database = Database::new(dir.path(), o.postgres);
    let out = realmgate(dir.path(), &database.url)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let before = argon2_ceiling(cores);
    let t = Instant::now();
    seed(&database.url, o.accounts, admins);
    let seed_secs = t.elapsed().as_secs_f64();
    let server = start(dir, database, o.instances);
    let base = server.base.clone();
    let pids = server.pids();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(async move {
        let http: Http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build_http();

        // Sign-in of every account, through GET + POST /login, `connections` at a time.
        let jars: Vec<(Jar, String)> = (0..o.accounts)
            .map(|i| (Jar::default(), format!("user{i}@load.example")))
            .collect();
        let admin_jars: Vec<(Jar, String)> = (0..admins)
            .map(|i| (Jar::default(), format!("admin{i}@load.example")))
            .collect();
        eprintln!("load: signing in {} accounts (server pids {pids:?})", o.accounts);
        // `connections` loops, each signing in the next account not yet taken, so the
        // hashing threads always have work queued.
        let sign_in_hist = Rc::new(RefCell::new(histogram()));
        let failures = Rc::new(RefCell::new(0usize));
        let next = Rc::new(RefCell::new(0usize));
        let sign_in_cpu = cpu_micros(&pids);
        let started = Instant::now();
        futures_util::future::join_all((0..o.connections.max(1)).map(|_| {
            let (http, base, jars) = (http.clone(), base.clone(), &jars);
            let (hist, failures, next) = (sign_in_hist.clone(), failures.clone(), next.clone());
            async move {
                loop {
                    let i = {
                        let mut n = next.borrow_mut();
                        *n += 1;
                        *n - 1
                    };
                    let Some((jar, email)) = jars.get(i) else { break };
                    let t = Instant::now();
                    match sign_in(&http, &base, jar, "/login", email).await {
                        Ok(_) => {
                            let micros = t.elapsed().as_micros() as u64;
                            let _ = hist.borrow_mut().record(micros.max(1));
                        }
                        Err(_) => *failures.borrow_mut() += 1,
                    }
                }
            }
        }))
        .await;
        let sign_in_hist = sign_in_hist.borrow().clone();
        let failures = *failures.borrow();
        let sign_in_secs = started.elapsed().as_secs_f64();
        let sign_in_cpu = (cpu_micros(&pids) - sign_in_cpu) as f64 / 1000.0 / o.accounts as f64;
        // Again right after the sign-ins, with the server idle: the better of the two.
        let after = argon2_ceiling(cores);
        let (argon2_per_second, argon2_ms) = if after.0 > before.0 { after } else { before };
        for (jar, email) in &admin_jars {
            sign_in(&http, &base, jar, "/admin/login", email).await.expect("admin sign-in");
        }
        let memory_after_sign_in = peak_memory_kib(&pids);
        eprintln!("load: page views ({} s)", o.seconds);

        let cpu = cpu_micros(&pids);
        let (calm, calm_hist, calm_admin_hist, calm_secs) =
            views(&http, &base, &jars, &admin_jars, o.connections, o.seconds, false).await;
        let calm_cpu = (cpu_micros(&pids) - cpu) as f64 / calm.count.max(1) as f64;
        eprintln!("load: static file ({} s)", o.seconds);
        let cpu = cpu_micros(&pids);
        let (stat, stat_hist, _, stat_secs) =
            views(&http, &base, &jars, &[], o.connections, o.seconds, true).await;
        let stat_cpu = (cpu_micros(&pids) - cpu) as f64 / stat.count.max(1) as f64;

        eprintln!("load: sign-in storm ({} s)", o.seconds);
        // The storm: page views go on while `storm_connections` sign in continuously.
        let storm_deadline = Instant::now() + Duration::from_secs(o.seconds);
        let storm_count = Rc::new(RefCell::new(0u64));
        let storm = futures_util::future::join_all((0..o.storm_connections).map(|c| {
            let (http, base, count) = (http.clone(), base.clone(), storm_count.clone());
            let accounts = o.accounts;
            async move {
                let mut i = c;
                while Instant::now() < storm_deadline {
                    let jar = Jar::default();
                    if sign_in(&http, &base, &jar, "/login", &format!("user{}@load.example", i % accounts)).await.is_ok() {
                        *count.borrow_mut() += 1;
                    }
                    i += o.storm_connections;
                }
            }
        }));
        let storm_views = views(&http, &base, &jars, &admin_jars, o.connections, o.seconds, false);
        let (_, (during, during_hist, _, during_secs)) = futures_util::future::join(storm, storm_views).await;
        let storm_sign_ins = *storm_count.borrow();

        eprintln!(
            "load: password storm, honest sign-ins alone then with {} attacker connections ({} s each)",
            o.password_storm, o.seconds
        );
        let before_storm = honest_sign_ins(
            &http,
            &base,
            o.honest,
            Instant::now() + Duration::from_secs(o.seconds),
        )
        .await;
        // One at a time and before the clock starts: parallel first sign-ins of one account
        // would each count against its email before their passwords are checked, and lock it.
        let attacker_jars: Vec<Jar> =
            (0..o.password_storm).map(|_| Jar::keeping_device()).collect();
        for jar in &attacker_jars {
            sign_in(&http, &base, jar, "/login", ATTACKER)
                .await
                .expect("the attacker's first sign-in");
        }
        // The control: the same connections fetch the form without posting it, so the
        // difference from this to the storm is what the password checks themselves cost.
        let control_tally = Rc::new(RefCell::new(PasswordStorm::default()));
        let deadline = Instant::now() + Duration::from_secs(o.seconds);
        let control = futures_util::future::join_all(attacker_jars.iter().map(|jar| {
            let jar = jar.clone();
            password_storm_connection(
                http.clone(),
                base.clone(),
                jar,
                deadline,
                control_tally.clone(),
                false,
            )
        }));
        let (_, during_views) =
            futures_util::future::join(control, honest_sign_ins(&http, &base, o.honest, deadline))
                .await;
        let control_views = control_tally.borrow().views;
        let tally = Rc::new(RefCell::new(PasswordStorm::default()));
        let deadline = Instant::now() + Duration::from_secs(o.seconds);
        let storm_started = Instant::now();
        let attack = futures_util::future::join_all(attacker_jars.into_iter().map(|jar| {
            password_storm_connection(
                http.clone(),
                base.clone(),
                jar,
                deadline,
                tally.clone(),
                true,
            )
        }));
        let (_, during_storm) =
            futures_util::future::join(attack, honest_sign_ins(&http, &base, o.honest, deadline))
                .await;
        let storm_secs = storm_started.elapsed().as_secs_f64();
        let tally = Rc::try_unwrap(tally).ok().expect("the attack is over").into_inner();
        let honest_json = |s: &SignIns| {
            let per_second = s.count as f64 / s.seconds.max(0.001);
            let failures = s.failures.values().sum::<u64>();
            serde_json::json!({
                "sign_ins": s.count,
                "per_second": per_second,
                "p50_ms": ms(&s.hist, 0.5),
                "p99_ms": ms(&s.hist, 0.99),
                "failures": failures,
                "failure_kinds": s.failures,
            })
        };
        let checks = tally.checks.values().sum::<u64>();
        let password_storm = serde_json::json!({
            "honest_connections": o.honest,
            "storm_connections": o.password_storm,
            "before": honest_json(&before_storm),
            "during_views": honest_json(&during_views),
            "control_views_per_second": control_views as f64 / o.seconds.max(1) as f64,
            "during": honest_json(&during_storm),
            "storm": {
                "checks": checks,
                "checks_per_second": checks as f64 / storm_secs.max(0.001),
                "check_statuses": tally.checks,
                "form_refusals": tally.form_refusals,
                "sessions_ended": tally.sessions_ended,
                "re_sign_ins": tally.re_sign_ins,
                "re_sign_in_failures": tally.re_sign_in_failures.values().sum::<u64>(),
                "re_sign_in_failure_kinds": tally.re_sign_in_failures,
                "errors": tally.errors.values().sum::<u64>(),
                "error_kinds": tally.errors,
            },
        });

        serde_json::json!({
            "machine": { "cores": cores, "argon2_ms": argon2_ms, "argon2_per_second_all_cores": argon2_per_second, "note": "load client and server share the machine" },
            "options": { "accounts": o.accounts, "connections": o.connections, "seconds": o.seconds, "storm_connections": o.storm_connections, "honest": o.honest, "password_storm": o.password_storm, "database": if o.postgres { "postgres" } else { "sqlite" }, "instances": o.instances },
            "seed_seconds": seed_secs,
            "sign_in": { "count": o.accounts - failures, "failures": failures, "per_second": (o.accounts - failures) as f64 / sign_in_secs, "p50_ms": ms(&sign_in_hist, 0.5), "p99_ms": ms(&sign_in_hist, 0.99), "server_cpu_ms": sign_in_cpu },
            "page_views": { "per_second": calm.count as f64 / calm_secs, "p50_ms": ms(&calm_hist, 0.5), "p99_ms": ms(&calm_hist, 0.99), "p999_ms": ms(&calm_hist, 0.999), "server_cpu_us": calm_cpu, "admin_count": calm_admin_hist.len(), "admin_p50_ms": ms(&calm_admin_hist, 0.5), "admin_p99_ms": ms(&calm_admin_hist, 0.99), "errors": calm.errors, "error_kinds": calm.error_kinds, "wrong_account_pages": calm.wrong_account },
            "static": { "per_second": stat.count as f64 / stat_secs, "server_cpu_us": stat_cpu, "p50_ms": ms(&stat_hist, 0.5), "p99_ms": ms(&stat_hist, 0.99), "errors": stat.errors, "error_kinds": stat.error_kinds },
            "storm": { "page_views_per_second": during.count as f64 / during_secs, "page_view_p99_ms": ms(&during_hist, 0.99), "sign_ins_per_second": storm_sign_ins as f64 / o.seconds as f64, "errors": during.errors, "error_kinds": during.error_kinds, "wrong_account_pages": during.wrong_account },
            "password_storm": password_storm,
            "peak_memory_mib": { "after_sign_in": memory_after_sign_in as f64 / 1024.0, "end": peak_memory_kib(&pids) as f64 / 1024.0 },
        })
    });

    let r = &report;
    let f = |path: &[&str]| {
        let mut v = r;
        for p in path {
            v = &v[*p];
        }
        v.as_f64().unwrap_or(0.0)
    };
    let ratio = f(&["page_views", "per_second"]) / f(&["static", "per_second"]).max(1.0);
    let storm_ratio = f(&["storm", "page_view_p99_ms"]) / f(&["page_views", "p99_ms"]).max(0.001);
    println!();
    println!(
        "Realmgate load run: {} accounts, {} connections, {} s per phase, {} storm connections; {} × {}",
        o.accounts,
        o.connections,
        o.seconds,
        o.storm_connections,
        o.instances,
        if o.postgres { "PostgreSQL" } else { "SQLite" },
    );
    println!("{:<44} {:>12}", "figure", "value");
    for (label, value) in [
        ("seeding accounts (s)", f(&["seed_seconds"])),
        (
            "Argon2id hash, every core hashing (ms)",
            f(&["machine", "argon2_ms"]),
        ),
        (
            "Argon2id per second, all cores (ceiling)",
            f(&["machine", "argon2_per_second_all_cores"]),
        ),
        ("sign-ins per second", f(&["sign_in", "per_second"])),
        (
            "sign-ins / Argon2id ceiling",
            f(&["sign_in", "per_second"])
                / f(&["machine", "argon2_per_second_all_cores"]).max(0.001),
        ),
        ("sign-in p50 (ms)", f(&["sign_in", "p50_ms"])),
        ("sign-in p99 (ms)", f(&["sign_in", "p99_ms"])),
        (
            "server CPU per sign-in, Argon2id included (ms)",
            f(&["sign_in", "server_cpu_ms"]),
        ),
        ("sign-in failures", f(&["sign_in", "failures"])),
        (
            "page views per second (/dashboard, /admin)",
            f(&["page_views", "per_second"]),
        ),
        ("page view p50 (ms)", f(&["page_views", "p50_ms"])),
        ("page view p99 (ms)", f(&["page_views", "p99_ms"])),
        ("page view p99.9 (ms)", f(&["page_views", "p999_ms"])),
        ("  of which /admin views", f(&["page_views", "admin_count"])),
        ("  /admin view p50 (ms)", f(&["page_views", "admin_p50_ms"])),
        ("  /admin view p99 (ms)", f(&["page_views", "admin_p99_ms"])),
        (
            "server CPU per page view (µs)",
            f(&["page_views", "server_cpu_us"]),
        ),
        ("page view errors", f(&["page_views", "errors"])),
        (
            "pages showing another account",
            f(&["page_views", "wrong_account_pages"]),
        ),
        (
            "static file per second (ceiling)",
            f(&["static", "per_second"]),
        ),
        ("static p99 (ms)", f(&["static", "p99_ms"])),
        (
            "server CPU per static file (µs)",
            f(&["static", "server_cpu_us"]),
        ),
        ("page views / static", ratio),
        (
            "storm: page views per second",
            f(&["storm", "page_views_per_second"]),
        ),
        (
            "storm: page view p99 (ms)",
            f(&["storm", "page_view_p99_ms"]),
        ),
        ("storm: p99 / calm p99", storm_ratio),
        (
            "storm: sign-ins per second",
            f(&["storm", "sign_ins_per_second"]),
        ),
        ("storm: errors", f(&["storm", "errors"])),
        (
            "storm: pages showing another account",
            f(&["storm", "wrong_account_pages"]),
        ),
        (
            "peak memory, all sessions live (MiB)",
            f(&["peak_memory_mib", "after_sign_in"]),
        ),
        (
            "peak memory, end of run (MiB)",
            f(&["peak_memory_mib", "end"]),
        ),
    ] {
        println!("{label:<44} {value:>12.2}");
    }
    println!();
    println!(
        "password storm: {} honest connections, {} attacker connections on one account",
        o.honest, o.password_storm
    );
    println!(
        "{:<44} {:>12} {:>12} {:>12} {:>12}",
        "honest sign-ins (POST /login)", "before", "form views", "checks", "checks/before"
    );
    for (label, key) in [
        ("sign-in p50 (ms)", "p50_ms"),
        ("sign-in p99 (ms)", "p99_ms"),
        ("sign-ins per second", "per_second"),
        ("sign-in failures", "failures"),
    ] {
        let before = f(&["password_storm", "before", key]);
        let views = f(&["password_storm", "during_views", key]);
        let during = f(&["password_storm", "during", key]);
        // A ratio of failure counts, or to nothing, would read as a figure and is none.
        let ratio = if key == "failures" || before == 0.0 {
            String::new()
        } else {
            format!("{:.2}", during / before)
        };
        println!("{label:<44} {before:>12.2} {views:>12.2} {during:>12.2} {ratio:>12}");
    }
    println!(
        "{:<44} {:>12.2}",
        "control: form views per second",
        f(&["password_storm", "control_views_per_second"])
    );
    let storm = &r["password_storm"]["storm"];
    let mut rows = vec![
        (
            "storm: password checks".to_owned(),
            f(&["password_storm", "storm", "checks"]),
        ),
        (
            "storm: password checks per second".to_owned(),
            f(&["password_storm", "storm", "checks_per_second"]),
        ),
    ];
    // The statuses are whatever the server answered: one row each.
    for (key, label) in [
        ("check_statuses", "storm: checks answered"),
        ("form_refusals", "storm: password form answered"),
    ] {
        for (status, count) in storm[key].as_object().into_iter().flatten() {
            rows.push((format!("{label} {status}"), count.as_f64().unwrap_or(0.0)));
        }
    }
    for (label, key) in [
        ("storm: sessions ended", "sessions_ended"),
        ("storm: re-sign-ins", "re_sign_ins"),
        ("storm: re-sign-ins refused", "re_sign_in_failures"),
        ("storm: requests without an answer", "errors"),
    ] {
        rows.push((label.to_owned(), f(&["password_storm", "storm", key])));
    }
    for (label, value) in rows {
        println!("{label:<44} {value:>12.2}");
    }
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&target);
    // One file per setup, so the SQLite and PostgreSQL runs of one session sit side by side.
    let path = target.join(match (o.postgres, o.instances) {
        (false, _) => "load.json".to_owned(),
        (true, 1) => "load-postgres.json".to_owned(),
        (true, n) => format!("load-postgres-{n}.json"),
    });
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("figures written to {}", path.display());
    drop(server);
}
