//! The handles every flow below the web layer works with: configuration, the database, the
//! hasher, the clock, the mailer and the job queue. The web layer's `AppState` holds these and
//! its own parts (the cookie key, the allowed hosts and origins), so a flow takes `&Services`
//! and never sees anything of the web.

use std::sync::Arc;

use crate::auth::password::Hasher;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Pool;
use crate::jobs::Jobs;
use crate::mail::Mailer;

pub struct Services {
    pub config: Arc<Config>,
    pub pool: Pool,
    pub hasher: Hasher,
    pub clock: Clock,
    pub mailer: Mailer,
    pub jobs: Jobs,
}
