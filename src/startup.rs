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
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, ErrorHandlerResponse, ErrorHandlers, Logger, Next};
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::auth::password::Hasher;
use crate::client::ClientInfo;
use crate::clock::Clock;
use crate::config::{split_authority, Config, PublicUrl};
use crate::db::{self, Pool};
use crate::error::{error_page, AppError};
use crate::jobs::{JobContext, Jobs};
use crate::mail::Mailer;
use crate::templates::default_message;

pub const SESSION_COOKIE: &str = "realmgate_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-realmgate_session";

const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; \
                   object-src 'none'; base-uri 'none'; img-src 'self' data:";

pub struct AppState {
    pub config: Arc<Config>,
    pub pool: Pool,
    pub hasher: Hasher,
    pub clock: Clock,
    pub public_url: PublicUrl,
    /// `(host, port)` pairs a request's `Host` may name.
    pub allowed_hosts: Vec<(String, u16)>,
    /// Origins a form may be posted from.
    pub allowed_origins: Vec<String>,
    pub mailer: Mailer,
    pub jobs: Jobs,
    key: Key,
}

impl AppState {
    /// `port` is the port actually bound, which differs from the configured one for port 0.
    pub fn new(config: Config, pool: Pool, clock: Clock, port: u16) -> anyhow::Result<Self> {
        let key = Key::try_from(config.secret_key.as_slice())
            .map_err(|e| anyhow::anyhow!("REALMGATE_SECRET_KEY: {e}"))?;
        let hasher = Hasher::new(&config.hash_params, config.hash_workers)?;
        let public_url = config.public_url.clone().unwrap_or_else(|| PublicUrl {
            https: false,
            host: match config.bind.ip() {
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
        let mailer = Mailer::start(&config.mail)?;
        let jobs = Jobs::start(JobContext {
            pool: pool.clone(),
            clock: clock.clone(),
            hasher: hasher.clone(),
            mailer: mailer.clone(),
            public_origin: public_url.origin(),
            reset_ttl: config.reset_token_ttl,
        })?;
        Ok(Self {
            config: Arc::new(config),
            pool,
            hasher,
            clock,
            public_url,
            allowed_hosts,
            allowed_origins,
            mailer,
            jobs,
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
    let secure = state.config.cookie_secure;
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
    let trusted = state.config.trusted_proxies.clone();
    let access_log = Logger::new(r#"%{client}xi "%{line}xi" %s %b %Dms"#)
        .custom_request_replace("client", move |req| {
            ClientInfo::from_service_request(req, &trusted)
                .ip
                .to_string()
        })
        .custom_request_replace("line", |req| {
            format!("{} {}", req.method(), redact_path(req.path()))
        });

    App::new()
        .app_data(state)
        .app_data(web::QueryConfig::default().error_handler(|_, _| {
            AppError::BadRequest("The address has a query the portal cannot read.".into()).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|_, _| {
            AppError::BadRequest("The address is not one the portal understands.".into()).into()
        }))
        .configure(crate::routes::configure)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(AppError::NotFound)
        }))
        .wrap(crate::flash::framework())
        .wrap(session)
        .wrap(ErrorHandlers::new().default_handler(html_error_page))
        .wrap(from_fn(edge))
        .wrap(access_log)
}

/// Every response passes here: the `Host` check and the headers of SPEC §11.
async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(AppError::Internal(anyhow::anyhow!("AppState missing")).into());
    };
    let is_static = req.path().starts_with("/static/");
    let mut res = if req.path() != "/healthz" && !state.host_allowed(&req) {
        let page = error_page(
            StatusCode::BAD_REQUEST,
            "This portal does not answer to that host name.",
            None,
        );
        req.into_response(page)
    } else {
        // Cloning the request here would break routing (it needs the only reference), so a
        // middleware error below passes up as it is; handlers' errors arrive as responses.
        next.call(req).await?.map_into_boxed_body()
    };
    let h = res.headers_mut();
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
    if state.config.cookie_secure {
        set(
            h,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    if !is_static {
        // Every page may be private, so none is stored: Back after sign-out shows nothing.
        set(h, "cache-control", "no-store");
        set(h, "pragma", "no-cache");
        set(h, "expires", "0");
    }
    h.remove(header::SERVER);
    Ok(res)
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

/// SECURITY: the access log never shows a token, so the token path segments are masked, and
/// control characters are escaped so a path cannot forge log lines.
fn redact_path(path: &str) -> String {
    let masked = ["/register/confirm/", "/password/reset/"]
        .iter()
        .find_map(|prefix| {
            let rest = path.strip_prefix(prefix)?;
            (rest != "confirm" && !rest.is_empty()).then(|| format!("{prefix}[redacted]"))
        })
        .unwrap_or_else(|| path.to_owned());
    masked.escape_default().to_string()
}

pub struct Application {
    server: Server,
    port: u16,
}

impl Application {
    /// Binds (port 0 allowed), opens and migrates the database, and builds the server.
    pub fn build(config: Config) -> anyhow::Result<(Self, web::Data<AppState>)> {
        let listener = TcpListener::bind(config.bind).map_err(|e| {
            anyhow::anyhow!("REALMGATE_BIND: cannot listen on {}: {e}", config.bind)
        })?;
        let port = listener.local_addr()?.port();
        let pool = db::connect(&config.database_url)?;
        let state = web::Data::new(AppState::new(config, pool, Clock::default(), port)?);
        let for_server = state.clone();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let server = HttpServer::new(move || app(for_server.clone()))
            .listen(listener)?
            .shutdown_timeout(10)
            .workers(workers)
            // Blocking work is mostly database work on `POOL_SIZE` connections. Each worker
            // has its own blocking pool: on two cores, 4 each (8 in all, one per connection)
            // served a fifth more page views than 8 each, whose extra threads only waited for
            // a connection. At least 4 per worker, so one slow job (an export, a write waiting
            // out the busy timeout) does not hold up every request of its worker.
            .worker_max_blocking_threads((crate::db::POOL_SIZE as usize).div_ceil(workers).max(4))
            .run();
        Ok((Self { server, port }, state))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until SIGTERM or Ctrl-C (actix handles both, finishing requests in flight).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

#[cfg(test)]
mod tests {
    use super::redact_path;

    #[test]
    fn access_log_masks_tokens_and_escapes() {
        assert_eq!(
            redact_path("/password/reset/abcDEF"),
            "/password/reset/[redacted]"
        );
        assert_eq!(
            redact_path("/password/reset/confirm"),
            "/password/reset/confirm"
        );
        assert_eq!(
            redact_path("/register/confirm/tok"),
            "/register/confirm/[redacted]"
        );
        assert_eq!(redact_path("/a\nb"), "/a\\nb");
    }
}
