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
    fn render(
        chrome: Chrome,
        shown: AuditShown,
        rows: Vec<Self>,
        pager: Pager,
        csv_href: String,
    ) -> Result<String, askama::Error>;
}

impl AuditList for IncidentRow {
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
    let window = if csv_wanted {
        Window::Export
    } else {
        Window::Page(page)
    };
    let found = db::block(&state.pool, move |conn| {
        Ok(L::load(conn, reach, &f, window)?)
    })
    .await?;
    if csv_wanted {
        let rows = found.rows.into_iter().map(L::csv_row);
        return Ok(csv::attachment(
            L::CSV_FILE,
            csv::document(L::CSV_HEADER, rows),
        ));
    }
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
    let pager = Pager::new(L::PATH, &params, page, found.has_next);
    let csv_href = csv_link(L::PATH, &params);
    let body = L::render(chrome, shown, found.rows, pager, csv_href)?;
    Ok(html(StatusCode::OK, body))
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
