//! The testkit's material has the exact shape real Sigstore services
//! produce: Fulcio's certificate profile and extension encodings, Rekor's
//! canonicalized bodies, cosign's annotations and Rekor bundle, Rekor v1
//! checkpoints. These are the details a verifier re-derives byte for byte.

mod common;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{NOW, RELEASE_SAN, pem_to_der, release_workflow, sha256_hex};
use serde_json::Value;
use std::sync::LazyLock;
use vouch_testkit::{
    DsseEntryKind, GITHUB_ACTIONS_ISSUER, INACTIVE_SHARDS_SIZE, IssuerClaim, LEAF_LIFETIME_SECS,
    SIMPLE_SIGNING_MEDIA_TYPE, SignOptions, VirtualSigstore, in_toto_statement,
};
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::der::{Decode, Encode};

static PROD: LazyLock<VirtualSigstore> = LazyLock::new(|| VirtualSigstore::new("prod", NOW));

fn fulcio(arc: u32) -> ObjectIdentifier {
    ObjectIdentifier::new(&format!("1.3.6.1.4.1.57264.1.{arc}")).expect("OID")
}

fn extension_value<'a>(cert: &'a Certificate, oid: &ObjectIdentifier) -> Option<&'a [u8]> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| &e.extn_id == oid)
        .map(|e| e.extn_value.as_bytes())
}

fn utf8_extension(cert: &Certificate, arc: u32) -> String {
    let raw = extension_value(cert, &fulcio(arc)).expect("extension present");
    Utf8StringRef::from_der(raw)
        .expect("DER UTF8String")
        .to_string()
}

fn raw_extension(cert: &Certificate, arc: u32) -> String {
    let raw = extension_value(cert, &fulcio(arc)).expect("extension present");
    String::from_utf8(raw.to_vec()).expect("raw UTF-8")
}

fn bundle_body(json: &str) -> Value {
    let bundle: Value = serde_json::from_str(json).expect("bundle JSON");
    let body = bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
        .as_str()
        .expect("body");
    serde_json::from_slice(&STANDARD.decode(body).expect("base64")).expect("body JSON")
}

/// Verifies an ECDSA P-256 signature with a DER SubjectPublicKeyInfo.
fn ecdsa_p256_verifies(spki_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(spki_der).expect("SPKI");
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, spki.subject_public_key.raw_bytes())
        .verify(message, signature)
        .is_ok()
}

fn rekor_spki(sigstore: &VirtualSigstore) -> Vec<u8> {
    let root: Value = serde_json::from_str(&sigstore.trusted_root_json()).expect("root");
    STANDARD
        .decode(
            root["tlogs"][0]["publicKey"]["rawBytes"]
                .as_str()
                .expect("key"),
        )
        .expect("base64")
}

/// The keys of every object in `value`, recursively, as `/path` strings.
fn key_paths(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{prefix}/{k}");
                out.push(path.clone());
                key_paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}/[]"), out);
            }
        }
        _ => {}
    }
}

fn paths(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    key_paths(value, "", &mut out);
    out
}

