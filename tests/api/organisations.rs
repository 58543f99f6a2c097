//! Organisations (SPEC §14): each company's people, scoped consoles, and deactivating one.

use actix_web::http::Method;
use diesel::prelude::*;

use crate::helpers::{assert_redirect_to, spawn, TestApp, PASSWORD};
use realmgate::db::schema::{
    accounts as a, logout_activity as la, organisations as o, security_incidents as si,
};

/// Makes organisation `slug` and returns its id.
pub(crate) fn organisation<S>(app: &TestApp<S>, slug: &str, name: &str) -> i32 {
    diesel::insert_into(o::table)
        .values((
            o::slug.eq(slug),
            o::name.eq(name),
            o::is_active.eq(true),
            o::created_at.eq(app.clock.now()),
        ))
        .execute(&mut app.db())
        .unwrap();
    o::table
        .filter(o::slug.eq(slug))
        .select(o::id)
        .first(&mut app.db())
        .unwrap()
}

/// Moves `account` to organisation `org`.
pub(crate) fn move_to<S>(app: &TestApp<S>, account: i32, org: i32) {
    diesel::update(a::table.find(account))
        .set(a::organisation_id.eq(org))
        .execute(&mut app.db())
        .unwrap();
}

#[actix_web::test]
async fn the_migration_puts_everyone_in_default_and_the_bootstrap_admin_is_a_platform_admin() {
    let app = spawn().await;
    let (slug, name): (String, String) = o::table
        .find(1)
        .select((o::slug, o::name))
        .first(&mut app.db())
        .unwrap();
    assert_eq!((slug.as_str(), name.as_str()), ("default", "Default"));
    let id = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    let (org, platform): (i32, bool) = a::table
        .find(id)
        .select((a::organisation_id, a::is_platform_admin))
        .first(&mut app.db())
        .unwrap();
    assert_eq!((org, platform), (1, false));
}

#[actix_web::test]
async fn the_dashboard_and_the_api_name_the_organisation() {
    let app = spawn().await;
    let acme = organisation(&app, "acme", "Acme Estates");
    let id = app.sign_in_user().await;
    move_to(&app, id, acme);
    let page = app.get("/dashboard").await;
    assert!(
        page.body
            .contains(r#"data-field="organisation">Acme Estates<"#),
        "{}",
        page.body
    );
    let token = app.token_for("user@example.com", "phone").await;
    let me = app.api(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(me.json["organisation"]["slug"], "acme");
    assert_eq!(me.json["organisation"]["name"], "Acme Estates");
}

#[actix_web::test]
async fn a_deactivated_organisation_is_signed_out_everywhere_and_refused() {
    let app = spawn().await;
    let acme = organisation(&app, "acme", "Acme Estates");
    let other = organisation(&app, "globex", "Globex");
    // One browser: the user realm is an Acme account, the admin realm a Globex admin.
    let user = app.sign_in_user().await;
    move_to(&app, user, acme);
    let admin = app.sign_in_admin().await;
    move_to(&app, admin, other);
    let token = app.token_for("user@example.com", "phone").await;

    diesel::update(o::table.find(acme))
        .set(o::is_active.eq(false))
        .execute(&mut app.db())
        .unwrap();
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    let me = app.api(Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!((me.status, me.error()), (401, "invalid_token"));
    assert_eq!(
        app.get("/admin").await.status,
        200,
        "the other organisation's admin stays"
    );
    let reasons: Vec<(String, String, Option<i32>)> = la::table
        .order(la::id)
        .select((la::realm, la::reason, la::organisation_id))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(
        reasons,
        vec![
            ("user".into(), "organisation_deactivated".into(), Some(acme)),
            ("api".into(), "organisation_deactivated".into(), Some(acme)),
        ]
    );
    let seen: Vec<(String, Option<i32>)> = si::table
        .filter(si::kind.eq("inactive_account_access"))
        .select((si::realm.assume_not_null(), si::organisation_id))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|(_, org)| *org == Some(acme)));
    // Its sign-ins get the generic 401, in every realm.
    assert_eq!(
        app.sign_in("/login", "user@example.com", PASSWORD)
            .await
            .status,
        401
    );
    let res = app.token_request("user@example.com", PASSWORD, None).await;
    assert_eq!((res.status, res.error()), (401, "invalid_credentials"));
    // Active again, it signs in again.
    diesel::update(o::table.find(acme))
        .set(o::is_active.eq(true))
        .execute(&mut app.db())
        .unwrap();
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
}

#[actix_web::test]
async fn incidents_and_sign_outs_carry_the_accounts_organisation_at_the_time() {
    let app = spawn().await;
    let acme = organisation(&app, "acme", "Acme Estates");
    let user = app.sign_in_user().await;
    move_to(&app, user, acme);
    app.logout("/logout", "/dashboard").await;
    app.sign_in("/login", "user@example.com", "wrong password here")
        .await;
    app.sign_in("/login", "nobody@example.com", "wrong password here")
        .await;
    move_to(&app, user, 1);
    app.sign_in("/login", "user@example.com", "wrong password here")
        .await;
    let outs: Vec<Option<i32>> = la::table
        .select(la::organisation_id)
        .load(&mut app.db())
        .unwrap();
    assert_eq!(outs, vec![Some(acme)]);
    let failed: Vec<(Option<i32>, Option<i32>)> = si::table
        .filter(si::kind.eq("login_failed"))
        .order(si::id)
        .select((si::account_id, si::organisation_id))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(
        failed,
        vec![
            (Some(user), Some(acme)),
            (None, None),
            (Some(user), Some(1))
        ]
    );
}

/// An organisation admin (`is_admin`, not a platform admin) of `org`.
pub(crate) async fn org_admin<S, B>(app: &TestApp<S>, email: &str, org: i32) -> i32
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let id = app.create_account(email, "Org Admin", true).await;
    diesel::update(a::table.find(id))
        .set((a::is_platform_admin.eq(false), a::organisation_id.eq(org)))
        .execute(&mut app.db())
        .unwrap();
    id
}

