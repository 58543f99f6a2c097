//! SPEC §4: the check every signed-in request of a realm passes, against the registry and the
//! account row, before any handler (and so before any CSRF check) runs.
//!
//! It reads the session cookie and never writes it on a page view (SPEC I4); only when a
//! session has ended does it remove that realm's keys. Last-seen times go to the database.

use std::marker::PhantomData;

use super::{BrowserRealm, RealmKind};
use crate::app::auth::access::{AccessPolicy, Claim};
use crate::app::auth::guard::{check, Live, Presented, Verdict};
use crate::app::error::AppError;
use crate::db;
use crate::db::accounts::Account;
use crate::db::organisations::Organisation;
use crate::db::sessions::AuthSession;
use crate::web::cookies;
use crate::web::routes::client::client_info;
use crate::web::startup::AppState;
use actix_session::SessionExt as _;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{
    web, FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError as _,
};
use actix_web_flash_messages::FlashMessage;

pub use crate::app::auth::guard::{PageData, SESSION_ENDED};

/// The account and registry row of a request that passed the guard for realm `R`.
pub struct SignedIn<R> {
    pub account: Account,
    pub session: AuthSession,
    pub organisation: Organisation,
    _realm: PhantomData<fn() -> R>,
}

impl<R> Clone for SignedIn<R> {
    fn clone(&self) -> Self {
        Self {
            account: self.account.clone(),
            session: self.session.clone(),
            organisation: self.organisation.clone(),
            _realm: PhantomData,
        }
    }
}

impl<R: RealmKind> FromRequest for SignedIn<R> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Present only when the guard middleware of this realm's scope let the request through.
        std::future::ready(req.extensions().get::<SignedIn<R>>().cloned().ok_or(
            AppError::Unauthenticated {
                realm: R::REALM,
                message: None,
            },
        ))
    }
}

