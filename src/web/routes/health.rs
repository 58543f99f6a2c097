use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection as _;

use crate::db;
use crate::web::startup::AppState;

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
