//! Bad input against every `/api` route (SPEC §13 and I6): each gets the right JSON 4xx, never a
//! 500, a panic or a page. `api_client` checks every answer's shape and the OpenAPI document;
//! a generated pass (proptest) sends random bodies and `Authorization` values.

use actix_web::http::Method;
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

use crate::api_client::Body;
use crate::helpers::{spawn, PASSWORD};

const EMAIL: &str = "user@example.com";

/// Every route with a method it answers, and whether it needs a token.
const ROUTES: &[(&str, &str, bool)] = &[
    ("POST", "/api/v1/tokens", false),
    ("DELETE", "/api/v1/tokens/current", true),
    ("GET", "/api/v1/me", true),
    ("GET", "/api/v1/sessions", true),
    ("DELETE", "/api/v1/sessions/some-id", true),
    ("POST", "/api/v1/logout-everywhere", true),
    ("GET", "/api/v1/openapi.json", false),
];

fn method(m: &str) -> Method {
    m.parse().unwrap()
}

#[actix_web::test]
async fn every_bad_authorization_is_an_invalid_token_on_every_route() {
    let app = spawn().await;
    app.create_account(EMAIL, "Uma User", false).await;
    let token = app.token_for(EMAIL, "phone").await;
    let long = format!("Bearer rgat_{}", "A".repeat(10_000));
    let cases: Vec<Vec<String>> = vec![
        vec![String::new()],
        vec!["Bearer".into()],
        vec!["Bearer ".into()],
        vec![format!("Bearer {token} {token}")],
        vec![format!("Bearer  {token}")],
        vec![format!("Bearer {token} ")],
        vec![format!("Bearer {}", token.replace("rgat_", "rgxt_"))],
        vec![format!("Bearer {}", &token[5..])],
        vec![format!("Basic {token}")],
        vec![format!("Bearer {token}"), format!("Bearer {token}")],
        vec![long],
        vec!["Bearer ' OR 1=1 --".into()],
    ];
    for (m, path, signed) in ROUTES.iter().filter(|r| r.2) {
        for case in &cases {
            let auth: Vec<&str> = case.iter().map(String::as_str).collect();
            let res = app
                .api_call(method(m), path, &auth, Body::None, false)
                .await;
            assert_eq!(res.status, 401, "{m} {path} {case:?}");
            assert_eq!(res.error(), "invalid_token", "{m} {path} {case:?}");
            let _ = signed;
        }
    }
    // None of that ended the real token.
    assert_eq!(
        app.api(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn every_bad_body_gets_its_own_4xx() {
    let app = spawn().await;
    app.create_account(EMAIL, "Uma User", false).await;
    let nested = format!("{{\"email\": {}{}}}", "[".repeat(3000), "]".repeat(3000));
    let json_ct = Some("application/json");
    let cases: Vec<(Option<&str>, Vec<u8>, u16)> = vec![
        (json_ct, b"{".to_vec(), 400),
        (json_ct, b"".to_vec(), 400),
        (json_ct, b"[]".to_vec(), 400),
        (json_ct, b"\"email\"".to_vec(), 400),
        (json_ct, br#"{"email": 1, "password": 2}"#.to_vec(), 400),
        (json_ct, br#"{"email": "a@b.example"}"#.to_vec(), 400),
        (
            json_ct,
            br#"{"email": "a@b.example", "password": "x", "admin": true}"#.to_vec(),
            400,
        ),
        (
            json_ct,
            br#"{"email": "a", "email": "b", "password": "x"}"#.to_vec(),
            400,
        ),
        (
            json_ct,
            b"{\"email\": \"\xff\xfe\", \"password\": \"x\"}".to_vec(),
            400,
        ),
        (json_ct, nested.into_bytes(), 400),
        (
            json_ct,
            format!("{{\"email\": \"{}\"}}", "a".repeat(17 * 1024)).into_bytes(),
            413,
        ),
        (
            json_ct,
            br#"{"email": "a@b.example", "password": "x", "device_name": ""}"#.to_vec(),
            400,
        ),
        (
            json_ct,
            br#"{"email": "a@b.example", "password": "x", "device_name": "a\u0007b"}"#.to_vec(),
            400,
        ),
        (
            json_ct,
            format!(
                r#"{{"email": "a@b.example", "password": "x", "device_name": "{}"}}"#,
                "d".repeat(101)
            )
            .into_bytes(),
            400,
        ),
        (
            None,
            br#"{"email": "a@b.example", "password": "x"}"#.to_vec(),
            415,
        ),
        (
            Some("text/plain"),
            br#"{"email": "a@b.example", "password": "x"}"#.to_vec(),
            415,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            b"email=a&password=x".to_vec(),
            415,
        ),
        (
            Some("application/json; charset=latin1"),
            br#"{"email": "a@b.example", "password": "x"}"#.to_vec(),
            415,
        ),
    ];
    for (ct, bytes, status) in cases {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
        let res = app
            .api_call(
                Method::POST,
                "/api/v1/tokens",
                &[],
                Body::Raw(ct, bytes),
                false,
            )
            .await;
        assert_eq!(res.status, status, "{ct:?} {shown}: {}", res.json);
        assert!(!res.json["message"].as_str().unwrap().contains("hunter"));
    }
    // A well-formed body with `charset=utf-8` is read.
    let res = app
        .api_call(
            Method::POST,
            "/api/v1/tokens",
            &[],
            Body::Raw(
                Some("application/json; charset=utf-8"),
                json!({"email": EMAIL, "password": PASSWORD})
                    .to_string()
                    .into_bytes(),
            ),
            false,
        )
        .await;
    assert_eq!(res.status, 201);
}

#[actix_web::test]
async fn unknown_addresses_wrong_methods_and_foreign_hosts_are_json_too() {
    let app = spawn().await;
    for path in [
        "/api",
        "/api/",
        "/api/v1",
        "/api/v2/me",
        "/api/v1/me/extra",
        "/api/v1/%ff",
    ] {
        let res = app
            .api_call(Method::GET, path, &[], Body::None, false)
            .await;
        assert_eq!((res.status, res.error()), (404, "not_found"), "{path}");
    }
    for (m, path, _) in ROUTES {
        let wrong = if *m == "GET" {
            Method::PUT
        } else {
            Method::GET
        };
        let path = path.replace("some-id", "x");
        let res = app
            .api_call(wrong.clone(), &path, &[], Body::None, false)
            .await;
        assert_eq!(
            (res.status, res.error()),
            (405, "method_not_allowed"),
            "{wrong} {path}"
        );
    }
    let res = app
        .send_raw(
            actix_web::test::TestRequest::get()
                .uri("/api/v1/me")
                .insert_header(("host", "evil.example")),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.header("content-type"),
        "application/json; charset=utf-8"
    );
    let body: Value = serde_json::from_str(&res.body).unwrap();
    assert!(body["error"].is_string() && body["message"].is_string());
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("email".to_owned()),
                    Just("password".to_owned()),
                    Just("device_name".to_owned()),
                    Just("code".to_owned()),
                    "[a-z_]{0,10}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), json_value(), json_value()).prop_map(|(e, p, d)| {
            json!({"email": e, "password": p, "device_name": d})
                .to_string()
                .into_bytes()
        }),
    ]
}

fn authorization() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~\t]{0,120}",
        "Bearer [ -~]{0,80}",
        "Bearer rgat_[A-Za-z0-9_=+/ -]{38,48}",
    ]
}

