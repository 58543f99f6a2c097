//! Every integration test in one binary: one link step.

mod bad_input;
mod cli;
mod console;
mod csrf;
mod defences;
mod dual_realm;
mod guard;
mod helpers;
mod lockout;
#[path = "../common/outbox.rs"]
mod outbox;
mod pages;
mod password;
mod reset;
mod sessions_page;
mod sign_in;
mod signup;
