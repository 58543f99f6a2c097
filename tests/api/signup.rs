//! Sign-up with address confirmation (SPEC §8).

use crate::helpers::{assert_redirect_to, spawn, spawn_with, TestApp};

const STRONG: &str = "violet tractor marmalade";

#[actix_web::test]
async fn sign_up_confirm_and_sign_in() {
    let app = spawn().await;
    let token = app.csrf("/register").await;
    let res = app
        .post(
            "/register",
            &[
                ("email", "New@Example.com"),
                ("name", "Nia New"),
                ("password", STRONG),
                ("password_confirm", STRONG),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(res.body.contains("Check your email to finish signing up."));

    let mails = app.wait_for_mails(1).await;
    assert!(mails[0].contains("To: new@example.com"));
    let link = TestApp::<()>::link_in(&mails[0]);
    assert!(link.starts_with("/register/confirm/"), "{link}");

    // Not confirmed yet: the generic refusal.
    let res = app.sign_in("/login", "new@example.com", STRONG).await;
    assert_eq!(res.status, 401);

    let res = app.get(&link).await;
    assert_redirect_to(&res, "/login");
    assert!(app
        .get("/login")
        .await
        .body
        .contains("Your email address is confirmed."));
    assert_redirect_to(
        &app.sign_in("/login", "new@example.com", STRONG).await,
        "/dashboard",
    );
    // The link works once.
    assert_eq!(app.get(&link).await.status, 400);
}

#[actix_web::test]
async fn an_existing_address_gets_the_same_answer_and_a_notice_by_mail() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let token = app.csrf("/register").await;
    let res = app
        .post(
            "/register",
            &[
                ("email", "user@example.com"),
                ("name", "Someone"),
                ("password", STRONG),
                ("password_confirm", STRONG),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(res.body.contains("Check your email to finish signing up."));
    let mails = app.wait_for_mails(1).await;
    assert!(mails[0].contains("already has one"));
    assert!(!mails[0].contains("/register/confirm/"));
    // The existing account's password is unchanged.
    assert_eq!(
        app.sign_in("/login", "user@example.com", crate::helpers::PASSWORD)
            .await
            .status,
        303
    );
}

#[actix_web::test]
async fn weak_or_mismatched_passwords_are_refused_with_the_reason() {
    let app = spawn().await;
    let token = app.csrf("/register").await;
    let app = &app;
    let post = |password: &'static str, confirm: &'static str| {
        let token = token.clone();
        async move {
            app.post(
                "/register",
                &[
                    ("email", "n@example.com"),
                    ("name", "Nia"),
                    ("password", password),
                    ("password_confirm", confirm),
                    ("csrf_token", &token),
                ],
            )
            .await
        }
    };
    let res = post("short", "short").await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("at least 12 characters"));
    let res = post("password1234", "password1234").await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("too easy to guess"));
    let res = post(STRONG, "something else entirely").await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("do not match"));
    let res = app
        .post(
            "/register",
            &[
                ("email", "not-an-address"),
                ("name", "Nia"),
                ("password", STRONG),
                ("password_confirm", STRONG),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("Enter a valid email address."));
    assert!(
        !res.body.contains(STRONG),
        "a password is never echoed back"
    );
}

#[actix_web::test]
async fn sign_up_is_limited_per_ip() {
    let app = spawn_with(&[("REALMGATE_SIGNUP_PER_IP", "2")]).await;
    let token = app.csrf("/register").await;
    for (i, expected) in [(1, 200), (2, 200), (3, 429)] {
        let email = format!("n{i}@example.com");
        let res = app
            .post(
                "/register",
                &[
                    ("email", &email),
                    ("name", "Nia"),
                    ("password", STRONG),
                    ("password_confirm", STRONG),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_eq!(res.status, expected, "sign-up {i}");
        if expected == 429 {
            assert!(!res.header("retry-after").is_empty());
        }
    }
    // Over the limit, even a weak password is refused with 429 before its strength is
    // checked: the network cannot make the portal run zxcvbn for it.
    let res = app
        .post(
            "/register",
            &[
                ("email", "weak@example.com"),
                ("name", "Nia"),
                ("password", "password1234"),
                ("password_confirm", "password1234"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 429);
}

#[actix_web::test]
async fn sign_up_can_be_turned_off() {
    let app = spawn_with(&[("REALMGATE_SIGNUP", "false")]).await;
    assert_eq!(app.get("/register").await.status, 404);
    let token = app.csrf("/login").await;
    let res = app
        .post(
            "/register",
            &[("email", "n@example.com"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 404);
}

#[actix_web::test]
async fn a_bad_confirmation_link_is_a_400_page() {
    let app = spawn().await;
    for path in [
        "/register/confirm/nope",
        &format!("/register/confirm/{}", "A".repeat(43)),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status, 400, "{path}");
        assert!(res.body.contains("<html"));
    }
}

/// SPEC §8: the same Argon2 work for a new and an existing address, and mail that carries
/// nothing the requester typed but the address.
#[actix_web::test]
async fn sign_up_costs_the_same_and_its_mail_carries_nothing_typed() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let mut cost = Vec::new();
    for (n, email) in ["user@example.com", "new@example.com"]
        .into_iter()
        .enumerate()
    {
        let token = app.csrf("/register").await;
        let before = app.state.hasher.runs();
        let res = app
            .post(
                "/register",
                &[
                    ("email", email),
                    ("name", "Visit evil.example now"),
                    ("password", STRONG),
                    ("password_confirm", STRONG),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_eq!(res.status, 200);
        let mails = app.wait_for_mails(n + 1).await;
        assert!(
            !mails[n].contains("evil.example"),
            "the name typed never reaches the mailbox: {}",
            mails[n]
        );
        cost.push(app.state.hasher.runs() - before);
    }
    assert_eq!(cost, vec![1, 1], "one Argon2 hash for each");
}
