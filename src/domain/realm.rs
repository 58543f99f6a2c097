//! The sign-in realms. Every per-realm name and rule (session keys, paths, whether it
//! persists, whom it admits, its navigation) lives in these two tables, so a new realm is one
//! new variant and its arms here.
//!
//! `Realm` is every realm, as stored in the registry; `BrowserRealm` is the two a browser
//! signs in to, the only ones with keys in the shared cookie. The `api` realm has no cookie
//! keys, no sign-in page and no CSRF token (SPEC §13), so asking for them does not compile.

text_enum! {
    pub enum Realm {
        User => "user",
        Admin => "admin",
        Api => "api",
    }
}

impl Realm {
    /// Whether an account may hold a session of this realm: the admin realm admits admins
    /// only (SPEC §4 step 7); the others every account.
    pub const fn admits(self, account_is_admin: bool) -> bool {
        match self {
            Realm::User | Realm::Api => true,
            Realm::Admin => account_is_admin,
        }
    }

    /// The realm a browser holds keys of, if this is one.
    pub const fn browser(self) -> Option<BrowserRealm> {
        match self {
            Realm::User => Some(BrowserRealm::User),
            Realm::Admin => Some(BrowserRealm::Admin),
            Realm::Api => None,
        }
    }
}

/// A realm signed in to by a browser, with its keys in the shared session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BrowserRealm {
    User,
    Admin,
}

impl From<BrowserRealm> for Realm {
    fn from(realm: BrowserRealm) -> Realm {
        realm.realm()
    }
}

impl BrowserRealm {
    pub const ALL: [BrowserRealm; 2] = [BrowserRealm::User, BrowserRealm::Admin];

    pub const fn realm(self) -> Realm {
        match self {
            BrowserRealm::User => Realm::User,
            BrowserRealm::Admin => Realm::Admin,
        }
    }

    pub const fn as_str(self) -> &'static str {
        self.realm().as_str()
    }

    /// Session key holding the realm's session secret (the actix-identity id).
    pub const fn session_key(self) -> &'static str {
        match self {
            BrowserRealm::User => "user.session",
            BrowserRealm::Admin => "admin.session",
        }
    }

    pub const fn account_key(self) -> &'static str {
        match self {
            BrowserRealm::User => "user.account",
            BrowserRealm::Admin => "admin.account",
        }
    }

    /// Session key of a sign-in waiting for its second factor (SPEC §3, §15).
    pub const fn pending_key(self) -> &'static str {
        match self {
            BrowserRealm::User => "user.pending",
            BrowserRealm::Admin => "admin.pending",
        }
    }

    /// The realm's second step of sign-in.
    pub const fn second_step_path(self) -> &'static str {
        match self {
            BrowserRealm::User => "/login/2fa",
            BrowserRealm::Admin => "/admin/login/2fa",
        }
    }

    /// The realm's second-factor page.
    pub const fn two_factor_path(self) -> &'static str {
        match self {
            BrowserRealm::User => "/account/2fa",
            BrowserRealm::Admin => "/admin/account/2fa",
        }
    }

    pub const fn csrf_key(self) -> &'static str {
        match self {
            BrowserRealm::User => "csrf.user",
            BrowserRealm::Admin => "csrf.admin",
        }
    }

    pub const fn login_path(self) -> &'static str {
        match self {
            BrowserRealm::User => "/login",
            BrowserRealm::Admin => "/admin/login",
        }
    }

    pub const fn logout_path(self) -> &'static str {
        match self {
            BrowserRealm::User => "/logout",
            BrowserRealm::Admin => "/admin/logout",
        }
    }

    pub const fn home_path(self) -> &'static str {
        match self {
            BrowserRealm::User => "/dashboard",
            BrowserRealm::Admin => "/admin",
        }
    }

    /// The realm's change-password page: the one page an account that must change its
    /// password may still open (SPEC §4 step 8).
    pub const fn password_path(self) -> &'static str {
        match self {
            BrowserRealm::User => "/account/password",
            BrowserRealm::Admin => "/admin/account/password",
        }
    }

    /// Whether a sign-in may persist past the browser session ("remember me"): the user
    /// realm only; the admin realm never persists (SPEC §3).
    pub const fn persists(self) -> bool {
        matches!(self, BrowserRealm::User)
    }

    /// The heading of the realm's sign-in page.
    pub const fn sign_in_heading(self) -> &'static str {
        match self {
            BrowserRealm::User => "Sign in",
            BrowserRealm::Admin => "Sign in to the admin console",
        }
    }

    /// The realm's navigation: (path, label) in the header of its signed-in pages.
    pub const fn nav(self) -> &'static [(&'static str, &'static str)] {
        match self {
            BrowserRealm::User => &[
                ("/dashboard", "Dashboard"),
                ("/account/sessions", "Sessions"),
                ("/account/activity", "Activity"),
                ("/account/password", "Password"),
                ("/account/2fa", "Second factor"),
            ],
            BrowserRealm::Admin => &[
                ("/admin", "Console"),
                ("/admin/users", "Accounts"),
                ("/admin/sessions", "Sessions"),
                ("/admin/incidents", "Incidents"),
                ("/admin/logouts", "Sign-outs"),
                ("/admin/audit", "Audit"),
                ("/admin/account/password", "Password"),
                ("/admin/account/2fa", "Second factor"),
            ],
        }
    }

    /// Whether a (normalised) `next` path belongs to this realm (SPEC §6): the admin realm's
    /// own paths, or for the user realm anything but the admin console and the sign-in and
    /// sign-out pages.
    pub fn owns_next(self, next: &str) -> bool {
        match self {
            BrowserRealm::Admin => {
                next == "/admin" || next.starts_with("/admin/") || next.starts_with("/admin?")
            }
            BrowserRealm::User => !["/admin", "/login", "/logout"]
                .iter()
                .any(|p| next.starts_with(p)),
        }
    }

    pub const fn title(self) -> &'static str {
        match self {
            BrowserRealm::User => "Account",
            BrowserRealm::Admin => "Admin console",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_the_spec_names() {
        assert_eq!(BrowserRealm::User.session_key(), "user.session");
        assert_eq!(BrowserRealm::User.account_key(), "user.account");
        assert_eq!(BrowserRealm::Admin.csrf_key(), "csrf.admin");
        assert_eq!(Realm::parse("admin"), Some(Realm::Admin));
        assert_eq!(Realm::parse("api"), Some(Realm::Api));
        assert_eq!(
            Realm::Api.browser(),
            None,
            "the api realm has no cookie keys"
        );
        assert!(BrowserRealm::ALL
            .iter()
            .all(|b| b.realm().browser() == Some(*b)));
    }

    #[test]
    fn each_rule_of_a_realm_is_answered_here() {
        assert!(BrowserRealm::User.persists() && !BrowserRealm::Admin.persists());
        assert!(Realm::User.admits(false) && Realm::Admin.admits(true) && Realm::Api.admits(false));
        assert!(!Realm::Admin.admits(false));
        assert!(
            BrowserRealm::Admin.owns_next("/admin?tab=1")
                && !BrowserRealm::Admin.owns_next("/administrator")
        );
        assert!(
            BrowserRealm::User.owns_next("/account/sessions")
                && !BrowserRealm::User.owns_next("/logout")
        );
        assert!(BrowserRealm::ALL
            .iter()
            .all(|r| r.nav()[0].0 == r.home_path()));
    }
}
