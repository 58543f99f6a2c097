//! The durable outbox (SPEC §17): mail, and the work a sign-up or a reset request does off the
//! request path (SPEC §8), as rows written in the request's own transaction and carried out by
//! one worker thread per instance, with retries and exponential backoff. A restart or a crash
//! loses nothing: a row is pending until its work commits, and a row marked sent is never sent
//! again.
//!
//! What is delivered at least once: a message whose SMTP delivery succeeded just before the
//! process died, before the row could be marked, is sent again after the restart (a mail
//! server's acceptance and our commit cannot be one transaction). Work rows (sign-up, reset)
//! commit their effects and their mark together, so they happen exactly once.
//!
//! SECURITY: a payload holds a link or a sign-up's password; it is sealed with a key derived
//! from `REALMGATE_SECRET_KEY` and emptied when the row is done. Errors stored or logged name
//! the row and the cause, never the payload.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::result::Error as DieselError;

use crate::app::auth::password::Hasher;
use crate::app::mail::{Mail, Transport};
use crate::db::audit::Incident;
use crate::db::outbox::{self, Claimed, Kind};
use crate::db::rates::{self, RateKind};
use crate::db::tokens::{self, Purpose};
use crate::db::{accounts, Conn, Pool};
use crate::domain::client::ClientInfo;
use crate::domain::clock::{after, Clock};
use crate::domain::crypto::{self, Sealed};
use crate::domain::events::IncidentKind;
use crate::domain::ids::OrganisationId;
use crate::domain::realm::Realm;
use crate::domain::{Email, Name, NewPassword};

/// How long a sign-up confirmation link works.
pub const CONFIRM_TTL: Duration = Duration::from_secs(24 * 3600);
const RESET_MAILS_PER_ACCOUNT: u32 = 3;
pub const RESET_REQUESTS_PER_IP: u32 = 20;
/// How often the worker looks for due rows when nobody woke it (rows of other instances,
/// retries coming due).
const POLL: Duration = Duration::from_secs(1);
/// How long a claimed row is the worker's: past it, another worker may take it. Far longer
/// than one delivery may take (each SMTP step has 20 s); instances' clocks must agree to well
/// within it (NTP), as the session timeouts already need.
const LEASE: Duration = Duration::from_secs(600);
/// The worker counts as alive while it beat this recently (`/readyz`): longer than one SMTP
/// delivery may take.
const STALE_AFTER: Duration = Duration::from_secs(90);

#[derive(serde::Serialize, serde::Deserialize)]
struct SignUp {
    email: String,
    name: String,
    password: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ResetRequest {
    email: String,
    ip: String,
    user_agent: String,
    request_id: Option<String>,
}

/// Writes outbox rows inside the caller's transaction, and knows the public origin the links
/// of its messages point to. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    key: Arc<[u8]>,
    origin: Arc<str>,
}

impl Writer {
    pub fn new(key: &[u8], origin: &str) -> Self {
        Self {
            key: key.into(),
            origin: origin.into(),
        }
    }

