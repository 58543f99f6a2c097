//! Read-only queries for the admin console: filtered, paginated lists and daily counts.
//!
//! Every one takes the admin's `Scope` (SPEC §14) as a required argument, so a console query
//! that forgot it does not compile. An organisation admin's scope is its organisation's
//! accounts less its platform admins, and their sessions, incidents and sign-outs; the rows of
//! the other organisations are filtered by the same query shape as rows that do not exist.
//!
//! The lists are boxed queries (their filters vary), whose type names the multi-backend: they
//! run through `Conn` itself (`RunQueryDsl`); the other queries on each backend's own (`Run`).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::{Conn, Run as _};

use super::schema::{
    accounts, admin_actions, auth_sessions, logout_activity, organisations, security_incidents,
};
use crate::domain::events::{AdminActionKind, IncidentKind, LogoutReason, Severity};
use crate::domain::ids::{AccountId, OrganisationId, SessionId};
use crate::domain::organisation::Scope;
use crate::domain::realm::Realm;

/// What a console list shows: the admin's scope, and (platform admins only) the one
/// organisation they filtered by.
#[derive(Clone, Copy, Debug)]
pub struct Reach {
    pub scope: Scope,
    pub organisation: Option<OrganisationId>,
}

impl Reach {
    pub fn of(scope: Scope) -> Self {
        Self {
            scope,
            organisation: None,
        }
    }

    /// The organisation the rows must be of, if any, and whether platform admins' rows are out.
    fn limits(self) -> (Option<OrganisationId>, bool) {
        match self.scope {
            Scope::Organisation(o) => (Some(o), true),
            Scope::Platform => (self.organisation, false),
        }
    }
}

/// The ids of platform admins: their rows are out of every organisation admin's reach.
#[diesel::dsl::auto_type]
fn platform_admins() -> _ {
    accounts::table
        .filter(accounts::is_platform_admin.eq(true))
        .select(accounts::id.nullable())
}

pub const PAGE_SIZE: i64 = 25;

/// `page` (1-based) of at most `PAGE_SIZE`, or one batch of an export: the `size` rows after
/// `after` (the last row sent, newest first), found by its key rather than by an offset, so a
/// late batch costs what the first does. An export is never cut; the first batch also counts
/// every row it will hold (the file's name says how many).
#[derive(Clone, Copy, Debug)]
pub enum Window {
    Page(i64),
    /// Page `page`, found as the rows after `after` (the last row of the page before), by
    /// key: a late page costs what the first does, where an OFFSET reads every row before it.
    PageAfter {
        page: i64,
        after: (NaiveDateTime, i32),
    },
    Batch {
        after: Option<(NaiveDateTime, i32)>,
        size: i64,
    },
}

impl Window {
    fn limit_offset(self) -> (i64, i64) {
        match self {
            Window::Page(p) => (PAGE_SIZE + 1, (p.max(1) - 1) * PAGE_SIZE),
            Window::PageAfter { .. } => (PAGE_SIZE + 1, 0),
            Window::Batch { size, .. } => (size, 0),
        }
    }

    fn after(self) -> Option<(NaiveDateTime, i32)> {
        match self {
            Window::Batch { after, .. } => after,
            Window::PageAfter { after, .. } => Some(after),
            Window::Page(_) => None,
        }
    }

    fn is_batch(self) -> bool {
        matches!(self, Window::Batch { .. })
    }

    /// The first batch of an export: the one that counts the whole.
    fn is_first_batch(self) -> bool {
        matches!(self, Window::Batch { after: None, .. })
    }
}

/// Rows of one page, whether another page follows, and (for the filtered lists) how many
/// match in all.
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub has_next: bool,
    pub total: Option<Total>,
}

/// How many rows a filter matches: exact up to `COUNT_LIMIT`, past it "more than": an exact
/// count of millions of incidents would read every one of them on every page view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Total {
    Exactly(i64),
    MoreThan(i64),
}

pub const COUNT_LIMIT: i64 = 10_000;

