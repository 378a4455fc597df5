//! What a run tells: the terminal summary and `summary.json`, written atomically.

use crate::measure::{ms, Counts, Group, OutageStats, RunResult, TimelineRow};
use crate::scenario::Scenario;
use crate::sla::Verdict;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// 2: tiers, classes, upstreams, failover and cost.
pub const SCHEMA_VERSION: u32 = 2;

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    #[serde(rename = "p99.99")]
    pub p99_99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |x| if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(x)) };
        Percentiles {
            count: h.len(),
            min: if h.is_empty() { 0.0 } else { ms(h.min()) },
            mean: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: if h.is_empty() { 0.0 } else { ms(h.max()) },
        }
    }
}

/// Whether the generator kept its schedule.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Generator {
    pub lag_limit_ms: f64,
    /// The generator fell behind: requests were not sent, or more than 1% of requests (and at least 10) were
    /// dispatched later than the limit. The target may not be the bottleneck.
    pub overloaded: bool,
    /// Requests dispatched later than `lag_limit_ms` after they were due.
    #[serde(default)]
    pub lagging: u64,
    /// What the machine did (CPU used, cores, load average, open-files limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::machine::Usage>,
    /// Why the generator fell behind and what to do, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Generator {
    /// Overload rests on enough samples: the "p99" of 40 samples is their maximum, so one hiccup is not an
    /// overload; more than 1% of requests, and at least 10, must have lagged past the limit.
    fn of(result: &RunResult, facts: &RunFacts, closed_loop: bool, max_in_flight: usize) -> Self {
        let limit_us = (facts.lag_limit_ms * 1000.0) as u64;
        let lag = &result.lag;
        let lagging =
            if lag.is_empty() || lag.max() <= limit_us { 0 } else { lag.count_between(limit_us + 1, lag.max()) };
        // In closed-loop mode lag is a busy connection waiting for the target, not a slow generator.
        let lags = !closed_loop && lagging >= 10 && lagging as f64 > 0.01 * lag.len() as f64;
        let not_sent = result.counts.not_sent;
        let usage = facts.machine.clone().unwrap_or_default();
        Generator {
            lag_limit_ms: facts.lag_limit_ms,
            overloaded: lags || not_sent > 0,
            lagging,
            hint: crate::machine::hint(not_sent, max_in_flight, lags, &usage),
            machine: facts.machine.clone(),
        }
    }
}

/// One slice of the traffic (a class or an upstream).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GroupSummary {
    pub name: String,
    pub counts: Counts,
    pub availability: Option<f64>,
    pub latency_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
}

impl GroupSummary {
    fn of(name: &str, g: &Group) -> Self {
        GroupSummary {
            name: name.to_string(),
            counts: g.counts,
            availability: g.availability(),
            latency_ms: Percentiles::of(&g.latency),
            errors: g.errors.clone(),
        }
    }
}

/// One tier: its attempts as it delivered them (before failover), what it served, what that cost.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TierSummary {
    pub name: String,
    pub attempts: Counts,
    /// Successful attempts / attempts: the tier's own availability, before failover.
    pub availability: Option<f64>,
    /// Each attempt's own latency.
    pub attempt_latency_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
    /// Logical requests this tier answered, and their end-to-end latency.
    pub served: u64,
    pub served_latency_ms: Percentiles,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    /// At the profile's mean rate for 30 days, with this run's mix.
    pub monthly_usd: f64,
    /// Time to first token of the streamed answers it served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<Percentiles>,
    /// Mean gap between tokens of each streamed answer it served, and its decode rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_token_ms: Option<Percentiles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FailoverSummary {
    /// Logical requests with more than one attempt, and with more than one tier.
    pub retried: u64,
    pub failed_over: u64,
    /// Failed-over requests that ended successfully.
    pub rescued: u64,
    /// failed_over / requests sent.
    pub rate: f64,
    /// Why each extra attempt was made.
    pub reasons: BTreeMap<String, u64>,
    /// End-to-end latency minus the serving attempt's own, for requests served after more than one attempt.
    pub added_latency_ms: Percentiles,
    /// Hedges sent, and how many gave the answer kept.
    pub hedged: u64,
    pub hedge_won: u64,
    /// Intended times of the first and last failed-over request.
    pub first_at_s: Option<f64>,
    pub last_at_s: Option<f64>,
}

/// How much of the period's allowed failures the run used, with an availability target.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ErrorBudget {
    /// (1 − availability target) × requests.
    pub allowed_failures: f64,
    pub failures: u64,
    /// failures / allowed_failures: 1.0 is the whole budget.
    pub consumed: f64,
    /// The failure rate over the allowed one: above 1.0 the budget runs out before the period ends.
    pub burn_rate: f64,
}

