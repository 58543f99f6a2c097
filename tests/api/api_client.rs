//! The api realm's client for the tests, and the check that keeps the OpenAPI document true:
//! every answer an api test receives goes through `TestApp::api_call`, which validates it
//! against `GET /api/v1/openapi.json`'s schema for that route and status (a status the
//! document does not list for the route fails the test).

use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::helpers::{Response, TestApp, PASSWORD};

/// What a test sends as a body.
pub enum Body<'a> {
    None,
    Json(Value),
    /// Bytes with this `Content-Type` (or none).
    Raw(Option<&'a str>, Vec<u8>),
}

pub struct ApiResponse {
    pub status: u16,
    pub json: Value,
    pub raw: Response,
}

impl ApiResponse {
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.raw.header(name)
    }
}

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        use utoipa::OpenApi as _;
        serde_json::to_value(realmgate::web::api::ApiDoc::openapi()).unwrap()
    })
}

/// The document's path template that `path` matches (`/api/v1/sessions/{id}`).
fn template_of(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let paths = document()["paths"].as_object().unwrap();
    paths
        .keys()
        .find(|t| {
            let (a, b): (Vec<_>, Vec<_>) = (t.split('/').collect(), path.split('/').collect());
            a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
        })
        .cloned()
}

fn validate(schema: &Value, instance: &Value, what: &str) {
    let mut root = schema.clone();
    root.as_object_mut()
        .unwrap()
        .insert("components".into(), document()["components"].clone());
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("{what}: the document's schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the answer does not match the OpenAPI document: {errors:?}\n{instance}"
    );
}

/// Checks one answer against the document: the route and method it names (or, for an
/// address or method the api does not have, the error schema), its status, its body.
pub fn check_against_document(method: &Method, path: &str, res: &ApiResponse) {
    let what = format!("{method} {path} -> {}", res.status);
    let error_schema = json!({"$ref": "#/components/schemas/ErrorBody"});
    let op = template_of(path).and_then(|t| {
        document()["paths"][t][method.as_str().to_lowercase()]
            .as_object()
            .cloned()
    });
    let Some(op) = op else {
        assert!(
            res.status >= 400,
            "{what}: a success on a route the document lacks"
        );
        return validate(&error_schema, &res.json, &what);
    };
    let status = res.status.to_string();
    let Some(response) = op["responses"].get(&status) else {
        panic!("{what}: the document does not list this status for the route");
    };
    match response["content"]["application/json"]["schema"].as_object() {
        Some(schema) => validate(&Value::Object(schema.clone()), &res.json, &what),
        None if res.status == 204 => assert!(res.raw.body.is_empty(), "{what}: 204 with a body"),
        None => assert!(res.json.is_object(), "{what}: not a JSON object"),
    }
}

impl<S, B> TestApp<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// One api request, without the browser's cookies (unless `with_cookies`), checked against
    /// the SPEC's rules for every api answer and against the OpenAPI document.
    pub async fn api_call(
        &self,
        method: Method,
        path: &str,
        authorization: &[&str],
        body: Body<'_>,
        with_cookies: bool,
    ) -> ApiResponse {
        let mut req = TestRequest::default()
            .method(method.clone())
            .uri(path)
            .peer_addr(self.peer.get())
            .insert_header(("user-agent", "RealmgateApp/2.0 (phone)"));
        for value in authorization {
            req = req.append_header(("authorization", *value));
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req
                .insert_header(("content-type", "application/json"))
                .set_payload(v.to_string()),
            Body::Raw(ct, bytes) => {
                let req = match ct {
                    Some(ct) => req.insert_header(("content-type", ct)),
                    None => req,
                };
                req.set_payload(bytes)
            }
        };
        let raw = if with_cookies {
            self.send(req).await
        } else {
            self.send_raw(req).await
        };
        let what = format!("{method} {path} -> {}", raw.status);
        assert!(
            raw.set_cookies().is_empty(),
            "{what}: an /api answer set a cookie"
        );
        assert_eq!(raw.header("cache-control"), "no-store", "{what}");
        assert_eq!(raw.header("x-content-type-options"), "nosniff", "{what}");
        let json = if raw.status == 204 {
            Value::Null
        } else {
            assert_eq!(
                raw.header("content-type"),
                "application/json; charset=utf-8",
                "{what}: {}",
                raw.body
            );
            serde_json::from_str(&raw.body)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", raw.body))
        };
        if raw.status >= 400 {
            assert!(
                json["error"].is_string() && json["message"].is_string(),
                "{what}: every error has `error` and `message`: {json}"
            );
        }
        if raw.status == 401 {
            assert!(
                raw.header("www-authenticate")
                    .starts_with("Bearer realm=\"realmgate\""),
                "{what}"
            );
        }
        let res = ApiResponse {
            status: raw.status,
            json,
            raw,
        };
        check_against_document(&method, path, &res);
        res
    }

    /// `method path` with `token` as the bearer token (or none) and a JSON body.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> ApiResponse {
        let auth = token.map(|t| format!("Bearer {t}"));
        let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
        let body = body.map_or(Body::None, Body::Json);
        self.api_call(method, path, &auth, body, false).await
    }

    /// `POST /api/v1/tokens` for `email` with `password`.
    pub async fn token_request(
        &self,
        email: &str,
        password: &str,
        device: Option<&str>,
    ) -> ApiResponse {
        let mut body = json!({"email": email, "password": password});
        if let Some(d) = device {
            body["device_name"] = json!(d);
        }
        self.api(Method::POST, "/api/v1/tokens", None, Some(body))
            .await
    }

    /// A new token for `email` (signed in with the test password), asserting the 201.
    pub async fn token_for(&self, email: &str, device: &str) -> String {
        let res = self.token_request(email, PASSWORD, Some(device)).await;
        assert_eq!(res.status, 201, "{}", res.raw.body);
        res.json["token"].as_str().unwrap().to_owned()
    }
}