impl Total {
    fn of(counted: usize) -> Self {
        let n = i64::try_from(counted).unwrap_or(i64::MAX);
        if n > COUNT_LIMIT {
            Total::MoreThan(COUNT_LIMIT)
        } else {
            Total::Exactly(n)
        }
    }
}

impl std::fmt::Display for Total {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let thousands = |n: i64| {
            let digits = n.to_string();
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            out
        };
        match self {
            Total::Exactly(1) => f.write_str("1 result"),
            Total::Exactly(n) => write!(f, "{} results", thousands(*n)),
            Total::MoreThan(n) => write!(f, "more than {} results", thousands(*n)),
        }
    }
}

fn paged<T>(mut rows: Vec<T>, window: Window) -> Paged<T> {
    let has_next = !window.is_batch() && rows.len() as i64 > PAGE_SIZE;
    if has_next {
        rows.truncate(PAGE_SIZE as usize);
    }
    Paged {
        rows,
        has_next,
        total: None,
    }
}

/// An export's batch; the first also carries the exact count of the whole export.
fn exported<T>(
    rows: Vec<T>,
    window: Window,
    count: impl FnOnce() -> QueryResult<i64>,
) -> QueryResult<Paged<T>> {
    let total = if window.is_first_batch() {
        Some(Total::Exactly(count()?))
    } else {
        None
    };
    Ok(Paged {
        rows,
        has_next: false,
        total,
    })
}

/// `paged`, with the filter's bounded count.
fn counted<T>(rows: Vec<T>, window: Window, matching: usize) -> Paged<T> {
    Paged {
        total: Some(Total::of(matching)),
        ..paged(rows, window)
    }
}

/// Account ids to addresses, for the lists that show an account by its email.
pub fn emails_of(
    conn: &mut Conn,
    ids: impl IntoIterator<Item = AccountId>,
) -> QueryResult<std::collections::HashMap<AccountId, String>> {
    let ids: Vec<AccountId> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(accounts::table
        .filter(accounts::id.eq_any(ids))
        .select((accounts::id, accounts::email))
        .load::<(AccountId, String)>(conn)?
        .into_iter()
        .collect())
}

#[derive(Queryable, Debug)]
pub struct AccountRow {
    pub id: AccountId,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub is_active: bool,
    pub confirmed: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub is_platform_admin: bool,
    pub organisation: String,
}

pub fn accounts(
    conn: &mut Conn,
    reach: Reach,
    q: &str,
    window: Window,
) -> QueryResult<Paged<AccountRow>> {
    let (limit, offset) = window.limit_offset();
    let mut query = accounts::table
        .inner_join(organisations::table)
        .into_boxed();
    let (organisation, no_platform) = reach.limits();
    if let Some(o) = organisation {
        query = query.filter(accounts::organisation_id.eq(o));
    }
    if no_platform {
        query = query.filter(accounts::is_platform_admin.eq(false));
    }
    let q = q.trim();
    if !q.is_empty() {
        let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
        query = query.filter(
            accounts::email
                .like(pattern.clone())
                .escape('\\')
                .or(accounts::name.like(pattern).escape('\\')),
        );
    }
    let rows = query
        .order(accounts::id)
        .limit(limit)
        .offset(offset)
        .select((
            accounts::id,
            accounts::email,
            accounts::name,
            accounts::is_admin,
            accounts::is_active,
            accounts::email_confirmed_at,
            accounts::created_at,
            accounts::last_login_at,
            accounts::is_platform_admin,
            organisations::slug,
        ))
        .load(conn)?;
    Ok(paged(rows, window))
}

fn escape_like(raw: &str) -> String {
    raw.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// An `account` filter: an id, or an email (normalised). `Some(None)` means "matches none":
/// an unknown account, and one out of the scope alike.
pub fn resolve_account(
    conn: &mut Conn,
    scope: Scope,
    raw: &str,
) -> QueryResult<Option<Option<AccountId>>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let found = if let Ok(id) = raw.parse::<AccountId>() {
        super::accounts::find(conn, id)?
    } else if let Ok(email) = crate::domain::Email::parse(raw) {
        super::accounts::find_by_email(conn, &email)?
    } else {
        None
    };
    Ok(Some(
        found
            .filter(|a| scope.covers(a.organisation_id, a.is_platform_admin))
            .map(|a| a.id),
    ))
}