    /// The public URL's origin, for links in messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn seal(&self, value: &impl serde::Serialize) -> Result<String, DieselError> {
        let json =
            serde_json::to_vec(value).map_err(|e| DieselError::SerializationError(Box::new(e)))?;
        crypto::seal(&self.key, Sealed::Outbox, &json).ok_or_else(|| {
            DieselError::SerializationError("the outbox payload could not be sealed".into())
        })
    }

    fn open<T: serde::de::DeserializeOwned>(&self, sealed: Option<&str>) -> Option<T> {
        let raw = crypto::open(&self.key, Sealed::Outbox, sealed?)?;
        serde_json::from_slice(&raw).ok()
    }

    /// A message to send.
    pub fn mail(
        &self,
        conn: &mut Conn,
        mail: &Mail,
        now: NaiveDateTime,
    ) -> Result<(), DieselError> {
        let payload = self.seal(mail)?;
        outbox::insert(conn, Kind::Mail, &mail.to, &mail.subject, &payload, now).map(drop)
    }

    /// A well-formed sign-up, whether or not the address has an account (SPEC §8: the same
    /// work on the request path either way).
    pub fn sign_up(
        &self,
        conn: &mut Conn,
        email: &Email,
        name: &Name,
        password: &NewPassword,
        now: NaiveDateTime,
    ) -> Result<(), DieselError> {
        let payload = self.seal(&SignUp {
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            password: password.expose().to_owned(),
        })?;
        outbox::insert(conn, Kind::SignUp, email.as_str(), "Sign-up", &payload, now).map(drop)
    }

    /// A well-formed reset request, whether or not the address has an account.
    pub fn reset_request(
        &self,
        conn: &mut Conn,
        email: &Email,
        client: &ClientInfo,
        now: NaiveDateTime,
    ) -> Result<(), DieselError> {
        let payload = self.seal(&ResetRequest {
            email: email.as_str().to_owned(),
            ip: client.ip.to_string(),
            user_agent: client.user_agent.clone(),
            request_id: client.request_id.clone(),
        })?;
        let subject = "Password reset request";
        outbox::insert(
            conn,
            Kind::ResetRequest,
            email.as_str(),
            subject,
            &payload,
            now,
        )
        .map(drop)
    }
}

/// What the worker needs.
pub struct WorkerContext {
    pub pool: Pool,
    pub clock: Clock,
    pub hasher: Hasher,
    pub transport: Transport,
    pub writer: Writer,
    pub reset_ttl: Duration,
    pub incidents_per_ip: u32,
    /// `REALMGATE_SIGNUP_ORGANISATION`, found at start.
    pub signup_organisation: OrganisationId,
    /// `REALMGATE_MAIL_ATTEMPTS` and `REALMGATE_MAIL_RETRY_BASE`.
    pub attempts: u32,
    pub retry_base: Duration,
}

