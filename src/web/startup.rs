//! The whole application is wired here, once, for both `serve` and the tests.

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{from_fn, ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{web, App, HttpResponse, HttpServer, ResponseError as _};

use crate::app::auth::password::Hasher;
use crate::app::error::AppError;
use crate::app::mail::Transport;
use crate::app::outbox::{Outbox, WorkerContext, Writer};
use crate::app::services::Services;
use crate::db::{self, Pool};
use crate::domain::clock::Clock;
use crate::domain::config::{split_authority, Config, PublicUrl};
use crate::web::routes::errors::error_page;
use crate::web::templates::default_message;

pub const SESSION_COOKIE: &str = "realmgate_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-realmgate_session";

const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; \
                   object-src 'none'; base-uri 'none'; img-src 'self' data:";

/// The web layer's state: the services the flows use, and what only the web needs.
pub struct AppState {
    pub services: Services,
    pub public_url: PublicUrl,
    /// `(host, port)` pairs a request's `Host` may name.
    pub allowed_hosts: Vec<(String, u16)>,
    /// Origins a form may be posted from.
    pub allowed_origins: Vec<String>,
    key: Key,
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl AppState {
    /// `port` is the port actually bound, which differs from the configured one for port 0.
    pub fn new(config: Config, pool: Pool, clock: Clock, port: u16) -> anyhow::Result<Self> {
        let key = Key::try_from(config.cookie.key.as_bytes())
            .map_err(|e| anyhow::anyhow!("REALMGATE_SECRET_KEY: {e}"))?;
        let hasher = Hasher::new(&config.hashing)?;
        let public_url = config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| PublicUrl {
                https: false,
                host: match config.server.bind.ip() {
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                },
                port,
            });
        let mut allowed_hosts = vec![(public_url.host.clone(), public_url.port)];
        let mut allowed_origins = vec![public_url.origin()];
        if config.is_development() {
            // In development the portal is also reached as localhost at the bound port.
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                allowed_hosts.push((host.to_owned(), port));
                allowed_origins.push(format!("http://{host}:{port}"));
            }
        }
        // SPEC §14: a sign-up organisation that does not exist stops the start.
        let slug = config.signup.organisation.clone();
        let signup_organisation = {
            let mut conn = pool.get().map_err(|e| anyhow::anyhow!("database: {e}"))?;
            crate::db::organisations::find_by_slug(&mut conn, &slug)?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "REALMGATE_SIGNUP_ORGANISATION: there is no organisation `{slug}` \
                         (make it with `realmgate orgs create --slug {slug} --name ...`)"
                    )
                })?
                .id
        };
        let mail_from = config
            .mail
            .from
            .clone()
            .unwrap_or_else(|| crate::domain::config::default_mail_from(&public_url.host));
        let writer = Writer::new(config.cookie.key.as_bytes(), &public_url.origin());
        let outbox = Outbox::start(WorkerContext {
            signup_organisation,
            pool: pool.clone(),
            clock: clock.clone(),
            hasher: hasher.clone(),
            transport: Transport::new(&config.mail, &mail_from)?,
            writer: writer.clone(),
            reset_ttl: config.reset.token_ttl,
            incidents_per_ip: config.lockout.incidents_per_ip,
            attempts: config.mail.attempts,
            retry_base: config.mail.retry_base,
        })?;
        let cleanup = crate::app::maintenance::Liveness::for_cleanup(&config, clock.clone());
        Ok(Self {
            services: Services {
                cleanup,
                config: Arc::new(config),
                pool,
                hasher,
                clock,
                writer,
                outbox,
                mail_from,
            },
            public_url,
            allowed_hosts,
            allowed_origins,
            key,
        })
    }

    fn host_allowed(&self, req: &ServiceRequest) -> bool {
        // The raw `Host` (or HTTP/2 authority), never `X-Forwarded-Host`, which anyone can send.
        let raw = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        let default_port = if self.public_url.https { 443 } else { 80 };
        raw.and_then(|h| split_authority(h, default_port))
            .is_some_and(|hp| self.allowed_hosts.contains(&hp))
    }
}

