//! The `mock-upstream` command, as `cargo install slacheck` and the release archives ship it (src/bin/mock-upstream.rs):
//! a bad providers file or a port in use is refused with exit 2, naming the file, line and field or the address.

#[test]
fn the_standalone_binary_rejects_bad_configs_and_busy_ports() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_mock-upstream");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[providers]]\nname = \"a\"\nlatency = { dist = \"lognormal\", p50 = \"50ms\", p99 = \"5ms\" }\n",
    )
    .unwrap();
    let o = std::process::Command::new(bin).arg("--config").arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.toml:3:") && stderr.contains("providers[0].latency") && stderr.contains("p99"),
        "{stderr}"
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let cfg = dir.path().join("busy.toml");
    std::fs::write(&cfg, format!("[[providers]]\nname = \"primary\"\nport = {port}\n")).unwrap();
    let o = std::process::Command::new(bin).arg("--config").arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("in use") && stderr.contains("primary"),
        "{stderr}"
    );
}
