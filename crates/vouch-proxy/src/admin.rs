//! Administration: what `vouch-proxy app|channel|license` do, over the
//! store traits, with every input validated here (the binary only parses
//! arguments and prints).

use jiff::Timestamp;

use crate::config::ConfiguredUpstreams;
use crate::names::{AppSlug, ChannelName, Digest, NameError, Reference, Repository, Tag};
use crate::policy::{AppPolicy, PolicyError};
use crate::secret::{LicenseId, LicenseIdHasher, SecretError};
use crate::store::{
    App, License, LicenseNumber, LicenseStore, NewLicense, PullLog, PullSummary, ReferrersMode,
    Release, StoreError,
};

/// RFC 5321 §4.5.3.1: a forward-path is at most 256 octets including the
/// angle brackets, so an address is at most 254.
pub const MAX_EMAIL_LEN: usize = 254;

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A name is malformed.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Generating a license ID failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// An argument is malformed or inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// A release policy part is refused.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Parses `--expires`: `never`, a date (`2027-01-31`, meaning 00:00 UTC
/// that day) or an RFC 3339 timestamp.
pub fn parse_expiry(value: &str) -> Result<Option<Timestamp>, AdminError> {
    if value == "never" {
        return Ok(None);
    }
    if let Ok(t) = value.parse::<Timestamp>() {
        return Ok(Some(t));
    }
    value
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| Some(z.timestamp()))
        .ok_or_else(|| {
            AdminError::Invalid(format!(
                "--expires {value:?}: expected `never`, a date (2027-01-31) or an RFC 3339 time (2027-01-31T12:00:00Z)"
            ))
        })
}

/// What to do with an `--expires` time that has already passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastExpiry {
    /// Refuse it: a license created expired is almost always a typo.
    Refuse,
    /// Accept it (`--allow-past`: tests of expiry handling).
    Allow,
}

/// Refuses an expiry at or before `now` unless `past` allows it; `value`
/// is the argument as typed, for the message.
pub fn check_expiry(
    value: &str,
    expires_at: Option<Timestamp>,
    now: Timestamp,
    past: PastExpiry,
) -> Result<(), AdminError> {
    match expires_at {
        Some(at) if at <= now && past == PastExpiry::Refuse => Err(AdminError::Invalid(format!(
            "--expires {value}: {at} has already passed (now {now}), so the license could never pull; give a future time, or --allow-past to create it expired"
        ))),
        _ => Ok(()),
    }
}

/// Checks an email address loosely (one `@`, no spaces or control
/// characters, at most 254 bytes): it is the expected username, not a
/// mailbox we write to.
pub fn parse_email(value: &str) -> Result<String, AdminError> {
    let ok = value.len() <= MAX_EMAIL_LEN
        && value.split('@').count() == 2
        && value.split('@').all(|p| !p.is_empty())
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':');
    if ok {
        Ok(value.to_string())
    } else {
        Err(AdminError::Invalid(format!(
            "--email {value:?}: expected one address like name@example.com (no spaces or ':')"
        )))
    }
}

/// An image a release grants: `ghcr.io/acme/api:1.2.0`,
/// `ghcr.io/acme/api@sha256:…`, or `ghcr.io/acme/api` (the version as tag).
pub fn parse_image(value: &str, version: &Tag) -> Result<(Repository, Reference), AdminError> {
    if let Some((repo, digest)) = value.split_once('@') {
        return Ok((
            Repository::parse(repo)?,
            Reference::Digest(Digest::parse(digest).map_err(NameError::Digest)?),
        ));
    }
    // Upstream names carry no port, so a ':' can only start a tag.
    match value.rsplit_once(':') {
        Some((repo, tag)) => Ok((Repository::parse(repo)?, Reference::Tag(Tag::new(tag)?))),
        None => Ok((Repository::parse(value)?, Reference::Tag(version.clone()))),
    }
}

/// `app add`: creates an app with its allowed repository prefixes. Each
/// prefix must name an upstream configured in `settings`.
pub async fn add_app(
    store: &dyn LicenseStore,
    settings: &(impl ConfiguredUpstreams + ?Sized),
    slug: AppSlug,
    prefixes: Vec<Repository>,
    referrers: ReferrersMode,
) -> Result<App, AdminError> {
    check_upstreams(settings, &prefixes)?;
    let app = App {
        slug,
        referrers,
        repositories: prefixes,
        release_policy: None,
    };
    store.add_app(&app).await?;
    Ok(app)
}

/// `app allow`: adds prefixes to an existing app.
pub async fn allow(
    store: &dyn LicenseStore,
    settings: &(impl ConfiguredUpstreams + ?Sized),
    slug: &AppSlug,
    prefixes: &[Repository],
) -> Result<(), AdminError> {
    check_upstreams(settings, prefixes)?;
    for prefix in prefixes {
        store.allow_repository(slug, prefix).await?;
    }
    Ok(())
}

