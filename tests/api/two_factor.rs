//! The second factor (SPEC §15): enrolment from the shown secret, the code step of sign-in in
//! both realms, recovery codes, replays, drift, the admin gate, resets and the api.

use std::time::Duration;

use actix_web::http::Method;
use diesel::prelude::*;
use serde_json::json;

use crate::helpers::{assert_redirect_to, spawn, spawn_with, TestApp, PASSWORD};
use realmgate::db::schema::{login_failures as lf, two_factor as tf};
use realmgate::domain::second_factor::TotpSecret;

const EMAIL: &str = "user@example.com";

/// The secret an enrolment page shows, as the test's own authenticator.
fn shown_secret(body: &str) -> TotpSecret {
    let b32 = body
        .split("data-secret>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the page shows the key");
    let bytes = totp_rs::Secret::Encoded(b32.to_owned()).to_bytes().unwrap();
    TotpSecret::from_bytes(bytes).unwrap()
}

fn step_of<S>(app: &TestApp<S>) -> i64 {
    app.clock.now().and_utc().timestamp().div_euclid(30)
}

fn codes_in(body: &str) -> Vec<String> {
    body.split("data-recovery-codes")
        .nth(1)
        .unwrap_or("")
        .split("<code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_owned)
        .collect()
}

/// Turns the factor on at `page` (`/account/2fa` or `/admin/account/2fa`) for the signed-in
/// account; returns its secret and recovery codes. The clock then moves one step on, so the
/// next code is not a replay of the enrolment's.
async fn enrol<S, B>(app: &TestApp<S>, page: &str) -> (TotpSecret, Vec<String>)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let form = app.get(page).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("<svg"), "a QR code drawn on the server");
    assert!(form.body.contains("otpauth://totp/Realmgate:"));
    let secret = shown_secret(&form.body);
    let code = secret.code_at_step(step_of(app));
    let res = app
        .post(
            page,
            &[
                ("current_password", PASSWORD),
                ("code", &code),
                ("csrf_token", &form.csrf_token()),
            ],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let codes = codes_in(&res.body);
    assert_eq!(codes.len(), 10, "{}", res.body);
    app.clock.danger_advance(Duration::from_secs(30));
    (secret, codes)
}

async fn code_step<S, B>(app: &TestApp<S>, path: &str, code: &str) -> crate::helpers::Response
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let token = app.csrf(path).await;
    app.post(path, &[("code", code), ("csrf_token", &token)])
        .await
}

