//! Settings, parsed once from `REALMGATE_*` variables into typed values.
//!
//! Parsing takes a lookup function instead of reading the process environment directly, so
//! tests build a `Config` from a map without racing each other over process-wide state.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use ipnet::IpNet;

use crate::domain::realm::Realm;

#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

/// Every bad setting found, one line each.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

/// The errors of one pass over the settings.
#[derive(Default)]
struct Errors(std::cell::RefCell<Vec<ConfigError>>);

impl Errors {
    fn add(&self, e: ConfigError) {
        self.0.borrow_mut().push(e);
    }

    /// The value, or (recording the error) the fallback in its place.
    fn or<T>(&self, result: Result<T, ConfigError>, fallback: T) -> T {
        result.unwrap_or_else(|e| {
            self.add(e);
            fallback
        })
    }
}

fn err(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        message: message.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpChangePolicy {
    Log,
    Revoke,
}

#[derive(Clone, Debug)]
pub struct RealmTimeouts {
    pub idle: Duration,
    pub absolute: Duration,
    pub ip_change: IpChangePolicy,
}

/// Argon2id cost. Production uses the SPEC's parameters; tests use the cheapest legal ones.
#[derive(Clone, Debug)]
pub struct HashParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl HashParams {
    pub fn spec() -> Self {
        Self {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }

    /// Fast and weak: for tests only.
    pub fn danger_insecure_test_params() -> Self {
        Self {
            m_cost_kib: 8,
            t_cost: 1,
            p_cost: 1,
        }
    }
}

/// The origin (`scheme://host[:port]`) the portal is reached at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl PublicUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim_end_matches('/');
        let (https, rest) = if let Some(rest) = raw.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = raw.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("must start with http:// or https://".into());
        };
        if rest.contains('/') || rest.contains('?') || rest.contains('@') || rest.is_empty() {
            return Err("must be an origin such as https://portal.example (no path)".into());
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = split_authority(rest, default_port)
            .ok_or_else(|| "has an invalid host or port".to_string())?;
        Ok(Self { https, host, port })
    }

    /// `scheme://host[:port]` as a browser sends it in `Origin`.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let default_port = if self.https { 443 } else { 80 };
        if self.port == default_port {
            format!("{scheme}://{}", self.host)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Splits `host[:port]` (IPv6 in brackets) into a lower-cased host and a port.
pub fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &authority[..end + 2];
        match &rest[end + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
    {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Every setting, in sections; each consumer takes the section it needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub server: Server,
    pub cookie: CookieSettings,
    pub realms: Realms,
    pub lockout: LockoutPolicy,
    pub signup: Signup,
    pub reset: Reset,
    pub mail: MailSettings,
    pub housekeeping: Housekeeping,
    pub hashing: Hashing,
    pub admin: AdminSettings,
    pub observability: Observability,
}

/// Where the portal listens, what it is reached as, and what it trusts of the network.
#[derive(Clone)]
pub struct Server {
    pub bind: SocketAddr,
    pub database_url: String,
    /// `None` means "http:// + the bound address", resolved once the port is known.
    pub public_url: Option<PublicUrl>,
    pub trusted_proxies: Vec<IpNet>,
    /// How long after its headers a request body may take to arrive (SPEC §6).
    pub body_timeout: Duration,
    /// `REALMGATE_DB_POOL_SIZE`: pooled database connections of this instance.
    pub db_pool_size: u32,
    /// `REALMGATE_DB_TIMEOUT`: the longest a request waits for the database (a connection
    /// from the pool, or a new one) before its 503 (SPEC §16).
    pub db_timeout: Duration,
}

impl Server {
    pub fn backend(&self) -> Backend {
        Backend::of(&self.database_url)
    }
}

/// SECURITY: a PostgreSQL URL carries its password; Debug shows the URL without it.
impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("bind", &self.bind)
            .field("database_url", &redact_database_url(&self.database_url))
            .field("public_url", &self.public_url)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("body_timeout", &self.body_timeout)
            .field("db_pool_size", &self.db_pool_size)
            .field("db_timeout", &self.db_timeout)
            .finish()
    }
}

/// Which database `REALMGATE_DATABASE_URL` names (SPEC §16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A file path (the embedded default).
    Sqlite,
    /// `postgres://` or `postgresql://`.
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Self {
        let lower = url
            .trim_start()
            .get(..13)
            .unwrap_or(url)
            .to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// The database URL fit for a message or a log line: a PostgreSQL URL's password (in the
/// user part or as a `password=` parameter) becomes `***`. The user part ends at the URL's
/// last `@`, so a password holding an unencoded `?`, `/` or `@` is hidden whole too.
pub fn redact_database_url(url: &str) -> String {
    if Backend::of(url) == Backend::Sqlite {
        return url.to_owned();
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (user, rest) = match rest.rfind('@') {
        Some(at) => {
            let user = &rest[..at];
            let name = user.split_once(':').map_or(user, |(name, _)| name);
            let shown = if user.contains(':') {
                format!("{name}:***@")
            } else {
                format!("{name}@")
            };
            (shown, &rest[at + 1..])
        }
        None => (String::new(), rest),
    };
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => rest.to_owned(),
    };
    format!("{scheme}://{user}{rest}")
}

/// `message` with the URL's password, as written and percent-decoded, replaced by `***`: for
/// a driver's error text, which may quote what it was given.
pub fn scrub_password(message: &str, url: &str) -> String {
    let mut out = message.to_owned();
    let from_user = url
        .split_once("://")
        .and_then(|(_, rest)| rest.rfind('@').map(|at| &rest[..at]))
        .and_then(|user| user.split_once(':').map(|(_, pw)| pw));
    let from_query = url.split_once('?').and_then(|(_, q)| {
        q.split('&').find_map(|pair| {
            pair.split_once('=')
                .filter(|(k, _)| k.eq_ignore_ascii_case("password"))
                .map(|(_, v)| v)
        })
    });
    for pw in [from_user, from_query]
        .into_iter()
        .flatten()
        .filter(|p| p.len() >= 2)
    {
        out = out.replace(pw, "***");
        if let Ok(decoded) = percent_decode(pw) {
            if decoded.len() >= 2 {
                out = out.replace(&decoded, "***");
            }
        }
    }
    out
}

fn percent_decode(raw: &str) -> Result<String, ()> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or(())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// The session cookie's key and flags, and how long the remember cookie (and the session it
/// restores) lasts.
#[derive(Clone, Debug)]
pub struct CookieSettings {
    pub key: SecretKey,
    pub secure: bool,
    pub remember_me: Duration,
}

/// `REALMGATE_SECRET_KEY`: at least 64 bytes; signs and encrypts the session cookie.
/// SECURITY: it never prints.
#[derive(Clone)]
pub struct SecretKey {
    bytes: Vec<u8>,
    generated: bool,
}

impl SecretKey {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True when no key was configured and one was made at start.
    pub fn generated(&self) -> bool {
        self.generated
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Each realm's timeouts and IP-change policy, the single-session policy, and how many live
/// tokens an account may hold.
#[derive(Clone, Debug)]
pub struct Realms {
    pub user: RealmTimeouts,
    pub admin: RealmTimeouts,
    pub api: RealmTimeouts,
    pub single_session: SingleSession,
    /// `REALMGATE_API_MAX_TOKENS`: one more sign-in revokes the least recently used.
    pub api_max_tokens: u32,
}

impl Realms {
    pub fn get(&self, realm: impl Into<Realm>) -> &RealmTimeouts {
        match realm.into() {
            Realm::User => &self.user,
            Realm::Admin => &self.admin,
            Realm::Api => &self.api,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Signup {
    pub enabled: bool,
    pub per_ip: u32,
    /// `REALMGATE_SIGNUP_ORGANISATION`: the slug new accounts join (SPEC §14); that it exists
    /// is checked against the database at start and by `check`.
    pub organisation: String,
}

#[derive(Clone, Debug)]
pub struct Reset {
    pub token_ttl: Duration,
    /// `REALMGATE_INVITE_TTL`: how long the link of an account an admin made without a
    /// password works.
    pub invite_ttl: Duration,
}

/// The periodic cleanup and what happens to sessions at start.
#[derive(Clone, Debug)]
pub struct Housekeeping {
    pub cleanup_interval: Duration,
    pub retention: Duration,
    pub clear_sessions_on_start: bool,
}

/// Argon2id: its pool's size and cost.
#[derive(Clone, Debug)]
pub struct Hashing {
    pub workers: usize,
    pub params: HashParams,
    /// A request that waits longer for a hashing thread gets 503 (SPEC §2: 5 s). Not a
    /// setting; tests shorten it to drive the 503.
    pub max_queue_wait: Duration,
}

#[derive(Clone, Debug)]
pub struct AdminSettings {
    pub bootstrap_email: String,
    /// How old an admin's sign-in may be before a destructive action asks for the password.
    pub reauth: Duration,
    /// `REALMGATE_ADMIN_2FA=required`: an admin without a second factor is held to its page.
    pub two_factor_required: bool,
    /// `REALMGATE_2FA_PENDING_TTL`: how long a sign-in waits for its code.
    pub two_factor_pending_ttl: Duration,
}

/// SPEC §9: lockout, and the flood limit on incidents.
#[derive(Clone, Debug)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub ip_max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
    /// Flood-limited incidents per client IP key, kind and clock minute.
    pub incidents_per_ip: u32,
}

/// `REALMGATE_SINGLE_SESSION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SingleSession {
    Off,
    Block,
    Replace,
}

/// Mail: where it goes, who it is from, and how the outbox retries it (SPEC §8, §17).
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub transport: MailSetting,
    /// `REALMGATE_MAIL_FROM`, checked to be a mailbox. `None`: the default of SPEC §17,
    /// `default_mail_from` of the public URL's host, known only once the port is bound.
    pub from: Option<String>,
    /// `REALMGATE_MAIL_ATTEMPTS`: deliveries tried before a message is marked failed.
    pub attempts: u32,
    /// `REALMGATE_MAIL_RETRY_BASE`: the wait before the first retry; each later one doubles.
    pub retry_base: Duration,
    /// `REALMGATE_NEW_DEVICE_MAIL`: tell an account when a new browser signs in to it.
    pub new_device: bool,
    /// How long an SMTP server may take to answer each step. Not a setting (20 s); tests
    /// shorten it to drive a server that hangs.
    pub smtp_timeout: Duration,
}

/// SPEC §17: `Realmgate <no-reply@HOST>`, HOST the public URL's host, or `localhost` when that
/// is an IP address (no mail domain is an IP address).
pub fn default_mail_from(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let host = if bare.parse::<IpAddr>().is_ok() {
        "localhost"
    } else {
        host
    };
    format!("Realmgate <no-reply@{host}>")
}

/// `REALMGATE_LOG_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// What operators watch: the log's form and the metrics listener (SPEC §17).
#[derive(Clone, Debug)]
pub struct Observability {
    pub log_format: LogFormat,
    /// `REALMGATE_METRICS_BIND`: Prometheus `/metrics` on a listener of its own; off when unset.
    pub metrics_bind: Option<SocketAddr>,
}

/// Where mail goes (`REALMGATE_MAIL`).
#[derive(Clone, PartialEq, Eq)]
pub enum MailSetting {
    /// One file per message in this folder (development).
    File(std::path::PathBuf),
    /// The log, with tokens masked.
    Log,
    /// An `smtp://` or `smtps://` URL, credentials included.
    Smtp(String),
}

/// SECURITY: an SMTP URL carries the mail account's password; its Debug shows the scheme only.
impl std::fmt::Debug for MailSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailSetting::File(dir) => f.debug_tuple("File").field(dir).finish(),
            MailSetting::Log => f.write_str("Log"),
            MailSetting::Smtp(url) => {
                let scheme = url.split("://").next().unwrap_or("smtp");
                write!(f, "Smtp({scheme}://[redacted])")
            }
        }
    }
}

impl Config {
    /// Reads the process environment (after `.env` was loaded by `main`).
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_map(map: &HashMap<&str, &str>) -> Result<Self, ConfigErrors> {
        Self::from_lookup(|name| map.get(name).map(|v| v.to_string()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let (config, errors) = Self::parse(get);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Every setting in one pass: a bad one is reported and its default used in its place, so
    /// the rest are still read and `check` sees every problem at once.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigError>) {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let errors = Errors::default();
        let duration = |setting: &'static str, default: &str| {
            let fallback = humantime::parse_duration(default).unwrap_or(Duration::from_secs(1));
            errors.or(duration(&get, setting, default), fallback)
        };
        let flag = |setting: &'static str, default: bool| match get(setting) {
            Some(raw) => errors.or(parse_bool(setting, &raw), default),
            None => default,
        };
        let count = |setting: &'static str, default: u32| match get(setting) {
            Some(raw) => errors.or(
                raw.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| err(setting, "must be a whole number of at least 1")),
                default,
            ),
            None => default,
        };

        let environment = match get("REALMGATE_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(_) => {
                errors.add(err(
                    "REALMGATE_ENV",
                    "must be `development` or `production`",
                ));
                Environment::Development
            }
        };
        let default_bind = SocketAddr::from(([127, 0, 0, 1], 8080));
        let bind = match get("REALMGATE_BIND") {
            Some(raw) => errors.or(
                raw.parse().map_err(|_| {
                    err(
                        "REALMGATE_BIND",
                        "must be an address such as 127.0.0.1:8080",
                    )
                }),
                default_bind,
            ),
            None => default_bind,
        };
        let mut database_url =
            get("REALMGATE_DATABASE_URL").unwrap_or_else(|| "realmgate.db".into());
        // A mistyped scheme must not become a SQLite file of that name (nor be printed: it
        // may hold a password).
        let scheme = database_url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        if matches!(scheme.as_deref(), Some(s) if !matches!(s, "postgres" | "postgresql" | "sqlite"))
        {
            errors.add(err(
                "REALMGATE_DATABASE_URL",
                "must be a SQLite file path, or a postgres:// or postgresql:// URL",
            ));
            database_url = "realmgate.db".into();
        }

        let public_url = get("REALMGATE_PUBLIC_URL").and_then(|raw| {
            errors.or(
                PublicUrl::parse(&raw)
                    .map(Some)
                    .map_err(|m| err("REALMGATE_PUBLIC_URL", m)),
                None,
            )
        });

        let generated = || SecretKey {
            bytes: crate::domain::crypto::random_bytes::<64>().to_vec(),
            generated: true,
        };
        let key = match get("REALMGATE_SECRET_KEY") {
            Some(raw) => SecretKey {
                bytes: parse_key(&raw).unwrap_or_else(|e| {
                    // Reported; a stand-in key lets the other settings be read.
                    errors.add(e);
                    vec![0; 64]
                }),
                generated: false,
            },
            // A key made at start differs per process: with several instances on one
            // database, each would refuse the others' cookies (SPEC §16).
            None if Backend::of(&database_url) == Backend::Postgres => {
                errors.add(err(
                    "REALMGATE_SECRET_KEY",
                    "is required with PostgreSQL (every instance must share one key)",
                ));
                generated()
            }
            None if environment == Environment::Production => {
                errors.add(err(
                    "REALMGATE_SECRET_KEY",
                    "is required in production (at least 64 bytes, hex or base64)",
                ));
                generated()
            }
            None => generated(),
        };

        let cookie_secure = flag(
            "REALMGATE_COOKIE_SECURE",
            environment == Environment::Production || public_url.as_ref().is_some_and(|u| u.https),
        );

        let ip_policy = |setting| errors.or(ip_policy(&get, setting), IpChangePolicy::Log);
        let user = RealmTimeouts {
            idle: duration("REALMGATE_USER_IDLE_TIMEOUT", "20m"),
            absolute: duration("REALMGATE_USER_ABSOLUTE_TIMEOUT", "24h"),
            ip_change: ip_policy("REALMGATE_USER_IP_CHANGE"),
        };
        let admin = RealmTimeouts {
            idle: duration("REALMGATE_ADMIN_IDLE_TIMEOUT", "20m"),
            absolute: duration("REALMGATE_ADMIN_ABSOLUTE_TIMEOUT", "12h"),
            ip_change: ip_policy("REALMGATE_ADMIN_IP_CHANGE"),
        };
        let api = RealmTimeouts {
            idle: duration("REALMGATE_API_IDLE_TIMEOUT", "14d"),
            absolute: duration("REALMGATE_API_ABSOLUTE_TIMEOUT", "90d"),
            ip_change: ip_policy("REALMGATE_API_IP_CHANGE"),
        };

        let trusted_proxies = get("REALMGATE_TRUSTED_PROXIES")
            .map(|raw| errors.or(parse_proxies(&raw), Vec::new()))
            .unwrap_or_default();

        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hash_workers = match get("REALMGATE_HASH_WORKERS") {
            Some(raw) => errors.or(
                raw.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| err("REALMGATE_HASH_WORKERS", "must be a number from 1 to 256")),
                cores,
            ),
            None => cores,
        };

        let mut bootstrap_admin_email =
            get("REALMGATE_BOOTSTRAP_ADMIN_EMAIL").unwrap_or_else(|| "admin@localhost".into());
        if crate::domain::Email::parse(&bootstrap_admin_email).is_err() {
            errors.add(err(
                "REALMGATE_BOOTSTRAP_ADMIN_EMAIL",
                "is not a valid email address",
            ));
            bootstrap_admin_email = "admin@localhost".into();
        }

        let signup_enabled = flag("REALMGATE_SIGNUP", true);
        let signup_per_ip = match get("REALMGATE_SIGNUP_PER_IP") {
            Some(raw) => errors.or(
                raw.trim()
                    .parse::<u32>()
                    .map_err(|_| err("REALMGATE_SIGNUP_PER_IP", "must be a whole number")),
                10,
            ),
            None => 10,
        };
        let signup_organisation = match get("REALMGATE_SIGNUP_ORGANISATION") {
            None => "default".to_owned(),
            Some(raw) => errors.or(
                crate::domain::organisation::Slug::parse(raw.trim())
                    .map(|s| s.as_str().to_owned())
                    .map_err(|m| err("REALMGATE_SIGNUP_ORGANISATION", m)),
                "default".to_owned(),
            ),
        };
        let default_mail = || MailSetting::File("mail-outbox".into());
        let mail = match get("REALMGATE_MAIL") {
            None => default_mail(),
            Some(raw) => errors.or(parse_mail(raw.trim()), default_mail()),
        };

        let mail_from = get("REALMGATE_MAIL_FROM").and_then(|raw| {
            let raw = raw.trim().to_owned();
            match raw.parse::<lettre::message::Mailbox>() {
                Ok(_) if !raw.chars().any(char::is_control) => Some(raw),
                _ => {
                    errors.add(err(
                        "REALMGATE_MAIL_FROM",
                        "must be an address such as `Realmgate <no-reply@portal.example>`",
                    ));
                    None
                }
            }
        });
        let log_format = match get("REALMGATE_LOG_FORMAT") {
            None => LogFormat::Text,
            Some(raw) => LogFormat::parse(&raw).unwrap_or_else(|| {
                errors.add(err("REALMGATE_LOG_FORMAT", "must be `text` or `json`"));
                LogFormat::Text
            }),
        };
        let metrics_bind = get("REALMGATE_METRICS_BIND").and_then(|raw| {
            errors.or(
                raw.trim().parse().map(Some).map_err(|_| {
                    err(
                        "REALMGATE_METRICS_BIND",
                        "must be an address such as 127.0.0.1:9090",
                    )
                }),
                None,
            )
        });

        let lockout = LockoutPolicy {
            max_failures: count("REALMGATE_LOGIN_MAX_FAILURES", 5),
            ip_max_failures: count("REALMGATE_IP_MAX_FAILURES", 50),
            window: duration("REALMGATE_LOGIN_WINDOW", "15m"),
            lockout: duration("REALMGATE_LOCKOUT", "15m"),
            incidents_per_ip: count("REALMGATE_INCIDENTS_PER_IP", 60),
        };
        let single_session = match get("REALMGATE_SINGLE_SESSION").as_deref().map(str::trim) {
            None | Some("off") => SingleSession::Off,
            Some("block") => SingleSession::Block,
            Some("replace") => SingleSession::Replace,
            Some(_) => {
                errors.add(err(
                    "REALMGATE_SINGLE_SESSION",
                    "must be `off`, `block` or `replace`",
                ));
                SingleSession::Off
            }
        };

        let clear_sessions_on_start = flag("REALMGATE_CLEAR_SESSIONS_ON_START", false);
        let two_factor_required = match get("REALMGATE_ADMIN_2FA").as_deref().map(str::trim) {
            None => environment == Environment::Production,
            Some("required") => true,
            Some("optional") => false,
            Some(_) => {
                errors.add(err(
                    "REALMGATE_ADMIN_2FA",
                    "must be `required` or `optional`",
                ));
                environment == Environment::Production
            }
        };

        let config = Self {
            environment,
            server: Server {
                bind,
                database_url,
                public_url,
                trusted_proxies,
                body_timeout: duration("REALMGATE_BODY_TIMEOUT", "10s"),
                db_pool_size: count("REALMGATE_DB_POOL_SIZE", 8),
                db_timeout: duration("REALMGATE_DB_TIMEOUT", "5s"),
            },
            cookie: CookieSettings {
                key,
                secure: cookie_secure,
                remember_me: duration("REALMGATE_REMEMBER_ME", "14d"),
            },
            realms: Realms {
                user,
                admin,
                api,
                single_session,
                api_max_tokens: count("REALMGATE_API_MAX_TOKENS", 20),
            },
            lockout,
            signup: Signup {
                enabled: signup_enabled,
                per_ip: signup_per_ip,
                organisation: signup_organisation,
            },
            reset: Reset {
                token_ttl: duration("REALMGATE_RESET_TOKEN_TTL", "1h"),
                invite_ttl: duration("REALMGATE_INVITE_TTL", "7d"),
            },
            mail: MailSettings {
                transport: mail,
                from: mail_from,
                attempts: count("REALMGATE_MAIL_ATTEMPTS", 8),
                retry_base: duration("REALMGATE_MAIL_RETRY_BASE", "30s"),
                new_device: flag("REALMGATE_NEW_DEVICE_MAIL", true),
                smtp_timeout: Duration::from_secs(20),
            },
            housekeeping: Housekeeping {
                cleanup_interval: duration("REALMGATE_CLEANUP_INTERVAL", "5m"),
                retention: duration("REALMGATE_RETENTION", "365d"),
                clear_sessions_on_start,
            },
            hashing: Hashing {
                workers: hash_workers,
                params: HashParams::spec(),
                max_queue_wait: Duration::from_secs(5),
            },
            admin: AdminSettings {
                bootstrap_email: bootstrap_admin_email,
                reauth: duration("REALMGATE_ADMIN_REAUTH", "10m"),
                two_factor_required,
                two_factor_pending_ttl: duration("REALMGATE_2FA_PENDING_TTL", "5m"),
            },
            observability: Observability {
                log_format,
                metrics_bind,
            },
        };
        (config, errors.0.into_inner())
    }

    pub fn is_development(&self) -> bool {
        self.environment == Environment::Development
    }
}

