//! `/admin/incidents`, `/admin/logouts` and `/admin/audit` (SPEC §17): filtered, paginated,
//! newest first, and as CSV with `format=csv`. One handler serves all three; `AuditList` says
//! what differs.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{date, empty_to_none, page_number, Pager};
use crate::app::error::{AppError, AppResult};
use crate::db::reports::{
    self, Actor, AdminActionEntry, Filters, IncidentRow, LogoutRow, Paged, Reach, Window,
};
use crate::db::{self, Conn};
use crate::domain::events::AdminActionKind;
use crate::domain::organisation::Scope;
use crate::web::realm::AdminRealm;
use crate::web::routes::csv;
use crate::web::routes::{html, SignedPage};
use crate::web::startup::AppState;
use crate::web::templates::{
    self, AdminAuditPage, AdminIncidentsPage, AdminLogoutsPage, AuditShown, Chrome,
};

const TIME: &str = "%Y-%m-%d %H:%M:%S";

#[derive(Deserialize)]
pub struct AuditQuery {
    kind: Option<String>,
    reason: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    severity: Option<String>,
    realm: Option<String>,
    account: Option<String>,
    organisation: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<i64>,
    /// The last row of the page before (`admin::cursor`): the page read by key.
    after: Option<String>,
    format: Option<String>,
}

impl AuditQuery {
    fn wants_csv(&self) -> AppResult<bool> {
        match self.format.as_deref() {
            None | Some("") | Some("html") => Ok(false),
            Some("csv") => Ok(true),
            Some(_) => Err(AppError::BadRequest("`format` is `csv` or absent.".into())),
        }
    }
}

/// What tells the two audit lists apart.
trait AuditList: Sized + Send + 'static {
    const PATH: &'static str;
    const CSV_FILE: &'static str;
    const CSV_HEADER: &'static [&'static str];
    /// The filters of its form, in the form's order: the first filters by kind (`kind` for
    /// incidents, `reason` for sign-outs, `action` for the admin audit).
    const FILTERS: &'static [&'static str];

    fn kind(query: &AuditQuery) -> &Option<String>;
    fn load(
        conn: &mut Conn,
        reach: Reach,
        f: &Filters,
        window: Window,
    ) -> diesel::QueryResult<Paged<Self>>;
    fn csv_row(self) -> Vec<String>;
    /// The row's place in the newest-first order: where the next export batch starts.
    fn key(&self) -> (chrono::NaiveDateTime, i32);
    fn render(
        chrome: Chrome,
        shown: AuditShown,
        rows: Vec<Self>,
        pager: Pager,
        csv_href: String,
    ) -> Result<String, askama::Error>;
}

impl AuditList for IncidentRow {
    fn key(&self) -> (chrono::NaiveDateTime, i32) {
        (self.created_at, self.id)
    }

    const PATH: &'static str = "/admin/incidents";
    const CSV_FILE: &'static str = "incidents.csv";
    const CSV_HEADER: &'static [&'static str] = &[
        "id",
        "created_at",
        "kind",
        "severity",
        "realm",
        "account_id",
        "email_attempted",
        "ip",
        "user_agent",
        "details",
        "organisation",
    ];
    const FILTERS: &'static [&'static str] = &[
        "kind",
        "severity",
        "realm",
        "account",
        "organisation",
        "from",
        "to",
    ];

    fn kind(query: &AuditQuery) -> &Option<String> {
        &query.kind
    }

    fn load(
        conn: &mut Conn,
        reach: Reach,
        f: &Filters,
        window: Window,
    ) -> diesel::QueryResult<Paged<Self>> {
        reports::incidents(conn, reach, f, window)
    }

    fn csv_row(self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.created_at.format(TIME).to_string(),
            self.kind.to_string(),
            self.severity.to_string(),
            self.realm.map(|r| r.to_string()).unwrap_or_default(),
            self.account_id.map(|a| a.to_string()).unwrap_or_default(),
            self.email_attempted.unwrap_or_default(),
            self.ip.unwrap_or_default(),
            self.user_agent.unwrap_or_default(),
            self.details.unwrap_or_default(),
            self.organisation.unwrap_or_default(),
        ]
    }

    fn render(
        chrome: Chrome,
        shown: AuditShown,
        rows: Vec<Self>,
        pager: Pager,
        csv_href: String,
    ) -> Result<String, askama::Error> {
        templates::render(&AdminIncidentsPage {
            chrome,
            shown,
            kinds: crate::domain::events::IncidentKind::ALL,
            rows,
            pager,
            csv_href,
        })
    }
}

