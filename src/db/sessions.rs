//! The session registry (`auth_sessions`): one row per sign-in. A row is live while it is not
//! revoked and neither its idle nor its absolute expiry has passed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{per_backend, Conn, Run as _};

use super::accounts::Account;
use super::audit::record_logout;
use super::organisations::Organisation;
use super::schema::{accounts, auth_sessions, organisations, rotated_secrets};
use crate::domain::client::ClientInfo;
use crate::domain::events::LogoutReason;
use crate::domain::ids::{AccountId, OrganisationId, SecretHash, SessionId};
use crate::domain::realm::Realm;

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = auth_sessions)]
pub struct AuthSession {
    pub id: SessionId,
    pub secret_hash: SecretHash,
    pub account_id: AccountId,
    pub realm: Realm,
    pub remember: bool,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub idle_expires_at: NaiveDateTime,
    pub absolute_expires_at: NaiveDateTime,
    pub ip: String,
    pub user_agent: String,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoke_reason: Option<LogoutReason>,
    /// What an api client called itself at sign-in (SPEC §13); `None` for browser realms.
    pub device_name: Option<String>,
}

/// `AuthSession`'s columns as one backend-independent expression (see `accounts::columns`).
pub fn columns() -> <AuthSession as Selectable<diesel::sqlite::Sqlite>>::SelectExpression {
    <AuthSession as Selectable<diesel::sqlite::Sqlite>>::construct_selection()
}

impl AuthSession {
    /// Which bound, if any, has passed. The absolute one wins when both have.
    pub fn expiry(&self, now: NaiveDateTime) -> Option<LogoutReason> {
        if now >= self.absolute_expires_at {
            Some(LogoutReason::AbsoluteTimeout)
        } else if now >= self.idle_expires_at {
            Some(LogoutReason::IdleTimeout)
        } else {
            None
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = auth_sessions)]
pub struct NewSession<'a> {
    pub id: &'a SessionId,
    pub secret_hash: &'a SecretHash,
    pub account_id: AccountId,
    pub realm: Realm,
    pub remember: bool,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub idle_expires_at: NaiveDateTime,
    pub absolute_expires_at: NaiveDateTime,
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub device_name: Option<&'a str>,
}

pub fn insert(conn: &mut Conn, new: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(auth_sessions::table)
        .values(new)
        .exec(conn)
        .map(drop)
}

/// The row whose secret hashes to `secret_hash`, in `realm` only: a user-realm secret never
/// finds an admin-realm row.
pub fn find_by_secret(
    conn: &mut Conn,
    realm: Realm,
    secret_hash: &SecretHash,
) -> QueryResult<Option<AuthSession>> {
    auth_sessions::table
        .filter(auth_sessions::secret_hash.eq(secret_hash))
        .filter(auth_sessions::realm.eq(realm))
        .select(columns())
        .one(conn)
        .optional()
}

/// As `find_by_secret`, with the row's account and its organisation, in one statement: the
/// guard's common case.
pub fn find_by_secret_with_account(
    conn: &mut Conn,
    realm: Realm,
    secret_hash: &SecretHash,
) -> QueryResult<Option<(AuthSession, Account, Organisation)>> {
    auth_sessions::table
        .inner_join(accounts::table.inner_join(organisations::table))
        .filter(auth_sessions::secret_hash.eq(secret_hash))
        .filter(auth_sessions::realm.eq(realm))
        .select((
            columns(),
            super::accounts::columns(),
            super::organisations::columns(),
        ))
        .one(conn)
        .optional()
}

/// Revokes the row if it is still unrevoked and writes its logout activity. Returns whether
/// this call revoked it, so a race between two tabs records one sign-out, not two.
pub fn revoke(
    conn: &mut Conn,
    session: &AuthSession,
    reason: LogoutReason,
    client: Option<&ClientInfo>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let changed = diesel::update(
        auth_sessions::table
            .find(&session.id)
            .filter(auth_sessions::revoked_at.is_null()),
    )
    .set((
        auth_sessions::revoked_at.eq(now),
        auth_sessions::revoke_reason.eq(reason),
    ))
    .exec(conn)?;
    if changed == 1 {
        record_logout(
            conn,
            session.account_id,
            session.realm,
            &session.id,
            reason,
            client,
            now,
        )?;
    }
    Ok(changed == 1)
}

