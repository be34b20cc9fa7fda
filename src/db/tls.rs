//! TLS for PostgreSQL connections, with libpq's `sslmode` semantics.
//!
//! libpq answers two questions separately, and so does dra: whether to encrypt (the
//! negotiation, in `target.rs`) and which server certificates to accept ([`Verify`], decided
//! here once per target). libpq's rules for the second, followed exactly:
//!
//! - `verify-ca` and `verify-full` check the certificate against the root certificate file
//!   (`sslrootcert`, else `~/.postgresql/root.crt`), and fail when there is none;
//!   `verify-full` also checks the host name.
//! - `allow`, `prefer` and `require` verify like `verify-ca` when that file exists, and
//!   otherwise accept any certificate: encrypted, not authenticated. This is what lets
//!   `prefer` (the default) talk to a stock server with a self-signed "snakeoil" certificate.
//! - `sslrootcert=system` trusts the public roots (here the web PKI roots) and therefore
//!   demands `verify-full`: anyone can get a public certificate for their own name.
//!
//! Lakebase is always `verify-full` against the web PKI roots (see [`lakebase_verification`]).

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::db::config::SslMode;

/// Which server certificates a TLS connection accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    /// Any certificate: encrypted but not authenticated (libpq's `prefer` and `require`
    /// without a root certificate). The handshake signatures are still checked, so the
    /// server does hold the key of the certificate it presents.
    Nothing,
    /// A certificate that chains to the roots, whatever host name it is for (`verify-ca`).
    Chain(Roots),
    /// A certificate that chains to the roots and is valid for the host (`verify-full`).
    ChainAndHost(Roots),
}

/// The trust anchors a verifying connection checks the server's certificate against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// A PEM file: `sslrootcert`, `PGSSLROOTCERT` or `~/.postgresql/root.crt`.
    File(PathBuf),
    /// `sslrootcert=system`: the public web PKI roots.
    System,
    /// Lakebase: the public web PKI roots, plus `database.ssl_root_cert` when set.
    Lakebase { extra: Option<PathBuf> },
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::File(path) => write!(f, "the root certificate file {}", path.display()),
            Roots::System => f.write_str("the public web PKI roots (sslrootcert=system)"),
            Roots::Lakebase { extra: None } => f.write_str("the public web PKI roots"),
            Roots::Lakebase { extra: Some(path) } => {
                write!(f, "the public web PKI roots and {}", path.display())
            }
        }
    }
}

/// TLS problems, each saying what to change.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "sslmode={mode} verifies the server's certificate, but there is no root certificate to \
         verify it against ({}). Set sslrootcert=PATH in the URL, or PGSSLROOTCERT \
         (database.ssl_root_cert), to the certificate of the CA that signed the server's \
         (for a self-signed server, the server's certificate itself); or use \
         sslrootcert=system with sslmode=verify-full for a server with a public certificate; \
         or sslmode=require to encrypt without verifying",
        missing_root_cert(.looked_at.as_deref())
    )]
    NoRootCert {
        mode: SslMode,
        looked_at: Option<PathBuf>,
    },
    #[error(
        "sslrootcert=system trusts every public certificate, so it needs sslmode=verify-full \
         to check the host name as well, not sslmode={mode}: set sslmode=verify-full or leave \
         sslmode out"
    )]
    WeakModeWithSystemRoots { mode: SslMode },
    #[error("cannot use root certificate file {}: {reason}", path.display())]
    RootCertFile { path: PathBuf, reason: String },
    #[error("cannot set up TLS: {0}")]
    Setup(String),
    #[error("the server's certificate was rejected under sslmode={mode}: {reason}. {advice}")]
    Rejected {
        mode: SslMode,
        reason: String,
        advice: String,
    },
}

/// The effective `sslmode` and certificate check for a plain PostgreSQL server, by libpq's
/// rules. `mode` is `None` when nothing sets one (libpq then uses `prefer`, or
/// `verify-full` with `sslrootcert=system`); `sslrootcert` is the URL's, else
/// `PGSSLROOTCERT`; `home` is where `.postgresql/root.crt` is looked for.
///
/// Like libpq, a root certificate file that does not exist counts as none, and the check
/// happens here, once, rather than at every connection.
pub fn libpq_verification(
    mode: Option<SslMode>,
    sslrootcert: Option<&Path>,
    home: Option<&Path>,
) -> Result<(SslMode, Verify), TlsError> {
    if sslrootcert == Some(Path::new("system")) {
        return match mode {
            None | Some(SslMode::VerifyFull) => {
                Ok((SslMode::VerifyFull, Verify::ChainAndHost(Roots::System)))
            }
            Some(weak) => Err(TlsError::WeakModeWithSystemRoots { mode: weak }),
        };
    }
    let mode = mode.unwrap_or(SslMode::Prefer);
    if mode == SslMode::Disable {
        return Ok((mode, Verify::Nothing));
    }
    let looked_at = sslrootcert
        .map(Path::to_path_buf)
        .or_else(|| home.map(|h| h.join(".postgresql").join("root.crt")));
    let found = looked_at.clone().filter(|p| p.exists());
    let verify = match (mode, found) {
        (SslMode::VerifyFull, Some(file)) => Verify::ChainAndHost(Roots::File(file)),
        (_, Some(file)) => Verify::Chain(Roots::File(file)),
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(TlsError::NoRootCert { mode, looked_at })
        }
        (_, None) => Verify::Nothing,
    };
    Ok((mode, verify))
}

