//! `TestApp`: the production wiring (`startup::app`) over a fresh temporary database (a SQLite
//! file, or in the PostgreSQL half of the suite a database of its own), driven through
//! `actix_web::test` with one browser cookie jar shared by every "tab".
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, CookieJar, Key};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::test::{self, TestRequest};
use actix_web::web;
use actix_web::HttpMessage as _;
use diesel::prelude::*;
use realmgate::db::Backend;
use realmgate::domain::clock::Clock;
use realmgate::domain::config::{Config, HashParams};
use realmgate::web::cookies::{DEVICE as DEVICE_COOKIE, REMEMBER as REMEMBER_COOKIE};
use realmgate::web::startup::{app, AppState, SESSION_COOKIE};

pub const HOST: &str = "127.0.0.1:8080";
pub const PASSWORD: &str = "correct horse battery staple";
/// A fixed key: PostgreSQL needs one configured (SPEC §16), and tests need none random.
pub const TEST_KEY: &str = "7465737420736563726574206b6579207468617420697320736978747920666f757220627974657320617420746865206c65617374206f6b206f6b6f6b6f6b6f";

/// Every log line of this test binary, so tests can prove what never reaches the log.
static LOGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            LOGS.lock().unwrap().push(line);
        }
    }

    fn flush(&self) {}
}

