//! A run's life from outside: signals that stop it, folders it must not share or mix, disks that fill up.

mod common;
use common::{assert_counts_add_up, f, Workspace};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn scenario(name: &str, duration: &str, sla: &str) -> String {
    format!(
        "name = \"{name}\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"100/s\"\nduration = \"{duration}\"\n[sla]\n{sla}\n"
    )
}

fn spawn(scenario: &Path, out: &Path, args: &[&str], cwd: &Path) -> Child {
    Command::new(common::bin())
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("slacheck starts")
}

/// Waits until `path` exists (the run has passed its checks and taken its folder), at most 60 s.
fn wait_for(path: &Path) {
    let began = Instant::now();
    while !path.exists() {
        assert!(began.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success(), "kill -{name}");
}

fn finish(child: Child, out: &Path) -> common::Ran {
    common::ran(child.wait_with_output().expect("slacheck ends"), out.to_path_buf())
}

#[test]
fn sigterm_and_sighup_leave_partial_results_marked_incomplete() {
    for (name, code) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let ws = Workspace::new();
        let s = ws.write("long.toml", &scenario("long", "60s", "availability = \"99%\""));
        let out = ws.path().join("out");
        let child = spawn(&s, &out, &["--quiet"], ws.path());
        wait_for(&out);
        std::thread::sleep(Duration::from_millis(300));
        let sent_at = Instant::now();
        signal(&child, name);
        let r = finish(child, &out);
        assert_eq!(r.code, code, "SIG{name}: {}", r.stderr);
        assert!(r.stderr.contains(&format!("stopped by SIG{name}")), "{}", r.stderr);
        let summary = r.summary();
        assert_eq!(summary["complete"], false, "SIG{name}");
        assert_eq!(summary["outcome"], "interrupted", "SIG{name}");
        assert_counts_add_up(&summary);
        // It stopped early: far fewer than the 6,000 requests of the whole minute were scheduled.
        let total = f(&summary, &["counts", "total"]);
        let limit = 100.0 * (sent_at.elapsed().as_secs_f64() + 61.0) / 2.0;
        assert!(total > 0.0 && total < limit.min(5000.0), "SIG{name}: {total} requests");
        assert!(out.join("latency.hlog").exists() && out.join("junit.xml").exists(), "SIG{name}");
        // What a person or a dashboard reads never calls the part that ran a pass of the whole.
        assert!(
            r.stdout.starts_with("long: INTERRUPTED before its schedule ended; on the part that ran: "),
            "{}",
            r.stdout
        );
        let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(md.starts_with("### slacheck: long — ⚠️ INTERRUPTED"), "{md}");
        let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
        let doc = roxmltree::Document::parse(&junit).unwrap();
        let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
        assert_eq!((suite.attribute("tests"), suite.attribute("errors")), (Some("2"), Some("1")), "{junit}");
        assert!(doc.descendants().any(|n| n.has_tag_name("error") && n.attribute("type") == Some("interrupted")));
        // Every request counted so far has its row.
        assert_eq!(common::parquet_rows(&out.join("requests.parquet")).len() as f64, total, "SIG{name}");
    }
}

#[test]
fn a_second_run_into_a_folder_in_use_is_refused_before_sending() {
    let ws = Workspace::new();
    let s = ws.write("a.toml", &scenario("a", "3s", "availability = \"50%\""));
    let out = ws.path().join("shared");
    let first = spawn(&s, &out, &["--quiet"], ws.path());
    wait_for(&out);
    let second = Command::new(common::bin()).arg("run").arg(&s).arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("in use by another slacheck run"), "{stderr}");
    let r = finish(first, &out);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The first run's files are whole: its hlog parses and holds all its requests.
    let log = slacheck::hlog::read(&out.join("latency.hlog")).unwrap();
    let summary = r.summary();
    assert_eq!(log.total(slacheck::hlog::OVERALL).unwrap().len() as f64, f(&summary, &["counts", "total"]));
}

