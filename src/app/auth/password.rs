//! Argon2id hashing on its own pool of threads.
//!
//! Hashing does not share actix's blocking pool with database work: measured for the SPEC,
//! that cut sign-ins to 0.6x and grew the process to 6 GiB, because every blocking thread's
//! allocator keeps its own 19 MiB Argon2 blocks. A fixed pool sized to the cores keeps both
//! the memory and the page-serving workers safe during a storm of sign-ins.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use argon2::password_hash::rand_core::OsRng;
use std::cell::RefCell;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use tokio::sync::oneshot;

use crate::domain::config::{HashParams, Hashing};

type Job = Box<dyn FnOnce(bool) + Send>;

#[derive(Clone)]
pub struct Hasher {
    queue: mpsc::Sender<(Instant, Job)>,
    argon2: Arc<Argon2<'static>>,
    /// SECURITY: unknown emails are verified against this, so they cost the same time.
    dummy_hash: Arc<str>,
    /// Argon2 computations run so far: how much hashing work requests caused.
    runs: Arc<std::sync::atomic::AtomicU64>,
    /// Jobs submitted and not yet started (the metrics' hashing queue).
    waiting: Arc<std::sync::atomic::AtomicI64>,
}

/// The hashing threads' nice value. When sign-ins and page views compete for the cores, the
/// scheduler gives page views about three times the share of a hashing thread, so a storm of
/// sign-ins cannot starve them; alone, hashing still has every idle core. Measured with the
/// load run (docs/performance.md): page-view p99 during a storm 3.1x its calm value at 0,
/// 1.9x at 5, 1.5x at 10, where sign-ins during the storm fell to half.
const HASH_NICE: i32 = 5;

/// Lowers the calling thread's priority by `HASH_NICE` from where the process runs. On Linux
/// a nice value belongs to one thread, so this leaves the rest of the process alone; elsewhere
/// it is not done.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let lowered = getpriority_process(None)
            .and_then(|now| setpriority_process(None, (now + HASH_NICE).min(19)));
        if let Err(e) = lowered {
            log::warn!("could not lower the hashing thread's priority: {e}");
        }
    }
}

/// What hashing can fail with.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread was busy for longer than a request may wait (or they stopped).
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed: {0:#}")]
    Failed(anyhow::Error),
}

pub struct Verified {
    pub matches: bool,
    pub needs_rehash: bool,
}

impl Hasher {
    pub fn new(hashing: &Hashing) -> anyhow::Result<Self> {
        let (params, workers) = (&hashing.params, hashing.workers);
        let max_wait = hashing.max_queue_wait;
        let argon2 = Arc::new(argon2_for(params)?);
        let dummy_hash = hash_with(&argon2, "realmgate dummy password")?.into();
        let (queue, rx) = mpsc::channel::<(Instant, Job)>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..workers.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let next = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        let Ok((queued_at, job)) = next else { return };
                        job(queued_at.elapsed() <= max_wait);
                    }
                })?;
        }
        Ok(Self {
            queue,
            argon2,
            dummy_hash,
            runs: Arc::default(),
            waiting: Arc::default(),
        })
    }

    fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<Option<T>>, HashError> {
        let (tx, rx) = oneshot::channel();
        let argon2 = Arc::clone(&self.argon2);
        let runs = Arc::clone(&self.runs);
        let waiting = Arc::clone(&self.waiting);
        waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let job: Job = Box::new(move |fresh| {
            waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let _ = tx.send(fresh.then(|| {
                runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                work(&argon2)
            }));
        });
        self.queue.send((Instant::now(), job)).map_err(|_| {
            self.waiting
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            HashError::Busy
        })?;
        Ok(rx)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        finish(self.submit(work)?.await)
    }

    /// Jobs waiting for a hashing thread now.
    pub fn waiting(&self) -> i64 {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many Argon2 computations the hashing threads have run.
    pub fn runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// For background threads (never an async worker): waits for a hashing thread.
    pub fn hash_blocking(&self, password: String) -> Result<String, HashError> {
        let rx = self.submit(move |argon2| hash_with(argon2, &password))?;
        finish(rx.blocking_recv())?.map_err(HashError::Failed)
    }

    /// Checks `password` against `hash`, or against the dummy hash when there is no account.
    pub async fn verify(
        &self,
        hash: Option<String>,
        password: String,
    ) -> Result<Verified, HashError> {
        let dummy = Arc::clone(&self.dummy_hash);
        self.run(move |argon2| {
            let real = hash.is_some();
            let stored = hash.unwrap_or_else(|| dummy.to_string());
            let Ok(parsed) = PasswordHash::new(&stored) else {
                log::error!("a stored password hash is not in PHC format");
                return Verified {
                    matches: false,
                    needs_rehash: false,
                };
            };
            let matches = verify_stored(password.as_bytes(), &parsed) && real;
            Verified {
                matches,
                needs_rehash: matches && is_outdated(argon2, &parsed),
            }
        })
        .await
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |argon2| hash_with(argon2, &password))
            .await?
            .map_err(HashError::Failed)
    }
}

fn finish<T>(received: Result<Option<T>, oneshot::error::RecvError>) -> Result<T, HashError> {
    match received {
        Ok(Some(result)) => Ok(result),
        Ok(None) => {
            log::warn!("the password hashing queue is too long: a request waited past its limit");
            Err(HashError::Busy)
        }
        Err(_) => Err(HashError::Busy),
    }
}

