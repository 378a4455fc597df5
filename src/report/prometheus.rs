//! The Prometheus text exposition (format 0.0.4) of a run as it goes (`run --metrics-addr`): requests by
//! outcome, tier, upstream and class, latency and service-time histograms, failovers, not-sent requests,
//! dispatcher lag and requests in flight. Rendered from the recorder's result, so at the end of a run its
//! counters are summary.json's.

use crate::measure::{Counts, Group, RunResult};
use crate::profile::Shard;
use crate::sla::Outcome;
use hdrhistogram::Histogram;
use std::fmt::Write as _;

/// What the exposition says of the run itself, beside its measurements.
pub struct RunState<'a> {
    /// The scenario's name and the shard (`--shard I/N`), as labels of `slacheck_run_info`.
    pub scenario: &'a str,
    pub shard: Option<Shard>,
    /// The verdict on the requests so far (at the end, summary.json's `outcome`).
    pub verdict: Outcome,
    /// A failover episode is open.
    pub episode_open: bool,
    /// The histograms' bounds, from the scenario's limits.
    pub buckets: &'a super::buckets::Buckets,
}

/// Every verdict, in the order the state set lists them.
const VERDICTS: [Outcome; 6] =
    [Outcome::Pass, Outcome::Fail, Outcome::Undecided, Outcome::GeneratorBound, Outcome::Usage, Outcome::Interrupted];

/// Dispatcher lag's bounds, in seconds: a punctual generator's 0.1 ms to a stalled one's seconds, with the default
/// `load.lag_limit` (10 ms) among them.
const LAG_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The exposition of `result` (without the in-flight gauge, which [`in_flight`] adds when scraped).
pub fn exposition(result: &RunResult, run: &RunState) -> String {
    let mut out = String::new();
    run_state(&mut out, run);
    family(&mut out, "slacheck_requests_total", "counter", "Scheduled requests that ended, by outcome.");
    outcomes(&mut out, "slacheck_requests_total", &[], &result.counts);
    family(&mut out, "slacheck_not_sent_total", "counter", "Requests due but never sent (the generator's limit).");
    let _ = writeln!(out, "slacheck_not_sent_total {}", result.counts.not_sent);
    let errors = "Failed requests by kind, as summary.json's errors; an HTTP status also as status.";
    family(&mut out, "slacheck_errors_total", "counter", errors);
    for (kind, n) in &result.errors {
        let status = status_of(kind).map(|code| format!(",status=\"{code}\"")).unwrap_or_default();
        let _ = writeln!(out, "slacheck_errors_total{{kind=\"{}\"{status}}} {n}", escape(kind));
    }
    family(&mut out, "slacheck_tier_attempts_total", "counter", "Attempts on each tier, by outcome.");
    for (name, tier) in &result.tiers {
        outcomes(&mut out, "slacheck_tier_attempts_total", &[("tier", name)], &tier.attempts.counts);
    }
    named_groups(&mut out, "slacheck_class_requests_total", "class", &result.classes);
    named_groups(&mut out, "slacheck_region_attempts_total", "region", &result.regions);
    family(&mut out, "slacheck_upstream_requests_total", "counter", "Requests by the upstream that served them.");
    for (name, g) in &result.upstreams {
        outcomes(&mut out, "slacheck_upstream_requests_total", &[("upstream", name)], &g.counts);
    }
    let failed = "Attempts that failed on an upstream before another served (a gateway's served-by list).";
    family(&mut out, "slacheck_upstream_failed_attempts_total", "counter", failed);
    for (name, g) in result.upstreams.iter().filter(|(_, g)| g.failed_attempts > 0) {
        let _ = writeln!(
            out,
            "slacheck_upstream_failed_attempts_total{{upstream=\"{}\"}} {}",
            escape(name),
            g.failed_attempts
        );
    }
    family(
        &mut out,
        "slacheck_failovers_total",
        "counter",
        "Requests that went to another tier (or the gateway's marker).",
    );
    let _ = writeln!(out, "slacheck_failovers_total {}", result.failover.failed_over);
    let latency = "End-to-end latency from the intended send time (no coordinated omission).";
    let bounds = &run.buckets.latency;
    histogram(&mut out, "slacheck_latency_seconds", latency, &result.latency, bounds);
    let service = "From the actual send to the end.";
    histogram(&mut out, "slacheck_service_time_seconds", service, &result.service_time, bounds);
    let ttft = "Time to first token of streamed answers, from the intended send time.";
    histogram(&mut out, "slacheck_ttft_seconds", ttft, &result.stream.ttft, &run.buckets.ttft);
    // A histogram, not a summary: shards' buckets add up, their quantiles do not.
    let lag = "How late requests were sent, from their intended time.";
    histogram(&mut out, "slacheck_dispatcher_lag_seconds", lag, &result.lag, &LAG_BUCKETS);
    out
}

