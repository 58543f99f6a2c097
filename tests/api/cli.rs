//! The `realmgate` binary and the real server on a random port.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use realmgate::domain::config::Config;
use realmgate::web::startup::Application;

fn realmgate(db: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_realmgate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REALMGATE_DATABASE_URL", db)
        .env("RUST_LOG", "info");
    cmd
}

#[test]
fn create_user_reads_the_password_from_stdin_and_the_account_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db").to_str().unwrap().to_owned();
    let mut child = realmgate(&db)
        .args([
            "create-user",
            "--email",
            " Ada@Example.COM ",
            "--name",
            "Ada",
            "--admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"  a long enough password \n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ada@example.com"));

    use diesel::prelude::*;
    use realmgate::db::schema::accounts as a;
    let pool = realmgate::db::connect(&db).unwrap();
    let (email, is_admin, confirmed, hash): (String, bool, Option<chrono::NaiveDateTime>, String) =
        a::table
            .select((
                a::email,
                a::is_admin,
                a::email_confirmed_at,
                a::password_hash,
            ))
            .first(&mut pool.get().unwrap())
            .unwrap();
    assert_eq!(email, "ada@example.com");
    assert!(is_admin && confirmed.is_some());
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));

    // The same address again, and a short password, are refused with a reason.
    let out = realmgate(&db)
        .args([
            "create-user",
            "--email",
            "ada@example.com",
            "--name",
            "Ada",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"a long enough password\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = realmgate(&db)
        .args([
            "create-user",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"short\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
}

#[test]
fn bad_settings_stop_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db").to_str().unwrap().to_owned();
    let out = realmgate(&db)
        .arg("migrate")
        .env("REALMGATE_USER_IDLE_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("REALMGATE_USER_IDLE_TIMEOUT"));
    let out = realmgate(&db)
        .arg("migrate")
        .env("REALMGATE_ENV", "production")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("REALMGATE_SECRET_KEY"));
    let out = realmgate(&db).arg("migrate").output().unwrap();
    assert!(out.status.success());
}

#[test]
fn serve_creates_the_bootstrap_admin_and_prints_its_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db").to_str().unwrap().to_owned();
    let mut child = realmgate(&db)
        .env("REALMGATE_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut lines = Vec::new();
    let mut port = None;
    for line in stdout.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Realmgate is serving on http://127.0.0.1:") {
            port = rest.trim_end_matches('/').parse::<u16>().ok();
            break;
        }
        lines.push(line);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
    }
    let port = port.expect("serve printed its address");
    // Issue 17: in development the banner says where mail goes instead of out.
    let banner: Vec<String> = stdout.by_ref().take(3).map(Result::unwrap).collect();
    assert!(
        banner.iter().any(|l| l.trim_start()
            == "mail:          not sent; written to mail-outbox/ (REALMGATE_MAIL)"),
        "{banner:?}"
    );
    let response = crate::instances::get(port, "/healthz");
    child.kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();

    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let password_line = lines
        .iter()
        .find(|l| l.trim_start().starts_with("password:"))
        .expect("password printed");
    let password = password_line.split_whitespace().last().unwrap();
    assert!(lines.iter().any(|l| l.contains("admin@localhost")));
    assert!(
        !stderr.contains(password),
        "the password never reaches the log"
    );

    use diesel::prelude::*;
    use realmgate::db::schema::accounts as a;
    let pool = realmgate::db::connect(&db).unwrap();
    let (is_admin, must_change): (bool, bool) = a::table
        .select((a::is_admin, a::must_change_password))
        .first(&mut pool.get().unwrap())
        .unwrap();
    assert!(is_admin && must_change);
}

