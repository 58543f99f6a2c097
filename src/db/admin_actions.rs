//! The admin audit (SPEC §17): one row for every console action and every command-line change
//! to accounts, sessions or organisations, written in the change's own transaction (SPEC I5).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::admin_actions;
use super::{Conn, Run as _};
use crate::domain::client::ClientInfo;
use crate::domain::events::AdminActionKind;
use crate::domain::ids::{AccountId, OrganisationId, SessionId};

/// One action. `actor` and `client` are `None` for the command line.
pub struct AdminActionRow<'a> {
    pub actor: Option<AccountId>,
    pub action: AdminActionKind,
    pub target_account: Option<AccountId>,
    pub target_session: Option<&'a SessionId>,
    /// The target's organisation, or the organisation acted on: whose audit shows the row.
    pub organisation: Option<OrganisationId>,
    pub client: Option<&'a ClientInfo>,
    pub details: Option<String>,
}

impl<'a> AdminActionRow<'a> {
    pub fn new(action: AdminActionKind) -> Self {
        Self {
            actor: None,
            action,
            target_account: None,
            target_session: None,
            organisation: None,
            client: None,
            details: None,
        }
    }

    /// An admin in the console, from `client`.
    pub fn by(mut self, actor: AccountId, client: &'a ClientInfo) -> Self {
        self.actor = Some(actor);
        self.client = Some(client);
        self
    }

    pub fn account(mut self, id: AccountId, organisation: OrganisationId) -> Self {
        self.target_account = Some(id);
        self.organisation = Some(organisation);
        self
    }

    pub fn session(mut self, id: &'a SessionId) -> Self {
        self.target_session = Some(id);
        self
    }

    pub fn organisation(mut self, id: OrganisationId) -> Self {
        self.organisation = Some(id);
        self
    }

    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    pub fn record(self, conn: &mut Conn, now: NaiveDateTime) -> QueryResult<()> {
        self.record_returning(conn, now).map(drop)
    }

    /// `record`, returning the row's id (to complete its details later: `set_details`).
    pub fn record_returning(self, conn: &mut Conn, now: NaiveDateTime) -> QueryResult<i32> {
        log::info!(
            target: "audit",
            "admin action={} actor={} account={} session={} organisation={}",
            self.action,
            self.actor.map_or_else(|| "command-line".to_owned(), |a| a.to_string()),
            self.target_account.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            self.target_session.map_or("-", |s| s.as_str()),
            self.organisation.map_or_else(|| "-".to_owned(), |o| o.0.to_string()),
        );
        diesel::insert_into(admin_actions::table)
            .values((
                admin_actions::actor_account_id.eq(self.actor),
                admin_actions::action.eq(self.action),
                admin_actions::target_account_id.eq(self.target_account),
                admin_actions::target_session_id.eq(self.target_session),
                admin_actions::organisation_id.eq(self.organisation),
                admin_actions::ip.eq(self.client.map(|c| c.ip.to_string())),
                admin_actions::user_agent.eq(self.client.map(|c| c.user_agent.as_str())),
                admin_actions::details.eq(self.details),
                admin_actions::created_at.eq(now),
            ))
            .returning(admin_actions::id)
            .one(conn)
    }
}

/// Completes the details of a row written at the start of a change done in batches.
pub fn set_details(conn: &mut Conn, id: i32, details: &str) -> QueryResult<()> {
    diesel::update(admin_actions::table.find(id))
        .set(admin_actions::details.eq(details))
        .exec(conn)
        .map(drop)
}

/// Deletes at most `limit` rows older than `before` (the cleanup, after
/// `REALMGATE_RETENTION`); how many.
pub fn before(conn: &mut Conn, before: NaiveDateTime, limit: i64) -> QueryResult<Vec<i32>> {
    admin_actions::table
        .filter(admin_actions::created_at.lt(before))
        .select(admin_actions::id)
        .limit(limit)
        .all(conn)
}

/// Deletes those of `ids` from before `before`; how many.
pub fn delete(conn: &mut Conn, ids: &[i32], before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        admin_actions::table
            .filter(admin_actions::id.eq_any(ids))
            .filter(admin_actions::created_at.lt(before)),
    )
    .exec(conn)
}
