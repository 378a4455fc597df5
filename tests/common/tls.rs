//! TLS for the tests: HTTP/1.1 servers with TLS on 127.0.0.1 (rustls), and certificates made by a test CA
//! (rcgen) for each case: valid, expired, for another name, self-signed, and client certificates for mTLS.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// A certificate chain and its key, as a server or a client presents them.
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The same, as PEM (certificate, then key), for a scenario's files.
    pub cert_pem: String,
    pub key_pem: String,
}

/// A test CA.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// When a certificate is valid.
pub enum Validity {
    Now,
    Expired,
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Pki { ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// The CA's certificate, PEM: what `SSL_CERT_FILE` points at to trust it.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by this CA.
    pub fn issue(&self, names: &[&str], validity: Validity) -> Identity {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let now = time::OffsetDateTime::now_utc();
        (params.not_before, params.not_after) = match validity {
            Validity::Now => (now - time::Duration::days(1), now + time::Duration::days(30)),
            Validity::Expired => (now - time::Duration::days(30), now - time::Duration::days(1)),
        };
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        identity(cert, key)
    }

    /// A certificate for `names` signed by itself: no CA vouches for it.
    pub fn self_signed(names: &[&str]) -> Identity {
        let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        identity(cert, key)
    }
}

fn identity(cert: rcgen::Certificate, key: KeyPair) -> Identity {
    Identity {
        certs: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A server configuration presenting `id`, and requiring a client certificate from `client_ca` when given.
pub fn server_config(id: &Identity, client_ca: Option<&Pki>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.ca_der()).unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(builder.with_single_cert(id.certs.clone(), id.key.clone_key()).unwrap())
}

/// Serves TLS on a free loopback port: connection number `n` (from 0) with `config_for(n)`, each request
/// answered by [`answer_one`]; a connection `config_for` gives no configuration is held open and never
/// answered, not even its ClientHello. Returns the port.
pub fn serve_tls(config_for: impl Fn(usize) -> Option<Arc<rustls::ServerConfig>> + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, tcp) in listener.incoming().flatten().enumerate() {
            let config = config_for(n);
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(config) = config else {
                    // Silent: reads what comes until the client goes away (or 10 s pass), and says nothing.
                    let mut tcp = tcp;
                    let mut buf = [0u8; 4096];
                    while tcp.read(&mut buf).is_ok_and(|n| n > 0) {}
                    return;
                };
                let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                answer_one(rustls::StreamOwned::new(conn, tcp));
            });
        }
    });
    port
}

/// Reads a request (head, then a body of its `content-length`), answers it with a small JSON answer and
/// `connection: close`, so that every request opens (and times) a connection of its own.
pub fn answer_one(mut stream: impl Read + Write) {
    let body = r#"{"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut seen: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                let _ = stream.write_all(answer.as_bytes()).and_then(|()| stream.flush());
                return;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}
