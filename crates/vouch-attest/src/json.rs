//! Internal JSON helpers: a duplicate-key check over raw bytes, typed field
//! access that reports JSONPaths, and escaping of untrusted text for display.
//!
//! Predicates are read through [`Obj`] and [`Arr`] rather than derived serde
//! structs so that every error names the exact field (`$.runDetails.builder.id`)
//! and says what was expected and what was found. Unknown fields are ignored,
//! as the in-toto parsing rules require.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{AttestError, DocumentKind, JsonType};

/// Longest excerpt of an untrusted value quoted in an error message, in
/// characters. Presentation only: long enough for a SHA-512 hex digest (128)
/// or a typical URI, short enough that a hostile 100 MB string cannot flood a
/// terminal.
const MAX_QUOTED_CHARS: usize = 200;

/// Escapes characters that could rewrite a terminal line or reorder text:
/// control characters (C0, DEL, C1: newlines, escape sequences) and Unicode
/// bidirectional overrides. Everything else is kept as is.
pub(crate) fn escape_for_display(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// [`escape_for_display`], cut to [`MAX_QUOTED_CHARS`] characters for error
/// messages.
pub(crate) fn quote(text: &str) -> String {
    let escaped = escape_for_display(text);
    match escaped.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped.into_owned(),
    }
}

/// One step of a JSONPath.
enum Segment {
    Key(String),
    Index(usize),
}

