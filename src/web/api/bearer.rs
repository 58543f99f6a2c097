//! SPEC §4 for the api realm (steps 1–6 and 8, §13): the bearer token, checked against the
//! registry by the same `app::auth::guard::check` as the browser realms' cookie guard, before
//! any handler runs. Only `Authorization: Bearer <token>` is read; a session cookie, a query
//! string or a form never authenticates an `/api` request, so the api needs no CSRF token.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage as _, HttpRequest, ResponseError as _};

use super::error::ApiError;
use crate::app::auth::access::{AccessPolicy, Claim};
use crate::app::auth::guard::{check, Live, Presented, Verdict, SESSION_EXPIRED};
use crate::db::{self, accounts::Account, organisations::Organisation, sessions::AuthSession};
use crate::domain::ids::SessionSecret;
use crate::domain::realm::Realm;
use crate::web::routes::client::client_info;
use crate::web::startup::AppState;

/// The account and registry row of a request whose token passed.
#[derive(Clone)]
pub struct ApiCaller {
    pub account: Account,
    pub session: AuthSession,
    pub organisation: Organisation,
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Present only when `bearer` let the request through.
        std::future::ready(
            req.extensions()
                .get::<ApiCaller>()
                .cloned()
                .ok_or_else(ApiError::token_required),
        )
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenProblem {
    /// No `Authorization` header: the bare challenge.
    Missing,
    /// Anything else that is not exactly one well-formed bearer token: an empty value, another
    /// scheme, `Bearer` alone, two tokens, whitespace, a wrong prefix, length or alphabet, two
    /// headers. SPEC §13 answers each as an invalid token.
    Malformed,
}

/// The one bearer token of a request, parsed strictly before anything looks it up.
pub fn read_token(headers: &HeaderMap) -> Result<SessionSecret, TokenProblem> {
    let mut values = headers.get_all(AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(TokenProblem::Missing);
    };
    if values.next().is_some() {
        return Err(TokenProblem::Malformed);
    }
    let raw = value.to_str().map_err(|_| TokenProblem::Malformed)?;
    // RFC 6750 §2.1: the scheme (case-insensitive), one space, the token.
    let (scheme, token) = raw.split_once(' ').ok_or(TokenProblem::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenProblem::Malformed);
    }
    SessionSecret::parse_token(token).ok_or(TokenProblem::Malformed)
}

const INVALID: &str = "The token is not valid: it is unknown, signed out or revoked.";
const EXPIRED: &str = "The token has expired. Sign in again.";
const MALFORMED: &str = "The token is malformed. Send `Authorization: Bearer rgat_...`.";

/// The bearer guard, as route middleware: `route.wrap(from_fn(bearer))`.
pub async fn bearer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(refuse(
            req,
            ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR),
        ));
    };
    let token = match read_token(req.headers()) {
        Ok(token) => token,
        Err(TokenProblem::Missing) => return Ok(refuse(req, ApiError::token_required())),
        Err(TokenProblem::Malformed) => return Ok(refuse(req, ApiError::invalid_token(MALFORMED))),
    };
    let presented = Presented {
        realm: Realm::Api,
        secret_hash: token.hash(),
        claim: Claim::Bearer,
        client: client_info(req.request(), &state.config.server.trusted_proxies),
        access: AccessPolicy {
            realm: Realm::Api,
            timeouts: state.config.realms.api.clone(),
            remember_me: state.config.cookie.remember_me,
        },
        floods: state.config.lockout.incidents_per_ip,
        now: state.clock.now(),
    };
    let verdict = db::block(&state.pool, move |conn| Ok(check(conn, &presented)?)).await;
    match verdict {
        Ok(Verdict::Live(found)) => {
            let Live {
                account,
                session,
                organisation,
                ..
            } = *found;
            // SPEC §4 step 8: the password is changed in a browser; a token may still sign out.
            if account.must_change_password && !is_sign_out(&req) {
                return Ok(refuse(
                    req,
                    ApiError::new(
                        StatusCode::FORBIDDEN,
                        "password_change_required",
                        "Change your password in the browser before you continue.",
                    ),
                ));
            }
            req.extensions_mut().insert(ApiCaller {
                account,
                session,
                organisation,
            });
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Ok(Verdict::Ended(message)) => {
            let text = if message == SESSION_EXPIRED {
                EXPIRED
            } else {
                INVALID
            };
            Ok(refuse(req, ApiError::invalid_token(text)))
        }
        // Tokens are never rotated; a rotated secret is a browser's.
        Ok(Verdict::Superseded) => Ok(refuse(req, ApiError::invalid_token(INVALID))),
        Err(e) => Ok(refuse(req, ApiError::from(e))),
    }
}

fn is_sign_out(req: &ServiceRequest) -> bool {
    req.method() == Method::DELETE && req.path() == "/api/v1/tokens/current"
}

fn refuse(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(error.error_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn with(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn reads_exactly_one_bearer_token() {
        let token = SessionSecret::generate_token();
        let t = token.expose();
        assert_eq!(read_token(&HeaderMap::new()), Err(TokenProblem::Missing));
        assert_eq!(
            read_token(&with(&[format!("Bearer {t}").as_bytes()])),
            Ok(token.clone())
        );
        assert_eq!(
            read_token(&with(&[format!("bearer {t}").as_bytes()])),
            Ok(token.clone())
        );
        for bad in [
            String::new(),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
            format!("Bearer  {t}"),
            format!("Bearer {t} "),
            format!("Bearer {t} {t}"),
            format!("Bearer {t},{t}"),
            format!("Basic {t}"),
            format!("Bearer\t{t}"),
            format!("Bearer x{}", &t[1..]),
            format!("Bearer {}", "a".repeat(10_000)),
        ] {
            assert_eq!(
                read_token(&with(&[bad.as_bytes()])),
                Err(TokenProblem::Malformed),
                "{bad:?}"
            );
        }
        let one = format!("Bearer {t}");
        assert_eq!(
            read_token(&with(&[one.as_bytes(), one.as_bytes()])),
            Err(TokenProblem::Malformed),
            "two headers"
        );
        assert_eq!(
            read_token(&with(&[b"Bearer \xff\xfe"])),
            Err(TokenProblem::Malformed),
            "not visible ASCII"
        );
    }
}
