//! What `vouch` says about itself: `version` (with the embedded trusted
//! root's date), `--version`, `completion` and `man` (issue 16, item 11).

use std::path::Path;

#[test]
fn vouch_describes_itself() {
    let doc = vouch_testkit::check_self_description(
        Path::new(env!("CARGO_BIN_EXE_vouch")),
        "vouch",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "verify-release",
        3,
    );
    assert_eq!(
        doc["embeddedTrustedRootDate"],
        vouch_trust::EMBEDDED_ROOT_DATE,
        "{doc}"
    );
    // The text form says the same, one field a line; `-o json` is `--json`.
    let text = crate::common::vouch(["version"]);
    let text = String::from_utf8_lossy(&text.stdout);
    let root_line = format!("embedded trusted root: {}", vouch_trust::EMBEDDED_ROOT_DATE);
    assert!(text.contains(&root_line), "{text}");
    let json = crate::common::vouch(["version", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json, doc);
}
