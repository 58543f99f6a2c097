//! The API suite again, on PostgreSQL (SPEC §16: every rule holds on both backends). Each test
//! gets a database of its own on the server named by `REALMGATE_TEST_POSTGRES`
//! (`scripts/pg-test-cluster.sh` starts one); without it this binary skips with one loud line,
//! or fails under `CI=true`. The modules are `tests/api`'s; those that test the SQLite file
//! itself (`cli`, `http_edge`) or the source tree (`layers`) run there only.
// Test code: a failed unwrap is a failed test (the portal's own code denies these).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub const BACKEND: realmgate::db::Backend = realmgate::db::Backend::Postgres;

#[path = "../api/abuse.rs"]
mod abuse;
#[path = "../api/activity.rs"]
mod activity;
#[path = "../api/admin_audit.rs"]
mod admin_audit;
#[path = "../api/api_client.rs"]
mod api_client;
#[path = "../api/api_input.rs"]
mod api_input;
#[path = "../api/api_realm.rs"]
mod api_realm;
#[path = "../api/bad_input.rs"]
mod bad_input;
#[path = "../api/cluster.rs"]
mod cluster;
#[path = "../api/console.rs"]
mod console;
#[path = "../api/csrf.rs"]
mod csrf;
#[path = "../api/defences.rs"]
mod defences;
#[path = "../api/dual_realm.rs"]
mod dual_realm;
#[path = "../api/faults.rs"]
mod faults;
#[path = "../api/floods.rs"]
mod floods;
#[path = "../api/guard.rs"]
mod guard;
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/instances.rs"]
mod instances;
#[path = "../api/lockout.rs"]
mod lockout;
#[path = "../api/mail_outbox.rs"]
mod mail_outbox;
#[path = "../common/nginx.rs"]
mod nginx;
#[path = "../api/organisations.rs"]
mod organisations;
#[path = "../common/outbox.rs"]
mod outbox;
#[path = "../api/pages.rs"]
mod pages;
#[path = "../api/pages_ux.rs"]
mod pages_ux;
#[path = "../api/password.rs"]
mod password;
#[path = "../api/probes.rs"]
mod probes;
#[path = "../api/request_ids.rs"]
mod request_ids;
#[path = "../api/reset.rs"]
mod reset;
#[path = "../api/sessions_page.rs"]
mod sessions_page;
#[path = "../api/sign_in.rs"]
mod sign_in;
#[path = "../api/signup.rs"]
mod signup;
#[path = "../common/smtp.rs"]
mod smtp;
#[path = "../api/two_factor.rs"]
mod two_factor;
