//! Release versions as vendors tag them (`v1.2.3`, `1.2`, `v2.0.0-rc.1`),
//! ordered the way semver orders them, for a policy's per-image `since`.

use std::cmp::Ordering;

/// The most numeric components a version may have (`1.2.3.4`).
const MAX_COMPONENTS: usize = 4;
/// Longest version string considered; a tag is at most 128 characters.
const MAX_LEN: usize = 128;

/// A version: up to [`MAX_COMPONENTS`] numbers, an optional pre-release.
/// A leading `v` is ignored; missing components count as 0 (`1.2` = `1.2.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    numbers: [u64; MAX_COMPONENTS],
    pre_release: Option<String>,
}

impl Version {
    /// Parses `v1.2.3`, `1.2`, `v2.0.0-rc.1`; `None` for anything else
    /// (a branch name, `latest`, a date with another shape).
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > MAX_LEN {
            return None;
        }
        let text = text.strip_prefix('v').unwrap_or(text);
        let (core, pre_release) = match text.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_string())),
            Some(_) => return None,
            None => (text, None),
        };
        let mut numbers = [0; MAX_COMPONENTS];
        for (i, part) in core.split('.').enumerate() {
            if i == MAX_COMPONENTS || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            numbers[i] = part.parse().ok()?;
        }
        Some(Self {
            numbers,
            pre_release,
        })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        // A pre-release comes before its release (semver §11); two
        // pre-releases compare by their dot-separated identifiers.
        self.numbers.cmp(&other.numbers).then_with(|| {
            match (&self.pre_release, &other.pre_release) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_pre_release(a, b),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// semver §11.4: numeric identifiers compare as numbers and before
/// alphanumeric ones; a shorter list of equal identifiers comes first.
fn compare_pre_release(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn orders_versions_as_semver_does() {
        let ascending = [
            "0.9",
            "v1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "v1.0.0",
            "1.0.1",
            "v1.2",
            "1.2.0.1",
            "1.10.0",
            "v2.0.0",
        ];
        for pair in ascending.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("v1.2"), v("1.2.0"));
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for text in [
            "",
            "v",
            "latest",
            "main",
            "1..2",
            "1.2.x",
            "v1.2.3.4.5",
            "1.2-",
            "-rc1",
            " 1.2",
            "99999999999999999999999",
        ] {
            assert_eq!(Version::parse(text), None, "{text:?}");
        }
        assert_eq!(Version::parse(&"1".repeat(MAX_LEN + 1)), None);
    }
}
