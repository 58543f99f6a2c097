//! Realmgate: a sign-in portal with independent `user` and `admin` realms in one browser.
//!
//! Four layers, each importing only those below it (docs/architecture.md; the test
//! `tests/api/layers.rs` keeps it so): `web` (HTTP: startup, routes, the guard, cookies,
//! CSRF, forms, pages) over `app` (the flows: sign-in, access decisions, hashing, mail, jobs,
//! housekeeping) over `db` (storage) over `domain` (values and rules: realms, emails,
//! passwords, configuration, clock, crypto). `cli` is the entry point above them all; `metrics`
//! is the one registry every layer counts into.

#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod db;
pub mod domain;
pub mod metrics;
pub mod web;
