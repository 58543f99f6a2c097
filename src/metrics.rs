//! Prometheus metrics (SPEC §17): one registry for the process, holding the request families
//! of `actix-web-prom` and the portal's own. Every layer counts into it; only the web layer
//! serves it, on `REALMGATE_METRICS_BIND`, never on the public listener. No label ever holds a
//! raw path, an address, an account or anything a client chose: labels are route patterns,
//! realms, statuses and kinds, all from fixed lists.
//!
//! The counters are this process's; the gauges read at scrape time from the database (live
//! sessions, the outbox) are the whole database's, the same on every instance.

use std::sync::LazyLock;

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let family = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable_family(name));
    let _ = REGISTRY.register(Box::new(family.clone()));
    family
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let family = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable_family(name));
    let _ = REGISTRY.register(Box::new(family.clone()));
    family
}

fn gauge(name: &str, help: &str) -> IntGauge {
    let family = IntGauge::new(name, help).unwrap_or_else(|_| unreachable_family(name));
    let _ = REGISTRY.register(Box::new(family.clone()));
    family
}

/// The names and labels above are fixed strings that prometheus accepts; a family it refused
/// would be a typo here, caught by the unit test below before any release.
#[allow(clippy::panic)]
fn unreachable_family(name: &str) -> ! {
    panic!("metric family {name} is malformed")
}

/// Sign-ins that opened a session, by realm.
pub static SIGN_INS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "realmgate_sign_ins_total",
        "Sign-ins that opened a session, by realm.",
        &["realm"],
    )
});

/// Sign-ins refused, by realm and why (`credentials`, `locked`, `second_factor`, `blocked`).
pub static SIGN_IN_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "realmgate_sign_in_failures_total",
        "Sign-ins refused, by realm and reason.",
        &["realm", "reason"],
    )
});

/// Locks put on (`account` for an email, `ip` for a network).
pub static LOCKOUTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "realmgate_lockouts_total",
        "Lockouts started, by what was locked (account or ip).",
        &["what"],
    )
});

/// Security incidents recorded (flood-suppressed ones included), by kind.
pub static INCIDENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "realmgate_incidents_total",
        "Security incidents, by kind (those a flood row counts included).",
        &["kind"],
    )
});

/// Live sessions in the registry, by realm (read at scrape time).
pub static LIVE_SESSIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "realmgate_live_sessions",
        "Live sessions in the registry, by realm (the whole database's).",
        &["realm"],
    )
});

/// Password hashes waiting for a hashing thread.
pub static HASHING_QUEUE: LazyLock<IntGauge> = LazyLock::new(|| {
    gauge(
        "realmgate_hashing_queue",
        "Argon2 jobs waiting for a hashing thread.",
    )
});

/// Argon2 computations run.
pub static HASHING_RUNS: LazyLock<IntGauge> = LazyLock::new(|| {
    gauge(
        "realmgate_hashing_runs",
        "Argon2 computations this process has run.",
    )
});

/// Outbox rows, by state (`pending`, `failed`; read at scrape time).
pub static OUTBOX: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "realmgate_outbox_messages",
        "Outbox rows by state (the whole database's).",
        &["state"],
    )
});

/// Outbox deliveries tried, by outcome (`sent`, `retry`, `failed`).
pub static OUTBOX_DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "realmgate_outbox_deliveries_total",
        "Outbox rows carried out, by outcome (sent, retry, failed).",
        &["outcome"],
    )
});

/// The database pool: connections `open` and `idle`, and its `max`.
pub static DB_POOL: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "realmgate_db_pool_connections",
        "Database pool connections: open, idle, max.",
        &["state"],
    )
});

/// Every family with each of its label values at zero, so a scrape lists them all before
/// anything happened (an absent series and a zero alert differently).
pub fn register_all() {
    use crate::domain::events::IncidentKind;
    use crate::domain::realm::Realm;
    for realm in Realm::ALL {
        let realm = realm.as_str();
        SIGN_INS.with_label_values(&[realm]);
        LIVE_SESSIONS.with_label_values(&[realm]);
        for reason in [
            "credentials",
            "locked",
            "blocked",
            "second_factor",
            "password_change_required",
        ] {
            SIGN_IN_FAILURES.with_label_values(&[realm, reason]);
        }
    }
    for what in ["account", "ip"] {
        LOCKOUTS.with_label_values(&[what]);
    }
    for kind in IncidentKind::ALL {
        INCIDENTS.with_label_values(&[kind.as_str()]);
    }
    for state in ["pending", "failed"] {
        OUTBOX.with_label_values(&[state]);
    }
    for outcome in ["sent", "retry", "failed"] {
        OUTBOX_DELIVERIES.with_label_values(&[outcome]);
    }
    for state in ["open", "idle", "max"] {
        DB_POOL.with_label_values(&[state]);
    }
    LazyLock::force(&HASHING_QUEUE);
    LazyLock::force(&HASHING_RUNS);
}

/// The registry in Prometheus' text format.
pub fn encode() -> String {
    use prometheus::Encoder as _;
    let mut out = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&REGISTRY.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_family_is_well_formed_and_listed() {
        super::register_all();
        let text = super::encode();
        for family in [
            "realmgate_live_sessions",
            "realmgate_hashing_queue",
            "realmgate_hashing_runs",
            "realmgate_outbox_messages",
            "realmgate_db_pool_connections",
        ] {
            assert!(text.contains(&format!("# TYPE {family} gauge")), "{family}");
        }
        for family in [
            "realmgate_sign_ins_total",
            "realmgate_sign_in_failures_total",
            "realmgate_lockouts_total",
            "realmgate_incidents_total",
            "realmgate_outbox_deliveries_total",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} counter")),
                "{family}"
            );
        }
    }
}
