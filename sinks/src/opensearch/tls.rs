//! TLS for the OpenSearch / Elasticsearch client: the system's trusted roots, plus the CA
//! certificates of an optional PEM file (a self-managed cluster's own CA). http:// endpoints
//! keep working through the same connector.

use std::sync::Arc;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// What is wrong with a CA file or the TLS setup.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("not a PEM certificate file: {0}")]
    NotPem(String),
    #[error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    #[error("the CA certificate is not usable: {0}")]
    Unusable(rustls::Error),
}

/// The CA certificates in a PEM file's text; an error names what is wrong with it.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::NotPem(e.to_string()))?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certificates)
}

/// A connector for http:// and https:// endpoints, trusting the system's roots and `extra`.
pub fn connector(
    extra: &[CertificateDer<'static>],
) -> Result<HttpsConnector<HttpConnector>, TlsError> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped; a custom CA may be all that is needed.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    for certificate in extra {
        roots
            .add(certificate.clone())
            .map_err(TlsError::Unusable)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Unusable)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build())
}
