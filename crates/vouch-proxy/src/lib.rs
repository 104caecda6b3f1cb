//! vouch-proxy: a license-gated pull-through OCI registry proxy.
//!
//! Customers pull a vendor's images through
//! `/v2/proxy/<app>/<upstream-host>/<repository>/…` with their email and
//! license ID; the proxy checks the license (expiry, revocation, channel
//! entitlement), fetches from the vendor's upstream registry with the
//! vendor's credentials, verifies every byte against its digest, caches it,
//! and serves it unchanged. See docs/proxy.md.
//!
//! Modules, roughly in the order a request meets them: [`config`]
//! (settings), [`route`] (the request path, parsed strictly), [`names`]
//! (valid-by-construction names and digests), [`auth`] (Authorization
//! headers, tokens, challenges), [`secret`] (license IDs and keys),
//! [`ratelimit`], [`entitlement`] (what a license may pull), [`server`]
//! (handlers and wiring; [`tls`] for its listeners), [`upstream`] (the vendor's registries),
//! [`cache`] (verified content on disk), [`store`] (state behind traits,
//! SQLite by default), [`pulllog`], [`metrics`], [`memo`] (in-memory
//! caches), [`error`] (OCI error responses), [`policy`] (an app's release policy, as
//! customers download it), [`portal`] (the customer portal's sessions and pages), [`admin`] (what the admin
//! CLI does), [`backends`] (opening SQLite or Postgres, disk or S3) and
//! [`migrate`] (SQLite → PostgreSQL).
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod backends;
pub mod cache;
pub mod config;
pub mod entitlement;
pub mod error;
pub mod health;
pub mod memo;
pub mod metrics;
pub mod migrate;
pub mod names;
pub mod policy;
pub mod portal;
pub mod pulllog;
pub mod ratelimit;
pub mod route;
pub mod secret;
pub mod server;
pub mod store;
pub mod tls;
pub mod upstream;
