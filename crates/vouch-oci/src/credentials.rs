//! Registry credentials, read where docker, podman, oras and crane write them,
//! and written back the way `docker login` does.
//!
//! Files are consulted in podman's order, then docker's (the first file with
//! an entry for the registry wins):
//! 1. `$REGISTRY_AUTH_FILE`
//! 2. `$XDG_RUNTIME_DIR/containers/auth.json`
//! 3. `~/.config/containers/auth.json`
//! 4. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`
//!
//! Within a file: `credHelpers[host]`, then `credsStore`, then `auths[host]`
//! (`auth` = base64 `user:password`, or `identitytoken`), as docker does.
//! This crate reads no environment variables itself: the binary passes the
//! values in [`AuthLocations`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::OciError;
use vouch_oci_types::{DOCKER_HUB, Registry};

/// Upper bound on a credentials file: real ones are a few KiB; 1 MiB refuses
/// anything else before parsing it.
pub const MAX_AUTH_FILE_SIZE: u64 = 1024 * 1024;

/// The key docker uses for Docker Hub in `auths`.
const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// How a request authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// No credentials.
    Anonymous,
    /// A user name and password (for a license-gated proxy: email and license ID).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Self::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

/// Where credential files live, from the environment (read by the binary).
#[derive(Debug, Clone, Default)]
pub struct AuthLocations {
    /// `$REGISTRY_AUTH_FILE`.
    pub registry_auth_file: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$DOCKER_CONFIG`.
    pub docker_config_dir: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl AuthLocations {
    /// The files to consult, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        files.extend(self.registry_auth_file.clone());
        if let Some(dir) = &self.xdg_runtime_dir {
            files.push(dir.join("containers/auth.json"));
        }
        if let Some(home) = &self.home {
            files.push(home.join(".config/containers/auth.json"));
        }
        files.extend(self.docker_config_file());
        files
    }

    /// The docker config file `vouch login` writes.
    pub fn docker_config_file(&self) -> Option<PathBuf> {
        match (&self.docker_config_dir, &self.home) {
            (Some(dir), _) => Some(dir.join("config.json")),
            (None, Some(home)) => Some(home.join(".docker/config.json")),
            (None, None) => None,
        }
    }
}

/// The parts of docker's `config.json` / podman's `auth.json` we use. Other
/// fields are kept untouched when writing.
#[derive(Debug, Default, Deserialize, Serialize)]
struct AuthFile {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(
        default,
        rename = "credsStore",
        skip_serializing_if = "Option::is_none"
    )]
    creds_store: Option<String>,
    #[serde(
        default,
        rename = "credHelpers",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    cred_helpers: BTreeMap<String, String>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identitytoken: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// Credentials for registries, from the files in [`AuthLocations`].
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    locations: AuthLocations,
    overrides: Vec<(Registry, Credential)>,
}

impl CredentialStore {
    /// A store over these locations.
    pub fn new(locations: AuthLocations) -> Self {
        Self {
            locations,
            overrides: Vec::new(),
        }
    }

    /// Uses `credential` for `registry` ahead of any file (e.g. to check
    /// credentials before `login` stores them).
    pub fn with_override(mut self, registry: Registry, credential: Credential) -> Self {
        self.overrides.push((registry, credential));
        self
    }

    /// The credential for `registry`, or [`Credential::Anonymous`]. A file
    /// that exists but cannot be parsed is an error that names the file.
    pub fn lookup(&self, registry: &Registry) -> Result<Credential, OciError> {
        if let Some((_, credential)) = self.overrides.iter().find(|(r, _)| r == registry) {
            return Ok(credential.clone());
        }
        for path in self.locations.files() {
            let Some(file) = read_auth_file(&path)? else {
                continue;
            };
            if let Some(credential) = lookup_in(&file, &path, registry)? {
                return Ok(credential);
            }
        }
        Ok(Credential::Anonymous)
    }

    /// Stores a user and password for `registry` the way `docker login` does:
    /// through the configured credential helper if there is one, else as
    /// `auths[host].auth` in the docker config file, written atomically with
    /// mode 0600. Returns where the credential went.
    pub fn login(
        &self,
        registry: &Registry,
        username: &str,
        password: &str,
    ) -> Result<String, OciError> {
        let path = self
            .locations
            .docker_config_file()
            .ok_or_else(|| OciError::Credentials {
                path: PathBuf::from("~/.docker/config.json"),
                reason: "no home directory and no DOCKER_CONFIG: nowhere to store credentials"
                    .into(),
            })?;
        let mut file = read_auth_file(&path)?.unwrap_or_default();
        let key = auth_key(registry);
        if let Some(helper) = file
            .cred_helpers
            .get(&key)
            .or(file.creds_store.as_ref())
            .cloned()
        {
            helper_store(&helper, &key, username, password)?;
            return Ok(format!("credential helper docker-credential-{helper}"));
        }
        let entry = file.auths.entry(key).or_default();
        entry.auth = Some(STANDARD.encode(format!("{username}:{password}")));
        entry.identitytoken = None;
        write_auth_file(&path, &file)?;
        Ok(path.display().to_string())
    }
}

/// The `auths` key for a registry (docker's spelling for Docker Hub).
fn auth_key(registry: &Registry) -> String {
    if registry.as_str() == DOCKER_HUB {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        registry.as_str().to_string()
    }
}

/// `https://host/v1/` → `host`; Docker Hub's spellings → `docker.io`.
fn normalise_key(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => host,
    }
}

