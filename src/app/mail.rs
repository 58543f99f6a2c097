//! Outgoing mail (`REALMGATE_MAIL`): a folder of files, the log, or SMTP through lettre.
//!
//! Sending happens on a thread of its own, so no answer waits on mail and an answer's timing
//! says nothing about whether a message was sent. A failed send is logged with its reason and
//! retried a few times; it never fails a request.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::Transport as _;

use crate::domain::config::MailSetting;

/// One message. `secret` is the token inside `body`, so the log transport can mask it.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Every message the portal sends, written here and nowhere else. `origin` is the public
/// URL's origin; a token goes into `secret`, so the `log` mailer can mask it.
impl Mail {
    /// To an address that already has an account, after a sign-up with it.
    pub fn sign_up_notice(to: &str, origin: &str) -> Self {
        Self {
            to: to.to_owned(),
            subject: "Someone tried to sign up with your address".into(),
            body: format!(
                "Someone (perhaps you) tried to create a Realmgate account with this address, \
                 which already has one.\n\nIf it was you, sign in at {origin}/login, or set a \
                 new password at {origin}/password/reset.\nIf it was not, you can ignore this \
                 message."
            ),
            secret: None,
        }
    }

    /// The sign-up confirmation link. SECURITY: nothing the requester typed but the address
    /// itself, so whoever signs up with someone else's address cannot put words in that
    /// mailbox.
    pub fn confirm_address(to: &str, origin: &str, token: &str) -> Self {
        Self {
            to: to.to_owned(),
            subject: "Confirm your Realmgate account".into(),
            body: format!(
                "Someone (perhaps you) signed up for a Realmgate account with this address.\n\n\
                 Confirm your address to finish signing up:\n{origin}/register/confirm/{token}\n\n\
                 The link works for 24 hours. If you did not sign up, ignore this message."
            ),
            secret: Some(token.to_owned()),
        }
    }

    /// A reset link the person asked for at `/password/reset`.
    pub fn reset_requested(to: &str, origin: &str, token: &str, ttl_minutes: u64) -> Self {
        Self {
            to: to.to_owned(),
            subject: "Reset your Realmgate password".into(),
            body: format!(
                "Someone (perhaps you) asked to reset the password of this account.\n\n\
                 Set a new password here:\n{origin}/password/reset/{token}\n\nThe link works \
                 once, for {ttl_minutes} minutes. If you did not ask, ignore this message: your \
                 password is unchanged."
            ),
            secret: Some(token.to_owned()),
        }
    }

    /// A reset link an admin sent: for a new account (`welcome`) or an existing one.
    pub fn reset_by_admin(to: &str, origin: &str, token: &str, welcome: bool) -> Self {
        let intro = if welcome {
            "An administrator created a Realmgate account for you. Choose your password here:"
        } else {
            "An administrator asked for a new password for your Realmgate account. Set it here:"
        };
        Self {
            to: to.to_owned(),
            subject: if welcome {
                "Your Realmgate account".into()
            } else {
                "Reset your Realmgate password".into()
            },
            body: format!("{intro}\n{origin}/password/reset/{token}\n\nThe link works once."),
            secret: Some(token.to_owned()),
        }
    }

    /// "Your password was changed": time and IP, and no link that signs anyone in.
    pub fn password_notice(to: &str, what: &str, at: chrono::NaiveDateTime, ip: &str) -> Self {
        Self {
            to: to.to_owned(),
            subject: format!("Your Realmgate password was {what}"),
            body: format!(
                "The password of your Realmgate account was {what} on {} UTC, from the IP \
                 address {ip}.\n\nIf this was you, there is nothing to do. If it was not, ask \
                 for a password reset at once and tell your administrator.",
                at.format("%Y-%m-%d %H:%M")
            ),
            secret: None,
        }
    }
}

#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Mail>,
}

const ATTEMPTS: u32 = 4;
const FROM: &str = "Realmgate <no-reply@realmgate.invalid>";

enum Transport {
    File(PathBuf),
    Log,
    Smtp(Box<lettre::SmtpTransport>),
}

impl Mailer {
    pub fn start(setting: &MailSetting) -> anyhow::Result<Self> {
        let transport = match setting {
            MailSetting::File(dir) => {
                prepare_dir(dir)?;
                Transport::File(dir.clone())
            }
            MailSetting::Log => Transport::Log,
            MailSetting::Smtp(url) => Transport::Smtp(Box::new(
                lettre::SmtpTransport::from_url(url)
                    .map_err(|_| anyhow::anyhow!("REALMGATE_MAIL: not a valid SMTP URL"))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            )),
        };
        let (queue, rx) = mpsc::channel::<Mail>();
        std::thread::Builder::new()
            .name("mailer".into())
            .spawn(move || {
                // Ends when every `Mailer` (and so the application) is gone.
                for mail in rx {
                    deliver(&transport, &mail);
                }
            })?;
        Ok(Self { queue })
    }

    /// Queues `mail`; returns at once.
    pub fn send(&self, mail: Mail) {
        if self.queue.send(mail).is_err() {
            log::error!("the mail thread has stopped; a message was dropped");
        }
    }
}

fn deliver(transport: &Transport, mail: &Mail) {
    for attempt in 1..=ATTEMPTS {
        match send_once(transport, mail) {
            Ok(()) => return,
            Err(e) if attempt < ATTEMPTS => {
                log::warn!(
                    "mail to {} failed (attempt {attempt} of {ATTEMPTS}), retrying: {e:#}",
                    mail.to
                );
                std::thread::sleep(Duration::from_secs(2u64.pow(attempt)));
            }
            Err(e) => log::error!("mail to {} failed, giving up: {e:#}", mail.to),
        }
    }
}

fn send_once(transport: &Transport, mail: &Mail) -> anyhow::Result<()> {
    match transport {
        Transport::File(dir) => write_file(dir, mail),
        Transport::Log => {
            let body = match &mail.secret {
                Some(secret) => mail.body.replace(secret, &mask(secret)),
                None => mail.body.clone(),
            };
            log::info!(target: "mail", "to={} subject={:?}\n{body}", mail.to, mail.subject);
            Ok(())
        }
        Transport::Smtp(smtp) => {
            let message = lettre::Message::builder()
                .from(FROM.parse()?)
                .to(mail.to.parse()?)
                .subject(mail.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(mail.body.clone())?;
            smtp.send(&message)?;
            Ok(())
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

fn write_file(dir: &Path, mail: &Mail) -> anyhow::Result<()> {
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
        "From: {FROM}\nTo: {}\nSubject: {}\n\n{}\n",
        mail.to, mail.subject, mail.body
    )
    .and_then(|()| fs::rename(&partial, dir.join(name)));
    if written.is_err() {
        // A half-written message (it may hold part of a link) is not left behind.
        let _ = fs::remove_file(&partial);
    }
    Ok(written?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_the_last_four() {
        assert_eq!(mask("abcdefgh"), "…efgh");
        assert_eq!(mask("ab"), "…ab");
    }

    #[test]
    fn file_transport_writes_private_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("outbox");
        let transport = {
            prepare_dir(&out).unwrap();
            Transport::File(out.clone())
        };
        let mail = Mail {
            to: "a@b.example".into(),
            subject: "Hello".into(),
            body: "https://x/reset/TOKEN".into(),
            secret: Some("TOKEN".into()),
        };
        send_once(&transport, &mail).unwrap();
        let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let file = fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(fs::read_to_string(file)
            .unwrap()
            .contains("https://x/reset/TOKEN"));
    }
}