/// Ends those of `ids` that are still unrevoked and past a bound, with the reason the bound
/// gives, and writes their logout activity; how many ended. Set-based for the cleanup's write
/// lock: one read of the rows, one `UPDATE … RETURNING` per reason, one read of the accounts'
/// organisations and one multi-row insert, where a row at a time was 1,500 statements a batch.
///
/// The bounds are read again here, inside the lock, and tested in Rust, so a session a request
/// touched since the cleanup found it stays; on PostgreSQL the read locks the rows (`FOR
/// UPDATE`), so a touch waits for this commit and then finds the row revoked. Every statement
/// names rows by id alone: with a bound in the `UPDATE`, PostgreSQL's planner took the expiry
/// index's range (its statistics said nothing had expired) and tested the 500 ids against every
/// expired row, 1 to 2 s a batch.
pub fn end_expired(conn: &mut Conn, ids: &[SessionId], now: NaiveDateTime) -> QueryResult<usize> {
    use super::schema::logout_activity as la;
    if ids.is_empty() {
        return Ok(0);
    }
    let unrevoked = || {
        auth_sessions::table
            .filter(auth_sessions::id.eq_any(ids))
            .filter(auth_sessions::revoked_at.is_null())
    };
    let bounds = (
        auth_sessions::id,
        auth_sessions::idle_expires_at,
        auth_sessions::absolute_expires_at,
    );
    let rows: Vec<(SessionId, NaiveDateTime, NaiveDateTime)> = match conn {
        Conn::Postgres(c) => unrevoked().select(bounds).for_update().load(c)?,
        Conn::Sqlite(c) => unrevoked().select(bounds).load(c)?,
    };
    // As `AuthSession::expiry`: the absolute bound wins when both have passed.
    let (mut absolute_ids, mut idle_ids) = (Vec::new(), Vec::new());
    for (id, idle, absolute) in rows {
        if now >= absolute {
            absolute_ids.push(id);
        } else if now >= idle {
            idle_ids.push(id);
        }
    }
    let mut end = |ids: &[SessionId], reason: LogoutReason| {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(
            auth_sessions::table
                .filter(auth_sessions::id.eq_any(ids))
                .filter(auth_sessions::revoked_at.is_null()),
        )
        .set((
            auth_sessions::revoked_at.eq(now),
            auth_sessions::revoke_reason.eq(reason),
        ))
        .returning((
            auth_sessions::id,
            auth_sessions::account_id,
            auth_sessions::realm,
        ))
        .all::<(SessionId, AccountId, Realm)>(conn)
    };
    let absolute = end(&absolute_ids, LogoutReason::AbsoluteTimeout)?;
    let idle = end(&idle_ids, LogoutReason::IdleTimeout)?;
    let ended: Vec<_> = absolute
        .into_iter()
        .map(|row| (row, LogoutReason::AbsoluteTimeout))
        .chain(idle.into_iter().map(|row| (row, LogoutReason::IdleTimeout)))
        .collect();
    if ended.is_empty() {
        return Ok(0);
    }
    let owners: Vec<AccountId> = ended.iter().map(|((_, a, _), _)| *a).collect();
    let organisation_of: std::collections::HashMap<AccountId, OrganisationId> = accounts::table
        .filter(accounts::id.eq_any(&owners))
        .select((accounts::id, accounts::organisation_id))
        .all(conn)?
        .into_iter()
        .collect();
    let rows: Vec<_> = ended
        .iter()
        .map(|((id, account, realm), reason)| {
            (
                la::organisation_id.eq(organisation_of.get(account).copied()),
                la::account_id.eq(*account),
                la::realm.eq(*realm),
                la::session_id.eq(id),
                la::reason.eq(*reason),
                la::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(la::table).values(&rows).exec(conn)?;
    Ok(ended.len())
}

/// Gives the account's live row whose secret hashes to `old_hash` a new secret; whether there
/// was one. The row, its id and its bounds stay: only a copy of the old secret stops working.
pub fn rotate_secret(
    conn: &mut Conn,
    account_id: AccountId,
    old_hash: &SecretHash,
    new_hash: &SecretHash,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let rotated: Option<SessionId> = diesel::update(
        auth_sessions::table
            .filter(auth_sessions::secret_hash.eq(old_hash))
            .filter(auth_sessions::account_id.eq(account_id))
            .filter(auth_sessions::revoked_at.is_null()),
    )
    .set(auth_sessions::secret_hash.eq(new_hash))
    .returning(auth_sessions::id)
    .one(conn)
    .optional()?;
    let Some(id) = rotated else {
        return Ok(false);
    };
    let row = (
        rotated_secrets::secret_hash.eq(old_hash),
        rotated_secrets::session_id.eq(&id),
        rotated_secrets::rotated_at.eq(now),
    );
    per_backend!(conn, |c| diesel::insert_into(rotated_secrets::table)
        .values(row)
        .on_conflict(rotated_secrets::secret_hash)
        .do_update()
        .set((
            rotated_secrets::session_id.eq(&id),
            rotated_secrets::rotated_at.eq(now),
        ))
        .execute(c))?;
    Ok(true)
}

/// Whether `secret_hash` was a session's secret before a rotation (see `rotate_secret`).
pub fn was_rotated(conn: &mut Conn, secret_hash: &SecretHash) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        rotated_secrets::table.find(secret_hash),
    ))
    .one(conn)
}

