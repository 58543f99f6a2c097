//! The `realmgate` command line.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{bail, Context as _};
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::app::auth::password::hash_now;
use crate::app::maintenance::{self, StartSessions};
use crate::db::{self, accounts, organisations, sessions, Pool};
use crate::domain::config::{Config, HashParams};
use crate::domain::events::LogoutReason;
use crate::domain::organisation::Slug;
use crate::domain::realm::Realm;
use crate::domain::{Email, Name, NewPassword};
use crate::web::startup::Application;

#[derive(Parser)]
#[command(
    name = "realmgate",
    version,
    about = "A sign-in portal with user, admin and api realms"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, then serve (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Count, clear or clean up sessions.
    Sessions {
        #[command(subcommand)]
        action: SessionsCommand,
    },
    /// Report every configuration problem, one per line; exit non-zero on any error.
    Check,
    /// Development only: create (or reset) a demo user and a demo admin, passwords printed.
    Demo,
    /// Create a confirmed account (a new database is created and migrated first).
    CreateUser {
        /// The account's email address: what it signs in with, and where its mail goes
        /// (stored trimmed and lower-cased; unique across organisations).
        #[arg(long)]
        email: String,
        /// The name shown in the portal's header and the console (1 to 100 characters).
        #[arg(long)]
        name: String,
        /// The organisation (its slug) the account belongs to.
        #[arg(long, default_value = "default")]
        org: String,
        /// Make the account an admin of its organisation.
        #[arg(long)]
        admin: bool,
        /// Make the account a platform admin: it sees and acts on every organisation.
        #[arg(long)]
        platform_admin: bool,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an account's second factor (a lost phone) and sign it out everywhere.
    #[command(name = "reset-2fa")]
    ResetTwoFactor {
        #[arg(long)]
        email: String,
    },
    /// Organisations (companies served by this portal).
    Orgs {
        #[command(subcommand)]
        action: OrgsCommand,
    },
    /// Pending and failed messages of the outbox: addresses and subjects, never links.
    Outbox,
    /// Send one test message through the configured mailer (REALMGATE_MAIL) and say what
    /// happened.
    MailTest {
        /// The address to send it to.
        #[arg(long)]
        to: String,
    },
    /// A consistent copy of the SQLite database while the portal serves (VACUUM INTO). It
    /// never overwrites a file. On PostgreSQL, use pg_dump.
    Backup {
        /// The new file to write.
        path: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum OrgsCommand {
    /// Create an organisation.
    Create {
        /// 2–63 characters of a-z, 0-9 and -, not starting or ending with -.
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// Every organisation: slug, name, status and accounts, one per line.
    List,
}

#[derive(Subcommand)]
enum SessionsCommand {
    /// Live sessions per realm (`user N`, `admin N`, `api N`; with --realm, just `N`).
    Count {
        #[arg(long, value_parser = parse_realm)]
        realm: Option<Realm>,
    },
    /// Sign out every live session (of one realm with --realm), reason `cleared_by_operator`.
    Clear {
        #[arg(long, value_parser = parse_realm)]
        realm: Option<Realm>,
    },
    /// Run the periodic cleanup once, now.
    Cleanup,
}

fn parse_realm(raw: &str) -> Result<Realm, String> {
    Realm::parse(raw).ok_or_else(|| "the realm is `user`, `admin` or `api`".to_owned())
}

/// What `check` found.
pub enum Outcome {
    Ok,
    Problems,
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Check = command {
        let problems = crate::app::check::run(|name| std::env::var(name).ok());
        for p in &problems {
            println!("{p}");
        }
        let errors = problems.iter().filter(|p| p.is_error()).count();
        return Ok(if errors > 0 {
            Outcome::Problems
        } else {
            Outcome::Ok
        });
    }
    let config = Config::from_env()?;
    match command {
        // Answered above, before any configuration is parsed; nothing more to do.
        Command::Check => Ok(()),
        Command::Sessions { action } => sessions(&config, action),
        Command::Demo => demo(&config),
        Command::Serve => actix_web::rt::System::new().block_on(serve(config)),
        Command::Migrate => {
            let url = &config.server.database_url;
            let new = config.server.backend() == db::Backend::Sqlite
                && !std::path::Path::new(url.trim_start_matches("sqlite://")).exists();
            db::connect_server(&config.server)?;
            let shown = crate::domain::config::redact_database_url(url);
            if new {
                println!("Created the database {shown} and migrated it.");
            } else {
                println!("Database {shown} is up to date.");
            }
            Ok(())
        }
        Command::CreateUser {
            email,
            name,
            org,
            admin,
            platform_admin,
            password_stdin,
        } => create_user(
            &config,
            &NewUser {
                email: &email,
                name: &name,
                org: &org,
                admin,
                platform_admin,
            },
            password_stdin,
        ),
        Command::Orgs { action } => orgs(&config, action),
        Command::ResetTwoFactor { email } => reset_two_factor(&config, &email),
        Command::Outbox => outbox(&config),
        Command::MailTest { to } => mail_test(&config, &to),
        Command::Backup { path } => backup(&config, &path),
    }
    .map(|()| Outcome::Ok)
}

pub const DEMO_USER: &str = "demo@example.com";
pub const DEMO_ADMIN: &str = "demo-admin@example.com";

/// Accounts to start the dual-logout test plan with at once. Running it again resets them:
/// new passwords, active, confirmed, unlocked, nothing to change first.
fn demo(config: &Config) -> anyhow::Result<()> {
    if config.environment == crate::domain::config::Environment::Production {
        bail!(
            "`demo` creates accounts with passwords printed on the console, so it is refused \
             when REALMGATE_ENV=production"
        );
    }
    let pool = db::connect_server(&config.server)?;
    let mut conn = pool.get()?;
    let now = Utc::now().naive_utc();
    let base = match &config.server.public_url {
        Some(url) => url.origin(),
        None => format!("http://{}", config.server.bind),
    };
    let mut lines = vec!["Demo accounts are ready (development only):".to_owned()];
    for (email, name, is_admin, login) in [
        (DEMO_USER, "Demo User", false, "/login"),
        (DEMO_ADMIN, "Demo Admin", true, "/admin/login"),
    ] {
        let password = crate::domain::crypto::random_token::<12>();
        let hash = hash_now(&config.hashing.params, &password)?;
        let email = Email::parse(email).map_err(|_| anyhow::anyhow!("demo email"))?;
        conn.write_transaction(|conn| -> anyhow::Result<()> {
            match accounts::find_by_email(conn, &email)? {
                Some(existing) => {
                    accounts::reset_for_demo(conn, existing.id, name, &hash, is_admin, now)?;
                    // A new password and unlocked: a reset, in the audit's words.
                    crate::db::admin_actions::AdminActionRow::new(
                        crate::domain::events::AdminActionKind::SendReset,
                    )
                    .account(existing.id, existing.organisation_id)
                    .details("realmgate demo: password replaced, unlocked")
                    .record(conn, now)?;
                }
                None => {
                    let made = accounts::insert(
                        conn,
                        &accounts::NewAccount::new(email.as_str(), name, &hash, now)
                            .platform_admin(is_admin)
                            .confirmed(now),
                    )?;
                    crate::db::admin_actions::AdminActionRow::new(
                        crate::domain::events::AdminActionKind::CreateAccount,
                    )
                    .account(made.id, made.organisation_id)
                    .details("realmgate demo")
                    .record(conn, now)?;
                }
            }
            crate::db::lockout::unlock_email(conn, email.as_str())?;
            Ok(())
        })?;
        let role = if is_admin { "admin" } else { "user " };
        lines.push(format!(
            "  {role}  {email}  password: {password}  sign in at {base}{login}"
        ));
    }
    say(&(lines.join("\n") + "\n"));
    Ok(())
}

fn sessions(config: &Config, action: SessionsCommand) -> anyhow::Result<()> {
    let pool = db::connect_server(&config.server)?;
    let mut conn = pool.get()?;
    let now = Utc::now().naive_utc();
    match action {
        SessionsCommand::Count { realm: Some(realm) } => {
            println!(
                "{}",
                sessions::count_live(&mut conn, Some(realm), None, now)?
            );
        }
        SessionsCommand::Count { realm: None } => {
            for realm in Realm::ALL {
                let n = sessions::count_live(&mut conn, Some(realm), None, now)?;
                println!("{} {n}", realm.as_str());
            }
        }
        SessionsCommand::Clear { realm } => {
            let n = maintenance::clear_sessions(
                &mut conn,
                realm,
                LogoutReason::ClearedByOperator,
                true,
                now,
            )?;
            println!("Cleared {n} session(s).");
        }
        SessionsCommand::Cleanup => {
            let r = maintenance::cleanup(&mut conn, config, now)?;
            println!("{r}.");
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.cookie.key.generated() {
        log::warn!(
            "REALMGATE_SECRET_KEY is not set: using a random key for this run, so a restart \
             signs everyone out and mail still waiting in the outbox cannot be sent after it. \
             Set it (64+ bytes, hex or base64) to keep both."
        );
    }
    let bootstrap_email = config.admin.bootstrap_email.clone();
    let hash_params = config.hashing.params.clone();
    let clear_on_start = config.housekeeping.clear_sessions_on_start;
    let (app, state) = Application::build(config)?;
    bootstrap_admin(&state.pool, &bootstrap_email, &hash_params)?;
    let instance_id = crate::domain::crypto::random_token::<12>();
    let postgres = state.config.server.backend() == db::Backend::Postgres;
    // Database work off the async thread, as everywhere (`db::block`).
    let (id, now) = (instance_id.clone(), state.clock.now());
    let started = db::block(&state.pool, move |conn| {
        Ok(maintenance::start_instance(conn, &id, clear_on_start, now)?)
    })
    .await?;
    match started {
        StartSessions::Kept => {}
        StartSessions::Cleared(n) => say(&format!(
            "[SECURITY] Server restart detected: cleared {n} session(s)\n"
        )),
        StartSessions::Joined(n) => say(&format!(
            "[SECURITY] Joined {n} running instance(s): sessions kept\n"
        )),
    }
    let heartbeat = postgres.then(|| {
        maintenance::spawn_heartbeat(state.pool.clone(), instance_id.clone(), state.clock.clone())
    });
    maintenance::spawn_cleanup_loop(
        state.pool.clone(),
        state.config.clone(),
        state.clock.clone(),
        state.cleanup.clone(),
    );
    let base = state.public_url.origin();
    let metrics = match (app.metrics_port(), state.config.observability.metrics_bind) {
        (Some(port), Some(bind)) => format!(
            "  metrics:       http://{}/metrics\n",
            std::net::SocketAddr::new(bind.ip(), port)
        ),
        _ => String::new(),
    };
    let mail = match &state.config.mail.transport {
        crate::domain::config::MailSetting::File(dir) => {
            format!(
                "  mail:          not sent; written to {}/ (REALMGATE_MAIL)\n",
                dir.display()
            )
        }
        crate::domain::config::MailSetting::Log => {
            "  mail:          not sent; written to the log (REALMGATE_MAIL)\n".to_owned()
        }
        crate::domain::config::MailSetting::Smtp(_) => String::new(),
    };
    say(&format!(
        "Realmgate is serving on {base}/\n  user sign-in:  {base}/login\n  admin console: {base}/admin/login\n{metrics}{mail}"
    ));
    app.run_until_stopped().await?;
    // The worker finishes the row in hand and stops; rows left pending wait for the next start.
    let outbox = state.outbox.clone();
    let _ = tokio::task::spawn_blocking(move || outbox.stop()).await;
    // A graceful stop leaves: the next start counts only the instances still running.
    if let Some(heartbeat) = heartbeat {
        heartbeat.stop().await;
        db::block(&state.pool, move |conn| {
            Ok(db::instances::leave(conn, &instance_id)?)
        })
        .await?;
    }
    Ok(())
}

/// On a database without an admin, makes one with a random password, printed once to standard
/// output (never to the log) and to be changed at first sign-in.
fn bootstrap_admin(pool: &Pool, email: &str, params: &HashParams) -> anyhow::Result<()> {
    let mut conn = pool.get()?;
    if accounts::admin_exists(&mut conn)? {
        return Ok(());
    }
    let email =
        Email::parse(email).map_err(|_| anyhow::anyhow!("bootstrap admin email is invalid"))?;
    let password = crate::domain::crypto::random_token::<18>();
    let hash = hash_now(params, &password)?;
    let now = Utc::now().naive_utc();
    // Checked again inside the write transaction: instances started together on an empty
    // database make one admin between them, and only the one that made it prints it.
    let created = conn.write_transaction(|conn| -> anyhow::Result<bool> {
        if accounts::admin_exists(conn)? {
            return Ok(false);
        }
        let admin = accounts::insert(
            conn,
            // SPEC §14: a platform admin of `default`.
            &accounts::NewAccount::new(email.as_str(), "Administrator", &hash, now)
                .platform_admin(true)
                .confirmed(now)
                .must_change_password(true),
        )
        .context("creating the bootstrap admin")?;
        crate::db::admin_actions::AdminActionRow::new(
            crate::domain::events::AdminActionKind::CreateAccount,
        )
        .account(admin.id, admin.organisation_id)
        .details("realmgate serve: the bootstrap admin")
        .record(conn, now)?;
        Ok(true)
    })?;
    if !created {
        return Ok(());
    }
    say(&format!(
        "\nNo admin account existed, so one was created. Sign in at /admin/login with:\n  \
         email:    {email}\n  password: {password}\n\
         This password is shown only now. You will be asked to change it.\n\n"
    ));
    Ok(())
}

/// Standard output for people. A closed stdout (`realmgate | head`) must not stop the server,
/// which `println!` would do by panicking.
fn say(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn reset_two_factor(config: &Config, email: &str) -> anyhow::Result<()> {
    let email =
        Email::parse(email).map_err(|_| anyhow::anyhow!("--email is not a valid email address"))?;
    let pool = db::connect_server(&config.server)?;
    let mut conn = pool.get()?;
    let Some(account) = accounts::find_by_email(&mut conn, &email)? else {
        bail!("there is no account {email}");
    };
    let operator = crate::domain::client::ClientInfo {
        ip: std::net::IpAddr::from([127, 0, 0, 1]),
        user_agent: "realmgate reset-2fa".into(),
        request_id: None,
    };
    let now = Utc::now().naive_utc();
    let floods = config.lockout.incidents_per_ip;
    let had = conn.write_transaction(|conn| {
        let had = crate::app::admin::reset_two_factor(conn, account.id, &operator, floods, now)?;
        crate::db::admin_actions::AdminActionRow::new(
            crate::domain::events::AdminActionKind::Reset2fa,
        )
        .account(account.id, account.organisation_id)
        .details("realmgate reset-2fa")
        .record(conn, now)?;
        Ok::<_, diesel::result::Error>(had)
    })?;
    if had {
        println!("{email} has no second factor now and is signed out everywhere.");
    } else {
        println!("{email} had no second factor; its sessions are signed out everywhere.");
    }
    Ok(())
}

fn outbox(config: &Config) -> anyhow::Result<()> {
    let pool = db::connect_server(&config.server)?;
    let mut conn = pool.get()?;
    let rows = db::outbox::list_open(&mut conn, 1000)?;
    if rows.is_empty() {
        println!("No pending or failed messages.");
        return Ok(());
    }
    for row in &rows {
        let when = if row.state == db::outbox::PENDING {
            format!(
                "next try {} UTC",
                row.next_attempt_at.format("%Y-%m-%d %H:%M:%S")
            )
        } else {
            "gave up".to_owned()
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{} attempt(s)\t{when}\tqueued {} UTC\t{}",
            row.id,
            row.state,
            row.kind,
            row.recipient,
            row.subject,
            row.attempts,
            row.created_at.format("%Y-%m-%d %H:%M:%S"),
            row.last_error.as_deref().unwrap_or("-"),
        );
    }
    if rows.len() == 1000 {
        println!("(the first 1000 shown)");
    }
    Ok(())
}

/// The public origin and the sender, as the server would resolve them without a bound port.
fn origin_and_sender(config: &Config) -> (String, String) {
    let (origin, host) = match &config.server.public_url {
        Some(url) => (url.origin(), url.host.clone()),
        None => (
            format!("http://{}", config.server.bind),
            config.server.bind.ip().to_string(),
        ),
    };
    let from = config
        .mail
        .from
        .clone()
        .unwrap_or_else(|| crate::domain::config::default_mail_from(&host));
    (origin, from)
}

fn mail_test(config: &Config, to: &str) -> anyhow::Result<()> {
    use crate::app::mail::{Mail, Transport};
    let to = Email::parse(to).map_err(|_| anyhow::anyhow!("--to is not a valid email address"))?;
    let (origin, from) = origin_and_sender(config);
    let transport = Transport::new(&config.mail, &from)?;
    let mail = Mail::test(to.as_str(), &origin, Utc::now().naive_utc())?;
    let through = Transport::describe(&config.mail);
    println!("Sending a test message from {from} to {to} through {through}...");
    transport
        .send(&mail)
        .map_err(|e| anyhow::anyhow!("the message was not sent: {e}"))?;
    println!("Sent: the mail server (or the mailer) accepted it. Check the mailbox of {to}.");
    Ok(())
}

fn backup(config: &Config, path: &std::path::Path) -> anyhow::Result<()> {
    use diesel::connection::SimpleConnection as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if config.server.backend() == db::Backend::Postgres {
        bail!(
            "`backup` copies a SQLite database; on PostgreSQL use pg_dump \
             (`pg_dump -Fc DATABASE > realmgate.dump`, docs/deployment.md)"
        );
    }
    let shown = path.display();
    // Made here, empty and private (the copy holds password hashes), and never over an
    // existing file: `create_new` fails if anything is there, even a file made a moment ago.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                anyhow::anyhow!("{shown} already exists; `backup` never overwrites a file")
            }
            _ => anyhow::anyhow!("cannot create {shown}: {e}"),
        })?;
    let copied = (|| -> anyhow::Result<()> {
        let mut conn = db::open_existing(&config.server.database_url)
            .map_err(|e| anyhow::anyhow!("REALMGATE_DATABASE_URL: {e}"))?;
        let target = path
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("{shown}: the path is not UTF-8"))?;
        // One statement, one read transaction: a consistent copy while others write (WAL).
        conn.batch_execute(&format!("VACUUM INTO '{}'", target.replace('\'', "''")))
            .map_err(|e| anyhow::anyhow!("cannot copy the database: {e}"))?;
        let mut copy = db::open_existing(target).map_err(|e| anyhow::anyhow!("the copy: {e}"))?;
        let ok: Vec<IntegrityRow> =
            diesel::RunQueryDsl::load(diesel::sql_query("PRAGMA integrity_check"), &mut copy)?;
        if ok.first().map(|r| r.integrity_check.as_str()) != Some("ok") {
            bail!("the copy failed its integrity check");
        }
        Ok(())
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "Backed up {} to {shown} ({size} bytes, integrity check ok).",
        crate::domain::config::redact_database_url(&config.server.database_url)
    );
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct IntegrityRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

/// `create-user`'s account.
struct NewUser<'a> {
    email: &'a str,
    name: &'a str,
    org: &'a str,
    admin: bool,
    platform_admin: bool,
}

fn orgs(config: &Config, action: OrgsCommand) -> anyhow::Result<()> {
    let pool = db::connect_server(&config.server)?;
    let mut conn = pool.get()?;
    match action {
        OrgsCommand::Create { slug, name } => {
            let slug = Slug::parse(slug.trim()).map_err(|m| anyhow::anyhow!("--slug: {m}"))?;
            let name = Name::parse(&name).map_err(|m| anyhow::anyhow!("--name: {m}"))?;
            let now = Utc::now().naive_utc();
            let created = crate::app::admin::create_organisation(
                &mut conn,
                None,
                slug.as_str(),
                name.as_str(),
                now,
            )?;
            let Some(org) = created else {
                bail!(
                    "an organisation with the slug {} already exists",
                    slug.as_str()
                );
            };
            println!("Created organisation {} ({}).", org.slug, org.name);
        }
        OrgsCommand::List => {
            let now = Utc::now().naive_utc();
            for (org, accounts, live) in organisations::list_with_counts(&mut conn, now)? {
                println!(
                    "{}\t{}\t{}\t{accounts} account(s)\t{live} live session(s)",
                    org.slug,
                    org.name,
                    if org.is_active {
                        "active"
                    } else {
                        "deactivated"
                    },
                );
            }
        }
    }
    Ok(())
}

fn create_user(config: &Config, new: &NewUser<'_>, password_stdin: bool) -> anyhow::Result<()> {
    let NewUser {
        email,
        name,
        org,
        admin,
        platform_admin,
    } = *new;
    let email =
        Email::parse(email).map_err(|_| anyhow::anyhow!("--email is not a valid email address"))?;
    let name = Name::parse(name).map_err(|m| anyhow::anyhow!("--name: {m}"))?;
    let raw = if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        // Only the line ending is removed: a password is used exactly as typed.
        line.strip_suffix('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .unwrap_or(&line)
            .to_owned()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password again: ")?;
        if first != second {
            bail!("the passwords do not match");
        }
        first
    } else {
        bail!("no terminal to prompt for a password: pass --password-stdin and pipe it in");
    };
    let password = NewPassword::parse(&raw, email.as_str(), name.as_str())
        .map_err(|m| anyhow::anyhow!("{m}"))?;
    let hash = hash_now(&config.hashing.params, password.expose())?;

    let pool = db::connect_server(&config.server)?;
    let mut conn = pool.get()?;
    let Some(organisation) = organisations::find_by_slug(&mut conn, org)? else {
        bail!("--org: there is no organisation `{org}` (see `realmgate orgs list`)");
    };
    if platform_admin && !organisation.is_active {
        bail!(
            "--platform-admin: `{org}` is deactivated; a platform admin there could never sign in"
        );
    }
    let now = Utc::now().naive_utc();
    let new = accounts::NewAccount::new(email.as_str(), name.as_str(), &hash, now)
        .admin(admin)
        .platform_admin(platform_admin)
        .organisation(organisation.id)
        .confirmed(now);
    let created = crate::app::admin::create_account(&mut conn, None, (&email, &new), None, now)?;
    let Some(account) = created else {
        bail!("an account with the email {email} already exists");
    };
    let role = if platform_admin {
        "platform admin"
    } else if admin {
        "admin"
    } else {
        "user"
    };
    println!(
        "Created {role} account {} ({}) in {}.",
        account.id, account.email, organisation.slug
    );
    Ok(())
}
