//! `vouch digest`: the digest a tag points to (like `crane digest`).

use crate::args::DigestArgs;
use crate::commands::image;
use crate::failure::Failure;

/// Runs the command.
pub fn run(args: &DigestArgs) -> Result<(), Failure> {
    let client = image::client(
        &args.registry,
        vouch_oci::CredentialStore::new(image::auth_locations()),
    )?;
    image::runtime()?.block_on(async {
        let reference: vouch_oci::Reference = args.image.parse()?;
        let fetched = client
            .manifest(
                reference.repository(),
                &reference.manifest_reference(),
                vouch_oci::oci::MANIFEST_ACCEPT,
            )
            .await?
            .ok_or_else(|| {
                Failure::new(
                    crate::failure::FailureKind::TagNotFound,
                    format!("image not found: {reference}"),
                )
            })?;
        outln!("{}", fetched.digest);
        Ok(())
    })
}
