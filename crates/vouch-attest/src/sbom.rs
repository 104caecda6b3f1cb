//! SBOM predicates: SPDX 2.x (JSON, and the tag-value text cosign stores as a
//! string predicate for `--type spdx`) and CycloneDX JSON, with a short summary
//! (the fields users pull out with `jq` today: name, version, package count).
//!
//! Sources: SPDX 2.3 spec §6 (document creation information) and §7 (package
//! information); CycloneDX 1.5 JSON schema (`bomFormat`, `specVersion`,
//! `metadata.component`, `components`); cosign `generateSPDXStatement`.
//! SPDX 3 (`https://spdx.dev/Document/v3`, JSON-LD) is not read here.

use std::fmt;

use serde_json::Value;

use crate::error::{AttestError, DocumentKind};
use crate::json::{Obj, escape_for_display, quote, wrong_type};

/// Which SBOM standard a summary describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SbomFormat {
    /// SPDX 2.x.
    Spdx,
    /// CycloneDX.
    CycloneDx,
}

impl fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Spdx => "SPDX",
            Self::CycloneDx => "CycloneDX",
        })
    }
}

/// The short description of an SBOM predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SbomSummary {
    /// The standard.
    pub format: SbomFormat,
    /// SPDX `name`, or CycloneDX `metadata.component.name` (may be absent).
    pub name: Option<String>,
    /// SPDX `spdxVersion` (e.g. `SPDX-2.3`) or CycloneDX `specVersion` (e.g. `1.5`).
    pub version: String,
    /// Number of SPDX `packages`, or of top-level CycloneDX `components`
    /// (nested components are not counted).
    pub packages: usize,
}

impl fmt::Display for SbomSummary {
    /// One line, e.g. `SPDX-2.2 document SBOM-SPDX-34f1…, 0 packages`.
    /// Untrusted text has control characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self
            .name
            .as_deref()
            .map_or("(unnamed)".into(), escape_for_display);
        let version = escape_for_display(&self.version);
        let count = self.packages;
        match self.format {
            SbomFormat::Spdx => write!(
                f,
                "{version} document {name}, {count} package{}",
                plural(count)
            ),
            SbomFormat::CycloneDx => write!(
                f,
                "CycloneDX {version} BOM {name}, {count} component{}",
                plural(count)
            ),
        }
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// How an SPDX predicate was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpdxEncoding {
    /// A JSON object (`--type spdxjson`).
    Json,
    /// Tag-value text in a JSON string (`--type spdx`).
    TagValue,
}

/// The SPDX 2.x fields this crate reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpdxDocument {
    /// JSON or tag-value.
    pub encoding: SpdxEncoding,
    /// `spdxVersion` / `SPDXVersion`, always starting with `SPDX-2.`.
    pub spdx_version: String,
    /// `name` / `DocumentName`.
    pub name: String,
    /// `documentNamespace` / `DocumentNamespace`.
    pub document_namespace: Option<String>,
    /// `creationInfo.created` / `Created`.
    pub created: Option<String>,
    /// `creationInfo.creators` / `Creator` lines.
    pub creators: Vec<String>,
    /// Number of packages.
    pub packages: usize,
}

const SPDX2_EXPECTED: &str = "an SPDX 2.x version such as `SPDX-2.3` (SPDX 3 is not supported)";

impl SpdxDocument {
    /// Reads an `https://spdx.dev/Document` predicate: a JSON object, or a
    /// string holding tag-value text.
    pub fn from_predicate(predicate: &Value) -> Result<Self, AttestError> {
        match predicate {
            Value::String(text) => Self::from_tag_value(text),
            Value::Object(_) => Self::from_json(predicate),
            other => Err(wrong_type(
                DocumentKind::SpdxJson,
                "$".into(),
                "an SPDX JSON object or a tag-value string",
                other,
            )),
        }
    }

    /// Reads an SPDX 2.x JSON document.
    pub fn from_json(document: &Value) -> Result<Self, AttestError> {
        let root = Obj::root(DocumentKind::SpdxJson, document)?;
        let spdx_version = root.str_required("spdxVersion")?;
        if !spdx_version.starts_with("SPDX-2.") {
            return Err(root.unexpected("spdxVersion", SPDX2_EXPECTED, spdx_version));
        }
        let name = root.str_required("name")?;
        let document_namespace = root.str_optional("documentNamespace")?;
        let (created, creators) = match root.obj_optional("creationInfo")? {
            Some(info) => (info.str_optional("created")?, spdx_creators(&info)?),
            None => (None, Vec::new()),
        };
        let packages = root.arr_optional("packages")?.map_or(0, |arr| arr.len());
        Ok(Self {
            encoding: SpdxEncoding::Json,
            spdx_version: spdx_version.to_owned(),
            name: name.to_owned(),
            document_namespace: document_namespace.map(str::to_owned),
            created: created.map(str::to_owned),
            creators,
            packages,
        })
    }

