//! The real portal (the `realmgate` binary on a random loopback port, a temporary database,
//! the demo accounts) and a real headless Chromium driven through chromedriver.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub struct Portal {
    child: Child,
    pub base: String,
    pub user_password: String,
    pub admin_password: String,
    _dir: tempfile::TempDir,
}

pub const USER: &str = "demo@example.com";
pub const ADMIN: &str = "demo-admin@example.com";

fn realmgate(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_realmgate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REALMGATE_DATABASE_URL", dir.join("portal.db"))
        .env(
            "REALMGATE_MAIL",
            format!("file:{}", dir.join("outbox").display()),
        )
        .env("RUST_LOG", "warn")
        // The tests read the mails they cause; a new-device notice after each first sign-in
        // would come first (tests/api/activity.rs covers the notice).
        .env("REALMGATE_NEW_DEVICE_MAIL", "false")
        .current_dir(dir);
    cmd
}

impl Portal {
    /// Runs `realmgate demo`, then `realmgate serve` with `settings`.
    pub fn start(settings: &[(&str, &str)]) -> Portal {
        let dir = tempfile::tempdir().unwrap();
        let out = realmgate(dir.path()).arg("demo").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        let password_of = |email: &str| {
            let line = printed
                .lines()
                .find(|l| l.contains(email))
                .expect("demo line");
            let rest = line.split("password: ").nth(1).unwrap();
            rest.split_whitespace().next().unwrap().to_owned()
        };
        let (user_password, admin_password) = (password_of(USER), password_of(ADMIN));

        let mut cmd = realmgate(dir.path());
        cmd.env("REALMGATE_BIND", "127.0.0.1:0");
        for (k, v) in settings {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = Instant::now();
        let base = loop {
            let line = lines.next().expect("serve printed its address").unwrap();
            if let Some(rest) = line.strip_prefix("Realmgate is serving on ") {
                break rest.trim_end_matches('/').to_owned();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "serve did not start"
            );
        };
        // Keep reading, so the server never writes into a full or closed pipe.
        std::thread::spawn(move || for _ in lines {});
        Portal {
            child,
            base,
            user_password,
            admin_password,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn outbox(&self) -> PathBuf {
        self._dir.path().join("outbox")
    }

    /// Waits for the `n`th mail (1-based) and returns it.
    pub fn mail(&self, n: usize) -> String {
        for _ in 0..100 {
            if let Some(mail) = crate::outbox::messages(&self.outbox()).get(n - 1) {
                return mail.clone();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no mail number {n}");
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: tempfile::TempDir,
}

fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// `None` (with one loud line) when Chromium or chromedriver is missing, except on CI,
    /// where a missing browser fails the run.
    pub async fn start() -> Option<Browser> {
        Self::start_with(&[]).await
    }

    /// `start`, with more Chromium switches (`--force-dark-mode`, say).
    pub async fn start_with(extra: &[&str]) -> Option<Browser> {
        if !installed("chromedriver") || !(installed("chromium") || installed("chromium-browser")) {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but chromium/chromedriver are missing: apt-get install -y chromium chromium-driver");
            }
            eprintln!(
                "SKIPPED browser test: chromium and chromedriver are not installed. \
                 Install them with: apt-get update && apt-get install -y chromium chromium-driver"
            );
            return None;
        }
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--disable-features=Translate,OptimizationHints,MediaRouter",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .chain(extra.iter().map(|a| a.to_string()))
        .collect();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": if installed("chromium") { "/usr/bin/chromium" } else { "/usr/bin/chromium-browser" },
                "args": args
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        driver,
                        profile,
                    })
                }
                Err(e) => last_error = Some(e),
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start a browser session: {last_error:?}");
    }

    pub async fn finish(self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn go(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks a button that submits a form, and waits until the next page has replaced this
    /// one (at most 10 s).
    pub async fn click(&self, css: &str) {
        let old_page = self.client.find(Locator::Css("html")).await.unwrap();
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        for _ in 0..200 {
            if old_page.tag_name().await.is_err() {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        self.wait_loaded().await;
    }

    async fn wait_loaded(&self) {
        for _ in 0..200 {
            let state = self
                .client
                .execute("return document.readyState", vec![])
                .await;
            if matches!(state, Ok(serde_json::Value::String(ref s)) if s == "complete") {
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fills a sign-in form and submits it, as a person would.
    pub async fn sign_in(&self, portal: &Portal, login_path: &str, email: &str, password: &str) {
        self.go(&portal.url(login_path)).await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form.stack button[type=submit]").await;
    }

    /// Presses the header's "Sign out" button.
    pub async fn sign_out(&self) {
        self.click(".who form button").await;
    }

    pub async fn new_tab(&self) -> fantoccini::wd::WindowHandle {
        let tab = self.client.new_window(true).await.unwrap().handle;
        self.client.switch_to_window(tab.clone()).await.unwrap();
        tab
    }

    pub async fn switch(&self, tab: &fantoccini::wd::WindowHandle) {
        self.client.switch_to_window(tab.clone()).await.unwrap();
    }

    /// Whether the page is wider than the window, or a table wider than its box: something
    /// would need sideways scrolling.
    pub async fn overflows(&self) -> bool {
        self.client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1 || [...document.querySelectorAll('.table-wrap')].some(w => w.scrollWidth > w.clientWidth + 1);",
                vec![],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap()
    }

    /// Runs `js` (which must `return` a value) in the page.
    pub async fn eval(&self, js: &str) -> serde_json::Value {
        self.client.execute(js, vec![]).await.unwrap()
    }

    /// Saves a PNG of the current page under `target/screenshots/`. Chromium refuses a capture
    /// that a navigation interrupts ("aborted by navigation"; seen once on CI while a page was
    /// still settling): it is tried again, a moment later, up to three times.
    pub async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let mut last = None;
        for _ in 0..3 {
            match self.client.screenshot().await {
                Ok(png) => {
                    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
                    return;
                }
                Err(e) => last = Some(e),
            }
            actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("screenshot {name}: {last:?}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A test that failed half-way leaves its Chromium behind; this profile names it.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.profile.path())
            .status();
    }
}
