//! SPEC §9 defences besides lockout: single session, restart sign-out, cleanup.

use std::time::Duration;

use realmgate::app::maintenance;
use realmgate::domain::events::LogoutReason;

use crate::helpers::{assert_redirect_to, spawn, spawn_with, PASSWORD};

#[actix_web::test]
async fn single_session_block_refuses_a_second_device() {
    let app = spawn_with(&[("REALMGATE_SINGLE_SESSION", "block")]).await;
    let user = app.sign_in_user().await;
    // The same browser signing in again is not "another device".
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
    let first = app.cookie.borrow().clone();
    *app.cookie.borrow_mut() = None;
    let res = app.sign_in("/login", "user@example.com", PASSWORD).await;
    assert_eq!(res.status, 409);
    assert!(res.body.contains("Your account is open on another device."));
    assert_eq!(app.incidents("concurrent_login_blocked").len(), 1);
    // The other realm is a separate question.
    app.sign_in_admin().await;
    *app.cookie.borrow_mut() = first;
    assert_eq!(app.get("/dashboard").await.status, 200);
    assert_eq!(
        app.sessions_of(user)
            .iter()
            .filter(|s| s.1.is_none())
            .count(),
        1
    );
}

#[actix_web::test]
async fn single_session_replace_ends_the_other_device() {
    let app = spawn_with(&[("REALMGATE_SINGLE_SESSION", "replace")]).await;
    let user = app.sign_in_user().await;
    let first = app.cookie.borrow().clone();
    *app.cookie.borrow_mut() = None;
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
    assert_eq!(
        app.sessions_of(user),
        vec![
            ("user".into(), Some("replaced_by_new_login".into())),
            ("user".into(), None)
        ]
    );
    *app.cookie.borrow_mut() = first;
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn restart_with_clearing_signs_everyone_out_and_without_keeps_them() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;
    // Without clearing (the default), the same key keeps sessions alive: nothing runs.
    assert_eq!(app.get("/dashboard").await.status, 200);
    // With REALMGATE_CLEAR_SESSIONS_ON_START=true, `serve` runs this at start.
    let ended = maintenance::clear_sessions(
        &mut app.db(),
        None,
        LogoutReason::ServerRestart,
        false,
        app.clock.now(),
    )
    .unwrap();
    assert_eq!(ended, 2);
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("server_restart".into()))]
    );
    assert_eq!(
        app.sessions_of(admin),
        vec![("admin".into(), Some("server_restart".into()))]
    );
    assert_eq!(
        app.logouts()
            .iter()
            .filter(|l| l.2 == "server_restart")
            .count(),
        2
    );
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn cleanup_ends_a_dead_session_with_its_logout_activity() {
    let app = spawn_with(&[("REALMGATE_USER_IDLE_TIMEOUT", "5s")]).await;
    let user = app.sign_in_user().await;
    app.sign_in_admin().await;
    app.clock.danger_advance(Duration::from_secs(6));
    let report = maintenance::cleanup(&mut app.db(), &app.state.config, app.clock.now()).unwrap();
    assert_eq!(report.sessions_ended, 1);
    // Each batch is timed: the longest is what a writer waits behind the cleanup at most.
    assert!(
        report.batches > 0 && report.longest_batch > Duration::ZERO,
        "{report:?}"
    );
    assert!(
        report
            .to_string()
            .starts_with("Ended 1 expired session(s);"),
        "{report}"
    );
    // The log line names what the longest batch was doing, for an operator reading a long hold.
    assert!(!report.longest_step.is_empty(), "{report:?}");
    assert!(
        report
            .to_string()
            .ends_with(&format!("ms ({})", report.longest_step)),
        "{report}"
    );
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("idle_timeout".into()))]
    );
    assert_eq!(
        app.logouts(),
        vec![(Some(user), "user".into(), "idle_timeout".into())]
    );
    assert_eq!(
        app.get("/admin").await.status,
        200,
        "the live admin session is untouched"
    );
    // A second pass finds nothing more.
    let again = maintenance::cleanup(&mut app.db(), &app.state.config, app.clock.now()).unwrap();
    assert_eq!(again.sessions_ended, 0);
}

/// A backlog larger than a batch is ended whole in one round: batch after batch, each row once,
/// each with its sign-out (the round stops only at a short batch).
#[actix_web::test]
async fn cleanup_ends_a_backlog_of_several_batches_in_one_round() {
    use diesel::prelude::*;
    use realmgate::db::schema::{auth_sessions as s, logout_activity as la};
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let now = app.clock.now();
    let hour = chrono::Duration::hours(1);
    // Two and a half batches of sessions left idle an hour ago.
    let backlog = 250;
    let rows: Vec<_> = (0..backlog)
        .map(|i| {
            (
                s::id.eq(format!("backlog-{i}")),
                s::secret_hash.eq(format!("backlog-hash-{i}")),
                s::account_id.eq(user),
                s::realm.eq("api"),
                s::remember.eq(false),
                s::created_at.eq(now - hour * 3),
                s::last_seen_at.eq(now - hour * 2),
                s::idle_expires_at.eq(now - hour),
                s::absolute_expires_at.eq(now + hour),
                s::ip.eq("127.0.0.1"),
                s::user_agent.eq("test"),
            )
        })
        .collect();
    // Through the portal's per-backend runner: a multi-row insert is backend-specific SQL.
    realmgate::db::Run::exec(diesel::insert_into(s::table).values(&rows), &mut app.db()).unwrap();
    let report = maintenance::cleanup(&mut app.db(), &app.state.config, now).unwrap();
    assert_eq!(report.sessions_ended, backlog);
    let left: i64 = s::table
        .filter(s::id.like("backlog-%"))
        .filter(s::revoked_at.is_null())
        .count()
        .get_result(&mut *app.db())
        .unwrap();
    assert_eq!(left, 0);
    let logged: i64 = la::table
        .filter(la::session_id.like("backlog-%"))
        .filter(la::reason.eq("idle_timeout"))
        .count()
        .get_result(&mut *app.db())
        .unwrap();
    assert_eq!(logged, backlog as i64, "one sign-out per session");
    assert_eq!(
        app.get("/dashboard").await.status,
        200,
        "the live session stays"
    );
}

