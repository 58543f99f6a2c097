//! What operators see of each request (SPEC §17): its id, the span every log line of it is
//! written in, and its access log line.

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _};
use tracing::Instrument as _;

use crate::domain::ids::RequestId;
use crate::web::routes::client::client_info;
use crate::web::startup::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Requests by route pattern, method and status, and their latency (SPEC §17), into the one
/// registry. Built once per process (the registry takes each family once), cloned into every
/// worker's app. A path no route matched is `unmatched`: a raw path never becomes a label.
pub fn http_metrics() -> actix_web_prom::PrometheusMetrics {
    static BUILT: std::sync::LazyLock<actix_web_prom::PrometheusMetrics> =
        std::sync::LazyLock::new(|| {
            crate::metrics::register_all();
            actix_web_prom::PrometheusMetricsBuilder::new("realmgate")
                .registry(crate::metrics::REGISTRY.clone())
                .mask_unmatched_patterns("unmatched")
                .build()
                .unwrap_or_else(|e| malformed(&e.to_string()))
        });
    BUILT.clone()
}

/// The request families' names are fixed; a refusal here is a typo, met at the first start
/// (and by every test run), never on a request.
#[allow(clippy::panic)]
fn malformed(why: &str) -> ! {
    panic!("the request metrics could not be registered: {why}")
}

/// The metrics listener's application (`REALMGATE_METRICS_BIND`): `GET /metrics` and nothing
/// else.
pub fn metrics_app(
    state: web::Data<AppState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    crate::metrics::register_all();
    actix_web::App::new()
        .app_data(state)
        .route("/metrics", web::get().to(scrape))
        .default_service(web::to(|| async {
            actix_web::HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body("not found\n")
        }))
}

/// Reads the gauges that live in the database and the pools, then the whole registry.
async fn scrape(state: web::Data<AppState>) -> actix_web::HttpResponse {
    use crate::domain::realm::Realm;
    use crate::metrics::{DB_POOL, HASHING_QUEUE, HASHING_RUNS, LIVE_SESSIONS, OUTBOX};
    let now = state.clock.now();
    let read = crate::db::block(&state.pool, move |conn| {
        let mut live = Vec::new();
        for realm in Realm::ALL {
            live.push((
                realm,
                crate::db::sessions::count_live(conn, Some(realm), None, now)?,
            ));
        }
        Ok((live, crate::db::outbox::counts(conn)?))
    })
    .await;
    match read {
        Ok((live, (pending, failed))) => {
            for (realm, n) in live {
                LIVE_SESSIONS.with_label_values(&[realm.as_str()]).set(n);
            }
            OUTBOX.with_label_values(&["pending"]).set(pending);
            OUTBOX.with_label_values(&["failed"]).set(failed);
        }
        // The database's own figures stay as last read; the pool's below tell why.
        Err(e) => tracing::warn!("metrics: cannot read the database: {e}"),
    }
    let pool = state.pool.state();
    DB_POOL
        .with_label_values(&["open"])
        .set(i64::from(pool.connections));
    DB_POOL
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle_connections));
    DB_POOL
        .with_label_values(&["max"])
        .set(i64::from(state.config.server.db_pool_size));
    HASHING_QUEUE.set(state.hasher.waiting());
    HASHING_RUNS.set(i64::try_from(state.hasher.runs()).unwrap_or(i64::MAX));
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(crate::metrics::encode())
}

/// Outermost: gives the request its id (kept in its extensions for `client_info`, so its
/// incidents carry it), runs everything inside a span that names it, answers with it in
/// `X-Request-Id`, and writes the access log line inside the same span.
pub async fn request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::from_header(req.headers().get(&REQUEST_ID).map(|v| v.as_bytes()));
    // At ERROR level: a span is filtered as events are, and this one must stand around the
    // warnings and errors of a portal run with RUST_LOG=warn too.
    let span = tracing::error_span!("request", request_id = id.as_str());
    // The method as asked: `edge` answers HEAD as GET and rewrites it below.
    let method = req.method().clone();
    let started = std::time::Instant::now();
    req.extensions_mut().insert(id.clone());
    let client = req
        .app_data::<web::Data<AppState>>()
        .map(|state| client_info(req.request(), &state.config.server.trusted_proxies).ip);
    let answered = next.call(req).instrument(span.clone()).await;
    let _inside = span.enter();
    let mut res = match answered {
        Ok(res) => res,
        Err(e) => {
            // Answered by actix from the error; there is no response here to mark.
            tracing::warn!(target: "access", "{method} request failed before an answer: {e}");
            return Err(e);
        }
    };
    let bytes = match res.response().body().size() {
        BodySize::Sized(n) => n.to_string(),
        BodySize::None => "0".to_owned(),
        BodySize::Stream => "-".to_owned(),
    };
    // The normalised path (`startup::normalise_path` rewrote it in place), masked.
    let path = redact_path(res.request().path());
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: "access",
        client = %client.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
        status = res.status().as_u16(),
        bytes = %bytes,
        duration_ms = %format!("{ms:.2}"),
        "{method} {path}"
    );
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}

/// SECURITY: the access log never shows a token, so the token path segments are masked, and
/// so is any segment long enough to be a token or secret wherever it stands (a mistyped
/// `//password/reset/TOKEN` is a 404 but still holds the token); control characters are
/// escaped so a path cannot forge log lines.
pub fn redact_path(path: &str) -> String {
    let masked = ["/register/confirm/", "/password/reset/"]
        .iter()
        .find_map(|prefix| {
            let rest = path.strip_prefix(prefix)?;
            (rest != "confirm" && !rest.is_empty()).then(|| format!("{prefix}[redacted]"))
        })
        .unwrap_or_else(|| {
            path.split('/')
                .map(|segment| {
                    let token_like = segment.len() >= 20
                        && segment
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'%'));
                    if token_like {
                        "[redacted]"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        });
    masked.escape_default().to_string()
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
        let token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
        assert_eq!(
            redact_path(&format!("//password/reset/{token}")),
            "//password/reset/[redacted]"
        );
        assert_eq!(
            redact_path(&format!("/password/reset%2F{token}")),
            "/password/[redacted]"
        );
        assert_eq!(redact_path("/account/sessions"), "/account/sessions");
    }
}
