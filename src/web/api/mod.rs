//! The api realm's routes (SPEC §13): JSON under `/api/v1`, bearer tokens, no cookie. Every
//! route but the OpenAPI document passes the bearer guard first.

mod bearer;
pub mod error;
mod handlers;
pub mod json;

use std::sync::OnceLock;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::OpenApi;

pub use bearer::read_token;
pub use error::{ApiError, ErrorBody};

/// Whether `path` (normalised) is the api's: every answer there is JSON.
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    fn signed(route: actix_web::Route) -> actix_web::Route {
        route.wrap(from_fn(bearer::bearer))
    }
    cfg.service(
        web::scope("/api")
            .service(web::resource("/v1/tokens").route(web::post().to(handlers::create_token)))
            .service(
                web::resource("/v1/tokens/current")
                    .route(signed(web::delete().to(handlers::sign_out))),
            )
            .service(web::resource("/v1/me").route(signed(web::get().to(handlers::me))))
            .service(
                web::resource("/v1/sessions").route(signed(web::get().to(handlers::list_sessions))),
            )
            .service(
                web::resource("/v1/sessions/{id}")
                    .route(signed(web::delete().to(handlers::revoke_session))),
            )
            .service(
                web::resource("/v1/logout-everywhere")
                    .route(signed(web::post().to(handlers::logout_everywhere))),
            )
            .service(web::resource("/v1/openapi.json").route(web::get().to(openapi_json)))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::not_found())
            })),
    );
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Realmgate api realm",
        description = "Bearer tokens for mobile and native clients. Every error is \
                       `{\"error\": \"<code>\", \"message\": \"<text>\"}`."
    ),
    paths(
        handlers::create_token,
        handlers::sign_out,
        handlers::me,
        handlers::list_sessions,
        handlers::revoke_session,
        handlers::logout_everywhere,
        openapi_json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Everywhere),
    tags(
        (name = "tokens", description = "Signing in and out"),
        (name = "account", description = "Who the token is"),
        (name = "sessions", description = "The account's sessions in every realm"),
    )
)]
pub struct ApiDoc;

/// What holds for every route, written once: the bearer scheme, and the answers any route can
/// give (a wrong method, an overloaded or failing server).
struct Everywhere;

impl utoipa::Modify for Everywhere {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("rgat_ and 43 base64url characters")
                    .build(),
            ),
        );
        let error = |description: &str| -> RefOr<Response> {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::content::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        };
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut op.responses.responses;
                for (status, text) in [
                    ("405", "`method_not_allowed`"),
                    ("408", "`request_timeout`: the body did not arrive in time"),
                    ("500", "`internal_error`"),
                    (
                        "503",
                        "`unavailable`: hashing or the database is saturated; `Retry-After`",
                    ),
                ] {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(text));
                }
            }
        }
    }
}

/// `GET /api/v1/openapi.json`: the document, made once.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "account",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json"))
)]
pub async fn openapi_json() -> HttpResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default());
    HttpResponse::Ok()
        .content_type(error::JSON)
        .body(body.clone())
}
