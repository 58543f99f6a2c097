//! Sign-out (SPEC §7): revoke the row, record it, remove only this realm's keys.

use actix_identity::IdentityExt as _;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_flash_messages::FlashMessage;

use super::{html, see_other, SignedPage};
use crate::app::error::{AppError, AppResult};
use crate::db::{self, sessions};
use crate::domain::client::ClientInfo;
use crate::domain::events::LogoutReason;
use crate::web::cookies;
use crate::web::form::{CsrfForm, CsrfOnly};
use crate::web::realm::{RealmKind, RealmSession, SignedIn};
use crate::web::startup::AppState;
use crate::web::templates::{self, LogoutPage};

pub const LOGGED_OUT: &str = "You have been successfully logged out.";

/// `GET /logout`: a confirmation page. A GET never signs anyone out.
pub async fn confirm<R: RealmKind>(
    SignedPage {
        chrome, csrf_token, ..
    }: SignedPage<R>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;
    let page = LogoutPage {
        chrome,
        realm_title: realm.title(),
        action: realm.logout_path(),
        home: realm.home_path(),
        csrf_token: &csrf_token,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}

pub async fn submit<R: RealmKind>(
    req: HttpRequest,
    client: ClientInfo,
    signed: SignedIn<R>,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(_form, _): CsrfForm<R, CsrfOnly>,
) -> AppResult<HttpResponse> {
    let realm = R::REALM;

    let now = state.clock.now();
    let row = signed.session;
    // SPEC I5: the answer goes out only after the revocation and its activity row commit.
    db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            sessions::revoke(conn, &row, LogoutReason::UserLogout, Some(&client), now)
        })?)
    })
    .await?;

    // Only this realm's keys: the other realm lives in the same cookie.
    if let Ok(identity) = req.get_identity() {
        identity.logout();
    }
    RealmSession::of(&session, realm).sign_out();
    FlashMessage::success(LOGGED_OUT).send();
    let mut res = see_other(realm.login_path());
    if realm.persists() {
        // This device's remembered session is the row just revoked; other devices keep theirs.
        res.add_cookie(&cookies::remember_removal(&state.config.cookie))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cookie: {e}")))?;
    }
    Ok(res)
}
