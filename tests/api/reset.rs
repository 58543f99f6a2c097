//! Password reset (SPEC §8): the flow never signs out another account in the same browser.

use std::time::Duration;

use diesel::prelude::*;

use crate::helpers::{assert_redirect_to, spawn, spawn_with, TestApp, PASSWORD};

const NEW: &str = "violet tractor marmalade";

/// Asks for a reset link for `email` and returns the link's path from the outbox.
pub(crate) async fn reset_link<S, B>(app: &TestApp<S>, email: &str, mails_before: usize) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let token = app.csrf("/password/reset").await;
    let res = app
        .post(
            "/password/reset",
            &[("email", email), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(res
        .body
        .contains("If an account exists for that address, a reset link has been sent."));
    let mails = app.wait_for_mails(mails_before + 1).await;
    TestApp::<()>::link_in(&mails[mails_before])
}

pub(crate) async fn complete<S, B>(
    app: &TestApp<S>,
    link: &str,
    password: &str,
) -> crate::helpers::Response
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let res = app.get(link).await;
    assert_redirect_to(&res, "/password/reset/confirm");
    let token = app.csrf("/password/reset/confirm").await;
    app.post(
        "/password/reset/confirm",
        &[
            ("new_password", password),
            ("new_password_confirm", password),
            ("csrf_token", &token),
        ],
    )
    .await
}

#[actix_web::test]
async fn a_user_reset_leaves_the_admin_signed_in_in_the_same_browser() {
    let app = spawn().await;
    let admin = app.sign_in_admin().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;

    let link = reset_link(&app, "user@example.com", 0).await;
    assert!(link.starts_with("/password/reset/"));
    let res = complete(&app, &link, NEW).await;
    assert_redirect_to(&res, "/login");
    assert!(app
        .get("/login")
        .await
        .body
        .contains("Your password has been reset. Please sign in."));

    // The admin in the same browser is still signed in, and its keys were not touched.
    assert_eq!(app.get("/admin").await.status, 200);
    assert_eq!(app.sessions_of(admin), vec![("admin".into(), None)]);
    let keys = app.session_map();
    assert!(keys.contains_key("admin.session") && keys.contains_key("csrf.admin"));
    assert!(!keys.keys().any(|k| k.starts_with("reset.")));

    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", NEW).await,
        "/dashboard",
    );
    assert_eq!(
        app.sign_in("/login", "user@example.com", PASSWORD)
            .await
            .status,
        401
    );
    assert_eq!(app.incidents("password_reset_requested").len(), 1);
    assert_eq!(app.incidents("password_reset_completed").len(), 1);
}

#[actix_web::test]
async fn an_admins_own_reset_leaves_another_persons_user_session_signed_in() {
    let app = spawn().await;
    let user = app.sign_in_user().await;
    let admin = app.sign_in_admin().await;
    let link = reset_link(&app, "staff@example.com", 0).await;
    assert_redirect_to(&complete(&app, &link, NEW).await, "/login");

    assert_eq!(
        app.get("/dashboard").await.status,
        200,
        "the other person's user session"
    );
    assert_eq!(app.sessions_of(user), vec![("user".into(), None)]);
    // The admin's own sessions, in every realm, ended.
    assert_eq!(
        app.sessions_of(admin),
        vec![("admin".into(), Some("password_reset".into()))]
    );
    assert_redirect_to(&app.get("/admin").await, "/admin/login?next=/admin");
    assert!(app
        .logouts()
        .iter()
        .any(|(a, realm, reason)| *a == Some(admin)
            && realm == "admin"
            && reason == "password_reset"));
}

#[actix_web::test]
async fn the_reset_accounts_sessions_elsewhere_are_revoked() {
    let app = spawn().await;
    let user = app.sign_in_user().await; // "another browser"
    *app.cookie.borrow_mut() = None; // now a fresh browser
    let link = reset_link(&app, "user@example.com", 0).await;
    assert_redirect_to(&complete(&app, &link, NEW).await, "/login");
    assert_eq!(
        app.sessions_of(user),
        vec![("user".into(), Some("password_reset".into()))]
    );
}

#[actix_web::test]
async fn a_reset_link_works_once() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let link = reset_link(&app, "user@example.com", 0).await;
    assert_redirect_to(&complete(&app, &link, NEW).await, "/login");
    let res = app.get(&link).await;
    assert_eq!(res.status, 400);
    assert!(
        res.body
            .contains(r#"<a class="button" href="/password/reset">Request a new link</a>"#),
        "offers a new link: {}",
        res.body
    );
    // The confirm page without a token in the session is a 400 too.
    assert_eq!(app.get("/password/reset/confirm").await.status, 400);
}

