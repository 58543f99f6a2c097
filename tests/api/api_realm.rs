//! The api realm (SPEC §13): bearer tokens for mobile apps, each a registry row that every
//! credential event ends on its very next request. Every answer here passes through
//! `api_client`, which checks the SPEC's rules for api answers and the OpenAPI document.

use std::time::Duration;

use actix_web::http::Method;
use diesel::prelude::*;
use serde_json::json;

use crate::api_client::Body;
use crate::helpers::{assert_redirect_to, spawn, spawn_with, PASSWORD};
use realmgate::db::schema::{accounts as a, auth_sessions as s};

const EMAIL: &str = "user@example.com";

#[actix_web::test]
async fn a_token_signs_in_reads_me_and_signs_out() {
    let app = spawn().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let res = app
        .token_request(EMAIL, PASSWORD, Some("Uma's phone"))
        .await;
    assert_eq!(res.status, 201);
    let token = res.json["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("rgat_") && token.len() == 48, "{token}");
    assert_eq!(res.json["token_type"], "Bearer");
    let session_id = res.json["session_id"].as_str().unwrap().to_owned();

    // The registry keeps only the SHA-256 of the whole token.
    let (realm, hash, device): (String, String, Option<String>) = s::table
        .find(&session_id)
        .select((s::realm, s::secret_hash, s::device_name))
        .first(&mut app.db())
        .unwrap();
    assert_eq!(realm, "api");
    assert_eq!(hash, realmgate::domain::crypto::sha256_hex(&token));
    assert_eq!(device.as_deref(), Some("Uma's phone"));

    let me = app.api(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["id"], id);
    assert_eq!(me.json["email"], EMAIL);
    assert_eq!(me.json["name"], "Uma User");
    assert_eq!(me.json["organisation"]["slug"], "default");
    assert_eq!(me.json["session"]["id"], session_id.as_str());
    assert_eq!(
        me.json["session"]["absolute_expires_at"], res.json["expires_at"],
        "expires_at is the absolute bound"
    );

    let out = app
        .api(Method::DELETE, "/api/v1/tokens/current", Some(&token), None)
        .await;
    assert_eq!(out.status, 204);
    let again = app.api(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(again.status, 401);
    assert_eq!(again.error(), "invalid_token");
    assert_eq!(
        again.header("www-authenticate"),
        r#"Bearer realm="realmgate", error="invalid_token""#
    );
    assert_eq!(
        app.sessions_of(id),
        vec![("api".into(), Some("user_logout".into()))]
    );
    assert_eq!(
        app.logouts(),
        vec![(Some(id), "api".into(), "user_logout".into())]
    );
    let replays = app.incidents("revoked_session_used");
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0].0.as_deref(), Some("api"));
}

#[actix_web::test]
async fn no_token_gets_the_bare_challenge_and_a_cookie_never_authenticates() {
    let app = spawn().await;
    app.sign_in_user().await;
    assert_eq!(app.get("/dashboard").await.status, 200);
    for with_cookies in [false, true] {
        let res = app
            .api_call(Method::GET, "/api/v1/me", &[], Body::None, with_cookies)
            .await;
        assert_eq!(res.status, 401, "a session cookie is not a token");
        assert_eq!(
            res.header("www-authenticate"),
            r#"Bearer realm="realmgate""#
        );
        assert_eq!(res.error(), "token_required");
    }
    // A token in the query string or in a cookie is never read.
    let token = app.token_for(EMAIL, "phone").await;
    let res = app
        .api_call(
            Method::GET,
            &format!("/api/v1/me?access_token={token}"),
            &[],
            Body::None,
            false,
        )
        .await;
    assert_eq!(res.status, 401);
    for cookie in [
        format!("token={token}"),
        format!("access_token={token}"),
        format!("realmgate_session={token}"),
    ] {
        let res = app
            .send_raw(
                actix_web::test::TestRequest::get()
                    .uri("/api/v1/me")
                    .insert_header(("cookie", cookie.clone())),
            )
            .await;
        assert_eq!(res.status, 401, "{cookie}");
        assert!(res.set_cookies().is_empty());
    }
    // Nor in a form body.
    let res = app
        .api_call(
            Method::POST,
            "/api/v1/logout-everywhere",
            &[],
            Body::Raw(
                Some("application/x-www-form-urlencoded"),
                format!("access_token={token}").into_bytes(),
            ),
            false,
        )
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        200
    );
    // The browser's user session is untouched by all of this.
    assert_eq!(app.get("/dashboard").await.status, 200);
}