fn argon2_for(params: &HashParams) -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes on the calling thread: for the command line, which has no request to keep fast.
pub fn hash_now(params: &HashParams, password: &str) -> anyhow::Result<String> {
    hash_with(&argon2_for(params)?, password)
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    compute(
        argon2,
        Algorithm::Argon2id,
        password.as_bytes(),
        salt.as_salt(),
    )
    .map(|h| h.to_string())
    .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

thread_local! {
    /// This thread's Argon2 memory (19 MiB with the SPEC's parameters), reused by every
    /// hash the thread computes: allocating it per hash made the allocator keep many such
    /// blocks and zero each new one.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// What `PasswordHasher::hash_password` does, but in this thread's reused memory.
fn compute<'a>(
    argon2: &Argon2<'_>,
    algorithm: Algorithm,
    password: &[u8],
    salt: Salt<'a>,
) -> password_hash::Result<PasswordHash<'a>> {
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let output_len = argon2
        .params()
        .output_len()
        .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output =
        BLOCKS.with(|cell| {
            let mut blocks = cell.borrow_mut();
            let need = argon2.params().block_count();
            if blocks.len() != need {
                blocks.clear();
                blocks.resize(need, Block::default());
            }
            Output::init_with(output_len, |out| {
                Ok(argon2.hash_password_into_with_memory(
                    password,
                    salt_bytes,
                    out,
                    &mut blocks[..],
                )?)
            })
        })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Checks `password` against a stored PHC string, with the parameters the string names.
fn verify_stored(password: &[u8], parsed: &PasswordHash<'_>) -> bool {
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let Ok(params) = Params::try_from(parsed) else {
        return false;
    };
    let params = match Params::new(
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        Some(expected.len()),
    ) {
        Ok(p) => p,
        Err(_) => return false,
    };
    let argon2 = Argon2::new(algorithm, version, params);
    // `Output`'s equality is constant-time.
    compute(&argon2, algorithm, password, salt).is_ok_and(|h| h.hash == Some(expected))
}

fn is_outdated(argon2: &Argon2<'_>, parsed: &PasswordHash<'_>) -> bool {
    parsed.algorithm != argon2::ARGON2ID_IDENT
        || parsed.version != Some(Version::V0x13.into())
        || Params::try_from(parsed).map_or(true, |p| {
            let want = argon2.params();
            p.m_cost() != want.m_cost()
                || p.t_cost() != want.t_cost()
                || p.p_cost() != want.p_cost()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of every thread of this process whose name starts with `prefix`.
    #[cfg(target_os = "linux")]
    fn nice_of_threads(prefix: &str) -> Vec<i32> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // Fields after the parenthesised name start at field 3; nice is field 19.
            let after_name = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
            if let Some(nice) = after_name.split(' ').nth(16) {
                found.push(nice.parse().unwrap());
            }
        }
        found
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn hashing_threads_run_at_a_lower_priority() {
        let own = || -> i32 {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after_name = stat.rsplit_once(") ").unwrap().1;
            after_name.split(' ').nth(16).unwrap().parse().unwrap()
        };
        let before = own();
        let _hasher = Hasher::new(&Hashing {
            params: HashParams::danger_insecure_test_params(),
            workers: 2,
            max_queue_wait: std::time::Duration::from_secs(5),
        })
        .unwrap();
        // Relative to where the tests run (which may itself be niced), capped at 19.
        let expected = (before + HASH_NICE).min(19);
        assert!(HASH_NICE > 0 && expected > before);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let nice = nice_of_threads("argon2-");
            if nice.len() >= 2 && nice.iter().all(|&n| n == expected) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "argon2 threads' nice values: {nice:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Only the hashing threads: the thread that built the hasher keeps its priority.
        assert_eq!(own(), before);
    }

    #[actix_web::test]
    async fn verifies_and_flags_outdated_hashes() {
        let weak = HashParams::danger_insecure_test_params();
        let hasher = Hasher::new(&Hashing {
            params: weak.clone(),
            workers: 1,
            max_queue_wait: std::time::Duration::from_secs(5),
        })
        .unwrap();
        let hash = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let ok = hasher
            .verify(Some(hash.clone()), "correct horse battery".into())
            .await
            .unwrap();
        assert!(ok.matches && !ok.needs_rehash);
        let bad = hasher
            .verify(Some(hash.clone()), "wrong".into())
            .await
            .unwrap();
        assert!(!bad.matches);
        let unknown = hasher
            .verify(None, "realmgate dummy password".into())
            .await
            .unwrap();
        assert!(!unknown.matches, "the dummy hash never signs anyone in");

        // Our hashes are standard PHC strings the crate's own verifier accepts, and back.
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        let v = hasher
            .verify(Some(theirs), "correct horse battery".into())
            .await
            .unwrap();
        assert!(
            v.matches && v.needs_rehash,
            "default params differ from the test ones"
        );

        let stronger = HashParams { t_cost: 2, ..weak };
        let other = Hasher::new(&Hashing {
            params: stronger,
            workers: 1,
            max_queue_wait: std::time::Duration::from_secs(5),
        })
        .unwrap();
        let v = other
            .verify(Some(hash), "correct horse battery".into())
            .await
            .unwrap();
        assert!(v.matches && v.needs_rehash);
    }
}
