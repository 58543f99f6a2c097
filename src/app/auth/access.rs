//! SPEC §4 steps 2–7 as one pure function of the registry row, the account, what the cookie
//! claims, the client and the realm's policy. The guard's fast path, its write transaction and
//! `/session/status` all ask it, so they can never disagree on who is signed in; what to write
//! for each answer is the guard's business.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::accounts::Account;
use crate::db::sessions::AuthSession;
use crate::domain::client::ClientInfo;
use crate::domain::config::{IpChangePolicy, RealmTimeouts};
use crate::domain::events::{IncidentKind, LogoutReason};
use crate::domain::ids::AccountId;
use crate::domain::realm::Realm;

/// What the cookie says about the session's account.
#[derive(Clone, Copy, Debug)]
pub enum Claim {
    /// The session cookie's `R.account` (`None` when missing or garbled).
    Account(Option<AccountId>),
    /// Restored from the remember cookie: the row alone names the account.
    Remembered,
    /// An api bearer token: the token names the row, and the row the account (SPEC §13 has no
    /// `R.account` to compare, so step 5 compares the row with its account alone).
    Bearer,
}

/// The realm's rules the decision needs.
#[derive(Clone, Debug)]
pub struct AccessPolicy {
    pub realm: Realm,
    pub timeouts: RealmTimeouts,
    /// `REALMGATE_REMEMBER_ME`: the idle bound of a remembered session.
    pub remember_me: Duration,
}

impl AccessPolicy {
    /// The idle bound of this row: a remembered session's own, or the realm's.
    pub fn idle(&self, row: &AuthSession) -> Duration {
        if row.remember {
            self.remember_me
        } else {
            self.timeouts.idle
        }
    }
}

/// Why a request is not let through, by the step of SPEC §4 that refuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Step 2: revoked (or a remember cookie naming a row that was never remembered), with
    /// the incident a replay of it is.
    Revoked(Option<IncidentKind>),
    /// Step 3: the idle or absolute bound passed.
    Expired(LogoutReason),
    /// Step 4: the account is missing or inactive.
    Inactive,
    /// Step 4: the account's organisation is deactivated (SPEC §14).
    OrganisationInactive,
    /// Step 5: the cookie names another account than the row.
    Mismatch,
    /// Step 6, with `REALMGATE_<REALM>_IP_CHANGE=revoke`.
    IpChanged,
    /// Step 7: the admin realm and an account that is no admin (any more).
    NotAdmitted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub refusal: Option<Refusal>,
    /// Step 6 noticed (only when steps 2–5 passed).
    pub ip_changed: bool,
    pub agent_changed: bool,
    /// `last_seen_at` is due a write (SPEC §3's rule).
    pub touch_due: bool,
}

impl Decision {
    /// Let through with nothing to record: the guard's read-only fast path.
    pub fn clean(&self) -> bool {
        self.refusal.is_none() && !self.ip_changed && !self.agent_changed
    }
}

/// How often `last_seen_at` is written: at least min(60 s, idle ÷ 4) apart, so a session in
/// steady use never idles out and a busy one costs one write a minute.
pub fn touch_interval(idle: Duration) -> Duration {
    (idle / 4).min(Duration::from_secs(60))
}

