//! `vouch audit` in a build without the `audit` feature: no Kubernetes
//! client is compiled in, so the command explains that and exits 2.

use crate::args::AuditArgs;
use crate::failure::Failure;

/// Refuses the command (a usage error, exit 2), saying how to get it.
pub fn run(_: &AuditArgs) -> Result<(), Failure> {
    Err(Failure::usage(
        "this vouch was built without the `audit` feature (no Kubernetes client); build it \
         with default features, or `--features audit`, to audit a cluster",
    ))
}
