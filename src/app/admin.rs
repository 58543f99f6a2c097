//! The console's actions on an account (SPEC §5), as one enum and one flow: each action is one
//! transaction that returns what happened, and the handler only answers.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::app::account;
use crate::db::tokens::{self, PlainToken, Purpose};
use crate::db::{accounts, lockout, Conn};
use crate::domain::client::ClientInfo;
use crate::domain::events::LogoutReason;
use crate::domain::ids::AccountId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    Deactivate,
    Activate,
    Unlock,
    LogoutEverywhere,
    SendReset,
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
        }
    }
}

pub enum ActionOutcome {
    /// No such account.
    NotFound,
    /// Done; a reset link to mail for `SendReset`.
    Done {
        email: String,
        reset: Option<PlainToken>,
    },
    /// A reset link for a deactivated account: refused, since the link would work and the
    /// sign-in after it would not.
    Deactivated { email: String },
}

/// Carries out `action` on account `id` in one transaction. The caller has checked CSRF, the
/// admin's re-authentication and that an admin does not deactivate themself.
pub fn act(
    conn: &mut Conn,
    action: AdminAction,
    id: AccountId,
    client: &ClientInfo,
    reset_ttl: Duration,
    now: NaiveDateTime,
) -> diesel::QueryResult<ActionOutcome> {
    conn.write_transaction(|conn| {
        let Some(account) = accounts::find(conn, id)? else {
            return Ok(ActionOutcome::NotFound);
        };
        let mut reset = None;
        match action {
            AdminAction::Deactivate => {
                accounts::set_active(conn, id, false)?;
                account::end_sessions_and_links(
                    conn,
                    id,
                    LogoutReason::AccountDeactivated,
                    client,
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
                    client,
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
                reset = Some(tokens::issue(conn, id, Purpose::Reset, now, expires)?);
            }
        }
        Ok(ActionOutcome::Done {
            email: account.email,
            reset,
        })
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
        ] {
            assert_eq!(AdminAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AdminAction::parse("delete"), None);
    }
}
