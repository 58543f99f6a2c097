//! The admin console. For now its dashboard; the full console is the defences issue's.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use actix_web_flash_messages::IncomingFlashMessages;

use super::{html, signed_in_chrome};
use crate::db::{self, accounts, sessions};
use crate::error::AppResult;
use crate::realm::{AdminRealm, Realm, SignedIn};
use crate::startup::AppState;
use crate::templates::{self, AdminDashboardPage};

pub async fn dashboard(
    signed: SignedIn<AdminRealm>,
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let chrome = signed_in_chrome(&signed, &session, &flashes)?;
    let now = state.clock.now();
    let (accounts, user_sessions, admin_sessions) = db::block(&state.pool, move |conn| {
        Ok((
            accounts::count(conn)?,
            sessions::count_live(conn, Some(Realm::User), None, now)?,
            sessions::count_live(conn, Some(Realm::Admin), None, now)?,
        ))
    })
    .await?;
    let page = AdminDashboardPage {
        chrome,
        name: &signed.account.name,
        email: &signed.account.email,
        since: signed
            .session
            .created_at
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        accounts,
        user_sessions,
        admin_sessions,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}
