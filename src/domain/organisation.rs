//! Organisations (SPEC §14): the slug grammar, and the scope an admin sees and acts in.

use crate::domain::ids::OrganisationId;

/// An organisation's slug: 2–63 characters of `a-z`, `0-9` and `-`, not starting or ending
/// with `-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok = (2..=63).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("A slug is 2 to 63 characters of a-z, 0-9 and -, not starting or ending with -.")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an admin sees and acts on: every organisation (a platform admin), or one
/// organisation's accounts less its platform admins (an organisation admin). Every console
/// query takes one, so a list, count, chart, export or action that forgot it would not compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Platform,
    Organisation(OrganisationId),
}

impl Scope {
    /// The scope of an admin account.
    pub fn of(organisation_id: OrganisationId, is_platform_admin: bool) -> Self {
        if is_platform_admin {
            Scope::Platform
        } else {
            Scope::Organisation(organisation_id)
        }
    }

    /// Whether an account of `organisation_id` (a platform admin or not) is in this scope.
    pub fn covers(self, organisation_id: OrganisationId, is_platform_admin: bool) -> bool {
        match self {
            Scope::Platform => true,
            Scope::Organisation(o) => o == organisation_id && !is_platform_admin,
        }
    }

    pub fn is_platform(self) -> bool {
        matches!(self, Scope::Platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["ab", "acme", "acme-2", &"a".repeat(63)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "-acme",
            "acme-",
            "Acme",
            "ac me",
            "acmé",
            "ac_me",
            &"a".repeat(64),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_organisation_scope_covers_its_own_people_but_no_platform_admin() {
        let (a, b) = (OrganisationId(2), OrganisationId(3));
        let scope = Scope::of(a, false);
        assert!(scope.covers(a, false));
        assert!(!scope.covers(b, false));
        assert!(!scope.covers(a, true));
        assert!(Scope::of(a, true).covers(b, true));
    }
}