#[derive(Queryable, Debug)]
pub struct SessionRow {
    pub id: SessionId,
    pub realm: Realm,
    pub account_id: AccountId,
    pub email: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ip: String,
    pub user_agent: String,
    pub remember: bool,
    pub device_name: Option<String>,
    pub organisation: String,
}

pub fn live_sessions(
    conn: &mut Conn,
    reach: Reach,
    realm: Option<Realm>,
    account: Option<Option<AccountId>>,
    now: NaiveDateTime,
    window: Window,
) -> QueryResult<Paged<SessionRow>> {
    let (limit, offset) = window.limit_offset();
    let mut query = auth_sessions::table
        .inner_join(accounts::table.inner_join(organisations::table))
        .filter(super::sessions::live(now))
        .into_boxed();
    let (organisation, no_platform) = reach.limits();
    if let Some(o) = organisation {
        query = query.filter(accounts::organisation_id.eq(o));
    }
    if no_platform {
        query = query.filter(accounts::is_platform_admin.eq(false));
    }
    if let Some(realm) = realm {
        query = query.filter(auth_sessions::realm.eq(realm));
    }
    match account {
        None => {}
        Some(Some(id)) => query = query.filter(auth_sessions::account_id.eq(id)),
        Some(None) => return Ok(paged(Vec::new(), window)),
    }
    let rows = query
        .order(auth_sessions::last_seen_at.desc())
        .limit(limit)
        .offset(offset)
        .select((
            auth_sessions::id,
            auth_sessions::realm,
            auth_sessions::account_id,
            accounts::email,
            auth_sessions::created_at,
            auth_sessions::last_seen_at,
            auth_sessions::ip,
            auth_sessions::user_agent,
            auth_sessions::remember,
            auth_sessions::device_name,
            organisations::slug,
        ))
        .load(conn)?;
    Ok(paged(rows, window))
}

/// Filters shared by the incident and logout lists.
#[derive(Default, Debug, Clone)]
pub struct Filters {
    /// Incident kind, or logout reason.
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub realm: Option<String>,
    pub account: Option<Option<AccountId>>,
    /// The admin audit's acting account (`resolve_account`'s form, as `account`).
    pub actor: Option<Option<AccountId>>,
    pub from: Option<NaiveDate>,
    /// Inclusive.
    pub to: Option<NaiveDate>,
}

fn day_start(d: NaiveDate) -> NaiveDateTime {
    d.and_hms_opt(0, 0, 0).unwrap_or_default()
}

#[derive(Queryable, Debug)]
pub struct IncidentRow {
    pub id: i32,
    pub created_at: NaiveDateTime,
    pub kind: IncidentKind,
    pub severity: Severity,
    pub realm: Option<Realm>,
    pub account_id: Option<AccountId>,
    pub email_attempted: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Option<String>,
    pub organisation: Option<String>,
    pub email: Option<String>,
}

