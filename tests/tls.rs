//! https through the lean path: an HTTP/1.1 server with TLS on 127.0.0.1 (rustls, a test CA in
//! tests/fixtures/tls), the real binary trusting that CA through `SSL_CERT_FILE`, as reqwest does.

mod common;

use common::{assert_counts_add_up, f, Workspace};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

/// Answers one request per connection with a small JSON answer and `connection: close`, so that every request
/// opens (and times) a connection of its own.
fn tls_server() -> u16 {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("cert.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(fixture("key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                serve(rustls::StreamOwned::new(conn, tcp));
            });
        }
    });
    port
}

/// Reads a request (head, then a body of its `content-length`), answers it and closes.
fn serve(mut stream: impl Read + Write) {
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

fn scenario(port: u16) -> String {
    format!(
        "name = \"tls\"\n[target]\nurl = \"https://127.0.0.1:{port}/v1/chat/completions\"\ntimeout = \"5s\"\n\
         body = '{{\"model\": \"m\", \"messages\": []}}'\n[load]\nprofile = \"constant\"\nrate = \"40/s\"\nduration = \"1s\"\n\
         [sla]\navailability = \"50%\"\n"
    )
}

#[test]
fn an_https_target_goes_by_the_lean_path_with_its_handshakes_timed() {
    let port = tls_server();
    let ws = Workspace::new();
    let ca = fixture("ca.pem");
    for client in ["lean", "reqwest"] {
        let file = ws.write(&format!("tls-{client}.toml"), &scenario(port));
        let env = [("SSL_CERT_FILE", ca.to_str().unwrap()), ("SLACHECK_HTTP_CLIENT", client)];
        let r = ws.run_env(&file, &["--quiet", "--format", "json"], &env);
        let s = r.summary();
        assert_counts_add_up(&s);
        assert_eq!(f(&s, &["counts", "ok"]), 40.0, "{client}: {}", r.stderr);
        if client == "reqwest" {
            assert!(s.get("tls_ms").is_none() && s.get("connect_ms").is_none(), "reqwest does not tell");
            continue;
        }
        // Every request but one that took a connection opened before the run opened its own, and shook hands
        // once, after its connect.
        let (opened, preopened) = (f(&s, &["connections_opened"]), f(&s, &["connections_preopened"]));
        assert!(preopened <= 1.0 && opened == 40.0 - preopened, "{opened} + {preopened}");
        assert_eq!(f(&s, &["tls_ms", "count"]), opened);
        assert_eq!(f(&s, &["connect_ms", "count"]), opened);
        assert!(f(&s, &["tls_ms", "min"]) > 0.0);
        assert_eq!(f(&s, &["headers_ms", "count"]), 40.0);
    }
}

#[test]
fn a_certificate_nobody_trusts_fails_alike_on_both_paths() {
    // Without the test CA (SSL_CERT_FILE unset: the system's roots), the server's certificate is not trusted.
    let port = tls_server();
    let ws = Workspace::new();
    let mut errors = Vec::new();
    for client in ["lean", "reqwest"] {
        let file = ws.write(&format!("untrusted-{client}.toml"), &scenario(port));
        let r = ws.run_env(&file, &["--quiet", "--format", "json"], &[("SLACHECK_HTTP_CLIENT", client)]);
        let s = r.summary();
        assert_counts_add_up(&s);
        assert_eq!(f(&s, &["counts", "ok"]), 0.0, "{client}: {}", r.stderr);
        assert_eq!(f(&s, &["counts", "error"]), 40.0, "{client}");
        errors.push(s["errors"].clone());
    }
    assert_eq!(errors[0], errors[1], "the same error kinds on both paths");
}

#[test]
fn a_private_ca_is_trusted_from_a_directory_through_ssl_cert_dir() {
    // The test CA in a directory of its own (any PEM file there counts, as with OpenSSL's hashed links).
    let port = tls_server();
    let ws = Workspace::new();
    let dir = ws.path().join("ca-dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("ca.pem"), dir.join("private-ca.pem")).unwrap();
    for client in ["lean", "reqwest"] {
        let file = ws.write(&format!("dir-{client}.toml"), &scenario(port));
        let env = [("SSL_CERT_DIR", dir.to_str().unwrap()), ("SLACHECK_HTTP_CLIENT", client)];
        let r = ws.run_env(&file, &["--quiet", "--format", "json"], &env);
        let s = r.summary();
        assert_counts_add_up(&s);
        assert_eq!(f(&s, &["counts", "ok"]), 40.0, "{client}: {} {}", s["errors"], r.stderr);
    }
    // A directory without it trusts nothing of this server's.
    let empty = ws.path().join("empty-dir");
    std::fs::create_dir(&empty).unwrap();
    let file = ws.write("dir-empty.toml", &scenario(port));
    let r = ws.run_env(&file, &["--quiet", "--format", "json"], &[("SSL_CERT_DIR", empty.to_str().unwrap())]);
    assert_eq!(f(&r.summary(), &["counts", "ok"]), 0.0);
}