#[actix_web::test]
async fn the_application_runs_on_port_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.db").to_str().unwrap().to_owned();
    let map = std::collections::HashMap::from([
        ("REALMGATE_DATABASE_URL", db.as_str()),
        ("REALMGATE_BIND", "127.0.0.1:0"),
    ]);
    let mut config = Config::from_map(&map).unwrap();
    config.hashing.params = realmgate::domain::config::HashParams::danger_insecure_test_params();
    let (app, _state) = Application::build(config).unwrap();
    let port = app.port();
    assert_ne!(port, 0);
    actix_web::rt::spawn(app.run_until_stopped());
    let response = actix_web::web::block(move || {
        (
            crate::instances::get(port, "/healthz"),
            crate::instances::get(port, "/login"),
        )
    })
    .await
    .unwrap();
    assert!(response.0.starts_with("HTTP/1.1 200"), "{}", response.0);
    assert!(response.0.contains(r#"{"status":"ok","db":"ok"}"#));
    assert!(response.1.starts_with("HTTP/1.1 200"), "{}", response.1);
    assert!(response.1.contains("Sign in"));
}

/// Runs `realmgate ARGS` against `db` with extra settings; returns (success, stdout, stderr).
fn run(db: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = realmgate(db);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Puts one live session of each realm into `db`, as sign-ins would.
fn seed_sessions(db: &str) {
    use diesel::prelude::*;
    use realmgate::db::schema::{accounts as a, auth_sessions as s};
    let pool = realmgate::db::connect(db).unwrap();
    let mut conn = pool.get().unwrap();
    let now = chrono::Utc::now().naive_utc();
    diesel::insert_into(a::table)
        .values((
            a::email.eq("s@example.com"),
            a::name.eq("S"),
            a::password_hash.eq("x"),
            a::is_admin.eq(true),
            a::created_at.eq(now),
        ))
        .execute(&mut conn)
        .unwrap();
    for (i, realm) in ["user", "admin", "api"].iter().enumerate() {
        diesel::insert_into(s::table)
            .values((
                s::id.eq(format!("id{i}")),
                s::secret_hash.eq(format!("hash{i}")),
                s::account_id.eq(1),
                s::realm.eq(*realm),
                s::created_at.eq(now),
                s::last_seen_at.eq(now),
                s::idle_expires_at.eq(now + chrono::Duration::hours(1)),
                s::absolute_expires_at.eq(now + chrono::Duration::hours(2)),
                s::ip.eq("127.0.0.1"),
                s::user_agent.eq("t"),
            ))
            .execute(&mut conn)
            .unwrap();
    }
}

#[test]
fn sessions_count_clear_and_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db").to_str().unwrap().to_owned();
    seed_sessions(&db);
    let (ok, out, _) = run(&db, &["sessions", "count"], &[]);
    assert!(ok);
    assert_eq!(out, "user 1\nadmin 1\napi 1\n");
    let (ok, out, _) = run(&db, &["sessions", "count", "--realm", "admin"], &[]);
    assert!(ok && out == "1\n", "{out}");
    let (ok, out, _) = run(&db, &["sessions", "count", "--realm", "api"], &[]);
    assert!(ok && out == "1\n", "{out}");
    let (ok, _, err) = run(&db, &["sessions", "count", "--realm", "mobile"], &[]);
    assert!(!ok && err.contains("api"), "{err}");

    let (ok, out, _) = run(&db, &["sessions", "clear", "--realm", "user"], &[]);
    assert!(ok && out.contains("Cleared 1 session(s)."), "{out}");
    let (_, out, _) = run(&db, &["sessions", "count"], &[]);
    assert_eq!(out, "user 0\nadmin 1\napi 1\n");
    let (ok, out, _) = run(&db, &["sessions", "cleanup"], &[]);
    assert!(ok && out.contains("Ended 0 expired session(s)"), "{out}");

    use diesel::prelude::*;
    use realmgate::db::schema::logout_activity as la;
    let pool = realmgate::db::connect(&db).unwrap();
    let reasons: Vec<String> = la::table
        .select(la::reason)
        .load(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(reasons, vec!["cleared_by_operator"]);
}

#[test]
fn serve_clears_sessions_at_start_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db").to_str().unwrap().to_owned();
    seed_sessions(&db);
    let mut child = realmgate(&db)
        .env("REALMGATE_BIND", "127.0.0.1:0")
        .env("REALMGATE_CLEAR_SESSIONS_ON_START", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = None;
    for line in stdout.lines().take(20) {
        let line = line.unwrap();
        if line.starts_with("[SECURITY]") {
            seen = Some(line);
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        seen.as_deref(),
        Some("[SECURITY] Server restart detected: cleared 3 session(s)")
    );
    let (_, out, _) = run(&db, &["sessions", "count"], &[]);
    assert_eq!(out, "user 0\nadmin 0\napi 0\n");
}

#[test]
fn check_reports_each_problem_and_fails_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db").to_str().unwrap().to_owned();
    assert!(run(&db, &["migrate"], &[]).0);
    let (ok, out, _) = run(
        &db,
        &["check"],
        &[("REALMGATE_SECRET_KEY", &"ab".repeat(64))],
    );
    assert!(ok, "{out}");
    let (ok, out, _) = run(
        &db,
        &["check"],
        &[
            ("REALMGATE_ENV", "production"),
            ("REALMGATE_MAIL", "log"),
            ("REALMGATE_USER_IDLE_TIMEOUT", "48h"),
        ],
    );
    assert!(!ok);
    for expected in [
        "error: REALMGATE_SECRET_KEY",
        "error: REALMGATE_PUBLIC_URL",
        "error: REALMGATE_MAIL",
        "warning: REALMGATE_USER_IDLE_TIMEOUT",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(expected)),
            "{expected} missing in:\n{out}"
        );
    }
    assert!(
        out.lines()
            .all(|l| l.starts_with("error:") || l.starts_with("warning:")),
        "{out}"
    );

    // The bootstrap admin still on its first password is an error in production.
    {
        use diesel::prelude::*;
        use realmgate::db::schema::accounts as a;
        let pool = realmgate::db::connect(&db).unwrap();
        diesel::insert_into(a::table)
            .values((
                a::email.eq("admin@localhost"),
                a::name.eq("Administrator"),
                a::password_hash.eq("x"),
                a::is_admin.eq(true),
                a::must_change_password.eq(true),
                a::created_at.eq(chrono::Utc::now().naive_utc()),
            ))
            .execute(&mut pool.get().unwrap())
            .unwrap();
    }
    let key = "ab".repeat(64);
    let (ok, out, _) = run(
        &db,
        &["check"],
        &[
            ("REALMGATE_ENV", "production"),
            ("REALMGATE_SECRET_KEY", &key),
            ("REALMGATE_PUBLIC_URL", "https://portal.example"),
            ("REALMGATE_MAIL", "smtps://mail.example:465"),
        ],
    );
    assert!(!ok);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("error: the bootstrap admin admin@localhost"),
        "{out}"
    );
}

