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

/// A row's place in a newest-first list: its time, then its id.
pub type TimeKey = (NaiveDateTime, i32);

/// `page` (1-based) of at most `PAGE_SIZE`, or one batch of an export: the `size` rows after
/// `after` (the last row sent), found by its key rather than by an offset, so a late batch
/// costs what the first does. An export is never cut; the first batch also counts every row it
/// will hold (the file's name says how many). `K` is the list's order: `TimeKey` for the
/// newest-first lists, the id for accounts, the last-seen time and id for sessions.
#[derive(Clone, Copy, Debug)]
pub enum Window<K = TimeKey> {
    /// A page by its number alone (typed, or the first): its rows start after the key of the
    /// row before it, found in the list's index (`Start::of`), never by an OFFSET over rows.
    Page(i64),
    /// Page `page`, found as the rows after `after` (the last row of the page before), by
    /// key: a late page costs what the first does.
    PageAfter {
        page: i64,
        after: K,
    },
    Batch {
        after: Option<K>,
        size: i64,
    },
}

impl<K> Window<K> {
    fn limit(&self) -> i64 {
        match self {
            Window::Batch { size, .. } => *size,
            _ => PAGE_SIZE + 1,
        }
    }

    fn is_batch(&self) -> bool {
        matches!(self, Window::Batch { .. })
    }

    /// The first batch of an export: the one that counts the whole.
    fn is_first_batch(&self) -> bool {
        matches!(self, Window::Batch { after: None, .. })
    }
}

/// Where a list's rows start.
enum Start<K> {
    Top,
    After(K),
    /// A typed page number past the last row: the page is empty.
    PastEnd,
}

impl<K: Clone> Start<K> {
    /// A typed page `p` starts after the row `(p - 1) * PAGE_SIZE - 1` rows in: `key_at(n)`
    /// reads that one row's key from the list's own index (the keys alone, not the rows'
    /// other columns), so page 5,000 costs one walk of an index, not 125,000 rows read.
    fn of(
        window: &Window<K>,
        key_at: impl FnOnce(i64) -> QueryResult<Option<K>>,
    ) -> QueryResult<Self> {
        Ok(match window {
            Window::Page(p) if *p > 1 => match key_at((p - 1) * PAGE_SIZE - 1)? {
                Some(key) => Start::After(key),
                None => Start::PastEnd,
            },
            Window::Page(_) | Window::Batch { after: None, .. } => Start::Top,
            Window::PageAfter { after, .. }
            | Window::Batch {
                after: Some(after), ..
            } => Start::After(after.clone()),
        })
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

    /// A dashboard's figure: the number (`9,999`), or `10,000+` past the bound.
    pub fn figure(&self) -> String {
        match self {
            Total::Exactly(n) => thousands(*n),
            Total::MoreThan(n) => format!("{}+", thousands(*n)),
        }
    }
}

/// `10000` as `10,000`.
pub fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl std::fmt::Display for Total {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Total::Exactly(1) => f.write_str("1 result"),
            Total::Exactly(n) => write!(f, "{} results", thousands(*n)),
            Total::MoreThan(n) => write!(f, "more than {} results", thousands(*n)),
        }
    }
}

