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

/// A bundle field the schema does not allow, by its JSON path (`$.a.b[0]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleFieldError {
    /// A key the schema does not define (protojson refuses it).
    #[error("unknown field `{path}`")]
    Unknown {
        /// Where.
        path: String,
    },
    /// A field that must be an object is not.
    #[error("`{path}` must be an object")]
    NotAnObject {
        /// Where.
        path: String,
    },
    /// A field that must be an array is not.
    #[error("`{path}` must be an array")]
    NotAnArray {
        /// Where.
        path: String,
    },
}

/// Refuses a bundle with a key the schema does not define, naming its path.
pub(crate) fn check_bundle_fields(value: &Value) -> Result<(), BundleFieldError> {
    check(value, &BUNDLE, "$")
}

fn check(value: &Value, shape: &Shape, path: &str) -> Result<(), BundleFieldError> {
    match (shape, value) {
        (_, Value::Null) | (Scalar, _) => Ok(()),
        (Object(fields), Value::Object(map)) => {
            for (key, child) in map {
                let Some((_, child_shape)) = fields.iter().find(|(name, _)| name == key) else {
                    return Err(BundleFieldError::Unknown {
                        path: format!("{path}.{key}"),
                    });
                };
                check(child, child_shape, &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Array(item), Value::Array(items)) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check(v, item, &format!("{path}[{i}]"))),
        (Object(_), _) => Err(BundleFieldError::NotAnObject { path: path.into() }),
        (Array(_), _) => Err(BundleFieldError::NotAnArray { path: path.into() }),
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
            BundleFieldError::Unknown {
                path: "$.verificationMaterial.tlogEntries[0].evil".into()
            }
        );
    }

    #[test]
    fn rejects_wrong_container_types() {
        let v = serde_json::json!({"verificationMaterial": []});
        assert!(matches!(
            check_bundle_fields(&v),
            Err(BundleFieldError::NotAnObject { path }) if path == "$.verificationMaterial"
        ));
        let v = serde_json::json!({"verificationMaterial": {"tlogEntries": {}}});
        assert!(matches!(
            check_bundle_fields(&v),
            Err(BundleFieldError::NotAnArray { path }) if path == "$.verificationMaterial.tlogEntries"
        ));
    }

    #[test]
    fn accepts_known_fields() {
        let v = serde_json::json!({"mediaType": "x", "dsseEnvelope": {"payload": "", "payloadType": "", "signatures": [{"sig": "", "keyid": ""}]}});
        assert!(check_bundle_fields(&v).is_ok());
    }
}
