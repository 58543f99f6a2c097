//! SPEC §9 "Floods": incidents of anonymous requests limited per client IP key and kind each
//! clock minute, an IPv6 address keyed by its /64 in every per-IP limit; and §3's `__Host-`
//! names on every cookie when Secure.

use diesel::prelude::*;
use realmgate::db::schema::security_incidents as si;

use crate::helpers::{spawn_with, PASSWORD};

/// Moves the clock to the start of the next minute, so a burst stays in one clock minute.
fn start_of_a_minute(clock: &realmgate::domain::clock::Clock) {
    let into_minute = u64::from(chrono::Timelike::second(&clock.now()));
    clock.danger_advance(std::time::Duration::from_secs(60 - into_minute));
}

fn flood_details(conn: &mut realmgate::db::Conn) -> Vec<String> {
    si::table
        .filter(si::kind.eq("incident_flood"))
        .select(si::details)
        .load::<Option<String>>(conn)
        .unwrap()
        .into_iter()
        .flatten()
        .collect()
}

#[actix_web::test]
async fn a_csrf_flood_writes_one_summary_row() {
    let app = spawn_with(&[("REALMGATE_INCIDENTS_PER_IP", "5")]).await;
    start_of_a_minute(&app.clock);
    for _ in 0..12 {
        let res = app
            .post(
                "/password/reset",
                &[("email", "a@b.example"), ("csrf_token", "x")],
            )
            .await;
        assert_eq!(res.status, 403);
    }
    assert_eq!(app.incidents("csrf_rejected").len(), 5);
    let floods = app.incidents("incident_flood");
    assert_eq!(floods.len(), 1);
    assert_eq!(floods[0].2, "warning");
    let details = flood_details(&mut app.db());
    assert!(details[0].contains("kind=csrf_rejected"), "{details:?}");
    assert!(details[0].contains("suppressed=7"), "{details:?}");

    // Another network has its own budget; the next minute starts afresh.
    app.peer.set("198.51.100.7:40000".parse().unwrap());
    app.post(
        "/password/reset",
        &[("email", "a@b.example"), ("csrf_token", "x")],
    )
    .await;
    assert_eq!(app.incidents("csrf_rejected").len(), 6);
    app.peer.set("127.0.0.1:40000".parse().unwrap());
    app.clock.danger_advance(std::time::Duration::from_secs(60));
    app.post(
        "/password/reset",
        &[("email", "a@b.example"), ("csrf_token", "x")],
    )
    .await;
    assert_eq!(app.incidents("csrf_rejected").len(), 7);
}

#[actix_web::test]
async fn an_ipv6_network_is_one_key_for_floods() {
    let app = spawn_with(&[("REALMGATE_INCIDENTS_PER_IP", "3")]).await;
    start_of_a_minute(&app.clock);
    // Five addresses of one /64, one request each: still one budget.
    for host in 1..=5 {
        app.peer
            .set(format!("[2001:db8:1:2::{host}]:40000").parse().unwrap());
        app.post(
            "/password/reset",
            &[("email", "a@b.example"), ("csrf_token", "x")],
        )
        .await;
    }
    assert_eq!(app.incidents("csrf_rejected").len(), 3);
    assert!(flood_details(&mut app.db())[0].contains("suppressed=2"));
    app.peer.set("[2001:db8:1:3::1]:40000".parse().unwrap());
    app.post(
        "/password/reset",
        &[("email", "a@b.example"), ("csrf_token", "x")],
    )
    .await;
    assert_eq!(app.incidents("csrf_rejected").len(), 4, "another /64");
}

