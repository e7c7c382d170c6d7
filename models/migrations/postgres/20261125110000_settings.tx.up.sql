-- Instance-wide values the application keeps about itself; first the
-- check value of SESSION_SECRET (models/keycheck.go).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
