//! The terminal summary: what the brief view keeps and leaves to `--verbose`, why achieved fell short of offered,
//! and the failover vocabulary (no "failover episode" where nothing could fail over).

use super::terminal::achieved_below_offered;
use super::*;
use crate::measure::{Episode, Primary};
use crate::sla::Judgement;

/// A summary of an empty run of this scenario, with `total` requests offered over 10 s.
fn summary(extra: &str, total: u64) -> Summary {
    let text = format!(
        "name = \"t\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"1/s\"\n\
         duration = \"10s\"\n{extra}"
    );
    let scenario: Scenario = toml::from_str(&text).unwrap();
    let result = crate::measure::Recorder::new(Default::default(), &["t".into()], &["c".into()], &[], None).finish().0;
    let verdict = Verdict { passed: true, insufficient_data: false, unmatched_scopes: Vec::new(), targets: Vec::new() };
    let facts = RunFacts::example(10.0);
    let mut s = Summary::new(&scenario, &result, verdict, facts);
    s.counts = Counts { total, ok: total, error: 0, timeout: 0, not_sent: 0, cancelled: 0 };
    s.offered_rate_per_s = total as f64 / 10.0;
    s.achieved_rate_per_s = total as f64 / 10.0;
    s.duration_s = 10.0;
    s
}

fn episode(start_ms: f64, requests: u64, isolated: bool) -> Episode {
    Episode {
        start_ms,
        end_ms: start_ms + 1000.0,
        recovered: true,
        requests,
        failed: if isolated { 1 } else { 0 },
        served_by: [("fallback".to_string(), requests)].into_iter().collect(),
        by_primary: 0,
        time_to_failover_ms: Some(12.0),
        error_burst_ms: 0.0,
        time_to_recover_ms: Some(5.0),
        isolated,
    }
}

fn with_episodes(mut s: Summary, list: Vec<Episode>) -> Summary {
    s.failover_episodes.primary =
        Some(Primary { names: vec![Some("primary".into())], chosen_by: "the class's first tier".into() });
    s.failover_episodes.list = list;
    s
}

fn text(s: &Summary, detail: Detail) -> String {
    terminal(s, Path::new("out"), detail)
}

#[test]
fn achieved_below_offered_says_why() {
    // 1,000 requests over a 10 s schedule, the last answer 0.5 s later: 100/s offered, 95.2/s achieved.
    let mut s = summary("", 1_000);
    s.duration_s = 10.5;
    s.achieved_rate_per_s = 1_000.0 / 10.5;
    let line = achieved_below_offered(&s).unwrap();
    assert_eq!(
        line,
        "achieved is below offered: the run went on 0.5s after its 10s schedule, until the last answers came"
    );
    assert!(text(&s, Detail::Brief).contains(&line));
    // 40 of them not sent as well: both reasons.
    s.counts.not_sent = 40;
    s.counts.ok = 960;
    s.achieved_rate_per_s = 960.0 / 10.5;
    assert!(achieved_below_offered(&s)
        .unwrap()
        .starts_with("achieved is below offered: 40 requests were not sent; the run went on 0.5s"));
    // The same rate, as printed: nothing to explain.
    assert_eq!(achieved_below_offered(&summary("", 1_000)), None);
}

#[test]
fn the_brief_view_keeps_what_needs_attention_and_verbose_adds_the_detail() {
    let tiers =
        "[[tiers]]\nname = \"primary\"\nmock = \"default\"\nmodel = \"m\"\n[[tiers]]\nname = \"fallback\"\nmock = \"default\"\nmodel = \"m\"\n\
                 [failover]\nchain = [\"primary\", \"fallback\"]\n";
    let mut s = with_episodes(
        summary(tiers, 1_000),
        vec![episode(1_000.0, 1, true), episode(4_000.0, 200, false), episode(8_000.0, 1, true)],
    );
    s.error_budget = Some(ErrorBudget { failures: 2, allowed_failures: 10.0, consumed: 0.2, burn_rate: 0.2 });
    assert!(s.failover_possible);
    let brief = text(&s, Detail::Brief);
    let episode_line =
        "observed episode 4s..5s: 200 requests, 0 failed, served by fallback 200; time to failover 12.0ms, \
                        error burst 0ms, time to recover 5.00ms";
    assert!(brief.contains(episode_line), "{brief}");
    assert!(brief.contains("isolated anomalies (one request each): 2, at 1s, 8s"), "{brief}");
    for detail in ["error budget", "tier ", "judged against the primary", "(latency counts from"] {
        assert!(!brief.contains(detail), "{detail} in the brief view: {brief}");
    }
    let verbose = text(&s, Detail::Verbose);
    assert!(verbose.contains(episode_line) && verbose.contains("error budget: 2 failures of 10 allowed"), "{verbose}");
    // 99.9% of 11,300 requests allows 11.3 failures: a fraction keeps its tenth.
    let fraction = ErrorBudget { failures: 2, allowed_failures: 11.3 + 1e-14, consumed: 0.18, burn_rate: 0.18 };
    assert!(super::text::error_budget_line(&fraction).contains("2 failures of 11.3 allowed"));
    assert!(verbose.contains(
        "observed failover episodes: 3, 2 of them isolated anomalies; judged against the primary upstream, `primary`"
    ));
    // The note on intended send time, the episodes' count and primary, the error budget.
    assert_eq!(verbose.lines().count(), brief.lines().count() + 3, "{verbose}");
}

