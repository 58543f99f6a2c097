//! The console's figures of accounts and live sessions, read from counters that triggers keep
//! (`account_counts`, `session_counts`; migration `2026-12-07-000000_console_counters`), so a
//! view costs the same with ten accounts or a million.
//!
//! Both figures are exact. The session counter holds unrevoked rows; a live count is that less
//! the *backlog*, unrevoked rows already past a bound (a session nobody came back to, which
//! the cleanup ends every interval), read from the expiry indexes. The backlog is small while
//! the cleanup runs; if it stopped, these reads would grow with it and stay right. Each figure
//! is one statement, so the counter and its backlog are read in one snapshot.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::sql_types::{BigInt, Integer, Timestamp};
use diesel::{QueryResult, RunQueryDsl as _};

use super::Conn;
use crate::domain::ids::OrganisationId;
use crate::domain::organisation::Scope;
use crate::domain::realm::Realm;

/// Unrevoked sessions past a bound, as `(realm, account_id)`: the idle range and the
/// absolute-only range, each from its own expiry index. Used as a `MATERIALIZED` CTE: SQLite
/// otherwise pushed the realm filter down into it and read the realm's every live session from
/// the list's index. `{p}` is the backend's parameter mark; parameter 1 is now.
const BACKLOG: &str = "SELECT realm, account_id FROM auth_sessions WHERE revoked_at IS NULL \
                       AND idle_expires_at <= {p}1 UNION ALL SELECT realm, account_id FROM \
                       auth_sessions WHERE revoked_at IS NULL AND absolute_expires_at <= {p}1 \
                       AND idle_expires_at > {p}1";

/// What the console's front page counts, within its scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figures {
    pub accounts: i64,
    pub user_sessions: i64,
    pub admin_sessions: i64,
    pub api_sessions: i64,
}

#[derive(diesel::QueryableByName)]
struct FiguresRow {
    #[diesel(sql_type = BigInt)]
    accounts: i64,
    #[diesel(sql_type = BigInt)]
    user_live: i64,
    #[diesel(sql_type = BigInt)]
    admin_live: i64,
    #[diesel(sql_type = BigInt)]
    api_live: i64,
}

/// The accounts and the live sessions per realm that `scope` sees: an organisation admin's
/// figures leave out its organisation's platform admins (SPEC §14).
pub fn figures(conn: &mut Conn, scope: Scope, now: NaiveDateTime) -> QueryResult<Figures> {
    let organisation = match scope {
        Scope::Platform => None,
        Scope::Organisation(o) => Some(o),
    };
    let text = |p: &str| {
        let (accounts_in, sessions_in, backlog_in) = match organisation {
            None => ("", "", String::new()),
            Some(_) => (
                " WHERE organisation_id = {p}2 AND NOT is_platform_admin",
                " AND organisation_id = {p}2",
                " AND EXISTS (SELECT 1 FROM accounts owner WHERE owner.id = e.account_id \
                 AND owner.organisation_id = {p}2)"
                    .to_owned(),
            ),
        };
        let live = |realm: Realm| {
            let r = realm.as_str();
            let mut sql = format!(
                "(SELECT CAST(COALESCE(SUM(unrevoked), 0) AS BIGINT) FROM session_counts \
                 WHERE realm = '{r}'{sessions_in}) - (SELECT COUNT(*) FROM backlog e \
                 WHERE e.realm = '{r}'{backlog_in})"
            );
            if organisation.is_some() {
                // The organisation's platform admins' live sessions are in its counter but
                // out of its admins' sight. There are few of them, found by their own index
                // first (`CROSS JOIN` keeps SQLite to that order), then their sessions.
                sql.push_str(&format!(
                    " - (SELECT COUNT(*) FROM accounts owner CROSS JOIN auth_sessions s \
                     WHERE s.account_id = owner.id AND owner.is_platform_admin = TRUE AND \
                     owner.organisation_id = {{p}}2 AND s.realm = '{r}' AND s.revoked_at IS \
                     NULL AND s.idle_expires_at > {{p}}1 AND s.absolute_expires_at > {{p}}1)"
                ));
            }
            sql
        };
        format!(
            "WITH backlog AS MATERIALIZED ({BACKLOG}) SELECT (SELECT CAST(COALESCE(SUM(accounts), 0) AS \
             BIGINT) FROM account_counts{accounts_in}) AS accounts, {} AS user_live, {} AS \
             admin_live, {} AS api_live",
            live(Realm::User),
            live(Realm::Admin),
            live(Realm::Api),
        )
        .replace("{p}", p)
    };
    macro_rules! read {
        ($c:expr, $p:literal) => {{
            let q = diesel::sql_query(text($p)).bind::<Timestamp, _>(now);
            match organisation {
                None => q.get_result::<FiguresRow>($c)?,
                Some(o) => q.bind::<Integer, _>(o.0).get_result::<FiguresRow>($c)?,
            }
        }};
    }
    let row = match conn {
        Conn::Sqlite(c) => read!(c, "?"),
        Conn::Postgres(c) => read!(c, "$"),
    };
    Ok(Figures {
        accounts: row.accounts,
        user_sessions: row.user_live,
        admin_sessions: row.admin_live,
        api_sessions: row.api_live,
    })
}

