//! Sharded runs and their merge: shard processes of the real binary against one shared mock upstream.

mod common;
use common::{assert_counts_add_up, f, ran, Workspace};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Poisson arrivals at 300/s for 3 s, two request classes, a provider with a latency spread and 2% errors.
fn scenario(url: &str) -> String {
    format!(
        "name = \"sharded\"\n\
         [target]\ntimeout = \"2s\"\n\
         [load]\nprofile = \"constant\"\nrate = \"300/s\"\nduration = \"3s\"\narrivals = \"poisson\"\nseed = 7\n\
         [[tiers]]\nname = \"shared\"\nurl = \"{url}\"\nmodel = \"m\"\n\
         [[classes]]\nname = \"chat\"\nweight = 80\ntier = \"shared\"\n\
         [[classes]]\nname = \"analysis\"\nweight = 20\ntier = \"shared\"\nmax_tokens = 64\n\
         [sla]\navailability = \"90%\"\np99 = \"1s\"\n"
    )
}

fn start_at(ahead: Duration) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + ahead;
    format!("{:.3}", t.as_secs_f64())
}

/// Starts the shards together (each its own process) and waits for them all.
fn run_shards(ws: &Workspace, file: &Path, count: u32, start: &str) -> Vec<PathBuf> {
    let children: Vec<_> = (0..count)
        .map(|i| {
            let out = ws.path().join(format!("shard-{i}"));
            let child = Command::new(common::bin())
                .arg("run")
                .arg(file)
                .args(["--quiet", "--shard", &format!("{i}/{count}"), "--start-at", start, "--out"])
                .arg(&out)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("slacheck starts");
            (child, out)
        })
        .collect();
    children
        .into_iter()
        .map(|(child, out)| {
            let r = ran(child.wait_with_output().unwrap(), out.clone());
            // A shard's own verdict covers a third of the requests and may be undecided (exit 1); only the
            // merged verdict counts.
            assert!(r.code == 0 || r.code == 1, "{}\n{}", r.stdout, r.stderr);
            out
        })
        .collect()
}

