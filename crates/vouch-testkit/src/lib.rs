//! Test-only virtual Sigstore.
