//! SPEC §4: every signed-in request is checked against the registry and the account row.

use std::time::Duration;

use diesel::prelude::*;
use realmgate::db::schema::accounts as a;

use crate::helpers::{assert_redirect_to, spawn, spawn_with};

#[actix_web::test]
async fn an_idle_session_expires_and_is_recorded() {
    let app = spawn_with(&[("REALMGATE_USER_IDLE_TIMEOUT", "3s")]).await;
    let admin = app.sign_in_admin().await;
    let user = app.sign_in_user().await;
    app.clock.danger_advance(Duration::from_secs(4));

    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert!(app
        .get("/login")
        .await
        .body
        .contains("Your session expired."));
    assert_eq!(
        app.logouts(),
        vec![(Some(user), "user".into(), "idle_timeout".into())]
    );
    // The admin realm has its own, longer timeout.
    assert_eq!(app.get("/admin").await.status, 200);
    assert_eq!(app.sessions_of(admin), vec![("admin".into(), None)]);
}

#[actix_web::test]
async fn a_session_in_steady_use_does_not_idle_out() {
    let app = spawn_with(&[("REALMGATE_USER_IDLE_TIMEOUT", "8s")]).await;
    app.sign_in_user().await;
    // 20 s of use, a request every 3 s: longer than the idle timeout in total.
    for _ in 0..7 {
        app.clock.danger_advance(Duration::from_secs(3));
        assert_eq!(app.get("/dashboard").await.status, 200);
    }
    app.clock.danger_advance(Duration::from_secs(9));
    assert_eq!(app.get("/dashboard").await.status, 303);
}

#[actix_web::test]
async fn the_absolute_timeout_ends_even_a_busy_session() {
    let app = spawn_with(&[
        ("REALMGATE_ADMIN_IDLE_TIMEOUT", "10s"),
        ("REALMGATE_ADMIN_ABSOLUTE_TIMEOUT", "20s"),
    ])
    .await;
    let admin = app.sign_in_admin().await;
    for _ in 0..4 {
        app.clock.danger_advance(Duration::from_secs(4));
        assert_eq!(app.get("/admin").await.status, 200);
    }
    app.clock.danger_advance(Duration::from_secs(5));
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
    assert_eq!(
        app.logouts(),
        vec![(Some(admin), "admin".into(), "absolute_timeout".into())]
    );
}

#[actix_web::test]
async fn a_page_view_never_rewrites_the_cookie() {
    let app = spawn().await;
    app.sign_in_user().await;
    app.sign_in_admin().await;
    // Mint the tokens the pages use, then look at pages.
    app.get("/dashboard").await;
    app.get("/admin").await;
    app.clock.danger_advance(Duration::from_secs(120)); // past the last-seen write interval
    for path in [
        "/dashboard",
        "/admin",
        "/logout",
        "/admin/logout",
        "/login",
        "/admin/login",
        "/healthz",
        "/static/style.css",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status, 200, "{path}");
        assert!(res.set_cookies().is_empty(), "{path} wrote the cookie");
    }
}

#[actix_web::test]
async fn deactivating_an_account_signs_it_out_on_its_next_request() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;
    diesel::update(a::table.find(user))
        .set(a::is_active.eq(false))
        .execute(&mut app.db())
        .unwrap();

    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(
        app.logouts(),
        vec![(Some(user), "user".into(), "account_deactivated".into())]
    );
    let incidents = app.incidents("inactive_account_access");
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].1, Some(user));
    // Another account in the same browser is untouched.
    assert_eq!(app.get("/admin").await.status, 200);
    assert_eq!(app.sessions_of(admin), vec![("admin".into(), None)]);
}

#[actix_web::test]
async fn an_admin_who_loses_the_role_loses_the_admin_session() {
    let app = spawn().await;
    let admin = app.sign_in_admin().await;
    diesel::update(a::table.find(admin))
        .set(a::is_admin.eq(false))
        .execute(&mut app.db())
        .unwrap();
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
    assert_eq!(app.incidents("unauthorized_access").len(), 1);
}

#[actix_web::test]
async fn a_cookie_naming_another_account_is_a_session_mismatch() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let mut map = app.session_map();
    map.insert("user.account".into(), "999".into());
    app.forge_session(&map);

    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    let incidents = app.incidents("session_mismatch");
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].2, "critical");
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("session_mismatch".into()))]
    );
}

#[actix_web::test]
async fn an_ip_change_is_recorded_and_by_default_allowed() {
    let app = spawn().await;
    app.sign_in_user().await;
    app.peer.set("198.51.100.20:4000".parse().unwrap());
    assert_eq!(app.get("/dashboard").await.status, 200);
    assert_eq!(app.get("/dashboard").await.status, 200);
    let incidents = app.incidents("ip_changed");
    assert_eq!(
        incidents.len(),
        1,
        "recorded once: the new address is remembered"
    );
    assert_eq!(incidents[0].2, "info");
}

#[actix_web::test]
async fn an_ip_change_ends_the_session_when_the_realm_says_revoke() {
    let app = spawn_with(&[("REALMGATE_USER_IP_CHANGE", "revoke")]).await;
    let user = app.sign_in_user().await;
    app.sign_in_admin().await;
    app.peer.set("198.51.100.20:4000".parse().unwrap());
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(app.incidents("ip_changed").len(), 1);
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("ip_changed".into()))]
    );
    // The admin realm keeps the default, `log`.
    assert_eq!(app.get("/admin").await.status, 200);
}

