//! Pages, headers and error pages (SPEC §6, §11).

use actix_web::test::TestRequest;

use crate::helpers::{assert_redirect_to, spawn, spawn_with};

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn().await;
    app.sign_in_user().await;
    for path in [
        "/login",
        "/dashboard",
        "/admin/login",
        "/healthz",
        "/static/style.css",
        "/nowhere",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(res.header("x-content-type-options"), "nosniff");
        assert_eq!(res.header("referrer-policy"), "same-origin");
        assert_eq!(res.header("cross-origin-opener-policy"), "same-origin");
        let csp = res.header("content-security-policy");
        for part in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(res.headers.get("server").is_none());
        assert!(
            res.headers.get("strict-transport-security").is_none(),
            "not Secure in development"
        );
    }
}

#[actix_web::test]
async fn private_pages_are_never_cached() {
    let app = spawn().await;
    app.sign_in_user().await;
    for path in ["/login", "/dashboard", "/logout", "/admin/login"] {
        let res = app.get(path).await;
        assert_eq!(res.header("cache-control"), "no-store", "{path}");
        assert_eq!(res.header("pragma"), "no-cache");
        assert_eq!(res.header("expires"), "0");
        assert_eq!(res.header("content-type"), "text/html; charset=utf-8");
    }
    let res = app.logout("/logout", "/dashboard").await;
    assert_eq!(res.header("cache-control"), "no-store");
    assert!(!res.header("clear-site-data").contains("cookies"));
}

#[actix_web::test]
async fn secure_cookies_bring_the_host_prefix_and_hsts() {
    let key = "ab".repeat(64);
    let app = spawn_with(&[
        ("REALMGATE_ENV", "production"),
        ("REALMGATE_SECRET_KEY", &key),
        ("REALMGATE_PUBLIC_URL", "https://portal.example"),
    ])
    .await;
    let req = TestRequest::get()
        .uri("/login")
        .insert_header(("host", "portal.example"));
    let res = app.send_raw(req).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("strict-transport-security"),
        "max-age=31536000; includeSubDomains"
    );
    let cookie = res.set_cookies().pop().expect("the token is minted");
    assert!(cookie.starts_with("__Host-realmgate_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Max-Age") && !cookie.contains("Domain"),
        "{cookie}"
    );
    // In production, localhost is not a name of this portal.
    assert_eq!(
        app.send_raw(TestRequest::get().uri("/login")).await.status,
        400
    );
}

#[actix_web::test]
async fn the_session_cookie_has_the_spec_flags() {
    let app = spawn().await;
    let res = app.get("/login").await;
    let cookie = res
        .set_cookies()
        .pop()
        .expect("minting the token writes the cookie");
    assert!(cookie.starts_with("realmgate_session="));
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Max-Age") && !cookie.contains("Secure"),
        "{cookie}"
    );
}

#[actix_web::test]
async fn a_foreign_host_gets_400_except_on_healthz() {
    let app = spawn().await;
    let req = TestRequest::get()
        .uri("/login")
        .insert_header(("host", "evil.example"));
    let res = app.send_raw(req).await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("<html"));
    for host in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080"] {
        let req = TestRequest::get()
            .uri("/login")
            .insert_header(("host", host));
        assert_eq!(app.send_raw(req).await.status, 200, "{host}");
    }
    let req = TestRequest::get()
        .uri("/login")
        .insert_header(("host", "localhost:9999"));
    assert_eq!(app.send_raw(req).await.status, 400);
    let req = TestRequest::get()
        .uri("/healthz")
        .insert_header(("host", "evil.example"));
    assert_eq!(app.send_raw(req).await.status, 200);
}

#[actix_web::test]
async fn healthz_reports_the_database() {
    let app = spawn().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status, 200);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(json, serde_json::json!({"db": "ok", "status": "ok"}));
}

#[actix_web::test]
async fn errors_are_pages_in_the_portals_layout() {
    let app = spawn().await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status, 404);
    assert!(res.body.contains("Realmgate") && res.body.contains("404"));
    assert_eq!(res.header("content-type"), "text/html; charset=utf-8");
    let res = app.send(TestRequest::delete().uri("/login")).await;
    assert_eq!(res.status, 405);
    assert!(res.body.contains("Realmgate") && res.body.contains("405"));
    let res = app.send(TestRequest::put().uri("/dashboard")).await;
    assert_eq!(
        res.status, 405,
        "a wrong method is 405 even when signed out"
    );
    let res = app.get("/static/missing.js").await;
    assert_eq!(res.status, 404);
}

#[actix_web::test]
async fn root_sends_people_where_they_belong() {
    let app = spawn().await;
    assert_redirect_to(&app.get("/").await, "/login");
    app.sign_in_user().await;
    assert_redirect_to(&app.get("/").await, "/dashboard");
}

#[actix_web::test]
async fn the_dashboard_shows_the_account_and_its_sessions() {
    let app = spawn().await;
    app.sign_in_user().await;
    let res = app.get("/dashboard").await;
    assert!(res.body.contains("Uma User"));
    assert!(res.body.contains("user@example.com"));
    assert!(res.body.contains(r#"data-field="live-sessions">1<"#));
    assert!(res.body.contains("This is your first sign-in."));
    assert!(
        res.body.contains(r#"action="/logout""#),
        "a sign-out button in the header"
    );
    // A second sign-in shows the first as the previous one.
    app.sign_in("/login", "user@example.com", crate::helpers::PASSWORD)
        .await;
    let res = app.get("/dashboard").await;
    assert!(res.body.contains("UTC from 127.0.0.1"));
    assert!(!res.body.contains("This is your first sign-in."));
}

#[actix_web::test]
async fn the_admin_dashboard_counts_accounts_and_live_sessions_per_realm() {
    let app = spawn().await;
    app.sign_in_user().await;
    app.sign_in_admin().await;
    let res = app.get("/admin").await;
    assert_eq!(res.status, 200);
    assert!(
        res.body.contains(r#"data-stat="accounts">2<"#),
        "{}",
        res.body
    );
    assert!(res.body.contains(r#"data-stat="user-sessions">1<"#));
    assert!(res.body.contains(r#"data-stat="admin-sessions">1<"#));
    assert!(res.body.contains("Sam Staff"));
}

#[actix_web::test]
async fn the_sign_in_form_has_labels_and_autocomplete() {
    let app = spawn().await;
    let res = app.get("/login").await;
    assert!(res.body.contains(r#"<label for="email">"#));
    assert!(res.body.contains(r#"<label for="password">"#));
    assert!(res.body.contains(r#"autocomplete="username""#));
    assert!(res.body.contains(r#"autocomplete="current-password""#));
    assert!(res.body.contains(r#"name="remember_me""#));
    let res = app.get("/admin/login").await;
    assert!(
        !res.body.contains("remember_me"),
        "the admin realm never persists"
    );
}
