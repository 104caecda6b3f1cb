//! Bundle fields `sigstore-verify` leaves unchecked (issue 13): each edit
//! below verified before vouch checked the field, and is now refused with
//! the variant and field name asserted (not a message fragment).

mod common;

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use vouch_verify::*;

const ID: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

use common::ConformanceCase as Case;

fn case(name: &str) -> Option<Case> {
    Case::named(name)
}

impl Case {
    /// The case's verification under its own identity and issuer files.
    fn verify(&self, bundle: &Value) -> Result<VerifiedSignature, VerifyError> {
        let text = |name: &str, default: &str| {
            fs::read_to_string(self.dir.join(name))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| default.to_string())
        };
        let policy = SignerPolicy::keyless(IdentityPolicy::new(
            ValueMatcher::Exact(text("identity", ID)),
            ValueMatcher::Exact(text("issuer", ISSUER)),
        ));
        self.verify_with(bundle, &policy)
    }
    /// Asserts the unedited case verifies and `edit` of it is refused as an
    /// inconsistent log entry naming `field`.
    fn refuses_log_entry_edit(&self, field: &str, edit: impl FnOnce(&mut Value)) {
        let mut json = self.json();
        self.verify(&json).expect("the unedited case verifies");
        edit(&mut json);
        match self.verify(&json) {
            Err(VerifyError::InconsistentLogEntry { field: f, .. }) if f == field => {}
            other => panic!(
                "{}: expected InconsistentLogEntry on `{field}`, got {other:?}",
                self.dir.display()
            ),
        }
    }
    fn refuses_timestamp_edit(&self, field: &str, edit: impl FnOnce(&mut Value)) {
        let mut json = self.json();
        self.verify(&json).expect("the unedited case verifies");
        edit(&mut json);
        match self.verify(&json) {
            Err(VerifyError::InconsistentTimestamp { field: f, .. }) if f == field => {}
            other => panic!(
                "{}: expected InconsistentTimestamp on `{field}`, got {other:?}",
                self.dir.display()
            ),
        }
    }
}

fn entry(json: &mut Value) -> &mut Value {
    &mut json["verificationMaterial"]["tlogEntries"][0]
}

fn increment(value: &mut Value) {
    let n: u64 = value.as_str().unwrap().parse().unwrap();
    *value = Value::String((n + 1).to_string());
}

fn flip_base64(value: &mut Value, at: usize) {
    let mut bytes = STANDARD.decode(value.as_str().unwrap()).unwrap();
    bytes[at] ^= 1;
    *value = Value::String(STANDARD.encode(bytes));
}

#[test]
fn rekor_v2_proof_log_index_other_than_the_entry_index_is_refused() {
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    c.refuses_log_entry_edit("inclusionProof.logIndex", |j| {
        increment(&mut entry(j)["inclusionProof"]["logIndex"])
    });
}

#[test]
fn rekor_v2_proof_root_hash_other_than_the_checkpoint_root_is_refused() {
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    c.refuses_log_entry_edit("inclusionProof.rootHash", |j| {
        flip_base64(&mut entry(j)["inclusionProof"]["rootHash"], 0)
    });
}

#[test]
fn proof_tree_size_other_than_the_checkpoint_size_is_refused() {
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    c.refuses_log_entry_edit("inclusionProof.treeSize", |j| {
        increment(&mut entry(j)["inclusionProof"]["treeSize"])
    });
}

#[test]
fn rekor_v1_proof_tree_size_other_than_the_checkpoint_size_is_refused() {
    // Rekor v1 verifies the Merkle path with the proof's own tree size; for
    // this index, size + 1 gives the same path, so only the comparison with
    // the signed checkpoint catches it.
    let Some(f) = common::fixtures() else { return };
    let root = TrustedMaterial::from_json(&read(&f, "trust/production-trusted_root.json")).unwrap();
    let tarball = read(&f, "gh-cli/sigstore-js-2.1.0.tgz");
    let mut json: Value =
        serde_json::from_slice(&read(&f, "gh-cli/sigstore-js-2.1.0-bundle.json")).unwrap();
    increment(&mut entry(&mut json)["inclusionProof"]["treeSize"]);
    let bundle = SigstoreBundle::from_json(json.to_string().as_bytes()).unwrap();
    let err = verify_bundle(
        &root,
        &bundle,
        ArtifactInput::Bytes(&tarball),
        &SignerPolicy::InsecureAnyIdentity,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::InconsistentLogEntry {
                field: "inclusionProof.treeSize",
                ..
            }
        ),
        "{err:?}"
    );
}

