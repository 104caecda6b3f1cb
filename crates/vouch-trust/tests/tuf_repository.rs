//! vouch-trust's TUF client against real TUF repositories written by
//! python-tuf and served on 127.0.0.1: refresh only when due, the offline
//! modes, air-gap export/import, and one test per attack the client must
//! refuse (rollback of timestamp, snapshot and targets; freeze; mix-and-match;
//! a skipped root version; a threshold met by a duplicated signature or by
//! one key under two IDs; oversized metadata; a wrong or unusable target). After every refusal the cache must be exactly as before: a
//! refused update never leaves unverified (or partial) data behind.
//!
//! Needs python-tuf (scripts/ensure-python-tuf.sh installs it in a venv);
//! without it the tests print SKIP, except under CI=true where they fail.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use vouch_testkit::tuf::{StaticMirror, TufRepos, copy_dir, snapshot_dir};
use vouch_trust::tuf::{export, import};
use vouch_trust::{
    Network, Provenance, Timeouts, TrustError, TrustSource, TufInstance, TufOptions,
};

const DAY: Duration = Duration::from_secs(86_400);

/// The repositories, generated once per test binary.
fn repos() -> Option<&'static TufRepos> {
    static REPOS: OnceLock<Option<TufRepos>> = OnceLock::new();
    REPOS
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("tuf-repos-{}", std::process::id()));
            TufRepos::generate(
                &dir,
                sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes(),
            )
        })
        .as_ref()
}

/// A test's mirror (serving `repo`) and options with a fresh cache.
struct Setup {
    repos: &'static TufRepos,
    mirror: StaticMirror,
    opts: TufOptions,
    scratch: PathBuf,
}

fn setup(name: &str, repo: &str) -> Option<Setup> {
    let repos = repos()?;
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tuf-{name}"));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let mirror = StaticMirror::serve(&repos.repo(repo));
    let opts = TufOptions::new(
        TufInstance::Custom {
            mirror: mirror.url(),
            root_file: Some(repos.bootstrap_root()),
        },
        scratch.join("cache"),
    );
    Some(Setup {
        repos,
        mirror,
        opts,
        scratch,
    })
}

fn load(opts: &TufOptions, now: SystemTime) -> Result<vouch_trust::LoadedTrust, TrustError> {
    TrustSource::Tuf(opts.clone()).load(now)
}

fn tuf_status(trust: &vouch_trust::LoadedTrust) -> &vouch_trust::TufStatus {
    match &trust.provenance {
        Provenance::Tuf(s) => s,
        other => panic!("expected TUF provenance, got {other:?}"),
    }
}

/// Loads at `now`, expects a refusal whose text contains `expected`, and
/// checks that the cache is byte for byte what it was before.
fn assert_refused(opts: &TufOptions, now: SystemTime, expected: &str) -> TrustError {
    let before = snapshot_dir(&opts.cache_dir());
    let err = load(opts, now).expect_err("the update must be refused");
    let text = err.to_string();
    assert!(text.contains(expected), "expected `{expected}` in: {text}");
    assert_eq!(
        snapshot_dir(&opts.cache_dir()),
        before,
        "a refused update changed the cache"
    );
    err
}

#[test]
fn refreshes_an_empty_cache_then_uses_it_without_network() {
    let Some(s) = setup("refresh-empty", "v1") else {
        return;
    };
    let now = SystemTime::now();
    let first = load(&s.opts, now).unwrap();
    let status = tuf_status(&first);
    assert!(status.refreshed_now);
    assert_eq!((status.root_version, status.timestamp_version), (1, 1));
    let used = s.mirror.requests();
    assert!(
        used >= 4,
        "root, timestamp, snapshot, targets, target: {used}"
    );
    let cache = s.opts.cache_dir();
    for file in [
        "timestamp.json",
        "snapshot.json",
        "targets.json",
        "root.json",
        "targets/trusted_root.json",
        "vouch-state.json",
    ] {
        assert!(cache.join(file).is_file(), "{file} missing from the cache");
    }

    let second = load(&s.opts, now + DAY).unwrap();
    assert!(!tuf_status(&second).refreshed_now);
    assert_eq!(
        s.mirror.requests(),
        used,
        "a valid cache must not go online"
    );
}

