//! The dual-logout test plan (docs/dual-logout-test-plan.md), run in headless Chromium with two
//! real tabs of one browser against the real server. Each test is named after its plan number.
// Test code: a failed unwrap is a failed test (the portal's own code denies these).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/outbox.rs"]
mod outbox;
mod support;

use std::time::Duration;

use fantoccini::Locator;
use support::{Browser, Portal, ADMIN, USER};

/// A browser and a fresh portal, or a skipped test when no browser is installed.
macro_rules! setup {
    ($settings:expr) => {{
        let Some(b) = Browser::start().await else {
            return;
        };
        (Portal::start($settings), b)
    }};
}

const LOGGED_OUT: &str = "You have been successfully logged out.";

async fn user_in(b: &Browser, p: &Portal) {
    b.sign_in(p, "/login", USER, &p.user_password).await;
    assert_eq!(b.path().await, "/dashboard");
    assert!(b.text().await.contains("Signed in as Demo User"));
}

async fn admin_in(b: &Browser, p: &Portal) {
    b.sign_in(p, "/admin/login", ADMIN, &p.admin_password).await;
    assert_eq!(b.path().await, "/admin");
    assert!(b.text().await.contains("Signed in as Demo Admin"));
}

/// Reloads `path` and says whether the page is still the signed-in one.
async fn still_signed_in(b: &Browser, p: &Portal, path: &str) -> bool {
    b.go(&p.url(path)).await;
    b.path().await == path
}

// 1. Single-realm basics

#[actix_web::test]
async fn t1_1_user_sign_in_and_out() {
    let (p, b) = setup!(&[]);
    user_in(&b, &p).await;
    assert!(b.text().await.contains(USER));
    b.sign_out().await;
    assert_eq!(b.path().await, "/login");
    assert!(b.text().await.contains(LOGGED_OUT));
    b.go(&p.url("/dashboard")).await;
    assert_eq!(b.path().await, "/login?next=/dashboard");
    b.finish().await;
}

#[actix_web::test]
async fn t1_2_admin_sign_in_and_out() {
    let (p, b) = setup!(&[]);
    admin_in(&b, &p).await;
    assert!(b.text().await.contains("Admin console"));
    b.sign_out().await;
    assert_eq!(b.path().await, "/admin/login");
    assert!(b.text().await.contains(LOGGED_OUT));
    assert!(!still_signed_in(&b, &p, "/admin").await);
    b.finish().await;
}

#[actix_web::test]
async fn t1_3_wrong_password_is_generic() {
    let (p, b) = setup!(&[]);
    b.sign_in(&p, "/login", USER, "not the password").await;
    assert!(b.text().await.contains("Invalid email or password."));
    b.sign_in(&p, "/login", "nobody@example.com", "not the password")
        .await;
    assert!(b.text().await.contains("Invalid email or password."));
    b.sign_in(&p, "/admin/login", USER, &p.user_password).await;
    assert!(
        b.text().await.contains("Invalid email or password."),
        "a user is not staff"
    );
    b.finish().await;
}

// 2. Dual-session sign-out

#[actix_web::test]
async fn t2_1_user_sign_out_keeps_admin() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    b.switch(&user_tab).await;
    b.sign_out().await;
    assert!(b.text().await.contains(LOGGED_OUT));
    b.switch(&admin_tab).await;
    assert!(still_signed_in(&b, &p, "/admin").await);
    assert!(b.text().await.contains("Signed in as Demo Admin"));
    b.switch(&user_tab).await;
    assert!(!still_signed_in(&b, &p, "/dashboard").await);
    b.finish().await;
}

#[actix_web::test]
async fn t2_2_admin_sign_out_keeps_user() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    b.sign_out().await;
    assert_eq!(b.path().await, "/admin/login");
    assert!(b.text().await.contains(LOGGED_OUT));
    b.switch(&user_tab).await;
    assert!(still_signed_in(&b, &p, "/dashboard").await);
    assert!(b.text().await.contains("Signed in as Demo User"));
    b.switch(&admin_tab).await;
    assert!(!still_signed_in(&b, &p, "/admin").await);
    b.finish().await;
}

#[actix_web::test]
async fn t2_3_sequential_sign_out() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    b.switch(&user_tab).await;
    b.sign_out().await;
    b.switch(&admin_tab).await;
    assert!(still_signed_in(&b, &p, "/admin").await);
    b.sign_out().await;
    assert!(b.text().await.contains(LOGGED_OUT));
    assert!(!still_signed_in(&b, &p, "/admin").await);
    b.switch(&user_tab).await;
    assert!(!still_signed_in(&b, &p, "/dashboard").await);
    b.finish().await;
}