/// Streamed answers: time to first token (from the intended and from the actual send), header time, inter-token
/// gaps, decode rate, and stream failures.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StreamSummary {
    pub requests: u64,
    pub ttft_ms: Percentiles,
    pub ttft_from_send_ms: Percentiles,
    pub headers_ms: Percentiles,
    pub inter_token_ms: Percentiles,
    pub tokens: u64,
    /// Tokens after each answer's first chunk over the time between its first and last token.
    pub tokens_per_s: f64,
    /// Failed streams by kind (before or after the first token).
    pub failures: BTreeMap<String, u64>,
}

/// What the run cost at the tiers' prices, and what the profile would cost for a month.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CostSummary {
    pub total_usd: f64,
    pub per_1000_requests_usd: f64,
    /// At the profile's mean rate for 30 days.
    pub monthly_usd: f64,
}

/// Facts about a run that are not measurements.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunFacts {
    pub started_at: String,
    pub complete: bool,
    pub lag_limit_ms: f64,
    /// (input, output) US dollars per million tokens, per tier.
    pub prices: Vec<(f64, f64)>,
    /// The profile's mean rate, requests per second (of this shard's share, for a shard).
    pub mean_rate: f64,
    /// Which shard of a sharded run this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// Seconds over which the schedule was offered: the profile's length, or the time until a signal stopped the
    /// run (0 in files from before this field: the planned duration is used then).
    #[serde(default)]
    pub offered_s: f64,
    /// What the generator's machine did, for the overload verdict and its hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::machine::Usage>,
}

/// A run's cost projected to 30 days at `mean_rate` requests per second.
fn monthly(cost_usd: f64, requests: u64, mean_rate: f64) -> f64 {
    if requests == 0 {
        return 0.0;
    }
    cost_usd / requests as f64 * mean_rate * 30.0 * 86_400.0
}

/// US dollars for these token counts at per-million prices.
pub fn cost(prompt_tokens: u64, completion_tokens: u64, price_input: f64, price_output: f64) -> f64 {
    (prompt_tokens as f64 * price_input + completion_tokens as f64 * price_output) / 1_000_000.0
}

/// The content of `summary.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    /// False when the run was interrupted: the numbers cover only the part that ran.
    pub complete: bool,
    pub scenario: Scenario,
    /// UTC start time, RFC 3339.
    pub started_at: String,
    /// This run is shard I of N (`--shard I/N`): it sent every N-th request of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// This summary is the merge of N shards (`slacheck merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_shards: Option<u32>,
    pub duration_s: f64,
    pub counts: Counts,
    pub availability: Option<f64>,
    /// Requests per second the profile asked for, and the rate actually sent.
    pub offered_rate_per_s: f64,
    pub achieved_rate_per_s: f64,
    /// Latency of every sent request (failures and timeouts included), from its intended send time.
    pub latency_ms: Percentiles,
    /// From the actual send: what a closed-loop tool would report.
    pub service_time_ms: Percentiles,
    /// Actual minus intended send time.
    pub lag_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
    /// Share of requests whose first attempt succeeded: availability as the first tier alone delivered it.
    pub availability_before_failover: Option<f64>,
    pub tiers: Vec<TierSummary>,
    pub classes: Vec<GroupSummary>,
    pub upstreams: Vec<GroupSummary>,
    /// Requests whose served-by name came after the first 64 distinct ones, counted under "(other)".
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upstreams_beyond_cap: u64,
    /// Attempts by region of the tiers' endpoints (their own availability and latency).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<GroupSummary>,
    pub failover: FailoverSummary,
    /// Around each scheduled outage of a mock provider behind a tier.
    pub outages: Vec<OutageStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<StreamSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_budget: Option<ErrorBudget>,
    pub cost: CostSummary,
    pub generator: Generator,
    pub verdict: Verdict,
    pub timeline: Vec<TimelineRow>,
}

