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
