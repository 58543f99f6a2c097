//! The flows below the web: sign-in and access decisions, password hashing, mail and its
//! outbox, housekeeping and the configuration check. Nothing here knows HTTP.

pub mod account;
pub mod admin;
pub mod auth;
pub mod check;
pub mod error;
pub mod mail;
pub mod maintenance;
pub mod outbox;
pub mod second_factor;
pub mod services;