/// Forgets at most `limit` rotated secrets older than `before` (cleanup); how many.
pub fn forget_rotated_before(
    conn: &mut Conn,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let hashes: Vec<SecretHash> = rotated_secrets::table
        .filter(rotated_secrets::rotated_at.lt(before))
        .select(rotated_secrets::secret_hash)
        .limit(limit)
        .all(conn)?;
    diesel::delete(rotated_secrets::table.filter(rotated_secrets::secret_hash.eq_any(&hashes)))
        .exec(conn)
}

/// Records activity: pushes the idle expiry forward.
pub fn touch(
    conn: &mut Conn,
    id: &SessionId,
    now: NaiveDateTime,
    idle_expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(auth_sessions::table.find(id))
        .set((
            auth_sessions::last_seen_at.eq(now),
            auth_sessions::idle_expires_at.eq(idle_expires_at),
        ))
        .exec(conn)
        .map(drop)
}

/// `touch`, only while the row is unrevoked; whether it was.
pub fn touch_if_live(
    conn: &mut Conn,
    id: &SessionId,
    now: NaiveDateTime,
    idle_expires_at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        auth_sessions::table
            .find(id)
            .filter(auth_sessions::revoked_at.is_null()),
    )
    .set((
        auth_sessions::last_seen_at.eq(now),
        auth_sessions::idle_expires_at.eq(idle_expires_at),
    ))
    .exec(conn)
    .map(|n| n == 1)
}

pub fn set_client(conn: &mut Conn, id: &SessionId, client: &ClientInfo) -> QueryResult<()> {
    diesel::update(auth_sessions::table.find(id))
        .set((
            auth_sessions::ip.eq(client.ip.to_string()),
            auth_sessions::user_agent.eq(&client.user_agent),
        ))
        .exec(conn)
        .map(drop)
}

/// The live-session filter, the one definition of "live".
#[diesel::dsl::auto_type]
pub(super) fn live(now: NaiveDateTime) -> _ {
    auth_sessions::revoked_at
        .is_null()
        .and(auth_sessions::idle_expires_at.gt(now))
        .and(auth_sessions::absolute_expires_at.gt(now))
}

pub fn count_live(
    conn: &mut Conn,
    realm: Option<Realm>,
    account_id: Option<AccountId>,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    // Each shape is its own static query: Diesel caches the prepared statement of a static
    // query per connection, and not that of a boxed one (this runs on every dashboard view).
    let base = auth_sessions::table.filter(live(now));
    match (realm, account_id) {
        (None, None) => base.count().one(conn),
        (Some(r), None) => base.filter(auth_sessions::realm.eq(r)).count().one(conn),
        (None, Some(id)) => base
            .filter(auth_sessions::account_id.eq(id))
            .count()
            .one(conn),
        (Some(r), Some(id)) => base
            .filter(auth_sessions::realm.eq(r))
            .filter(auth_sessions::account_id.eq(id))
            .count()
            .one(conn),
    }
}

pub fn find(conn: &mut Conn, id: &SessionId) -> QueryResult<Option<AuthSession>> {
    auth_sessions::table
        .find(id)
        .select(columns())
        .one(conn)
        .optional()
}

/// The live api sessions of these accounts, `(account, session, device_name)`, newest first:
/// the console's account list shows each account's apps.
pub fn live_api_devices(
    conn: &mut Conn,
    accounts: &[AccountId],
    now: NaiveDateTime,
) -> QueryResult<Vec<(AccountId, SessionId, Option<String>)>> {
    // The realm is checked here, not in SQL: with `realm = 'api'` in the query SQLite chose the
    // live-by-realm index and read every live api session to find these 25 accounts' (208 ms
    // a view of the account list with 25,000 of them); without it, it reads them by account.
    let rows: Vec<(AccountId, SessionId, Option<String>, Realm)> = auth_sessions::table
        .filter(live(now))
        .filter(auth_sessions::account_id.eq_any(accounts))
        .order(auth_sessions::created_at.desc())
        .select((
            auth_sessions::account_id,
            auth_sessions::id,
            auth_sessions::device_name,
            auth_sessions::realm,
        ))
        .all(conn)?;
    Ok(rows
        .into_iter()
        .filter(|r| r.3 == Realm::Api)
        .map(|(account, id, device, _)| (account, id, device))
        .collect())
}