#[actix_web::test]
async fn parallel_failed_sign_ins_count_exactly() {
    let app = spawn_with(&[
        ("REALMGATE_INCIDENTS_PER_IP", "4"),
        ("REALMGATE_LOGIN_MAX_FAILURES", "50"),
    ])
    .await;
    start_of_a_minute(&app.clock);
    let token = app.csrf("/login").await;
    let app = &app;
    let burst = (0..10).map(|n| {
        let email = format!("nobody{n}@example.com");
        let token = token.clone();
        async move {
            app.post(
                "/login",
                &[("email", &email), ("password", "x"), ("csrf_token", &token)],
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(burst).await;
    assert!(answers.iter().all(|r| r.status == 401));
    assert_eq!(app.incidents("login_failed").len(), 4);
    assert!(flood_details(&mut app.db())[0].contains("suppressed=6"));
}

#[actix_web::test]
async fn the_ip_lockout_keys_ipv6_by_64() {
    let app = spawn_with(&[("REALMGATE_IP_MAX_FAILURES", "3")]).await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    for host in 1..=3 {
        app.peer
            .set(format!("[2001:db8:1:2::{host}]:40000").parse().unwrap());
        let res = app
            .sign_in("/login", &format!("x{host}@example.com"), "wrong")
            .await;
        assert!(res.status == 401 || res.status == 429);
    }
    app.peer.set("[2001:db8:1:2::99]:40000".parse().unwrap());
    let res = app.sign_in("/login", "user@example.com", PASSWORD).await;
    assert_eq!(res.status, 429, "the same /64 is locked");
    app.peer.set("[2001:db8:1:3::1]:40000".parse().unwrap());
    let res = app.sign_in("/login", "user@example.com", PASSWORD).await;
    assert_eq!(res.status, 303, "another /64 is not");
}

#[actix_web::test]
async fn every_cookie_has_the_host_prefix_when_secure() {
    let app = spawn_with(&[("REALMGATE_COOKIE_SECURE", "true")]).await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let login = app.get("/login").await;
    let token = login.csrf_token();
    // The session cookie under its secure name, sent by hand: the jar knows the plain one.
    let session = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-realmgate_session="))
        .expect("the session cookie is __Host-");
    let value = session.split(';').next().unwrap().to_owned();
    let res = app
        .send_raw(
            actix_web::test::TestRequest::post()
                .uri("/login")
                .insert_header(("cookie", value))
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .peer_addr("127.0.0.1:40000".parse().unwrap())
                .set_payload(format!(
                    "email=user%40example.com&password={}&remember_me=on&csrf_token={token}",
                    PASSWORD.replace(' ', "+")
                )),
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let cookies = res.set_cookies();
    for name in [
        "realmgate_session",
        "realmgate_remember",
        "realmgate_device",
    ] {
        let cookie = cookies
            .iter()
            .find(|c| c.contains(name))
            .unwrap_or_else(|| panic!("{name} set: {cookies:?}"));
        assert!(cookie.starts_with(&format!("__Host-{name}=")), "{cookie}");
        assert!(
            cookie.contains("Secure") && cookie.contains("Path=/"),
            "{cookie}"
        );
        assert!(!cookie.contains("Domain"), "{cookie}");
    }
    // A plain-named remember cookie (planted by a sibling host) is never read.
    let remember = cookies
        .iter()
        .find(|c| c.starts_with("__Host-realmgate_remember="))
        .unwrap();
    let secret = remember
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    let planted = app
        .send_raw(
            actix_web::test::TestRequest::get()
                .uri("/dashboard")
                .insert_header(("cookie", format!("realmgate_remember={secret}"))),
        )
        .await;
    assert_eq!(planted.status, 303, "not signed in by the plain name");
    let real = app
        .send_raw(
            actix_web::test::TestRequest::get()
                .uri("/dashboard")
                .insert_header(("cookie", format!("__Host-realmgate_remember={secret}")))
                .peer_addr("127.0.0.1:40000".parse().unwrap()),
        )
        .await;
    assert_eq!(real.status, 200);
}

#[actix_web::test]
async fn sign_up_and_reset_limits_key_ipv6_by_64() {
    let app = spawn_with(&[("REALMGATE_SIGNUP_PER_IP", "2")]).await;
    let token = app.csrf("/register").await;
    for host in 1..=3 {
        app.peer
            .set(format!("[2001:db8:7:7::{host}]:40000").parse().unwrap());
        let email = format!("n{host}@example.com");
        let res = app
            .post(
                "/register",
                &[
                    ("email", email.as_str()),
                    ("name", "Nia"),
                    ("password", "violet tractor marmalade"),
                    ("password_confirm", "violet tractor marmalade"),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_eq!(
            res.status,
            if host < 3 { 200 } else { 429 },
            "sign-up {host}"
        );
    }

    // Reset requests are counted per network on the request path, before they are queued:
    // 25 from one /64 record 20, and every answer is the same.
    let token = app.csrf("/password/reset").await;
    for host in 1..=25 {
        app.peer
            .set(format!("[2001:db8:9:9::{host}]:40000").parse().unwrap());
        let res = app
            .post(
                "/password/reset",
                &[("email", "someone@example.com"), ("csrf_token", &token)],
            )
            .await;
        assert_eq!(res.status, 200);
    }
    use realmgate::db::schema::rate_events as re;
    let counted: i64 = re::table
        .filter(re::kind.eq("reset_ip"))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(counted, 20);
}
