//! Fuzzes vouch-proxy's own parsers of untrusted input, chosen by the first
//! byte: the request-path router (`route::parse`, client-controlled: SSRF and
//! `..` tricks live here), the `Authorization` header
//! (`auth::parse_authorization`) and the manifest/index link walker behind
//! digest entitlement (`entitlement::links`, upstream-controlled JSON). The
//! parsers the proxy shares with vouch (digests, names, `WWW-Authenticate`,
//! `Link`, manifests) are fuzzed once, by the `oci_*` targets.
//!
//! Properties: never panics; a routed path never contains a `..` segment.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
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
        _ => {
            let _ = vouch_proxy::entitlement::links(rest);
        }
    }
});
