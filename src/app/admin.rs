//! The console's actions on an account (SPEC §5), as one enum and one flow: each action is one
//! transaction that returns what happened, and the handler only answers.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::app::account;
use crate::app::mail::Mail;
use crate::app::outbox::Writer;
use crate::db::admin_actions::AdminActionRow;
use crate::db::audit::Incident;
use crate::db::tokens::{self, Purpose};
use crate::db::{accounts, lockout, organisations, sessions, Conn};
use crate::domain::client::ClientInfo;
use crate::domain::events::{AdminActionKind, IncidentKind, LogoutReason};
use crate::domain::ids::{AccountId, OrganisationId, SessionId};
use crate::domain::organisation::Scope;
use crate::domain::realm::Realm;

/// The admin acting, as the console's actions need them: who, what they may reach (SPEC §14),
/// from where, and the route they asked on (for the incident an unknown id writes).
pub struct Acting<'a> {
    pub admin: AccountId,
    pub scope: Scope,
    pub client: &'a ClientInfo,
    /// `REALMGATE_INCIDENTS_PER_IP`.
    pub floods: u32,
    /// The method and path of the request, as typed.
    pub route: &'a str,
}

impl Acting<'_> {
    /// SPEC §14: an id out of reach answers as an unknown one, and both write this incident,
    /// which names the acting admin, the route and the id as typed, and nothing of the target.
    pub fn out_of_reach(&self, conn: &mut Conn, now: NaiveDateTime) -> diesel::QueryResult<()> {
        Incident::new(IncidentKind::UnauthorizedAccess, self.client)
            .realm(Realm::Admin)
            .account(self.admin)
            .details(format!("{}: no such id in this admin's reach", self.route))
            .record(conn, now, self.floods)
    }

    /// The audit row of what this admin did (SPEC §17).
    fn audit(&self, action: AdminActionKind) -> AdminActionRow<'_> {
        AdminActionRow::new(action).by(self.admin, self.client)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    Deactivate,
    Activate,
    Unlock,
    LogoutEverywhere,
    SendReset,
    /// SPEC §15: a lost phone.
    ResetTwoFactor,
}

impl AdminAction {
    /// The action named by the last segment of `/admin/users/{id}/{action}`.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "deactivate" => Self::Deactivate,
            "activate" => Self::Activate,
            "unlock" => Self::Unlock,
            "logout-everywhere" => Self::LogoutEverywhere,
            "send-reset" => Self::SendReset,
            "reset-2fa" => Self::ResetTwoFactor,
            _ => return None,
        })
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deactivate => "deactivate",
            Self::Activate => "activate",
            Self::Unlock => "unlock",
            Self::LogoutEverywhere => "logout-everywhere",
            Self::SendReset => "send-reset",
            Self::ResetTwoFactor => "reset-2fa",
        }
    }

    /// The audit's name for it (SPEC §17).
    pub const fn audited(self) -> AdminActionKind {
        match self {
            Self::Deactivate => AdminActionKind::Deactivate,
            Self::Activate => AdminActionKind::Activate,
            Self::Unlock => AdminActionKind::Unlock,
            Self::LogoutEverywhere => AdminActionKind::LogoutEverywhere,
            Self::SendReset => AdminActionKind::SendReset,
            Self::ResetTwoFactor => AdminActionKind::Reset2fa,
        }
    }

    /// The verb, for "Confirm your password to {verb} {email}".
    pub const fn verb(self) -> &'static str {
        match self {
            Self::Deactivate => "deactivate",
            Self::Activate => "activate",
            Self::Unlock => "unlock",
            Self::LogoutEverywhere => "sign out everywhere",
            Self::SendReset => "send a reset link to",
            Self::ResetTwoFactor => "remove the second factor of",
        }
    }

    /// The confirmation page's heading, button and what will happen.
    pub fn confirmation(self, email: &str) -> (String, &'static str, &'static [&'static str]) {
        match self {
            Self::Deactivate => (
                format!("Deactivate {email}?"),
                "Deactivate",
                &[
                    "Every session of the account ends at once, in every realm: browsers and apps.",
                    "Nobody can sign in to it until an admin activates it again.",
                    "Its pending password links stop working.",
                ],
            ),
            Self::Activate => (
                format!("Activate {email}?"),
                "Activate",
                &["The account can sign in again with its password."],
            ),
            Self::Unlock => (
                format!("Unlock {email}?"),
                "Unlock",
                &["Its failed sign-ins are forgotten: it can sign in at once."],
            ),
            Self::LogoutEverywhere => (
                format!("Sign {email} out everywhere?"),
                "Sign out everywhere",
                &[
                    "Every session of the account ends on its next request, in every realm: browsers and apps.",
                    "Its pending password links stop working.",
                    "It can sign in again with its password.",
                ],
            ),
            Self::SendReset => (
                format!("Send a reset link to {email}?"),
                "Send the link",
                &[
                    "A single-use link to choose a new password is mailed to the address.",
                    "Nothing changes until it is used; then every session of the account ends.",
                ],
            ),
            Self::ResetTwoFactor => (
                format!("Remove the second factor of {email}?"),
                "Remove the second factor",
                &[
                    "Its authenticator app's codes and its recovery codes stop working.",
                    "Every session of the account ends, in every realm.",
                    "It signs in with its password alone until it sets up a new factor.",
                ],
            ),
        }
    }

    /// What the flash message says once it is done.
    pub fn done(self, email: &str) -> String {
        match self {
            Self::Deactivate => format!("{email} is deactivated and signed out everywhere."),
            Self::Activate => format!("{email} is active again."),
            Self::Unlock => format!("{email} is unlocked."),
            Self::LogoutEverywhere => format!("{email} is signed out everywhere."),
            Self::SendReset => format!("A reset link was sent to {email}."),
            Self::ResetTwoFactor => {
                format!("{email} has no second factor now and is signed out everywhere.")
            }
        }
    }
}

