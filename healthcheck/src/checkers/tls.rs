//! TLS client settings for the HTTPS check (rustls with the `ring` provider).

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::outcome::FailureReason;

/// How the server's certificate is checked.
#[derive(Clone, Debug)]
pub enum TlsVerify {
    /// Accept any certificate (keepalived's default for `SSL_GET`). The handshake
    /// signature is still checked, so the peer must hold the certificate's key.
    Skip,
    /// Verify the chain against these roots and the name against the SNI name (or the
    /// target IP).
    Roots(RootCertStore),
}

/// A TLS setup error.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// PEM data could not be parsed.
    #[error("bad PEM: {0}")]
    Pem(String),
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The SNI name is not a valid DNS name or IP address.
    #[error("invalid server name {0:?}")]
    ServerName(String),
}

/// Every certificate in PEM data.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::Pem(e.to_string()))
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in PEM data.
pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsSetupError::Pem(e.to_string()))
}

/// A root store holding every certificate in PEM data.
pub fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for c in certs_from_pem(pem)? {
        roots.add(c)?;
    }
    Ok(roots)
}

/// TLS session tickets a [`TlsClient`] keeps for resumption (rustls keeps up to 8 per
/// server, so sessions for 2048 targets).
pub const SESSION_CACHE_TICKETS: usize = 16_384;

/// A ready TLS client configuration: built once, shared by every probe. Sessions are
/// resumed (TLS 1.3 tickets, TLS 1.2 tickets or ids) across probes of the same target.
#[derive(Clone)]
pub struct TlsClient {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: Option<ServerName<'static>>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsClient {
    /// A client verifying as `verify` says and presenting `client_auth` (certificate
    /// chain and key) when given.
    pub fn new(
        verify: TlsVerify,
        client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Self, TlsSetupError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match verify {
            TlsVerify::Roots(roots) => builder.with_root_certificates(roots),
            TlsVerify::Skip => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipVerify(provider()))),
        };
        let mut config = match client_auth {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
            None => builder.with_no_client_auth(),
        };
        // rustls' default cache holds 256 tickets, 8 per server: sessions of only 32
        // targets, so a checker of more servers got no resumption at all.
        config.resumption = rustls::client::Resumption::in_memory_sessions(SESSION_CACHE_TICKETS);
        Ok(TlsClient {
            config: Arc::new(config),
            server_name: None,
        })
    }

    /// Sends `name` as SNI and verifies the certificate against it. Without it, the
    /// HTTP check's virtual host is used, else the target IP (no SNI is sent for an IP).
    pub fn with_sni(mut self, name: &str) -> Result<Self, TlsSetupError> {
        let sn = ServerName::try_from(name.to_string())
            .map_err(|_| TlsSetupError::ServerName(name.to_string()))?;
        self.server_name = Some(sn);
        Ok(self)
    }
}

/// Maps an I/O error from a TLS stream, recognising rustls errors inside it.
pub(crate) fn tls_io_reason(e: &std::io::Error) -> FailureReason {
    if let Some(inner) = e.get_ref() {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return FailureReason::Tls(tls.to_string());
        }
    }
    FailureReason::from_io(e)
}

#[derive(Debug)]
struct SkipVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
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
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
