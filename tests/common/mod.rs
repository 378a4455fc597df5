//! Helpers for integration tests: write a scenario, run the real `slacheck` binary, read what it wrote.
#![allow(dead_code)]

pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod h2;
pub mod stall;
pub mod tls;

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub out: PathBuf,
}

impl Ran {
    pub fn summary(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.out.join("summary.json"))
            .unwrap_or_else(|e| panic!("no summary.json ({e}); stderr: {}", self.stderr));
        serde_json::from_str(&text).expect("summary.json parses")
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_slacheck")
}

impl Workspace {
    pub fn new() -> Self {
        Workspace { dir: tempfile::tempdir().expect("a temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write a test file");
        p
    }

    /// Runs `slacheck run FILE --out <tmp>/out-NAME ARGS…` and waits for it.
    pub fn run(&self, scenario: &Path, args: &[&str]) -> Ran {
        self.run_env(scenario, args, &[])
    }

    pub fn run_env(&self, scenario: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let out = self.dir.path().join(format!("out-{}", scenario.file_stem().unwrap().to_string_lossy()));
        let mut cmd = Command::new(bin());
        cmd.arg("run").arg(scenario).arg("--out").arg(&out).args(args).current_dir(self.dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().expect("slacheck runs");
        ran(o, out)
    }
}

pub fn ran(o: Output, out: PathBuf) -> Ran {
    let ran = Ran {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        out,
    };
    assert!(!ran.stderr.contains("panicked"), "slacheck panicked: {}", ran.stderr);
    ran
}

pub fn f(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64().unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

/// Checks total = ok + error + timeout + not_sent + cancelled, overall and on every timeline row.
pub fn assert_counts_add_up(s: &serde_json::Value) {
    let c = &s["counts"];
    let sum = f(c, &["ok"]) + f(c, &["error"]) + f(c, &["timeout"]) + f(c, &["not_sent"]) + f(c, &["cancelled"]);
    assert_eq!(f(c, &["total"]), sum, "counts: {c}");
    for row in s["timeline"].as_array().unwrap() {
        let sum = f(row, &["ok"])
            + f(row, &["error"])
            + f(row, &["timeout"])
            + f(row, &["not_sent"])
            + f(row, &["cancelled"]);
        assert_eq!(f(row, &["offered"]), sum, "row {row}");
        // Who served: every sent request under one upstream, a request never sent under none.
        if let Some(served) = row["served_by"].as_object() {
            let served: f64 = served.values().map(|n| n.as_f64().unwrap()).sum();
            assert_eq!(served, f(row, &["offered"]) - f(row, &["not_sent"]), "row {row}");
        }
    }
    let upstreams: f64 = s["upstreams"].as_array().unwrap().iter().map(|u| f(u, &["counts", "total"])).sum();
    assert_eq!(upstreams, f(c, &["total"]) - f(c, &["not_sent"]), "upstreams: {}", s["upstreams"]);
}

/// The rows of a Parquet file, each as a JSON object (read with the parquet crate's record reader).
pub fn parquet_rows(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = SerializedFileReader::new(file).expect("a Parquet file");
    let rows = reader.get_row_iter(None).expect("rows").map(|r| r.expect("a row").to_json_value());
    rows.map(|v| v.as_object().expect("an object").clone()).collect()
}
