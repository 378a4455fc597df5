//! Shell completions and man pages, generated from the command-line definitions: every command and flag is in
//! them, and the scripts are valid for their shells.

mod common;
use std::process::Command;

fn slacheck(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(common::bin()).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn completion_scripts_name_every_command_and_flag_and_bash_accepts_its_own() {
    let (code, bash, _) = slacheck(&["completions", "bash"]);
    assert_eq!(code, 0);
    for word in ["run", "capacity", "merge", "report", "compare", "validate", "man", "--metrics-addr", "--shard"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    // bash parses the script without running it.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("slacheck.bash");
    std::fs::write(&script, &bash).unwrap();
    let check = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    let (_, zsh, _) = slacheck(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef slacheck") && zsh.contains("--metrics-linger"), "{zsh}");
    let (_, fish, _) = slacheck(&["completions", "fish"]);
    assert!(fish.contains("complete -c slacheck") && fish.contains("metrics-addr"), "{fish}");
    let (code, _, err) = slacheck(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn man_pages_cover_slacheck_and_each_command() {
    let (code, page, _) = slacheck(&["man"]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH slacheck 1") && page.contains("capacity"), "{page}");
    let (code, run, _) = slacheck(&["man", "run"]);
    assert_eq!(code, 0);
    // roff writes a hyphen in text as "\-".
    assert!(run.contains(".TH slacheck-run 1") && run.contains("\\-\\-metrics\\-addr"), "{run}");
    assert!(run.contains(concat!("slacheck-run ", env!("CARGO_PKG_VERSION"))), "the version is in the footer: {run}");
    let (code, _, err) = slacheck(&["man", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no command \"nope\""), "{err}");
}

/// roff's text as a reader sees it: font changes dropped, `\-` a hyphen.
fn unroff(line: &str) -> String {
    line.replace("\\fB", "").replace("\\fR", "").replace("\\fI", "").replace("\\-", "-")
}

#[test]
fn every_man_page_names_each_options_value_in_its_synopsis_and_no_empty_default() {
    for command in ["run", "capacity", "merge", "report", "compare", "validate", "init", "completions", "schema", "man"]
    {
        let (code, page, err) = slacheck(&["man", command]);
        assert_eq!(code, 0, "{command}: {err}");
        assert!(!page.contains("[default: ]"), "{command}: an empty default: {page}");
        let lines: Vec<&str> = page.lines().collect();
        let at = lines.iter().position(|l| *l == ".SH SYNOPSIS").unwrap();
        let synopsis = unroff(lines[at + 1]);
        assert!(synopsis.starts_with(&format!("slacheck {command}")), "{synopsis}");
        // Each option the OPTIONS section lists with a value (`--out <DIR>`) is in the synopsis with it.
        for line in lines.iter().map(|l| unroff(l)).filter(|l| l.starts_with("-")) {
            let Some((flags, value)) = line.split_once(" <") else { continue };
            let long = flags.split(", ").last().unwrap();
            let value = value.split('>').next().unwrap();
            assert!(synopsis.contains(&format!("{long} {value}")), "{command}: {long} {value} is not in: {synopsis}");
        }
    }
    let (_, run, _) = slacheck(&["man", "run"]);
    let lines: Vec<&str> = run.lines().collect();
    let synopsis = unroff(lines[lines.iter().position(|l| *l == ".SH SYNOPSIS").unwrap() + 1]);
    for part in ["[--out DIR]", "[--set KEY=VALUE]…", "[-q|--quiet]", "[--max-regression LIMITS]"] {
        assert!(synopsis.contains(part), "{part} in {synopsis}");
    }
    assert!(synopsis.ends_with(" FILE"), "{synopsis}");
    let (_, merge, _) = slacheck(&["man", "merge"]);
    assert!(
        unroff(&merge).contains("slacheck merge --out DIR [--format LIST] [-q|--quiet] [-v|--verbose] DIR…"),
        "{merge}"
    );
}

#[test]
fn compare_help_describes_its_arguments_and_help_names_the_environment() {
    let (code, help, _) = slacheck(&["compare", "--help"]);
    assert_eq!(code, 0);
    for text in [
        "<BEFORE>\n          The earlier run",
        "<AFTER>\n          The run judged against it",
        "--out <DIR>\n          Where",
    ] {
        assert!(help.contains(text), "{text:?} in {help}");
    }
    for command in [&["--help"][..], &["run", "--help"], &["capacity", "--help"]] {
        let (_, help, _) = slacheck(command);
        for name in ["SSL_CERT_FILE", "SSL_CERT_DIR", "SLACHECK_HTTP_CLIENT=reqwest", "HTTPS_PROXY"] {
            assert!(help.contains(name), "{command:?}: {name} in {help}");
        }
    }
}

#[test]
fn validate_applies_set_as_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "name = \"v\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"10/s\"\nduration = \"5s\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (code, out, err) = slacheck(&["validate", path, "--set", "load.rate=250/s", "--set", "sla.p99=\"300ms\""]);
    assert_eq!(code, 0, "{err}");
    let printed: toml::Table = toml::from_str(&out).unwrap();
    assert_eq!(printed["load"]["rate"].as_str(), Some("250/s"), "{out}");
    assert_eq!(printed["sla"]["p99"].as_str(), Some("300ms"), "{out}");
    // What run would refuse, validate refuses, with run's words.
    let (code, _, err) = slacheck(&["validate", path, "--set", "load.rate"]);
    assert_eq!(code, 2);
    assert!(err.contains("--set") && err.contains("expected KEY=VALUE"), "{err}");
    let (code, _, err) = slacheck(&["validate", path, "--set", "load.rate=-5/s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rate"), "{err}");
    // Of several settings, the one that fails is named, with its whole key.
    let (code, _, err) = slacheck(&["validate", path, "--set", "load.rate=9/s", "--set", "load.durration=5s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("field `load.durration`: unknown field `durration`: did you mean `duration`?"), "{err}");
    let (code, _, err) = slacheck(&["validate", path, "--set", "load.duration=5x", "--set", "load.rate=9/s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("field `load.duration`: invalid duration \"5x\""), "{err}");
}
