//! Sign-in: fixation, failures, incidents, `next`.

use crate::helpers::{assert_redirect_to, spawn, PASSWORD};
use actix_web::test::TestRequest;
use diesel::prelude::*;

#[actix_web::test]
async fn signing_in_gives_a_new_secret_and_the_earlier_one_is_refused() {
    let app = spawn().await;
    let id = app.sign_in_user().await;
    let first_cookie = app.cookie.borrow().clone();
    let first_secret = app.session_map()["user.session"].clone();

    let res = app.sign_in("/login", "user@example.com", PASSWORD).await;
    assert_redirect_to(&res, "/dashboard");
    let second_secret = app.session_map()["user.session"].clone();
    assert_ne!(first_secret, second_secret, "no session fixation");
    assert_eq!(
        app.sessions_of(id),
        vec![
            ("user".into(), Some("signed_in_again".into())),
            ("user".into(), None)
        ]
    );

    // The cookie from before the second sign-in no longer works.
    *app.cookie.borrow_mut() = first_cookie;
    let res = app.get("/dashboard").await;
    assert_redirect_to(&res, "/login?next=/dashboard");
}

#[actix_web::test]
async fn a_cookie_replayed_after_sign_out_is_refused_and_recorded() {
    let app = spawn().await;
    let id = app.sign_in_user().await;
    let saved = app.cookie.borrow().clone();
    assert_redirect_to(&app.logout("/logout", "/dashboard").await, "/login");

    *app.cookie.borrow_mut() = saved;
    let res = app.get("/dashboard").await;
    assert_redirect_to(&res, "/login?next=/dashboard");
    let incidents = app.incidents("revoked_session_used");
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].0.as_deref(), Some("user"));
    assert_eq!(incidents[0].1, Some(id));
    assert_eq!(incidents[0].2, "warning");
    // The realm's keys were removed, and the sign-in page says why.
    assert!(!app.session_map().contains_key("user.session"));
    assert!(app
        .get("/login")
        .await
        .body
        .contains("Your session has ended."));
}

#[actix_web::test]
async fn the_database_stores_only_the_hash_of_the_secret() {
    let app = spawn().await;
    app.sign_in_user().await;
    let secret = app.session_map()["user.session"].clone();
    let secret: String = serde_json::from_str(&secret).unwrap();
    assert_eq!(secret.len(), 43, "32 random bytes, base64url");
    use realmgate::db::schema::auth_sessions as s;
    let (id, hash): (String, String) = s::table
        .select((s::id, s::secret_hash))
        .first(&mut app.db())
        .unwrap();
    assert_eq!(hash, realmgate::domain::crypto::sha256_hex(&secret));
    assert_ne!(id, secret);
    assert!(!id.is_empty());
}

#[actix_web::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = spawn().await;
    let id = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    let wrong = app
        .sign_in("/login", "user@example.com", "not the password")
        .await;
    let unknown = app.sign_in("/login", "nobody@example.com", PASSWORD).await;
    let malformed = app.sign_in("/login", "my secret password", PASSWORD).await;
    for res in [&wrong, &unknown, &malformed] {
        assert_eq!(res.status, 401);
        assert!(res.body.contains("Invalid email or password."));
        assert_eq!(res.header("cache-control"), "no-store");
    }
    let failed = app.incidents("login_failed");
    assert_eq!(failed.len(), 3);
    assert_eq!(
        failed[0],
        (
            Some("user".into()),
            Some(id),
            "info".into(),
            Some("user@example.com".into())
        )
    );
    assert_eq!(failed[1].3.as_deref(), Some("nobody@example.com"));
    assert_eq!(failed[2].3, None, "a value without @ is never stored");
    assert_eq!(app.get("/dashboard").await.status, 303);
}

#[actix_web::test]
async fn inactive_and_unconfirmed_accounts_cannot_sign_in() {
    use realmgate::db::schema::accounts as a;
    let app = spawn().await;
    let id = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    diesel::update(a::table.find(id))
        .set(a::is_active.eq(false))
        .execute(&mut app.db())
        .unwrap();
    assert_eq!(
        app.sign_in("/login", "user@example.com", PASSWORD)
            .await
            .status,
        401
    );
    diesel::update(a::table.find(id))
        .set((
            a::is_active.eq(true),
            a::email_confirmed_at.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(&mut app.db())
        .unwrap();
    assert_eq!(
        app.sign_in("/login", "user@example.com", PASSWORD)
            .await
            .status,
        401
    );
}

#[actix_web::test]
async fn emails_are_normalised_at_sign_in() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let res = app.sign_in("/login", "  USER@Example.COM ", PASSWORD).await;
    assert_redirect_to(&res, "/dashboard");
}

#[actix_web::test]
async fn a_non_admin_gets_401_at_the_admin_sign_in_and_an_incident() {
    let app = spawn().await;
    let id = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    let res = app
        .sign_in("/admin/login", "user@example.com", PASSWORD)
        .await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("Invalid email or password."));
    let denied = app.incidents("admin_login_denied");
    assert_eq!(
        denied,
        vec![(
            Some("admin".into()),
            Some(id),
            "warning".into(),
            Some("user@example.com".into())
        )]
    );
    assert!(!app.session_map().contains_key("admin.session"));
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
}

