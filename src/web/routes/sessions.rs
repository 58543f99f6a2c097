//! `/account/sessions`: the account's live sessions in every realm, and revoking them.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_flash_messages::FlashMessage;

use super::held::{self, Held};
use super::{html, see_other, SignedPage};
use crate::app::account::{self, Revoked};
use crate::app::error::{AppError, AppResult};
use crate::db::{self, sessions};
use crate::domain::client::describe_device;
use crate::domain::client::ClientInfo;

use crate::domain::ids::SessionId;
use crate::web::cookies;
use crate::web::form::{CsrfForm, CsrfOnly};
use crate::web::realm::{BrowserRealm, RealmSession, SignedIn, UserRealm};
use crate::web::startup::AppState;
use crate::web::templates::{self, SessionRow, SessionsPage, When};

pub async fn list(
    req: HttpRequest,
    SignedPage {
        signed,
        chrome,
        csrf_token: token,
    }: SignedPage<UserRealm>,
    session: Session,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let held = Held::read(&req, &session, &state.config.cookie).hashes();
    let now = state.clock.now();
    let account_id = signed.account.id;
    let (live, two_factor) = db::block(&state.pool, move |conn| {
        Ok((
            sessions::live_for_account(conn, account_id, now)?,
            crate::db::two_factor::is_enabled(conn, account_id)?,
        ))
    })
    .await?;
    let rows = live
        .into_iter()
        .map(|s| SessionRow {
            current: s.id == signed.session.id,
            this_browser: held.contains(&s.secret_hash),
            browser: describe_device(s.realm, s.device_name.as_deref(), &s.user_agent),
            created: When(s.created_at).to_string(),
            last_seen: When(s.last_seen_at).to_string(),
            remembered: s.remember,
            id: s.id,
            realm: s.realm,
            ip: s.ip,
        })
        .collect();
    let page = SessionsPage {
        chrome,
        rows,
        csrf_token: &token,
        two_factor,
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}

/// `POST /account/sessions/{id}/revoke`. The current session is a sign-out; another account's
/// id is a 404, recorded as `unauthorized_access`.
pub async fn revoke(
    client: ClientInfo,
    id: web::Path<SessionId>,
    signed: SignedIn<UserRealm>,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(_form, _): CsrfForm<UserRealm, CsrfOnly>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let now = state.clock.now();
    let floods = state.config.lockout.incidents_per_ip;
    let current = id == signed.session.id;
    let outcome = db::block(&state.pool, move |conn| {
        Ok(account::revoke_own_session(
            conn,
            &signed.session,
            &id,
            &client,
            floods,
            now,
        )?)
    })
    .await?;
    if outcome != Revoked::Revoked {
        return Err(AppError::NotFound);
    }
    if current {
        RealmSession::of(&session, BrowserRealm::User).sign_out();
        FlashMessage::success(super::logout::LOGGED_OUT).send();
        let mut res = see_other(BrowserRealm::User.login_path());
        res.add_cookie(&cookies::remember_removal(&state.config.cookie))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cookie: {e}")))?;
        return Ok(res);
    }
    FlashMessage::success("That session has been signed out.").send();
    Ok(see_other("/account/sessions"))
}

/// `POST /account/sessions/revoke-others`: all but the sessions this browser holds, which get
/// new secrets in this response (SPEC §8), and every pending reset link of the account.
pub async fn revoke_others(
    req: HttpRequest,
    client: ClientInfo,
    signed: SignedIn<UserRealm>,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(_form, _): CsrfForm<UserRealm, CsrfOnly>,
) -> AppResult<HttpResponse> {
    let held = Held::read(&req, &session, &state.config.cookie);
    let now = state.clock.now();
    let account_id = signed.account.id;
    let (ended, rotation) = db::block(&state.pool, move |conn| {
        Ok(account::sign_out_others(
            conn,
            account_id,
            held.secrets(),
            &client,
            now,
        )?)
    })
    .await?;
    FlashMessage::success(match ended {
        0 => "There were no other sessions to sign out.".to_owned(),
        1 => "1 other session has been signed out.".to_owned(),
        n => format!("{n} other sessions have been signed out."),
    })
    .send();
    let mut res = see_other("/account/sessions");
    held::apply(&rotation, &req, &session, &mut res, &state.config.cookie)?;
    Ok(res)
}
