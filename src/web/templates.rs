//! One askama struct per page in `templates/`, and the layout data every page shares.

use actix_web::http::StatusCode;
use actix_web_flash_messages::{IncomingFlashMessages, Level};
use askama::Template;

use crate::db::reports::Actor;
use crate::domain::ids::{AccountId, SessionId};
use crate::domain::realm::{BrowserRealm, Realm};

pub const HTML: &str = "text/html; charset=utf-8";

pub fn render(page: &impl Template) -> Result<String, askama::Error> {
    page.render()
}

/// The signed-in person shown in the header, with the sign-out form's token.
pub struct HeaderUser {
    pub realm: &'static str,
    pub realm_title: &'static str,
    pub login_path: &'static str,
    pub home_path: &'static str,
    pub nav: Vec<(&'static str, &'static str)>,
    pub name: String,
    pub email: String,
    pub logout_action: &'static str,
    pub csrf_token: String,
    /// An organisation admin's organisation (SPEC §14): the console is theirs only.
    pub organisation: Option<String>,
}

pub struct Flash {
    pub level: &'static str,
    pub text: String,
}

/// What the layout needs: the header and the flash messages.
pub struct Chrome {
    pub header: Option<HeaderUser>,
    pub flashes: Vec<Flash>,
}

impl Chrome {
    pub fn anonymous() -> Self {
        Self {
            header: None,
            flashes: Vec::new(),
        }
    }

    pub fn new(header: Option<HeaderUser>, incoming: &IncomingFlashMessages) -> Self {
        let flashes = incoming
            .iter()
            // `Debug` flashes carry data for a form (`routes::login::PREFILL`), not words.
            .filter(|m| m.level() != Level::Debug)
            .map(|m| Flash {
                level: match m.level() {
                    Level::Error => "error",
                    Level::Warning => "warning",
                    Level::Success => "success",
                    _ => "info",
                },
                text: m.content().to_owned(),
            })
            .collect();
        Self { header, flashes }
    }
}

pub fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The request could not be understood. Check what you sent and try again.",
        401 => "You need to sign in to do that.",
        403 => "You are not allowed to do that.",
        404 => "There is no page at this address.",
        405 => "This page does not accept that kind of request.",
        408 => "What you sent took too long to arrive. Try again.",
        413 => "What you sent is too large.",
        429 => "Too many requests. Wait a little and try again.",
        503 => "The portal is busy right now. Try again in a few seconds.",
        _ => "Something went wrong on our side. Try again in a moment.",
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub chrome: Chrome,
    pub status: u16,
    pub title: &'a str,
    pub message: &'a str,
    pub link_href: Option<&'a str>,
    pub link_text: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub chrome: Chrome,
    pub heading: String,
    pub action: &'static str,
    pub is_admin: bool,
    pub show_remember_me: bool,
    pub email: &'a str,
    pub next: &'a str,
    pub csrf_token: &'a str,
    pub error: Option<&'a str>,
    /// The refusal was a lockout: say that a reset unlocks, with the link.
    pub locked: bool,
    /// The email is known (typed before, or just confirmed): the cursor goes to the password.
    pub focus_password: bool,
    /// `REALMGATE_SIGNUP`: the "Create an account" link.
    pub signup: bool,
    /// Who is signed in to this realm already, when someone is.
    pub who: Option<SignedInAs>,
    /// An admin confirming their password: the email is theirs, not a field.
    pub confirming: bool,
}

/// The person already signed in to a realm whose sign-in page they opened.
#[derive(Clone)]
pub struct SignedInAs {
    pub name: String,
    pub email: String,
    pub home_path: &'static str,
    pub home_label: &'static str,
    pub logout_action: &'static str,
    /// The admin realm: the page asks for the password again (re-authentication).
    pub confirm: bool,
}

impl SignedInAs {
    /// `name` and `email` signed in to `realm`: the admin realm's page is the console's
    /// password confirmation, the user realm's a way on to the dashboard.
    pub fn of(realm: BrowserRealm, name: &str, email: &str) -> Self {
        let admin = realm == BrowserRealm::Admin;
        Self {
            name: name.to_owned(),
            email: email.to_owned(),
            home_path: realm.home_path(),
            home_label: if admin {
                "Continue to the console"
            } else {
                "Continue to your dashboard"
            },
            logout_action: realm.logout_path(),
            confirm: admin,
        }
    }
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub chrome: Chrome,
    pub realm_title: &'static str,
    pub action: &'static str,
    pub home: &'static str,
    pub csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage<'a> {
    pub chrome: Chrome,
    pub name: &'a str,
    pub email: &'a str,
    pub organisation: &'a str,
    pub previous: Option<(String, String)>,
    pub current_at: String,
    pub current_ip: &'a str,
    pub live_sessions: i64,
    pub two_factor: bool,
}

