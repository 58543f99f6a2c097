use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection as _;

use crate::db;
use crate::web::startup::AppState;

/// `GET /livez` (SPEC §17): 200 while the process serves. It never touches the database, so a
/// database outage cannot make an orchestrator restart every instance at once.
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// `GET /readyz` (SPEC §17): 200 when the database answers and the outbox worker and the
/// cleanup are alive; otherwise 503, naming which is not.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = db::block(&state.pool, |conn| Ok(conn.batch_execute("SELECT 1")?))
        .await
        .is_ok();
    let outbox = state.outbox.alive();
    let cleanup = state.cleanup.alive();
    let body = serde_json::json!({
        "status": if db && outbox && cleanup { "ok" } else { "unavailable" },
        "db": if db { "ok" } else { "unreachable" },
        "outbox": if outbox { "ok" } else { "stopped" },
        "cleanup": if cleanup { "ok" } else { "stopped" },
    });
    let mut res = if db && outbox && cleanup {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.json(body)
}

/// `GET /healthz`: 200 when the database answers, 503 when it does not.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let ok = db::block(&state.pool, |conn| Ok(conn.batch_execute("SELECT 1")?))
        .await
        .is_ok();
    // Written out so the field order is the documented one.
    let (mut res, body) = if ok {
        (HttpResponse::Ok(), r#"{"status":"ok","db":"ok"}"#)
    } else {
        (
            HttpResponse::ServiceUnavailable(),
            r#"{"status":"error","db":"unreachable"}"#,
        )
    };
    res.content_type("application/json").body(body)
}
