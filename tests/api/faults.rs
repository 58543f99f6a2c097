//! SPEC §16: while PostgreSQL is down, `/healthz` is 503 and every request that needs the
//! database gets the 503 page within `REALMGATE_DB_TIMEOUT`, never a 500 or a hang; when it is
//! back, the portal recovers by itself. On a PostgreSQL cluster of this test's own, which it
//! stops and starts.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::{spawn_on, TestDatabase};

/// A PostgreSQL cluster of a test's own, which it may stop and start.
pub struct Cluster {
    dir: tempfile::TempDir,
    port: String,
}

impl Cluster {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-test-cluster.sh")
    }

    pub fn run(&self, what: &str) -> String {
        let out = Command::new(Self::script())
            .args([what, self.dir.path().to_str().unwrap()])
            .env("PGPORT_TEST", &self.port)
            .output()
            .unwrap();
        assert!(out.status.success(), "{what}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn start() -> (Self, String) {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port().to_string()
        };
        let cluster = Self {
            dir: tempfile::tempdir().unwrap(),
            port,
        };
        let url = cluster.run("start");
        (cluster, url)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["stop", self.dir.path().to_str().unwrap()])
            .env("PGPORT_TEST", &self.port)
            .output();
    }
}

#[actix_web::test]
async fn a_database_outage_is_503s_within_the_timeout_then_recovery() {
    if crate::BACKEND != realmgate::db::Backend::Postgres {
        return;
    }
    let (cluster, server) = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::on_postgres(&server);
    let app = spawn_on(db, dir, &[("REALMGATE_DB_TIMEOUT", "2s")], |_| {}).await;
    app.sign_in_user().await;
    assert_eq!(app.get("/dashboard").await.status, 200);
    let token = app.token_for("user@example.com", "phone").await;

    cluster.run("stop");
    // The api answers its JSON 503, with Retry-After, for a token check and for a sign-in.
    let me = app
        .api(
            actix_web::http::Method::GET,
            "/api/v1/me",
            Some(&token),
            None,
        )
        .await;
    assert_eq!((me.status, me.error()), (503, "unavailable"));
    assert_eq!(me.header("retry-after"), "5");
    let sign_in = app
        .token_request("user@example.com", crate::helpers::PASSWORD, None)
        .await;
    assert_eq!(sign_in.status, 503);
    for path in ["/healthz", "/dashboard", "/login", "/account/sessions"] {
        let started = Instant::now();
        let res = app.get(path).await;
        let took = started.elapsed();
        // /login needs no database for its form: it may still answer 200.
        let expected: &[u16] = if path == "/login" {
            &[200, 503]
        } else {
            &[503]
        };
        assert!(
            expected.contains(&res.status),
            "{path}: {} {}",
            res.status,
            res.body
        );
        assert!(took < Duration::from_secs(10), "{path} took {took:?}");
        if res.status == 503 && path != "/healthz" {
            assert!(res.body.contains("<html"), "{path}: the 503 page");
        }
    }

    cluster.run("start");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = app.get("/dashboard").await;
        if res.status == 200 {
            break;
        }
        assert_ne!(res.status, 500, "{}", res.body);
        assert!(Instant::now() < deadline, "no recovery: {}", res.status);
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    // Each dead pooled connection answers one more 503 before the pool replaces it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match app.get("/healthz").await.status {
            200 => break,
            503 if Instant::now() < deadline => {
                actix_web::rt::time::sleep(Duration::from_millis(50)).await
            }
            other => panic!("healthz after the outage: {other}"),
        }
    }
}
