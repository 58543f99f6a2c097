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
