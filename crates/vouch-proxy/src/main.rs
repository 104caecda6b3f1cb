//! The `vouch-proxy` binary: argument parsing, configuration loading,
//! logging, and printing. The work happens in the library.
//!
//! Exit codes: 0 success, 1 failure (message on stderr), 2 usage error, 141
//! when an admin command's stdout is closed early (`license list | head`),
//! as a shell reports for `cat` (see `output.rs`).
// Stdout is written only through `output` (a closed stdout is handled there).
#![deny(clippy::print_stdout)]

#[macro_use]
mod output;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;
use vouch_proxy::config::{AdminSettings, ConfigFile, SecretSource, Settings};
use vouch_proxy::names::{AppSlug, ChannelName, Repository, Tag};
use vouch_proxy::policy::{AppPolicy, ClaimMatch};
use vouch_proxy::secret::ServerSecret;
use vouch_proxy::server::{self, Proxy};
use vouch_proxy::store::postgres::{self, ImportTarget, PostgresStore};
use vouch_proxy::store::sqlite::SqliteStore;
use vouch_proxy::store::{LicenseNumber, ReferrersMode};
use vouch_proxy::{admin, backends};

/// License-gated pull-through OCI registry proxy.
#[derive(Parser)]
#[command(name = "vouch-proxy", version, long_version = vouch_clikit::LONG_VERSION, about)]
struct Cli {
    /// Configuration file (TOML); also VOUCH_PROXY_CONFIG.
    #[arg(long, global = true, env = "VOUCH_PROXY_CONFIG")]
    config: Option<PathBuf>,
    /// Keep state in PostgreSQL (`postgres://user@host/db`) shared by every
    /// replica, instead of SQLite under the state directory. Overrides
    /// `[state] database_url` and VOUCH_PROXY_DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Keep cached content in S3-compatible storage (`s3://bucket/prefix`,
    /// configured in `[cache.s3]`) or on `disk`. Overrides `[cache] store`
    /// and VOUCH_PROXY_BLOB_STORE.
    #[arg(long, global = true, value_name = "s3://BUCKET/PREFIX|disk")]
    blob_store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve,
    /// Check the configuration (file, environment overrides, flags) and
    /// exit, opening and writing nothing: as the admin commands read it
    /// (serve-only secrets unread), or with `--serve` as `serve` reads it,
    /// every secret included. The TLS files are read by `serve` only.
    CheckConfig {
        /// Resolve it as `serve` does, reading upstream and S3 secrets.
        #[arg(long)]
        serve: bool,
    },
    /// Manage apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Manage channels and the versions they serve.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Manage licenses.
    #[command(subcommand)]
    License(LicenseCommand),
    /// The customer portal (`/portal` on the proxy's host).
    #[command(subcommand)]
    Portal(PortalCommand),
    /// Print the version, the commit it was built from and the build date.
    Version {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell), e.g.
    /// `vouch-proxy completion bash > /etc/bash_completion.d/vouch-proxy`.
    Completion {
        /// The shell to complete for.
        #[arg(value_enum, value_name = "SHELL")]
        shell: vouch_clikit::Shell,
    },
    /// Write man pages for vouch-proxy and each of its commands into a
    /// directory, e.g. `vouch-proxy man --dir /usr/local/share/man/man1`.
    Man {
        /// The directory to write the pages to (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Copy the SQLite state into PostgreSQL (one transaction). Every
    /// replica must then use the same secret.key as the SQLite server:
    /// license IDs are stored as hashes keyed by it.
    Migrate(MigrateArgs),
}

#[derive(Args)]
struct MigrateArgs {
    /// The SQLite state file to copy (`<state.dir>/state.db`); stop the
    /// servers using it first.
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL URL, `postgres://user:password@host:port/database`
    /// (also VOUCH_PROXY_MIGRATE_TO, which keeps the password out of the
    /// process list).
    #[arg(long, env = "VOUCH_PROXY_MIGRATE_TO", hide_env_values = true)]
    to: String,
    /// Delete everything the target database holds before copying (same
    /// transaction). Without it, a target that holds anything is refused.
    #[arg(long)]
    replace_target: bool,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create an app and the upstream repositories it may reach.
    Add {
        /// The app slug (`/v2/proxy/<slug>/…`).
        slug: String,
        /// An allowed repository prefix, `<upstream>/<path>` (repeatable).
        #[arg(long = "allow", required = true)]
        allow: Vec<String>,
        /// Referrers behaviour: not-found (default) or passthrough.
        #[arg(long, default_value = "not-found")]
        referrers: String,
    },
    /// Allow more repository prefixes for an app.
    Allow {
        /// The app slug.
        slug: String,
        /// An allowed repository prefix (repeatable).
        #[arg(long = "allow", required = true)]
        allow: Vec<String>,
    },
    /// Set an app's referrers behaviour (not-found or passthrough).
    SetReferrers {
        /// The app slug.
        slug: String,
        /// not-found or passthrough.
        mode: String,
    },
    /// List apps.
    List,
    /// An app's release policy: who signs its images and which attestations
    /// they carry. Customers download it from the portal, per version, for
    /// `vouch verify-release`.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Set (or replace) an app's release policy.
    Set(PolicySetArgs),
    /// Show an app's release policy.
    Show {
        /// The app slug.
        slug: String,
    },
    /// Remove an app's release policy (the portal then offers none).
    Remove {
        /// The app slug.
        slug: String,
    },
}

#[derive(Args)]
struct PolicySetArgs {
    /// The app slug.
    slug: String,
    /// The upstream repository the release's images sit under,
    /// `<upstream>/<path>` (images are `<repository>/<name>`); within the
    /// app's allowed repositories.
    #[arg(long)]
    repository: String,
    /// A signed image of the release, by name under --repository (repeatable).
    #[arg(long = "image", required = true)]
    images: Vec<String>,
    #[command(flatten)]
    subject: SubjectArgs,
    #[command(flatten)]
    issuer: IssuerArgs,
    /// An attestation every image must carry: a cosign --type name
    /// (spdxjson, slsaprovenance1, openvex, …) or a predicate type URI
    /// (repeatable).
    #[arg(long = "attestation")]
    attestations: Vec<String>,
    /// A pattern every verified SLSA provenance's builder ID must match as
    /// a whole.
    #[arg(long)]
    slsa_builder_id_regexp: Option<String>,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct SubjectArgs {
    /// The exact certificate identity that signs the images.
    #[arg(long)]
    subject: Option<String>,
    /// A pattern the whole certificate identity must match.
    #[arg(long)]
    subject_regexp: Option<String>,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct IssuerArgs {
    /// The exact OIDC issuer of the signing identity.
    #[arg(long)]
    issuer: Option<String>,
    /// A pattern the whole OIDC issuer must match.
    #[arg(long)]
    issuer_regexp: Option<String>,
}

/// One of an exact value and a pattern (clap's group makes it exactly one).
fn claim(exact: Option<String>, pattern: Option<String>) -> ClaimMatch {
    match (exact, pattern) {
        (Some(value), _) => ClaimMatch::Exact(value),
        (None, pattern) => ClaimMatch::Regexp(pattern.unwrap_or_default()),
    }
}

#[derive(Subcommand)]
enum PortalCommand {
    /// Print the portal's sign-in link for a license's customer (with
    /// their email filled in; never the license ID).
    Url {
        /// The license number.
        #[arg(long)]
        license: i64,
    },
}

#[derive(Args)]
struct VersionArgs {
    /// The app slug.
    #[arg(long)]
    app: String,
    /// The channel (created on first use).
    #[arg(long)]
    channel: String,
    /// The version (also the default tag).
    #[arg(long)]
    version: String,
}

#[derive(Subcommand)]
enum ChannelCommand {
    /// Make a version available on a channel.
    AddVersion {
        #[command(flatten)]
        version: VersionArgs,
        /// An image of this version: `<upstream>/<path>[:tag|@digest]`
        /// (repeatable). Without it, the version is the tag in every
        /// repository the app allows.
        #[arg(long = "image")]
        images: Vec<String>,
    },
    /// Remove a version from a channel.
    RemoveVersion {
        #[command(flatten)]
        version: VersionArgs,
    },
    /// List an app's channels and what they serve.
    List {
        /// The app slug.
        #[arg(long)]
        app: String,
    },
}

#[derive(Subcommand)]
enum LicenseCommand {
    /// Create a license; prints its ID once.
    Create {
        /// The app slug.
        #[arg(long)]
        app: String,
        /// The customer's email (their registry username).
        #[arg(long)]
        email: String,
        /// A channel it is entitled to (repeatable).
        #[arg(long = "channel", required = true)]
        channels: Vec<String>,
        /// `never`, a date (2027-01-31 = 00:00 UTC) or an RFC 3339 time.
        #[arg(long)]
        expires: String,
        /// Accept an `--expires` time that has already passed (the license
        /// is created expired: useful in tests).
        #[arg(long)]
        allow_past: bool,
    },
    /// List licenses (number, app, email, channels, status).
    List {
        /// Only this app's.
        #[arg(long)]
        app: Option<String>,
    },
    /// Revoke a license by number.
    Revoke {
        /// The license number from `license list`.
        number: i64,
    },
    /// Show one license: status, app, email, channels, expiry, revocation,
    /// and its pull log summed up (requests, the last one).
    Show {
        /// The license number from `license list`.
        number: i64,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Give a license a new expiry (revocation stays).
    Extend {
        /// The license number.
        number: i64,
        /// `never`, a date (2027-01-31 = 00:00 UTC) or an RFC 3339 time.
        #[arg(long)]
        expires: String,
        /// Accept an `--expires` time that has already passed (the license
        /// expires at once).
        #[arg(long)]
        allow_past: bool,
    },
    /// Replace a license's channels; each must exist in its app.
    SetChannels {
        /// The license number.
        number: i64,
        /// The channels it is entitled to from now on.
        #[arg(required = true, value_name = "CHANNEL")]
        channels: Vec<String>,
    },
    /// Show a license's pull log, newest first.
    Pulls {
        /// The license number.
        number: i64,
        /// How many lines.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// The configuration file with the environment and the global flags
/// applied, not yet resolved: `serve` resolves all of it
/// ([`ConfigFile::resolve`]), the admin commands all but the secrets only
/// `serve` uses ([`ConfigFile::resolve_for_admin`]).
fn load_config(cli: &Cli) -> Result<ConfigFile> {
    let mut file = match &cli.config {
        Some(path) => ConfigFile::read(path)?,
        None => ConfigFile::default(),
    };
    file.apply_env(&env_var)?;
    if let Some(url) = &cli.database_url {
        file.state.database_url = Some(SecretSource::Inline(url.clone()));
    }
    if let Some(store) = &cli.blob_store {
        file.cache.store = Some(store.clone());
    }
    Ok(file)
}

/// The process environment, as [`ConfigFile`] looks variables up.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn past_expiry(allow_past: bool) -> admin::PastExpiry {
    if allow_past {
        admin::PastExpiry::Allow
    } else {
        admin::PastExpiry::Refuse
    }
}

/// `license show`, as text or JSON.
fn print_license_report(report: &admin::LicenseReport, json: bool) {
    let license = &report.license;
    let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
    if json {
        let doc = serde_json::json!({
            "number": license.number.0,
            "status": report.status.as_str(),
            "app": license.app.as_str(),
            "email": license.email,
            "channels": license.channels.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "createdAt": license.created_at.to_string(),
            "expiresAt": time(license.expires_at),
            "revokedAt": time(license.revoked_at),
            "lastPullAt": time(report.pulls.last_at),
            "pullRequests": report.pulls.requests,
        });
        outln!("{doc:#}");
        return;
    }
    let channels: Vec<_> = license.channels.iter().map(|c| c.as_str()).collect();
    let or = |t: Option<Timestamp>, none: &str| time(t).unwrap_or_else(|| none.to_string());
    outln!("license:   {}", license.number);
    outln!("status:    {}", report.status.as_str());
    outln!("app:       {}", license.app);
    outln!("email:     {}", license.email);
    outln!("channels:  {}", channels.join(", "));
    outln!("created:   {}", license.created_at);
    outln!("expires:   {}", or(license.expires_at, "never"));
    outln!("revoked:   {}", or(license.revoked_at, "no"));
    outln!("last pull: {}", or(report.pulls.last_at, "never"));
    outln!("requests:  {}", report.pulls.requests);
}

/// `app policy set` and `show`: the policy, one setting a line.
fn print_policy(slug: &AppSlug, policy: &AppPolicy) {
    let claim = |c: &ClaimMatch| match c {
        ClaimMatch::Exact(v) => format!("{v} (exact)"),
        ClaimMatch::Regexp(p) => format!("{p} (pattern)"),
    };
    let images: Vec<_> = policy.images.iter().map(|i| i.as_str()).collect();
    outln!("app:          {slug}");
    outln!("repository:   {}", policy.repository);
    outln!("images:       {}", images.join(", "));
    outln!("subject:      {}", claim(&policy.subject));
    outln!("issuer:       {}", claim(&policy.issuer));
    outln!("attestations: {}", policy.attestations.join(", "));
    if let Some(p) = &policy.slsa_builder_id_regexp {
        outln!("SLSA builder: {p} (pattern)");
    }
}

fn repositories(values: &[String]) -> Result<Vec<Repository>> {
    values
        .iter()
        .map(|v| Repository::parse(v).with_context(|| format!("--allow {v}")))
        .collect()
}

fn referrers_mode(value: &str) -> Result<ReferrersMode> {
    ReferrersMode::parse(value)
        .with_context(|| format!("referrers mode {value:?}: expected not-found or passthrough"))
}

/// Runs the command; an error is printed as its message and causes, never
/// with a backtrace (`RUST_BACKTRACE` is for panics), as `vouch` does.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_or_help(&e),
    };
    if let Some(result) = about_this_binary(&cli.command) {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `version`, `completion` and `man`: they need no configuration, state or
/// runtime. `None` for every other command.
fn about_this_binary(command: &Command) -> Option<Result<()>> {
    use clap::CommandFactory as _;
    match command {
        Command::Version { json: true } => {
            let doc = serde_json::json!({
                "name": "vouch-proxy",
                "version": vouch_clikit::VERSION,
                "commit": vouch_clikit::COMMIT,
                "buildDate": vouch_clikit::BUILD_DATE,
            });
            outln!("{doc:#}");
        }
        Command::Version { json: false } => {
            outln!("vouch-proxy {}", vouch_clikit::VERSION);
            outln!("commit: {}", vouch_clikit::COMMIT);
            outln!("built:  {}", vouch_clikit::BUILD_DATE);
        }
        Command::Completion { shell } => {
            let script = vouch_clikit::completion(*shell, Cli::command());
            outln!("{}", String::from_utf8_lossy(&script).trim_end());
        }
        Command::Man { dir } => {
            return Some(
                vouch_clikit::write_man_pages(Cli::command(), dir)
                    .map(|written| {
                        eprintln!("Wrote {} man pages to {}", written.len(), dir.display());
                    })
                    .with_context(|| format!("writing man pages to {}", dir.display())),
            );
        }
        _ => return None,
    }
    Some(Ok(()))
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Migrate(args) = &cli.command {
        return migrate(args).await;
    }
    let file = load_config(&cli)?;
    if let Command::Serve = cli.command {
        return serve(file.resolve(&env_var)?).await;
    }
    if let Command::CheckConfig { serve } = cli.command {
        let (source, upstreams) = if serve {
            let settings = file.resolve(&env_var)?;
            (
                "as serve reads it, secrets included",
                settings.upstreams.len(),
            )
        } else {
            let settings = file.resolve_for_admin(&env_var)?;
            (
                "as the admin commands read it; upstream and S3 secrets not read",
                settings.upstreams.len(),
            )
        };
        let shown = cli
            .config
            .as_ref()
            .map_or("no configuration file".to_string(), |p| {
                p.display().to_string()
            });
        outln!("{shown}: OK ({source}; {upstreams} upstreams)");
        return Ok(());
    }
    let settings: AdminSettings = file.resolve_for_admin(&env_var)?;
    let state = backends::open_admin_state(&settings).await?;
    let store = &*state.licenses;
    let now = Timestamp::now();
    match cli.command {
        Command::Serve
        | Command::CheckConfig { .. }
        | Command::Migrate(_)
        | Command::Version { .. }
        | Command::Completion { .. }
        | Command::Man { .. } => unreachable!("handled above"),
        Command::App(AppCommand::Add {
            slug,
            allow,
            referrers,
        }) => {
            let app = admin::add_app(
                store,
                &settings,
                AppSlug::new(&slug)?,
                repositories(&allow)?,
                referrers_mode(&referrers)?,
            )
            .await?;
            outln!(
                "added app {} (referrers: {})",
                app.slug,
                app.referrers.as_str()
            );
        }
        Command::App(AppCommand::Allow { slug, allow }) => {
            admin::allow(
                store,
                &settings,
                &AppSlug::new(&slug)?,
                &repositories(&allow)?,
            )
            .await?;
        }
        Command::App(AppCommand::SetReferrers { slug, mode }) => {
            store
                .set_referrers_mode(&AppSlug::new(&slug)?, referrers_mode(&mode)?)
                .await?;
        }
        Command::App(AppCommand::List) => {
            for app in store.apps().await? {
                let prefixes: Vec<_> = app.repositories.iter().map(|r| r.to_string()).collect();
                outln!(
                    "{}\treferrers={}\t{}",
                    app.slug,
                    app.referrers.as_str(),
                    prefixes.join(",")
                );
            }
        }
        Command::App(AppCommand::Policy(PolicyCommand::Set(args))) => {
            let slug = AppSlug::new(&args.slug)?;
            let policy = AppPolicy {
                repository: Repository::parse(&args.repository)
                    .with_context(|| format!("--repository {}", args.repository))?,
                images: AppPolicy::parse_images(&args.images)?,
                subject: claim(args.subject.subject, args.subject.subject_regexp),
                issuer: claim(args.issuer.issuer, args.issuer.issuer_regexp),
                attestations: args.attestations,
                slsa_builder_id_regexp: args.slsa_builder_id_regexp,
            };
            admin::set_release_policy(store, &slug, &policy).await?;
            print_policy(&slug, &policy);
        }
        Command::App(AppCommand::Policy(PolicyCommand::Show { slug })) => {
            let slug = AppSlug::new(&slug)?;
            let app = store
                .app(&slug)
                .await?
                .with_context(|| format!("app {slug} does not exist"))?;
            match &app.release_policy {
                Some(policy) => print_policy(&slug, policy),
                None => anyhow::bail!(
                    "app {slug} has no release policy; set one with `vouch-proxy app policy set`"
                ),
            }
        }
        Command::App(AppCommand::Policy(PolicyCommand::Remove { slug })) => {
            let slug = AppSlug::new(&slug)?;
            store.set_release_policy(&slug, None).await?;
            outln!("removed the release policy of app {slug}");
        }
        Command::Portal(PortalCommand::Url { license }) => {
            let license = store
                .license(LicenseNumber(license))
                .await?
                .with_context(|| format!("license {license} does not exist"))?;
            let base = settings.public_url.as_deref().context(
                "server.public_host is not set: the portal link needs the name customers reach the proxy by",
            )?;
            outln!("{}", admin::portal_sign_in_url(base, &license.email));
            eprintln!(
                "{} signs in with this email and their license ID (not part of the link)",
                license.email
            );
        }
        Command::Channel(ChannelCommand::AddVersion { version, images }) => {
            let releases = admin::add_version(
                store,
                &AppSlug::new(&version.app)?,
                ChannelName::new(&version.channel)?,
                Tag::new(&version.version)?,
                &images,
            )
            .await?;
            for r in releases {
                let repo = r.repository.map_or("*".to_string(), |r| r.to_string());
                outln!(
                    "channel {} version {}: {repo} {}",
                    r.channel,
                    r.version,
                    r.reference
                );
            }
        }
        Command::Channel(ChannelCommand::RemoveVersion { version }) => {
            let n = store
                .remove_version(
                    &AppSlug::new(&version.app)?,
                    &ChannelName::new(&version.channel)?,
                    &Tag::new(&version.version)?,
                )
                .await?;
            outln!("removed {n} release entries");
        }
        Command::Channel(ChannelCommand::List { app }) => {
            let app = AppSlug::new(&app)?;
            let releases = store.releases(&app).await?;
            for channel in store.channels(&app).await? {
                outln!("{channel}");
                for r in releases.iter().filter(|r| r.channel == channel) {
                    let repo = r
                        .repository
                        .as_ref()
                        .map_or("*".to_string(), |r| r.to_string());
                    outln!("  {}\t{repo}\t{}", r.version, r.reference);
                }
            }
        }
        Command::License(LicenseCommand::Create {
            app,
            email,
            channels,
            expires,
            allow_past,
        }) => {
            let secret = ServerSecret::load_or_create(&settings.secret_file)?;
            let channels = channels
                .iter()
                .map(|c| ChannelName::new(c))
                .collect::<Result<Vec<_>, _>>()?;
            let expires_at = admin::parse_expiry(&expires)?;
            admin::check_expiry(&expires, expires_at, now, past_expiry(allow_past))?;
            let (number, id) = admin::create_license(
                store,
                &secret.license_hasher(),
                AppSlug::new(&app)?,
                &email,
                channels,
                expires_at,
                now,
            )
            .await?;
            eprintln!(
                "created license {number} for {email}; its ID is printed below, once: it is not stored and cannot be shown again"
            );
            // The ID exists nowhere else: if it cannot be shown, say which
            // license to revoke instead of leaving a usable one unknown.
            if let Err(e) = output::try_write(format_args!("{}\n", id.expose())) {
                anyhow::bail!(
                    "license {number} was created but its ID could not be written to stdout \
                     ({e}); it cannot be shown again: revoke it with `vouch-proxy license \
                     revoke {number}` and create another"
                );
            }
        }
        Command::License(LicenseCommand::List { app }) => {
            let app = app.map(|a| AppSlug::new(&a)).transpose()?;
            for license in store.licenses(app.as_ref()).await? {
                outln!("{}", admin::describe_license(&license, now));
            }
        }
        Command::License(LicenseCommand::Revoke { number }) => {
            let license = store.revoke_license(LicenseNumber(number), now).await?;
            outln!("{}", admin::describe_license(&license, now));
        }
        Command::License(LicenseCommand::Show { number, json }) => {
            let report =
                admin::show_license(store, &*state.pull_log, LicenseNumber(number), now).await?;
            print_license_report(&report, json);
        }
        Command::License(LicenseCommand::Extend {
            number,
            expires,
            allow_past,
        }) => {
            let license = admin::extend_license(
                store,
                LicenseNumber(number),
                &expires,
                now,
                past_expiry(allow_past),
            )
            .await?;
            outln!("{}", admin::describe_license(&license, now));
        }
        Command::License(LicenseCommand::SetChannels { number, channels }) => {
            let channels = channels
                .iter()
                .map(|c| ChannelName::new(c))
                .collect::<Result<Vec<_>, _>>()?;
            let license =
                admin::set_license_channels(store, LicenseNumber(number), channels).await?;
            outln!("{}", admin::describe_license(&license, now));
        }
        Command::License(LicenseCommand::Pulls { number, limit }) => {
            for p in state.pull_log.pulls(LicenseNumber(number), limit).await? {
                outln!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    p.at,
                    p.action.as_str(),
                    p.method,
                    p.repository,
                    p.reference,
                    p.status,
                    p.bytes
                );
            }
        }
    }
    Ok(())
}

async fn migrate(args: &MigrateArgs) -> Result<()> {
    // Opening a missing file would create an empty database and copy nothing.
    if !args.from.is_file() {
        anyhow::bail!(
            "--from {}: expected an existing SQLite state file, found none",
            args.from.display()
        );
    }
    let from = SqliteStore::open(&args.from)?;
    let to = PostgresStore::connect(&args.to, postgres::DEFAULT_MAX_CONNECTIONS).await?;
    let target = if args.replace_target {
        ImportTarget::ReplaceExisting
    } else {
        ImportTarget::Empty
    };
    let shown = postgres::redact_database_url(&args.to);
    let report = vouch_proxy::migrate::migrate(&from, &to, target)
        .await
        .with_context(|| format!("copying {} into {shown}", args.from.display()))?;
    to.close().await;
    if !report.replaced.is_empty() {
        outln!("deleted from the target first: {}", report.replaced);
    }
    outln!(
        "copied {} into {shown}: {}",
        args.from.display(),
        report.copied
    );
    outln!(
        "every replica must use the secret.key this SQLite state was used with: license IDs are stored as hashes keyed by it"
    );
    Ok(())
}

async fn serve(settings: Settings) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VOUCH_PROXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("VOUCH_PROXY_LOG_FORMAT").is_ok_and(|v| v == "json");
    // Colour only for a person at a terminal: escape codes in a log file or
    // a collector are noise. NO_COLOR (no-color.org) turns it off there too.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    let state = backends::open_state(&settings).await?;
    let secret = ServerSecret::load_or_create(&settings.secret_path())?;
    let content = backends::open_content(&settings).await?;
    for upstream in settings
        .upstreams
        .values()
        .filter(|u| u.url.scheme() == "http")
    {
        tracing::warn!(upstream = %upstream.name, url = %upstream.url, "plain-HTTP upstream (insecure_allow_http)");
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let ops = match settings.ops_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))?,
        ),
        None => None,
    };
    let tls = match &settings.tls {
        Some(files) => {
            let public_host = settings.public_host.clone();
            let key = vouch_proxy::tls::load_certified_key(
                files,
                public_host.as_deref(),
                std::time::SystemTime::now(),
            )
            .context("[server.tls]")?;
            let slot = vouch_proxy::tls::CertificateSlot::new(key);
            let acceptors = vouch_proxy::tls::acceptors(&slot, files).context("[server.tls]")?;
            tokio::spawn(vouch_proxy::tls::reload_on_change(
                slot,
                files.clone(),
                public_host,
            ));
            Some(acceptors)
        }
        None => None,
    };
    let stores = state.with_content(content);
    // The bound addresses, not the configured ones: with port 0 the system
    // picks the port, and this line is where an operator (or a test) finds it.
    let bound = listener.local_addr().context("reading the bound address")?;
    let ops_bound = ops.as_ref().and_then(|l| l.local_addr().ok());
    tracing::info!(
        listen = %bound,
        ops = ?ops_bound,
        tls = tls.is_some(),
        ops_client_certificates = tls.as_ref().is_some_and(|t| t.ops.is_some()),
        "vouch-proxy serving"
    );
    let (proxy, pull_log) = Proxy::new(settings, stores, &secret)?;
    server::serve(proxy, listener, ops, tls, shutdown_signal()).await?;
    pull_log.finish().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (orchestrators) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Prints clap's help, version or usage error (its own `exit` would panic on a
/// closed stdout) and returns its exit code: 0 for `--help`, 2 for a usage error.
fn usage_or_help(error: &clap::Error) -> ExitCode {
    if let Err(e) = error.print()
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::from(output::CLOSED_STDOUT_EXIT as u8);
    }
    ExitCode::from(error.exit_code() as u8)
}