impl AuditList for LogoutRow {
    fn key(&self) -> (chrono::NaiveDateTime, i32) {
        (self.created_at, self.id)
    }

    const PATH: &'static str = "/admin/logouts";
    const CSV_FILE: &'static str = "logouts.csv";
    const CSV_HEADER: &'static [&'static str] = &[
        "id",
        "created_at",
        "reason",
        "realm",
        "account_id",
        "session_id",
        "ip",
        "user_agent",
        "organisation",
    ];
    const FILTERS: &'static [&'static str] =
        &["reason", "realm", "account", "organisation", "from", "to"];

    fn kind(query: &AuditQuery) -> &Option<String> {
        &query.reason
    }

    fn load(
        conn: &mut Conn,
        reach: Reach,
        f: &Filters,
        window: Window,
    ) -> diesel::QueryResult<Paged<Self>> {
        reports::logouts(conn, reach, f, window)
    }

    fn csv_row(self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.created_at.format(TIME).to_string(),
            self.reason.to_string(),
            self.realm.to_string(),
            self.account_id.map(|a| a.to_string()).unwrap_or_default(),
            self.session_id.map(|s| s.to_string()).unwrap_or_default(),
            self.ip.unwrap_or_default(),
            self.user_agent.unwrap_or_default(),
            self.organisation.unwrap_or_default(),
        ]
    }

    fn render(
        chrome: Chrome,
        shown: AuditShown,
        rows: Vec<Self>,
        pager: Pager,
        csv_href: String,
    ) -> Result<String, askama::Error> {
        templates::render(&AdminLogoutsPage {
            chrome,
            shown,
            reasons: crate::domain::events::LogoutReason::ALL,
            rows,
            pager,
            csv_href,
        })
    }
}

impl AuditList for AdminActionEntry {
    fn key(&self) -> (chrono::NaiveDateTime, i32) {
        (self.created_at, self.id)
    }

    const PATH: &'static str = "/admin/audit";
    const CSV_FILE: &'static str = "admin-audit.csv";
    const CSV_HEADER: &'static [&'static str] = &[
        "id",
        "created_at",
        "action",
        "actor_account_id",
        "target_account_id",
        "target_session_id",
        "organisation",
        "ip",
        "user_agent",
        "details",
    ];
    const FILTERS: &'static [&'static str] =
        &["action", "actor", "account", "organisation", "from", "to"];

    fn kind(query: &AuditQuery) -> &Option<String> {
        &query.action
    }

    fn load(
        conn: &mut Conn,
        reach: Reach,
        f: &Filters,
        window: Window,
    ) -> diesel::QueryResult<Paged<Self>> {
        reports::admin_actions(conn, reach, f, window)
    }

    fn csv_row(self) -> Vec<String> {
        let actor = match self.actor() {
            Actor::Admin(id) => id.to_string(),
            Actor::PlatformAdmin => "platform admin".to_owned(),
            Actor::CommandLine => "command line".to_owned(),
        };
        vec![
            self.id.to_string(),
            self.created_at.format(TIME).to_string(),
            self.action.to_string(),
            actor,
            self.target_account_id
                .map(|a| a.to_string())
                .unwrap_or_default(),
            self.target_session_id
                .map(|s| s.to_string())
                .unwrap_or_default(),
            self.organisation.unwrap_or_default(),
            self.ip.unwrap_or_default(),
            self.user_agent.unwrap_or_default(),
            self.details.unwrap_or_default(),
        ]
    }

    fn render(
        chrome: Chrome,
        shown: AuditShown,
        rows: Vec<Self>,
        pager: Pager,
        csv_href: String,
    ) -> Result<String, askama::Error> {
        templates::render(&AdminAuditPage {
            chrome,
            shown,
            rows,
            actions: AdminActionKind::ALL,
            pager,
            csv_href,
        })
    }
}

