//! SPEC §4: the check every signed-in request of a realm passes, against the registry and the
//! account row, before any handler (and so before any CSRF check) runs.
//!
//! It reads the session cookie and never writes it on a page view (SPEC I4); only when a
//! session has ended does it remove that realm's keys. Last-seen times go to the database.

use std::marker::PhantomData;

use actix_session::SessionExt as _;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{
    web, FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError as _,
};
use actix_web_flash_messages::FlashMessage;
use chrono::NaiveDateTime;

use super::{BrowserRealm, Realm, RealmKind};
use crate::domain::client::ClientInfo;

use crate::app::auth::access::{self, AccessPolicy, Claim, Refusal};
use crate::app::error::AppError;
use crate::db::accounts::{self, Account};
use crate::db::audit::Incident;
use crate::db::sessions::{self, AuthSession};
use crate::db::{self, Conn};
use crate::domain::events::{IncidentKind, LogoutReason};
use crate::domain::ids::SecretHash;
use crate::web::cookies;
use crate::web::routes::client::client_info;
use crate::web::startup::AppState;

pub const SESSION_ENDED: &str = "Your session has ended.";
pub const SESSION_EXPIRED: &str = "Your session expired.";

/// The account and registry row of a request that passed the guard for realm `R`.
pub struct SignedIn<R> {
    pub account: Account,
    pub session: AuthSession,
    _realm: PhantomData<fn() -> R>,
}