#[test]
fn demo_creates_and_resets_the_demo_accounts_and_is_refused_in_production() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db").to_str().unwrap().to_owned();
    let (ok, first, _) = run(&db, &["demo"], &[]);
    assert!(ok, "{first}");
    assert!(first.contains("demo@example.com") && first.contains("demo-admin@example.com"));
    let (ok, second, _) = run(&db, &["demo"], &[]);
    assert!(ok);
    assert_ne!(first, second, "new passwords each time");

    use diesel::prelude::*;
    use realmgate::db::schema::accounts as a;
    let pool = realmgate::db::connect(&db).unwrap();
    let rows: Vec<(String, bool, bool)> = a::table
        .order(a::email)
        .select((a::email, a::is_admin, a::is_active))
        .load(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("demo-admin@example.com".into(), true, true),
            ("demo@example.com".into(), false, true)
        ]
    );

    let key = "ab".repeat(64);
    let (ok, out, err) = run(
        &db,
        &["demo"],
        &[
            ("REALMGATE_ENV", "production"),
            ("REALMGATE_SECRET_KEY", &key),
        ],
    );
    assert!(!ok && out.is_empty());
    assert!(
        err.contains("refused when REALMGATE_ENV=production"),
        "{err}"
    );
}

#[test]
fn orgs_and_create_user_with_an_organisation() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orgs.db").to_str().unwrap().to_owned();
    let (ok, out, err) = run(
        &db,
        &["orgs", "create", "--slug", "acme", "--name", "Acme Estates"],
        &[],
    );
    assert!(
        ok && out.contains("Created organisation acme"),
        "{out}{err}"
    );
    let (ok, _, err) = run(
        &db,
        &["orgs", "create", "--slug", "acme", "--name", "Again"],
        &[],
    );
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(
        &db,
        &["orgs", "create", "--slug", "-bad", "--name", "Bad"],
        &[],
    );
    assert!(!ok && err.contains("--slug"), "{err}");

    let create = |email: &str, extra: &[&str]| {
        let mut args = vec![
            "create-user",
            "--email",
            email,
            "--name",
            "Pat",
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        let mut child = realmgate(&db)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"a long enough password\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = create("boss@acme.example", &["--org", "acme", "--admin"]);
    assert!(
        ok && out.contains("admin") && out.contains("in acme"),
        "{out}"
    );
    let (ok, out) = create("root@example.com", &["--platform-admin"]);
    assert!(
        ok && out.contains("platform admin") && out.contains("in default"),
        "{out}"
    );
    let (ok, out) = create("x@example.com", &["--org", "nope"]);
    assert!(!ok && out.contains("--org"), "{out}");

    use diesel::prelude::*;
    use realmgate::db::schema::{accounts as a, organisations as o};
    let pool = realmgate::db::connect(&db).unwrap();
    let rows: Vec<(String, String, bool, bool)> = a::table
        .inner_join(o::table)
        .order(a::email)
        .select((a::email, o::slug, a::is_admin, a::is_platform_admin))
        .load(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("boss@acme.example".into(), "acme".into(), true, false),
            ("root@example.com".into(), "default".into(), true, true),
        ]
    );
    let (ok, out, _) = run(&db, &["orgs", "list"], &[]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("acme\tAcme Estates\tactive\t1 account(s)"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("default\tDefault\tactive\t1 account(s)"),
        "{out}"
    );
}

#[test]
fn a_sign_up_organisation_that_does_not_exist_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db").to_str().unwrap().to_owned();
    let out = realmgate(&db)
        .env("REALMGATE_BIND", "127.0.0.1:0")
        .env("REALMGATE_SIGNUP_ORGANISATION", "nope")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("REALMGATE_SIGNUP_ORGANISATION"), "{err}");
    let (ok, out, _) = run(
        &db,
        &["check"],
        &[("REALMGATE_SIGNUP_ORGANISATION", "nope")],
    );
    assert!(
        !ok && out.contains("error: REALMGATE_SIGNUP_ORGANISATION"),
        "{out}"
    );
}

