//! Every path of SPEC §5 that exists so far, listed once.

mod activity;
pub mod admin;
mod assets;
pub mod client;
pub mod csv;
pub mod errors;
mod health;
pub mod held;
mod login;
mod logout;
pub mod password;
pub(crate) mod register;
mod reset;
mod sessions;
mod status;
mod two_factor;
mod user;

pub use login::{locked_message, INVALID_CREDENTIALS, OPEN_ELSEWHERE};

use actix_session::SessionExt as _;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use actix_web_flash_messages::IncomingFlashMessages;
use futures_util::future::LocalBoxFuture;

use crate::web::csrf;
use crate::web::realm::{
    guard, identity_middleware, AdminRealm, BrowserRealm, RealmKind, SignedIn, UserRealm,
};
use crate::web::templates::{self, Chrome, HeaderUser};

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The guard wraps single routes rather than a catch-all scope, so an unknown path is a 404
    // and a wrong method a 405 whether or not anyone is signed in.
    fn user_only(route: actix_web::Route) -> actix_web::Route {
        route.wrap(from_fn(guard::<UserRealm, ()>))
    }
    fn admin_only(route: actix_web::Route) -> actix_web::Route {
        route.wrap(from_fn(guard::<AdminRealm, ()>))
    }
    // The admin guard first, then the platform check (the last `wrap` runs first).
    fn platform_only(route: actix_web::Route) -> actix_web::Route {
        admin_only(route.wrap(from_fn(admin::platform_only)))
    }

    cfg.service(
        web::scope("/admin")
            .wrap(identity_middleware(BrowserRealm::Admin))
            .service(
                web::resource("").route(
                    web::get()
                        .to(admin::dashboard)
                        .wrap(from_fn(guard::<AdminRealm, crate::db::reports::Overview>)),
                ),
            )
            .service(
                web::resource("/login")
                    .route(web::get().to(login::form::<AdminRealm>))
                    .route(web::post().to(login::submit::<AdminRealm>)),
            )
            .service(
                web::resource("/logout")
                    .route(admin_only(web::get().to(logout::confirm::<AdminRealm>)))
                    .route(admin_only(web::post().to(logout::submit::<AdminRealm>))),
            )
            .service(
                web::resource("/account/password")
                    .route(admin_only(web::get().to(password::form::<AdminRealm>)))
                    .route(admin_only(web::post().to(password::change::<AdminRealm>))),
            )
            .service(
                web::resource("/login/2fa")
                    .route(web::get().to(two_factor::code_form::<AdminRealm>))
                    .route(web::post().to(two_factor::code_submit::<AdminRealm>)),
            )
            .service(
                web::resource("/account/2fa")
                    .route(admin_only(web::get().to(two_factor::page::<AdminRealm>)))
                    .route(admin_only(web::post().to(two_factor::enable::<AdminRealm>))),
            )
            .service(web::resource("/account/2fa/disable").route(admin_only(
                web::post().to(two_factor::disable::<AdminRealm>),
            )))
            .service(
                web::resource("/account/2fa/recovery-codes").route(admin_only(
                    web::post().to(two_factor::recovery_codes::<AdminRealm>),
                )),
            )
            .service(
                web::resource("/users")
                    .route(admin_only(web::get().to(admin::users)))
                    .route(admin_only(web::post().to(admin::create_user))),
            )
            .service(
                web::resource("/users/{id}/{action}")
                    .route(admin_only(web::get().to(admin::confirm_user_action)))
                    .route(admin_only(web::post().to(admin::user_action))),
            )
            .service(web::resource("/sessions").route(admin_only(web::get().to(admin::sessions))))
            .service(
                web::resource("/sessions/{id}/revoke")
                    .route(admin_only(web::get().to(admin::confirm_revoke_session)))
                    .route(admin_only(web::post().to(admin::revoke_session))),
            )
            .service(
                web::resource("/organisations")
                    .route(platform_only(web::get().to(admin::organisations_list)))
                    .route(platform_only(web::post().to(admin::create_organisation))),
            )
            .service(
                web::resource("/organisations/{id}/{action}")
                    .route(platform_only(web::post().to(admin::organisation_action))),
            )
            .service(web::resource("/incidents").route(admin_only(web::get().to(admin::incidents))))
            .service(web::resource("/logouts").route(admin_only(web::get().to(admin::logouts))))
            .service(
                web::resource("/audit").route(admin_only(web::get().to(admin::admin_actions))),
            ),
    )
    .service(web::resource("/healthz").route(web::get().to(health::healthz)))
    .service(web::resource("/livez").route(web::get().to(health::livez)))
    .service(web::resource("/readyz").route(web::get().to(health::readyz)))
    .service(web::resource("/static/{file}").route(web::get().to(assets::serve)))
    .service(
        web::resource("/")
            .route(web::get().to(user::root))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/login")
            .route(web::get().to(login::form::<UserRealm>))
            .route(web::post().to(login::submit::<UserRealm>))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/login/2fa")
            .route(web::get().to(two_factor::code_form::<UserRealm>))
            .route(web::post().to(two_factor::code_submit::<UserRealm>))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/account/2fa")
            .route(user_only(web::get().to(two_factor::page::<UserRealm>)))
            .route(user_only(web::post().to(two_factor::enable::<UserRealm>)))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/account/2fa/disable")
            .route(user_only(web::post().to(two_factor::disable::<UserRealm>)))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/account/2fa/recovery-codes")
            .route(user_only(
                web::post().to(two_factor::recovery_codes::<UserRealm>),
            ))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(web::resource("/sign-in").route(web::get().to(login::old_address)))
    .service(
        web::resource("/logout")
            .route(user_only(web::get().to(logout::confirm::<UserRealm>)))
            .route(user_only(web::post().to(logout::submit::<UserRealm>)))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/dashboard")
            .route(
                web::get()
                    .to(user::dashboard)
                    .wrap(from_fn(guard::<UserRealm, user::DashboardData>)),
            )
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/account/sessions")
            .route(user_only(web::get().to(sessions::list)))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/account/activity")
            .route(user_only(web::get().to(activity::page)))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/account/sessions/revoke-others")
            .route(user_only(web::post().to(sessions::revoke_others)))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/account/sessions/{id}/revoke")
            .route(user_only(web::post().to(sessions::revoke)))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/account/password")
            .route(user_only(web::get().to(password::form::<UserRealm>)))
            .route(user_only(web::post().to(password::change::<UserRealm>)))
            .wrap(identity_middleware(BrowserRealm::User)),
    )
    .service(
        web::resource("/register")
            .route(web::get().to(register::form))
            .route(web::post().to(register::submit)),
    )
    .service(web::resource("/register/confirm/{token}").route(web::get().to(register::confirm)))
    .service(
        web::resource("/password/reset")
            .route(web::get().to(reset::request_form))
            .route(web::post().to(reset::request)),
    )
    // Before `/password/reset/{token}`, which would otherwise take "confirm" for a token.
    .service(
        web::resource("/password/reset/confirm")
            .route(web::get().to(reset::confirm_form))
            .route(web::post().to(reset::confirm)),
    )
    .service(web::resource("/password/reset/{token}").route(web::get().to(reset::follow_link)))
    .service(web::resource("/session/status").route(web::get().to(status::status)));
}

