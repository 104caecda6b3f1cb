//! Fuzzes `vouch_oci_types::parse_challenge`, the `WWW-Authenticate`
//! parser both binaries use on registry-controlled headers.
//!
//! Properties: never panics; nothing longer than `MAX_CHALLENGE_LEN` is
//! accepted; parameter keys are lower-case; a challenge rebuilt from what
//! was parsed (every value quoted and escaped) parses to the same thing.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_oci_types::{AuthScheme, MAX_CHALLENGE_LEN, parse_challenge};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(challenge) = parse_challenge(text) else {
        return;
    };
    assert!(text.len() <= MAX_CHALLENGE_LEN);
    assert!(
        challenge
            .params
            .keys()
            .all(|k| *k == k.to_ascii_lowercase())
    );
    // Rebuild only what the grammar can carry back unchanged: keys without
    // separators or surrounding blanks, a scheme that is one word.
    let scheme = match &challenge.scheme {
        AuthScheme::Basic => "Basic".to_string(),
        AuthScheme::Bearer => "Bearer".to_string(),
        AuthScheme::Other(s) => s.clone(),
    };
    let clean_key =
        |k: &str| !k.is_empty() && k == k.trim() && !k.contains([',', '=', '"', ' ', '\\']);
    if scheme.contains(char::is_whitespace)
        || scheme.contains('=')
        || !challenge.params.keys().all(|k| clean_key(k))
    {
        return;
    }
    let mut params: Vec<_> = challenge.params.iter().collect();
    params.sort();
    let rebuilt = params
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(",");
    let rebuilt = format!("{scheme} {rebuilt}");
    if rebuilt.len() > MAX_CHALLENGE_LEN {
        return;
    }
    assert_eq!(
        parse_challenge(&rebuilt).as_ref(),
        Ok(&challenge),
        "{text:?} rebuilt as {rebuilt:?}"
    );
});
