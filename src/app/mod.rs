//! The flows below the web: sign-in and access decisions, password hashing, mail, background
//! jobs, housekeeping and the configuration check. Nothing here knows HTTP.

pub mod account;
pub mod admin;
pub mod auth;
pub mod check;
pub mod error;
pub mod jobs;
pub mod mail;
pub mod maintenance;
pub mod second_factor;
pub mod services;
