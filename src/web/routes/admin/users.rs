//! `/admin/users`: search, create, and the actions on an account.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use actix_web_flash_messages::FlashMessage;
use serde::Deserialize;

use super::{page_number, FreshAdmin, Pager};
use crate::app::admin::{self, ActionOutcome, AdminAction};
use crate::app::error::{AppError, AppResult};
use crate::db::reports::{self, Window};
use crate::db::{self, accounts, lockout, organisations, sessions};
use crate::domain::client::{describe_device, ClientInfo};
use crate::domain::ids::AccountId;
use crate::domain::realm::Realm;
use crate::domain::{Email, Name};
use crate::web::form::{CsrfField, CsrfOnly};
use crate::web::realm::{AdminRealm, SignedIn};
use crate::web::routes::register::checked_password;
use crate::web::routes::{html, see_other, SignedPage};
use crate::web::startup::AppState;
use crate::web::templates::{self, AdminUsersPage, UserListRow, When};

const LIST: &str = "/admin/users";

#[derive(Deserialize)]
pub struct UsersQuery {
    q: Option<String>,
    organisation: Option<String>,
    page: Option<i64>,
    /// The last account of the page before (the "Next" link's key).
    after: Option<String>,
}

pub async fn list(
    page: SignedPage<AdminRealm>,
    state: web::Data<AppState>,
    query: web::Query<UsersQuery>,
) -> AppResult<HttpResponse> {
    let number = page_number(query.page)?;
    let window = match super::empty_to_none(&query.after) {
        Some(raw) => Window::PageAfter {
            page: number,
            after: raw.parse::<i32>().map(AccountId).map_err(|_| {
                AppError::BadRequest("The page link is not one the portal made.".into())
            })?,
        },
        None => Window::Page(number),
    };
    let q = query.q.clone().unwrap_or_default();
    let organisation = super::empty_to_none(&query.organisation);
    render(
        page,
        &state,
        (q, organisation, window),
        StatusCode::OK,
        None,
    )
    .await
}

/// The account list (search, organisation, page), with the create form's refusal if any.
async fn render(
    SignedPage {
        signed,
        chrome,
        csrf_token: token,
    }: SignedPage<AdminRealm>,
    state: &AppState,
    (q, organisation, window): (String, Option<String>, Window<AccountId>),
    status: StatusCode,
    error: Option<&str>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let search = q.clone();
    let scope = super::scope_of(&signed.account);
    let wanted = organisation.clone();
    let listed = db::block(&state.pool, move |conn| {
        let reach = match super::reach(conn, scope, wanted.as_deref())? {
            Ok(reach) => reach,
            Err(e) => return Ok(Err(e)),
        };
        let found = reports::accounts(conn, reach, &search, window)?;
        let locked = found
            .rows
            .iter()
            .map(|a| lockout::email_locked(conn, &a.email, now))
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<AccountId> = found.rows.iter().map(|a| a.id).collect();
        let devices = sessions::live_api_devices(conn, &ids, now)?;
        let factors = crate::db::two_factor::enabled_among(conn, &ids)?;
        Ok(Ok((found, locked, devices, factors)))
    })
    .await?;
    let (found, locked, mut devices, factors) = listed?;
    let organisation = organisation
        .filter(|_| scope.is_platform())
        .unwrap_or_default();
    let page = match window {
        Window::Page(p) | Window::PageAfter { page: p, .. } => p,
        Window::Batch { .. } => 1,
    };
    let next = found
        .has_next
        .then(|| found.rows.last().map(|a| a.id.to_string()));
    let pager = Pager::with_next_after(
        LIST,
        &[("q", &q), ("organisation", &organisation)],
        page,
        next,
    );
    let rows = found
        .rows
        .into_iter()
        .zip(locked)
        .map(|(a, locked)| UserListRow {
            two_factor: factors.contains(&a.id),
            api_devices: {
                let (mine, rest) = std::mem::take(&mut devices)
                    .into_iter()
                    .partition(|(owner, _, _)| *owner == a.id);
                devices = rest;
                mine.into_iter()
                    .map(|(_, id, name)| (id, describe_device(Realm::Api, name.as_deref(), "")))
                    .collect()
            },
            is_self: a.id == signed.account.id,
            id: a.id,
            email: a.email,
            name: a.name,
            is_admin: a.is_admin,
            is_platform_admin: a.is_platform_admin,
            organisation: a.organisation,
            is_active: a.is_active,
            confirmed: a.confirmed.is_some(),
            locked,
            created: a.created_at.format("%Y-%m-%d").to_string(),
            last_login: a
                .last_login_at
                .map_or_else(|| "never".to_owned(), |t| When(t).to_string()),
        })
        .collect();
    let fresh = super::confirm::fresh(&signed, state);
    let page = AdminUsersPage {
        fresh,
        chrome,
        q: &q,
        platform: scope.is_platform(),
        organisation: &organisation,
        rows,
        pager,
        csrf_token: &token,
        error,
    };
    Ok(html(status, templates::render(&page)?))
}

