//! Three `realmgate` instances on one PostgreSQL database behind Debian's nginx (round robin,
//! no sticky sessions; SPEC §16): whichever instance serves each request, the rules hold.
//! nginx's configuration is written by the test into a directory of its own; everything
//! listens on 127.0.0.1. PostgreSQL half only.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{TestDatabase, PASSWORD};
use crate::instances::{command, wait_until_serving, Instance};
use crate::nginx::free_port;

/// nginx in front of the instances, on its own port.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        crate::nginx::stop(&mut self.child);
    }
}

fn nginx(port: u16, upstream: &[u16]) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let child = crate::nginx::start(dir.path(), port, upstream);
    Nginx {
        child,
        port,
        _dir: dir,
    }
}

/// The database, three instances and nginx. The instances' public URL is nginx's.
struct Cluster {
    nginx: Nginx,
    instances: Vec<Instance>,
    outbox: tempfile::TempDir,
    _db: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::new(dir.path(), "cluster");
        Self::start_on(db, dir, &[])
    }

    /// Three instances on `db`, with `extra` settings.
    fn start_on(db: TestDatabase, dir: tempfile::TempDir, extra: &[(&str, &str)]) -> Self {
        let outbox = tempfile::tempdir().unwrap();
        let port = free_port();
        let public = format!("http://127.0.0.1:{port}");
        let mail = format!("file:{}", outbox.path().display());
        let mut settings = vec![
            ("REALMGATE_PUBLIC_URL", public.as_str()),
            ("REALMGATE_MAIL", mail.as_str()),
        ];
        settings.extend_from_slice(extra);
        let mut migrate = command(&db.url, &settings);
        migrate.arg("migrate");
        assert!(migrate.status().unwrap().success());
        for email in ["user@example.com", "staff@example.com"] {
            let mut create = command(&db.url, &settings);
            create
                .args([
                    "create-user",
                    "--email",
                    email,
                    "--name",
                    "Person",
                    "--password-stdin",
                ])
                .stdin(Stdio::piped());
            if email.starts_with("staff") {
                create.arg("--admin");
            }
            let mut child = create.spawn().unwrap();
            writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
            assert!(child.wait().unwrap().success());
        }
        // Ports chosen here: with a public URL, the banner names nginx's, not the bound one.
        let binds: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let children: Vec<Child> = binds
            .iter()
            .map(|p| {
                let bind = format!("127.0.0.1:{p}");
                let mut cmd = command(&db.url, &settings);
                cmd.env("REALMGATE_BIND", bind);
                cmd.spawn().unwrap()
            })
            .collect();
        let instances: Vec<Instance> = children
            .into_iter()
            .zip(binds)
            .map(|(c, port)| {
                let mut instance = wait_until_serving(c).unwrap();
                instance.port = port;
                instance
            })
            .collect();
        let ports: Vec<u16> = instances.iter().map(|i| i.port).collect();
        Self {
            nginx: nginx(port, &ports),
            instances,
            outbox,
            _db: db,
            _dir: dir,
        }
    }

    fn browser(&self) -> Browser {
        Browser {
            public_port: self.nginx.port,
            jar: HashMap::new(),
        }
    }
}