/// `GET /admin/audit`.
pub async fn admin_actions(
    page: SignedPage<AdminRealm>,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    list::<AdminActionEntry>(page, state, query).await
}

pub async fn incidents(
    page: SignedPage<AdminRealm>,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    list::<IncidentRow>(page, state, query).await
}

pub async fn logouts(
    page: SignedPage<AdminRealm>,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    list::<LogoutRow>(page, state, query).await
}

async fn list<L: AuditList>(
    SignedPage { chrome, signed, .. }: SignedPage<AdminRealm>,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let csv_wanted = query.wants_csv()?;
    let page = page_number(query.page)?;
    let scope = super::scope_of(&signed.account);
    let (reach, f) = filters(&state, scope, &query, empty_to_none(L::kind(&query))).await?;
    if csv_wanted {
        return export::<L>(&state, reach, f, &query).await;
    }
    let window = match empty_to_none(&query.after) {
        Some(raw) => Window::PageAfter {
            page,
            after: super::parse_cursor(&raw, |id| id.parse::<i32>().ok())?,
        },
        None => Window::Page(page),
    };
    let found = db::block(&state.pool, move |conn| {
        Ok(L::load(conn, reach, &f, window)?)
    })
    .await?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let shown = AuditShown {
        kind: opt(L::kind(&query)),
        actor: opt(&query.actor),
        severity: opt(&query.severity),
        realm: opt(&query.realm),
        account: opt(&query.account),
        organisation: if scope.is_platform() {
            opt(&query.organisation)
        } else {
            String::new()
        },
        platform: scope.is_platform(),
        from: opt(&query.from),
        to: opt(&query.to),
        total: found.total.map(|t| t.to_string()).unwrap_or_default(),
    };
    // In the order the form lists them, for the pager's and the CSV link's query strings.
    let params: Vec<(&str, &str)> = L::FILTERS
        .iter()
        .enumerate()
        .map(|(i, &name)| {
            let value = match name {
                _ if i == 0 => &shown.kind,
                "severity" => &shown.severity,
                "realm" => &shown.realm,
                "actor" => &shown.actor,
                "account" => &shown.account,
                "organisation" => &shown.organisation,
                "from" => &shown.from,
                _ => &shown.to,
            };
            (name, value.as_str())
        })
        .collect();
    let next = found
        .has_next
        .then(|| found.rows.last().and_then(|r| super::cursor(r.key())));
    let pager = Pager::with_next_after(L::PATH, &params, page, next);
    let csv_href = csv_link(L::PATH, &params);
    let body = L::render(chrome, shown, found.rows, pager, csv_href)?;
    Ok(html(StatusCode::OK, body))
}

/// Rows an export reads per trip to the database: its memory stays that of one batch however
/// many rows the file holds.
const EXPORT_BATCH: i64 = 1_000;

