use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Conn, Run as _};

use super::schema::accounts;
use crate::domain::ids::{AccountId, OrganisationId};
use crate::domain::Email;

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: AccountId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub is_active: bool,
    pub must_change_password: bool,
    pub email_confirmed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub last_login_ip: Option<String>,
    pub organisation_id: OrganisationId,
    /// Sees and acts on every organisation (implies `is_admin`).
    pub is_platform_admin: bool,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("is_admin", &self.is_admin)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

/// `Account`'s columns as one backend-independent expression (`as_select()` names a backend),
/// so its queries run on each backend's own connection (`db::Run`).
pub fn columns() -> <Account as Selectable<diesel::sqlite::Sqlite>>::SelectExpression {
    <Account as Selectable<diesel::sqlite::Sqlite>>::construct_selection()
}

impl Account {
    /// Whether this account may sign in at all (its password still has to match).
    pub fn can_sign_in(&self) -> bool {
        self.is_active && self.email_confirmed_at.is_some()
    }
}

/// An account to insert. Built with `NewAccount::new` and its setters, the one constructor
/// for sign-up, the console, the command line and the bootstrap admin.
#[derive(Insertable)]
#[diesel(table_name = accounts)]
pub struct NewAccount<'a> {
    email: &'a str,
    name: &'a str,
    password_hash: &'a str,
    is_admin: bool,
    is_active: bool,
    must_change_password: bool,
    email_confirmed_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    organisation_id: OrganisationId,
    is_platform_admin: bool,
}

impl<'a> NewAccount<'a> {
    /// An active user whose address is not confirmed yet (a self sign-up). `email` is the
    /// normalised address.
    pub fn new(email: &'a str, name: &'a str, password_hash: &'a str, now: NaiveDateTime) -> Self {
        Self {
            email,
            name,
            password_hash,
            is_admin: false,
            is_active: true,
            must_change_password: false,
            email_confirmed_at: None,
            created_at: now,
            organisation_id: OrganisationId::DEFAULT,
            is_platform_admin: false,
        }
    }

    pub fn admin(mut self, is_admin: bool) -> Self {
        self.is_admin = is_admin;
        self
    }

    pub fn organisation(mut self, id: OrganisationId) -> Self {
        self.organisation_id = id;
        self
    }

    /// A platform admin (SPEC §14), which is an admin too.
    pub fn platform_admin(mut self, is_platform_admin: bool) -> Self {
        self.is_platform_admin = is_platform_admin;
        self.is_admin |= is_platform_admin;
        self
    }

    /// Confirmed from the start: whoever made it (an admin, the operator) vouches for it.
    pub fn confirmed(mut self, at: NaiveDateTime) -> Self {
        self.email_confirmed_at = Some(at);
        self
    }

    /// The first sign-in must choose a new password (SPEC §4 step 8).
    pub fn must_change_password(mut self, must: bool) -> Self {
        self.must_change_password = must;
        self
    }
}

pub fn find(conn: &mut Conn, id: AccountId) -> QueryResult<Option<Account>> {
    accounts::table
        .find(id)
        .select(columns())
        .one(conn)
        .optional()
}

pub fn find_by_email(conn: &mut Conn, email: &Email) -> QueryResult<Option<Account>> {
    accounts::table
        .filter(accounts::email.eq(email.as_str()))
        .select(columns())
        .one(conn)
        .optional()
}

pub fn insert(conn: &mut Conn, new: &NewAccount<'_>) -> QueryResult<Account> {
    diesel::insert_into(accounts::table)
        .values(new)
        .exec(conn)?;
    // `email` is unique, so this reads back exactly the row just written.
    accounts::table
        .filter(accounts::email.eq(new.email))
        .select(columns())
        .one(conn)
}

pub fn admin_exists(conn: &mut Conn) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        accounts::table.filter(accounts::is_admin.eq(true)),
    ))
    .one(conn)
}

pub fn record_sign_in(
    conn: &mut Conn,
    id: AccountId,
    now: NaiveDateTime,
    ip: &str,
) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set((
            accounts::last_login_at.eq(now),
            accounts::last_login_ip.eq(ip),
        ))
        .exec(conn)
        .map(drop)
}

pub fn set_password_hash(conn: &mut Conn, id: AccountId, hash: &str) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set(accounts::password_hash.eq(hash))
        .exec(conn)
        .map(drop)
}

/// Sets a new password (already hashed) and clears the must-change flag.
pub fn set_new_password(conn: &mut Conn, id: AccountId, hash: &str) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set((
            accounts::password_hash.eq(hash),
            accounts::must_change_password.eq(false),
        ))
        .exec(conn)
        .map(drop)
}

pub fn confirm_email(conn: &mut Conn, id: AccountId, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        accounts::table
            .find(id)
            .filter(accounts::email_confirmed_at.is_null()),
    )
    .set(accounts::email_confirmed_at.eq(now))
    .exec(conn)
    .map(drop)
}

pub fn set_active(conn: &mut Conn, id: AccountId, active: bool) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set(accounts::is_active.eq(active))
        .exec(conn)
        .map(drop)
}

/// `realmgate demo`: the demo account as new again (except its id and history).
pub fn reset_for_demo(
    conn: &mut Conn,
    id: AccountId,
    name: &str,
    hash: &str,
    is_admin: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set((
            accounts::name.eq(name),
            accounts::password_hash.eq(hash),
            accounts::is_admin.eq(is_admin),
            accounts::is_platform_admin.eq(is_admin),
            accounts::is_active.eq(true),
            accounts::must_change_password.eq(false),
            accounts::email_confirmed_at.eq(Some(now)),
        ))
        .exec(conn)
        .map(drop)
}
