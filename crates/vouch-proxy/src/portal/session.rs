//! Portal sessions and CSRF tokens, stateless: a session cookie is an
//! HMAC-SHA256-signed claim (license number, random session ID, issue and
//! expiry times) under a key derived from the server secret, so replicas
//! sharing `secret.key` accept each other's sessions, as they do tokens.
//! Nothing in a cookie is secret; its signature makes it unforgeable, and
//! the license is looked up again on every request (a revoked license is
//! signed out at its next page).
//!
//! CSRF: every form carries a token bound to something the attacker's
//! page cannot read. Signed in, it is HMAC(key, "csrf" ‖ session ID); at
//! sign-in, before there is a session, HMAC(key, "sign-in" ‖ nonce) where
//! the nonce sits in a short-lived cookie of its own (signed double
//! submit). The cookies are also `SameSite=Strict`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::secret::PortalKey;
use crate::store::LicenseNumber;

/// How long a session lasts from sign-in: a working day. The license is
/// re-checked on every request, so a longer session grants nothing a
/// revocation or expiry would not end.
pub const SESSION_TTL_SECS: i64 = 8 * 3600;
/// How long a sign-in form stays usable (its nonce cookie's lifetime).
pub const SIGN_IN_FORM_TTL_SECS: i64 = 3600;
/// Random bytes in a session ID and a sign-in nonce: 128 bits, like license IDs.
pub const SESSION_ID_BYTES: usize = 16;
/// Longest cookie value read (ours are ~150 bytes).
pub const MAX_COOKIE_VALUE_LEN: usize = 512;
/// Clock skew tolerated for a session issued "in the future" (another
/// replica's clock).
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;
/// Prefix of session cookie values: format version 1.
const SESSION_PREFIX: &str = "vps1.";

/// What a session cookie says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The license signed in.
    pub lic: i64,
    /// A random ID (hex), what the CSRF token and sign-out are bound to.
    pub sid: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

impl Session {
    /// A new session for `license` at `now` (Unix seconds).
    pub fn new(license: LicenseNumber, now: i64) -> Result<Self, getrandom::Error> {
        Ok(Self {
            lic: license.0,
            sid: random_hex()?,
            iat: now,
            exp: now + SESSION_TTL_SECS,
        })
    }

    /// The license.
    pub fn license(&self) -> LicenseNumber {
        LicenseNumber(self.lic)
    }
}

/// 128 random bits as hex (session IDs, sign-in nonces).
pub fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SESSION_ID_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Why a session cookie or CSRF token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Not a cookie of ours, or damaged.
    #[error("malformed session")]
    Malformed,
    /// The signature does not verify (tampered, or another deployment's).
    #[error("session signature does not verify")]
    BadSignature,
    /// Past its expiry.
    #[error("session expired")]
    Expired,
    /// Issued in the future beyond the tolerated skew.
    #[error("session issued in the future")]
    NotYetValid,
    /// A form's CSRF token does not match its session or nonce.
    #[error("form token does not match")]
    BadCsrfToken,
}

fn mac(key: &PortalKey, parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    for part in parts {
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part);
    }
    m
}

/// Signs a session into a cookie value.
pub fn seal(key: &PortalKey, session: &Session) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(session).expect("session serializes"));
    let signed = format!("{SESSION_PREFIX}{payload}");
    let tag = mac(key, &[b"session", signed.as_bytes()]).finalize();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.into_bytes()))
}

