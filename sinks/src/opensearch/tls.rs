//! TLS for the OpenSearch / Elasticsearch client: the system's trusted roots, plus the CA
//! certificates of an optional PEM file (a self-managed cluster's own CA). http:// endpoints
//! keep working through the same connector.

use std::sync::Arc;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// The CA certificates in a PEM file's text; an error names what is wrong with it.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certificates)
}

/// A connector for http:// and https:// endpoints, trusting the system's roots and `extra`.
pub fn connector(
    extra: &[CertificateDer<'static>],
) -> Result<HttpsConnector<HttpConnector>, String> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped; a custom CA may be all that is needed.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    for certificate in extra {
        roots
            .add(certificate.clone())
            .map_err(|e| format!("the CA certificate is not usable: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build())
}
