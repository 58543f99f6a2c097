use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection as _;

use crate::db;
use crate::startup::AppState;

/// `GET /healthz`: 200 when the database answers, 503 when it does not.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let ok = db::block(&state.pool, |conn| Ok(conn.batch_execute("SELECT 1")?))
        .await
        .is_ok();
    if ok {
        HttpResponse::Ok().json(serde_json::json!({"status": "ok", "db": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "error", "db": "unreachable"}))
    }
}