#[test]
fn isolated_errors_where_nothing_can_fail_over_are_never_failover_episodes() {
    let s = with_episodes(summary("", 1_000), vec![episode(1_000.0, 1, true), episode(2_000.0, 1, true)]);
    assert!(!s.failover_possible, "one tier and no served-by");
    let brief = text(&s, Detail::Brief);
    assert!(!brief.contains("episode") && !brief.contains("isolated"), "the errors line counts them: {brief}");
    let verbose = text(&s, Detail::Verbose);
    assert!(verbose.contains("isolated errors (one request each): 2, at 1s, 2s"), "{verbose}");
    assert!(verbose.contains("observed error episodes: none, only 2 isolated errors"), "{verbose}");
    assert!(!verbose.contains("failover episode") && !verbose.contains("time to failover"), "{verbose}");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["failover_possible"], false);
}

#[test]
fn a_run_of_tiers_where_nothing_went_to_another_tier_says_so_rather_than_all_rescued() {
    // Two tiers, so the run routed: the failover line is shown.
    let mut s = summary("", 100);
    s.tiers.push(s.tiers[0].clone());
    let brief = text(&s, Detail::Brief);
    assert!(brief.contains("failover  no request went to another tier"), "{brief}");
    assert!(!brief.contains("rescued"), "{brief}");
    s.failover.failed_over = 4;
    s.failover.rescued = 3;
    s.failover.rate = 0.04;
    let brief = text(&s, Detail::Brief);
    assert!(brief.contains("failover  4 requests (4.00%) went to another tier, 3 rescued"), "{brief}");
}

#[test]
fn served_by_shares_are_of_the_requests_sent_and_say_so_when_some_were_not() {
    let group = |name: &str, total: u64| GroupSummary {
        name: name.into(),
        counts: Counts { total, ok: total, error: 0, timeout: 0, not_sent: 0, cancelled: 0 },
        failed_attempts: 0,
        availability: Some(1.0),
        latency_ms: Percentiles::of(&hdrhistogram::Histogram::new(3).unwrap()),
        errors: Default::default(),
    };
    // 1,000 due, 400 never sent: the 600 sent were served 450 by the primary and 150 by the fallback.
    let mut s = summary("", 1_000);
    s.counts.ok = 600;
    s.counts.not_sent = 400;
    s.upstreams = vec![group("fallback", 150), group("primary", 450)];
    let brief = text(&s, Detail::Brief);
    assert!(brief.contains("served by primary 75.0%, fallback 25.0% (shares of the 600 requests sent)"), "{brief}");
    let line = served_by_line(&s).unwrap();
    assert_eq!(line, "served by: primary 450 (75.0%), fallback 150 (25.0%) (shares of the 600 requests sent)");
    // Everything sent: the shares need no word.
    s.counts = Counts { total: 600, ok: 600, error: 0, timeout: 0, not_sent: 0, cancelled: 0 };
    assert_eq!(served_by_line(&s).unwrap(), "served by: primary 450 (75.0%), fallback 150 (25.0%)");
}

/// A latency target measured at 0 ms, with a note.
fn target(name: &str, judgement: Judgement, note: &str, generator_bound: bool) -> crate::sla::TargetResult {
    crate::sla::TargetResult {
        name: name.into(),
        limit: "1s".into(),
        measured_ms: Some(0.0),
        measured_ratio: None,
        measured_count: None,
        interval: None,
        samples: 0,
        more_requests: None,
        judgement,
        passed: judgement == Judgement::Pass,
        note: Some(note.into()),
        generator_bound,
    }
}

