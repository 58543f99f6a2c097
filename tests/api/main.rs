//! Every integration test in one binary: one link step.
// Test code: a failed unwrap is a failed test (the portal's own code denies these).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The backend this binary tests; `tests/api_postgres` runs the same modules on PostgreSQL.
pub const BACKEND: realmgate::db::Backend = realmgate::db::Backend::Sqlite;

mod abuse;
mod activity;
mod admin_audit;
mod api_client;
mod api_input;
mod api_realm;
mod bad_input;
mod cli;
mod console;
mod csrf;
mod defences;
mod deployment;
mod dual_realm;
mod faults;
mod floods;
mod guard;
mod helpers;
mod http_edge;
mod instances;
mod layers;
mod lockout;
mod mail_outbox;
mod organisations;
#[path = "../common/outbox.rs"]
mod outbox;
mod pages;
mod pages_ux;
mod password;
mod probes;
mod request_ids;
mod reset;
mod sessions_page;
mod sign_in;
mod signup;
#[path = "../common/smtp.rs"]
mod smtp;
mod two_factor;