/// The run's labels as an info metric (the convention for a target's constant metadata: one series of value 1,
/// joined where needed with `* on(instance) group_left(scenario, shard)`, rather than two more labels on every
/// series), the verdict so far as a state set (one series per verdict, the current one 1), and the open episode.
fn run_state(out: &mut String, run: &RunState) {
    family(out, "slacheck_run_info", "gauge", "The run: its scenario and shard (I/N; empty when not sharded).");
    let shard = run.shard.map(|s| s.to_string()).unwrap_or_default();
    let _ = writeln!(out, "slacheck_run_info{{scenario=\"{}\",shard=\"{shard}\"}} 1", escape(run.scenario));
    family(out, "slacheck_verdict", "gauge", "The verdict on the requests so far: 1 for the current one.");
    for v in VERDICTS {
        let _ = writeln!(out, "slacheck_verdict{{verdict=\"{}\"}} {}", v.word(), u8::from(v == run.verdict));
    }
    family(out, "slacheck_failover_episode_open", "gauge", "1 while a failover episode is open.");
    let _ = writeln!(out, "slacheck_failover_episode_open {}", u8::from(run.episode_open));
}

/// The gauge of requests in flight, appended at scrape time.
pub fn in_flight(out: &mut String, n: u64) {
    family(out, "slacheck_in_flight", "gauge", "Requests sent and not yet ended.");
    let _ = writeln!(out, "slacheck_in_flight {n}");
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A family of counters by `label` (each class, each region), by outcome.
fn named_groups(out: &mut String, metric: &str, label: &str, list: &[(String, Group)]) {
    family(out, metric, "counter", &format!("Requests of each {label}, by outcome."));
    for (name, g) in list {
        outcomes(out, metric, &[(label, name)], &g.counts);
    }
}

/// One line per outcome of `counts`, with these labels first.
fn outcomes(out: &mut String, metric: &str, labels: &[(&str, &String)], counts: &Counts) {
    let fixed: String = labels.iter().map(|(k, v)| format!("{k}=\"{}\",", escape(v))).collect();
    let each = [
        ("ok", counts.ok),
        ("error", counts.error),
        ("timeout", counts.timeout),
        ("not_sent", counts.not_sent),
        ("cancelled", counts.cancelled),
    ];
    for (outcome, n) in each {
        let _ = writeln!(out, "{metric}{{{fixed}outcome=\"{outcome}\"}} {n}");
    }
}

/// A Prometheus histogram from an HdrHistogram in µs: each bucket counts the values up to its bound (to the
/// HdrHistogram's precision, 3 significant digits).
fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram<u64>, bounds: &[f64]) {
    family(out, name, "histogram", help);
    for &le in bounds {
        let n = h.count_between(0, (le * 1e6).round() as u64);
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.len());
    let _ = writeln!(out, "{name}_sum {}", h.mean() * h.len() as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", h.len());
}

/// The HTTP status of an error kind `status 429` (the label [`crate::sample::ErrorKind::label`] gives it), so
/// that a dashboard can select `status=~"5.."` without parsing `kind`. Other kinds have none: an absent label
/// and an empty one are the same series to Prometheus.
fn status_of(kind: &str) -> Option<u16> {
    kind.strip_prefix("status ")?.parse().ok()
}

/// A label value as the text format wants it: backslash, double quote and line feed escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_buckets_are_cumulative() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut h = crate::measure::new_histogram();
        for us in [1_000, 20_000, 20_000, 700_000, 90_000_000] {
            h.record(us).unwrap();
        }
        let mut out = String::new();
        histogram(&mut out, "x", "help", &h, &crate::report::buckets::COARSE);
        let bucket = |le: &str| {
            let line = out.lines().find(|l| l.starts_with(&format!("x_bucket{{le=\"{le}\"}} "))).unwrap();
            line.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
        };
        // By hand: ≤5 ms one (1 ms), ≤25 ms three, ≤1 s four, ≤60 s four, ≤120 s and +Inf all five.
        assert_eq!(
            [bucket("0.005"), bucket("0.025"), bucket("1"), bucket("60"), bucket("120"), bucket("+Inf")],
            [1, 3, 4, 4, 5, 5]
        );
        assert!(out.contains("x_count 5"));
    }
}
