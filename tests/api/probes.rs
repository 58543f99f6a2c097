//! Liveness, readiness and metrics (SPEC §17). Both backends.

use actix_web::test::{self, TestRequest};

use crate::helpers::{spawn, spawn_with, PASSWORD};

#[actix_web::test]
async fn livez_and_readyz_answer_and_readyz_names_a_stopped_worker() {
    let app = spawn().await;
    let live = app.get("/livez").await;
    assert_eq!(
        (live.status, live.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "db": "ok", "outbox": "ok", "cleanup": "ok"})
    );
    // The probes answer whatever host name a load balancer uses, as /healthz does.
    for path in ["/livez", "/readyz", "/healthz"] {
        let res = app
            .send(
                TestRequest::get()
                    .uri(path)
                    .insert_header(("Host", "10.0.0.7:8080")),
            )
            .await;
        assert_eq!(res.status, 200, "{path}");
    }
    let other = app
        .send(
            TestRequest::get()
                .uri("/login")
                .insert_header(("Host", "10.0.0.7:8080")),
        )
        .await;
    assert_eq!(other.status, 400, "the Host check still holds elsewhere");
    // A cleanup loop that has not gone round for longer than two intervals: not ready.
    app.clock
        .danger_advance(std::time::Duration::from_secs(3600));
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(body["cleanup"], "stopped");
    assert_eq!(body["outbox"], "ok");
    app.state.cleanup.beat();
    assert_eq!(
        app.get("/readyz").await.status,
        200,
        "a beat and it is back"
    );
    app.state.outbox.stop();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(body["outbox"], "stopped");
    assert_eq!(body["db"], "ok");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(app.get("/livez").await.status, 200, "alive all the same");
}

#[actix_web::test]
async fn metrics_are_on_their_own_listener_with_patterns_never_paths() {
    let app = spawn_with(&[("REALMGATE_METRICS_BIND", "127.0.0.1:0")]).await;
    // The public listener has no /metrics.
    assert_eq!(app.get("/metrics").await.status, 404);
    app.create_account("ann@example.com", "Ann", false).await;
    app.sign_in("/login", "ann@example.com", "wrong password here")
        .await;
    app.sign_in("/login", "ann@example.com", PASSWORD).await;
    let token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
    app.get(&format!("/password/reset/{token}")).await;
    app.get(&format!("/no/such/{token}/page")).await;
    app.get("/admin/users/12345/deactivate").await;
    let metrics = test::init_service(realmgate::web::observe::metrics_app(app.state.clone())).await;
    let res = test::call_service(&metrics, TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), 200);
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    for family in [
        "realmgate_http_requests_total",
        "realmgate_http_requests_duration_seconds_bucket",
        "realmgate_sign_ins_total",
        "realmgate_sign_in_failures_total",
        "realmgate_lockouts_total",
        "realmgate_incidents_total",
        "realmgate_live_sessions",
        "realmgate_hashing_queue",
        "realmgate_outbox_messages",
        "realmgate_outbox_deliveries_total",
        "realmgate_db_pool_connections",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    assert!(
        text.contains("endpoint=\"/password/reset/{token}\""),
        "{text}"
    );
    assert!(text.contains("endpoint=\"unmatched\""), "{text}");
    assert!(!text.contains(token), "a token became a label");
    assert!(!text.contains("12345"), "an id became a label");
    assert!(!text.contains("ann@example.com"));
    assert!(
        text.contains("realmgate_live_sessions{realm=\"user\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("realmgate_db_pool_connections{state=\"max\"} 8"),
        "{text}"
    );
    let lines = |name: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(name))
            .map(str::to_owned)
            .collect()
    };
    assert!(
        lines("realmgate_sign_in_failures_total{realm=\"user\",reason=\"credentials\"}")
            .iter()
            .any(|l| !l.ends_with(" 0")),
        "{text}"
    );
    // Anything else on the metrics listener is a 404.
    let res = test::call_service(&metrics, TestRequest::get().uri("/login").to_request()).await;
    assert_eq!(res.status(), 404);
}
