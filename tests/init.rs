//! `slacheck init`: the starter it writes validates, and against the mock it passes; for a gateway it carries
//! the URL and the key's variable; an existing file is kept unless --force.

mod common;
use common::{bin, f, Workspace};
use std::path::Path;
use std::process::Command;

fn slacheck(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin()).args(args).current_dir(dir).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn the_starters_for_the_mock_validate_and_pass() {
    let ws = Workspace::new();
    let dir = ws.path().to_path_buf();
    assert_eq!(slacheck(&dir, &["init"]).0, 0);
    assert_eq!(slacheck(&dir, &["init", "failover.toml", "--failover"]).0, 0);
    // Both run side by side (20 s each), as written.
    let runs: Vec<_> = [("slacheck.toml", "o-plain"), ("failover.toml", "o-failover")]
        .into_iter()
        .map(|(file, out)| {
            let dir = dir.clone();
            std::thread::spawn(move || slacheck(&dir, &["run", file, "--quiet", "--out", out]))
        })
        .collect();
    for (run, out) in runs.into_iter().zip(["o-plain", "o-failover"]) {
        let (code, stdout, stderr) = run.join().unwrap();
        assert_eq!(code, 0, "{out}: {stdout}{stderr}");
        assert!(stdout.contains("PASS"), "{stdout}");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(out).join("summary.json")).unwrap()).unwrap();
        assert_eq!(f(&summary, &["counts", "not_sent"]), 0.0);
        if out == "o-failover" {
            // The starter's outage is failed over from: one episode, requests served by the fallback.
            assert_eq!(
                summary["failover_episodes"]["list"].as_array().unwrap().len(),
                1,
                "{}",
                summary["failover_episodes"]
            );
            assert!(f(&summary, &["failover", "failed_over"]) > 0.0);
        }
    }
}

#[test]
fn a_gateway_starter_names_its_url_and_key_variable() {
    let ws = Workspace::new();
    let dir = ws.path();
    let url = "https://gateway.example.com/v1/chat/completions";
    for extra in [&[][..], &["--failover"][..]] {
        let mut args = vec!["init", "gw.toml", "--force", "--url", url, "--api-key-env", "GW_KEY"];
        args.extend(extra);
        let (code, _, err) = slacheck(dir, &args);
        assert_eq!(code, 0, "{err}");
        let text = std::fs::read_to_string(dir.join("gw.toml")).unwrap();
        assert!(text.contains(&format!("url = \"{url}\"")) && text.contains("api_key_env = \"GW_KEY\""), "{text}");
        let (code, _, err) = slacheck(dir, &["validate", "gw.toml"]);
        assert_eq!(code, 0, "{extra:?}: {err}");
    }
}

#[test]
fn an_existing_file_is_kept_unless_forced_and_a_bad_url_leaves_nothing() {
    let ws = Workspace::new();
    let dir = ws.path();
    std::fs::write(dir.join("slacheck.toml"), "mine").unwrap();
    let (code, _, err) = slacheck(dir, &["init"]);
    assert_eq!(code, 2);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("slacheck.toml")).unwrap(), "mine");
    assert_eq!(slacheck(dir, &["init", "--force"]).0, 0);
    assert!(std::fs::read_to_string(dir.join("slacheck.toml")).unwrap().contains("[sla]"));

    let (code, _, err) = slacheck(dir, &["init", "bad.toml", "--url", "not a url"]);
    assert_eq!(code, 2);
    assert!(err.contains("target.url"), "{err}");
    assert!(!dir.join("bad.toml").exists());
    let (code, _, _) = slacheck(dir, &["init", "k.toml", "--api-key-env", "K"]);
    assert_eq!(code, 2, "a key's variable needs a gateway URL");
}

#[test]
fn a_dangling_symbolic_link_at_the_output_path_is_kept_unless_forced() {
    let ws = Workspace::new();
    let dir = ws.path();
    let elsewhere = dir.join("nowhere/scenario.toml");
    std::os::unix::fs::symlink(&elsewhere, dir.join("link.toml")).unwrap();
    let (code, _, err) = slacheck(dir, &["init", "link.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    let link = std::fs::symlink_metadata(dir.join("link.toml")).unwrap();
    assert!(link.file_type().is_symlink(), "the link is left as it was");
    assert!(!elsewhere.exists());
    let (code, _, err) = slacheck(dir, &["init", "link.toml", "--force"]);
    assert_eq!(code, 0, "{err}");
    let replaced = std::fs::symlink_metadata(dir.join("link.toml")).unwrap();
    assert!(replaced.is_file() && !elsewhere.exists(), "--force replaces the link itself, not its target");
}

#[test]
fn an_api_key_given_where_its_variables_name_belongs_is_refused_and_not_echoed() {
    let ws = Workspace::new();
    let dir = ws.path();
    let url = "https://gateway.example.com/v1/chat/completions";
    for value in ["sk-secret-VALUE-123", "Bearer sk-abc", "9LIVES", ""] {
        let (code, out, err) = slacheck(dir, &["init", "gw.toml", "--url", url, "--api-key-env", value]);
        assert_eq!(code, 2, "{value:?}: {err}");
        assert!(err.contains("--api-key-env") && err.contains("name"), "{err}");
        if !value.is_empty() {
            assert!(!err.contains(value) && !out.contains(value), "the value is echoed: {err}");
        }
        assert!(!dir.join("gw.toml").exists(), "nothing is written");
    }
    // The same in a scenario: validate and run refuse it, placed at its line, without the value.
    let text = format!(
        "name = \"gw\"\n[target]\nurl = \"{url}\"\napi_key_env = \"sk-secret-VALUE-123\"\n\
         [load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"1s\"\n"
    );
    std::fs::write(dir.join("key.toml"), text).unwrap();
    for command in ["validate", "run"] {
        let (code, out, err) = slacheck(dir, &[command, "key.toml"]);
        assert_eq!(code, 2, "{command}: {err}");
        assert!(err.contains("key.toml:4:") && err.contains("target.api_key_env"), "{command}: {err}");
        assert!(!err.contains("sk-secret") && !out.contains("sk-secret"), "{command} echoes the value: {out}{err}");
    }
    let (code, _, err) = slacheck(dir, &["init", "ok.toml", "--url", url, "--api-key-env", "_Gateway_Key2"]);
    assert_eq!(code, 0, "a name of letters, digits and _ is one: {err}");
}
