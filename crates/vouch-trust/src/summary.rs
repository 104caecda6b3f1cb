//! A readable summary of a `trusted_root.json`: each instance (Fulcio CA,
//! Rekor log, CT log, timestamp authority), its key ID or URI and its
//! validity window. For `vouch trust show`.

use serde::Serialize;
use serde_json::Value;

/// One entry of a trusted root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceSummary {
    /// `certificate-authority`, `transparency-log`, `ct-log` or
    /// `timestamp-authority`.
    pub kind: &'static str,
    /// The service URL (`uri` or `baseUrl`).
    pub url: String,
    /// Log key ID (base64, as in the file) for logs; the subject for
    /// authorities.
    pub id: String,
    /// Start of the validity window (RFC 3339), if given.
    pub valid_from: Option<String>,
    /// End of the validity window; `None` means still valid.
    pub valid_until: Option<String>,
}

/// Summarizes a trusted root. Unknown or missing fields show as empty: the
/// document was already validated by [`vouch_verify::TrustedMaterial`].
pub fn summarize(trusted_root_json: &[u8]) -> Vec<InstanceSummary> {
    let Ok(root) = serde_json::from_slice::<Value>(trusted_root_json) else {
        return Vec::new();
    };
    let text = |v: &Value, path: &[&str]| -> Option<String> {
        let mut v = v;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().map(str::to_string)
    };
    let mut out = Vec::new();
    for (field, kind) in [
        ("certificateAuthorities", "certificate-authority"),
        ("tlogs", "transparency-log"),
        ("ctlogs", "ct-log"),
        ("timestampAuthorities", "timestamp-authority"),
    ] {
        let entries = root.get(field).and_then(Value::as_array);
        for entry in entries.into_iter().flatten() {
            let is_log = entry.get("logId").is_some();
            let validity = if is_log {
                entry.get("publicKey").and_then(|k| k.get("validFor"))
            } else {
                entry.get("validFor")
            };
            let id = if is_log {
                text(entry, &["logId", "keyId"]).unwrap_or_default()
            } else {
                let org = text(entry, &["subject", "organization"]).unwrap_or_default();
                let cn = text(entry, &["subject", "commonName"]).unwrap_or_default();
                format!("O={org}, CN={cn}")
            };
            out.push(InstanceSummary {
                kind,
                url: text(entry, &["uri"])
                    .or_else(|| text(entry, &["baseUrl"]))
                    .unwrap_or_default(),
                id,
                valid_from: validity.and_then(|v| text(v, &["start"])),
                valid_until: validity.and_then(|v| text(v, &["end"])),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_the_embedded_production_root() {
        let s = summarize(sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes());
        assert!(
            s.iter().any(
                |i| i.kind == "certificate-authority" && i.url == "https://fulcio.sigstore.dev"
            )
        );
        assert!(s.iter().any(|i| i.kind == "transparency-log"
            && i.url == "https://rekor.sigstore.dev"
            && i.valid_from.is_some()));
        assert!(s.iter().any(|i| i.kind == "ct-log"));
    }

    #[test]
    fn garbage_summarizes_to_nothing() {
        assert!(summarize(b"not json").is_empty());
        assert!(summarize(b"{}").is_empty());
    }
}
