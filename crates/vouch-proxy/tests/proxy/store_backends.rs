//! One behaviour suite for every state backend: each case is a function
//! over the three store traits, run against SQLite (a temp file) and
//! against PostgreSQL (a fresh database per test, from
//! `VOUCH_TEST_DATABASE_URL`; skipped with a message when unset, a failure
//! under `CI=true`). Then what only PostgreSQL has: several replicas
//! writing at once, revocation seen across replicas, errors without the
//! password.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::postgres::TestDatabase;
use jiff::Timestamp;
use vouch_proxy::names::{AppSlug, ChannelName, Digest, Reference, Repository, Tag};
use vouch_proxy::secret::LicenseIdHash;
use vouch_proxy::store::postgres::PostgresStore;
use vouch_proxy::store::sqlite::SqliteStore;
use vouch_proxy::store::{
    App, License, LicenseNumber, LicenseStore, NewLicense, PullAction, PullLog, PullRecord,
    PullSummary, ReferrersMode, Release, ResolutionStore, StoreError,
};

/// The three traits of one backend, as the server holds them.
struct Backend {
    licenses: Arc<dyn LicenseStore>,
    log: Arc<dyn PullLog>,
    resolutions: Arc<dyn ResolutionStore>,
}

impl Backend {
    fn of<S: LicenseStore + PullLog + ResolutionStore + 'static>(store: S) -> Self {
        let store = Arc::new(store);
        Self {
            licenses: store.clone(),
            log: store.clone(),
            resolutions: store,
        }
    }
}

async fn sqlite() -> (Backend, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
    (Backend::of(store), dir)
}

async fn postgres() -> Option<(Backend, TestDatabase)> {
    let db = TestDatabase::create().await?;
    let store = PostgresStore::connect(&db.url, 4).await.unwrap();
    Some((Backend::of(store), db))
}

/// Runs each case against both backends: `sqlite::<case>` and
/// `postgres::<case>`.
macro_rules! for_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (backend, _dir) = super::sqlite().await;
                    super::$case(&backend).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some((backend, _db)) = super::postgres().await else {
                        return;
                    };
                    super::$case(&backend).await;
                }
            )*
        }
    };
}

for_every_backend!(
    adding_a_taken_app_slug_is_a_conflict,
    allow_lists_and_referrers_mode_round_trip,
    changing_a_missing_app_is_not_found,
    release_policies_are_set_replaced_and_removed,
    add_releases_creates_channels_and_lists_them_in_order,
    removing_a_version_counts_releases_and_keeps_the_channel,
    licenses_round_trip_with_channels_and_times,
    creating_a_license_needs_its_app_and_every_channel,
    a_second_license_with_the_same_id_hash_is_a_conflict,
    revocation_is_idempotent_and_keeps_the_first_time,
    expiry_can_be_moved_or_removed_and_revocation_stays,
    channels_are_replaced_only_with_channels_of_the_app,
    the_pull_log_is_newest_first_per_license_and_limited,
    the_pull_summary_counts_requests_and_finds_the_newest,
    tag_history_keeps_every_digest_latest_sighting_first,
    attachments_are_recorded_once_and_listed_in_order,
    portal_sign_outs_are_kept_until_their_sessions_expire,
);

async fn portal_sign_outs_are_kept_until_their_sessions_expire(b: &Backend) {
    let signed_out =
        |sid: &'static str| async move { b.licenses.session_signed_out(sid).await.unwrap() };
    assert!(!signed_out("aa").await);
    b.licenses
        .sign_out_session("aa", at(1_850_000_100), at(1_850_000_000))
        .await
        .unwrap();
    assert!(signed_out("aa").await);
    assert!(!signed_out("bb").await, "only that session");
    // Twice is once.
    b.licenses
        .sign_out_session("aa", at(1_850_000_100), at(1_850_000_001))
        .await
        .unwrap();
    assert!(signed_out("aa").await);
    // A later sign-out forgets those whose sessions expired by then, and
    // only those.
    b.licenses
        .sign_out_session("bb", at(1_850_000_300), at(1_850_000_099))
        .await
        .unwrap();
    assert!(signed_out("aa").await, "not expired yet");
    b.licenses
        .sign_out_session("cc", at(1_850_000_300), at(1_850_000_101))
        .await
        .unwrap();
    assert!(!signed_out("aa").await, "expired, forgotten");
    assert!(signed_out("bb").await && signed_out("cc").await);
}

