//! Who sent a request, read off the request itself (SPEC §4 step 6): the web layer's half of
//! `crate::domain::client`, which knows nothing of actix.

use actix_web::dev::RequestHead;
use actix_web::http::header::USER_AGENT;
use ipnet::IpNet;

use crate::domain::client::ClientInfo;

/// The client of a request (`req.head()` of an `HttpRequest` or a `ServiceRequest`).
pub fn client_info(head: &RequestHead, trusted: &[IpNet]) -> ClientInfo {
    ClientInfo::from_parts(
        head.peer_addr.map(|a| a.ip()),
        head.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()),
        head.headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok()),
        trusted,
    )
}

/// A handler takes `client: ClientInfo` for the request's client, through the configured
/// trusted proxies.
impl actix_web::FromRequest for ClientInfo {
    type Error = crate::app::error::AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<actix_web::web::Data<crate::web::startup::AppState>>();
        std::future::ready(match state {
            Some(state) => Ok(client_info(
                req.head(),
                &state.config.server.trusted_proxies,
            )),
            None => Err(crate::app::error::AppError::Internal(anyhow::anyhow!(
                "AppState missing"
            ))),
        })
    }
}