fn read_auth_file(path: &Path) -> Result<Option<AuthFile>, OciError> {
    let bad = |reason: String| OciError::Credentials {
        path: path.to_path_buf(),
        reason,
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    if meta.len() > MAX_AUTH_FILE_SIZE {
        return Err(bad(format!(
            "{} bytes, over the {MAX_AUTH_FILE_SIZE}-byte limit",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(AuthFile::default()));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| bad(format!("not a valid credentials file: {e}")))
}

fn lookup_in(
    file: &AuthFile,
    path: &Path,
    registry: &Registry,
) -> Result<Option<Credential>, OciError> {
    let wanted = registry.as_str();
    let helper = file
        .cred_helpers
        .iter()
        .find(|(k, _)| normalise_key(k) == wanted)
        .map(|(_, v)| v)
        .or(file.creds_store.as_ref());
    if let Some(helper) = helper
        && let Some(credential) = helper_get(helper, &auth_key(registry))?
    {
        return Ok(Some(credential));
    }
    let Some(entry) = file
        .auths
        .iter()
        .find(|(k, _)| normalise_key(k) == wanted)
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    let bad = |reason: String| OciError::Credentials {
        path: path.to_path_buf(),
        reason: format!("entry for {wanted}: {reason}"),
    };
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.clone())));
    }
    let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let decoded = STANDARD
        .decode(auth.trim())
        .map_err(|e| bad(format!("`auth` is not base64: {e}")))?;
    let text = String::from_utf8(decoded).map_err(|_| bad("`auth` is not UTF-8".into()))?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| bad("`auth` is not `user:password`".into()))?;
    Ok(Some(Credential::Basic {
        username: username.to_string(),
        password: password.to_string(),
    }))
}

/// The answer of `docker-credential-<helper> get`.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Runs `docker-credential-<helper> get` (the docker credential helper protocol).
fn helper_get(helper: &str, server: &str) -> Result<Option<Credential>, OciError> {
    let program = helper_program(helper)?;
    let output = run_helper(&program, "get", server.as_bytes())?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if message.contains("credentials not found") || message.is_empty() {
            return Ok(None);
        }
        return Err(OciError::CredentialHelper {
            helper: program,
            reason: message,
        });
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&output.stdout).map_err(|e| OciError::CredentialHelper {
            helper: program.clone(),
            reason: format!("unexpected answer: {e}"),
        })?;
    Ok(Some(if answer.username == "<token>" {
        Credential::IdentityToken(answer.secret)
    } else {
        Credential::Basic {
            username: answer.username,
            password: answer.secret,
        }
    }))
}

fn helper_store(helper: &str, server: &str, username: &str, secret: &str) -> Result<(), OciError> {
    let program = helper_program(helper)?;
    let input = serde_json::json!({"ServerURL": server, "Username": username, "Secret": secret});
    let output = run_helper(&program, "store", input.to_string().as_bytes())?;
    if !output.status.success() {
        return Err(OciError::CredentialHelper {
            helper: program,
            reason: String::from_utf8_lossy(&output.stdout).trim().to_string(),
        });
    }
    Ok(())
}

fn helper_program(helper: &str) -> Result<String, OciError> {
    // The helper name comes from a config file: allow only what docker allows
    // in a program-name suffix, so it cannot name a path.
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(OciError::CredentialHelper {
            helper: helper.to_string(),
            reason: "invalid credential helper name".into(),
        });
    }
    Ok(format!("docker-credential-{helper}"))
}

fn run_helper(program: &str, verb: &str, input: &[u8]) -> Result<std::process::Output, OciError> {
    let failed = |reason: String| OciError::CredentialHelper {
        helper: program.to_string(),
        reason,
    };
    let mut child = Command::new(program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| failed(e.to_string()))?;
    }
    child.wait_with_output().map_err(|e| failed(e.to_string()))
}