impl Summary {
    pub fn new(scenario: &Scenario, result: &RunResult, verdict: Verdict, facts: RunFacts) -> Self {
        // A warm-up (capacity steps) is not part of the measured run.
        let warmup_s = result.warmup_time.as_secs_f64();
        let c = result.counts;
        let sent = c.total - c.not_sent;
        let lag = Percentiles::of(&result.lag);
        // Offered: what the schedule asked for, over the time it was offered (the profile's length, or until a
        // stop). The run lasted that long, or longer when answers came after it (closed loop, a slow target);
        // achieved is what was sent over that actual time.
        let planned_s = scenario.load.duration.map(|d| d.0.as_secs_f64() - warmup_s);
        let offered_s = match (facts.offered_s > 0.0, planned_s) {
            (true, _) => facts.offered_s,
            (false, Some(p)) => p,
            (false, None) => result.elapsed.as_secs_f64() - warmup_s,
        }
        .max(1e-9);
        let duration_s = (result.elapsed.as_secs_f64() - warmup_s).max(offered_s);
        let generator = Generator::of(result, &facts, scenario.load.connections.is_some(), scenario.load.max_in_flight);
        let tiers: Vec<TierSummary> = result
            .tiers
            .iter()
            .enumerate()
            .map(|(i, (name, t))| {
                let (pi, po) = facts.prices.get(i).copied().unwrap_or_default();
                let cost_usd = cost(t.prompt_tokens, t.completion_tokens, pi, po);
                TierSummary {
                    name: name.clone(),
                    attempts: t.attempts.counts,
                    availability: t.attempts.availability(),
                    attempt_latency_ms: Percentiles::of(&t.attempts.latency),
                    errors: t.attempts.errors.clone(),
                    served: t.served.counts.total,
                    served_latency_ms: Percentiles::of(&t.served.latency),
                    prompt_tokens: t.prompt_tokens,
                    completion_tokens: t.completion_tokens,
                    cost_usd,
                    monthly_usd: monthly(cost_usd, sent, facts.mean_rate),
                    ttft_ms: t.ttft.as_ref().map(Percentiles::of),
                    inter_token_ms: t.inter_token.as_ref().map(Percentiles::of),
                    tokens_per_s: (t.decode_tokens > 0.0)
                        .then(|| t.decode_tokens / t.decode_time.as_secs_f64().max(1e-9)),
                }
            })
            .collect();
        let total_usd: f64 = tiers.iter().map(|t| t.cost_usd).sum();
        let per_request = if sent > 0 { total_usd / sent as f64 } else { 0.0 };
        let f = &result.failover;
        Summary {
            schema_version: SCHEMA_VERSION,
            complete: facts.complete,
            scenario: scenario.clone(),
            started_at: facts.started_at,
            shard: facts.shard,
            merged_shards: None,
            duration_s,
            counts: c,
            availability: result.availability(),
            offered_rate_per_s: c.total as f64 / offered_s,
            achieved_rate_per_s: sent as f64 / duration_s,
            latency_ms: Percentiles::of(&result.latency),
            service_time_ms: Percentiles::of(&result.service_time),
            generator,
            lag_ms: lag,
            errors: result.errors.clone(),
            availability_before_failover: (c.total > 0).then(|| f.first_attempt_ok as f64 / c.total as f64),
            tiers,
            classes: result.classes.iter().map(|(n, g)| GroupSummary::of(n, g)).collect(),
            upstreams: result.upstreams.iter().map(|(n, g)| GroupSummary::of(n, g)).collect(),
            upstreams_beyond_cap: result.upstreams_beyond_cap,
            regions: result.regions.iter().map(|(n, g)| GroupSummary::of(n, g)).collect(),
            failover: FailoverSummary {
                retried: f.retried,
                failed_over: f.failed_over,
                rescued: f.rescued,
                rate: if sent > 0 { f.failed_over as f64 / sent as f64 } else { 0.0 },
                reasons: f.reasons.clone(),
                added_latency_ms: Percentiles::of(&f.added),
                hedged: f.hedged,
                hedge_won: f.hedge_won,
                first_at_s: f.first_at.map(|t| t.as_secs_f64()),
                last_at_s: f.last_at.map(|t| t.as_secs_f64()),
            },
            outages: result.outages.clone(),
            error_budget: scenario.sla.availability.filter(|_| c.total > 0).map(|target| {
                let failures = c.total - c.ok;
                let allowed_rate = (1.0 - target.0).max(1e-12);
                let allowed_failures = allowed_rate * c.total as f64;
                ErrorBudget {
                    allowed_failures,
                    failures,
                    consumed: failures as f64 / allowed_failures,
                    burn_rate: (failures as f64 / c.total as f64) / allowed_rate,
                }
            }),
            streaming: (result.stream.requests > 0).then(|| {
                let st = &result.stream;
                StreamSummary {
                    requests: st.requests,
                    ttft_ms: Percentiles::of(&st.ttft),
                    ttft_from_send_ms: Percentiles::of(&st.ttft_from_send),
                    headers_ms: Percentiles::of(&st.headers),
                    inter_token_ms: Percentiles::of(&st.inter_token),
                    tokens: st.tokens,
                    tokens_per_s: st.decode_tokens / st.decode_time.as_secs_f64().max(1e-9),
                    failures: result
                        .errors
                        .iter()
                        .filter(|(k, _)| k.starts_with("stream "))
                        .map(|(k, v)| (k.clone(), *v))
                        .collect(),
                }
            }),
            cost: CostSummary {
                total_usd,
                per_1000_requests_usd: per_request * 1000.0,
                monthly_usd: monthly(total_usd, sent, facts.mean_rate),
            },
            verdict,
            timeline: result.timeline.clone(),
        }
    }
}

