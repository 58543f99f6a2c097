//! What the audit tables record: why a session ended, what abnormal thing happened and what an
//! admin did, each
//! variant with the SPEC's string (§10).

text_enum! {
    pub enum LogoutReason {
        UserLogout => "user_logout",
        IdleTimeout => "idle_timeout",
        AbsoluteTimeout => "absolute_timeout",
        AccountDeactivated => "account_deactivated",
        RevokedByUser => "revoked_by_user",
        RevokedByAdmin => "revoked_by_admin",
        LogoutEverywhere => "logout_everywhere",
        PasswordReset => "password_reset",
        PasswordChanged => "password_changed",
        ReplacedByNewLogin => "replaced_by_new_login",
        ServerRestart => "server_restart",
        IpChanged => "ip_changed",
        SessionMismatch => "session_mismatch",
        SignedInAgain => "signed_in_again",
        ClearedByOperator => "cleared_by_operator",
        PasswordGuessing => "password_guessing",
        OrganisationDeactivated => "organisation_deactivated",
        TwoFactorReset => "two_factor_reset",
    }
}

text_enum! {
    pub enum IncidentKind {
        LoginFailed => "login_failed",
        AccountLocked => "account_locked",
        IpLocked => "ip_locked",
        AdminLoginDenied => "admin_login_denied",
        ConcurrentLoginBlocked => "concurrent_login_blocked",
        CsrfRejected => "csrf_rejected",
        RevokedSessionUsed => "revoked_session_used",
        InactiveAccountAccess => "inactive_account_access",
        SessionMismatch => "session_mismatch",
        IpChanged => "ip_changed",
        UserAgentChanged => "user_agent_changed",
        PasswordResetRequested => "password_reset_requested",
        PasswordResetCompleted => "password_reset_completed",
        PasswordChanged => "password_changed",
        UnauthorizedAccess => "unauthorized_access",
        PasswordGuessing => "password_guessing",
        IncidentFlood => "incident_flood",
        TwoFactorEnabled => "two_factor_enabled",
        TwoFactorDisabled => "two_factor_disabled",
        TwoFactorFailed => "two_factor_failed",
        RecoveryCodeUsed => "recovery_code_used",
        TwoFactorReset => "two_factor_reset",
    }
}

text_enum! {
    /// SPEC §17: what an `admin_actions` row records.
    pub enum AdminActionKind {
        CreateAccount => "create_account",
        Deactivate => "deactivate",
        Activate => "activate",
        Unlock => "unlock",
        LogoutEverywhere => "logout_everywhere",
        SendReset => "send_reset",
        RevokeSession => "revoke_session",
        Reset2fa => "reset_2fa",
        CreateOrganisation => "create_organisation",
        DeactivateOrganisation => "deactivate_organisation",
        ActivateOrganisation => "activate_organisation",
        SessionsClear => "sessions_clear",
    }
}

text_enum! {
    pub enum Severity {
        Info => "info",
        Warning => "warning",
        Critical => "critical",
    }
}

impl IncidentKind {
    pub const fn severity(self) -> Severity {
        use IncidentKind::*;
        match self {
            LoginFailed
            | ConcurrentLoginBlocked
            | IpChanged
            | PasswordResetRequested
            | PasswordResetCompleted
            | PasswordChanged
            | TwoFactorEnabled => Severity::Info,
            SessionMismatch => Severity::Critical,
            AccountLocked
            | IpLocked
            | AdminLoginDenied
            | CsrfRejected
            | RevokedSessionUsed
            | InactiveAccountAccess
            | UserAgentChanged
            | UnauthorizedAccess
            | PasswordGuessing
            | IncidentFlood
            | TwoFactorDisabled
            | TwoFactorFailed
            | RecoveryCodeUsed
            | TwoFactorReset => Severity::Warning,
        }
    }

    /// Kinds a client can cause again and again at the cost of a cheap request, most of them
    /// without being signed in: limited per client IP and minute (SPEC §9 "Floods"), so a
    /// flood writes one `incident_flood` row instead of a row per request. Kinds that end a
    /// session or follow an Argon2 check or a committed change cannot be repeated cheaply and
    /// are always written.
    pub const fn flood_limited(self) -> bool {
        use IncidentKind::*;
        match self {
            LoginFailed
            | AccountLocked
            | IpLocked
            | AdminLoginDenied
            | ConcurrentLoginBlocked
            | CsrfRejected
            | RevokedSessionUsed
            | InactiveAccountAccess
            | IpChanged
            | UserAgentChanged
            | PasswordResetRequested
            | UnauthorizedAccess
            | TwoFactorFailed => true,
            SessionMismatch
            | PasswordResetCompleted
            | PasswordChanged
            | PasswordGuessing
            | IncidentFlood
            | TwoFactorEnabled
            | TwoFactorDisabled
            | RecoveryCodeUsed
            | TwoFactorReset => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_strings_and_severities() {
        assert_eq!(LogoutReason::SignedInAgain.as_str(), "signed_in_again");
        assert_eq!(
            LogoutReason::parse("cleared_by_operator"),
            Some(LogoutReason::ClearedByOperator)
        );
        assert_eq!(IncidentKind::SessionMismatch.severity(), Severity::Critical);
        assert_eq!(IncidentKind::IpChanged.severity(), Severity::Info);
        assert_eq!(IncidentKind::UserAgentChanged.severity(), Severity::Warning);
        assert_eq!(
            IncidentKind::AdminLoginDenied.as_str(),
            "admin_login_denied"
        );
        assert_eq!(IncidentKind::ALL.len(), 22);
        assert_eq!(LogoutReason::ALL.len(), 18);
        assert_eq!(IncidentKind::TwoFactorEnabled.severity(), Severity::Info);
        assert_eq!(IncidentKind::RecoveryCodeUsed.severity(), Severity::Warning);
        assert_eq!(
            IncidentKind::TwoFactorDisabled.severity(),
            Severity::Warning
        );
        assert_eq!(IncidentKind::TwoFactorFailed.severity(), Severity::Warning);
        assert_eq!(IncidentKind::TwoFactorReset.severity(), Severity::Warning);
    }
}
