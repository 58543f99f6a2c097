//! Work done off the request path, so that an answer's content and timing are the same
//! whether or not an address has an account: sign-up and reset requests (SPEC §8).

use std::sync::mpsc;
use std::time::Duration;

use crate::app::auth::password::Hasher;
use crate::app::mail::{Mail, Mailer};
use crate::db::audit::Incident;
use crate::db::rates::{self, RateKind};
use crate::db::tokens::{self, Purpose};
use crate::db::{accounts, Pool};
use crate::domain::client::ClientInfo;
use crate::domain::clock::{after, Clock};
use crate::domain::events::IncidentKind;
use crate::domain::ids::OrganisationId;
use crate::domain::{Email, Name, NewPassword};

/// How long a sign-up confirmation link works.
pub const CONFIRM_TTL: Duration = Duration::from_secs(24 * 3600);
const RESET_MAILS_PER_ACCOUNT: u32 = 3;
pub const RESET_REQUESTS_PER_IP: u32 = 20;
/// Jobs waiting at most. A flood of cheap requests must not grow memory without bound; past
/// this a job is dropped (logged), and the person's answer is the same as ever.
const QUEUE: usize = 1024;

pub enum Job {
    SignUp {
        email: Email,
        name: Name,
        password: NewPassword,
    },
    ResetRequest {
        email: Email,
        client: ClientInfo,
    },
}

pub struct JobContext {
    pub pool: Pool,
    pub clock: Clock,
    pub hasher: Hasher,
    pub mailer: Mailer,
    pub public_origin: String,
    pub reset_ttl: Duration,
    pub incidents_per_ip: u32,
    /// `REALMGATE_SIGNUP_ORGANISATION`, found at start.
    pub signup_organisation: OrganisationId,
}

#[derive(Clone)]
pub struct Jobs {
    queue: mpsc::SyncSender<Job>,
}

impl Jobs {
    pub fn start(ctx: JobContext) -> std::io::Result<Self> {
        let (queue, rx) = mpsc::sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("jobs".into())
            .spawn(move || {
                for job in rx {
                    if let Err(e) = run(&ctx, job) {
                        log::error!("background job failed: {e:#}");
                    }
                }
            })?;
        Ok(Self { queue })
    }

    pub fn submit(&self, job: Job) {
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => {
                log::warn!(target: "security", "the job queue is full; a job was dropped");
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                log::error!("the job thread has stopped; a job was dropped");
            }
        }
    }
}

fn run(ctx: &JobContext, job: Job) -> anyhow::Result<()> {
    let mut conn = ctx.pool.get()?;
    let now = ctx.clock.now();
    let floods = ctx.incidents_per_ip;
    match job {
        Job::SignUp {
            email,
            name,
            password,
        } => {
            let exists = accounts::find_by_email(&mut conn, &email)?.is_some();
            drop(conn);
            // SECURITY: the same Argon2 work whether or not the address has an account, so
            // how long the job queue takes tells nothing about which addresses exist (SPEC §8).
            let hash = ctx
                .hasher
                .hash_blocking(password.expose().to_owned())
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            if exists {
                ctx.mailer
                    .send(Mail::sign_up_notice(email.as_str(), &ctx.public_origin));
                return Ok(());
            }
            let mut conn = ctx.pool.get()?;
            let token = conn.write_transaction(|conn| {
                let account = accounts::insert(
                    conn,
                    &accounts::NewAccount::new(email.as_str(), name.as_str(), &hash, now)
                        .organisation(ctx.signup_organisation),
                )?;
                tokens::issue(
                    conn,
                    account.id,
                    Purpose::Confirm,
                    now,
                    after(now, CONFIRM_TTL),
                )
            })?;
            ctx.mailer.send(Mail::confirm_address(
                email.as_str(),
                &ctx.public_origin,
                token.expose(),
            ));
        }
        Job::ResetRequest { email, client } => {
            // The per-network limit was counted on the request path (routes::reset).
            let issued = conn.write_transaction(|conn| {
                let Some(account) = accounts::find_by_email(conn, &email)? else {
                    return Ok::<_, diesel::result::Error>(None);
                };
                if !account.is_active {
                    return Ok(None);
                }
                let subject = account.id.to_string();
                if !rates::hit(
                    conn,
                    RateKind::ResetMailPerAccount,
                    &subject,
                    RESET_MAILS_PER_ACCOUNT,
                    now,
                )? {
                    return Ok(None);
                }
                let token = tokens::issue(
                    conn,
                    account.id,
                    Purpose::Reset,
                    now,
                    after(now, ctx.reset_ttl),
                )?;
                Incident::new(IncidentKind::PasswordResetRequested, &client)
                    .realm(crate::domain::realm::Realm::User)
                    .account(account.id)
                    .record(conn, now, floods)?;
                Ok(Some((account.email, token)))
            })?;
            if let Some((to, token)) = issued {
                let minutes = ctx.reset_ttl.as_secs().div_ceil(60);
                ctx.mailer.send(Mail::reset_requested(
                    &to,
                    &ctx.public_origin,
                    token.expose(),
                    minutes,
                ));
            }
        }
    }
    Ok(())
}
