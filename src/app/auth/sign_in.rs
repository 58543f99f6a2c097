//! The one sign-in flow of every realm: both `POST /login` pages and `POST /api/v1/tokens`.

use chrono::NaiveDateTime;

use crate::app::error::AppResult;
use crate::app::second_factor::{self, CodeCheck};
use crate::app::services::Services;
use crate::db::accounts::{self, Account};
use crate::db::audit::Incident;
use crate::db::lockout::{self, Subject};
use crate::db::organisations;
use crate::db::sessions::{self, NewSession};
use crate::db::{self, Conn};
use crate::domain::client::ClientInfo;
use crate::domain::clock::after;
use crate::domain::config::SingleSession;
use crate::domain::crypto;
use crate::domain::events::{IncidentKind, LogoutReason};
use crate::domain::ids::{AccountId, SecretHash, SessionId, SessionSecret};
use crate::domain::realm::Realm;
use crate::domain::{Email, PasswordInput};

pub enum SignInOutcome {
    /// The new session's secret (for the cookie, or the api's token), its row, and this
    /// browser's device id (for the device cookie that keeps the owner able to sign in while
    /// the email is locked; none for the api realm).
    SignedIn {
        secret: SessionSecret,
        account_id: AccountId,
        session: Opened,
        device: Option<String>,
    },
    /// The api realm and an account with `must_change_password`: no token until the password
    /// is changed in a browser (SPEC §13).
    PasswordChangeRequired,
    /// A browser realm and an account with a second factor: the password was right, and the
    /// sign-in waits for the code (SPEC §15).
    SecondFactor { account_id: AccountId },
    /// The api realm, a second factor, and no `code`.
    TwoFactorRequired,
    /// The api realm and a wrong `code`.
    InvalidCode,
    /// Wrong email or password, inactive, unconfirmed, or not an admin: one answer for all.
    Refused,
    /// The email, this device's budget for it, or the IP is locked.
    Locked { retry_after_secs: u64 },
    /// `REALMGATE_SINGLE_SESSION=block` and the account is signed in elsewhere in this realm.
    Blocked,
}

/// The registry row a sign-in opened.
pub struct Opened {
    pub id: SessionId,
    pub idle_expires_at: NaiveDateTime,
    pub absolute_expires_at: NaiveDateTime,
}

/// What the client brings to a sign-in besides the email and password.
pub struct Caller {
    pub client: ClientInfo,
    /// Secrets of this realm the browser already holds (session and remember cookies).
    pub earlier_secrets: Vec<SessionSecret>,
    /// The device cookie's id, if the browser has one.
    pub device: Option<String>,
    /// What an api client calls itself (`device_name`).
    pub device_name: Option<String>,
}

/// An api client's second-factor `code`, if it sent one.
pub type ApiCode = Option<String>;

enum Gate {
    Open {
        account: Option<Account>,
        /// Whether the account's organisation is active (SPEC §14).
        organisation_active: bool,
        /// Whether the account has a second factor on (SPEC §15).
        second_factor: bool,
        subject: Option<Subject>,
    },
    Locked(NaiveDateTime),
}

pub async fn sign_in(
    state: &Services,
    realm: Realm,
    caller: Caller,
    email_raw: String,
    password: String,
    remember: bool,
    code: ApiCode,
) -> AppResult<SignInOutcome> {
    let outcome = attempt(state, realm, caller, email_raw, password, remember, code).await;
    if let Ok(o) = &outcome {
        count(realm, o);
    }
    outcome
}

/// SPEC §17's sign-in metrics. A sign-in waiting for its code is neither yet.
fn count(realm: Realm, outcome: &SignInOutcome) {
    use crate::metrics::{SIGN_INS, SIGN_IN_FAILURES};
    let reason = match outcome {
        SignInOutcome::SignedIn { .. } => {
            SIGN_INS.with_label_values(&[realm.as_str()]).inc();
            return;
        }
        SignInOutcome::SecondFactor { .. } => return,
        SignInOutcome::Refused => "credentials",
        SignInOutcome::Locked { .. } => "locked",
        SignInOutcome::Blocked => "blocked",
        SignInOutcome::PasswordChangeRequired => "password_change_required",
        SignInOutcome::TwoFactorRequired | SignInOutcome::InvalidCode => "second_factor",
    };
    SIGN_IN_FAILURES
        .with_label_values(&[realm.as_str(), reason])
        .inc();
}

