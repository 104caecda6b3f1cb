//! The distribution token flow (distribution's "Token Authentication
//! Specification"), shared by vouch's registry client and vouch-proxy's
//! upstream client: where a token realm may be asked with credentials
//! ([`check_realm`], the policy a parameter), the request with retries on
//! 429/503 ([`fetch_token`]), and a cache that forgets tokens when they
//! expire ([`TokenCache`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::Url;

use crate::body::{ReadError, read_limited};
use crate::client::{MAX_RETRIES, MAX_RETRY_AFTER, backoff, oci_error_text, retry_after};

/// Largest token-endpoint answer read. Tokens are a few KiB (GCR's, the
/// largest seen, are under 2 KiB); 64 KiB leaves room for long JWTs.
pub const MAX_TOKEN_RESPONSE: u64 = 64 * 1024;
/// Largest error body from a token endpoint quoted in messages.
const MAX_TOKEN_ERROR_BODY: u64 = 16 * 1024;
/// Lifetime assumed when a token response gives no `expires_in`: the token
/// spec's default of 60 seconds.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(60);
/// Tokens are reused until this long before they expire, so none expires
/// in flight.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(10);
/// Most entries a [`TokenCache`] holds (one per registry and scope); a
/// full cache is emptied rather than grown.
pub const MAX_CACHED_TOKENS: usize = 1024;

/// Token servers that well-known registries name in their challenges,
/// trusted for them without being listed: (registry host, realm host), both
/// HTTPS on the default port. Docker Hub serves its API on
/// `registry-1.docker.io` and its tokens on `auth.docker.io`; GHCR, Quay,
/// ECR, GAR and distribution serve tokens on the registry host itself.
const KNOWN_REALMS: &[(&str, &str)] = &[
    ("registry-1.docker.io", "auth.docker.io"),
    ("index.docker.io", "auth.docker.io"),
    ("docker.io", "auth.docker.io"),
];

/// Which plain-HTTP realms may be asked at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainHttpRealms {
    /// Only when the registry itself is reached over plain HTTP (vouch:
    /// loopback or `--allow-http-registry`).
    WhenRegistryIsHttp,
    /// Any (vouch-proxy's `insecure_allow_http`); credentials still go over
    /// plain HTTP only to hosts [`RealmHosts`] trusts with them.
    Allowed,
}

/// Which hosts a realm may be on and still receive credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealmHosts<'a> {
    /// Any host the registry names over HTTPS (or plain HTTP when the
    /// registry is on it), as docker and cosign do: vouch's user chose the
    /// registry.
    Any,
    /// The registry's own origin, these hosts over the registry's scheme,
    /// and the well-known token servers of well-known registries
    /// (vouch-proxy: the vendor's credentials go nowhere else).
    Listed(&'a [RealmHost]),
}

/// Where a token realm may be asked with credentials.
#[derive(Debug, Clone, Copy)]
pub struct RealmPolicy<'a> {
    /// The registry's base URL (its origin: scheme, host, port).
    pub registry: &'a Url,
    /// Which plain-HTTP realms may be asked.
    pub plain_http: PlainHttpRealms,
    /// Which hosts receive credentials.
    pub hosts: RealmHosts<'a>,
}

/// How a realm may be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealmAccess {
    /// With the credentials.
    WithCredentials,
    /// Only without credentials (an anonymous request; the proxy sends it
    /// through its public-addresses-only client).
    AnonymousOnly,
}

/// Why a realm may not be asked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RealmError {
    /// Not `https`, or `http` where the policy does not allow it.
    #[error("token realm `{realm}` uses {scheme}://, which the policy does not allow")]
    Scheme {
        /// The realm.
        realm: String,
        /// Its scheme.
        scheme: String,
    },
}