struct Answer {
    status: u16,
    headers: String,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .lines()
            .find_map(|l| {
                l.strip_prefix("location: ")
                    .or(l.strip_prefix("Location: "))
            })
            .unwrap_or("")
    }

    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf_token\" value=\"")
            .unwrap_or_else(|| panic!("a form: {}\n{}", self.headers, self.body));
        let rest = &self.body[at + "name=\"csrf_token\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// A browser with one cookie jar, talking HTTP/1.1 to nginx or, for `via`, straight to one
/// instance (with the public Host, as nginx forwards it).
struct Browser {
    public_port: u16,
    jar: HashMap<String, String>,
}

impl Browser {
    fn send(&mut self, port: u16, method: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let host = format!("127.0.0.1:{}", self.public_port);
        let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let body = serde_urlencoded::to_string(form).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: ClusterTest/1.0\r\n"
        );
        if !cookies.is_empty() {
            head.push_str(&format!("Cookie: {}\r\n", cookies.join("; ")));
        }
        if method == "POST" {
            head.push_str(&format!(
                "Origin: http://{host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        if method == "POST" {
            stream.write_all(body.as_bytes()).unwrap();
        }
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (headers, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = headers[9..12].parse().unwrap();
        for line in headers.lines() {
            let Some(cookie) = line
                .strip_prefix("set-cookie: ")
                .or(line.strip_prefix("Set-Cookie: "))
            else {
                continue;
            };
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || cookie.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status,
            headers: headers.to_owned(),
            body: body.to_owned(),
        }
    }

    fn get(&mut self, path: &str) -> Answer {
        self.send(self.public_port, "GET", path, &[])
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.public_port, "POST", path, form)
    }

    /// A GET to one instance, bypassing nginx.
    fn get_via(&mut self, instance: &Instance, path: &str) -> Answer {
        self.send(instance.port, "GET", path, &[])
    }

    fn sign_in(&mut self, login: &str, email: &str, password: &str) -> Answer {
        let token = self.get(login).csrf();
        self.post(
            login,
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &token),
            ],
        )
    }
}

fn postgres_only() -> bool {
    crate::BACKEND == realmgate::db::Backend::Postgres
}

#[test]
fn three_instances_behind_nginx_keep_every_rule() {
    if !postgres_only() {
        return;
    }
    let cluster = Cluster::start();

    // The dual-logout scenario, each request served by whichever instance nginx picks.
    let mut browser = cluster.browser();
    assert_eq!(
        browser
            .sign_in("/login", "user@example.com", PASSWORD)
            .status,
        303
    );
    assert_eq!(
        browser
            .sign_in("/admin/login", "staff@example.com", PASSWORD)
            .status,
        303
    );
    for _ in 0..3 {
        assert_eq!(browser.get("/dashboard").status, 200);
        assert_eq!(browser.get("/admin").status, 200);
    }
    for instance in &cluster.instances {
        assert_eq!(browser.get_via(instance, "/dashboard").status, 200);
    }
    let token = browser.get("/logout").csrf();
    assert_eq!(
        browser.post("/logout", &[("csrf_token", &token)]).status,
        303
    );
    // Refused by every instance on its very next request; the admin realm stays.
    for instance in &cluster.instances {
        let res = browser.get_via(instance, "/dashboard");
        assert_eq!(res.status, 303, "instance {}", instance.port);
        assert!(res.location().starts_with("/login"), "{}", res.location());
        assert_eq!(browser.get_via(instance, "/admin").status, 200);
    }

    // A session revoked on one instance is refused by all on its next request: a second
    // browser of the same account, revoked from the first one's sessions page.
    let mut phone = cluster.browser();
    let mut laptop = cluster.browser();
    assert_eq!(
        phone.sign_in("/login", "user@example.com", PASSWORD).status,
        303
    );
    assert_eq!(
        laptop
            .sign_in("/login", "user@example.com", PASSWORD)
            .status,
        303
    );
    let page = laptop.get("/account/sessions");
    let token = page.csrf();
    let others: Vec<&str> = page
        .body
        .split("<tr data-session-id=\"")
        .skip(1)
        .filter(|row| !row[..row.find('>').unwrap()].contains("class=\"current\""))
        .map(|row| &row[..row.find('"').unwrap()])
        .collect();
    assert_eq!(others.len(), 1, "the phone's is the one other live session");
    let res = laptop.post(
        &format!("/account/sessions/{}/revoke", others[0]),
        &[("csrf_token", &token)],
    );
    assert_eq!(res.status, 303);
    assert_eq!(laptop.get("/dashboard").status, 200);
    for instance in &cluster.instances {
        let status = phone.get_via(instance, "/dashboard").status;
        assert_eq!(
            status, 303,
            "the revoked phone on instance {}",
            instance.port
        );
    }
}

