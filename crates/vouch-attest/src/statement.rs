//! in-toto statements: parsing with limits, and subject digest matching.
//!
//! Source: in-toto attestation `spec/v1/statement.md` and
//! `go/v1/statement.go` (`Validate`), cosign `IntotoSubjectClaimVerifier`
//! (SPEC.md §2.2), sigstore-go `pkg/verify/signature.go` (`limitSubjects`).
//!
//! Stricter than cosign, on purpose: cosign does not check `_type`, an empty
//! subject array or an empty digest map; we reject them. Duplicate keys are
//! rejected anywhere in the statement (cosign's protojson pass rejects them
//! too, and its fallback `encoding/json` pass would silently take the last).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{AttestError, DocumentKind, JsonType};
use crate::json::{self, Obj, quote};
use crate::predicate::Predicate;
use crate::uri;

/// Largest statement [`parse_statement`] accepts: 128 MiB, cosign's default
/// `COSIGN_MAX_ATTACHMENT_SIZE` (`internal/pkg/cosign/payload/size`), the cap
/// on the layer that carries the DSSE envelope. A statement base64-decoded
/// from inside such a layer is smaller, so this never rejects what cosign
/// accepts; it bounds memory when a statement arrives by another path.
pub const MAX_STATEMENT_BYTES: usize = 128 * 1024 * 1024;

/// Most subjects a statement may list: sigstore-go's `maxAllowedSubjects`
/// (`pkg/verify/signature.go`), which bounds the work of digest matching.
pub const MAX_SUBJECTS: usize = 1024;

/// Most digests one subject may carry: sigstore-go's
/// `maxAllowedSubjectDigests` (`pkg/verify/signature.go`).
pub const MAX_SUBJECT_DIGESTS: usize = 32;

/// How many subjects a [`AttestError::NoMatchingSubject`] message lists
/// before saying "… and N more". Presentation only.
const MAX_LISTED_SUBJECTS: usize = 8;

/// The statement layer version, from `_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatementType {
    /// `https://in-toto.io/Statement/v0.1` (what cosign writes).
    V01,
    /// `https://in-toto.io/Statement/v1`.
    V1,
}

impl StatementType {
    /// The `_type` URI.
    pub const fn uri(self) -> &'static str {
        match self {
            Self::V01 => uri::IN_TOTO_STATEMENT_V01,
            Self::V1 => uri::IN_TOTO_STATEMENT_V1,
        }
    }

    fn from_uri(found: &str) -> Result<Self, AttestError> {
        match found {
            uri::IN_TOTO_STATEMENT_V01 => Ok(Self::V01),
            uri::IN_TOTO_STATEMENT_V1 => Ok(Self::V1),
            other => Err(AttestError::UnsupportedStatementType {
                found: quote(other),
            }),
        }
    }
}

/// One artifact a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    name: Option<String>,
    digest: BTreeMap<String, String>,
    annotations: Option<Map<String, Value>>,
}

impl Subject {
    /// The subject's `name`, if set (optional in Statement v1).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The digest set: algorithm (`sha256`, `sha512`, `gitCommit`, …) → value
    /// as written (lowercase hex for the standard algorithms). Never empty.
    pub fn digest(&self) -> &BTreeMap<String, String> {
        &self.digest
    }

    /// The value for one algorithm.
    pub fn digest_for(&self, algorithm: &str) -> Option<&str> {
        self.digest.get(algorithm).map(String::as_str)
    }

    /// The subject's `annotations` object, if present (cosign checks `-a`
    /// annotations against these).
    pub fn annotations(&self) -> Option<&Map<String, Value>> {
        self.annotations.as_ref()
    }

    fn describe(&self) -> String {
        let digests = self
            .digest
            .iter()
            .map(|(algorithm, value)| format!("{}:{}", quote(algorithm), quote(value)))
            .collect::<Vec<_>>()
            .join(", ");
        match &self.name {
            Some(name) => format!("{} {digests}", quote(name)),
            None => digests,
        }
    }
}

/// A parsed in-toto statement. Built only by [`parse_statement`], so every
/// value has a known `_type`, 1..=[`MAX_SUBJECTS`] subjects each with
/// 1..=[`MAX_SUBJECT_DIGESTS`] digests, and a non-empty `predicateType`.
#[derive(Debug, Clone)]
pub struct Statement {
    statement_type: StatementType,
    subjects: Vec<Subject>,
    predicate_type: String,
    predicate: Value,
    predicate_json: Option<Box<RawValue>>,
}

impl Statement {
    /// The statement layer version.
    pub fn statement_type(&self) -> StatementType {
        self.statement_type
    }

