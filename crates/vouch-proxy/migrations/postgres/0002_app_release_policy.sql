-- An app's release policy (JSON written by policy::AppPolicy::to_stored), set
-- with `vouch-proxy app policy set` and handed to customers by the portal.
-- SQLite makes the same change as its schema version 2 (store/sqlite.rs).
ALTER TABLE apps ADD COLUMN release_policy TEXT;
