//! SPEC §4 steps 2–6 against the registry, for every realm: the read-only fast path and, when
//! something must be written, the same decision again from fresh rows inside a write
//! transaction. The web layer's guards (the cookie one for the browser realms, the bearer one
//! for the api realm) call `check` and turn its verdict into an answer.

use chrono::NaiveDateTime;

use crate::app::auth::access::{self, AccessPolicy, Claim, Refusal};
use crate::db::accounts::{self, Account};
use crate::db::audit::Incident;
use crate::db::organisations::{self, Organisation};
use crate::db::sessions::{self, AuthSession};
use crate::db::Conn;
use crate::domain::client::ClientInfo;
use crate::domain::events::{IncidentKind, LogoutReason};
use crate::domain::ids::SecretHash;
use crate::domain::realm::Realm;

pub const SESSION_ENDED: &str = "Your session has ended.";
pub const SESSION_EXPIRED: &str = "Your session expired.";

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

/// A request let through: the account, its registry row, its organisation, and what the page
/// reads besides.
pub struct Live<P> {
    pub account: Account,
    pub session: AuthSession,
    pub organisation: Organisation,
    pub data: P,
}

pub enum Verdict<P> {
    Live(Box<Live<P>>),
    Ended(&'static str),
    /// A secret this browser's session held before a rotation (SPEC §8): refused, but the
    /// cookies are left alone, since the browser may already hold the new secret and this is
    /// another tab's request sent just before the change.
    Superseded,
}

/// What the request presents to the guard, and the realm's rules to judge it by.
pub struct Presented {
    pub realm: Realm,
    pub secret_hash: SecretHash,
    pub claim: Claim,
    pub client: ClientInfo,
    pub access: AccessPolicy,
    /// `REALMGATE_INCIDENTS_PER_IP`.
    pub floods: u32,
    pub now: NaiveDateTime,
}

/// The guard's checks against the registry (`auth::access::decide`). A request that needs
/// no write (the common case) is answered from one read; anything else is decided again inside
/// a write transaction from fresh rows, so a sign-out or deactivation committed in between is
/// never missed.
pub fn check(conn: &mut Conn, p: &Presented) -> diesel::QueryResult<Verdict<()>> {
    let Presented {
        realm,
        ref secret_hash,
        claim,
        ref client,
        ref access,
        now,
        ..
    } = *p;
    let live = |account, session, organisation| {
        Ok(Verdict::Live(Box::new(Live {
            account,
            session,
            organisation,
            data: (),
        })))
    };
    if let Some((row, account, organisation)) =
        sessions::find_by_secret_with_account(conn, realm, secret_hash)?
    {
        let decision = access::decide(
            &row,
            Some(&account),
            organisation.is_active,
            claim,
            client,
            access,
            now,
        );
        if decision.clean() {
            if !decision.touch_due {
                return live(account, row, organisation);
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
                return live(account, row, organisation);
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
    let organisation = match &account {
        Some(a) => organisations::find(conn, a.organisation_id)?,
        None => None,
    };
    let organisation_active = organisation.as_ref().is_some_and(|o| o.is_active);
    let decision = access::decide(
        &row,
        account.as_ref(),
        organisation_active,
        claim,
        client,
        access,
        now,
    );
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
        Some(Refusal::OrganisationInactive) => {
            end(conn, LogoutReason::OrganisationDeactivated)?;
            incident(IncidentKind::InactiveAccountAccess)
                .details(format!("session {}: organisation deactivated", row.id))
                .record(conn, now, floods)?;
            return Ok(Verdict::Ended(SESSION_ENDED));
        }
        Some(Refusal::Mismatch) => {
            incident(IncidentKind::SessionMismatch).record(conn, now, floods)?;
            end(conn, LogoutReason::SessionMismatch)?;
            return Ok(Verdict::Ended(SESSION_ENDED));
        }
        Some(Refusal::IpChanged | Refusal::NotAdmitted) | None => {}
    }
    // Steps 2-5 passed, so the account and its organisation are there and active.
    let (Some(account), Some(organisation)) = (account, organisation) else {
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
    Ok(Verdict::Live(Box::new(Live {
        account,
        session: row,
        organisation,
        data: (),
    })))
}
