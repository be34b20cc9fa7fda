//! rustls for PostgreSQL connections, with certificate verification.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::DbError;

/// A TLS connector trusting the web PKI roots plus, optionally, the PEM certificates in
/// `extra_roots` (e.g. a private CA, `PGSSLROOTCERT`).
pub fn connector(extra_roots: Option<&Path>) -> Result<MakeRustlsConnect, DbError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_roots {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| {
                DbError::Tls(format!(
                    "cannot read root certificate {}: {e}",
                    path.display()
                ))
            })?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DbError::Tls(format!("invalid PEM in {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(DbError::Tls(format!(
                "no certificates found in {}",
                path.display()
            )));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                DbError::Tls(format!(
                    "unusable root certificate in {}: {e}",
                    path.display()
                ))
            })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| DbError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
