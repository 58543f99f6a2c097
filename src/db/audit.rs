//! Logout activity and security incidents (their kinds are `domain::events`).
//! These rows are written in the same transaction as the change they describe (SPEC I5).

use chrono::{NaiveDateTime, Timelike as _};
use diesel::prelude::*;

use super::{per_backend, Conn, Run as _};

use super::schema::{accounts, incident_counts, logout_activity, security_incidents};
use crate::domain::client::{rate_key, ClientInfo};
use crate::domain::events::{IncidentKind, LogoutReason, Severity};
use crate::domain::ids::{AccountId, OrganisationId, SessionId};
use crate::domain::realm::Realm;

/// One abnormal event. Build it with `Incident::new(kind, client)` and the optional setters.
pub struct Incident<'a> {
    pub kind: IncidentKind,
    pub realm: Option<Realm>,
    pub account_id: Option<AccountId>,
    pub email_attempted: Option<&'a str>,
    pub details: Option<String>,
    pub client: &'a ClientInfo,
}

impl<'a> Incident<'a> {
    pub fn new(kind: IncidentKind, client: &'a ClientInfo) -> Self {
        Self {
            kind,
            realm: None,
            account_id: None,
            email_attempted: None,
            details: None,
            client,
        }
    }

    pub fn realm(mut self, realm: impl Into<Realm>) -> Self {
        let realm = realm.into();
        self.realm = Some(realm);
        self
    }

    pub fn account(mut self, id: AccountId) -> Self {
        self.account_id = Some(id);
        self
    }

    /// SECURITY: only a value that looks like an address is kept, so a password typed into
    /// the email field never lands in the incident table.
    pub fn email_attempted(mut self, raw: &'a str) -> Self {
        let raw = raw.trim();
        if raw.contains('@') && raw.chars().count() <= 254 && !raw.chars().any(char::is_control) {
            self.email_attempted = Some(raw);
        }
        self
    }

    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Writes the incident, or, for a kind that is `flood_limited` and past
    /// `incidents_per_ip` this clock minute for the client's IP key, counts it in that
    /// minute's one `incident_flood` row instead. A savepoint when the caller is in a
    /// transaction; otherwise a transaction whose first statement writes, so it takes the
    /// write lock at once and parallel requests count exactly.
    pub fn record(
        self,
        conn: &mut Conn,
        now: NaiveDateTime,
        incidents_per_ip: u32,
    ) -> QueryResult<()> {
        crate::metrics::INCIDENTS
            .with_label_values(&[self.kind.as_str()])
            .inc();
        let locked = match self.kind {
            IncidentKind::AccountLocked => Some("account"),
            IncidentKind::IpLocked => Some("ip"),
            _ => None,
        };
        if let Some(what) = locked {
            crate::metrics::LOCKOUTS.with_label_values(&[what]).inc();
        }
        if !self.kind.flood_limited() {
            return self.write(conn, now).map(drop);
        }
        conn.transaction(|conn| {
            let key = rate_key(self.client.ip);
            let minute = now
                - chrono::Duration::seconds(i64::from(now.second()))
                - chrono::Duration::nanoseconds(i64::from(now.nanosecond()));
            let this = (
                incident_counts::ip_key.eq(&key),
                incident_counts::kind.eq(self.kind),
                incident_counts::minute.eq(minute),
            );
            per_backend!(conn, |c| diesel::insert_into(incident_counts::table)
                .values((this, incident_counts::count.eq(1)))
                .on_conflict((
                    incident_counts::ip_key,
                    incident_counts::kind,
                    incident_counts::minute,
                ))
                .do_update()
                .set(incident_counts::count.eq(incident_counts::count + 1))
                .execute(c))?;
            let (count, flood_id): (i32, Option<i32>) = incident_counts::table
                .find((&key, self.kind, minute))
                .select((incident_counts::count, incident_counts::flood_incident_id))
                .one(conn)?;
            let limit = i32::try_from(incidents_per_ip).unwrap_or(i32::MAX);
            if count <= limit {
                return self.write(conn, now).map(drop);
            }
            let details = format!(
                "kind={} suppressed={} ip_key={key}",
                self.kind.as_str(),
                count - limit
            );
            match flood_id {
                Some(id) => diesel::update(security_incidents::table.find(id))
                    .set(security_incidents::details.eq(details))
                    .exec(conn)
                    .map(drop),
                None => {
                    let id = Incident {
                        kind: IncidentKind::IncidentFlood,
                        realm: self.realm,
                        account_id: None,
                        email_attempted: None,
                        details: Some(details),
                        client: self.client,
                    }
                    .write(conn, now)?;
                    diesel::update(incident_counts::table.find((&key, self.kind, minute)))
                        .set(incident_counts::flood_incident_id.eq(id))
                        .exec(conn)
                        .map(drop)
                }
            }
        })
    }