/// Renders a JSONPath such as `$.subject[0].digest` or `$["odd key"]`.
fn render_path(segments: &[Segment]) -> String {
    let mut path = String::from("$");
    for segment in segments {
        match segment {
            Segment::Key(key) => push_key(&mut path, key),
            Segment::Index(index) => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@'));
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push_str(&format!("[{:?}]", quote(key)));
    }
}

/// Extends `path` by one object key.
pub(crate) fn child_path(path: &str, key: &str) -> String {
    let mut out = path.to_owned();
    push_key(&mut out, key);
    out
}

/// Extends `path` by one array index.
pub(crate) fn index_path(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

struct DuplicateState {
    path: Vec<Segment>,
    duplicate: Option<(String, String)>,
}

/// Walks `bytes` as JSON without building a tree, failing on the first object
/// that repeats a key, and returns the type of the top-level value.
///
/// serde_json's own maps keep the last copy of a repeated key, Go's
/// `encoding/json` does the same, and protojson (which cosign tries first)
/// rejects the document; refusing duplicates everywhere removes the question
/// of which copy a signer meant. Depth is bounded by serde_json's recursion
/// limit (128), which applies to `deserialize_any`.
pub(crate) fn check_no_duplicate_keys(
    document: DocumentKind,
    bytes: &[u8],
) -> Result<JsonType, AttestError> {
    let state = RefCell::new(DuplicateState {
        path: Vec::new(),
        duplicate: None,
    });
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let result = DuplicateCheck { state: &state }
        .deserialize(&mut deserializer)
        .and_then(|found| deserializer.end().map(|()| found));
    match result {
        Ok(found) => Ok(found),
        Err(source) => match state.into_inner().duplicate {
            Some((path, key)) => Err(AttestError::DuplicateKey {
                document,
                path,
                key,
            }),
            None => Err(AttestError::InvalidJson { document, source }),
        },
    }
}

#[derive(Clone, Copy)]
struct DuplicateCheck<'s> {
    state: &'s RefCell<DuplicateState>,
}

impl<'de> DeserializeSeed<'de> for DuplicateCheck<'_> {
    type Value = JsonType;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsonType, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DuplicateCheck<'_> {
    type Value = JsonType;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonType, E> {
        Ok(JsonType::Boolean)
    }
    fn visit_i64<E>(self, _: i64) -> Result<JsonType, E> {
        Ok(JsonType::Number)
    }
    fn visit_u64<E>(self, _: u64) -> Result<JsonType, E> {
        Ok(JsonType::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<JsonType, E> {
        Ok(JsonType::Number)
    }
    fn visit_str<E>(self, _: &str) -> Result<JsonType, E> {
        Ok(JsonType::String)
    }
    fn visit_unit<E>(self) -> Result<JsonType, E> {
        Ok(JsonType::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonType, A::Error> {
        let mut index = 0;
        loop {
            self.state.borrow_mut().path.push(Segment::Index(index));
            let element = seq.next_element_seed(self);
            self.state.borrow_mut().path.pop();
            if element?.is_none() {
                return Ok(JsonType::Array);
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonType, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                let mut state = self.state.borrow_mut();
                let path = render_path(&state.path);
                state.duplicate = Some((path, quote(&key)));
                return Err(de::Error::custom("duplicate key"));
            }
            seen.insert(key.clone());
            self.state.borrow_mut().path.push(Segment::Key(key));
            let value = map.next_value_seed(self);
            self.state.borrow_mut().path.pop();
            value?;
        }
        Ok(JsonType::Object)
    }
}

/// A JSON object being read, with its JSONPath for error messages.
#[derive(Clone)]
pub(crate) struct Obj<'a> {
    document: DocumentKind,
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// The top-level object of a document.
    pub(crate) fn root(document: DocumentKind, value: &'a Value) -> Result<Self, AttestError> {
        Self::at(document, "$".to_owned(), value)
    }

    /// `value`, which lives at `path`, as an object.
    pub(crate) fn at(
        document: DocumentKind,
        path: String,
        value: &'a Value,
    ) -> Result<Self, AttestError> {
        match value {
            Value::Object(map) => Ok(Self {
                document,
                path,
                map,
            }),
            other => Err(wrong_type(document, path, "an object", other)),
        }
    }

    /// The JSONPath of a field of this object.
    pub(crate) fn field_path(&self, key: &str) -> String {
        child_path(&self.path, key)
    }

    /// A field's value; `null` counts as absent, as in Go's `encoding/json`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    /// A field that must be present and not `null`.
    pub(crate) fn required(&self, key: &str) -> Result<&'a Value, AttestError> {
        self.get(key).ok_or_else(|| AttestError::MissingField {
            document: self.document,
            path: self.field_path(key),
        })
    }

    /// A required string field.
    pub(crate) fn str_required(&self, key: &str) -> Result<&'a str, AttestError> {
        let value = self.required(key)?;
        self.as_str(key, value)
    }

    /// An optional string field.
    pub(crate) fn str_optional(&self, key: &str) -> Result<Option<&'a str>, AttestError> {
        self.get(key)
            .map(|value| self.as_str(key, value))
            .transpose()
    }

    /// A required object field.
    pub(crate) fn obj_required(&self, key: &str) -> Result<Obj<'a>, AttestError> {
        let value = self.required(key)?;
        Obj::at(self.document, self.field_path(key), value)
    }

    /// An optional object field.
    pub(crate) fn obj_optional(&self, key: &str) -> Result<Option<Obj<'a>>, AttestError> {
        self.get(key)
            .map(|value| Obj::at(self.document, self.field_path(key), value))
            .transpose()
    }

    /// A required array field.
    pub(crate) fn arr_required(&self, key: &str) -> Result<Arr<'a>, AttestError> {
        let value = self.required(key)?;
        Arr::at(self.document, self.field_path(key), value)
    }

    /// An optional array field.
    pub(crate) fn arr_optional(&self, key: &str) -> Result<Option<Arr<'a>>, AttestError> {
        self.get(key)
            .map(|value| Arr::at(self.document, self.field_path(key), value))
            .transpose()
    }

    /// The fields of this object, in serde_json's (sorted) order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The underlying map.
    pub(crate) fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// An error saying the field `key` has the wrong type.
    pub(crate) fn wrong_type(&self, key: &str, expected: &'static str) -> AttestError {
        let found = self.map.get(key).unwrap_or(&Value::Null);
        wrong_type(self.document, self.field_path(key), expected, found)
    }

    /// An error saying the field `key` holds an unacceptable value.
    pub(crate) fn unexpected(
        &self,
        key: &str,
        expected: impl Into<String>,
        found: &str,
    ) -> AttestError {
        AttestError::UnexpectedValue {
            document: self.document,
            path: self.field_path(key),
            expected: expected.into(),
            found: quote(found),
        }
    }

    fn as_str(&self, key: &str, value: &'a Value) -> Result<&'a str, AttestError> {
        value
            .as_str()
            .ok_or_else(|| wrong_type(self.document, self.field_path(key), "a string", value))
    }
}