#[test]
fn leaf_certificate_follows_fulcio_profile() {
    let signed = PROD.sign_blob(b"x", release_workflow());
    let cert = Certificate::from_der(&pem_to_der(&signed.certificate_pem)).expect("leaf parses");
    let tbs = &cert.tbs_certificate;
    assert!(
        tbs.subject.0.is_empty(),
        "Fulcio leaves have an empty subject"
    );
    let validity = &tbs.validity;
    assert_eq!(validity.not_before.to_unix_duration().as_secs(), NOW);
    assert_eq!(
        validity.not_after.to_unix_duration().as_secs(),
        NOW + LEAF_LIFETIME_SECS
    );

    let oids: Vec<String> = tbs
        .extensions
        .as_ref()
        .expect("extensions")
        .iter()
        .map(|e| e.extn_id.to_string())
        .collect();
    let mut expected: Vec<String> = [
        "2.5.29.15",
        "2.5.29.37",
        "2.5.29.14",
        "2.5.29.35",
        "2.5.29.17",
    ]
    .map(String::from)
    .to_vec();
    expected.extend(
        [1, 2, 3, 4, 5, 6]
            .into_iter()
            .chain(8..=22)
            .map(|a| fulcio(a).to_string()),
    );
    expected.push("1.3.6.1.4.1.11129.2.4.2".to_owned());
    assert_eq!(oids, expected, "Fulcio extension order, SCT list last");

    let critical: Vec<String> = tbs
        .extensions
        .as_ref()
        .expect("extensions")
        .iter()
        .filter(|e| e.critical)
        .map(|e| e.extn_id.to_string())
        .collect();
    assert_eq!(
        critical,
        ["2.5.29.15", "2.5.29.17"],
        "key usage and SAN are critical"
    );

    // Deprecated extensions: raw bytes; current ones: DER UTF8String.
    assert_eq!(raw_extension(&cert, 1), GITHUB_ACTIONS_ISSUER);
    assert_eq!(utf8_extension(&cert, 8), GITHUB_ACTIONS_ISSUER);
    assert_eq!(raw_extension(&cert, 2), "push");
    assert_eq!(raw_extension(&cert, 5), "acme/app");
    assert_eq!(raw_extension(&cert, 6), "refs/tags/v1.0.0");
    assert_eq!(utf8_extension(&cert, 9), RELEASE_SAN);
    assert_eq!(utf8_extension(&cert, 11), "github-hosted");
    assert_eq!(utf8_extension(&cert, 12), "https://github.com/acme/app");
    assert_eq!(utf8_extension(&cert, 14), "refs/tags/v1.0.0");
    assert_eq!(utf8_extension(&cert, 20), "push");
    assert_eq!(
        utf8_extension(&cert, 21),
        "https://github.com/acme/app/actions/runs/1234567890/attempts/1"
    );
    assert_eq!(raw_extension(&cert, 3), utf8_extension(&cert, 13));
}

#[test]
fn issuer_extensions_can_disagree() {
    let signed = PROD.sign_blob(
        b"x",
        SignOptions::new(release_workflow())
            .legacy_issuer(IssuerClaim::Value("https://legacy.test".into())),
    );
    let cert = Certificate::from_der(&pem_to_der(&signed.certificate_pem)).expect("leaf");
    assert_eq!(raw_extension(&cert, 1), "https://legacy.test");
    assert_eq!(utf8_extension(&cert, 8), GITHUB_ACTIONS_ISSUER);
}

#[test]
fn precertificate_is_the_leaf_tbs_without_the_sct_list() {
    // The SCT must verify over the TBS a verifier gets by deleting the SCT
    // extension from the final certificate (RFC 6962 §3.2), with the
    // intermediate's key hash.
    let signed = PROD.sign_blob(b"x", release_workflow());
    let cert = Certificate::from_der(&pem_to_der(&signed.certificate_pem)).expect("leaf");
    let sct_oid = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
    let list = extension_value(&cert, &sct_oid).expect("SCT list");
    let list = x509_cert::der::asn1::OctetString::from_der(list).expect("OCTET STRING");
    let list = list.as_bytes();
    let sct = &list[4..]; // u16 list length, u16 SCT length
    assert_eq!(
        usize::from(u16::from_be_bytes([list[0], list[1]])),
        list.len() - 2
    );
    assert_eq!(sct[0], 0, "SCT v1");
    let log_id = &sct[1..33];
    let timestamp = &sct[33..41];
    assert_eq!(
        u64::from_be_bytes(timestamp.try_into().expect("8 bytes")),
        NOW * 1000
    );
    assert_eq!(&sct[41..43], &[0, 0], "no SCT extensions");
    assert_eq!(&sct[43..45], &[4, 3], "sha256 / ecdsa");
    let signature = &sct[47..];

    let mut precert = cert.tbs_certificate.clone();
    precert.extensions = precert
        .extensions
        .map(|exts| exts.into_iter().filter(|e| e.extn_id != sct_oid).collect());
    let precert_der = precert.to_der().expect("encodes");
    let chain = pem_to_der(&signed.chain_pem);
    let intermediate = Certificate::from_der(&chain).expect("intermediate");
    let issuer_spki = intermediate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .expect("SPKI");

    let mut signed_data = vec![0u8, 0u8];
    signed_data.extend_from_slice(timestamp);
    signed_data.extend_from_slice(&[0, 1]);
    signed_data.extend_from_slice(&hex::decode(sha256_hex(&issuer_spki)).expect("hex"));
    let len = u32::try_from(precert_der.len()).expect("len").to_be_bytes();
    signed_data.extend_from_slice(&len[1..]);
    signed_data.extend_from_slice(&precert_der);
    signed_data.extend_from_slice(&[0, 0]);

    let root: Value = serde_json::from_str(&PROD.trusted_root_json()).expect("root");
    let ct_spki = STANDARD
        .decode(
            root["ctlogs"][0]["publicKey"]["rawBytes"]
                .as_str()
                .expect("key"),
        )
        .expect("base64");
    assert_eq!(sha256_hex(&ct_spki), hex::encode(log_id));
    assert!(ecdsa_p256_verifies(&ct_spki, &signed_data, signature));
}