    /// Reads SPDX 2.x tag-value text: `Tag: value` lines, `#` comments, and
    /// multi-line `<text>…</text>` values (whose lines are not read as tags).
    /// Document-level tags that may appear once are rejected when repeated.
    pub fn from_tag_value(text: &str) -> Result<Self, AttestError> {
        let mut reader = TagValueReader::default();
        for (index, line) in text.lines().enumerate() {
            reader.line(index + 1, line)?;
        }
        let spdx_version = reader
            .spdx_version
            .ok_or_else(|| missing_tag("SPDXVersion"))?;
        if !spdx_version.starts_with("SPDX-2.") {
            return Err(AttestError::UnexpectedValue {
                document: DocumentKind::SpdxTagValue,
                path: "SPDXVersion".into(),
                expected: SPDX2_EXPECTED.into(),
                found: quote(&spdx_version),
            });
        }
        Ok(Self {
            encoding: SpdxEncoding::TagValue,
            spdx_version,
            name: reader.name.ok_or_else(|| missing_tag("DocumentName"))?,
            document_namespace: reader.document_namespace,
            created: reader.created,
            creators: reader.creators,
            packages: reader.packages,
        })
    }

    /// The short description.
    pub fn summary(&self) -> SbomSummary {
        SbomSummary {
            format: SbomFormat::Spdx,
            name: Some(self.name.clone()),
            version: self.spdx_version.clone(),
            packages: self.packages,
        }
    }
}

fn spdx_creators(info: &Obj<'_>) -> Result<Vec<String>, AttestError> {
    let Some(creators) = info.arr_optional("creators")? else {
        return Ok(Vec::new());
    };
    creators
        .items()
        .map(|(path, value)| match value {
            Value::String(creator) => Ok(creator.clone()),
            other => Err(wrong_type(DocumentKind::SpdxJson, path, "a string", other)),
        })
        .collect()
}

fn missing_tag(tag: &str) -> AttestError {
    AttestError::MissingField {
        document: DocumentKind::SpdxTagValue,
        path: tag.into(),
    }
}

#[derive(Default)]
struct TagValueReader {
    in_text: bool,
    spdx_version: Option<String>,
    name: Option<String>,
    document_namespace: Option<String>,
    created: Option<String>,
    creators: Vec<String>,
    packages: usize,
}

impl TagValueReader {
    fn line(&mut self, number: usize, line: &str) -> Result<(), AttestError> {
        if self.in_text {
            self.in_text = !line.contains("</text>");
            return Ok(());
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        let Some((tag, value)) = line.split_once(':') else {
            return Ok(());
        };
        let value = match value.trim().strip_prefix("<text>") {
            Some(rest) => match rest.find("</text>") {
                Some(end) => rest[..end].trim(),
                None => {
                    self.in_text = true;
                    rest.trim()
                }
            },
            None => value.trim(),
        };
        let slot = match tag.trim() {
            "SPDXVersion" => &mut self.spdx_version,
            "DocumentName" => &mut self.name,
            "DocumentNamespace" => &mut self.document_namespace,
            "Created" => &mut self.created,
            "Creator" => {
                self.creators.push(value.to_owned());
                return Ok(());
            }
            "PackageName" => {
                self.packages += 1;
                return Ok(());
            }
            _ => return Ok(()),
        };
        if slot.is_some() {
            return Err(AttestError::UnexpectedValue {
                document: DocumentKind::SpdxTagValue,
                path: format!("{} (line {number})", tag.trim()),
                expected: "the tag once per document".into(),
                found: format!("a second `{}` tag", tag.trim()),
            });
        }
        *slot = Some(value.to_owned());
        Ok(())
    }
}

/// The CycloneDX JSON fields this crate reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CycloneDxBom {
    /// `specVersion`, e.g. `1.5`.
    pub spec_version: String,
    /// `serialNumber` (`urn:uuid:…`).
    pub serial_number: Option<String>,
    /// `metadata.component.name`: what the BOM describes.
    pub component_name: Option<String>,
    /// `metadata.component.version`.
    pub component_version: Option<String>,
    /// Number of top-level `components`.
    pub components: usize,
}