/// The effective `sslmode` and certificate check for Lakebase: `verify-full` against the web
/// PKI roots (plus `extra`) whatever `sslmode` says, since a managed service has a public
/// certificate and nothing weaker is ever needed. `disable` is kept: Lakebase refuses
/// unencrypted connections anyway, and local stand-ins in tests have no TLS.
pub fn lakebase_verification(mode: Option<SslMode>, extra: Option<&Path>) -> (SslMode, Verify) {
    if mode == Some(SslMode::Disable) {
        return (SslMode::Disable, Verify::Nothing);
    }
    let extra = extra
        .filter(|p| *p != Path::new("system"))
        .map(Path::to_path_buf);
    (
        SslMode::VerifyFull,
        Verify::ChainAndHost(Roots::Lakebase { extra }),
    )
}

/// A rustls connector accepting the server certificates `verify` allows.
pub fn connector(verify: &Verify) -> Result<MakeRustlsConnect, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(AnyCertificate { algorithms }),
        Verify::Chain(roots) => Arc::new(RootsVerifier::new(roots, HostCheck::Skip, algorithms)?),
        Verify::ChainAndHost(roots) => {
            Arc::new(RootsVerifier::new(roots, HostCheck::Verify, algorithms)?)
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The error for a certificate the verifier refused, with what to change given how it was
/// verified.
pub fn rejected(mode: SslMode, verify: &Verify, host: &str, error: &CertificateError) -> TlsError {
    let roots = match verify {
        Verify::Chain(roots) | Verify::ChainAndHost(roots) => roots,
        // Nothing is verified, so nothing can be rejected; say what rustls said.
        Verify::Nothing => {
            return TlsError::Rejected {
                mode,
                reason: error.to_string(),
                advice: String::new(),
            }
        }
    };
    let reason = match error {
        CertificateError::UnknownIssuer => {
            format!("it is not signed by a certificate in {roots} (unknown issuer)")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("it is not issued for the host `{host}` ({error})")
        }
        other => format!("{other} (checked against {roots})"),
    };
    let advice = match (error, roots) {
        (
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            _,
        ) => "sslmode=verify-full checks the host name: connect by a name the certificate lists, \
             or use sslmode=verify-ca to verify the certificate but not the name"
            .to_string(),
        (_, Roots::Lakebase { .. }) => {
            "Lakebase connections are always verified against the public web PKI roots: check \
             that PGHOST (or the instance's DNS name) is the Lakebase host"
                .to_string()
        }
        (_, Roots::System) => {
            "Set sslrootcert=PATH (or PGSSLROOTCERT) to the certificate of the CA that signed \
             the server's instead of `system`, or use sslmode=require without sslrootcert to \
             encrypt without verifying"
                .to_string()
        }
        (_, Roots::File(path)) if !matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
            format!(
                "sslmode={mode} verifies the certificate because a root certificate is \
                 configured ({}), as libpq does: point sslrootcert (or PGSSLROOTCERT) at the \
                 certificate of the CA that signed the server's (for a self-signed server, the \
                 server's certificate itself), or remove that setting or file to encrypt \
                 without verifying",
                path.display()
            )
        }
        (_, Roots::File(_)) => {
            "Set sslrootcert=PATH (or PGSSLROOTCERT) to the certificate of the CA that signed \
             the server's (for a self-signed server, the server's certificate itself), or use \
             sslmode=require to encrypt without verifying"
                .to_string()
        }
    };
    TlsError::Rejected {
        mode,
        reason,
        advice,
    }
}

fn missing_root_cert(looked_at: Option<&Path>) -> String {
    match looked_at {
        Some(path) => format!("{} does not exist", path.display()),
        None => "sslrootcert is not set and there is no home directory to find \
                 ~/.postgresql/root.crt in"
            .to_string(),
    }
}

/// Whether `verify-full` compares the certificate's names with the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostCheck {
    Skip,
    Verify,
}

