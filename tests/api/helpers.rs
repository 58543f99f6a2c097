#![allow(dead_code)]
use std::collections::HashMap;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use actix_web::web;
use realmgate::clock::Clock;
use realmgate::config::{Config, HashParams};
use realmgate::startup::{app, AppState};

pub struct Response {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: String,
}

pub struct TestApp<S> {
    pub svc: S,
    pub state: web::Data<AppState>,
    _dir: tempfile::TempDir,
}

pub async fn spawn() -> TestApp<impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("test.db");
    let db = db.to_str().unwrap().to_owned();
    let map = HashMap::from([("REALMGATE_DATABASE_URL", db.as_str())]);
    let mut config = Config::from_map(&map).unwrap();
    config.hash_params = HashParams::danger_insecure_test_params();
    config.hash_workers = 1;
    let pool = realmgate::db::connect(&config.database_url).unwrap();
    let state = web::Data::new(AppState::new(config, pool, Clock::default(), 8080).unwrap());
    let svc = test::init_service(app(state.clone())).await;
    TestApp { svc, state, _dir: dir }
}

impl TestApp<()> {
    pub async fn spawn() -> TestApp<impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>> {
        spawn().await
    }
}

impl<S, B> TestApp<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    pub async fn get(&self, path: &str) -> Response {
        let req = test::TestRequest::get().uri(path).insert_header(("host", "127.0.0.1:8080")).to_request();
        let res = test::call_service(&self.svc, req).await;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
        Response { status, headers, body }
    }
}