#[allow(clippy::too_many_arguments)]
async fn attempt(
    state: &Services,
    realm: Realm,
    caller: Caller,
    email_raw: String,
    password: String,
    remember: bool,
    code: ApiCode,
) -> AppResult<SignInOutcome> {
    let Caller {
        client,
        earlier_secrets,
        device,
        device_name,
    } = caller;
    let client_ip = client.ip;
    // The admin realm never persists.
    let remember = remember && realm.browser().is_some_and(|b| b.persists());
    let email = Email::parse(&email_raw).ok();
    let password = PasswordInput::new(password);
    let policy = state.config.lockout.clone();
    let floods = state.config.lockout.incidents_per_ip;
    let now = state.clock.now();

    // SECURITY: the lock is checked and this attempt counted as a failure in one write
    // transaction, before Argon2, so parallel guesses can never exceed the limit.
    let gate = {
        let (email, client, device) = (email.clone(), client.clone(), device.clone());
        let email_raw = email_raw.clone();
        db::block(&state.pool, move |conn| {
            Ok(conn.write_transaction(|conn| {
                let ip = Subject::Ip(crate::domain::client::rate_key(client.ip));
                let subject = match &email {
                    None => None,
                    Some(email) => Some(match &device {
                        Some(d) => {
                            let hash = crypto::sha256_hex(d);
                            if lockout::is_known_device(conn, &hash, email.as_str())? {
                                lockout::device_subject(&hash, email.as_str())
                            } else {
                                Subject::Email(email.to_string())
                            }
                        }
                        None => Subject::Email(email.to_string()),
                    }),
                };
                let mut until = lockout::locked_until(conn, &ip, now)?;
                if let Some(s) = &subject {
                    until = until.max(lockout::locked_until(conn, s, now)?);
                }
                if let Some(until) = until {
                    return Ok::<_, diesel::result::Error>(Gate::Locked(until));
                }
                let account = match &email {
                    Some(e) => accounts::find_by_email(conn, e)?,
                    None => None,
                };
                let organisation_active = match &account {
                    Some(a) => {
                        organisations::find(conn, a.organisation_id)?.is_some_and(|o| o.is_active)
                    }
                    None => false,
                };
                let second_factor = match &account {
                    Some(a) => crate::db::two_factor::is_enabled(conn, a.id)?,
                    None => false,
                };
                if let Some(s) = &subject {
                    if lockout::count_failure(conn, s, &policy, now)? {
                        let mut incident = Incident::new(IncidentKind::AccountLocked, &client)
                            .realm(realm)
                            .email_attempted(&email_raw)
                            .details(match s {
                                Subject::Device(_) => "a known device's budget for this email",
                                _ => "email",
                            });
                        if let Some(a) = &account {
                            incident = incident.account(a.id);
                        }
                        incident.record(conn, now, floods)?;
                    }
                }
                if lockout::count_failure(conn, &ip, &policy, now)? {
                    Incident::new(IncidentKind::IpLocked, &client)
                        .realm(realm)
                        .record(conn, now, floods)?;
                }
                Ok(Gate::Open {
                    account,
                    organisation_active,
                    second_factor,
                    subject,
                })
            })?)
        })
        .await?
    };
    let (account, organisation_active, second_factor, subject) = match gate {
        Gate::Locked(until) => {
            let ms = u64::try_from((until - now).num_milliseconds().max(1)).unwrap_or(1);
            let secs = ms.div_ceil(1000);
            // SPEC §17: a refusal while locked writes no incident (the lock wrote one), but it
            // is in the log, so a guessing run against a locked address is visible there.
            log::warn!(
                target: "security",
                "sign-in refused while locked realm={} ip={client_ip} retry_after={secs}s",
                realm.as_str(),
            );
            return Ok(SignInOutcome::Locked {
                retry_after_secs: secs,
            });
        }
        Gate::Open {
            account,
            organisation_active,
            second_factor,
            subject,
        } => (account, organisation_active, second_factor, subject),
    };

    // SECURITY: exactly one Argon2 verification whatever the input, so the answer's timing
    // does not tell whether the address has an account.
    let (hash, typed) = match (&account, password) {
        (Some(a), Some(p)) => (Some(a.password_hash.clone()), p.expose().to_owned()),
        (_, p) => (None, p.map(|p| p.expose().to_owned()).unwrap_or_default()),
    };
    let verified = state.hasher.verify(hash, typed.clone()).await?;

    let now = state.clock.now();
    let accepted = match &account {
        Some(a) if verified.matches && a.can_sign_in() && organisation_active => a.clone(),
        _ => {
            let account_id = account.as_ref().map(|a| a.id);
            db::block(&state.pool, move |conn| {
                let mut incident = Incident::new(IncidentKind::LoginFailed, &client)
                    .realm(realm)
                    .email_attempted(&email_raw);
                if let Some(id) = account_id {
                    incident = incident.account(id);
                }
                Ok(incident.record(conn, now, floods)?)
            })
            .await?;
            return Ok(SignInOutcome::Refused);
        }
    };
    if !realm.admits(accepted.is_admin) {
        // Counted as a failed sign-in: the failure counted above stays.
        let id = accepted.id;
        db::block(&state.pool, move |conn| {
            Ok(Incident::new(IncidentKind::AdminLoginDenied, &client)
                .realm(realm)
                .account(id)
                .email_attempted(&email_raw)
                .record(conn, now, floods)?)
        })
        .await?;
        return Ok(SignInOutcome::Refused);
    }

    if verified.needs_rehash {
        rehash(state, &accepted, typed).await;
    }

    if realm == Realm::Api && accepted.must_change_password {
        // The new password is chosen in a browser, where the password page is.
        give_back(state, &accepted, subject.as_ref(), &client).await?;
        return Ok(SignInOutcome::PasswordChangeRequired);
    }

    if second_factor {
        match (realm.browser(), code) {
            // SPEC §15: a browser's sign-in waits for the code on the realm's own page.
            (Some(_), _) => {
                return_attempt(state, subject.as_ref(), &client).await?;
                return Ok(SignInOutcome::SecondFactor {
                    account_id: accepted.id,
                });
            }
            // The right password and no code: not a failure (SPEC §15).
            (None, None) => {
                return_attempt(state, subject.as_ref(), &client).await?;
                return Ok(SignInOutcome::TwoFactorRequired);
            }
            (None, Some(code)) => {
                let checked =
                    check_code_and_record(state, realm, &accepted, &client, &code).await?;
                if !checked {
                    // The failure counted before the password check stays counted.
                    return Ok(SignInOutcome::InvalidCode);
                }
            }
        }
    }

    open(
        state,
        Opening {
            realm,
            account: accepted,
            remember,
            device,
            device_name,
            subject,
            earlier_secrets,
            client,
        },
    )
    .await
}

