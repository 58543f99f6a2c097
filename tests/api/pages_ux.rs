//! What a first-time user and admin meet on the pages (issue 17): no dead ends, a console
//! re-authentication that carries the action through, a confirmation step before destruction,
//! invitations worded as invitations, and lists that say what they hold. Both backends.

use diesel::prelude::*;

use crate::helpers::{assert_redirect_to, spawn, spawn_with, TestApp, PASSWORD};

const STRONG: &str = "violet tractor marmalade";

#[actix_web::test]
async fn the_sign_in_pages_offer_a_reset_and_sign_up_and_a_way_out_of_a_lockout() {
    let app = spawn().await;
    let user = app.get("/login").await.body;
    assert!(user.contains(r#"<a href="/password/reset">Forgot your password?</a>"#));
    assert!(user.contains(r#"<a href="/register">Create an account</a>"#));
    let admin = app.get("/admin/login").await.body;
    assert!(admin.contains(r#"<a href="/password/reset">Forgot your password?</a>"#));
    assert!(
        !admin.contains(r#"href="/register""#),
        "staff are not signed up"
    );
    let closed = spawn_with(&[("REALMGATE_SIGNUP", "false")]).await;
    assert!(!closed
        .get("/login")
        .await
        .body
        .contains(r#"href="/register""#));
    // A failed sign-in: the address stays, the cursor goes to the password, both fields
    // name the error.
    app.create_account("ann@example.com", "Ann", false).await;
    let res = app
        .sign_in("/login", "ann@example.com", "wrong password here")
        .await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains(r#"value="ann@example.com""#));
    let password_field = res.body.split("id=\"password\"").nth(1).unwrap();
    let password_field = &password_field[..password_field.find('>').unwrap()];
    assert!(password_field.contains("autofocus"), "{password_field}");
    assert!(password_field.contains(r#"aria-describedby="login-error""#));
    assert!(password_field.contains(r#"aria-invalid="true""#));
    // Locked: SPEC §6's words, and that a reset unlocks.
    let mut last = res;
    for _ in 0..5 {
        last = app
            .sign_in("/login", "ann@example.com", "wrong password here")
            .await;
    }
    assert_eq!(last.status, 429);
    assert!(last
        .body
        .contains("Too many failed attempts. Try again in 15 minutes."));
    assert!(last
        .body
        .contains("A password reset unlocks your account at once"));
    assert!(last
        .body
        .contains(r#"<a href="/password/reset">reset your password</a>"#));
}

#[actix_web::test]
async fn someone_signed_in_who_opens_the_sign_in_page_sees_who_and_a_way_on() {
    let app = spawn().await;
    app.sign_in_user().await;
    let page = app.get("/login").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(r#"data-signed-in="user@example.com""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("Uma User"));
    assert!(page
        .body
        .contains(r#"<a class="button" href="/dashboard">Continue to your dashboard</a>"#));
    assert!(
        page.body.contains(r#"action="/logout""#),
        "a sign-out button"
    );
    // An admin opening the console's sign-in sees the console's password confirmation.
    app.sign_in_admin().await;
    let page = app.get("/admin/login").await;
    assert!(
        page.body.contains("<h1>Confirm your password</h1>"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains(r#"<input type="hidden" name="email" value="staff@example.com">"#));
    assert!(
        page.body.contains(r#"href="/admin/users""#),
        "the console's header and menu"
    );
    // Signed out again, the plain form.
    app.logout("/logout", "/dashboard").await;
    let page = app.get("/login").await;
    assert!(!page.body.contains("data-signed-in"));
}

#[actix_web::test]
async fn a_confirmed_address_is_filled_in_and_check_your_email_names_it() {
    let app = spawn().await;
    let token = app.csrf("/register").await;
    let res = app
        .post(
            "/register",
            &[
                ("email", "nia@example.com"),
                ("name", "Nia New"),
                ("password", STRONG),
                ("password_confirm", STRONG),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert!(
        res.body.contains("We wrote to nia@example.com."),
        "{}",
        res.body
    );
    assert!(
        res.body
            .contains("mail is not sent but written to the folder"),
        "development says where mail went"
    );
    let mails = app.wait_for_mails(1).await;
    let link = TestApp::<()>::link_in(&mails[0]);
    assert_redirect_to(&app.get(&link).await, "/login");
    let page = app.get("/login").await;
    assert!(page.body.contains("Your email address is confirmed."));
    assert!(
        page.body.contains(r#"value="nia@example.com""#),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("prefill-email"),
        "the carrier flash is not shown"
    );
    // Once only: the next visit is a plain form.
    assert!(!app
        .get("/login")
        .await
        .body
        .contains(r#"value="nia@example.com""#));
}

/// The admin console's re-authentication: a page of the console that names the action, and
/// after it the action, one click away; the confirmation step before anything destructive.
#[actix_web::test]
async fn re_authentication_carries_the_action_through_and_destruction_is_confirmed() {
    let app = spawn().await;
    let bob = app.create_account("bob@example.com", "Bob", false).await;
    app.sign_in_admin().await;
    // Fresh: the confirmation page names the account and what will happen.
    let page = app.get(&format!("/admin/users/{bob}/deactivate")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<h1>Deactivate bob@example.com?</h1>"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("Every session of the account ends at once"));
    assert!(page
        .body
        .contains(&format!(r#"action="/admin/users/{bob}/deactivate""#)));
    assert!(page
        .body
        .contains(r#"<a class="button secondary" href="/admin/users">Cancel</a>"#));
    // The list links the destructive actions to that page rather than posting them.
    let list = app.get("/admin/users").await.body;
    assert!(list.contains(&format!(r#"href="/admin/users/{bob}/deactivate""#)));
    assert!(list.contains(&format!(r#"href="/admin/users/{bob}/logout-everywhere""#)));
    assert!(!list.contains(&format!(r#"action="/admin/users/{bob}/deactivate""#)));
    // Stale: the same route is the console's password confirmation for that action.
    app.clock
        .danger_advance(std::time::Duration::from_secs(11 * 60));
    let page = app.get(&format!("/admin/users/{bob}/deactivate")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<h1>Confirm your password to deactivate bob@example.com</h1>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("staff@example.com"),
        "the admin's own address"
    );
    assert!(
        page.body.contains(r#"href="/admin/users""#),
        "the console's header"
    );
    let next = format!("/admin/users/{bob}/deactivate");
    assert!(page
        .body
        .contains(&format!(r#"name="next" value="{next}""#)));
    // The list's quick actions now go through their pages too.
    let list = app.get("/admin/users").await.body;
    assert!(list.contains(&format!(r#"href="/admin/users/{bob}/send-reset""#)));
    // A mistyped password keeps the console's page, not the bare sign-in form.
    let token = page.csrf_token();
    let wrong = app
        .post(
            "/admin/login",
            &[
                ("email", "staff@example.com"),
                ("password", "not my password at all"),
                ("next", &next),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("<h1>Confirm your password</h1>"),
        "{}",
        wrong.body
    );
    assert!(wrong.body.contains("Invalid email or password."));
    assert!(
        wrong.body.contains(r#"href="/admin/users""#),
        "the console's header"
    );
    assert!(wrong
        .body
        .contains(&format!(r#"name="next" value="{next}""#)));
    // Confirming the password comes back to the action, one click away.
    let token = wrong.csrf_token();
    let res = app
        .post(
            "/admin/login",
            &[
                ("email", "staff@example.com"),
                ("password", PASSWORD),
                ("next", &next),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, &next);
    let page = app.get(&next).await;
    assert!(page.body.contains("<h1>Deactivate bob@example.com?</h1>"));
    let res = app.post(&next, &[("csrf_token", &page.csrf_token())]).await;
    assert_redirect_to(&res, "/admin/users");
    let active: bool = realmgate::db::schema::accounts::table
        .find(bob)
        .select(realmgate::db::schema::accounts::is_active)
        .first(&mut app.db())
        .unwrap();
    assert!(!active);
    // SPEC §5 still holds for a stale POST: 303 to the sign-in with the message.
    app.clock
        .danger_advance(std::time::Duration::from_secs(11 * 60));
    let token = app.get("/admin/users").await.csrf_token();
    let res = app.admin_act(bob, "activate", &token).await;
    assert_redirect_to(&res, "/admin/login?next=/admin/users");
    // An unknown account's confirmation: 404, and the incident of an unknown id.
    let res = app.get("/admin/users/99999/deactivate").await;
    assert_eq!(res.status, 404);
    assert!(!app.incidents("unauthorized_access").is_empty());
    let res = app.get("/admin/users/1/explode").await;
    assert_eq!(res.status, 404);
}

#[actix_web::test]
async fn revoking_a_session_in_the_console_is_confirmed_first() {
    let app = spawn().await;
    app.sign_in_user().await;
    let session: String = realmgate::db::schema::auth_sessions::table
        .select(realmgate::db::schema::auth_sessions::id)
        .first(&mut app.db())
        .unwrap();
    app.sign_in_admin().await;
    let list = app.get("/admin/sessions").await.body;
    assert!(list.contains(&format!(r#"href="/admin/sessions/{session}/revoke""#)));
    let page = app.get(&format!("/admin/sessions/{session}/revoke")).await;
    assert!(
        page.body
            .contains("<h1>Sign out this session of user@example.com?</h1>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("other sessions are not touched."));
    let res = app
        .post(
            &format!("/admin/sessions/{session}/revoke"),
            &[("csrf_token", &page.csrf_token())],
        )
        .await;
    assert_redirect_to(&res, "/admin/sessions");
    // Over already: back to the list, with no unknown-id incident.
    let before = app.incidents("unauthorized_access").len();
    let again = app.get(&format!("/admin/sessions/{session}/revoke")).await;
    assert_redirect_to(&again, "/admin/sessions");
    assert_eq!(app.incidents("unauthorized_access").len(), before);
    assert!(app
        .get("/admin/sessions")
        .await
        .body
        .contains("That session has already ended."));
}

#[actix_web::test]
async fn an_invitation_is_worded_as_one_and_lasts_its_own_time() {
    let app = spawn().await;
    app.sign_in_admin().await;
    let token = app.get("/admin/users").await.csrf_token();
    let res = app
        .post(
            "/admin/users",
            &[
                ("email", "ivy@example.com"),
                ("name", "Ivy Invited"),
                ("password", ""),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_redirect_to(&res, "/admin/users");
    let list = app.get("/admin/users").await.body;
    assert!(
        list.contains("Account ivy@example.com created. An invitation to choose a password was mailed to ivy@example.com; its link works for 7 days."),
        "{list}"
    );
    let mails = app.wait_for_mails(1).await;
    assert!(mails[0].contains("Subject: Welcome to Realmgate"));
    assert!(mails[0].contains("for 7 days"));
    assert!(!mails[0].contains("Every session"), "not a reset's words");
    let link = TestApp::<()>::link_in(&mails[0]);
    // Still good after the hour a reset link would have had.
    app.clock
        .danger_advance(std::time::Duration::from_secs(3 * 3600));
    let res = app.get(&link).await;
    assert_redirect_to(&res, "/password/reset/confirm");
    let page = app.get("/password/reset/confirm").await;
    assert!(
        page.body.contains("Welcome: choose your password"),
        "{}",
        page.body
    );
    assert!(!page
        .body
        .contains("Every session of this account will be signed out"));
    assert!(
        page.body.contains("At least 12 characters"),
        "the rules before typing"
    );
    let res = app
        .post(
            "/password/reset/confirm",
            &[
                ("new_password", STRONG),
                ("new_password_confirm", STRONG),
                ("csrf_token", &page.csrf_token()),
            ],
        )
        .await;
    assert_redirect_to(&res, "/login");
    let login = app.get("/login").await.body;
    assert!(
        login.contains("Your password has been reset. Please sign in."),
        "SPEC §8's words, kept for an invitation's completion"
    );
    assert!(login.contains(r#"value="ivy@example.com""#));
    // An invitation past REALMGATE_INVITE_TTL is dead, like a reset link past its hour. (The
    // admin's own sign-in idled out meanwhile.)
    let res = app
        .sign_in("/admin/login", "staff@example.com", PASSWORD)
        .await;
    assert_redirect_to(&res, "/admin");
    let res = app
        .post(
            "/admin/users",
            &[
                ("email", "late@example.com"),
                ("name", "Late"),
                ("password", ""),
                ("csrf_token", &app.get("/admin/users").await.csrf_token()),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    // The invitation, ivy's "password was reset" notice, and late's invitation.
    let mails = app.wait_for_mails(3).await;
    let late = mails
        .iter()
        .find(|m| m.contains("To: late@example.com"))
        .unwrap();
    let late = TestApp::<()>::link_in(late);
    app.clock
        .danger_advance(std::time::Duration::from_secs(8 * 86_400));
    assert_eq!(app.get(&late).await.status, 400);
}

#[actix_web::test]
async fn lists_say_how_many_match_and_when_none_do() {
    let app = spawn().await;
    app.create_account("ann@example.com", "Ann", false).await;
    for _ in 0..3 {
        app.sign_in("/login", "ann@example.com", "wrong password here")
            .await;
    }
    app.sign_in_admin().await;
    let page = app.get("/admin/incidents?kind=login_failed").await;
    assert!(
        page.body
            .contains(r#"<p class="result-count" data-count>3 results</p>"#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(">ann@example.com</a>"),
        "the account by its address"
    );
    assert!(
        page.body.contains("<time datetime="),
        "relative times, exact on hover"
    );
    assert!(
        page.body
            .contains(r#"<option value="login_failed" selected>login_failed</option>"#),
        "the kind is a choice of the known values"
    );
    let none = app.get("/admin/incidents?kind=session_mismatch").await;
    assert!(none.body.contains("No incidents match these filters."));
    assert!(none.body.contains("0 results"));
    assert!(app
        .get("/admin/logouts?reason=server_restart")
        .await
        .body
        .contains("No sign-outs match these filters."));
    assert!(app
        .get("/admin/audit?action=reset_2fa")
        .await
        .body
        .contains("No admin actions match these filters."));
    assert!(app
        .get("/admin/sessions?realm=api")
        .await
        .body
        .contains("No live sessions match these filters."));
    // The dashboard's chart legend is HTML, readable at any width.
    assert!(app
        .get("/admin")
        .await
        .body
        .contains(r#"<ul class="chart-legend">"#));
    let _ = diesel::sql_query("SELECT 1").execute(&mut app.db());
}

/// An invitation is a password link in every rule: a credential event voids it.
#[actix_web::test]
async fn an_invitation_dies_with_a_credential_event() {
    let app = spawn().await;
    app.sign_in_admin().await;
    for (n, (email, then)) in [
        ("a@example.com", "logout-everywhere"),
        ("b@example.com", "deactivate"),
    ]
    .into_iter()
    .enumerate()
    {
        let token = app.get("/admin/users").await.csrf_token();
        let res = app
            .post(
                "/admin/users",
                &[
                    ("email", email),
                    ("name", "Invited"),
                    ("password", ""),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_eq!(res.status, 303);
        let mails = app.wait_for_mails(n + 1).await;
        let mail = mails
            .iter()
            .find(|m| m.contains(&format!("To: {email}")))
            .unwrap();
        let link = TestApp::<()>::link_in(mail);
        let id: i32 = realmgate::db::schema::accounts::table
            .filter(realmgate::db::schema::accounts::email.eq(email))
            .select(realmgate::db::schema::accounts::id)
            .first(&mut app.db())
            .unwrap();
        let token = app
            .get(&format!("/admin/users/{id}/{then}"))
            .await
            .csrf_token();
        assert_redirect_to(&app.admin_act(id, then, &token).await, "/admin/users");
        assert_eq!(
            app.get(&link).await.status,
            400,
            "{then} voids the invitation"
        );
    }
}

/// Issue 17 point 6: the change-password form says its rules before typing and ties a refusal
/// to its fields; the expiry notice speaks through a polite live region that is always there.
#[actix_web::test]
async fn forms_say_their_rules_and_the_expiry_notice_is_polite() {
    let app = spawn().await;
    app.sign_in_user().await;
    let form = app.get("/account/password").await.body;
    assert!(form.contains(r#"<p id="password-rules" class="muted small">At least 12 characters"#));
    assert!(form.contains(r#"aria-describedby="password-rules""#));
    let res = app.change_password(PASSWORD, "short").await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains(r#"id="password-error""#));
    assert!(res
        .body
        .contains(r#"aria-describedby="password-rules password-error""#));
    assert!(res.body.contains(r#"aria-invalid="true""#));
    // The notice: a status region, polite, present (empty) on every signed-in page.
    let page = app.get("/dashboard").await.body;
    assert!(page.contains(r#"<p id="expiry-live" class="visually-hidden" role="status" aria-live="polite" aria-atomic="true"></p>"#));
    assert!(
        !page.contains(r#"role="alert" hidden"#),
        "not re-announced as an alert"
    );
    let reset = app.get("/password/reset").await;
    let token = reset.csrf_token();
    let bad = app
        .post(
            "/password/reset",
            &[("email", "not an address"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains(r#"aria-describedby="reset-error""#));
}