fn read(f: &Path, name: &str) -> Vec<u8> {
    fs::read(f.join(name)).unwrap()
}

#[test]
fn log_id_naming_no_log_of_the_trusted_root_is_refused() {
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    c.refuses_log_entry_edit("logId.keyId", |j| {
        flip_base64(&mut entry(j)["logId"]["keyId"], 31)
    });
}

#[test]
fn checkpoint_not_signed_by_the_log_the_entry_names_is_refused() {
    // The trusted root lists four logs; the entry is in log2025-alpha3. Name
    // log2025-alpha1 instead: the checkpoint is still validly signed by a
    // trusted log (alpha3), but not by the one the entry names.
    let Some(c) = case("rekor2-dsse-happy-path") else {
        return;
    };
    let root: Value =
        serde_json::from_slice(&fs::read(c.dir.join("trusted_root.json")).unwrap()).unwrap();
    let alpha1 = root["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["baseUrl"] == "https://log2025-alpha1.rekor.sigstage.dev")
        .unwrap()["logId"]["keyId"]
        .clone();
    c.refuses_log_entry_edit("inclusionProof.checkpoint.envelope", |j| {
        entry(j)["logId"]["keyId"] = alpha1
    });
}

#[test]
fn checkpoint_signer_name_other_than_the_origin_is_refused() {
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    c.refuses_log_entry_edit("inclusionProof.checkpoint.envelope (signer name)", |j| {
        let cp = &mut entry(j)["inclusionProof"]["checkpoint"]["envelope"];
        let text = cp.as_str().unwrap().replace(
            "\u{2014} log2025-alpha1.rekor.sigstage.dev ",
            "\u{2014} log2025-evil.rekor.sigstage.dev ",
        );
        *cp = Value::String(text);
    });
}

#[test]
fn rekor_v2_entry_with_an_integrated_time_is_refused() {
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    c.refuses_log_entry_edit("integratedTime", |j| {
        entry(j)["integratedTime"] = Value::String("1749729740".into())
    });
}

#[test]
fn timestamp_embedding_a_certificate_not_in_the_trusted_root_is_refused() {
    // Byte 343 lies in the issuer name of the embedded TSA certificate,
    // which sigstore-tsa never reads.
    let Some(c) = case("rekor2-happy-path") else {
        return;
    };
    c.refuses_timestamp_edit("SignedData.certificates", |j| {
        flip_base64(
            &mut j["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
                ["signedTimestamp"],
            343,
        )
    });
}

#[test]
fn timestamp_digest_algorithm_list_not_naming_the_signers_is_refused() {
    // Byte 49 is the last byte of the sha256 OID in SignedData.digestAlgorithms.
    let Some(c) = case("intoto-with-custom-trust-root") else {
        return;
    };
    c.refuses_timestamp_edit("SignedData.digestAlgorithms", |j| {
        flip_base64(
            &mut j["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
                ["signedTimestamp"],
            49,
        )
    });
}

#[test]
fn altered_intermediate_in_a_v01_chain_is_refused() {
    // The trusted root's CA certificates are all trust anchors, so the leaf
    // chains without the bundle's intermediate: an altered copy went unseen.
    let Some(c) = case("happy-path-v0.1") else {
        return;
    };
    let root: Value = serde_json::from_slice(
        &fs::read(
            c.cases
                .join("../../../../trust/production-trusted_root.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut intermediate = root["certificateAuthorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ca| &ca["certChain"]["certificates"])
        .find(|chain| chain.as_array().unwrap().len() > 1)
        .unwrap()[0]
        .clone();
    let mut json = c.json();
    let chain = |j: &mut Value| {
        j["verificationMaterial"]["x509CertificateChain"]["certificates"]
            .as_array_mut()
            .unwrap()
            .clone()
    };
    let mut with_it = chain(&mut json);
    with_it.push(intermediate.clone());
    json["verificationMaterial"]["x509CertificateChain"]["certificates"] = Value::Array(with_it);
    c.verify(&json).expect("the genuine intermediate verifies");
    flip_base64(&mut intermediate["rawBytes"], 20);
    let mut altered = c.json();
    let mut certs = chain(&mut altered);
    certs.push(intermediate);
    altered["verificationMaterial"]["x509CertificateChain"]["certificates"] = Value::Array(certs);
    let err = c.verify(&altered).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::InconsistentCertificateChain { certificate: 1, .. }
        ),
        "{err:?}"
    );
}