#[actix_web::test]
async fn a_reset_link_expires() {
    let app = spawn_with(&[("REALMGATE_RESET_TOKEN_TTL", "5s")]).await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let link = reset_link(&app, "user@example.com", 0).await;
    app.clock.danger_advance(Duration::from_secs(6));
    assert_eq!(app.get(&link).await.status, 400);
}

#[actix_web::test]
async fn a_newer_link_voids_the_older_one() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let first = reset_link(&app, "user@example.com", 0).await;
    let second = reset_link(&app, "user@example.com", 1).await;
    assert_ne!(first, second);
    assert_eq!(app.get(&first).await.status, 400);
    assert_eq!(app.get(&second).await.status, 303);
}

#[actix_web::test]
async fn the_link_leaves_the_address_bar_and_lives_only_under_reset_keys() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let link = reset_link(&app, "user@example.com", 0).await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    assert_eq!(token.len(), 43);
    let res = app.get(&link).await;
    assert_redirect_to(&res, "/password/reset/confirm");
    let keys = app.session_map();
    assert!(keys.contains_key("reset.token"));
    let page = app.get("/password/reset/confirm").await;
    assert!(!page.body.contains(&token), "the token is not on the page");
    // Stored hashed only.
    use realmgate::db::schema::email_tokens as t;
    let hash: String = t::table.select(t::token_hash).first(&mut app.db()).unwrap();
    assert_eq!(hash, realmgate::domain::crypto::sha256_hex(&token));
}

#[actix_web::test]
async fn unknown_and_known_addresses_get_identical_answers() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let token = app.csrf("/password/reset").await;
    let known = app
        .post(
            "/password/reset",
            &[("email", "user@example.com"), ("csrf_token", &token)],
        )
        .await;
    let unknown = app
        .post(
            "/password/reset",
            &[("email", "nobody@example.com"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(known.status, unknown.status);
    // The page names the address typed (issue 17), and nothing else differs.
    assert!(known
        .body
        .contains("We wrote to user@example.com if it has an account"));
    assert_eq!(
        known.body.replace("user@example.com", "ADDRESS"),
        unknown.body.replace("nobody@example.com", "ADDRESS")
    );
    let mails = app.wait_for_mails(1).await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.mails().len(), 1, "only the known address gets mail");
    assert!(mails[0].contains("To: user@example.com"));
    // A malformed address gets the form again.
    let res = app
        .post(
            "/password/reset",
            &[("email", "nope"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("Enter a valid email address."));
}

#[actix_web::test]
async fn at_most_three_reset_mails_per_account_per_hour() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let token = app.csrf("/password/reset").await;
    for _ in 0..5 {
        let res = app
            .post(
                "/password/reset",
                &[("email", "user@example.com"), ("csrf_token", &token)],
            )
            .await;
        assert_eq!(res.status, 200);
        assert!(res.body.contains("If an account exists for that address"));
    }
    app.wait_for_mails(3).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.mails().len(), 3);
}

#[actix_web::test]
async fn a_weak_password_at_confirmation_keeps_the_token() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let link = reset_link(&app, "user@example.com", 0).await;
    let res = complete(&app, &link, "password1234").await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("too easy to guess"));
    let token = app.csrf("/password/reset/confirm").await;
    let res = app
        .post(
            "/password/reset/confirm",
            &[
                ("new_password", NEW),
                ("new_password_confirm", NEW),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/login");
}

#[actix_web::test]
async fn the_account_gets_a_notice_after_a_reset() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let link = reset_link(&app, "user@example.com", 0).await;
    complete(&app, &link, NEW).await;
    let mails = app.wait_for_mails(2).await;
    assert!(mails[1].contains("was reset"));
    assert!(mails[1].contains("127.0.0.1"));
    assert!(
        !mails[1].contains("/password/reset/"),
        "no link that signs anyone in"
    );
}