/// The right password: the failure counted before its check is given back (the email's count
/// and the IP's), as a successful sign-in does.
async fn give_back(
    state: &Services,
    account: &Account,
    subject: Option<&Subject>,
    client: &ClientInfo,
) -> AppResult<()> {
    let (email, ip) = (
        Subject::Email(account.email.clone()),
        Subject::Ip(crate::domain::client::rate_key(client.ip)),
    );
    // The budget the attempt was counted against: the email's, or a known browser's.
    let counted = subject.cloned();
    db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            lockout::clear(conn, &email)?;
            if let Some(s) = &counted {
                lockout::clear(conn, s)?;
            }
            lockout::give_back(conn, &ip)
        })?)
    })
    .await?;
    Ok(())
}

/// The right password of an account whose sign-in now waits for its second factor: this
/// attempt's own count is given back (email or known browser, and IP), and nothing more. A
/// count the codes added stays, and a lock this attempt reached stays, so a holder of the
/// password cannot reset the count of wrong codes by signing in again.
async fn return_attempt(
    state: &Services,
    subject: Option<&Subject>,
    client: &ClientInfo,
) -> AppResult<()> {
    let counted = subject.cloned();
    let ip = Subject::Ip(crate::domain::client::rate_key(client.ip));
    db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            if let Some(s) = &counted {
                lockout::give_back(conn, s)?;
            }
            lockout::give_back(conn, &ip)
        })?)
    })
    .await?;
    Ok(())
}

