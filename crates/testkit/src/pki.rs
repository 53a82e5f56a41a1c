//! Certificates made with rcgen for the TLS tests: a CA, server and client leaves, and a
//! directory holding the server's files. Test scaffolding: failures panic.
#![allow(clippy::unwrap_used)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority: its issuer (to sign leaves) and its certificate as PEM.
pub struct Ca {
    /// Signs leaves.
    pub issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
}

/// A new self-signed CA named `name`.
pub fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A leaf signed by `ca` with common name `cn` (organization `edge-cluster-02`): a
/// server certificate for `localhost`/127.0.0.1, or a client certificate.
/// Returns (certificate PEM, key PEM, certificate DER, key DER).
pub fn leaf(
    ca: &Ca,
    cn: &str,
    server: bool,
) -> (
    String,
    String,
    CertificateDer<'static>,
    PrivateKeyDer<'static>,
) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "edge-cluster-02");
    if server {
        p.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    } else {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    let der = cert.der().clone();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.pem(), key.serialize_pem(), der, key_der)
}

/// A server certificate, its key and its CA, written to a temporary directory as
/// `server.crt`, `server.key` and `ca.crt`.
pub struct Pki {
    /// Where the files are.
    pub dir: std::path::PathBuf,
    /// The CA that signed `server.crt`.
    pub server_ca: Ca,
    /// Removes `dir` when the PKI is dropped.
    _tmp: tempfile::TempDir,
}

/// Makes a [`Pki`] in a new temporary directory tagged `tag`.
pub fn pki(tag: &str) -> Pki {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("rwgate-mtls-{tag}-"))
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    let server_ca = ca("rwgate test CA");
    let (cert, key, _, _) = leaf(&server_ca, "rwgate", true);
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    std::fs::write(dir.join("ca.crt"), &server_ca.pem).unwrap();
    Pki {
        dir,
        server_ca,
        _tmp: tmp,
    }
}

impl Pki {
    /// The listener's TLS settings for this PKI's server files and CA.
    pub fn listener_tls(
        &self,
        client_auth: rwgate_gateway::config::ClientAuth,
    ) -> rwgate_gateway::config::TlsConfig {
        rwgate_gateway::config::TlsConfig {
            cert_file: self.dir.join("server.crt"),
            key_file: self.dir.join("server.key"),
            client_ca_file: Some(self.dir.join("ca.crt")),
            client_auth,
        }
    }
}