fn check_upstreams(
    settings: &(impl ConfiguredUpstreams + ?Sized),
    prefixes: &[Repository],
) -> Result<(), AdminError> {
    let configured = settings.upstream_names();
    for prefix in prefixes {
        if !configured.contains(&&prefix.upstream) {
            let known: Vec<_> = configured.iter().map(|n| n.as_str()).collect();
            return Err(AdminError::Invalid(format!(
                "--allow {prefix}: upstream {} is not configured (configured: {}); add an [[upstreams]] entry first",
                prefix.upstream,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// `channel add-version`: the version's images join the channel. With no
/// images, the version is the tag in every repository the app allows.
pub async fn add_version(
    store: &dyn LicenseStore,
    app: &AppSlug,
    channel: ChannelName,
    version: Tag,
    images: &[String],
) -> Result<Vec<Release>, AdminError> {
    let app_record = store
        .app(app)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("app {app}")))?;
    let mut releases = Vec::new();
    if images.is_empty() {
        releases.push(Release {
            channel: channel.clone(),
            version: version.clone(),
            repository: None,
            reference: Reference::Tag(version.clone()),
        });
    }
    for image in images {
        let (repository, reference) = parse_image(image, &version)?;
        if !app_record
            .repositories
            .iter()
            .any(|p| repository.is_within(p))
        {
            return Err(AdminError::Invalid(format!(
                "--image {image}: {repository} is outside app {app}'s allowed repositories; add it with `app allow` first"
            )));
        }
        releases.push(Release {
            channel: channel.clone(),
            version: version.clone(),
            repository: Some(repository),
            reference,
        });
    }
    store.add_releases(app, &releases).await?;
    Ok(releases)
}

/// `app policy set`: checks the policy (patterns, attestation names,
/// images) and that its repository lies within the app's allow-list, then
/// stores it, replacing any earlier one.
pub async fn set_release_policy(
    store: &dyn LicenseStore,
    app: &AppSlug,
    policy: &AppPolicy,
) -> Result<(), AdminError> {
    policy.check()?;
    let app_record = store
        .app(app)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("app {app}")))?;
    if !app_record
        .repositories
        .iter()
        .any(|p| policy.repository.is_within(p))
    {
        return Err(AdminError::Invalid(format!(
            "--repository {}: outside app {app}'s allowed repositories; add it with `app allow` first",
            policy.repository
        )));
    }
    for image in &policy.images {
        policy.image_repository(image)?;
    }
    store.set_release_policy(app, Some(policy)).await?;
    Ok(())
}

/// The portal's sign-in link for a customer: `<base>/portal/?email=<email>`
/// (`base` is `<scheme>://<public host>`), the email percent-encoded. The
/// license ID is never part of it.
pub fn portal_sign_in_url(base: &str, email: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("email", email)
        .finish();
    format!("{base}/portal/?{query}")
}

/// `license create`: stores a new license and returns the ID — the only
/// time it exists outside the customer's hands.
pub async fn create_license(
    store: &dyn LicenseStore,
    hasher: &LicenseIdHasher,
    app: AppSlug,
    email: &str,
    channels: Vec<ChannelName>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(LicenseNumber, LicenseId), AdminError> {
    if channels.is_empty() {
        return Err(AdminError::Invalid(
            "a license needs at least one --channel (it is what entitles it to versions)".into(),
        ));
    }
    let id = LicenseId::generate()?;
    let number = store
        .create_license(&NewLicense {
            app,
            email: parse_email(email)?,
            channels,
            id_hash: hasher.hash(&id),
            created_at: now,
            expires_at,
        })
        .await?;
    Ok((number, id))
}

/// Whether a license may pull now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseStatus {
    /// Neither revoked nor expired.
    Active,
    /// Its expiry time has passed.
    Expired,
    /// Revoked (whatever its expiry).
    Revoked,
}

impl LicenseStatus {
    /// The license's status at `now`; revocation wins over expiry.
    pub fn of(license: &License, now: Timestamp) -> Self {
        match (license.revoked_at, license.expires_at) {
            (Some(_), _) => Self::Revoked,
            (None, Some(at)) if at <= now => Self::Expired,
            (None, _) => Self::Active,
        }
    }

    /// `active`, `expired`, `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// What `license show` reports: the license and its use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseReport {
    /// The license.
    pub license: License,
    /// Its status when read.
    pub status: LicenseStatus,
    /// Its pull log, summed up.
    pub pulls: PullSummary,
}

/// `license show`: the license with this number and a summary of its pull
/// log; [`StoreError::NotFound`] when there is none.
pub async fn show_license(
    store: &dyn LicenseStore,
    pull_log: &dyn PullLog,
    number: LicenseNumber,
    now: Timestamp,
) -> Result<LicenseReport, AdminError> {
    let license = require_license(store, number).await?;
    let pulls = pull_log.pull_summary(number).await?;
    Ok(LicenseReport {
        status: LicenseStatus::of(&license, now),
        license,
        pulls,
    })
}

async fn require_license(
    store: &dyn LicenseStore,
    number: LicenseNumber,
) -> Result<License, AdminError> {
    Ok(store
        .license(number)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("license {number}")))?)
}

