//! `/static/...`: the files of `static/`, compiled into the binary so serving them never
//! touches the disk and a deployment is one file.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::app::error::AppError;

const FILES: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../../static/style.css"),
    ),
    (
        "session.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/session.js"),
    ),
];

pub async fn serve(file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*body))
}