    /// The subjects, in document order. Never empty.
    pub fn subjects(&self) -> &[Subject] {
        &self.subjects
    }

    /// The `predicateType` URI. Never empty.
    pub fn predicate_type(&self) -> &str {
        &self.predicate_type
    }

    /// The predicate as parsed JSON; `Value::Null` when absent or `null`
    /// (the spec treats unset like empty). Legacy cosign `--type spdx`
    /// predicates are a JSON string.
    pub fn predicate(&self) -> &Value {
        &self.predicate
    }

    /// The predicate's JSON text exactly as it appears in the signed
    /// statement (key order and spacing kept), or `None` when absent or
    /// `null`. For OpenVEX this is the document to write to `vex.json`.
    pub fn predicate_json(&self) -> Option<&str> {
        self.predicate_json.as_deref().map(RawValue::get)
    }

    /// Parses the predicate according to `predicateType`; see
    /// [`Predicate::parse`].
    pub fn parse_predicate(&self) -> Result<Predicate, AttestError> {
        Predicate::parse(&self.predicate_type, &self.predicate)
    }

    /// Whether some subject has `digest.sha256` equal to `hex` (lowercase hex,
    /// no `sha256:` prefix). Exact string comparison, as cosign does.
    pub fn subject_matches_sha256(&self, hex: &str) -> bool {
        self.subject_for_digest("sha256", hex).is_ok()
    }

    /// The first subject whose digest for `algorithm` is exactly `hex`, or an
    /// error listing the digests the statement does carry.
    pub fn subject_for_digest(&self, algorithm: &str, hex: &str) -> Result<&Subject, AttestError> {
        self.subjects
            .iter()
            .find(|subject| subject.digest_for(algorithm) == Some(hex))
            .ok_or_else(|| AttestError::NoMatchingSubject {
                expected: format!("{}:{}", quote(algorithm), quote(hex)),
                found: self
                    .subjects
                    .iter()
                    .take(MAX_LISTED_SUBJECTS)
                    .map(Subject::describe)
                    .collect(),
                omitted: self.subjects.len().saturating_sub(MAX_LISTED_SUBJECTS),
            })
    }
}

/// The top-level fields we read, kept raw so that every type error can be
/// reported with its path; `predicate` borrows its exact text.
#[derive(Deserialize)]
struct WireStatement<'a> {
    #[serde(rename = "_type", default, deserialize_with = "present")]
    statement_type: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    subject: Option<Value>,
    #[serde(rename = "predicateType", default, deserialize_with = "present")]
    predicate_type: Option<Value>,
    #[serde(borrow, default)]
    predicate: Option<&'a RawValue>,
}

/// Distinguishes a field that is present (even as `null`) from an absent one.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

const DOC: DocumentKind = DocumentKind::Statement;

/// Parses the JSON bytes of an in-toto statement (a decoded DSSE payload).
///
/// Pure and total: any input yields `Ok` or an [`AttestError`], never a panic.
/// Unknown fields are ignored; duplicate keys anywhere are rejected.
pub fn parse_statement(bytes: &[u8]) -> Result<Statement, AttestError> {
    if bytes.len() > MAX_STATEMENT_BYTES {
        return Err(AttestError::TooLarge {
            document: DOC,
            size: bytes.len(),
            limit: MAX_STATEMENT_BYTES,
        });
    }
    let top = json::check_no_duplicate_keys(DOC, bytes)?;
    if top != JsonType::Object {
        return Err(AttestError::WrongType {
            document: DOC,
            path: "$".into(),
            expected: "an object",
            found: top,
        });
    }
    let wire: WireStatement<'_> =
        serde_json::from_slice(bytes).map_err(|source| AttestError::InvalidJson {
            document: DOC,
            source,
        })?;

    let statement_type = StatementType::from_uri(required_str(&wire.statement_type, "_type")?)?;
    let subjects = parse_subjects(wire.subject.as_ref())?;
    let predicate_type = required_str(&wire.predicate_type, "predicateType")?;
    if predicate_type.is_empty() {
        return Err(AttestError::EmptyPredicateType);
    }
    let predicate = match wire.predicate {
        Some(raw) => {
            serde_json::from_str(raw.get()).map_err(|source| AttestError::InvalidJson {
                document: DOC,
                source,
            })?
        }
        None => Value::Null,
    };
    Ok(Statement {
        statement_type,
        subjects,
        predicate_type: predicate_type.to_owned(),
        predicate,
        predicate_json: wire.predicate.map(ToOwned::to_owned),
    })
}