fn paged<T, K>(mut rows: Vec<T>, window: &Window<K>) -> Paged<T> {
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
fn exported<T, K>(
    rows: Vec<T>,
    window: &Window<K>,
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
fn counted<T, K>(rows: Vec<T>, window: &Window<K>, matching: usize) -> Paged<T> {
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

#[derive(Debug)]
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

diesel::define_sql_function! {
    /// SQL `lower`, on both backends.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Accounts read in id order, past a search's start, before it turns to the trigram index: a
/// search most accounts match ("example.com") fills its page within them, a scan that stops
/// early; one that few match ("person424242@") does not, and is answered from the index,
/// which a scan of 1,000,000 accounts took 2 s to match.
const SEARCH_WINDOW: i64 = 2_000;

/// The console's account list, by id. The filters are on `accounts` alone (the slugs are read
/// after, for the page's rows only), so a typed page's key is read from an index of ids.
///
/// A search `q` is a substring of the address or the name, in any case: `lower(…) LIKE` on both
/// backends. It reads the next `SEARCH_WINDOW` accounts first; when they do not fill the page,
/// it reads the matches from the trigram index (SQLite's FTS5 `accounts_search`, PostgreSQL's
/// `pg_trgm` GIN index, migration `2026-12-08-000000_account_search`), the `LIKE` still
/// deciding. Below three characters no trigram exists, and the search reads on by id.
pub fn accounts(
    conn: &mut Conn,
    reach: Reach,
    q: &str,
    window: Window<AccountId>,
) -> QueryResult<Paged<AccountRow>> {
    let (organisation, no_platform) = reach.limits();
    let q = q.trim().to_lowercase();
    let pattern = format!("%{}%", escape_like(&q));
    let indexed = q.chars().count() >= 3;
    let sqlite = conn.backend() == super::Backend::Sqlite;
    let scoped = || {
        let mut query = accounts::table.into_boxed();
        if let Some(o) = organisation {
            query = query.filter(accounts::organisation_id.eq(o));
        }
        if no_platform {
            query = query.filter(accounts::is_platform_admin.eq(false));
        }
        query
    };
    let filtered = || {
        let mut query = scoped();
        if !q.is_empty() {
            // Lowered on both sides: PostgreSQL's LIKE is case-sensitive (SQLite's is not, for
            // ASCII), and "Smith" must find "Jo Smith" on both.
            query = query.filter(
                lower(accounts::email)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(accounts::name).like(pattern.clone()).escape('\\')),
            );
        }
        query
    };
    let start = Start::of(&window, |n| {
        filtered()
            .select(accounts::id)
            .order(accounts::id)
            .offset(n)
            .limit(1)
            .get_result(conn)
            .optional()
    })?;
    let after = match start {
        Start::After(id) => Some(id),
        Start::Top => None,
        Start::PastEnd => return Ok(paged(Vec::new(), &window)),
    };
    type Columns = (
        AccountId,
        String,
        String,
        bool,
        bool,
        Option<NaiveDateTime>,
        NaiveDateTime,
        Option<NaiveDateTime>,
        bool,
        OrganisationId,
    );
    macro_rules! page_of {
        ($query:expr) => {{
            let mut query = $query;
            if let Some(id) = after {
                query = query.filter(accounts::id.gt(id));
            }
            query
                .order(accounts::id)
                .limit(window.limit())
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
                    accounts::organisation_id,
                ))
                .load::<Columns>(conn)?
        }};
    }
    let found: Vec<Columns> = if indexed {
        {
            let mut next = scoped();
            if let Some(id) = after {
                next = next.filter(accounts::id.gt(id));
            }
            let last_near: Option<AccountId> = next
                .select(accounts::id)
                .order(accounts::id)
                .offset(SEARCH_WINDOW - 1)
                .limit(1)
                .get_result(conn)
                .optional()?;
            let near = match last_near {
                Some(last) => page_of!(filtered().filter(accounts::id.le(last))),
                None => page_of!(filtered()),
            };
            if last_near.is_none() || near.len() as i64 == window.limit() {
                near
            } else if sqlite {
                // FTS5 reads a quoted string as one phrase of its trigrams: a substring.
                let phrase = format!("\"{}\"", q.replace('"', "\"\""));
                page_of!(filtered().filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>(
                        "accounts.id IN (SELECT rowid FROM accounts_search WHERE \
                         accounts_search MATCH "
                    )
                    .bind::<diesel::sql_types::Text, _>(phrase)
                    .sql(")")
                ))
            } else {
                // PostgreSQL's planner takes the GIN index for the `LIKE` itself.
                page_of!(filtered())
            }
        }
    } else {
        page_of!(filtered())
    };
    let slugs = slugs_of(conn, found.iter().map(|r| r.9))?;
    let rows = found
        .into_iter()
        .map(|r| AccountRow {
            id: r.0,
            email: r.1,
            name: r.2,
            is_admin: r.3,
            is_active: r.4,
            confirmed: r.5,
            created_at: r.6,
            last_login_at: r.7,
            is_platform_admin: r.8,
            organisation: slugs.get(&r.9).cloned().unwrap_or_default(),
        })
        .collect();
    Ok(paged(rows, &window))
}

