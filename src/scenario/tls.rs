//! `[target]`'s TLS settings: whether the server's certificate is verified, and a client certificate for mTLS,
//! read and checked when the scenario is, so that a bad file is a usage error naming its field.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

/// The TLS settings of a run's https connections, paths resolved against the scenario's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSpec {
    /// `tls_verify`: verify the server's certificate chain and name (the default).
    pub verify: bool,
    /// `tls_client_cert` and `tls_client_key`.
    pub client_auth: Option<(PathBuf, PathBuf)>,
}

/// A client certificate chain and its private key.
#[derive(Debug)]
pub struct ClientIdentity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// The largest certificate or key file read: real ones are a few kilobytes.
const MAX_PEM_FILE: u64 = 1 << 20;

impl TlsSpec {
    /// The client certificate and key, read and parsed; an error names the field (`tls_client_cert` or
    /// `tls_client_key`) and says what is wrong.
    pub fn client_identity(&self) -> Result<Option<ClientIdentity>, (&'static str, String)> {
        let Some((cert, key)) = &self.client_auth else { return Ok(None) };
        let cert_bytes = read(cert).map_err(|e| ("tls_client_cert", e))?;
        let certs = CertificateDer::pem_slice_iter(&cert_bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ("tls_client_cert", format!("{}: not PEM certificates ({e})", cert.display())))?;
        if certs.is_empty() {
            let message = format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", cert.display());
            return Err(("tls_client_cert", message));
        }
        let key_bytes = read(key).map_err(|e| ("tls_client_key", e))?;
        let key = PrivateKeyDer::from_pem_slice(&key_bytes)
            .map_err(|e| ("tls_client_key", format!("{} holds no PEM private key ({e})", key.display())))?;
        Ok(Some(ClientIdentity { certs, key }))
    }
}

impl TlsSpec {
    /// Checks the client certificate and key: both readable, PEM, and the key the certificate's.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let Some(identity) = self.client_identity()? else { return Ok(()) };
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ("tls_client_cert", e.to_string()))?
            .with_root_certificates(rustls::RootCertStore::empty());
        builder
            .with_client_auth_cert(identity.certs, identity.key)
            .map(|_| ())
            .map_err(|e| ("tls_client_key", format!("cannot be used with tls_client_cert: {e}")))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    slacheck_common::tomlfile::read_regular(path, MAX_PEM_FILE)
}

impl ClientIdentity {
    /// A copy (a private key is not `Clone`, so that it is not copied without meaning to).
    pub fn clone_key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}
