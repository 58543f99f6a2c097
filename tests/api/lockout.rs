//! SPEC §9 lockout, and the device budget that keeps the real owner able to sign in.

use std::time::Duration;

use crate::helpers::{assert_redirect_to, spawn, spawn_with, PASSWORD};

#[actix_web::test]
async fn five_failures_lock_known_and_unknown_emails_alike() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    for email in ["user@example.com", "ghost@example.com"] {
        for attempt in 1..=5 {
            let res = app.sign_in("/login", email, "wrong password").await;
            assert!(
                res.status == 401 || (attempt == 5 && res.status == 429),
                "{email} #{attempt}: {}",
                res.status
            );
        }
    }
    let known = app
        .sign_in("/login", "user@example.com", "wrong password")
        .await;
    let unknown = app
        .sign_in("/login", "ghost@example.com", "wrong password")
        .await;
    for res in [&known, &unknown] {
        assert_eq!(res.status, 429);
        assert!(
            res.body
                .contains("Too many failed attempts. Try again in 15 minutes."),
            "{}",
            res.body
        );
        assert_eq!(res.header("retry-after"), "900");
    }
    assert_eq!(
        known.body.replace("user@example.com", "X"),
        unknown.body.replace("ghost@example.com", "X")
    );

    // The right password is refused while locked, and does not extend the lock.
    app.clock.danger_advance(Duration::from_secs(600));
    let res = app.sign_in("/login", "user@example.com", PASSWORD).await;
    assert_eq!(res.status, 429);
    assert_eq!(res.header("retry-after"), "300");
    app.clock.danger_advance(Duration::from_secs(301));
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );

    let locked = app.incidents("account_locked");
    assert_eq!(locked.len(), 2, "once per lock");
    assert_eq!(locked[0].2, "warning");
}

#[actix_web::test]
async fn success_clears_the_count() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    for _ in 0..4 {
        assert_eq!(
            app.sign_in("/login", "user@example.com", "wrong password")
                .await
                .status,
            401
        );
    }
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
    *app.device.borrow_mut() = None;
    for _ in 0..4 {
        assert_eq!(
            app.sign_in("/login", "user@example.com", "wrong password")
                .await
                .status,
            401
        );
    }
}

#[actix_web::test]
async fn parallel_guesses_never_exceed_the_limit() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let token = app.csrf("/login").await;
    let form = [
        ("email", "user@example.com"),
        ("password", "wrong password"),
        ("csrf_token", token.as_str()),
    ];
    let attempts = (0..20).map(|_| app.post("/login", &form));
    let results = futures_util::future::join_all(attempts).await;
    let checked = results.iter().filter(|r| r.status == 401).count();
    assert!(checked <= 5, "{checked} guesses reached the password check");
    assert!(results.iter().all(|r| r.status == 401 || r.status == 429));
    assert!(app.incidents("login_failed").len() <= 5);
}

#[actix_web::test]
async fn an_admin_can_unlock_and_a_reset_unlocks() {
    let app = spawn().await;
    let user = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    for _ in 0..5 {
        app.sign_in("/login", "user@example.com", "wrong password")
            .await;
    }
    assert_eq!(
        app.sign_in("/login", "user@example.com", PASSWORD)
            .await
            .status,
        429
    );

    // A locked-out email can still ask for a reset, and completing it unlocks.
    let token = app.csrf("/password/reset").await;
    app.post(
        "/password/reset",
        &[("email", "user@example.com"), ("csrf_token", &token)],
    )
    .await;
    let mails = app.wait_for_mails(1).await;
    let link = crate::helpers::TestApp::<()>::link_in(&mails[0]);
    assert_redirect_to(&app.get(&link).await, "/password/reset/confirm");
    let token = app.csrf("/password/reset/confirm").await;
    let new = "violet tractor marmalade";
    let res = app
        .post(
            "/password/reset/confirm",
            &[
                ("new_password", new),
                ("new_password_confirm", new),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/login");
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", new).await,
        "/dashboard",
    );

    // Lock it again; an admin unlocks it.
    app.logout("/logout", "/dashboard").await;
    *app.device.borrow_mut() = None;
    for _ in 0..5 {
        app.sign_in("/login", "user@example.com", "wrong password")
            .await;
    }
    assert_eq!(
        app.sign_in("/login", "user@example.com", new).await.status,
        429
    );
    app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    let res = app.admin_act(user, "unlock", &token).await;
    assert_redirect_to(&res, "/admin/users");
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", new).await,
        "/dashboard",
    );
}

