//! `realmgate check`: every configuration problem, one line each (SPEC §12).

use std::fmt;

use crate::domain::config::{Config, Environment, MailSetting};

use crate::db::{accounts, organisations};
use crate::domain::Email;

#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    Error(String),
    Warning(String),
}

impl Problem {
    pub fn is_error(&self) -> bool {
        matches!(self, Problem::Error(_))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Error(m) => write!(f, "error: {m}"),
            Problem::Warning(m) => write!(f, "warning: {m}"),
        }
    }
}

/// A SQLite path with no file yet, in an existing folder this process may write to.
fn will_be_created(url: &str) -> bool {
    if crate::db::Backend::of(url) != crate::db::Backend::Sqlite {
        return false;
    }
    let path = std::path::Path::new(url.trim_start_matches("sqlite://"));
    let folder = match path.parent() {
        Some(p) if p.as_os_str().is_empty() => std::path::Path::new("."),
        Some(p) => p,
        None => return false,
    };
    !path.exists()
        && std::fs::metadata(folder)
            .map(|m| m.is_dir() && !m.permissions().readonly())
            .unwrap_or(false)
}

/// What the start's parse cannot see in a `REALMGATE_MAIL` URL that lettre accepts: mail (and
/// the mail account's password) sent unencrypted, and parameters that do nothing. SECURITY: no
/// line quotes the URL, which holds the password.
fn smtp_url_problems(url: &str, production: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", url));
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = authority.split('/').next().unwrap_or(authority);
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let mut tls = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("tls", value)) => tls = Some(value),
            _ => problems.push(Problem::Warning(format!(
                "REALMGATE_MAIL: the parameter `{}` does nothing (only `tls=required` or `tls=opportunistic` is read)",
                pair.split('=').next().unwrap_or(pair)
            ))),
        }
    }
    let encrypted = scheme == "smtps" || tls == Some("required");
    if !encrypted && !loopback {
        let with_password = credentials.is_some_and(|c| c.contains(':'));
        let what = if tls == Some("opportunistic") {
            "smtp:// with tls=opportunistic falls back to plain text when STARTTLS is refused"
        } else {
            "smtp:// without tls=required sends mail unencrypted"
        };
        if with_password {
            let message = format!(
                "REALMGATE_MAIL: {what}, the mail account's password too; use `smtp://…:587?tls=required` (STARTTLS) or `smtps://…:465`"
            );
            problems.push(if production {
                Problem::Error(message)
            } else {
                Problem::Warning(message)
            });
        } else {
            problems.push(Problem::Warning(format!(
                "REALMGATE_MAIL: {what}; use `?tls=required` (STARTTLS) or `smtps://`"
            )));
        }
    }
    problems
}

