//! OpenVEX documents: the statements a publisher makes about known
//! vulnerabilities, one summary line per statement, and the document itself
//! for scanners that read OpenVEX (`trivy --vex vex.json`).
//!
//! Sources: OpenVEX spec v0.2.0 (`OPENVEX-SPEC.md`: document and statement
//! fields, status labels), go-vex `pkg/vex/compat.go` (v0.0.1: `vulnerability`
//! and `products` are plain strings, `version` is a string).
//!
//! Tolerant where the spec is only advice: a `not_affected` statement without
//! a justification or impact statement is kept (its line shows no reason), and
//! justification labels are not checked against the spec's list. Strict where
//! a reader could be misled: `@context` must be the OpenVEX namespace and
//! `status` one of the four labels.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::error::{AttestError, DocumentKind};
use crate::json::{Obj, escape_for_display, wrong_type};
use crate::predicate_type::is_openvex_predicate_type;

const DOC: DocumentKind = DocumentKind::OpenVex;

/// A statement's `status` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VexStatus {
    /// `not_affected`.
    NotAffected,
    /// `affected`.
    Affected,
    /// `fixed`.
    Fixed,
    /// `under_investigation`.
    UnderInvestigation,
}

impl VexStatus {
    /// Every label, in the spec's order.
    pub const ALL: [Self; 4] = [
        Self::NotAffected,
        Self::Affected,
        Self::Fixed,
        Self::UnderInvestigation,
    ];

    /// The label as written in documents.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotAffected => "not_affected",
            Self::Affected => "affected",
            Self::Fixed => "fixed",
            Self::UnderInvestigation => "under_investigation",
        }
    }

    /// The status spelled exactly `label`.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == label)
    }
}

impl fmt::Display for VexStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statement's `vulnerability`. At least one of `name` and `id` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VexVulnerability {
    /// `name` (e.g. `CVE-2023-1234`); the whole value in v0.0.x documents.
    pub name: Option<String>,
    /// `@id` (an IRI).
    pub id: Option<String>,
    /// `aliases`.
    pub aliases: Vec<String>,
}

impl VexVulnerability {
    /// `name`, else `@id`.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.id.as_deref())
            .unwrap_or_default()
    }
}

/// One entry of a statement's `products`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VexProduct {
    /// `@id` (often a purl); the whole value in v0.0.x documents.
    pub id: Option<String>,
    /// `identifiers` (`purl`, `cpe22`, `cpe23` → value).
    pub identifiers: BTreeMap<String, String>,
}

/// One VEX statement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VexStatement {
    /// What vulnerability it is about.
    pub vulnerability: VexVulnerability,
    /// Which products (empty: inherited from the attestation's subjects).
    pub products: Vec<VexProduct>,
    /// The status.
    pub status: VexStatus,
    /// `justification` label (for `not_affected`).
    pub justification: Option<String>,
    /// `impact_statement` free text (for `not_affected`).
    pub impact_statement: Option<String>,
    /// `action_statement` free text (for `affected`).
    pub action_statement: Option<String>,
    /// `status_notes` free text.
    pub status_notes: Option<String>,
    /// `timestamp` as written (inherits the document's when absent).
    pub timestamp: Option<String>,
}

impl VexStatement {
    /// `[status] vulnerability reason`, where the reason is the justification,
    /// else the impact statement, else the action statement, else nothing
    /// (and then no trailing space). Control characters are escaped, so the
    /// line is one terminal line.
    pub fn summary_line(&self) -> String {
        let reason = self
            .justification
            .as_deref()
            .or(self.impact_statement.as_deref())
            .or(self.action_statement.as_deref());
        let vulnerability = escape_for_display(self.vulnerability.display_name());
        match reason {
            Some(reason) => format!(
                "[{}] {vulnerability} {}",
                self.status,
                escape_for_display(reason)
            ),
            None => format!("[{}] {vulnerability}", self.status),
        }
    }
}

/// The short description of an OpenVEX predicate: one line per statement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VexSummary {
    /// [`VexStatement::summary_line`] for each statement, in document order.
    pub lines: Vec<String>,
}

impl fmt::Display for VexSummary {
    /// The lines joined with `\n` (no trailing newline).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines.join("\n"))
    }
}

/// The OpenVEX fields this crate reads, plus the whole document.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VexDocument {
    /// `@context`: `https://openvex.dev/ns` or `https://openvex.dev/ns/v<version>`.
    pub context: String,
    /// `@id`.
    pub id: Option<String>,
    /// `author`.
    pub author: Option<String>,
    /// `role`.
    pub role: Option<String>,
    /// `timestamp` as written.
    pub timestamp: Option<String>,
    /// `version` (an integer; a decimal string in v0.0.x documents).
    pub version: Option<u64>,
    /// `statements`, in document order.
    pub statements: Vec<VexStatement>,
    /// The whole predicate, unchanged: the OpenVEX document itself.
    pub document: Value,
}

