//! A throwaway certificate authority for TLS tests, made with the
//! `openssl` command line (as [`crate::LocalRegistry::start_tls`] does):
//! server certificates for chosen names, key types and validity windows
//! (including expired ones), and client certificates.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The key type of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsKey {
    /// ECDSA on P-256.
    EcdsaP256,
    /// RSA, 2048 bits.
    Rsa2048,
}

/// When an issued certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From now for a day.
    Current,
    /// For one day in 2020: expired.
    Expired,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A TLS server (extendedKeyUsage serverAuth).
    Server,
    /// A TLS client (extendedKeyUsage clientAuth).
    Client,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
}

/// A CA in a directory; its files stay there.
#[derive(Debug)]
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// A new CA (ECDSA P-256, valid for a day) in `dir`; `None` when the
    /// `openssl` command is missing (the caller skips, saying so).
    pub fn new(dir: &Path) -> Option<Self> {
        if !crate::tool_available("openssl") {
            return None;
        }
        std::fs::create_dir_all(dir).expect("CA directory");
        std::fs::write(
            dir.join("ca.cnf"),
            "[ ca ]\ndefault_ca = ca_default\n[ ca_default ]\ndatabase = index.txt\n\
             new_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\n\
             unique_subject = no\n[ any ]\ncommonName = supplied\n",
        )
        .expect("CA config");
        std::fs::write(dir.join("index.txt"), "").expect("CA index");
        std::fs::write(dir.join("serial"), "01\n").expect("CA serial");
        let ca = Self {
            dir: dir.to_path_buf(),
        };
        ca.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=vouch test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        Some(ca)
    }

    /// The CA certificate (PEM), for clients to trust.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Issues `name.pem` / `name.key`: a certificate with the given key
    /// type, validity and usage; `subject_alt_names` in openssl's syntax
    /// (`IP:127.0.0.1,DNS:localhost`; empty for none).
    pub fn issue(
        &self,
        name: &str,
        key: TlsKey,
        validity: Validity,
        usage: Usage,
        subject_alt_names: &str,
    ) -> IssuedCert {
        let newkey = match key {
            TlsKey::EcdsaP256 => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            TlsKey::Rsa2048 => vec!["-newkey", "rsa:2048"],
        };
        let (cert, key_file, csr) = (
            format!("{name}.pem"),
            format!("{name}.key"),
            format!("{name}.csr"),
        );
        let subject = format!("/CN={name}");
        let mut req = vec!["req", "-new", "-nodes", "-subj", &subject];
        req.extend(&newkey);
        req.extend(["-keyout", &key_file, "-out", &csr]);
        self.openssl(&req);
        let mut extensions = match usage {
            Usage::Server => "extendedKeyUsage=serverAuth\n".to_string(),
            Usage::Client => "extendedKeyUsage=clientAuth\n".to_string(),
        };
        if !subject_alt_names.is_empty() {
            extensions.push_str(&format!("subjectAltName={subject_alt_names}\n"));
        }
        let ext_file = format!("{name}.ext");
        std::fs::write(self.dir.join(&ext_file), extensions).expect("extensions file");
        let dates = match validity {
            Validity::Current => vec!["-days", "1"],
            Validity::Expired => vec![
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200102000000Z",
            ],
        };
        let mut sign = vec![
            "ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile",
            "ca.key", "-in", &csr, "-out", &cert, "-extfile", &ext_file,
        ];
        sign.extend(dates);
        self.openssl(&sign);
        IssuedCert {
            cert: self.dir.join(cert),
            key: self.dir.join(key_file),
        }
    }

    /// Runs `openssl args…` in the CA directory; panics with its output on
    /// failure.
    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
