//! The core promise: two realms in one browser, each signing out without touching the other.

use crate::helpers::{assert_redirect_to, spawn, PASSWORD};

#[actix_web::test]
async fn user_sign_out_keeps_the_admin_signed_in() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;

    let res = app.logout("/logout", "/dashboard").await;
    assert_redirect_to(&res, "/login");
    assert_eq!(res.header("cache-control"), "no-store");
    let keys = app.session_map();
    assert!(keys.contains_key("admin.session") && keys.contains_key("admin.account"));
    assert!(keys.contains_key("csrf.admin"));
    assert!(!keys.contains_key("user.session") && !keys.contains_key("user.account"));
    assert!(
        !keys.contains_key("csrf.user"),
        "sign-out removes the realm's token"
    );
    let login = app.get("/login").await;
    assert!(login
        .body
        .contains("You have been successfully logged out."));

    assert_eq!(app.get("/admin").await.status, 200, "admin still signed in");
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");

    assert_eq!(
        app.logouts(),
        vec![(Some(user), "user".into(), "user_logout".into())]
    );
    assert_eq!(app.sessions_of(admin), vec![("admin".into(), None)]);
}

#[actix_web::test]
async fn admin_sign_out_keeps_the_user_signed_in() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;

    let res = app.logout("/admin/logout", "/admin").await;
    assert_redirect_to(&res, "/admin/login");
    assert!(app
        .get("/admin/login")
        .await
        .body
        .contains("You have been successfully logged out."));

    let dashboard = app.get("/dashboard").await;
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.body.contains("user@example.com"));
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
    assert_eq!(
        app.logouts(),
        vec![(Some(admin), "admin".into(), "user_logout".into())]
    );
    assert_eq!(app.sessions_of(user), vec![("user".into(), None)]);
    let keys = app.session_map();
    assert!(keys.contains_key("user.session") && !keys.contains_key("admin.session"));
}

#[actix_web::test]
async fn sequential_sign_out_user_then_admin() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;
    assert_redirect_to(&app.logout("/logout", "/dashboard").await, "/login");
    assert_eq!(app.get("/admin").await.status, 200);
    assert_redirect_to(&app.logout("/admin/logout", "/admin").await, "/admin/login");
    assert_eq!(app.get("/admin").await.status, 303);
    assert_eq!(app.get("/dashboard").await.status, 303);
    assert_eq!(
        app.logouts(),
        vec![
            (Some(user), "user".into(), "user_logout".into()),
            (Some(admin), "admin".into(), "user_logout".into()),
        ]
    );
    // The cookie itself lives on (never deleted), just without either realm.
    assert!(app.cookie.borrow().is_some());
}

#[actix_web::test]
async fn sequential_sign_out_admin_then_user() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;
    assert_redirect_to(&app.logout("/admin/logout", "/admin").await, "/admin/login");
    assert_eq!(app.get("/dashboard").await.status, 200);
    assert_redirect_to(&app.logout("/logout", "/dashboard").await, "/login");
    assert_eq!(app.get("/dashboard").await.status, 303);
    assert_eq!(
        app.logouts(),
        vec![
            (Some(admin), "admin".into(), "user_logout".into()),
            (Some(user), "user".into(), "user_logout".into()),
        ]
    );
}

#[actix_web::test]
async fn signing_in_to_one_realm_leaves_the_other_signed_in() {
    let app = spawn().await;
    app.sign_in_admin().await;
    let before = app.session_map()["admin.session"].clone();
    app.sign_in_user().await;
    assert_eq!(app.get("/admin").await.status, 200);
    assert_eq!(app.session_map()["admin.session"], before);
    // And the other way round.
    let user_secret = app.session_map()["user.session"].clone();
    let res = app
        .sign_in("/admin/login", "staff@example.com", PASSWORD)
        .await;
    assert_redirect_to(&res, "/admin");
    assert_eq!(app.session_map()["user.session"], user_secret);
    assert_eq!(app.get("/dashboard").await.status, 200);
}

#[actix_web::test]
async fn an_admin_form_opened_before_the_user_signs_in_and_out_still_submits() {
    let app = spawn().await;
    app.sign_in_admin().await;
    // The admin tab renders its sign-out form now...
    let admin_token = app.get("/admin/logout").await.csrf_token();
    // ...while the user tab signs in and out.
    app.sign_in_user().await;
    assert_redirect_to(&app.logout("/logout", "/dashboard").await, "/login");
    // The admin form still works.
    let res = app
        .post("/admin/logout", &[("csrf_token", &admin_token)])
        .await;
    assert_redirect_to(&res, "/admin/login");
    assert!(app.incidents("csrf_rejected").is_empty());
}

#[actix_web::test]
async fn a_user_session_grants_nothing_under_admin() {
    let app = spawn().await;
    app.sign_in_user().await;
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
    assert_redirect_to(
        &app.get("/admin/logout").await,
        "/admin/login?next=/admin/logout",
    );
    // Even an admin account signed in to the user realm is not signed in to the admin one.
    let app = spawn().await;
    app.create_account("staff@example.com", "Sam Staff", true)
        .await;
    assert_redirect_to(
        &app.sign_in("/login", "staff@example.com", PASSWORD).await,
        "/dashboard",
    );
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
}

#[actix_web::test]
async fn a_user_form_opened_before_the_admin_signs_in_and_out_still_submits() {
    let app = spawn().await;
    app.sign_in_user().await;
    let user_token = app.get("/logout").await.csrf_token();
    app.sign_in_admin().await;
    assert_redirect_to(&app.logout("/admin/logout", "/admin").await, "/admin/login");
    let res = app.post("/logout", &[("csrf_token", &user_token)]).await;
    assert_redirect_to(&res, "/login");
    assert!(app.incidents("csrf_rejected").is_empty());
}

#[actix_web::test]
async fn the_sign_out_message_waits_for_the_sign_in_page() {
    let app = spawn().await;
    app.sign_in_user().await;
    app.sign_in_admin().await;
    app.logout("/logout", "/dashboard").await;
    // Another tab loads a stylesheet and posts a stale form before the redirect lands.
    let res = app.get("/static/style.css").await;
    assert!(
        res.set_cookies().is_empty(),
        "a stylesheet never writes the cookie"
    );
    let res = app.post("/admin/logout", &[("csrf_token", "stale")]).await;
    assert_eq!(res.status, 403);
    assert!(
        res.set_cookies().is_empty(),
        "a refused form leaves the session as it was"
    );
    assert!(app
        .get("/login")
        .await
        .body
        .contains("You have been successfully logged out."));
}