/// The fully wrapped application, for `HttpServer` and `actix_web::test::init_service` alike.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let secure = state.config.cookie.secure;
    let state_metrics = state.config.observability.metrics_bind.is_some();
    let session = SessionMiddleware::builder(CookieSessionStore::default(), state.key.clone())
        .cookie_name(
            if secure {
                SECURE_SESSION_COOKIE
            } else {
                SESSION_COOKIE
            }
            .to_owned(),
        )
        .cookie_secure(secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".to_owned())
        .cookie_domain(None)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(BrowserSession::default())
        .build();

    App::new()
        .app_data(state)
        .app_data(web::QueryConfig::default().error_handler(|_, _| {
            AppError::BadRequest("The address has a query the portal cannot read.".into()).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|_, _| {
            AppError::BadRequest("The address is not one the portal understands.".into()).into()
        }))
        .configure(crate::web::api::configure)
        .configure(crate::web::routes::configure)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(AppError::NotFound)
        }))
        .wrap(crate::web::flash::framework())
        .wrap(session)
        .wrap(ErrorHandlers::new().default_handler(html_error_page))
        .wrap(from_fn(edge))
        .wrap(actix_web::middleware::Condition::new(
            state_metrics,
            crate::web::observe::http_metrics(),
        ))
        .wrap(from_fn(normalise_path))
        .wrap(from_fn(crate::web::observe::request))
}

/// Outermost: the path every later rule reads, the access log's included, is the normalised
/// one (`crate::domain::paths`), and routing matches exactly that string (nothing decoded further).
async fn normalise_path(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let normal = match crate::domain::paths::normalise(req.path()) {
        std::borrow::Cow::Owned(p) => Some(p),
        std::borrow::Cow::Borrowed(_) => None,
    };
    if let Some(path) = normal {
        let uri = req.uri();
        let with_query = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = uri.clone().into_parts();
        let rebuilt = with_query.parse().ok().and_then(|pq| {
            parts.path_and_query = Some(pq);
            actix_web::http::Uri::from_parts(parts).ok()
        });
        // The normalised form only decodes escapes into plain unreserved characters, so it
        // parses whenever the original did; should it not, no rule may see another path.
        let Some(uri) = rebuilt else {
            let page = error_answer(
                req.path(),
                StatusCode::BAD_REQUEST,
                "The address is not one the portal understands.",
            );
            return Ok(req.into_response(page).map_into_right_body());
        };
        ROUTING_QUOTER.with(|q| req.match_info_mut().get_mut().update_with_quoter(&uri, q));
        req.head_mut().uri = uri;
    } else {
        ROUTING_QUOTER.with(|q| {
            let uri = req.uri().clone();
            req.match_info_mut().get_mut().update_with_quoter(&uri, q);
        });
    }
    Ok(next.call(req).await?.map_into_left_body())
}

thread_local! {
    /// Decodes nothing: the router sees the normalised path as it is, so routing and every
    /// rule that reads `req.path()` agree on one string.
    static ROUTING_QUOTER: actix_router::Quoter = actix_router::Quoter::new(b"", &ASCII);
}

const ASCII: [u8; 128] = {
    let mut all = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        all[i] = i as u8;
        i += 1;
    }
    all
};