impl CycloneDxBom {
    /// Reads a CycloneDX JSON BOM (`bomFormat` must be `CycloneDX`). XML BOMs
    /// (a string predicate) are rejected.
    pub fn from_predicate(predicate: &Value) -> Result<Self, AttestError> {
        let root = match predicate {
            Value::Object(_) => Obj::root(DocumentKind::CycloneDx, predicate)?,
            other => {
                return Err(wrong_type(
                    DocumentKind::CycloneDx,
                    "$".into(),
                    "a CycloneDX JSON object (CycloneDX XML is not supported)",
                    other,
                ));
            }
        };
        let bom_format = root.str_required("bomFormat")?;
        if bom_format != "CycloneDX" {
            return Err(root.unexpected("bomFormat", "`CycloneDX`", bom_format));
        }
        let spec_version = root.str_required("specVersion")?;
        let component = match root.obj_optional("metadata")? {
            Some(metadata) => metadata.obj_optional("component")?,
            None => None,
        };
        let (component_name, component_version) = match component {
            Some(component) => (
                component.str_optional("name")?,
                component.str_optional("version")?,
            ),
            None => (None, None),
        };
        Ok(Self {
            spec_version: spec_version.to_owned(),
            serial_number: root.str_optional("serialNumber")?.map(str::to_owned),
            component_name: component_name.map(str::to_owned),
            component_version: component_version.map(str::to_owned),
            components: root.arr_optional("components")?.map_or(0, |arr| arr.len()),
        })
    }

    /// The short description.
    pub fn summary(&self) -> SbomSummary {
        SbomSummary {
            format: SbomFormat::CycloneDx,
            name: self.component_name.clone(),
            version: self.spec_version.clone(),
            packages: self.components,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TAG_VALUE: &str = "SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n\
        DocumentName: demo\nDocumentNamespace: https://example.com/demo\n\
        DocumentComment: <text>PackageName: not-a-package\nstill comment\n</text>\n\
        Creator: Tool: vouch\nCreator: Organization: Acme\nCreated: 2024-01-01T00:00:00Z\n\
        # PackageName: commented out\n\
        PackageName: a\nPackageComment: <text>one line</text>\nPackageName: b\n";

    #[test]
    fn reads_tag_value_and_skips_text_blocks_and_comments() {
        let doc = SpdxDocument::from_tag_value(TAG_VALUE).unwrap();
        assert_eq!(doc.encoding, SpdxEncoding::TagValue);
        assert_eq!(doc.spdx_version, "SPDX-2.3");
        assert_eq!(doc.name, "demo");
        assert_eq!(
            doc.document_namespace.as_deref(),
            Some("https://example.com/demo")
        );
        assert_eq!(doc.created.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(doc.creators, ["Tool: vouch", "Organization: Acme"]);
        assert_eq!(doc.packages, 2);
        assert_eq!(
            doc.summary().to_string(),
            "SPDX-2.3 document demo, 2 packages"
        );
    }

    #[test]
    fn tag_value_rejects_a_repeated_document_tag() {
        let err = SpdxDocument::from_tag_value(
            "SPDXVersion: SPDX-2.3\nDocumentName: a\nDocumentName: b\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "SPDX tag-value predicate: expected the tag once per document at \
             `DocumentName (line 3)`, found `a second `DocumentName` tag`"
        );
    }

    #[test]
    fn tag_value_requires_version_and_name() {
        let err = SpdxDocument::from_tag_value("DocumentName: a\n").unwrap_err();
        assert!(matches!(err, AttestError::MissingField { ref path, .. } if path == "SPDXVersion"));
        let err = SpdxDocument::from_tag_value("SPDXVersion: SPDX-2.2\n").unwrap_err();
        assert!(
            matches!(err, AttestError::MissingField { ref path, .. } if path == "DocumentName")
        );
        let err =
            SpdxDocument::from_tag_value("SPDXVersion: SPDX-3.0\nDocumentName: a").unwrap_err();
        assert!(matches!(err, AttestError::UnexpectedValue { .. }));
    }

    #[test]
    fn cyclonedx_counts_top_level_components_and_names_the_subject() {
        let bom = CycloneDxBom::from_predicate(&json!({
            "bomFormat": "CycloneDX", "specVersion": "1.5",
            "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
            "metadata": {"component": {"name": "acme-app", "version": "1.0"}},
            "components": [{"name": "a", "components": [{"name": "nested"}]}, {"name": "b"}]
        }))
        .unwrap();
        assert_eq!(bom.components, 2);
        assert_eq!(bom.component_name.as_deref(), Some("acme-app"));
        assert_eq!(
            bom.summary().to_string(),
            "CycloneDX 1.5 BOM acme-app, 2 components"
        );
    }

    #[test]
    fn cyclonedx_rejects_other_formats_and_xml() {
        let err = CycloneDxBom::from_predicate(&json!({"bomFormat": "SPDX", "specVersion": "1"}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "CycloneDX predicate: expected `CycloneDX` at `$.bomFormat`, found `SPDX`"
        );
        let err = CycloneDxBom::from_predicate(&json!("<bom/>")).unwrap_err();
        assert!(matches!(err, AttestError::WrongType { .. }));
    }

    #[test]
    fn summary_escapes_control_characters_in_names() {
        let summary = SbomSummary {
            format: SbomFormat::CycloneDx,
            name: Some("evil\u{1b}[2J".into()),
            version: "1.5".into(),
            packages: 1,
        };
        assert_eq!(
            summary.to_string(),
            "CycloneDX 1.5 BOM evil\\u{1b}[2J, 1 component"
        );
    }
}
