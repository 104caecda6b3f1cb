//! vouch-proxy's integration tests, linked into one test binary: one link
//! and one copy of the proxy and its dependencies on disk instead of ten
//! (a clean test build once ran a CI machine out of disk). Each module is
//! what used to be its own `tests/<name>.rs`; run one with
//! `cargo test -p vouch-proxy --test proxy <module>::`.

mod common;

mod auth_matrix;
mod blob_store;
mod broken_pipe;
mod cache_faults;
mod cli;
mod edge;
mod faults;
mod migrate;
mod portal;
mod process_faults;
mod pull;
mod replicas;
mod repository_scope;
mod s3_proxy;
mod state_faults;
mod store_backends;
mod tls;
mod upstream_policy;
mod vouch_client;