/// Checks a second-factor code of an account that has one, in a write transaction, and
/// records a refusal (`two_factor_failed`) or a recovery code used (`recovery_code_used`).
async fn check_code_and_record(
    state: &Services,
    realm: Realm,
    account: &Account,
    client: &ClientInfo,
    code: &str,
) -> AppResult<bool> {
    let key = state.config.cookie.key.as_bytes().to_vec();
    let (id, client, code) = (account.id, client.clone(), code.to_owned());
    let floods = state.config.lockout.incidents_per_ip;
    let now = state.clock.now();
    let checked = db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            let checked = second_factor::check_code(conn, &key, id, &code, now)?;
            match checked {
                CodeCheck::Refused => {
                    Incident::new(IncidentKind::TwoFactorFailed, &client)
                        .realm(realm)
                        .account(id)
                        .record(conn, now, floods)?;
                }
                CodeCheck::Recovery { .. } => {
                    Incident::new(IncidentKind::RecoveryCodeUsed, &client)
                        .realm(realm)
                        .account(id)
                        .record(conn, now, floods)?;
                }
                CodeCheck::Totp => {}
            }
            Ok::<_, diesel::result::Error>(checked)
        })?)
    })
    .await?;
    Ok(!matches!(checked, CodeCheck::Refused))
}

/// What the second step of a browser's sign-in came to (SPEC §15).
pub enum SecondStep {
    /// Signed in; for a recovery code, how many are left.
    SignedIn {
        outcome: SignInOutcome,
        recovery_left: Option<i64>,
    },
    /// A wrong, replayed or malformed code: counted as a failed sign-in of the email.
    Wrong,
    Locked {
        retry_after_secs: u64,
    },
    /// The account cannot sign in any more (deactivated meanwhile, or its organisation).
    Refused,
}

/// `POST /login/2fa` or `/admin/login/2fa`: the code for a sign-in whose password was right.
pub async fn second_step(
    state: &Services,
    realm: Realm,
    caller: Caller,
    account_id: AccountId,
    code: String,
    remember: bool,
) -> AppResult<SecondStep> {
    let step = code_step(state, realm, caller, account_id, code, remember).await;
    match &step {
        Ok(SecondStep::SignedIn { outcome, .. }) => count(realm, outcome),
        Ok(SecondStep::Wrong) => count(realm, &SignInOutcome::InvalidCode),
        Ok(SecondStep::Locked { retry_after_secs }) => count(
            realm,
            &SignInOutcome::Locked {
                retry_after_secs: *retry_after_secs,
            },
        ),
        Ok(SecondStep::Refused) => count(realm, &SignInOutcome::Refused),
        Err(_) => {}
    }
    step
}

async fn code_step(
    state: &Services,
    realm: Realm,
    caller: Caller,
    account_id: AccountId,
    code: String,
    remember: bool,
) -> AppResult<SecondStep> {
    let remember = remember && realm.browser().is_some_and(|b| b.persists());
    let key = state.config.cookie.key.as_bytes().to_vec();
    let policy = state.config.lockout.clone();
    let floods = policy.incidents_per_ip;
    let now = state.clock.now();
    let client = caller.client.clone();
    let device_hash = caller.device.as_deref().map(crypto::sha256_hex);
    enum Step {
        Gone,
        Locked(NaiveDateTime),
        Checked(Box<Account>, CodeCheck),
    }
    let step = db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            let Some(account) = accounts::find(conn, account_id)? else {
                return Ok::<_, diesel::result::Error>(Step::Gone);
            };
            let organisation_active =
                organisations::find(conn, account.organisation_id)?.is_some_and(|o| o.is_active);
            if !(account.can_sign_in() && organisation_active && realm.admits(account.is_admin)) {
                return Ok(Step::Gone);
            }
            // The same budget as the password step: a browser that signed in to this account
            // before keeps its own (SPEC §9's owner allowance), any other the email's.
            let email = match &device_hash {
                Some(hash) if lockout::is_known_device(conn, hash, &account.email)? => {
                    lockout::device_subject(hash, &account.email)
                }
                _ => Subject::Email(account.email.clone()),
            };
            let ip = Subject::Ip(crate::domain::client::rate_key(client.ip));
            let until = lockout::locked_until(conn, &email, now)?
                .max(lockout::locked_until(conn, &ip, now)?);
            if let Some(until) = until {
                return Ok(Step::Locked(until));
            }
            let checked = second_factor::check_code(conn, &key, account.id, &code, now)?;
            let incident = |kind| {
                Incident::new(kind, &client)
                    .realm(realm)
                    .account(account.id)
            };
            match checked {
                CodeCheck::Refused => {
                    incident(IncidentKind::TwoFactorFailed).record(conn, now, floods)?;
                    if lockout::count_failure(conn, &email, &policy, now)? {
                        incident(IncidentKind::AccountLocked)
                            .details("email, by second-factor codes")
                            .record(conn, now, floods)?;
                    }
                    if lockout::count_failure(conn, &ip, &policy, now)? {
                        Incident::new(IncidentKind::IpLocked, &client)
                            .realm(realm)
                            .record(conn, now, floods)?;
                    }
                }
                CodeCheck::Recovery { .. } => {
                    incident(IncidentKind::RecoveryCodeUsed).record(conn, now, floods)?;
                }
                CodeCheck::Totp => {}
            }
            Ok(Step::Checked(Box::new(account), checked))
        })?)
    })
    .await?;
    let (account, checked) = match step {
        Step::Gone => return Ok(SecondStep::Refused),
        Step::Locked(until) => {
            let ms = u64::try_from((until - now).num_milliseconds().max(1)).unwrap_or(1);
            let secs = ms.div_ceil(1000);
            log::warn!(
                target: "security",
                "second step refused while locked realm={} ip={} retry_after={secs}s",
                realm.as_str(),
                caller.client.ip
            );
            return Ok(SecondStep::Locked {
                retry_after_secs: secs,
            });
        }
        Step::Checked(account, checked) => (*account, checked),
    };
    let recovery_left = match checked {
        CodeCheck::Refused => return Ok(SecondStep::Wrong),
        CodeCheck::Totp => None,
        CodeCheck::Recovery { left } => Some(left),
    };
    let Caller {
        client,
        earlier_secrets,
        device,
        device_name,
    } = caller;
    let outcome = open(
        state,
        Opening {
            realm,
            subject: None,
            account,
            remember,
            device,
            device_name,
            earlier_secrets,
            client,
        },
    )
    .await?;
    Ok(SecondStep::SignedIn {
        outcome,
        recovery_left,
    })
}