pub use crate::outdir::write_atomic;

pub fn write_summary_json(dir: &Path, summary: &Summary) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("summary.json"), &json)
}

/// Seconds as the scenario writes them: `7s`, `7.2s`, `7.25s` (no rounding to whole seconds).
fn fmt_seconds(s: f64) -> String {
    let text = format!("{s:.3}");
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Milliseconds as people read them: `2.35s`, `148.7ms`, `0.36ms`.
pub(crate) fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

/// A ratio as a percentage with three decimals, or "n/a".
fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|a| format!("{:.3}%", a * 100.0)).unwrap_or_else(|| "n/a".into())
}

/// Whether a run routed through tiers or retried, so its tier table is worth showing.
fn shows_routing(summary: &Summary) -> bool {
    summary.tiers.len() > 1 || summary.failover.retried > 0 || summary.failover.hedged > 0
}

/// The cells of a tier's table row: name, attempts, availability, served, p50, p99, cost.
fn tier_cells(t: &TierSummary) -> [String; 7] {
    let latency = |v: f64| if t.attempt_latency_ms.count == 0 { "n/a".to_string() } else { fmt_ms(v) };
    [
        t.name.clone(),
        t.attempts.total.to_string(),
        fmt_ratio(t.availability),
        t.served.to_string(),
        latency(t.attempt_latency_ms.p50),
        latency(t.attempt_latency_ms.p99),
        format!("${:.4}", t.cost_usd),
    ]
}

const TIER_HEADINGS: [&str; 7] = ["tier", "attempts", "availability", "served", "p50", "p99", "cost"];

fn percentile_line(label: &str, p: &Percentiles) -> String {
    format!(
        "  {label:<9} p50 {:>9}  p90 {:>9}  p99 {:>9}  p99.9 {:>9}  max {:>9}\n",
        fmt_ms(p.p50),
        fmt_ms(p.p90),
        fmt_ms(p.p99),
        fmt_ms(p.p99_9),
        fmt_ms(p.max)
    )
}

