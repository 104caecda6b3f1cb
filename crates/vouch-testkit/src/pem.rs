//! PEM encoding (RFC 7468) with 64-column lines, as Go's `encoding/pem` and
//! Python's `cryptography` write it: Rekor bodies embed certificates in this
//! exact form, so verifiers that re-encode and compare need it byte for byte.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Width of a PEM base64 line (RFC 7468 §2).
const LINE_WIDTH: usize = 64;

/// PEM of one DER certificate, ending in a newline.
pub(crate) fn certificate(der: &[u8]) -> String {
    encode("CERTIFICATE", der)
}

/// PEM of a DER SubjectPublicKeyInfo, ending in a newline.
pub(crate) fn public_key(spki_der: &[u8]) -> String {
    encode("PUBLIC KEY", spki_der)
}

/// PEM block with the given label.
fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(LINE_WIDTH) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_64_columns() {
        let pem = certificate(&[0u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[3].len(), 8);
        assert_eq!(lines[4], "-----END CERTIFICATE-----");
        assert!(pem.ends_with('\n'));
    }
}
