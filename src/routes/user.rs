//! The user realm's pages.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_flash_messages::IncomingFlashMessages;

use super::{html, see_other, signed_in_chrome};
use crate::db::{self, sessions};
use crate::error::AppResult;
use crate::realm::{Realm, SignedIn, UserRealm};
use crate::startup::AppState;
use crate::templates::{self, DashboardPage};

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M";

/// `GET /`: where to start. Only a hint; the dashboard's guard decides.
pub async fn root(req: HttpRequest, session: Session) -> HttpResponse {
    let signed_in = session.entries().contains_key(Realm::User.session_key())
        || crate::cookies::read_remember(&req).is_some();
    see_other(if signed_in { "/dashboard" } else { "/login" })
}

pub async fn dashboard(
    signed: SignedIn<UserRealm>,
    session: Session,
    flashes: IncomingFlashMessages,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let chrome = signed_in_chrome(&signed, &session, &flashes)?;
    let now = state.clock.now();
    let account_id = signed.account.id;
    let current = signed.session.clone();
    let (previous, live_sessions) = db::block(&state.pool, move |conn| {
        Ok((
            sessions::previous_sign_in(conn, account_id, &current)?,
            sessions::count_live(conn, None, Some(account_id), now)?,
        ))
    })
    .await?;
    let page = DashboardPage {
        chrome,
        name: &signed.account.name,
        email: &signed.account.email,
        previous: previous.map(|(at, ip)| (at.format(TIME_FORMAT).to_string(), ip)),
        current_at: signed.session.created_at.format(TIME_FORMAT).to_string(),
        current_ip: &signed.session.ip,
        live_sessions,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}
