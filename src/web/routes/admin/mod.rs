//! The admin console (`/admin`): admin realm only, every list bookmarkable (filters in the
//! query string), every action a POST with CSRF answered 303 to its list page with a flash.

mod audit;
mod chart;
mod confirm;
mod organisations;
mod sessions;
mod users;

pub use audit::{admin_actions, incidents, logouts};
pub use confirm::{session_revoke as confirm_revoke_session, user_action as confirm_user_action};
pub use organisations::{
    act as organisation_action, create as create_organisation, list as organisations_list,
    platform_only,
};
pub use sessions::{list as sessions, revoke as revoke_session};
pub use users::{act as user_action, create as create_user, list as users};

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use actix_web_flash_messages::FlashMessage;
use chrono::{NaiveDate, NaiveDateTime};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::{encode_query_value, html, see_other, SignedPage};
use crate::app::error::{AppError, AppResult};
use crate::db::accounts::Account;

use crate::db::reports::{self, Reach};
use crate::db::sessions::AuthSession;
use crate::db::Conn;
use crate::domain::organisation::Scope;
use crate::web::form::{CsrfField, CsrfForm};
use crate::web::realm::{AdminRealm, PageData, SignedIn};
use crate::web::startup::AppState;
use crate::web::templates::{self, AdminDashboardPage};

/// The front page's figures, read by the guard on its connection (`guard::PageData`) on every
/// request: nothing is cached.
impl PageData for reports::Overview {
    fn load(
        conn: &mut Conn,
        admin: &Account,
        _: &AuthSession,
        now: NaiveDateTime,
    ) -> diesel::QueryResult<Self> {
        reports::overview(conn, scope_of(admin), now)
    }
}

/// What the admin sees and acts on (SPEC §14): everything for a platform admin, else their
/// organisation's accounts less its platform admins.
pub fn scope_of(admin: &Account) -> Scope {
    Scope::of(admin.organisation_id, admin.is_platform_admin)
}

pub const UNKNOWN_ORGANISATION: &str = "There is no organisation with that slug.";

/// A list's reach: the admin's scope and, for a platform admin, the `organisation` (a slug) it
/// filters by; an organisation admin's `organisation` is ignored, since their scope is theirs.
/// `Err` names an unknown slug (a 400).
fn reach(
    conn: &mut Conn,
    scope: Scope,
    organisation: Option<&str>,
) -> Result<Result<Reach, AppError>, crate::db::DbError> {
    Ok(match (scope, organisation) {
        (Scope::Platform, Some(slug)) => {
            match crate::db::organisations::find_by_slug(conn, slug)? {
                Some(o) => Ok(Reach {
                    scope,
                    organisation: Some(o.id),
                }),
                None => Err(AppError::BadRequest(UNKNOWN_ORGANISATION.into())),
            }
        }
        _ => Ok(Reach::of(scope)),
    })
}

pub async fn dashboard(
    SignedPage { signed, chrome, .. }: SignedPage<AdminRealm>,
    overview: web::ReqData<reports::Overview>,
) -> AppResult<HttpResponse> {
    let o = overview.into_inner();
    let page = AdminDashboardPage {
        chrome,
        name: &signed.account.name,
        email: &signed.account.email,
        since: signed
            .session
            .created_at
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        accounts: reports::thousands(o.figures.accounts),
        user_sessions: reports::thousands(o.figures.user_sessions),
        admin_sessions: reports::thousands(o.figures.admin_sessions),
        api_sessions: reports::thousands(o.figures.api_sessions),
        incidents_info: o.incidents_info.figure(),
        incidents_warning: o.incidents_warning.figure(),
        incidents_critical: o.incidents_critical.figure(),
        sign_outs: o.sign_outs.figure(),
        outbox: o.outbox,
        chart_svg: chart::svg(&o.days),
    };
    Ok(html(StatusCode::OK, templates::render(&page)?))
}