fn slug(s: &str) -> AppSlug {
    AppSlug::new(s).unwrap()
}

fn repo(s: &str) -> Repository {
    Repository::parse(s).unwrap()
}

fn channel(s: &str) -> ChannelName {
    ChannelName::new(s).unwrap()
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

fn app(name: &str) -> App {
    App {
        slug: slug(name),
        referrers: ReferrersMode::NotFound,
        repositories: vec![repo("ghcr.io/acme")],
        release_policy: None,
    }
}

fn release(channel_name: &str, version: &str) -> Release {
    Release {
        channel: channel(channel_name),
        version: Tag::new(version).unwrap(),
        repository: None,
        reference: Reference::Tag(Tag::new(version).unwrap()),
    }
}

fn hash(n: u8) -> LicenseIdHash {
    LicenseIdHash([n; 32])
}

fn new_license(app_name: &str, channels: &[&str], n: u8) -> NewLicense {
    NewLicense {
        app: slug(app_name),
        email: format!("customer{n}@example.com"),
        channels: channels.iter().map(|c| channel(c)).collect(),
        id_hash: hash(n),
        created_at: at(1_800_000_000 + i64::from(n)),
        expires_at: None,
    }
}

async fn adding_a_taken_app_slug_is_a_conflict(b: &Backend) {
    b.licenses.add_app(&app("acme")).await.unwrap();
    let mut other = app("acme");
    other.referrers = ReferrersMode::Passthrough;
    let err = b.licenses.add_app(&other).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(err.to_string(), "app acme already exists");
    // The first one is unchanged.
    assert_eq!(
        b.licenses.app(&slug("acme")).await.unwrap(),
        Some(app("acme"))
    );
}

async fn allow_lists_and_referrers_mode_round_trip(b: &Backend) {
    b.licenses.add_app(&app("zeta")).await.unwrap();
    b.licenses.add_app(&app("acme")).await.unwrap();
    let postgres = repo("docker.io/library/postgres");
    b.licenses
        .allow_repository(&slug("acme"), &postgres)
        .await
        .unwrap();
    // Allowing twice is not an error and stores it once.
    b.licenses
        .allow_repository(&slug("acme"), &postgres)
        .await
        .unwrap();
    b.licenses
        .set_referrers_mode(&slug("acme"), ReferrersMode::Passthrough)
        .await
        .unwrap();
    let acme = App {
        slug: slug("acme"),
        referrers: ReferrersMode::Passthrough,
        repositories: vec![postgres, repo("ghcr.io/acme")],
        release_policy: None,
    };
    assert_eq!(
        b.licenses.app(&slug("acme")).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(b.licenses.app(&slug("nobody")).await.unwrap(), None);
    assert_eq!(b.licenses.apps().await.unwrap(), vec![acme, app("zeta")]);
}

async fn changing_a_missing_app_is_not_found(b: &Backend) {
    let ghost = slug("ghost");
    let err = b
        .licenses
        .allow_repository(&ghost, &repo("ghcr.io/x"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "app ghost does not exist");
    let err = b
        .licenses
        .set_referrers_mode(&ghost, ReferrersMode::Passthrough)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "app ghost does not exist");
    let err = b
        .licenses
        .add_releases(&ghost, &[release("stable", "1.0.0")])
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "app ghost does not exist");
    assert!(b.licenses.apps().await.unwrap().is_empty());
    assert!(b.licenses.channels(&ghost).await.unwrap().is_empty());
}

async fn release_policies_are_set_replaced_and_removed(b: &Backend) {
    b.licenses.add_app(&app("acme")).await.unwrap();
    let first = common::release_policy("ghcr.io/acme/platform");
    b.licenses
        .set_release_policy(&slug("acme"), Some(&first))
        .await
        .unwrap();
    let stored = b.licenses.app(&slug("acme")).await.unwrap().unwrap();
    assert_eq!(stored.release_policy.as_ref(), Some(&first));
    let mut second = first.clone();
    second.attestations = vec!["openvex".into()];
    b.licenses
        .set_release_policy(&slug("acme"), Some(&second))
        .await
        .unwrap();
    assert_eq!(
        b.licenses.apps().await.unwrap()[0].release_policy,
        Some(second)
    );
    b.licenses
        .set_release_policy(&slug("acme"), None)
        .await
        .unwrap();
    assert_eq!(
        b.licenses.app(&slug("acme")).await.unwrap(),
        Some(app("acme"))
    );
    let err = b
        .licenses
        .set_release_policy(&slug("ghost"), Some(&first))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn add_releases_creates_channels_and_lists_them_in_order(b: &Backend) {
    b.licenses.add_app(&app("acme")).await.unwrap();
    let pinned = Release {
        channel: channel("stable"),
        version: Tag::new("1.0.0").unwrap(),
        repository: Some(repo("ghcr.io/acme/api")),
        reference: Reference::Digest(Digest::sha256_of(b"api 1.0.0")),
    };
    let releases = [
        release("stable", "1.0.0"),
        release("beta", "1.1.0-rc1"),
        release("beta", "1.1.0"),
        pinned.clone(),
    ];
    b.licenses
        .add_releases(&slug("acme"), &releases)
        .await
        .unwrap();
    // Adding the same releases again changes nothing.
    b.licenses
        .add_releases(&slug("acme"), &releases)
        .await
        .unwrap();
    assert_eq!(
        b.licenses.channels(&slug("acme")).await.unwrap(),
        vec![channel("beta"), channel("stable")]
    );
    // Sorted bytewise by channel, version, repository ('' first), reference.
    assert_eq!(
        b.licenses.releases(&slug("acme")).await.unwrap(),
        vec![
            release("beta", "1.1.0"),
            release("beta", "1.1.0-rc1"),
            release("stable", "1.0.0"),
            pinned,
        ]
    );
}

async fn removing_a_version_counts_releases_and_keeps_the_channel(b: &Backend) {
    b.licenses.add_app(&app("acme")).await.unwrap();
    let mut pinned = release("beta", "2.0.0");
    pinned.repository = Some(repo("ghcr.io/acme/api"));
    b.licenses
        .add_releases(&slug("acme"), &[release("beta", "2.0.0"), pinned])
        .await
        .unwrap();
    let version = Tag::new("2.0.0").unwrap();
    assert_eq!(
        b.licenses
            .remove_version(&slug("acme"), &channel("beta"), &version)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        b.licenses
            .remove_version(&slug("acme"), &channel("beta"), &version)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        b.licenses
            .remove_version(&slug("acme"), &channel("nightly"), &version)
            .await
            .unwrap(),
        0
    );
    assert!(b.licenses.releases(&slug("acme")).await.unwrap().is_empty());
    assert_eq!(
        b.licenses.channels(&slug("acme")).await.unwrap(),
        vec![channel("beta")]
    );
}

async fn seed_channels(b: &Backend, app_name: &str) {
    b.licenses.add_app(&app(app_name)).await.unwrap();
    b.licenses
        .add_releases(
            &slug(app_name),
            &[release("stable", "1.0.0"), release("beta", "1.1.0")],
        )
        .await
        .unwrap();
}

async fn licenses_round_trip_with_channels_and_times(b: &Backend) {
    seed_channels(b, "acme").await;
    seed_channels(b, "other").await;
    let mut first = new_license("acme", &["stable", "beta"], 1);
    first.expires_at = Some(at(1_900_000_000));
    let n1 = b.licenses.create_license(&first).await.unwrap();
    let n2 = b
        .licenses
        .create_license(&new_license("other", &["stable"], 2))
        .await
        .unwrap();
    let n3 = b
        .licenses
        .create_license(&new_license("acme", &["stable"], 3))
        .await
        .unwrap();
    assert!(n1 < n2 && n2 < n3, "{n1} {n2} {n3}");
    let expected = License {
        number: n1,
        app: slug("acme"),
        email: "customer1@example.com".into(),
        channels: vec![channel("beta"), channel("stable")],
        id_hash: hash(1),
        created_at: at(1_800_000_001),
        expires_at: Some(at(1_900_000_000)),
        revoked_at: None,
    };
    assert_eq!(
        b.licenses.license_by_hash(&hash(1)).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        b.licenses.license(n1).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(b.licenses.license_by_hash(&hash(9)).await.unwrap(), None);
    assert_eq!(
        b.licenses.license(LicenseNumber(9_999)).await.unwrap(),
        None
    );
    let numbers = |ls: Vec<License>| ls.iter().map(|l| l.number).collect::<Vec<_>>();
    assert_eq!(
        numbers(b.licenses.licenses(None).await.unwrap()),
        vec![n1, n2, n3]
    );
    assert_eq!(
        numbers(b.licenses.licenses(Some(&slug("acme"))).await.unwrap()),
        vec![n1, n3]
    );
    assert_eq!(b.licenses.licenses(None).await.unwrap()[0], expected);
}

async fn creating_a_license_needs_its_app_and_every_channel(b: &Backend) {
    seed_channels(b, "acme").await;
    let err = b
        .licenses
        .create_license(&new_license("acme", &["stable", "nightly"], 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("channel nightly of app acme"),
        "{err}"
    );
    let err = b
        .licenses
        .create_license(&new_license("ghost", &["stable"], 2))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "app ghost does not exist");
    // Nothing half-created.
    assert!(b.licenses.licenses(None).await.unwrap().is_empty());
}

async fn a_second_license_with_the_same_id_hash_is_a_conflict(b: &Backend) {
    seed_channels(b, "acme").await;
    let n = b
        .licenses
        .create_license(&new_license("acme", &["stable"], 1))
        .await
        .unwrap();
    let mut twin = new_license("acme", &["beta"], 1);
    twin.email = "someone-else@example.com".into();
    let err = b.licenses.create_license(&twin).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let licenses = b.licenses.licenses(None).await.unwrap();
    assert_eq!(licenses.len(), 1);
    assert_eq!(licenses[0].number, n);
    assert_eq!(licenses[0].channels, vec![channel("stable")]);
}

async fn revocation_is_idempotent_and_keeps_the_first_time(b: &Backend) {
    seed_channels(b, "acme").await;
    let n = b
        .licenses
        .create_license(&new_license("acme", &["stable"], 1))
        .await
        .unwrap();
    let revoked = b
        .licenses
        .revoke_license(n, at(1_850_000_000))
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at(1_850_000_000)));
    assert_eq!(revoked.number, n);
    let again = b
        .licenses
        .revoke_license(n, at(1_860_000_000))
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(at(1_850_000_000)));
    assert_eq!(
        b.licenses.license(n).await.unwrap().unwrap().revoked_at,
        Some(at(1_850_000_000))
    );
    let err = b
        .licenses
        .revoke_license(LicenseNumber(9_999), at(1_850_000_000))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "license 9999 does not exist");
}

