//! `slacheck init`: the starter it writes validates, and against a healthy target it passes (the built-in mock,
//! or a mock-upstream server as the gateway); against one that fails too often it fails, decided; its load sends
//! as many requests as its comments say its targets need; for a gateway it carries the URL and the key's
//! variable; an existing file is kept unless --force.

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

/// The z of a two-sided 95% interval, and the Wilson lower bound of k successes in n, written out here rather
/// than taken from slacheck.
const Z: f64 = 1.959_964;

fn wilson_lower(k: u64, n: u64) -> f64 {
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    (p + z2 / (2.0 * n) - Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt()) / (1.0 + z2 / n)
}

/// The starter's [load] rate × duration, and its [sla] share targets with the number each comment says it needs.
fn load_and_targets(text: &str) -> (u64, Vec<(String, f64, u64)>) {
    let doc: toml::Value = toml::from_str(text).unwrap();
    let rate: u64 = doc["load"]["rate"].as_str().unwrap().trim_end_matches("/s").parse().unwrap();
    let duration = doc["load"]["duration"].as_str().unwrap();
    let seconds: u64 = match duration.strip_suffix('m') {
        Some(m) => m.parse::<u64>().unwrap() * 60,
        None => duration.trim_end_matches('s').parse().unwrap(),
    };
    let mut targets = Vec::new();
    let in_sla = text.split("\n[sla]\n").nth(1).unwrap();
    for line in in_sla.lines().take_while(|l| !l.is_empty()).filter(|l| !l.starts_with('#')) {
        let key = line.split('=').next().unwrap().trim().trim_matches('"').to_string();
        let share = match key.as_str() {
            "availability" => {
                let v = doc["sla"]["availability"].as_str().unwrap();
                v.trim_end_matches('%').parse::<f64>().unwrap() / 100.0
            }
            p => p.trim_start_matches('p').parse::<f64>().unwrap() / 100.0,
        };
        let needs: u64 = line
            .split("needs ")
            .nth(1)
            .unwrap_or_else(|| panic!("{line}: says what it needs"))
            .split(' ')
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap();
        targets.push((key, share, needs));
    }
    (rate * seconds, targets)
}

#[test]
fn each_starter_sends_what_its_targets_need_with_room_for_a_miss() {
    let ws = Workspace::new();
    let dir = ws.path();
    let url = "http://127.0.0.1:9/v1/chat/completions";
    for extra in [&[][..], &["--failover"], &["--url", url], &["--url", url, "--failover"]] {
        let mut args = vec!["init", "s.toml", "--force"];
        args.extend(extra);
        assert_eq!(slacheck(dir, &args).0, 0);
        let text = std::fs::read_to_string(dir.join("s.toml")).unwrap();
        let (sent, targets) = load_and_targets(&text);
        assert!(!targets.is_empty(), "{text}");
        for (key, share, needs) in targets {
            // "needs N": the fewest requests whose Wilson lower bound, none missing, reaches the share.
            let fewest = (1..).find(|&n| wilson_lower(n, n) >= share).unwrap();
            assert_eq!(needs, fewest, "{extra:?} {key}");
            // The load decides the target as held even with one miss: a healthy target passes on the first run.
            assert!(wilson_lower(sent - 1, sent) >= share, "{extra:?} {key}: {sent} requests, {share}");
        }
        assert!(text.contains("1 fail or undecided") && text.contains("3 no-verdict or generator-bound"), "{text}");
    }
}

