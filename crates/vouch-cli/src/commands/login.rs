//! `vouch login`: check credentials against the registry, then store them
//! where `docker login` would.

use std::io::Read;

use vouch_oci::{Credential, CredentialStore, Registry};

use crate::args::{LoginArgs, RegistryArgs};
use crate::commands::image;
use crate::failure::Failure;

/// Longest password read from stdin: a license ID or token is well under 64 KiB.
const MAX_PASSWORD_LEN: u64 = 64 * 1024;

/// Runs the command.
pub fn run(args: &LoginArgs) -> Result<(), Failure> {
    if !args.password_stdin {
        return Err(Failure::usage(
            "give the password on stdin with --password-stdin (it then stays out of shell history)",
        ));
    }
    // The host is checked before the password is read: a wrong host is a
    // usage error whatever the password.
    let registry = Registry::new(&args.host)?;
    let mut password = String::new();
    std::io::stdin()
        .take(MAX_PASSWORD_LEN)
        .read_to_string(&mut password)
        .map_err(|e| Failure::input(format!("reading the password from stdin: {e}")))?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Failure::usage("the password read from stdin is empty"));
    }
    let store = CredentialStore::new(image::auth_locations());
    let checking = store.clone().with_override(
        registry.clone(),
        Credential::Basic {
            username: args.username.clone(),
            password: password.clone(),
        },
    );
    let registry_args = RegistryArgs {
        allow_http_registry: false,
        allow_insecure_registry: false,
        referrers_fallback_on_error: false,
        signatures_repository: None,
    };
    let client = image::client(&registry_args, checking)?;
    image::runtime()?.block_on(client.ping(&registry))?;
    let place = store.login(&registry, &args.username, &password)?;
    eprintln!("credentials stored in {place}");
    // On stdout, as `docker login` prints it, for scripts that look for it.
    outln!("Login Succeeded");
    Ok(())
}