pub fn incidents(
    conn: &mut Conn,
    reach: Reach,
    f: &Filters,
    window: Window,
) -> QueryResult<Paged<IncidentRow>> {
    use security_incidents as si;
    let (limit, offset) = window.limit_offset();
    let filtered = || {
        let mut query = si::table.left_join(organisations::table).into_boxed();
        let (organisation, no_platform) = reach.limits();
        if let Some(o) = organisation {
            query = query.filter(si::organisation_id.eq(o));
        }
        if no_platform {
            query = query.filter(
                si::account_id
                    .is_null()
                    .or(si::account_id.ne_all(platform_admins())),
            );
        }
        if let Some(kind) = &f.kind {
            query = query.filter(si::kind.eq(kind.clone()));
        }
        if let Some(severity) = &f.severity {
            query = query.filter(si::severity.eq(severity.clone()));
        }
        if let Some(realm) = &f.realm {
            query = query.filter(si::realm.eq(realm.clone()));
        }
        match f.account {
            None => {}
            Some(Some(id)) => query = query.filter(si::account_id.eq(id)),
            Some(None) => return None,
        }
        if let Some(from) = f.from {
            query = query.filter(si::created_at.ge(day_start(from)));
        }
        if let Some(to) = f.to.and_then(|d| d.succ_opt()) {
            query = query.filter(si::created_at.lt(day_start(to)));
        }
        Some(query)
    };
    let Some(query) = filtered() else {
        return Ok(counted(Vec::new(), window, 0));
    };
    let query = match window.after() {
        // `created_at <= t` on its own, so the time index is searched from the key on (an OR
        // alone makes SQLite scan it from the newest row).
        Some((t, id)) => query
            .filter(si::created_at.le(t))
            .filter(si::created_at.lt(t).or(si::id.lt(id))),
        None => query,
    };
    let rows = query
        .order((si::created_at.desc(), si::id.desc()))
        .limit(limit)
        .offset(offset)
        .select((
            si::id,
            si::created_at,
            si::kind,
            si::severity,
            si::realm,
            si::account_id,
            si::email_attempted,
            si::ip,
            si::user_agent,
            si::details,
            organisations::slug.nullable(),
            // Filled below: a join with accounts would meet `platform_admins()`'s own.
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("NULL"),
        ))
        .load(conn)?;
    let mut rows: Vec<IncidentRow> = rows;
    // An export is the rows as they are; a page shows each account by its address.
    if window.is_batch() {
        return exported(rows, window, || {
            filtered().map_or(Ok(0), |q| q.count().get_result::<i64>(conn))
        });
    }
    let emails = emails_of(conn, rows.iter().filter_map(|r| r.account_id))?;
    for row in &mut rows {
        row.email = row.account_id.and_then(|a| emails.get(&a).cloned());
    }
    let matching = filtered()
        .map(|q| q.select(si::id).limit(COUNT_LIMIT + 1).load::<i32>(conn))
        .transpose()?
        .map_or(0, |ids| ids.len());
    Ok(counted(rows, window, matching))
}

#[derive(Queryable, Debug)]
pub struct LogoutRow {
    pub id: i32,
    pub created_at: NaiveDateTime,
    pub reason: LogoutReason,
    pub realm: Realm,
    pub account_id: Option<AccountId>,
    pub session_id: Option<SessionId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub organisation: Option<String>,
    pub email: Option<String>,
}

pub fn logouts(
    conn: &mut Conn,
    reach: Reach,
    f: &Filters,
    window: Window,
) -> QueryResult<Paged<LogoutRow>> {
    use logout_activity as la;
    let (limit, offset) = window.limit_offset();
    let filtered = || {
        let mut query = la::table.left_join(organisations::table).into_boxed();
        let (organisation, no_platform) = reach.limits();
        if let Some(o) = organisation {
            query = query.filter(la::organisation_id.eq(o));
        }
        if no_platform {
            query = query.filter(
                la::account_id
                    .is_null()
                    .or(la::account_id.ne_all(platform_admins())),
            );
        }
        if let Some(reason) = &f.kind {
            query = query.filter(la::reason.eq(reason.clone()));
        }
        if let Some(realm) = &f.realm {
            query = query.filter(la::realm.eq(realm.clone()));
        }
        match f.account {
            None => {}
            Some(Some(id)) => query = query.filter(la::account_id.eq(id)),
            Some(None) => return None,
        }
        if let Some(from) = f.from {
            query = query.filter(la::created_at.ge(day_start(from)));
        }
        if let Some(to) = f.to.and_then(|d| d.succ_opt()) {
            query = query.filter(la::created_at.lt(day_start(to)));
        }
        Some(query)
    };
    let Some(query) = filtered() else {
        return Ok(counted(Vec::new(), window, 0));
    };
    let query = match window.after() {
        // `created_at <= t` on its own, so the time index is searched from the key on (an OR
        // alone makes SQLite scan it from the newest row).
        Some((t, id)) => query
            .filter(la::created_at.le(t))
            .filter(la::created_at.lt(t).or(la::id.lt(id))),
        None => query,
    };
    let rows = query
        .order((la::created_at.desc(), la::id.desc()))
        .limit(limit)
        .offset(offset)
        .select((
            la::id,
            la::created_at,
            la::reason,
            la::realm,
            la::account_id,
            la::session_id,
            la::ip,
            la::user_agent,
            organisations::slug.nullable(),
            // Filled below: a join with accounts would meet `platform_admins()`'s own.
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("NULL"),
        ))
        .load(conn)?;
    let mut rows: Vec<LogoutRow> = rows;
    // An export is the rows as they are; a page shows each account by its address.
    if window.is_batch() {
        return exported(rows, window, || {
            filtered().map_or(Ok(0), |q| q.count().get_result::<i64>(conn))
        });
    }
    let emails = emails_of(conn, rows.iter().filter_map(|r| r.account_id))?;
    for row in &mut rows {
        row.email = row.account_id.and_then(|a| emails.get(&a).cloned());
    }
    let matching = filtered()
        .map(|q| q.select(la::id).limit(COUNT_LIMIT + 1).load::<i32>(conn))
        .transpose()?
        .map_or(0, |ids| ids.len());
    Ok(counted(rows, window, matching))
}

