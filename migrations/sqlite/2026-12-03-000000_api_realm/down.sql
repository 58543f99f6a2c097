-- Not reversible in place: the realm check and the column stay (SQLite would need the
-- rebuild again). Api sessions are removed so an older build never meets one.
DELETE FROM auth_sessions WHERE realm = 'api';
