//! `/admin/sessions`: live sessions of every account, filtered by realm and account.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use actix_web_flash_messages::FlashMessage;
use serde::Deserialize;

use super::{empty_to_none, page_number, FreshAdmin, Pager};
use crate::app::error::{AppError, AppResult};
use crate::db::reports::{self, Window};
use crate::db::{self, sessions};
use crate::domain::client::describe_device;
use crate::domain::client::ClientInfo;
use crate::domain::events::LogoutReason;
use crate::domain::ids::SessionId;
use crate::web::form::CsrfOnly;
use crate::web::realm::{AdminRealm, Realm};
use crate::web::routes::{html, see_other, SignedPage};
use crate::web::startup::AppState;
use crate::web::templates::{self, AdminSessionRow, AdminSessionsPage};

const LIST: &str = "/admin/sessions";
const TIME: &str = "%Y-%m-%d %H:%M";

#[derive(Deserialize)]
pub struct SessionsQuery {
    realm: Option<String>,
    account: Option<String>,
    page: Option<i64>,
}

pub async fn list(
    SignedPage {
        signed,
        chrome,
        csrf_token: token,
    }: SignedPage<AdminRealm>,
    state: web::Data<AppState>,
    query: web::Query<SessionsQuery>,
) -> AppResult<HttpResponse> {
    let page = page_number(query.page)?;
    let realm =
        match empty_to_none(&query.realm) {
            None => None,
            Some(r) => Some(Realm::parse(&r).ok_or_else(|| {
                AppError::BadRequest("`realm` is `user`, `admin` or `api`.".into())
            })?),
        };
    let account = empty_to_none(&query.account).unwrap_or_default();
    let now = state.clock.now();
    let account_filter = account.clone();
    let found = db::block(&state.pool, move |conn| {
        let account = reports::resolve_account(conn, &account_filter)?;
        Ok(reports::live_sessions(
            conn,
            realm,
            account,
            now,
            Window::Page(page),
        )?)
    })
    .await?;
    let realm_str = realm.map_or("", Realm::as_str);
    let pager = Pager::new(
        LIST,
        &[("realm", realm_str), ("account", &account)],
        page,
        found.has_next,
    );
    let rows = found
        .rows
        .into_iter()
        .map(|s| AdminSessionRow {
            current: s.id == signed.session.id,
            browser: describe_device(s.realm, s.device_name.as_deref(), &s.user_agent),
            created: s.created_at.format(TIME).to_string(),
            last_seen: s.last_seen_at.format(TIME).to_string(),
            id: s.id,
            realm: s.realm,
            account_id: s.account_id,
            email: s.email,
            ip: s.ip,
            remembered: s.remember,
        })
        .collect();
    let page = AdminSessionsPage {
        chrome,
        realm: realm_str,
        account: &account,
        rows,
        pager,
        csrf_token: &token,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}

pub async fn revoke(
    client: ClientInfo,
    id: web::Path<SessionId>,
    state: web::Data<AppState>,
    _: FreshAdmin<CsrfOnly>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let now = state.clock.now();
    let found = db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            let Some(row) = sessions::find(conn, &id)? else {
                return Ok::<_, diesel::result::Error>(false);
            };
            sessions::revoke(conn, &row, LogoutReason::RevokedByAdmin, Some(&client), now)?;
            Ok(true)
        })?)
    })
    .await?;
    if !found {
        return Err(AppError::NotFound);
    }
    FlashMessage::success("The session has been revoked.").send();
    Ok(see_other(LIST))
}
