-- SPEC §17. The request that led to an incident.
ALTER TABLE security_incidents ADD COLUMN request_id TEXT;

-- The durable outbox: mail, and the work a sign-up or reset request does off the request path,
-- written in the request's own transaction and carried out by the outbox worker. `payload` is
-- sealed (AES-256-GCM under a key derived from REALMGATE_SECRET_KEY: it holds links and a
-- sign-up's password) and emptied once the row is sent or failed. `claimed_until` is a lease:
-- a worker that dies holding a row loses it when the lease runs out.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('mail', 'sign_up', 'reset_request')),
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload TEXT,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_finished ON outbox (finished_at);

-- SPEC §17: every console action and command-line change, in the change's own transaction.
-- `actor_account_id` is NULL for the command line; `organisation_id` is the target's (or the
-- organisation acted on), so an organisation admin's audit shows their organisation only.
CREATE TABLE admin_actions (
    id INTEGER PRIMARY KEY NOT NULL,
    actor_account_id INTEGER REFERENCES accounts(id),
    action TEXT NOT NULL,
    target_account_id INTEGER REFERENCES accounts(id),
    target_session_id TEXT,
    organisation_id INTEGER,
    ip TEXT,
    user_agent TEXT,
    details TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX admin_actions_created ON admin_actions (created_at, id);
CREATE INDEX admin_actions_organisation ON admin_actions (organisation_id, created_at, id);
CREATE INDEX admin_actions_target ON admin_actions (target_account_id, created_at, id);
CREATE INDEX admin_actions_actor ON admin_actions (actor_account_id, created_at, id);
