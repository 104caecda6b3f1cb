//! The error type of this crate and the small vocabulary its messages use.
//!
//! Every message says what was expected and what was found, and names the
//! place in the document (a JSONPath such as `$.subject[0].digest`) so that a
//! person can find the offending field without a debugger.

use std::fmt;

use serde_json::Value;

use crate::predicate_type::PredicateTypeName;

/// Which document an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DocumentKind {
    /// An in-toto statement (the decoded DSSE payload).
    Statement,
    /// An SPDX 2.x document in JSON form.
    SpdxJson,
    /// An SPDX 2.x document in tag-value form (cosign `--type spdx`).
    SpdxTagValue,
    /// A CycloneDX BOM in JSON form.
    CycloneDx,
    /// A SLSA provenance v0.2 predicate.
    SlsaProvenanceV02,
    /// A SLSA provenance v1 predicate.
    SlsaProvenanceV1,
    /// An OpenVEX document.
    OpenVex,
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Statement => "in-toto statement",
            Self::SpdxJson => "SPDX JSON predicate",
            Self::SpdxTagValue => "SPDX tag-value predicate",
            Self::CycloneDx => "CycloneDX predicate",
            Self::SlsaProvenanceV02 => "SLSA provenance v0.2 predicate",
            Self::SlsaProvenanceV1 => "SLSA provenance v1 predicate",
            Self::OpenVex => "OpenVEX predicate",
        })
    }
}

/// The JSON type of a value, as named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The JSON type of `value`.
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Boolean,
            Value::Number(_) => Self::Number,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Null => "null",
            Self::Boolean => "a boolean",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "an array",
            Self::Object => "an object",
        })
    }
}

