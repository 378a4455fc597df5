//! The GitHub Action (action.yml) and its run step (action/run.sh), run here as GitHub would, with the GITHUB_*
//! files pointing at temporary files: the step summary and the outputs are written whatever the run's end, and
//! the step ends with slacheck's own exit code.

mod common;
use common::Workspace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Step {
    code: i32,
    summary: String,
    outputs: BTreeMap<String, String>,
}

/// Runs action/run.sh in `dir` with these inputs.
fn step(dir: &Path, inputs: &[(&str, &str)]) -> Step {
    step_with(dir, common::bin(), inputs)
}

/// Runs action/run.sh with `slacheck` as the binary.
fn step_with(dir: &Path, slacheck: &str, inputs: &[(&str, &str)]) -> Step {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (summary, outputs) = (dir.join("step-summary.md"), dir.join("outputs.txt"));
    let _ = (std::fs::remove_file(&summary), std::fs::remove_file(&outputs));
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("action/run.sh"))
        .current_dir(dir)
        .env("SLACHECK", slacheck)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs);
    for (k, v) in inputs {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let outputs = read(&outputs).lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
    Step { code: o.status.code().unwrap_or(-1), summary: read(&summary), outputs }
}

const SCENARIO: &str = "name = \"gate\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"6s\"\n";

#[test]
fn a_miss_still_writes_the_summary_and_outputs_and_ends_with_exit_1() {
    let ws = Workspace::new();
    ws.write("miss.toml", &format!("{SCENARIO}[sla]\np99 = \"1us\"\n"));
    let s = step(ws.path(), &[("INPUT_SCENARIO", "miss.toml"), ("INPUT_RESULTS_DIR", "out-miss")]);
    assert_eq!(s.code, 1);
    assert!(s.summary.starts_with("### slacheck: gate") && s.summary.contains("FAIL"), "{}", s.summary);
    assert_eq!((s.outputs["exit-code"].as_str(), s.outputs["verdict"].as_str()), ("1", "fail"));
    let dir = PathBuf::from(&s.outputs["results-dir"]);
    assert!(dir.is_absolute() && dir.join("summary.json").exists(), "{dir:?}");
}

#[test]
fn a_pass_with_a_baseline_appends_the_comparison_and_extra_args_reach_the_run() {
    let ws = Workspace::new();
    ws.write("ok.toml", &format!("{SCENARIO}[sla]\navailability = \"90%\"\n"));
    let first = step(ws.path(), &[("INPUT_SCENARIO", "ok.toml"), ("INPUT_RESULTS_DIR", "base")]);
    assert_eq!((first.code, first.outputs["verdict"].as_str()), (0, "pass"), "{}", first.summary);
    let second = step(
        ws.path(),
        &[
            ("INPUT_SCENARIO", "ok.toml"),
            ("INPUT_RESULTS_DIR", "after"),
            ("INPUT_BASELINE", "base"),
            ("INPUT_MAX_REGRESSION", "p99=50%"),
            ("INPUT_ARGS", "--set load.seed=9 --quiet"),
        ],
    );
    assert!(second.summary.contains("### slacheck: gate") && second.summary.contains("compare"), "{}", second.summary);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("after/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["scenario"]["load"]["seed"], 9, "the extra flags reached the run");
    assert_eq!(second.outputs["exit-code"], second.code.to_string());
}

#[test]
fn a_bad_scenario_says_so_in_the_summary_and_ends_with_exit_2() {
    let ws = Workspace::new();
    let s = step(ws.path(), &[("INPUT_SCENARIO", "missing.toml")]);
    assert_eq!(s.code, 2);
    assert!(s.summary.contains("no summary (exit 2, usage)"), "{}", s.summary);
    assert_eq!(
        (s.outputs["exit-code"].as_str(), s.outputs["verdict"].as_str(), s.outputs["results-dir"].as_str()),
        ("2", "usage", "")
    );
    let none = step(ws.path(), &[]);
    assert_eq!((none.code, none.outputs["verdict"].as_str()), (2, "usage"));
}

#[test]
fn the_action_declares_the_documented_inputs_and_outputs_and_runs_the_tested_script() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).unwrap();
    let doc = &yaml_rust2::YamlLoader::load_from_str(&text).unwrap()[0];
    let keys = |node: &yaml_rust2::Yaml| -> Vec<String> {
        node.as_hash().unwrap().keys().map(|k| k.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(
        keys(&doc["inputs"]),
        ["scenario", "args", "baseline", "max-regression", "results-dir", "working-directory", "version"]
    );
    assert_eq!(keys(&doc["outputs"]), ["exit-code", "verdict", "results-dir"]);
    assert_eq!(doc["runs"]["using"].as_str(), Some("composite"));
    let steps = doc["runs"]["steps"].as_vec().unwrap();
    let run = steps.iter().find(|s| s["id"].as_str() == Some("run")).expect("a step with id run");
    assert!(run["run"].as_str().unwrap().contains("action/run.sh"));
    for name in ["INPUT_SCENARIO", "INPUT_ARGS", "INPUT_BASELINE", "INPUT_MAX_REGRESSION", "INPUT_RESULTS_DIR"] {
        assert!(!run["env"][name].is_badvalue(), "{name} is passed to the script");
    }
}

/// The README's exit-code table: each row's codes and words.
fn readme_exit_codes() -> Vec<(Vec<i32>, Vec<String>)> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table = readme.split("### Exit codes").nth(1).unwrap().split("| code | word | meaning |").nth(1).unwrap();
    let rows: Vec<_> = table.lines().skip(2).take_while(|l| l.starts_with('|')).collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let codes = cells[1].split(", ").map(|c| c.parse().unwrap()).collect();
            let words = cells[2].split(", ").map(|w| w.trim_matches('`').to_string()).collect();
            (codes, words)
        })
        .collect()
}