    /// Inserts the row; returns its id.
    fn write(self, conn: &mut Conn, now: NaiveDateTime) -> QueryResult<i32> {
        // SPEC §17: at the incident's own level, as key=value pairs (`-` for none).
        let level = match self.kind.severity() {
            Severity::Info => log::Level::Info,
            Severity::Warning => log::Level::Warn,
            Severity::Critical => log::Level::Error,
        };
        log::log!(
            target: "security",
            level,
            "incident kind={} severity={} realm={} account={} ip={}",
            self.kind,
            self.kind.severity(),
            self.realm.map_or("-", Realm::as_str),
            self.account_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
            self.client.ip,
        );
        let organisation_id = organisation_of(conn, self.account_id)?;
        diesel::insert_into(security_incidents::table)
            .values((
                security_incidents::organisation_id.eq(organisation_id),
                security_incidents::kind.eq(self.kind),
                security_incidents::severity.eq(self.kind.severity()),
                security_incidents::realm.eq(self.realm),
                security_incidents::account_id.eq(self.account_id),
                security_incidents::email_attempted.eq(self.email_attempted),
                security_incidents::ip.eq(self.client.ip.to_string()),
                security_incidents::user_agent.eq(&self.client.user_agent),
                security_incidents::details.eq(self.details),
                security_incidents::created_at.eq(now),
                security_incidents::request_id.eq(self.client.request_id.as_deref()),
            ))
            .returning(security_incidents::id)
            .one(conn)
    }
}

/// Deletes at most `limit` flood counters of minutes before `before` (cleanup); how many.
pub fn delete_incident_counts_before(
    conn: &mut Conn,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let keys: Vec<(String, String, NaiveDateTime)> = incident_counts::table
        .filter(incident_counts::minute.lt(before))
        .select((
            incident_counts::ip_key,
            incident_counts::kind,
            incident_counts::minute,
        ))
        .limit(limit)
        .all(conn)?;
    for (ip_key, kind, minute) in &keys {
        diesel::delete(incident_counts::table.find((ip_key, kind, minute))).exec(conn)?;
    }
    Ok(keys.len())
}

/// The account's organisation now, for an event row (SPEC §10: "the account's at the time").
fn organisation_of(
    conn: &mut Conn,
    account_id: Option<AccountId>,
) -> QueryResult<Option<OrganisationId>> {
    let Some(id) = account_id else {
        return Ok(None);
    };
    accounts::table
        .find(id)
        .select(accounts::organisation_id)
        .one(conn)
        .optional()
}

pub fn record_logout(
    conn: &mut Conn,
    account_id: AccountId,
    realm: Realm,
    session_id: &SessionId,
    reason: LogoutReason,
    client: Option<&ClientInfo>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let organisation_id = organisation_of(conn, Some(account_id))?;
    diesel::insert_into(logout_activity::table)
        .values((
            logout_activity::organisation_id.eq(organisation_id),
            logout_activity::account_id.eq(account_id),
            logout_activity::realm.eq(realm),
            logout_activity::session_id.eq(session_id),
            logout_activity::reason.eq(reason),
            logout_activity::ip.eq(client.map(|c| c.ip.to_string())),
            logout_activity::user_agent.eq(client.map(|c| c.user_agent.as_str())),
            logout_activity::created_at.eq(now),
        ))
        .exec(conn)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_attempted_keeps_only_addresses() {
        let client = ClientInfo {
            ip: "127.0.0.1".parse().unwrap(),
            user_agent: String::new(),
            request_id: None,
        };
        let i =
            Incident::new(IncidentKind::LoginFailed, &client).email_attempted("hunter2-password");
        assert_eq!(i.email_attempted, None);
        let i = Incident::new(IncidentKind::LoginFailed, &client).email_attempted("a@b.example");
        assert_eq!(i.email_attempted, Some("a@b.example"));
        let long = format!("a@{}", "b".repeat(260));
        let i = Incident::new(IncidentKind::LoginFailed, &client).email_attempted(&long);
        assert_eq!(i.email_attempted, None);
    }
}
