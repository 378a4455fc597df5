//! TLS failures that say why: the real binary against TLS servers on 127.0.0.1 with certificates a test CA
//! made for each case (rcgen). A certificate that fails every handshake stops the run at start (exit 3) with
//! its reason; one that fails during the run is counted as `tls: <reason>`; CA variables that trust nothing
//! are a usage error; `tls_verify = false` is said aloud; a client certificate is presented when required.

mod common;

use common::tls::{serve_tls, server_config, Pki, Validity};
use common::{assert_counts_add_up, f, Workspace};

fn scenario(port: u16, target_extra: &str) -> String {
    format!(
        "name = \"tls\"\n[target]\nurl = \"https://127.0.0.1:{port}/v1/chat/completions\"\ntimeout = \"5s\"\n\
         body = '{{\"model\": \"m\", \"messages\": []}}'\n{target_extra}\n[load]\nprofile = \"constant\"\n\
         rate = \"20/s\"\nduration = \"1s\"\n[sla]\navailability = \"50%\"\n"
    )
}

/// The test CA's certificate in a file, for `SSL_CERT_FILE`.
fn trust(ws: &Workspace, pki: &Pki) -> String {
    ws.write("ca.pem", &pki.ca_pem()).to_string_lossy().into_owned()
}

#[test]
fn a_certificate_that_fails_every_handshake_stops_the_run_at_start_with_its_reason() {
    let pki = Pki::new("slacheck test CA");
    let ws = Workspace::new();
    let ca = trust(&ws, &pki);
    let cases = [
        ("expired", pki.issue(&["localhost", "127.0.0.1"], Validity::Expired), "certificate expired"),
        ("another name", pki.issue(&["gateway.example.com"], Validity::Now), "name mismatch"),
        ("self-signed", Pki::self_signed(&["localhost", "127.0.0.1"]), "unknown issuer"),
        ("another CA", Pki::new("someone else").issue(&["127.0.0.1"], Validity::Now), "unknown issuer"),
    ];
    for (what, id, reason) in cases {
        let config = server_config(&id, None);
        let port = serve_tls(move |_| Some(config.clone()));
        for (client, http) in [("lean", "1.1"), ("lean", "2"), ("reqwest", "1.1"), ("reqwest", "2")] {
            let file = ws.write("case.toml", &scenario(port, &format!("http = \"{http}\"")));
            let env = [("SSL_CERT_FILE", ca.as_str()), ("SLACHECK_HTTP_CLIENT", client)];
            let r = ws.run_env(&file, &["--quiet"], &env);
            assert_eq!(r.code, 3, "{what}, {client}, HTTP/{http}: {}", r.stderr);
            let first = r.stderr.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("error: target unreachable at start")
                    && first.contains(&format!("alike: {reason} (")),
                "{what}, {client}, HTTP/{http}: {first}"
            );
            assert!(!r.out.join("summary.json").exists(), "nothing was sent");
        }
    }
}

#[test]
fn a_handshake_that_fails_during_the_run_is_counted_as_tls_with_its_reason_on_both_paths() {
    // The start-up handshake meets a valid certificate; every later connection an expired one.
    let pki = Pki::new("slacheck test CA");
    let ws = Workspace::new();
    let ca = trust(&ws, &pki);
    let good = server_config(&pki.issue(&["127.0.0.1"], Validity::Now), None);
    let expired = server_config(&pki.issue(&["127.0.0.1"], Validity::Expired), None);
    let mut errors = Vec::new();
    for client in ["lean", "reqwest"] {
        let (good, expired) = (good.clone(), expired.clone());
        let port = serve_tls(move |n| Some(if n == 0 { good.clone() } else { expired.clone() }));
        let file = ws.write(&format!("during-{client}.toml"), &scenario(port, ""));
        let env = [("SSL_CERT_FILE", ca.as_str()), ("SLACHECK_HTTP_CLIENT", client)];
        let r = ws.run_env(&file, &["--quiet", "--format", "json"], &env);
        assert_eq!(r.code, 1, "{client}: {}", r.stderr);
        let s = r.summary();
        assert_counts_add_up(&s);
        assert_eq!(f(&s, &["errors", "tls: certificate expired"]), 20.0, "{client}: {}", s["errors"]);
        let first = r.stderr.lines().next().unwrap_or_default();
        assert_eq!(first, "error: 20 requests failed their TLS handshake: certificate expired", "{client}");
        errors.push(s["errors"].clone());
    }
    assert_eq!(errors[0], errors[1], "the same error kinds on both paths");
}

