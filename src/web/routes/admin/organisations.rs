//! `/admin/organisations` (SPEC §14): platform admins list, create, deactivate and activate
//! organisations. To an organisation admin these routes do not exist: 404.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _, HttpRequest, HttpResponse, ResponseError as _};
use actix_web_flash_messages::FlashMessage;
use serde::Deserialize;

use super::{scope_of, FreshAdmin};
use crate::app::admin::{self, Acting, OrganisationOutcome};
use crate::app::error::{AppError, AppResult};
use crate::db::{self, organisations};
use crate::domain::client::ClientInfo;
use crate::domain::ids::OrganisationId;
use crate::domain::organisation::Slug;
use crate::domain::Name;
use crate::web::form::{CsrfField, CsrfOnly};
use crate::web::realm::{AdminRealm, SignedIn};
use crate::web::routes::{html, see_other, SignedPage};
use crate::web::startup::AppState;
use crate::web::templates::{self, AdminOrganisationsPage, OrganisationRow};

const LIST: &str = "/admin/organisations";

/// Route middleware inside the admin guard: to anyone but a platform admin these routes do not
/// exist, so they answer 404 before the body, the CSRF token or the re-authentication is looked
/// at.
pub async fn platform_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let platform = req
        .extensions()
        .get::<SignedIn<AdminRealm>>()
        .is_some_and(|admin| scope_of(&admin.account).is_platform());
    if !platform {
        return Ok(req.into_response(AppError::NotFound.error_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

pub async fn list(
    page: SignedPage<AdminRealm>,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    render(page, &state, StatusCode::OK, None).await
}

/// The list, with the create form's refusal when there is one.
async fn render(
    SignedPage {
        chrome, csrf_token, ..
    }: SignedPage<AdminRealm>,
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let all = db::block(&state.pool, move |conn| {
        Ok(organisations::list_with_counts(conn, now)?)
    })
    .await?;
    let rows = all
        .into_iter()
        .map(|(o, accounts, live)| OrganisationRow {
            id: o.id,
            slug: o.slug,
            name: o.name,
            is_active: o.is_active,
            accounts,
            live_sessions: live,
        })
        .collect();
    let page = AdminOrganisationsPage {
        chrome,
        rows,
        csrf_token: &csrf_token,
        error,
    };
    Ok(html(status, templates::render(&page)?))
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf_token: String,
}

impl CsrfField for CreateForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /admin/organisations`: 303 to the list, or the list again with 400 and why.
pub async fn create(
    req: HttpRequest,
    client: ClientInfo,
    state: web::Data<AppState>,
    FreshAdmin { form, admin }: FreshAdmin<CreateForm>,
) -> AppResult<HttpResponse> {
    let parsed = Slug::parse(form.slug.trim()).and_then(|slug| {
        Name::parse(&form.name)
            .map(|name| (slug, name))
            .map_err(|_| {
                "An organisation's name is 1 to 100 characters, without control characters."
            })
    });
    let (slug, name) = match parsed {
        Ok(v) => v,
        Err(message) => return again(&req, &state, admin, message).await,
    };
    let now = state.clock.now();
    let shown = slug.as_str().to_owned();
    let route = format!("POST {}", req.path());
    let (admin_id, floods) = (admin.account.id, state.config.lockout.incidents_per_ip);
    let created = db::block(&state.pool, move |conn| {
        let by = Acting {
            admin: admin_id,
            scope: crate::domain::organisation::Scope::Platform,
            client: &client,
            floods,
            route: &route,
        };
        Ok(admin::create_organisation(
            conn,
            Some(&by),
            slug.as_str(),
            name.as_str(),
            now,
        )?)
    })
    .await?;
    if created.is_none() {
        return again(
            &req,
            &state,
            admin,
            "An organisation with that slug already exists.",
        )
        .await;
    }
    FlashMessage::success(format!("Organisation {shown} created.")).send();
    Ok(see_other(LIST))
}

async fn again(
    req: &HttpRequest,
    state: &AppState,
    admin: SignedIn<AdminRealm>,
    message: &str,
) -> AppResult<HttpResponse> {
    use actix_session::SessionExt as _;
    use actix_web::FromRequest as _;
    let flashes = actix_web_flash_messages::IncomingFlashMessages::extract(req)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("flash: {e}")))?;
    let page = SignedPage::build(admin, &req.get_session(), &flashes)?;
    render(page, state, StatusCode::BAD_REQUEST, Some(message)).await
}

/// `POST /admin/organisations/{id}/{action}`: `deactivate` or `activate`.
pub async fn act(
    req: HttpRequest,
    client: ClientInfo,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    FreshAdmin { admin, .. }: FreshAdmin<CsrfOnly>,
) -> AppResult<HttpResponse> {
    let (raw_id, action) = path.into_inner();
    let active = match action.as_str() {
        "deactivate" => false,
        "activate" => true,
        _ => return Err(AppError::NotFound),
    };
    let Ok(id) = raw_id.parse::<i32>().map(OrganisationId) else {
        return Err(AppError::NotFound);
    };
    let now = state.clock.now();
    let route = format!("POST {}", req.path());
    let (admin_id, floods) = (admin.account.id, state.config.lockout.incidents_per_ip);
    let outcome = db::block(&state.pool, move |conn| {
        let by = Acting {
            admin: admin_id,
            scope: crate::domain::organisation::Scope::Platform,
            client: &client,
            floods,
            route: &route,
        };
        Ok(admin::set_organisation_active(conn, &by, id, active, now)?)
    })
    .await?;
    match outcome {
        OrganisationOutcome::NotFound => Err(AppError::NotFound),
        OrganisationOutcome::HoldsPlatformAdmin => Err(AppError::BadRequest(
            "This organisation holds a platform admin: it cannot be deactivated.".into(),
        )),
        OrganisationOutcome::Done { name, ended } => {
            log::info!(
                target: "security",
                "admin {admin_id} {action}d organisation {id} ({ended} session(s) ended)"
            );
            FlashMessage::success(if active {
                format!("{name} is active again.")
            } else {
                format!("{name} is deactivated: {ended} session(s) signed out.")
            })
            .send();
            Ok(see_other(LIST))
        }
    }
}