/// An admin action's form, CSRF-checked as `CsrfForm`, from an admin whose sign-in is recent
/// enough (SPEC §5: within `REALMGATE_ADMIN_REAUTH`). Otherwise the admin is sent, with a
/// flash, to confirm their password and come back to the console section the action was on.
/// The checks run in that order (token, then freshness) once the body has arrived, so listed
/// after a path extractor that answers 404, the 404 still comes first.
pub struct FreshAdmin<T> {
    pub admin: SignedIn<AdminRealm>,
    pub form: T,
}

impl<T> FromRequest for FreshAdmin<T>
where
    T: DeserializeOwned + CsrfField + 'static,
{
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = CsrfForm::<AdminRealm, T>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let CsrfForm(form, _) = form.await?;
            let admin = SignedIn::<AdminRealm>::extract(&req).await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing")))?;
            if !confirm::fresh(&admin, state) {
                FlashMessage::warning("Please confirm your password.").send();
                let back = format!(
                    "/admin/login?next={}",
                    encode_query_value(section(req.path()))
                );
                return Err(
                    InternalError::from_response("re-authentication", see_other(&back)).into(),
                );
            }
            Ok(Self { admin, form })
        })
    }
}

/// The console section a path is in: `/admin/users/7/unlock` → `/admin/users`.
fn section(path: &str) -> &str {
    let end = path
        .match_indices('/')
        .nth(2)
        .map_or(path.len(), |(i, _)| i);
    &path[..end]
}

/// `page` from a query: 1 when absent.
fn page_number(raw: Option<i64>) -> AppResult<i64> {
    match raw {
        None => Ok(1),
        Some(p) if (1..=1_000_000).contains(&p) => Ok(p),
        Some(_) => Err(AppError::BadRequest(
            "The page number is out of range.".into(),
        )),
    }
}

fn date(raw: &Option<String>, field: &str) -> AppResult<Option<NaiveDate>> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::BadRequest(format!("`{field}` must be a date as YYYY-MM-DD."))),
    }
}

/// Links to the previous and next pages, keeping the other filters.
pub struct Pager {
    pub page: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `next` is `Some(after)` when a page follows, `after` the key of this page's last row
    /// (none: the next page by its number).
    fn with_next_after(
        path: &str,
        params: &[(&str, &str)],
        page: i64,
        next: Option<Option<String>>,
    ) -> Self {
        let href = |p: i64, after: Option<&str>| {
            let mut query: Vec<String> = params
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
                .collect();
            if let Some(after) = after {
                query.push(format!("after={after}"));
            }
            query.push(format!("page={p}"));
            format!("{path}?{}", query.join("&"))
        };
        Self {
            page,
            prev: (page > 1).then(|| href(page - 1, None)),
            next: next.map(|after| href(page + 1, after.as_deref())),
        }
    }
}

/// A key-paged list's cursor, `{nanoseconds since 1970}.{id}` of the last row shown.
pub fn cursor<I: std::fmt::Display>((at, id): (NaiveDateTime, I)) -> Option<String> {
    at.and_utc()
        .timestamp_nanos_opt()
        .map(|nanos| format!("{nanos}.{id}"))
}

/// `cursor`'s inverse, the id read by `id`; a malformed one is a 400.
fn parse_cursor<I>(raw: &str, id: impl FnOnce(&str) -> Option<I>) -> AppResult<(NaiveDateTime, I)> {
    let bad = || AppError::BadRequest("The page link is not one the portal made.".into());
    let (nanos, rest) = raw.split_once('.').ok_or_else(bad)?;
    let nanos: i64 = nanos.parse().map_err(|_| bad())?;
    let id = id(rest).ok_or_else(bad)?;
    let at = chrono::DateTime::from_timestamp_nanos(nanos).naive_utc();
    Ok((at, id))
}

fn empty_to_none(raw: &Option<String>) -> Option<String> {
    raw.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
