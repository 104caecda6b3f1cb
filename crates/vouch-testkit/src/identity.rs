//! Who a certificate is issued to: the SAN, the OIDC issuer and, for GitHub
//! Actions, the workflow claims Fulcio copies into its X.509 extensions
//! (Fulcio `docs/oid-info.md`).

use sha2::{Digest, Sha256};

/// OIDC issuer of GitHub Actions workload identity tokens.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// A Subject Alternative Name entry of a leaf certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    /// `uniformResourceIdentifier`, e.g. a GitHub Actions workflow reference.
    Uri(String),
    /// `rfc822Name`, an email address.
    Email(String),
}

impl San {
    /// The SAN value as text.
    pub fn value(&self) -> &str {
        match self {
            San::Uri(v) | San::Email(v) => v,
        }
    }
}

/// The identity a leaf certificate is issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The primary (first) Subject Alternative Name.
    pub san: San,
    /// OIDC issuer, written to extensions 1.3.6.1.4.1.57264.1.1 and .1.8
    /// unless [`crate::CertOptions`] overrides them.
    pub issuer: String,
    /// GitHub Actions workflow claims, if the identity is a workflow.
    pub github: Option<GitHubClaims>,
}

impl Identity {
    /// An email identity, as Fulcio issues for OAuth logins.
    pub fn email(email: &str, issuer: &str) -> Self {
        Self {
            san: San::Email(email.to_owned()),
            issuer: issuer.to_owned(),
            github: None,
        }
    }

    /// A URI identity without workflow claims.
    pub fn uri(uri: &str, issuer: &str) -> Self {
        Self {
            san: San::Uri(uri.to_owned()),
            issuer: issuer.to_owned(),
            github: None,
        }
    }

    /// A GitHub Actions workflow identity, as Fulcio issues for a workflow run
    /// in `repository` (`owner/name`) of `workflow_path`
    /// (`.github/workflows/release.yml`) at `git_ref` (`refs/tags/v1.0.0`).
    ///
    /// The SAN is `https://github.com/{repository}/{workflow_path}@{git_ref}`,
    /// the issuer [`GITHUB_ACTIONS_ISSUER`], and every claim is filled in with
    /// consistent values (see [`GitHubClaims::for_workflow`]).
    pub fn github_actions(repository: &str, workflow_path: &str, git_ref: &str) -> Self {
        let claims = GitHubClaims::for_workflow(repository, workflow_path, git_ref);
        Self {
            san: San::Uri(format!(
                "https://github.com/{repository}/{workflow_path}@{git_ref}"
            )),
            issuer: GITHUB_ACTIONS_ISSUER.to_owned(),
            github: Some(claims),
        }
    }
}

/// GitHub Actions claims Fulcio embeds in a certificate. `None` leaves the
/// extension out.
///
/// The deprecated `workflow_*` extensions (.1.2 to .1.6) hold raw bytes; the
/// others hold a DER UTF8String.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitHubClaims {
    /// 1.3.6.1.4.1.57264.1.2, GitHub Workflow Trigger (deprecated), e.g. `push`.
    pub workflow_trigger: Option<String>,
    /// 1.3.6.1.4.1.57264.1.3, GitHub Workflow SHA (deprecated).
    pub workflow_sha: Option<String>,
    /// 1.3.6.1.4.1.57264.1.4, GitHub Workflow Name (deprecated).
    pub workflow_name: Option<String>,
    /// 1.3.6.1.4.1.57264.1.5, GitHub Workflow Repository (deprecated), `owner/name`.
    pub workflow_repository: Option<String>,
    /// 1.3.6.1.4.1.57264.1.6, GitHub Workflow Ref (deprecated).
    pub workflow_ref: Option<String>,
    /// 1.3.6.1.4.1.57264.1.9, Build Signer URI.
    pub build_signer_uri: Option<String>,
    /// 1.3.6.1.4.1.57264.1.10, Build Signer Digest.
    pub build_signer_digest: Option<String>,
    /// 1.3.6.1.4.1.57264.1.11, Runner Environment (`github-hosted`).
    pub runner_environment: Option<String>,
    /// 1.3.6.1.4.1.57264.1.12, Source Repository URI.
    pub source_repository_uri: Option<String>,
    /// 1.3.6.1.4.1.57264.1.13, Source Repository Digest.
    pub source_repository_digest: Option<String>,
    /// 1.3.6.1.4.1.57264.1.14, Source Repository Ref.
    pub source_repository_ref: Option<String>,
    /// 1.3.6.1.4.1.57264.1.15, Source Repository Identifier.
    pub source_repository_identifier: Option<String>,
    /// 1.3.6.1.4.1.57264.1.16, Source Repository Owner URI.
    pub source_repository_owner_uri: Option<String>,
    /// 1.3.6.1.4.1.57264.1.17, Source Repository Owner Identifier.
    pub source_repository_owner_identifier: Option<String>,
    /// 1.3.6.1.4.1.57264.1.18, Build Config URI.
    pub build_config_uri: Option<String>,
    /// 1.3.6.1.4.1.57264.1.19, Build Config Digest.
    pub build_config_digest: Option<String>,
    /// 1.3.6.1.4.1.57264.1.20, Build Trigger.
    pub build_trigger: Option<String>,
    /// 1.3.6.1.4.1.57264.1.21, Run Invocation URI.
    pub run_invocation_uri: Option<String>,
    /// 1.3.6.1.4.1.57264.1.22, Source Repository Visibility At Signing.
    pub source_repository_visibility: Option<String>,
}