impl VexDocument {
    /// Reads an OpenVEX predicate (v0.2.0 or the v0.0.x shape).
    pub fn from_predicate(predicate: &Value) -> Result<Self, AttestError> {
        let root = Obj::root(DOC, predicate)?;
        let context = root.str_required("@context")?;
        if !is_openvex_predicate_type(context) {
            return Err(root.unexpected(
                "@context",
                "`https://openvex.dev/ns` or `https://openvex.dev/ns/v<version>`",
                context,
            ));
        }
        let statements = root
            .arr_required("statements")?
            .objects()
            .map(|statement| statement.and_then(|s| parse_statement(&s)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            context: context.to_owned(),
            id: owned(root.str_optional("@id")?),
            author: owned(root.str_optional("author")?),
            role: owned(root.str_optional("role")?),
            timestamp: owned(root.str_optional("timestamp")?),
            version: document_version(&root)?,
            statements,
            document: predicate.clone(),
        })
    }

    /// One line per statement.
    pub fn summary(&self) -> VexSummary {
        VexSummary {
            lines: self
                .statements
                .iter()
                .map(VexStatement::summary_line)
                .collect(),
        }
    }

    /// The document as pretty-printed JSON (two-space indent, keys sorted),
    /// ready to write to `vex.json`. For the exact signed bytes use
    /// [`crate::Statement::predicate_json`].
    pub fn to_json_pretty(&self) -> String {
        format!("{:#}", self.document)
    }
}

fn owned(text: Option<&str>) -> Option<String> {
    text.map(str::to_owned)
}

fn document_version(root: &Obj<'_>) -> Result<Option<u64>, AttestError> {
    const EXPECTED: &str = "a non-negative integer document version";
    match root.get("version") {
        None => Ok(None),
        Some(Value::Number(number)) => number
            .as_u64()
            .map(Some)
            .ok_or_else(|| root.unexpected("version", EXPECTED, &number.to_string())),
        Some(Value::String(text)) => text
            .parse()
            .map(Some)
            .map_err(|_| root.unexpected("version", EXPECTED, text)),
        Some(_) => Err(root.wrong_type("version", "an integer or a decimal string")),
    }
}

fn parse_statement(statement: &Obj<'_>) -> Result<VexStatement, AttestError> {
    let status_label = statement.str_required("status")?;
    let status = VexStatus::from_label(status_label).ok_or_else(|| {
        statement.unexpected(
            "status",
            "one of not_affected, affected, fixed, under_investigation",
            status_label,
        )
    })?;
    Ok(VexStatement {
        vulnerability: parse_vulnerability(statement)?,
        products: parse_products(statement)?,
        status,
        justification: owned(statement.str_optional("justification")?),
        impact_statement: owned(statement.str_optional("impact_statement")?),
        action_statement: owned(statement.str_optional("action_statement")?),
        status_notes: owned(statement.str_optional("status_notes")?),
        timestamp: owned(statement.str_optional("timestamp")?),
    })
}

fn parse_vulnerability(statement: &Obj<'_>) -> Result<VexVulnerability, AttestError> {
    match statement.required("vulnerability")? {
        Value::String(name) => Ok(VexVulnerability {
            name: Some(name.clone()),
            id: None,
            aliases: Vec::new(),
        }),
        value @ Value::Object(_) => {
            let vulnerability = Obj::at(DOC, statement.field_path("vulnerability"), value)?;
            let name = owned(vulnerability.str_optional("name")?);
            let id = owned(vulnerability.str_optional("@id")?);
            if name.is_none() && id.is_none() {
                return Err(AttestError::MissingField {
                    document: DOC,
                    path: vulnerability.field_path("name"),
                });
            }
            let aliases = match vulnerability.arr_optional("aliases")? {
                Some(aliases) => aliases
                    .items()
                    .map(|(path, alias)| match alias {
                        Value::String(alias) => Ok(alias.clone()),
                        other => Err(wrong_type(DOC, path, "a string", other)),
                    })
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            };
            Ok(VexVulnerability { name, id, aliases })
        }
        _ => Err(statement.wrong_type(
            "vulnerability",
            "a vulnerability object (v0.2) or name string (v0.0.x)",
        )),
    }
}