/// Who is signed in to realm `R` in this browser, as the guard would decide it, without any of
/// its writes (no last-seen, no revocation, no incident): for a public page that shows the
/// signed-in person a way on (the sign-in page). The session cookie only; a remember cookie
/// alone is restored by the guard on a signed-in page, not here.
pub async fn peek<R: RealmKind>(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<SignedIn<R>>, AppError> {
    let realm = R::REALM;
    let session = req.get_session();
    let keys = super::RealmSession::of(&session, realm);
    let Some(secret) = keys.secret() else {
        return Ok(None);
    };
    let claim = Claim::Account(keys.claimed_account());
    let client = client_info(req, &state.config.server.trusted_proxies);
    let policy = AccessPolicy {
        realm: realm.into(),
        timeouts: state.config.realms.get(realm).clone(),
        remember_me: state.config.cookie.remember_me,
    };
    let now = state.clock.now();
    let hash = secret.hash();
    let found = db::block(&state.pool, move |conn| {
        let Some((row, account, organisation)) =
            crate::db::sessions::find_by_secret_with_account(conn, realm.into(), &hash)?
        else {
            return Ok(None);
        };
        let decision = crate::app::auth::access::decide(
            &row,
            Some(&account),
            organisation.is_active,
            claim,
            &client,
            &policy,
            now,
        );
        Ok(decision
            .refusal
            .is_none()
            .then_some((row, account, organisation)))
    })
    .await?;
    Ok(found.map(|(session, account, organisation)| SignedIn {
        account,
        session,
        organisation,
        _realm: PhantomData,
    }))
}

/// The guard as route middleware: `route.wrap(from_fn(guard::<UserRealm, ()>))`, with the
/// page's own reads as `P`.
pub async fn guard<R: RealmKind, P: PageData>(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let realm = R::REALM;
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(AppError::Internal(anyhow::anyhow!("AppState missing")).into());
    };
    let session = req.get_session();
    // The session cookie's secret, or else (user realm only) the remember cookie's.
    let keys = super::RealmSession::of(&session, realm);
    let (secret, restoring) = match keys.secret() {
        Some(secret) => (secret, false),
        None => match (
            realm,
            cookies::read_remember(req.request(), &state.config.cookie),
        ) {
            (realm, Some(secret)) if realm.persists() => (secret, true),
            _ => return Ok(refuse(req, realm, None)),
        },
    };
    let claim = if restoring {
        Claim::Remembered
    } else {
        Claim::Account(keys.claimed_account())
    };
    let now = state.clock.now();
    let presented = Presented {
        realm: realm.into(),
        secret_hash: secret.hash(),
        claim,
        client: client_info(req.request(), &state.config.server.trusted_proxies),
        access: AccessPolicy {
            realm: realm.into(),
            timeouts: state.config.realms.get(realm).clone(),
            remember_me: state.config.cookie.remember_me,
        },
        floods: state.config.lockout.incidents_per_ip,
        now,
    };

    let factor_required = realm == BrowserRealm::Admin && state.config.admin.two_factor_required;
    let verdict = db::block(&state.pool, move |conn| {
        let verdict = match check(conn, &presented)? {
            Verdict::Live(found) => {
                let Live {
                    account,
                    session,
                    organisation,
                    data: (),
                } = *found;
                let data = P::load(conn, &account, &session, now)?;
                // SPEC §15: an admin without a second factor, while one is required.
                let held = factor_required && !crate::db::two_factor::is_enabled(conn, account.id)?;
                Verdict::Live(Box::new(Live {
                    account,
                    session,
                    organisation,
                    data: (data, held),
                }))
            }
            Verdict::Ended(message) => Verdict::Ended(message),
            Verdict::Superseded => Verdict::Superseded,
        };
        Ok(verdict)
    })
    .await;
    match verdict {
        Ok(Verdict::Live(found)) => {
            let Live {
                account,
                session: row,
                organisation,
                data: (data, held_to_factor),
            } = *found;
            if restoring {
                // The browser was closed; the remembered session continues in a new cookie.
                if let Err(e) = keys.sign_in(&secret, account.id) {
                    return Err(e.into());
                }
            }
            if account.must_change_password && !may_open_while_must_change(&req, realm) {
                return Ok(must_change(req, realm));
            }
            if held_to_factor && !may_open_without_factor(&req, realm) {
                return Ok(held(req, realm.two_factor_path(), HOLD_FACTOR));
            }
            {
                let mut extensions = req.extensions_mut();
                extensions.insert(SignedIn::<R> {
                    account,
                    session: row,
                    organisation,
                    _realm: PhantomData,
                });
                extensions.insert(data);
            }
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Ok(Verdict::Superseded) => Ok(refuse(req, realm, None)),
        Ok(Verdict::Ended(message)) => {
            keys.forget();
            let forget = realm.persists()
                && cookies::read_remember(req.request(), &state.config.cookie).is_some();
            let removal = cookies::remember_removal(&state.config.cookie);
            let mut res = refuse(req, realm, Some(message));
            if forget {
                if let Err(e) = res.response_mut().add_cookie(&removal) {
                    log::warn!("could not expire the remember cookie: {e}");
                }
            }
            Ok(res)
        }
        Err(e) => Ok(req.into_response(AppError::from(e).error_response())),
    }
}

/// SPEC §4 step 8: while the account must change its password, only the realm's password
/// page and its sign-out are open.
fn may_open_while_must_change(req: &ServiceRequest, realm: BrowserRealm) -> bool {
    req.path() == realm.password_path() || req.path() == realm.logout_path()
}

fn must_change(req: ServiceRequest, realm: BrowserRealm) -> ServiceResponse {
    held(
        req,
        realm.password_path(),
        "You need to choose a new password before you continue.",
    )
}

const HOLD_FACTOR: &str = "Turn on a second factor before you continue.";

/// SPEC §15: while admins need a second factor, one without is held to its page, as step 8
/// holds to the password page (and may still sign out).
fn may_open_without_factor(req: &ServiceRequest, realm: BrowserRealm) -> bool {
    let path = req.path();
    path == realm.logout_path()
        || path == realm.two_factor_path()
        || path.starts_with(&format!("{}/", realm.two_factor_path()))
}

/// A GET goes to `page`; anything else is refused with 403 and `message`.
fn held(req: ServiceRequest, page: &str, message: &str) -> ServiceResponse {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        let res = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, page.to_owned()))
            .finish();
        return req.into_response(res);
    }
    req.into_response(AppError::Forbidden(message.into()).error_response())
}

/// SPEC §4 step 1: a GET goes to the sign-in page and comes back after; anything else gets a
/// 401 page, except a sign-out, which is already done.
fn refuse(
    req: ServiceRequest,
    realm: BrowserRealm,
    message: Option<&'static str>,
) -> ServiceResponse {
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD);
    if is_read || (req.method() == Method::POST && req.path() == realm.logout_path()) {
        if let Some(message) = message {
            FlashMessage::warning(message).send();
        }
        let location = if is_read {
            let target = req
                .uri()
                .path_and_query()
                .map_or(realm.home_path(), |pq| pq.as_str());
            format!(
                "{}?next={}",
                realm.login_path(),
                crate::web::routes::encode_query_value(target)
            )
        } else {
            realm.login_path().to_owned()
        };
        let res = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .finish();
        return req.into_response(res);
    }
    req.into_response(AppError::Unauthenticated { realm, message }.error_response())
}