impl GitHubClaims {
    /// Claims for a `push` of `git_ref` running `workflow_path` in
    /// `repository`, filled in the way Fulcio's GitHub principal does: the
    /// workflow is its own build signer and build config, the commit SHA is a
    /// made-up but stable 40-hex digest of repository and ref, the run is
    /// `actions/runs/1234567890/attempts/1`, the repository is public.
    pub fn for_workflow(repository: &str, workflow_path: &str, git_ref: &str) -> Self {
        let base = "https://github.com";
        let sha = fake_commit_sha(repository, git_ref);
        let workflow_ref = format!("{repository}/{workflow_path}@{git_ref}");
        let owner = repository.split('/').next().unwrap_or(repository);
        let workflow_name = workflow_path
            .rsplit('/')
            .next()
            .and_then(|file| file.split('.').next())
            .unwrap_or(workflow_path);
        Self {
            workflow_trigger: Some("push".to_owned()),
            workflow_sha: Some(sha.clone()),
            workflow_name: Some(workflow_name.to_owned()),
            workflow_repository: Some(repository.to_owned()),
            workflow_ref: Some(git_ref.to_owned()),
            build_signer_uri: Some(format!("{base}/{workflow_ref}")),
            build_signer_digest: Some(sha.clone()),
            runner_environment: Some("github-hosted".to_owned()),
            source_repository_uri: Some(format!("{base}/{repository}")),
            source_repository_digest: Some(sha.clone()),
            source_repository_ref: Some(git_ref.to_owned()),
            source_repository_identifier: Some("123456789".to_owned()),
            source_repository_owner_uri: Some(format!("{base}/{owner}")),
            source_repository_owner_identifier: Some("987654321".to_owned()),
            build_config_uri: Some(format!("{base}/{workflow_ref}")),
            build_config_digest: Some(sha),
            build_trigger: Some("push".to_owned()),
            run_invocation_uri: Some(format!(
                "{base}/{repository}/actions/runs/1234567890/attempts/1"
            )),
            source_repository_visibility: Some("public".to_owned()),
        }
    }
}

/// A stable 40-hex "commit SHA" for a repository and ref.
fn fake_commit_sha(repository: &str, git_ref: &str) -> String {
    let digest = Sha256::digest(format!("{repository}@{git_ref}"));
    hex::encode(&digest[..20])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_identity_matches_fulcio_layout() {
        let id = Identity::github_actions(
            "acme/app",
            ".github/workflows/release.yml",
            "refs/tags/v1.0.0",
        );
        assert_eq!(
            id.san.value(),
            "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"
        );
        let claims = id.github.expect("claims");
        assert_eq!(claims.workflow_name.as_deref(), Some("release"));
        assert_eq!(
            claims.source_repository_owner_uri.as_deref(),
            Some("https://github.com/acme")
        );
        assert_eq!(claims.build_signer_uri.as_deref(), Some(id.san.value()));
        assert_eq!(claims.workflow_sha.as_ref().map(String::len), Some(40));
    }
}