/// Generated cases (no shrinking: the failing input is printed whole).
#[actix_web::test]
async fn generated_bodies_and_headers_never_get_a_500() {
    let app = spawn().await;
    app.create_account(EMAIL, "Uma User", false).await;
    let mut runner = TestRunner::deterministic();
    let (bodies, headers) = (body(), authorization());
    for n in 0..300u32 {
        // A new client address now and then, so the per-IP lockout does not answer them all.
        app.peer
            .set(format!("203.0.113.{}:4000", n / 20 + 1).parse().unwrap());
        let bytes = bodies.new_tree(&mut runner).unwrap().current();
        let res = app
            .api_call(
                Method::POST,
                "/api/v1/tokens",
                &[],
                Body::Raw(Some("application/json"), bytes.clone()),
                false,
            )
            .await;
        assert!(
            matches!(res.status, 400 | 401 | 413 | 429),
            "{}: {:?}",
            res.status,
            String::from_utf8_lossy(&bytes)
        );
        let header = headers.new_tree(&mut runner).unwrap().current();
        let (m, path, _) = ROUTES[(n as usize) % ROUTES.len()];
        if m == "POST" && path == "/api/v1/tokens" || path.ends_with("openapi.json") {
            continue;
        }
        let res = app
            .api_call(method(m), path, &[header.as_str()], Body::None, false)
            .await;
        assert_eq!(res.status, 401, "{m} {path} {header:?}");
    }
}