#[actix_web::test]
async fn fifty_failures_from_one_ip_lock_the_ip() {
    let app = spawn_with(&[("REALMGATE_IP_MAX_FAILURES", "6")]).await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    for i in 0..6 {
        let res = app
            .sign_in("/login", &format!("nobody{i}@example.com"), "x")
            .await;
        assert!(res.status == 401 || (i == 5 && res.status == 429));
    }
    let res = app.sign_in("/login", "user@example.com", PASSWORD).await;
    assert_eq!(res.status, 429);
    assert_eq!(app.incidents("ip_locked").len(), 1);
    // Another IP is not affected.
    app.peer.set("198.51.100.9:1000".parse().unwrap());
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
}

#[actix_web::test]
async fn the_owners_browser_can_still_sign_in_during_an_attack_on_its_email() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    // The owner signed in before from this browser, which got a device cookie.
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
    app.logout("/logout", "/dashboard").await;
    let owner_device = app.device.borrow().clone();
    assert!(owner_device.is_some());
    let owner_cookie = app.cookie.borrow().clone();

    // An attacker, from elsewhere and without the device cookie, locks the email.
    *app.device.borrow_mut() = None;
    *app.cookie.borrow_mut() = None;
    app.peer.set("203.0.113.66:1000".parse().unwrap());
    for _ in 0..10 {
        app.sign_in("/login", "user@example.com", "guess").await;
    }
    assert_eq!(
        app.sign_in("/login", "user@example.com", PASSWORD)
            .await
            .status,
        429
    );

    // The owner's browser signs in anyway.
    *app.device.borrow_mut() = owner_device;
    *app.cookie.borrow_mut() = owner_cookie;
    app.peer.set("127.0.0.1:40000".parse().unwrap());
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
}

#[actix_web::test]
async fn a_device_cookie_has_its_own_limit() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
    for _ in 0..5 {
        app.sign_in("/login", "user@example.com", "wrong").await;
    }
    assert_eq!(
        app.sign_in("/login", "user@example.com", PASSWORD)
            .await
            .status,
        429
    );
}

#[actix_web::test]
async fn admin_login_denied_counts_as_a_failure() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    for _ in 0..5 {
        assert_ne!(
            app.sign_in("/admin/login", "user@example.com", PASSWORD)
                .await
                .status,
            303
        );
    }
    assert_eq!(
        app.sign_in("/admin/login", "user@example.com", PASSWORD)
            .await
            .status,
        429
    );
    assert_eq!(
        app.incidents("admin_login_denied").len(),
        5,
        "the fifth reached the limit"
    );
}

#[actix_web::test]
async fn no_password_text_in_any_incident_column_or_log_line() {
    use diesel::prelude::*;
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let secret = "zebra-unique-password-7731";
    app.sign_in("/login", "user@example.com", secret).await;
    app.sign_in("/login", secret, secret).await; // typed into the email field
    for _ in 0..5 {
        app.sign_in("/admin/login", "user@example.com", secret)
            .await;
    }
    type Texts = (String, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Texts> = {
        use realmgate::db::schema::security_incidents as si;
        si::table
            .select((si::kind, si::email_attempted, si::details, si::user_agent))
            .load(&mut app.db())
            .unwrap()
    };
    assert!(rows.len() >= 3);
    for row in &rows {
        assert!(!format!("{row:?}").contains(secret), "{row:?}");
    }
    assert!(!crate::helpers::logs().join("\n").contains(secret));
}

#[actix_web::test]
async fn a_reset_forgets_the_browsers_known_for_the_email() {
    use diesel::prelude::*;
    use realmgate::db::schema::known_devices as k;
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
    let known: i64 = k::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(known, 1);
    let t = app.csrf("/password/reset").await;
    app.post(
        "/password/reset",
        &[("email", "user@example.com"), ("csrf_token", &t)],
    )
    .await;
    let mails = app.wait_for_mails(1).await;
    let link = crate::helpers::TestApp::<()>::link_in(&mails[0]);
    app.get(&link).await;
    let t = app.csrf("/password/reset/confirm").await;
    let new = "violet tractor marmalade";
    app.post(
        "/password/reset/confirm",
        &[
            ("new_password", new),
            ("new_password_confirm", new),
            ("csrf_token", &t),
        ],
    )
    .await;
    let known: i64 = k::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(known, 0, "a reset forgets the devices known for the email");
}
