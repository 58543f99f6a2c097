//! Change password (both realms) and the must-change gate (SPEC §4 step 8, §8).

use diesel::prelude::*;
use realmgate::db::schema::accounts as a;

use crate::helpers::{assert_redirect_to, spawn, PASSWORD};

const NEW: &str = "violet tractor marmalade";

#[actix_web::test]
async fn changing_the_password_keeps_this_browser_and_revokes_the_rest() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let elsewhere_cookie = app.cookie.borrow().clone();
    // Sign in again as if from a second device, then come back to this browser.
    *app.cookie.borrow_mut() = None;
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
    let this_browser = app.cookie.borrow().clone();

    let token = app.csrf("/account/password").await;
    let res = app
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW),
                ("new_password_confirm", NEW),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/dashboard");
    assert!(app
        .get("/dashboard")
        .await
        .body
        .contains("Your password has been changed."));
    assert_eq!(
        app.get("/dashboard").await.status,
        200,
        "this browser stays signed in"
    );
    // The other device's session ended.
    *app.cookie.borrow_mut() = elsewhere_cookie;
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    *app.cookie.borrow_mut() = this_browser;
    assert_eq!(
        app.sessions_of(user),
        vec![
            ("user".into(), Some("password_changed".into())),
            ("user".into(), None)
        ]
    );
    assert_eq!(app.incidents("password_changed").len(), 1);
    let mails = app.wait_for_mails(1).await;
    assert!(mails[0].contains("was changed"));
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", NEW).await,
        "/dashboard",
    );
}

#[actix_web::test]
async fn the_current_password_is_required_and_weak_ones_are_refused() {
    let app = spawn().await;
    app.sign_in_user().await;
    let token = app.csrf("/account/password").await;
    let res = app
        .post(
            "/account/password",
            &[
                ("current_password", "wrong"),
                ("new_password", NEW),
                ("new_password_confirm", NEW),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("Your current password is not correct."));
    let res = app
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "Realmgate2026!"),
                ("new_password_confirm", "Realmgate2026!"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("too easy to guess"));
    assert!(app.incidents("password_changed").is_empty());
}

#[actix_web::test]
async fn an_admin_changes_their_password_without_touching_the_user_realm() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;
    let token = app.csrf("/admin/account/password").await;
    let res = app
        .post(
            "/admin/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW),
                ("new_password_confirm", NEW),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin");
    assert_eq!(app.get("/admin").await.status, 200);
    assert_eq!(app.get("/dashboard").await.status, 200);
    assert_eq!(app.sessions_of(user), vec![("user".into(), None)]);
    assert_eq!(app.sessions_of(admin), vec![("admin".into(), None)]);
}

#[actix_web::test]
async fn an_account_that_must_change_its_password_can_do_nothing_else() {
    let app = spawn().await;
    let admin = app
        .create_account("staff@example.com", "Sam Staff", true)
        .await;
    diesel::update(a::table.find(admin))
        .set(a::must_change_password.eq(true))
        .execute(&mut app.db())
        .unwrap();
    assert_redirect_to(
        &app.sign_in("/admin/login", "staff@example.com", PASSWORD)
            .await,
        "/admin",
    );

    assert_redirect_to(&app.get("/admin").await, "/admin/account/password");
    let page = app.get("/admin/account/password").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("You need to choose a new password"));
    let token = page.csrf_token();
    let res = app
        .post(
            "/admin/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW),
                ("new_password_confirm", NEW),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin");
    assert_eq!(app.get("/admin").await.status, 200, "free once changed");
    let must: bool = a::table
        .find(admin)
        .select(a::must_change_password)
        .first(&mut app.db())
        .unwrap();
    assert!(!must);
}

#[actix_web::test]
async fn must_change_refuses_other_posts_with_403_and_allows_sign_out() {
    let app = spawn().await;
    let user = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    diesel::update(a::table.find(user))
        .set(a::must_change_password.eq(true))
        .execute(&mut app.db())
        .unwrap();
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
    assert_redirect_to(&app.get("/dashboard").await, "/account/password");
    assert_redirect_to(&app.get("/account/sessions").await, "/account/password");
    let token = app.get("/account/password").await.csrf_token();
    let res = app
        .post("/account/sessions/revoke-others", &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status, 403);
    let res = app.post("/logout", &[("csrf_token", &token)]).await;
    assert_redirect_to(&res, "/login");
}