/// An HTML page. Every page is `no-store` (set once, for all, in `startup::edge`).
pub fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(templates::HTML)
        .body(body)
}

/// 303 to a path of this site. `Location` is always relative, and non-ASCII bytes (from a
/// `next` such as `/dashboard?q=é`) are percent-encoded so the header stays valid.
pub fn see_other(location: &str) -> HttpResponse {
    let mut encoded = String::with_capacity(location.len());
    for b in location.bytes() {
        if b.is_ascii() {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, encoded))
        .finish()
}

/// What every signed-in page starts from: the guard's account and row, the layout (the
/// realm's header and menu, the flashes) and the realm's CSRF token for the page's forms.
pub struct SignedPage<R: RealmKind> {
    pub signed: SignedIn<R>,
    pub chrome: Chrome,
    pub csrf_token: String,
}

impl<R: RealmKind> FromRequest for SignedPage<R> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed = SignedIn::<R>::from_request(req, payload);
        let flashes = IncomingFlashMessages::from_request(req, payload);
        let session = req.get_session();
        Box::pin(async move {
            let (signed, flashes) = (signed.await?, flashes.await?);
            Ok(Self::build(signed, &session, &flashes)?)
        })
    }
}

impl<R: RealmKind> SignedPage<R> {
    /// The page of `signed`, for a handler that must not mint a CSRF token before its own
    /// checks (a form's POST: a refused token leaves the session unchanged, SPEC §6).
    pub fn build(
        signed: SignedIn<R>,
        session: &actix_session::Session,
        flashes: &IncomingFlashMessages,
    ) -> crate::app::error::AppResult<Self> {
        let csrf_token = csrf::token(session, R::REALM)?;
        let header = Self::header(&signed, &csrf_token);
        Ok(Self {
            signed,
            chrome: Chrome::new(Some(header), flashes),
            csrf_token,
        })
    }

    /// `build` for an answer to a form post, which shows no waiting flash.
    pub fn build_quiet(
        signed: SignedIn<R>,
        session: &actix_session::Session,
    ) -> crate::app::error::AppResult<Self> {
        let csrf_token = csrf::token(session, R::REALM)?;
        let header = Self::header(&signed, &csrf_token);
        Ok(Self {
            signed,
            chrome: Chrome {
                header: Some(header),
                flashes: Vec::new(),
            },
            csrf_token,
        })
    }

