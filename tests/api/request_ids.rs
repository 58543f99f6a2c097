//! Request ids (SPEC §17): every answer carries one, a plain incoming one is kept, anything
//! else is replaced and never logged, and the incident rows of the request name it.

use actix_web::test::TestRequest;
use diesel::prelude::*;
use realmgate::db::schema::security_incidents as si;

use crate::helpers::spawn;

#[actix_web::test]
async fn every_answer_has_an_id_and_a_plain_incoming_one_is_kept() {
    let app = spawn().await;
    for path in [
        "/login",
        "/healthz",
        "/no-such-page",
        "/static/app.css",
        "/api/v1/me",
    ] {
        let res = app.send(TestRequest::get().uri(path)).await;
        let id = res.header("x-request-id");
        assert_eq!(id.len(), 16, "{path}: {id:?}");
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
    let a = app.send(TestRequest::get().uri("/login")).await;
    let b = app.send(TestRequest::get().uri("/login")).await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
    let kept = app
        .send(
            TestRequest::get()
                .uri("/login")
                .insert_header(("X-Request-Id", "nginx.4f2a-b_9")),
        )
        .await;
    assert_eq!(kept.header("x-request-id"), "nginx.4f2a-b_9");
}

#[actix_web::test]
async fn an_unfit_incoming_id_is_replaced_and_never_logged() {
    let app = spawn().await;
    let long = "L".repeat(10_000);
    let sixty_five = "x".repeat(65);
    for bad in [
        "has space",
        "semi;colon",
        "tab\there",
        &sixty_five,
        &long,
        "ünïcode",
    ] {
        let req = TestRequest::get().uri("/login").insert_header((
            "X-Request-Id",
            actix_web::http::header::HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
        ));
        let res = app.send(req).await;
        assert_eq!(res.status, 200);
        let id = res.header("x-request-id");
        assert_eq!(id.len(), 16, "{bad:.20}: {id}");
        assert_ne!(id, bad);
    }
    let logs = crate::helpers::logs().join("\n");
    assert!(
        !logs.contains(&long[..200]),
        "the long id never reaches the log"
    );
    assert!(!logs.contains("semi;colon"));
}

#[actix_web::test]
async fn an_incident_row_names_the_request_that_caused_it() {
    let app = spawn().await;
    let res = app
        .send(
            TestRequest::post()
                .uri("/login")
                .insert_header(("X-Request-Id", "incident-req-1"))
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .set_payload("email=a%40b.example&password=x&csrf_token=forged"),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.header("x-request-id"), "incident-req-1");
    let rows: Vec<(String, Option<String>)> = si::table
        .select((si::kind, si::request_id))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(
        rows,
        vec![(
            "csrf_rejected".to_owned(),
            Some("incident-req-1".to_owned())
        )]
    );
    // A reset request's incident is written by the outbox worker, later: it still names the
    // request that asked.
    app.create_account("ann@example.com", "Ann", false).await;
    let token = app.csrf("/password/reset").await;
    let res = app
        .send(
            TestRequest::post()
                .uri("/password/reset")
                .insert_header(("X-Request-Id", "reset-req-7"))
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .set_payload(format!("email=ann%40example.com&csrf_token={token}")),
        )
        .await;
    assert_eq!(res.status, 200);
    app.wait_for_mails(1).await;
    let reset: Option<String> = si::table
        .filter(si::kind.eq("password_reset_requested"))
        .select(si::request_id)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(reset.as_deref(), Some("reset-req-7"));
}

/// Issue 16: an incident's log line is at its severity's level, in key=value words (no Rust
/// debug text), and a sign-in refused while locked is in the log too.
#[actix_web::test]
async fn incidents_log_at_their_level_as_key_value_and_locked_refusals_are_logged() {
    let app = crate::helpers::spawn().await;
    // An address of this test's own, to find its lines among every test's.
    app.peer.set("198.51.100.213:4000".parse().unwrap());
    let ip = "ip=198.51.100.213";
    app.create_account("lock@example.com", "Lou", false).await;
    for _ in 0..6 {
        app.sign_in("/login", "lock@example.com", "wrong password here")
            .await;
    }
    let locked = app
        .sign_in("/login", "lock@example.com", "wrong password here")
        .await;
    assert_eq!(locked.status, 429);
    let mine: Vec<String> = crate::helpers::logs()
        .into_iter()
        .filter(|l| l.contains(ip))
        .collect();
    let line = |kind: &str| {
        mine.iter()
            .find(|l| l.contains(&format!("incident kind={kind} ")))
            .unwrap_or_else(|| panic!("no {kind} line in {mine:?}"))
            .clone()
    };
    let failed = line("login_failed");
    assert!(failed.starts_with("INFO security: "), "{failed}");
    assert!(
        failed.contains("severity=info realm=user account="),
        "{failed}"
    );
    let lock = line("account_locked");
    assert!(lock.starts_with("WARN security: "), "{lock}");
    for l in &mine {
        assert!(
            !l.contains("Some(") && !l.contains("None"),
            "debug text: {l}"
        );
    }
    assert!(
        mine.iter()
            .any(|l| l.starts_with("WARN security: sign-in refused while locked realm=user")),
        "{mine:?}"
    );
}