/// A create refused by SPEC §14's rules: the list and the form again, with why, and `status`.
async fn refused(
    req: &HttpRequest,
    state: &AppState,
    admin: SignedIn<AdminRealm>,
    status: StatusCode,
    message: &str,
) -> AppResult<HttpResponse> {
    use actix_session::SessionExt as _;
    let flashes = actix_web_flash_messages::IncomingFlashMessages::extract(req)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("flash: {e}")))?;
    let page = SignedPage::build(admin, &req.get_session(), &flashes)?;
    render(
        page,
        state,
        (String::new(), None, Window::Page(1)),
        status,
        Some(message),
    )
    .await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    is_admin: String,
    #[serde(default)]
    password: String,
    /// The organisation's slug (platform admins; empty: `default`).
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    is_platform_admin: String,
    #[serde(default)]
    csrf_token: String,
}

impl CsrfField for CreateForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /admin/users`: with a password, the account must change it at first sign-in;
/// without one, it gets a reset link by mail. Either way it is confirmed.
pub async fn create(
    req: HttpRequest,
    client: ClientInfo,
    state: web::Data<AppState>,
    FreshAdmin { form, admin }: FreshAdmin<CreateForm>,
) -> AppResult<HttpResponse> {
    let refuse = |message: &str| {
        FlashMessage::error(message).send();
        Ok(see_other(LIST))
    };
    // SPEC §14: an organisation admin makes accounts of their own organisation only, and never
    // a platform admin; a field that asks for more is refused, not obeyed.
    let scope = super::scope_of(&admin.account);
    let platform_admin = form.is_platform_admin == "on";
    let slug = form.organisation.trim().to_owned();
    if !scope.is_platform() {
        if platform_admin {
            let m = "Only a platform admin can make a platform admin.";
            return refused(&req, &state, admin, StatusCode::FORBIDDEN, m).await;
        }
        if !slug.is_empty() && slug != admin.organisation.slug {
            let m = "You can create accounts in your own organisation only.";
            return refused(&req, &state, admin, StatusCode::BAD_REQUEST, m).await;
        }
    }
    let organisation = if scope.is_platform() {
        let wanted = if slug.is_empty() {
            "default".to_owned()
        } else {
            slug
        };
        let found = db::block(&state.pool, move |conn| {
            Ok(organisations::find_by_slug(conn, &wanted)?)
        })
        .await?;
        match found {
            // A platform admin where nobody can sign in could never be undone from the console.
            Some(o) if platform_admin && !o.is_active => {
                let m = "A platform admin cannot be made in a deactivated organisation.";
                return refused(&req, &state, admin, StatusCode::BAD_REQUEST, m).await;
            }
            Some(o) => o.id,
            None => {
                let m = super::UNKNOWN_ORGANISATION;
                return refused(&req, &state, admin, StatusCode::BAD_REQUEST, m).await;
            }
        }
    } else {
        admin.organisation.id
    };
    let Ok(email) = Email::parse(&form.email) else {
        return refuse("Enter a valid email address.");
    };
    let name = match Name::parse(&form.name) {
        Ok(n) => n,
        Err(m) => return refuse(m),
    };
    let with_password = !form.password.is_empty();
    let hash = if with_password {
        match checked_password(&form.password, email.as_str(), name.as_str()).await? {
            Ok(p) => state.hasher.hash(p.expose().to_owned()).await?,
            Err(message) => return refuse(&message),
        }
    } else {
        // Nobody knows this password; the account sets its own through the mailed link.
        state
            .hasher
            .hash(crate::domain::crypto::random_token::<32>())
            .await?
    };
    let now = state.clock.now();
    let ttl = state.config.reset.invite_ttl;
    let is_admin = form.is_admin == "on";
    let new_email = email.clone();
    let writer = state.writer.clone();
    let route = format!("POST {}", req.path());
    let (admin_id, floods) = (admin.account.id, state.config.lockout.incidents_per_ip);
    let created = db::block(&state.pool, move |conn| {
        let by = admin::Acting {
            admin: admin_id,
            scope,
            client: &client,
            floods,
            route: &route,
        };
        let new = accounts::NewAccount::new(new_email.as_str(), name.as_str(), &hash, now)
            .admin(is_admin)
            .platform_admin(platform_admin)
            .organisation(organisation)
            .confirmed(now)
            .must_change_password(with_password);
        let invite = (!with_password).then_some((&writer, ttl));
        Ok(admin::create_account(
            conn,
            Some(&by),
            (&new_email, &new),
            invite,
            now,
        )?)
    })
    .await?;
    if created.is_none() {
        return refuse("An account with that email already exists.");
    }
    state.outbox.wake();
    let how = if with_password {
        "They choose a new password when they first sign in.".to_owned()
    } else {
        let secs = ttl.as_secs();
        let lasts = match secs {
            s if s % 86_400 == 0 && s / 86_400 == 1 => "1 day".to_owned(),
            s if s % 86_400 == 0 => format!("{} days", s / 86_400),
            _ => humantime::format_duration(ttl).to_string(),
        };
        format!(
            "An invitation to choose a password was mailed to {email}; its link works for {lasts}."
        )
    };
    FlashMessage::success(format!("Account {email} created. {how}")).send();
    Ok(see_other(LIST))
}

/// `{id}/{action}` of `/admin/users/{id}/{action}`. An id that is not a number, or an action
/// not on the list, is as unknown as an id not in the table: the 404, whatever the form holds.
pub struct Target {
    pub id: AccountId,
    pub action: AdminAction,
}

impl FromRequest for Target {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let info = req.match_info();
        let id = info.get("id").and_then(|raw| raw.parse().ok());
        let action = info.get("action").and_then(AdminAction::parse);
        std::future::ready(match (id, action) {
            (Some(id), Some(action)) => Ok(Self { id, action }),
            _ => Err(AppError::NotFound),
        })
    }
}

/// `POST /admin/users/{id}/{action}`.
pub async fn act(
    req: HttpRequest,
    client: ClientInfo,
    Target { id, action }: Target,
    state: web::Data<AppState>,
    FreshAdmin { admin: signed, .. }: FreshAdmin<CsrfOnly>,
) -> AppResult<HttpResponse> {
    if action == AdminAction::Deactivate && id == signed.account.id {
        FlashMessage::error("You cannot deactivate your own account.").send();
        return Ok(see_other(LIST));
    }
    let now = state.clock.now();
    let ttl = state.config.reset.token_ttl;
    let route = format!("POST {}", req.path());
    let scope = super::scope_of(&signed.account);
    let (admin_id, floods) = (signed.account.id, state.config.lockout.incidents_per_ip);
    let writer = state.writer.clone();
    let outcome = db::block(&state.pool, move |conn| {
        let by = admin::Acting {
            admin: admin_id,
            scope,
            client: &client,
            floods,
            route: &route,
        };
        Ok(admin::act(conn, &by, action, id, (&writer, ttl), now)?)
    })
    .await?;
    match outcome {
        ActionOutcome::NotFound => Err(AppError::NotFound),
        ActionOutcome::Deactivated { email } => {
            FlashMessage::error(format!(
                "{email} is deactivated: activate it before sending a reset link."
            ))
            .send();
            Ok(see_other(LIST))
        }
        ActionOutcome::Done { email } => {
            state.outbox.wake();
            FlashMessage::success(action.done(&email)).send();
            Ok(see_other(LIST))
        }
    }
}