pub enum ActionOutcome {
    /// No such account.
    NotFound,
    /// Done (for `SendReset`, its mail is in the outbox).
    Done { email: String },
    /// A reset link for a deactivated account: refused, since the link would work and the
    /// sign-in after it would not.
    Deactivated { email: String },
}

/// Carries out `action` on account `id` in one transaction, with its audit row and (for
/// `SendReset`) its mail. The caller has checked CSRF, the admin's re-authentication and that
/// an admin does not deactivate themself.
pub fn act(
    conn: &mut Conn,
    by: &Acting<'_>,
    action: AdminAction,
    id: AccountId,
    (writer, reset_ttl): (&Writer, Duration),
    now: NaiveDateTime,
) -> diesel::QueryResult<ActionOutcome> {
    conn.write_transaction(|conn| {
        // The same read whether the account is missing or out of reach (SPEC §14).
        let found = accounts::find(conn, id)?
            .filter(|a| by.scope.covers(a.organisation_id, a.is_platform_admin));
        let Some(account) = found else {
            by.out_of_reach(conn, now)?;
            return Ok(ActionOutcome::NotFound);
        };
        match action {
            AdminAction::Deactivate => {
                accounts::set_active(conn, id, false)?;
                account::end_sessions_and_links(
                    conn,
                    id,
                    LogoutReason::AccountDeactivated,
                    None,
                    now,
                )?;
            }
            AdminAction::Activate => accounts::set_active(conn, id, true)?,
            AdminAction::Unlock => lockout::unlock_email(conn, &account.email)?,
            AdminAction::LogoutEverywhere => {
                account::end_sessions_and_links(
                    conn,
                    id,
                    LogoutReason::LogoutEverywhere,
                    None,
                    now,
                )?;
            }
            AdminAction::SendReset if !account.is_active => {
                return Ok(ActionOutcome::Deactivated {
                    email: account.email,
                })
            }
            AdminAction::SendReset => {
                let expires = crate::domain::clock::after(now, reset_ttl);
                let token = tokens::issue(conn, id, Purpose::Reset, now, expires)?;
                let mail = Mail::reset_by_admin(
                    &account.email,
                    writer.origin(),
                    token.expose(),
                    reset_ttl,
                )
                .map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
                writer.mail(conn, &mail, now)?;
            }
            AdminAction::ResetTwoFactor => {
                reset_two_factor(conn, id, by.client, by.floods, now)?;
            }
        }
        by.audit(action.audited())
            .account(id, account.organisation_id)
            .record(conn, now)?;
        Ok(ActionOutcome::Done {
            email: account.email,
        })
    })
}

