//! https through the lean path: an HTTP/1.1 server with TLS on 127.0.0.1 (rustls, a test CA in
//! tests/fixtures/tls), the real binary trusting that CA through `SSL_CERT_FILE`, as reqwest does.

mod common;

use common::{assert_counts_add_up, f, Workspace};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

/// Presents the fixture's certificate (for localhost and 127.0.0.1, from the fixture's CA) on every connection.
fn tls_server() -> u16 {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("cert.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(fixture("key.pem")).unwrap();
    let id = common::tls::Identity { certs, key, cert_pem: String::new(), key_pem: String::new() };
    let config = common::tls::server_config(&id, None);
    common::tls::serve_tls(move |_| Some(config.clone()))
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
fn a_certificate_nobody_trusts_stops_the_run_at_start_alike_on_both_paths() {
    // Without the test CA (SSL_CERT_FILE unset: the system's roots), the server's certificate is not trusted:
    // the start-up handshake fails as every request's would, and says why.
    let port = tls_server();
    let ws = Workspace::new();
    for client in ["lean", "reqwest"] {
        let file = ws.write(&format!("untrusted-{client}.toml"), &scenario(port));
        let r = ws.run_env(&file, &["--quiet", "--format", "json"], &[("SLACHECK_HTTP_CLIENT", client)]);
        assert_eq!(r.code, 3, "{client}: {}", r.stderr);
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: target unreachable at start") && first.contains("unknown issuer"), "{first}");
        assert!(!r.out.join("summary.json").exists(), "nothing was sent");
    }
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
    // A directory without any certificate trusts nothing at all: a usage error naming the variable, before
    // anything is sent.
    let empty = ws.path().join("empty-dir");
    std::fs::create_dir(&empty).unwrap();
    let file = ws.write("dir-empty.toml", &scenario(port));
    let r = ws.run_env(&file, &["--quiet", "--format", "json"], &[("SSL_CERT_DIR", empty.to_str().unwrap())]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("SSL_CERT_DIR={}: holds no PEM certificate", empty.display())), "{}", r.stderr);
}
