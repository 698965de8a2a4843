//! TLS for OTLP exports: rustls with the `ring` provider (no C/CMake
//! build), the system's root certificates plus an optional PEM file of the
//! user's, and the setup probe's handshake. Client certificates (mTLS) are
//! not supported.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// The certificates of a PEM file; an error says why there are none.
pub(crate) fn load_certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path:?}: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{path:?} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path:?} has no CERTIFICATE block"));
    }
    Ok(certs)
}

/// The system's root certificates, loaded once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// A rustls client config trusting the system roots and the certificates
/// of `extra` (a PEM file), offering `alpn`.
pub(crate) fn client_config(extra: Option<&str>, alpn: &[&[u8]]) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(path) = extra {
        for cert in load_certificates(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("{path:?}: a certificate rustls can't use: {e}"))?;
        }
    }
    if roots.is_empty() {
        return Err("no trusted certificates: the system has no root certificates and no otlp_certificate was given".into());
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Completes a TLS handshake with `host:port` over `stream`, bounded by
/// `timeout`: the setup probe of an https endpoint.
pub(crate) async fn handshake(
    stream: tokio::net::TcpStream,
    host: &str,
    config: ClientConfig,
    timeout: Duration,
) -> Result<(), String> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host:?}: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
        Err(_) => Err(format!("TLS handshake timed out after {timeout:?}")),
    }
}
