//! `vouch login`: check credentials against the registry, then store them
//! where `docker login` would.

use std::io::{IsTerminal as _, Read as _};

use vouch_oci::{Credential, CredentialStore, Registry};

use crate::args::{LoginArgs, RegistryArgs};
use crate::commands::image;
use crate::failure::Failure;

/// Longest password read from stdin: a license ID or token is well under 64 KiB.
const MAX_PASSWORD_LEN: u64 = 64 * 1024;

/// Runs the command.
pub fn run(args: &LoginArgs) -> Result<(), Failure> {
    // The host is checked before the password is read: a wrong host is a
    // usage error whatever the password.
    let registry = Registry::new(&args.host)?;
    let password = password(args)?;
    if password.is_empty() {
        return Err(Failure::usage("the password is empty"));
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
        allow_http_registry: args.allow_http_registry,
        allow_insecure_registry: args.allow_insecure_registry,
        referrers_fallback_on_error: false,
        signatures_repository: None,
        max_workers: None,
    };
    let client = image::client(&registry_args, checking)?;
    image::runtime()?.block_on(client.ping(&registry))?;
    let place = store.login(&registry, &args.username, &password)?;
    eprintln!("credentials stored in {place}");
    // On stdout, as `docker login` prints it, for scripts that look for it.
    outln!("Login Succeeded");
    Ok(())
}

/// The password: from `--password` (with a warning), from stdin with
/// `--password-stdin`, else asked for on the terminal without echo, as
/// `docker login` does. Without a terminal and without either flag there is
/// nobody to ask: a usage error.
fn password(args: &LoginArgs) -> Result<String, Failure> {
    if let Some(password) = &args.password {
        eprintln!(
            "WARNING: --password puts the password in the process list and shell history; \
             use --password-stdin"
        );
        return Ok(password.clone());
    }
    if args.password_stdin {
        let mut password = String::new();
        std::io::stdin()
            .take(MAX_PASSWORD_LEN)
            .read_to_string(&mut password)
            .map_err(|e| Failure::input(format!("reading the password from stdin: {e}")))?;
        return Ok(password.trim_end_matches(['\n', '\r']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "no terminal to ask for the password on: give it on stdin with --password-stdin \
             (e.g. `echo \"$LICENSE_ID\" | vouch login HOST -u USER --password-stdin`)",
        ));
    }
    rpassword::prompt_password("Password: ")
        .map_err(|e| Failure::input(format!("reading the password from the terminal: {e}")))
}