#[test]
fn ca_variables_that_trust_nothing_are_a_usage_error_naming_the_variable() {
    let pki = Pki::new("slacheck test CA");
    let ws = Workspace::new();
    let config = server_config(&pki.issue(&["127.0.0.1"], Validity::Now), None);
    let port = serve_tls(move |_| Some(config.clone()));
    let file = ws.write("ca.toml", &scenario(port, ""));
    let random = ws.write("random.pem", "\u{1}\u{2}ÿ not a certificate at all");
    let empty_dir = ws.path().join("no-certs");
    std::fs::create_dir(&empty_dir).unwrap();
    let missing = ws.path().join("missing.pem");
    for (var, value) in [
        ("SSL_CERT_FILE", missing.to_str().unwrap()),
        ("SSL_CERT_FILE", "/etc/passwd"),
        ("SSL_CERT_FILE", random.to_str().unwrap()),
        ("SSL_CERT_FILE", "/dev/null"),
        ("SSL_CERT_DIR", empty_dir.to_str().unwrap()),
    ] {
        let r = ws.run_env(&file, &["--quiet"], &[(var, value)]);
        assert_eq!(r.code, 2, "{var}={value}: {}", r.stderr);
        assert!(r.stderr.starts_with(&format!("error: {var}={value}: ")), "{var}={value}: {}", r.stderr);
    }
}

#[test]
fn tls_verify_false_accepts_any_certificate_and_says_so() {
    let ws = Workspace::new();
    let config = server_config(&Pki::self_signed(&["gateway.example.com"]), None);
    let port = serve_tls(move |_| Some(config.clone()));
    for client in ["lean", "reqwest"] {
        let file = ws.write(&format!("insecure-{client}.toml"), &scenario(port, "tls_verify = false"));
        let r = ws.run_env(&file, &[], &[("SLACHECK_HTTP_CLIENT", client)]);
        assert_eq!(r.code, 0, "{client}: {}{}", r.stdout, r.stderr);
        let s = r.summary();
        assert_eq!(f(&s, &["counts", "ok"]), 20.0, "{client}");
        assert_eq!(s["scenario"]["target"]["tls_verify"], false, "{client}: recorded in summary.json");
        assert!(r.stdout.contains("WARNING: TLS certificates were not verified"), "{client}: {}", r.stdout);
    }
    // --quiet keeps its one line on stdout and still says it on stderr.
    let file = ws.write("insecure-quiet.toml", &scenario(port, "tls_verify = false"));
    let r = ws.run(&file, &["--quiet"]);
    assert_eq!((r.code, r.stdout.lines().count()), (0, 1), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("WARNING: TLS certificates were not verified"), "{}", r.stderr);
    // Verified (the default), the same server is refused, and the summary does not mention the switch.
    let file = ws.write("verified.toml", &scenario(port, ""));
    assert_eq!(ws.run(&file, &["--quiet"]).code, 3);
}