#[actix_web::test]
async fn a_token_never_opens_a_page() {
    let app = spawn().await;
    app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "phone").await;
    let res = app
        .send_raw(
            actix_web::test::TestRequest::get()
                .uri("/dashboard")
                .insert_header(("authorization", format!("Bearer {token}"))),
        )
        .await;
    assert_redirect_to(&res, "/login?next=/dashboard");
}

#[actix_web::test]
async fn a_token_and_a_browser_of_one_account_sign_out_independently() {
    let app = spawn().await;
    let id = app.sign_in_user().await;
    let token = app.token_for(EMAIL, "phone").await;
    // The browser signs out: the token lives on.
    app.logout("/logout", "/dashboard").await;
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        200
    );
    // Signed in again in the browser, the token signs out: the browser lives on.
    let res = app.sign_in("/login", EMAIL, PASSWORD).await;
    assert_redirect_to(&res, "/dashboard");
    let out = app
        .api(Method::DELETE, "/api/v1/tokens/current", Some(&token), None)
        .await;
    assert_eq!(out.status, 204);
    assert_eq!(app.get("/dashboard").await.status, 200);
    let reasons = app.sessions_of(id);
    assert_eq!(
        reasons,
        vec![
            ("user".into(), Some("user_logout".into())),
            ("api".into(), Some("user_logout".into())),
            ("user".into(), None),
        ]
    );
}

#[actix_web::test]
async fn sign_out_everywhere_from_the_api_ends_every_realm() {
    let app = spawn().await;
    let id = app.sign_in_user().await;
    let token = app.token_for(EMAIL, "phone").await;
    let other = app.token_for(EMAIL, "tablet").await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/logout-everywhere",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    for t in [&token, &other] {
        assert_eq!(
            app.api(Method::GET, "/api/v1/me", Some(t), None)
                .await
                .status,
            401
        );
    }
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert!(app
        .sessions_of(id)
        .iter()
        .all(|(_, why)| why.as_deref() == Some("logout_everywhere")));
}

#[actix_web::test]
async fn the_console_deactivation_and_sign_out_everywhere_end_tokens() {
    let app = spawn().await;
    let admin = app.sign_in_admin().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "phone").await;
    let csrf = app.csrf("/admin/users").await;
    let res = app.admin_act(id, "logout-everywhere", &csrf).await;
    assert_eq!(res.status, 303);
    let me = app.api(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(me.status, 401);
    assert_eq!(
        app.sessions_of(id),
        vec![("api".into(), Some("logout_everywhere".into()))]
    );

    let token = app.token_for(EMAIL, "phone").await;
    let res = app.admin_act(id, "deactivate", &csrf).await;
    assert_eq!(res.status, 303);
    let me = app.api(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!((me.status, me.error()), (401, "invalid_token"));
    assert_eq!(
        app.sessions_of(id)[1],
        ("api".into(), Some("account_deactivated".into()))
    );
    // The admin's own session is untouched, and the deactivated token's replay is recorded.
    assert_eq!(app.get("/admin").await.status, 200);
    assert_eq!(app.sessions_of(admin), vec![("admin".into(), None)]);
    let seen = app.incidents("inactive_account_access");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0.as_deref(), Some("api"));
    // And it cannot sign in again.
    assert_eq!(app.token_request(EMAIL, PASSWORD, None).await.status, 401);
}