fn parse_mail(raw: &str) -> Result<MailSetting, ConfigError> {
    if raw == "log" {
        Ok(MailSetting::Log)
    } else if let Some(dir) = raw.strip_prefix("file:") {
        if dir.is_empty() {
            return Err(err(
                "REALMGATE_MAIL",
                "file: needs a folder, as in file:mail-outbox",
            ));
        }
        Ok(MailSetting::File(dir.into()))
    } else if raw.starts_with("smtp://") || raw.starts_with("smtps://") {
        lettre::SmtpTransport::from_url(raw)
            .map_err(|_| err("REALMGATE_MAIL", "is not a valid smtp:// or smtps:// URL"))?;
        Ok(MailSetting::Smtp(raw.to_owned()))
    } else {
        Err(err(
            "REALMGATE_MAIL",
            "must be file:DIR, log, or an smtp:// or smtps:// URL",
        ))
    }
}

fn parse_key(raw: &str) -> Result<Vec<u8>, ConfigError> {
    let raw = raw.trim();
    let bytes = hex::decode(raw)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(raw).ok())
        .or_else(|| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(raw)
                .ok()
        })
        .ok_or_else(|| err("REALMGATE_SECRET_KEY", "must be hex or base64"))?;
    if bytes.len() < 64 {
        return Err(err(
            "REALMGATE_SECRET_KEY",
            format!("must decode to at least 64 bytes (got {})", bytes.len()),
        ));
    }
    Ok(bytes)
}

