//! What the account holder sees of their own account (SPEC §17): `/account/activity`, and the
//! notice mail when a browser new to the account signs in. Both backends.

use diesel::prelude::*;
use realmgate::db::schema::logout_activity as la;

use crate::helpers::{assert_redirect_to, spawn, spawn_with, PASSWORD};

#[actix_web::test]
async fn the_activity_page_shows_the_accounts_own_rows_newest_first() {
    let app = spawn().await;
    let ann = app.create_account("ann@example.com", "Ann", false).await;
    let bob = app.create_account("bob@example.com", "Bob", false).await;
    // Bob, from an address of his own: none of it may show on Ann's page.
    app.peer.set("198.51.100.77:4000".parse().unwrap());
    assert_redirect_to(
        &app.sign_in("/login", "bob@example.com", PASSWORD).await,
        "/dashboard",
    );
    app.logout("/logout", "/dashboard").await;
    app.sign_in("/login", "bob@example.com", "wrong password here")
        .await;
    // Ann: a failed sign-in, a sign-in, a sign-out, and a sign-in again.
    app.peer.set("203.0.113.5:4000".parse().unwrap());
    app.sign_in("/login", "ann@example.com", "wrong password here")
        .await;
    assert_redirect_to(
        &app.sign_in("/login", "ann@example.com", PASSWORD).await,
        "/dashboard",
    );
    app.logout("/logout", "/dashboard").await;
    assert_redirect_to(
        &app.sign_in("/login", "ann@example.com", PASSWORD).await,
        "/dashboard",
    );
    // A sign-out of Ann's from 100 days ago: past the page's 90 days.
    let old = app.clock.now() - chrono::Duration::days(100);
    diesel::insert_into(la::table)
        .values((
            la::account_id.eq(ann),
            la::realm.eq("user"),
            la::reason.eq("idle_timeout"),
            la::ip.eq("192.0.2.99"),
            la::created_at.eq(old),
        ))
        .execute(&mut app.db())
        .unwrap();
    let page = app.get("/account/activity").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let what: Vec<&str> = page
        .body
        .split("data-activity=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(
        what,
        [
            "signed in",
            "signed out: user logout",
            "signed in",
            "login failed"
        ],
        "newest first: {}",
        page.body
    );
    assert!(page.body.contains("203.0.113.5"));
    assert!(
        !page.body.contains("198.51.100.77"),
        "another account's rows"
    );
    assert!(!page.body.contains("192.0.2.99"), "older than 90 days");
    let _ = bob;
    // Signed out, the page is the sign-in's.
    app.logout("/logout", "/dashboard").await;
    let res = app.get("/account/activity").await;
    assert_redirect_to(&res, "/login?next=/account/activity");
}

/// New-device notices written so far: outbox rows, written in the sign-in's own transaction,
/// so the count is exact the moment the sign-in has answered.
fn notices<S>(app: &crate::helpers::TestApp<S>) -> i64 {
    use realmgate::db::schema::outbox as ob;
    ob::table
        .filter(ob::subject.eq("New sign-in to your Realmgate account"))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

#[actix_web::test]
async fn a_browser_new_to_the_account_gets_it_one_notice() {
    let app = spawn_with(&[("REALMGATE_NEW_DEVICE_MAIL", "true")]).await;
    app.create_account("ann@example.com", "Ann", true).await;
    *app.user_agent.borrow_mut() =
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0".into();
    app.peer.set("203.0.113.5:4000".parse().unwrap());
    assert_redirect_to(
        &app.sign_in("/login", "ann@example.com", PASSWORD).await,
        "/dashboard",
    );
    assert_eq!(notices(&app), 1);
    let mail = app
        .wait_for_mails(1)
        .await
        .into_iter()
        .find(|m| m.contains("Subject: New sign-in to your Realmgate account"))
        .unwrap();
    assert!(mail.contains("To: ann@example.com"));
    assert!(mail.contains("203.0.113.5"), "{mail}");
    assert!(mail.contains("Firefox"), "{mail}");
    assert!(
        !mail.contains("/password/reset/") && !mail.contains("/login"),
        "no link that signs in: {mail}"
    );
    // The same browser again, in this realm or the other: known now.
    app.logout("/logout", "/dashboard").await;
    assert_redirect_to(
        &app.sign_in("/login", "ann@example.com", PASSWORD).await,
        "/dashboard",
    );
    assert_redirect_to(
        &app.sign_in("/admin/login", "ann@example.com", PASSWORD)
            .await,
        "/admin",
    );
    assert_eq!(notices(&app), 1);
    // Another browser: one more.
    *app.cookie.borrow_mut() = None;
    *app.device.borrow_mut() = None;
    assert_redirect_to(
        &app.sign_in("/login", "ann@example.com", PASSWORD).await,
        "/dashboard",
    );
    assert_eq!(notices(&app), 2);
    // A wrong password from a new browser sends nothing.
    *app.cookie.borrow_mut() = None;
    *app.device.borrow_mut() = None;
    app.sign_in("/login", "ann@example.com", "wrong password here")
        .await;
    assert_eq!(notices(&app), 2);
}

#[actix_web::test]
async fn the_notice_is_on_by_default_and_can_be_turned_off() {
    // The portal's default (the test helpers turn it off for the other tests).
    let on = realmgate::domain::config::Config::from_map(&Default::default()).unwrap();
    assert!(on.mail.new_device);
    let app = spawn_with(&[("REALMGATE_NEW_DEVICE_MAIL", "false")]).await;
    app.create_account("ann@example.com", "Ann", false).await;
    assert_redirect_to(
        &app.sign_in("/login", "ann@example.com", PASSWORD).await,
        "/dashboard",
    );
    assert_eq!(notices(&app), 0);
}