/// Organisation ids to slugs, for the rows of one page.
fn slugs_of(
    conn: &mut Conn,
    ids: impl IntoIterator<Item = OrganisationId>,
) -> QueryResult<std::collections::HashMap<OrganisationId, String>> {
    let mut ids: Vec<OrganisationId> = ids.into_iter().collect();
    ids.sort_unstable_by_key(|o| o.0);
    ids.dedup();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(organisations::table
        .filter(organisations::id.eq_any(ids))
        .select((organisations::id, organisations::slug))
        .load::<(OrganisationId, String)>(conn)?
        .into_iter()
        .collect())
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

#[derive(Debug)]
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

/// A session's place in the console's list: last seen, newest first, then its id.
pub type SeenKey = (NaiveDateTime, SessionId);

/// The console's live sessions, last seen first. The filters are on `auth_sessions` alone (an
/// organisation's reach is a subquery of its account ids), so the list and a typed page's key
/// are read from the live sessions' last-seen indexes; the addresses and slugs are read after,
/// for the page's rows only.
pub fn live_sessions(
    conn: &mut Conn,
    reach: Reach,
    realm: Option<Realm>,
    account: Option<Option<AccountId>>,
    now: NaiveDateTime,
    window: Window<SeenKey>,
) -> QueryResult<Paged<SessionRow>> {
    use auth_sessions as s;
    let (organisation, no_platform) = reach.limits();
    let account = match account {
        Some(None) => return Ok(paged(Vec::new(), &window)),
        Some(Some(id)) => Some(id),
        None => None,
    };
    let filtered = || {
        let mut query = s::table.filter(super::sessions::live(now)).into_boxed();
        // Diesel runs a subquery on the multi-backend only unboxed, hence one per shape.
        let of = |o| accounts::table.filter(accounts::organisation_id.eq(o));
        let not_platform = accounts::is_platform_admin.eq(false);
        query = match (organisation, no_platform) {
            (Some(o), true) => {
                query.filter(s::account_id.eq_any(of(o).filter(not_platform).select(accounts::id)))
            }
            (Some(o), false) => query.filter(s::account_id.eq_any(of(o).select(accounts::id))),
            (None, true) => query.filter(
                s::account_id.eq_any(accounts::table.filter(not_platform).select(accounts::id)),
            ),
            (None, false) => query,
        };
        if let Some(realm) = realm {
            query = query.filter(s::realm.eq(realm));
        }
        if let Some(id) = account {
            query = query.filter(s::account_id.eq(id));
        }
        query
    };
    let start = Start::of(&window, |n| {
        filtered()
            .select((s::last_seen_at, s::id))
            .order((s::last_seen_at.desc(), s::id.desc()))
            .offset(n)
            .limit(1)
            .get_result(conn)
            .optional()
    })?;
    let query = match start {
        // As the time-ordered lists: `last_seen_at <= t` on its own, so the index is searched
        // from the key on.
        Start::After((t, id)) => filtered()
            .filter(s::last_seen_at.le(t))
            .filter(s::last_seen_at.lt(t).or(s::id.lt(id))),
        Start::Top => filtered(),
        Start::PastEnd => return Ok(paged(Vec::new(), &window)),
    };
    type Columns = (
        SessionId,
        Realm,
        AccountId,
        NaiveDateTime,
        NaiveDateTime,
        String,
        String,
        bool,
        Option<String>,
    );
    let found: Vec<Columns> = query
        .order((s::last_seen_at.desc(), s::id.desc()))
        .limit(window.limit())
        .select((
            s::id,
            s::realm,
            s::account_id,
            s::created_at,
            s::last_seen_at,
            s::ip,
            s::user_agent,
            s::remember,
            s::device_name,
        ))
        .load(conn)?;
    let mut ids: Vec<AccountId> = found.iter().map(|r| r.2).collect();
    ids.sort_unstable();
    ids.dedup();
    let owners: std::collections::HashMap<AccountId, (String, String)> = accounts::table
        .inner_join(organisations::table)
        .filter(accounts::id.eq_any(ids))
        .select((accounts::id, (accounts::email, organisations::slug)))
        .load::<(AccountId, (String, String))>(conn)?
        .into_iter()
        .collect();
    let rows = found
        .into_iter()
        .map(|r| {
            let (email, organisation) = owners.get(&r.2).cloned().unwrap_or_default();
            SessionRow {
                id: r.0,
                realm: r.1,
                account_id: r.2,
                email,
                created_at: r.3,
                last_seen_at: r.4,
                ip: r.5,
                user_agent: r.6,
                remember: r.7,
                device_name: r.8,
                organisation,
            }
        })
        .collect();
    Ok(paged(rows, &window))
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
    pub organisation_id: Option<OrganisationId>,
    /// Filled after the read, from `organisation_id`.
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
    let filtered = || {
        let mut query = si::table.into_boxed();
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
        return Ok(counted(Vec::new(), &window, 0));
    };
    let start = Start::of(&window, |n| {
        filtered().map_or(Ok(None), |q| {
            q.select((si::created_at, si::id))
                .order((si::created_at.desc(), si::id.desc()))
                .offset(n)
                .limit(1)
                .get_result(conn)
                .optional()
        })
    })?;
    let query = match start {
        // `created_at <= t` on its own, so the time index is searched from the key on (an OR
        // alone makes SQLite scan it from the newest row).
        Start::After((t, id)) => Some(
            query
                .filter(si::created_at.le(t))
                .filter(si::created_at.lt(t).or(si::id.lt(id))),
        ),
        Start::Top => Some(query),
        Start::PastEnd => None,
    };
    let rows = match query {
        None => Vec::new(),
        Some(query) => query
            .order((si::created_at.desc(), si::id.desc()))
            .limit(window.limit())
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
                si::organisation_id,
                diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("NULL"),
                // Filled below: a join with accounts would meet `platform_admins()`'s own.
                diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("NULL"),
            ))
            .load(conn)?,
    };
    let mut rows: Vec<IncidentRow> = rows;
    let slugs = slugs_of(conn, rows.iter().filter_map(|r| r.organisation_id))?;
    for row in &mut rows {
        row.organisation = row.organisation_id.and_then(|o| slugs.get(&o).cloned());
    }
    // An export is the rows as they are; a page shows each account by its address.
    if window.is_batch() {
        return exported(rows, &window, || {
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
    Ok(counted(rows, &window, matching))
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
    pub organisation_id: Option<OrganisationId>,
    /// Filled after the read, from `organisation_id`.
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
    let filtered = || {
        let mut query = la::table.into_boxed();
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
        return Ok(counted(Vec::new(), &window, 0));
    };
    let start = Start::of(&window, |n| {
        filtered().map_or(Ok(None), |q| {
            q.select((la::created_at, la::id))
                .order((la::created_at.desc(), la::id.desc()))
                .offset(n)
                .limit(1)
                .get_result(conn)
                .optional()
        })
    })?;
    let query = match start {
        // `created_at <= t` on its own, so the time index is searched from the key on (an OR
        // alone makes SQLite scan it from the newest row).
        Start::After((t, id)) => Some(
            query
                .filter(la::created_at.le(t))
                .filter(la::created_at.lt(t).or(la::id.lt(id))),
        ),
        Start::Top => Some(query),
        Start::PastEnd => None,
    };
    let rows = match query {
        None => Vec::new(),
        Some(query) => query
            .order((la::created_at.desc(), la::id.desc()))
            .limit(window.limit())
            .select((
                la::id,
                la::created_at,
                la::reason,
                la::realm,
                la::account_id,
                la::session_id,
                la::ip,
                la::user_agent,
                la::organisation_id,
                diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("NULL"),
                // Filled below: a join with accounts would meet `platform_admins()`'s own.
                diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("NULL"),
            ))
            .load(conn)?,
    };
    let mut rows: Vec<LogoutRow> = rows;
    let slugs = slugs_of(conn, rows.iter().filter_map(|r| r.organisation_id))?;
    for row in &mut rows {
        row.organisation = row.organisation_id.and_then(|o| slugs.get(&o).cloned());
    }
    // An export is the rows as they are; a page shows each account by its address.
    if window.is_batch() {
        return exported(rows, &window, || {
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
    Ok(counted(rows, &window, matching))
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
    pub organisation_id: Option<OrganisationId>,
    /// Filled after the read, from `organisation_id`.
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
    let (organisation, no_platform) = reach.limits();
    let filtered = || {
        let mut query = aa::table.into_boxed();
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
        return Ok(counted(Vec::new(), &window, 0));
    };
    let start = Start::of(&window, |n| {
        filtered().map_or(Ok(None), |q| {
            q.select((aa::created_at, aa::id))
                .order((aa::created_at.desc(), aa::id.desc()))
                .offset(n)
                .limit(1)
                .get_result(conn)
                .optional()
        })
    })?;
    let query = match start {
        // `created_at <= t` on its own, so the time index is searched from the key on (an OR
        // alone makes SQLite scan it from the newest row).
        Start::After((t, id)) => Some(
            query
                .filter(aa::created_at.le(t))
                .filter(aa::created_at.lt(t).or(aa::id.lt(id))),
        ),
        Start::Top => Some(query),
        Start::PastEnd => None,
    };
    let none = || diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>("NULL");
    let mut rows: Vec<AdminActionEntry> = match query {
        None => Vec::new(),
        Some(query) => query
            .order((aa::created_at.desc(), aa::id.desc()))
            .limit(window.limit())
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
                aa::organisation_id,
                none(),
                none(),
                none(),
            ))
            .load(conn)?,
    };
    let slugs = slugs_of(conn, rows.iter().filter_map(|r| r.organisation_id))?;
    for row in &mut rows {
        row.organisation = row.organisation_id.and_then(|o| slugs.get(&o).cloned());
    }
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
        return exported(rows, &window, || {
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
    Ok(counted(rows, &window, matching))
}

/// Rows of `table` created on each of the 7 UTC days from `first` (the last is today), within
/// `scope`, in one statement: the six closed days from `chart_days`, which triggers keep as the
/// rows are written (migration `2026-12-08-020000_chart_days`), and today by a range count from
/// the table's time index. (Seven range counts per table were most of a dashboard view: 30,000
/// rows a day at a year's scale.) `table` is one of the portal's own names, never input.
fn per_day(
    conn: &mut Conn,
    scope: Scope,
    table: &'static str,
    first: NaiveDate,
) -> QueryResult<[i64; 7]> {
    use diesel::sql_types::{BigInt, Integer, Timestamp};
    #[derive(QueryableByName)]
    struct Week {
        #[diesel(sql_type = BigInt)]
        d0: i64,
        #[diesel(sql_type = BigInt)]
        d1: i64,
        #[diesel(sql_type = BigInt)]
        d2: i64,
        #[diesel(sql_type = BigInt)]
        d3: i64,
        #[diesel(sql_type = BigInt)]
        d4: i64,
        #[diesel(sql_type = BigInt)]
        d5: i64,
        #[diesel(sql_type = BigInt)]
        d6: i64,
    }
    // The scope as SQL: the organisation's own rows, none of a platform admin (its one bound
    // value is parameter 9). The registry has no organisation column: by its account.
    let (organisation, scoped, closed_scoped) = match scope {
        Scope::Platform => (0, "", ""),
        Scope::Organisation(o) if table == "auth_sessions" => (
            o.0,
            " AND account_id IN (SELECT id FROM accounts WHERE organisation_id = {p}9 \
             AND NOT is_platform_admin)",
            " AND organisation_id = {p}9 AND NOT platform",
        ),
        Scope::Organisation(o) => (
            o.0,
            " AND organisation_id = {p}9 AND (account_id IS NULL OR account_id NOT IN \
             (SELECT id FROM accounts WHERE is_platform_admin))",
            " AND organisation_id = {p}9 AND NOT platform",
        ),
    };
    // Parameters 1 to 6 are the closed days (`YYYY-MM-DD`), 7 and 8 today's bounds, by number,
    // as both backends read them.
    let text = |p: &str| {
        let mut counts: Vec<String> = (0..6)
            .map(|d| {
                format!(
                    "(SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM chart_days WHERE day = \
                     {p}{} AND source = '{table}'{}) AS d{d}",
                    d + 1,
                    closed_scoped.replace("{p}", p)
                )
            })
            .collect();
        counts.push(format!(
            "(SELECT COUNT(*) FROM {table} WHERE created_at >= {p}7 AND created_at < {p}8{}) \
             AS d6",
            scoped.replace("{p}", p)
        ));
        format!("SELECT {}", counts.join(", "))
    };
    let closed: Vec<String> = (0..6)
        .map(|d| {
            (first + chrono::Duration::days(d))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let today = [
        day_start(first + chrono::Duration::days(6)),
        day_start(first + chrono::Duration::days(7)),
    ];
    macro_rules! week {
        ($c:expr, $p:literal) => {{
            let mut q = diesel::sql_query(text($p)).into_boxed();
            for day in &closed {
                q = q.bind::<diesel::sql_types::Text, _>(day.clone());
            }
            for at in &today {
                q = q.bind::<Timestamp, _>(*at);
            }
            if !scope.is_platform() {
                q = q.bind::<Integer, _>(organisation);
            }
            q.get_result::<Week>($c)?
        }};
    }
    let w = match conn {
        Conn::Sqlite(c) => week!(c, "?"),
        Conn::Postgres(c) => week!(c, "$"),
    };
    Ok([w.d0, w.d1, w.d2, w.d3, w.d4, w.d5, w.d6])
}

/// A count read until it passes `COUNT_LIMIT`.
fn bounded<T>(read: QueryResult<Vec<T>>) -> QueryResult<Total> {
    read.map(|rows| Total::of(rows.len()))
}

/// Figures of the console's front page. The accounts and live sessions are exact, from kept
/// counters (`counters`); the last 24 hours' figures are bounded counts ("10,000+" past
/// `COUNT_LIMIT`).
#[derive(Clone)]
pub struct Overview {
    pub figures: super::counters::Figures,
    pub incidents_info: Total,
    pub incidents_warning: Total,
    pub incidents_critical: Total,
    pub sign_outs: Total,
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
        bounded(q.select(si::id).limit(COUNT_LIMIT + 1).load::<i32>(conn))
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
        bounded(q.select(la::id).limit(COUNT_LIMIT + 1).load::<i32>(conn))
    };
    let figures = super::counters::figures(conn, scope, now)?;
    // One statement per table for the 7-day chart, not one per table and day: on PostgreSQL
    // each statement is a round trip.
    let first = now.date() - chrono::Duration::days(6);
    let sign_ins = per_day(conn, scope, "auth_sessions", first)?;
    let sign_outs_per_day = per_day(conn, scope, "logout_activity", first)?;
    let incidents = per_day(conn, scope, "security_incidents", first)?;
    let days = (0..7)
        .map(|d| {
            (
                first + chrono::Duration::days(d as i64),
                sign_ins[d],
                sign_outs_per_day[d],
                incidents[d],
            )
        })
        .collect();
    Ok(Overview {
        figures,
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