/// The human-readable summary printed at the end of a run.
pub fn terminal(summary: &Summary, results_dir: &Path) -> String {
    let mut out = String::new();
    let c = &summary.counts;
    let _ = writeln!(
        out,
        "\nslacheck: {} — {} requests in {:.1}s (offered {:.1}/s, achieved {:.1}/s){}{}",
        summary.scenario.name,
        c.total,
        summary.duration_s,
        summary.offered_rate_per_s,
        summary.achieved_rate_per_s,
        match (summary.shard, summary.merged_shards) {
            (Some(s), _) => format!("  [shard {s}: 1 in {} requests]", s.count),
            (None, Some(n)) => format!("  [merged from {n} shards]"),
            _ => String::new(),
        },
        if summary.complete { "" } else { "  [INCOMPLETE: interrupted]" }
    );
    let _ = writeln!(
        out,
        "  requests  ok {}  error {}  timeout {}  not sent {}  availability {}",
        c.ok,
        c.error,
        c.timeout,
        c.not_sent,
        fmt_ratio(summary.availability)
    );
    if !summary.errors.is_empty() {
        let list: Vec<_> = summary.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(out, "  errors    {}", list.join(", "));
    }
    out.push_str(&percentile_line("latency", &summary.latency_ms));
    out.push_str(&percentile_line("service", &summary.service_time_ms));
    out.push_str(&percentile_line("lag", &summary.lag_ms));
    if let Some(st) = &summary.streaming {
        out.push_str(&percentile_line("ttft", &st.ttft_ms));
        out.push_str(&percentile_line("ttft/send", &st.ttft_from_send_ms));
        out.push_str(&percentile_line("inter-tok", &st.inter_token_ms));
        let _ = writeln!(
            out,
            "  streams   {} answers, {} tokens, {:.0} tokens/s while decoding",
            st.requests, st.tokens, st.tokens_per_s
        );
        // With several tiers streaming, each one's own figures: providers differ most in these.
        let streaming: Vec<&TierSummary> = summary.tiers.iter().filter(|t| t.ttft_ms.is_some()).collect();
        if streaming.len() > 1 {
            for t in streaming {
                let p = |x: &Option<Percentiles>| {
                    x.as_ref().map_or("-".into(), |p| format!("{} / {}", fmt_ms(p.p50), fmt_ms(p.p99)))
                };
                let _ = writeln!(
                    out,
                    "  {:<9} ttft p50/p99 {}, inter-token p50/p99 {}, {} tokens/s",
                    t.name,
                    p(&t.ttft_ms),
                    p(&t.inter_token_ms),
                    t.tokens_per_s.map_or("-".into(), |r| format!("{r:.0}"))
                );
            }
        }
    }
    out.push_str("  (latency counts from each request's intended send time; service time from the actual send)\n");
    if shows_routing(summary) {
        out.push('\n');
        for cells in std::iter::once(TIER_HEADINGS.map(String::from)).chain(summary.tiers.iter().map(tier_cells)) {
            let [name, rest @ ..] = cells;
            let _ = write!(out, "  {name:<12}");
            for cell in rest {
                let _ = write!(out, "{cell:>13}");
            }
            out.push('\n');
        }
        let f = &summary.failover;
        let _ = writeln!(
            out,
            "  failover: {} requests ({:.2}%), {} rescued; added latency p50 {} p99 {}; availability before failover {}",
            f.failed_over,
            f.rate * 100.0,
            f.rescued,
            fmt_ms(f.added_latency_ms.p50),
            fmt_ms(f.added_latency_ms.p99),
            fmt_ratio(summary.availability_before_failover)
        );
        for r in &summary.regions {
            let _ = writeln!(
                out,
                "  region {}: {} attempts, availability {}, p50 {}, p99 {}",
                r.name,
                r.counts.total,
                fmt_ratio(r.availability),
                fmt_ms(r.latency_ms.p50),
                fmt_ms(r.latency_ms.p99)
            );
        }
        if f.hedged > 0 {
            let _ = writeln!(out, "  hedges: {} sent, {} gave the answer kept", f.hedged, f.hedge_won);
        }
        if !f.reasons.is_empty() {
            let list: Vec<_> = f.reasons.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let _ = writeln!(out, "  retried because: {}", list.join(", "));
        }
    }
    for o in &summary.outages {
        let opt = |v: Option<f64>| v.map(|s| format!("{:.0}ms", s * 1000.0)).unwrap_or_else(|| "never".into());
        let _ = writeln!(
            out,
            "  outage of {} {}..{}: {} requests due, {} failed over (first after {}), {} user-visible errors over {:.2}s, back on {} {} after it ended",
            o.tier, fmt_seconds(o.start_s), fmt_seconds(o.end_s), o.requests_due, o.failed_over, opt(o.first_failover_after_s), o.user_errors,
            o.error_burst_s, o.tier, opt(o.back_to_tier_after_s)
        );
    }
    if let Some(b) = &summary.error_budget {
        let _ = writeln!(
            out,
            "  error budget: {} failures of {:.1} allowed ({:.0}% used), burn rate {:.2}",
            b.failures,
            b.allowed_failures,
            b.consumed * 100.0,
            b.burn_rate
        );
    }
    if summary.cost.total_usd > 0.0 {
        let _ = writeln!(
            out,
            "  cost: ${:.4} for this run, ${:.4} per 1,000 requests, ${:.2} a month at the profile's mean rate",
            summary.cost.total_usd, summary.cost.per_1000_requests_usd, summary.cost.monthly_usd
        );
    }
    if summary.upstreams_beyond_cap > 0 {
        let _ = writeln!(
            out,
            "  note: the served-by value had more than {} distinct names; {} requests of later names are counted \
             under \"{}\"",
            crate::measure::MAX_UPSTREAMS,
            summary.upstreams_beyond_cap,
            crate::measure::OTHER_UPSTREAMS
        );
    }
    if summary.generator.overloaded {
        let _ = writeln!(out, "  WARNING: {}", generator_warning(summary));
    }
    if !summary.verdict.targets.is_empty() {
        let _ =
            writeln!(out, "\n  {:<3}{:<22}{:>12}{:>12}{:>26}", "", "SLA target", "limit", "measured", "95% interval");
        for t in &summary.verdict.targets {
            let (limit, measured) = target_cells(t);
            let more = t.more_requests.map(|m| format!("  ≈{m} more requests would settle it")).unwrap_or_default();
            let more = match &t.note {
                Some(note) if t.name.ends_with("window") => format!("{more}  ({note})"),
                _ => more,
            };
            let _ = writeln!(
                out,
                "  {:<3}{:<22}{limit:>12}{measured:>12}{:>26}{more}",
                judgement_mark(t.judgement).0,
                t.name,
                interval_cell(t)
            );
        }
    }
    let _ = writeln!(out, "\n  {}\n  results: {}", verdict_text(&summary.verdict), results_dir.display());
    out
}

/// The generator fell behind: by how much, and the hint that fits the evidence.
fn generator_warning(summary: &Summary) -> String {
    let g = &summary.generator;
    let hint = g.hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default();
    format!(
        "the generator fell behind its schedule ({} requests dispatched more than {} late, {} not sent; lag p99 {}){hint}",
        g.lagging,
        fmt_ms(g.lag_limit_ms),
        summary.counts.not_sent,
        fmt_ms(summary.lag_ms.p99)
    )
}