impl<R> Clone for SignedIn<R> {
    fn clone(&self) -> Self {
        Self {
            account: self.account.clone(),
            session: self.session.clone(),
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

/// What a page reads besides the guard's row and account. The guard runs `load` on its own
/// connection in the same trip to the blocking pool, once the request has passed, and leaves
/// the result in the request for the handler (`web::ReqData<P>`): one hand-off to the blocking
/// pool per page view instead of two, which the load run measured (docs/performance.md).
pub trait PageData: Clone + Send + 'static {
    fn load(
        conn: &mut Conn,
        account: &Account,
        session: &AuthSession,
        now: NaiveDateTime,
    ) -> diesel::QueryResult<Self>;
}

/// Pages that read nothing more.
impl PageData for () {
    fn load(
        _: &mut Conn,
        _: &Account,
        _: &AuthSession,
        _: NaiveDateTime,
    ) -> diesel::QueryResult<Self> {
        Ok(())
    }
}

enum Verdict<P> {
    Live(Box<(Account, AuthSession, P)>),
    Ended(&'static str),
    /// A secret this browser's session held before a rotation (SPEC §8): refused, but the
    /// cookies are left alone, since the browser may already hold the new secret and this is
    /// another tab's request sent just before the change.
    Superseded,
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
        client: client_info(req.head(), &state.config.server.trusted_proxies),
        access: AccessPolicy {
            realm: realm.into(),
            timeouts: state.config.realms.get(realm).clone(),
            remember_me: state.config.cookie.remember_me,
        },
        floods: state.config.lockout.incidents_per_ip,
        now,
    };

    let verdict = db::block(&state.pool, move |conn| {
        let verdict = match check(conn, &presented)? {
            Verdict::Live(found) => {
                let (account, row, ()) = *found;
                let data = P::load(conn, &account, &row, now)?;
                Verdict::Live(Box::new((account, row, data)))
            }
            Verdict::Ended(message) => Verdict::Ended(message),
            Verdict::Superseded => Verdict::Superseded,
        };
        Ok(verdict)
    })
    .await;
    match verdict {
        Ok(Verdict::Live(found)) => {
            let (account, row, data) = *found;
            if restoring {
                // The browser was closed; the remembered session continues in a new cookie.
                if let Err(e) = keys.sign_in(&secret, account.id) {
                    return Err(e.into());
                }
            }
            if account.must_change_password && !may_open_while_must_change(&req, realm) {
                return Ok(must_change(req, realm));
            }
            {
                let mut extensions = req.extensions_mut();
                extensions.insert(SignedIn::<R> {
                    account,
                    session: row,
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
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        let res = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, realm.password_path()))
            .finish();
        return req.into_response(res);
    }
    req.into_response(
        AppError::Forbidden("You need to choose a new password before you continue.".into())
            .error_response(),
    )
}

/// What the request presents to the guard, and the realm's rules to judge it by.
struct Presented {
    realm: Realm,
    secret_hash: SecretHash,
    claim: Claim,
    client: ClientInfo,
    access: AccessPolicy,
    /// `REALMGATE_INCIDENTS_PER_IP`.
    floods: u32,
    now: NaiveDateTime,
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

/// The guard's checks against the registry (`auth::access::decide`). A request that needs
/// no write (the common case) is answered from one read; anything else is decided again inside
/// a write transaction from fresh rows, so a sign-out or deactivation committed in between is
/// never missed.
fn check(conn: &mut Conn, p: &Presented) -> diesel::QueryResult<Verdict<()>> {
    let Presented {
        realm,
        ref secret_hash,
        claim,
        ref client,
        ref access,
        now,
        ..
    } = *p;
    if let Some((row, account)) = sessions::find_by_secret_with_account(conn, realm, secret_hash)? {
        let decision = access::decide(&row, Some(&account), claim, client, access, now);
        if decision.clean() {
            if !decision.touch_due {
                return Ok(Verdict::Live(Box::new((account, row, ()))));
            }
            // Only last-seen is due: one conditional update, no transaction to open. If the
            // row was revoked meanwhile, nothing changes and the full check below decides.
            let idle_expires_at = crate::domain::clock::after(now, access.idle(&row));
            if sessions::touch_if_live(conn, &row.id, now, idle_expires_at)? {
                let row = AuthSession {
                    last_seen_at: now,
                    idle_expires_at,
                    ..row
                };
                return Ok(Verdict::Live(Box::new((account, row, ()))));
            }
        }
    }
    // An unknown secret (a made-up or rotated-away cookie) has nothing to write: it must not
    // queue for the write lock behind every real write.
    if sessions::find_by_secret(conn, realm, secret_hash)?.is_none() {
        if sessions::was_rotated(conn, secret_hash)? {
            return Ok(Verdict::Superseded);
        }
        return Ok(Verdict::Ended(SESSION_ENDED));
    }
    conn.write_transaction(|conn| apply(conn, p))
}

/// Decides again from fresh rows, inside the write transaction, and writes what the answer
/// calls for: revocation, logout activity, incidents, the new client, last-seen.
fn apply(conn: &mut Conn, p: &Presented) -> diesel::QueryResult<Verdict<()>> {
    let Presented {
        realm,
        ref secret_hash,
        claim,
        ref client,
        ref access,
        floods,
        now,
    } = *p;
    let Some(row) = sessions::find_by_secret(conn, realm, secret_hash)? else {
        return Ok(Verdict::Ended(SESSION_ENDED));
    };
    let account = accounts::find(conn, row.account_id)?;
    let decision = access::decide(&row, account.as_ref(), claim, client, access, now);
    let end = |conn: &mut Conn, reason: LogoutReason| -> diesel::QueryResult<()> {
        sessions::revoke(conn, &row, reason, Some(client), now).map(drop)
    };
    let incident = |kind: IncidentKind| {
        Incident::new(kind, client)
            .realm(realm)
            .account(row.account_id)
            .details(format!("session {}", row.id))
    };
    match decision.refusal {
        Some(Refusal::Revoked(replay)) => {
            if let Some(kind) = replay {
                incident(kind).record(conn, now, floods)?;
            }
            return Ok(Verdict::Ended(SESSION_ENDED));
        }
        Some(Refusal::Expired(reason)) => {
            end(conn, reason)?;
            return Ok(Verdict::Ended(SESSION_EXPIRED));
        }
        Some(Refusal::Inactive) => {
            end(conn, LogoutReason::AccountDeactivated)?;
            let mut inactive = Incident::new(IncidentKind::InactiveAccountAccess, client)
                .realm(realm)
                .details(format!("session {}", row.id));
            if let Some(a) = &account {
                inactive = inactive.account(a.id);
            }
            inactive.record(conn, now, floods)?;
            return Ok(Verdict::Ended(SESSION_ENDED));
        }
        Some(Refusal::Mismatch) => {
            incident(IncidentKind::SessionMismatch).record(conn, now, floods)?;
            end(conn, LogoutReason::SessionMismatch)?;
            return Ok(Verdict::Ended(SESSION_ENDED));
        }
        Some(Refusal::IpChanged | Refusal::NotAdmitted) | None => {}
    }
    // Steps 2-5 passed, so the account is there and active.
    let Some(account) = account else {
        return Ok(Verdict::Ended(SESSION_ENDED));
    };
    let ip = client.ip.to_string();
    if decision.ip_changed {
        incident(IncidentKind::IpChanged)
            .details(format!("session {}: {} -> {}", row.id, row.ip, ip))
            .record(conn, now, floods)?;
    }
    if decision.agent_changed {
        incident(IncidentKind::UserAgentChanged).record(conn, now, floods)?;
    }
    if decision.ip_changed || decision.agent_changed {
        sessions::set_client(conn, &row.id, client)?;
    }
    match decision.refusal {
        Some(Refusal::IpChanged) => {
            end(conn, LogoutReason::IpChanged)?;
            return Ok(Verdict::Ended(SESSION_ENDED));
        }
        // Losing the admin role ends the admin session.
        Some(Refusal::NotAdmitted) => {
            incident(IncidentKind::UnauthorizedAccess)
                .details("admin session of an account that is no longer an admin")
                .record(conn, now, floods)?;
            end(conn, LogoutReason::AccountDeactivated)?;
            return Ok(Verdict::Ended(SESSION_ENDED));
        }
        _ => {}
    }
    let mut row = row.clone();
    if decision.touch_due {
        row.last_seen_at = now;
        row.idle_expires_at = crate::domain::clock::after(now, access.idle(&row));
        sessions::touch(conn, &row.id, now, row.idle_expires_at)?;
    }
    row.ip = ip;
    row.user_agent = client.user_agent.clone();
    Ok(Verdict::Live(Box::new((account, row, ()))))
}