/// Decides whether `realm` may be asked, and with what (the one realm
/// check of both binaries; the policy says which one applies).
pub fn check_realm(realm: &Url, policy: &RealmPolicy<'_>) -> Result<RealmAccess, RealmError> {
    let registry_is_http = policy.registry.scheme() == "http";
    let scheme_allowed = match realm.scheme() {
        "https" => true,
        "http" => registry_is_http || policy.plain_http == PlainHttpRealms::Allowed,
        _ => false,
    };
    if !scheme_allowed {
        return Err(RealmError::Scheme {
            realm: realm.to_string(),
            scheme: realm.scheme().to_string(),
        });
    }
    let trusted = match policy.hosts {
        // Credentials never travel in clear text to a realm unless the
        // registry itself is reached over plain HTTP.
        RealmHosts::Any => realm.scheme() == "https" || registry_is_http,
        RealmHosts::Listed(listed) => {
            realm.origin() == policy.registry.origin()
                || is_listed_realm(policy.registry, listed, realm)
                || is_known_realm(policy.registry, realm)
        }
    };
    Ok(if trusted {
        RealmAccess::WithCredentials
    } else {
        RealmAccess::AnonymousOnly
    })
}

/// Whether `realm` is on a listed host over the registry's own scheme: a
/// listed host never gets the credentials in cleartext for an HTTPS
/// registry.
fn is_listed_realm(registry: &Url, listed: &[RealmHost], realm: &Url) -> bool {
    realm.scheme() == registry.scheme() && listed.iter().any(|h| h.matches(realm))
}

/// Whether `realm` is the well-known token server of the registry at
/// `registry` ([`KNOWN_REALMS`]).
fn is_known_realm(registry: &Url, realm: &Url) -> bool {
    let https_default = |u: &Url| u.scheme() == "https" && u.port().is_none();
    https_default(registry)
        && https_default(realm)
        && KNOWN_REALMS.iter().any(|(registry_host, token_server)| {
            registry.host_str() == Some(registry_host) && realm.host_str() == Some(token_server)
        })
}

/// A host besides the registry's own that may receive credentials as a
/// token realm (vouch-proxy's `realm_hosts = ["auth.docker.io"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmHost {
    host: String,
    /// `None`: the realm URL's scheme's default port.
    port: Option<u16>,
}

/// Why a `realm_hosts` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?}: {problem}; expected host or host:port")]
pub struct RealmHostError {
    /// What was given.
    pub given: String,
    /// What is wrong with it.
    pub problem: RealmHostProblem,
}

/// What is wrong with a `realm_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RealmHostProblem {
    /// Empty, or with a scheme, path, user info, query or fragment.
    #[error("not a host")]
    NotAHost,
    /// Not a host name or address the URL parser accepts.
    #[error("{0}")]
    Unparsable(String),
    /// A port that is not a number from 0 to 65535.
    #[error("bad port")]
    Port,
}

impl RealmHost {
    /// Parses `host` or `host:port` (no scheme, path or user info).
    pub fn parse(text: &str) -> Result<Self, RealmHostError> {
        let refuse = |problem| RealmHostError {
            given: text.chars().take(256).collect(),
            problem,
        };
        if text.is_empty() || text.contains(['/', '@', '?', '#', '\\']) {
            return Err(refuse(RealmHostProblem::NotAHost));
        }
        // An explicit :443 is normalised away by the URL parser; keep it.
        let port = match text.rsplit_once(':') {
            Some((_, p)) if !text.ends_with(']') => {
                Some(p.parse().map_err(|_| refuse(RealmHostProblem::Port))?)
            }
            _ => None,
        };
        let url = Url::parse(&format!("https://{text}"))
            .map_err(|e| refuse(RealmHostProblem::Unparsable(e.to_string())))?;
        let host = url
            .host_str()
            .ok_or_else(|| refuse(RealmHostProblem::NotAHost))?;
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }

    /// Whether `url` is on this host (and port).
    pub fn matches(&self, url: &Url) -> bool {
        url.host_str() == Some(self.host.as_str())
            && match self.port {
                None => url.port().is_none(),
                Some(port) => url.port_or_known_default() == Some(port),
            }
    }
}

/// What the token endpoint is shown.
#[derive(Clone, Copy)]
pub enum TokenCredential<'a> {
    /// Nothing: an anonymous token.
    Anonymous,
    /// A user name and password, as HTTP Basic on a GET.
    Basic {
        /// The user name.
        username: &'a str,
        /// The password.
        password: &'a str,
    },
    /// An identity token, POSTed as an OAuth2 refresh-token grant.
    RefreshToken {
        /// The refresh token.
        token: &'a str,
        /// The OAuth2 `client_id` to name.
        client_id: &'a str,
    },
}

impl std::fmt::Debug for TokenCredential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Anonymous => "Anonymous",
            Self::Basic { .. } => "Basic(redacted)",
            Self::RefreshToken { .. } => "RefreshToken(redacted)",
        })
    }
}

