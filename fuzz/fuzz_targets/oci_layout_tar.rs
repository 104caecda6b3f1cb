//! Fuzzes `vouch_oci::unpack_layout_from`, which unpacks a saved release's
//! `.tar` (untrusted: carried across an air gap) into a fresh directory.
//!
//! Properties: never panics; whatever it accepts or refuses, nothing is
//! written outside the target directory, and everything inside it is a
//! regular file or directory at a layout path (`oci-layout`, `index.json`,
//! `blobs/...`).
#![no_main]
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;

static RUN: AtomicU64 = AtomicU64::new(0);

fn check_tree(dir: &Path, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let meta = std::fs::symlink_metadata(entry.path()).expect("metadata");
        assert!(meta.is_file() || meta.is_dir(), "{:?}", entry.path());
        let name = entry.file_name().into_string().expect("a UTF-8 name");
        if depth == 0 {
            assert!(
                ["oci-layout", "index.json", "blobs"].contains(&name.as_str()),
                "{name}"
            );
        }
        assert!(depth <= 2, "{:?}", entry.path());
        if meta.is_dir() {
            check_tree(&entry.path(), depth + 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!(
        "vouch-fuzz-tar-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let target = base.join("layout");
    std::fs::create_dir_all(&base).expect("base dir");
    let _ = vouch_oci::unpack_layout_from(data, Path::new("fuzz.tar"), &target);
    // Only the target directory was made in `base`.
    for entry in std::fs::read_dir(&base).expect("base").flatten() {
        assert_eq!(entry.file_name(), "layout");
    }
    check_tree(&target, 0);
    let _ = std::fs::remove_dir_all(&base);
});