#[actix_web::test]
async fn t2_4_reverse_sequential_sign_out() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    b.sign_out().await;
    b.switch(&user_tab).await;
    assert!(still_signed_in(&b, &p, "/dashboard").await);
    b.sign_out().await;
    assert!(b.text().await.contains(LOGGED_OUT));
    assert!(!still_signed_in(&b, &p, "/dashboard").await);
    b.switch(&admin_tab).await;
    assert!(!still_signed_in(&b, &p, "/admin").await);
    b.finish().await;
}

#[actix_web::test]
async fn t2_5_sign_in_keeps_other_realm() {
    let (p, b) = setup!(&[]);
    let admin_tab = b.client.window().await.unwrap();
    admin_in(&b, &p).await;
    b.new_tab().await;
    user_in(&b, &p).await;
    b.switch(&admin_tab).await;
    assert!(still_signed_in(&b, &p, "/admin").await);
    b.finish().await;
}

#[actix_web::test]
async fn t2_6_open_admin_form_still_submits() {
    let (p, b) = setup!(&[]);
    let admin_tab = b.client.window().await.unwrap();
    admin_in(&b, &p).await; // the admin page, with its sign-out form, stays open
    let user_tab = b.new_tab().await;
    user_in(&b, &p).await;
    b.sign_out().await;
    b.switch(&admin_tab).await;
    b.sign_out().await; // the form rendered before the user tab signed in and out
    assert_eq!(b.path().await, "/admin/login");
    assert!(b.text().await.contains(LOGGED_OUT));
    b.switch(&user_tab).await;
    b.finish().await;
}

// 3. Passwords with both sessions

const NEW_PASSWORD: &str = "violet tractor marmalade";

async fn change_password(b: &Browser, p: &Portal, path: &str, current: &str) {
    b.go(&p.url(path)).await;
    b.fill("#current_password", current).await;
    b.fill("#new_password", NEW_PASSWORD).await;
    b.fill("#new_password_confirm", NEW_PASSWORD).await;
    b.click("form.stack button[type=submit]").await;
    assert!(b.text().await.contains("Your password has been changed."));
}

#[actix_web::test]
async fn t3_1_user_password_change_keeps_admin() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    b.switch(&user_tab).await;
    change_password(&b, &p, "/account/password", &p.user_password).await;
    assert!(
        still_signed_in(&b, &p, "/dashboard").await,
        "this browser stays signed in"
    );
    b.switch(&admin_tab).await;
    assert!(still_signed_in(&b, &p, "/admin").await);
    b.finish().await;
}

#[actix_web::test]
async fn t3_2_admin_password_change_keeps_user() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    b.new_tab().await;
    admin_in(&b, &p).await;
    change_password(&b, &p, "/admin/account/password", &p.admin_password).await;
    assert_eq!(b.path().await, "/admin");
    b.switch(&user_tab).await;
    assert!(still_signed_in(&b, &p, "/dashboard").await);
    b.finish().await;
}

#[actix_web::test]
async fn t3_3_reset_while_both_signed_in() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    // A third tab: the user forgot the password and resets it.
    b.new_tab().await;
    b.go(&p.url("/password/reset")).await;
    b.fill("#email", USER).await;
    b.click("form.stack button[type=submit]").await;
    assert!(b
        .text()
        .await
        .contains("If an account exists for that address, a reset link has been sent."));
    let mail = p.mail(1);
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/password/reset/"))
        .unwrap()
        .to_owned();
    b.go(&link).await;
    assert_eq!(
        b.path().await,
        "/password/reset/confirm",
        "the token left the address bar"
    );
    b.fill("#new_password", NEW_PASSWORD).await;
    b.fill("#new_password_confirm", NEW_PASSWORD).await;
    b.click("form.stack button[type=submit]").await;
    assert_eq!(b.path().await, "/login");
    assert!(b
        .text()
        .await
        .contains("Your password has been reset. Please sign in."));
    // The admin, another account, is still signed in; the reset account's session ended.
    b.switch(&admin_tab).await;
    assert!(still_signed_in(&b, &p, "/admin").await);
    b.switch(&user_tab).await;
    assert!(!still_signed_in(&b, &p, "/dashboard").await);
    b.sign_in(&p, "/login", USER, NEW_PASSWORD).await;
    assert_eq!(b.path().await, "/dashboard");
    b.finish().await;
}

