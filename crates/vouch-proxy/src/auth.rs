//! Credentials on the wire: the `Authorization` header, the proxy's own
//! bearer tokens, token-request scopes, and the `WWW-Authenticate`
//! challenge (docker token spec, distribution `docs/spec/auth/token.md`).
//!
//! Tokens are opaque to clients (the token spec says so), so they use a
//! small format of our own rather than JWT: `vpt1.<claims>.<mac>`, where
//! claims is base64url JSON and mac is HMAC-SHA256 over `vpt1.<claims>`
//! under a key derived from the server secret. One algorithm, no header
//! to negotiate, nothing to confuse.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::names::AppSlug;
use crate::secret::TokenKey;
use crate::store::LicenseNumber;

/// Longest `Authorization` header considered. A Basic header with a
/// 254-byte email and a 128-byte license ID is under 600 bytes and our
/// tokens are under [`MAX_TOKEN_LEN`]; 8 KiB is also the common per-header
/// limit of HTTP servers (nginx `large_client_header_buffers`).
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// Longest token accepted: [`MAX_SCOPES`] names of at most 255 bytes,
/// base64-expanded, fit in 6 KiB.
pub const MAX_TOKEN_LEN: usize = 6 * 1024;
/// Most repository scopes granted in one token. Docker asks for one (two
/// for a cross-repository mount, which a pull-only proxy never grants).
pub const MAX_SCOPES: usize = 16;
/// Clock skew tolerated for a token's issue time (replicas' clocks).
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;
/// The token format version prefix.
const TOKEN_PREFIX: &str = "vpt1.";

/// What a request presented.
#[derive(Clone, PartialEq, Eq)]
pub enum Presented {
    /// No `Authorization` header.
    Missing,
    /// `Basic base64(user:password)`.
    Basic {
        /// The username (expected: the customer's email).
        username: String,
        /// The password (expected: the license ID).
        password: String,
    },
    /// `Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("Missing"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Why an `Authorization` header cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthHeaderError {
    /// Longer than [`MAX_AUTHORIZATION_LEN`].
    #[error("Authorization header longer than {MAX_AUTHORIZATION_LEN} bytes")]
    TooLong,
    /// Not `Basic` or `Bearer`.
    #[error("Authorization scheme must be Basic or Bearer")]
    UnknownScheme,
    /// Basic credentials that are not base64 of UTF-8 `user:password`.
    #[error("Basic credentials must be base64 of user:password")]
    MalformedBasic,
    /// An empty bearer token.
    #[error("empty bearer token")]
    EmptyBearer,
}

