//! The router's unit tests: the weighted draw and the class mix.

use super::*;

#[test]
fn a_weighted_draw_picks_in_proportion_to_the_weights() {
    // Weights 1 and 3: draws below ¼ pick the first, the rest the second; one weight always picks it.
    let picks: Vec<usize> = (0..1000).map(|k| weighted_index([1.0, 3.0].into_iter(), k as f64 / 1000.0)).collect();
    assert_eq!(picks.iter().filter(|i| **i == 0).count(), 250);
    assert_eq!((picks[249], picks[250], picks[999]), (0, 1, 1));
    assert_eq!(weighted_index([5.0].into_iter(), 0.999), 0);
    assert_eq!(weighted_index([0.0, 2.0, 0.0].into_iter(), 0.0), 1, "a zero weight is never drawn");
}

#[test]
fn the_mix_spreads_classes_by_weight() {
    let class = |name: &str, weight| Class {
        name: name.into(),
        weight,
        order: vec![0],
        prompts: crate::prompt::Prompts::raw(Default::default()),
        conversation: None,
        cancel: None,
    };
    let router = Router {
        client: reqwest::Client::new(),
        tls: None,
        method: Method::POST,
        headers: HeaderMap::new(),
        tiers: vec![],
        regions: vec![],
        classes: vec![class("chat", 90.0), class("analysis", 10.0)],
        policy: Policy {
            failover: true,
            on_status: vec![],
            on_timeout: true,
            on_transport: true,
            latency_budget: None,
            retries: 0,
            backoff: Duration::ZERO,
            backoff_cap: Duration::ZERO,
            idempotency_header: None,
            hedge_after: None,
            hedge_max_share: 0.0,
        },
        served_by: None,
        failed_over_marker: None,
        success: vec![],
        max_body: 1 << 20,
        run_id: 1,
        request_id_header: None,
        capture: Vec::new(),
        seed: 3,
        shapes: None,
        hedges_sent: AtomicU64::new(0),
        logical_requests: AtomicU64::new(0),
        out_of_files: AtomicU64::new(0),
        memory: crate::prompt::memory::BodyMemory::new(u64::MAX),
        not_sent_memory: AtomicU64::new(0),
        turn_numbers: (0, 1),
        turns_numbered: AtomicU64::new(0),
    };
    let analysis = (0..100_000).filter(|i| router.class_of(*i) == 1).count();
    // sd at n = 100,000, p = 0.1 is 95; allow four of them.
    assert!((analysis as i64 - 10_000).abs() < 380, "{analysis}");
}

#[test]
fn a_listed_served_by_is_the_last_upstream_and_the_earlier_ones_were_tried_before() {
    use super::served_by::{served_list, ServedList, MAX_TRIED};
    let list = |served: Option<&str>, tried: &[&str], tried_beyond| ServedList {
        served: served.map(str::to_string),
        tried: tried.iter().map(|t| t.to_string()).collect(),
        tried_beyond,
    };
    assert_eq!(served_list("127.0.0.1:19201"), list(Some("127.0.0.1:19201"), &[], 0));
    assert!(!served_list("primary").failed_over());
    // nginx after a retry, and after a retry and an internal redirect.
    let retried = served_list("127.0.0.1:19201, 127.0.0.1:19202");
    assert_eq!(retried, list(Some("127.0.0.1:19202"), &["127.0.0.1:19201"], 0));
    assert!(retried.failed_over());
    assert_eq!(served_list("a:1, b:2 : c:3"), list(Some("c:3"), &["a:1", "b:2"], 0));
    assert_eq!(served_list(" , "), list(None, &[], 0));
    // A list longer than the names kept: 12 earlier items, the first 8 named and the other 4 counted.
    let long: Vec<String> = (0..13).map(|i| format!("u{i}")).collect();
    let names: Vec<&str> = long[..MAX_TRIED].iter().map(String::as_str).collect();
    assert_eq!(served_list(&long.join(", ")), list(Some("u12"), &names, 4));
}

#[test]
fn a_request_id_is_the_run_in_sixteen_hex_digits_and_the_request_number() {
    assert_eq!(request_id(0, 0), "slacheck-0000000000000000-0");
    assert_eq!(request_id(0x0123_4567_89ab_cdef, 42), "slacheck-0123456789abcdef-42");
    assert_eq!(request_id(u64::MAX, u64::MAX), "slacheck-ffffffffffffffff-18446744073709551615");
    // As the standard formatter writes them, over a spread of values.
    for (run, index) in [(1u64, 9u64), (0xa0b, 10), (7 << 60, 1_000_000), (0xfedc_ba98, 99_999_999_999)] {
        assert_eq!(request_id(run, index), format!("slacheck-{run:016x}-{index}"));
    }
}