pub fn decide(
    row: &AuthSession,
    account: Option<&Account>,
    organisation_active: bool,
    claim: Claim,
    client: &ClientInfo,
    policy: &AccessPolicy,
    now: NaiveDateTime,
) -> Decision {
    let refused = |refusal| Decision {
        refusal: Some(refusal),
        ip_changed: false,
        agent_changed: false,
        touch_due: false,
    };
    // Step 2. A remember cookie must name a remembered row; anything else it names is as
    // unknown as a made-up secret.
    if matches!(claim, Claim::Remembered) && !row.remember {
        return refused(Refusal::Revoked(None));
    }
    if row.revoked_at.is_some() {
        let replay = match row.revoke_reason {
            Some(LogoutReason::UserLogout) => Some(IncidentKind::RevokedSessionUsed),
            Some(LogoutReason::AccountDeactivated | LogoutReason::OrganisationDeactivated) => {
                Some(IncidentKind::InactiveAccountAccess)
            }
            _ => None,
        };
        return refused(Refusal::Revoked(replay));
    }
    // Step 3.
    if let Some(reason) = row.expiry(now) {
        return refused(Refusal::Expired(reason));
    }
    // Step 4.
    let Some(account) = account.filter(|a| a.is_active) else {
        return refused(Refusal::Inactive);
    };
    if !organisation_active {
        return refused(Refusal::OrganisationInactive);
    }
    // Step 5.
    let claimed = match claim {
        Claim::Account(id) => id,
        Claim::Remembered | Claim::Bearer => Some(row.account_id),
    };
    if claimed != Some(row.account_id) || account.id != row.account_id {
        return refused(Refusal::Mismatch);
    }
    // Step 6.
    let ip_changed = row.ip != client.ip.to_string();
    let agent_changed = row.user_agent != client.user_agent;
    let touch_due = now - row.last_seen_at
        >= chrono::Duration::from_std(touch_interval(policy.idle(row))).unwrap_or_default();
    let refusal = if ip_changed && policy.timeouts.ip_change == IpChangePolicy::Revoke {
        Some(Refusal::IpChanged)
    // Step 7.
    } else if !policy.realm.admits(account.is_admin) {
        Some(Refusal::NotAdmitted)
    } else {
        None
    };
    Decision {
        refusal,
        ip_changed,
        agent_changed,
        touch_due,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{SecretHash, SessionId};

    fn t(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
            .unwrap()
            .naive_utc()
    }

    fn row() -> AuthSession {
        AuthSession {
            id: SessionId::from("s1".to_owned()),
            secret_hash: SecretHash("h".into()),
            account_id: AccountId(7),
            realm: Realm::Admin,
            remember: false,
            created_at: t(0),
            last_seen_at: t(0),
            idle_expires_at: t(1200),
            absolute_expires_at: t(43200),
            ip: "203.0.113.9".into(),
            user_agent: "UA".into(),
            revoked_at: None,
            revoke_reason: None,
            device_name: None,
        }
    }

    fn account(is_admin: bool, is_active: bool) -> Account {
        Account {
            id: AccountId(7),
            email: "a@b.example".into(),
            name: "A".into(),
            password_hash: String::new(),
            is_admin,
            is_active,
            must_change_password: false,
            email_confirmed_at: Some(t(0)),
            created_at: t(0),
            last_login_at: None,
            last_login_ip: None,
            organisation_id: crate::domain::ids::OrganisationId::DEFAULT,
            is_platform_admin: false,
        }
    }

    fn client(ip: &str, ua: &str) -> ClientInfo {
        ClientInfo {
            ip: ip.parse().unwrap(),
            user_agent: ua.into(),
            request_id: None,
        }
    }

    fn policy(ip_change: IpChangePolicy) -> AccessPolicy {
        AccessPolicy {
            realm: Realm::Admin,
            timeouts: RealmTimeouts {
                idle: Duration::from_secs(1200),
                absolute: Duration::from_secs(43200),
                ip_change,
            },
            remember_me: Duration::from_secs(14 * 86400),
        }
    }

    fn ask(row: &AuthSession, account: Option<&Account>, claim: Claim, now: i64) -> Decision {
        let c = client("203.0.113.9", "UA");
        decide(
            row,
            account,
            true,
            claim,
            &c,
            &policy(IpChangePolicy::Log),
            t(now),
        )
    }

    #[test]
    fn touch_interval_is_at_most_a_minute_and_a_quarter_of_idle() {
        assert_eq!(
            touch_interval(Duration::from_secs(20 * 60)),
            Duration::from_secs(60)
        );
        assert_eq!(
            touch_interval(Duration::from_secs(8)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn a_live_session_of_its_own_account_passes() {
        let d = ask(
            &row(),
            Some(&account(true, true)),
            Claim::Account(Some(AccountId(7))),
            10,
        );
        assert!(d.clean() && !d.touch_due);
        let d = ask(
            &row(),
            Some(&account(true, true)),
            Claim::Account(Some(AccountId(7))),
            61,
        );
        assert!(d.clean() && d.touch_due, "a minute on, last-seen is due");
    }

    #[test]
    fn each_step_refuses_in_the_spec_order() {
        let admin = account(true, true);
        let mut revoked = row();
        revoked.revoked_at = Some(t(5));
        revoked.revoke_reason = Some(LogoutReason::UserLogout);
        let d = ask(
            &revoked,
            Some(&admin),
            Claim::Account(Some(AccountId(7))),
            2000,
        );
        assert_eq!(
            d.refusal,
            Some(Refusal::Revoked(Some(IncidentKind::RevokedSessionUsed))),
            "revoked wins over expired"
        );
        let d = ask(&row(), None, Claim::Account(Some(AccountId(8))), 2000);
        assert_eq!(
            d.refusal,
            Some(Refusal::Expired(LogoutReason::IdleTimeout)),
            "expired wins over a missing account"
        );
        let d = ask(
            &row(),
            Some(&account(true, false)),
            Claim::Account(Some(AccountId(8))),
            10,
        );
        assert_eq!(
            d.refusal,
            Some(Refusal::Inactive),
            "inactive wins over mismatch"
        );
        let d = ask(&row(), Some(&admin), Claim::Account(Some(AccountId(8))), 10);
        assert_eq!(d.refusal, Some(Refusal::Mismatch));
        let d = ask(&row(), Some(&admin), Claim::Account(None), 10);
        assert_eq!(
            d.refusal,
            Some(Refusal::Mismatch),
            "a garbled claim is a mismatch"
        );
        let d = ask(
            &row(),
            Some(&account(false, true)),
            Claim::Account(Some(AccountId(7))),
            10,
        );
        assert_eq!(d.refusal, Some(Refusal::NotAdmitted));
        let d = ask(&row(), Some(&admin), Claim::Remembered, 10);
        assert_eq!(
            d.refusal,
            Some(Refusal::Revoked(None)),
            "not a remembered row"
        );
        let d = ask(&row(), Some(&admin), Claim::Bearer, 10);
        assert!(d.clean(), "a token names its row and the row its account");
        let mut other = admin.clone();
        other.id = AccountId(8);
        let d = ask(&row(), Some(&other), Claim::Bearer, 10);
        assert_eq!(d.refusal, Some(Refusal::Mismatch));
    }

    #[test]
    fn a_moved_client_is_noticed_and_revoked_only_by_policy() {
        let admin = account(true, true);
        let moved = client("198.51.100.7", "Other");
        let claim = Claim::Account(Some(AccountId(7)));
        let d = decide(
            &row(),
            Some(&admin),
            true,
            claim,
            &moved,
            &policy(IpChangePolicy::Log),
            t(10),
        );
        assert!(d.refusal.is_none() && d.ip_changed && d.agent_changed && !d.clean());
        let d = decide(
            &row(),
            Some(&admin),
            true,
            claim,
            &moved,
            &policy(IpChangePolicy::Revoke),
            t(10),
        );
        assert_eq!(d.refusal, Some(Refusal::IpChanged));
    }
}