    /// The realm's header and menu for `signed`.
    fn header(signed: &SignedIn<R>, csrf_token: &str) -> HeaderUser {
        let realm = R::REALM;
        let mut nav = realm.nav().to_vec();
        if realm == BrowserRealm::Admin && signed.account.is_platform_admin {
            nav.insert(nav.len() - 2, ("/admin/organisations", "Organisations"));
        }
        HeaderUser {
            realm: realm.as_str(),
            realm_title: realm.title(),
            login_path: realm.login_path(),
            home_path: realm.home_path(),
            nav,
            name: signed.account.name.clone(),
            email: signed.account.email.clone(),
            logout_action: realm.logout_path(),
            csrf_token: csrf_token.to_owned(),
            organisation: (realm == BrowserRealm::Admin && !signed.account.is_platform_admin)
                .then(|| signed.organisation.name.clone()),
        }
    }
}

/// SPEC §17's hint for a developer: in development with a `file:` mailer, where mail went.
pub fn mail_note(state: &crate::web::startup::AppState) -> Option<String> {
    match &state.config.mail.transport {
        crate::domain::config::MailSetting::File(dir) if state.config.is_development() => {
            Some(format!(
                "Development: mail is not sent but written to the folder {}/ on the server (REALMGATE_MAIL).",
                dir.display()
            ))
        }
        _ => None,
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode_query_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SPEC §6: `next` is honoured only when it is a path of the same realm, and then in its
/// normalised form (`crate::domain::paths`), the one every rule reads; `None` otherwise.
pub fn safe_next(realm: BrowserRealm, next: &str) -> Option<std::borrow::Cow<'_, str>> {
    // SECURITY: an encoded `%` could become any escape after one more decoding somewhere.
    if next.to_ascii_lowercase().contains("%25") {
        return None;
    }
    let normal = crate::domain::paths::normalise(next);
    let next = normal.as_ref();
    let bytes = next.as_bytes();
    let lower = next.to_ascii_lowercase();
    let path = next.split(['?', '#']).next().unwrap_or("");
    let ok = !next.is_empty()
        && next.len() <= 2048
        && bytes[0] == b'/'
        && !matches!(bytes.get(1), Some(b'/') | Some(b'\\'))
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && !path.split('/').any(|seg| seg == ".." || seg == ".")
        // SECURITY: no encoded slash, backslash or dot at all, so no decoding step anywhere
        // can turn this into `//host`, `/\host` or `..`.
        && !lower.contains("%2f")
        && !lower.contains("%5c")
        && !lower.contains("%2e")
        && realm.owns_next(next);
    ok.then_some(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_accepts_paths_of_its_realm_only() {
        assert_eq!(
            safe_next(BrowserRealm::User, "/dashboard").as_deref(),
            Some("/dashboard")
        );
        assert_eq!(
            safe_next(BrowserRealm::User, "/dashboard?tab=1").as_deref(),
            Some("/dashboard?tab=1")
        );
        assert_eq!(
            safe_next(BrowserRealm::Admin, "/admin").as_deref(),
            Some("/admin")
        );
        assert_eq!(
            safe_next(BrowserRealm::Admin, "/admin/users?q=a").as_deref(),
            Some("/admin/users?q=a")
        );
        assert_eq!(safe_next(BrowserRealm::Admin, "/administrator"), None);
        assert_eq!(safe_next(BrowserRealm::Admin, "/dashboard"), None);
        assert_eq!(safe_next(BrowserRealm::User, "/admin"), None);
        assert_eq!(safe_next(BrowserRealm::User, "/login?next=/x"), None);
        assert_eq!(safe_next(BrowserRealm::User, "/logout"), None);
    }

    #[test]
    fn next_refuses_open_redirects() {
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/\tevil.example",
            "/\nevil.example",
            "/ evil",
            "https://evil.example",
            "javascript:alert(1)",
            "/dashboard/../admin",
            "/%2e%2e/admin",
            "dashboard",
        ] {
            assert_eq!(safe_next(BrowserRealm::User, bad), None, "{bad:?}");
        }
        assert_eq!(
            safe_next(BrowserRealm::User, &format!("/{}", "a".repeat(2048))),
            None
        );
    }

    #[test]
    fn next_is_checked_and_sent_in_its_normalised_form() {
        assert_eq!(
            safe_next(BrowserRealm::User, "/d%61shboard").as_deref(),
            Some("/dashboard")
        );
        assert_eq!(
            safe_next(BrowserRealm::User, "/%61dmin"),
            None,
            "a realm prefix, spelled otherwise"
        );
        assert_eq!(safe_next(BrowserRealm::User, "/%6Cogin"), None);
        assert_eq!(
            safe_next(BrowserRealm::Admin, "/%61dmin/users").as_deref(),
            Some("/admin/users")
        );
        assert_eq!(safe_next(BrowserRealm::User, "/dashboard%252F"), None);
        assert_eq!(safe_next(BrowserRealm::User, "/%252e%252e/admin"), None);
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query_value("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
    }
}
