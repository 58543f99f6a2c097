//! The handles every flow below the web layer works with: configuration, the database, the
//! hasher, the clock, the mailer and the job queue. The web layer's `AppState` holds these and
//! its own parts (the cookie key, the allowed hosts and origins), so a flow takes `&Services`
//! and never sees anything of the web.

use std::sync::Arc;

use crate::app::auth::password::Hasher;
use crate::app::jobs::Jobs;
use crate::app::mail::Mailer;
use crate::db::Pool;
use crate::domain::clock::Clock;
use crate::domain::config::Config;

pub struct Services {
    pub config: Arc<Config>,
    pub pool: Pool,
    pub hasher: Hasher,
    pub clock: Clock,
    pub mailer: Mailer,
    pub jobs: Jobs,
}