#[actix_web::test]
async fn a_new_user_agent_is_recorded() {
    let app = spawn().await;
    app.sign_in_user().await;
    *app.user_agent.borrow_mut() = "OtherBrowser/2.0".into();
    assert_eq!(app.get("/dashboard").await.status, 200);
    let incidents = app.incidents("user_agent_changed");
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].2, "warning");
}

#[actix_web::test]
async fn signed_out_requests_get_a_redirect_or_a_401() {
    let app = spawn().await;
    assert_redirect_to(
        &app.get("/dashboard?tab=2").await,
        "/login?next=/dashboard%3Ftab%3D2",
    );
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
    // POST /logout while not signed in: a 303 whatever the token.
    assert_redirect_to(
        &app.post("/logout", &[("csrf_token", "junk")]).await,
        "/login",
    );
    assert_redirect_to(&app.post("/admin/logout", &[]).await, "/admin/login");
    assert!(app.incidents("csrf_rejected").is_empty());
}

#[actix_web::test]
async fn get_logout_changes_nothing() {
    let app = spawn().await;
    app.sign_in_user().await;
    let res = app.get("/logout").await;
    assert_eq!(res.status, 200);
    assert!(res.body.contains(r#"<form method="post" action="/logout""#));
    assert_eq!(app.get("/dashboard").await.status, 200);
    assert!(app.logouts().is_empty());
}

#[actix_web::test]
async fn a_garbled_cookie_counts_as_signed_out() {
    let app = spawn().await;
    *app.cookie.borrow_mut() = Some("not-a-real-cookie%%%".into());
    assert_eq!(app.get("/login").await.status, 200);
    assert_eq!(app.get("/admin/login").await.status, 200);
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    // A cookie encrypted with our key but holding garbage is ignored too.
    let map = std::collections::HashMap::from([("user.session".to_string(), "{{{".to_string())]);
    app.forge_session(&map);
    assert_eq!(app.get("/login").await.status, 200);
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn a_user_realm_secret_under_the_admin_keys_is_refused() {
    let app = spawn().await;
    // An admin account signed in to the user realm only.
    let admin = app
        .create_account("staff@example.com", "Sam Staff", true)
        .await;
    assert_redirect_to(
        &app.sign_in("/login", "staff@example.com", crate::helpers::PASSWORD)
            .await,
        "/dashboard",
    );
    let mut map = app.session_map();
    map.insert("admin.session".into(), map["user.session"].clone());
    map.insert("admin.account".into(), admin.to_string());
    app.forge_session(&map);
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
    assert_eq!(
        app.get("/dashboard").await.status,
        200,
        "the user realm is unharmed"
    );
}

#[actix_web::test]
async fn a_secret_the_registry_never_issued_is_refused() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let mut map = app.session_map();
    map.insert(
        "user.session".into(),
        serde_json::to_string(&realmgate::domain::crypto::random_token::<32>()).unwrap(),
    );
    map.insert("user.account".into(), user.to_string());
    app.forge_session(&map);
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert!(
        !app.session_map().contains_key("user.session"),
        "the realm's keys are removed"
    );
}

#[actix_web::test]
async fn an_expired_session_loses_its_keys_but_not_the_other_realms() {
    let app = spawn_with(&[("REALMGATE_USER_IDLE_TIMEOUT", "3s")]).await;
    app.sign_in_user().await;
    app.sign_in_admin().await;
    app.clock.danger_advance(Duration::from_secs(4));
    app.get("/dashboard").await;
    let keys = app.session_map();
    assert!(!keys.contains_key("user.session") && !keys.contains_key("user.account"));
    assert!(keys.contains_key("admin.session") && keys.contains_key("csrf.admin"));
}

#[actix_web::test]
async fn last_seen_is_written_at_most_once_per_interval() {
    use realmgate::db::schema::auth_sessions as s;
    let app = spawn().await;
    app.sign_in_user().await;
    let first: chrono::NaiveDateTime = s::table
        .select(s::last_seen_at)
        .first(&mut app.db())
        .unwrap();
    app.clock.danger_advance(Duration::from_secs(30));
    app.get("/dashboard").await;
    let unchanged: chrono::NaiveDateTime = s::table
        .select(s::last_seen_at)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(first, unchanged, "not written within min(60 s, idle / 4)");
    app.clock.danger_advance(Duration::from_secs(31));
    app.get("/dashboard").await;
    let touched: chrono::NaiveDateTime = s::table
        .select(s::last_seen_at)
        .first(&mut app.db())
        .unwrap();
    assert!(touched > first);
}

#[actix_web::test]
async fn replaying_a_session_of_a_deactivated_account_is_recorded() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let victim_cookie = app.cookie.borrow().clone();
    *app.cookie.borrow_mut() = None;
    app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    let res = app.admin_act(user, "deactivate", &token).await;
    assert_redirect_to(&res, "/admin/users");
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("account_deactivated".into()))]
    );
    *app.cookie.borrow_mut() = victim_cookie;
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(app.incidents("inactive_account_access").len(), 1);
}

#[actix_web::test]
async fn the_database_runs_with_wal_foreign_keys_and_a_busy_timeout() {
    // SQLite's settings; PostgreSQL has foreign keys and concurrent writers by nature.
    if crate::BACKEND != realmgate::db::Backend::Sqlite {
        return;
    }
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }
    let app = spawn().await;
    let mut conn = app.db();
    let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(mode.journal_mode, "wal");
    let fk: Number = diesel::sql_query("SELECT foreign_keys AS value FROM pragma_foreign_keys")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(fk.value, 1);
    let busy: Number = diesel::sql_query("SELECT timeout AS value FROM pragma_busy_timeout")
        .get_result(&mut conn)
        .unwrap();
    assert!(busy.value >= 1000);
}
