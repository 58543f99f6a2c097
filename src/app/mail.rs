//! Outgoing mail: every message the portal sends, rendered from `templates/mail/` as a plain
//! text part and an HTML part (SPEC §17), and the transports of `REALMGATE_MAIL`: a folder of
//! files, the log, or SMTP through lettre.
//!
//! Nothing here queues: a message is a row of the durable outbox (`app::outbox`), written in the
//! transaction of the change that caused it, and the outbox worker hands it to `Transport::send`.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::Transport as _;

use crate::domain::config::{MailSetting, MailSettings};

/// One message, both parts rendered. `secret` is the token inside the parts, so the log
/// transport can mask it. Stored sealed in the outbox until sent.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub secret: Option<String>,
}

/// SECURITY: the parts hold links that sign in or reset; Debug shows only where it goes.
impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The text part is the template itself; the HTML part wraps the same values.
macro_rules! mail_kind {
    ($name:ident, $html:ident, $text_path:literal, $html_path:literal { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Template)]
        #[template(path = $text_path)]
        struct $name {
            $($field: $ty,)*
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'b> {
            mail: &'b $name,
        }

        impl $name {
            fn render_both(&self) -> askama::Result<(String, String)> {
                Ok((self.render()?, $html { mail: self }.render()?))
            }
        }
    };
}

mail_kind!(SignUpNotice, SignUpNoticeHtml, "mail/sign_up_notice.txt", "mail/sign_up_notice.html" { origin: String });
mail_kind!(ConfirmAddress, ConfirmAddressHtml, "mail/confirm_address.txt", "mail/confirm_address.html" { url: String, hours: u64 });
mail_kind!(ResetRequested, ResetRequestedHtml, "mail/reset_requested.txt", "mail/reset_requested.html" { url: String, minutes: u64 });
mail_kind!(AdminReset, AdminResetHtml, "mail/admin_reset.txt", "mail/admin_reset.html" { url: String, minutes: u64 });
mail_kind!(Invitation, InvitationHtml, "mail/invitation.txt", "mail/invitation.html" { url: String, days: u64 });
mail_kind!(PasswordNotice, PasswordNoticeHtml, "mail/password_notice.txt", "mail/password_notice.html" { what: String, at: String, ip: String });
mail_kind!(NewDevice, NewDeviceHtml, "mail/new_device.txt", "mail/new_device.html" { at: String, ip: String, browser: String });
mail_kind!(TestMessage, TestMessageHtml, "mail/test.txt", "mail/test.html" { origin: String, at: String });

