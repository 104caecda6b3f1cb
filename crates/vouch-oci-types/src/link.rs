//! The `Link` header a registry pages lists with (distribution-spec,
//! "Listing Tags" and "Listing Referrers": `Link: <url>; rel="next"`, the
//! RFC 8288 form).
//!
//! Registry-controlled: bounded by [`MAX_LINK_LEN`]. Where a link may lead
//! is the caller's policy (vouch follows only `/v2/` paths on the same
//! registry; the proxy only the same list).

/// Longest `Link` header read. A next-page link is a `/v2/…` path with `n`
/// and `last` (a tag or digest, at most a few hundred characters); 4 KiB
/// leaves room for several relations.
pub const MAX_LINK_LEN: usize = 4 * 1024;

/// Why a `Link` header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Longer than [`MAX_LINK_LEN`].
    #[error("Link header longer than {MAX_LINK_LEN} bytes")]
    TooLong,
    /// A link-value that is not `<target>` followed by `;`-separated
    /// parameters.
    #[error("malformed Link header: expected `<target>; rel=\"next\"`")]
    Malformed,
}

/// The target of the `rel="next"` link in a `Link` header value, `None`
/// when it has none. Relation types compare case-insensitively and may be
/// a space-separated list (RFC 8288 §3.3).
pub fn next_link(header: &str) -> Result<Option<&str>, LinkError> {
    if header.len() > MAX_LINK_LEN {
        return Err(LinkError::TooLong);
    }
    let mut rest = header.trim();
    while !rest.is_empty() {
        let after_open = rest.strip_prefix('<').ok_or(LinkError::Malformed)?;
        let (target, after) = after_open.split_once('>').ok_or(LinkError::Malformed)?;
        let (params, remaining) = after.split_once(',').unwrap_or((after, ""));
        if !params.trim().is_empty() && !params.trim_start().starts_with(';') {
            return Err(LinkError::Malformed);
        }
        if params.split(';').any(is_rel_next) {
            return Ok(Some(target.trim()));
        }
        rest = remaining.trim();
    }
    Ok(None)
}

/// Whether a link parameter is `rel=next` / `rel="next"` (or a relation
/// list that contains `next`).
fn is_rel_next(param: &str) -> bool {
    let Some((name, value)) = param.split_once('=') else {
        return false;
    };
    name.trim().eq_ignore_ascii_case("rel")
        && value
            .trim()
            .trim_matches('"')
            .split_ascii_whitespace()
            .any(|rel| rel.eq_ignore_ascii_case("next"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_next_links() {
        for (header, next) in [
            (
                r#"</v2/a/referrers/sha256:x?n=1&last=y>; rel="next""#,
                Some("/v2/a/referrers/sha256:x?n=1&last=y"),
            ),
            ("</v2/a?x>;rel=next", Some("/v2/a?x")),
            (
                r#"</v2/a?p>; rel="prev", </v2/a?n>; rel="next""#,
                Some("/v2/a?n"),
            ),
            (r#"</v2/a?x>; title="t"; REL="prev next""#, Some("/v2/a?x")),
            (r#"</v2/a?x>; rel="prev""#, None),
            ("</v2/a?x>", None),
            ("", None),
        ] {
            assert_eq!(next_link(header), Ok(next), "{header}");
        }
    }

    #[test]
    fn refuses_malformed_and_overlong_links() {
        for bad in [
            "garbage",
            r#"/v2/a?x; rel="next""#,
            r#"</v2/a?x; rel="next""#,
            r#"</v2/a?x> rel="next""#,
        ] {
            assert_eq!(next_link(bad), Err(LinkError::Malformed), "{bad}");
        }
        let long = format!(r#"</v2/{}>; rel="next""#, "a".repeat(MAX_LINK_LEN));
        assert_eq!(next_link(&long), Err(LinkError::TooLong));
    }
}
