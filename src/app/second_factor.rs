//! The second factor's flows (SPEC §15): enrolment, checking a code once, recovery codes. Each
//! runs in the caller's write transaction; the incidents are the caller's, who knows the client.

use chrono::NaiveDateTime;

use crate::db::two_factor;
use crate::db::Conn;
use crate::domain::crypto;
use crate::domain::ids::AccountId;
use crate::domain::second_factor::{generate_recovery_codes, recovery_hash, CodeInput, TotpSecret};

/// What a code came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// A TOTP code of a step not accepted before.
    Totp,
    /// An unused recovery code, now used; how many are left.
    Recovery { left: i64 },
    /// Wrong, replayed, malformed, or no factor on.
    Refused,
}

fn unix(now: NaiveDateTime) -> i64 {
    now.and_utc().timestamp()
}

fn secret_of(key: &[u8], sealed: &str) -> Option<TotpSecret> {
    TotpSecret::from_bytes(crypto::open(key, crypto::Sealed::SecondFactor, sealed)?)
}

/// Checks `raw` for `account`, whose factor is on: a TOTP code is accepted once per time step
/// (one conditional update, so two parallel uses cannot both pass), a recovery code once.
pub fn check_code(
    conn: &mut Conn,
    key: &[u8],
    account: AccountId,
    raw: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<CodeCheck> {
    let Some(factor) = two_factor::find(conn, account)?.filter(|f| f.enabled_at.is_some()) else {
        return Ok(CodeCheck::Refused);
    };
    match CodeInput::parse(raw) {
        None => Ok(CodeCheck::Refused),
        Some(CodeInput::Totp(code)) => {
            let Some(secret) = secret_of(key, &factor.secret_sealed) else {
                log::error!("the second-factor secret of account {account} does not open");
                return Ok(CodeCheck::Refused);
            };
            let Some(step) = secret.matching_step(&code, unix(now)) else {
                return Ok(CodeCheck::Refused);
            };
            Ok(if two_factor::accept_step(conn, account, step)? {
                CodeCheck::Totp
            } else {
                CodeCheck::Refused
            })
        }
        Some(CodeInput::Recovery(code)) => {
            if !two_factor::use_recovery_code(conn, account, &recovery_hash(&code), now)? {
                return Ok(CodeCheck::Refused);
            }
            Ok(CodeCheck::Recovery {
                left: two_factor::remaining_codes(conn, account)?,
            })
        }
    }
}

/// What a code typed by a signed-in session came to.
pub enum Guarded {
    Checked(CodeCheck),
    /// The email is locked: no code is checked (seconds until it is not).
    Locked(u64),
}

/// A code typed on the second-factor page by a signed-in session (new recovery codes, turning
/// it off). Without a bound, whoever holds the session could guess codes without end: each
/// wrong one counts as a failed sign-in of the email, and while the email is locked none is
/// checked. A recovery code used is recorded. Call inside a write transaction.
pub fn check_code_guarded(
    conn: &mut Conn,
    key: &[u8],
    account: &crate::db::accounts::Account,
    raw: &str,
    by: (
        &crate::domain::client::ClientInfo,
        crate::domain::realm::Realm,
    ),
    policy: &crate::domain::config::LockoutPolicy,
    now: NaiveDateTime,
) -> diesel::QueryResult<Guarded> {
    use crate::db::audit::Incident;
    use crate::db::lockout::{self, Subject};
    use crate::domain::events::IncidentKind;
    let (client, realm) = by;
    let email = Subject::Email(account.email.clone());
    if let Some(until) = lockout::locked_until(conn, &email, now)? {
        let secs = (until - now).num_seconds().max(1);
        return Ok(Guarded::Locked(u64::try_from(secs).unwrap_or(1)));
    }
    let checked = check_code(conn, key, account.id, raw, now)?;
    let incident = |kind| Incident::new(kind, client).realm(realm).account(account.id);
    match checked {
        CodeCheck::Refused => {
            incident(IncidentKind::TwoFactorFailed).record(conn, now, policy.incidents_per_ip)?;
            lockout::count_failure(conn, &email, policy, now)?;
        }
        CodeCheck::Recovery { .. } => {
            incident(IncidentKind::RecoveryCodeUsed).record(conn, now, policy.incidents_per_ip)?;
        }
        CodeCheck::Totp => {}
    }
    Ok(Guarded::Checked(checked))
}

/// A new secret for enrolment, kept server-side (sealed) from the moment it is shown. `None`
/// when the account already has a factor on.
pub fn begin(
    conn: &mut Conn,
    key: &[u8],
    account: AccountId,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<TotpSecret>> {
    let secret = TotpSecret::generate();
    let Some(sealed) = crypto::seal(key, crypto::Sealed::SecondFactor, secret.as_bytes()) else {
        return Ok(None);
    };
    Ok(two_factor::put_pending(conn, account, &sealed, now)?.then_some(secret))
}

/// The pending secret, to show the enrolment page again (a reload) without a new one.
pub fn pending(
    conn: &mut Conn,
    key: &[u8],
    account: AccountId,
) -> diesel::QueryResult<Option<TotpSecret>> {
    Ok(two_factor::find(conn, account)?
        .filter(|f| f.enabled_at.is_none())
        .and_then(|f| secret_of(key, &f.secret_sealed)))
}

/// Confirms the pending factor with a current TOTP code (one step of drift either way). On
/// success the factor is on and these are its recovery codes, shown once.
pub fn confirm(
    conn: &mut Conn,
    key: &[u8],
    account: AccountId,
    raw: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<Vec<String>>> {
    let Some(secret) = pending(conn, key, account)? else {
        return Ok(None);
    };
    let Some(CodeInput::Totp(code)) = CodeInput::parse(raw) else {
        return Ok(None);
    };
    let Some(step) = secret.matching_step(&code, unix(now)) else {
        return Ok(None);
    };
    if !two_factor::enable(conn, account, step, now)? {
        return Ok(None);
    }
    Ok(Some(new_recovery_codes(conn, account)?))
}

/// New recovery codes for `account`; the old ones die.
pub fn new_recovery_codes(conn: &mut Conn, account: AccountId) -> diesel::QueryResult<Vec<String>> {
    let codes = generate_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| match CodeInput::parse(c) {
            Some(CodeInput::Recovery(n)) => Some(recovery_hash(&n)),
            _ => None,
        })
        .collect();
    two_factor::replace_recovery_codes(conn, account, &hashes)?;
    Ok(codes)
}
