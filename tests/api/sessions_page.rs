//! `/account/sessions`, remember me and `/session/status`.

use std::time::Duration;

use crate::helpers::{assert_redirect_to, spawn, PASSWORD};

#[actix_web::test]
async fn the_sessions_page_lists_marks_and_revokes() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let first = app.cookie.borrow().clone();
    *app.cookie.borrow_mut() = None;
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );

    let page = app.get("/account/sessions").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches("data-session-id=").count(), 2);
    assert_eq!(page.body.matches("This session").count(), 1);

    use diesel::prelude::*;
    use realmgate::db::schema::auth_sessions as s;
    let ids: Vec<String> = s::table
        .order(s::created_at)
        .select(s::id)
        .load(&mut app.db())
        .unwrap();
    let token = page.csrf_token();
    let res = app
        .post(
            &format!("/account/sessions/{}/revoke", ids[0]),
            &[("csrf_token", &token)],
        )
        .await;
    assert_redirect_to(&res, "/account/sessions");
    assert_eq!(
        app.sessions_of(user)[0].1.as_deref(),
        Some("revoked_by_user")
    );
    *app.cookie.borrow_mut() = first;
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn revoking_the_current_session_is_a_sign_out() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    app.sign_in_admin().await;
    let page = app.get("/account/sessions").await;
    use diesel::prelude::*;
    use realmgate::db::schema::auth_sessions as s;
    let id: String = s::table
        .filter(s::realm.eq("user"))
        .select(s::id)
        .first(&mut app.db())
        .unwrap();
    let res = app
        .post(
            &format!("/account/sessions/{id}/revoke"),
            &[("csrf_token", &page.csrf_token())],
        )
        .await;
    assert_redirect_to(&res, "/login");
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("user_logout".into()))]
    );
    assert_eq!(
        app.get("/admin").await.status,
        200,
        "the admin realm is untouched"
    );
}

#[actix_web::test]
async fn another_accounts_session_id_is_a_404_and_an_incident() {
    let app = spawn().await;
    app.sign_in_admin().await;
    app.sign_in_user().await;
    use diesel::prelude::*;
    use realmgate::db::schema::auth_sessions as s;
    let admin_row: String = s::table
        .filter(s::realm.eq("admin"))
        .select(s::id)
        .first(&mut app.db())
        .unwrap();
    let token = app.get("/account/sessions").await.csrf_token();
    let res = app
        .post(
            &format!("/account/sessions/{admin_row}/revoke"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(app.incidents("unauthorized_access").len(), 1);
    let res = app
        .post(
            "/account/sessions/no-such-id/revoke",
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(app.get("/admin").await.status, 200);
}

#[actix_web::test]
async fn revoke_others_keeps_what_this_browser_holds() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let elsewhere = app.cookie.borrow().clone();
    *app.cookie.borrow_mut() = None;
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
    let token = app.get("/account/sessions").await.csrf_token();
    let res = app
        .post("/account/sessions/revoke-others", &[("csrf_token", &token)])
        .await;
    assert_redirect_to(&res, "/account/sessions");
    assert_eq!(
        app.sessions_of(user),
        vec![
            ("user".into(), Some("revoked_by_user".into())),
            ("user".into(), None)
        ]
    );
    assert_eq!(app.get("/dashboard").await.status, 200);
    *app.cookie.borrow_mut() = elsewhere;
    assert_eq!(app.get("/dashboard").await.status, 303);
}

async fn sign_in_remembered<S, B>(app: &crate::helpers::TestApp<S>) -> crate::helpers::Response
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let token = app.csrf("/login").await;
    app.post(
        "/login",
        &[
            ("email", "user@example.com"),
            ("password", PASSWORD),
            ("remember_me", "on"),
            ("csrf_token", &token),
        ],
    )
    .await
}

#[actix_web::test]
async fn remember_me_survives_losing_the_session_cookie() {
    let app = spawn().await;
    let user = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    let res = sign_in_remembered(&app).await;
    assert_redirect_to(&res, "/dashboard");
    let cookie = res
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("realmgate_remember="))
        .expect("remember cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // The browser is closed: the session cookie is gone, the remember cookie stays.
    *app.cookie.borrow_mut() = None;
    app.clock.danger_advance(Duration::from_secs(3 * 3600)); // past the 20m idle timeout
    let res = app.get("/dashboard").await;
    assert_eq!(res.status, 200, "restored from the remember cookie");
    assert!(res.body.contains("Uma User"));
    assert!(app.session_map().contains_key("user.session"));
    assert_eq!(app.sessions_of(user), vec![("user".into(), None)]);

    // Signing out forgets this device's remembered session.
    let res = app.logout("/logout", "/dashboard").await;
    assert!(res
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("realmgate_remember=") && c.contains("Max-Age=0")));
    assert!(app.remember.borrow().is_none());
    assert_eq!(app.get("/dashboard").await.status, 303);
}