async fn expiry_can_be_moved_or_removed_and_revocation_stays(b: &Backend) {
    seed_channels(b, "acme").await;
    let n = b
        .licenses
        .create_license(&new_license("acme", &["stable"], 1))
        .await
        .unwrap();
    let extended = b
        .licenses
        .set_license_expiry(n, Some(at(1_950_000_000)))
        .await
        .unwrap();
    assert_eq!(extended.expires_at, Some(at(1_950_000_000)));
    assert_eq!(b.licenses.license(n).await.unwrap().unwrap(), extended);
    b.licenses
        .revoke_license(n, at(1_850_000_000))
        .await
        .unwrap();
    let never = b.licenses.set_license_expiry(n, None).await.unwrap();
    assert_eq!(never.expires_at, None);
    assert_eq!(never.revoked_at, Some(at(1_850_000_000)));
    assert_eq!(never.channels, vec![channel("stable")]);
    let err = b
        .licenses
        .set_license_expiry(LicenseNumber(9_999), None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "license 9999 does not exist");
}

async fn channels_are_replaced_only_with_channels_of_the_app(b: &Backend) {
    seed_channels(b, "acme").await;
    seed_channels(b, "other").await;
    b.licenses
        .add_releases(&slug("other"), &[release("nightly", "2.0.0")])
        .await
        .unwrap();
    let n = b
        .licenses
        .create_license(&new_license("acme", &["stable"], 1))
        .await
        .unwrap();
    let other = b
        .licenses
        .create_license(&new_license("acme", &["stable"], 2))
        .await
        .unwrap();
    let changed = b
        .licenses
        .set_license_channels(n, &[channel("beta"), channel("stable"), channel("beta")])
        .await
        .unwrap();
    assert_eq!(changed.channels, vec![channel("beta"), channel("stable")]);
    let changed = b
        .licenses
        .set_license_channels(n, &[channel("beta")])
        .await
        .unwrap();
    assert_eq!(changed.channels, vec![channel("beta")]);
    // Another app's channel is not this license's, and nothing changes.
    let err = b
        .licenses
        .set_license_channels(n, &[channel("stable"), channel("nightly")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "channel nightly of app acme does not exist"
    );
    assert_eq!(
        b.licenses.license(n).await.unwrap().unwrap().channels,
        vec![channel("beta")]
    );
    // The other license of the app is untouched.
    assert_eq!(
        b.licenses.license(other).await.unwrap().unwrap().channels,
        vec![channel("stable")]
    );
    let err = b
        .licenses
        .set_license_channels(LicenseNumber(9_999), &[channel("stable")])
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "license 9999 does not exist");
}