#[actix_web::test]
async fn deactivation_behind_the_consoles_back_ends_the_token_on_its_next_request() {
    let app = spawn().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "phone").await;
    diesel::update(a::table.find(id))
        .set(a::is_active.eq(false))
        .execute(&mut app.db())
        .unwrap();
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.logouts(),
        vec![(Some(id), "api".into(), "account_deactivated".into())]
    );
    let seen = app.incidents("inactive_account_access");
    assert_eq!((seen.len(), seen[0].0.as_deref()), (1, Some("api")));
}

#[actix_web::test]
async fn a_password_change_in_the_browser_ends_the_token() {
    let app = spawn().await;
    let id = app.sign_in_user().await;
    let token = app.token_for(EMAIL, "phone").await;
    let res = app
        .change_password(PASSWORD, "violet tractor marmalade")
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.get("/dashboard").await.status,
        200,
        "the browser keeps its session"
    );
    assert!(app
        .sessions_of(id)
        .contains(&("api".into(), Some("password_changed".into()))));
}

#[actix_web::test]
async fn a_password_reset_ends_the_token() {
    let app = spawn().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "phone").await;
    let link = crate::reset::reset_link(&app, EMAIL, 0).await;
    let res = crate::reset::complete(&app, &link, "violet tractor marmalade").await;
    assert_redirect_to(&res, "/login");
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.sessions_of(id),
        vec![("api".into(), Some("password_reset".into()))]
    );
}

#[actix_web::test]
async fn sign_out_everywhere_else_on_the_sessions_page_ends_the_token() {
    let app = spawn().await;
    let id = app.sign_in_user().await;
    let token = app.token_for(EMAIL, "phone").await;
    let csrf = app.csrf("/account/sessions").await;
    let res = app
        .post("/account/sessions/revoke-others", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        401
    );
    assert_eq!(app.get("/dashboard").await.status, 200);
    assert!(app
        .sessions_of(id)
        .contains(&("api".into(), Some("revoked_by_user".into()))));
}