fn write_auth_file(path: &Path, file: &AuthFile) -> Result<(), OciError> {
    let bad = |reason: String| OciError::Credentials {
        path: path.to_path_buf(),
        reason,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
    let text = serde_json::to_string_pretty(file).map_err(|e| bad(e.to_string()))?;
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&tmp).map_err(|e| bad(e.to_string()))?;
        out.write_all(text.as_bytes())
            .map_err(|e| bad(e.to_string()))?;
        out.sync_all().map_err(|e| bad(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        bad(e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Home(PathBuf);
    impl Home {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("vouch-creds-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
        fn store(&self) -> CredentialStore {
            CredentialStore::new(AuthLocations {
                home: Some(self.0.clone()),
                ..AuthLocations::default()
            })
        }
        fn write(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }
    impl Drop for Home {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn reg(s: &str) -> Registry {
        Registry::new(s).unwrap()
    }

    fn basic(u: &str, p: &str) -> Credential {
        Credential::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn reads_docker_auths_including_docker_hub_spelling() {
        let h = Home::new("docker");
        let auth = STANDARD.encode("alice@example.com:LICENSE-1");
        h.write(
            ".docker/config.json",
            &format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"https://proxy.example.com":{{"auth":"{auth}"}}}}}}"#),
        );
        let store = h.store();
        assert_eq!(
            store.lookup(&reg("docker.io")).unwrap(),
            basic("alice@example.com", "LICENSE-1")
        );
        assert_eq!(
            store.lookup(&reg("proxy.example.com")).unwrap(),
            basic("alice@example.com", "LICENSE-1")
        );
        assert_eq!(
            store.lookup(&reg("ghcr.io")).unwrap(),
            Credential::Anonymous
        );
    }

    #[test]
    fn podman_file_wins_over_docker_file() {
        let h = Home::new("order");
        h.write(
            ".docker/config.json",
            &format!(
                r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#,
                STANDARD.encode("docker:d")
            ),
        );
        h.write(
            ".config/containers/auth.json",
            &format!(
                r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#,
                STANDARD.encode("podman:p")
            ),
        );
        assert_eq!(
            h.store().lookup(&reg("r.example")).unwrap(),
            basic("podman", "p")
        );
    }

    #[test]
    fn identity_token_is_used_when_present() {
        let h = Home::new("token");
        h.write(
            ".docker/config.json",
            r#"{"auths":{"r.example":{"auth":"","identitytoken":"refresh-1"}}}"#,
        );
        assert_eq!(
            h.store().lookup(&reg("r.example")).unwrap(),
            Credential::IdentityToken("refresh-1".into())
        );
    }

    #[test]
    fn corrupt_files_are_errors_that_name_the_file() {
        let h = Home::new("corrupt");
        h.write(".docker/config.json", "{not json");
        let err = h.store().lookup(&reg("r.example")).unwrap_err().to_string();
        assert!(
            err.contains(".docker/config.json") && err.contains("not a valid credentials file"),
            "{err}"
        );
        h.write(
            ".docker/config.json",
            r#"{"auths":{"r.example":{"auth":"!!!"}}}"#,
        );
        let err = h.store().lookup(&reg("r.example")).unwrap_err().to_string();
        assert!(err.contains("not base64"), "{err}");
        h.write(
            ".docker/config.json",
            &format!(
                r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#,
                STANDARD.encode("nocolon")
            ),
        );
        let err = h.store().lookup(&reg("r.example")).unwrap_err().to_string();
        assert!(err.contains("user:password"), "{err}");
    }

    #[test]
    fn missing_helper_is_an_error_and_helper_names_cannot_be_paths() {
        let h = Home::new("helper");
        h.write(
            ".docker/config.json",
            r#"{"credsStore":"vouch-test-no-such-helper"}"#,
        );
        let err = h.store().lookup(&reg("r.example")).unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-vouch-test-no-such-helper"),
            "{err}"
        );
        h.write(".docker/config.json", r#"{"credsStore":"../../bin/sh"}"#);
        let err = h.store().lookup(&reg("r.example")).unwrap_err().to_string();
        assert!(err.contains("invalid credential helper name"), "{err}");
    }

    #[test]
    fn login_writes_a_docker_compatible_private_file_and_keeps_other_fields() {
        let h = Home::new("login");
        h.write(
            ".docker/config.json",
            r#"{"auths":{"other.example":{"auth":"eDp5"}},"psFormat":"table"}"#,
        );
        let store = h.store();
        store
            .login(&reg("proxy.example.com"), "alice@example.com", "LICENSE-1")
            .unwrap();
        assert_eq!(
            store.lookup(&reg("proxy.example.com")).unwrap(),
            basic("alice@example.com", "LICENSE-1")
        );
        let text = std::fs::read_to_string(h.0.join(".docker/config.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["psFormat"], "table");
        assert_eq!(json["auths"]["other.example"]["auth"], "eDp5");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(h.0.join(".docker/config.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let text = format!("{:?}", basic("alice", "LICENSE-SECRET"));
        assert!(!text.contains("LICENSE-SECRET"));
    }
}