/// The whole export, never cut, streamed: the first batch (with the exact count, for the
/// file's name), then each next one after the last row sent, by key. A client that goes away
/// stops it at the next batch.
async fn export<L: AuditList>(
    state: &AppState,
    reach: Reach,
    f: Filters,
    query: &AuditQuery,
) -> AppResult<HttpResponse> {
    let batch = |after| Window::Batch {
        after,
        size: EXPORT_BATCH,
    };
    let first_filters = f.clone();
    let first = db::block(&state.pool, move |conn| {
        Ok(L::load(conn, reach, &first_filters, batch(None))?)
    })
    .await?;
    let total = match first.total {
        Some(reports::Total::Exactly(n)) | Some(reports::Total::MoreThan(n)) => n,
        None => 0,
    };
    let name = export_name::<L>(query, total);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, actix_web::Error>>(4);
    let pool = state.pool.clone();
    actix_web::rt::spawn(async move {
        let mut chunk = csv::line(L::CSV_HEADER.iter().map(|h| h.to_string()));
        let mut rows = first.rows;
        loop {
            let full = rows.len() as i64 == EXPORT_BATCH;
            let last = rows.last().map(L::key);
            for row in rows {
                chunk.push_str(&csv::line(L::csv_row(row)));
            }
            if tx
                .send(Ok(web::Bytes::from(std::mem::take(&mut chunk))))
                .await
                .is_err()
            {
                return; // the client went away
            }
            let (true, Some(after)) = (full, last) else {
                return;
            };
            let f = f.clone();
            let next = db::block(&pool, move |conn| {
                Ok(L::load(conn, reach, &f, batch(Some(after)))?)
            })
            .await;
            match next {
                Ok(found) if !found.rows.is_empty() => rows = found.rows,
                Ok(_) => return,
                Err(e) => {
                    // Headers are sent: the file ends short, and the log says why.
                    log::error!("export failed part-way: {e}");
                    let _ = tx
                        .send(Err(actix_web::error::ErrorInternalServerError(
                            "export failed",
                        )))
                        .await;
                    return;
                }
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(csv::streamed(&name, body))
}

/// `incidents-kind-login_failed-from-2026-11-01-1234-rows.csv`: what it holds, by its name.
fn export_name<L: AuditList>(query: &AuditQuery, rows: i64) -> String {
    let stem = L::CSV_FILE.trim_end_matches(".csv");
    let mut name = stem.to_owned();
    for (key, value) in [
        (L::FILTERS[0], L::kind(query)),
        ("severity", &query.severity),
        ("realm", &query.realm),
        ("actor", &query.actor),
        ("account", &query.account),
        ("organisation", &query.organisation),
        ("from", &query.from),
        ("to", &query.to),
    ] {
        let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        if !L::FILTERS.contains(&key) {
            continue;
        }
        // Only what a file name may hold, everywhere: anything else becomes `_`.
        let safe: String = value
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        name.push_str(&format!("-{key}-{safe}"));
    }
    format!("{name}-{rows}-rows.csv")
}

async fn filters(
    state: &AppState,
    scope: Scope,
    q: &AuditQuery,
    kind: Option<String>,
) -> AppResult<(Reach, Filters)> {
    let account_raw = empty_to_none(&q.account).unwrap_or_default();
    let actor_raw = empty_to_none(&q.actor).unwrap_or_default();
    let organisation = empty_to_none(&q.organisation);
    let (reach, account, actor) = db::block(&state.pool, move |conn| {
        let reach = match super::reach(conn, scope, organisation.as_deref())? {
            Ok(reach) => reach,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok((
            reach,
            reports::resolve_account(conn, scope, &account_raw)?,
            reports::resolve_account(conn, scope, &actor_raw)?,
        )))
    })
    .await??;
    Ok((
        reach,
        Filters {
            kind,
            severity: empty_to_none(&q.severity),
            realm: empty_to_none(&q.realm),
            account,
            actor,
            from: date(&q.from, "from")?,
            to: date(&q.to, "to")?,
        },
    ))
}

fn csv_link(path: &str, params: &[(&str, &str)]) -> String {
    let mut query: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", crate::web::routes::encode_query_value(v)))
        .collect();
    query.push("format=csv".into());
    format!("{path}?{}", query.join("&"))
}
