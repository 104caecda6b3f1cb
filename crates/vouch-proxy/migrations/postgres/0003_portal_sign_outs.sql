-- Portal sessions signed out before their expiry, shared by every replica, so a
-- session cookie signed out on one is refused by all (server/portal.rs). Rows
-- are deleted once the session would have expired anyway (expires_at, Unix
-- seconds). SQLite makes the same change as its schema version 3
-- (store/sqlite.rs).
CREATE TABLE portal_sign_outs (
    session TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_sign_outs_by_expiry ON portal_sign_outs (expires_at);