/// Two companies with a user each, each user with an app token, a sign-out and a failed
/// sign-in; an Acme admin; the platform admin `staff@example.com` in `default`.
struct Companies {
    acme: i32,
    globex: i32,
    acme_user: i32,
    globex_user: i32,
    acme_admin: i32,
    globex_admin: i32,
    staff: i32,
    globex_session: String,
}

async fn two_companies<S, B>(app: &TestApp<S>) -> Companies
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let acme = organisation(app, "acme", "Acme Estates");
    let globex = organisation(app, "globex", "Globex");
    let staff = app
        .create_account("staff@example.com", "Sam Staff", true)
        .await;
    let acme_user = app
        .create_account("u1@acme.example", "Ann Acme", false)
        .await;
    move_to(app, acme_user, acme);
    let globex_user = app
        .create_account("u2@globex.example", "Gil Globex", false)
        .await;
    move_to(app, globex_user, globex);
    let acme_admin = org_admin(app, "boss@acme.example", acme).await;
    let globex_admin = org_admin(app, "boss@globex.example", globex).await;
    for email in ["u1@acme.example", "u2@globex.example"] {
        let res = app.sign_in("/login", email, PASSWORD).await;
        assert_redirect_to(&res, "/dashboard");
        app.logout("/logout", "/dashboard").await;
        app.sign_in("/login", email, "wrong password here").await;
        app.token_for(email, &format!("{email} phone")).await;
    }
    let globex_session: String = realmgate::db::schema::auth_sessions::table
        .filter(realmgate::db::schema::auth_sessions::account_id.eq(globex_user))
        .filter(realmgate::db::schema::auth_sessions::revoked_at.is_null())
        .select(realmgate::db::schema::auth_sessions::id)
        .first(&mut app.db())
        .unwrap();
    Companies {
        acme,
        globex,
        acme_user,
        globex_user,
        acme_admin,
        globex_admin,
        staff,
        globex_session,
    }
}