#[test]
fn twenty_parallel_wrong_guesses_over_three_instances_reach_argon2_at_most_five_times() {
    if !postgres_only() {
        return;
    }
    let cluster = Cluster::start();
    let ports: Vec<u16> = cluster.instances.iter().map(|i| i.port).collect();
    let public = cluster.nginx.port;
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let port = ports[i % 3];
            std::thread::spawn(move || {
                let mut b = Browser {
                    public_port: public,
                    jar: HashMap::new(),
                };
                let token = b.send(port, "GET", "/login", &[]).csrf();
                b.send(
                    port,
                    "POST",
                    "/login",
                    &[
                        ("email", "user@example.com"),
                        ("password", "not the password at all"),
                        ("csrf_token", &token),
                    ],
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        checked <= 5,
        "{checked} guesses reached Argon2: {statuses:?}"
    );
    assert!(statuses.contains(&429), "the lock held: {statuses:?}");
}

#[test]
fn one_reset_link_confirmed_at_once_on_two_instances_is_used_once() {
    if !postgres_only() {
        return;
    }
    let cluster = Cluster::start();
    let mut asker = cluster.browser();
    let token = asker.get("/password/reset").csrf();
    let res = asker.post(
        "/password/reset",
        &[("email", "user@example.com"), ("csrf_token", &token)],
    );
    assert_eq!(res.status, 200);
    let started = Instant::now();
    let mail = loop {
        if let Some(m) = crate::outbox::messages(cluster.outbox.path()).pop() {
            break m;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no reset mail");
        std::thread::sleep(Duration::from_millis(50));
    };
    let link = crate::helpers::TestApp::<()>::link_in(&mail);

    // Two browsers open the link, each on its own instance, and submit at the same moment.
    let public = cluster.nginx.port;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = [cluster.instances[0].port, cluster.instances[1].port]
        .into_iter()
        .enumerate()
        .map(|(i, port)| {
            let (link, barrier) = (link.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut b = Browser {
                    public_port: public,
                    jar: HashMap::new(),
                };
                let opened = b.send(port, "GET", &link, &[]);
                assert_eq!(opened.status, 303, "{}", opened.body);
                let token = b.send(port, "GET", "/password/reset/confirm", &[]).csrf();
                let new = format!("a brand new passphrase number {i} for this");
                barrier.wait();
                b.send(
                    port,
                    "POST",
                    "/password/reset/confirm",
                    &[
                        ("new_password", &new),
                        ("new_password_confirm", &new),
                        ("csrf_token", &token),
                    ],
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "exactly one confirmation wins: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 400),
        "{statuses:?}"
    );
}

#[test]
fn postgres_stopped_and_started_under_load_is_503s_then_recovery_on_every_instance() {
    if !postgres_only() {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let (pg, server) = crate::faults::Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::on_postgres(&server);
    let cluster = Cluster::start_on(db, dir, &[("REALMGATE_DB_TIMEOUT", "2s")]);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(HashMap::<u16, usize>::new()));
    let mut browsers = Vec::new();
    for _ in 0..4 {
        let mut b = cluster.browser();
        assert_eq!(
            b.sign_in("/login", "user@example.com", PASSWORD).status,
            303
        );
        browsers.push(b);
    }
    let load: Vec<_> = browsers
        .into_iter()
        .map(|mut b| {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let status = b.get("/dashboard").status;
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "a request hung for {:?}",
                        started.elapsed()
                    );
                    *seen.lock().unwrap().entry(status).or_default() += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                b
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(500));
    pg.run("stop");
    std::thread::sleep(Duration::from_secs(3));
    pg.run("start");
    // Back on every instance, with no restart of any.
    let mut probe = cluster.browser();
    let deadline = Instant::now() + Duration::from_secs(30);
    for instance in &cluster.instances {
        while probe.get_via(instance, "/healthz").status != 200 {
            assert!(
                Instant::now() < deadline,
                "instance {} did not recover",
                instance.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let mut browsers: Vec<Browser> = load.into_iter().map(|t| t.join().unwrap()).collect();

    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.get(&503).copied().unwrap_or(0) > 0,
        "the outage was seen: {seen:?}"
    );
    assert!(
        seen.keys().all(|s| *s == 200 || *s == 503),
        "only pages and 503s, never a 500 or a gateway error: {seen:?}"
    );
    // Still signed in: the outage ended no session. Each dead pooled connection answers one
    // more 503 before the pool replaces it, so a browser may meet a few; never a sign-out.
    for b in &mut browsers {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match b.get("/dashboard").status {
                200 => break,
                503 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                other => panic!("after the outage: {other}"),
            }
        }
    }
}
