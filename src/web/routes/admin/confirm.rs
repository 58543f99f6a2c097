//! The console's confirmation step and its re-authentication, as pages of the console (issue
//! 17). `GET` on an action's own route: when the admin's sign-in is older than
//! `REALMGATE_ADMIN_REAUTH`, the password confirmation, naming what it is for and coming back
//! here; otherwise what will happen and one button that does it. The `POST` routes keep SPEC
//! §5's answer for a stale sign-in (303 to the sign-in with "Please confirm your password.").

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::users::Target;
use crate::app::admin::Acting;
use crate::app::error::{AppError, AppResult};
use crate::db::{self, accounts, sessions};
use crate::domain::client::{describe_device, ClientInfo};
use crate::domain::ids::SessionId;
use crate::web::realm::{AdminRealm, BrowserRealm, SignedIn};
use crate::web::routes::{html, login, SignedPage};
use crate::web::startup::AppState;
use crate::web::templates::{self, AdminConfirmPage, SignedInAs};

/// Whether the admin's sign-in is recent enough for an action on another account (SPEC §5).
pub fn fresh(signed: &SignedIn<AdminRealm>, state: &AppState) -> bool {
    state.clock.now()
        <= crate::domain::clock::after(signed.session.created_at, state.config.admin.reauth)
}

/// The console's password confirmation for `what`, coming back to `back` once confirmed.
fn reauthenticate(
    state: &AppState,
    page: SignedPage<AdminRealm>,
    what: String,
    back: &str,
) -> AppResult<HttpResponse> {
    let who = SignedInAs::of(
        BrowserRealm::Admin,
        &page.signed.account.name,
        &page.signed.account.email,
    );
    login::page(
        state,
        BrowserRealm::Admin,
        page.chrome,
        StatusCode::OK,
        &page.csrf_token,
        login::Shown {
            next: back,
            who: Some(who),
            heading: Some(format!("Confirm your password to {what}")),
            ..login::Shown::default()
        },
    )
}

/// Who asks, as the unknown-id incident needs it on the blocking thread (SPEC §14: an id out
/// of reach or unknown writes the same incident as the POST route would).
struct Asker {
    admin: crate::domain::ids::AccountId,
    scope: crate::domain::organisation::Scope,
    route: String,
    floods: u32,
}

impl Asker {
    fn new(req: &HttpRequest, page: &SignedPage<AdminRealm>, state: &AppState) -> Self {
        Self {
            admin: page.signed.account.id,
            scope: super::scope_of(&page.signed.account),
            route: format!("GET {}", req.path()),
            floods: state.config.lockout.incidents_per_ip,
        }
    }

    fn out_of_reach(
        &self,
        conn: &mut crate::db::Conn,
        client: &ClientInfo,
        now: chrono::NaiveDateTime,
    ) -> diesel::QueryResult<()> {
        Acting {
            admin: self.admin,
            scope: self.scope,
            client,
            floods: self.floods,
            route: &self.route,
        }
        .out_of_reach(conn, now)
    }
}

/// `GET /admin/users/{id}/{action}`.
pub async fn user_action(
    req: HttpRequest,
    client: ClientInfo,
    target: Target,
    page: SignedPage<AdminRealm>,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let (id, action) = (target.id, target.action);
    let asker = Asker::new(&req, &page, &state);
    let now = state.clock.now();
    // The same read, and the same incident, whether the account is missing or out of reach.
    let found = db::block(&state.pool, move |conn| {
        let found = accounts::find(conn, id)?
            .filter(|a| asker.scope.covers(a.organisation_id, a.is_platform_admin));
        if found.is_none() {
            asker.out_of_reach(conn, &client, now)?;
        }
        Ok(found)
    })
    .await?;
    let Some(account) = found else {
        return Err(AppError::NotFound);
    };
    if !fresh(&page.signed, &state) {
        let what = format!("{} {}", action.verb(), account.email);
        return reauthenticate(&state, page, what, req.path());
    }
    let (heading, button, consequences) = action.confirmation(&account.email);
    let body = templates::render(&AdminConfirmPage {
        chrome: page.chrome,
        heading,
        consequences: consequences.iter().map(|c| (*c).to_owned()).collect(),
        action: format!("/admin/users/{id}/{}", action.as_str()),
        button,
        cancel: "/admin/users",
        csrf_token: page.csrf_token,
    })?;
    Ok(html(StatusCode::OK, body))
}

/// `GET /admin/sessions/{id}/revoke`.
pub async fn session_revoke(
    req: HttpRequest,
    client: ClientInfo,
    id: web::Path<SessionId>,
    page: SignedPage<AdminRealm>,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let asker = Asker::new(&req, &page, &state);
    let now = state.clock.now();
    let found = db::block(&state.pool, move |conn| {
        let found = match sessions::find(conn, &id)? {
            Some(row) => accounts::find(conn, row.account_id)?
                .filter(|a| asker.scope.covers(a.organisation_id, a.is_platform_admin))
                .map(|a| (row, a)),
            None => None,
        };
        if found.is_none() {
            asker.out_of_reach(conn, &client, now)?;
        }
        Ok(found)
    })
    .await?;
    let Some((row, account)) = found else {
        return Err(AppError::NotFound);
    };
    if row.revoked_at.is_some() {
        // In reach and over already (another admin, or the account itself, ended it).
        actix_web_flash_messages::FlashMessage::info("That session has already ended.").send();
        return Ok(crate::web::routes::see_other("/admin/sessions"));
    }
    if !fresh(&page.signed, &state) {
        let what = format!("sign out a session of {}", account.email);
        return reauthenticate(&state, page, what, req.path());
    }
    let device = describe_device(row.realm, row.device_name.as_deref(), &row.user_agent);
    let body = templates::render(&AdminConfirmPage {
        chrome: page.chrome,
        heading: format!("Sign out this session of {}?", account.email),
        consequences: vec![
            format!(
                "The {} realm session on {device}, from {}, signed in {} UTC, ends on its next request.",
                row.realm,
                row.ip,
                row.created_at.format("%Y-%m-%d %H:%M")
            ),
            "The account's other sessions are not touched.".to_owned(),
        ],
        action: format!("/admin/sessions/{}/revoke", row.id),
        button: "Sign out this session",
        cancel: "/admin/sessions",
        csrf_token: page.csrf_token,
    })?;
    Ok(html(StatusCode::OK, body))
}
