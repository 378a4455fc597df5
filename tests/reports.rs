//! Report files: the interval log's round trip and compatibility, JUnit and Markdown.

mod common;
use common::{f, Workspace};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use std::time::Duration;

#[test]
fn the_interval_log_holds_exactly_what_the_summary_reports() {
    let ws = Workspace::new();
    let s = ws.write(
        "log.toml",
        "name = \"log\"\n[target]\nmock = \"p\"\n[load]\nprofile = \"constant\"\nrate = \"300/s\"\nduration = \"3s\"\n\
         [[mock.providers]]\nname = \"p\"\nlatency = { dist = \"lognormal\", p50 = \"5ms\", p99 = \"40ms\" }\n",
    );
    let r = ws.run(&s, &[]);
    let summary = r.summary();
    let log = slacheck::hlog::read(&r.out.join("latency.hlog")).unwrap();
    assert!(log.start_time.is_some());
    let overall = log.total(slacheck::hlog::OVERALL).unwrap();
    assert_eq!(overall.len() as f64, f(&summary, &["latency_ms", "count"]));
    for (q, key) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")] {
        assert_eq!(overall.value_at_quantile(q) as f64 / 1000.0, f(&summary, &["latency_ms", key]), "{key}");
    }
    assert_eq!(log.total("service").unwrap().len(), overall.len());
    assert_eq!(log.total("tier.p").unwrap().len(), overall.len());
    assert_eq!(log.total("class.default").unwrap().len(), overall.len());
    // One interval per second of the run, each a second long.
    let intervals = &log.series[slacheck::hlog::OVERALL];
    assert!((3..=5).contains(&intervals.len()), "{} intervals", intervals.len());
    assert!(intervals.iter().all(|i| i.length == Duration::from_secs(1)));
}

#[test]
fn logs_written_by_other_hdrhistogram_implementations_are_read() {
    // jHiccup (Java): 38 intervals, 30,874 values in nanoseconds, the longest pause about 986 ms.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jHiccup-2.0.7S.logV2.hlog");
    let log = slacheck::hlog::read(&path).unwrap();
    let intervals = &log.series[slacheck::hlog::OVERALL];
    assert_eq!(intervals.len(), 38);
    let total = log.total(slacheck::hlog::OVERALL).unwrap();
    assert_eq!(total.len(), 30_874);
    assert!((950_000_000..1_000_000_000).contains(&total.max()), "max {}", total.max());

    // The Rust crate's own writer, with tags slacheck does not use.
    let mut bytes = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new().begin_log_with(&mut bytes, &mut serializer).unwrap();
        for (i, tag) in ["read", "write", "read"].iter().enumerate() {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
            h.record_n(1000 * (i as u64 + 1), 10).unwrap();
            writer.write_histogram(&h, Duration::from_secs(i as u64), Duration::from_secs(1), Tag::new(tag)).unwrap();
        }
    }
    let log = slacheck::hlog::parse(&bytes).unwrap();
    assert_eq!(log.series.keys().collect::<Vec<_>>(), ["read", "write"]);
    assert_eq!(log.total("read").unwrap().len(), 20);
    assert_eq!(log.total("write").unwrap().max(), 2000);
    assert!(slacheck::hlog::parse(b"not a log\n").is_err());
}