/// The session with its account, in one statement (the console's revoke checks the account's
/// organisation on the row it read, SPEC §14).
pub fn find_with_account(
    conn: &mut Conn,
    id: &SessionId,
) -> QueryResult<Option<(AuthSession, Account)>> {
    auth_sessions::table
        .inner_join(accounts::table)
        .filter(auth_sessions::id.eq(id))
        .select((columns(), super::accounts::columns()))
        .one(conn)
        .optional()
}

/// The account's live sessions in every realm, newest first.
pub fn live_for_account(
    conn: &mut Conn,
    account_id: AccountId,
    now: NaiveDateTime,
) -> QueryResult<Vec<AuthSession>> {
    auth_sessions::table
        .filter(live(now))
        .filter(auth_sessions::account_id.eq(account_id))
        .order(auth_sessions::created_at.desc())
        .select(columns())
        .all(conn)
}

/// Revokes every unrevoked session of the account in every realm except those whose secret
/// hash is in `keep` (the ones this browser holds), each with its logout activity. Returns
/// how many it ended.
pub fn revoke_all_for(
    conn: &mut Conn,
    account_id: AccountId,
    keep: &[SecretHash],
    reason: LogoutReason,
    client: Option<&ClientInfo>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let rows: Vec<AuthSession> = auth_sessions::table
        .filter(auth_sessions::account_id.eq(account_id))
        .filter(auth_sessions::revoked_at.is_null())
        .filter(auth_sessions::secret_hash.ne_all(keep))
        .select(columns())
        .all(conn)?;
    revoke_each(conn, &rows, reason, client, now)
}

/// Revokes the account's live sessions in one realm (the single-session `replace` policy).
pub fn revoke_live_in_realm(
    conn: &mut Conn,
    account_id: AccountId,
    realm: Realm,
    reason: LogoutReason,
    client: Option<&ClientInfo>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let rows: Vec<AuthSession> = auth_sessions::table
        .filter(live(now))
        .filter(auth_sessions::account_id.eq(account_id))
        .filter(auth_sessions::realm.eq(realm))
        .select(columns())
        .all(conn)?;
    revoke_each(conn, &rows, reason, client, now)
}

/// Revokes the account's live sessions of `realm` beyond the `keep` most recently used (by
/// `last_seen_at`, then `created_at`): the api realm's token cap (SPEC §13).
pub fn revoke_least_recent_beyond(
    conn: &mut Conn,
    account_id: AccountId,
    realm: Realm,
    keep: u32,
    reason: LogoutReason,
    client: &ClientInfo,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let rows: Vec<AuthSession> = auth_sessions::table
        .filter(live(now))
        .filter(auth_sessions::account_id.eq(account_id))
        .filter(auth_sessions::realm.eq(realm))
        .order((
            auth_sessions::last_seen_at.desc(),
            auth_sessions::created_at.desc(),
            auth_sessions::id.desc(),
        ))
        .select(columns())
        .all(conn)?;
    let beyond = rows.get(keep as usize..).unwrap_or_default();
    revoke_each(conn, beyond, reason, Some(client), now)
}

/// Revokes every unrevoked session, in every realm, of the accounts of one organisation: its
/// deactivation (SPEC §14). Returns how many it ended.
pub fn revoke_all_of_organisation(
    conn: &mut Conn,
    organisation: OrganisationId,
    reason: LogoutReason,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let rows: Vec<AuthSession> = auth_sessions::table
        .inner_join(accounts::table)
        .filter(auth_sessions::revoked_at.is_null())
        .filter(accounts::organisation_id.eq(organisation))
        .select(columns())
        .all(conn)?;
    revoke_each(conn, &rows, reason, None, now)
}

/// Revokes each row (with its logout activity); returns how many this call ended.
pub fn revoke_each(
    conn: &mut Conn,
    rows: &[AuthSession],
    reason: LogoutReason,
    client: Option<&ClientInfo>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mut ended = 0;
    for row in rows {
        if revoke(conn, row, reason, client, now)? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// The sign-in before `current`, for "last sign-in" on the dashboard.
pub fn previous_sign_in(
    conn: &mut Conn,
    account_id: AccountId,
    current: &AuthSession,
) -> QueryResult<Option<(NaiveDateTime, String)>> {
    auth_sessions::table
        .filter(auth_sessions::account_id.eq(account_id))
        .filter(auth_sessions::id.ne(&current.id))
        .filter(auth_sessions::created_at.le(current.created_at))
        .order(auth_sessions::created_at.desc())
        .select((auth_sessions::created_at, auth_sessions::ip))
        .one(conn)
        .optional()
}