fn pull(license: i64, secs: i64, status: u16, bytes: u64) -> PullRecord {
    PullRecord {
        license: LicenseNumber(license),
        at: at(secs),
        action: PullAction::Blob,
        method: "GET".into(),
        repository: "ghcr.io/acme/api".into(),
        reference: format!("sha256:{secs}"),
        status,
        bytes,
    }
}

async fn the_pull_log_is_newest_first_per_license_and_limited(b: &Backend) {
    let mut token = pull(1, 1_800_000_000, 200, 0);
    token.action = PullAction::Token;
    token.method = "POST".into();
    token.repository = String::new();
    token.reference = String::new();
    let first = vec![
        token.clone(),
        pull(1, 1_800_000_001, 200, 42),
        pull(2, 1_800_000_002, 404, 0),
    ];
    b.log.append(&first).await.unwrap();
    // Beyond i64: stored as i64::MAX, in both backends.
    b.log
        .append(&[pull(1, 1_800_000_003, 206, u64::MAX)])
        .await
        .unwrap();
    b.log.append(&[]).await.unwrap();
    assert_eq!(
        b.log.pulls(LicenseNumber(1), 10).await.unwrap(),
        vec![
            pull(1, 1_800_000_003, 206, i64::MAX as u64),
            pull(1, 1_800_000_001, 200, 42),
            token,
        ]
    );
    assert_eq!(
        b.log.pulls(LicenseNumber(1), 1).await.unwrap(),
        vec![pull(1, 1_800_000_003, 206, i64::MAX as u64)]
    );
    assert_eq!(
        b.log.pulls(LicenseNumber(2), 10).await.unwrap(),
        vec![pull(2, 1_800_000_002, 404, 0)]
    );
    assert!(b.log.pulls(LicenseNumber(3), 10).await.unwrap().is_empty());
}