#[test]
fn reset_2fa_removes_the_factor_and_ends_every_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db").to_str().unwrap().to_owned();
    seed_sessions(&db);
    use diesel::prelude::*;
    use realmgate::db::schema::{auth_sessions as s, two_factor as tf};
    {
        let pool = realmgate::db::connect(&db).unwrap();
        diesel::insert_into(tf::table)
            .values((
                tf::account_id.eq(1),
                tf::secret_sealed.eq("sealed"),
                tf::created_at.eq(chrono::Utc::now().naive_utc()),
                tf::enabled_at.eq(Some(chrono::Utc::now().naive_utc())),
            ))
            .execute(&mut pool.get().unwrap())
            .unwrap();
    }
    let (ok, out, err) = run(&db, &["reset-2fa", "--email", "s@example.com"], &[]);
    assert!(ok && out.contains("no second factor now"), "{out}{err}");
    let pool = realmgate::db::connect(&db).unwrap();
    let mut conn = pool.get().unwrap();
    let left: i64 = tf::table.count().get_result(&mut conn).unwrap();
    assert_eq!(left, 0);
    let reasons: Vec<Option<String>> = s::table.select(s::revoke_reason).load(&mut conn).unwrap();
    assert!(reasons
        .iter()
        .all(|r| r.as_deref() == Some("two_factor_reset")));
    use realmgate::db::schema::security_incidents as si;
    let kinds: Vec<String> = si::table.select(si::kind).load(&mut conn).unwrap();
    assert_eq!(kinds, vec!["two_factor_reset"]);
    let (ok, _, err) = run(&db, &["reset-2fa", "--email", "nobody@example.com"], &[]);
    assert!(!ok && err.contains("no account"), "{err}");
}