/// A mock-upstream provider on a loopback port: healthy, or failing a share of its answers with 503.
async fn provider(errors: Option<&str>) -> mock_upstream::RunningProvider {
    let errors = errors.map(|rate| format!("errors = {{ rate = \"{rate}\", statuses = [503] }}\n"));
    let config: mock_upstream::ProviderConfig = toml::from_str(&format!(
        "name = \"gw\"\nlatency = {{ dist = \"lognormal\", p50 = \"20ms\", p99 = \"150ms\" }}\n{}",
        errors.unwrap_or_default()
    ))
    .unwrap();
    mock_upstream::start(config, std::time::Instant::now()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_starters_pass_on_a_healthy_upstream_and_fail_on_a_broken_one() {
    let (healthy, broken) = (provider(None).await, provider(Some("30%")).await);
    let ws = Workspace::new();
    let dir = ws.path().to_path_buf();
    let mut runs = Vec::new();
    for (upstream, what) in [(&healthy, "healthy"), (&broken, "broken")] {
        for failover in [false, true] {
            let file = format!("{what}-{failover}.toml");
            let mut args = vec!["init".to_string(), file.clone(), "--url".into(), upstream.chat_url()];
            if failover {
                args.push("--failover".into());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_eq!(slacheck(&dir, &args).0, 0);
            // The starter as written: two minutes at 5/s; the four run side by side.
            let (dir, out) = (dir.clone(), format!("o-{what}-{failover}"));
            runs.push((
                what,
                failover,
                out.clone(),
                tokio::task::spawn_blocking(move || slacheck(&dir, &["run", &file, "--quiet", "--out", &out])),
            ));
        }
    }
    for (what, failover, out, run) in runs {
        let (code, stdout, stderr) = run.await.unwrap();
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&out).join("summary.json")).unwrap()).unwrap();
        let judged: Vec<(&str, &str)> = summary["verdict"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap(), t["judgement"].as_str().unwrap()))
            .collect();
        if what == "healthy" {
            assert_eq!(code, 0, "{what} failover={failover}: {stdout}{stderr}");
            assert!(judged.iter().all(|(_, j)| *j == "pass"), "{judged:?}");
        } else {
            // Failed, and decided so: the availability target's whole interval is below 98%.
            assert_eq!(code, 1, "{what} failover={failover}: {stdout}{stderr}");
            assert!(judged.contains(&("availability", "fail")), "{judged:?}");
        }
    }
}

#[test]
fn a_starter_on_each_api_validates_and_on_embeddings_and_responses_passes_against_the_mock() {
    let ws = Workspace::new();
    let dir = ws.path().to_path_buf();
    // Every API, on the mock and through a gateway, with and without failover: each validates as written.
    for api in ["chat", "completions", "embeddings", "responses"] {
        let url = format!("http://127.0.0.1:9/v1/{api}");
        for extra in [&[][..], &["--failover"], &["--url", url.as_str()], &["--url", url.as_str(), "--failover"]] {
            let mut args = vec!["init", "v.toml", "--force", "--endpoint", api];
            args.extend(extra);
            let (code, _, err) = slacheck(&dir, &args);
            assert_eq!(code, 0, "{api} {extra:?}: {err}");
            let text = std::fs::read_to_string(dir.join("v.toml")).unwrap();
            let written = text.contains(&format!("\nendpoint = \"{api}\""));
            assert_eq!(written, api != "chat", "{api} {extra:?}: chat is the default\n{text}");
            let (code, _, err) = slacheck(&dir, &["validate", "v.toml"]);
            assert_eq!(code, 0, "{api} {extra:?}: {err}");
        }
    }
    let (code, _, err) = slacheck(&dir, &["init", "x.toml", "--endpoint", "images"]);
    assert!(code == 2 && err.contains("embeddings"), "{err}");
    assert!(!dir.join("x.toml").exists());

    // The embeddings and the Responses API starters, run side by side as written (20 s each).
    let runs: Vec<_> = ["embeddings", "responses"]
        .into_iter()
        .map(|api| {
            let file = format!("{api}.toml");
            assert_eq!(slacheck(&dir, &["init", &file, "--endpoint", api]).0, 0);
            let dir = dir.clone();
            (api, std::thread::spawn(move || slacheck(&dir, &["run", &file, "--quiet", "--out", &format!("o-{api}")])))
        })
        .collect();
    for (api, run) in runs {
        let (code, stdout, stderr) = run.join().unwrap();
        assert_eq!(code, 0, "{api}: {stdout}{stderr}");
        assert!(stdout.contains("PASS"), "{stdout}");
        let text = std::fs::read_to_string(dir.join(format!("o-{api}")).join("summary.json")).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        let total = f(&summary, &["counts", "total"]);
        assert_eq!((total, f(&summary, &["counts", "ok"])), (6000.0, 6000.0), "{api}");
        // The usage read as each API gives it: embeddings' prompt_tokens alone, responses' input and output.
        let (input, output) = (f(&summary, &["tokens", "input"]), f(&summary, &["tokens", "output"]));
        assert!(input >= total, "{api}: {input} input tokens");
        match api {
            "embeddings" => assert_eq!(output, 0.0, "an embedding has no answer"),
            _ => assert!(output >= total, "{api}: {output} output tokens"),
        }
    }
}
