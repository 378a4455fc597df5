//! A disk that fills during the run: the verdict is printed all the same, summary.json is written when it fits,
//! the exit code follows the verdict (1 on a miss, 3 only on a pass), the message is in words, and a file that
//! could not be finished is left out whole, never half-written.
//!
//! The disk is made full with the file-size limit (`RLIMIT_FSIZE`, as `ulimit -f` sets it) on the real binary,
//! with `SIGXFSZ` ignored so that a write past the limit fails with `EFBIG` as a write to a full disk fails
//! with `ENOSPC`. Unlike a small tmpfs it needs no root and no mount, so it runs on any CI runner; unlike a
//! fault-injection switch it leaves slacheck's own code as it ships: the writes fail in the kernel.

mod common;
use common::{f, ran, Ran, Workspace};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Runs `slacheck run FILE --out DIR ARGS…` with no file allowed past `limit` bytes.
fn run_with_file_limit(ws: &Workspace, scenario: &Path, args: &[&str], limit: u64) -> Ran {
    let out = ws.path().join(format!("out-{}", scenario.file_stem().unwrap().to_string_lossy()));
    let mut cmd = Command::new(common::bin());
    cmd.arg("run").arg(scenario).arg("--out").arg(&out).args(args);
    // SAFETY: between fork and exec only async-signal-safe calls are made (setrlimit, signal).
    unsafe {
        cmd.pre_exec(move || {
            let rlimit = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0
                || libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    ran(cmd.output().expect("slacheck runs"), out)
}

fn scenario(sla: &str) -> String {
    format!(
        "name = \"disk\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"1000/s\"\n\
         duration = \"2s\"\n[sla]\n{sla}\n"
    )
}

/// The names in the results folder.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// No Rust debug formatting reaches the user.
fn in_words(stderr: &str) {
    assert!(!stderr.contains("Os {") && !stderr.contains("IoError(") && !stderr.contains("kind:"), "{stderr}");
}

#[test]
fn requests_parquet_past_the_free_space_leaves_the_summary_and_the_verdicts_exit_code() {
    let ws = Workspace::new();
    // 2,000 rows of requests.parquet take about 90 KB; summary.json and measurements.json about 15 KB each.
    for (name, sla, code, verdict) in
        [("pass", "availability = \"50%\"", 3, "PASS"), ("miss", "p99 = \"1us\"", 1, "FAIL")]
    {
        let file = ws.write(&format!("{name}.toml"), &scenario(sla));
        let r = run_with_file_limit(&ws, &file, &["--format", "json,parquet"], 40 << 10);
        assert_eq!(r.code, code, "{name}: {}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(verdict), "{name}: the verdict is printed: {}", r.stdout);
        let s = r.summary();
        assert_eq!(f(&s, &["counts", "total"]), 2000.0, "{name}");
        let reason =
            r.stderr.lines().find(|l| l.contains("requests.parquet")).unwrap_or_else(|| panic!("{}", r.stderr));
        assert!(reason.starts_with("error: cannot write ") && reason.contains("File too large"), "{reason}");
        in_words(&r.stderr);
        assert_eq!(files(&r.out), ["measurements.json", "summary.json"], "{name}: no part of requests.parquet is left");
    }
}

#[test]
fn an_interval_log_past_the_free_space_still_prints_the_verdict_and_says_why_in_words() {
    let ws = Workspace::new();
    let file = ws.write("hlog.toml", &scenario("availability = \"50%\""));
    // 4 KB: the interval log's header fits, a few seconds of intervals do not, and neither does summary.json.
    let r = run_with_file_limit(&ws, &file, &["--format", "json,hlog"], 4 << 10);
    assert_eq!(r.code, 3, "a pass without its files: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PASS"), "{}", r.stdout);
    in_words(&r.stderr);
    for name in ["latency.hlog", "summary.json"] {
        assert!(r.stderr.contains(&format!("cannot write {}", r.out.join(name).display())), "{name}: {}", r.stderr);
    }
    assert_eq!(files(&r.out), Vec::<String>::new(), "nothing half-written, no temporary file");
}