#[test]
fn the_actions_verdict_says_the_readmes_word_for_every_exit_code() {
    let table = readme_exit_codes();
    assert_eq!(table.iter().map(|(c, _)| c.len()).sum::<usize>(), 7, "0, 1, 2, 3, 130, 143, 129: {table:?}");
    let ws = Workspace::new();
    // A stand-in for slacheck that writes summary.json with the outcome asked for and exits with the code asked
    // for, as `run FILE --out DIR` would.
    let fake = ws.write(
        "fake-slacheck",
        "#!/usr/bin/env bash\nmkdir -p \"$4\"\n\
         printf '{\\n  \"schema_version\": 3,\\n  \"complete\": true,\\n  \"outcome\": \"%s\",\\n  \"x\": 1\\n}\\n' \
         \"$FAKE_OUTCOME\" > \"$4/summary.json\"\nexit \"$FAKE_CODE\"\n",
    );
    let fake = fake.to_str().unwrap();
    std::process::Command::new("chmod").arg("+x").arg(fake).status().unwrap();
    ws.write("any.toml", "");
    for (codes, words) in &table {
        for code in codes {
            for word in words {
                // summary.json's outcome has the same words, and each one's exit code is in its row.
                let outcome: slacheck::sla::Outcome = serde_json::from_value(serde_json::json!(word)).unwrap();
                assert!(codes.contains(&i32::from(outcome.exit_code())), "{word}: {codes:?}");
                let (code_text, outcome_word) = (code.to_string(), outcome.word());
                let s = step_with(
                    ws.path(),
                    fake,
                    &[("INPUT_SCENARIO", "any.toml"), ("FAKE_CODE", &code_text), ("FAKE_OUTCOME", outcome_word)],
                );
                assert_eq!(s.code, *code);
                assert_eq!(s.outputs["verdict"], *word, "exit {code} with outcome {word}");
            }
        }
    }
    // Any other code is a crash: `error`, as the README says.
    let s = step_with(ws.path(), fake, &[("INPUT_SCENARIO", "any.toml"), ("FAKE_CODE", "101"), ("FAKE_OUTCOME", "")]);
    assert_eq!((s.code, s.outputs["verdict"].as_str()), (101, "error"));
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(readme.contains("says `error` for any other code"));
    // The same words in the action's declared outputs, docs/ci.md, `slacheck --help` and the starter.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let help = std::process::Command::new(common::bin()).args(["run", "--help"]).output().unwrap();
    std::process::Command::new(common::bin()).args(["init", "starter.toml"]).current_dir(ws.path()).status().unwrap();
    for (place, text) in [
        ("action.yml", std::fs::read_to_string(root.join("action.yml")).unwrap()),
        ("docs/ci.md", std::fs::read_to_string(root.join("docs/ci.md")).unwrap()),
        ("run --help", String::from_utf8_lossy(&help.stdout).into_owned()),
        ("init's starter", std::fs::read_to_string(ws.path().join("starter.toml")).unwrap()),
    ] {
        for word in table.iter().flat_map(|(_, w)| w) {
            assert!(text.contains(word.as_str()), "{place} does not name {word}");
        }
    }
}

#[test]
fn an_undecided_run_is_undecided_in_the_actions_verdict() {
    let ws = Workspace::new();
    // 600 fast requests cannot show a p99.9 (about 3,800 are needed): undecided, exit 1.
    ws.write("few.toml", &format!("{SCENARIO}[sla]\n\"p99.9\" = \"5s\"\n"));
    let s = step(ws.path(), &[("INPUT_SCENARIO", "few.toml"), ("INPUT_RESULTS_DIR", "out-few")]);
    assert_eq!((s.code, s.outputs["verdict"].as_str()), (1, "undecided"), "{}", s.summary);
}