pub fn install_log_capture() {
    if log::set_logger(&CaptureLogger).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// All log lines so far (of every test running in this binary).
pub fn logs() -> Vec<String> {
    LOGS.lock().unwrap().clone()
}

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Response {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    pub fn csrf_token(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("page has a csrf_token field") + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

#[track_caller]
pub fn assert_redirect_to(res: &Response, location: &str) {
    assert!(
        res.status == 303 || res.status == 302,
        "expected a redirect to {location}, got {} {}",
        res.status,
        res.body
    );
    assert_eq!(res.location(), location);
}

pub struct TestApp<S> {
    pub svc: S,
    pub state: web::Data<AppState>,
    pub clock: Clock,
    /// The browser's one session cookie value, shared by all its tabs.
    pub cookie: RefCell<Option<String>>,
    /// The `realmgate_remember` cookie, when the browser has one.
    pub remember: RefCell<Option<String>>,
    /// The `realmgate_device` cookie.
    pub device: RefCell<Option<String>>,
    pub peer: Cell<SocketAddr>,
    pub user_agent: RefCell<String>,
    // DROP DATABASE … WITH (FORCE) ends the connections background threads still hold.
    _db: TestDatabase,
    _dir: tempfile::TempDir,
}

/// `(realm, account_id, severity, email_attempted)` of a security incident.
pub type IncidentRow = (Option<String>, Option<i32>, String, Option<String>);

pub type Settings<'a> = &'a [(&'a str, &'a str)];

/// A fresh database for one test, of the backend this test binary runs on (`crate::BACKEND`):
/// a SQLite file in `dir`, or a PostgreSQL database of its own on the server named by
/// `REALMGATE_TEST_POSTGRES`, dropped when this is.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub fn new(dir: &std::path::Path, name: &str) -> Self {
        match crate::BACKEND {
            Backend::Sqlite => Self {
                url: dir.join(format!("{name}.db")).to_str().unwrap().to_owned(),
                postgres: None,
            },
            Backend::Postgres => Self::on_postgres(&postgres_server()),
        }
    }

    /// A fresh database on the PostgreSQL server at `server` (a URL whose path is a database
    /// the role may connect to, such as `/postgres`).
    pub fn on_postgres(server: &str) -> Self {
        let db = format!(
            "rg_test_{}",
            realmgate::domain::crypto::random_token::<9>()
                .to_ascii_lowercase()
                .replace('-', "_")
        );
        let mut admin = diesel::PgConnection::establish(server).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {db}"))
            .execute(&mut admin)
            .unwrap();
        let (base, _) = server.rsplit_once('/').unwrap();
        Self {
            url: format!("{base}/{db}"),
            postgres: Some((server.to_owned(), db)),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, db)) = &self.postgres {
            if let Ok(mut admin) = diesel::PgConnection::establish(server) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// `REALMGATE_TEST_POSTGRES` (`postgres://user@host:port/postgres`, a role that may create
/// databases). Without it the PostgreSQL half is skipped with one loud line, except under
/// `CI=true`, where it fails: CI must run both.
fn postgres_server() -> String {
    if let Ok(url) = std::env::var("REALMGATE_TEST_POSTGRES") {
        return url;
    }
    use std::io::Write as _;
    // Tests reach this in parallel: one says it, and the process ends.
    static SAID: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = SAID.lock();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    // Past the test harness's capture, so the line is seen even though no test reports it.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** PostgreSQL half {}: REALMGATE_TEST_POSTGRES is not set (scripts/pg-test-cluster.sh starts a server) ***\n",
        if ci { "FAILED under CI=true" } else { "SKIPPED" }
    );
    std::process::exit(if ci { 1 } else { 0 });
}

pub async fn spawn() -> TestApp<
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
> {
    spawn_with(&[]).await
}

pub async fn spawn_with(
    settings: Settings<'_>,
) -> TestApp<
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
> {
    spawn_tuned(settings, |_| {}).await
}

/// `spawn_with`, then `tune` may change the configuration (real Argon2 parameters, say).
pub async fn spawn_tuned(
    settings: Settings<'_>,
    tune: impl FnOnce(&mut Config),
) -> TestApp<
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
> {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path(), "test");
    spawn_on(db, dir, settings, tune).await
}

/// `spawn_tuned` on a database the caller made (a PostgreSQL server of its own, say).
pub async fn spawn_on(
    db: TestDatabase,
    dir: tempfile::TempDir,
    settings: Settings<'_>,
    tune: impl FnOnce(&mut Config),
) -> TestApp<
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
> {
    install_log_capture();
    let mail = format!("file:{}", dir.path().join("outbox").display());
    let mut map: HashMap<&str, &str> = settings.iter().copied().collect();
    map.insert("REALMGATE_DATABASE_URL", &db.url);
    map.entry("REALMGATE_SECRET_KEY").or_insert(TEST_KEY);
    map.entry("REALMGATE_MAIL").or_insert(&mail);
    // Tests count the mails they cause; the new-device notice (tests/api/activity.rs turns it
    // on) would be one more after every first sign-in.
    map.entry("REALMGATE_NEW_DEVICE_MAIL").or_insert("false");
    let mut config = Config::from_map(&map).unwrap();
    config.hashing.params = HashParams::danger_insecure_test_params();
    config.hashing.workers = 1;
    tune(&mut config);
    let pool = realmgate::db::connect(&config.server.database_url).unwrap();
    let clock = Clock::default();
    let state = web::Data::new(AppState::new(config, pool, clock.clone(), 8080).unwrap());
    let svc = test::init_service(app(state.clone())).await;
    TestApp {
        svc,
        state,
        clock,
        cookie: RefCell::new(None),
        remember: RefCell::new(None),
        device: RefCell::new(None),
        peer: Cell::new("127.0.0.1:40000".parse().unwrap()),
        user_agent: RefCell::new("TestBrowser/1.0".into()),
        _db: db,
        _dir: dir,
    }
}

impl<S, B> TestApp<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// Sends `req` as the browser would: host, peer, user agent and the cookie jar.
    pub async fn send(&self, req: TestRequest) -> Response {
        let mut req = req
            .peer_addr(self.peer.get())
            .insert_header((header::USER_AGENT, self.user_agent.borrow().clone()));
        let mut cookies = Vec::new();
        if let Some(value) = self.cookie.borrow().as_ref() {
            cookies.push(format!("{SESSION_COOKIE}={value}"));
        }
        if let Some(value) = self.remember.borrow().as_ref() {
            cookies.push(format!("{REMEMBER_COOKIE}={value}"));
        }
        if let Some(value) = self.device.borrow().as_ref() {
            cookies.push(format!("{DEVICE_COOKIE}={value}"));
        }
        if !cookies.is_empty() {
            req = req.insert_header((header::COOKIE, cookies.join("; ")));
        }
        self.send_raw(req).await
    }

    /// Sends `req` as it is (adds only a Host when it has none) and updates the cookie jar.
    pub async fn send_raw(&self, req: TestRequest) -> Response {
        let mut req = req.to_request();
        if !req.headers().contains_key(header::HOST) {
            req.headers_mut()
                .insert(header::HOST, header::HeaderValue::from_static(HOST));
        }
        let res = test::call_service(&self.svc, req).await;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
        let response = Response {
            status,
            headers,
            body,
        };
        for raw in response.set_cookies() {
            let c = Cookie::parse(raw).unwrap();
            let removed =
                c.value().is_empty() || c.max_age().is_some_and(|a| a.is_zero() || a.is_negative());
            let kept = (!removed).then(|| c.value().to_owned());
            if c.name() == SESSION_COOKIE {
                *self.cookie.borrow_mut() = kept;
            } else if c.name() == REMEMBER_COOKIE {
                *self.remember.borrow_mut() = kept;
            } else if c.name() == DEVICE_COOKIE {
                *self.device.borrow_mut() = kept;
            }
        }
        response
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(TestRequest::get().uri(path)).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(
            TestRequest::post()
                .uri(path)
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(body),
        )
        .await
    }

    /// `POST /admin/users/{account}/{action}` with the admin realm's CSRF token.
    pub async fn admin_act(&self, account: i32, action: &str, token: &str) -> Response {
        self.post(
            &format!("/admin/users/{account}/{action}"),
            &[("csrf_token", token)],
        )
        .await
    }

    /// The CSRF token on the page at `path` (a GET, as a person opening the form).
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        page.csrf_token()
    }

    /// An account of `default`; an admin made here is a platform admin, the operator's own
    /// staff (an organisation admin: `organisations::org_admin`).
    pub async fn create_account(&self, email: &str, name: &str, admin: bool) -> i32 {
        use realmgate::db::schema::accounts;
        let hash = realmgate::app::auth::password::hash_now(
            &HashParams::danger_insecure_test_params(),
            PASSWORD,
        )
        .unwrap();
        let now = self.clock.now();
        let mut conn = self.db();
        diesel::insert_into(accounts::table)
            .values((
                accounts::email.eq(email),
                accounts::name.eq(name),
                accounts::password_hash.eq(hash),
                accounts::is_admin.eq(admin),
                accounts::is_platform_admin.eq(admin),
                accounts::email_confirmed_at.eq(Some(now)),
                accounts::created_at.eq(now),
            ))
            .execute(&mut conn)
            .unwrap();
        accounts::table
            .filter(accounts::email.eq(email))
            .select(accounts::id)
            .first(&mut conn)
            .unwrap()
    }

    pub async fn sign_in(&self, login_path: &str, email: &str, password: &str) -> Response {
        let token = self.csrf(login_path).await;
        self.post(
            login_path,
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &token),
            ],
        )
        .await
    }

    /// Creates `user@example.com` and signs it in to the user realm.
    pub async fn sign_in_user(&self) -> i32 {
        let id = self
            .create_account("user@example.com", "Uma User", false)
            .await;
        let res = self.sign_in("/login", "user@example.com", PASSWORD).await;
        assert_redirect_to(&res, "/dashboard");
        id
    }

    /// Creates `staff@example.com` (an admin) and signs it in to the admin realm.
    pub async fn sign_in_admin(&self) -> i32 {
        let id = self
            .create_account("staff@example.com", "Sam Staff", true)
            .await;
        let res = self
            .sign_in("/admin/login", "staff@example.com", PASSWORD)
            .await;
        assert_redirect_to(&res, "/admin");
        id
    }

    /// Opens `/account/password` and posts a change from `current` to `new`.
    pub async fn change_password(&self, current: &str, new: &str) -> Response {
        let token = self.csrf("/account/password").await;
        self.post(
            "/account/password",
            &[
                ("current_password", current),
                ("new_password", new),
                ("new_password_confirm", new),
                ("csrf_token", &token),
            ],
        )
        .await
    }

    pub async fn logout(&self, realm_logout: &str, home: &str) -> Response {
        let token = self.get(home).await.csrf_token();
        self.post(realm_logout, &[("csrf_token", &token)]).await
    }

    pub fn incidents(&self, kind: &str) -> Vec<IncidentRow> {
        use realmgate::db::schema::security_incidents as si;
        si::table
            .filter(si::kind.eq(kind))
            .select((si::realm, si::account_id, si::severity, si::email_attempted))
            .load(&mut self.db())
            .unwrap()
    }

    pub fn logouts(&self) -> Vec<(Option<i32>, String, String)> {
        use realmgate::db::schema::logout_activity as la;
        la::table
            .order(la::id)
            .select((la::account_id, la::realm, la::reason))
            .load(&mut self.db())
            .unwrap()
    }

    /// `(realm, revoke_reason)` of every registry row of `account`, oldest first.
    pub fn sessions_of(&self, account: i32) -> Vec<(String, Option<String>)> {
        use realmgate::db::schema::auth_sessions as s;
        s::table
            .filter(s::account_id.eq(account))
            .order(s::created_at)
            .select((s::realm, s::revoke_reason))
            .load(&mut self.db())
            .unwrap()
    }

    /// The decrypted session map (what the browser's cookie holds).
    pub fn session_map(&self) -> HashMap<String, String> {
        let Some(value) = self.cookie.borrow().clone() else {
            return HashMap::new();
        };
        let key = Key::from(self.state.config.cookie.key.as_bytes());
        let mut jar = CookieJar::new();
        jar.add_original(
            Cookie::parse_encoded(format!("{SESSION_COOKIE}={value}"))
                .unwrap()
                .into_owned(),
        );
        let plain = jar
            .private(&key)
            .get(SESSION_COOKIE)
            .expect("cookie decrypts");
        serde_json::from_str(plain.value()).unwrap()
    }

    /// Replaces the browser's cookie with one holding `map`, encrypted with the app's key.
    pub fn forge_session(&self, map: &HashMap<String, String>) {
        let key = Key::from(self.state.config.cookie.key.as_bytes());
        let mut jar = CookieJar::new();
        jar.private_mut(&key).add(Cookie::new(
            SESSION_COOKIE,
            serde_json::to_string(map).unwrap(),
        ));
        let encoded = jar.get(SESSION_COOKIE).unwrap().encoded().to_string();
        let value = encoded.split_once('=').unwrap().1.to_owned();
        *self.cookie.borrow_mut() = Some(value);
    }
}

impl<S> TestApp<S> {
    pub fn db(&self) -> diesel::r2d2::PooledConnection<realmgate::db::Manager> {
        self.state.pool.get().unwrap()
    }

    pub fn outbox(&self) -> std::path::PathBuf {
        self._dir.path().join("outbox")
    }

    /// The mails delivered so far (the mail thread works in the background).
    pub fn mails(&self) -> Vec<String> {
        crate::outbox::messages(&self.outbox())
    }

    /// Waits (at most 10 s) until `n` mails were delivered, and returns them.
    pub async fn wait_for_mails(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("expected {n} mails, found {}", self.mails().len());
    }

    /// The path of the first link to this portal in `mail` (e.g. `/password/reset/<token>`).
    pub fn link_in(mail: &str) -> String {
        let start = mail.find("http://").expect("a link");
        let url = mail[start..].split_whitespace().next().unwrap();
        let path_start = url["http://".len()..].find('/').unwrap() + "http://".len();
        url[path_start..].to_owned()
    }
}
