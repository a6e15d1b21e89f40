//! TLS for the daemon (rustls with the ring provider): a server configuration that requires
//! client certificates from a given CA, the terminal id a peer certificate carries, an open server
//! configuration for the sandbox platform, and the platform client's configuration.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// A TLS configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(pub String);

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError(e.to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting `certificate_pem`/`key_pem` and requiring a client
/// certificate issued by `client_ca_pem`.
pub fn server_config(
    certificate_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificate_chain(certificate_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(err)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(client_ca_pem) {
        roots.add(cert.map_err(err)?).map_err(err)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(err)?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(err)?;
    Ok(Arc::new(config))
}

/// The common name of a (verified) peer certificate: the terminal id.
pub fn peer_common_name(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

fn certificate_chain(certificate_pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(certificate_pem)
        .collect::<Result<_, _>>()
        .map_err(err)?;
    if chain.is_empty() {
        return Err(TlsError("the certificate file holds no certificate".into()));
    }
    Ok(chain)
}

/// A server configuration presenting `certificate_pem`/`key_pem` to any client (the sandbox
/// platform: its callers authenticate by signature, not by certificate).
pub fn open_server_config(
    certificate_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificate_chain(certificate_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(err)?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(err)?;
    Ok(Arc::new(config))
}

/// A client configuration trusting only the CAs in `roots_pem`, presenting
/// `identity` (certificate PEM, key PEM) when the server asks for one.
pub fn client_config(
    roots_pem: &[u8],
    identity: Option<(&[u8], &[u8])>,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots_pem) {
        roots.add(cert.map_err(err)?).map_err(err)?;
    }
    if roots.is_empty() {
        return Err(TlsError("the CA file holds no certificate".into()));
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots);
    match identity {
        Some((certificate_pem, key_pem)) => {
            let chain = certificate_chain(certificate_pem)?;
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(err)?;
            builder.with_client_auth_cert(chain, key).map_err(err)
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// A client configuration that trusts no server: for a client that only speaks plain HTTP.
pub fn trust_nothing_client_config() -> Result<rustls::ClientConfig, TlsError> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}
