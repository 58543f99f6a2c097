//! `organisations` (SPEC §14).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{accounts, organisations};
use super::{Conn, Run as _};
use crate::domain::ids::OrganisationId;

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = organisations)]
pub struct Organisation {
    pub id: OrganisationId,
    pub slug: String,
    pub name: String,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
}

/// `Organisation`'s columns as one backend-independent expression (see `accounts::columns`).
pub fn columns() -> <Organisation as Selectable<diesel::sqlite::Sqlite>>::SelectExpression {
    <Organisation as Selectable<diesel::sqlite::Sqlite>>::construct_selection()
}

pub fn find(conn: &mut Conn, id: OrganisationId) -> QueryResult<Option<Organisation>> {
    organisations::table
        .find(id)
        .select(columns())
        .one(conn)
        .optional()
}

pub fn find_by_slug(conn: &mut Conn, slug: &str) -> QueryResult<Option<Organisation>> {
    organisations::table
        .filter(organisations::slug.eq(slug))
        .select(columns())
        .one(conn)
        .optional()
}

/// Inserts an organisation; `None` when the slug is taken.
pub fn create(
    conn: &mut Conn,
    slug: &str,
    name: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<Organisation>> {
    if find_by_slug(conn, slug)?.is_some() {
        return Ok(None);
    }
    diesel::insert_into(organisations::table)
        .values((
            organisations::slug.eq(slug),
            organisations::name.eq(name),
            organisations::is_active.eq(true),
            organisations::created_at.eq(now),
        ))
        .exec(conn)?;
    find_by_slug(conn, slug)
}

pub fn set_active(conn: &mut Conn, id: OrganisationId, active: bool) -> QueryResult<()> {
    diesel::update(organisations::table.find(id))
        .set(organisations::is_active.eq(active))
        .exec(conn)
        .map(drop)
}

/// Whether the organisation holds a platform admin: then it cannot be deactivated.
pub fn holds_platform_admin(conn: &mut Conn, id: OrganisationId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        accounts::table
            .filter(accounts::organisation_id.eq(id))
            .filter(accounts::is_platform_admin.eq(true)),
    ))
    .one(conn)
}

/// Every organisation with its number of accounts and of live sessions, by slug, from the
/// kept counters (`counters`).
pub fn list_with_counts(
    conn: &mut Conn,
    now: NaiveDateTime,
) -> QueryResult<Vec<(Organisation, i64, i64)>> {
    let all: Vec<Organisation> = organisations::table
        .order(organisations::slug)
        .select(columns())
        .all(conn)?;
    let counts = super::counters::by_organisation(conn, now)?;
    let out = all
        .into_iter()
        .map(|org| {
            let (accounts, live) = counts.get(&org.id).copied().unwrap_or_default();
            (org, accounts, live)
        })
        .collect();
    Ok(out)
}

pub fn list(conn: &mut Conn) -> QueryResult<Vec<Organisation>> {
    organisations::table
        .order(organisations::slug)
        .select(columns())
        .all(conn)
}