fn parse_products(statement: &Obj<'_>) -> Result<Vec<VexProduct>, AttestError> {
    let Some(products) = statement.arr_optional("products")? else {
        return Ok(Vec::new());
    };
    products
        .items()
        .map(|(path, product)| match product {
            Value::String(id) => Ok(VexProduct {
                id: Some(id.clone()),
                identifiers: BTreeMap::new(),
            }),
            Value::Object(_) => parse_product(&Obj::at(DOC, path, product)?),
            other => Err(wrong_type(
                DOC,
                path,
                "a product object (v0.2) or `@id` string (v0.0.x)",
                other,
            )),
        })
        .collect()
}

fn parse_product(product: &Obj<'_>) -> Result<VexProduct, AttestError> {
    let mut identifiers = BTreeMap::new();
    if let Some(map) = product.obj_optional("identifiers")? {
        for (kind, value) in map.entries() {
            let Some(text) = value.as_str() else {
                return Err(map.wrong_type(kind, "a string"));
            };
            identifiers.insert(kind.clone(), text.to_owned());
        }
    }
    Ok(VexProduct {
        id: owned(product.str_optional("@id")?),
        identifiers,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn statement(extra: Value) -> Value {
        let mut base =
            json!({"vulnerability": {"name": "CVE-2023-1234"}, "status": "not_affected"});
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            base.extend(extra);
        }
        json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [base]})
    }

    fn line(extra: Value) -> String {
        VexDocument::from_predicate(&statement(extra))
            .unwrap()
            .summary()
            .lines[0]
            .clone()
    }

    #[test]
    fn line_prefers_justification_then_impact_then_action() {
        assert_eq!(
            line(
                json!({"justification": "vulnerable_code_not_in_execute_path",
                        "impact_statement": "i", "action_statement": "a"})
            ),
            "[not_affected] CVE-2023-1234 vulnerable_code_not_in_execute_path"
        );
        assert_eq!(
            line(json!({"impact_statement": "i", "action_statement": "a"})),
            "[not_affected] CVE-2023-1234 i"
        );
        assert_eq!(
            line(json!({"action_statement": "a"})),
            "[not_affected] CVE-2023-1234 a"
        );
        assert_eq!(line(json!({})), "[not_affected] CVE-2023-1234");
    }

    #[test]
    fn line_escapes_newlines_in_free_text() {
        assert_eq!(
            line(json!({"impact_statement": "ok\n[fixed] CVE-fake"})),
            "[not_affected] CVE-2023-1234 ok\\u{a}[fixed] CVE-fake"
        );
    }

    #[test]
    fn reads_the_v001_shape() {
        let doc = VexDocument::from_predicate(&json!({
            "@context": "https://openvex.dev/ns", "version": "3",
            "statements": [{"vulnerability": "CVE-1", "products": ["pkg:oci/x"], "status": "affected"}]
        }))
        .unwrap();
        assert_eq!(doc.version, Some(3));
        assert_eq!(doc.statements[0].vulnerability.display_name(), "CVE-1");
        assert_eq!(
            doc.statements[0].products[0].id.as_deref(),
            Some("pkg:oci/x")
        );
    }

    #[test]
    fn vulnerability_falls_back_to_its_id() {
        let doc = VexDocument::from_predicate(&statement(json!({
            "vulnerability": {"@id": "https://nvd.nist.gov/vuln/detail/CVE-1"}
        })))
        .unwrap();
        assert_eq!(
            doc.statements[0].vulnerability.display_name(),
            "https://nvd.nist.gov/vuln/detail/CVE-1"
        );
    }

    #[test]
    fn rejects_unknown_status_and_foreign_context() {
        let err =
            VexDocument::from_predicate(&statement(json!({"status": "wontfix"}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OpenVEX predicate: expected one of not_affected, affected, fixed, \
             under_investigation at `$.statements[0].status`, found `wontfix`"
        );
        let err = VexDocument::from_predicate(&json!({
            "@context": "https://openvex.dev/nsfoo", "statements": []
        }))
        .unwrap_err();
        assert!(
            matches!(err, AttestError::UnexpectedValue { ref path, .. } if path == "$.@context")
        );
    }

    #[test]
    fn rejects_a_vulnerability_without_name_or_id_and_bad_versions() {
        let err =
            VexDocument::from_predicate(&statement(json!({"vulnerability": {}}))).unwrap_err();
        assert!(
            matches!(err, AttestError::MissingField { ref path, .. } if path == "$.statements[0].vulnerability.name")
        );
        let mut doc = statement(json!({}));
        doc["version"] = json!(-1);
        assert!(matches!(
            VexDocument::from_predicate(&doc),
            Err(AttestError::UnexpectedValue { .. })
        ));
        doc["version"] = json!(true);
        assert!(matches!(
            VexDocument::from_predicate(&doc),
            Err(AttestError::WrongType { .. })
        ));
    }
}