/// Every response passes here: the `Host` check, `HEAD`, the body deadline, and the headers
/// of SPEC §11.
async fn edge(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(AppError::Internal(anyhow::anyhow!("AppState missing")).into());
    };
    let secure = state.config.cookie.secure;
    // SPEC §6: HEAD is answered as the GET would be. actix's HTTP/1 codec remembered the
    // method when it parsed the request and sends no body for it, with the GET's length.
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    // SPEC §6: the body must arrive within REALMGATE_BODY_TIMEOUT of the end of the headers,
    // which is now. Reading it later fails with a timed-out error that the form reader turns
    // into a 408, so a patient client cannot hold a worker's request open.
    let payload = actix_web::HttpMessage::take_payload(&mut req);
    req.set_payload(actix_web::dev::Payload::Stream {
        payload: Box::pin(Deadline::new(payload, state.config.server.body_timeout)),
    });
    let is_static = req.path().starts_with("/static/");
    let is_api = crate::web::api::is_api_path(req.path());
    // The probes answer whatever name a load balancer or orchestrator uses (SPEC §5, §17).
    let probe = matches!(req.path(), "/healthz" | "/livez" | "/readyz");
    let res = if !probe && !state.host_allowed(&req) {
        let page = error_answer(
            req.path(),
            StatusCode::BAD_REQUEST,
            "This portal does not answer to that host name.",
        );
        req.into_response(page)
    } else {
        // Cloning the request here would break routing (it needs the only reference), so an
        // error raised by a middleware below arrives without its request: it is answered
        // with the portal's page and these headers all the same.
        match next.call(req).await {
            Ok(res) => res.map_into_boxed_body(),
            Err(e) => {
                let status = e.as_response_error().status_code();
                if status.is_server_error() {
                    log::error!("middleware error: {e}");
                }
                let mut page = if is_api {
                    crate::web::api::ApiError::for_status(status).error_response()
                } else {
                    error_page(status, default_message(status), None)
                };
                security_headers(page.headers_mut(), secure, false);
                return Err(actix_web::error::InternalError::from_response(
                    "middleware error",
                    page,
                )
                .into());
            }
        }
    };
    // Only a static file itself may be cached; its 404 page is a page like any other.
    let cacheable = is_static && res.status().is_success();
    let mut res = if is_api { api_answer(res) } else { res };
    security_headers(res.headers_mut(), secure, cacheable);
    Ok(res)
}

/// The portal's error page, or under `/api/` its JSON error (SPEC §13).
fn error_answer(path: &str, status: StatusCode, message: &'static str) -> HttpResponse {
    if crate::web::api::is_api_path(path) {
        let code = crate::web::api::ApiError::for_status(status).code();
        return crate::web::api::ApiError::new(status, code, message).error_response();
    }
    error_page(status, message, None)
}

/// SPEC §13 under `/api/`: never a page and never a cookie. The api's own handlers answer
/// JSON; whatever else answered (an extractor's or actix's error page) is replaced by the JSON
/// error of its status, keeping `Allow` and `Retry-After`. No `/api` handler touches the
/// session, so a `Set-Cookie` here could only come from a bug, and is dropped.
fn api_answer(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let is_page = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let mut res = if is_page {
        let status = res.status();
        let (req, old) = res.into_parts();
        let mut json = crate::web::api::ApiError::for_status(status).error_response();
        for name in [header::ALLOW, header::RETRY_AFTER, header::CONNECTION] {
            if let Some(v) = old.headers().get(&name) {
                json.headers_mut().insert(name, v.clone());
            }
        }
        ServiceResponse::new(req, json)
    } else {
        res
    };
    if res.headers().contains_key(header::SET_COOKIE) {
        log::error!("an /api response tried to set a cookie; it was dropped");
        res.headers_mut().remove(header::SET_COOKIE);
    }
    res
}

