//! `vouch-proxy serve` as a child process in front of a test upstream, for
//! what only a process of its own shows: `kill -9`, its open file
//! descriptors and its memory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_vouch-proxy");

/// A state directory and configuration for children in front of
/// `upstream_url`, with app `acme` (allowing `up.test/acme`), `1.0`
/// released on `stable`, and one license.
pub struct ServeSetup {
    /// The configuration file.
    pub config: PathBuf,
    /// The state directory (`state.db`, the secret).
    pub state: PathBuf,
    /// The cache directory.
    pub cache: PathBuf,
    /// The license's ID.
    pub license: String,
}

impl ServeSetup {
    /// Writes the configuration in `dir` and runs the admin commands.
    pub fn new(dir: &Path, upstream_url: &str) -> Self {
        let state = dir.join("state");
        let cache = dir.join("cache");
        let config = dir.join("proxy.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\npublic_scheme = \"http\"\n\
                 [state]\ndir = \"{}\"\n[cache]\ndir = \"{}\"\n\
                 [rate_limit]\nrequests_per_second = 0.0\n\
                 [[upstreams]]\nname = \"up.test\"\nurl = \"{upstream_url}\"\ninsecure_allow_http = true\n\
                 username = \"{}\"\npassword = \"{}\"\n",
                state.display(),
                cache.display(),
                super::VENDOR_USER,
                super::VENDOR_PASS,
            ),
        )
        .unwrap();
        let setup = Self {
            config,
            state,
            cache,
            license: String::new(),
        };
        setup.admin(&["app", "add", "acme", "--allow", "up.test/acme"]);
        setup.admin(&super::ADD_STABLE_1_0);
        let license = setup.admin(&super::license_create_args(super::EMAIL, "stable"));
        Self {
            license: license.trim().to_string(),
            ..setup
        }
    }

    /// Runs an admin command; its stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        String::from_utf8(super::run_admin(&self.config, args).stdout).unwrap()
    }

    /// Starts `serve` and waits for the address it listens on.
    pub fn serve(&self) -> ServeChild {
        let (child, addr) = super::spawn_serving(
            Command::new(BIN)
                .arg("--config")
                .arg(&self.config)
                .arg("serve")
                .env_remove("VOUCH_PROXY_CONFIG")
                .env("VOUCH_PROXY_LOG", "info")
                .env("VOUCH_PROXY_LOG_FORMAT", "json"),
        );
        ServeChild { child, addr }
    }
}

/// A running `serve`; killed on drop.
pub struct ServeChild {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServeChild {
    /// `/v2/proxy/acme/up.test/<repo>/<rest>`.
    pub fn repo_url(&self, repo: &str, rest: &str) -> String {
        format!(
            "http://{}/v2/proxy/{}/{}/{repo}/{rest}",
            self.addr,
            super::APP,
            super::UPSTREAM
        )
    }

    /// SIGKILL: no graceful shutdown, no flush.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// How many file descriptors it holds open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// Its resident memory, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
