//! The admin audit (SPEC §17): every console action writes its `admin_actions` row with the
//! actor, the target and the IP, in the change's transaction; `/admin/audit` filters, pages,
//! exports CSV and keeps each organisation admin to their own organisation. Both backends.

use diesel::prelude::*;
use realmgate::db::schema::{admin_actions as aa, auth_sessions as s};

use crate::helpers::{assert_redirect_to, spawn, PASSWORD};
use crate::organisations::{move_to, org_admin, organisation};

type AuditRow = (
    Option<i32>,
    String,
    Option<i32>,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<String>,
);

/// `(actor, action, target account, target session, organisation, ip, user agent)`, in order.
fn audit(conn: &mut realmgate::db::Conn) -> Vec<AuditRow> {
    aa::table
        .order(aa::id)
        .select((
            aa::actor_account_id,
            aa::action,
            aa::target_account_id,
            aa::target_session_id,
            aa::organisation_id,
            aa::ip,
            aa::user_agent,
        ))
        .load(conn)
        .unwrap()
}

#[actix_web::test]
async fn every_console_action_writes_its_row_with_actor_target_and_ip() {
    let app = spawn().await;
    let acme = organisation(&app, "acme", "Acme Estates");
    let target = app
        .create_account("t@example.com", "Tess Target", false)
        .await;
    // A session of the target's to revoke.
    assert_redirect_to(
        &app.sign_in("/login", "t@example.com", PASSWORD).await,
        "/dashboard",
    );
    let session: String = s::table
        .filter(s::account_id.eq(target))
        .select(s::id)
        .first(&mut app.db())
        .unwrap();
    let admin = app.sign_in_admin().await;
    *app.user_agent.borrow_mut() = "AuditBrowser/2.0".into();
    let token = app.get("/admin/users").await.csrf_token();
    for action in [
        "deactivate",
        "activate",
        "unlock",
        "send-reset",
        "reset-2fa",
    ] {
        let res = app.admin_act(target, action, &token).await;
        assert_redirect_to(&res, "/admin/users");
    }
    let res = app
        .post(
            &format!("/admin/sessions/{session}/revoke"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res = app.admin_act(target, "logout-everywhere", &token).await;
    assert_redirect_to(&res, "/admin/users");
    let res = app
        .post(
            "/admin/users",
            &[
                ("email", "new@example.com"),
                ("name", "Nia New"),
                ("password", ""),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin/users");
    let res = app
        .post(
            "/admin/organisations",
            &[
                ("slug", "globex"),
                ("name", "Globex"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    for act in ["deactivate", "activate"] {
        let res = app
            .post(
                &format!("/admin/organisations/{acme}/{act}"),
                &[("csrf_token", &token)],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
    }

    let rows = audit(&mut app.db());
    let actions: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        actions,
        [
            "deactivate",
            "activate",
            "unlock",
            "send_reset",
            "reset_2fa",
            "revoke_session",
            "logout_everywhere",
            "create_account",
            "create_organisation",
            "deactivate_organisation",
            "activate_organisation",
        ]
    );
    let new: i32 = realmgate::db::schema::accounts::table
        .filter(realmgate::db::schema::accounts::email.eq("new@example.com"))
        .select(realmgate::db::schema::accounts::id)
        .first(&mut app.db())
        .unwrap();
    for row in &rows {
        assert_eq!(row.0, Some(admin), "{row:?}");
        assert_eq!(row.5.as_deref(), Some("127.0.0.1"), "{row:?}");
        assert_eq!(row.6.as_deref(), Some("AuditBrowser/2.0"), "{row:?}");
        let wanted_target = match row.1.as_str() {
            "create_account" => Some(new),
            "create_organisation" | "deactivate_organisation" | "activate_organisation" => None,
            _ => Some(target),
        };
        assert_eq!(row.2, wanted_target, "{row:?}");
    }
    assert_eq!(
        rows[5].3.as_deref(),
        Some(session.as_str()),
        "the revoked session"
    );
    assert_eq!(rows[9].4, Some(acme), "the organisation acted on");
    assert_eq!(rows[0].4, Some(1), "the target's organisation");
}

#[actix_web::test]
async fn a_refused_or_unknown_action_writes_no_audit_row() {
    let app = spawn().await;
    let admin = app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    assert_eq!(
        app.admin_act(99_999, "deactivate", &token).await.status,
        404
    );
    // Deactivating oneself is refused.
    let res = app.admin_act(admin, "deactivate", &token).await;
    assert_redirect_to(&res, "/admin/users");
    // A bad CSRF token changes nothing.
    let target = app
        .create_account("t@example.com", "Tess Target", false)
        .await;
    assert_eq!(
        app.admin_act(target, "deactivate", "forged").await.status,
        403
    );
    assert!(audit(&mut app.db()).is_empty());
}

#[actix_web::test]
async fn the_audit_page_filters_pages_and_exports() {
    let app = spawn().await;
    let ann = app.create_account("ann@example.com", "Ann", false).await;
    let bob = app.create_account("bob@example.com", "Bob", false).await;
    app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    for _ in 0..14 {
        app.admin_act(ann, "unlock", &token).await;
        app.admin_act(bob, "logout-everywhere", &token).await;
    }
    let page = app.get("/admin/audit").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches("data-audit-id=").count(), 25, "one page");
    assert!(page.body.contains("page=2"), "a next page");
    let second = app.get("/admin/audit?page=2").await;
    assert_eq!(second.body.matches("data-audit-id=").count(), 3);
    let unlocks = app.get("/admin/audit?action=unlock").await;
    assert_eq!(unlocks.body.matches("data-audit-id=").count(), 14);
    assert!(!unlocks
        .body
        .contains("<td data-label=\"Action\">logout_everywhere</td>"));
    assert!(unlocks
        .body
        .contains("<td data-label=\"Action\">unlock</td>"));
    let of_bob = app.get("/admin/audit?account=bob@example.com").await;
    assert_eq!(of_bob.body.matches("data-audit-id=").count(), 14);
    let by_email = app
        .get("/admin/audit?actor=staff@example.com&account=")
        .await;
    assert_eq!(by_email.body.matches("data-audit-id=").count(), 25);
    let nobody = app.get("/admin/audit?actor=ann@example.com").await;
    assert_eq!(nobody.body.matches("data-audit-id=").count(), 0);
    let today = app.clock.now().date().format("%Y-%m-%d").to_string();
    let dated = app
        .get(&format!("/admin/audit?from={today}&to={today}"))
        .await;
    assert_eq!(dated.body.matches("data-audit-id=").count(), 25);
    let yesterday = (app.clock.now().date() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let before = app.get(&format!("/admin/audit?to={yesterday}")).await;
    assert_eq!(before.body.matches("data-audit-id=").count(), 0);
    assert_eq!(app.get("/admin/audit?from=yesterday").await.status, 400);
    assert_eq!(app.get("/admin/audit?format=xml").await.status, 400);
    // The accounts list links each account to its history.
    let users = app.get("/admin/users").await;
    assert!(users
        .body
        .contains(&format!("href=\"/admin/audit?account={ann}\"")));
    // CSV: every row, quoted, as an attachment.
    let csv = app.get("/admin/audit?action=unlock&format=csv").await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-disposition").starts_with("attachment"));
    let mut lines = csv.body.lines();
    assert_eq!(
        lines.next().unwrap(),
        "\"id\",\"created_at\",\"action\",\"actor_account_id\",\"target_account_id\",\"target_session_id\",\"organisation\",\"ip\",\"user_agent\",\"details\""
    );
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), 14);
    assert!(body
        .iter()
        .all(|l| l.contains("\"unlock\"") && l.contains("\"127.0.0.1\"")));
}

#[actix_web::test]
async fn an_organisation_admin_reads_their_organisation_only() {
    let app = spawn().await;
    let acme = organisation(&app, "acme", "Acme Estates");
    let globex = organisation(&app, "globex", "Globex");
    let acme_user = app
        .create_account("u1@acme.example", "Ann Acme", false)
        .await;
    move_to(&app, acme_user, acme);
    let globex_user = app
        .create_account("u2@globex.example", "Gil Globex", false)
        .await;
    move_to(&app, globex_user, globex);
    org_admin(&app, "boss@acme.example", acme).await;
    // The platform admin acts on both companies' people, from a browser of their own.
    *app.user_agent.borrow_mut() = "StaffBrowser/9.0".into();
    app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    app.admin_act(acme_user, "unlock", &token).await;
    app.admin_act(globex_user, "unlock", &token).await;
    app.logout("/admin/logout", "/admin").await;
    *app.user_agent.borrow_mut() = "TestBrowser/1.0".into();
    // The Acme admin acts on their own.
    let res = app
        .sign_in("/admin/login", "boss@acme.example", PASSWORD)
        .await;
    assert_redirect_to(&res, "/admin");
    let token = app.get("/admin/users").await.csrf_token();
    app.admin_act(acme_user, "logout-everywhere", &token).await;
    let page = app.get("/admin/audit").await;
    assert_eq!(
        page.body.matches("data-audit-id=").count(),
        2,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("platform admin"),
        "who acted, without naming them"
    );
    assert!(!page.body.contains(&format!("?account={globex_user}\"")));
    // Neither the platform admin's id nor address leaks; Globex filters are empty.
    let staff: i32 = realmgate::db::schema::accounts::table
        .filter(realmgate::db::schema::accounts::email.eq("staff@example.com"))
        .select(realmgate::db::schema::accounts::id)
        .first(&mut app.db())
        .unwrap();
    assert!(!page.body.contains(&format!("?actor={staff}\"")));
    let csv = app.get("/admin/audit?format=csv").await;
    assert_eq!(csv.body.lines().count(), 3, "{}", csv.body);
    assert!(
        !csv.body.contains("StaffBrowser"),
        "the platform admin's browser is theirs"
    );
    assert!(!page.body.contains("StaffBrowser"));
    let foreign = app
        .get(&format!("/admin/audit?account={globex_user}"))
        .await;
    assert_eq!(foreign.body.matches("data-audit-id=").count(), 0);
    let by_staff = app.get("/admin/audit?actor=staff@example.com").await;
    assert_eq!(by_staff.body.matches("data-audit-id=").count(), 0);
    // An organisation filter from them is not obeyed.
    let other = app.get("/admin/audit?organisation=globex").await;
    assert_eq!(other.body.matches("data-audit-id=").count(), 2);
}