/// SPEC §11, on every response.
fn security_headers(h: &mut header::HeaderMap, secure: bool, cacheable: bool) {
    let set = |h: &mut header::HeaderMap, name: &'static str, value: &'static str| {
        h.insert(
            header::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "content-security-policy", CSP);
    if secure {
        set(
            h,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    if !cacheable {
        // Every page may be private, so none is stored: Back after sign-out shows nothing.
        set(h, "cache-control", "no-store");
        set(h, "pragma", "no-cache");
        set(h, "expires", "0");
    }
    h.remove(header::SERVER);
}

/// A request body that must have arrived by a deadline (SPEC §6, `REALMGATE_BODY_TIMEOUT`).
struct Deadline {
    inner: actix_web::dev::Payload,
    timer: std::pin::Pin<Box<actix_web::rt::time::Sleep>>,
}

impl Deadline {
    fn new(inner: actix_web::dev::Payload, limit: std::time::Duration) -> Self {
        Self {
            inner,
            timer: Box::pin(actix_web::rt::time::sleep(limit)),
        }
    }
}

impl futures_util::Stream for Deadline {
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if let Poll::Ready(item) = std::pin::Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match std::future::Future::poll(self.timer.as_mut(), cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                std::io::Error::new(std::io::ErrorKind::TimedOut, "request body timed out"),
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Errors actix raises itself (405, bad extractor input) come without our page; give them one.
fn html_error_page<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let has_page = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(b"text/html") || v.starts_with(b"application/json")
    });
    if has_page {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, old) = res.into_parts();
    let mut page = error_page(status, default_message(status), None);
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = old.headers().get(&name) {
            page.headers_mut().insert(name, v.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, page).map_into_right_body(),
    ))
}

pub struct Application {
    server: Server,
    port: u16,
    /// The metrics listener (`REALMGATE_METRICS_BIND`) and its port, when on.
    metrics: Option<(Server, u16)>,
}

impl Application {
    /// Binds (port 0 allowed), opens and migrates the database, and builds the server.
    pub fn build(config: Config) -> anyhow::Result<(Self, web::Data<AppState>)> {
        let listener = TcpListener::bind(config.server.bind).map_err(|e| {
            anyhow::anyhow!(
                "REALMGATE_BIND: cannot listen on {}: {e}",
                config.server.bind
            )
        })?;
        let port = listener.local_addr()?.port();
        let pool = db::connect_server(&config.server)?;
        let state = web::Data::new(AppState::new(config, pool, Clock::default(), port)?);
        let for_server = state.clone();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let connections = state.config.server.db_pool_size as usize;
        let server = HttpServer::new(move || app(for_server.clone()))
            .listen(listener)?
            .shutdown_timeout(10)
            .workers(workers)
            // Blocking work is mostly database work on `REALMGATE_DB_POOL_SIZE` connections. Each worker
            // has its own blocking pool: on two cores, 4 each (8 in all, one per connection)
            // served a fifth more page views than 8 each, whose extra threads only waited for
            // a connection. At least 4 per worker, so one slow job (an export, a write waiting
            // out the busy timeout) does not hold up every request of its worker.
            .worker_max_blocking_threads(connections.div_ceil(workers).max(4))
            .run();
        let metrics = match state.config.observability.metrics_bind {
            None => None,
            Some(bind) => {
                let listener = TcpListener::bind(bind).map_err(|e| {
                    anyhow::anyhow!("REALMGATE_METRICS_BIND: cannot listen on {bind}: {e}")
                })?;
                let metrics_port = listener.local_addr()?.port();
                let for_metrics = state.clone();
                let server =
                    HttpServer::new(move || crate::web::observe::metrics_app(for_metrics.clone()))
                        .listen(listener)?
                        .workers(1)
                        .shutdown_timeout(5)
                        .run();
                Some((server, metrics_port))
            }
        };
        Ok((
            Self {
                server,
                port,
                metrics,
            },
            state,
        ))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `REALMGATE_METRICS_BIND` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    /// Runs until SIGTERM or Ctrl-C (actix handles both, finishing requests in flight); the
    /// metrics listener stops with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            None => self.server.await,
            Some((metrics, _)) => {
                let handle = metrics.handle();
                let running = actix_web::rt::spawn(metrics);
                let served = self.server.await;
                handle.stop(true).await;
                let _ = running.await;
                served
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::api_answer;
    use actix_web::http::{header, StatusCode};

    #[actix_web::test]
    async fn an_api_answer_is_never_a_page_and_never_sets_a_cookie() {
        let req = actix_web::test::TestRequest::get()
            .uri("/api/v1/me")
            .to_http_request();
        let page = actix_web::HttpResponse::build(StatusCode::METHOD_NOT_ALLOWED)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::ALLOW, "GET"))
            .insert_header((header::SET_COOKIE, "realmgate_session=x; Path=/"))
            .body("<html>405</html>");
        let res = api_answer(actix_web::dev::ServiceResponse::new(req, page).map_into_boxed_body());
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers().get(header::ALLOW).unwrap(), "GET");
        assert!(res.headers().get(header::SET_COOKIE).is_none());
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json; charset=utf-8"
        );
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        assert_eq!(
            &body[..],
            br#"{"error":"method_not_allowed","message":"This address does not answer that method."}"#
        );
    }
}
