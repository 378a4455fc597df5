//! TLS for https endpoints: one client configuration per run, used by both client paths (the lean one and
//! reqwest's), the CA variables checked before anything is sent, and why a handshake failed, in words.
//!
//! The configuration is rustls with aws-lc-rs and the platform's verifier (the system's roots, or
//! `SSL_CERT_FILE` / `SSL_CERT_DIR`), a client certificate when the scenario gives one, and no verification at
//! all with `tls_verify = false`.

use super::BuildError;
use crate::scenario::tls::TlsSpec;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

/// The client configuration of a run's https connections, offering `h2` by ALPN for HTTP/2 and `http/1.1`
/// otherwise.
pub fn client_config(spec: &TlsSpec, http2: bool) -> Result<Arc<rustls::ClientConfig>, BuildError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let fail = |e: rustls::Error| BuildError::Tls(e.to_string());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(fail)?;
    let builder = match spec.verify {
        true => builder.with_platform_verifier().map_err(fail)?,
        false => builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate(provider))),
    };
    let identity = spec.client_identity().map_err(|(field, e)| BuildError::Tls(format!("target.{field}: {e}")))?;
    let mut config = match identity {
        Some(id) => builder.with_client_auth_cert(id.certs, id.key).map_err(fail)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![if http2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
    Ok(Arc::new(config))
}

/// Accepts any server certificate (`tls_verify = false`), but still checks that the server holds the key of the
/// certificate it sent, as a TLS handshake must.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The largest CA file read (a system bundle is about 200 KB).
const MAX_CA_FILE: u64 = 16 << 20;

/// Checks `SSL_CERT_FILE` and `SSL_CERT_DIR` (as `var` reads the environment), which replace the system's roots
/// when set: a file that cannot be read or holds no certificate, or a folder without one, would make every
/// handshake fail as if the target were at fault. An empty value counts as unset.
pub fn check_ca_variables(var: impl Fn(&str) -> Option<OsString>) -> Result<(), BuildError> {
    let set = |name| var(name).filter(|v| !v.is_empty());
    if let Some(file) = set("SSL_CERT_FILE") {
        let refuse = |message: String| BuildError::CaVariable { var: "SSL_CERT_FILE", value: file.clone(), message };
        let bytes = slacheck_common::tomlfile::read_regular(Path::new(&file), MAX_CA_FILE).map_err(refuse)?;
        if usable_certificates(&bytes) == 0 {
            return Err(refuse("holds no PEM certificate (-----BEGIN CERTIFICATE-----) that can be used".into()));
        }
    }
    if let Some(dirs) = set("SSL_CERT_DIR") {
        let refuse = |message: String| BuildError::CaVariable { var: "SSL_CERT_DIR", value: dirs.clone(), message };
        let mut found = 0;
        for dir in std::env::split_paths(&dirs) {
            let entries = std::fs::read_dir(&dir).map_err(|e| refuse(format!("cannot read {}: {e}", dir.display())))?;
            for entry in entries.flatten() {
                // As OpenSSL reads such a folder: each file that parses counts, others are skipped.
                if let Ok(bytes) = slacheck_common::tomlfile::read_regular(&entry.path(), MAX_CA_FILE) {
                    found += usable_certificates(&bytes);
                }
            }
        }
        if found == 0 {
            return Err(refuse("holds no PEM certificate (-----BEGIN CERTIFICATE-----) that can be used".into()));
        }
    }
    Ok(())
}

/// How many of the PEM certificates in `bytes` can be a root of trust.
fn usable_certificates(bytes: &[u8]) -> usize {
    let certs = CertificateDer::pem_slice_iter(bytes).map_while(Result::ok);
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(certs).0
}

/// Why a TLS handshake failed, in a few words: the reason an error kind `tls: …` carries (a fixed set, so that
/// the errors' table stays small whatever the servers send).
pub fn reason(e: &rustls::Error) -> &'static str {
    use rustls::Error as E;
    use CertificateError as C;
    match e {
        E::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => "certificate expired",
            C::NotValidYet | C::NotValidYetContext { .. } => "certificate not yet valid",
            C::UnknownIssuer => "unknown issuer",
            C::NotValidForName | C::NotValidForNameContext { .. } => "name mismatch",
            C::Revoked => "certificate revoked",
            C::BadSignature
            | C::UnsupportedSignatureAlgorithmContext { .. }
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => "bad certificate signature",
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => "certificate not for a server",
            _ => "bad certificate",
        },
        E::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired => "the server requires a client certificate",
            AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied => "the server refused the client certificate",
            AlertDescription::ProtocolVersion | AlertDescription::InsufficientSecurity => {
                "no TLS version or cipher in common"
            }
            _ => "the server refused the handshake",
        },
        E::PeerIncompatible(_) => "no TLS version or cipher in common",
        E::NoCertificatesPresented => "the server sent no certificate",
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => "not a TLS answer (plain HTTP?)",
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            "protocol error"
        }
        _ => "handshake failed",
    }
}

/// The TLS reason somewhere in an error's chain of causes (reqwest and tokio-rustls wrap rustls's error in
/// their own, and an I/O error's `source` skips the error it wraps, so each is looked into).
pub fn reason_in(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(reason(tls));
        }
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            if let Some(found) = reason_in(inner) {
                return Some(found);
            }
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_found_however_deep_it_is_wrapped() {
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, expired);
        assert_eq!(reason_in(&io), Some("certificate expired"));
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        let outer = Outer(std::io::Error::other(name));
        assert_eq!(reason_in(&outer), Some("name mismatch"));
        assert_eq!(reason_in(&std::io::Error::other("refused")), None);
        let alert = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert_eq!(reason(&alert), "the server requires a client certificate");
    }

    #[test]
    fn ca_variables_that_trust_nothing_are_refused_naming_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"\x00\x9f random bytes, no PEM").unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let with_ca = dir.path().join("with-ca");
        std::fs::create_dir(&with_ca).unwrap();
        std::fs::copy(&ca, with_ca.join("ca.pem")).unwrap();
        std::fs::write(with_ca.join("README"), "not a certificate").unwrap();
        let check = |name: &'static str, value: &Path| {
            let value = value.as_os_str().to_owned();
            check_ca_variables(move |v| (v == name).then(|| value.clone()))
        };
        assert!(check("SSL_CERT_FILE", &ca).is_ok());
        assert!(check("SSL_CERT_DIR", &with_ca).is_ok(), "a file that is not a certificate is skipped");
        for (name, value) in [
            ("SSL_CERT_FILE", dir.path().join("missing.pem")),
            ("SSL_CERT_FILE", junk),
            ("SSL_CERT_FILE", "/etc/passwd".into()),
            ("SSL_CERT_FILE", "/dev/null".into()),
            ("SSL_CERT_DIR", empty),
            ("SSL_CERT_DIR", dir.path().join("missing")),
        ] {
            let e = check(name, &value).expect_err(&value.display().to_string()).to_string();
            assert!(e.starts_with(&format!("{name}={}: ", value.display())), "{e}");
        }
        assert!(check_ca_variables(|_| Some(OsString::new())).is_ok(), "an empty value counts as unset");
    }
}
