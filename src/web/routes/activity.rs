//! `GET /account/activity` (SPEC §17): the account's own sign-ins, sign-outs and incidents of
//! the last 90 days, newest first. Its own rows only: the query names the signed-in account.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::{html, SignedPage};
use crate::app::error::AppResult;
use crate::db::{self, reports};
use crate::domain::client::{describe_device, describe_user_agent};
use crate::domain::realm::Realm;
use crate::web::realm::UserRealm;
use crate::web::startup::AppState;
use crate::web::templates::{self, ActivityPage, ActivityRow};

const DAYS: i64 = 90;
/// The page shows at most this many lines (said on the page when it is cut).
const LIMIT: i64 = 200;

pub async fn page(
    SignedPage { signed, chrome, .. }: SignedPage<UserRealm>,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let account = signed.account.id;
    let since = state.clock.now() - chrono::Duration::days(DAYS);
    let entries = db::block(&state.pool, move |conn| {
        Ok(reports::account_activity(conn, account, since, LIMIT)?)
    })
    .await?;
    let rows = entries
        .into_iter()
        .map(|e| {
            let (what, severity) = match e.what {
                reports::Activity::SignedIn => ("signed in".to_owned(), ""),
                reports::Activity::SignedOut(reason) => (
                    format!("signed out: {}", reason.as_str().replace('_', " ")),
                    "",
                ),
                reports::Activity::Incident(kind, severity) => {
                    (kind.as_str().replace('_', " "), severity.as_str())
                }
            };
            let browser = match (e.realm, e.user_agent.as_deref()) {
                (Some(realm), Some(ua)) => describe_device(realm, e.device_name.as_deref(), ua),
                (None, Some(ua)) => describe_user_agent(ua),
                (_, None) => String::new(),
            };
            ActivityRow {
                at: crate::web::templates::When(e.at).to_string(),
                what,
                severity,
                realm: e.realm.map_or("", Realm::as_str),
                ip: e.ip.unwrap_or_default(),
                browser,
            }
        })
        .collect();
    let page = ActivityPage {
        chrome,
        rows,
        days: DAYS,
        limit: LIMIT,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}
