//! SPEC §9 "Abuse by a signed-in session" and §8's new secrets for the sessions this browser
//! keeps after a password change or "sign out everywhere else".

use diesel::prelude::*;
use realmgate::db::schema::{auth_sessions as s, password_checks as pc};

use crate::helpers::{assert_redirect_to, spawn, spawn_tuned, PASSWORD};

const NEW: &str = "violet tractor marmalade";
const OTHER: &str = "quantum pelican orchestra";

fn change<'a>(current: &'a str, new: &'a str, token: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("current_password", current),
        ("new_password", new),
        ("new_password_confirm", new),
        ("csrf_token", token),
    ]
}

#[actix_web::test]
async fn the_fifth_wrong_current_password_ends_that_session_only() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    app.create_account("boss@example.com", "Bo Boss", true)
        .await;
    assert_redirect_to(
        &app.sign_in("/admin/login", "boss@example.com", PASSWORD)
            .await,
        "/admin",
    );
    let token = app.csrf("/account/password").await;
    for n in 1..=4 {
        let res = app
            .post("/account/password", &change("guess", NEW, &token))
            .await;
        assert_eq!(res.status, 400, "wrong {n}");
        assert!(res.body.contains("Your current password is not correct."));
    }
    let res = app
        .post("/account/password", &change("guess", NEW, &token))
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
    assert!(res.body.contains("too many wrong current passwords"));
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("password_guessing".into()))]
    );
    assert_eq!(app.incidents("password_guessing").len(), 1);
    assert_eq!(app.incidents("password_guessing")[0].2, "warning");
    assert!(app
        .logouts()
        .contains(&(Some(user), "user".into(), "password_guessing".into())));
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    // Another account's admin session in the same browser is untouched (I1), and the
    // email's sign-in lock was never involved: the owner signs in at once.
    assert_eq!(app.get("/admin").await.status, 200);
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", PASSWORD).await,
        "/dashboard",
    );
}

#[actix_web::test]
async fn at_most_ten_checks_per_window_and_refusals_are_not_checks() {
    let app = spawn().await;
    app.sign_in_user().await;
    let token = app.csrf("/account/password").await;
    for _ in 0..4 {
        let res = app
            .post("/account/password", &change("guess", NEW, &token))
            .await;
        assert_eq!(res.status, 400);
    }
    // Six right ones: each changes the password, so the next uses the new one.
    let mut current = PASSWORD;
    for n in 0..6 {
        let next = if n % 2 == 0 { NEW } else { OTHER };
        let res = app
            .post("/account/password", &change(current, next, &token))
            .await;
        assert_redirect_to(&res, "/dashboard");
        current = next;
    }
    let res = app
        .post("/account/password", &change(current, NEW, &token))
        .await;
    assert_eq!(res.status, 429, "the 11th check in the window");
    assert!(res.header("retry-after").parse::<u64>().unwrap() > 0);
    assert!(res.body.contains("Too many password checks."));
    let checks: i32 = pc::table
        .select(pc::checks)
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(checks, 10, "refused requests are not checks");
    // After the window, checks are admitted again.
    app.clock
        .danger_advance(std::time::Duration::from_secs(15 * 60 + 1));
    let res = app.change_password(current, NEW).await;
    assert_redirect_to(&res, "/dashboard");
}

#[actix_web::test]
async fn cheap_checks_run_before_argon2_and_count_nothing() {
    let app = spawn().await;
    app.sign_in_user().await;
    let token = app.csrf("/account/password").await;
    let mismatch = [
        ("current_password", "guess"),
        ("new_password", NEW),
        ("new_password_confirm", OTHER),
        ("csrf_token", token.as_str()),
    ];
    assert_eq!(app.post("/account/password", &mismatch).await.status, 400);
    let weak = change("guess", "password1234", &token);
    let res = app.post("/account/password", &weak).await;
    assert_eq!(res.status, 400);
    let mut bad_csrf = change("guess", NEW, "nope");
    bad_csrf[3].1 = "nope";
    assert_eq!(app.post("/account/password", &bad_csrf).await.status, 403);
    let rows: i64 = pc::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(rows, 0, "no request above reached a password check");
}

#[actix_web::test]
async fn a_locked_email_does_not_stop_the_signed_in_owner() {
    let app = spawn().await;
    app.sign_in_user().await;
    let owner = app.cookie.borrow().clone();
    // A stranger, in another browser, locks the email.
    *app.cookie.borrow_mut() = None;
    *app.device.borrow_mut() = None;
    for _ in 0..6 {
        app.sign_in("/login", "user@example.com", "wrong").await;
    }
    assert_eq!(
        app.sign_in("/login", "user@example.com", PASSWORD)
            .await
            .status,
        429
    );
    *app.cookie.borrow_mut() = owner;
    let res = app.change_password(PASSWORD, NEW).await;
    assert_redirect_to(&res, "/dashboard");
}

