-- Issue 18: the console's 7-day chart counted the week's rows on every view (21 range counts,
-- 30,000 rows a day at a year's scale: most of the dashboard's cost). A closed day's figures
-- never change, so each insert adds itself to its day's row here, by trigger, in its own
-- transaction; the chart reads the six closed days from here and counts only today's rows.
-- `organisation_id` 0 is "no organisation" (an incident with no account); `platform` is
-- whether the account was a platform admin, whom organisation admins do not see. The cleanup
-- drops days older than the chart.
CREATE TABLE chart_days (
    day TEXT NOT NULL,
    source TEXT NOT NULL,
    organisation_id INTEGER NOT NULL,
    platform BOOLEAN NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, source, organisation_id, platform)
);
INSERT INTO chart_days (day, source, organisation_id, platform, n)
    SELECT substr(s.created_at, 1, 10), 'auth_sessions', a.organisation_id, a.is_platform_admin,
           COUNT(*)
    FROM auth_sessions s JOIN accounts a ON a.id = s.account_id
    WHERE s.created_at >= date('now', '-8 days') GROUP BY 1, 3, 4;
INSERT INTO chart_days (day, source, organisation_id, platform, n)
    SELECT substr(e.created_at, 1, 10), 'logout_activity', COALESCE(e.organisation_id, 0),
           COALESCE(a.is_platform_admin, 0), COUNT(*)
    FROM logout_activity e LEFT JOIN accounts a ON a.id = e.account_id
    WHERE e.created_at >= date('now', '-8 days') GROUP BY 1, 3, 4;
INSERT INTO chart_days (day, source, organisation_id, platform, n)
    SELECT substr(e.created_at, 1, 10), 'security_incidents', COALESCE(e.organisation_id, 0),
           COALESCE(a.is_platform_admin, 0), COUNT(*)
    FROM security_incidents e LEFT JOIN accounts a ON a.id = e.account_id
    WHERE e.created_at >= date('now', '-8 days') GROUP BY 1, 3, 4;

CREATE TRIGGER chart_days_sign_in AFTER INSERT ON auth_sessions BEGIN
    INSERT INTO chart_days (day, source, organisation_id, platform, n)
        SELECT substr(NEW.created_at, 1, 10), 'auth_sessions', organisation_id,
               is_platform_admin, 1
        FROM accounts WHERE id = NEW.account_id
        ON CONFLICT (day, source, organisation_id, platform) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER chart_days_sign_out AFTER INSERT ON logout_activity BEGIN
    INSERT INTO chart_days (day, source, organisation_id, platform, n)
        VALUES (substr(NEW.created_at, 1, 10), 'logout_activity',
                COALESCE(NEW.organisation_id, 0),
                COALESCE((SELECT is_platform_admin FROM accounts WHERE id = NEW.account_id), 0),
                1)
        ON CONFLICT (day, source, organisation_id, platform) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER chart_days_incident AFTER INSERT ON security_incidents BEGIN
    INSERT INTO chart_days (day, source, organisation_id, platform, n)
        VALUES (substr(NEW.created_at, 1, 10), 'security_incidents',
                COALESCE(NEW.organisation_id, 0),
                COALESCE((SELECT is_platform_admin FROM accounts WHERE id = NEW.account_id), 0),
                1)
        ON CONFLICT (day, source, organisation_id, platform) DO UPDATE SET n = n + 1;
END;