#[derive(Queryable, Debug)]
pub struct AdminActionEntry {
    pub id: i32,
    pub created_at: NaiveDateTime,
    pub action: AdminActionKind,
    pub actor_account_id: Option<AccountId>,
    pub target_account_id: Option<AccountId>,
    pub target_session_id: Option<SessionId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Option<String>,
    pub organisation: Option<String>,
    /// Filled after the read, on a page (not in an export).
    pub actor_email: Option<String>,
    pub target_email: Option<String>,
}

/// Who did an audited action, as the reader may know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Admin(AccountId),
    /// A platform admin, in an organisation admin's view: that one acted, not who or where.
    PlatformAdmin,
    CommandLine,
}

impl AdminActionEntry {
    pub fn actor(&self) -> Actor {
        match self.actor_account_id {
            Some(id) => Actor::Admin(id),
            None if self
                .details
                .as_deref()
                .is_some_and(|d| d.starts_with("realmgate ")) =>
            {
                Actor::CommandLine
            }
            None => Actor::PlatformAdmin,
        }
    }
}

/// `GET /admin/audit` (SPEC §17), newest first. An organisation admin sees their
/// organisation's rows only, none about a platform admin, and a platform admin's own action
/// there without who or where (SPEC §14: platform admins are out of their view).
pub fn admin_actions(
    conn: &mut Conn,
    reach: Reach,
    f: &Filters,
    window: Window,
) -> QueryResult<Paged<AdminActionEntry>> {
    use admin_actions as aa;
    let (limit, offset) = window.limit_offset();
    let (organisation, no_platform) = reach.limits();
    let filtered = || {
        let mut query = aa::table.left_join(organisations::table).into_boxed();
        if let Some(o) = organisation {
            query = query.filter(aa::organisation_id.eq(o));
        }
        if no_platform {
            query = query.filter(
                aa::target_account_id
                    .is_null()
                    .or(aa::target_account_id.ne_all(platform_admins())),
            );
        }
        if let Some(action) = &f.kind {
            query = query.filter(aa::action.eq(action.clone()));
        }
        match f.account {
            None => {}
            Some(Some(id)) => query = query.filter(aa::target_account_id.eq(id)),
            Some(None) => return None,
        }
        match f.actor {
            None => {}
            Some(Some(id)) => query = query.filter(aa::actor_account_id.eq(id)),
            Some(None) => return None,
        }
        if let Some(from) = f.from {
            query = query.filter(aa::created_at.ge(day_start(from)));
        }
        if let Some(to) = f.to.and_then(|d| d.succ_opt()) {
            query = query.filter(aa::created_at.lt(day_start(to)));
        }
        Some(query)
    };
    let Some(query) = filtered() else {
        return Ok(counted(Vec::new(), window, 0));
    };
    let query = match window.after() {
        // `created_at <= t` on its own, so the time index is searched from the key on (an OR
        // alone makes SQLite scan it from the newest row).
        Some((t, id)) => query
            .filter(aa::created_at.le(t))
            .filter(aa::created_at.lt(t).or(aa::id.lt(id))),
        None => query,
    };
    let none = || diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("NULL");
    let mut rows: Vec<AdminActionEntry> = query
        .order((aa::created_at.desc(), aa::id.desc()))
        .limit(limit)
        .offset(offset)
        .select((
            aa::id,
            aa::created_at,
            aa::action,
            aa::actor_account_id,
            aa::target_account_id,
            aa::target_session_id,
            aa::ip,
            aa::user_agent,
            aa::details,
            organisations::slug.nullable(),
            none(),
            none(),
        ))
        .load(conn)?;
    if no_platform {
        let actors: Vec<AccountId> = rows.iter().filter_map(|r| r.actor_account_id).collect();
        let hidden: Vec<AccountId> = accounts::table
            .filter(accounts::id.eq_any(actors))
            .filter(accounts::is_platform_admin.eq(true))
            .select(accounts::id)
            .load(conn)?;
        for row in rows.iter_mut() {
            if row.actor_account_id.is_some_and(|a| hidden.contains(&a)) {
                // Who and where are the platform admin's, not the organisation's; the row
                // still says that a platform admin acted.
                row.actor_account_id = None;
                row.ip = None;
                row.user_agent = None;
            }
        }
    }
    if window.is_batch() {
        return exported(rows, window, || {
            filtered().map_or(Ok(0), |q| q.count().get_result::<i64>(conn))
        });
    }
    let ids = rows
        .iter()
        .flat_map(|r| [r.actor_account_id, r.target_account_id])
        .flatten();
    let emails = emails_of(conn, ids)?;
    for row in &mut rows {
        row.actor_email = row.actor_account_id.and_then(|a| emails.get(&a).cloned());
        row.target_email = row.target_account_id.and_then(|a| emails.get(&a).cloned());
    }
    let matching = filtered()
        .map(|q| q.select(aa::id).limit(COUNT_LIMIT + 1).load::<i32>(conn))
        .transpose()?
        .map_or(0, |ids| ids.len());
    Ok(counted(rows, window, matching))
}

