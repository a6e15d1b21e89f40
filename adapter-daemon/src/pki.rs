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
