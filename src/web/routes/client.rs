//! Who sent a request, read off the request itself (SPEC §4 step 6): the web layer's half of
//! `crate::domain::client`, which knows nothing of actix.

use actix_web::http::header::USER_AGENT;
use actix_web::{HttpMessage as _, HttpRequest};
use ipnet::IpNet;

use crate::domain::client::ClientInfo;
use crate::domain::ids::RequestId;

/// The client of a request (an `HttpRequest`, or a `ServiceRequest`'s `request()`), with the
/// request's id once `web::observe::request` gave it one.
pub fn client_info(req: &HttpRequest, trusted: &[IpNet]) -> ClientInfo {
    let head = req.head();
    let mut client = ClientInfo::from_parts(
        head.peer_addr.map(|a| a.ip()),
        head.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()),
        head.headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok()),
        trusted,
    );
    // `web::observe::request` gave the request its id; its incidents carry it.
    client.request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.as_str().to_owned());
    client
}

/// A handler takes `client: ClientInfo` for the request's client, through the configured
/// trusted proxies.
impl actix_web::FromRequest for ClientInfo {
    type Error = crate::app::error::AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<actix_web::web::Data<crate::web::startup::AppState>>();
        std::future::ready(match state {
            Some(state) => Ok(client_info(req, &state.config.server.trusted_proxies)),
            None => Err(crate::app::error::AppError::Internal(anyhow::anyhow!(
                "AppState missing"
            ))),
        })
    }
}