/// An account made in the console (`by` the admin) or by `create-user` (`by` is `None`): the
/// account, its audit row and, when it has no password yet (`invite`), the welcome mail with
/// its link, in one transaction. `None` when the address already has an account.
pub fn create_account(
    conn: &mut Conn,
    by: Option<&Acting<'_>>,
    (email, new): (&crate::domain::Email, &accounts::NewAccount<'_>),
    invite: Option<(&Writer, Duration)>,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<accounts::Account>> {
    conn.write_transaction(|conn| {
        if accounts::find_by_email(conn, email)?.is_some() {
            return Ok(None);
        }
        let account = accounts::insert(conn, new)?;
        if let Some((writer, ttl)) = invite {
            let expires = crate::domain::clock::after(now, ttl);
            let token = tokens::issue(conn, account.id, Purpose::Invite, now, expires)?;
            let mail = Mail::invitation(&account.email, writer.origin(), token.expose(), ttl)
                .map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
            writer.mail(conn, &mail, now)?;
        }
        let role = if account.is_platform_admin {
            "platform admin"
        } else if account.is_admin {
            "admin"
        } else {
            "user"
        };
        let invited = if invite.is_some() {
            ", invited by mail"
        } else {
            ""
        };
        match by {
            Some(by) => by
                .audit(AdminActionKind::CreateAccount)
                .details(format!("{role}{invited}")),
            None => AdminActionRow::new(AdminActionKind::CreateAccount)
                .details(format!("realmgate create-user: {role}")),
        }
        .account(account.id, account.organisation_id)
        .record(conn, now)?;
        Ok(Some(account))
    })
}

/// An organisation made in the console (`by` a platform admin) or by `orgs create`, with its
/// audit row; `None` when the slug is taken.
pub fn create_organisation(
    conn: &mut Conn,
    by: Option<&Acting<'_>>,
    slug: &str,
    name: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<organisations::Organisation>> {
    conn.write_transaction(|conn| {
        let Some(org) = organisations::create(conn, slug, name, now)? else {
            return Ok(None);
        };
        let via = if by.is_some() {
            ""
        } else {
            "realmgate orgs create: "
        };
        match by {
            Some(by) => by.audit(AdminActionKind::CreateOrganisation),
            None => AdminActionRow::new(AdminActionKind::CreateOrganisation),
        }
        .organisation(org.id)
        .details(format!("{via}slug={}", org.slug))
        .record(conn, now)?;
        Ok(Some(org))
    })
}

pub enum OrganisationOutcome {
    NotFound,
    /// SPEC §14: the platform admins' own organisation cannot be deactivated.
    HoldsPlatformAdmin,
    Done {
        name: String,
        ended: usize,
    },
}

/// `POST /admin/organisations/{id}/deactivate` or `/activate` (platform admins only). A
/// deactivation ends every session of the organisation's accounts in every realm, in the same
/// transaction; the guard refuses any that a request races past it (SPEC §4 step 4).
pub fn set_organisation_active(
    conn: &mut Conn,
    by: &Acting<'_>,
    id: OrganisationId,
    active: bool,
    now: NaiveDateTime,
) -> diesel::QueryResult<OrganisationOutcome> {
    conn.write_transaction(|conn| {
        let Some(org) = organisations::find(conn, id)? else {
            by.out_of_reach(conn, now)?;
            return Ok(OrganisationOutcome::NotFound);
        };
        if !active && organisations::holds_platform_admin(conn, id)? {
            return Ok(OrganisationOutcome::HoldsPlatformAdmin);
        }
        organisations::set_active(conn, id, active)?;
        let kind = if active {
            AdminActionKind::ActivateOrganisation
        } else {
            AdminActionKind::DeactivateOrganisation
        };
        let ended = if active {
            0
        } else {
            sessions::revoke_all_of_organisation(
                conn,
                id,
                LogoutReason::OrganisationDeactivated,
                now,
            )?
        };
        by.audit(kind)
            .organisation(id)
            .details(format!("{} sessions ended", ended))
            .record(conn, now)?;
        Ok(OrganisationOutcome::Done {
            name: org.name,
            ended,
        })
    })
}

/// Removes an account's second factor and ends its sessions in every realm (SPEC §15: reason
/// and incident `two_factor_reset`). The console's and the command line's. Call inside a write
/// transaction; whether there was a factor.
pub fn reset_two_factor(
    conn: &mut Conn,
    id: AccountId,
    client: &ClientInfo,
    floods: u32,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    let had = crate::db::two_factor::remove(conn, id)?;
    sessions::revoke_all_for(conn, id, &[], LogoutReason::TwoFactorReset, None, now)?;
    Incident::new(IncidentKind::TwoFactorReset, client)
        .realm(Realm::Admin)
        .account(id)
        .record(conn, now, floods)?;
    Ok(had)
}

/// `POST /admin/sessions/{id}/revoke`: `false` when the session is unknown or its account out
/// of reach (then the incident of `Acting::out_of_reach`).
pub fn revoke_session(
    conn: &mut Conn,
    by: &Acting<'_>,
    id: &SessionId,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    conn.write_transaction(|conn| {
        let row = match sessions::find(conn, id)? {
            Some(row) => accounts::find(conn, row.account_id)?
                .filter(|a| by.scope.covers(a.organisation_id, a.is_platform_admin))
                .map(|a| (row, a.organisation_id)),
            None => None,
        };
        let Some((row, organisation)) = row else {
            by.out_of_reach(conn, now)?;
            return Ok(false);
        };
        sessions::revoke(
            conn,
            &row,
            LogoutReason::RevokedByAdmin,
            Some(by.client),
            now,
        )?;
        by.audit(AdminActionKind::RevokeSession)
            .account(row.account_id, organisation)
            .session(&row.id)
            .details(format!("realm={}", row.realm))
            .record(conn, now)?;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::AdminAction;

    #[test]
    fn every_action_parses_from_its_own_name() {
        for action in [
            AdminAction::Deactivate,
            AdminAction::Activate,
            AdminAction::Unlock,
            AdminAction::LogoutEverywhere,
            AdminAction::SendReset,
            AdminAction::ResetTwoFactor,
        ] {
            assert_eq!(AdminAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AdminAction::parse("delete"), None);
    }
}
