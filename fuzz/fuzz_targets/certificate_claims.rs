//! Fuzzes `CertificateClaims::from_der`: X.509 DER decoding, the single-SAN
//! rule (email, URI or Fulcio username otherName), the two Fulcio OIDC issuer
//! extensions (.1.1 raw, .1.8 UTF8String) and the GitHub workflow claims.
//!
//! Properties: never panics; claims that parse are deterministic and
//! `describe()` shows the identity and issuer; the claims do not depend on
//! the encoding leniencies x509-cert tolerates: re-encoding the certificate
//! as strict DER gives the same claims.
//!
//! Why not a byte round trip: x509-cert 0.2 decodes an extension whose
//! `critical BOOLEAN DEFAULT FALSE` is written out as `01 01 00` (not DER)
//! and re-encodes it without it (RustCrypto/formats#1584). vouch never
//! re-encodes a certificate (signatures are checked over, and claims read
//! from, the original bytes), so what matters is that the claims agree.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_verify::CertificateClaims;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

fuzz_target!(|data: &[u8]| {
    let Ok(claims) = CertificateClaims::from_der(data) else {
        return;
    };
    assert_eq!(CertificateClaims::from_der(data).ok(), Some(claims.clone()));
    let described = claims.describe();
    assert!(described.contains(&format!("identity:   {}", claims.identity)));
    assert!(described.contains(&format!("issuer:     {}", claims.issuer)));
    let strict = Certificate::from_der(data)
        .expect("claims come from a certificate x509-cert decodes")
        .to_der()
        .expect("a decoded certificate re-encodes");
    if strict != data {
        let reencoded = CertificateClaims::from_der(&strict);
        assert_eq!(
            reencoded.ok(),
            Some(claims),
            "claims of the strict DER re-encoding"
        );
    }
});