#[test]
fn refreshes_when_the_cached_timestamp_expired() {
    let Some(s) = setup("refresh-due", "v1") else {
        return;
    };
    let now = SystemTime::now();
    load(&s.opts, now).unwrap();
    s.mirror.set_root(&s.repos.repo("v3"));
    // v1's timestamp expires after 7 days: at day 8 a refresh is due.
    let later = load(&s.opts, now + 8 * DAY).unwrap();
    let status = tuf_status(&later);
    assert!(status.refreshed_now);
    assert_eq!(status.timestamp_version, 3);
}

#[test]
fn refresh_now_goes_online_although_the_cache_is_current() {
    let Some(mut s) = setup("refresh-now", "v1") else {
        return;
    };
    let now = SystemTime::now();
    load(&s.opts, now).unwrap();
    s.mirror.set_root(&s.repos.repo("v3"));
    // The cache is valid: a due-only load does not see v3.
    let cached = load(&s.opts, now + DAY).unwrap();
    assert_eq!(tuf_status(&cached).timestamp_version, 1);
    assert!(!tuf_status(&cached).refreshed_now);
    s.opts.network = Network::RefreshNow;
    let forced = load(&s.opts, now + DAY).unwrap();
    let status = tuf_status(&forced);
    assert!(status.refreshed_now);
    assert_eq!(status.timestamp_version, 3);
    // And it was cached: offline now sees v3.
    s.opts.network = Network::Offline;
    assert_eq!(
        tuf_status(&load(&s.opts, now + DAY).unwrap()).timestamp_version,
        3
    );
}

#[test]
fn refresh_now_still_refuses_a_rollback_below_the_cache() {
    let Some(mut s) = setup("refresh-now-rollback", "v2") else {
        return;
    };
    let now = SystemTime::now();
    load(&s.opts, now).unwrap();
    // The mirror goes back to v1: a forced refresh starts from the cached
    // v2 and must refuse, leaving the cache as it was.
    s.mirror.set_root(&s.repos.repo("v1"));
    s.opts.network = Network::RefreshNow;
    let err = assert_refused(
        &s.opts,
        now,
        "rollback detected for timestamp: trusted version 2 > new version 1",
    );
    assert!(err.is_refusal());
}

#[test]
fn rejects_timestamp_rollback() {
    let Some(s) = setup("rollback", "v2") else {
        return;
    };
    let now = SystemTime::now();
    load(&s.opts, now).unwrap();
    // v2's timestamp expires after a day; the mirror now serves v1's, which
    // is validly signed and unexpired but older.
    s.mirror.set_root(&s.repos.repo("v1"));
    let err = assert_refused(
        &s.opts,
        now + 2 * DAY,
        "rollback detected for timestamp: trusted version 2 > new version 1",
    );
    assert!(err.is_refusal());
}

