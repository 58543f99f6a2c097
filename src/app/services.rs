//! The handles every flow below the web layer works with: configuration, the database, the
//! hasher, the clock and the outbox. The web layer's `AppState` holds these and its own parts
//! (the cookie key, the allowed hosts and origins), so a flow takes `&Services` and never sees
//! anything of the web.

use std::sync::Arc;

use crate::app::auth::password::Hasher;
use crate::app::outbox::{Outbox, Writer};
use crate::db::Pool;
use crate::domain::clock::Clock;
use crate::domain::config::Config;

pub struct Services {
    pub config: Arc<Config>,
    pub pool: Pool,
    pub hasher: Hasher,
    pub clock: Clock,
    /// Writes outbox rows inside a flow's transaction.
    pub writer: Writer,
    /// The worker that sends them; woken after a commit that wrote some.
    pub outbox: Outbox,
    /// The sender every message carries (`REALMGATE_MAIL_FROM` or SPEC §17's default).
    pub mail_from: String,
    /// The periodic cleanup's heartbeat (`serve` runs the loop), for `/readyz`.
    pub cleanup: crate::app::maintenance::Liveness,
}
