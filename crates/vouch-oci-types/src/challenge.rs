//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1; distribution's token
//! auth): `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
//!
//! The header is registry-controlled, so it is bounded by
//! [`MAX_CHALLENGE_LEN`] and every malformed form is a typed refusal.

use std::collections::HashMap;

/// Longest `WWW-Authenticate` header parsed. Real challenges are a realm
/// URL, a service name and a scope, well under 1 KiB; 4 KiB leaves room for
/// long repository paths in the scope.
pub const MAX_CHALLENGE_LEN: usize = 4 * 1024;

/// An authentication scheme named in a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Basic` (RFC 7617).
    Basic,
    /// `Bearer` (the distribution token flow).
    Bearer,
    /// Any other scheme, as written.
    Other(String),
}

/// A parsed challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme.
    pub scheme: AuthScheme,
    /// Its auth-params, keys lower-cased (`realm`, `service`, `scope`),
    /// quoted values unescaped.
    pub params: HashMap<String, String>,
}

/// Why a challenge could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// Longer than [`MAX_CHALLENGE_LEN`].
    #[error("WWW-Authenticate challenge longer than {MAX_CHALLENGE_LEN} bytes")]
    TooLong,
    /// Empty, or no scheme before the parameters.
    #[error("WWW-Authenticate challenge without a scheme")]
    NoScheme,
    /// A parameter without `=`.
    #[error("WWW-Authenticate parameter without a value")]
    NoValue,
    /// A quoted value without its closing quote (or ending in `\`).
    #[error("WWW-Authenticate parameter with an unterminated quoted value")]
    Unterminated,
}

/// Parses a challenge: a scheme, then comma-separated `key=value` or
/// `key="quoted \"value\""` parameters.
pub fn parse_challenge(header: &str) -> Result<Challenge, ChallengeError> {
    if header.len() > MAX_CHALLENGE_LEN {
        return Err(ChallengeError::TooLong);
    }
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.is_empty() || scheme.contains('=') {
        return Err(ChallengeError::NoScheme);
    }
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        AuthScheme::Bearer
    } else if scheme.eq_ignore_ascii_case("basic") {
        AuthScheme::Basic
    } else {
        AuthScheme::Other(scheme.to_string())
    };
    let mut params = HashMap::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').ok_or(ChallengeError::NoValue)?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => quoted_value(quoted)?,
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        params.insert(key, value);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Ok(Challenge { scheme, params })
}

/// A quoted-string's value (RFC 9110 §5.6.4: `\` escapes the next
/// character) and what follows its closing quote.
fn quoted_value(quoted: &str) -> Result<(String, &str), ChallengeError> {
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next().ok_or(ChallengeError::Unterminated)?.1),
            '"' => return Ok((value, &quoted[i + 1..])),
            c => value.push(c),
        }
    }
    Err(ChallengeError::Unterminated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, AuthScheme::Bearer);
        assert_eq!(c.params["realm"], "https://auth.example.com/token");
        assert_eq!(c.params["service"], "registry.example.com");
        assert_eq!(c.params["scope"], "repository:a/b:pull");
        let c = parse_challenge(r#"  basic Realm="basic-realm""#).unwrap();
        assert_eq!(c.scheme, AuthScheme::Basic);
        assert_eq!(c.params["realm"], "basic-realm");
        let c = parse_challenge(r#"Bearer realm="a\"b", service=svc"#).unwrap();
        assert_eq!(c.params["realm"], "a\"b");
        assert_eq!(c.params["service"], "svc");
        let c = parse_challenge("Negotiate").unwrap();
        assert_eq!(c.scheme, AuthScheme::Other("Negotiate".into()));
        assert!(c.params.is_empty());
    }

    #[test]
    fn refuses_unreadable_challenges_naming_why() {
        use ChallengeError as E;
        for (bad, expected) in [
            (r#"Bearer realm="unterminated"#, E::Unterminated),
            (r#"Bearer realm="ends in \"#, E::Unterminated),
            ("Bearer novalue", E::NoValue),
            (r#"Bearer realm="r", x"#, E::NoValue),
            ("", E::NoScheme),
            ("   ", E::NoScheme),
            (r#"realm="r""#, E::NoScheme),
        ] {
            assert_eq!(parse_challenge(bad), Err(expected), "{bad:?}");
        }
        let long = format!("Bearer realm=\"{}\"", "a".repeat(MAX_CHALLENGE_LEN));
        assert_eq!(parse_challenge(&long), Err(E::TooLong));
    }
}
