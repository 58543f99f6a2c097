// @generated automatically by Diesel CLI.

diesel::table! {
    accounts (id) {
        id -> Integer,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        is_active -> Bool,
        must_change_password -> Bool,
        email_confirmed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        last_login_ip -> Nullable<Text>,
        organisation_id -> Integer,
        is_platform_admin -> Bool,
    }
}

diesel::table! {
    organisations (id) {
        id -> Integer,
        slug -> Text,
        name -> Text,
        is_active -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    auth_sessions (id) {
        id -> Text,
        secret_hash -> Text,
        account_id -> Integer,
        realm -> Text,
        remember -> Bool,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        idle_expires_at -> Timestamp,
        absolute_expires_at -> Timestamp,
        ip -> Text,
        user_agent -> Text,
        revoked_at -> Nullable<Timestamp>,
        revoke_reason -> Nullable<Text>,
        device_name -> Nullable<Text>,
    }
}

diesel::table! {
    email_tokens (id) {
        id -> Integer,
        token_hash -> Text,
        account_id -> Integer,
        purpose -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    known_devices (device_hash, email) {
        device_hash -> Text,
        email -> Text,
        last_success_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (kind, subject) {
        kind -> Text,
        subject -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    logout_activity (id) {
        id -> Integer,
        account_id -> Nullable<Integer>,
        realm -> Text,
        session_id -> Nullable<Text>,
        reason -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        organisation_id -> Nullable<Integer>,
    }
}

diesel::table! {
    rate_events (id) {
        id -> Integer,
        kind -> Text,
        subject -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    security_incidents (id) {
        id -> Integer,
        kind -> Text,
        severity -> Text,
        realm -> Nullable<Text>,
        account_id -> Nullable<Integer>,
        email_attempted -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Nullable<Text>,
        created_at -> Timestamp,
        organisation_id -> Nullable<Integer>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Integer,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        payload -> Nullable<Text>,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    admin_actions (id) {
        id -> Integer,
        actor_account_id -> Nullable<Integer>,
        action -> Text,
        target_account_id -> Nullable<Integer>,
        target_session_id -> Nullable<Text>,
        organisation_id -> Nullable<Integer>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    two_factor (account_id) {
        account_id -> Integer,
        secret_sealed -> Text,
        created_at -> Timestamp,
        enabled_at -> Nullable<Timestamp>,
        last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Integer,
        account_id -> Integer,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(auth_sessions -> accounts (account_id));
diesel::joinable!(accounts -> organisations (organisation_id));
diesel::joinable!(logout_activity -> organisations (organisation_id));
diesel::joinable!(security_incidents -> organisations (organisation_id));
diesel::joinable!(email_tokens -> accounts (account_id));
diesel::joinable!(logout_activity -> accounts (account_id));
diesel::joinable!(security_incidents -> accounts (account_id));
diesel::joinable!(admin_actions -> organisations (organisation_id));
diesel::joinable!(password_checks -> auth_sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    organisations,
    two_factor,
    recovery_codes,
    auth_sessions,
    email_tokens,
    known_devices,
    login_failures,
    logout_activity,
    rate_events,
    security_incidents,
    password_checks,
    incident_counts,
    rotated_secrets,
    instances,
    outbox,
    admin_actions,
);

diesel::table! {
    password_checks (session_id) {
        session_id -> Text,
        account_id -> Integer,
        checks -> Integer,
        window_started_at -> Timestamp,
        wrong -> Integer,
        in_flight_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    rotated_secrets (secret_hash) {
        secret_hash -> Text,
        session_id -> Text,
        rotated_at -> Timestamp,
    }
}

diesel::table! {
    incident_counts (ip_key, kind, minute) {
        ip_key -> Text,
        kind -> Text,
        minute -> Timestamp,
        count -> Integer,
        flood_incident_id -> Nullable<Integer>,
    }
}

// PostgreSQL only (several instances, SPEC §16).
diesel::table! {
    instances (id) {
        id -> Text,
        started_at -> Timestamp,
        last_beat_at -> Timestamp,
    }
}
