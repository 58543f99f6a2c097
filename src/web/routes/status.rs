//! `GET /session/status`: for the expiry notice. Reads, never writes: it is not activity and
//! never extends a session.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::app::auth::access::{self, AccessPolicy, Claim};
use crate::app::error::AppResult;
use crate::db::{self, sessions};
use crate::domain::client::ClientInfo;
use crate::web::cookies;
use crate::web::realm::{BrowserRealm, RealmSession};
use crate::web::startup::AppState;

#[derive(Serialize, Default)]
struct RealmStatus {
    signed_in: bool,
    idle_expires_in: i64,
    absolute_expires_in: i64,
}

#[derive(Serialize)]
struct Status {
    user: RealmStatus,
    admin: RealmStatus,
}

pub async fn status(
    req: HttpRequest,
    client: ClientInfo,
    session: Session,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    // The secret's hash, and the account the session cookie names (`None` for a remember
    // cookie, whose row alone names the account, as in the guard).
    let secret = |realm: BrowserRealm| match RealmSession::of(&session, realm).secret() {
        Some(secret) => Some((
            secret.hash(),
            Some(RealmSession::of(&session, realm).claimed_account()),
        )),
        None => realm
            .persists()
            .then(|| cookies::read_remember(&req, &state.config.cookie))
            .flatten()
            .map(|secret| (secret.hash(), None)),
    };
    let secrets = [
        (BrowserRealm::User, secret(BrowserRealm::User)),
        (BrowserRealm::Admin, secret(BrowserRealm::Admin)),
    ];
    let now = state.clock.now();
    let policies = BrowserRealm::ALL.map(|realm| AccessPolicy {
        realm: realm.into(),
        timeouts: state.config.realms.get(realm).clone(),
        remember_me: state.config.cookie.remember_me,
    });
    let [user, admin] = db::block(&state.pool, move |conn| {
        let mut out: [RealmStatus; 2] = Default::default();
        for (slot, (realm, hash)) in out.iter_mut().zip(secrets) {
            let Some((hash, claimed)) = hash else {
                continue;
            };
            let Some((row, account, organisation)) =
                sessions::find_by_secret_with_account(conn, realm.into(), &hash)?
            else {
                continue;
            };
            // What the guard would let through, asked of the same decision, without its writes.
            let claim = match claimed {
                Some(id) => Claim::Account(id),
                None => Claim::Remembered,
            };
            let Some(policy) = policies.iter().find(|p| p.realm == realm.into()) else {
                continue;
            };
            let decision = access::decide(
                &row,
                Some(&account),
                organisation.is_active,
                claim,
                &client,
                policy,
                now,
            );
            if decision.refusal.is_none() {
                *slot = RealmStatus {
                    signed_in: true,
                    idle_expires_in: (row.idle_expires_at.min(row.absolute_expires_at) - now)
                        .num_seconds(),
                    absolute_expires_in: (row.absolute_expires_at - now).num_seconds(),
                };
            }
        }
        Ok(out)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .json(Status { user, admin }))
}
