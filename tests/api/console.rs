//! The admin console (SPEC §5 admin routes): actions, re-authentication, lists and CSV.

use std::time::Duration;

use diesel::prelude::*;
use realmgate::db::schema::accounts as a;

use crate::helpers::{assert_redirect_to, spawn, PASSWORD};

#[actix_web::test]
async fn deactivation_takes_effect_on_the_victims_next_request_and_the_admin_stays() {
    let app = spawn().await;
    // The victim is signed in to the user realm of the very browser the admin uses.
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    let res = app.admin_act(user, "deactivate", &token).await;
    assert_redirect_to(&res, "/admin/users");
    let page = app.get("/admin/users").await;
    assert!(page
        .body
        .contains("is deactivated and signed out everywhere."));
    assert!(page.body.contains(&format!(r#"data-account-id="{user}""#)));

    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(
        app.get("/admin").await.status,
        200,
        "the acting admin stays signed in"
    );
    assert_eq!(app.sessions_of(admin), vec![("admin".into(), None)]);
    let active: bool = a::table
        .find(user)
        .select(a::is_active)
        .first(&mut app.db())
        .unwrap();
    assert!(!active);
    assert_eq!(
        app.sign_in("/login", "user@example.com", PASSWORD)
            .await
            .status,
        401
    );

    // Activate again.
    let token = app.get("/admin/users").await.csrf_token();
    assert_redirect_to(
        &app.admin_act(user, "activate", &token).await,
        "/admin/users",
    );
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
}

#[actix_web::test]
async fn sign_out_everywhere_ends_every_realm_of_that_account_only() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    let res = app.admin_act(user, "logout-everywhere", &token).await;
    assert_redirect_to(&res, "/admin/users");
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("logout_everywhere".into()))]
    );
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(app.get("/admin").await.status, 200);
    assert_eq!(app.sessions_of(admin), vec![("admin".into(), None)]);
}

#[actix_web::test]
async fn an_admin_cannot_deactivate_themself() {
    let app = spawn().await;
    let admin = app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    let res = app.admin_act(admin, "deactivate", &token).await;
    assert_redirect_to(&res, "/admin/users");
    assert!(app
        .get("/admin/users")
        .await
        .body
        .contains("You cannot deactivate your own account."));
    assert_eq!(app.get("/admin").await.status, 200);
}