#[actix_web::test]
async fn the_sessions_pages_show_api_sessions_escaped_and_revoke_them() {
    let app = spawn().await;
    app.sign_in_user().await;
    let device = "<b>Uma's</b> phone";
    let token = app.token_for(EMAIL, device).await;
    let me = app.api(Method::GET, "/api/v1/me", Some(&token), None).await;
    let session_id = me.json["session"]["id"].as_str().unwrap().to_owned();

    let page = app.get("/account/sessions").await;
    assert!(
        page.body.contains("&#60;b&#62;Uma&#39;s&#60;/b&#62; phone"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<b>Uma"));
    assert!(page
        .body
        .contains(&format!("data-session-id=\"{session_id}\"")));
    let csrf = page.csrf_token();
    let res = app
        .post(
            &format!("/account/sessions/{session_id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        401
    );

    // The api lists the account's sessions in every realm, and marks its own.
    let token = app.token_for(EMAIL, "tablet").await;
    let list = app
        .api(Method::GET, "/api/v1/sessions", Some(&token), None)
        .await;
    let sessions = list.json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", list.json);
    let mine: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(
        (mine.len(), &mine[0]["realm"], &mine[0]["device"]),
        (1, &json!("api"), &json!("tablet"))
    );
    assert!(sessions.iter().any(|s| s["realm"] == "user"));
}

#[actix_web::test]
async fn the_console_lists_filters_and_revokes_api_sessions() {
    let app = spawn().await;
    app.sign_in_admin().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "Uma's phone").await;
    let page = app.get("/admin/sessions?realm=api").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("data-session-id=").count(),
        1,
        "{}",
        page.body
    );
    assert!(page.body.contains("Uma&#39;s phone"));
    let dashboard = app.get("/admin").await;
    assert!(
        dashboard.body.contains(r#"data-stat="api-sessions">1<"#),
        "{}",
        dashboard.body
    );
    let users = app.get("/admin/users").await;
    assert!(users.body.contains("Uma&#39;s phone"), "{}", users.body);
    let session_id: String = s::table
        .filter(s::account_id.eq(id))
        .select(s::id)
        .first(&mut app.db())
        .unwrap();
    let csrf = page.csrf_token();
    let res = app
        .post(
            &format!("/admin/sessions/{session_id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.sessions_of(id),
        vec![("api".into(), Some("revoked_by_admin".into()))]
    );
    let logouts = app.get("/admin/logouts?realm=api").await;
    assert_eq!(logouts.status, 200);
    assert!(
        logouts.body.contains("revoked_by_admin"),
        "{}",
        logouts.body
    );
    let csv = app.get("/admin/logouts?realm=api&format=csv").await;
    assert_eq!(
        csv.body.lines().count(),
        2,
        "a header and the one api sign-out: {}",
        csv.body
    );
}

#[actix_web::test]
async fn revoking_another_accounts_session_is_404_and_recorded() {
    let app = spawn().await;
    let other = app.sign_in_admin().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "phone").await;
    let theirs: String = s::table
        .filter(s::account_id.eq(other))
        .select(s::id)
        .first(&mut app.db())
        .unwrap();
    let res = app
        .api(
            Method::DELETE,
            &format!("/api/v1/sessions/{theirs}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!((res.status, res.error()), (404, "not_found"));
    let unknown = app
        .api(
            Method::DELETE,
            "/api/v1/sessions/no-such-session",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        unknown.json, res.json,
        "another's id answers as an unknown one"
    );
    let seen = app.incidents("unauthorized_access");
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].0.as_deref(), seen[0].1), (Some("api"), Some(id)));
    assert_eq!(app.get("/admin").await.status, 200, "theirs is untouched");

    // Its own session by id is a sign-out; another of its own is `revoked_by_user`.
    let second = app.token_for(EMAIL, "tablet").await;
    let me = app
        .api(Method::GET, "/api/v1/me", Some(&second), None)
        .await;
    let second_id = me.json["session"]["id"].as_str().unwrap().to_owned();
    let res = app
        .api(
            Method::DELETE,
            &format!("/api/v1/sessions/{second_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    let me = app.api(Method::GET, "/api/v1/me", Some(&token), None).await;
    let first_id = me.json["session"]["id"].as_str().unwrap().to_owned();
    let res = app
        .api(
            Method::DELETE,
            &format!("/api/v1/sessions/{first_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        app.sessions_of(id),
        vec![
            ("api".into(), Some("user_logout".into())),
            ("api".into(), Some("revoked_by_user".into())),
        ]
    );
}

#[actix_web::test]
async fn wrong_passwords_get_the_generic_401_and_lockout_is_shared_with_the_pages() {
    let app = spawn().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    for _ in 0..3 {
        let res = app.token_request(EMAIL, "wrong password here", None).await;
        assert_eq!((res.status, res.error()), (401, "invalid_credentials"));
        assert_eq!(res.json["message"], "Invalid email or password.");
    }
    let unknown = app
        .token_request("nobody@example.com", PASSWORD, None)
        .await;
    assert_eq!(
        unknown.json,
        app.token_request(EMAIL, "wrong password here", None)
            .await
            .json
    );
    // Two more at the sign-in page reach the limit of five for the email.
    let page = app.sign_in("/login", EMAIL, "wrong password here").await;
    assert!(matches!(page.status, 401 | 429));
    let locked = app.token_request(EMAIL, PASSWORD, None).await;
    assert_eq!((locked.status, locked.error()), (429, "locked"));
    let retry: u64 = locked.header("retry-after").parse().unwrap();
    assert!(retry > 0 && retry <= 15 * 60);
    let minutes = retry.div_ceil(60);
    assert_eq!(
        locked.json["message"],
        format!("Too many failed attempts. Try again in {minutes} minutes.")
    );
    assert_eq!(
        app.sign_in("/login", EMAIL, PASSWORD).await.status,
        429,
        "and the page too"
    );
    let failed = app.incidents("login_failed");
    assert!(
        failed
            .iter()
            .filter(|i| i.0.as_deref() == Some("api"))
            .count()
            >= 4
    );
    assert!(failed
        .iter()
        .all(|i| i.3.as_deref() != Some("wrong password here")));
    assert!(app.sessions_of(id).is_empty());
}

#[actix_web::test]
async fn an_account_that_must_change_its_password_gets_no_token() {
    let app = spawn().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "phone").await;
    diesel::update(a::table.find(id))
        .set(a::must_change_password.eq(true))
        .execute(&mut app.db())
        .unwrap();
    let res = app.token_request(EMAIL, PASSWORD, None).await;
    assert_eq!((res.status, res.error()), (403, "password_change_required"));
    assert!(res.json.get("token").is_none());
    // A token made before is held to signing out (SPEC §4 step 8).
    let me = app.api(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!((me.status, me.error()), (403, "password_change_required"));
    let out = app
        .api(Method::DELETE, "/api/v1/tokens/current", Some(&token), None)
        .await;
    assert_eq!(out.status, 204);
    // The right password was not a failure: five more tries are not a lockout.
    for _ in 0..5 {
        assert_eq!(app.token_request(EMAIL, PASSWORD, None).await.status, 403);
    }
}

#[actix_web::test]
async fn the_single_session_policy_holds_for_tokens() {
    let app = spawn_with(&[("REALMGATE_SINGLE_SESSION", "block")]).await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    app.token_for(EMAIL, "phone").await;
    let res = app.token_request(EMAIL, PASSWORD, None).await;
    assert_eq!((res.status, res.error()), (409, "concurrent_session"));
    assert_eq!(
        app.incidents("concurrent_login_blocked")[0].0.as_deref(),
        Some("api")
    );
    // A browser sign-in is another realm: not blocked.
    assert_redirect_to(&app.sign_in("/login", EMAIL, PASSWORD).await, "/dashboard");

    let app = spawn_with(&[("REALMGATE_SINGLE_SESSION", "replace")]).await;
    let id2 = app.create_account(EMAIL, "Uma User", false).await;
    let first = app.token_for(EMAIL, "phone").await;
    app.token_for(EMAIL, "tablet").await;
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&first), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.sessions_of(id2)[0],
        ("api".into(), Some("replaced_by_new_login".into()))
    );
    let _ = id;
}

#[actix_web::test]
async fn the_21st_token_revokes_the_least_recently_used() {
    let app = spawn().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let mut tokens = Vec::new();
    for n in 0..20 {
        tokens.push(app.token_for(EMAIL, &format!("device {n}")).await);
        app.clock.danger_advance(Duration::from_secs(1));
    }
    // Token 0 is the oldest, but used two minutes on (past the last-seen write interval), so
    // token 1 is the least recently used.
    app.clock.danger_advance(Duration::from_secs(120));
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&tokens[0]), None)
            .await
            .status,
        200
    );
    let newest = app.token_for(EMAIL, "device 20").await;
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&tokens[1]), None)
            .await
            .status,
        401
    );
    for t in tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, t)| t)
        .chain([&newest])
    {
        assert_eq!(
            app.api(Method::GET, "/api/v1/me", Some(t), None)
                .await
                .status,
            200
        );
    }
    let ended: Vec<_> = app
        .sessions_of(id)
        .into_iter()
        .filter_map(|(_, why)| why)
        .collect();
    assert_eq!(ended, vec!["replaced_by_new_login".to_owned()]);
    let live: i64 = s::table
        .filter(s::account_id.eq(id))
        .filter(s::revoked_at.is_null())
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(live, 20);
}

