//! The durable outbox and SMTP (SPEC §17): retries with backoff, giving up after the limit, a
//! server that hangs, a crash with work queued, and the lease that keeps two workers off one
//! row. Runs on both backends.

use std::time::Duration;

use diesel::prelude::*;
use realmgate::db::schema::outbox as ob;

use crate::helpers::{spawn_tuned, spawn_with, TestDatabase, PASSWORD, TEST_KEY};
use crate::smtp::{Mode, Smtp};

/// `(state, attempts, payload is empty, last_error)` of every outbox row, oldest first.
fn rows(conn: &mut realmgate::db::Conn) -> Vec<(String, i32, bool, Option<String>, String)> {
    ob::table
        .order(ob::id)
        .select((
            ob::state,
            ob::attempts,
            ob::payload,
            ob::last_error,
            ob::kind,
        ))
        .load::<(String, i32, Option<String>, Option<String>, String)>(conn)
        .unwrap()
        .into_iter()
        .map(|(s, a, p, e, k)| (s, a, p.is_none(), e, k))
        .collect()
}

/// The text of a MIME message with quoted-printable soft breaks and `=3D` undone.
fn unfolded(raw: &str) -> String {
    raw.replace("=\r\n", "").replace("=3D", "=")
}

async fn ask_for_reset<S, B>(app: &crate::helpers::TestApp<S>, email: &str)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let token = app.csrf("/password/reset").await;
    let res = app
        .post(
            "/password/reset",
            &[("email", email), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

/// Moves the clock past any backoff and wakes the worker, until `done` or 10 s.
async fn drive<S>(app: &crate::helpers::TestApp<S>, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        app.clock.danger_advance(Duration::from_secs(3600));
        app.state.outbox.wake();
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbox did not get there");
}

#[actix_web::test]
async fn a_refused_message_is_retried_then_sent_once_with_both_parts_and_the_sender() {
    let smtp = Smtp::start(Mode::RefuseFirst(2));
    let url = smtp.url();
    let app = spawn_with(&[
        ("REALMGATE_MAIL", &url),
        ("REALMGATE_MAIL_ATTEMPTS", "5"),
        (
            "REALMGATE_MAIL_FROM",
            "Portal Team <no-reply@portal.example>",
        ),
    ])
    .await;
    app.create_account("ann@example.com", "Ann", false).await;
    ask_for_reset(&app, "ann@example.com").await;
    drive(&app, || !smtp.messages().is_empty()).await;
    // Nothing more arrives once it is marked sent, however often the worker wakes.
    for _ in 0..5 {
        app.clock.danger_advance(Duration::from_secs(3600));
        app.state.outbox.wake();
        actix_web::rt::time::sleep(Duration::from_millis(40)).await;
    }
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "sent exactly once");
    assert_eq!(smtp.attempts(), 3, "two refusals, then the delivery");
    let message = unfolded(&messages[0]);
    let from = message
        .lines()
        .find_map(|l| l.strip_prefix("From: "))
        .unwrap();
    assert!(
        from.contains("Portal Team") && from.ends_with("<no-reply@portal.example>"),
        "{from}"
    );
    assert!(message.contains("To: ann@example.com"), "{message}");
    assert!(message.contains("multipart/alternative"), "{message}");
    assert!(message.contains("text/plain"), "{message}");
    assert!(message.contains("text/html"), "{message}");
    assert_eq!(
        message.matches("/password/reset/").count(),
        3,
        "the link once in the text part, twice (button and address) in the HTML part"
    );
    let all = rows(&mut app.db());
    let mail: Vec<_> = all.iter().filter(|r| r.4 == "mail").collect();
    assert_eq!(mail.len(), 1);
    let (state, attempts, emptied, error, _) = mail[0];
    assert_eq!((state.as_str(), *attempts, *emptied), ("sent", 3, true));
    assert_eq!(error, &None);
    // The reset request itself was carried out once.
    let work: Vec<_> = all.iter().filter(|r| r.4 == "reset_request").collect();
    assert_eq!(work.len(), 1);
    assert_eq!((work[0].0.as_str(), work[0].2), ("sent", true));
}

#[actix_web::test]
async fn a_message_is_marked_failed_after_the_limit_and_listed_without_its_link() {
    let smtp = Smtp::start(Mode::Down);
    let url = smtp.url();
    let app = spawn_with(&[("REALMGATE_MAIL", &url), ("REALMGATE_MAIL_ATTEMPTS", "3")]).await;
    app.create_account("ann@example.com", "Ann", false).await;
    ask_for_reset(&app, "ann@example.com").await;
    drive(&app, || {
        rows(&mut app.db())
            .iter()
            .any(|r| r.4 == "mail" && r.0 == "failed")
    })
    .await;
    assert!(smtp.messages().is_empty());
    assert_eq!(smtp.connections(), 3, "three attempts, then no more");
    let listed = realmgate::db::outbox::list_open(&mut app.db(), 10).unwrap();
    assert_eq!(listed.len(), 1);
    let row = &listed[0];
    assert_eq!(
        (row.state.as_str(), row.kind.as_str(), row.attempts),
        ("failed", "mail", 3)
    );
    assert_eq!(row.recipient, "ann@example.com");
    assert_eq!(row.subject, "Reset your Realmgate password");
    let error = row.last_error.clone().unwrap();
    assert!(error.contains("421"), "{error}");
    // The failed row keeps no link: its payload is gone, and nothing listed holds a token.
    let (payload,): (Option<String>,) = ob::table
        .filter(ob::kind.eq("mail"))
        .select((ob::payload,))
        .first(&mut app.db())
        .unwrap();
    assert_eq!(payload, None);
    assert!(!format!("{listed:?}").contains("/password/reset/"));
    // The console's dashboard counts it.
    app.sign_in_admin().await;
    let page = app.get("/admin").await;
    assert!(page.body.contains("Outbox"), "{}", page.body);
    assert!(page.body.contains("1 failed"), "{}", page.body);
}

#[actix_web::test]
async fn a_hanging_server_times_out_and_the_message_waits_for_the_next_try() {
    let smtp = Smtp::start(Mode::Hang);
    let url = smtp.url();
    let app = spawn_tuned(&[("REALMGATE_MAIL", &url)], |c| {
        c.mail.smtp_timeout = Duration::from_millis(500);
    })
    .await;
    app.create_account("ann@example.com", "Ann", false).await;
    ask_for_reset(&app, "ann@example.com").await;
    // The first attempt gives up on the silent server and schedules the next.
    for _ in 0..100 {
        let mail: Vec<_> = rows(&mut app.db())
            .into_iter()
            .filter(|r| r.4 == "mail")
            .collect();
        if mail.first().is_some_and(|r| r.1 == 1) {
            let (state, _, emptied, error, _) = &mail[0];
            assert_eq!(state, "pending");
            assert!(!emptied, "still to send, so still sealed");
            assert!(
                error.as_deref().is_some_and(|e| e.contains("SMTP")),
                "{error:?}"
            );
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    smtp.set_mode(Mode::Accept);
    drive(&app, || !smtp.messages().is_empty()).await;
    assert_eq!(smtp.messages().len(), 1);
}

/// The lease: one worker holds a row until it finishes or the lease ends, and a row marked
/// sent can never be marked (and so sent) again.
#[actix_web::test]
async fn a_claimed_row_is_one_workers_until_its_lease_ends() {
    use realmgate::db::outbox;
    let app = spawn_with(&[]).await;
    // Stop this app's own worker so the test alone claims.
    app.state.outbox.stop();
    let mut conn = app.db();
    let now = app.clock.now();
    let id = outbox::insert(&mut conn, outbox::Kind::Mail, "a@b.example", "s", "x", now).unwrap();
    let lease = now + chrono::Duration::seconds(120);
    let first = outbox::claim_next(&mut conn, now, lease).unwrap().unwrap();
    assert_eq!(first.id, id);
    assert!(outbox::claim_next(&mut conn, now, lease).unwrap().is_none());
    let later = lease + chrono::Duration::seconds(1);
    let again = outbox::claim_next(&mut conn, later, later + chrono::Duration::seconds(120))
        .unwrap()
        .unwrap();
    assert_eq!(
        again.id, id,
        "a worker that died loses its row when the lease ends"
    );
    // The first worker, back from a long stall, can no longer finish (or re-queue) the row.
    assert!(!outbox::mark_sent(&mut conn, &first, 1, later).unwrap());
    outbox::retry_later(&mut conn, &first, 1, later, "stale").unwrap();
    assert!(outbox::mark_sent(&mut conn, &again, 1, later).unwrap());
    assert!(!outbox::mark_sent(&mut conn, &again, 2, later).unwrap());
    let (state, error): (String, Option<String>) = ob::table
        .find(id)
        .select((ob::state, ob::last_error))
        .first(&mut conn)
        .unwrap();
    assert_eq!((state.as_str(), error), ("sent", None));
    assert!(
        outbox::claim_next(&mut conn, later + chrono::Duration::days(1), later)
            .unwrap()
            .is_none()
    );
}

/// SPEC §17: kill the server (SIGKILL) while it holds a message in mid-delivery and with a
/// sign-up queued; start it again, and every message arrives exactly once.
#[test]
fn killed_with_work_queued_a_restart_delivers_everything_once() {
    use realmgate::app::outbox::Writer;
    use realmgate::domain::{Email, Name, NewPassword};
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path(), "crash");
    let pool = realmgate::db::connect(&db.url).unwrap();
    let key = hex::decode(TEST_KEY).unwrap();
    // A server that takes the connection and never answers: the first delivery hangs.
    let smtp = Smtp::start(Mode::Hang);
    let url = smtp.url();
    let settings = [
        ("REALMGATE_MAIL", url.as_str()),
        ("REALMGATE_MAIL_RETRY_BASE", "1s"),
        ("REALMGATE_MAIL_ATTEMPTS", "30"),
    ];
    let start = || {
        crate::instances::wait_until_serving(
            crate::instances::command(&db.url, &settings)
                .spawn()
                .unwrap(),
        )
        .unwrap()
    };
    let mut first = start();
    // The links point at whatever origin the instance has; the test reads addresses only.
    let writer = Writer::new(&key, "http://127.0.0.1");
    let sign_up = |conn: &mut realmgate::db::Conn, email: &str| {
        let email = Email::parse(email).unwrap();
        let name = Name::parse("New Person").unwrap();
        let password = NewPassword::parse(PASSWORD, email.as_str(), "New Person").unwrap();
        let now = chrono::Utc::now().naive_utc();
        conn.write_transaction(|conn| writer.sign_up(conn, &email, &name, &password, now))
            .unwrap();
    };
    {
        let mut conn = pool.get().unwrap();
        // What two sign-up requests (one of an address that has an account by then) and a
        // reset request wrote, as the request path writes it.
        sign_up(&mut conn, "first@example.com");
        sign_up(&mut conn, "first@example.com");
        let reset = Email::parse("first@example.com").unwrap();
        let client = realmgate::domain::client::ClientInfo {
            ip: "203.0.113.7".parse().unwrap(),
            user_agent: "Test".into(),
            request_id: Some("crash-test".into()),
        };
        let now = chrono::Utc::now().naive_utc();
        conn.write_transaction(|conn| writer.reset_request(conn, &reset, &client, now))
            .unwrap();
    }
    // The first instance carries out the work and hangs delivering the first of its three
    // mails: that row is claimed, under a lease, when the process is killed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let all = rows(&mut pool.get().unwrap());
        let work_done = all
            .iter()
            .filter(|r| r.4 != "mail" && r.0 == "sent")
            .count();
        let mails = all.iter().filter(|r| r.4 == "mail").count();
        let claimed: i64 = ob::table
            .filter(ob::claimed_until.is_not_null())
            .count()
            .get_result(&mut pool.get().unwrap())
            .unwrap();
        if work_done == 3 && mails == 3 && claimed == 1 && smtp.connections() >= 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{all:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    // A sign-up that committed just before the kill, not yet carried out.
    sign_up(&mut pool.get().unwrap(), "second@example.com");
    // The dead worker's lease runs out (ten minutes; moved back here rather than waited for).
    diesel::update(ob::table.filter(ob::claimed_until.is_not_null()))
        .set(ob::claimed_until.eq(chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1)))
        .execute(&mut pool.get().unwrap())
        .unwrap();
    smtp.set_mode(Mode::Accept);
    let _second = start();
    let messages = smtp.wait_for(4, 60);
    // Another round of retries would have come due by now: nothing is sent twice.
    std::thread::sleep(Duration::from_secs(3));
    let messages = if smtp.messages().len() > messages.len() {
        smtp.messages()
    } else {
        messages
    };
    let mut to: Vec<String> = messages
        .iter()
        .map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("To: "))
                .unwrap()
                .to_owned()
        })
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            "first@example.com",
            "first@example.com",
            "first@example.com",
            "second@example.com"
        ]
    );
    let subjects: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Subject: ")))
        .collect();
    assert!(
        subjects.contains(&"Confirm your Realmgate account"),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"Someone tried to sign up with your address"),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"Reset your Realmgate password"),
        "{subjects:?}"
    );
    let all = rows(&mut pool.get().unwrap());
    assert!(all.iter().all(|r| r.0 == "sent" && r.2), "{all:?}");
    use realmgate::db::schema::accounts as a;
    let made: i64 = a::table
        .filter(a::email.eq_any(["first@example.com", "second@example.com"]))
        .count()
        .get_result(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(made, 2, "one account per address");
}