#[actix_web::test]
async fn actions_need_csrf_a_known_id_and_a_recent_sign_in() {
    let app = spawn().await;
    let user = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    for action in [
        "deactivate",
        "activate",
        "unlock",
        "logout-everywhere",
        "send-reset",
    ] {
        let path = format!("/admin/users/{user}/{action}");
        assert_eq!(
            app.post(&path, &[("csrf_token", "forged")]).await.status,
            403,
            "{action}"
        );
        assert_eq!(app.post(&path, &[]).await.status, 403, "{action}");
        let res = app
            .post(
                &format!("/admin/users/99999/{action}"),
                &[("csrf_token", &token)],
            )
            .await;
        assert_eq!(res.status, 404, "{action} on an unknown id");
    }
    assert_eq!(app.admin_act(user, "explode", &token).await.status, 404);
    assert_eq!(
        app.post(
            "/admin/users/not-a-number/unlock",
            &[("csrf_token", &token)]
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.post("/admin/users/99999999999/unlock", &[("csrf_token", &token)])
            .await
            .status,
        404
    );
    assert_eq!(
        app.post("/admin/sessions/nope/revoke", &[("csrf_token", &token)])
            .await
            .status,
        404
    );
    assert_eq!(
        app.post("/admin/sessions/nope/revoke", &[("csrf_token", "x")])
            .await
            .status,
        403
    );

    // Eleven minutes after sign-in, actions ask for the password again.
    app.clock.danger_advance(Duration::from_secs(11 * 60));
    let token = app.get("/admin/users").await.csrf_token();
    for action in ["deactivate", "send-reset"] {
        let res = app
            .post(
                &format!("/admin/users/{user}/{action}"),
                &[("csrf_token", &token)],
            )
            .await;
        assert_redirect_to(&res, "/admin/login?next=/admin/users");
    }
    // Freshness is checked last: an unknown target is still the 404 and a forged token the
    // 403, not a trip to the sign-in page.
    for (path, token, status) in [
        (format!("/admin/users/{user}/explode"), token.as_str(), 404),
        ("/admin/users/abc/deactivate".to_owned(), "forged", 404),
        (format!("/admin/users/{user}/deactivate"), "forged", 403),
    ] {
        let res = app.post(&path, &[("csrf_token", token)]).await;
        assert_eq!(res.status, status, "{path}");
    }
    let res = app
        .post(
            "/admin/users",
            &[
                ("email", "x@example.com"),
                ("name", "X"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin/login?next=/admin/users");
    let res = app
        .post("/admin/sessions/nope/revoke", &[("csrf_token", &token)])
        .await;
    assert_redirect_to(&res, "/admin/login?next=/admin/sessions");
    assert!(app
        .get("/admin/login?next=/admin/users")
        .await
        .body
        .contains("Please confirm your password."));
    let active: bool = a::table
        .find(user)
        .select(a::is_active)
        .first(&mut app.db())
        .unwrap();
    assert!(active, "nothing happened without re-authentication");

    // Confirming the password brings the admin back to the list, and actions work again.
    let token = app.csrf("/admin/login?next=/admin/users").await;
    let res = app
        .post(
            "/admin/login",
            &[
                ("email", "staff@example.com"),
                ("password", PASSWORD),
                ("next", "/admin/users"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin/users");
    let token = app.get("/admin/users").await.csrf_token();
    assert_redirect_to(
        &app.admin_act(user, "deactivate", &token).await,
        "/admin/users",
    );
}

#[actix_web::test]
async fn creating_accounts_with_and_without_a_password() {
    let app = spawn().await;
    app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    let strong = "violet tractor marmalade";
    let res = app
        .post(
            "/admin/users",
            &[
                ("email", "Pat@Example.com"),
                ("name", "Pat"),
                ("password", strong),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin/users");
    let (must, confirmed, admin): (bool, Option<chrono::NaiveDateTime>, bool) = a::table
        .filter(a::email.eq("pat@example.com"))
        .select((a::must_change_password, a::email_confirmed_at, a::is_admin))
        .first(&mut app.db())
        .unwrap();
    assert!(must && confirmed.is_some() && !admin);

    let res = app
        .post(
            "/admin/users",
            &[
                ("email", "quinn@example.com"),
                ("name", "Quinn"),
                ("is_admin", "on"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin/users");
    let mails = app.wait_for_mails(1).await;
    assert!(mails[0].contains("To: quinn@example.com"));
    assert!(mails[0].contains("/password/reset/"));
    let admin: bool = a::table
        .filter(a::email.eq("quinn@example.com"))
        .select(a::is_admin)
        .first(&mut app.db())
        .unwrap();
    assert!(admin);

    // A duplicate and a weak password are refused with a message.
    let res = app
        .post(
            "/admin/users",
            &[
                ("email", "pat@example.com"),
                ("name", "Pat"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin/users");
    assert!(app
        .get("/admin/users")
        .await
        .body
        .contains("already exists"));
    app.post(
        "/admin/users",
        &[
            ("email", "r@example.com"),
            ("name", "R"),
            ("password", "password1234"),
            ("csrf_token", &token),
        ],
    )
    .await;
    assert!(app
        .get("/admin/users")
        .await
        .body
        .contains("too easy to guess"));
}

#[actix_web::test]
async fn send_reset_mails_a_link() {
    let app = spawn().await;
    let user = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    assert_redirect_to(
        &app.admin_act(user, "send-reset", &token).await,
        "/admin/users",
    );
    let mails = app.wait_for_mails(1).await;
    assert!(mails[0].contains("To: user@example.com") && mails[0].contains("/password/reset/"));
}

fn ids_in(body: &str) -> Vec<&str> {
    body.split("data-account-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

#[actix_web::test]
async fn the_user_list_searches_and_pages() {
    let app = spawn().await;
    app.sign_in_admin().await;
    for i in 0..30 {
        app.create_account(
            &format!("person{i:02}@example.com"),
            &format!("Person {i:02}"),
            false,
        )
        .await;
    }
    let page1 = app.get("/admin/users").await;
    assert_eq!(page1.body.matches("data-account-id=").count(), 25);
    // "Next" carries the last account's id, so the next page starts there by key.
    let last = page1
        .body
        .rsplit("data-account-id=\"")
        .next()
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let next = format!("/admin/users?after={last}&page=2");
    assert!(
        page1.body.contains(&next.replace('&', "&#38;")),
        "{}",
        page1.body
    );
    let by_key = app.get(&next).await;
    assert_eq!(by_key.body.matches("data-account-id=").count(), 6);
    // A typed page number reaches the same rows.
    let page2 = app.get("/admin/users?page=2").await;
    assert_eq!(page2.body.matches("data-account-id=").count(), 6);
    assert_eq!(ids_in(&page2.body), ids_in(&by_key.body));
    let past = app.get("/admin/users?page=9").await;
    assert_eq!(past.status, 200);
    assert_eq!(past.body.matches("data-account-id=").count(), 0);
    assert_eq!(app.get("/admin/users?after=abc&page=2").await.status, 400);
    let found = app.get("/admin/users?q=person1").await;
    assert_eq!(found.body.matches("data-account-id=").count(), 10);
    assert!(found.body.contains(r#"data-email="person15@example.com""#));
    let none = app.get("/admin/users?q=%25").await;
    assert_eq!(
        none.body.matches("data-account-id=").count(),
        0,
        "LIKE wildcards are literal"
    );
    // A name is found whatever the case typed, on both backends (PostgreSQL's LIKE is
    // case-sensitive).
    app.create_account("jo@example.com", "Jo Smith", false)
        .await;
    for q in ["Smith", "smith", "JO SM"] {
        let found = app
            .get(&format!("/admin/users?q={}", q.replace(' ', "+")))
            .await;
        assert!(
            found.body.contains(r#"data-email="jo@example.com""#),
            "{q}: {}",
            found.body
        );
    }
    assert_eq!(app.get("/admin/users?page=0").await.status, 400);
    assert_eq!(app.get("/admin/users?page=abc").await.status, 400);
}

#[actix_web::test]
async fn the_sessions_list_filters_and_revokes() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    app.sign_in_admin().await;
    let all = app.get("/admin/sessions").await;
    assert_eq!(all.body.matches("data-session-id=").count(), 2);
    let users = app.get("/admin/sessions?realm=user").await;
    assert_eq!(users.body.matches("data-session-id=").count(), 1);
    let by_email = app.get("/admin/sessions?account=user%40example.com").await;
    assert_eq!(by_email.body.matches("data-session-id=").count(), 1);
    let by_id = app.get(&format!("/admin/sessions?account={user}")).await;
    assert_eq!(by_id.body.matches("data-session-id=").count(), 1);
    assert_eq!(app.get("/admin/sessions?realm=mobile").await.status, 400);

    use realmgate::db::schema::auth_sessions as s;
    let id: String = s::table
        .filter(s::realm.eq("user"))
        .select(s::id)
        .first(&mut app.db())
        .unwrap();
    let res = app
        .post(
            &format!("/admin/sessions/{id}/revoke"),
            &[("csrf_token", &users.csrf_token())],
        )
        .await;
    assert_redirect_to(&res, "/admin/sessions");
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("revoked_by_admin".into()))]
    );
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(app.get("/admin").await.status, 200);
}

#[actix_web::test]
async fn incidents_filter_page_and_export_csv_safely() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    app.sign_in("/login", "=HYPERLINK(\"http://evil\")@x.example", "x")
        .await;
    app.sign_in("/login", "user@example.com", "wrong").await;
    app.sign_in_admin().await;

    let page = app.get("/admin/incidents?kind=login_failed").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches("data-incident-id=").count(), 2);
    let by_account = app.get("/admin/incidents?account=user%40example.com").await;
    assert_eq!(by_account.body.matches("data-incident-id=").count(), 1);
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let dated = app.get(&format!("/admin/incidents?from={tomorrow}")).await;
    assert_eq!(dated.body.matches("data-incident-id=").count(), 0);
    let dated = app
        .get(&format!(
            "/admin/incidents?from={today}&to={today}&severity=info"
        ))
        .await;
    assert_eq!(dated.body.matches("data-incident-id=").count(), 2);
    assert_eq!(app.get("/admin/incidents?from=yesterday").await.status, 400);

    let csv = app
        .get("/admin/incidents?kind=login_failed&format=csv")
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(csv.header("content-disposition").starts_with("attachment"));
    assert!(csv
        .header("content-disposition")
        .contains("incidents-kind-login_failed-"));
    assert!(csv.body.starts_with("\"id\",\"created_at\",\"kind\""));
    assert!(
        csv.body
            .contains("\"'=HYPERLINK(\"\"http://evil\"\")@x.example\""),
        "{}",
        csv.body
    );
    for line in csv.body.lines() {
        assert!(
            line.starts_with('"') && line.ends_with('"'),
            "every cell quoted: {line}"
        );
    }
}

#[actix_web::test]
async fn logouts_filter_and_export() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    app.logout("/logout", "/dashboard").await;
    app.sign_in_admin().await;
    let page = app
        .get("/admin/logouts?reason=user_logout&realm=user")
        .await;
    assert_eq!(page.body.matches("data-logout-id=").count(), 1);
    let none = app.get("/admin/logouts?reason=idle_timeout").await;
    assert_eq!(none.body.matches("data-logout-id=").count(), 0);
    let csv = app
        .get(&format!("/admin/logouts?account={user}&format=csv"))
        .await;
    assert_eq!(
        csv.header("content-disposition"),
        format!("attachment; filename=\"logouts-account-{user}-1-rows.csv\"")
    );
    assert_eq!(csv.body.lines().count(), 2);
    assert!(csv.body.contains("\"user_logout\",\"user\""));
}

#[actix_web::test]
async fn the_dashboard_shows_the_last_day_and_a_chart() {
    let app = spawn().await;
    app.sign_in_user().await;
    app.logout("/logout", "/dashboard").await;
    app.sign_in("/login", "user@example.com", "wrong").await;
    app.sign_in_admin().await;
    let page = app.get("/admin").await;
    assert!(
        page.body.contains(r#"data-stat="sign-outs-24h">1<"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"data-stat="incidents-info">1<"#));
    assert!(page.body.contains("<svg class=\"chart\""));
    assert!(page.body.contains("Sign-ins") && page.body.contains("Incidents"));
    // Today's bars (the chart's last day) count what happened, on either backend's own
    // spelling of "the day of a timestamp".
    let today = page
        .body
        .rsplit("<rect")
        .take(3)
        .collect::<Vec<_>>()
        .join("");
    for count in ["Sign-ins: 2<", "Sign-outs: 1<", "Incidents: 1<"] {
        assert!(today.contains(count), "{count} in {today}");
    }
}

#[actix_web::test]
async fn a_user_session_reaches_nothing_in_the_console() {
    let app = spawn().await;
    app.sign_in_user().await;
    for path in [
        "/admin/users",
        "/admin/sessions",
        "/admin/incidents",
        "/admin/logouts",
        "/admin/incidents?format=csv",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status, 303, "{path}");
        assert!(res.location().starts_with("/admin/login?next="));
    }
    let token = app.get("/dashboard").await.csrf_token();
    let res = app
        .post("/admin/users/1/deactivate", &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status, 401);
}

#[actix_web::test]
async fn a_deactivated_account_gets_no_reset_link() {
    let app = spawn().await;
    let user = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    app.admin_act(user, "deactivate", &token).await;
    let res = app.admin_act(user, "send-reset", &token).await;
    assert_redirect_to(&res, "/admin/users");
    assert!(app
        .get("/admin/users")
        .await
        .body
        .contains("activate it before sending a reset link"));
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert!(app.mails().is_empty());
}

/// Issue 18: an export is streamed in batches and never cut, and its name says what it holds.
#[actix_web::test]
async fn an_export_of_thousands_is_whole_and_named_by_its_rows() {
    use realmgate::db::schema::security_incidents as si;
    let app = spawn().await;
    app.sign_in_admin().await;
    let now = app.clock.now();
    // 2,345 rows, two batches and a part, with equal times to test the key's tie-break.
    let rows: Vec<_> = (0..2_345)
        .map(|i| {
            (
                si::kind.eq("login_failed"),
                si::severity.eq("info"),
                si::ip.eq(format!("10.0.{}.{}", i / 250, i % 250)),
                si::created_at.eq(now - chrono::Duration::seconds(i64::from(i / 3))),
            )
        })
        .collect();
    let mut conn = app.db();
    conn.transaction(|conn| {
        for row in rows {
            diesel::insert_into(si::table).values(row).execute(conn)?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
    drop(conn);
    let csv = app
        .get("/admin/incidents?kind=login_failed&severity=info&format=csv")
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.header("content-disposition"),
        "attachment; filename=\"incidents-kind-login_failed-severity-info-2345-rows.csv\""
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 2_346, "the header and every row");
    let mut ids: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2_345, "no row twice, none missing");
}

/// Issue 18: "Next" finds the next page by the last row's key, not by an offset: walking the
/// links shows every row once, the same rows as the numbered pages.
#[actix_web::test]
async fn next_pages_are_found_by_key_and_show_every_row_once() {
    use realmgate::db::schema::security_incidents as si;
    let app = spawn().await;
    app.sign_in_admin().await;
    let now = app.clock.now();
    let mut conn = app.db();
    conn.transaction(|conn| {
        for i in 0..60 {
            diesel::insert_into(si::table)
                .values((
                    si::kind.eq("login_failed"),
                    si::severity.eq("info"),
                    si::ip.eq("10.0.0.1"),
                    // Pairs share a time: the key's id breaks the tie.
                    si::created_at.eq(now - chrono::Duration::seconds(i / 2)),
                ))
                .execute(conn)?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
    drop(conn);
    let ids = |body: &str| -> Vec<String> {
        body.split("data-incident-id=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_owned())
            .collect()
    };
    let mut seen = Vec::new();
    let mut href = "/admin/incidents?kind=login_failed".to_owned();
    for page in 1..=3 {
        let body = app.get(&href).await.body;
        assert!(body.contains(&format!("Page {page}")), "{body}");
        let on_page = ids(&body);
        // The same rows the numbered page shows.
        let numbered = app
            .get(&format!("/admin/incidents?kind=login_failed&page={page}"))
            .await
            .body;
        assert_eq!(on_page, ids(&numbered), "page {page}");
        seen.extend(on_page);
        let next = body
            .split("href=\"")
            .filter_map(|s| s.split('"').next())
            .find(|h| h.contains("page=") && h.contains("after="))
            .map(|h| h.replace("&#38;", "&").replace("&amp;", "&"));
        match next {
            Some(next) => href = next,
            None => {
                assert_eq!(page, 3, "the last page has no next");
                break;
            }
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (60, 60));
    // A cursor the portal did not make: 400.
    for bad in ["x", "1.2.3", "99999999999999999999.1", "1.notanid"] {
        let res = app.get(&format!("/admin/incidents?after={bad}")).await;
        assert_eq!(res.status, 400, "{bad}");
    }
}

/// Issue 18: the session list is in last-seen order, its "Next" link starts the next page after
/// the last row's key, and a typed page number reaches the same rows.
#[actix_web::test]
async fn the_session_list_pages_by_last_seen() {
    let app = spawn().await;
    app.sign_in_admin().await;
    let user = app
        .create_account("pager@example.com", "Pat Pager", false)
        .await;
    let now = app.clock.now();
    let at = |minutes: i64| {
        (now + chrono::Duration::minutes(minutes))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    {
        // 30 live app sessions seen a minute apart, straight into the registry.
        let mut conn = app.db();
        for i in 1..=30 {
            diesel::RunQueryDsl::execute(
                diesel::sql_query(format!(
                    "INSERT INTO auth_sessions (id, secret_hash, account_id, realm, remember, \
                     created_at, last_seen_at, idle_expires_at, absolute_expires_at, ip, \
                     user_agent, device_name) VALUES ('pager-{i:02}', 'pager-secret-{i:02}', \
                     {user}, 'api', FALSE, '{seen}', '{seen}', '{later}', '{later}', \
                     '127.0.0.1', 'app', 'Phone {i:02}')",
                    seen = at(-i),
                    later = at(24 * 60),
                )),
                &mut *conn,
            )
            .unwrap();
        }
    }
    let sessions_in = |body: &str| -> Vec<String> {
        body.split("data-session-id=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|id| id.starts_with("pager-"))
            .map(str::to_owned)
            .collect()
    };
    let page1 = app.get("/admin/sessions?realm=api").await;
    assert_eq!(page1.status, 200);
    let first = sessions_in(&page1.body);
    let expected: Vec<String> = (1..=25).map(|i| format!("pager-{i:02}")).collect();
    assert_eq!(first, expected, "last seen first");
    let next = page1
        .body
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.contains("after="))
        .map(|href| href.replace("&#38;", "&"))
        .unwrap_or_else(|| panic!("no Next link by key: {}", page1.body));
    assert!(
        next.contains("realm=api") && next.contains("page=2"),
        "{next}"
    );
    let by_key = app.get(&next).await;
    let rest: Vec<String> = (26..=30).map(|i| format!("pager-{i:02}")).collect();
    assert_eq!(sessions_in(&by_key.body), rest);
    let typed = app.get("/admin/sessions?realm=api&page=2").await;
    assert_eq!(sessions_in(&typed.body), rest);
    assert_eq!(
        app.get("/admin/sessions?after=123.not%20an%20id&page=2")
            .await
            .status,
        400
    );
    assert_eq!(
        app.get("/admin/sessions?after=abc&page=2").await.status,
        400
    );
}

/// Issue 18: the dashboard's accounts and live sessions come from counters kept by triggers,
/// exact at any size: past 10,000 they still read as the number, with its separators. A
/// session past a bound that no request or cleanup has ended yet is not live, and neither is a
/// revoked one; the cleanup ending them leaves the figures as they were.
#[actix_web::test]
async fn the_dashboards_live_figures_are_exact_and_leave_out_what_has_ended() {
    use realmgate::db::schema::auth_sessions as s;
    let app = spawn().await;
    app.sign_in_admin().await;
    let user = app
        .create_account("many@example.com", "Manny Many", false)
        .await;
    let now = app.clock.now();
    let (later, earlier) = (
        now + chrono::Duration::hours(1),
        now - chrono::Duration::hours(1),
    );
    // 10,001 live; 3 past their idle bound; 2 past their absolute bound only; 4 revoked.
    let rows = (0..10_010).map(|i| {
        let (idle, absolute, revoked) = match i {
            0..=10_000 => (later, later, None),
            10_001..=10_003 => (earlier, later, None),
            10_004..=10_005 => (later, earlier, None),
            _ => (later, later, Some(now)),
        };
        (idle, absolute, revoked, i)
    });
    let mut conn = app.db();
    conn.transaction(|conn| {
        for (idle, absolute, revoked, i) in rows {
            diesel::insert_into(s::table)
                .values((
                    s::id.eq(format!("many-{i:05}")),
                    s::secret_hash.eq(format!("many-secret-{i:05}")),
                    s::account_id.eq(user),
                    s::realm.eq("user"),
                    s::remember.eq(false),
                    s::created_at.eq(now),
                    s::last_seen_at.eq(now),
                    s::idle_expires_at.eq(idle),
                    s::absolute_expires_at.eq(absolute),
                    s::ip.eq("127.0.0.1"),
                    s::user_agent.eq("test"),
                    s::revoked_at.eq(revoked),
                ))
                .execute(conn)?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
    drop(conn);
    let figure = |body: &str, stat: &str| {
        body.split(&format!(r#"data-stat="{stat}">"#))
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .map(str::to_owned)
    };
    let page = app.get("/admin").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        figure(&page.body, "user-sessions").as_deref(),
        Some("10,001")
    );
    assert_eq!(
        figure(&page.body, "admin-sessions").as_deref(),
        Some("1"),
        "the admin's own session"
    );
    assert_eq!(figure(&page.body, "accounts").as_deref(), Some("2"));
    // The cleanup ends the five past a bound: the figures stay.
    let report =
        realmgate::app::maintenance::cleanup(&mut app.db(), &app.state.config, now).unwrap();
    assert_eq!(report.sessions_ended, 5);
    let page = app.get("/admin").await;
    assert_eq!(
        figure(&page.body, "user-sessions").as_deref(),
        Some("10,001")
    );
    // A revoke from the console is counted at once.
    let token = app.csrf("/admin/sessions").await;
    let res = app
        .post(
            "/admin/sessions/many-00000/revoke",
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 303);
    let page = app.get("/admin").await;
    assert_eq!(
        figure(&page.body, "user-sessions").as_deref(),
        Some("10,000")
    );
}

/// Issue 18: a search reads the next 2,000 accounts in id order first; when they do not fill
/// its page, the trigram index answers (FTS5 on SQLite, pg_trgm on PostgreSQL). Either way the
/// rows are the same: every account whose address or name holds the text, in any case, in id
/// order, paged by key. Names changed after are found by their new text.
#[actix_web::test]
async fn a_search_past_the_first_accounts_is_answered_from_the_index() {
    use realmgate::db::schema::accounts as a;
    let app = spawn().await;
    app.sign_in_admin().await;
    let now = app.clock.now();
    let row = |email: String, name: String| {
        (
            a::email.eq(email),
            a::name.eq(name),
            a::password_hash.eq("x"),
            a::is_admin.eq(false),
            a::is_platform_admin.eq(false),
            a::email_confirmed_at.eq(Some(now)),
            a::created_at.eq(now),
        )
    };
    // 2,500 accounts; the few that hold "needle" come after the first 2,000, and one more
    // than a page holds "haystack" among the first ones.
    let rows = (0..2_500).map(|i| match i {
        2_100 => row(format!("finder{i}@example.com"), "Nat Needle".into()),
        2_200 => row(format!("needle{i}@example.com"), "Ned".into()),
        2_300 => row(format!("x{i}@NEEDLEWORK.example"), "Nora".into()),
        i if i % 10 == 0 && i < 300 => row(format!("h{i}@example.com"), format!("Haystack {i}")),
        _ => row(format!("person{i}@example.com"), format!("Person {i}")),
    });
    app.db()
        .transaction(|conn| {
            for values in rows {
                diesel::insert_into(a::table).values(values).execute(conn)?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .unwrap();
    let emails = |body: &str| -> Vec<String> {
        body.split(r#"data-email=""#)
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect()
    };
    let found = app.get("/admin/users?q=NeEdLe").await;
    assert_eq!(found.status, 200);
    assert_eq!(
        emails(&found.body),
        [
            "finder2100@example.com",
            "needle2200@example.com",
            "x2300@NEEDLEWORK.example"
        ]
    );
    // A search many match fills its pages from the first accounts, and pages by key.
    let first = app.get("/admin/users?q=haystack").await;
    assert_eq!(emails(&first.body).len(), 25);
    let next = app.get("/admin/users?q=haystack&page=2").await;
    assert_eq!(
        emails(&next.body),
        [250, 260, 270, 280, 290].map(|i| format!("h{i}@example.com")),
        "30 in all"
    );
    // Two characters make no trigram: found by reading on.
    let short = app.get("/admin/users?q=k.").await;
    assert_eq!(emails(&short.body), ["x2300@NEEDLEWORK.example"]);
    // A rename is searched by its new text, and no longer by its old.
    diesel::update(a::table.filter(a::email.eq("finder2100@example.com")))
        .set(a::name.eq("Nat Thimble"))
        .execute(&mut app.db())
        .unwrap();
    let found = app.get("/admin/users?q=thimble").await;
    assert_eq!(emails(&found.body), ["finder2100@example.com"]);
    let found = app.get("/admin/users?q=needle").await;
    assert_eq!(
        emails(&found.body),
        ["needle2200@example.com", "x2300@NEEDLEWORK.example"]
    );
}

/// Issue 18: the chart's closed days are read from `chart_days`, which triggers fill as the
/// rows are written; today is counted from the tables. Two days on, what happened on the first
/// day is in its own bars, and today's hold only today's.
#[actix_web::test]
async fn the_charts_closed_days_keep_what_happened_on_them() {
    let app = spawn().await;
    app.sign_in_user().await;
    app.logout("/logout", "/dashboard").await;
    app.sign_in("/login", "user@example.com", "wrong").await;
    app.clock
        .danger_advance(std::time::Duration::from_secs(2 * 86_400));
    app.sign_in_admin().await;
    let bars = |body: &str| -> Vec<String> {
        let titles: Vec<String> = body
            .split("<title>")
            .skip(1)
            .filter_map(|t| t.split("</title>").next())
            .map(str::to_owned)
            .collect();
        titles[titles.len() - 21..].to_vec()
    };
    let titles = bars(&app.get("/admin").await.body);
    let days: Vec<&[String]> = titles.chunks(3).collect();
    assert_eq!(
        days[4],
        ["Sign-ins: 1", "Sign-outs: 1", "Incidents: 1"],
        "two days ago, a closed day: {titles:?}"
    );
    assert_eq!(days[6][0], "Sign-ins: 1", "today: the admin's sign-in");
    for quiet in [0, 1, 2, 3, 5] {
        assert_eq!(
            days[quiet],
            ["Sign-ins: 0", "Sign-outs: 0", "Incidents: 0"],
            "day {quiet}: {titles:?}"
        );
    }
    // A closed day is what was written that day: deleting its incident afterwards (as a short
    // retention would) leaves the day's bar, read from `chart_days`, as it was.
    diesel::delete(realmgate::db::schema::security_incidents::table)
        .execute(&mut app.db())
        .unwrap();
    let titles = bars(&app.get("/admin").await.body);
    assert_eq!(titles[14], "Incidents: 1", "{titles:?}");
    // Past the chart's week, the cleanup drops a day's rows.
    let later = app.clock.now() + chrono::Duration::days(9);
    let report =
        realmgate::app::maintenance::cleanup(&mut app.db(), &app.state.config, later).unwrap();
    assert!(report.counters_deleted >= 3, "{report:?}");
}