/// Everything that can go wrong when parsing statements, predicates and
/// `--type` values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestError {
    /// The input is larger than the named limit for its kind.
    #[error("{document} is {size} bytes, larger than the limit of {limit} bytes")]
    TooLarge {
        /// What was being parsed.
        document: DocumentKind,
        /// The size of the input in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// The input is not well-formed JSON (or nests deeper than serde_json's
    /// recursion limit of 128).
    #[error("{document} is not valid JSON: {source}")]
    InvalidJson {
        /// What was being parsed.
        document: DocumentKind,
        /// The parser's description, with line and column.
        #[source]
        source: serde_json::Error,
    },

    /// An object has the same key twice.
    #[error(
        "{document}: duplicate key `{key}` in the object at `{path}`: expected each key at most \
         once (JSON parsers disagree on which copy wins, and cosign's protojson parser rejects it)"
    )]
    DuplicateKey {
        /// What was being parsed.
        document: DocumentKind,
        /// JSONPath of the object holding the duplicate key.
        path: String,
        /// The duplicated key, with control characters escaped.
        key: String,
    },

    /// A field has the wrong JSON type.
    #[error("{document}: expected {expected} at `{path}`, found {found}")]
    WrongType {
        /// What was being parsed.
        document: DocumentKind,
        /// JSONPath of the field.
        path: String,
        /// What the field must be.
        expected: &'static str,
        /// What it is.
        found: JsonType,
    },

    /// A required field is absent (or `null`).
    #[error("{document}: missing required field `{path}`")]
    MissingField {
        /// What was being parsed.
        document: DocumentKind,
        /// JSONPath of the missing field.
        path: String,
    },

    /// A field has the right type but a value this crate does not accept.
    #[error("{document}: expected {expected} at `{path}`, found `{found}`")]
    UnexpectedValue {
        /// What was being parsed.
        document: DocumentKind,
        /// JSONPath of the field (or the tag, for SPDX tag-value).
        path: String,
        /// What the value must be.
        expected: String,
        /// What it is, with control characters escaped and long values cut.
        found: String,
    },

    /// The statement's `_type` is not one of the two in-toto statement types.
    #[error(
        "in-toto statement has `_type` `{found}`: expected `https://in-toto.io/Statement/v0.1` \
         or `https://in-toto.io/Statement/v1`"
    )]
    UnsupportedStatementType {
        /// The `_type` found, escaped and cut.
        found: String,
    },

    /// The statement's `subject` array is empty.
    #[error("in-toto statement has an empty `subject` array: expected at least one subject")]
    EmptySubject,

    /// A `subject` entry is `null` (cosign: `invalid in-toto statement: null subject entry`).
    #[error("invalid in-toto statement: null subject entry at `$.subject[{index}]`")]
    NullSubjectEntry {
        /// Index of the entry.
        index: usize,
    },

    /// A subject has no digest at all.
    #[error(
        "in-toto statement: `$.subject[{index}].digest` is empty: expected at least one \
         algorithm → hex digest entry"
    )]
    EmptySubjectDigest {
        /// Index of the subject.
        index: usize,
    },

    /// More subjects than [`crate::MAX_SUBJECTS`].
    #[error("in-toto statement has {count} subjects: expected at most {limit}")]
    TooManySubjects {
        /// Number of subjects found.
        count: usize,
        /// The limit.
        limit: usize,
    },

    /// A subject with more digests than [`crate::MAX_SUBJECT_DIGESTS`].
    #[error(
        "in-toto statement: `$.subject[{index}].digest` has {count} entries: expected at most {limit}"
    )]
    TooManySubjectDigests {
        /// Index of the subject.
        index: usize,
        /// Number of digests found.
        count: usize,
        /// The limit.
        limit: usize,
    },

    /// The statement's `predicateType` is the empty string.
    #[error("in-toto statement has an empty `predicateType`: expected a predicate type URI")]
    EmptyPredicateType,

    /// No subject of the statement carries the expected digest.
    #[error(
        "no subject of the in-toto statement has digest `{expected}`; the statement's subjects \
         are: {}",
        list_subjects(found, *omitted)
    )]
    NoMatchingSubject {
        /// The digest looked for, as `<algorithm>:<hex>`.
        expected: String,
        /// The subjects' digests, one entry per subject (`name alg:hex, alg:hex`).
        found: Vec<String>,
        /// How many further subjects were left out of `found` to keep the message short.
        omitted: usize,
    },

    /// A `--type` value that is neither a known short name nor an absolute URI.
    #[error(
        "unknown predicate type `{given}`: expected one of {} or an absolute URI such as \
         `https://example.com/predicate/v1`",
        valid_type_names()
    )]
    UnknownPredicateType {
        /// The value given, escaped and cut.
        given: String,
    },
}

fn list_subjects(found: &[String], omitted: usize) -> String {
    let mut out = found.join("; ");
    if omitted > 0 {
        out.push_str(&format!("; … and {omitted} more"));
    }
    out
}

fn valid_type_names() -> String {
    PredicateTypeName::ALL
        .iter()
        .map(|name| name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_predicate_type_message_lists_every_short_name() {
        let message = AttestError::UnknownPredicateType {
            given: "sbom".into(),
        }
        .to_string();
        for name in PredicateTypeName::ALL {
            assert!(message.contains(name.as_str()), "{message} lacks {name}");
        }
        assert!(message.starts_with("unknown predicate type `sbom`: expected one of "));
    }

    #[test]
    fn no_matching_subject_message_says_how_many_were_left_out() {
        let err = AttestError::NoMatchingSubject {
            expected: "sha256:aa".into(),
            found: vec!["a sha256:bb".into()],
            omitted: 3,
        };
        assert_eq!(
            err.to_string(),
            "no subject of the in-toto statement has digest `sha256:aa`; the statement's \
             subjects are: a sha256:bb; … and 3 more"
        );
    }

    #[test]
    fn json_type_names_read_as_english() {
        assert_eq!(JsonType::of(&Value::Null).to_string(), "null");
        assert_eq!(JsonType::of(&serde_json::json!([])).to_string(), "an array");
        assert_eq!(JsonType::of(&serde_json::json!(1)).to_string(), "a number");
    }
}