/// Accepts any certificate but still checks the handshake signatures against it.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verifies the chain to a root store and, for `verify-full`, the host name, the way
/// OpenSSL plus libpq do. Two libpq behaviours webpki alone would refuse:
/// - a server certificate that is itself in the root file is trusted as it is, even when it
///   is marked as a CA (the PostgreSQL documentation's `openssl req -x509` recipe makes
///   such certificates);
/// - a certificate without DNS names in subjectAltName is matched by its Common Name.
#[derive(Debug)]
struct RootsVerifier {
    roots: rustls::RootCertStore,
    /// The root file's certificates, to recognise a server certificate trusted directly.
    listed: Vec<CertificateDer<'static>>,
    host: HostCheck,
    algorithms: WebPkiSupportedAlgorithms,
}

impl RootsVerifier {
    fn new(
        roots: &Roots,
        host: HostCheck,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Result<RootsVerifier, TlsError> {
        let mut store = rustls::RootCertStore::empty();
        let file = match roots {
            Roots::File(path) => Some(path.as_path()),
            Roots::System => {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                None
            }
            Roots::Lakebase { extra } => {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                extra.as_deref()
            }
        };
        let listed = match file {
            Some(path) => read_root_file(path, &mut store)?,
            None => Vec::new(),
        };
        Ok(RootsVerifier {
            roots: store,
            listed,
            host,
            algorithms,
        })
    }

    fn listed(&self, cert: &CertificateDer<'_>) -> bool {
        self.listed.iter().any(|c| c.as_ref() == cert.as_ref())
    }
}

impl ServerCertVerifier for RootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        if let Err(e) = rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        ) {
            // webpki checks the validity period before the CA flag, so an error other
            // than these means the listed certificate is current and only its role is
            // disputed.
            let expired_or_unreadable = matches!(
                e,
                rustls::Error::InvalidCertificate(
                    CertificateError::Expired
                        | CertificateError::ExpiredContext { .. }
                        | CertificateError::NotValidYet
                        | CertificateError::NotValidYetContext { .. }
                        | CertificateError::BadEncoding
                )
            );
            if expired_or_unreadable || !self.listed(end_entity) {
                return Err(e);
            }
        }
        if self.host == HostCheck::Verify {
            if let Err(e) = rustls::client::verify_server_name(&cert, server_name) {
                if !common_name_matches(end_entity, &server_name.to_str()) {
                    return Err(e);
                }
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Add the PEM certificates in `path` to `store`; returns them.
fn read_root_file(
    path: &Path,
    store: &mut rustls::RootCertStore,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fail = |reason: String| TlsError::RootCertFile {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(fail("no certificates in it".into()));
    }
    for cert in &certs {
        store
            .add(cert.clone())
            .map_err(|e| fail(format!("unusable certificate: {e}")))?;
    }
    Ok(certs)
}

/// libpq's fallback when a certificate lists no DNS names in subjectAltName: the host must
/// match the subject's Common Name (case-insensitively; `*.` matches one label).
fn common_name_matches(cert: &CertificateDer<'_>, host: &str) -> bool {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::SubjectAltName;

    let Ok(cert) = x509_cert::Certificate::from_der(cert.as_ref()) else {
        return false;
    };
    let tbs = &cert.tbs_certificate;
    match tbs.get::<SubjectAltName>() {
        Ok(Some((_, san))) => {
            if san.0.iter().any(|n| matches!(n, GeneralName::DnsName(_))) {
                return false;
            }
        }
        Ok(None) => {}
        Err(_) => return false,
    }
    tbs.subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == x509_cert::der::oid::db::rfc4519::CN)
        .filter_map(|atv| directory_string(&atv.value))
        .any(|cn| host_matches(&cn, host))
}

/// The text of a Common Name value in any of the string types certificates use.
fn directory_string(value: &x509_cert::der::Any) -> Option<Cow<'_, str>> {
    use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};

    if let Ok(s) = Utf8StringRef::try_from(value) {
        return Some(Cow::Borrowed(s.as_str()));
    }
    if let Ok(s) = PrintableStringRef::try_from(value) {
        return Some(Cow::Borrowed(s.as_str()));
    }
    if let Ok(s) = Ia5StringRef::try_from(value) {
        return Some(Cow::Borrowed(s.as_str()));
    }
    TeletexStringRef::try_from(value)
        .ok()
        .map(|s| Cow::Borrowed(s.as_str()))
}

