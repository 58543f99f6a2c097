-- Issue 18: the console's 7-day chart counted the week's rows on every view (21 range counts,
-- 30,000 rows a day at a year's scale: most of the dashboard's cost). A closed day's figures
-- never change, so each insert statement adds its rows to their day's row here, by trigger (per
-- statement, from its transition table), in its own transaction; the chart reads the six closed
-- days from here and counts only today's rows. `organisation_id` 0 is "no organisation" (an
-- incident with no account); `platform` is whether the account was a platform admin, whom
-- organisation admins do not see. The cleanup drops days older than the chart.
CREATE TABLE chart_days (
    day TEXT NOT NULL,
    source TEXT NOT NULL,
    organisation_id INTEGER NOT NULL,
    platform BOOLEAN NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, source, organisation_id, platform)
);
INSERT INTO chart_days (day, source, organisation_id, platform, n)
    SELECT to_char(s.created_at, 'YYYY-MM-DD'), 'auth_sessions', a.organisation_id,
           a.is_platform_admin, COUNT(*)
    FROM auth_sessions s JOIN accounts a ON a.id = s.account_id
    WHERE s.created_at >= CURRENT_DATE - 8 GROUP BY 1, 3, 4;
INSERT INTO chart_days (day, source, organisation_id, platform, n)
    SELECT to_char(e.created_at, 'YYYY-MM-DD'), 'logout_activity', COALESCE(e.organisation_id, 0),
           COALESCE(a.is_platform_admin, FALSE), COUNT(*)
    FROM logout_activity e LEFT JOIN accounts a ON a.id = e.account_id
    WHERE e.created_at >= CURRENT_DATE - 8 GROUP BY 1, 3, 4;
INSERT INTO chart_days (day, source, organisation_id, platform, n)
    SELECT to_char(e.created_at, 'YYYY-MM-DD'), 'security_incidents',
           COALESCE(e.organisation_id, 0), COALESCE(a.is_platform_admin, FALSE), COUNT(*)
    FROM security_incidents e LEFT JOIN accounts a ON a.id = e.account_id
    WHERE e.created_at >= CURRENT_DATE - 8 GROUP BY 1, 3, 4;

CREATE FUNCTION chart_days_signed_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chart_days (day, source, organisation_id, platform, n)
        SELECT to_char(r.created_at, 'YYYY-MM-DD'), 'auth_sessions', a.organisation_id,
               a.is_platform_admin, COUNT(*)
        FROM new_rows r JOIN accounts a ON a.id = r.account_id GROUP BY 1, 3, 4
        ON CONFLICT (day, source, organisation_id, platform)
        DO UPDATE SET n = chart_days.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER chart_days_sign_in AFTER INSERT ON auth_sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION chart_days_signed_in();

-- Sign-outs and incidents alike: the source is the table's own name.
CREATE FUNCTION chart_days_happened() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chart_days (day, source, organisation_id, platform, n)
        SELECT to_char(r.created_at, 'YYYY-MM-DD'), TG_TABLE_NAME::text,
               COALESCE(r.organisation_id, 0), COALESCE(a.is_platform_admin, FALSE), COUNT(*)
        FROM new_rows r LEFT JOIN accounts a ON a.id = r.account_id GROUP BY 1, 3, 4
        ON CONFLICT (day, source, organisation_id, platform)
        DO UPDATE SET n = chart_days.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER chart_days_sign_out AFTER INSERT ON logout_activity
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION chart_days_happened();
CREATE TRIGGER chart_days_incident AFTER INSERT ON security_incidents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION chart_days_happened();