#[actix_web::test]
async fn enrolment_then_sign_in_with_a_code_a_wrong_one_and_a_replay() {
    let app = spawn().await;
    let id = app.sign_in_user().await;
    let (secret, _) = enrol(&app, "/account/2fa").await;
    assert_eq!(app.incidents("two_factor_enabled").len(), 1);
    let dashboard = app.get("/dashboard").await;
    assert_eq!(dashboard.status, 200, "turning it on ends no session");
    assert!(dashboard.body.contains(r#"data-field="two-factor">On<"#));
    assert!(app
        .get("/account/sessions")
        .await
        .body
        .contains("<strong>on</strong>"));
    let on = app.get("/account/2fa").await;
    assert!(on.body.contains(r#"data-two-factor="on""#));
    assert!(
        !on.body.contains("data-secret"),
        "the secret is never shown again"
    );
    let sealed: String = tf::table
        .find(id)
        .select(tf::secret_sealed)
        .first(&mut app.db())
        .unwrap();
    assert!(!sealed.contains(&secret.base32()), "stored sealed");

    app.logout("/logout", "/dashboard").await;
    // A browser new to this account, whose wrong codes count against the email itself.
    *app.device.borrow_mut() = None;
    let res = app.sign_in("/login", EMAIL, PASSWORD).await;
    assert_redirect_to(&res, "/login/2fa");
    assert!(app.session_map().contains_key("user.pending"));
    assert!(
        !app.session_map().contains_key("user.session"),
        "no session yet"
    );
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");

    let wrong = code_step(&app, "/login/2fa", "000000").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Invalid code."));
    assert_eq!(app.incidents("two_factor_failed").len(), 1);
    let counted: i32 = lf::table
        .filter(lf::subject.eq(EMAIL))
        .select(lf::failures)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(
        counted, 1,
        "a wrong code counts as a failed sign-in of the email"
    );

    let code = secret.code_at_step(step_of(&app));
    let res = code_step(
        &app,
        "/login/2fa",
        &format!("{} {}", &code[..3], &code[3..]),
    )
    .await;
    assert_redirect_to(&res, "/dashboard");
    assert!(!app.session_map().contains_key("user.pending"));
    assert_eq!(app.get("/dashboard").await.status, 200);

    // The same code again, in a new sign-in: a replay, refused.
    app.logout("/logout", "/dashboard").await;
    assert_redirect_to(&app.sign_in("/login", EMAIL, PASSWORD).await, "/login/2fa");
    assert_eq!(code_step(&app, "/login/2fa", &code).await.status, 401);
    // One step of drift either way is accepted; two are not.
    let later = secret.code_at_step(step_of(&app) + 2);
    assert_eq!(code_step(&app, "/login/2fa", &later).await.status, 401);
    let next = secret.code_at_step(step_of(&app) + 1);
    assert_redirect_to(&code_step(&app, "/login/2fa", &next).await, "/dashboard");
}

#[actix_web::test]
async fn recovery_codes_work_once_in_any_case() {
    let app = spawn().await;
    app.sign_in_user().await;
    let (_, codes) = enrol(&app, "/account/2fa").await;
    app.logout("/logout", "/dashboard").await;
    assert_redirect_to(&app.sign_in("/login", EMAIL, PASSWORD).await, "/login/2fa");
    let res = code_step(&app, "/login/2fa", &codes[0].to_uppercase()).await;
    assert_redirect_to(&res, "/dashboard");
    assert!(app
        .get("/dashboard")
        .await
        .body
        .contains("9 recovery code(s) left"));
    assert_eq!(app.incidents("recovery_code_used").len(), 1);
    app.logout("/logout", "/dashboard").await;
    assert_redirect_to(&app.sign_in("/login", EMAIL, PASSWORD).await, "/login/2fa");
    assert_eq!(
        code_step(&app, "/login/2fa", &codes[0]).await.status,
        401,
        "used"
    );
    for bad in ["12345", "12a456", "abcde-fghij-k"] {
        assert_eq!(
            code_step(&app, "/login/2fa", bad).await.status,
            401,
            "{bad:?}"
        );
    }
}

#[actix_web::test]
async fn five_wrong_codes_end_the_pending_sign_in_and_it_expires() {
    let app = spawn().await;
    app.sign_in_user().await;
    enrol(&app, "/account/2fa").await;
    app.logout("/logout", "/dashboard").await;
    // A browser that never signed in to this account: its wrong codes count against the email.
    *app.device.borrow_mut() = None;
    app.sign_in("/login", EMAIL, PASSWORD).await;
    for n in 1..5 {
        let res = code_step(&app, "/login/2fa", "000000").await;
        assert_eq!(res.status, 401, "{n}");
        assert!(res.body.contains("Invalid code."));
    }
    let fifth = code_step(&app, "/login/2fa", "000000").await;
    assert_eq!(fifth.status, 401);
    assert!(
        fifth.body.contains("Too many wrong codes"),
        "{}",
        fifth.body
    );
    assert!(!app.session_map().contains_key("user.pending"));
    assert_redirect_to(&app.get("/login/2fa").await, "/login");
    // Five failures of the email: it is locked now, the code step too.
    app.sign_in("/login", EMAIL, PASSWORD).await;
    assert_eq!(app.sign_in("/login", EMAIL, PASSWORD).await.status, 429);

    let app = spawn().await;
    app.sign_in_user().await;
    let (secret, _) = enrol(&app, "/account/2fa").await;
    app.logout("/logout", "/dashboard").await;
    app.sign_in("/login", EMAIL, PASSWORD).await;
    let token = app.csrf("/login/2fa").await;
    app.clock.danger_advance(Duration::from_secs(301));
    let code = secret.code_at_step(step_of(&app));
    let res = app
        .post(
            "/login/2fa",
            &[("code", code.as_str()), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 401, "the pending sign-in lasts 5 minutes");
    assert!(res.body.contains("took too long"));
    assert!(!app.session_map().contains_key("user.session"));
}

#[actix_web::test]
async fn a_realm_goes_through_its_second_step_while_the_other_stays_signed_in() {
    let app = spawn().await;
    app.sign_in_admin().await;
    enrol(&app, "/admin/account/2fa").await;
    app.sign_in_user().await;
    // The admin signs in again (a re-authentication, say) while the user realm is signed in.
    app.logout("/admin/logout", "/admin").await;
    assert_redirect_to(
        &app.sign_in("/admin/login", "staff@example.com", PASSWORD)
            .await,
        "/admin/login/2fa",
    );
    assert_eq!(
        app.get("/dashboard").await.status,
        200,
        "the user realm is untouched"
    );
    // The user realm's code page has nothing pending: the other realm's state is not its own.
    assert_redirect_to(&app.get("/login/2fa").await, "/login");
    let token = app.csrf("/login").await;
    let res = app
        .post("/login/2fa", &[("code", "123456"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status, 401);
    assert!(
        app.session_map().contains_key("admin.pending"),
        "and the admin's waits on"
    );
    let secret_page = app.get("/admin/login/2fa").await;
    assert_eq!(secret_page.status, 200);
}

#[actix_web::test]
async fn a_user_signs_in_in_two_steps_while_the_admin_realm_stays() {
    let app = spawn().await;
    app.sign_in_user().await;
    let (secret, _) = enrol(&app, "/account/2fa").await;
    app.sign_in_admin().await;
    app.logout("/logout", "/dashboard").await;
    assert_redirect_to(&app.sign_in("/login", EMAIL, PASSWORD).await, "/login/2fa");
    assert_eq!(app.get("/admin").await.status, 200);
    let code = secret.code_at_step(step_of(&app));
    assert_redirect_to(&code_step(&app, "/login/2fa", &code).await, "/dashboard");
    assert_eq!(app.get("/admin").await.status, 200);
    assert_eq!(app.get("/dashboard").await.status, 200);
}

#[actix_web::test]
async fn admins_are_held_to_the_factor_page_when_it_is_required() {
    let app = spawn_with(&[("REALMGATE_ADMIN_2FA", "required")]).await;
    app.sign_in_admin().await;
    assert_redirect_to(&app.get("/admin").await, "/admin/account/2fa");
    assert_redirect_to(&app.get("/admin/users").await, "/admin/account/2fa");
    let token = app.csrf("/admin/account/2fa").await;
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
    assert_eq!(res.status, 403);
    let (secret, _) = enrol(&app, "/admin/account/2fa").await;
    assert_eq!(app.get("/admin").await.status, 200);
    // It cannot be turned off while required.
    let token = app.csrf("/admin/account/2fa").await;
    let code = secret.code_at_step(step_of(&app));
    let res = app
        .post(
            "/admin/account/2fa/disable",
            &[
                ("current_password", PASSWORD),
                ("code", &code),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 403);
    let on: bool = tf::table
        .select(tf::enabled_at.is_not_null())
        .first(&mut app.db())
        .unwrap();
    assert!(on, "nothing changed");
}

#[actix_web::test]
async fn re_authentication_asks_for_the_code_and_comes_back() {
    let app = spawn().await;
    app.sign_in_admin().await;
    let (secret, _) = enrol(&app, "/admin/account/2fa").await;
    let id = app.create_account(EMAIL, "Uma User", false).await;
    app.clock.danger_advance(Duration::from_secs(11 * 60));
    let token = app.csrf("/admin/users").await;
    let res = app.admin_act(id, "deactivate", &token).await;
    assert_redirect_to(&res, "/admin/login?next=/admin/users");
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
    assert_redirect_to(&res, "/admin/login/2fa");
    let code = secret.code_at_step(step_of(&app));
    assert_redirect_to(
        &code_step(&app, "/admin/login/2fa", &code).await,
        "/admin/users",
    );
    let token = app.csrf("/admin/users").await;
    assert_redirect_to(
        &app.admin_act(id, "deactivate", &token).await,
        "/admin/users",
    );
}

#[actix_web::test]
async fn an_admin_resets_a_lost_factor_and_signs_the_account_out_everywhere() {
    let app = spawn().await;
    let id = app.sign_in_user().await;
    let (secret, _) = enrol(&app, "/account/2fa").await;
    let token_body = json!({"email": EMAIL, "password": PASSWORD,
        "code": secret.code_at_step(step_of(&app))});
    let api = app
        .api(Method::POST, "/api/v1/tokens", None, Some(token_body))
        .await;
    assert_eq!(api.status, 201);
    let token = api.json["token"].as_str().unwrap().to_owned();
    app.sign_in_admin().await;
    let users = app.get("/admin/users").await;
    assert!(users.body.contains(&format!("/admin/users/{id}/reset-2fa")));
    let res = app.admin_act(id, "reset-2fa", &users.csrf_token()).await;
    assert_redirect_to(&res, "/admin/users");
    assert_redirect_to(&app.get("/dashboard").await, "/login?next=/dashboard");
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        401
    );
    assert!(app
        .sessions_of(id)
        .iter()
        .all(|(_, why)| why.as_deref() == Some("two_factor_reset")));
    assert_eq!(app.incidents("two_factor_reset").len(), 1);
    assert_eq!(app.get("/admin").await.status, 200, "the admin stays");
    // The account signs in with its password alone again.
    assert_redirect_to(&app.sign_in("/login", EMAIL, PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn token_requests_need_the_code_of_such_an_account() {
    let app = spawn().await;
    app.sign_in_user().await;
    let (secret, codes) = enrol(&app, "/account/2fa").await;
    let ask = |code: Option<String>| {
        let mut body = json!({"email": EMAIL, "password": PASSWORD});
        if let Some(c) = code {
            body["code"] = json!(c);
        }
        body
    };
    let res = app
        .api(Method::POST, "/api/v1/tokens", None, Some(ask(None)))
        .await;
    assert_eq!((res.status, res.error()), (401, "two_factor_required"));
    let res = app
        .api(
            Method::POST,
            "/api/v1/tokens",
            None,
            Some(ask(Some("000000".into()))),
        )
        .await;
    assert_eq!((res.status, res.error()), (401, "invalid_code"));
    assert_eq!(app.incidents("two_factor_failed").len(), 1);
    let code = secret.code_at_step(step_of(&app));
    let res = app
        .api(
            Method::POST,
            "/api/v1/tokens",
            None,
            Some(ask(Some(code.clone()))),
        )
        .await;
    assert_eq!(res.status, 201);
    let replay = app
        .api(Method::POST, "/api/v1/tokens", None, Some(ask(Some(code))))
        .await;
    assert_eq!(replay.error(), "invalid_code");
    let res = app
        .api(
            Method::POST,
            "/api/v1/tokens",
            None,
            Some(ask(Some(codes[1].clone()))),
        )
        .await;
    assert_eq!(res.status, 201, "a recovery code in the same field");
}

/// The email's count of failures now (0 without a row).
fn failures<S>(app: &TestApp<S>) -> i32 {
    lf::table
        .filter(lf::subject.eq(EMAIL))
        .select(lf::failures)
        .first(&mut app.db())
        .unwrap_or(0)
}

#[actix_web::test]
async fn signing_in_again_does_not_reset_the_count_of_wrong_codes() {
    let app = spawn().await;
    app.sign_in_user().await;
    enrol(&app, "/account/2fa").await;
    app.logout("/logout", "/dashboard").await;
    *app.device.borrow_mut() = None;
    app.sign_in("/login", EMAIL, PASSWORD).await;
    for _ in 0..4 {
        assert_eq!(code_step(&app, "/login/2fa", "000000").await.status, 401);
    }
    assert_eq!(failures(&app), 4);
    // The right password again reaches the limit itself: a lock no right password lifts, so
    // the code step answers 429 and signing in again changes nothing.
    let again = app.sign_in("/login", EMAIL, PASSWORD).await;
    assert!(matches!(again.status, 303 | 429), "{}", again.status);
    assert_eq!(failures(&app), 5, "the wrong codes stay counted");
    if again.status == 303 {
        assert_eq!(code_step(&app, "/login/2fa", "000000").await.status, 429);
    }
    assert_eq!(
        app.sign_in("/login", EMAIL, PASSWORD).await.status,
        429,
        "locked"
    );

    // The api the same: a missing code is not a failure, and gives back nothing else.
    let app = spawn().await;
    app.sign_in_user().await;
    enrol(&app, "/account/2fa").await;
    let ask = |code: Option<&str>| {
        let mut body = json!({"email": EMAIL, "password": PASSWORD});
        if let Some(c) = code {
            body["code"] = json!(c);
        }
        body
    };
    for _ in 0..3 {
        let res = app
            .api(
                Method::POST,
                "/api/v1/tokens",
                None,
                Some(ask(Some("000000"))),
            )
            .await;
        assert_eq!(res.error(), "invalid_code");
    }
    assert_eq!(failures(&app), 3);
    let res = app
        .api(Method::POST, "/api/v1/tokens", None, Some(ask(None)))
        .await;
    assert_eq!(res.error(), "two_factor_required");
    assert_eq!(failures(&app), 3, "not counted, and nothing given back");
}

#[actix_web::test]
async fn drift_back_remember_me_and_a_guarded_recovery_code_page() {
    let app = spawn().await;
    app.sign_in_user().await;
    let (secret, codes) = enrol(&app, "/account/2fa").await;
    app.logout("/logout", "/dashboard").await;
    // Keep me signed in, carried through the code step; a code one step old is accepted.
    app.clock.danger_advance(Duration::from_secs(30));
    let token = app.csrf("/login").await;
    let res = app
        .post(
            "/login",
            &[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("remember_me", "on"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/login/2fa");
    let previous = secret.code_at_step(step_of(&app) - 1);
    assert_redirect_to(
        &code_step(&app, "/login/2fa", &previous).await,
        "/dashboard",
    );
    assert!(
        app.remember.borrow().is_some(),
        "remember_me was carried through"
    );
    // A recovery code making new codes is recorded; guessing there locks the email.
    let token = app.csrf("/account/2fa").await;
    let res = app
        .post(
            "/account/2fa/recovery-codes",
            &[("code", codes[0].as_str()), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(app.incidents("recovery_code_used").len(), 1);
    for _ in 0..5 {
        app.post(
            "/account/2fa/recovery-codes",
            &[("code", "000000"), ("csrf_token", &token)],
        )
        .await;
    }
    let res = app
        .post(
            "/account/2fa/recovery-codes",
            &[("code", "000000"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 429);
}

#[actix_web::test]
async fn a_tampered_pending_state_is_no_pending_state() {
    let app = spawn().await;
    app.sign_in_user().await;
    enrol(&app, "/account/2fa").await;
    app.logout("/logout", "/dashboard").await;
    app.sign_in("/login", EMAIL, PASSWORD).await;
    let mut map = app.session_map();
    map.insert("user.pending".into(), "{\"account\":\"x\"}".into());
    app.forge_session(&map);
    assert_redirect_to(&app.get("/login/2fa").await, "/login");
    let garbled = app.cookie.borrow().clone().map(|c| format!("x{c}"));
    *app.cookie.borrow_mut() = garbled;
    assert_eq!(app.get("/login").await.status, 200);
    assert_redirect_to(&app.get("/login/2fa").await, "/login");
}

#[actix_web::test]
async fn a_user_makes_new_recovery_codes_and_turns_the_factor_off() {
    let app = spawn().await;
    app.sign_in_user().await;
    let (secret, old) = enrol(&app, "/account/2fa").await;
    let token = app.csrf("/account/2fa").await;
    let code = secret.code_at_step(step_of(&app));
    let res = app
        .post(
            "/account/2fa/recovery-codes",
            &[("code", code.as_str()), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 200);
    let new = codes_in(&res.body);
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    // The old codes are dead; a wrong code changes nothing.
    let res = app
        .post(
            "/account/2fa/recovery-codes",
            &[("code", old[0].as_str()), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 400);
    app.clock.danger_advance(Duration::from_secs(30));
    let code = secret.code_at_step(step_of(&app));
    let wrong = app
        .post(
            "/account/2fa/disable",
            &[
                ("current_password", "wrong password here"),
                ("code", &code),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400);
    let res = app
        .post(
            "/account/2fa/disable",
            &[
                ("current_password", PASSWORD),
                ("code", &code),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/account/2fa");
    assert_eq!(app.incidents("two_factor_disabled").len(), 1);
    assert_eq!(
        app.get("/dashboard").await.status,
        200,
        "turning it off ends no session"
    );
    app.logout("/logout", "/dashboard").await;
    assert_redirect_to(&app.sign_in("/login", EMAIL, PASSWORD).await, "/dashboard");
}

#[actix_web::test]
async fn signing_out_of_the_realm_ends_its_pending_sign_in() {
    let app = spawn().await;
    app.sign_in_user().await;
    enrol(&app, "/account/2fa").await;
    // Signed in, the person starts another sign-in of the realm: it waits for its code.
    assert_redirect_to(&app.sign_in("/login", EMAIL, PASSWORD).await, "/login/2fa");
    assert!(app.session_map().contains_key("user.pending"));
    assert_eq!(
        app.get("/dashboard").await.status,
        200,
        "the session it would replace lives"
    );
    app.logout("/logout", "/dashboard").await;
    assert!(!app.session_map().contains_key("user.pending"));
    assert_redirect_to(&app.get("/login/2fa").await, "/login");
}
