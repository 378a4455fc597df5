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

/// A tokenizer file is found beside the providers file, whatever the working folder: the mock counts a prompt
/// with the tests' hand-made word-level tokenizer (one token per word and per run of punctuation), and a file that
/// is missing is refused with exit 2, naming the file and the field.
#[test]
fn the_standalone_binary_counts_with_a_tokenizer_file_beside_its_config() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_mock-upstream");
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer-wordlevel.json");
    std::fs::copy(fixture, dir.path().join("conf/tokenizer.json")).unwrap();
    let missing = dir.path().join("conf/missing.toml");
    std::fs::write(&missing, "[[providers]]\nname = \"a\"\ntokenizer = { file = \"nope.json\" }\n").unwrap();
    let o = std::process::Command::new(bin).arg("--config").arg(&missing).current_dir(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("missing.toml:3:") && stderr.contains("providers[0].tokenizer"), "{stderr}");
    assert!(stderr.contains("conf/nope.json"), "{stderr}");

    let cfg = dir.path().join("conf/own.toml");
    std::fs::write(&cfg, "[[providers]]\nname = \"a\"\ntokenizer = { file = \"tokenizer.json\" }\n").unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("--config")
        .arg(&cfg)
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_else(|| panic!("{line}"));
    // 2 known words, 2 unknown ones, a comma and "!!": 6 tokens by hand.
    let body = r#"{"model":"m","max_tokens":3,"messages":[{"role":"user","content":"the river, zebras galloping!!"}]}"#;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let json: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["usage"]["prompt_tokens"], 6, "{answer}");
    assert_eq!(json["usage"]["completion_tokens"], 3, "{answer}");
}