#[actix_web::test]
async fn tokens_expire_idle_and_absolute() {
    let app = spawn_with(&[
        ("REALMGATE_API_IDLE_TIMEOUT", "10s"),
        ("REALMGATE_API_ABSOLUTE_TIMEOUT", "25s"),
    ])
    .await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let idle = app.token_for(EMAIL, "phone").await;
    let busy = app.token_for(EMAIL, "tablet").await;
    for _ in 0..4 {
        app.clock.danger_advance(Duration::from_secs(4));
        assert_eq!(
            app.api(Method::GET, "/api/v1/me", Some(&busy), None)
                .await
                .status,
            200
        );
    }
    let res = app.api(Method::GET, "/api/v1/me", Some(&idle), None).await;
    assert_eq!((res.status, res.error()), (401, "invalid_token"));
    assert_eq!(res.json["message"], "The token has expired. Sign in again.");
    app.clock.danger_advance(Duration::from_secs(10));
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&busy), None)
            .await
            .status,
        401
    );
    let mut reasons: Vec<_> = app.logouts().into_iter().map(|l| (l.1, l.2)).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("api".into(), "absolute_timeout".into()),
            ("api".into(), "idle_timeout".into())
        ]
    );
    let _ = id;
}

#[actix_web::test]
async fn a_moved_client_is_recorded_and_by_default_kept() {
    let app = spawn().await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "phone").await;
    app.peer.set("198.51.100.7:5000".parse().unwrap());
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        200
    );
    assert_eq!(app.incidents("ip_changed")[0].0.as_deref(), Some("api"));
    let list = app
        .api(Method::GET, "/api/v1/sessions", Some(&token), None)
        .await;
    assert_eq!(
        list.json["sessions"][0]["ip"], "198.51.100.7",
        "the new IP is recorded"
    );
    assert_eq!(app.sessions_of(id), vec![("api".into(), None)]);
}