#[test]
fn hashedrekord_body_matches_rekor() {
    let artifact = b"artifact";
    let signed = PROD.sign_blob(artifact, release_workflow());
    let body = bundle_body(&signed.json);
    // Key layout of a real body (sigstore-conformance happy-path-v0.3).
    assert_eq!(
        paths(&body),
        [
            "/apiVersion",
            "/kind",
            "/spec",
            "/spec/data",
            "/spec/data/hash",
            "/spec/data/hash/algorithm",
            "/spec/data/hash/value",
            "/spec/signature",
            "/spec/signature/content",
            "/spec/signature/publicKey",
            "/spec/signature/publicKey/content",
        ]
    );
    assert_eq!(body["spec"]["data"]["hash"]["value"], sha256_hex(artifact));
    let pem = STANDARD
        .decode(
            body["spec"]["signature"]["publicKey"]["content"]
                .as_str()
                .expect("pem"),
        )
        .expect("base64");
    assert_eq!(String::from_utf8(pem).expect("PEM"), signed.certificate_pem);
    assert!(signed.certificate_pem.lines().all(|l| l.len() <= 64));
    // Compact, as Go's json.Marshal writes it.
    let bundle: Value = serde_json::from_str(&signed.json).expect("json");
    let raw = STANDARD
        .decode(
            bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
                .as_str()
                .expect("b"),
        )
        .expect("base64");
    assert!(raw.starts_with(b"{\"apiVersion\":\"0.0.1\",\"kind\":\"hashedrekord\",\"spec\":{"));
}

#[test]
fn dsse_body_matches_rekor() {
    let statement = in_toto_statement(
        "a",
        &sha256_hex(b"a"),
        "https://example.test/p",
        &Value::Null,
    );
    let signed = PROD.sign_statement(&statement, release_workflow());
    let body = bundle_body(&signed.json);
    // Key layout of a real body (cosign oci-attestation.sigstore.json).
    assert_eq!(
        paths(&body),
        [
            "/apiVersion",
            "/kind",
            "/spec",
            "/spec/envelopeHash",
            "/spec/envelopeHash/algorithm",
            "/spec/envelopeHash/value",
            "/spec/payloadHash",
            "/spec/payloadHash/algorithm",
            "/spec/payloadHash/value",
            "/spec/signatures",
            "/spec/signatures/[]/signature",
            "/spec/signatures/[]/verifier",
        ]
    );
    assert_eq!(body["spec"]["payloadHash"]["value"], sha256_hex(&statement));
    let bundle: Value = serde_json::from_str(&signed.json).expect("json");
    assert_eq!(
        body["spec"]["signatures"][0]["signature"],
        bundle["dsseEnvelope"]["signatures"][0]["sig"]
    );
}

