-- Failed sign-in counters, per normalised email, per client IP, and per known device and email.
-- Kept in the database so that several instances share them and a restart forgets nothing.
CREATE TABLE login_failures (
    kind TEXT NOT NULL CHECK (kind IN ('email', 'ip', 'device')),
    subject TEXT NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    PRIMARY KEY (kind, subject)
);

-- Browsers that signed in to an account before: they keep their own failure budget for that
-- account while its email is locked (docs/security.md).
CREATE TABLE known_devices (
    device_hash TEXT NOT NULL,
    email TEXT NOT NULL,
    last_success_at TIMESTAMP NOT NULL,
    PRIMARY KEY (device_hash, email)
);