/// The running worker: wake it after a commit that added rows, ask whether it lives, stop it.
#[derive(Clone)]
pub struct Outbox {
    wake: mpsc::SyncSender<()>,
    shared: Arc<Shared>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

struct Shared {
    /// Unix seconds of the worker's last round.
    beat: AtomicI64,
    stop: AtomicBool,
}

impl Outbox {
    pub fn start(ctx: WorkerContext) -> std::io::Result<Self> {
        // One pending wake is enough: the worker drains everything due when it wakes.
        let (wake, rx) = mpsc::sync_channel::<()>(1);
        let shared = Arc::new(Shared {
            beat: AtomicI64::new(unix_now()),
            stop: AtomicBool::new(false),
        });
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("outbox".into())
            .spawn(move || work(&ctx, &rx, &theirs))?;
        Ok(Self {
            wake,
            shared,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Rows were committed: look now rather than at the next poll.
    pub fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    /// For `/readyz`: the thread runs and finished a round recently.
    pub fn alive(&self) -> bool {
        let running = self
            .thread
            .lock()
            .ok()
            .and_then(|t| t.as_ref().map(|t| !t.is_finished()))
            .unwrap_or(false);
        let age = unix_now() - self.shared.beat.load(Ordering::Relaxed);
        running && age <= STALE_AFTER.as_secs() as i64
    }

    /// Stops after the row in hand (a graceful stop; rows left pending wait for the next
    /// start). Waits for the thread.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.wake();
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn work(ctx: &WorkerContext, wake: &mpsc::Receiver<()>, shared: &Shared) {
    loop {
        shared.beat.store(unix_now(), Ordering::Relaxed);
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        // Everything due, one row at a time.
        loop {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            match round(ctx) {
                Ok(true) => shared.beat.store(unix_now(), Ordering::Relaxed),
                Ok(false) => break,
                Err(e) => {
                    log::warn!("outbox: cannot reach the database: {e:#}");
                    break;
                }
            }
        }
        match wake.recv_timeout(POLL) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Every handle is gone: the application has stopped.
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Claims and carries out one due row; false when none was due.
fn round(ctx: &WorkerContext) -> anyhow::Result<bool> {
    let mut conn = ctx.pool.get()?;
    let now = ctx.clock.now();
    let Some(row) = outbox::claim_next(&mut conn, now, after(now, LEASE))? else {
        return Ok(false);
    };
    let attempt = row.attempts + 1;
    let outcome = match row.kind {
        Some(Kind::Mail) => send(ctx, &mut conn, &row, attempt),
        Some(Kind::SignUp) => sign_up(ctx, &mut conn, &row, attempt),
        Some(Kind::ResetRequest) => reset_request(ctx, &mut conn, &row, attempt),
        None => Err(Failure::Permanent("unknown kind".into())),
    };
    let now = ctx.clock.now();
    let counted = match &outcome {
        Ok(()) => "sent",
        Err(Failure::Retry(_)) if attempt < ctx.attempts as i32 => "retry",
        Err(_) => "failed",
    };
    crate::metrics::OUTBOX_DELIVERIES
        .with_label_values(&[counted])
        .inc();
    match outcome {
        Ok(()) => {}
        Err(Failure::Permanent(why)) => {
            log::error!("outbox: row {} failed for good: {why}", row.id);
            outbox::mark_failed(&mut conn, &row, attempt, &why, now)?;
        }
        Err(Failure::Retry(why)) if attempt >= ctx.attempts as i32 => {
            log::error!(
                "outbox: row {} failed after {attempt} attempts, giving up: {why}",
                row.id
            );
            outbox::mark_failed(&mut conn, &row, attempt, &why, now)?;
        }
        Err(Failure::Retry(why)) => {
            let wait = backoff(ctx.retry_base, attempt);
            log::warn!(
                "outbox: row {} failed (attempt {attempt} of {}), next try in {}: {why}",
                row.id,
                ctx.attempts,
                humantime::format_duration(wait)
            );
            outbox::retry_later(&mut conn, &row, attempt, after(now, wait), &why)?;
        }
    }
    Ok(true)
}

/// The wait after attempt `attempt` (1-based): the base, doubling each time.
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    base.saturating_mul(1 << doublings)
}

enum Failure {
    /// Worth another attempt later (the SMTP server refused or hung, the database was busy).
    Retry(String),
    /// No attempt can succeed (the payload cannot be opened).
    Permanent(String),
}

impl From<DieselError> for Failure {
    fn from(e: DieselError) -> Self {
        Failure::Retry(format!("database: {e}"))
    }
}

const UNREADABLE: &str =
    "the payload cannot be opened (sealed under another REALMGATE_SECRET_KEY?)";

fn send(ctx: &WorkerContext, conn: &mut Conn, row: &Claimed, attempt: i32) -> Result<(), Failure> {
    let Some(mail) = ctx.writer.open::<Mail>(row.payload.as_deref()) else {
        return Err(Failure::Permanent(UNREADABLE.into()));
    };
    ctx.transport
        .send(&mail)
        .map_err(|e| Failure::Retry(e.to_string()))?;
    outbox::mark_sent(conn, row, attempt, ctx.clock.now())?;
    Ok(())
}

/// Marks the row done inside `tx`'s transaction; a row no longer pending (another worker
/// finished it after this one's lease ran out) rolls the work back.
fn done_with(
    conn: &mut Conn,
    row: &Claimed,
    attempt: i32,
    now: NaiveDateTime,
) -> Result<(), DieselError> {
    if outbox::mark_sent(conn, row, attempt, now)? {
        Ok(())
    } else {
        Err(DieselError::RollbackTransaction)
    }
}

fn sign_up(
    ctx: &WorkerContext,
    conn: &mut Conn,
    row: &Claimed,
    attempt: i32,
) -> Result<(), Failure> {
    let Some(SignUp {
        email,
        name,
        password,
    }) = ctx.writer.open::<SignUp>(row.payload.as_deref())
    else {
        return Err(Failure::Permanent(UNREADABLE.into()));
    };
    let Ok(email) = Email::parse(&email) else {
        return Err(Failure::Permanent("the address is not valid".into()));
    };
    let exists = accounts::find_by_email(conn, &email)?.is_some();
    // SECURITY: the same Argon2 work whether or not the address has an account, so how long
    // the outbox takes tells nothing about which addresses exist (SPEC §8).
    let hash = ctx
        .hasher
        .hash_blocking(password)
        .map_err(|e| Failure::Retry(format!("hashing: {e:?}")))?;
    let now = ctx.clock.now();
    let origin = ctx.writer.origin();
    let done = conn.write_transaction(|conn| {
        // Checked again under the write lock: two sign-ups of one address make one account.
        let mail = if exists || accounts::find_by_email(conn, &email)?.is_some() {
            Mail::sign_up_notice(email.as_str(), origin)
        } else {
            let account = accounts::insert(
                conn,
                &accounts::NewAccount::new(email.as_str(), &name, &hash, now)
                    .organisation(ctx.signup_organisation),
            )?;
            let token = tokens::issue(
                conn,
                account.id,
                Purpose::Confirm,
                now,
                after(now, CONFIRM_TTL),
            )?;
            Mail::confirm_address(email.as_str(), origin, token.expose(), CONFIRM_TTL)
        }
        .map_err(|e| DieselError::SerializationError(e.into()))?;
        ctx.writer.mail(conn, &mail, now)?;
        done_with(conn, row, attempt, now)
    });
    finish(done)
}

fn reset_request(
    ctx: &WorkerContext,
    conn: &mut Conn,
    row: &Claimed,
    attempt: i32,
) -> Result<(), Failure> {
    let Some(request) = ctx.writer.open::<ResetRequest>(row.payload.as_deref()) else {
        return Err(Failure::Permanent(UNREADABLE.into()));
    };
    let (Ok(email), Ok(ip)) = (Email::parse(&request.email), request.ip.parse()) else {
        return Err(Failure::Permanent("the request is not readable".into()));
    };
    let client = ClientInfo {
        ip,
        user_agent: request.user_agent,
        request_id: request.request_id,
    };
    let now = ctx.clock.now();
    let done = conn.write_transaction(|conn| {
        // The per-network limit was counted on the request path (routes::reset).
        if let Some(account) = accounts::find_by_email(conn, &email)?.filter(|a| a.is_active) {
            let subject = account.id.to_string();
            let within = rates::hit(
                conn,
                RateKind::ResetMailPerAccount,
                &subject,
                RESET_MAILS_PER_ACCOUNT,
                now,
            )?;
            if within {
                let token = tokens::issue(
                    conn,
                    account.id,
                    Purpose::Reset,
                    now,
                    after(now, ctx.reset_ttl),
                )?;
                Incident::new(IncidentKind::PasswordResetRequested, &client)
                    .realm(Realm::User)
                    .account(account.id)
                    .record(conn, now, ctx.incidents_per_ip)?;
                let mail = Mail::reset_requested(
                    &account.email,
                    ctx.writer.origin(),
                    token.expose(),
                    ctx.reset_ttl,
                )
                .map_err(|e| DieselError::SerializationError(e.into()))?;
                ctx.writer.mail(conn, &mail, now)?;
            }
        }
        done_with(conn, row, attempt, now)
    });
    finish(done)
}

fn finish(done: Result<(), DieselError>) -> Result<(), Failure> {
    match done {
        // Another worker finished the row: nothing more to do.
        Ok(()) | Err(DieselError::RollbackTransaction) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1), Duration::from_secs(30));
        assert_eq!(backoff(base, 2), Duration::from_secs(60));
        assert_eq!(backoff(base, 4), Duration::from_secs(240));
        assert_eq!(backoff(base, 1000), base.saturating_mul(1 << 20));
    }

    #[test]
    fn payloads_are_sealed_and_open_with_the_key_only() {
        let writer = Writer::new(&[7u8; 64], "https://portal.example");
        let sealed = writer
            .seal(&SignUp {
                email: "a@b.example".into(),
                name: "A".into(),
                password: "hunter2 hunter2".into(),
            })
            .unwrap();
        assert!(!sealed.contains("hunter2"));
        let opened: SignUp = writer.open(Some(&sealed)).unwrap();
        assert_eq!(opened.password, "hunter2 hunter2");
        assert!(Writer::new(&[8u8; 64], "https://portal.example")
            .open::<SignUp>(Some(&sealed))
            .is_none());
    }
}