fn required_str<'v>(field: &'v Option<Value>, key: &str) -> Result<&'v str, AttestError> {
    let path = json::child_path("$", key);
    match field {
        None => Err(AttestError::MissingField {
            document: DOC,
            path,
        }),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(json::wrong_type(DOC, path, "a string", other)),
    }
}

fn parse_subjects(field: Option<&Value>) -> Result<Vec<Subject>, AttestError> {
    let path = "$.subject".to_owned();
    let entries = match field {
        None => {
            return Err(AttestError::MissingField {
                document: DOC,
                path,
            });
        }
        Some(Value::Array(entries)) => entries,
        Some(other) => return Err(json::wrong_type(DOC, path, "an array", other)),
    };
    if entries.is_empty() {
        return Err(AttestError::EmptySubject);
    }
    if entries.len() > MAX_SUBJECTS {
        return Err(AttestError::TooManySubjects {
            count: entries.len(),
            limit: MAX_SUBJECTS,
        });
    }
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| parse_subject(index, entry))
        .collect()
}

fn parse_subject(index: usize, entry: &Value) -> Result<Subject, AttestError> {
    if entry.is_null() {
        return Err(AttestError::NullSubjectEntry { index });
    }
    let subject = Obj::at(DOC, json::index_path("$.subject", index), entry)?;
    let name = subject.str_optional("name")?.map(str::to_owned);
    let digest_obj = subject.obj_required("digest")?;
    if digest_obj.len() == 0 {
        return Err(AttestError::EmptySubjectDigest { index });
    }
    if digest_obj.len() > MAX_SUBJECT_DIGESTS {
        return Err(AttestError::TooManySubjectDigests {
            index,
            count: digest_obj.len(),
            limit: MAX_SUBJECT_DIGESTS,
        });
    }
    let mut digest = BTreeMap::new();
    for (algorithm, value) in digest_obj.entries() {
        let Some(text) = value.as_str() else {
            return Err(digest_obj.wrong_type(algorithm, "a string"));
        };
        digest.insert(algorithm.clone(), text.to_owned());
    }
    let annotations = subject
        .obj_optional("annotations")?
        .map(|annotations| annotations.map().clone());
    Ok(Subject {
        name,
        digest,
        annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"_type":"https://in-toto.io/Statement/v1",
        "subject":[{"name":"img","digest":{"sha256":"ab"}}],
        "predicateType":"https://example.com/p","predicate":{"b":1, "a":[2]}}"#;

    #[test]
    fn keeps_the_predicate_text_exactly_as_signed() {
        let statement = parse_statement(MINIMAL.as_bytes()).unwrap();
        assert_eq!(statement.predicate_json(), Some(r#"{"b":1, "a":[2]}"#));
        assert_eq!(statement.predicate()["a"][0], 2);
    }

    #[test]
    fn absent_and_null_predicates_are_null() {
        for json in [
            r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x:y"}"#,
            r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x:y","predicate":null}"#,
        ] {
            let statement = parse_statement(json.as_bytes()).unwrap();
            assert!(statement.predicate().is_null());
            assert_eq!(statement.predicate_json(), None);
            assert_eq!(statement.subjects()[0].name(), None);
        }
    }

    #[test]
    fn subject_for_digest_returns_the_first_match() {
        let statement = parse_statement(MINIMAL.as_bytes()).unwrap();
        assert_eq!(
            statement.subject_for_digest("sha256", "ab").unwrap().name(),
            Some("img")
        );
        assert!(statement.subject_matches_sha256("ab"));
        assert!(!statement.subject_matches_sha256("AB"));
        assert!(!statement.subject_matches_sha256("sha256:ab"));
    }

    #[test]
    fn no_match_message_lists_at_most_eight_subjects() {
        let subjects = (0..10)
            .map(|i| format!(r#"{{"name":"s{i}","digest":{{"sha256":"{i:02x}"}}}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let json = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v0.1","subject":[{subjects}],"predicateType":"x:y"}}"#
        );
        let statement = parse_statement(json.as_bytes()).unwrap();
        match statement.subject_for_digest("sha256", "ff").unwrap_err() {
            AttestError::NoMatchingSubject {
                expected,
                found,
                omitted,
            } => {
                assert_eq!(expected, "sha256:ff");
                assert_eq!(found.len(), 8);
                assert_eq!(found[0], "s0 sha256:00");
                assert_eq!(omitted, 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn statement_type_uris() {
        assert_eq!(
            StatementType::V01.uri(),
            "https://in-toto.io/Statement/v0.1"
        );
        assert_eq!(StatementType::V1.uri(), "https://in-toto.io/Statement/v1");
    }
}