/// ✓/✗/? for a terminal, ✅/❌/⚠️ for Markdown.
fn judgement_mark(j: crate::sla::Judgement) -> (&'static str, &'static str) {
    match j {
        crate::sla::Judgement::Pass => ("✓", "✅"),
        crate::sla::Judgement::Fail => ("✗", "❌"),
        crate::sla::Judgement::InsufficientData => ("?", "⚠️"),
    }
}

/// A target's 95% interval: of the ratio, or of the percentile's value (open above when unbounded).
fn interval_cell(t: &crate::sla::TargetResult) -> String {
    match (t.interval, t.measured_ratio.is_some()) {
        (Some((lo, Some(hi))), true) => format!("[{}, {}]", fmt_ratio(Some(lo)), fmt_ratio(Some(hi))),
        (Some((lo, Some(hi))), false) => format!("[{}, {}]", fmt_ms(lo), fmt_ms(hi)),
        (Some((lo, None)), _) => format!("[{}, ∞)", fmt_ms(lo)),
        (None, _) => String::new(),
    }
}

/// The one-line verdict: PASS, FAIL or INSUFFICIENT DATA.
pub fn verdict_text(v: &crate::sla::Verdict) -> String {
    let n = v.targets.len();
    let failed = v.failed().count();
    let undecided: Vec<_> = v.undecided().collect();
    if !v.unmatched_scopes.is_empty() {
        format!(
            "ERROR: targets on {} matched no request, so they cannot be judged (check the scope names and the traffic mix)",
            v.unmatched_scopes.join(", ")
        )
    } else if n == 0 {
        "NO TARGETS: the scenario's [sla] sets none".to_string()
    } else if v.generator_bound() {
        format!(
            "GENERATOR-BOUND: {failed} of {n} SLA targets missed, but each holds on service time or without the \
             requests never sent: the generator's own limits explain the result, not the target"
        )
    } else if failed > 0 {
        format!("FAIL: {failed} of {n} SLA targets missed")
    } else if !undecided.is_empty() {
        let more = undecided.iter().filter_map(|t| t.more_requests).max();
        let hint =
            more.map(|m| format!("; about {m} more requests (a longer run) would settle them")).unwrap_or_default();
        format!("INSUFFICIENT DATA: {} of {n} SLA targets could not be decided{hint}", undecided.len())
    } else {
        format!("PASS: all {n} SLA targets held")
    }
}

