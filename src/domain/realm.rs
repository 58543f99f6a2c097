//! The sign-in realms. Every per-realm name and rule (session keys, paths, whether it
//! persists, whom it admits, its navigation) lives in this one table, so a new realm is one
//! new variant and its arms here.

text_enum! {
    pub enum Realm {
        User => "user",
        Admin => "admin",
    }
}

impl Realm {
    /// Session key holding the realm's session secret (the actix-identity id).
    pub const fn session_key(self) -> &'static str {
        match self {
            Realm::User => "user.session",
            Realm::Admin => "admin.session",
        }
    }

    pub const fn account_key(self) -> &'static str {
        match self {
            Realm::User => "user.account",
            Realm::Admin => "admin.account",
        }
    }

    pub const fn csrf_key(self) -> &'static str {
        match self {
            Realm::User => "csrf.user",
            Realm::Admin => "csrf.admin",
        }
    }

    pub const fn login_path(self) -> &'static str {
        match self {
            Realm::User => "/login",
            Realm::Admin => "/admin/login",
        }
    }

    pub const fn logout_path(self) -> &'static str {
        match self {
            Realm::User => "/logout",
            Realm::Admin => "/admin/logout",
        }
    }

    pub const fn home_path(self) -> &'static str {
        match self {
            Realm::User => "/dashboard",
            Realm::Admin => "/admin",
        }
    }

    /// The realm's change-password page: the one page an account that must change its
    /// password may still open (SPEC §4 step 8).
    pub const fn password_path(self) -> &'static str {
        match self {
            Realm::User => "/account/password",
            Realm::Admin => "/admin/account/password",
        }
    }

    /// Whether a sign-in may persist past the browser session ("remember me"): the user
    /// realm only; the admin realm never persists (SPEC §3).
    pub const fn persists(self) -> bool {
        matches!(self, Realm::User)
    }

    /// Whether an account may hold a session of this realm: the admin realm admits admins
    /// only (SPEC §4 step 7); the user realm every account.
    pub const fn admits(self, account_is_admin: bool) -> bool {
        match self {
            Realm::User => true,
            Realm::Admin => account_is_admin,
        }
    }

    /// The heading of the realm's sign-in page.
    pub const fn sign_in_heading(self) -> &'static str {
        match self {
            Realm::User => "Sign in",
            Realm::Admin => "Sign in to the admin console",
        }
    }

    /// The realm's navigation: (path, label) in the header of its signed-in pages.
    pub const fn nav(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Realm::User => &[
                ("/dashboard", "Dashboard"),
                ("/account/sessions", "Sessions"),
                ("/account/password", "Password"),
            ],
            Realm::Admin => &[
                ("/admin", "Console"),
                ("/admin/users", "Accounts"),
                ("/admin/sessions", "Sessions"),
                ("/admin/incidents", "Incidents"),
                ("/admin/logouts", "Sign-outs"),
                ("/admin/account/password", "Password"),
            ],
        }
    }

    /// Whether a (normalised) `next` path belongs to this realm (SPEC §6): the admin realm's
    /// own paths, or for the user realm anything but the admin console and the sign-in and
    /// sign-out pages.
    pub fn owns_next(self, next: &str) -> bool {
        match self {
            Realm::Admin => {
                next == "/admin" || next.starts_with("/admin/") || next.starts_with("/admin?")
            }
            Realm::User => !["/admin", "/login", "/logout"]
                .iter()
                .any(|p| next.starts_with(p)),
        }
    }

    pub const fn title(self) -> &'static str {
        match self {
            Realm::User => "Account",
            Realm::Admin => "Admin console",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_the_spec_names() {
        assert_eq!(Realm::User.session_key(), "user.session");
        assert_eq!(Realm::User.account_key(), "user.account");
        assert_eq!(Realm::Admin.csrf_key(), "csrf.admin");
        assert_eq!(Realm::parse("admin"), Some(Realm::Admin));
        assert_eq!(Realm::parse("api"), None);
    }

    #[test]
    fn each_rule_of_a_realm_is_answered_here() {
        assert!(Realm::User.persists() && !Realm::Admin.persists());
        assert!(Realm::User.admits(false) && Realm::Admin.admits(true));
        assert!(!Realm::Admin.admits(false));
        assert!(
            Realm::Admin.owns_next("/admin?tab=1") && !Realm::Admin.owns_next("/administrator")
        );
        assert!(Realm::User.owns_next("/account/sessions") && !Realm::User.owns_next("/logout"));
        assert!(Realm::ALL.iter().all(|r| r.nav()[0].0 == r.home_path()));
    }
}
