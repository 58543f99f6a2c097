//! Realmgate: a sign-in portal with independent `user` and `admin` realms in one browser.

#![forbid(unsafe_code)]

pub mod auth;
pub mod check;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod cookies;
pub mod crypto;
pub mod csrf;
pub mod db;
pub mod domain;
pub mod error;
pub mod flash;
pub mod form;
pub mod jobs;
pub mod mail;
pub mod maintenance;
pub mod paths;
pub mod realm;

pub mod routes;
pub mod services;
pub mod startup;
pub mod templates;