#[actix_web::test]
async fn parallel_checks_of_one_account_run_one_at_a_time() {
    // Real Argon2 parameters, so a check takes long enough for the burst to overlap it.
    let app = spawn_tuned(&[], |c| {
        c.hashing.params = realmgate::domain::config::HashParams::spec();
    })
    .await;
    app.sign_in_user().await;
    let token = app.csrf("/account/password").await;
    let form = change("guess", NEW, &token);
    let burst = (0..8).map(|_| app.post("/account/password", &form));
    let answers = futures_util::future::join_all(burst).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    let busy = answers
        .iter()
        .filter(|r| r.status == 429 && r.body.contains("being checked already"))
        .count();
    assert!(
        busy >= 1,
        "a second check at the same time gets 429: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [400, 401, 429].contains(s)),
        "{statuses:?}"
    );
    let (checks, wrong): (i32, i32) = pc::table
        .select((pc::checks, pc::wrong))
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(
        usize::try_from(checks).unwrap(),
        statuses.iter().filter(|s| **s != 429).count(),
        "only admitted requests were checks"
    );
    assert_eq!(checks, wrong);
}

/// `(id, secret_hash)` of the account's unrevoked registry rows.
fn secret_hashes(conn: &mut realmgate::db::Conn, account: i32) -> Vec<(String, String)> {
    s::table
        .filter(s::account_id.eq(account))
        .filter(s::revoked_at.is_null())
        .order(s::created_at)
        .select((s::id, s::secret_hash))
        .load(conn)
        .unwrap()
}

#[actix_web::test]
async fn a_password_change_gives_this_browser_new_secrets() {
    let app = spawn().await;
    let user = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    let token = app.csrf("/login").await;
    let res = app
        .post(
            "/login",
            &[
                ("email", "user@example.com"),
                ("password", PASSWORD),
                ("remember_me", "on"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/dashboard");
    let admin = app
        .create_account("boss@example.com", "Bo Boss", true)
        .await;
    app.sign_in("/admin/login", "boss@example.com", PASSWORD)
        .await;
    let admin_before = secret_hashes(&mut app.db(), admin);
    let (old_cookie, old_remember) = (app.cookie.borrow().clone(), app.remember.borrow().clone());
    let before = secret_hashes(&mut app.db(), user);

    let res = app.change_password(PASSWORD, NEW).await;
    assert_redirect_to(&res, "/dashboard");
    let after = secret_hashes(&mut app.db(), user);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, before[0].0, "the same registry row");
    assert_ne!(after[0].1, before[0].1, "with a new secret");
    assert_eq!(
        secret_hashes(&mut app.db(), admin),
        admin_before,
        "another account's row untouched"
    );
    let (new_cookie, new_remember) = (app.cookie.borrow().clone(), app.remember.borrow().clone());
    assert_ne!(
        new_remember, old_remember,
        "the remember cookie was replaced"
    );
    assert_eq!(app.get("/dashboard").await.status, 200);
    assert_eq!(app.get("/admin").await.status, 200);

    // An earlier copy of the session cookie is signed out of the user realm. The answer
    // writes no cookie: it may be another tab's request sent just before the change, and
    // must not overwrite the new secrets this browser now holds.
    *app.cookie.borrow_mut() = old_cookie;
    *app.remember.borrow_mut() = None;
    let res = app.get("/dashboard").await;
    assert_redirect_to(&res, "/login?next=/dashboard");
    assert!(res.set_cookies().is_empty(), "{:?}", res.set_cookies());
    // An earlier copy of the remember cookie restores nothing; the new one does.
    *app.cookie.borrow_mut() = None;
    *app.remember.borrow_mut() = old_remember;
    let res = app.get("/dashboard").await;
    assert_redirect_to(&res, "/login?next=/dashboard");
    assert!(
        res.set_cookies().is_empty(),
        "the new remember cookie is not expired"
    );
    *app.cookie.borrow_mut() = None;
    *app.remember.borrow_mut() = new_remember;
    assert_eq!(app.get("/dashboard").await.status, 200);
    *app.cookie.borrow_mut() = new_cookie;
    assert_eq!(app.get("/dashboard").await.status, 200);
}

#[actix_web::test]
async fn signing_out_everywhere_else_gives_this_browser_new_secrets() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let old_cookie = app.cookie.borrow().clone();
    let before = secret_hashes(&mut app.db(), user);
    let token = app.csrf("/account/sessions").await;
    let res = app
        .post("/account/sessions/revoke-others", &[("csrf_token", &token)])
        .await;
    assert_redirect_to(&res, "/account/sessions");
    let after = secret_hashes(&mut app.db(), user);
    assert_eq!(after[0].0, before[0].0);
    assert_ne!(after[0].1, before[0].1);
    assert_eq!(app.get("/account/sessions").await.status, 200);
    *app.cookie.borrow_mut() = old_cookie;
    assert_redirect_to(
        &app.get("/account/sessions").await,
        "/login?next=/account/sessions",
    );
}
