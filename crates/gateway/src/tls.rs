//! TLS on the remote-write listener (rustls), with optional client-certificate
//! verification against a CA bundle. The handshake itself runs off the accept loop,
//! with a timeout, in the connection layer; the verified certificate's tenant travels
//! with the connection as a [`PeerIdentity`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// `tenancy.cert_field`: the subject field of a client certificate that names the
/// tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum CertField {
    /// Subject common name.
    #[default]
    #[serde(rename = "CN")]
    Cn,
    /// Subject organisation.
    #[serde(rename = "O")]
    O,
    /// Subject organisational unit.
    #[serde(rename = "OU")]
    Ou,
}

/// Installs ring as the process' rustls crypto provider, once. The HTTP client is
/// built without a bundled provider; every place that builds one calls this first.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `tls:` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Server private key (PEM).
    pub key_file: PathBuf,
    /// CA bundle (PEM) that client certificates must chain to.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Whether clients must present a certificate.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// `tls.client_auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificates are asked for.
    #[default]
    None,
    /// A certificate is verified when presented; clients without one may use a token.
    Optional,
    /// Every client must present a valid certificate.
    Require,
}

impl TlsConfig {
    /// Appends problems to `p`.
    pub fn check(&self, p: &mut Vec<String>) {
        if self.client_auth != ClientAuth::None && self.client_ca_file.is_none() {
            p.push(
                "tls.client_ca_file is required when tls.client_auth is optional or require".into(),
            );
        }
        if let Err(e) = self.server_config() {
            p.push(format!("tls: {e}"));
        }
    }

    /// The rustls configuration.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert_file)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| format!("reading {}: {e}", self.cert_file.display()))?;
        if certs.is_empty() {
            return Err(format!("{} holds no certificate", self.cert_file.display()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key_file)
            .map_err(|e| format!("reading {}: {e}", self.key_file.display()))?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match (&self.client_ca_file, self.client_auth) {
            (Some(ca), auth) if auth != ClientAuth::None => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca)
                    .map_err(|e| format!("reading {}: {e}", ca.display()))?
                {
                    let cert = cert.map_err(|e| format!("reading {}: {e}", ca.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("{}: {e}", ca.display()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if auth == ClientAuth::Optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut cfg = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("certificate and key: {e}"))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Remote address.
    pub addr: SocketAddr,
    /// A verified client certificate was presented.
    pub has_cert: bool,
    /// The tenant its subject names (`tenancy.cert_field`), if any.
    pub cert_tenant: Option<String>,
}

impl PeerIdentity {
    /// A plain TCP peer.
    pub fn plain(addr: SocketAddr) -> Self {
        PeerIdentity {
            addr,
            has_cert: false,
            cert_tenant: None,
        }
    }

    /// A TLS peer: whether it presented a verified certificate, and the tenant its
    /// subject's `field` names.
    pub fn from_tls(addr: SocketAddr, conn: &rustls::ServerConnection, field: CertField) -> Self {
        let cert = conn.peer_certificates().and_then(|c| c.first());
        PeerIdentity {
            addr,
            has_cert: cert.is_some(),
            cert_tenant: cert.and_then(|c| subject_field(c, field)),
        }
    }
}

/// The subject field of a DER certificate.
pub fn subject_field(der: &[u8], field: CertField) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let first = match field {
        CertField::Cn => subject.iter_common_name().next(),
        CertField::O => subject.iter_organization().next(),
        CertField::Ou => subject.iter_organizational_unit().next(),
    };
    first.and_then(|a| a.as_str().ok()).map(str::to_string)
}
