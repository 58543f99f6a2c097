DROP TRIGGER session_counts_update ON auth_sessions;
DROP FUNCTION session_counts_updated();
CREATE TRIGGER session_counts_revoke AFTER UPDATE OF revoked_at ON auth_sessions FOR EACH ROW
    WHEN ((OLD.revoked_at IS NULL) <> (NEW.revoked_at IS NULL))
    EXECUTE FUNCTION session_counts_changed();
