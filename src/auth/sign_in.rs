//! The one sign-in flow both realms' `POST /login` call.

use crate::client::ClientInfo;
use crate::clock::after;
use crate::crypto;
use crate::db::accounts::{self, Account};
use crate::db::audit::{Incident, IncidentKind, LogoutReason};
use crate::db::sessions::{self, NewSession};
use crate::db::{self};
use crate::domain::{Email, PasswordInput};
use crate::error::AppResult;
use crate::realm::Realm;
use crate::startup::AppState;

pub enum SignInOutcome {
    /// The new session's secret, for the cookie, and the account it belongs to.
    SignedIn { secret: String, account_id: i32 },
    /// Wrong email or password, inactive, unconfirmed, or not an admin: one answer for all.
    Refused,
}

/// What the browser brings to a sign-in besides the form.
pub struct Browser {
    pub client: ClientInfo,
    /// Secrets of this realm the browser already holds (session and remember cookies).
    pub earlier_secrets: Vec<String>,
}

pub async fn sign_in(
    state: &AppState,
    realm: Realm,
    browser: Browser,
    email_raw: String,
    password: String,
    remember: bool,
) -> AppResult<SignInOutcome> {
    let Browser {
        client,
        earlier_secrets,
    } = browser;
    // The admin realm never persists.
    let remember = remember && realm == Realm::User;
    let email = Email::parse(&email_raw).ok();
    let password = PasswordInput::new(password);
    let account = match email.clone() {
        Some(email) => {
            db::block(&state.pool, move |conn| {
                Ok(accounts::find_by_email(conn, &email)?)
            })
            .await?
        }
        None => None,
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
        Some(a) if verified.matches && a.can_sign_in() => a.clone(),
        _ => {
            let account_id = account.as_ref().map(|a| a.id);
            db::block(&state.pool, move |conn| {
                let mut incident = Incident::new(IncidentKind::LoginFailed, &client)
                    .realm(realm)
                    .email_attempted(&email_raw);
                if let Some(id) = account_id {
                    incident = incident.account(id);
                }
                Ok(incident.record(conn, now)?)
            })
            .await?;
            return Ok(SignInOutcome::Refused);
        }
    };
    if realm == Realm::Admin && !accepted.is_admin {
        let id = accepted.id;
        db::block(&state.pool, move |conn| {
            Ok(Incident::new(IncidentKind::AdminLoginDenied, &client)
                .realm(realm)
                .account(id)
                .email_attempted(&email_raw)
                .record(conn, now)?)
        })
        .await?;
        return Ok(SignInOutcome::Refused);
    }

    if verified.needs_rehash {
        rehash(state, &accepted, typed).await;
    }

    let secret = crypto::random_token::<32>();
    let secret_hash = crypto::sha256_hex(&secret);
    let timeouts = state.config.realm(realm).clone();
    let (idle, absolute) = if remember {
        (state.config.remember_me, state.config.remember_me)
    } else {
        (timeouts.idle, timeouts.absolute)
    };
    let account_id = accepted.id;
    db::block(&state.pool, move |conn| {
        conn.immediate_transaction(|conn| {
            // SECURITY: no session fixation. The browser's earlier session of this realm ends
            // and the new one has a secret the browser has never held.
            for earlier in &earlier_secrets {
                let earlier_hash = crypto::sha256_hex(earlier);
                if let Some(row) = sessions::find_by_secret(conn, realm, &earlier_hash)? {
                    sessions::revoke(conn, &row, LogoutReason::SignedInAgain, Some(&client), now)?;
                }
            }
            let id = crypto::random_token::<16>();
            let ip = client.ip.to_string();
            sessions::insert(
                conn,
                &NewSession {
                    id: &id,
                    secret_hash: &secret_hash,
                    account_id,
                    realm: realm.as_str(),
                    remember,
                    created_at: now,
                    last_seen_at: now,
                    idle_expires_at: after(now, idle),
                    absolute_expires_at: after(now, absolute),
                    ip: &ip,
                    user_agent: &client.user_agent,
                },
            )?;
            accounts::record_sign_in(conn, account_id, now, &ip)
        })
        .map_err(Into::into)
    })
    .await?;
    log::info!(target: "security", "sign-in realm={} account={account_id}", realm.as_str());
    Ok(SignInOutcome::SignedIn { secret, account_id })
}

/// A hash made with older parameters is replaced at sign-in, the only time the password is
/// at hand. Failing here must not fail the sign-in.
async fn rehash(state: &AppState, account: &Account, password: String) {
    let id = account.id;
    let result = async {
        let fresh = state.hasher.hash(password).await?;
        db::block(&state.pool, move |conn| {
            Ok(accounts::set_password_hash(conn, id, &fresh)?)
        })
        .await
    }
    .await;
    if let Err(e) = result {
        log::warn!("could not upgrade the password hash of account {id}: {e:?}");
    }
}