/// SPEC §17: every command-line change writes its audit row, with no actor and no address.
#[test]
fn command_line_changes_write_audit_rows() {
    use diesel::prelude::*;
    use realmgate::db::schema::admin_actions as aa;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db").to_str().unwrap().to_owned();
    let (ok, _, err) = run(
        &db,
        &["orgs", "create", "--slug", "acme", "--name", "Acme"],
        &[],
    );
    assert!(ok, "{err}");
    let mut child = realmgate(&db)
        .args(["create-user", "--email", "ada@example.com", "--name", "Ada"])
        .args(["--org", "acme", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let (ok, _, err) = run(&db, &["reset-2fa", "--email", "ada@example.com"], &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&db, &["sessions", "clear", "--realm", "user"], &[]);
    assert!(ok, "{err}");
    let pool = realmgate::db::connect(&db).unwrap();
    type Row = (
        Option<i32>,
        String,
        Option<i32>,
        Option<i32>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = aa::table
        .order(aa::id)
        .select((
            aa::actor_account_id,
            aa::action,
            aa::target_account_id,
            aa::organisation_id,
            aa::ip,
            aa::details,
        ))
        .load(&mut pool.get().unwrap())
        .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        actions,
        [
            "create_organisation",
            "create_account",
            "reset_2fa",
            "sessions_clear"
        ]
    );
    for row in &rows {
        assert_eq!((row.0, row.4.as_deref()), (None, None), "{row:?}");
        assert!(
            row.5
                .as_deref()
                .is_some_and(|d| d.starts_with("realmgate ")),
            "{row:?}"
        );
    }
    assert_eq!(rows[1].2, Some(1), "the account made");
    assert_eq!(rows[0].3, rows[1].3, "both in acme");
    assert!(
        rows[3].5.as_deref().unwrap().contains("realm=user"),
        "{rows:?}"
    );
}

/// `backup` copies a database while a server writes to it, never overwrites, and says what is
/// wrong with a folder it cannot write to.
#[test]
fn backup_copies_a_live_database_and_never_overwrites() {
    use diesel::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db").to_str().unwrap().to_owned();
    let mut server = realmgate(&db)
        .env("REALMGATE_BIND", "127.0.0.1:0")
        .env("REALMGATE_MAIL", "log")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(server.stdout.take().unwrap());
    let mut port = 0;
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Realmgate is serving on http://127.0.0.1:") {
            port = rest.trim_end_matches('/').parse().unwrap();
            break;
        }
    }
    assert_ne!(port, 0);
    // Writes going on while the copy is made: sign-in attempts through the live server.
    let writer = std::thread::spawn(move || {
        for i in 0..30 {
            let body = format!("email=nobody{i}%40example.com&password=x&csrf_token=x");
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let _ = write!(
                stream,
                "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let mut sink = String::new();
            let _ = stream.read_to_string(&mut sink);
        }
    });
    let copy = dir.path().join("copy.db");
    let copy_s = copy.to_str().unwrap().to_owned();
    let (ok, out, err) = run(&db, &["backup", &copy_s], &[]);
    writer.join().unwrap();
    assert!(ok, "{out}{err}");
    assert!(out.contains("integrity check ok"), "{out}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy holds password hashes");
    // The copy opens, holds the bootstrap admin, and is a database of this version.
    let mut conn = diesel::SqliteConnection::establish(&copy_s).unwrap();
    let admins: i64 = realmgate::db::schema::accounts::table
        .filter(realmgate::db::schema::accounts::is_admin.eq(true))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(admins, 1);
    // Never over an existing file, the copy just made included.
    let before = std::fs::read(&copy).unwrap();
    let (ok, _, err) = run(&db, &["backup", &copy_s], &[]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    // A folder that does not exist: a clear error, nothing left behind.
    let nowhere = dir.path().join("no/such/folder/x.db");
    let (ok, _, err) = run(&db, &["backup", nowhere.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(err.contains("cannot create"), "{err}");
    // On PostgreSQL it says what to use instead.
    let (ok, _, err) = run(
        "postgres://nobody@127.0.0.1:1/none",
        &["backup", dir.path().join("pg.db").to_str().unwrap()],
        &[("REALMGATE_SECRET_KEY", &"ab".repeat(64))],
    );
    assert!(!ok);
    assert!(err.contains("pg_dump"), "{err}");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn outbox_lists_pending_and_failed_without_links() {
    use diesel::prelude::*;
    use realmgate::db::schema::outbox as ob;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ob.db").to_str().unwrap().to_owned();
    let (ok, out, _) = run(&db, &["outbox"], &[]);
    assert!(ok);
    assert_eq!(out, "No pending or failed messages.\n");
    let pool = realmgate::db::connect(&db).unwrap();
    let writer = realmgate::app::outbox::Writer::new(&[9u8; 64], "https://portal.example");
    let mail = realmgate::app::mail::Mail::reset_requested(
        "ann@example.com",
        "https://portal.example",
        "SECRET-TOKEN-abcdef",
        Duration::from_secs(3600),
    )
    .unwrap();
    let now = chrono::Utc::now().naive_utc();
    writer.mail(&mut pool.get().unwrap(), &mail, now).unwrap();
    writer.mail(&mut pool.get().unwrap(), &mail, now).unwrap();
    diesel::update(ob::table.filter(ob::id.eq(2)))
        .set((
            ob::state.eq("failed"),
            ob::payload.eq(None::<String>),
            ob::last_error.eq("SMTP: permanent error (550): no such mailbox"),
        ))
        .execute(&mut pool.get().unwrap())
        .unwrap();
    let (ok, out, _) = run(&db, &["outbox"], &[]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("1\tpending\tmail\tann@example.com\tReset your Realmgate password\t0 attempt(s)\tnext try "), "{out}");
    assert!(
        lines[1].starts_with("2\tfailed\tmail\tann@example.com"),
        "{out}"
    );
    assert!(
        lines[1].ends_with("SMTP: permanent error (550): no such mailbox"),
        "{out}"
    );
    assert!(!out.contains("SECRET-TOKEN"), "{out}");
    assert!(!out.contains("/password/reset/"), "{out}");
}

#[test]
fn mail_test_sends_one_message_and_says_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mt.db").to_str().unwrap().to_owned();
    let outbox = dir.path().join("out");
    let mail = format!("file:{}", outbox.display());
    let (ok, out, err) = run(
        &db,
        &["mail-test", "--to", "ops@example.com"],
        &[
            ("REALMGATE_MAIL", &mail),
            ("REALMGATE_PUBLIC_URL", "https://portal.example"),
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("from Realmgate <no-reply@portal.example> to ops@example.com"),
        "{out}"
    );
    assert!(out.contains("Sent"), "{out}");
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
    assert_eq!(files.len(), 1);
    // An SMTP server nobody answers at: a clear failure naming the mailer, not its password.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let smtp = format!("smtp://mailer:s3cret-pass@127.0.0.1:{port}");
    let (ok, out, err) = run(
        &db,
        &["mail-test", "--to", "ops@example.com"],
        &[("REALMGATE_MAIL", &smtp)],
    );
    assert!(!ok);
    assert!(
        out.contains(&format!("through smtp://127.0.0.1:{port}")),
        "{out}"
    );
    assert!(err.contains("the message was not sent"), "{err}");
    assert!(
        !out.contains("s3cret") && !err.contains("s3cret"),
        "{out}{err}"
    );
    let (ok, _, err) = run(&db, &["mail-test", "--to", "not-an-address"], &[]);
    assert!(!ok && err.contains("--to"), "{err}");
}

/// One raw HTTP/1.1 exchange with a spawned server: the whole answer.
fn exchange(port: u16, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

/// SPEC §17: `REALMGATE_LOG_FORMAT=json` writes one JSON object a line on standard error, each
/// line of a request names its id (the access line and the incident alike), standard output
/// stays plain text, and no password or cookie reaches the log.
#[test]
fn json_logs_parse_line_by_line_name_the_request_and_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("json.db").to_str().unwrap().to_owned();
    let mut server = realmgate(&db)
        .env("REALMGATE_BIND", "127.0.0.1:0")
        .env("REALMGATE_MAIL", "log")
        .env("REALMGATE_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = server.stderr.take().unwrap();
    let said = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    let mut port = 0;
    for line in BufReader::new(server.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Realmgate is serving on http://127.0.0.1:") {
            port = rest.trim_end_matches('/').parse().unwrap();
            break;
        }
    }
    assert_ne!(port, 0, "the banner is plain text on standard output");
    let host = format!("127.0.0.1:{port}");
    let page = exchange(
        port,
        &format!("GET /login HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: json-get-1\r\nConnection: close\r\n\r\n"),
    );
    let cookie = page
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: realmgate_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = page[start..].split('"').next().unwrap().to_owned();
    let secret = "hunter2-SECRET-xyz";
    let body = format!("email=ann%40example.com&password={secret}&csrf_token={csrf}");
    let answer = exchange(
        port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: json-post-2\r\nCookie: realmgate_session={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer
        .to_ascii_lowercase()
        .contains("x-request-id: json-post-2"));
    // Let the last lines out, then stop it.
    std::thread::sleep(Duration::from_millis(300));
    let _ = server.kill();
    let _ = server.wait();
    let log = said.join().unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        for key in ["timestamp", "level", "target"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
    }
    let of = |id: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .collect()
    };
    let post = of("json-post-2");
    let access: Vec<_> = post.iter().filter(|l| l["target"] == "access").collect();
    assert_eq!(access.len(), 1, "{post:?}");
    assert_eq!(access[0]["message"], "POST /login");
    assert_eq!(access[0]["status"], 401);
    assert_eq!(access[0]["client"], "127.0.0.1");
    assert!(access[0]["duration_ms"].is_string());
    let incident: Vec<_> = post.iter().filter(|l| l["target"] == "security").collect();
    assert!(
        incident.iter().any(|l| l["message"]
            .as_str()
            .unwrap()
            .starts_with("incident kind=login_failed")),
        "{post:?}"
    );
    // Every access line belongs to a request; the GET's names its own id.
    for line in lines.iter().filter(|l| l["target"] == "access") {
        assert!(line["span"]["request_id"].is_string(), "{line}");
    }
    assert_eq!(of("json-get-1").len(), 1);
    assert!(!log.contains(secret), "a password reached the log");
    assert!(!log.contains(&cookie), "a cookie reached the log");
    assert!(!log.contains(&csrf), "a CSRF token reached the log");
}

/// `REALMGATE_METRICS_BIND` opens a listener of its own, named in the banner; the public one
/// has no `/metrics`.
#[test]
fn serve_opens_the_metrics_listener_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db").to_str().unwrap().to_owned();
    let mut server = realmgate(&db)
        .env("REALMGATE_BIND", "127.0.0.1:0")
        .env("REALMGATE_METRICS_BIND", "127.0.0.1:0")
        .env("REALMGATE_MAIL", "log")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut port, mut metrics) = (0u16, 0u16);
    for line in BufReader::new(server.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Realmgate is serving on http://127.0.0.1:") {
            port = rest.trim_end_matches('/').parse().unwrap();
        }
        if let Some(rest) = line.trim().strip_prefix("metrics:") {
            let rest = rest.trim().trim_start_matches("http://127.0.0.1:");
            metrics = rest.trim_end_matches("/metrics").parse().unwrap();
            break;
        }
    }
    assert!(port != 0 && metrics != 0 && port != metrics);
    let public = exchange(
        port,
        &format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    );
    assert!(public.starts_with("HTTP/1.1 404"), "{public}");
    let scraped = exchange(
        metrics,
        &format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{metrics}\r\nConnection: close\r\n\r\n"),
    );
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(
        scraped.contains(
            "realmgate_http_requests_total{endpoint=\"unmatched\",method=\"GET\",status=\"404\"} 1"
        ),
        "{scraped}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// Issue 17: the small things a first run meets.
#[test]
fn migrate_says_it_created_the_database_and_create_user_explains_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("first.db").to_str().unwrap().to_owned();
    let (ok, out, _) = run(&db, &["migrate"], &[]);
    assert!(ok);
    assert!(
        out.starts_with("Created the database ") && out.trim_end().ends_with("and migrated it."),
        "{out}"
    );
    let (ok, out, _) = run(&db, &["migrate"], &[]);
    assert!(ok && out.contains("is up to date."), "{out}");
    let (ok, out, _) = run(&db, &["create-user", "--help"], &[]);
    assert!(ok);
    assert!(
        out.contains("--email <EMAIL>") && out.contains("what it signs in with"),
        "{out}"
    );
    assert!(
        out.contains("--name <NAME>") && out.contains("The name shown"),
        "{out}"
    );
    // `check` before the first start: the database is to be made, a warning and exit 0.
    let fresh = dir.path().join("not-yet.db").to_str().unwrap().to_owned();
    let (ok, out, _) = run(&fresh, &["check"], &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("warning: REALMGATE_DATABASE_URL: the database"),
        "{out}"
    );
    assert!(!std::path::Path::new(&fresh).exists());
}