#[derive(Template)]
#[template(path = "admin_dashboard.html")]
pub struct AdminDashboardPage<'a> {
    pub chrome: Chrome,
    pub name: &'a str,
    pub email: &'a str,
    pub since: String,
    pub accounts: String,
    pub user_sessions: String,
    pub admin_sessions: String,
    pub api_sessions: String,
    pub incidents_info: String,
    pub incidents_warning: String,
    pub incidents_critical: String,
    pub sign_outs: String,
    /// The outbox's `(pending, failed)`; a platform admin's dashboard only.
    pub outbox: Option<(i64, i64)>,
    /// Built from numbers and fixed labels only (`routes::admin::chart`), so `|safe` is sound.
    pub chart_svg: String,
}

pub struct UserListRow {
    pub id: AccountId,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub is_platform_admin: bool,
    pub organisation: String,
    pub is_active: bool,
    pub confirmed: bool,
    pub locked: bool,
    pub is_self: bool,
    pub created: String,
    pub last_login: String,
    /// Live api sessions: (session id, device name); revoked from the sessions list.
    pub api_devices: Vec<(SessionId, String)>,
    /// A second factor is on (SPEC §15).
    pub two_factor: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct AdminUsersPage<'a> {
    pub chrome: Chrome,
    /// The admin's sign-in is recent enough to act (SPEC §5): the quick actions post at once;
    /// otherwise each goes to its page, which asks for the password first.
    pub fresh: bool,
    pub q: &'a str,
    /// A platform admin: every organisation, its column and filter.
    pub platform: bool,
    /// The `organisation` filter (a slug), shown back.
    pub organisation: &'a str,
    pub rows: Vec<UserListRow>,
    pub pager: crate::web::routes::admin::Pager,
    pub csrf_token: &'a str,
    /// Why the create form was refused.
    pub error: Option<&'a str>,
}

pub struct AdminSessionRow {
    pub id: SessionId,
    pub realm: Realm,
    pub account_id: AccountId,
    pub email: String,
    pub organisation: String,
    pub browser: String,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
    pub remembered: bool,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "admin_sessions.html")]
pub struct AdminSessionsPage<'a> {
    pub chrome: Chrome,
    pub realm: &'a str,
    pub account: &'a str,
    pub platform: bool,
    pub organisation: &'a str,
    pub rows: Vec<AdminSessionRow>,
    pub pager: crate::web::routes::admin::Pager,
    pub csrf_token: &'a str,
}

pub struct OrganisationRow {
    pub id: crate::domain::ids::OrganisationId,
    pub slug: String,
    pub name: String,
    pub is_active: bool,
    pub accounts: i64,
    pub live_sessions: i64,
}

#[derive(Template)]
#[template(path = "admin_organisations.html")]
pub struct AdminOrganisationsPage<'a> {
    pub chrome: Chrome,
    pub rows: Vec<OrganisationRow>,
    pub csrf_token: &'a str,
    /// Why the create form was refused.
    pub error: Option<&'a str>,
}

/// The filters an audit list was asked for, shown back in its form.
pub struct AuditShown {
    /// Incident kind, logout reason, or audited action.
    pub kind: String,
    /// The admin audit's acting admin (id or email).
    pub actor: String,
    pub severity: String,
    pub realm: String,
    pub account: String,
    /// The `organisation` filter (platform admins only).
    pub organisation: String,
    /// A platform admin: every organisation, its column and filter.
    pub platform: bool,
    pub from: String,
    pub to: String,
    /// "N results" (bounded), or empty for an unfiltered export.
    pub total: String,
}

#[derive(Template)]
#[template(path = "admin_incidents.html")]
pub struct AdminIncidentsPage {
    pub chrome: Chrome,
    pub shown: AuditShown,
    pub kinds: [crate::domain::events::IncidentKind; 22],
    pub rows: Vec<crate::db::reports::IncidentRow>,
    pub pager: crate::web::routes::admin::Pager,
    pub csv_href: String,
}

#[derive(Template)]
#[template(path = "admin_logouts.html")]
pub struct AdminLogoutsPage {
    pub chrome: Chrome,
    pub shown: AuditShown,
    pub reasons: [crate::domain::events::LogoutReason; 18],
    pub rows: Vec<crate::db::reports::LogoutRow>,
    pub pager: crate::web::routes::admin::Pager,
    pub csv_href: String,
}

/// The console's confirmation of one action (issue 17): what it is, what will happen, one
/// button that does it and a way back.
#[derive(Template)]
#[template(path = "admin_confirm.html")]
pub struct AdminConfirmPage {
    pub chrome: Chrome,
    pub heading: String,
    pub consequences: Vec<String>,
    /// The action's POST route.
    pub action: String,
    pub button: &'static str,
    pub cancel: &'static str,
    pub csrf_token: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AdminAuditPage {
    pub chrome: Chrome,
    pub shown: AuditShown,
    pub rows: Vec<crate::db::reports::AdminActionEntry>,
    pub actions: [crate::domain::events::AdminActionKind; 12],
    pub pager: crate::web::routes::admin::Pager,
    pub csv_href: String,
}

#[derive(Template)]
#[template(path = "two_factor_code.html")]
pub struct CodePage<'a> {
    pub chrome: Chrome,
    pub action: &'static str,
    pub login_path: &'static str,
    pub csrf_token: &'a str,
    pub error: Option<&'a str>,
}

