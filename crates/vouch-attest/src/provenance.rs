//! SLSA provenance predicates, v0.2 and v1, and their one-line summary.
//!
//! Sources: <https://slsa.dev/spec/v0.2/provenance> (`builder.id`,
//! `buildType`, `invocation.configSource`, `metadata.buildInvocationId`,
//! `materials`) and <https://slsa.dev/spec/v1.0/provenance>
//! (`buildDefinition.buildType`, `buildDefinition.externalParameters`,
//! `buildDefinition.resolvedDependencies`, `runDetails.builder.id`,
//! `runDetails.metadata.invocationId`). Fields marked REQUIRED there are
//! required here; everything else is optional and unknown fields are ignored.

use std::fmt;

use serde_json::Value;

use crate::error::{AttestError, DocumentKind};
use crate::json::{Obj, escape_for_display};

/// Which SLSA provenance version a summary describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlsaVersion {
    /// `https://slsa.dev/provenance/v0.2`.
    V02,
    /// `https://slsa.dev/provenance/v1`.
    V1,
}

impl fmt::Display for SlsaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V02 => "v0.2",
            Self::V1 => "v1",
        })
    }
}

/// The short description of a provenance predicate: who built it, how, from
/// what.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProvenanceSummary {
    /// The provenance version.
    pub slsa_version: SlsaVersion,
    /// v0.2 `builder.id` / v1 `runDetails.builder.id`: the identity to trust.
    pub builder_id: String,
    /// v0.2 `buildType` / v1 `buildDefinition.buildType`.
    pub build_type: String,
    /// v0.2 `invocation.configSource.uri` (v1 keeps the source inside the
    /// build-type-specific `externalParameters`, so this is `None`).
    pub source: Option<String>,
    /// v0.2 `metadata.buildInvocationId` / v1 `runDetails.metadata.invocationId`.
    pub invocation_id: Option<String>,
    /// Number of v0.2 `materials` / v1 `resolvedDependencies`.
    pub dependencies: usize,
}

impl fmt::Display for ProvenanceSummary {
    /// One line, e.g. `SLSA provenance v1: builder https://…, build type https://…`.
    /// Untrusted text has control characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SLSA provenance {}: builder {}, build type {}",
            self.slsa_version,
            escape_for_display(&self.builder_id),
            escape_for_display(&self.build_type)
        )?;
        if let Some(source) = &self.source {
            write!(f, ", source {}", escape_for_display(source))?;
        }
        if let Some(invocation) = &self.invocation_id {
            write!(f, ", invocation {}", escape_for_display(invocation))?;
        }
        Ok(())
    }
}

/// The SLSA provenance v0.2 fields this crate reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlsaProvenanceV02 {
    /// `builder.id` (REQUIRED).
    pub builder_id: String,
    /// `buildType` (REQUIRED).
    pub build_type: String,
    /// `invocation.configSource.uri`.
    pub config_source_uri: Option<String>,
    /// `invocation.configSource.entryPoint`.
    pub config_source_entry_point: Option<String>,
    /// `metadata.buildInvocationId`.
    pub build_invocation_id: Option<String>,
    /// Number of `materials`.
    pub materials: usize,
}

impl SlsaProvenanceV02 {
    /// Reads a `https://slsa.dev/provenance/v0.2` predicate.
    pub fn from_predicate(predicate: &Value) -> Result<Self, AttestError> {
        let root = Obj::root(DocumentKind::SlsaProvenanceV02, predicate)?;
        let builder_id = root.obj_required("builder")?.str_required("id")?;
        let build_type = root.str_required("buildType")?;
        let config_source = match root.obj_optional("invocation")? {
            Some(invocation) => invocation.obj_optional("configSource")?,
            None => None,
        };
        let (uri, entry_point) = match config_source {
            Some(source) => (
                source.str_optional("uri")?,
                source.str_optional("entryPoint")?,
            ),
            None => (None, None),
        };
        let build_invocation_id = match root.obj_optional("metadata")? {
            Some(metadata) => metadata.str_optional("buildInvocationId")?,
            None => None,
        };
        Ok(Self {
            builder_id: builder_id.to_owned(),
            build_type: build_type.to_owned(),
            config_source_uri: uri.map(str::to_owned),
            config_source_entry_point: entry_point.map(str::to_owned),
            build_invocation_id: build_invocation_id.map(str::to_owned),
            materials: root.arr_optional("materials")?.map_or(0, |arr| arr.len()),
        })
    }