/// Issue 16: the periodic cleanup deletes outbox rows finished before the retention, and the
/// admin audit of then, and keeps what is pending however old.
#[actix_web::test]
async fn the_cleanup_deletes_spent_outbox_rows_and_old_audit_after_the_retention() {
    use realmgate::db::schema::admin_actions as aa;
    let app = spawn_with(&[("REALMGATE_RETENTION", "30d")]).await;
    app.state.outbox.stop();
    let now = app.clock.now();
    let old = now - chrono::Duration::days(40);
    let mut conn = app.db();
    for (state, finished) in [
        ("sent", Some(old)),
        ("failed", Some(old)),
        ("sent", Some(now)),
        ("pending", None),
    ] {
        diesel::insert_into(ob::table)
            .values((
                ob::kind.eq("mail"),
                ob::recipient.eq("a@b.example"),
                ob::subject.eq(state),
                ob::state.eq(state),
                ob::attempts.eq(1),
                ob::next_attempt_at.eq(old),
                ob::created_at.eq(old),
                ob::finished_at.eq(finished),
            ))
            .execute(&mut conn)
            .unwrap();
    }
    for at in [old, now] {
        diesel::insert_into(aa::table)
            .values((aa::action.eq("sessions_clear"), aa::created_at.eq(at)))
            .execute(&mut conn)
            .unwrap();
    }
    realmgate::app::maintenance::cleanup(&mut conn, &app.state.config, now).unwrap();
    let left: Vec<(String, Option<chrono::NaiveDateTime>)> = ob::table
        .order(ob::id)
        .select((ob::state, ob::finished_at))
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        left.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["sent", "pending"],
        "the old sent and failed rows are gone; the recent one and the pending one stay"
    );
    // The recent row stays (PostgreSQL keeps microseconds: compared by age, not equality).
    let audit: Vec<chrono::NaiveDateTime> =
        aa::table.select(aa::created_at).load(&mut conn).unwrap();
    assert_eq!(audit.len(), 1);
    assert!(now - audit[0] < chrono::Duration::seconds(1));
}