#[test]
fn an_undecided_verdict_asks_for_a_longer_run_or_fuller_windows_as_each_target_needs() {
    let undecided = |name: &str, more| crate::sla::TargetResult {
        more_requests: Some(more),
        ..target(name, Judgement::InsufficientData, "", false)
    };
    let verdict = |targets| Verdict { passed: false, insufficient_data: true, unmatched_scopes: Vec::new(), targets };
    let run_wide = targets_verdict_text(&verdict(vec![undecided("p99", 500), undecided("p50", 20)]));
    assert_eq!(
        run_wide,
        "UNDECIDED: 2 of 2 SLA targets could not be decided (insufficient data); about 500 more requests (a longer \
         run) would settle them"
    );
    // More windows would not settle a window target: each window needs more requests.
    let windows = targets_verdict_text(&verdict(vec![undecided("availability in every window", 1_322)]));
    assert!(
        windows.ends_with(
            "about 1322 more requests in each window (a higher rate, or a wider `[sla] window`) would settle them"
        ),
        "{windows}"
    );
    let both = targets_verdict_text(&verdict(vec![
        undecided("p99 in every window", 700),
        undecided("p99", 300),
        target("p50", Judgement::Pass, "", false),
    ]));
    assert!(both.starts_with("UNDECIDED: 2 of 3 SLA targets"), "{both}");
    assert!(
        both.ends_with(
            "about 300 more requests (a longer run), and 700 more in each window (a higher rate, or a wider \
             `[sla] window`), would settle them"
        ),
        "{both}"
    );
}

#[test]
fn a_target_shows_what_its_verdict_rests_on_and_a_generator_bound_one_whose_miss_it_is() {
    let mut s = summary("", 10);
    s.verdict.targets = vec![
        target("max_error_burst", Judgement::Pass, "no failover episode", false),
        target("p99", Judgement::Fail, "it holds on service time", true),
    ];
    let out = text(&s, Detail::Brief);
    let row = |name: &str| out.lines().find(|l| l.contains(name)).unwrap_or_default().to_string();
    // A ✓ on nothing measured says so, and an exact zero reads "0ms".
    assert!(row("max_error_burst").ends_with("0ms                            (no failover episode)"), "{out}");
    // The generator's note is on its own line, once, not in the row.
    assert!(!row("p99").contains("service time"), "{out}");
    assert_eq!(out.matches("the generator's: it holds on service time").count(), 1, "{out}");
}

#[test]
fn a_tail_finding_names_a_status_as_the_errors_line_does_and_never_rounds_a_share_to_nothing() {
    use crate::requests::{Finding, Scope, Tail};
    let scope =
        Scope { start_ms: None, end_ms: None, why: None, requests: 12_888, slow: 130, failed: 3, findings: vec![] };
    let tail = Tail {
        slow_over_ms: 800.0,
        slow_rule: "the p99 limit".into(),
        run: scope.clone(),
        worst_window: None,
        slowest: vec![],
    };
    let finding = |among: &str, dimension: &str, value: &str, count: u64, share, traffic_share| Finding {
        among: among.into(),
        dimension: dimension.into(),
        value: value.into(),
        count,
        share,
        traffic_share,
    };
    // One failed request of 12,888 ended with a 500: 1/12,888 = 0.0078%.
    let one = finding("failed", "status", "500", 1, 1.0 / 3.0, 1.0 / 12_888.0);
    assert_eq!(
        super::text::finding_sentence(&one, &scope, &tail),
        "33% of the 3 failed requests ended with status 500, which was 0.0078% of all traffic"
    );
    // A failure without a status is named by its outcome; 64 of 12,888 is 0.50%, 1,289 of them 10%.
    let timeouts = finding("failed", "status", "timeout", 2, 2.0 / 3.0, 64.0 / 12_888.0);
    assert_eq!(
        super::text::finding_sentence(&timeouts, &scope, &tail),
        "67% of the 3 failed requests ended with `timeout`, which was 0.50% of all traffic"
    );
    let slow = finding("slow", "upstream", "mid", 122, 122.0 / 130.0, 1_289.0 / 12_888.0);
    assert_eq!(
        super::text::finding_sentence(&slow, &scope, &tail),
        "94% of the 130 requests over 800.0ms (the p99 limit) were served by `mid`, which served 10% of all traffic"
    );
    // In the worst window, the share is of the window's requests (1 of 809 is 0.12%).
    let window = Scope { start_ms: Some(17_000.0), end_ms: Some(18_000.0), failed: 2, requests: 809, ..scope.clone() };
    let one_in_window = finding("failed", "status", "500", 1, 0.5, 1.0 / 809.0);
    assert_eq!(
        super::text::finding_sentence(&one_in_window, &window, &tail),
        "50% of the 2 failed requests ended with status 500, which was 0.12% of the window's traffic"
    );
}