fn merge(ws: &Workspace, dirs: &[PathBuf], name: &str) -> common::Ran {
    let out = ws.path().join(name);
    let o = Command::new(common::bin())
        .arg("merge")
        .args(dirs)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("slacheck merge runs");
    ran(o, out)
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_add_up_to_the_unsharded_run_and_merge_exactly() {
    let config: mock_upstream::ProviderConfig = toml::from_str(
        "name = \"shared\"\nlatency = { dist = \"lognormal\", p50 = \"3ms\", p99 = \"30ms\" }\n\
         errors = { rate = \"2%\", statuses = [503] }\n",
    )
    .unwrap();
    let mock = mock_upstream::start(config, Instant::now()).await.unwrap();
    let ws = Workspace::new();
    let file = ws.write("sharded.toml", &scenario(&mock.chat_url()));

    let ws = tokio::task::spawn_blocking(move || {
        let shards = run_shards(&ws, &file, 3, &start_at(Duration::from_millis(1500)));
        for (i, dir) in shards.iter().enumerate() {
            let s = summary(dir);
            assert_eq!((f(&s, &["shard", "index"]), f(&s, &["shard", "count"])), (i as f64, 3.0));
            let log = std::fs::read_to_string(dir.join("latency.hlog")).unwrap();
            assert!(log.contains(&format!("#[Shard: {i}/3]")), "the interval log records the shard");
        }
        let merged = merge(&ws, &shards, "merged");
        assert_eq!(merged.code, 0, "{}\n{}", merged.stdout, merged.stderr);
        let m = merged.summary();
        assert_counts_add_up(&m);
        assert_eq!(f(&m, &["merged_shards"]), 3.0);
        assert!(m["shard"].is_null(), "a merged whole is not a shard: {}", m["shard"]);
        assert!(!merged.stdout.contains("[shard"), "{}", merged.stdout);

        // The same scenario unsharded: the shards' requests are exactly its requests, class by class.
        let whole = ws.run(&file, &["--quiet"]);
        assert_eq!(whole.code, 0, "{}", whole.stderr);
        let w = whole.summary();
        assert_eq!(m["counts"]["total"], w["counts"]["total"]);
        for (mc, wc) in m["classes"].as_array().unwrap().iter().zip(w["classes"].as_array().unwrap()) {
            assert_eq!(mc["name"], wc["name"]);
            assert_eq!(mc["counts"]["total"], wc["counts"]["total"], "class {}", mc["name"]);
        }
        let offered: u64 = m["timeline"].as_array().unwrap().iter().map(|r| r["offered"].as_u64().unwrap()).sum();
        assert_eq!(offered, m["counts"]["total"].as_u64().unwrap());

        // Every count is the sum of the shards' counts.
        let shard_summaries: Vec<_> = shards.iter().map(|d| summary(d)).collect();
        for key in ["total", "ok", "error", "timeout", "not_sent"] {
            let sum: f64 = shard_summaries.iter().map(|s| f(s, &["counts", key])).sum();
            assert_eq!(f(&m, &["counts", key]), sum, "{key}");
        }
        // requests.parquet: the shards' rows one after the other, and the request numbers are those of the whole
        // schedule, each once.
        let merged_rows = common::parquet_rows(&merged.out.join("requests.parquet"));
        assert_eq!(merged_rows.len() as f64, f(&m, &["counts", "total"]));
        let mut numbers: Vec<u64> = merged_rows.iter().map(|r| r["request"].as_u64().unwrap()).collect();
        let shard_numbers: Vec<u64> = shards
            .iter()
            .flat_map(|d| common::parquet_rows(&d.join("requests.parquet")))
            .map(|r| r["request"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, shard_numbers, "shard after shard, rows in order");
        numbers.sort_unstable();
        assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
        // The merged percentiles are those of the union of the shards' samples: the shards' histograms added.
        let mut union = slacheck::measure::new_histogram();
        for d in &shards {
            let log = slacheck::hlog::read(&d.join("latency.hlog")).unwrap();
            union.add(log.total(slacheck::hlog::OVERALL).unwrap()).unwrap();
        }
        let merged_log = slacheck::hlog::read(&merged.out.join("latency.hlog")).unwrap();
        assert_eq!(merged_log.total(slacheck::hlog::OVERALL).unwrap(), union);
        // Read from the raw histogram, in milliseconds.
        let at = |q: f64| union.value_at_quantile(q) as f64 / 1000.0;
        for (key, value) in
            [("p50", at(0.5)), ("p99", at(0.99)), ("p99.9", at(0.999)), ("max", union.max() as f64 / 1000.0)]
        {
            assert_eq!(f(&m, &["latency_ms", key]), value, "{key}");
        }
        assert_eq!(f(&m, &["latency_ms", "count"]), union.len() as f64);
        ws
    })
    .await
    .unwrap();

    // What merge refuses, each with exit 2 and the reason.
    tokio::task::spawn_blocking(move || {
        let shards: Vec<PathBuf> = (0..3).map(|i| ws.path().join(format!("shard-{i}"))).collect();
        let r = merge(&ws, &shards[..2], "missing");
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("missing shard 2 of 3"), "{}", r.stderr);

        let r = merge(&ws, &[shards[0].clone(), shards[1].clone(), shards[1].clone(), shards[2].clone()], "dup");
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("shard 1/3 is given twice"), "{}", r.stderr);

        // Shard 2 of another scenario (another rate), from the same start.
        let other = ws.path().join("other-2");
        let o = Command::new(common::bin())
            .arg("run")
            .arg(ws.path().join("sharded.toml"))
            .args(["--quiet", "--rate", "50/s", "--duration", "1s", "--shard", "2/3", "--out"])
            .arg(&other)
            .output()
            .unwrap();
        let code = ran(o, other.clone()).code;
        assert!(matches!(code, 0 | 1), "a shard with too few requests to judge exits 1, not {code}");
        let r = merge(&ws, &[shards[0].clone(), shards[1].clone(), other], "mixed");
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("different runs: their scenarios differ"), "{}", r.stderr);

        let whole = ws.path().join("out-sharded");
        let r = merge(&ws, &[whole], "unsharded");
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("not a shard"), "{}", r.stderr);
    })
    .await
    .unwrap();
}

#[test]
fn a_start_time_already_past_is_refused() {
    let ws = Workspace::new();
    let file = ws.write(
        "late.toml",
        "name = \"late\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"10/s\"\nduration = \"1s\"\n",
    );
    let r = ws.run(&file, &["--start-at", "2020-01-01T00:00:00Z", "--shard", "0/2"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--start-at 2020-01-01T00:00:00Z passed"), "{}", r.stderr);
    let r = ws.run(&file, &["--shard", "2/2"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("numbered 0 to 1"), "{}", r.stderr);
}