// 4. Expiry, revocation and deactivation with both sessions

#[actix_web::test]
async fn t4_1_idle_expiry_keeps_other_realm() {
    let (p, b) = setup!(&[("REALMGATE_USER_IDLE_TIMEOUT", "3s")]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    actix_web::rt::time::sleep(Duration::from_secs(4)).await;
    b.switch(&user_tab).await;
    assert!(!still_signed_in(&b, &p, "/dashboard").await);
    assert!(b.text().await.contains("Your session expired."));
    b.switch(&admin_tab).await;
    assert!(still_signed_in(&b, &p, "/admin").await);
    b.finish().await;
}

#[actix_web::test]
async fn t4_2_revoke_from_sessions_page() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    b.switch(&user_tab).await;
    b.go(&p.url("/account/sessions")).await;
    assert!(b.text().await.contains("This session"));
    b.click("tr.current form button").await;
    assert_eq!(b.path().await, "/login");
    assert!(b.text().await.contains(LOGGED_OUT));
    b.switch(&admin_tab).await;
    assert!(still_signed_in(&b, &p, "/admin").await);
    b.finish().await;
}

/// A console action on the demo user, through its confirmation page (issue 17).
async fn admin_acts_on_user(b: &Browser, p: &Portal, action: &str) {
    b.go(&p.url("/admin/users")).await;
    let css = format!("tr[data-email='{USER}'] a[href$='/{action}']");
    b.click(&css).await;
    b.click("form.actions button[type=submit]").await;
    assert_eq!(b.path().await, "/admin/users");
}

#[actix_web::test]
async fn t4_3_deactivation_in_other_tab() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    admin_acts_on_user(&b, &p, "deactivate").await;
    assert!(b
        .text()
        .await
        .contains("is deactivated and signed out everywhere."));
    b.switch(&user_tab).await;
    assert!(!still_signed_in(&b, &p, "/dashboard").await);
    b.sign_in(&p, "/login", USER, &p.user_password).await;
    assert!(b.text().await.contains("Invalid email or password."));
    b.switch(&admin_tab).await;
    assert!(
        still_signed_in(&b, &p, "/admin").await,
        "the acting admin stays"
    );
    b.finish().await;
}

#[actix_web::test]
async fn t4_4_sign_out_everywhere() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    admin_acts_on_user(&b, &p, "logout-everywhere").await;
    assert!(b.text().await.contains("is signed out everywhere."));
    b.switch(&user_tab).await;
    assert!(!still_signed_in(&b, &p, "/dashboard").await);
    user_in(&b, &p).await; // the account itself still works
    b.switch(&admin_tab).await;
    assert!(still_signed_in(&b, &p, "/admin").await);
    b.finish().await;
}

// 5. Security

async fn session_cookie(b: &Browser) -> Option<fantoccini::cookies::Cookie<'static>> {
    b.client
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name() == "realmgate_session")
}

#[actix_web::test]
async fn t5_1_session_fixation() {
    let (p, b) = setup!(&[]);
    user_in(&b, &p).await;
    // The cookie as it is now, holding a session secret: what an attacker might have planted
    // or copied.
    let planted = session_cookie(&b).await.expect("signed in");
    user_in(&b, &p).await; // signing in again must give a new secret
    b.client.delete_cookie("realmgate_session").await.unwrap();
    b.client.add_cookie(planted).await.unwrap();
    assert!(
        !still_signed_in(&b, &p, "/dashboard").await,
        "the earlier secret is refused"
    );
    b.finish().await;
}

