//! `/admin/incidents` and `/admin/logouts`: filtered, paginated, newest first, and as CSV with
//! `format=csv`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use actix_web_flash_messages::IncomingFlashMessages;
use serde::Deserialize;

use super::{date, empty_to_none, page_number, Pager};
use crate::app::error::{AppError, AppResult};
use crate::db::reports::{self, Filters, Window};
use crate::db::{self};
use crate::web::realm::{AdminRealm, SignedIn};
use crate::web::routes::csv;
use crate::web::routes::{html, signed_in_chrome};
use crate::web::startup::AppState;
use crate::web::templates::{self, AdminIncidentsPage, AdminLogoutsPage};

const TIME: &str = "%Y-%m-%d %H:%M:%S";

#[derive(Deserialize)]
pub struct AuditQuery {
    kind: Option<String>,
    reason: Option<String>,
    severity: Option<String>,
    realm: Option<String>,
    account: Option<String>,
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

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

async fn filters(state: &AppState, q: &AuditQuery, kind: Option<String>) -> AppResult<Filters> {
    let account_raw = empty_to_none(&q.account).unwrap_or_default();
    let account = db::block(&state.pool, move |conn| {
        Ok(reports::resolve_account(conn, &account_raw)?)
    })
    .await?;
    Ok(Filters {
        kind,
        severity: empty_to_none(&q.severity),
        realm: empty_to_none(&q.realm),
        account,
        from: date(&q.from, "from")?,
        to: date(&q.to, "to")?,
    })
}

pub async fn incidents(
    signed: SignedIn<AdminRealm>,
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let csv_wanted = query.wants_csv()?;
    let page = page_number(query.page)?;
    let f = filters(&state, &query, empty_to_none(&query.kind)).await?;
    let window = if csv_wanted {
        Window::Export
    } else {
        Window::Page(page)
    };
    let found = db::block(&state.pool, move |conn| {
        Ok(reports::incidents(conn, &f, window)?)
    })
    .await?;
    if csv_wanted {
        let rows = found.rows.into_iter().map(|r| {
            vec![
                r.id.to_string(),
                r.created_at.format(TIME).to_string(),
                r.kind.to_string(),
                r.severity.to_string(),
                r.realm.map(|r| r.to_string()).unwrap_or_default(),
                r.account_id.map(|a| a.to_string()).unwrap_or_default(),
                r.email_attempted.unwrap_or_default(),
                r.ip.unwrap_or_default(),
                r.user_agent.unwrap_or_default(),
                r.details.unwrap_or_default(),
            ]
        });
        let header = [
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
        ];
        return Ok(csv::attachment(
            "incidents.csv",
            csv::document(&header, rows),
        ));
    }
    let chrome = signed_in_chrome(&signed, &session, &flashes)?;
    let params = [
        ("kind", opt(&query.kind)),
        ("severity", opt(&query.severity)),
        ("realm", opt(&query.realm)),
        ("account", opt(&query.account)),
        ("from", opt(&query.from)),
        ("to", opt(&query.to)),
    ];
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pager = Pager::new("/admin/incidents", &borrowed, page, found.has_next);
    let csv_href = csv_link("/admin/incidents", &borrowed);
    let page = AdminIncidentsPage {
        chrome,
        kind: &params[0].1,
        severity: &params[1].1,
        realm: &params[2].1,
        account: &params[3].1,
        from: &params[4].1,
        to: &params[5].1,
        rows: found.rows,
        pager,
        csv_href,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}

pub async fn logouts(
    signed: SignedIn<AdminRealm>,
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let csv_wanted = query.wants_csv()?;
    let page = page_number(query.page)?;
    let f = filters(&state, &query, empty_to_none(&query.reason)).await?;
    let window = if csv_wanted {
        Window::Export
    } else {
        Window::Page(page)
    };
    let found = db::block(&state.pool, move |conn| {
        Ok(reports::logouts(conn, &f, window)?)
    })
    .await?;
    if csv_wanted {
        let rows = found.rows.into_iter().map(|r| {
            vec![
                r.id.to_string(),
                r.created_at.format(TIME).to_string(),
                r.reason.to_string(),
                r.realm.to_string(),
                r.account_id.map(|a| a.to_string()).unwrap_or_default(),
                r.session_id.map(|s| s.to_string()).unwrap_or_default(),
                r.ip.unwrap_or_default(),
                r.user_agent.unwrap_or_default(),
            ]
        });
        let header = [
            "id",
            "created_at",
            "reason",
            "realm",
            "account_id",
            "session_id",
            "ip",
            "user_agent",
        ];
        return Ok(csv::attachment("logouts.csv", csv::document(&header, rows)));
    }
    let chrome = signed_in_chrome(&signed, &session, &flashes)?;
    let params = [
        ("reason", opt(&query.reason)),
        ("realm", opt(&query.realm)),
        ("account", opt(&query.account)),
        ("from", opt(&query.from)),
        ("to", opt(&query.to)),
    ];
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pager = Pager::new("/admin/logouts", &borrowed, page, found.has_next);
    let csv_href = csv_link("/admin/logouts", &borrowed);
    let page = AdminLogoutsPage {
        chrome,
        reason: &params[0].1,
        realm: &params[1].1,
        account: &params[2].1,
        from: &params[3].1,
        to: &params[4].1,
        rows: found.rows,
        pager,
        csv_href,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
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
