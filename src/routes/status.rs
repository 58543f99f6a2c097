//! `GET /session/status`: for the expiry notice. Reads, never writes: it is not activity and
//! never extends a session.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::cookies;
use crate::crypto;
use crate::db::{self, accounts, sessions};
use crate::error::AppResult;
use crate::realm::Realm;
use crate::startup::AppState;

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
    session: Session,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    let secret = |realm: Realm| {
        session
            .get::<String>(realm.session_key())
            .ok()
            .flatten()
            .or_else(|| {
                (realm == Realm::User)
                    .then(|| cookies::read_remember(&req))
                    .flatten()
            })
            .map(|s| crypto::sha256_hex(&s))
    };
    let secrets = [
        (Realm::User, secret(Realm::User)),
        (Realm::Admin, secret(Realm::Admin)),
    ];
    let now = state.clock.now();
    let [user, admin] = db::block(&state.pool, move |conn| {
        let mut out: [RealmStatus; 2] = Default::default();
        for (slot, (realm, hash)) in out.iter_mut().zip(secrets) {
            let Some(hash) = hash else { continue };
            let Some(row) = sessions::find_by_secret(conn, realm, &hash)? else {
                continue;
            };
            let active = accounts::find(conn, row.account_id)?.is_some_and(|a| a.is_active);
            if row.is_live(now) && active {
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
