//! SPEC I6: bad input gets a clear 4xx page, never a 500, a panic or a changed session.

use actix_web::test::TestRequest;

use crate::helpers::spawn;

const ROUTES: &[&str] = &[
    "/",
    "/login",
    "/sign-in",
    "/logout",
    "/dashboard",
    "/healthz",
    "/admin",
    "/admin/login",
    "/admin/logout",
    "/static/style.css",
];

#[actix_web::test]
async fn a_sweep_of_bad_input_never_gets_a_5xx() {
    let app = spawn().await;
    app.sign_in_user().await;
    app.sign_in_admin().await;
    let user_token = app.get("/dashboard").await.csrf_token();
    let bodies: Vec<Vec<u8>> = vec![
        b"email=%ff%fe&password=x".to_vec(),
        b"email=a&email=b&password=x".to_vec(),
        b"email=%zz".to_vec(),
        b"email=%".to_vec(),
        b"email=' OR 1=1 --&password=\"; DROP TABLE accounts; --".to_vec(),
        b"email=a%00b%0d%0a&password=%07".to_vec(),
        b"\x00\x01\x02\xff".to_vec(),
        format!("csrf_token={user_token}&csrf_token={user_token}").into_bytes(),
        vec![b'a'; 20 * 1024],
        b"".to_vec(),
    ];
    for route in ROUTES {
        for body in &bodies {
            let before = app.cookie.borrow().clone();
            for ct in [
                "application/x-www-form-urlencoded",
                "text/plain",
                "multipart/form-data",
            ] {
                let req = TestRequest::post()
                    .uri(route)
                    .insert_header(("content-type", ct))
                    .set_payload(body.clone());
                let res = app.send(req).await;
                assert!(
                    (400..500).contains(&res.status),
                    "POST {route} {ct}: {}",
                    res.status
                );
                assert!(res.body.contains("<html"), "POST {route}: an HTML page");
            }
            assert_eq!(
                *app.cookie.borrow(),
                before,
                "POST {route} changed the session"
            );
        }
        for method in [
            TestRequest::put(),
            TestRequest::delete(),
            TestRequest::patch(),
        ] {
            let res = app.send(method.uri(route)).await;
            assert_eq!(res.status, 405, "{route}");
        }
    }
    for query in [
        "?next=%ff",
        "?next=a&next=b",
        "?next=%00",
        "?next='%20OR%201=1--",
        "?%zz=1",
    ] {
        for route in ["/login", "/admin/login"] {
            let res = app.get(&format!("{route}{query}")).await;
            assert!(res.status < 500, "{route}{query}: {}", res.status);
        }
    }
    // Both realms are still signed in after all that.
    assert_eq!(app.get("/dashboard").await.status, 200);
    assert_eq!(app.get("/admin").await.status, 200);
}

#[actix_web::test]
async fn oversized_malformed_and_repeated_forms_get_their_status() {
    let app = spawn().await;
    let token = app.csrf("/login").await;
    let post = |body: Vec<u8>| {
        TestRequest::post()
            .uri("/login")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(body)
    };
    let mut big = format!("csrf_token={token}&email=").into_bytes();
    big.extend(std::iter::repeat_n(b'a', 17 * 1024));
    assert_eq!(app.send(post(big)).await.status, 413);
    let repeated = format!("csrf_token={token}&email=a%40b.example&email=c%40d.example&password=x");
    assert_eq!(app.send(post(repeated.into_bytes())).await.status, 400);
    let bad_utf8 = format!("csrf_token={token}&email=%C3%28&password=x");
    assert_eq!(app.send(post(bad_utf8.into_bytes())).await.status, 400);
    let res = app.send(post(b"%%%".to_vec())).await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("<html"));
}

#[actix_web::test]
async fn sql_metacharacters_are_only_text() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let res = app
        .sign_in("/login", "user@example.com' OR '1'='1", "' OR '1'='1")
        .await;
    assert_eq!(res.status, 401);
    let res = app
        .sign_in("/login", "x@y.example\"; DROP TABLE accounts; --", "x")
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(
        app.sign_in("/login", "user@example.com", crate::helpers::PASSWORD)
            .await
            .status,
        303
    );
}

#[actix_web::test]
async fn long_passwords_are_refused_like_wrong_ones() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let long = "x".repeat(10_000);
    let res = app.sign_in("/login", "user@example.com", &long).await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("Invalid email or password."));
}

#[actix_web::test]
async fn a_streamed_body_over_16_kib_without_a_length_is_413() {
    use actix_web::dev::Service as _;
    let app = spawn().await;
    let token = app.csrf("/login").await;
    let mut body = format!("csrf_token={token}&email=").into_bytes();
    body.extend(std::iter::repeat_n(b'a', 17 * 1024));
    let mut req = TestRequest::post()
        .uri("/login")
        .insert_header(("host", crate::helpers::HOST))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body)
        .to_request();
    req.headers_mut().remove("content-length");
    let res = app.svc.call(req).await.unwrap();
    assert_eq!(res.status().as_u16(), 413);
}

#[actix_web::test]
async fn a_non_ascii_next_is_percent_encoded_in_location() {
    let app = spawn().await;
    app.create_account("user@example.com", "Uma User", false)
        .await;
    let token = app.csrf("/login").await;
    let res = app
        .post(
            "/login",
            &[
                ("email", "user@example.com"),
                ("password", crate::helpers::PASSWORD),
                ("next", "/dashboard?q=é"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location(), "/dashboard?q=%C3%A9");
}

#[actix_web::test]
async fn a_password_typed_into_the_email_field_is_not_shown_back() {
    let app = spawn().await;
    let res = app.sign_in("/login", "my-secret-passphrase", "x").await;
    assert_eq!(res.status, 401);
    assert!(!res.body.contains("my-secret-passphrase"));
}