/// A sign-in whose checks all passed, about to become a registry row.
struct Opening {
    realm: Realm,
    account: Account,
    remember: bool,
    device: Option<String>,
    device_name: Option<String>,
    subject: Option<Subject>,
    earlier_secrets: Vec<SessionSecret>,
    client: ClientInfo,
}

async fn open(state: &Services, o: Opening) -> AppResult<SignInOutcome> {
    let Opening {
        realm,
        account: accepted,
        remember,
        device,
        device_name,
        subject,
        earlier_secrets,
        client,
    } = o;
    let now = state.clock.now();
    let floods = state.config.lockout.incidents_per_ip;
    // A browser keeps its device cookie; an api client has none to keep.
    let (secret, device) = match realm.browser() {
        Some(_) => (
            SessionSecret::generate(),
            Some(device.unwrap_or_else(crypto::random_token::<16>)),
        ),
        None => (SessionSecret::generate_token(), None),
    };
    let timeouts = state.config.realms.get(realm).clone();
    let (idle, absolute) = if remember {
        (
            state.config.cookie.remember_me,
            state.config.cookie.remember_me,
        )
    } else {
        (timeouts.idle, timeouts.absolute)
    };
    let single = state.config.realms.single_session;
    let new = PendingSession {
        id: SessionId::generate(),
        secret_hash: secret.hash(),
        device_hash: device.as_deref().map(crypto::sha256_hex),
        device_name,
        account: accepted,
        realm,
        remember,
        idle_expires_at: after(now, idle),
        absolute_expires_at: after(now, absolute),
        max_tokens: state.config.realms.api_max_tokens,
        floods,
    };
    let account_id = new.account.id;
    let session = Opened {
        id: new.id.clone(),
        idle_expires_at: new.idle_expires_at,
        absolute_expires_at: new.absolute_expires_at,
    };
    // SPEC §17: a browser new to the account gets the account a notice, unless turned off.
    let notice = state.config.mail.new_device.then(|| state.writer.clone());
    let wake = notice.is_some();
    let opened = db::block(&state.pool, move |conn| {
        Ok(conn.write_transaction(|conn| {
            open_session(
                conn,
                &new,
                (subject.as_ref(), &earlier_secrets),
                single,
                (&client, notice.as_ref()),
                now,
            )
        })?)
    })
    .await?;
    if !opened {
        return Ok(SignInOutcome::Blocked);
    }
    if wake {
        state.outbox.wake();
    }
    log::info!(target: "security", "sign-in realm={} account={account_id}", realm.as_str());
    Ok(SignInOutcome::SignedIn {
        secret,
        account_id,
        session,
        device,
    })
}

