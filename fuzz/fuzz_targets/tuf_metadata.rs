//! Fuzzes the TUF metadata vouch-trust accepts from a mirror, an export
//! directory or its cache: `sigstore-tuf`'s parsers and checks as vouch-trust
//! drives them (a root as bootstrap, a root as the next rotation, a
//! timestamp, under the embedded public-good root), and vouch-trust's own
//! parse of the `trusted_root.json` target for `vouch trust show`.
//!
//! Properties: never panics; an arbitrary input is never accepted as a root
//! rotation or a timestamp of the public-good repository (it cannot carry
//! the threshold of signatures), and `summarize` only reports the four kinds
//! of instance; a mirror URL always maps to one plain cache directory name.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use sigstore_tuf::TrustedMetadataSet;

fuzz_target!(|data: &[u8]| {
    let root = sigstore_trust_root::SigstoreInstance::PublicGood.tuf_root();
    let now = jiff::Timestamp::from_second(1_790_000_000).expect("valid time");

    // As a bootstrap root (`--tuf-root FILE`): parse and self-signature check.
    let _ = TrustedMetadataSet::from_root(data);

    // As a next root and as a timestamp under the public-good root.
    let mut trusted = TrustedMetadataSet::from_root(root).expect("embedded root loads");
    assert!(
        trusted.update_root(data).is_err(),
        "forged root rotation accepted"
    );
    assert!(
        trusted.update_timestamp(data, now).is_err(),
        "forged timestamp accepted"
    );

    // A mirror URL as a cache directory name: one plain path component.
    let name = vouch_trust::tuf::mirror_dir_name(&String::from_utf8_lossy(data));
    let mut parts = std::path::Path::new(&name).components();
    assert!(
        matches!(parts.next(), Some(std::path::Component::Normal(_))) && parts.next().is_none(),
        "mirror dir name {name:?} is not one plain component"
    );

    // The target as `vouch trust show` summarizes it.
    for instance in vouch_trust::summary::summarize(data) {
        assert!(matches!(
            instance.kind,
            "certificate-authority" | "transparency-log" | "ct-log" | "timestamp-authority"
        ));
    }
});