async fn the_pull_summary_counts_requests_and_finds_the_newest(b: &Backend) {
    assert_eq!(
        b.log.pull_summary(LicenseNumber(1)).await.unwrap(),
        PullSummary::default()
    );
    // Appended out of time order: the newest time wins, not the last row.
    b.log
        .append(&[
            pull(1, 1_800_000_005, 200, 1),
            pull(1, 1_800_000_009, 404, 0),
            pull(2, 1_800_000_100, 200, 1),
        ])
        .await
        .unwrap();
    b.log
        .append(&[pull(1, 1_800_000_007, 200, 1)])
        .await
        .unwrap();
    assert_eq!(
        b.log.pull_summary(LicenseNumber(1)).await.unwrap(),
        PullSummary {
            requests: 3,
            last_at: Some(at(1_800_000_009)),
        }
    );
    assert_eq!(
        b.log.pull_summary(LicenseNumber(2)).await.unwrap(),
        PullSummary {
            requests: 1,
            last_at: Some(at(1_800_000_100)),
        }
    );
}

async fn tag_history_keeps_every_digest_latest_sighting_first(b: &Backend) {
    let api = repo("ghcr.io/acme/api");
    let v1 = Tag::new("v1").unwrap();
    let (d1, d2) = (Digest::sha256_of(b"1"), Digest::sha256_of(b"2"));
    let r = &b.resolutions;
    r.record_tag(&api, &v1, &d1, at(100)).await.unwrap();
    r.record_tag(&api, &v1, &d2, at(200)).await.unwrap();
    assert_eq!(
        r.tag_digests(&api, &v1).await.unwrap(),
        vec![d2.clone(), d1.clone()]
    );
    // An older sighting (a slow replica) does not move last_seen back.
    r.record_tag(&api, &v1, &d1, at(50)).await.unwrap();
    assert_eq!(
        r.tag_digests(&api, &v1).await.unwrap(),
        vec![d2.clone(), d1.clone()]
    );
    r.record_tag(&api, &v1, &d1, at(300)).await.unwrap();
    assert_eq!(
        r.tag_digests(&api, &v1).await.unwrap(),
        vec![d1.clone(), d2.clone()]
    );
    assert!(
        r.tag_digests(&api, &Tag::new("v2").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        r.tag_digests(&repo("ghcr.io/acme/web"), &v1)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn attachments_are_recorded_once_and_listed_in_order(b: &Backend) {
    let api = repo("ghcr.io/acme/api");
    let subject = Digest::sha256_of(b"image");
    let mut artifacts: Vec<Digest> = (0..3u8).map(|i| Digest::sha256_of(&[i])).collect();
    for a in artifacts.iter().rev() {
        b.resolutions
            .record_attachment(&api, &subject, a)
            .await
            .unwrap();
        b.resolutions
            .record_attachment(&api, &subject, a)
            .await
            .unwrap();
    }
    artifacts.sort_by_key(|d| d.to_string());
    assert_eq!(
        b.resolutions.attachments(&api, &subject).await.unwrap(),
        artifacts
    );
    assert!(
        b.resolutions
            .attachments(&api, &Digest::sha256_of(b"other"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        b.resolutions
            .attachments(&repo("ghcr.io/acme/web"), &subject)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- PostgreSQL only: replicas ----

/// Tasks per replica and rounds per task in the concurrency test: enough
/// that inserts of the same rows overlap on a 2-core machine (800 upserts
/// of 5 tag rows, 800 of 5 attachment rows, 400 pull-log batches).
const TASKS_PER_REPLICA: usize = 4;
const ROUNDS: usize = 100;

#[tokio::test]
async fn concurrent_replicas_write_without_errors_or_duplicates() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    // Both replicas start together: the migrations run once, under a lock.
    let (a, b) = tokio::join!(
        PostgresStore::connect(&db.url, 4),
        PostgresStore::connect(&db.url, 4)
    );
    let replicas = [Arc::new(a.unwrap()), Arc::new(b.unwrap())];
    let api = repo("ghcr.io/acme/api");
    let v1 = Tag::new("v1").unwrap();
    let digests: Vec<Digest> = (0..5u8).map(|i| Digest::sha256_of(&[i])).collect();
    let subject = Digest::sha256_of(b"subject");
    let mut tasks = tokio::task::JoinSet::new();
    for (r, store) in replicas.iter().enumerate() {
        for t in 0..TASKS_PER_REPLICA {
            let (store, api, v1, digests, subject) = (
                store.clone(),
                api.clone(),
                v1.clone(),
                digests.clone(),
                subject.clone(),
            );
            tasks.spawn(async move {
                for round in 0..ROUNDS {
                    let d = &digests[round % digests.len()];
                    store
                        .record_tag(&api, &v1, d, at(1_000 + round as i64))
                        .await?;
                    store.record_attachment(&api, &subject, d).await?;
                    if round % 2 == 0 {
                        let mut line = pull(1, 1_800_000_000, 200, 1);
                        line.reference = format!("{r}-{t}-{round}");
                        let mut other = line.clone();
                        other.reference.push_str("-b");
                        store.append(&[line, other]).await?;
                    }
                }
                Ok::<_, StoreError>(())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let reader = &replicas[0];
    let mut expected = digests.clone();
    expected.sort_by_key(|d| d.to_string());
    let mut seen = reader.tag_digests(&api, &v1).await.unwrap();
    seen.sort_by_key(|d| d.to_string());
    assert_eq!(seen, expected);
    assert_eq!(reader.attachments(&api, &subject).await.unwrap(), expected);
    let lines = reader.pulls(LicenseNumber(1), u32::MAX).await.unwrap();
    let total = 2 * TASKS_PER_REPLICA * (ROUNDS / 2) * 2;
    assert_eq!(lines.len(), total);
    let distinct: BTreeSet<_> = lines.iter().map(|l| l.reference.clone()).collect();
    assert_eq!(distinct.len(), total);
    // Each batch of two kept its order (ids follow the batch; concurrent
    // batches may interleave, so only the order is checked, not adjacency).
    let position: std::collections::HashMap<&str, usize> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (l.reference.as_str(), i))
        .collect();
    for line in &lines {
        if let Some(base) = line.reference.strip_suffix("-b") {
            assert!(
                position[line.reference.as_str()] < position[base],
                "newest first: {} must come before {base}",
                line.reference
            );
        }
    }
    let counts = reader.counts().await.unwrap();
    assert_eq!(
        (counts.tag_digests, counts.attachments, counts.pulls),
        (5, 5, total as u64)
    );
}

#[tokio::test]
async fn a_revocation_through_one_replica_is_seen_by_the_other_at_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let one = PostgresStore::connect(&db.url, 2).await.unwrap();
    let two = PostgresStore::connect(&db.url, 2).await.unwrap();
    one.add_app(&app("acme")).await.unwrap();
    one.add_releases(&slug("acme"), &[release("stable", "1.0.0")])
        .await
        .unwrap();
    let n = one
        .create_license(&new_license("acme", &["stable"], 1))
        .await
        .unwrap();
    assert_eq!(
        two.license_by_hash(&hash(1))
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    one.revoke_license(n, at(1_850_000_000)).await.unwrap();
    assert_eq!(
        two.license_by_hash(&hash(1))
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at(1_850_000_000))
    );
    // Revoking again through the other replica keeps the first time.
    assert_eq!(
        two.revoke_license(n, at(1_900_000_000))
            .await
            .unwrap()
            .revoked_at,
        Some(at(1_850_000_000))
    );
}

#[tokio::test]
async fn connection_errors_never_show_the_password() {
    let Some(admin) = common::postgres::admin_url() else {
        return;
    };
    const WRONG: &str = "Wr0ng-Pa55word-Xyz";
    // The right server, a wrong password: the server refuses.
    let start = admin.find("://").unwrap() + 3;
    let at_sign = admin.rfind('@').unwrap();
    let user = admin[start..at_sign].split(':').next().unwrap();
    let wrong = format!("{}{user}:{WRONG}{}", &admin[..start], &admin[at_sign..]);
    let err = PostgresStore::connect(&wrong, 1).await.unwrap_err();
    let text = err.to_string();
    assert!(!text.contains(WRONG), "{text}");
    assert!(text.contains(&format!("{user}:***@")), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    // Nothing listening.
    let closed = format!("postgres://{user}:{WRONG}@127.0.0.1:1/x");
    let text = PostgresStore::connect(&closed, 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(!text.contains(WRONG), "{text}");
    assert!(
        text.starts_with(&format!(
            "state database, connect: postgres://{user}:***@127.0.0.1:1/x: "
        )),
        "{text}"
    );
}

#[test]
fn test_database_urls_keep_server_and_parameters() {
    use common::postgres::with_database;
    assert_eq!(
        with_database("postgres://u:p@127.0.0.1:5432/postgres", "t1"),
        "postgres://u:p@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@h/postgres?sslmode=disable", "t2"),
        "postgres://u:p@h/t2?sslmode=disable"
    );
}