/// The values of an attribute on a page, in order.
fn attrs(body: &str, name: &str) -> Vec<String> {
    body.split(&format!("{name}=\""))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The chart's last day: its sign-ins, sign-outs and incidents.
fn todays_bars(body: &str) -> Vec<String> {
    let titles: Vec<String> = body
        .split("<title>")
        .skip(1)
        .filter_map(|t| t.split("</title>").next())
        .map(str::to_owned)
        .collect();
    titles[titles.len() - 3..].to_vec()
}

#[actix_web::test]
async fn an_organisation_admin_sees_only_their_organisation() {
    let app = spawn().await;
    let c = two_companies(&app).await;
    // A platform admin inside Acme, signed in as an app: out of the Acme admin's reach too.
    let root = app.create_account("root@acme.example", "Root", true).await;
    move_to(&app, root, c.acme);
    app.token_for("root@acme.example", "root phone").await;
    assert_redirect_to(
        &app.sign_in("/admin/login", "boss@acme.example", PASSWORD)
            .await,
        "/admin",
    );
    let (acme_user, acme_admin) = (c.acme_user.to_string(), c.acme_admin.to_string());

    let dash = app.get("/admin").await;
    assert!(
        dash.body.contains(r#"data-organisation="Acme Estates""#),
        "the header names it"
    );
    assert!(
        dash.body.contains(r#"data-stat="accounts">2<"#),
        "{}",
        dash.body
    );
    assert!(dash.body.contains(r#"data-stat="user-sessions">0<"#));
    assert!(dash.body.contains(r#"data-stat="admin-sessions">1<"#));
    assert!(dash.body.contains(r#"data-stat="api-sessions">1<"#));
    assert!(dash.body.contains(r#"data-stat="sign-outs-24h">1<"#));
    assert!(dash.body.contains(r#"data-stat="incidents-info">1<"#));
    assert!(
        !dash.body.contains("/admin/organisations"),
        "no organisations menu"
    );
    // Today: Ann's browser sign-in, her token, and her admin's sign-in; her one sign-out; her
    // failed sign-in. Globex's and the platform's are not counted.
    assert_eq!(
        todays_bars(&dash.body),
        vec!["Sign-ins: 3", "Sign-outs: 1", "Incidents: 1"]
    );

    let users = app.get("/admin/users").await;
    let mut listed = attrs(&users.body, "data-account-id");
    listed.sort();
    let mut expected = vec![acme_user.clone(), acme_admin.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    let ignored = app.get("/admin/users?organisation=globex").await;
    assert_eq!(
        ignored.status, 200,
        "an organisation filter is ignored, never obeyed"
    );
    assert_eq!(attrs(&ignored.body, "data-account-id").len(), 2);
    assert!(!ignored.body.contains("globex.example"));

    let sessions = app.get("/admin/sessions").await;
    let mut owners = attrs(&sessions.body, "data-account-id");
    owners.sort();
    assert_eq!(owners, expected, "Ann's token and this admin's session");
    let theirs = app
        .get(&format!("/admin/sessions?account={}", c.globex_user))
        .await;
    assert_eq!(attrs(&theirs.body, "data-session-id").len(), 0);

    let incidents = app.get("/admin/incidents").await;
    assert_eq!(
        attrs(&incidents.body, "data-incident-id").len(),
        1,
        "{}",
        incidents.body
    );
    assert!(incidents.body.contains(&format!("?account={acme_user}\"")));
    let by_email = app
        .get("/admin/incidents?account=u2%40globex.example")
        .await;
    assert_eq!(attrs(&by_email.body, "data-incident-id").len(), 0);
    let csv = app.get("/admin/incidents?format=csv").await;
    assert_eq!(csv.body.lines().count(), 2, "{}", csv.body);
    assert!(csv.body.contains("\"acme\""));
    let logouts = app.get("/admin/logouts").await;
    assert_eq!(attrs(&logouts.body, "data-logout-id").len(), 1);
    let csv = app.get("/admin/logouts?format=csv").await;
    assert_eq!(csv.body.lines().count(), 2);
    assert!(!csv.body.contains("globex"));

    assert_eq!(app.get("/admin/organisations").await.status, 404);
    assert!(!users.body.contains("root@acme.example"));
    // The platform admin's sign-outs and incidents are out of reach as well.
    app.sign_in("/login", "root@acme.example", "wrong password here")
        .await;
    let incidents = app.get("/admin/incidents").await;
    assert_eq!(attrs(&incidents.body, "data-incident-id").len(), 1);
    // To an organisation admin /admin/organisations does not exist, whatever is posted and
    // however old the sign-in: 404, not a CSRF refusal or a re-authentication.
    let token = app.csrf("/admin/users").await;
    for path in [
        "/admin/organisations",
        &format!("/admin/organisations/{}/deactivate", c.globex),
    ] {
        let res = app
            .post(
                path,
                &[("slug", "evil"), ("name", "Evil"), ("csrf_token", &token)],
            )
            .await;
        assert_eq!(res.status, 404, "{path}");
        assert_eq!(app.post(path, &[("csrf_token", "wrong")]).await.status, 404);
    }
    app.clock
        .danger_advance(std::time::Duration::from_secs(11 * 60));
    let res = app
        .post(
            "/admin/organisations",
            &[("slug", "evil"), ("name", "Evil"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 404);
    let count: i64 = o::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(count, 3);
    assert!(o::table
        .find(c.globex)
        .select(o::is_active)
        .first::<bool>(&mut app.db())
        .unwrap());
}

#[actix_web::test]
async fn another_organisations_ids_answer_as_unknown_ones_and_change_nothing() {
    let app = spawn().await;
    let c = two_companies(&app).await;
    assert_redirect_to(
        &app.sign_in("/admin/login", "boss@acme.example", PASSWORD)
            .await,
        "/admin",
    );
    let root = app.create_account("root@acme.example", "Root", true).await;
    move_to(&app, root, c.acme);
    let token = app.csrf("/admin/users").await;
    let unknown = app.admin_act(99_999, "deactivate", &token).await;
    assert_eq!(unknown.status, 404);
    for target in [c.globex_user, c.globex_admin, c.staff, root] {
        for action in [
            "deactivate",
            "logout-everywhere",
            "unlock",
            "send-reset",
            "activate",
        ] {
            let res = app.admin_act(target, action, &token).await;
            assert_eq!(res.status, 404, "{action} {target}");
            assert_eq!(res.body, unknown.body, "the same page as an unknown id");
        }
    }
    let revoke = app
        .post(
            &format!("/admin/sessions/{}/revoke", c.globex_session),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(revoke.status, 404);
    let unknown_session = app
        .post(
            "/admin/sessions/no-such-session/revoke",
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(unknown_session.status, 404);
    assert_eq!(
        revoke.body, unknown_session.body,
        "the same page as an unknown session"
    );
    // Nothing changed: Globex's people are active and their sessions live.
    let active: Vec<bool> = a::table
        .filter(a::id.eq_any([c.globex_user, c.globex_admin, c.staff, root]))
        .select(a::is_active)
        .load(&mut app.db())
        .unwrap();
    assert!(active.iter().all(|a| *a));
    assert_eq!(
        app.sessions_of(c.globex_user).last().unwrap().1,
        None,
        "Gil's token still live"
    );
    assert!(app
        .mails()
        .iter()
        .all(|m| !m.contains("u2@globex.example") || !m.contains("reset")));
    // Every refusal, the unknown id's too, is one unauthorized_access of this admin and
    // organisation, naming the route and nothing of the target.
    let seen: Vec<(Option<i32>, Option<i32>, Option<String>)> = si::table
        .filter(si::kind.eq("unauthorized_access"))
        .select((si::account_id, si::organisation_id, si::details))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(seen.len(), 1 + 20 + 2);
    assert!(seen
        .iter()
        .all(|(who, org, _)| *who == Some(c.acme_admin) && *org == Some(c.acme)));
    let details: Vec<String> = seen.into_iter().filter_map(|s| s.2).collect();
    assert!(details[0].starts_with("POST /admin/users/99999/deactivate"));
    assert!(details
        .iter()
        .all(|d| !d.contains("globex") && !d.contains("Gil")));
    // And the incident list cannot tell the unknown id from another organisation's.
    let shapes: std::collections::HashSet<String> = details
        .iter()
        .map(|d| {
            d.split(|ch: char| ch.is_ascii_digit())
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("#")
        })
        .filter(|d| d.contains("/deactivate"))
        .collect();
    assert_eq!(shapes.len(), 1, "{shapes:?}");
}

#[actix_web::test]
async fn an_organisation_admin_creates_in_their_organisation_only() {
    let app = spawn().await;
    let c = two_companies(&app).await;
    assert_redirect_to(
        &app.sign_in("/admin/login", "boss@acme.example", PASSWORD)
            .await,
        "/admin",
    );
    let token = app.csrf("/admin/users").await;
    let create = |email: &'static str, extra: &'static [(&'static str, &'static str)]| {
        let mut form = vec![
            ("email", email),
            ("name", "New Person"),
            ("is_admin", "on"),
            ("csrf_token", token.as_str()),
        ];
        form.extend_from_slice(extra);
        form
    };
    let res = app
        .post(
            "/admin/users",
            &create("x@globex.example", &[("organisation", "globex")]),
        )
        .await;
    assert_eq!(res.status, 400);
    let res = app
        .post(
            "/admin/users",
            &create("y@acme.example", &[("is_platform_admin", "on")]),
        )
        .await;
    assert_eq!(res.status, 403);
    let none: i64 = a::table
        .filter(a::email.eq_any(["x@globex.example", "y@acme.example"]))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(none, 0, "nothing was created");
    let res = app
        .post("/admin/users", &create("z@acme.example", &[]))
        .await;
    assert_redirect_to(&res, "/admin/users");
    let (org, admin, platform): (i32, bool, bool) = a::table
        .filter(a::email.eq("z@acme.example"))
        .select((a::organisation_id, a::is_admin, a::is_platform_admin))
        .first(&mut app.db())
        .unwrap();
    assert_eq!((org, admin, platform), (c.acme, true, false));
}

#[actix_web::test]
async fn a_platform_admin_sees_and_filters_every_organisation() {
    let app = spawn().await;
    let c = two_companies(&app).await;
    assert_redirect_to(
        &app.sign_in("/admin/login", "staff@example.com", PASSWORD)
            .await,
        "/admin",
    );
    let dash = app.get("/admin").await;
    assert!(
        dash.body.contains(r#"data-stat="accounts">5<"#),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("/admin/organisations"));
    let users = app.get("/admin/users").await;
    assert_eq!(attrs(&users.body, "data-account-id").len(), 5);
    assert!(users.body.contains(r#"data-organisation="globex""#));
    let globex = app.get("/admin/users?organisation=globex").await;
    let mut ids = attrs(&globex.body, "data-account-id");
    ids.sort();
    let mut expected = vec![c.globex_user.to_string(), c.globex_admin.to_string()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(app.get("/admin/users?organisation=nope").await.status, 400);
    let sessions = app.get("/admin/sessions?organisation=acme").await;
    assert_eq!(
        attrs(&sessions.body, "data-account-id"),
        vec![c.acme_user.to_string()]
    );
    let incidents = app
        .get("/admin/incidents?organisation=globex&format=csv")
        .await;
    assert_eq!(incidents.body.lines().count(), 2);
    assert!(incidents.body.contains("\"globex\""));
    let logouts = app.get("/admin/logouts?organisation=acme").await;
    assert_eq!(attrs(&logouts.body, "data-logout-id").len(), 1);
    assert_eq!(
        app.get("/admin/logouts?organisation=Bad%20Slug")
            .await
            .status,
        400
    );

    // It acts on both organisations.
    let token = app.csrf("/admin/users").await;
    assert_redirect_to(
        &app.admin_act(c.globex_user, "logout-everywhere", &token)
            .await,
        "/admin/users",
    );
    // It creates an account in an organisation, and an organisation.
    let res = app
        .post(
            "/admin/users",
            &[
                ("email", "new@globex.example"),
                ("name", "New Person"),
                ("organisation", "globex"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin/users");
    let org: i32 = a::table
        .filter(a::email.eq("new@globex.example"))
        .select(a::organisation_id)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(org, c.globex);
    let bad = app
        .post(
            "/admin/users",
            &[
                ("email", "other@example.com"),
                ("name", "Other"),
                ("organisation", "nope"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[actix_web::test]
async fn a_platform_admin_creates_deactivates_and_activates_organisations() {
    let app = spawn().await;
    let c = two_companies(&app).await;
    let acme_token = app.token_for("u1@acme.example", "tablet").await;
    // The Acme admin's browser, kept aside while the platform admin works in another.
    assert_redirect_to(
        &app.sign_in("/admin/login", "boss@acme.example", PASSWORD)
            .await,
        "/admin",
    );
    let acme_browser = app.cookie.borrow_mut().take();
    // The platform admin's browser is also signed in to the user realm as Ann of Acme.
    assert_redirect_to(
        &app.sign_in("/login", "u1@acme.example", PASSWORD).await,
        "/dashboard",
    );
    assert_redirect_to(
        &app.sign_in("/admin/login", "staff@example.com", PASSWORD)
            .await,
        "/admin",
    );
    let page = app.get("/admin/organisations").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        attrs(&page.body, "data-slug"),
        vec!["acme", "default", "globex"]
    );
    assert!(page.body.contains(r#"data-field="accounts">2<"#));
    let token = page.csrf_token();
    let make = |slug: &'static str, name: &'static str| {
        vec![
            ("slug", slug),
            ("name", name),
            ("csrf_token", token.as_str()),
        ]
    };
    assert_redirect_to(
        &app.post("/admin/organisations", &make("initech", "Initech"))
            .await,
        "/admin/organisations",
    );
    for (slug, name) in [
        ("initech", "Initech again"),
        ("-bad", "Bad"),
        ("Upper", "Upper"),
        ("x", "Too short"),
        ("fine", "tab\there"),
        ("long", ""),
    ] {
        let res = app.post("/admin/organisations", &make(slug, name)).await;
        assert_eq!(res.status, 400, "{slug} {name:?}");
        assert!(
            res.body.contains("Create an organisation"),
            "the form again"
        );
    }
    let long_name = "n".repeat(101);
    let res = app
        .post(
            "/admin/organisations",
            &[
                ("slug", "longname"),
                ("name", &long_name),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 400);
    let count: i64 = o::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(count, 4);

    // `default` holds the platform admin: refused, nothing changed.
    let res = app
        .post(
            "/admin/organisations/1/deactivate",
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(o::table
        .find(1)
        .select(o::is_active)
        .first::<bool>(&mut app.db())
        .unwrap());
    assert_eq!(
        app.post(
            "/admin/organisations/9999/deactivate",
            &[("csrf_token", &token)]
        )
        .await
        .status,
        404
    );

    let res = app
        .post(
            &format!("/admin/organisations/{}/deactivate", c.acme),
            &[("csrf_token", &token)],
        )
        .await;
    assert_redirect_to(&res, "/admin/organisations");
    let me = app
        .api(Method::GET, "/api/v1/me", Some(&acme_token), None)
        .await;
    assert_eq!(me.status, 401);
    // Every realm of Acme is out on its next request; the same browser's other realm stays.
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(app.get("/admin").await.status, 200);
    let platform_browser = app.cookie.replace(acme_browser);
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
    *app.cookie.borrow_mut() = platform_browser;
    let acme_admin_rows = app.sessions_of(c.acme_admin);
    assert_eq!(
        acme_admin_rows.last().unwrap().1.as_deref(),
        Some("organisation_deactivated")
    );
    let replays: Vec<(Option<String>, Option<i32>)> = si::table
        .filter(si::kind.eq("inactive_account_access"))
        .select((si::realm, si::organisation_id))
        .load(&mut app.db())
        .unwrap();
    let mut realms: Vec<String> = replays.iter().filter_map(|r| r.0.clone()).collect();
    realms.sort();
    assert_eq!(
        realms,
        vec!["admin", "api", "user"],
        "each realm's next request is recorded"
    );
    assert!(replays.iter().all(|r| r.1 == Some(c.acme)));
    // The platform admin's address is not in Acme's sign-outs.
    let ips: Vec<Option<String>> = la::table
        .filter(la::reason.eq("organisation_deactivated"))
        .select(la::ip)
        .load(&mut app.db())
        .unwrap();
    assert!(!ips.is_empty() && ips.iter().all(Option::is_none));
    // No platform admin can be made where nobody can sign in.
    let res = app
        .post(
            "/admin/users",
            &[
                ("email", "root@acme.example"),
                ("name", "Root"),
                ("organisation", "acme"),
                ("is_platform_admin", "on"),
                ("csrf_token", &app.csrf("/admin/users").await),
            ],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("Create an account"), "the form again");
    assert_eq!(
        app.sign_in("/login", "u1@acme.example", PASSWORD)
            .await
            .status,
        401
    );
    let ended: Vec<Option<String>> = app
        .sessions_of(c.acme_user)
        .into_iter()
        .map(|s| s.1)
        .collect();
    assert!(
        ended.iter().all(|r| r.is_some()),
        "every Acme session ended: {ended:?}"
    );
    assert!(ended.contains(&Some("organisation_deactivated".into())));
    assert_eq!(
        app.sessions_of(c.globex_user).last().unwrap().1,
        None,
        "Globex untouched"
    );
    assert_eq!(
        app.get("/admin").await.status,
        200,
        "the platform admin stays"
    );
    let res = app
        .post(
            &format!("/admin/organisations/{}/activate", c.acme),
            &[("csrf_token", &token)],
        )
        .await;
    assert_redirect_to(&res, "/admin/organisations");
    assert_redirect_to(
        &app.sign_in("/login", "u1@acme.example", PASSWORD).await,
        "/dashboard",
    );
    let _ = (c.globex_admin, c.staff);
}

#[actix_web::test]
async fn sign_up_puts_new_accounts_in_the_sign_up_organisation() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::TestDatabase::new(dir.path(), "signup");
    let acme: i32 = {
        let pool = realmgate::db::connect(&db.url).unwrap();
        let mut conn = pool.get().unwrap();
        diesel::insert_into(o::table)
            .values((
                o::slug.eq("acme"),
                o::name.eq("Acme Estates"),
                o::is_active.eq(true),
                o::created_at.eq(chrono::Utc::now().naive_utc()),
            ))
            .execute(&mut conn)
            .unwrap();
        o::table
            .filter(o::slug.eq("acme"))
            .select(o::id)
            .first(&mut conn)
            .unwrap()
    };
    let app = crate::helpers::spawn_on(
        db,
        dir,
        &[("REALMGATE_SIGNUP_ORGANISATION", "acme")],
        |_| {},
    )
    .await;
    let token = app.csrf("/register").await;
    let strong = "violet tractor marmalade";
    let res = app
        .post(
            "/register",
            &[
                ("email", "new@acme.example"),
                ("name", "Nia New"),
                ("password", strong),
                ("password_confirm", strong),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 200);
    app.wait_for_mails(1).await;
    let org: i32 = a::table
        .filter(a::email.eq("new@acme.example"))
        .select(a::organisation_id)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(org, acme);
}

/// Issue 18: the console's counters (kept by triggers) agree with a count of the rows after
/// what the portal does to accounts and sessions: sign-ins in every realm, sign-outs, tokens,
/// sign-out everywhere, a move to another organisation, expiry and the cleanup, and the
/// retention deleting revoked rows. The dashboard and the organisations page read them.
#[actix_web::test]
async fn the_kept_counters_agree_with_the_rows() {
    use realmgate::db::counters;
    use realmgate::db::schema::auth_sessions as s;
    use realmgate::domain::ids::OrganisationId;
    use realmgate::domain::organisation::Scope;
    let app = spawn().await;
    let c = two_companies(&app).await;
    assert_redirect_to(
        &app.sign_in("/admin/login", "staff@example.com", PASSWORD)
            .await,
        "/admin",
    );
    app.token_for("u1@acme.example", "tablet").await;
    let token = app.csrf("/admin/users").await;
    let res = app
        .post(
            &format!("/admin/users/{}/logout-everywhere", c.globex_user),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 303);
    move_to(&app, c.acme_admin, c.globex);

    let check = |now: chrono::NaiveDateTime, when: &str| {
        let mut conn = app.db();
        let live = |org: Option<i32>, realm: Option<&str>, platform: Option<bool>| -> i64 {
            let mut q = s::table
                .inner_join(a::table)
                .filter(s::revoked_at.is_null())
                .filter(s::idle_expires_at.gt(now))
                .filter(s::absolute_expires_at.gt(now))
                .into_boxed();
            if let Some(o) = org {
                q = q.filter(a::organisation_id.eq(o));
            }
            if let Some(r) = realm {
                q = q.filter(s::realm.eq(r.to_owned()));
            }
            if let Some(p) = platform {
                q = q.filter(a::is_platform_admin.eq(p));
            }
            q.count().get_result(&mut app.db()).unwrap()
        };
        let accounts = |org: Option<i32>, platform: Option<bool>| -> i64 {
            let mut q = a::table.into_boxed();
            if let Some(o) = org {
                q = q.filter(a::organisation_id.eq(o));
            }
            if let Some(p) = platform {
                q = q.filter(a::is_platform_admin.eq(p));
            }
            q.count().get_result(&mut app.db()).unwrap()
        };
        let all = counters::figures(&mut conn, Scope::Platform, now).unwrap();
        assert_eq!(
            (
                all.accounts,
                all.user_sessions,
                all.admin_sessions,
                all.api_sessions
            ),
            (
                accounts(None, None),
                live(None, Some("user"), None),
                live(None, Some("admin"), None),
                live(None, Some("api"), None)
            ),
            "the platform's figures, {when}"
        );
        let by = counters::by_organisation(&mut conn, now).unwrap();
        for org in [1, c.acme, c.globex] {
            let f = counters::figures(&mut conn, Scope::Organisation(OrganisationId(org)), now)
                .unwrap();
            assert_eq!(
                (
                    f.accounts,
                    f.user_sessions,
                    f.admin_sessions,
                    f.api_sessions
                ),
                (
                    accounts(Some(org), Some(false)),
                    live(Some(org), Some("user"), Some(false)),
                    live(Some(org), Some("admin"), Some(false)),
                    live(Some(org), Some("api"), Some(false))
                ),
                "organisation {org}'s figures, {when}"
            );
            assert_eq!(
                by.get(&OrganisationId(org)).copied().unwrap_or_default(),
                (accounts(Some(org), None), live(Some(org), None, None)),
                "organisation {org} on the organisations page, {when}"
            );
        }
    };
    let now = app.clock.now();
    check(now, "after the sign-ins");
    assert!(
        counters::figures(&mut app.db(), Scope::Platform, now)
            .unwrap()
            .api_sessions
            >= 2,
        "the check counts something"
    );
    // A day on: every browser session is past its idle bound, not yet ended.
    let later = now + chrono::Duration::days(1);
    check(later, "with the browser sessions past their bounds");
    realmgate::app::maintenance::cleanup(&mut app.db(), &app.state.config, later).unwrap();
    check(later, "after the cleanup ended them");
    // Past the retention: the revoked rows are deleted.
    let far = now + chrono::Duration::days(400);
    realmgate::app::maintenance::cleanup(&mut app.db(), &app.state.config, far).unwrap();
    let revoked_before: i64 = s::table
        .filter(s::revoked_at.lt(far))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(revoked_before, 0, "the retention deleted the revoked rows");
    check(far, "after the retention");
}

/// Issue 18, PostgreSQL: a statement that ends many sessions is counted by one trigger call,
/// not one per row (the row trigger ran a PL/pgSQL upsert for each of a cleanup batch's 250
/// rows), and the grouped count is right for a statement spanning organisations, and for an
/// operator's un-revoke by SQL.
#[actix_web::test]
async fn a_batch_of_revokes_is_counted_once_per_statement() {
    use diesel::connection::SimpleConnection as _;
    use realmgate::db::schema::auth_sessions as s;
    use realmgate::db::{sessions, Conn};
    use realmgate::domain::ids::SessionId;
    if crate::BACKEND != realmgate::db::Backend::Postgres {
        return;
    }
    #[derive(diesel::QueryableByName)]
    struct Calls {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        calls: i64,
    }
    let app = spawn().await;
    two_companies(&app).await;
    for email in ["u1@acme.example", "u2@globex.example"] {
        for device in ["laptop", "watch", "car"] {
            app.token_for(email, device).await;
        }
    }
    let mut conn = app.db();
    let ids: Vec<SessionId> = s::table
        .filter(s::revoked_at.is_null())
        .select(s::id)
        .load::<String>(&mut *conn)
        .unwrap()
        .into_iter()
        .map(SessionId::from)
        .collect();
    assert_eq!(ids.len(), 8, "tokens of both companies");
    let far = app.clock.now() + chrono::Duration::days(400);
    let (ended, calls) = conn
        .write_transaction(|conn| {
            let Conn::Postgres(pg) = &mut *conn else {
                unreachable!()
            };
            pg.batch_execute("SET LOCAL track_functions = 'pl'")?;
            let ended = sessions::end_expired(conn, &ids, far)?;
            let Conn::Postgres(pg) = conn else {
                unreachable!()
            };
            let calls: Vec<Calls> = diesel::sql_query(
                "SELECT CAST(COALESCE(SUM(calls), 0) AS BIGINT) AS calls \
                 FROM pg_stat_xact_user_functions \
                 WHERE funcname IN ('session_counts_changed', 'session_counts_updated')",
            )
            .load(pg)?;
            Ok::<_, diesel::result::Error>((ended, calls[0].calls))
        })
        .unwrap();
    assert_eq!(ended, ids.len());
    // One UPDATE for the absolute bound (every row is past it): one call.
    assert_eq!(calls, 1, "{} rows ended", ended);

    // The kept counters against a count of the unrevoked rows, per organisation and realm.
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        organisation_id: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        realm: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let agree = |conn: &mut Conn, when: &str| {
        let Conn::Postgres(pg) = conn else {
            unreachable!()
        };
        let kept: Vec<Count> = diesel::sql_query(
            "SELECT organisation_id, realm, unrevoked AS n FROM session_counts              WHERE unrevoked <> 0 ORDER BY 1, 2",
        )
        .load(pg)
        .unwrap();
        let rows: Vec<Count> = diesel::sql_query(
            "SELECT a.organisation_id, s.realm, COUNT(*) AS n FROM auth_sessions s              JOIN accounts a ON a.id = s.account_id WHERE s.revoked_at IS NULL              GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .load(pg)
        .unwrap();
        assert_eq!(kept, rows, "{when}");
        rows.iter().map(|c| c.n).sum::<i64>()
    };
    assert_eq!(agree(&mut conn, "after the batch"), 0);
    let Conn::Postgres(pg) = &mut *conn else {
        unreachable!()
    };
    pg.batch_execute("UPDATE auth_sessions SET revoked_at = NULL, revoke_reason = NULL")
        .unwrap();
    assert!(
        agree(&mut conn, "after an un-revoke of every row") >= 8,
        "the un-revoke counted"
    );
}