/// Reads an `Authorization` header value.
pub fn parse_authorization(value: Option<&[u8]>) -> Result<Presented, AuthHeaderError> {
    let Some(value) = value else {
        return Ok(Presented::Missing);
    };
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(AuthHeaderError::TooLong);
    }
    let value = std::str::from_utf8(value).map_err(|_| AuthHeaderError::UnknownScheme)?;
    let (scheme, rest) = value
        .split_once(' ')
        .ok_or(AuthHeaderError::UnknownScheme)?;
    let rest = rest.trim_matches(' ');
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD
            .decode(rest)
            .map_err(|_| AuthHeaderError::MalformedBasic)?;
        let text = String::from_utf8(decoded).map_err(|_| AuthHeaderError::MalformedBasic)?;
        let (username, password) = text
            .split_once(':')
            .ok_or(AuthHeaderError::MalformedBasic)?;
        Ok(Presented::Basic {
            username: username.to_string(),
            password: password.to_string(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(AuthHeaderError::EmptyBearer);
        }
        Ok(Presented::Bearer(rest.to_string()))
    } else {
        Err(AuthHeaderError::UnknownScheme)
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenClaims {
    /// Format version (1).
    pub v: u8,
    /// The license.
    pub lic: i64,
    /// The license's app.
    pub app: String,
    /// Client repository names granted `pull`.
    pub repos: Vec<String>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

impl TokenClaims {
    /// Claims for a license.
    pub fn new(
        license: LicenseNumber,
        app: &AppSlug,
        repos: Vec<String>,
        issued_at: i64,
        ttl_secs: i64,
    ) -> Self {
        Self {
            v: 1,
            lic: license.0,
            app: app.to_string(),
            repos,
            iat: issued_at,
            exp: issued_at + ttl_secs,
        }
    }

    /// The license number.
    pub fn license(&self) -> LicenseNumber {
        LicenseNumber(self.lic)
    }

    /// Whether the token grants pull on a client repository name.
    pub fn grants(&self, name: &str) -> bool {
        self.repos.iter().any(|r| r == name)
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a token of ours, or damaged.
    #[error("malformed token")]
    Malformed,
    /// The signature does not verify (forged, or another deployment's key).
    #[error("token signature does not verify")]
    BadSignature,
    /// Past its expiry.
    #[error("token expired at {0}")]
    Expired(i64),
    /// Issued in the future (clock skew beyond tolerance).
    #[error("token issued in the future")]
    NotYetValid,
}

fn mac(key: &TokenKey) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes any key length")
}

/// Signs claims into a token.
pub fn mint(key: &TokenKey, claims: &TokenClaims) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signed = format!("{TOKEN_PREFIX}{payload}");
    let mut m = mac(key);
    m.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    )
}

/// Checks a token's signature and lifetime at `now` (Unix seconds).
pub fn verify(key: &TokenKey, token: &str, now: i64) -> Result<TokenClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN || !token.starts_with(TOKEN_PREFIX) {
        return Err(TokenError::Malformed);
    }
    let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let mut m = mac(key);
    m.update(signed.as_bytes());
    // Constant-time comparison (hmac's verify_slice uses subtle).
    m.verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(&signed[TOKEN_PREFIX.len()..])
        .map_err(|_| TokenError::Malformed)?;
    let claims: TokenClaims =
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    if claims.v != 1 || claims.repos.len() > MAX_SCOPES {
        return Err(TokenError::Malformed);
    }
    if claims.exp <= now {
        return Err(TokenError::Expired(claims.exp));
    }
    if claims.iat > now + MAX_CLOCK_SKEW_SECS {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

/// Repository names a token request asks `pull` for: from
/// `repository:<name>:<actions>` scopes (several per parameter, space
/// separated, as the OAuth2 form sends them). Other resource types,
/// malformed scopes and scopes without `pull` are dropped: the token spec
/// grants the intersection of what is asked and what is allowed.
pub fn requested_pull_names<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names = Vec::new();
    for scope in scopes.into_iter().flat_map(|s| s.split(' ')) {
        let Some(rest) = scope.strip_prefix("repository:") else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        if actions.split(',').any(|a| a == "pull" || a == "*") && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// Whether a `Host` header is safe to put in a realm URL: a DNS name,
/// IPv4 address or bracketed IPv6 address, with an optional port. This
/// keeps quotes, commas and spaces out of the challenge header.
pub fn is_valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match (after, after.strip_prefix(':')) {
            ("", _) => (None, None),
            (_, Some(port)) => (None, Some(port)),
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    let name_ok = name.is_none_or(|n| {
        !n.is_empty()
            && n.len() <= 253
            && n.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|p| p > 0));
    name_ok && port_ok
}

/// A `WWW-Authenticate: Bearer …` value. `host` must have passed
/// [`is_valid_host`]; `scope_name` is a validated client repository name.
pub fn bearer_challenge(
    scheme: &str,
    host: &str,
    scope_name: Option<&str>,
    insufficient_scope: bool,
) -> String {
    let mut value = format!("Bearer realm=\"{scheme}://{host}/v2/token\",service=\"{host}\"");
    if let Some(name) = scope_name {
        value.push_str(&format!(",scope=\"repository:{name}:pull\""));
    }
    if insufficient_scope {
        value.push_str(",error=\"insufficient_scope\"");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ServerSecret;

    fn basic(user_pass: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(user_pass)).into_bytes()
    }

    #[test]
    fn reads_basic_and_bearer() {
        assert_eq!(parse_authorization(None), Ok(Presented::Missing));
        assert_eq!(
            parse_authorization(Some(&basic("a@b.c:vpl_x:y"))),
            Ok(Presented::Basic {
                username: "a@b.c".into(),
                password: "vpl_x:y".into()
            })
        );
        assert_eq!(
            parse_authorization(Some(b"bearer abc")),
            Ok(Presented::Bearer("abc".into()))
        );
    }

    #[test]
    fn refuses_malformed_authorization() {
        let long = vec![b'a'; MAX_AUTHORIZATION_LEN + 1];
        for (value, want) in [
            (long.as_slice(), AuthHeaderError::TooLong),
            (b"Digest x".as_slice(), AuthHeaderError::UnknownScheme),
            (b"Basic".as_slice(), AuthHeaderError::UnknownScheme),
            (b"Basic !!!".as_slice(), AuthHeaderError::MalformedBasic),
            (
                b"Basic bm9jb2xvbg==".as_slice(),
                AuthHeaderError::MalformedBasic,
            ), // "nocolon"
            (b"Basic /w==".as_slice(), AuthHeaderError::MalformedBasic), // 0xff, not UTF-8
            (b"Bearer  ".as_slice(), AuthHeaderError::EmptyBearer),
            (b"\xff\xfe x".as_slice(), AuthHeaderError::UnknownScheme),
        ] {
            assert_eq!(parse_authorization(Some(value)), Err(want), "{value:?}");
        }
    }

    fn key(n: u8) -> TokenKey {
        ServerSecret::from_bytes([n; 32]).token_key()
    }

    fn claims() -> TokenClaims {
        TokenClaims::new(
            LicenseNumber(7),
            &AppSlug::new("acme").unwrap(),
            vec!["proxy/acme/ghcr.io/acme/api".into()],
            1000,
            300,
        )
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let token = mint(&key(1), &claims());
        let got = verify(&key(1), &token, 1100).unwrap();
        assert_eq!(got, claims());
        assert!(got.grants("proxy/acme/ghcr.io/acme/api"));
        assert!(!got.grants("proxy/acme/ghcr.io/acme/other"));
        assert_eq!(
            verify(&key(1), &token, 1300),
            Err(TokenError::Expired(1300))
        );
        assert_eq!(
            verify(&key(1), &token, 1000 - MAX_CLOCK_SKEW_SECS - 1),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn forged_or_damaged_tokens_are_refused() {
        let token = mint(&key(1), &claims());
        assert_eq!(verify(&key(2), &token, 1100), Err(TokenError::BadSignature));
        // Swap in claims for another license, keep the signature.
        let mut other = claims();
        other.lic = 8;
        let forged_payload = mint(&key(2), &other);
        let (_, sig) = token.rsplit_once('.').unwrap();
        let (signed, _) = forged_payload.rsplit_once('.').unwrap();
        assert_eq!(
            verify(&key(1), &format!("{signed}.{sig}"), 1100),
            Err(TokenError::BadSignature)
        );
        for bad in [
            "",
            "vpt1.",
            "vpt1..",
            "vpt2.abc.def",
            "abc",
            &"vpt1.a".repeat(2000),
            &format!("{token}x"),
        ] {
            assert!(verify(&key(1), bad, 1100).is_err(), "{bad}");
        }
        // Validly signed but with unknown fields: refused.
        let payload = URL_SAFE_NO_PAD
            .encode(br#"{"v":1,"lic":1,"app":"a","repos":[],"iat":1000,"exp":2000,"admin":true}"#);
        let signed = format!("{TOKEN_PREFIX}{payload}");
        let mut m = mac(&key(1));
        m.update(signed.as_bytes());
        let token = format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        );
        assert_eq!(verify(&key(1), &token, 1100), Err(TokenError::Malformed));
    }

    #[test]
    fn scopes_keep_only_repository_pulls() {
        let names = requested_pull_names([
            "repository:proxy/acme/ghcr.io/acme/api:pull",
            "repository:proxy/acme/ghcr.io/acme/api:pull,push repository:proxy/acme/ghcr.io/acme/b:push",
            "registry:catalog:*",
            "repository:proxy/acme/ghcr.io/acme/c:*",
            "garbage",
            "repository:nocolon",
        ]);
        assert_eq!(
            names,
            vec!["proxy/acme/ghcr.io/acme/api", "proxy/acme/ghcr.io/acme/c"]
        );
    }

    #[test]
    fn hosts_are_checked_before_use_in_challenges() {
        for good in [
            "proxy.example.com",
            "127.0.0.1:8080",
            "[::1]:5000",
            "[::1]",
            "localhost",
        ] {
            assert!(is_valid_host(good), "{good}");
        }
        for bad in [
            "",
            "a\"b",
            "a,b",
            "a b",
            "evil.com/x",
            "a:0",
            "a:99999",
            "[::1",
            "[::1]x",
            "a..b",
            "a:",
        ] {
            assert!(!is_valid_host(bad), "{bad}");
        }
        assert_eq!(
            bearer_challenge("https", "p.example.com", Some("proxy/a/ghcr.io/x"), true),
            "Bearer realm=\"https://p.example.com/v2/token\",service=\"p.example.com\",scope=\"repository:proxy/a/ghcr.io/x:pull\",error=\"insufficient_scope\""
        );
    }
}