fn when(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// Every message the portal sends, built here and nowhere else. `origin` is the public URL's
/// origin. SECURITY: none carries anything a requester typed but the address itself, so
/// whoever signs up or asks for a reset with someone else's address cannot put words in that
/// mailbox.
impl Mail {
    fn new(
        to: &str,
        subject: impl Into<String>,
        parts: askama::Result<(String, String)>,
        secret: Option<&str>,
    ) -> anyhow::Result<Self> {
        let (text, html) = parts?;
        Ok(Self {
            to: to.to_owned(),
            subject: subject.into(),
            text,
            html,
            secret: secret.map(str::to_owned),
        })
    }

    /// To an address that already has an account, after a sign-up with it.
    pub fn sign_up_notice(to: &str, origin: &str) -> anyhow::Result<Self> {
        let parts = SignUpNotice {
            origin: origin.to_owned(),
        }
        .render_both();
        Self::new(
            to,
            "Someone tried to sign up with your address",
            parts,
            None,
        )
    }

    /// The sign-up confirmation link.
    pub fn confirm_address(
        to: &str,
        origin: &str,
        token: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let parts = ConfirmAddress {
            url: format!("{origin}/register/confirm/{token}"),
            hours: ttl.as_secs().div_ceil(3600),
        }
        .render_both();
        Self::new(to, "Confirm your Realmgate account", parts, Some(token))
    }

    /// A reset link the person asked for at `/password/reset`.
    pub fn reset_requested(
        to: &str,
        origin: &str,
        token: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let parts = ResetRequested {
            url: format!("{origin}/password/reset/{token}"),
            minutes: ttl.as_secs().div_ceil(60),
        }
        .render_both();
        Self::new(to, "Reset your Realmgate password", parts, Some(token))
    }

    /// A reset link an admin sent for an existing account.
    pub fn reset_by_admin(
        to: &str,
        origin: &str,
        token: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let parts = AdminReset {
            url: format!("{origin}/password/reset/{token}"),
            minutes: ttl.as_secs().div_ceil(60),
        }
        .render_both();
        Self::new(to, "Reset your Realmgate password", parts, Some(token))
    }

    /// An account an admin made without a password: welcome, and choose one
    /// (`REALMGATE_INVITE_TTL`).
    pub fn invitation(
        to: &str,
        origin: &str,
        token: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let parts = Invitation {
            url: format!("{origin}/password/reset/{token}"),
            days: ttl.as_secs().div_ceil(86_400),
        }
        .render_both();
        Self::new(to, "Welcome to Realmgate", parts, Some(token))
    }

    /// "Your password was changed": time and IP, and no link that signs anyone in.
    pub fn password_notice(
        to: &str,
        what: &str,
        at: chrono::NaiveDateTime,
        ip: &str,
    ) -> anyhow::Result<Self> {
        let parts = PasswordNotice {
            what: what.to_owned(),
            at: when(at),
            ip: ip.to_owned(),
        }
        .render_both();
        Self::new(
            to,
            format!("Your Realmgate password was {what}"),
            parts,
            None,
        )
    }

    /// SPEC §17: a browser that never signed in to the account did. Time, IP and browser, and
    /// no link that signs anyone in.
    pub fn new_device(
        to: &str,
        at: chrono::NaiveDateTime,
        ip: &str,
        browser: &str,
    ) -> anyhow::Result<Self> {
        let parts = NewDevice {
            at: when(at),
            ip: ip.to_owned(),
            browser: browser.to_owned(),
        }
        .render_both();
        Self::new(to, "New sign-in to your Realmgate account", parts, None)
    }

    /// `realmgate mail-test`.
    pub fn test(to: &str, origin: &str, at: chrono::NaiveDateTime) -> anyhow::Result<Self> {
        let parts = TestMessage {
            origin: origin.to_owned(),
            at: when(at),
        }
        .render_both();
        Self::new(to, "Realmgate test message", parts, None)
    }
}

/// Where messages go (`REALMGATE_MAIL`), and who they are from (`REALMGATE_MAIL_FROM`).
pub struct Transport {
    kind: Kind,
    from: Mailbox,
}

enum Kind {
    File(PathBuf),
    Log,
    Smtp(Box<lettre::SmtpTransport>),
}

/// Why one delivery failed, in words fit for the log and the outbox's `last_error`: never a
/// link, a token or the mail account's password.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(String);

impl Transport {
    /// `from` is the resolved sender (`MailSettings::from`, or SPEC §17's default).
    pub fn new(settings: &MailSettings, from: &str) -> anyhow::Result<Self> {
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| anyhow::anyhow!("REALMGATE_MAIL_FROM: `{from}` is not an address"))?;
        let kind = match &settings.transport {
            MailSetting::File(dir) => {
                prepare_dir(dir)?;
                Kind::File(dir.clone())
            }
            MailSetting::Log => Kind::Log,
            MailSetting::Smtp(url) => Kind::Smtp(Box::new(
                lettre::SmtpTransport::from_url(url)
                    .map_err(|_| anyhow::anyhow!("REALMGATE_MAIL: not a valid SMTP URL"))?
                    .timeout(Some(settings.smtp_timeout))
                    .build(),
            )),
        };
        Ok(Self { kind, from })
    }

    /// Where mail goes, in words for `realmgate mail-test`: never the URL's credentials.
    pub fn describe(settings: &MailSettings) -> String {
        match &settings.transport {
            MailSetting::File(dir) => format!("the folder {}", dir.display()),
            MailSetting::Log => "the log (standard error)".into(),
            MailSetting::Smtp(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", url));
                let host = rest.rsplit('@').next().unwrap_or(rest);
                let host = host.split(['/', '?']).next().unwrap_or(host);
                format!("{scheme}://{host}")
            }
        }
    }

    /// One delivery attempt. Blocking: the outbox worker's thread calls it.
    pub fn send(&self, mail: &Mail) -> Result<(), SendError> {
        match &self.kind {
            Kind::File(dir) => write_file(dir, &self.from, mail)
                .map_err(|e| SendError(format!("cannot write to {}: {e}", dir.display()))),
            Kind::Log => {
                let text = match &mail.secret {
                    Some(secret) => mail.text.replace(secret, &mask(secret)),
                    None => mail.text.clone(),
                };
                log::info!(target: "mail", "to={} subject={:?}\n{text}", mail.to, mail.subject);
                Ok(())
            }
            Kind::Smtp(smtp) => {
                let to = mail
                    .to
                    .parse::<Mailbox>()
                    .map_err(|_| SendError("the recipient is not a valid address".into()))?;
                let message = lettre::Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(mail.subject.clone())
                    .multipart(MultiPart::alternative_plain_html(
                        mail.text.clone(),
                        mail.html.clone(),
                    ))
                    .map_err(|e| SendError(format!("cannot build the message: {e}")))?;
                smtp.send(&message).map(drop).map_err(|e| {
                    // lettre's errors name the server's answer, never the message or the
                    // credentials.
                    SendError(format!("SMTP: {e}"))
                })
            }
        }
    }
}

