//! `/admin/sessions`: live sessions in the admin's reach, filtered by realm, account and organisation.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_flash_messages::FlashMessage;
use serde::Deserialize;

use super::{empty_to_none, page_number, FreshAdmin, Pager};
use crate::app::error::{AppError, AppResult};
use crate::db;
use crate::db::reports::{self, Window};
use crate::domain::client::describe_device;
use crate::domain::client::ClientInfo;
use crate::domain::ids::SessionId;
use crate::web::form::CsrfOnly;
use crate::web::realm::{AdminRealm, Realm};
use crate::web::routes::{html, see_other, SignedPage};
use crate::web::startup::AppState;
use crate::web::templates::{self, AdminSessionRow, AdminSessionsPage, When};

const LIST: &str = "/admin/sessions";

#[derive(Deserialize)]
pub struct SessionsQuery {
    realm: Option<String>,
    account: Option<String>,
    organisation: Option<String>,
    page: Option<i64>,
    /// The last session of the page before (the "Next" link's key).
    after: Option<String>,
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
    let window = match empty_to_none(&query.after) {
        Some(raw) => Window::PageAfter {
            page,
            after: super::parse_cursor(&raw, session_id)?,
        },
        None => Window::Page(page),
    };
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
    let scope = super::scope_of(&signed.account);
    let organisation = empty_to_none(&query.organisation);
    let wanted = organisation.clone();
    let found = db::block(&state.pool, move |conn| {
        let reach = match super::reach(conn, scope, wanted.as_deref())? {
            Ok(reach) => reach,
            Err(e) => return Ok(Err(e)),
        };
        let account = reports::resolve_account(conn, scope, &account_filter)?;
        Ok(Ok(reports::live_sessions(
            conn, reach, realm, account, now, window,
        )?))
    })
    .await??;
    let organisation = organisation
        .filter(|_| scope.is_platform())
        .unwrap_or_default();
    let realm_str = realm.map_or("", Realm::as_str);
    let next = found.has_next.then(|| {
        found
            .rows
            .last()
            .and_then(|s| super::cursor((s.last_seen_at, &s.id)))
    });
    let pager = Pager::with_next_after(
        LIST,
        &[
            ("realm", realm_str),
            ("account", &account),
            ("organisation", &organisation),
        ],
        page,
        next,
    );
    let rows = found
        .rows
        .into_iter()
        .map(|s| AdminSessionRow {
            current: s.id == signed.session.id,
            browser: describe_device(s.realm, s.device_name.as_deref(), &s.user_agent),
            created: When(s.created_at).to_string(),
            last_seen: When(s.last_seen_at).to_string(),
            id: s.id,
            realm: s.realm,
            account_id: s.account_id,
            email: s.email,
            organisation: s.organisation,
            ip: s.ip,
            remembered: s.remember,
        })
        .collect();
    let page = AdminSessionsPage {
        chrome,
        realm: realm_str,
        account: &account,
        platform: scope.is_platform(),
        organisation: &organisation,
        rows,
        pager,
        csrf_token: &token,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}

/// A session id as the portal makes them (base64url), in a "Next" link's key.
fn session_id(raw: &str) -> Option<SessionId> {
    let made = (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    made.then(|| SessionId::from(raw.to_owned()))
}

pub async fn revoke(
    req: HttpRequest,
    client: ClientInfo,
    id: web::Path<SessionId>,
    state: web::Data<AppState>,
    FreshAdmin { admin: signed, .. }: FreshAdmin<CsrfOnly>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let now = state.clock.now();
    let route = format!("POST {}", req.path());
    let scope = super::scope_of(&signed.account);
    let (admin_id, floods) = (signed.account.id, state.config.lockout.incidents_per_ip);
    let found = db::block(&state.pool, move |conn| {
        let by = crate::app::admin::Acting {
            admin: admin_id,
            scope,
            client: &client,
            floods,
            route: &route,
        };
        Ok(crate::app::admin::revoke_session(conn, &by, &id, now)?)
    })
    .await?;
    if !found {
        return Err(AppError::NotFound);
    }
    FlashMessage::success("The session has been revoked.").send();
    Ok(see_other(LIST))
}
