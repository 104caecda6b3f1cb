//! `vouch audit` in a build without the `audit` feature
//! (`cargo test -p vouch-cli --no-default-features`).

use crate::common;

#[test]
fn audit_without_the_feature_explains_and_is_a_usage_error() {
    let out = common::vouch(["audit", "--policy", "release.toml"]);
    common::assert_fails(&out, 2, "built without the `audit` feature");
}