#[actix_web::test]
async fn a_moved_client_is_recorded_and_revoked_when_the_realm_says_so() {
    let app = spawn_with(&[("REALMGATE_API_IP_CHANGE", "revoke")]).await;
    app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "phone").await;
    app.peer.set("198.51.100.7:5000".parse().unwrap());
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        401
    );
    assert_eq!(app.incidents("ip_changed")[0].0.as_deref(), Some("api"));
    assert_eq!(app.logouts()[0].2, "ip_changed");
}

#[actix_web::test]
async fn the_document_is_served_and_is_the_one_the_tests_check_against() {
    let app = spawn().await;
    let res = app
        .api(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json["openapi"], "3.1.0");
    use utoipa::OpenApi as _;
    assert_eq!(
        res.json,
        serde_json::to_value(realmgate::web::api::ApiDoc::openapi()).unwrap()
    );
    for path in [
        "/api/v1/tokens",
        "/api/v1/tokens/current",
        "/api/v1/me",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/logout-everywhere",
        "/api/v1/openapi.json",
    ] {
        assert!(res.json["paths"][path].is_object(), "{path}");
    }
    let tokens = &res.json["paths"]["/api/v1/tokens"]["post"]["responses"];
    for status in [
        "201", "400", "401", "403", "409", "413", "415", "429", "500", "503",
    ] {
        assert!(
            tokens[status].is_object(),
            "POST /api/v1/tokens documents {status}"
        );
    }
}

#[actix_web::test]
async fn saturated_hashing_is_a_json_503_with_retry_after() {
    // One hashing thread, the SPEC's Argon2 cost, and a queue wait of a millisecond: of a
    // handful of sign-ins at once, those that wait behind the first are turned away.
    let app = crate::helpers::spawn_tuned(&[], |c| {
        c.hashing.params = realmgate::domain::config::HashParams::spec();
        c.hashing.workers = 1;
        c.hashing.max_queue_wait = Duration::from_millis(1);
    })
    .await;
    app.create_account(EMAIL, "Uma User", false).await;
    let emails: Vec<String> = (0..6).map(|n| format!("nobody{n}@example.com")).collect();
    let answers =
        futures_util::future::join_all(emails.iter().map(|e| app.token_request(e, PASSWORD, None)))
            .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 503)),
        "{statuses:?}"
    );
    let busy: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(!busy.is_empty(), "{statuses:?}");
    for b in busy {
        assert_eq!(b.error(), "unavailable");
        assert_eq!(b.header("retry-after"), "5");
    }
}