/// libpq's name comparison: exact, case-insensitive, or `*.rest` for one more label.
fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern.contains('\0') {
        return false;
    }
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    let Some(rest) = pattern.strip_prefix("*.") else {
        return false;
    };
    match host.split_once('.') {
        Some((label, tail)) => !label.is_empty() && tail.eq_ignore_ascii_case(rest),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_in(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "not read here").unwrap();
        p
    }

    #[test]
    fn without_a_root_certificate_only_verify_modes_verify_and_they_fail() {
        let home = tempfile::tempdir().unwrap();
        let h = Some(home.path());
        for mode in [
            None,
            Some(SslMode::Allow),
            Some(SslMode::Prefer),
            Some(SslMode::Require),
        ] {
            let (_, verify) = libpq_verification(mode, None, h).unwrap();
            assert_eq!(verify, Verify::Nothing, "{mode:?}");
        }
        assert_eq!(
            libpq_verification(None, None, h).unwrap().0,
            SslMode::Prefer
        );
        for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
            let err = libpq_verification(Some(mode), None, h).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&format!("sslmode={mode}")), "{text}");
            assert!(text.contains("root.crt does not exist"), "{text}");
            assert!(text.contains("PGSSLROOTCERT"), "{text}");
            assert!(text.contains("sslmode=require"), "{text}");
        }
    }

    #[test]
    fn a_root_certificate_makes_every_tls_mode_verify_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = file_in(dir.path(), "ca.pem");
        let home_default = file_in(dir.path(), ".postgresql/root.crt");
        for mode in [
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
        ] {
            assert_eq!(
                libpq_verification(Some(mode), Some(&explicit), None).unwrap(),
                (mode, Verify::Chain(Roots::File(explicit.clone())))
            );
            assert_eq!(
                libpq_verification(Some(mode), None, Some(dir.path())).unwrap(),
                (mode, Verify::Chain(Roots::File(home_default.clone())))
            );
        }
        assert_eq!(
            libpq_verification(Some(SslMode::VerifyFull), Some(&explicit), None).unwrap(),
            (
                SslMode::VerifyFull,
                Verify::ChainAndHost(Roots::File(explicit.clone()))
            )
        );
        assert_eq!(
            libpq_verification(Some(SslMode::Disable), Some(&explicit), None).unwrap(),
            (SslMode::Disable, Verify::Nothing)
        );
    }

    #[test]
    fn a_missing_sslrootcert_file_counts_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let _ = file_in(dir.path(), ".postgresql/root.crt");
        // An explicit setting replaces the default, even when its file is missing.
        assert_eq!(
            libpq_verification(Some(SslMode::Require), Some(&missing), Some(dir.path()))
                .unwrap()
                .1,
            Verify::Nothing
        );
        let err = libpq_verification(Some(SslMode::VerifyCa), Some(&missing), Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.pem does not exist"), "{err}");
    }

    #[test]
    fn system_roots_mean_verify_full() {
        let system = Path::new("system");
        assert_eq!(
            libpq_verification(None, Some(system), None).unwrap(),
            (SslMode::VerifyFull, Verify::ChainAndHost(Roots::System))
        );
        let err = libpq_verification(Some(SslMode::Require), Some(system), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sslmode=verify-full"), "{err}");
    }

    #[test]
    fn lakebase_is_verify_full_against_the_web_pki_whatever_sslmode_says() {
        for mode in [
            None,
            Some(SslMode::Allow),
            Some(SslMode::Prefer),
            Some(SslMode::Require),
            Some(SslMode::VerifyCa),
        ] {
            assert_eq!(
                lakebase_verification(mode, None),
                (
                    SslMode::VerifyFull,
                    Verify::ChainAndHost(Roots::Lakebase { extra: None })
                )
            );
        }
        assert_eq!(
            lakebase_verification(Some(SslMode::Disable), None),
            (SslMode::Disable, Verify::Nothing)
        );
    }

    #[test]
    fn rejection_advice_fits_how_the_certificate_was_checked() {
        let file = Roots::File(PathBuf::from("/etc/ca.pem"));
        let text = |mode, verify: &Verify, e: &CertificateError| {
            rejected(mode, verify, "db.example", e).to_string()
        };
        let full = text(
            SslMode::VerifyFull,
            &Verify::ChainAndHost(file.clone()),
            &CertificateError::UnknownIssuer,
        );
        assert!(full.contains("sslmode=verify-full"), "{full}");
        assert!(full.contains("/etc/ca.pem"), "{full}");
        assert!(full.contains("sslmode=require to encrypt"), "{full}");
        let by_file = text(
            SslMode::Require,
            &Verify::Chain(file.clone()),
            &CertificateError::UnknownIssuer,
        );
        assert!(
            by_file.contains("because a root certificate is configured"),
            "{by_file}"
        );
        let name = text(
            SslMode::VerifyFull,
            &Verify::ChainAndHost(file),
            &CertificateError::NotValidForName,
        );
        assert!(name.contains("`db.example`"), "{name}");
        assert!(name.contains("sslmode=verify-ca"), "{name}");
    }

    #[test]
    fn common_name_patterns_match_like_libpq() {
        assert!(host_matches("DB.example.com", "db.example.com"));
        assert!(host_matches("*.example.com", "db.example.com"));
        assert!(!host_matches("*.example.com", "a.db.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", ".example.com"));
        assert!(!host_matches("localhost", "127.0.0.1"));
    }
}
