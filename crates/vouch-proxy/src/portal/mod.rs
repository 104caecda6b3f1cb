//! The customer portal, served at `/portal` on the proxy's host: a
//! customer signs in with their email and license ID (the `docker login`
//! credentials) and sees their license, its channels, the versions each
//! serves with the exact image references and current digests, the
//! commands to log in and verify, and a release policy file per version
//! for `vouch verify-release`.
//!
//! This module is the pure part: sessions and CSRF tokens ([`session`])
//! and the HTML ([`render`]). The handlers, which read licenses, apps and
//! digests through the proxy's caches, are `server/portal.rs`.

pub mod render;
pub mod session;