#[test]
fn intoto_v002_body_matches_rekor() {
    let statement = in_toto_statement(
        "a",
        &sha256_hex(b"a"),
        "https://example.test/p",
        &Value::Null,
    );
    let signed = PROD.sign_statement(
        &statement,
        SignOptions::new(release_workflow()).dsse_entry_kind(DsseEntryKind::IntotoV002),
    );
    let body = bundle_body(&signed.json);
    // Key layout of a real body (gh-cli sigstore-js 2.1.0 provenance).
    assert_eq!(
        paths(&body),
        [
            "/apiVersion",
            "/kind",
            "/spec",
            "/spec/content",
            "/spec/content/envelope",
            "/spec/content/envelope/payloadType",
            "/spec/content/envelope/signatures",
            "/spec/content/envelope/signatures/[]/publicKey",
            "/spec/content/envelope/signatures/[]/sig",
            "/spec/content/hash",
            "/spec/content/hash/algorithm",
            "/spec/content/hash/value",
            "/spec/content/payloadHash",
            "/spec/content/payloadHash/algorithm",
            "/spec/content/payloadHash/value",
        ]
    );
}

#[test]
fn legacy_signature_pieces_match_cosign() {
    let digest = format!("sha256:{}", "cd".repeat(32));
    let sig = PROD.sign_image_legacy("registry.test/acme/app", &digest, release_workflow());
    assert_eq!(
        String::from_utf8(sig.payload.clone()).expect("UTF-8"),
        format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"registry.test/acme/app\"}},\"image\":{{\"docker-manifest-digest\":\"{digest}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
        )
    );
    assert_eq!(
        SIMPLE_SIGNING_MEDIA_TYPE,
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );

    // The signature verifies over the payload with the leaf key.
    let leaf = Certificate::from_der(&pem_to_der(&sig.certificate_pem)).expect("leaf");
    let leaf_spki = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .expect("SPKI");
    let raw_sig = STANDARD.decode(&sig.signature_b64).expect("base64");
    assert!(ecdsa_p256_verifies(&leaf_spki, &sig.payload, &raw_sig));

    // The chain is intermediate then root, as in the trusted root.
    assert_eq!(sig.chain_pem, PROD.fulcio_chain_pem());
    assert_eq!(sig.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);

    // Rekor bundle annotation: cosign's RekorBundle field order.
    let rekor = sig.rekor_bundle_json.as_deref().expect("rekor bundle");
    assert!(rekor.starts_with("{\"SignedEntryTimestamp\":\""));
    assert!(rekor.contains("\",\"Payload\":{\"body\":\""));
    let parsed: Value = serde_json::from_str(rekor).expect("json");
    let payload = &parsed["Payload"];
    assert_eq!(payload["integratedTime"], NOW);
    assert_eq!(payload["logIndex"], sig.log_index);
    assert_eq!(payload["logID"], PROD.rekor_log_id_hex());
    let body: Value = serde_json::from_slice(
        &STANDARD
            .decode(payload["body"].as_str().expect("body"))
            .expect("base64"),
    )
    .expect("body JSON");
    assert_eq!(body["kind"], "hashedrekord");
    assert_eq!(
        body["spec"]["data"]["hash"]["value"],
        sha256_hex(&sig.payload)
    );
    assert_eq!(body["spec"]["signature"]["content"], sig.signature_b64);

    // The SET is ECDSA over the JCS of the payload (cosign VerifySET).
    let canonical = serde_json_canonicalizer::to_vec(payload).expect("JCS");
    let set = STANDARD
        .decode(parsed["SignedEntryTimestamp"].as_str().expect("SET"))
        .expect("base64");
    assert!(ecdsa_p256_verifies(&rekor_spki(&PROD), &canonical, &set));

    let keys: Vec<String> = sig.annotations().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "dev.cosignproject.cosign/signature",
            "dev.sigstore.cosign/certificate",
            "dev.sigstore.cosign/chain",
            "dev.sigstore.cosign/bundle",
        ]
    );
}