#[actix_web::test]
async fn t5_2_csrf_across_realms() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let user_token = b
        .client
        .find(Locator::Css(".who input[name=csrf_token]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    b.new_tab().await;
    admin_in(&b, &p).await;
    // Swap the admin sign-out form's token for the user realm's, then submit it.
    b.client
        .execute(
            "document.querySelector('.who input[name=csrf_token]').value = arguments[0];",
            vec![serde_json::Value::String(user_token)],
        )
        .await
        .unwrap();
    b.sign_out().await;
    assert!(b
        .text()
        .await
        .contains("This form has expired or did not come from this site."));
    assert!(still_signed_in(&b, &p, "/admin").await);
    b.switch(&user_tab).await;
    assert!(still_signed_in(&b, &p, "/dashboard").await);
    b.finish().await;
}

#[actix_web::test]
async fn t5_3_back_after_sign_out() {
    let (p, b) = setup!(&[]);
    user_in(&b, &p).await;
    b.go(&p.url("/account/sessions")).await;
    b.sign_out().await;
    assert_eq!(b.path().await, "/login");
    b.client.back().await.unwrap();
    let text = b.text().await;
    assert!(
        !text.contains("Demo User") && !text.contains(USER),
        "{text}"
    );
    b.finish().await;
}

#[actix_web::test]
async fn t5_4_cookie_flags() {
    let (p, b) = setup!(&[]);
    user_in(&b, &p).await;
    let c = session_cookie(&b).await.unwrap();
    assert_eq!(c.http_only(), Some(true));
    assert_eq!(format!("{:?}", c.same_site()), "Some(Lax)");
    assert_eq!(c.path(), Some("/"));
    assert!(
        c.expires().is_none(),
        "it ends with the browser: {:?}",
        c.expires()
    );
    b.finish().await;
}

#[actix_web::test]
async fn t5_5_open_redirect() {
    let (p, b) = setup!(&[]);
    for next in [
        "//evil.example",
        "https://evil.example",
        "/%2F%2Fevil.example",
        "/admin",
    ] {
        let encoded: String = next.bytes().map(|c| format!("%{c:02X}")).collect();
        b.go(&p.url(&format!("/login?next={encoded}"))).await;
        b.fill("#email", USER).await;
        b.fill("#password", &p.user_password).await;
        b.click("form.stack button[type=submit]").await;
        let url = b.client.current_url().await.unwrap();
        assert_eq!(url.host_str(), Some("127.0.0.1"), "{next}");
        assert_eq!(url.path(), "/dashboard", "{next}");
    }
    b.finish().await;
}

// Screenshots of the main pages, for people to look at (target/screenshots/).

#[actix_web::test]
async fn screenshots_of_the_main_pages() {
    let (p, b) = setup!(&[]);
    b.go(&p.url("/login")).await;
    b.screenshot("sign-in").await;
    user_in(&b, &p).await;
    b.screenshot("dashboard").await;
    b.go(&p.url("/account/sessions")).await;
    b.screenshot("sessions").await;
    b.new_tab().await;
    admin_in(&b, &p).await;
    // Something for the console to show.
    b.sign_in(&p, "/login", "nobody@example.com", "wrong").await;
    b.go(&p.url("/admin")).await;
    b.screenshot("admin-dashboard").await;
    b.go(&p.url("/admin/users")).await;
    b.screenshot("admin-users").await;
    b.go(&p.url("/admin/incidents")).await;
    b.screenshot("admin-incidents").await;
    b.client.set_window_size(390, 844).await.unwrap();
    b.go(&p.url("/admin")).await;
    b.screenshot("admin-dashboard-phone").await;
    b.finish().await;
}

// 8. A second factor with both realms signed in

/// The code of `step_offset` steps from now for the secret the enrolment page shows.
async fn code_from_page(b: &Browser, step_offset: i64) -> String {
    let b32 = b
        .client
        .find(Locator::Css("[data-secret]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let bytes = totp_rs::Secret::Encoded(b32).to_bytes().unwrap();
    let secret = realmgate::domain::second_factor::TotpSecret::from_bytes(bytes).unwrap();
    let step = chrono::Utc::now().timestamp().div_euclid(30);
    secret.code_at_step(step + step_offset)
}

/// Turns the factor on at `page` for the signed-in account of this tab; returns the code of
/// the next step (one step of drift is accepted, and the enrolment's own step is spent).
async fn enrol(b: &Browser, p: &Portal, page: &str, password: &str) -> String {
    b.go(&p.url(page)).await;
    let now = code_from_page(b, 0).await;
    let next = code_from_page(b, 1).await;
    b.fill("#on-password", password).await;
    b.fill("#on-code", &now).await;
    b.click("form.stack button[type=submit]").await;
    assert!(
        b.text().await.contains("Your recovery codes"),
        "{}",
        b.text().await
    );
    next
}

#[actix_web::test]
async fn t8_1_admin_second_step_keeps_user() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    let next = enrol(&b, &p, "/admin/account/2fa", &p.admin_password).await;
    b.sign_out().await;
    b.sign_in(&p, "/admin/login", ADMIN, &p.admin_password)
        .await;
    assert_eq!(b.path().await, "/admin/login/2fa");
    b.switch(&user_tab).await;
    assert!(
        still_signed_in(&b, &p, "/dashboard").await,
        "the user waits for nothing"
    );
    b.switch(&admin_tab).await;
    b.fill("#code", &next).await;
    b.click("form.stack button[type=submit]").await;
    assert_eq!(b.path().await, "/admin");
    b.switch(&user_tab).await;
    assert!(still_signed_in(&b, &p, "/dashboard").await);
    b.finish().await;
}

#[actix_web::test]
async fn t8_2_user_second_step_keeps_admin() {
    let (p, b) = setup!(&[]);
    let user_tab = b.client.window().await.unwrap();
    user_in(&b, &p).await;
    let next = enrol(&b, &p, "/account/2fa", &p.user_password).await;
    let admin_tab = b.new_tab().await;
    admin_in(&b, &p).await;
    b.switch(&user_tab).await;
    b.go(&p.url("/dashboard")).await;
    b.sign_out().await;
    b.sign_in(&p, "/login", USER, &p.user_password).await;
    assert_eq!(b.path().await, "/login/2fa");
    b.fill("#code", "000000").await;
    b.click("form.stack button[type=submit]").await;
    assert!(b.text().await.contains("Invalid code."));
    b.switch(&admin_tab).await;
    assert!(
        still_signed_in(&b, &p, "/admin").await,
        "a wrong code there changes nothing here"
    );
    b.switch(&user_tab).await;
    b.go(&p.url("/login/2fa")).await;
    b.fill("#code", &next).await;
    b.click("form.stack button[type=submit]").await;
    assert_eq!(b.path().await, "/dashboard");
    b.switch(&admin_tab).await;
    assert!(still_signed_in(&b, &p, "/admin").await);
    b.finish().await;
}

// 9. Pages a first-time user and admin meet (issue 17)

#[actix_web::test]
async fn t9_1_sign_in_links_and_the_signed_in_cue() {
    let (p, b) = setup!(&[]);
    b.go(&p.url("/login")).await;
    b.click("a[href='/password/reset']").await;
    assert_eq!(b.path().await, "/password/reset");
    b.go(&p.url("/login")).await;
    b.click("a[href='/register']").await;
    assert_eq!(b.path().await, "/register");
    b.go(&p.url("/admin/login")).await;
    assert!(b.text().await.contains("Forgot your password?"));
    user_in(&b, &p).await;
    // Back at the sign-in page, signed in: who, and the way on.
    b.go(&p.url("/login")).await;
    let text = b.text().await;
    assert!(text.contains("You are signed in as Demo User"), "{text}");
    b.click("a.button[href='/dashboard']").await;
    assert_eq!(b.path().await, "/dashboard");
    b.finish().await;
}

#[actix_web::test]
async fn t9_2_reauthentication_carries_the_deactivation_through_a_confirmation() {
    // Long enough that the confirmed sign-in stays fresh through the screenshots below.
    let (p, b) = setup!(&[("REALMGATE_ADMIN_REAUTH", "6s")]);
    admin_in(&b, &p).await;
    actix_web::rt::time::sleep(Duration::from_millis(6500)).await;
    b.go(&p.url("/admin/users")).await;
    let row = format!("tr[data-email='{USER}'] a[href$='/deactivate']");
    b.click(&row).await;
    let text = b.text().await;
    assert!(
        text.contains(&format!("Confirm your password to deactivate {USER}")),
        "{text}"
    );
    assert!(
        text.contains("Signed in as Demo Admin"),
        "the console's header is kept: {text}"
    );
    b.screenshot("admin-reauthenticate").await;
    b.fill("#password", &p.admin_password).await;
    b.click("form.stack button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains(&format!("Deactivate {USER}?")), "{text}");
    assert!(text.contains("Every session of the account ends at once"));
    b.screenshot("admin-confirm").await;
    b.client.set_window_size(390, 844).await.unwrap();
    assert!(!b.overflows().await, "the confirmation fits a phone");
    b.screenshot("admin-confirm-phone").await;
    b.client.set_window_size(1280, 900).await.unwrap();
    b.click("form.actions button[type=submit]").await;
    assert_eq!(b.path().await, "/admin/users");
    assert!(b.text().await.contains(&format!("{USER} is deactivated")));
    b.finish().await;
}

#[actix_web::test]
async fn t9_3_an_invitation_reads_as_one() {
    let (p, b) = setup!(&[]);
    admin_in(&b, &p).await;
    b.go(&p.url("/admin/users")).await;
    b.fill("#new-email", "ivy@example.com").await;
    b.fill("#new-name", "Ivy Invited").await;
    b.click("section.narrow-left button[type=submit]").await;
    assert!(b
        .text()
        .await
        .contains("An invitation to choose a password was mailed to ivy@example.com"));
    let mail = p.mail(1);
    assert!(mail.contains("Subject: Welcome to Realmgate"), "{mail}");
    let start = mail.find("http://").unwrap();
    let link = mail[start..].split_whitespace().next().unwrap().to_owned();
    b.go(&link).await;
    assert!(b.text().await.contains("Welcome: choose your password"));
    b.finish().await;
}

#[actix_web::test]
async fn t9_4_the_dark_scheme_follows_the_system() {
    let Some(b) = Browser::start_with(&["--force-dark-mode"]).await else {
        return;
    };
    let p = Portal::start(&[]);
    b.go(&p.url("/login")).await;
    let dark = b
        .eval("return matchMedia('(prefers-color-scheme: dark)').matches;")
        .await;
    assert_eq!(
        dark,
        serde_json::Value::Bool(true),
        "Chromium reports a dark system"
    );
    let background = b
        .eval("return getComputedStyle(document.body).backgroundColor;")
        .await;
    assert_eq!(background, "rgb(17, 20, 24)", "the page is dark");
    b.screenshot("sign-in-dark").await;
    admin_in(&b, &p).await;
    let bar = b
        .eval("return getComputedStyle(document.querySelector('.chart rect.series-0')).fill;")
        .await;
    assert_eq!(bar, "rgb(127, 166, 255)", "the chart is repainted too");
    b.screenshot("admin-dashboard-dark").await;
    b.finish().await;
}

/// Every console page, the sessions and activity pages and the sign-in, at desktop and phone
/// width: none needs sideways scrolling. Saved under target/screenshots/ to look at.
#[actix_web::test]
async fn t9_5_no_page_overflows_at_desktop_or_phone_width() {
    let (p, b) = setup!(&[]);
    b.go(&p.url("/login")).await;
    b.sign_in(&p, "/login", "nobody@example.com", "wrong").await;
    user_in(&b, &p).await;
    b.new_tab().await;
    admin_in(&b, &p).await;
    // Something in every list.
    b.go(&p.url("/admin/users")).await;
    b.click(&format!(
        "tr[data-email='{USER}'] a[href$='/logout-everywhere']"
    ))
    .await;
    b.click("form.actions button[type=submit]").await;
    let pages = [
        ("/login", "sign-in"),
        ("/admin", "admin-dashboard"),
        ("/admin/users", "admin-users"),
        ("/admin/sessions", "admin-sessions"),
        ("/admin/incidents", "admin-incidents"),
        (
            "/admin/incidents?kind=session_mismatch",
            "admin-incidents-empty",
        ),
        ("/admin/logouts", "admin-logouts"),
        ("/admin/audit", "admin-audit"),
        ("/admin/organisations", "admin-organisations"),
        ("/admin/login", "admin-confirm-password"),
    ];
    for (width, height, suffix) in [(1280, 900, ""), (390, 844, "-phone")] {
        b.client.set_window_size(width, height).await.unwrap();
        for (path, name) in pages {
            b.go(&p.url(path)).await;
            assert!(!b.overflows().await, "{path} overflows at {width} px");
            b.screenshot(&format!("{name}{suffix}")).await;
        }
    }
    // The user's own pages, in the first tab's realm.
    b.sign_in(&p, "/login", USER, &p.user_password).await;
    for (width, height, suffix) in [(1280, 900, ""), (390, 844, "-phone")] {
        b.client.set_window_size(width, height).await.unwrap();
        for (path, name) in [
            ("/dashboard", "dashboard"),
            ("/account/sessions", "sessions"),
            ("/account/activity", "activity"),
        ] {
            b.go(&p.url(path)).await;
            assert!(!b.overflows().await, "{path} overflows at {width} px");
            b.screenshot(&format!("{name}{suffix}")).await;
        }
    }
    b.go(&p.url("/admin/incidents?kind=session_mismatch")).await;
    assert!(b.text().await.contains("No incidents match these filters."));
    b.finish().await;
}