#[test]
fn rejects_expired_timestamp_freeze() {
    let Some(s) = setup("freeze-ts", "frozen-timestamp") else {
        return;
    };
    assert_refused(&s.opts, SystemTime::now(), "timestamp metadata expired at");
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn rejects_expired_snapshot_freeze() {
    let Some(s) = setup("freeze-snap", "frozen-snapshot") else {
        return;
    };
    assert_refused(&s.opts, SystemTime::now(), "snapshot metadata expired at");
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn rejects_snapshot_from_another_version() {
    let Some(s) = setup("mix-snap", "mix-snapshot") else {
        return;
    };
    assert_refused(
        &s.opts,
        SystemTime::now(),
        "integrity check failed: snapshot.json",
    );
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn rejects_targets_from_another_version() {
    let Some(s) = setup("mix-targets", "mix-targets") else {
        return;
    };
    assert_refused(
        &s.opts,
        SystemTime::now(),
        "targets.json version 1 does not match snapshot pin 2",
    );
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn accepts_a_root_rotation_signed_by_old_and_new_keys() {
    let Some(s) = setup("rotation", "rotated") else {
        return;
    };
    let trust = load(&s.opts, SystemTime::now()).unwrap();
    assert_eq!(tuf_status(&trust).root_version, 2);
    assert!(
        s.opts
            .cache_dir()
            .join("root_history/2.root.json")
            .is_file()
    );
}

#[test]
fn rejects_root_rotation_that_skips_a_version() {
    let Some(s) = setup("skip", "skip") else {
        return;
    };
    assert_refused(
        &s.opts,
        SystemTime::now(),
        "root version must increment by one: trusted 1, got 3",
    );
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn rejects_threshold_met_only_by_a_duplicated_key_id() {
    let Some(mut s) = setup("dup", "dup") else {
        return;
    };
    s.opts.instance = TufInstance::Custom {
        mirror: s.mirror.url(),
        root_file: Some(s.repos.repo("dup").join("root.json")),
    };
    assert_refused(&s.opts, SystemTime::now(), "duplicate signature key id");
    let text = load(&s.opts, SystemTime::now()).unwrap_err().to_string();
    assert!(text.contains("for role timestamp"), "{text}");
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn rejects_threshold_met_only_by_one_key_listed_under_two_key_ids() {
    let Some(mut s) = setup("dup-key", "dup-key") else {
        return;
    };
    s.opts.instance = TufInstance::Custom {
        mirror: s.mirror.url(),
        root_file: Some(s.repos.repo("dup-key").join("root.json")),
    };
    assert_refused(
        &s.opts,
        SystemTime::now(),
        "role timestamp lists one key under two key IDs",
    );
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn rejects_oversized_timestamp_metadata() {
    let Some(s) = setup("oversized", "v1") else {
        return;
    };
    let served = s.scratch.join("served");
    copy_dir(&s.repos.repo("v1"), &served);
    let limit = vouch_trust::MAX_TIMESTAMP_METADATA_SIZE as usize;
    std::fs::write(served.join("timestamp.json"), vec![b' '; limit + 1]).unwrap();
    s.mirror.set_root(&served);
    assert_refused(&s.opts, SystemTime::now(), &format!("exceeds max {limit}"));
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn rejects_a_trusted_root_target_whose_hash_does_not_match() {
    let Some(s) = setup("bad-target", "bad-target") else {
        return;
    };
    assert_refused(
        &s.opts,
        SystemTime::now(),
        "integrity check failed: trusted_root.json",
    );
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn a_mirror_that_never_answers_times_out_as_a_network_failure() {
    let Some(mut s) = setup("hang", "v1") else {
        return;
    };
    // Accepts connections (kernel backlog) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    s.opts.instance = TufInstance::Custom {
        mirror: url,
        root_file: Some(s.repos.bootstrap_root()),
    };
    s.opts.timeouts = Timeouts {
        connect: Duration::from_millis(500),
        read: Duration::from_millis(500),
        request: Duration::from_secs(1),
        refresh: Duration::from_secs(3),
    };
    let start = Instant::now();
    let err = load(&s.opts, SystemTime::now()).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    // The CLI adds the offline advice to a network failure (vouch-cli
    // failure.rs); the library says what happened.
    assert!(matches!(err, TrustError::Network { .. }), "{err}");
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn offline_uses_an_expired_cache_and_says_it_is_stale() {
    let Some(mut s) = setup("offline-stale", "v2") else {
        return;
    };
    let now = SystemTime::now();
    load(&s.opts, now).unwrap();
    let used = s.mirror.requests();
    s.opts.network = Network::Offline;
    let trust = load(&s.opts, now + 3 * DAY).unwrap();
    let status = tuf_status(&trust);
    assert!(status.is_stale(), "an expired timestamp must be reported");
    let expired = status.expired.as_ref().expect("which role expired");
    assert_eq!(expired.role, "timestamp");
    assert_eq!(expired.expires, status.timestamp_expires);
    assert!(status.verified_at.is_some());
    assert_eq!(
        s.mirror.requests(),
        used,
        "offline must not touch the network"
    );
}

#[test]
fn offline_refuses_a_tampered_cache() {
    let Some(mut s) = setup("offline-tampered", "v1") else {
        return;
    };
    load(&s.opts, SystemTime::now()).unwrap();
    let ts = s.opts.cache_dir().join("timestamp.json");
    let text = std::fs::read_to_string(&ts).unwrap();
    std::fs::write(&ts, text.replacen("\"version\":1", "\"version\":9", 1)).unwrap();
    s.opts.network = Network::Offline;
    let err = load(&s.opts, SystemTime::now()).unwrap_err().to_string();
    assert!(
        err.contains("offline verification of the TUF cache"),
        "{err}"
    );
    assert!(
        err.contains("signature threshold not met for role timestamp"),
        "{err}"
    );
}

#[test]
fn an_unusable_trusted_root_target_is_refused_before_it_is_cached() {
    let Some(s) = setup("unusable-target", "unusable-target") else {
        return;
    };
    // TUF-valid (signed, pinned, hash matches), but not a trusted root.
    assert_refused(&s.opts, SystemTime::now(), "not JSON");
    assert!(!s.opts.cache_dir().exists(), "nothing may be cached");
    // So a fixed mirror is used at once, not after the timestamp expires.
    s.mirror.set_root(&s.repos.repo("v1"));
    let trust = load(&s.opts, SystemTime::now()).unwrap();
    assert!(tuf_status(&trust).refreshed_now);
}

#[test]
fn export_never_turns_a_hash_value_into_a_path() {
    let Some(s) = setup("odd-hash", "odd-hash") else {
        return;
    };
    let out = s.scratch.join("exp").join("a").join("b");
    export(&s.opts, &out, SystemTime::now()).unwrap();
    let mut names = Vec::new();
    let mut stack = vec![s.scratch.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            names.push(path.display().to_string());
        }
    }
    assert!(
        !names.iter().any(|n| n.contains("ESCAPED")),
        "a hash value became a file name: {names:#?}"
    );
    let targets: Vec<_> = std::fs::read_dir(out.join("tuf/targets"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        targets.len(),
        2,
        "the plain name and the sha256 one: {targets:?}"
    );
}

#[test]
fn export_of_expired_metadata_is_refused() {
    let Some(s) = setup("stale-export", "v1") else {
        return;
    };
    let now = SystemTime::now();
    load(&s.opts, now).unwrap();
    let mut offline = s.opts.clone();
    offline.network = Network::Offline;
    let out = s.scratch.join("export");
    // v1's timestamp expires after 7 days.
    let err = export(&offline, &out, now + 8 * DAY).unwrap_err();
    assert!(matches!(err, TrustError::StaleExport { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("could not be imported") && text.contains("Refresh online"),
        "{text}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn export_then_import_into_an_empty_cache_works_offline() {
    let Some(s) = setup("export-import", "v1") else {
        return;
    };
    let now = SystemTime::now();
    let out = s.scratch.join("export");
    export(&s.opts, &out, now).unwrap();
    for file in [
        "trusted_root.json",
        "vouch-export.json",
        "tuf/1.root.json",
        "tuf/timestamp.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing from the export");
    }
    // The air-gapped machine: another cache, no mirror.
    let mut gapped = s.opts.clone();
    gapped.cache_root = s.scratch.join("gapped-cache");
    gapped.network = Network::Offline;
    let status = import(&gapped, &out, now).unwrap();
    assert_eq!(status.timestamp_version, 1);
    let used = s.mirror.requests();
    let trust = load(&gapped, now).unwrap();
    assert!(!tuf_status(&trust).is_stale());
    assert_eq!(s.mirror.requests(), used);
    assert_eq!(
        trust.trusted_root_json,
        sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes()
    );
}

#[test]
fn import_refuses_tampered_metadata_and_leaves_no_cache() {
    let Some(s) = setup("import-tampered", "v1") else {
        return;
    };
    let now = SystemTime::now();
    let out = s.scratch.join("export");
    export(&s.opts, &out, now).unwrap();
    let target = out.join("tuf/targets/trusted_root.json");
    std::fs::write(&target, b"{}").unwrap();
    for entry in std::fs::read_dir(out.join("tuf/targets"))
        .unwrap()
        .flatten()
    {
        std::fs::write(entry.path(), b"{}").unwrap();
    }
    let mut gapped = s.opts.clone();
    gapped.cache_root = s.scratch.join("gapped-cache");
    let err = import(&gapped, &out, now).unwrap_err().to_string();
    assert!(err.contains("import of"), "{err}");
    assert!(
        err.contains("integrity check failed: trusted_root.json"),
        "{err}"
    );
    assert!(!gapped.cache_dir().exists(), "nothing installed");
}

#[test]
fn import_refuses_to_roll_back_a_newer_cache() {
    let Some(s) = setup("import-rollback", "v1") else {
        return;
    };
    let now = SystemTime::now();
    let old = s.scratch.join("export-v1");
    export(&s.opts, &old, now).unwrap();
    // The cache moves on to v3 (v1's timestamp expired at day 8).
    s.mirror.set_root(&s.repos.repo("v3"));
    load(&s.opts, now + 8 * DAY).unwrap();
    let before = snapshot_dir(&s.opts.cache_dir());
    let err = import(&s.opts, &old, now).unwrap_err().to_string();
    assert!(
        err.contains("rollback detected for timestamp: trusted version 3 > new version 1"),
        "{err}"
    );
    assert_eq!(snapshot_dir(&s.opts.cache_dir()), before);
}

#[test]
fn import_refuses_an_expired_export_and_one_from_another_mirror() {
    let Some(s) = setup("import-refusals", "v1") else {
        return;
    };
    let now = SystemTime::now();
    let out = s.scratch.join("export");
    export(&s.opts, &out, now).unwrap();

    // v1's timestamp expires after 7 days: too late to import.
    let mut gapped = s.opts.clone();
    gapped.cache_root = s.scratch.join("gapped");
    gapped.network = Network::Offline;
    let err = import(&gapped, &out, now + 8 * DAY).unwrap_err();
    assert!(err.is_refusal(), "{err}");
    assert!(
        err.to_string().contains("timestamp metadata expired at"),
        "{err}"
    );
    assert!(
        snapshot_dir(&gapped.cache_dir()).is_empty(),
        "nothing installed"
    );

    // An export names its mirror; importing it as another one is refused.
    let mut other = gapped.clone();
    other.instance = TufInstance::Custom {
        mirror: "http://127.0.0.1:9/other".into(),
        root_file: Some(s.repos.bootstrap_root()),
    };
    let err = import(&other, &out, now).unwrap_err();
    assert!(
        matches!(&err, TrustError::MirrorMismatch { found, .. } if *found == s.mirror.url()),
        "{err}"
    );
    assert!(
        snapshot_dir(&other.cache_dir()).is_empty(),
        "nothing installed"
    );
}

#[test]
fn export_with_nothing_but_the_embedded_root_is_refused() {
    let Some(s) = setup("nothing-to-export", "v1") else {
        return;
    };
    let mut opts = TufOptions::new(TufInstance::PublicGood, s.scratch.join("empty-cache"));
    opts.network = Network::Offline;
    let out = s.scratch.join("export");
    let err = export(&opts, &out, SystemTime::now()).unwrap_err();
    assert!(matches!(err, TrustError::NothingToExport { .. }), "{err}");
    assert!(err.to_string().contains("run once online first"), "{err}");
    assert!(!out.exists());
}

#[test]
fn export_replaces_an_earlier_export_but_never_a_directory_of_the_users() {
    let Some(s) = setup("export-target", "v1") else {
        return;
    };
    let now = SystemTime::now();
    let out = s.scratch.join("export");
    export(&s.opts, &out, now).unwrap();
    // A stray file from some older export layout would be misleading.
    std::fs::write(out.join("tuf/99.root.json"), b"stale").unwrap();
    export(&s.opts, &out, now).unwrap();
    assert!(
        !out.join("tuf/99.root.json").exists(),
        "an earlier export is replaced whole"
    );
    assert!(out.join("vouch-export.json").is_file());

    let mine = s.scratch.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), b"keep").unwrap();
    let err = export(&s.opts, &mine, now).unwrap_err().to_string();
    assert!(
        err.contains("exists and is not an earlier vouch export (it holds notes.txt)"),
        "{err}"
    );
    assert_eq!(std::fs::read(mine.join("notes.txt")).unwrap(), b"keep");
    let siblings: Vec<_> = std::fs::read_dir(&s.scratch)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        siblings.is_empty(),
        "temporary directories left: {siblings:?}"
    );

    // Through a symlink (say ~/usb -> /media/stick/trust): the export lands
    // in the real directory and the link stays a link.
    #[cfg(unix)]
    {
        let stick = s.scratch.join("stick");
        std::fs::create_dir_all(&stick).unwrap();
        let link = s.scratch.join("usb");
        std::os::unix::fs::symlink(&stick, &link).unwrap();
        export(&s.opts, &link, now).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert!(stick.join("vouch-export.json").is_file());
        assert!(stick.join("tuf/timestamp.json").is_file());
        let hidden: Vec<_> = std::fs::read_dir(&stick)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "work directory left: {hidden:?}");
    }
}

#[test]
fn rejects_an_oversized_root_rotation() {
    let Some(s) = setup("oversized-root", "v1") else {
        return;
    };
    let served = s.scratch.join("served");
    copy_dir(&s.repos.repo("v1"), &served);
    let limit = vouch_trust::MAX_ROOT_METADATA_SIZE as usize;
    std::fs::write(served.join("2.root.json"), vec![b' '; limit + 1]).unwrap();
    s.mirror.set_root(&served);
    assert_refused(&s.opts, SystemTime::now(), &format!("exceeds max {limit}"));
    assert!(!s.opts.cache_dir().exists());
}

#[test]
fn an_expired_cache_with_the_mirror_gone_is_a_network_failure_and_offline_works() {
    let Some(s) = setup("expired-mirror-gone", "v2") else {
        return;
    };
    let now = SystemTime::now();
    load(&s.opts, now).unwrap();
    // The mirror now serves nothing (as behind a proxy that answers 404).
    let empty = s.scratch.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    s.mirror.set_root(&empty);
    // v2's timestamp expired after a day: a refresh is due and fails.
    let err = assert_refused(&s.opts, now + 2 * DAY, "cannot reach the TUF mirror");
    assert!(
        matches!(&err, TrustError::Network { detail, .. } if detail.contains("timestamp.json not found")),
        "{err}"
    );
    // And --offline then works from the expired cache, saying so.
    let mut offline = s.opts.clone();
    offline.network = Network::Offline;
    let trust = load(&offline, now + 2 * DAY).unwrap();
    assert!(tuf_status(&trust).is_stale());
}

/// Loads v2 (snapshot and targets version 2) into the cache, then, once
/// its timestamp expired, offers `repo`; the refresh must be refused.
fn assert_rollback_refused(name: &str, repo: &str, expected: &str) {
    let Some(s) = setup(name, "v2") else {
        return;
    };
    let now = SystemTime::now();
    load(&s.opts, now).unwrap();
    s.mirror.set_root(&s.repos.repo(repo));
    let err = assert_refused(&s.opts, now + 2 * DAY, expected);
    assert!(err.is_refusal(), "{err}");
}

#[test]
fn rejects_snapshot_rollback() {
    assert_rollback_refused(
        "snapshot-rollback",
        "snapshot-rollback",
        "rollback detected for snapshot (via timestamp): trusted version 2 > new version 1",
    );
}

#[test]
fn rejects_targets_rollback() {
    assert_rollback_refused(
        "targets-rollback",
        "targets-rollback",
        "rollback detected for targets.json (via snapshot): trusted version 2 > new version 1",
    );
}

#[test]
fn concurrent_first_loads_into_one_cache_all_succeed_and_leave_no_debris() {
    let Some(s) = setup("concurrent", "v1") else {
        return;
    };
    let now = SystemTime::now();
    for round in 0..10 {
        // A cold cache each round, eight loads released at once: they all
        // refresh and commit at the same time.
        let mut opts = s.opts.clone();
        opts.cache_root = s.scratch.join(format!("round-{round}"));
        let start = std::sync::Barrier::new(8);
        std::thread::scope(|scope| {
            let loads: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        load(&opts, now)
                    })
                })
                .collect();
            for handle in loads {
                let trust = handle
                    .join()
                    .unwrap()
                    .expect("every concurrent load verifies");
                assert_eq!(
                    trust.trusted_root_json,
                    sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes()
                );
            }
        });
        let debris: Vec<_> = std::fs::read_dir(&opts.cache_root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(debris.is_empty(), "round {round} left behind: {debris:?}");
        // The cache verifies offline afterwards.
        let mut offline = opts.clone();
        offline.network = Network::Offline;
        assert!(!tuf_status(&load(&offline, now).unwrap()).is_stale());
    }
}

/// `verify_export` proves an export's trusted root from the bootstrap root
/// alone, as of the export's time, reading and writing no cache; a changed
/// target or an export for another mirror is refused.
#[test]
fn an_export_is_verified_from_the_bootstrap_root_alone_as_of_its_time() {
    let Some(s) = setup("verify-export", "v1") else {
        return;
    };
    let out = s.scratch.join("export");
    export(&s.opts, &out, SystemTime::now()).unwrap();
    let mut far = s.opts.clone();
    far.cache_root = s.scratch.join("far-cache");
    far.network = Network::Offline;
    let (trusted_root, at) = vouch_trust::tuf::verify_export(&far, &out).unwrap();
    assert_eq!(
        trusted_root,
        sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes()
    );
    assert!(at <= jiff::Timestamp::now());
    assert!(!far.cache_root.exists(), "nothing is cached");
    assert_eq!(
        vouch_trust::tuf::export_mirror(&out).unwrap().as_deref(),
        Some(s.opts.instance.mirror())
    );

    let tampered = s.scratch.join("tampered");
    copy_dir(&out, &tampered);
    for entry in std::fs::read_dir(tampered.join("tuf/targets"))
        .unwrap()
        .flatten()
    {
        std::fs::write(entry.path(), b"{}").unwrap();
    }
    assert!(matches!(
        vouch_trust::tuf::verify_export(&far, &tampered),
        Err(TrustError::Tuf { .. })
    ));
    let mut other = far.clone();
    other.instance = TufInstance::Custom {
        mirror: "http://127.0.0.1:1/other".into(),
        root_file: Some(s.repos.bootstrap_root()),
    };
    assert!(matches!(
        vouch_trust::tuf::verify_export(&other, &out),
        Err(TrustError::MirrorMismatch { .. })
    ));
}