/// `license extend`: a new expiry (`None`: never). `value` is `--expires`
/// as typed; a time already past is refused unless `past` allows it, as
/// for `license create`. Revocation is not undone.
pub async fn extend_license(
    store: &dyn LicenseStore,
    number: LicenseNumber,
    value: &str,
    now: Timestamp,
    past: PastExpiry,
) -> Result<License, AdminError> {
    let expires_at = parse_expiry(value)?;
    check_expiry(value, expires_at, now, past)?;
    Ok(store.set_license_expiry(number, expires_at).await?)
}

/// `license set-channels`: replaces the license's channels. Every channel
/// must exist in the license's app; the refusal names each that does not.
pub async fn set_license_channels(
    store: &dyn LicenseStore,
    number: LicenseNumber,
    channels: Vec<ChannelName>,
) -> Result<License, AdminError> {
    if channels.is_empty() {
        return Err(AdminError::Invalid(
            "a license needs at least one channel (it is what entitles it to versions)".into(),
        ));
    }
    let license = require_license(store, number).await?;
    let existing = store.channels(&license.app).await?;
    let missing: Vec<_> = channels
        .iter()
        .filter(|c| !existing.contains(c))
        .map(|c| c.as_str())
        .collect();
    if !missing.is_empty() {
        let known: Vec<_> = existing.iter().map(|c| c.as_str()).collect();
        return Err(AdminError::Invalid(format!(
            "license {number} is for app {app}, which has no channel {missing} (its channels: {known}); \
             a channel is created by `channel add-version --app {app} --channel NAME`",
            app = license.app,
            missing = missing.join(", "),
            known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            },
        )));
    }
    Ok(store.set_license_channels(number, &channels).await?)
}

/// One line of `license list`.
pub fn describe_license(license: &License, now: Timestamp) -> String {
    let status = match (license.revoked_at, license.expires_at) {
        (Some(at), _) => format!("revoked {at}"),
        (None, Some(at)) if at <= now => format!("expired {at}"),
        (None, Some(at)) => format!("active, expires {at}"),
        (None, None) => "active, no expiry".to_string(),
    };
    let channels: Vec<_> = license.channels.iter().map(|c| c.as_str()).collect();
    format!(
        "{}\t{}\t{}\t{}\t{}",
        license.number,
        license.app,
        license.email,
        channels.join(","),
        status
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_accepts_dates_times_and_never() {
        assert_eq!(parse_expiry("never").unwrap(), None);
        assert_eq!(
            parse_expiry("2027-01-31").unwrap().unwrap().to_string(),
            "2027-01-31T00:00:00Z"
        );
        assert_eq!(
            parse_expiry("2027-01-31T12:30:00Z")
                .unwrap()
                .unwrap()
                .to_string(),
            "2027-01-31T12:30:00Z"
        );
        for bad in ["", "tomorrow", "2027-13-01", "31/01/2027"] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_checked_loosely() {
        assert!(parse_email("a.b+c@example.com").is_ok());
        for bad in [
            "",
            "ab",
            "a@b@c",
            "@b",
            "a@",
            "a b@c",
            "a:b@c",
            &format!("{}@x", "a".repeat(260)),
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn images_name_a_tag_a_digest_or_the_version() {
        let v = Tag::new("1.2.0").unwrap();
        let (repo, r) = parse_image("ghcr.io/acme/api", &v).unwrap();
        assert_eq!(
            (repo.to_string(), r.to_string()),
            ("ghcr.io/acme/api".into(), "1.2.0".into())
        );
        let (_, r) = parse_image("ghcr.io/acme/api:latest", &v).unwrap();
        assert_eq!(r.to_string(), "latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        let (_, r) = parse_image(&format!("docker.io/library/postgres@{digest}"), &v).unwrap();
        assert_eq!(r.to_string(), digest);
        for bad in [
            "api",
            "ghcr.io",
            "127.0.0.1:5000/api",
            "ghcr.io/Acme/api",
            "ghcr.io/acme/api@sha256:zz",
        ] {
            assert!(parse_image(bad, &v).is_err(), "{bad}");
        }
    }
}