/// How a target reads in a table: (limit, measured).
fn target_cells(t: &crate::sla::TargetResult) -> (String, String) {
    match (t.measured_ratio, t.measured_ms) {
        (Some(r), _) => (format!("≥ {}", t.limit), fmt_ratio(Some(r))),
        (_, Some(m)) => (format!("≤ {}", t.limit), fmt_ms(m)),
        _ => (t.limit.clone(), "no data".into()),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// `junit.xml`: one test case per SLA target, so CI systems show each target natively.
pub fn junit(summary: &Summary) -> String {
    let name = xml_escape(&format!("slacheck.{}", summary.scenario.name));
    let targets = &summary.verdict.targets;
    // Every target that did not pass is a <failure> below, undecided ones too: the attribute counts the same.
    let failures = targets.iter().filter(|t| !t.passed).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"slacheck\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
        targets.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\" timestamp=\"{}\">",
        targets.len(),
        summary.duration_s,
        xml_escape(summary.started_at.trim_end_matches('Z'))
    );
    for t in targets {
        let (limit, measured) = target_cells(t);
        let case = xml_escape(&format!("{} {limit}", t.name));
        let _ = write!(out, "    <testcase classname=\"{name}.sla\" name=\"{case}\" time=\"0\"");
        if t.passed {
            out.push_str(" />\n");
        } else {
            let message = match (&t.note, t.judgement) {
                (Some(note), crate::sla::Judgement::InsufficientData) => {
                    format!("{}: insufficient data: measured {measured}, limit {limit}; {note}", t.name)
                }
                (Some(note), _) if t.measured_ms.is_none() && t.measured_ratio.is_none() => {
                    format!("{}: {note}", t.name)
                }
                _ => format!("{} measured {measured}, limit {limit}", t.name),
            };
            let _ = writeln!(
                out,
                ">\n      <failure type=\"sla\" message=\"{}\" />\n    </testcase>",
                xml_escape(&message)
            );
        }
    }
    if !summary.complete {
        out.push_str(
            "    <system-err>the run was interrupted; the numbers cover only the part that ran</system-err>\n",
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `summary.md`: a compact Markdown report for `$GITHUB_STEP_SUMMARY` or a pull-request comment.
pub fn markdown(summary: &Summary) -> String {
    let mut out = String::new();
    let text = verdict_text(&summary.verdict);
    let verdict = if summary.verdict.targets.is_empty() {
        text
    } else if summary.verdict.failed().count() > 0 {
        format!("❌ {text}")
    } else if summary.verdict.insufficient_data {
        format!("⚠️ {text}")
    } else {
        format!("✅ {text}")
    };
    let _ = writeln!(out, "### slacheck: {} — {verdict}\n", summary.scenario.name);
    if !summary.complete {
        out.push_str("> ⚠️ The run was interrupted: these numbers cover only the part that ran.\n\n");
    }
    if summary.generator.overloaded {
        let _ = writeln!(out, "> ⚠️ {}\n", generator_warning(summary));
    }
    if !summary.verdict.targets.is_empty() {
        out.push_str("| SLA target | limit | measured | 95% interval | |\n|---|---:|---:|---:|:-:|\n");
        for t in &summary.verdict.targets {
            let (limit, measured) = target_cells(t);
            let mark = judgement_mark(t.judgement).1;
            let _ = writeln!(out, "| {} | {limit} | {measured} | {} | {mark} |", t.name, interval_cell(t));
        }
        out.push('\n');
    }
    out.push_str("| | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|\n");
    for (label, p) in [
        ("latency", &summary.latency_ms),
        ("service time", &summary.service_time_ms),
        ("dispatcher lag", &summary.lag_ms),
    ] {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} |",
            fmt_ms(p.p50),
            fmt_ms(p.p90),
            fmt_ms(p.p99),
            fmt_ms(p.p99_9),
            fmt_ms(p.max)
        );
    }
    let c = &summary.counts;
    let _ = writeln!(
        out,
        "\n{} requests in {:.1} s (offered {:.1}/s, achieved {:.1}/s): {} ok, {} errors, {} timeouts, {} not sent; availability {}.",
        c.total,
        summary.duration_s,
        summary.offered_rate_per_s,
        summary.achieved_rate_per_s,
        c.ok,
        c.error,
        c.timeout,
        c.not_sent,
        fmt_ratio(summary.availability)
    );
    if shows_routing(summary) {
        let _ = writeln!(out, "\n| {} |\n|---|---:|---:|---:|---:|---:|---:|", TIER_HEADINGS.join(" | "));
        for t in &summary.tiers {
            let _ = writeln!(out, "| {} |", tier_cells(t).join(" | "));
        }
        let f = &summary.failover;
        let _ = writeln!(
            out,
            "\nFailover: {} requests ({:.2}%), {} rescued, added latency p99 {}.",
            f.failed_over,
            f.rate * 100.0,
            f.rescued,
            fmt_ms(f.added_latency_ms.p99)
        );
    }
    out
}

/// Which report files to write (`--format json,hlog,svg,png,junit,md,html`); summary.json and measurements.json are always written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formats {
    pub hlog: bool,
    pub svg: bool,
    pub png: bool,
    pub junit: bool,
    pub md: bool,
    pub html: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Formats { hlog: true, svg: true, png: true, junit: true, md: true, html: true }
    }
}

impl std::str::FromStr for Formats {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let mut f = Formats { hlog: false, svg: false, png: false, junit: false, md: false, html: false };
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "json" => {}
                "hlog" => f.hlog = true,
                "svg" => f.svg = true,
                "png" => f.png = true,
                "junit" => f.junit = true,
                "md" => f.md = true,
                "html" => f.html = true,
                "all" => f = Formats::default(),
                other => {
                    return Err(format!("unknown format {other:?}; use json, hlog, svg, png, junit, md, html or all"))
                }
            }
        }
        Ok(f)
    }
}

/// The histograms the plots need, from a finished run or from a saved interval log.
pub struct PlotInputs {
    pub latency: Histogram<u64>,
    pub service_time: Histogram<u64>,
    /// Each tier's served requests, end to end.
    pub tiers: Vec<(String, Histogram<u64>)>,
}

impl PlotInputs {
    pub fn of_run(result: &RunResult) -> Self {
        PlotInputs {
            latency: result.latency.clone(),
            service_time: result.service_time.clone(),
            tiers: result.tiers.iter().map(|(n, t)| (n.clone(), t.served.latency.clone())).collect(),
        }
    }

    /// From a run's latency.hlog (the same histograms, added up from its intervals).
    pub fn of_log(log: &crate::hlog::Log, summary: &Summary) -> Self {
        let total = |tag: &str| log.total(tag).unwrap_or_else(crate::measure::new_histogram);
        PlotInputs {
            latency: total(crate::hlog::OVERALL),
            service_time: total("service"),
            tiers: summary.tiers.iter().map(|t| (t.name.clone(), total(&format!("tier.{}", t.name)))).collect(),
        }
    }
}