/// Rows of `table` created in [from, until), counted per UTC day, within `scope`. The day of a
/// timestamp is spelt differently by each backend, so this is one SQL text per backend; `table`
/// is one of the portal's own names, never input.
fn per_day(
    conn: &mut Conn,
    scope: Scope,
    table: &'static str,
    from: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<Vec<(NaiveDate, i64)>> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    #[derive(QueryableByName)]
    struct Day {
        #[diesel(sql_type = Text)]
        day: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    // The scope as SQL: the organisation's own rows, none of a platform admin (its one bound
    // value is the third parameter). The registry has no organisation column: by its account.
    let (organisation, scoped) = match scope {
        Scope::Platform => (0, ""),
        Scope::Organisation(o) if table == "auth_sessions" => (
            o.0,
            " AND account_id IN (SELECT id FROM accounts WHERE organisation_id = {p} \
             AND NOT is_platform_admin)",
        ),
        Scope::Organisation(o) => (
            o.0,
            " AND organisation_id = {p} AND (account_id IS NULL OR account_id NOT IN \
             (SELECT id FROM accounts WHERE is_platform_admin))",
        ),
    };
    let rows: Vec<Day> = match conn {
        Conn::Sqlite(c) => {
            let scoped = scoped.replace("{p}", "?");
            let q = diesel::sql_query(format!(
                "SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS n FROM {table} \
                 WHERE created_at >= ? AND created_at < ?{scoped} GROUP BY day"
            ))
            .bind::<Timestamp, _>(from)
            .bind::<Timestamp, _>(until);
            if scope.is_platform() {
                q.load(c)?
            } else {
                q.bind::<diesel::sql_types::Integer, _>(organisation)
                    .load(c)?
            }
        }
        Conn::Postgres(c) => {
            let scoped = scoped.replace("{p}", "$3");
            let q = diesel::sql_query(format!(
                "SELECT to_char(created_at, 'YYYY-MM-DD') AS day, COUNT(*) AS n FROM {table} \
                 WHERE created_at >= $1 AND created_at < $2{scoped} GROUP BY day"
            ))
            .bind::<Timestamp, _>(from)
            .bind::<Timestamp, _>(until);
            if scope.is_platform() {
                q.load(c)?
            } else {
                q.bind::<diesel::sql_types::Integer, _>(organisation)
                    .load(c)?
            }
        }
    };
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").ok()?, r.n)))
        .collect())
}