/// One token request: the realm (already judged by [`check_realm`]), the
/// challenge's service, the scope, and the credential.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    /// The realm URL.
    pub realm: &'a Url,
    /// The challenge's `service`, when it named one.
    pub service: Option<&'a str>,
    /// The scope asked for (`repository:<path>:pull`).
    pub scope: &'a str,
    /// What to show the endpoint.
    pub credential: TokenCredential<'a>,
}

/// A token and when to stop using it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The bearer token.
    pub value: String,
    /// When it expires, less [`TOKEN_REFRESH_MARGIN`].
    pub expires_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why no token was obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The request could not be sent (connection, TLS, DNS, timeout).
    #[error("token endpoint: {0}")]
    Send(#[source] reqwest::Error),
    /// The endpoint refused the credentials (401 or 403).
    #[error("the token endpoint refused the credentials ({status}): {detail}")]
    Refused {
        /// 401 or 403.
        status: u16,
        /// What the endpoint said.
        detail: String,
    },
    /// Any other non-success status (after retries for 429/503).
    #[error("token endpoint answered {status}")]
    Status {
        /// The status.
        status: u16,
    },
    /// The answer could not be read within [`MAX_TOKEN_RESPONSE`].
    #[error("token response: {0}")]
    Body(#[source] ReadError),
    /// The answer is not JSON.
    #[error("token response is not JSON: {0}")]
    NotJson(String),
    /// The answer names no token.
    #[error("token response has no `token` or `access_token`")]
    NoToken,
}

/// Asks `request.realm` for a token: a GET with the service and scope (and
/// Basic credentials), or a POSTed refresh-token grant. 429 and 503 are
/// retried ([`MAX_RETRIES`], honouring `Retry-After` up to
/// [`MAX_RETRY_AFTER`]): a token endpoint may rate-limit too (a
/// license-gated proxy does, per license). `sent` counts the requests.
pub async fn fetch_token(
    http: &reqwest::Client,
    request: &TokenRequest<'_>,
    sent: Option<&AtomicU64>,
) -> Result<Token, TokenError> {
    let build = || {
        let mut params = Vec::with_capacity(5);
        if let Some(service) = request.service {
            params.push(("service", service));
        }
        params.push(("scope", request.scope));
        match request.credential {
            TokenCredential::RefreshToken { token, client_id } => {
                params.extend([
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("client_id", client_id),
                ]);
                http.post(request.realm.clone()).form(&params)
            }
            TokenCredential::Basic { username, password } => http
                .get(request.realm.clone())
                .query(&params)
                .basic_auth(username, Some(password)),
            TokenCredential::Anonymous => http.get(request.realm.clone()).query(&params),
        }
    };
    let mut attempt = 0;
    let response = loop {
        if let Some(sent) = sent {
            sent.fetch_add(1, Ordering::Relaxed);
        }
        let response = build().send().await.map_err(TokenError::Send)?;
        let status = response.status();
        if (status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE)
            && attempt < MAX_RETRIES
        {
            attempt += 1;
            let wait = retry_after(response.headers()).unwrap_or_else(|| backoff(attempt));
            if wait <= MAX_RETRY_AFTER {
                tokio::time::sleep(wait).await;
                continue;
            }
        }
        break response;
    };
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let body = read_limited(response, MAX_TOKEN_ERROR_BODY)
            .await
            .unwrap_or_default();
        return Err(TokenError::Refused {
            status: status.as_u16(),
            detail: oci_error_text(&body),
        });
    }
    if !status.is_success() {
        return Err(TokenError::Status {
            status: status.as_u16(),
        });
    }
    let body = read_limited(response, MAX_TOKEN_RESPONSE)
        .await
        .map_err(TokenError::Body)?;
    parse_token_response(&body, Instant::now())
}

/// Reads a token response: `token` (or OAuth2's `access_token`), and
/// `expires_in` seconds, [`DEFAULT_TOKEN_TTL`] when absent.
fn parse_token_response(body: &[u8], now: Instant) -> Result<Token, TokenError> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let parsed: TokenResponse =
        serde_json::from_slice(body).map_err(|e| TokenError::NotJson(e.to_string()))?;
    let value = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::NoToken)?;
    let ttl = parsed
        .expires_in
        .map_or(DEFAULT_TOKEN_TTL, Duration::from_secs)
        .saturating_sub(TOKEN_REFRESH_MARGIN);
    Ok(Token {
        value,
        expires_at: now + ttl,
    })
}