#[test]
fn a_client_certificate_is_presented_to_a_server_that_requires_one() {
    let (server_pki, client_pki) = (Pki::new("server CA"), Pki::new("client CA"));
    let ws = Workspace::new();
    let ca = trust(&ws, &server_pki);
    let config = server_config(&server_pki.issue(&["127.0.0.1"], Validity::Now), Some(&client_pki));
    let port = serve_tls(move |_| Some(config.clone()));
    let trusted = client_pki.issue(&["client.example.com"], Validity::Now);
    let stranger = Pki::new("nobody's CA").issue(&["client.example.com"], Validity::Now);
    ws.write("client.pem", &trusted.cert_pem);
    ws.write("client.key", &trusted.key_pem);
    ws.write("stranger.pem", &stranger.cert_pem);
    ws.write("stranger.key", &stranger.key_pem);
    let with = |cert: &str| format!("tls_client_cert = \"{cert}.pem\"\ntls_client_key = \"{cert}.key\"");
    for client in ["lean", "reqwest"] {
        let env = [("SSL_CERT_FILE", ca.as_str()), ("SLACHECK_HTTP_CLIENT", client)];
        let file = ws.write(&format!("mtls-{client}.toml"), &scenario(port, &with("client")));
        let r = ws.run_env(&file, &["--quiet", "--format", "json"], &env);
        assert_eq!(r.code, 0, "{client}: {}", r.stderr);
        assert_eq!(f(&r.summary(), &["counts", "ok"]), 20.0, "{client}");
        // Without one, or with one the server does not trust, the start-up handshake says so.
        for (extra, reason) in [
            (String::new(), "the server requires a client certificate"),
            (with("stranger"), "the server refused the client certificate"),
        ] {
            let file = ws.write(&format!("refused-{client}.toml"), &scenario(port, &extra));
            let r = ws.run_env(&file, &["--quiet"], &env);
            assert_eq!(r.code, 3, "{client} {extra:?}: {}", r.stderr);
            assert!(r.stderr.contains(&format!("alike: {reason}")), "{client} {extra:?}: {}", r.stderr);
        }
    }
}

#[test]
fn a_client_certificate_file_that_cannot_be_used_is_a_usage_error_naming_its_field() {
    let pki = Pki::new("client CA");
    let ws = Workspace::new();
    let (one, other) = (pki.issue(&["a.example.com"], Validity::Now), pki.issue(&["b.example.com"], Validity::Now));
    ws.write("one.pem", &one.cert_pem);
    ws.write("one.key", &one.key_pem);
    ws.write("other.key", &other.key_pem);
    for (extra, field, word) in [
        ("tls_client_cert = \"one.pem\"", "target.tls_client_cert", "tls_client_key"),
        ("tls_client_cert = \"one.key\"\ntls_client_key = \"one.key\"", "target.tls_client_cert", "no PEM certificate"),
        ("tls_client_cert = \"one.pem\"\ntls_client_key = \"one.pem\"", "target.tls_client_key", "no PEM private key"),
        ("tls_client_cert = \"one.pem\"\ntls_client_key = \"other.key\"", "target.tls_client_key", "cannot be used"),
        ("tls_client_cert = \"none.pem\"\ntls_client_key = \"one.key\"", "target.tls_client_cert", "cannot read"),
    ] {
        let file = ws.write("bad-cert.toml", &scenario(1, extra));
        for command in ["validate", "run"] {
            let o = std::process::Command::new(common::bin()).arg(command).arg(&file).output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{extra:?}: {stderr}");
            assert!(stderr.contains(&format!("field `{field}`")) && stderr.contains(word), "{extra:?}: {stderr}");
        }
    }
}

#[test]
fn a_server_that_never_answers_the_client_hello_times_out_alike_over_http_1_and_2() {
    // The start-up handshake is answered; every later connection is accepted and never answered.
    let pki = Pki::new("slacheck test CA");
    let ws = Workspace::new();
    let ca = trust(&ws, &pki);
    let config = server_config(&pki.issue(&["127.0.0.1"], Validity::Now), None);
    let mut errors = Vec::new();
    for (client, http) in [("lean", "1.1"), ("lean", "2"), ("reqwest", "1.1"), ("reqwest", "2")] {
        let config = config.clone();
        let port = serve_tls(move |n| (n == 0).then(|| config.clone()));
        let file = ws.write(
            "silent.toml",
            &scenario(port, &format!("http = \"{http}\"\ntimeout = \"2s\"")).replace("timeout = \"5s\"\n", ""),
        );
        let env = [("SSL_CERT_FILE", ca.as_str()), ("SLACHECK_HTTP_CLIENT", client)];
        let r = ws.run_env(&file, &["--quiet", "--format", "json"], &env);
        let s = r.summary();
        assert_counts_add_up(&s);
        assert_eq!(f(&s, &["counts", "timeout"]), 20.0, "{client}, HTTP/{http}: {} {}", s["errors"], r.stderr);
        errors.push(s["errors"].clone());
    }
    assert!(errors.iter().all(|e| e == &errors[0]), "{errors:?}");
}