/// Figures of the console's front page.
#[derive(Clone)]
pub struct Overview {
    pub accounts: i64,
    pub user_sessions: i64,
    pub admin_sessions: i64,
    pub api_sessions: i64,
    pub incidents_info: i64,
    pub incidents_warning: i64,
    pub incidents_critical: i64,
    pub sign_outs: i64,
    /// Per day, oldest first: (day, sign-ins, sign-outs, incidents).
    pub days: Vec<(NaiveDate, i64, i64, i64)>,
    /// The outbox's `(pending, failed)`, for a platform admin only: it is the whole portal's.
    pub outbox: Option<(i64, i64)>,
}

pub fn overview(conn: &mut Conn, scope: Scope, now: NaiveDateTime) -> QueryResult<Overview> {
    use logout_activity as la;
    use security_incidents as si;
    let day_ago = now - chrono::Duration::hours(24);
    let severity = |conn: &mut Conn, s: Severity| {
        let mut q = si::table
            .filter(si::created_at.gt(day_ago))
            .filter(si::severity.eq(s))
            .into_boxed();
        if let Scope::Organisation(o) = scope {
            q = q.filter(si::organisation_id.eq(o)).filter(
                si::account_id
                    .is_null()
                    .or(si::account_id.ne_all(platform_admins())),
            );
        }
        q.count().get_result::<i64>(conn)
    };
    let sign_outs = |conn: &mut Conn| {
        let mut q = la::table.filter(la::created_at.gt(day_ago)).into_boxed();
        if let Scope::Organisation(o) = scope {
            q = q.filter(la::organisation_id.eq(o)).filter(
                la::account_id
                    .is_null()
                    .or(la::account_id.ne_all(platform_admins())),
            );
        }
        q.count().get_result::<i64>(conn)
    };
    let live = |conn: &mut Conn, realm: Realm| match scope {
        Scope::Platform => super::sessions::count_live(conn, Some(realm), None, now),
        Scope::Organisation(o) => auth_sessions::table
            .inner_join(accounts::table)
            .filter(super::sessions::live(now))
            .filter(auth_sessions::realm.eq(realm))
            .filter(accounts::organisation_id.eq(o))
            .filter(accounts::is_platform_admin.eq(false))
            .count()
            .one(conn),
    };
    let accounts_n = match scope {
        Scope::Platform => super::accounts::count(conn)?,
        Scope::Organisation(o) => accounts::table
            .filter(accounts::organisation_id.eq(o))
            .filter(accounts::is_platform_admin.eq(false))
            .count()
            .one(conn)?,
    };
    // One grouped count per table for the 7-day chart, not one count per table and day: on
    // PostgreSQL each statement is a round trip, and the chart was 21 of the page's 29.
    let today = now.date();
    let first = today - chrono::Duration::days(6);
    let (from, until) = (
        day_start(first),
        day_start(today + chrono::Duration::days(1)),
    );
    let sign_ins = per_day(conn, scope, "auth_sessions", from, until)?;
    let sign_outs_per_day = per_day(conn, scope, "logout_activity", from, until)?;
    let incidents = per_day(conn, scope, "security_incidents", from, until)?;
    let days = (0..7)
        .map(|back| {
            let day = first + chrono::Duration::days(back);
            let of = |counts: &[(NaiveDate, i64)]| {
                counts
                    .iter()
                    .find(|(d, _)| *d == day)
                    .map_or(0, |(_, n)| *n)
            };
            (day, of(&sign_ins), of(&sign_outs_per_day), of(&incidents))
        })
        .collect();
    Ok(Overview {
        accounts: accounts_n,
        user_sessions: live(conn, Realm::User)?,
        admin_sessions: live(conn, Realm::Admin)?,
        api_sessions: live(conn, Realm::Api)?,
        incidents_info: severity(conn, Severity::Info)?,
        incidents_warning: severity(conn, Severity::Warning)?,
        incidents_critical: severity(conn, Severity::Critical)?,
        sign_outs: sign_outs(conn)?,
        days,
        outbox: match scope {
            Scope::Platform => Some(super::outbox::counts(conn)?),
            Scope::Organisation(_) => None,
        },
    })
}