#[derive(diesel::QueryableByName)]
struct OrganisationRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = BigInt)]
    accounts: i64,
    #[diesel(sql_type = BigInt)]
    live: i64,
}

/// Every organisation's accounts (platform admins included) and live sessions in every realm.
pub fn by_organisation(
    conn: &mut Conn,
    now: NaiveDateTime,
) -> QueryResult<HashMap<OrganisationId, (i64, i64)>> {
    let text = |p: &str| {
        format!(
            "WITH backlog AS MATERIALIZED ({BACKLOG}), late AS MATERIALIZED (SELECT \
             owner.organisation_id, COUNT(*) AS n FROM backlog e CROSS JOIN accounts owner \
             WHERE owner.id = e.account_id GROUP BY owner.organisation_id) SELECT o.id, \
             (SELECT CAST(COALESCE(SUM(counter.accounts), 0) AS BIGINT) FROM account_counts \
             counter WHERE counter.organisation_id = o.id) AS accounts, (SELECT \
             CAST(COALESCE(SUM(counter.unrevoked), 0) AS BIGINT) FROM session_counts counter \
             WHERE counter.organisation_id = o.id) - COALESCE(l.n, 0) AS live FROM \
             organisations o LEFT JOIN late l ON l.organisation_id = o.id"
        )
        .replace("{p}", p)
    };
    let rows: Vec<OrganisationRow> = match conn {
        Conn::Sqlite(c) => diesel::sql_query(text("?"))
            .bind::<Timestamp, _>(now)
            .load(c)?,
        Conn::Postgres(c) => diesel::sql_query(text("$"))
            .bind::<Timestamp, _>(now)
            .load(c)?,
    };
    Ok(rows
        .into_iter()
        .map(|r| (OrganisationId(r.id), (r.accounts, r.live)))
        .collect())
}

/// Drops the `chart_days` rows of the oldest day before `before` (the chart shows the last
/// seven, and they are kept only for it); how many. One day at a time, so a batch stays small:
/// a few rows per organisation.
pub fn forget_oldest_chart_day_before(
    conn: &mut Conn,
    before: chrono::NaiveDate,
) -> QueryResult<usize> {
    let day = before.format("%Y-%m-%d").to_string();
    let text = |p: &str| {
        format!(
            "DELETE FROM chart_days WHERE day = (SELECT MIN(day) FROM chart_days WHERE day < {p}1)"
        )
    };
    match conn {
        Conn::Sqlite(c) => diesel::sql_query(text("?"))
            .bind::<diesel::sql_types::Text, _>(day)
            .execute(c),
        Conn::Postgres(c) => diesel::sql_query(text("$"))
            .bind::<diesel::sql_types::Text, _>(day)
            .execute(c),
    }
}
