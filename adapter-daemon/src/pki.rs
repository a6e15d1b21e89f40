//! A development PKI: a CA, a server certificate for the daemon and client certificates for
//! terminals, generated with rcgen. `stm-adapter serve` creates one under `./data/pki` on first
//! start; production deployments replace it with certificates from the bank's own CA.
//!
//! A terminal certificate carries the terminal id as its common name; the gateway takes the
//! terminal's identity from it.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate and its private key, PEM.
#[derive(Clone)]
pub struct CertifiedKey {
    pub certificate_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field(
                "certificate_pem",
                &format!("{} bytes", self.certificate_pem.len()),
            )
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// Could not generate a certificate.
#[derive(Debug, thiserror::Error)]
#[error("certificate generation: {0}")]
pub struct PkiError(String);

fn err(e: impl std::fmt::Display) -> PkiError {
    PkiError(e.to_string())
}

/// A development certificate authority.
pub struct DevCa {
    pub ca: CertifiedKey,
    key: KeyPair,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa")
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "stm-adapter development PKI");
    dn.push(DnType::CommonName, common_name);
    dn
}

impl DevCa {
    /// A new CA, valid ten years.
    pub fn generate() -> Result<DevCa, PkiError> {
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name("stm-adapter development CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let cert = params.self_signed(&key).map_err(err)?;
        Ok(DevCa {
            ca: CertifiedKey {
                certificate_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            },
            key,
        })
    }

    /// Loads a CA generated earlier (its certificate and key PEM).
    pub fn load(certificate_pem: &str, key_pem: &str) -> Result<DevCa, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(err)?;
        // Fails early on a certificate that cannot act as an issuer.
        Issuer::from_ca_cert_pem(certificate_pem, &key).map_err(err)?;
        Ok(DevCa {
            ca: CertifiedKey {
                certificate_pem: certificate_pem.to_owned(),
                key_pem: key_pem.to_owned(),
            },
            key,
        })
    }

    fn issue(&self, mut params: CertificateParams) -> Result<CertifiedKey, PkiError> {
        let key = KeyPair::generate().map_err(err)?;
        params.not_after = rcgen::date_time_ymd(2031, 1, 1);
        let issuer = Issuer::from_ca_cert_pem(&self.ca.certificate_pem, &self.key).map_err(err)?;
        let cert = params.signed_by(&key, &issuer).map_err(err)?;
        Ok(CertifiedKey {
            certificate_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A server certificate for `hosts` (DNS names or IP addresses).
    pub fn server(&self, hosts: &[&str]) -> Result<CertifiedKey, PkiError> {
        let mut params =
            CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
                .map_err(err)?;
        params.distinguished_name = name(hosts.first().copied().unwrap_or("stm-adapter"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        self.issue(params)
    }

    /// A client certificate for a terminal: the terminal id is the common name.
    pub fn terminal(&self, terminal_id: &str) -> Result<CertifiedKey, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(terminal_id);
        params.subject_alt_names = vec![SanType::DnsName(
            format!("{}.terminals.stm-adapter", terminal_id.to_ascii_lowercase())
                .try_into()
                .map_err(err)?,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.issue(params)
    }
}

/// Writes a private key (or any secret) readable by its owner only.
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text)
    }
}

fn io(path: &std::path::Path, e: std::io::Error) -> PkiError {
    PkiError(format!("{}: {e}", path.display()))
}

impl DevCa {
    /// The development CA in `dir` (`ca.pem`, `ca-key.pem`), created there on first use.
    pub fn open_or_create(dir: &std::path::Path) -> Result<DevCa, PkiError> {
        let cert = dir.join("ca.pem");
        let key = dir.join("ca-key.pem");
        if cert.exists() && key.exists() {
            let c = std::fs::read_to_string(&cert).map_err(|e| io(&cert, e))?;
            let k = std::fs::read_to_string(&key).map_err(|e| io(&key, e))?;
            return DevCa::load(&c, &k);
        }
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let ca = DevCa::generate()?;
        std::fs::write(&cert, &ca.ca.certificate_pem).map_err(|e| io(&cert, e))?;
        write_private(&key, &ca.ca.key_pem).map_err(|e| io(&key, e))?;
        tracing::info!(ca = %cert.display(), "created a development CA");
        Ok(ca)
    }

    /// `cert_path`/`key_path` issued by this CA, created by `issue` when missing.
    pub fn ensure(
        &self,
        cert_path: &std::path::Path,
        key_path: &std::path::Path,
        issue: impl FnOnce(&DevCa) -> Result<CertifiedKey, PkiError>,
    ) -> Result<bool, PkiError> {
        if cert_path.exists() && key_path.exists() {
            return Ok(false);
        }
        if let Some(parent) = cert_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let certified = issue(self)?;
        std::fs::write(cert_path, &certified.certificate_pem).map_err(|e| io(cert_path, e))?;
        write_private(key_path, &certified.key_pem).map_err(|e| io(key_path, e))?;
        Ok(true)
    }
}
