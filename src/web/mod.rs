//! HTTP: the application's wiring and its middleware, the routes, the guard, cookies, CSRF,
//! forms, flash messages, and the pages (askama renders only here).

pub mod api;
pub mod cookies;
pub mod csrf;
pub mod flash;
pub mod form;
pub mod observe;
pub mod realm;
pub mod routes;
pub mod startup;
pub mod templates;
