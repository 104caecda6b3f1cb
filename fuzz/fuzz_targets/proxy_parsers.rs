//! Fuzzes vouch-proxy's own parsers of untrusted input, chosen by the first
//! byte: the request-path router (`route::parse`, client-controlled: SSRF and
//! `..` tricks live here), the `Authorization` header
//! (`auth::parse_authorization`) and the manifest/index link walker behind
//! digest entitlement (`entitlement::links`, upstream-controlled JSON), and
//! the portal's session cookie and form tokens (`portal::session`,
//! browser-controlled). The
//! parsers the proxy shares with vouch (digests, names, `WWW-Authenticate`,
//! `Link`, manifests) are fuzzed once, by the `oci_*` targets.
//!
//! Properties: never panics; a routed path never contains a `..` segment; a
//! cookie that opens seals back to itself (one encoding per session).
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            if let Ok(path) = std::str::from_utf8(rest)
                && vouch_proxy::route::parse(path).is_ok()
            {
                assert!(
                    !path.split('/').any(|segment| segment == ".."),
                    "routed a path with a `..` segment: {path:?}"
                );
            }
        }
        1 => {
            let _ = vouch_proxy::auth::parse_authorization(Some(rest));
        }
        2 => {
            let _ = vouch_proxy::entitlement::links(rest);
        }
        _ => {
            use vouch_proxy::portal::session;
            let key = vouch_proxy::secret::ServerSecret::from_bytes([7; 32]).portal_key();
            let text = String::from_utf8_lossy(rest);
            if let Ok(opened) = session::open(&key, &text, 1_000) {
                assert_eq!(session::seal(&key, &opened), text, "two encodings of one session");
                let _ = session::check_csrf(&key, &opened, &text);
            }
            let _ = session::check_sign_in(&key, &text, &text);
        }
    }
});