pub fn run(get: impl Fn(&str) -> Option<String>) -> Vec<Problem> {
    // One pass reports every bad setting and reads the rest, so the checks below still run.
    let (config, errors) = Config::parse(get);
    let mut problems: Vec<Problem> = errors
        .iter()
        .map(|e| Problem::Error(e.to_string()))
        .collect();

    let production = config.environment == Environment::Production;
    if production {
        if !config.cookie.secure {
            problems.push(Problem::Error(
                "REALMGATE_COOKIE_SECURE: cookies must be Secure in production".into(),
            ));
        }
        match &config.server.public_url {
            Some(url) if url.https => {}
            _ => problems.push(Problem::Error(
                "REALMGATE_PUBLIC_URL: must be an https:// URL in production".into(),
            )),
        }
        match config.mail.transport {
            MailSetting::Smtp(_) => {}
            MailSetting::Log | MailSetting::File(_) => problems.push(Problem::Error(
                "REALMGATE_MAIL: production needs an smtp:// or smtps:// mailer (log and file: keep links on this machine)".into(),
            )),
        }
        if !config.admin.two_factor_required {
            problems.push(Problem::Warning(
                "REALMGATE_ADMIN_2FA=optional in production: a stolen admin password opens the console".into(),
            ));
        }
    } else if config.cookie.key.generated() {
        problems.push(Problem::Warning(
            "REALMGATE_SECRET_KEY: not set; a random key is made at each start, so a restart signs everyone out".into(),
        ));
    }

    if let MailSetting::Smtp(url) = &config.mail.transport {
        problems.extend(smtp_url_problems(url, production));
    }

    for (realm, t) in [
        ("USER", &config.realms.user),
        ("ADMIN", &config.realms.admin),
        ("API", &config.realms.api),
    ] {
        if t.idle > t.absolute {
            problems.push(Problem::Warning(format!(
                "REALMGATE_{realm}_IDLE_TIMEOUT ({}) is longer than REALMGATE_{realm}_ABSOLUTE_TIMEOUT ({}); the absolute bound wins",
                humantime::format_duration(t.idle),
                humantime::format_duration(t.absolute)
            )));
        }
    }
    if config.cookie.remember_me < config.realms.user.idle {
        problems.push(Problem::Warning(
            "REALMGATE_REMEMBER_ME is shorter than the user idle timeout; remembered sessions end sooner than ordinary ones".into(),
        ));
    }
    if config.lockout.lockout < std::time::Duration::from_secs(60) {
        problems.push(Problem::Warning(
            "REALMGATE_LOCKOUT is under a minute; it barely slows a guessing attack".into(),
        ));
    }
    if config.lockout.ip_max_failures < config.lockout.max_failures {
        problems.push(Problem::Warning(
            "REALMGATE_IP_MAX_FAILURES is below REALMGATE_LOGIN_MAX_FAILURES; one mistyped password locks a whole network".into(),
        ));
    }
    if config
        .server
        .trusted_proxies
        .iter()
        .any(|net| net.prefix_len() == 0)
    {
        problems.push(Problem::Warning(
            "REALMGATE_TRUSTED_PROXIES trusts every address; anyone can then choose their own client IP".into(),
        ));
    }
    if !production
        && config.server.public_url.as_ref().is_some_and(|u| u.https)
        && !config.cookie.secure
    {
        problems.push(Problem::Warning(
            "REALMGATE_COOKIE_SECURE=false with an https public URL".into(),
        ));
    }

    // The database: reachable, and (in production) no bootstrap admin still unchanged.
    // Opened as it is: `check` must not create a mistyped database or migrate a live one.
    let opened = crate::db::open_existing(&config.server.database_url);
    match opened {
        // A fresh deployment: no file yet, in a folder where the first start can make it.
        Err(_) if will_be_created(&config.server.database_url) => {
            problems.push(Problem::Warning(format!(
                "REALMGATE_DATABASE_URL: the database {} does not exist yet; the first start will create it",
                config.server.database_url
            )))
        }
        Err(e) => problems.push(Problem::Error(format!(
            "REALMGATE_DATABASE_URL: cannot open the database: {e}"
        ))),
        Ok(mut conn) => {
            // A database not yet migrated has no accounts table: then there is no admin either.
            let unchanged = Email::parse(&config.admin.bootstrap_email)
                .ok()
                .and_then(|email| accounts::find_by_email(&mut conn, &email).ok().flatten())
                .map(|a| a.is_admin && a.must_change_password);
            if production && unchanged == Some(true) {
                problems.push(Problem::Error(format!(
                    "the bootstrap admin {} still has its first password; sign in and change it",
                    config.admin.bootstrap_email
                )));
            }
            // Before the first migration there are no organisations, but `default` will be.
            let slug = &config.signup.organisation;
            let exists = organisations::find_by_slug(&mut conn, slug)
                .map(|o| o.is_some())
                .unwrap_or(slug == "default");
            if !exists {
                problems.push(Problem::Error(format!(
                    "REALMGATE_SIGNUP_ORGANISATION: there is no organisation `{slug}` \
                     (make it with `realmgate orgs create`)"
                )));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check(pairs: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db").to_str().unwrap().to_owned();
        let mut map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::db::connect(&db).unwrap();
        map.entry("REALMGATE_DATABASE_URL".into()).or_insert(db);
        run(|k| map.get(k).cloned())
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn production_problems_are_errors_one_per_line() {
        let out = check(&[
            ("REALMGATE_ENV", "production"),
            ("REALMGATE_COOKIE_SECURE", "false"),
        ]);
        let joined = out.join("\n");
        assert!(joined.contains("error: REALMGATE_SECRET_KEY"), "{joined}");
        assert!(
            joined.contains("error: REALMGATE_COOKIE_SECURE"),
            "{joined}"
        );
        assert!(joined.contains("error: REALMGATE_PUBLIC_URL"), "{joined}");
        assert!(joined.contains("error: REALMGATE_MAIL"), "{joined}");
        assert!(
            !joined.contains("REALMGATE_ADMIN_2FA"),
            "required by default in production"
        );
        let out = check(&[
            ("REALMGATE_ENV", "production"),
            ("REALMGATE_ADMIN_2FA", "optional"),
        ]);
        assert!(
            out.iter()
                .any(|l| l.starts_with("warning: REALMGATE_ADMIN_2FA=optional")),
            "{out:?}"
        );
    }

    #[test]
    fn several_bad_settings_are_all_reported() {
        let out = check(&[
            ("REALMGATE_USER_IDLE_TIMEOUT", "soon"),
            ("REALMGATE_BIND", "nowhere"),
        ]);
        assert!(
            out.iter()
                .any(|l| l.starts_with("error: REALMGATE_USER_IDLE_TIMEOUT")),
            "{out:?}"
        );
        assert!(
            out.iter().any(|l| l.starts_with("error: REALMGATE_BIND")),
            "{out:?}"
        );
    }

    #[test]
    fn idle_longer_than_absolute_is_a_warning() {
        let out = check(&[("REALMGATE_ADMIN_IDLE_TIMEOUT", "13h")]);
        assert!(
            out.iter()
                .any(|l| l.starts_with("warning: REALMGATE_ADMIN_IDLE_TIMEOUT")),
            "{out:?}"
        );
        assert!(out.iter().all(|l| !l.starts_with("error:")), "{out:?}");
        let out = check(&[("REALMGATE_API_IDLE_TIMEOUT", "100d")]);
        assert!(
            out.iter()
                .any(|l| l.starts_with("warning: REALMGATE_API_IDLE_TIMEOUT")),
            "{out:?}"
        );
    }

    #[test]
    fn a_sign_up_organisation_that_does_not_exist_is_an_error() {
        let out = check(&[("REALMGATE_SIGNUP_ORGANISATION", "acme")]);
        assert!(
            out.iter()
                .any(|l| l.starts_with("error: REALMGATE_SIGNUP_ORGANISATION")),
            "{out:?}"
        );
        let out = check(&[]);
        assert!(
            out.iter().all(|l| !l.contains("SIGNUP_ORGANISATION")),
            "default exists: {out:?}"
        );
    }

    #[test]
    fn a_database_not_made_yet_is_a_warning_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh.db");
        let out = run(|k| (k == "REALMGATE_DATABASE_URL").then(|| path.display().to_string()));
        let line = out
            .iter()
            .map(ToString::to_string)
            .find(|l| l.contains("REALMGATE_DATABASE_URL"))
            .unwrap();
        assert!(
            line.starts_with("warning: REALMGATE_DATABASE_URL: the database")
                && line.ends_with("does not exist yet; the first start will create it"),
            "{line}"
        );
        assert!(!out.iter().any(Problem::is_error), "{out:?}");
        assert!(!path.exists(), "check created the database");
        // A folder that is not there cannot hold it: an error.
        let nowhere = dir.path().join("no-such-folder/typo.db");
        let out = run(|k| (k == "REALMGATE_DATABASE_URL").then(|| nowhere.display().to_string()));
        assert!(out
            .iter()
            .any(|p| p.to_string().starts_with("error: REALMGATE_DATABASE_URL")));
    }

    #[test]
    fn an_unreachable_database_is_an_error() {
        let out = check(&[("REALMGATE_DATABASE_URL", "/nonexistent-dir/x/y.db")]);
        assert!(
            out.iter()
                .any(|l| l.starts_with("error: REALMGATE_DATABASE_URL")),
            "{out:?}"
        );
    }

    #[test]
    fn the_mail_url_is_checked_whole_and_never_quoted() {
        let lines = |url: &str, production: bool| -> Vec<String> {
            smtp_url_problems(url, production)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        // Encrypted, or a relay on this machine: nothing to say.
        assert!(lines("smtps://u:s3cret@mail.example:465", true).is_empty());
        assert!(lines("smtp://u:s3cret@mail.example:587?tls=required", true).is_empty());
        assert!(lines("smtp://localhost:25", true).is_empty());
        assert!(lines("smtp://127.0.0.1:25", true).is_empty());
        // A password in clear over the network: an error in production, a warning elsewhere.
        let out = lines("smtp://u:s3cret@mail.example:587", true);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].starts_with("error: REALMGATE_MAIL: smtp:// without tls=required"));
        assert!(lines("smtp://u:s3cret@mail.example:587", false)[0].starts_with("warning:"));
        let out = lines("smtp://u:s3cret@mail.example:587?tls=opportunistic", true);
        assert!(out[0].contains("falls back to plain text"), "{out:?}");
        // No password, but the mail itself goes in clear.
        assert!(lines("smtp://mail.example:25", true)[0].starts_with("warning:"));
        // A parameter that does nothing.
        let out = lines("smtps://u:s3cret@mail.example:465?tsl=required", false);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].contains("`tsl` does nothing"), "{out:?}");
        for url in [
            "smtp://u:s3cret@mail.example:587",
            "smtps://u:s3cret@mail.example:465?tsl=required",
        ] {
            for line in lines(url, true) {
                assert!(!line.contains("s3cret"), "{line}");
            }
        }
    }

    #[test]
    fn a_bad_sender_is_an_error_naming_the_setting() {
        let out = check(&[("REALMGATE_MAIL_FROM", "not an address")]);
        assert!(
            out.iter()
                .any(|l| l.starts_with("error: REALMGATE_MAIL_FROM:")),
            "{out:?}"
        );
        let out = check(&[("REALMGATE_MAIL_FROM", "Portal <no-reply@portal.example>")]);
        assert!(out.iter().all(|l| !l.contains("MAIL_FROM")), "{out:?}");
    }
}