/// One line of an account's own activity (`/account/activity`, SPEC §17).
#[derive(Debug)]
pub struct ActivityEntry {
    pub at: NaiveDateTime,
    pub what: Activity,
    pub realm: Option<Realm>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub device_name: Option<String>,
}

#[derive(Debug)]
pub enum Activity {
    SignedIn,
    SignedOut(LogoutReason),
    Incident(IncidentKind, Severity),
}

/// The account's own sign-ins, sign-outs and incidents since `since`, newest first, at most
/// `limit` in all. Each table is read newest first within its own limit, then the three are
/// merged, so the newest `limit` are exact.
pub fn account_activity(
    conn: &mut Conn,
    account: AccountId,
    since: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<ActivityEntry>> {
    use logout_activity as la;
    use security_incidents as si;
    let sign_ins: Vec<(NaiveDateTime, Realm, String, String, Option<String>)> =
        auth_sessions::table
            .filter(auth_sessions::account_id.eq(account))
            .filter(auth_sessions::created_at.ge(since))
            .order(auth_sessions::created_at.desc())
            .limit(limit)
            .select((
                auth_sessions::created_at,
                auth_sessions::realm,
                auth_sessions::ip,
                auth_sessions::user_agent,
                auth_sessions::device_name,
            ))
            .all(conn)?;
    type SignOut = (
        NaiveDateTime,
        LogoutReason,
        Realm,
        Option<String>,
        Option<String>,
    );
    type Event = (
        NaiveDateTime,
        IncidentKind,
        Severity,
        Option<Realm>,
        Option<String>,
        Option<String>,
    );
    let sign_outs: Vec<SignOut> = la::table
        .filter(la::account_id.eq(account))
        .filter(la::created_at.ge(since))
        .order((la::created_at.desc(), la::id.desc()))
        .limit(limit)
        .select((
            la::created_at,
            la::reason,
            la::realm,
            la::ip,
            la::user_agent,
        ))
        .all(conn)?;
    let incidents: Vec<Event> = si::table
        .filter(si::account_id.eq(account))
        .filter(si::created_at.ge(since))
        .order((si::created_at.desc(), si::id.desc()))
        .limit(limit)
        .select((
            si::created_at,
            si::kind,
            si::severity,
            si::realm,
            si::ip,
            si::user_agent,
        ))
        .all(conn)?;
    let mut all: Vec<ActivityEntry> = sign_ins
        .into_iter()
        .map(|(at, realm, ip, ua, device)| ActivityEntry {
            at,
            what: Activity::SignedIn,
            realm: Some(realm),
            ip: Some(ip),
            user_agent: Some(ua),
            device_name: device,
        })
        .chain(
            sign_outs
                .into_iter()
                .map(|(at, reason, realm, ip, ua)| ActivityEntry {
                    at,
                    what: Activity::SignedOut(reason),
                    realm: Some(realm),
                    ip,
                    user_agent: ua,
                    device_name: None,
                }),
        )
        .chain(
            incidents
                .into_iter()
                .map(|(at, kind, severity, realm, ip, ua)| ActivityEntry {
                    at,
                    what: Activity::Incident(kind, severity),
                    realm,
                    ip,
                    user_agent: ua,
                    device_name: None,
                }),
        )
        .collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.at));
    all.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(all)
}