#[actix_web::test]
async fn no_token_or_password_reaches_the_log() {
    let app = spawn_with(&[("REALMGATE_MAIL", "log")]).await;
    app.create_account("logged@example.com", "Lou Logged", false)
        .await;
    let secret_password = "a password that must never be logged 93817";
    let res = app
        .sign_in("/login", "logged@example.com", secret_password)
        .await;
    assert_eq!(res.status, 401);

    let token = app.csrf("/password/reset").await;
    app.post(
        "/password/reset",
        &[("email", "logged@example.com"), ("csrf_token", &token)],
    )
    .await;
    let mut mail_line = None;
    for _ in 0..200 {
        mail_line = crate::helpers::logs()
            .into_iter()
            .find(|l| l.contains("to=logged@example.com"));
        if mail_line.is_some() {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let mail_line = mail_line.expect("the log mailer wrote the message");
    let link_start = mail_line.find("/password/reset/").unwrap() + "/password/reset/".len();
    let shown: String = mail_line[link_start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(
        shown.starts_with('…') && shown.chars().count() == 5,
        "masked but for 4 characters: {shown}"
    );

    let logs = crate::helpers::logs().join("\n");
    assert!(!logs.contains(secret_password));
    let token_like = logs
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .any(|w| w.len() == 43);
    assert!(!token_like, "no 43-character token in the log");
}

#[actix_web::test]
async fn the_access_log_masks_the_token_in_the_link() {
    let app = spawn().await;
    app.create_account("masked@example.com", "Mo Masked", false)
        .await;
    let link = reset_link(&app, "masked@example.com", 0).await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    app.get(&link).await;
    let logs = crate::helpers::logs().join("\n");
    assert!(
        logs.contains("GET /password/reset/[redacted]"),
        "the access log line is there"
    );
    assert!(!logs.contains(&token));
}

#[actix_web::test]
async fn a_reset_confirms_an_unconfirmed_address() {
    use realmgate::db::schema::accounts as a;
    let app = spawn().await;
    let id = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    diesel::update(a::table.find(id))
        .set(a::email_confirmed_at.eq(None::<chrono::NaiveDateTime>))
        .execute(&mut app.db())
        .unwrap();
    let link = reset_link(&app, "user@example.com", 0).await;
    assert_redirect_to(&complete(&app, &link, NEW).await, "/login");
    assert_redirect_to(
        &app.sign_in("/login", "user@example.com", NEW).await,
        "/dashboard",
    );
}

/// SPEC §8: credential events void every pending reset link of the account.
#[actix_web::test]
async fn credential_events_void_pending_reset_links() {
    for event in [
        "password change",
        "sign out everywhere else",
        "deactivate",
        "logout-everywhere",
    ] {
        let app = spawn().await;
        let user = app.sign_in_user().await;
        let link = reset_link(&app, "user@example.com", 0).await;
        match event {
            "password change" => {
                let res = app.change_password(PASSWORD, NEW).await;
                assert_redirect_to(&res, "/dashboard");
            }
            "sign out everywhere else" => {
                let token = app.csrf("/account/sessions").await;
                let res = app
                    .post("/account/sessions/revoke-others", &[("csrf_token", &token)])
                    .await;
                assert_redirect_to(&res, "/account/sessions");
            }
            action => {
                app.sign_in_admin().await;
                let token = app.csrf("/admin/users").await;
                let res = app.admin_act(user, action, &token).await;
                assert_redirect_to(&res, "/admin/users");
            }
        }
        let res = app.get(&link).await;
        assert_eq!(res.status, 400, "{event}: the link is void");
        assert!(res.body.contains("Request a new link"), "{event}");
    }
}

#[actix_web::test]
async fn a_deactivated_accounts_link_is_the_400_page_and_changes_nothing() {
    let app = spawn().await;
    let user = app
        .create_account("user@example.com", "Uma User", false)
        .await;
    let link = reset_link(&app, "user@example.com", 0).await;
    {
        use realmgate::db::schema::accounts as a;
        diesel::update(a::table.find(user))
            .set(a::is_active.eq(false))
            .execute(&mut app.db())
            .unwrap();
    }
    let cookie_before = app.cookie.borrow().clone();
    let res = app.get(&link).await;
    assert_eq!(res.status, 400);
    assert!(res.set_cookies().is_empty(), "nothing stored under reset.*");
    assert_eq!(*app.cookie.borrow(), cookie_before);
    // Activated again, the link was never used up: it works.
    {
        use realmgate::db::schema::accounts as a;
        diesel::update(a::table.find(user))
            .set(a::is_active.eq(true))
            .execute(&mut app.db())
            .unwrap();
    }
    assert_redirect_to(&app.get(&link).await, "/password/reset/confirm");
}