    /// The short description.
    pub fn summary(&self) -> ProvenanceSummary {
        ProvenanceSummary {
            slsa_version: SlsaVersion::V02,
            builder_id: self.builder_id.clone(),
            build_type: self.build_type.clone(),
            source: self.config_source_uri.clone(),
            invocation_id: self.build_invocation_id.clone(),
            dependencies: self.materials,
        }
    }
}

/// The SLSA provenance v1 fields this crate reads.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SlsaProvenanceV1 {
    /// `buildDefinition.buildType` (REQUIRED).
    pub build_type: String,
    /// `buildDefinition.externalParameters` (REQUIRED object), kept raw: its
    /// shape is defined by the build type.
    pub external_parameters: Value,
    /// Number of `buildDefinition.resolvedDependencies`.
    pub resolved_dependencies: usize,
    /// `runDetails.builder.id` (REQUIRED).
    pub builder_id: String,
    /// `runDetails.metadata.invocationId` (or `invocationID`, the spelling
    /// cosign renames on `attest`).
    pub invocation_id: Option<String>,
}

impl SlsaProvenanceV1 {
    /// Reads a `https://slsa.dev/provenance/v1` predicate.
    pub fn from_predicate(predicate: &Value) -> Result<Self, AttestError> {
        let root = Obj::root(DocumentKind::SlsaProvenanceV1, predicate)?;
        let definition = root.obj_required("buildDefinition")?;
        let build_type = definition.str_required("buildType")?;
        let external_parameters = definition.obj_required("externalParameters")?;
        let resolved_dependencies = definition
            .arr_optional("resolvedDependencies")?
            .map_or(0, |arr| arr.len());
        let run_details = root.obj_required("runDetails")?;
        let builder_id = run_details.obj_required("builder")?.str_required("id")?;
        let invocation_id = match run_details.obj_optional("metadata")? {
            Some(metadata) => match metadata.str_optional("invocationId")? {
                Some(id) => Some(id),
                None => metadata.str_optional("invocationID")?,
            },
            None => None,
        };
        Ok(Self {
            build_type: build_type.to_owned(),
            external_parameters: Value::Object(external_parameters.map().clone()),
            resolved_dependencies,
            builder_id: builder_id.to_owned(),
            invocation_id: invocation_id.map(str::to_owned),
        })
    }

    /// The short description.
    pub fn summary(&self) -> ProvenanceSummary {
        ProvenanceSummary {
            slsa_version: SlsaVersion::V1,
            builder_id: self.builder_id.clone(),
            build_type: self.build_type.clone(),
            source: None,
            invocation_id: self.invocation_id.clone(),
            dependencies: self.resolved_dependencies,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn v1_accepts_the_invocation_id_spelling_cosign_renames() {
        let provenance = SlsaProvenanceV1::from_predicate(&json!({
            "buildDefinition": {"buildType": "t", "externalParameters": {}},
            "runDetails": {"builder": {"id": "b"}, "metadata": {"invocationID": "i"}}
        }))
        .unwrap();
        assert_eq!(provenance.invocation_id.as_deref(), Some("i"));
        assert_eq!(provenance.resolved_dependencies, 0);
    }

    #[test]
    fn v1_requires_external_parameters_to_be_an_object() {
        let err = SlsaProvenanceV1::from_predicate(&json!({
            "buildDefinition": {"buildType": "t", "externalParameters": "x"},
            "runDetails": {"builder": {"id": "b"}}
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "SLSA provenance v1 predicate: expected an object at \
             `$.buildDefinition.externalParameters`, found a string"
        );
    }

    #[test]
    fn v02_requires_builder_id() {
        let err = SlsaProvenanceV02::from_predicate(&json!({"builder": {}, "buildType": "t"}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "SLSA provenance v0.2 predicate: missing required field `$.builder.id`"
        );
    }

    #[test]
    fn summary_line_includes_source_and_invocation_when_known() {
        let summary = ProvenanceSummary {
            slsa_version: SlsaVersion::V02,
            builder_id: "b".into(),
            build_type: "t".into(),
            source: Some("git+https://x\n".into()),
            invocation_id: Some("1-1".into()),
            dependencies: 0,
        };
        assert_eq!(
            summary.to_string(),
            "SLSA provenance v0.2: builder b, build type t, source git+https://x\\u{a}, invocation 1-1"
        );
    }
}