/// A JSON array being read, with its JSONPath for error messages.
pub(crate) struct Arr<'a> {
    document: DocumentKind,
    path: String,
    items: &'a [Value],
}

impl<'a> Arr<'a> {
    fn at(document: DocumentKind, path: String, value: &'a Value) -> Result<Self, AttestError> {
        match value {
            Value::Array(items) => Ok(Self {
                document,
                path,
                items,
            }),
            other => Err(wrong_type(document, path, "an array", other)),
        }
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The elements with their JSONPaths.
    pub(crate) fn items(&self) -> impl Iterator<Item = (String, &'a Value)> + '_ {
        self.items
            .iter()
            .enumerate()
            .map(|(index, value)| (index_path(&self.path, index), value))
    }

    /// The elements, each of which must be an object.
    pub(crate) fn objects(&self) -> impl Iterator<Item = Result<Obj<'a>, AttestError>> + '_ {
        self.items()
            .map(|(path, value)| Obj::at(self.document, path, value))
    }
}

/// An error saying the value at `path` has the wrong type.
pub(crate) fn wrong_type(
    document: DocumentKind,
    path: String,
    expected: &'static str,
    found: &Value,
) -> AttestError {
    AttestError::WrongType {
        document,
        path,
        expected,
        found: JsonType::of(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<JsonType, AttestError> {
        check_no_duplicate_keys(DocumentKind::Statement, json.as_bytes())
    }

    #[test]
    fn accepts_distinct_keys_and_reports_the_top_level_type() {
        assert_eq!(check(r#"{"a":1,"b":{"a":2}}"#).unwrap(), JsonType::Object);
        assert_eq!(check("[1,2]").unwrap(), JsonType::Array);
        assert_eq!(check(" null ").unwrap(), JsonType::Null);
    }

    #[test]
    fn rejects_a_duplicate_key_nested_in_an_array_and_names_its_object() {
        let err = check(r#"{"subject":[{"digest":{"sha256":"a","sha256":"b"}}]}"#).unwrap_err();
        match err {
            AttestError::DuplicateKey { path, key, .. } => {
                assert_eq!(path, "$.subject[0].digest");
                assert_eq!(key, "sha256");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_duplicate_keys_spelled_with_escapes() {
        let err = check(r#"{"a":1,"\u0061":2}"#).unwrap_err();
        assert!(matches!(err, AttestError::DuplicateKey { ref key, .. } if key == "a"));
    }

    #[test]
    fn rejects_trailing_garbage_and_excessive_nesting() {
        assert!(matches!(
            check("{} x"),
            Err(AttestError::InvalidJson { .. })
        ));
        let deep = "[".repeat(100_000);
        assert!(matches!(check(&deep), Err(AttestError::InvalidJson { .. })));
    }

    #[test]
    fn escapes_terminal_control_and_bidi_characters() {
        assert_eq!(escape_for_display("plain"), "plain");
        assert_eq!(escape_for_display("a\nb\u{1b}[31m"), "a\\u{a}b\\u{1b}[31m");
        assert_eq!(escape_for_display("x\u{202E}y"), "x\\u{202e}y");
    }

    #[test]
    fn quote_cuts_long_values() {
        let quoted = quote(&"é".repeat(500));
        assert_eq!(quoted.chars().count(), MAX_QUOTED_CHARS + 1);
        assert!(quoted.ends_with('…'));
    }

    #[test]
    fn paths_quote_keys_that_are_not_plain() {
        assert_eq!(child_path("$", "@context"), "$.@context");
        assert_eq!(child_path("$.a", "b c"), "$.a[\"b c\"]");
        assert_eq!(index_path("$.a", 3), "$.a[3]");
    }
}