#[actix_web::test]
async fn next_is_honoured_only_for_paths_of_the_same_realm() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    app.create_account("staff@example.com", "Sam Staff", true)
        .await;
    let cases = [
        "//evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/\tevil.example",
        "/\nevil.example",
        "https://evil.example",
        "javascript:alert(1)",
        "/admin",
        "/logout",
        "/dashboard/../admin",
        // SPEC §6: the normalised form decides, and an encoded `%` is refused.
        "/%61dmin",
        "/%6Cogout",
        "/account%252Fsessions",
        "/%252e%252e/admin",
    ];
    for next in cases {
        let token = app.csrf("/login").await;
        let res = app
            .post(
                "/login",
                &[
                    ("email", "user@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_redirect_to(&res, "/dashboard");
    }
    // An honoured `next` is sent in its normalised form; the admin realm's own paths only.
    for (login, email, next, expected) in [
        (
            "/login",
            "user@example.com",
            "/dashboard?x=1",
            "/dashboard?x=1",
        ),
        (
            "/login",
            "user@example.com",
            "/%61ccount/sessions",
            "/account/sessions",
        ),
        (
            "/admin/login",
            "staff@example.com",
            "/%61dmin/users",
            "/admin/users",
        ),
        ("/admin/login", "staff@example.com", "/dashboard", "/admin"),
        (
            "/admin/login",
            "staff@example.com",
            "//evil.example",
            "/admin",
        ),
        (
            "/admin/login",
            "staff@example.com",
            "/admin?tab=1",
            "/admin?tab=1",
        ),
    ] {
        let token = app.csrf(login).await;
        let res = app
            .post(
                login,
                &[
                    ("email", email),
                    ("password", PASSWORD),
                    ("next", next),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_redirect_to(&res, expected);
    }
}

#[actix_web::test]
async fn the_sign_in_form_carries_a_safe_next_only() {
    let app = spawn().await;
    let page = app.get("/login?next=/dashboard").await;
    assert!(page.body.contains(r#"name="next" value="/dashboard""#));
    let page = app.get("/login?next=%2F%2Fevil.example").await;
    assert!(!page.body.contains("evil.example"));
}

#[actix_web::test]
async fn an_untrusted_peer_cannot_spoof_its_address() {
    use realmgate::db::schema::auth_sessions as s;
    let app = spawn().await;
    app.peer.set("203.0.113.5:5000".parse().unwrap());
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let token = app.csrf("/login").await;
    let req = TestRequest::post()
        .uri("/login")
        .insert_header(("x-forwarded-for", "198.51.100.1"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(format!(
            "email=user%40example.com&password=correct+horse+battery+staple&csrf_token={token}"
        ));
    assert_redirect_to(&app.send(req).await, "/dashboard");
    let ip: String = s::table.select(s::ip).first(&mut app.db()).unwrap();
    assert_eq!(ip, "203.0.113.5");
}

#[actix_web::test]
async fn a_trusted_proxy_gives_the_client_address() {
    use realmgate::db::schema::auth_sessions as s;
    let app = crate::helpers::spawn_with(&[("REALMGATE_TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    app.peer.set("10.0.0.7:5000".parse().unwrap());
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let token = app.csrf("/login").await;
    let req = TestRequest::post()
        .uri("/login")
        .insert_header(("x-forwarded-for", "6.6.6.6, 198.51.100.1, 10.0.0.2"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(format!(
            "email=user%40example.com&password=correct+horse+battery+staple&csrf_token={token}"
        ));
    assert_redirect_to(&app.send(req).await, "/dashboard");
    let ip: String = s::table.select(s::ip).first(&mut app.db()).unwrap();
    assert_eq!(ip, "198.51.100.1");
}

#[actix_web::test]
async fn the_old_sign_in_address_redirects_permanently_with_its_query() {
    let app = spawn().await;
    let res = app.get("/sign-in?next=/dashboard").await;
    assert!(res.status == 301 || res.status == 308);
    assert_eq!(res.location(), "/login?next=/dashboard");
}