struct PendingSession {
    id: SessionId,
    secret_hash: SecretHash,
    /// The device cookie's hash, remembered as a device the owner signs in from.
    device_hash: Option<String>,
    device_name: Option<String>,
    account: Account,
    realm: Realm,
    remember: bool,
    idle_expires_at: NaiveDateTime,
    absolute_expires_at: NaiveDateTime,
    /// `REALMGATE_API_MAX_TOKENS`.
    max_tokens: u32,
    /// `REALMGATE_INCIDENTS_PER_IP`, for the incidents the write half may record.
    floods: u32,
}

/// The write half of a sign-in, in one transaction. `false` when the single-session policy
/// blocks it. With `notice`, a browser that never signed in to the account (no known-browsers
/// row for its device cookie and this email) writes the account's new-device mail.
fn open_session(
    conn: &mut Conn,
    new: &PendingSession,
    (subject, earlier_secrets): (Option<&Subject>, &[SessionSecret]),
    single: SingleSession,
    (client, notice): (&ClientInfo, Option<&crate::app::outbox::Writer>),
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    let floods = new.floods;
    let (account, realm) = (&new.account, new.realm);
    // The password was right: the failure counted before the check is given back.
    lockout::clear(conn, &Subject::Email(account.email.clone()))?;
    if let Some(s) = subject {
        lockout::clear(conn, s)?;
    }
    lockout::give_back(
        conn,
        &Subject::Ip(crate::domain::client::rate_key(client.ip)),
    )?;

    // SECURITY: no session fixation. The browser's earlier session of this realm ends and the
    // new one has a secret the browser has never held.
    for earlier in earlier_secrets {
        if let Some(row) = sessions::find_by_secret(conn, realm, &earlier.hash())? {
            sessions::revoke(conn, &row, LogoutReason::SignedInAgain, Some(client), now)?;
        }
    }
    match single {
        SingleSession::Off => {}
        SingleSession::Block => {
            if sessions::count_live(conn, Some(realm), Some(account.id), now)? > 0 {
                Incident::new(IncidentKind::ConcurrentLoginBlocked, client)
                    .realm(realm)
                    .account(account.id)
                    .record(conn, now, floods)?;
                return Ok(false);
            }
        }
        SingleSession::Replace => {
            sessions::revoke_live_in_realm(
                conn,
                account.id,
                realm,
                LogoutReason::ReplacedByNewLogin,
                Some(client),
                now,
            )?;
        }
    }
    if realm == Realm::Api {
        // SPEC §13: at most REALMGATE_API_MAX_TOKENS live tokens; this one makes room by
        // ending the least recently used.
        let keep = new.max_tokens.saturating_sub(1);
        sessions::revoke_least_recent_beyond(
            conn,
            account.id,
            realm,
            keep,
            LogoutReason::ReplacedByNewLogin,
            client,
            now,
        )?;
    }
    // Only a sign-in that goes through makes its browser known (and so a blocked attempt
    // neither skips nor sends the notice).
    let mut new_browser = false;
    if let Some(device_hash) = &new.device_hash {
        new_browser = !lockout::is_known_device(conn, device_hash, &account.email)?;
        lockout::remember_device(conn, device_hash, &account.email, now)?;
    }
    if let (true, Some(writer)) = (new_browser, notice) {
        let browser = crate::domain::client::describe_user_agent(&client.user_agent);
        let mail = crate::app::mail::Mail::new_device(
            &account.email,
            now,
            &client.ip.to_string(),
            &browser,
        )
        .map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
        writer.mail(conn, &mail, now)?;
    }
    let ip = client.ip.to_string();
    sessions::insert(
        conn,
        &NewSession {
            id: &new.id,
            secret_hash: &new.secret_hash,
            account_id: account.id,
            realm,
            remember: new.remember,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: new.idle_expires_at,
            absolute_expires_at: new.absolute_expires_at,
            ip: &ip,
            user_agent: &client.user_agent,
            device_name: new.device_name.as_deref(),
        },
    )?;
    accounts::record_sign_in(conn, account.id, now, &ip)?;
    Ok(true)
}

/// A hash made with older parameters is replaced at sign-in, the only time the password is
/// at hand. Failing here must not fail the sign-in.
async fn rehash(state: &Services, account: &Account, password: String) {
    let id = account.id;
    let result = async {
        let fresh = state.hasher.hash(password).await?;
        db::block(&state.pool, move |conn| {
            Ok(accounts::set_password_hash(conn, id, &fresh)?)
        })
        .await?;
        Ok::<_, crate::app::error::AppError>(())
    }
    .await;
    if let Err(e) = result {
        log::warn!("could not upgrade the password hash of account {id}: {e:?}");
    }
}