#[test]
fn a_reused_folder_holds_only_the_second_runs_files() {
    let ws = Workspace::new();
    let pass = ws.write("pass.toml", &scenario("pass", "1s", "availability = \"50%\""));
    let fail = ws.write("fail.toml", &scenario("fail", "1s", "p99 = \"1us\""));
    let out = ws.path().join("reused");
    let first = finish(spawn(&pass, &out, &["--quiet"], ws.path()), &out);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(out.join("junit.xml").exists() && out.join("report.html").exists());
    std::fs::write(out.join("my-notes.txt"), "mine").unwrap();
    let second = finish(spawn(&fail, &out, &["--quiet", "--format", "json"], ws.path()), &out);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(second.stderr.contains("removed an earlier run's files"), "{}", second.stderr);
    let mut files: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    // No junit.xml with failures="0" from the passing run; the user's own file is kept.
    assert_eq!(files, ["measurements.json", "my-notes.txt", "summary.json"]);
    assert_eq!(second.summary()["scenario"]["name"], "fail");
}

#[test]
fn runs_started_together_get_a_folder_each() {
    let ws = Workspace::new();
    let s = ws.write("same.toml", &scenario("same", "1s", "availability = \"50%\""));
    let children: Vec<Child> = (0..4)
        .map(|_| {
            Command::new(common::bin())
                .arg("run")
                .arg(&s)
                .arg("--quiet")
                .current_dir(ws.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let folders: Vec<_> = std::fs::read_dir(ws.path().join("results")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(folders.len(), 4, "{folders:?}");
    for folder in folders {
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("summary.json")).unwrap()).unwrap();
        assert_eq!(f(&summary, &["counts", "total"]), 100.0, "{}", folder.display());
        let log = slacheck::hlog::read(&folder.join("latency.hlog")).unwrap();
        assert_eq!(log.total(slacheck::hlog::OVERALL).unwrap().len(), 100, "{}", folder.display());
    }
}

/// A full disk: a 100 KB tmpfs, which needs root (CI runs as root; elsewhere this test says it did not run).
#[test]
fn a_full_disk_still_prints_the_verdict_and_names_the_file() {
    let ws = Workspace::new();
    let mount = ws.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=100k", "tmpfs"])
        .arg(&mount)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("not run: mounting a tmpfs needs root");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mount);
    let s = ws.write("full.toml", &scenario("full", "2s", "availability = \"50%\""));
    let out = mount.join("out");
    let r = finish(spawn(&s, &out, &[], ws.path()), &out);
    assert_eq!(r.code, 3, "a passing run whose files could not all be written: {}", r.stderr);
    assert!(r.stdout.contains("PASS: all 1 SLA targets held"), "the verdict is printed: {}", r.stdout);
    assert!(r.stderr.contains("No space left on device"), "in plain words: {}", r.stderr);
    assert!(!r.stderr.contains("Error(") && !r.stderr.contains("IoError"), "no Debug dump: {}", r.stderr);
    let leftovers: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert_eq!(r.summary()["verdict"]["passed"], true, "summary.json was written first");
}

#[test]
fn a_second_signal_ends_the_run_at_once() {
    let ws = Workspace::new();
    // Every request hangs: after the first signal the run waits a second for them before giving up.
    let s = ws.write(
        "hung.toml",
        "name = \"hung\"\n[target]\nmock = \"stuck\"\ntimeout = \"60s\"\n[load]\nprofile = \"constant\"\nrate = \"20/s\"\nduration = \"60s\"\n\
         [[mock.providers]]\nname = \"stuck\"\noutages = [{ window = \"0s..60s\", mode = \"stall\" }]\n",
    );
    let out = ws.path().join("out");
    let child = spawn(&s, &out, &["--quiet"], ws.path());
    wait_for(&out);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "TERM");
    // Well inside the second the run waits for requests in flight after the first.
    std::thread::sleep(Duration::from_millis(400));
    let began = Instant::now();
    signal(&child, "TERM");
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("SIGTERM after SIGTERM: stopping now"), "{stderr}");
    assert!(!out.join("summary.json").exists(), "it did not wait to write results");
    assert!(began.elapsed() < Duration::from_secs(30), "it ended at once, not after the hung requests");
}