fn parse_bool(setting: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(err(setting, "must be true or false")),
    }
}

fn duration(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let raw = get(setting).unwrap_or_else(|| default.into());
    let d = humantime::parse_duration(raw.trim()).map_err(|e| {
        err(
            setting,
            format!("is not a duration such as 20m or 24h ({e})"),
        )
    })?;
    if d < Duration::from_secs(1) {
        return Err(err(setting, "must be at least 1s"));
    }
    Ok(d)
}

fn ip_policy(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static str,
) -> Result<IpChangePolicy, ConfigError> {
    match get(setting).as_deref().map(str::trim) {
        None | Some("log") => Ok(IpChangePolicy::Log),
        Some("revoke") => Ok(IpChangePolicy::Revoke),
        Some(_) => Err(err(setting, "must be `log` or `revoke`")),
    }
}

fn parse_proxies(raw: &str) -> Result<Vec<IpNet>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    err(
                        "REALMGATE_TRUSTED_PROXIES",
                        format!("`{s}` is not an IP address or CIDR"),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let c = Config::from_map(&HashMap::new()).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.realms.user.idle, Duration::from_secs(20 * 60));
        assert_eq!(c.realms.admin.absolute, Duration::from_secs(12 * 3600));
        assert_eq!(c.realms.user.absolute, Duration::from_secs(24 * 3600));
        assert_eq!(c.realms.api.idle, Duration::from_secs(14 * 86400));
        assert_eq!(c.realms.api.absolute, Duration::from_secs(90 * 86400));
        assert_eq!(c.realms.api.ip_change, IpChangePolicy::Log);
        assert_eq!(c.realms.api_max_tokens, 20);
        assert_eq!(c.signup.organisation, "default");
        assert!(!c.admin.two_factor_required, "optional outside production");
        assert_eq!(c.admin.two_factor_pending_ttl, Duration::from_secs(300));
        assert!(!c.cookie.secure);
        assert!(c.cookie.key.generated());
        assert_eq!(c.cookie.key.as_bytes().len(), 64);
        assert_eq!(c.mail.transport, MailSetting::File("mail-outbox".into()));
        assert_eq!(c.cookie.remember_me, Duration::from_secs(14 * 86400));
        assert_eq!(c.reset.token_ttl, Duration::from_secs(3600));
        assert!(c.signup.enabled);
        assert_eq!(c.signup.per_ip, 10);
        assert_eq!(c.lockout.incidents_per_ip, 60);
        assert_eq!(c.server.db_pool_size, 8);
        assert_eq!(c.server.db_timeout, Duration::from_secs(5));
        assert_eq!(format!("{:?}", c.cookie.key), "SecretKey([redacted])");
    }

    #[test]
    fn debug_prints_no_secret() {
        let key = "cd".repeat(64);
        let m = HashMap::from([
            ("REALMGATE_SECRET_KEY", key.as_str()),
            ("REALMGATE_MAIL", "smtps://mailer:pa55word@mail.example:465"),
        ]);
        let shown = format!("{:?}", Config::from_map(&m).unwrap());
        assert!(
            !shown.contains("pa55word") && !shown.contains("cdcdcd"),
            "{shown}"
        );
        assert!(shown.contains("Smtp(smtps://[redacted])"), "{shown}");
    }

    #[test]
    fn database_urls_pick_the_backend_and_never_print_a_password() {
        assert_eq!(Backend::of("realmgate.db"), Backend::Sqlite);
        assert_eq!(Backend::of("postgresql://h/db"), Backend::Postgres);
        for (url, shown) in [
            (
                "postgres://rg:s3cret@db.internal:5432/rg",
                "postgres://rg:***@db.internal:5432/rg",
            ),
            (
                "postgresql://rg@db/rg?sslmode=require&password=s3cret",
                "postgresql://rg@db/rg?sslmode=require&password=***",
            ),
            ("postgres://rg:p%40ss@db", "postgres://rg:***@db"),
            ("data/realmgate.db", "data/realmgate.db"),
            ("postgres://rg:pa?ss/w@rd@db/rg", "postgres://rg:***@db/rg"),
            ("Postgres://rg:pw@db", "Postgres://rg:***@db"),
        ] {
            assert_eq!(redact_database_url(url), shown);
        }
        let m = HashMap::from([
            ("REALMGATE_DATABASE_URL", "postgres://rg:s3cret@db/rg"),
            ("REALMGATE_SECRET_KEY", "ab".repeat(64).leak() as &str),
        ]);
        let shown = format!("{:?}", Config::from_map(&m).unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            scrub_password(
                "auth failed for p@ss/x and p%40ss/x",
                "postgres://rg:p%40ss/x@db/rg"
            ),
            "auth failed for *** and ***"
        );
        for wrong in ["pg://rg:s3cret@db/rg", "mysql://db/rg"] {
            let m = HashMap::from([("REALMGATE_DATABASE_URL", wrong)]);
            let e = Config::from_map(&m).unwrap_err();
            assert_eq!(e.0[0].setting, "REALMGATE_DATABASE_URL");
            assert!(!e.to_string().contains("s3cret"));
        }
        // SPEC §16: with PostgreSQL, a key made up per process is refused.
        let m = HashMap::from([("REALMGATE_DATABASE_URL", "postgres://rg@db/rg")]);
        assert_eq!(
            Config::from_map(&m).unwrap_err().0[0].setting,
            "REALMGATE_SECRET_KEY"
        );
    }

    #[test]
    fn one_pass_reports_every_bad_setting() {
        let m = HashMap::from([
            ("REALMGATE_BIND", "nowhere"),
            ("REALMGATE_LOGIN_WINDOW", "soon"),
            ("REALMGATE_SINGLE_SESSION", "maybe"),
        ]);
        let errors = Config::from_map(&m).unwrap_err();
        let settings: Vec<&str> = errors.0.iter().map(|e| e.setting).collect();
        assert_eq!(
            settings,
            [
                "REALMGATE_BIND",
                "REALMGATE_LOGIN_WINDOW",
                "REALMGATE_SINGLE_SESSION"
            ]
        );
        assert_eq!(errors.to_string().lines().count(), 3);
    }

    #[test]
    fn production_needs_a_long_key_and_is_secure() {
        let m = HashMap::from([("REALMGATE_ENV", "production")]);
        let e = Config::from_map(&m).unwrap_err();
        assert_eq!(e.0[0].setting, "REALMGATE_SECRET_KEY");
        let short = "ab".repeat(63);
        let m = HashMap::from([
            ("REALMGATE_ENV", "production"),
            ("REALMGATE_SECRET_KEY", &short),
        ]);
        assert_eq!(
            Config::from_map(&m).unwrap_err().0[0].setting,
            "REALMGATE_SECRET_KEY"
        );
        let long = "ab".repeat(64);
        let m = HashMap::from([
            ("REALMGATE_ENV", "production"),
            ("REALMGATE_SECRET_KEY", &long),
        ]);
        assert!(Config::from_map(&m).unwrap().cookie.secure);
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (k, v) in [
            ("REALMGATE_USER_IDLE_TIMEOUT", "soon"),
            ("REALMGATE_BIND", "nowhere"),
            ("REALMGATE_TRUSTED_PROXIES", "10.0.0.0/8,banana"),
            ("REALMGATE_ADMIN_IP_CHANGE", "maybe"),
            ("REALMGATE_PUBLIC_URL", "ftp://x"),
            ("REALMGATE_COOKIE_SECURE", "perhaps"),
            ("REALMGATE_MAIL", "carrier-pigeon"),
            ("REALMGATE_SIGNUP", "sometimes"),
            ("REALMGATE_REMEMBER_ME", "forever"),
            ("REALMGATE_LOGIN_MAX_FAILURES", "0"),
            ("REALMGATE_SINGLE_SESSION", "sometimes"),
            ("REALMGATE_CLEAR_SESSIONS_ON_START", "maybe"),
            ("REALMGATE_RETENTION", "long"),
            ("REALMGATE_API_IDLE_TIMEOUT", "a while"),
            ("REALMGATE_API_IP_CHANGE", "sometimes"),
            ("REALMGATE_API_MAX_TOKENS", "0"),
            ("REALMGATE_SIGNUP_ORGANISATION", "Not A Slug"),
            ("REALMGATE_ADMIN_2FA", "sometimes"),
            ("REALMGATE_2FA_PENDING_TTL", "soon"),
        ] {
            let m = HashMap::from([(k, v)]);
            assert_eq!(Config::from_map(&m).unwrap_err().0[0].setting, k);
        }
    }

    #[test]
    fn https_public_url_makes_cookies_secure() {
        let m = HashMap::from([("REALMGATE_PUBLIC_URL", "https://Portal.Example/")]);
        let c = Config::from_map(&m).unwrap();
        assert!(c.cookie.secure);
        let u = c.server.public_url.unwrap();
        assert_eq!(u.origin(), "https://portal.example");
    }

    #[test]
    fn authority_split() {
        assert_eq!(
            split_authority("[::1]:8080", 80),
            Some(("[::1]".into(), 8080))
        );
        assert_eq!(
            split_authority("LocalHost", 80),
            Some(("localhost".into(), 80))
        );
        assert_eq!(split_authority("evil.example:x", 80), None);
        assert_eq!(split_authority("a b", 80), None);
    }

    #[test]
    fn the_default_sender_is_the_public_host_or_localhost() {
        assert_eq!(
            default_mail_from("portal.example"),
            "Realmgate <no-reply@portal.example>"
        );
        assert_eq!(
            default_mail_from("127.0.0.1"),
            "Realmgate <no-reply@localhost>"
        );
        assert_eq!(default_mail_from("[::1]"), "Realmgate <no-reply@localhost>");
        let (c, errors) = Config::parse(|k| {
            (k == "REALMGATE_MAIL_FROM").then(|| "Ops <ops@portal.example>".to_owned())
        });
        assert!(errors.is_empty());
        assert_eq!(c.mail.from.as_deref(), Some("Ops <ops@portal.example>"));
        for bad in ["no-reply", "a@b@c", "Realmgate <no-reply@x>\nBcc: y@z"] {
            let (_, errors) =
                Config::parse(|k| (k == "REALMGATE_MAIL_FROM").then(|| bad.to_owned()));
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].setting, "REALMGATE_MAIL_FROM");
        }
    }
}