/// `Authorization` values by key (registry and scope), each until it
/// expires. Bounded by [`MAX_CACHED_TOKENS`].
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (String, Option<Instant>)>>,
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value cached under `key`, unless it has expired.
    pub fn get(&self, key: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, expires)| expires.is_none_or(|at| at > Instant::now()))
            .map(|(value, _)| value.clone())
    }

    /// Caches `value` under `key` until `expires_at` (`None`: for as long
    /// as the cache lives, e.g. a Basic header).
    pub fn insert(&self, key: &str, value: String, expires_at: Option<Instant>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHED_TOKENS && !entries.contains_key(key) {
            entries.clear();
        }
        entries.insert(key.to_string(), (value, expires_at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn vouch_policy(registry: &Url) -> RealmPolicy<'_> {
        RealmPolicy {
            registry,
            plain_http: PlainHttpRealms::WhenRegistryIsHttp,
            hosts: RealmHosts::Any,
        }
    }

    #[test]
    fn credentials_never_go_to_a_plain_http_realm_of_an_https_registry() {
        let https = url("https://ghcr.io");
        let http = url("http://localhost:5000");
        let realm = |s| check_realm(&url(s), &vouch_policy(&https));
        assert_eq!(
            realm("https://auth.example/t"),
            Ok(RealmAccess::WithCredentials)
        );
        assert!(matches!(
            realm("http://auth.example/t"),
            Err(RealmError::Scheme { .. })
        ));
        assert!(matches!(
            realm("ftp://auth.example/t"),
            Err(RealmError::Scheme { .. })
        ));
        for realm in ["https://auth.example/t", "http://auth.example/t"] {
            assert_eq!(
                check_realm(&url(realm), &vouch_policy(&http)),
                Ok(RealmAccess::WithCredentials),
                "{realm}"
            );
        }
    }

    fn proxy_policy<'a>(registry: &'a Url, listed: &'a [RealmHost]) -> RealmPolicy<'a> {
        RealmPolicy {
            registry,
            plain_http: PlainHttpRealms::Allowed,
            hosts: RealmHosts::Listed(listed),
        }
    }

    #[test]
    fn a_listed_realm_gets_credentials_only_over_the_registrys_scheme() {
        let listed = [RealmHost::parse("auth.example.com").unwrap()];
        let https = url("https://registry.example.com");
        let access = |registry: &Url, realm: &str| {
            check_realm(&url(realm), &proxy_policy(registry, &listed)).unwrap()
        };
        let http = url("http://registry.internal:5000");
        use RealmAccess::{AnonymousOnly, WithCredentials};
        for (registry, realm, expected) in [
            (&https, "https://auth.example.com/t", WithCredentials),
            (&https, "http://auth.example.com/t", AnonymousOnly),
            (&https, "https://other.example.com/t", AnonymousOnly),
            (
                &https,
                "https://registry.example.com/token",
                WithCredentials,
            ),
            (
                &https,
                "https://registry.example.com:8443/token",
                AnonymousOnly,
            ),
            (&http, "http://auth.example.com/t", WithCredentials),
        ] {
            assert_eq!(access(registry, realm), expected, "{registry} {realm}");
        }
        let strict = RealmPolicy {
            plain_http: PlainHttpRealms::WhenRegistryIsHttp,
            ..proxy_policy(&https, &listed)
        };
        assert!(matches!(
            check_realm(&url("http://auth.example.com/t"), &strict),
            Err(RealmError::Scheme { .. })
        ));
    }

    #[test]
    fn docker_hubs_token_server_is_known_only_for_docker_hub_over_https() {
        let realm = url("https://auth.docker.io/token");
        for hub in ["https://registry-1.docker.io", "https://index.docker.io"] {
            assert!(is_known_realm(&url(hub), &realm), "{hub}");
        }
        for (registry, realm) in [
            ("https://ghcr.io", "https://auth.docker.io/token"),
            (
                "https://registry-1.docker.io",
                "http://auth.docker.io/token",
            ),
            (
                "https://registry-1.docker.io",
                "https://auth.docker.io:8443/token",
            ),
            (
                "https://registry-1.docker.io",
                "https://auth.docker.io.evil.test/token",
            ),
            (
                "http://registry-1.docker.io",
                "https://auth.docker.io/token",
            ),
            (
                "https://registry-1.docker.io.evil.test",
                "https://auth.docker.io/token",
            ),
        ] {
            assert!(
                !is_known_realm(&url(registry), &url(realm)),
                "{registry} {realm}"
            );
        }
    }

    #[test]
    fn realm_hosts_match_host_and_port() {
        let docker = RealmHost::parse("auth.docker.io").unwrap();
        assert!(docker.matches(&url("https://auth.docker.io/token")));
        assert!(docker.matches(&url("https://auth.docker.io:443/token")));
        assert!(!docker.matches(&url("https://auth.docker.io:8443/token")));
        assert!(!docker.matches(&url("https://auth.docker.io.evil.test/token")));
        let port = RealmHost::parse("127.0.0.1:5001").unwrap();
        assert!(port.matches(&url("http://127.0.0.1:5001/token")));
        assert!(!port.matches(&url("http://127.0.0.1:5002/token")));
        assert!(!port.matches(&url("http://localhost:5001/token")));
        let v6 = RealmHost::parse("[::1]:5001").unwrap();
        assert!(v6.matches(&url("http://[::1]:5001/token")));
        assert!(
            RealmHost::parse("[::1]")
                .unwrap()
                .matches(&url("https://[::1]/t"))
        );
    }

    #[test]
    fn realm_hosts_refuse_what_is_not_a_host() {
        use RealmHostProblem as P;
        for bad in [
            "",
            "https://auth.docker.io",
            "auth.docker.io/token",
            "u@h",
            "a?b",
        ] {
            assert_eq!(
                RealmHost::parse(bad).unwrap_err().problem,
                P::NotAHost,
                "{bad}"
            );
        }
        for bad in ["h:x", "h:70000", "h:"] {
            assert_eq!(RealmHost::parse(bad).unwrap_err().problem, P::Port, "{bad}");
        }
        for bad in ["a b", "[::1"] {
            assert!(
                matches!(RealmHost::parse(bad).unwrap_err().problem, P::Unparsable(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn token_responses_give_a_token_and_its_lifetime() {
        let now = Instant::now();
        let t = parse_token_response(br#"{"token":"abc","expires_in":300}"#, now).unwrap();
        assert_eq!(t.value, "abc");
        assert_eq!(t.expires_at, now + Duration::from_secs(290));
        let t = parse_token_response(br#"{"access_token":"xyz"}"#, now).unwrap();
        assert_eq!(t.value, "xyz");
        assert_eq!(t.expires_at, now + DEFAULT_TOKEN_TTL - TOKEN_REFRESH_MARGIN);
        let t = parse_token_response(br#"{"token":"","access_token":"xyz"}"#, now).unwrap();
        assert_eq!(t.value, "xyz");
        let t = parse_token_response(br#"{"token":"a","expires_in":5}"#, now).unwrap();
        assert_eq!(
            t.expires_at, now,
            "a lifetime under the margin is not reused"
        );
        for bad in [&br#"{}"#[..], br#"{"token":""}"#, br#"{"token":null}"#] {
            assert!(matches!(
                parse_token_response(bad, now),
                Err(TokenError::NoToken)
            ));
        }
        assert!(matches!(
            parse_token_response(b"<html>", now),
            Err(TokenError::NotJson(_))
        ));
    }

    #[test]
    fn the_cache_forgets_expired_tokens_and_stays_bounded() {
        let cache = TokenCache::new();
        let past = Instant::now() - Duration::from_secs(1);
        let future = Instant::now() + Duration::from_secs(60);
        cache.insert("a", "Bearer old".into(), Some(past));
        cache.insert("b", "Bearer new".into(), Some(future));
        cache.insert("c", "Basic x".into(), None);
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("b").as_deref(), Some("Bearer new"));
        assert_eq!(cache.get("c").as_deref(), Some("Basic x"));
        for i in 0..MAX_CACHED_TOKENS + 10 {
            cache.insert(&format!("k{i}"), "v".into(), None);
        }
        let len = cache.entries.lock().unwrap().len();
        assert!(len <= MAX_CACHED_TOKENS, "{len}");
    }
}
