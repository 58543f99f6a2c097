//! SPEC §6 CSRF: one token per realm, origin checks, refusals recorded.

use actix_web::test::TestRequest;

use crate::helpers::{assert_redirect_to, spawn, PASSWORD};

#[actix_web::test]
async fn one_realms_token_is_refused_by_the_other() {
    let app = spawn().await;
    app.sign_in_user().await;
    app.sign_in_admin().await;
    let user_token = app.get("/dashboard").await.csrf_token();
    let admin_token = app.get("/admin").await.csrf_token();
    assert_ne!(user_token, admin_token);

    let before = app.cookie.borrow().clone();
    let res = app
        .post("/admin/logout", &[("csrf_token", &user_token)])
        .await;
    assert_eq!(res.status, 403);
    assert!(
        res.set_cookies().is_empty(),
        "a refusal leaves the session as it was"
    );
    assert_eq!(*app.cookie.borrow(), before);
    let res = app.post("/logout", &[("csrf_token", &admin_token)]).await;
    assert_eq!(res.status, 403);

    let refused = app.incidents("csrf_rejected");
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0].0.as_deref(), Some("admin"));
    assert_eq!(refused[0].2, "warning");
    assert_eq!(app.get("/admin").await.status, 200);
    assert_eq!(app.get("/dashboard").await.status, 200);
}

#[actix_web::test]
async fn sign_in_without_a_valid_token_is_refused() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    app.get("/login").await;
    let res = app
        .post(
            "/login",
            &[
                ("email", "user@example.com"),
                ("password", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(res.status, 403);
    let res = app
        .post(
            "/login",
            &[("email", "user@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(app.incidents("csrf_rejected").len(), 2);
    assert!(
        app.incidents("login_failed").is_empty(),
        "no password check behind a refused token"
    );
}

#[actix_web::test]
async fn sign_in_replaces_the_realms_token() {
    let app = spawn().await;
    let before = app.csrf("/login").await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let res = app
        .post(
            "/login",
            &[
                ("email", "user@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &before),
            ],
        )
        .await;
    assert_redirect_to(&res, "/dashboard");
    let after = app.get("/dashboard").await.csrf_token();
    assert_ne!(before, after);
    assert_eq!(
        app.post("/logout", &[("csrf_token", &before)]).await.status,
        403
    );
}

#[actix_web::test]
async fn cross_site_and_foreign_origin_posts_are_refused() {
    let app = spawn().await;
    app.sign_in_user().await;
    let token = app.get("/dashboard").await.csrf_token();
    let form = format!("csrf_token={token}");
    let post = || {
        TestRequest::post()
            .uri("/logout")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form.clone())
    };
    let res = app
        .send(post().insert_header(("sec-fetch-site", "cross-site")))
        .await;
    assert_eq!(res.status, 403);
    let res = app
        .send(post().insert_header(("origin", "https://evil.example")))
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(app.incidents("csrf_rejected").len(), 2);
    assert_eq!(app.get("/dashboard").await.status, 200, "still signed in");
    // The portal's own origin is fine.
    let res = app
        .send(
            post()
                .insert_header(("origin", "http://127.0.0.1:8080"))
                .insert_header(("sec-fetch-site", "same-origin")),
        )
        .await;
    assert_redirect_to(&res, "/login");
}

/// SPEC §6: a refused form leaves the session unchanged, even when the session holds no
/// token for the realm yet (the password form's refusal page must not mint one first).
#[actix_web::test]
async fn a_refused_password_change_without_a_token_in_the_session_writes_no_cookie() {
    let app = spawn().await;
    app.sign_in_user().await;
    let mut map = app.session_map();
    assert!(map.remove("csrf.user").is_some());
    app.forge_session(&map);
    let res = app
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a different long passphrase here"),
                ("new_password_confirm", "a different long passphrase here"),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(res.status, 403);
    assert!(
        !res.set_cookies()
            .iter()
            .any(|c| c.starts_with(realmgate::web::startup::SESSION_COOKIE)),
        "{:?}",
        res.set_cookies()
    );
}