#[actix_web::test]
async fn remember_me_is_per_device() {
    let app = spawn().await;
    let user = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    sign_in_remembered(&app).await;
    let device_a = (app.cookie.borrow().clone(), app.remember.borrow().clone());
    *app.cookie.borrow_mut() = None;
    *app.remember.borrow_mut() = None;
    sign_in_remembered(&app).await;
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), None), ("user".into(), None)]
    );
    // Device B signs out; device A keeps its remembered session.
    app.logout("/logout", "/dashboard").await;
    *app.cookie.borrow_mut() = None;
    *app.remember.borrow_mut() = device_a.1;
    assert_eq!(app.get("/dashboard").await.status, 200);
}

#[actix_web::test]
async fn the_admin_realm_never_persists() {
    let app = spawn().await;
    app.create_account("staff@example.com", "Sam Staff", true)
        .await;
    let token = app.csrf("/admin/login").await;
    let res = app
        .post(
            "/admin/login",
            &[
                ("email", "staff@example.com"),
                ("password", PASSWORD),
                ("remember_me", "on"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin");
    assert!(res
        .set_cookies()
        .iter()
        .all(|c| !c.starts_with("realmgate_remember=")));
    use diesel::prelude::*;
    use realmgate::db::schema::auth_sessions as s;
    let remember: bool = s::table.select(s::remember).first(&mut app.db()).unwrap();
    assert!(!remember);
}

#[actix_web::test]
async fn session_status_reports_both_realms_and_never_extends() {
    let app = spawn().await;
    app.sign_in_user().await;
    let res = app.get("/session/status").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("cache-control"), "no-store");
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(json["user"]["signed_in"], true);
    assert_eq!(json["admin"]["signed_in"], false);
    let idle = json["user"]["idle_expires_in"].as_i64().unwrap();
    assert!((1190..=1200).contains(&idle), "{idle}");

    // Polling for 25 minutes does not keep the session alive.
    for _ in 0..5 {
        app.clock.danger_advance(Duration::from_secs(300));
        let res = app.get("/session/status").await;
        assert!(res.set_cookies().is_empty());
    }
    let json: serde_json::Value =
        serde_json::from_str(&app.get("/session/status").await.body).unwrap();
    assert_eq!(json["user"]["signed_in"], false);
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn every_signed_in_page_loads_the_expiry_notice_script() {
    let app = spawn().await;
    app.sign_in_user().await;
    let page = app.get("/dashboard").await;
    assert!(page
        .body
        .contains(r#"<script src="/static/session.js" defer></script>"#));
    assert!(page.body.contains(r#"data-realm="user""#));
    assert!(!page.body.contains("<script>"), "no inline script (CSP)");
    let js = app.get("/static/session.js").await;
    assert_eq!(js.status, 200);
    assert!(js.body.contains("/session/status"));
    assert!(js.body.contains("Your session will expire in"));
}

#[actix_web::test]
async fn session_status_says_signed_out_where_the_guard_would_refuse() {
    use diesel::prelude::*;
    use realmgate::db::schema::accounts as a;
    let app = spawn().await;
    app.sign_in_user().await;
    let admin = app.sign_in_admin().await;
    let status = || async {
        serde_json::from_str::<serde_json::Value>(&app.get("/session/status").await.body).unwrap()
    };
    let json = status().await;
    assert_eq!(json["user"]["signed_in"], true);
    assert_eq!(json["admin"]["signed_in"], true);

    // An admin session of an account that is no longer an admin.
    diesel::update(a::table.find(admin))
        .set(a::is_admin.eq(false))
        .execute(&mut app.db())
        .unwrap();
    assert_eq!(status().await["admin"]["signed_in"], false);

    // A cookie whose user-realm account is not the session row's.
    let mut map = app.session_map();
    map.insert("user.account".into(), "999".into());
    app.forge_session(&map);
    assert_eq!(status().await["user"]["signed_in"], false);
}