/// Checks a session cookie's signature and lifetime at `now`.
pub fn open(key: &PortalKey, value: &str, now: i64) -> Result<Session, SessionError> {
    if value.len() > MAX_COOKIE_VALUE_LEN || !value.starts_with(SESSION_PREFIX) {
        return Err(SessionError::Malformed);
    }
    let (signed, tag) = value.rsplit_once('.').ok_or(SessionError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| SessionError::Malformed)?;
    // Constant-time comparison (hmac's verify_slice).
    mac(key, &[b"session", signed.as_bytes()])
        .verify_slice(&tag)
        .map_err(|_| SessionError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(&signed[SESSION_PREFIX.len()..])
        .map_err(|_| SessionError::Malformed)?;
    let session: Session = serde_json::from_slice(&payload).map_err(|_| SessionError::Malformed)?;
    if session.exp <= now {
        return Err(SessionError::Expired);
    }
    if session.iat > now + MAX_CLOCK_SKEW_SECS {
        return Err(SessionError::NotYetValid);
    }
    Ok(session)
}

fn token(key: &PortalKey, purpose: &[u8], bound_to: &str) -> String {
    URL_SAFE_NO_PAD.encode(
        mac(key, &[purpose, bound_to.as_bytes()])
            .finalize()
            .into_bytes(),
    )
}

fn check_token(
    key: &PortalKey,
    purpose: &[u8],
    bound_to: &str,
    given: &str,
) -> Result<(), SessionError> {
    let given = URL_SAFE_NO_PAD
        .decode(given)
        .map_err(|_| SessionError::BadCsrfToken)?;
    mac(key, &[purpose, bound_to.as_bytes()])
        .verify_slice(&given)
        .map_err(|_| SessionError::BadCsrfToken)
}

/// The CSRF token of a signed-in session's forms.
pub fn csrf_token(key: &PortalKey, session: &Session) -> String {
    token(key, b"csrf", &session.sid)
}

/// Checks a signed-in form's CSRF token.
pub fn check_csrf(key: &PortalKey, session: &Session, given: &str) -> Result<(), SessionError> {
    check_token(key, b"csrf", &session.sid, given)
}

/// The sign-in form's token for the nonce in its cookie.
pub fn sign_in_token(key: &PortalKey, nonce: &str) -> String {
    token(key, b"sign-in", nonce)
}

/// Checks the sign-in form's token against the nonce cookie.
pub fn check_sign_in(key: &PortalKey, nonce: &str, given: &str) -> Result<(), SessionError> {
    if nonce.len() != SESSION_ID_BYTES * 2 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SessionError::BadCsrfToken);
    }
    check_token(key, b"sign-in", nonce, given)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ServerSecret;

    fn key(n: u8) -> PortalKey {
        ServerSecret::from_bytes([n; 32]).portal_key()
    }

    fn session() -> Session {
        Session {
            lic: 7,
            sid: "00112233445566778899aabbccddeeff".into(),
            iat: 1000,
            exp: 1000 + SESSION_TTL_SECS,
        }
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let value = seal(&key(1), &session());
        assert_eq!(open(&key(1), &value, 1001), Ok(session()));
        assert_eq!(
            open(&key(1), &value, 1000 + SESSION_TTL_SECS),
            Err(SessionError::Expired)
        );
        assert_eq!(
            open(&key(1), &value, 1000 - MAX_CLOCK_SKEW_SECS - 1),
            Err(SessionError::NotYetValid)
        );
    }

    #[test]
    fn new_sessions_have_distinct_random_ids() {
        let a = Session::new(LicenseNumber(1), 5).unwrap();
        let b = Session::new(LicenseNumber(1), 5).unwrap();
        assert_ne!(a.sid, b.sid);
        assert_eq!(a.sid.len(), SESSION_ID_BYTES * 2);
        assert_eq!(a.exp, 5 + SESSION_TTL_SECS);
    }

    #[test]
    fn a_tampered_or_foreign_cookie_is_refused() {
        let value = seal(&key(1), &session());
        assert_eq!(open(&key(2), &value, 1001), Err(SessionError::BadSignature));
        // Another license's claims under this cookie's signature.
        let mut other = session();
        other.lic = 8;
        let (forged, _) = seal(&key(2), &other)
            .rsplit_once('.')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap();
        let (_, tag) = value.rsplit_once('.').unwrap();
        assert_eq!(
            open(&key(1), &format!("{forged}.{tag}"), 1001),
            Err(SessionError::BadSignature)
        );
        // A later expiry, same signature.
        let mut longer = session();
        longer.exp += 10 * SESSION_TTL_SECS;
        let (forged, _) = seal(&key(2), &longer)
            .rsplit_once('.')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap();
        assert_eq!(
            open(&key(1), &format!("{forged}.{tag}"), 1001),
            Err(SessionError::BadSignature)
        );
        for bad in [
            "",
            "vps1.",
            "vps1..",
            "vps2.abc.def",
            "vpt1.abc.def",
            &format!("{value}x"),
            &"vps1.a".repeat(200),
        ] {
            assert!(open(&key(1), bad, 1001).is_err(), "{bad}");
        }
        assert_eq!(
            open(&key(1), "vpt1.abc.def", 1001),
            Err(SessionError::Malformed)
        );
    }

    #[test]
    fn a_signed_payload_with_unknown_fields_is_malformed() {
        let payload =
            URL_SAFE_NO_PAD.encode(br#"{"lic":1,"sid":"x","iat":1000,"exp":99999,"admin":true}"#);
        let signed = format!("{SESSION_PREFIX}{payload}");
        let tag = mac(&key(1), &[b"session", signed.as_bytes()]).finalize();
        let value = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.into_bytes()));
        assert_eq!(open(&key(1), &value, 1001), Err(SessionError::Malformed));
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let s = session();
        let t = csrf_token(&key(1), &s);
        assert_eq!(check_csrf(&key(1), &s, &t), Ok(()));
        let mut other = s.clone();
        other.sid = "ffeeddccbbaa99887766554433221100".into();
        assert_eq!(
            check_csrf(&key(1), &other, &t),
            Err(SessionError::BadCsrfToken)
        );
        assert_eq!(check_csrf(&key(2), &s, &t), Err(SessionError::BadCsrfToken));
        for bad in ["", "!!", "AAAA"] {
            assert_eq!(
                check_csrf(&key(1), &s, bad),
                Err(SessionError::BadCsrfToken)
            );
        }
        // A sign-in token for the same string is not a session token.
        assert_eq!(
            check_csrf(&key(1), &s, &sign_in_token(&key(1), &s.sid)),
            Err(SessionError::BadCsrfToken)
        );
    }

    #[test]
    fn sign_in_tokens_need_the_nonce_cookie() {
        let nonce = random_hex().unwrap();
        let t = sign_in_token(&key(1), &nonce);
        assert_eq!(check_sign_in(&key(1), &nonce, &t), Ok(()));
        let other = random_hex().unwrap();
        assert_eq!(
            check_sign_in(&key(1), &other, &t),
            Err(SessionError::BadCsrfToken)
        );
        assert_eq!(
            check_sign_in(&key(1), "", &t),
            Err(SessionError::BadCsrfToken)
        );
        assert_eq!(
            check_sign_in(&key(1), "not-hex-not-hex-not-hex-not-hex-", &t),
            Err(SessionError::BadCsrfToken)
        );
    }
}