/// SECURITY: `qr_svg`, `secret_base32` and `uri` hold the second-factor secret; they are
/// filled only while it is being enrolled, and `new_codes` only right after they were made.
#[derive(Template)]
#[template(path = "two_factor.html")]
pub struct TwoFactorPage<'a> {
    pub chrome: Chrome,
    pub action: &'static str,
    pub csrf_token: &'a str,
    pub enabled: bool,
    pub required: bool,
    pub remaining: i64,
    pub qr_svg: String,
    pub secret_base32: String,
    pub uri: String,
    pub new_codes: Vec<String>,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticePage<'a> {
    pub chrome: Chrome,
    pub heading: &'a str,
    pub message: &'a str,
    /// A second line (the address written to).
    pub detail: Option<String>,
    /// In development with a `file:` mailer: where the mail went instead.
    pub mail_note: Option<String>,
}

#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage<'a> {
    pub chrome: Chrome,
    pub email: &'a str,
    pub name: &'a str,
    pub csrf_token: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset_request.html")]
pub struct ResetRequestPage<'a> {
    pub chrome: Chrome,
    pub email: &'a str,
    pub csrf_token: &'a str,
    pub error: Option<&'a str>,
    pub sent: Option<&'a str>,
    /// The address the request was for, once sent.
    pub sent_to: &'a str,
    pub mail_note: Option<String>,
}

#[derive(Template)]
#[template(path = "reset_confirm.html")]
pub struct ResetConfirmPage<'a> {
    pub chrome: Chrome,
    pub email: &'a str,
    /// An invitation (an account an admin made): its own words.
    pub invite: bool,
    pub csrf_token: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage<'a> {
    pub chrome: Chrome,
    pub action: &'static str,
    pub email: &'a str,
    pub must_change: bool,
    pub csrf_token: &'a str,
    pub error: Option<&'a str>,
}

pub struct SessionRow {
    pub id: SessionId,
    pub realm: Realm,
    pub browser: String,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
    pub remembered: bool,
    pub current: bool,
    pub this_browser: bool,
}

/// One line of `/account/activity`, in words.
pub struct ActivityRow {
    pub at: String,
    pub what: String,
    /// `info`, `warning` or `critical` for an incident; empty otherwise.
    pub severity: &'static str,
    pub realm: &'static str,
    pub ip: String,
    pub browser: String,
}

#[derive(Template)]
#[template(path = "activity.html")]
pub struct ActivityPage {
    pub chrome: Chrome,
    pub rows: Vec<ActivityRow>,
    pub days: i64,
    pub limit: i64,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage<'a> {
    pub chrome: Chrome,
    pub rows: Vec<SessionRow>,
    pub csrf_token: &'a str,
    /// The account's second factor is on (SPEC §15).
    pub two_factor: bool,
}

/// A moment as the lists show it (issue 17): how long ago, with the exact UTC time on hover
/// and for machines. Its `Display` is a `<time>` element made of digits and fixed words only,
/// so templates may print it `|safe`.
pub struct When(pub chrono::NaiveDateTime);

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.0;
        write!(
            f,
            r#"<time datetime="{}" title="{} UTC">{}</time>"#,
            t.format("%Y-%m-%dT%H:%M:%SZ"),
            t.format("%Y-%m-%d %H:%M:%S"),
            ago(t, chrono::Utc::now().naive_utc())
        )
    }
}

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago", then the date. A time ahead of
/// `now` (clocks a little apart) is "just now".
pub fn ago(t: chrono::NaiveDateTime, now: chrono::NaiveDateTime) -> String {
    let secs = (now - t).num_seconds();
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match secs {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if s < 86_400 => plural(s / 3600, "hour"),
        s if s < 30 * 86_400 => plural(s / 86_400, "day"),
        _ => t.format("%Y-%m-%d").to_string(),
    }
}

/// `.when()` on a row's time, in templates: `{{ r.created_at.when()|safe }}`.
pub trait Moment {
    fn when(&self) -> When;
}

impl Moment for chrono::NaiveDateTime {
    fn when(&self) -> When {
        When(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_read_as_how_long_ago_with_the_utc_time_beside() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let at = |secs: i64| now - chrono::Duration::seconds(secs);
        assert_eq!(ago(at(5), now), "just now");
        assert_eq!(ago(at(-30), now), "just now");
        assert_eq!(ago(at(60), now), "1 minute ago");
        assert_eq!(ago(at(180), now), "3 minutes ago");
        assert_eq!(ago(at(7200), now), "2 hours ago");
        assert_eq!(ago(at(86_400 * 3), now), "3 days ago");
        assert_eq!(ago(at(86_400 * 40), now), "2026-10-23");
        let html = When(at(0)).to_string();
        assert!(html.starts_with(
            r#"<time datetime="2026-12-02T12:00:00Z" title="2026-12-02 12:00:00 UTC">"#
        ));
    }
}