/// Writes a run's report files into `dir`, as `formats` says. summary.json is written by the caller, first, and
/// never again by this (so `slacheck report DIR` leaves it byte for byte as the run wrote it).
pub fn write_reports(dir: &Path, summary: &Summary, plots: &PlotInputs, formats: &Formats) -> Result<(), String> {
    let io = |name: &'static str| move |e: std::io::Error| format!("{}: {e}", dir.join(name).display());
    if formats.junit {
        write_atomic(&dir.join("junit.xml"), junit(summary).as_bytes()).map_err(io("junit.xml"))?;
    }
    if formats.md {
        write_atomic(&dir.join("summary.md"), markdown(summary).as_bytes()).map_err(io("summary.md"))?;
    }
    let mut svgs = Vec::new();
    if formats.svg || formats.png || formats.html {
        use crate::plot::{render, Chart};
        let scenario = &summary.scenario;
        let limits = scenario
            .sla
            .overall()
            .latency()
            .into_iter()
            .map(|(n, q, l)| (n.to_string(), q, l.as_secs_f64() * 1000.0))
            .collect();
        let series = vec![
            ("latency (from intended send)".to_string(), &plots.latency),
            ("service time (from actual send)".to_string(), &plots.service_time),
        ];
        let mut charts = vec![(
            "spectrum",
            Chart::Spectrum { title: format!("{}: latency by percentile", scenario.name), series, limits },
        )];
        let outages = summary.outages.iter().map(|o| (o.start_s, o.end_s)).collect();
        charts.push(("timeline", Chart::Timeline { rows: &summary.timeline, outages }));
        if plots.tiers.len() > 1 {
            let series = plots.tiers.iter().map(|(n, h)| (n.clone(), h)).collect();
            let title = format!("{}: latency by serving tier", scenario.name);
            charts.push(("tiers", Chart::Spectrum { title, series, limits: Vec::new() }));
        }
        for (name, chart) in &charts {
            svgs.push(render(dir, name, chart, formats.svg, formats.png)?);
        }
    }
    if formats.html {
        write_atomic(&dir.join("report.html"), html(summary, &svgs).as_bytes()).map_err(io("report.html"))?;
    }
    Ok(())
}

/// `report.html`: one self-contained page with the verdict, the tables and the plots inline.
pub fn html(summary: &Summary, svgs: &[String]) -> String {
    let md = markdown(summary);
    let mut body = String::new();
    let mut in_table = false;
    for line in md.lines() {
        if let Some(rest) = line.strip_prefix("### ") {
            let _ = writeln!(body, "<h1>{}</h1>", xml_escape(rest));
        } else if line.starts_with('|') {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if cells.iter().all(|c| c.chars().all(|ch| matches!(ch, '-' | ':'))) {
                continue;
            }
            let tag = if in_table { "td" } else { "th" };
            if !in_table {
                body.push_str("<table>\n");
                in_table = true;
            }
            body.push_str("<tr>");
            for c in cells {
                let _ = write!(body, "<{tag}>{}</{tag}>", xml_escape(c));
            }
            body.push_str("</tr>\n");
        } else {
            if in_table {
                body.push_str("</table>\n");
                in_table = false;
            }
            let text = line.trim_start_matches("> ").trim();
            if !text.is_empty() {
                let _ = writeln!(body, "<p>{}</p>", xml_escape(text));
            }
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    for svg in svgs {
        let _ = writeln!(body, "<figure>{svg}</figure>");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>slacheck: {}</title>\n<style>\n\
         body {{ font-family: sans-serif; max-width: 1040px; margin: 2em auto; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}\n\
         td:first-child, th:first-child {{ text-align: left; }} figure {{ margin: 1.5em 0; }} svg {{ max-width: 100%; height: auto; }}\n\
         </style></head><body>\n{body}</body></html>\n",
        xml_escape(&summary.scenario.name)
    )
}

#[cfg(test)]
mod tests {
    use super::{cost, fmt_seconds};

    #[test]
    fn seconds_keep_their_fraction() {
        assert_eq!(
            [fmt_seconds(7.0), fmt_seconds(7.2), fmt_seconds(7.25), fmt_seconds(0.6)],
            ["7s", "7.2s", "7.25s", "0.6s"]
        );
    }

    #[test]
    fn the_seed_cost_table_is_reproduced() {
        // 5M tokens at $0.25/M is $1.25; the same at $10/M is $50.
        assert!((cost(5_000_000, 0, 0.25, 0.25) - 1.25).abs() < 1e-9);
        assert!((cost(2_000_000, 3_000_000, 10.0, 10.0) - 50.0).abs() < 1e-9);
        assert!((cost(1_000, 500, 1.0, 4.0) - 0.003).abs() < 1e-12);
    }
}
