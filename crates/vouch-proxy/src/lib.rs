//! The license-gated pull-through OCI proxy.
