//! The fields a Sigstore bundle may carry (protobuf-specs
//! `dev.sigstore.bundle.v1.Bundle` and the messages it embeds). protojson,
//! which cosign and sigstore-go parse bundles with, refuses unknown fields;
//! `sigstore-types` ignores them, so we check first (ATTACKS.md A.12).

use serde_json::Value;

/// The shape of a JSON value: what keys an object may have.
enum Shape {
    /// Any scalar (string, number, bool, null).
    Scalar,
    /// An object with these keys (JSON camelCase names).
    Object(&'static [(&'static str, Shape)]),
    /// An array of this shape.
    Array(&'static Shape),
}

use Shape::{Array, Object, Scalar};

const CERTIFICATE: Shape = Object(&[("rawBytes", Scalar)]);
const LOG_ENTRY: Shape = Object(&[
    ("logIndex", Scalar),
    ("logId", Object(&[("keyId", Scalar)])),
    (
        "kindVersion",
        Object(&[("kind", Scalar), ("version", Scalar)]),
    ),
    ("integratedTime", Scalar),
    (
        "inclusionPromise",
        Object(&[("signedEntryTimestamp", Scalar)]),
    ),
    (
        "inclusionProof",
        Object(&[
            ("logIndex", Scalar),
            ("rootHash", Scalar),
            ("treeSize", Scalar),
            ("hashes", Array(&Scalar)),
            ("checkpoint", Object(&[("envelope", Scalar)])),
        ]),
    ),
    ("canonicalizedBody", Scalar),
]);
const BUNDLE: Shape = Object(&[
    ("mediaType", Scalar),
    (
        "verificationMaterial",
        Object(&[
            ("publicKey", Object(&[("hint", Scalar)])),
            (
                "x509CertificateChain",
                Object(&[("certificates", Array(&CERTIFICATE))]),
            ),
            ("certificate", CERTIFICATE),
            ("tlogEntries", Array(&LOG_ENTRY)),
            (
                "timestampVerificationData",
                Object(&[(
                    "rfc3161Timestamps",
                    Array(&Object(&[("signedTimestamp", Scalar)])),
                )]),
            ),
        ]),
    ),
    (
        "messageSignature",
        Object(&[
            (
                "messageDigest",
                Object(&[("algorithm", Scalar), ("digest", Scalar)]),
            ),
            ("signature", Scalar),
        ]),
    ),
    (
        "dsseEnvelope",
        Object(&[
            ("payload", Scalar),
            ("payloadType", Scalar),
            (
                "signatures",
                Array(&Object(&[("sig", Scalar), ("keyid", Scalar)])),
            ),
        ]),
    ),
]);

/// Refuses a bundle with a key the schema does not define, naming its path.
pub(crate) fn check_bundle_fields(value: &Value) -> Result<(), String> {
    check(value, &BUNDLE, "$")
}

fn check(value: &Value, shape: &Shape, path: &str) -> Result<(), String> {
    match (shape, value) {
        (_, Value::Null) | (Scalar, _) => Ok(()),
        (Object(fields), Value::Object(map)) => {
            for (key, child) in map {
                let Some((_, child_shape)) = fields.iter().find(|(name, _)| name == key) else {
                    return Err(format!("unknown field `{path}.{key}`"));
                };
                check(child, child_shape, &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Array(item), Value::Array(items)) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check(v, item, &format!("{path}[{i}]"))),
        (Object(_), _) => Err(format!("`{path}` must be an object")),
        (Array(_), _) => Err(format!("`{path}` must be an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_path_of_an_unknown_field() {
        let v = serde_json::json!({"mediaType": "x", "verificationMaterial": {"tlogEntries": [{"logIndex": "1", "evil": 1}]}});
        assert_eq!(
            check_bundle_fields(&v).unwrap_err(),
            "unknown field `$.verificationMaterial.tlogEntries[0].evil`"
        );
    }

    #[test]
    fn rejects_wrong_container_types() {
        let v = serde_json::json!({"verificationMaterial": []});
        assert!(
            check_bundle_fields(&v)
                .unwrap_err()
                .contains("must be an object")
        );
        let v = serde_json::json!({"verificationMaterial": {"tlogEntries": {}}});
        assert!(
            check_bundle_fields(&v)
                .unwrap_err()
                .contains("must be an array")
        );
    }

    #[test]
    fn accepts_known_fields() {
        let v = serde_json::json!({"mediaType": "x", "dsseEnvelope": {"payload": "", "payloadType": "", "signatures": [{"sig": "", "keyid": ""}]}});
        assert!(check_bundle_fields(&v).is_ok());
    }
}
