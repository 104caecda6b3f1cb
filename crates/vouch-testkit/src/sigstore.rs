//! [`VirtualSigstore`]: one in-process Sigstore instance (Fulcio-like CA, CT
//! log, Rekor-like transparency log) and the signing operations that produce
//! bundles and legacy cosign material with it.

use crate::bundle::{self, Content, EntryKind};
use crate::ca::{CertificateAuthority, LeafRequest, positive_serial};
use crate::ct::CtLog;
use crate::dsse::{IN_TOTO_PAYLOAD_TYPE, SignedEnvelope, pae};
use crate::keys::LeafKey;
use crate::legacy::{self, LegacyAttestation, LegacySignature};
use crate::options::{DsseEntryKind, IssuingCa, LEAF_LIFETIME_SECS, SctChoice, SignOptions};
use crate::pem;
use crate::rekor::{self, LoggedEntry, TransparencyLog};
use crate::time::rfc3339;
use crate::tsa::TimestampAuthority;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

/// How long before the instance's time its CA, CT log and transparency log
/// came into service (their `validFor` start and the CA's `notBefore`).
pub const TRUST_EPOCH_BEFORE_NOW_SECS: u64 = 365 * 86_400;

/// How long after the instance's time its CA certificates stay valid.
pub const CA_LIFETIME_AFTER_NOW_SECS: u64 = 10 * 365 * 86_400;

/// A bundle produced by [`VirtualSigstore::sign_blob`] or
/// [`VirtualSigstore::sign_statement`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedBundle {
    /// The bundle JSON (`application/vnd.dev.sigstore.bundle.v0.3+json`).
    pub json: String,
    /// PEM leaf certificate (also inside the bundle).
    pub certificate_pem: String,
    /// PEM chain of the issuing CA: intermediate, then root.
    pub chain_pem: String,
    /// Global Rekor log index of the entry.
    pub log_index: u64,
    /// Integrated time of the entry, Unix seconds.
    pub integrated_time: u64,
}

/// A leaf certificate and its key, fresh from the CA.
struct IssuedLeaf {
    key: LeafKey,
    cert_der: Vec<u8>,
    chain_pem: String,
    signing_time: u64,
}

/// An in-process Sigstore instance that mints real keys, certificates, SCTs,
/// log entries, SETs, inclusion proofs and checkpoints.
///
/// Every key is derived from the instance name, so two instances with the
/// same name share keys (their CA certificates differ only in signature
/// bytes, ECDSA nonces being random); instances with different names (say
/// `"prod"` and `"staging"`) are independent, and neither trusts the other's
/// material. The testkit never reads the clock: the instance's time
/// comes from [`VirtualSigstore::new`] and each signing may override it.
///
/// Note that verifiers usually reject integrated times in the future of their
/// own clock, so tests should use times in the past.
///
/// Methods take `&self` (the log sits behind a mutex), so one instance can be
/// shared by concurrent tests.
#[derive(Debug)]
pub struct VirtualSigstore {
    name: String,
    now: u64,
    ca: CertificateAuthority,
    attacker_ca: CertificateAuthority,
    ct_log: CtLog,
    rogue_ct_log: CtLog,
    rekor: TransparencyLog,
    tsa: TimestampAuthority,
    leaves_issued: AtomicU64,
}