/// `…` and the last 4 characters: enough to tell two links apart in a log, not to use one.
pub fn mask(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| anyhow::anyhow!("REALMGATE_MAIL: cannot create {}: {e}", dir.display()))?;
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// One file per message: the headers, the text part with its full link as plain text (SPEC
/// §8), then the HTML part, so a developer sees both.
fn write_file(dir: &Path, from: &Mailbox, mail: &Mail) -> std::io::Result<()> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("{stamp}-{n}.txt");
    // Written under a dot-name and renamed, so whoever watches the folder never reads half a
    // message.
    let partial = dir.join(format!(".{name}"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    let written = write!(
        file,
        "From: {from}\nTo: {}\nSubject: {}\nContent-Type: multipart/alternative (text/plain, then text/html)\n\n{}\n\n----- text/html -----\n{}\n",
        mail.to, mail.subject, mail.text, mail.html
    )
    .and_then(|()| fs::rename(&partial, dir.join(name)));
    if written.is_err() {
        // A half-written message (it may hold part of a link) is not left behind.
        let _ = fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_the_last_four() {
        assert_eq!(mask("abcdefgh"), "…efgh");
        assert_eq!(mask("ab"), "…ab");
    }

    fn settings(transport: MailSetting) -> MailSettings {
        MailSettings {
            transport,
            from: None,
            attempts: 8,
            retry_base: std::time::Duration::from_secs(30),
            new_device: true,
            smtp_timeout: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn file_transport_writes_private_files_with_both_parts() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("outbox");
        let transport = Transport::new(
            &settings(MailSetting::File(out.clone())),
            "Realmgate <no-reply@portal.example>",
        )
        .unwrap();
        let mail = Mail::reset_requested(
            "a@b.example",
            "https://portal.example",
            "TOKEN",
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        transport.send(&mail).unwrap();
        let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let file = fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let written = fs::read_to_string(file).unwrap();
        assert!(written.starts_with("From: Realmgate <no-reply@portal.example>\n"));
        let (text, html) = written.split_once("----- text/html -----").unwrap();
        assert!(text.contains("\nhttps://portal.example/password/reset/TOKEN\n"));
        assert!(html.contains("href=\"https://portal.example/password/reset/TOKEN\""));
    }

    /// Every kind has both parts, the link (where it has one) in both, and HTML that escapes.
    #[test]
    fn every_kind_renders_both_parts() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
            .unwrap()
            .and_hms_opt(10, 30, 0)
            .unwrap();
        let origin = "https://portal.example";
        let ttl = std::time::Duration::from_secs(3600);
        let kinds = [
            (
                Mail::sign_up_notice("a@b.example", origin).unwrap(),
                Some("/password/reset"),
            ),
            (
                Mail::confirm_address("a@b.example", origin, "TOK", ttl).unwrap(),
                Some("/register/confirm/TOK"),
            ),
            (
                Mail::reset_requested("a@b.example", origin, "TOK", ttl).unwrap(),
                Some("/password/reset/TOK"),
            ),
            (
                Mail::invitation("a@b.example", origin, "TOK", ttl * 168).unwrap(),
                Some("/password/reset/TOK"),
            ),
            (
                Mail::reset_by_admin("a@b.example", origin, "TOK", ttl).unwrap(),
                Some("/password/reset/TOK"),
            ),
            (
                Mail::password_notice("a@b.example", "changed", at, "203.0.113.9").unwrap(),
                None,
            ),
            (
                Mail::new_device("a@b.example", at, "203.0.113.9", "Firefox <on> Linux").unwrap(),
                None,
            ),
            (Mail::test("a@b.example", origin, at).unwrap(), None),
        ];
        for (mail, link) in kinds {
            assert!(
                !mail.text.contains("<p") && !mail.text.contains("<a "),
                "{}: text part has markup",
                mail.subject
            );
            assert!(mail.html.starts_with("<!DOCTYPE html>"), "{}", mail.subject);
            assert!(mail.html.contains("Realmgate"), "{}", mail.subject);
            if let Some(link) = link {
                assert!(
                    mail.text.contains(&format!("{origin}{link}")),
                    "{}",
                    mail.subject
                );
                assert!(
                    mail.html.contains(&format!("href=\"{origin}{link}")),
                    "{}",
                    mail.subject
                );
            } else {
                for part in [&mail.text, &mail.html] {
                    assert!(
                        !part.contains("/password/reset/") && !part.contains("/register/confirm/"),
                        "{}: a notice carries no link that signs in",
                        mail.subject
                    );
                }
            }
        }
        let device =
            Mail::new_device("a@b.example", at, "203.0.113.9", "Firefox <on> Linux").unwrap();
        assert!(
            !device.html.contains("<on>"),
            "the HTML part escapes what it shows"
        );
        assert!(device.text.contains("2026-12-02 10:30 UTC"));
        let invite = Mail::invitation("a@b.example", origin, "TOK", ttl * 168).unwrap();
        assert_eq!(invite.subject, "Welcome to Realmgate");
        assert!(invite.text.contains("for 7 days"), "{}", invite.text);
        let words = invite.text.replace("/password/reset/", "/");
        assert!(
            !words.to_lowercase().contains("reset"),
            "an invitation is not worded as a reset"
        );
    }

    #[test]
    fn describe_never_shows_credentials() {
        let smtp = settings(MailSetting::Smtp(
            "smtp://user:s3cret@mail.example:587?tls=required".into(),
        ));
        assert_eq!(Transport::describe(&smtp), "smtp://mail.example:587");
    }
}
