//! SPEC §6 and §11 at the HTTP layer, against the real server on a random port with raw
//! request lines: HEAD, one normalised path for every rule, the body deadline, and the
//! headers on every response.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use realmgate::domain::config::Config;
use realmgate::web::startup::Application;

/// Starts the portal on 127.0.0.1 and a random port; returns the port and the database dir.
fn start(settings: &[(&str, &str)]) -> (u16, tempfile::TempDir) {
    crate::helpers::install_log_capture();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("edge.db").to_str().unwrap().to_owned();
    let mail = format!("file:{}", dir.path().join("outbox").display());
    let mut map = std::collections::HashMap::from([
        ("REALMGATE_DATABASE_URL", db.as_str()),
        ("REALMGATE_BIND", "127.0.0.1:0"),
        ("REALMGATE_MAIL", mail.as_str()),
    ]);
    map.extend(settings.iter().copied());
    let mut config = Config::from_map(&map).unwrap();
    config.hashing.params = realmgate::domain::config::HashParams::danger_insecure_test_params();
    let (app, _state) = Application::build(config).unwrap();
    let port = app.port();
    actix_web::rt::spawn(app.run_until_stopped());
    (port, dir)
}

/// Writes `head` (with `Host` and `Connection: close` added) and `body`, then reads the whole
/// answer, waiting at most 10 s.
fn exchange(port: u16, head: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{head}\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

async fn ask(port: u16, head: &'static str, body: &'static [u8]) -> String {
    actix_web::web::block(move || exchange(port, head, body))
        .await
        .unwrap()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let (head, _) = answer.split_once("\r\n\r\n")?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[track_caller]
fn assert_security_headers(answer: &str) {
    assert_eq!(header(answer, "x-frame-options"), Some("DENY"), "{answer}");
    assert_eq!(header(answer, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(answer, "referrer-policy"), Some("same-origin"));
    assert!(header(answer, "content-security-policy")
        .is_some_and(|csp| csp.contains("frame-ancestors 'none'")));
}

#[actix_web::test]
async fn head_is_answered_as_the_get_would_be_without_a_body() {
    let (port, _dir) = start(&[]);
    let get = ask(port, "GET /login HTTP/1.1", b"").await;
    let head = ask(port, "HEAD /login HTTP/1.1", b"").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body(&head), "", "no body");
    assert_eq!(
        header(&head, "content-length"),
        header(&get, "content-length"),
        "the GET's length"
    );
    assert_security_headers(&head);
    assert_eq!(header(&head, "cache-control"), Some("no-store"));

    let head = ask(port, "HEAD /dashboard HTTP/1.1", b"").await;
    assert!(head.starts_with("HTTP/1.1 303"), "{head}");
    assert_eq!(header(&head, "location"), Some("/login?next=/dashboard"));
    for path in [
        "HEAD /healthz HTTP/1.1",
        "HEAD /static/style.css HTTP/1.1",
        "HEAD /password/reset HTTP/1.1",
        "HEAD /register HTTP/1.1",
        "HEAD /admin/login HTTP/1.1",
        "HEAD /session/status HTTP/1.1",
    ] {
        let answer = ask(port, path, b"").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        assert_eq!(body(&answer), "", "{path}");
    }
    // A route without GET still says which methods it takes.
    let answer = ask(port, "HEAD /account/sessions/revoke-others HTTP/1.1", b"").await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
}

#[actix_web::test]
async fn an_encoded_path_is_the_same_path_for_every_rule() {
    let (port, _dir) = start(&[]);
    let answer = ask(port, "GET /%61dmin HTTP/1.1", b"").await;
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert_eq!(
        header(&answer, "location"),
        Some("/admin/login?next=/admin")
    );
    let answer = ask(port, "GET /%61dmin/%75sers?q=x HTTP/1.1", b"").await;
    assert_eq!(
        header(&answer, "location"),
        Some("/admin/login?next=/admin/users%3Fq%3Dx")
    );
    // A reset token in an encoded spelling of the path is still masked in the access log.
    let token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
    let answer = actix_web::web::block(move || {
        exchange(
            port,
            &format!("GET /p%61ssword/reset/{token} HTTP/1.1"),
            b"",
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let logs = crate::helpers::logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("GET /password/reset/[redacted]")),
        "the normalised path is logged"
    );
    assert!(
        !logs.iter().any(|l| l.contains(&token[..20])),
        "the token never reaches the log"
    );
    // An encoded `/` stays encoded and routes nowhere.
    let answer = ask(port, "GET /account%2Fsessions HTTP/1.1", b"").await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert_security_headers(&answer);
}

#[actix_web::test]
async fn a_body_that_does_not_arrive_in_time_is_a_408_page() {
    let (port, _dir) = start(&[("REALMGATE_BODY_TIMEOUT", "1s")]);
    let started = std::time::Instant::now();
    let answer = ask(
        port,
        "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200",
        b"email=a%40b.example&pass",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "it did not wait for the client"
    );
    assert_security_headers(&answer);
    assert!(header(&answer, "content-type").is_some_and(|t| t.starts_with("text/html")));
    assert!(body(&answer).contains("took too long"));
}

#[actix_web::test]
async fn error_pages_under_static_carry_every_header() {
    let (port, _dir) = start(&[]);
    let answer = ask(port, "GET /static/missing.css HTTP/1.1", b"").await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert_security_headers(&answer);
    assert_eq!(header(&answer, "cache-control"), Some("no-store"));
    let answer = ask(
        port,
        "POST /static/style.css HTTP/1.1\r\nContent-Length: 0",
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert_security_headers(&answer);
    let answer = ask(port, "GET /static/style.css HTTP/1.1", b"").await;
    assert_security_headers(&answer);
    assert!(header(&answer, "cache-control").is_some_and(|c| c.contains("max-age")));
}