/// The cleanup's revoke, on both backends (PostgreSQL locks the rows it reads): a row whose
/// bounds moved after the cleanup's search found it (here: ids handed in that are not expired)
/// stays live,
/// the absolute bound wins when both have passed, a row revoked since keeps its reason, and
/// each row ended gets one sign-out with its account's organisation.
#[actix_web::test]
async fn the_cleanups_revoke_ends_only_what_is_still_expired() {
    use diesel::prelude::*;
    use realmgate::db::schema::{accounts as a, auth_sessions as s, logout_activity as la};
    use realmgate::db::sessions;
    use realmgate::domain::ids::SessionId;
    let app = spawn().await;
    let user = app.sign_in_user().await;
    for device in ["touched", "idle", "both", "revoked"] {
        app.token_for("user@example.com", device).await;
    }
    let now = app.clock.now();
    let hour = chrono::Duration::hours(1);
    let mut conn = app.db();
    let id_of = |conn: &mut realmgate::db::Conn, device: &str| -> String {
        s::table
            .filter(s::device_name.eq(device))
            .select(s::id)
            .first(conn)
            .unwrap()
    };
    // (idle bound, absolute bound, revoked) as the batch finds them.
    for (device, idle, absolute, revoked) in [
        ("touched", now + hour, now + hour * 2, false),
        ("idle", now - hour, now + hour, false),
        ("both", now - hour * 2, now - hour, false),
        ("revoked", now - hour, now - hour, true),
    ] {
        let id = id_of(&mut conn, device);
        diesel::update(s::table.find(&id))
            .set((
                s::idle_expires_at.eq(idle),
                s::absolute_expires_at.eq(absolute),
                s::revoked_at.eq(revoked.then_some(now - hour)),
                s::revoke_reason.eq(revoked.then_some("user_logout")),
            ))
            .execute(&mut *conn)
            .unwrap();
    }
    let ids: Vec<SessionId> = ["touched", "idle", "both", "revoked"]
        .into_iter()
        .map(|d| SessionId::from(id_of(&mut conn, d)))
        .collect();
    let end = |conn: &mut realmgate::db::Conn| {
        conn.write_transaction(|conn| sessions::end_expired(conn, &ids, now))
            .unwrap()
    };
    assert_eq!(end(&mut conn), 2);
    assert_eq!(end(&mut conn), 0, "nothing is ended twice");
    let mut reasons: Vec<(Option<String>, Option<String>)> = s::table
        .filter(s::account_id.eq(user))
        .filter(s::device_name.is_not_null())
        .select((s::device_name, s::revoke_reason))
        .load(&mut *conn)
        .unwrap();
    reasons.sort();
    let named = |d: &str, r: Option<&str>| (Some(d.to_owned()), r.map(str::to_owned));
    assert_eq!(
        reasons,
        [
            named("both", Some("absolute_timeout")),
            named("idle", Some("idle_timeout")),
            named("revoked", Some("user_logout")),
            named("touched", None),
        ]
    );
    let organisation: i32 = a::table
        .find(user)
        .select(a::organisation_id)
        .first(&mut *conn)
        .unwrap();
    let mut logged: Vec<(Option<String>, String, Option<i32>)> = la::table
        .select((la::session_id, la::reason, la::organisation_id))
        .load(&mut *conn)
        .unwrap();
    logged.sort();
    let (both, idle) = (ids[2].as_str().to_owned(), ids[1].as_str().to_owned());
    let mut expected = vec![
        (
            Some(both),
            "absolute_timeout".to_owned(),
            Some(organisation),
        ),
        (Some(idle), "idle_timeout".to_owned(), Some(organisation)),
    ];
    expected.sort();
    assert_eq!(logged, expected, "one sign-out for each row ended");
}

#[actix_web::test]
async fn cleanup_deletes_rows_past_the_retention() {
    let app = spawn_with(&[("REALMGATE_RETENTION", "1d")]).await;
    app.sign_in("/login", "nobody@example.com", "x").await;
    let user = app.sign_in_user().await;
    app.logout("/logout", "/dashboard").await;
    app.clock.danger_advance(Duration::from_secs(2 * 86400));
    let report = maintenance::cleanup(&mut app.db(), &app.state.config, app.clock.now()).unwrap();
    assert!(report.old_rows_deleted >= 4, "{report:?}");
    assert!(app.incidents("login_failed").is_empty());
    assert!(app.logouts().is_empty());
    assert!(app.sessions_of(user).is_empty());
    // The browser that signed in is no longer remembered as a known device.
    use diesel::prelude::*;
    use realmgate::db::schema::known_devices as k;
    let devices: i64 = k::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(devices, 0);
}