#[test]
fn legacy_attestation_pieces_match_cosign() {
    let statement = in_toto_statement(
        "registry.test/acme/app",
        &"cd".repeat(32),
        "https://slsa.dev/provenance/v1",
        &Value::Null,
    );
    for kind in [
        DsseEntryKind::Dsse,
        DsseEntryKind::IntotoV001,
        DsseEntryKind::IntotoV002,
    ] {
        let att = PROD.attest_image_legacy(
            &statement,
            SignOptions::new(release_workflow()).dsse_entry_kind(kind),
        );
        let envelope = String::from_utf8(att.payload.clone()).expect("UTF-8");
        assert!(
            envelope
                .starts_with("{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"")
        );
        assert!(envelope.contains("\"signatures\":[{\"keyid\":\"\",\"sig\":\""));
        assert_eq!(
            att.predicate_type.as_deref(),
            Some("https://slsa.dev/provenance/v1")
        );
        let annotations = att.annotations();
        assert_eq!(
            annotations[0],
            ("dev.cosignproject.cosign/signature".into(), String::new())
        );
        assert!(annotations.contains(&(
            "predicateType".to_owned(),
            "https://slsa.dev/provenance/v1".to_owned()
        )));

        let rekor: Value =
            serde_json::from_str(att.rekor_bundle_json.as_deref().expect("bundle")).expect("json");
        let payload = &rekor["Payload"];
        let body: Value = serde_json::from_slice(
            &STANDARD
                .decode(payload["body"].as_str().expect("body"))
                .expect("base64"),
        )
        .expect("body JSON");
        // cosign VerifyBundle: the entry's envelope hash is the layer's SHA-256.
        let (kind_name, version, envelope_hash) = match kind {
            DsseEntryKind::Dsse => ("dsse", "0.0.1", &body["spec"]["envelopeHash"]["value"]),
            DsseEntryKind::IntotoV001 => {
                ("intoto", "0.0.1", &body["spec"]["content"]["hash"]["value"])
            }
            DsseEntryKind::IntotoV002 => {
                ("intoto", "0.0.2", &body["spec"]["content"]["hash"]["value"])
            }
        };
        assert_eq!(body["kind"], kind_name);
        assert_eq!(body["apiVersion"], version);
        assert_eq!(envelope_hash, &Value::String(sha256_hex(&att.payload)));
        if kind == DsseEntryKind::IntotoV001 {
            assert_eq!(
                body["spec"]["content"]["payloadHash"]["value"],
                sha256_hex(&statement)
            );
            let pem = STANDARD
                .decode(body["spec"]["publicKey"].as_str().expect("key"))
                .expect("base64");
            assert_eq!(String::from_utf8(pem).expect("PEM"), att.certificate_pem);
        }
        let canonical = serde_json_canonicalizer::to_vec(payload).expect("JCS");
        let set = STANDARD
            .decode(rekor["SignedEntryTimestamp"].as_str().expect("SET"))
            .expect("base64");
        assert!(
            ecdsa_p256_verifies(&rekor_spki(&PROD), &canonical, &set),
            "{kind:?}"
        );
    }
}

#[test]
fn checkpoint_is_a_rekor_v1_signed_note() {
    let signed = PROD.sign_blob(b"x", release_workflow());
    let bundle: Value = serde_json::from_str(&signed.json).expect("json");
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    let proof = &entry["inclusionProof"];
    let note = proof["checkpoint"]["envelope"]
        .as_str()
        .expect("checkpoint");
    let (text, signature_line) = note.split_once("\n\n").expect("blank line");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("rekor.prod.test - "), "{}", lines[0]);
    assert_eq!(lines[1], proof["treeSize"].as_str().expect("size"));
    assert_eq!(lines[2], proof["rootHash"].as_str().expect("root"));
    let rest = signature_line
        .strip_prefix("\u{2014} rekor.prod.test ")
        .expect("sig line");
    let sig = STANDARD
        .decode(rest.trim_end_matches('\n'))
        .expect("base64");
    let spki = rekor_spki(&PROD);
    assert_eq!(
        &sig[..4],
        &hex::decode(sha256_hex(&spki)).expect("hex")[..4],
        "key hint"
    );
    assert!(ecdsa_p256_verifies(
        &spki,
        format!("{text}\n").as_bytes(),
        &sig[4..]
    ));
    assert!(note.ends_with('\n'));

    // Global log index and index in the active shard differ, as on Rekor.
    let global: u64 = entry["logIndex"]
        .as_str()
        .expect("index")
        .parse()
        .expect("u64");
    let local: u64 = proof["logIndex"]
        .as_str()
        .expect("index")
        .parse()
        .expect("u64");
    assert_eq!(global, local + INACTIVE_SHARDS_SIZE);
    let size: u64 = proof["treeSize"]
        .as_str()
        .expect("size")
        .parse()
        .expect("u64");
    assert!(
        size > local + 1,
        "entries after ours: proof has right siblings"
    );
}