impl VirtualSigstore {
    /// A new instance named `name` (lowercase ASCII letters, digits and
    /// hyphens; it appears in host names such as `rekor.<name>.test`) whose
    /// time is `now` (Unix seconds).
    ///
    /// # Panics
    /// If `name` is empty or has other characters.
    pub fn new(name: &str, now: u64) -> Self {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "instance name must be lowercase ASCII letters, digits and hyphens: {name:?}"
        );
        let seed = format!("vouch-testkit/{name}").into_bytes();
        let organization = format!("{name}.test");
        let epoch = now.saturating_sub(TRUST_EPOCH_BEFORE_NOW_SECS);
        let ca_end = now + CA_LIFETIME_AFTER_NOW_SECS;
        Self {
            name: name.to_owned(),
            now,
            ca: CertificateAuthority::new(&seed, "fulcio", &organization, epoch, ca_end),
            // Same subject names as the real CA: only the keys give it away.
            attacker_ca: CertificateAuthority::new(
                &seed,
                "attacker-fulcio",
                &organization,
                epoch,
                ca_end,
            ),
            ct_log: CtLog::new(&seed, "ctlog"),
            rogue_ct_log: CtLog::new(&seed, "rogue-ctlog"),
            rekor: TransparencyLog::new(&seed, name),
            tsa: TimestampAuthority::new(&seed, "tsa", &organization, epoch, ca_end),
            leaves_issued: AtomicU64::new(0),
        }
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instance's time (Unix seconds): the default signing time.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Start of the instance's trust windows (`validFor.start` of every
    /// authority and log, `notBefore` of the CA certificates).
    pub fn trust_epoch(&self) -> u64 {
        self.now.saturating_sub(TRUST_EPOCH_BEFORE_NOW_SECS)
    }

    /// PEM of the Fulcio chain: intermediate, then root.
    pub fn fulcio_chain_pem(&self) -> String {
        chain_pem(&self.ca)
    }

    /// PEM of the transparency log's public key (what `cosign` takes as
    /// `SIGSTORE_REKOR_PUBLIC_KEY`).
    pub fn rekor_public_key_pem(&self) -> String {
        pem::public_key(self.rekor.spki_der())
    }

    /// PEM of the CT log's public key (`SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`).
    pub fn ct_log_public_key_pem(&self) -> String {
        pem::public_key(self.ct_log.spki_der())
    }

    /// The transparency log ID (SHA-256 of its key's SubjectPublicKeyInfo),
    /// lowercase hex as in cosign's Rekor bundle.
    pub fn rekor_log_id_hex(&self) -> String {
        hex::encode(self.rekor.log_id())
    }

    /// `trusted_root.json` (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`)
    /// listing this instance's transparency log, CT log and CA (chain:
    /// intermediate, then root). No timestamp authority.
    pub fn trusted_root_json(&self) -> String {
        let start = rfc3339(self.trust_epoch());
        let log = |url: String, spki: &[u8], log_id: [u8; 32]| {
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": STANDARD.encode(spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": STANDARD.encode(log_id)},
            })
        };
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(self.rekor.base_url(), self.rekor.spki_der(), self.rekor.log_id())],
            "certificateAuthorities": [{
                "subject": {"organization": format!("{}.test", self.name), "commonName": "sigstore"},
                "uri": self.url("fulcio"),
                "certChain": {"certificates": [
                    {"rawBytes": STANDARD.encode(self.ca.intermediate_der())},
                    {"rawBytes": STANDARD.encode(self.ca.root_der())},
                ]},
                "validFor": {"start": start},
            }],
            "ctlogs": [log(self.url("ctfe"), self.ct_log.spki_der(), self.ct_log.log_id())],
            "timestampAuthorities": [],
        });
        serde_json::to_string_pretty(&root).expect("JSON serializes")
    }

    /// `trusted_root.json` of a private instance such as GitHub's: this
    /// instance's Fulcio CA and timestamp authority (chain: leaf, then
    /// root), no transparency log and no CT log. Sign for it with
    /// [`SignOptions::private_infrastructure`].
    pub fn private_trusted_root_json(&self) -> String {
        let mut root: serde_json::Value =
            serde_json::from_str(&self.trusted_root_json()).expect("own JSON parses");
        root["tlogs"] = json!([]);
        root["ctlogs"] = json!([]);
        root["timestampAuthorities"] = json!([{
            "subject": {"organization": format!("{}.test", self.name), "commonName": "tsa"},
            "uri": self.url("tsa"),
            "certChain": {"certificates": [
                {"rawBytes": STANDARD.encode(self.tsa.leaf_der())},
                {"rawBytes": STANDARD.encode(self.tsa.root_der())},
            ]},
            "validFor": {"start": rfc3339(self.trust_epoch())},
        }]);
        serde_json::to_string_pretty(&root).expect("JSON serializes")
    }

    /// PEM of the timestamp authority's chain: leaf, then root (what cosign
    /// takes as `--timestamp-certificate-chain`).
    pub fn tsa_chain_pem(&self) -> String {
        pem::certificate(self.tsa.leaf_der()) + &pem::certificate(self.tsa.root_der())
    }

    /// `signing_config.v0.2.json` with made-up `https://*.<name>.test` URLs
    /// (nothing listens there; clients need the file to exist).
    pub fn signing_config_json(&self) -> String {
        let service = |url: String| {
            json!([{
                "url": url,
                "majorApiVersion": 1,
                "validFor": {"start": rfc3339(self.trust_epoch())},
                "operator": format!("{}.test", self.name),
            }])
        };
        let config = json!({
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": service(self.url("fulcio")),
            "oidcUrls": service(format!("{}/auth", self.url("oauth2"))),
            "rekorTlogUrls": service(self.rekor.base_url()),
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        });
        serde_json::to_string_pretty(&config).expect("JSON serializes")
    }

    /// A `ClientTrustConfig`
    /// (`application/vnd.dev.sigstore.clienttrustconfig.v0.1+json`) holding
    /// [`Self::trusted_root_json`] and [`Self::signing_config_json`], as
    /// `sigstore --trust-config` takes it.
    pub fn client_trust_config_json(&self) -> String {
        let parse =
            |s: String| -> serde_json::Value { serde_json::from_str(&s).expect("own JSON parses") };
        let config = json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": parse(self.trusted_root_json()),
            "signingConfig": parse(self.signing_config_json()),
        });
        serde_json::to_string_pretty(&config).expect("JSON serializes")
    }

    /// Signs `blob` as `cosign sign-blob --bundle` / `sigstore sign` do: a
    /// v0.3 bundle with a message signature and a `hashedrekord` 0.0.1 entry,
    /// both recording the artifact's digest with the hash the key type
    /// implies (SHA-384 for P-384, SHA-512 for P-521: sigstore-go's default
    /// signer) unless [`SignOptions::digest_algorithm`] picks another.
    pub fn sign_blob(&self, blob: &[u8], options: impl Into<SignOptions>) -> SignedBundle {
        let options = options.into();
        let leaf = self.issue_leaf(&options);
        let algorithm = options.signature.digest_algorithm();
        let signature = leaf.key.sign(blob, options.signature.message_hash());
        let digest = algorithm.digest(blob);
        let logged = options.signature.logged_algorithm();
        let body =
            rekor::hashedrekord_body(logged, &logged.digest(blob), &signature, &leaf.cert_der);
        let entry = self.log(body, &options, leaf.signing_time);
        let tlog = bundle::tlog_entry(
            &entry,
            EntryKind::HashedRekord,
            &self.rekor.log_id(),
            &options.log,
        );
        let json = bundle::bundle_v03(
            &leaf.cert_der,
            tlog,
            Content::MessageSignature {
                algorithm,
                digest: &digest,
                signature: &signature,
            },
        );
        let json = self.finish(json, &options, &signature, entry.log_index);
        signed_bundle(json, &leaf, &entry)
    }

    /// Signs an in-toto statement (JSON bytes, e.g. from
    /// [`crate::in_toto_statement`]) as a DSSE envelope with payload type
    /// `application/vnd.in-toto+json`: a v0.3 bundle with a `dsse` 0.0.1
    /// entry (or the type [`SignOptions::dsse_entry_kind`] picks).
    pub fn sign_statement(
        &self,
        statement: &[u8],
        options: impl Into<SignOptions>,
    ) -> SignedBundle {
        self.sign_dsse(IN_TOTO_PAYLOAD_TYPE, statement, options)
    }

    /// Signs any payload as a DSSE envelope in a v0.3 bundle.
    pub fn sign_dsse(
        &self,
        payload_type: &str,
        payload: &[u8],
        options: impl Into<SignOptions>,
    ) -> SignedBundle {
        let options = options.into();
        let leaf = self.issue_leaf(&options);
        let (envelope, entry, kind) =
            self.sign_and_log_envelope(&leaf, payload_type, payload, &options);
        let tlog = bundle::tlog_entry(&entry, kind, &self.rekor.log_id(), &options.log);
        let json = bundle::bundle_v03(&leaf.cert_der, tlog, Content::Dsse(&envelope));
        let json = self.finish(json, &options, &envelope.signature, entry.log_index);
        signed_bundle(json, &leaf, &entry)
    }

    /// Signs image `manifest_digest` (`sha256:<hex>`) of repository
    /// `docker_reference` (e.g. `registry.test/acme/app`) as keyless
    /// `cosign sign` does: simple-signing payload, signature, certificate,
    /// chain, and a `hashedrekord` 0.0.1 entry whose data hash is the
    /// payload's digest (SHA-256 for cosign's P-256 keys; the key type's hash
    /// or [`SignOptions::digest_algorithm`] otherwise), recorded in the Rekor
    /// bundle annotation.
    pub fn sign_image_legacy(
        &self,
        docker_reference: &str,
        manifest_digest: &str,
        options: impl Into<SignOptions>,
    ) -> LegacySignature {
        let options = options.into();
        let leaf = self.issue_leaf(&options);
        let payload = legacy::simple_signing_payload(docker_reference, manifest_digest);
        let logged = options.signature.logged_algorithm();
        let signature = leaf.key.sign(&payload, options.signature.message_hash());
        let digest = logged.digest(&payload);
        let body = rekor::hashedrekord_body(logged, &digest, &signature, &leaf.cert_der);
        let entry = self.log(body, &options, leaf.signing_time);
        LegacySignature {
            payload,
            signature_b64: STANDARD.encode(&signature),
            certificate_pem: pem::certificate(&leaf.cert_der),
            chain_pem: leaf.chain_pem.clone(),
            rekor_bundle_json: self.rekor_bundle(&entry, &options),
            log_index: entry.log_index,
            integrated_time: entry.integrated_time,
        }
    }

    /// Attests an image as keyless `cosign attest` does: the statement is
    /// signed into a DSSE envelope, which is the layer payload; the entry is
    /// `dsse` 0.0.1 (cosign 2.3 and later) unless
    /// [`SignOptions::dsse_entry_kind`] picks `intoto` 0.0.1 (cosign 2.0 to
    /// 2.2, or `--rekor-entry-type=intoto`) or 0.0.2.
    pub fn attest_image_legacy(
        &self,
        statement: &[u8],
        options: impl Into<SignOptions>,
    ) -> LegacyAttestation {
        let options = options.into();
        let leaf = self.issue_leaf(&options);
        let (envelope, entry, _) =
            self.sign_and_log_envelope(&leaf, IN_TOTO_PAYLOAD_TYPE, statement, &options);
        let predicate_type = serde_json::from_slice::<serde_json::Value>(statement)
            .ok()
            .and_then(|v| v["predicateType"].as_str().map(str::to_owned));
        LegacyAttestation {
            payload: envelope.to_json(),
            statement: statement.to_vec(),
            predicate_type,
            certificate_pem: pem::certificate(&leaf.cert_der),
            chain_pem: leaf.chain_pem.clone(),
            rekor_bundle_json: self.rekor_bundle(&entry, &options),
            log_index: entry.log_index,
            integrated_time: entry.integrated_time,
        }
    }

    /// `https://<service>.<name>.test`.
    fn url(&self, service: &str) -> String {
        format!("https://{service}.{}.test", self.name)
    }

    /// Issues a leaf certificate for a fresh ephemeral key of the type the
    /// options ask for (P-256 by default).
    fn issue_leaf(&self, options: &SignOptions) -> IssuedLeaf {
        let n = self.leaves_issued.fetch_add(1, Ordering::Relaxed);
        let seed = format!("vouch-testkit/{}", self.name);
        let key = LeafKey::new(
            seed.as_bytes(),
            &format!("leaf/{n}"),
            options.signature.key_type,
        );
        let signing_time = options.time.unwrap_or(self.now);
        let (not_before, not_after) = options
            .cert
            .validity
            .unwrap_or((signing_time, signing_time + LEAF_LIFETIME_SECS));
        let ca = match options.cert.issuing_ca {
            IssuingCa::Trusted => &self.ca,
            IssuingCa::Untrusted => &self.attacker_ca,
        };
        let ct_log = match options.cert.sct {
            SctChoice::Embedded => Some(&self.ct_log),
            SctChoice::FromUntrustedLog => Some(&self.rogue_ct_log),
            SctChoice::Omitted => None,
        };
        let serial_entropy = Sha256::new()
            .chain_update(&seed)
            .chain_update(b"/serial/")
            .chain_update(n.to_be_bytes())
            .finalize();
        let request = LeafRequest {
            subject_spki: key.spki(),
            serial: positive_serial(&serial_entropy),
            not_before,
            not_after,
            identity: &options.identity,
            options: &options.cert,
        };
        let cert_der = ca.issue_leaf(&request, ct_log);
        IssuedLeaf {
            key,
            cert_der,
            chain_pem: chain_pem(ca),
            signing_time,
        }
    }

    /// Appends `body` at the integrated time the options ask for.
    fn log(&self, body: Vec<u8>, options: &SignOptions, signing_time: u64) -> LoggedEntry {
        let integrated_time = options.log.integrated_time.unwrap_or(signing_time);
        self.rekor.append(body, integrated_time)
    }

    /// Signs a DSSE envelope with the leaf key and logs it with the entry
    /// type the options ask for.
    fn sign_and_log_envelope(
        &self,
        leaf: &IssuedLeaf,
        payload_type: &str,
        payload: &[u8],
        options: &SignOptions,
    ) -> (SignedEnvelope, LoggedEntry, EntryKind) {
        let envelope = SignedEnvelope {
            payload_type: payload_type.to_owned(),
            payload: payload.to_vec(),
            signature: leaf
                .key
                .sign(&pae(payload_type, payload), options.signature.dsse_hash()),
        };
        let envelope_json = envelope.to_json();
        let (body, kind) = match options.log.dsse_entry_kind {
            DsseEntryKind::Dsse => (
                rekor::dsse_body(&envelope_json, payload, &envelope.signature, &leaf.cert_der),
                EntryKind::Dsse,
            ),
            DsseEntryKind::IntotoV001 => (
                rekor::intoto_v001_body(&envelope_json, payload, &leaf.cert_der),
                EntryKind::IntotoV001,
            ),
            DsseEntryKind::IntotoV002 => (
                rekor::intoto_v002_body(
                    &envelope_json,
                    payload_type,
                    payload,
                    &envelope.signature,
                    &leaf.cert_der,
                ),
                EntryKind::IntotoV002,
            ),
        };
        let entry = self.log(body, options, leaf.signing_time);
        (envelope, entry, kind)
    }

    /// Applies [`crate::LogOptions::entry`] and
    /// [`crate::LogOptions::rfc3161_timestamp`] to bundle `json` whose
    /// signature is `signature`.
    fn finish(&self, json: String, options: &SignOptions, signature: &[u8], serial: u64) -> String {
        use crate::options::Presence;
        if options.log.entry == Presence::Present && options.log.rfc3161_timestamp.is_none() {
            return json;
        }
        let mut bundle: serde_json::Value = serde_json::from_str(&json).expect("own JSON");
        if options.log.entry == Presence::Absent {
            bundle["verificationMaterial"]["tlogEntries"] = json!([]);
        }
        if let Some(gen_time) = options.log.rfc3161_timestamp {
            let token = self.tsa.timestamp(signature, gen_time, serial + 1);
            bundle["verificationMaterial"]["timestampVerificationData"] =
                json!({"rfc3161Timestamps": [{"signedTimestamp": STANDARD.encode(token)}]});
        }
        serde_json::to_string_pretty(&bundle).expect("JSON serializes")
    }

    /// cosign's Rekor bundle annotation for `entry`, unless the options
    /// leave out the inclusion promise.
    fn rekor_bundle(&self, entry: &LoggedEntry, options: &SignOptions) -> Option<String> {
        (options.log.inclusion_promise == crate::options::Presence::Present).then(|| {
            legacy::rekor_bundle_json(
                &STANDARD.encode(&entry.set),
                &STANDARD.encode(&entry.body),
                entry.integrated_time,
                entry.log_index,
                &self.rekor_log_id_hex(),
            )
        })
    }
}

/// PEM chain of `ca`: intermediate, then root.
fn chain_pem(ca: &CertificateAuthority) -> String {
    pem::certificate(ca.intermediate_der()) + &pem::certificate(ca.root_der())
}

/// Wraps bundle JSON with the facts tests assert on.
fn signed_bundle(json: String, leaf: &IssuedLeaf, entry: &LoggedEntry) -> SignedBundle {
    SignedBundle {
        json,
        certificate_pem: pem::certificate(&leaf.cert_der),
        chain_pem: leaf.chain_pem.clone(),
        log_index: entry.log_index,
        integrated_time: entry.integrated_time,
    }
}
