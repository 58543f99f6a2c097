//! The user realm's pages.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;

use super::{html, see_other, SignedPage};
use crate::app::error::AppResult;
use crate::db::accounts::Account;
use crate::db::sessions::{self, AuthSession};
use crate::db::Conn;
use crate::web::realm::{BrowserRealm, PageData, UserRealm};
use crate::web::templates::{self, DashboardPage};

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M";

/// `GET /`: where to start. Only a hint; the dashboard's guard decides.
pub async fn root(
    req: HttpRequest,
    session: Session,
    state: actix_web::web::Data<crate::web::startup::AppState>,
) -> HttpResponse {
    let signed_in = crate::web::realm::RealmSession::of(&session, BrowserRealm::User)
        .secret()
        .is_some()
        || crate::web::cookies::read_remember(&req, &state.config.cookie).is_some();
    see_other(if signed_in { "/dashboard" } else { "/login" })
}

/// The dashboard's reads, done by the guard on its connection (`guard::PageData`).
#[derive(Clone)]
pub struct DashboardData {
    previous: Option<(NaiveDateTime, String)>,
    live_sessions: i64,
    two_factor: bool,
}

impl PageData for DashboardData {
    fn load(
        conn: &mut Conn,
        account: &Account,
        session: &AuthSession,
        now: NaiveDateTime,
    ) -> diesel::QueryResult<Self> {
        Ok(Self {
            previous: sessions::previous_sign_in(conn, account.id, session)?,
            live_sessions: sessions::count_live(conn, None, Some(account.id), now)?,
            two_factor: crate::db::two_factor::is_enabled(conn, account.id)?,
        })
    }
}

pub async fn dashboard(
    SignedPage { signed, chrome, .. }: SignedPage<UserRealm>,
    data: web::ReqData<DashboardData>,
) -> AppResult<HttpResponse> {
    let data = data.into_inner();
    let page = DashboardPage {
        chrome,
        name: &signed.account.name,
        email: &signed.account.email,
        organisation: &signed.organisation.name,
        previous: data
            .previous
            .map(|(at, ip)| (at.format(TIME_FORMAT).to_string(), ip)),
        current_at: signed.session.created_at.format(TIME_FORMAT).to_string(),
        current_ip: &signed.session.ip,
        live_sessions: data.live_sessions,
        two_factor: data.two_factor,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}