#[test]
fn trust_keys_are_deterministic_per_instance_name() {
    // Keys (and so log IDs and CA public keys) are deterministic; the CA
    // certificates' ECDSA signatures are not.
    let ca_keys = |sigstore: &VirtualSigstore| -> (Value, Value, Vec<Vec<u8>>) {
        let root: Value = serde_json::from_str(&sigstore.trusted_root_json()).expect("root");
        let spkis = root["certificateAuthorities"][0]["certChain"]["certificates"]
            .as_array()
            .expect("chain")
            .iter()
            .map(|c| {
                let der = STANDARD
                    .decode(c["rawBytes"].as_str().expect("b64"))
                    .expect("b64");
                let cert = Certificate::from_der(&der).expect("CA certificate");
                cert.tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .expect("SPKI")
            })
            .collect();
        (root["tlogs"].clone(), root["ctlogs"].clone(), spkis)
    };
    assert_eq!(ca_keys(&VirtualSigstore::new("prod", NOW)), ca_keys(&PROD));
    let staging = ca_keys(&VirtualSigstore::new("staging", NOW));
    let prod = ca_keys(&PROD);
    assert_ne!(staging.0, prod.0);
    assert_ne!(staging.1, prod.1);
    assert_ne!(staging.2, prod.2);

    let root: Value = serde_json::from_str(&PROD.trusted_root_json()).expect("root");
    assert_eq!(
        root["mediaType"],
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    );
    let chain = root["certificateAuthorities"][0]["certChain"]["certificates"]
        .as_array()
        .expect("chain");
    let der = |i: usize| {
        STANDARD
            .decode(chain[i]["rawBytes"].as_str().expect("b64"))
            .expect("b64")
    };
    let intermediate = Certificate::from_der(&der(0)).expect("intermediate");
    let root_cert = Certificate::from_der(&der(1)).expect("root");
    assert_eq!(
        intermediate.tbs_certificate.issuer,
        root_cert.tbs_certificate.subject
    );
    assert_eq!(
        root_cert.tbs_certificate.issuer,
        root_cert.tbs_certificate.subject
    );
    let rekor_id = STANDARD
        .decode(root["tlogs"][0]["logId"]["keyId"].as_str().expect("id"))
        .expect("b64");
    assert_eq!(hex::encode(rekor_id), PROD.rekor_log_id_hex());
    assert_eq!(sha256_hex(&rekor_spki(&PROD)), PROD.rekor_log_id_hex());

    let config: Value = serde_json::from_str(&PROD.client_trust_config_json()).expect("config");
    assert_eq!(
        config["mediaType"],
        "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
    );
    assert_eq!(
        config["signingConfig"]["mediaType"],
        "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    );
}
