//! The realms in the web layer: marker types a handler names in its signature
//! (`SignedIn<AdminRealm>`), so it cannot reach the other realm's keys by accident; each
//! realm's identity middleware; the guard; and the realm's keys in the cookie.

mod guard;
mod session;

pub use guard::{guard, peek, PageData, SignedIn, SESSION_ENDED};
pub use session::{Pending, RealmSession};

pub use crate::domain::realm::{BrowserRealm, Realm};

use actix_identity::config::LogoutBehaviour;
use actix_identity::IdentityMiddleware;

/// One identity middleware per realm scope, with that realm's own key names.
///
/// No visit or login deadline: idle and absolute time are enforced from the registry, and
/// a deadline here would rewrite the cookie on every page view (SPEC I4). The timestamp
/// keys are never written for the same reason; they are named only so a logout cannot
/// remove another realm's keys.
pub fn identity_middleware(realm: BrowserRealm) -> IdentityMiddleware {
    let (visit, login) = match realm {
        BrowserRealm::User => ("user.visited_at", "user.logged_in_at"),
        BrowserRealm::Admin => ("admin.visited_at", "admin.logged_in_at"),
    };
    IdentityMiddleware::builder()
        .id_key(realm.session_key())
        .last_visit_unix_timestamp_key(visit)
        .login_unix_timestamp_key(login)
        .logout_behaviour(LogoutBehaviour::DeleteIdentityKeys)
        .visit_deadline(None)
        .login_deadline(None)
        .build()
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::UserRealm {}
    impl Sealed for super::AdminRealm {}
}

/// Marker types: a handler's signature says which realm it serves. Sealed: the realms are
/// the ones listed here, and a new one is a variant of `Realm` and a marker beside these.
pub trait RealmKind: sealed::Sealed + 'static {
    const REALM: BrowserRealm;
}

pub struct UserRealm;
pub struct AdminRealm;

impl RealmKind for UserRealm {
    const REALM: BrowserRealm = BrowserRealm::User;
}

impl RealmKind for AdminRealm {
    const REALM: BrowserRealm = BrowserRealm::Admin;
}
