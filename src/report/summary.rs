//! `summary.json`: its schema (what a run tells, in numbers) and how it is built from a run's result.

use super::*;

/// 2: tiers, classes, upstreams, failover and cost; 3: `outcome`, the exit-code table's word for the run;
/// 4: `streaming.tokens` is `streaming.tokens_received`; `tokens.input_unanswered` and `output_unanswered`;
/// `failover.source` and `failover.inferred`; `availability_before_failover` with inferred failovers;
/// 5: `counts.cancelled` (clients that hung up), `cancellations` and `conversations`; 6: `failed_attempts` of
/// each class and upstream (a served-by list's earlier items), which an upstream's `availability` counts;
/// 7: `server_metrics` (the `[[scrape]]` endpoints' scrapes, counter increases and reconciliation);
/// 8: `server_metrics.shown`, the series `show` chose, scrape by scrape.
pub const SCHEMA_VERSION: u32 = 9;

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
    /// More than 1% of requests (and at least 10) were dispatched later than the limit: the generator's own
    /// delay (its CPU, its timer), whatever the target did. Requests not sent may be the target's doing instead
    /// (`max_in_flight` fills when it slows).
    #[serde(default)]
    pub dispatcher_late: bool,
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
        let no_usage = crate::machine::Usage::default();
        let usage = facts.machine.as_ref().unwrap_or(&no_usage);
        Generator {
            lag_limit_ms: facts.lag_limit_ms,
            overloaded: lags || not_sent > 0,
            lagging,
            dispatcher_late: lags,
            hint: crate::machine::hint(not_sent, max_in_flight, lags, usage),
            machine: facts.machine.clone(),
        }
    }
}

/// One slice of the traffic (a class or an upstream).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GroupSummary {
    pub name: String,
    pub counts: Counts,
    /// An upstream's attempts that failed before another upstream served (a gateway's served-by list, nginx's
    /// `"A, B"`), outside `counts`; `availability` counts them as failures.
    #[serde(default)]
    pub failed_attempts: u64,
    pub availability: Option<f64>,
    pub latency_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
}

impl GroupSummary {
    fn of(name: &str, g: &Group) -> Self {
        GroupSummary {
            name: name.to_string(),
            counts: g.counts,
            failed_attempts: g.failed_attempts,
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
    /// Attempts whose outcome is known; `availability` is of these.
    pub attempts: Counts,
    /// Hedge-race attempts cancelled when the other tier answered first: sent to the provider, outcome unknown.
    #[serde(default)]
    pub hedged_away: u64,
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
    /// Logical requests with more than one attempt, and that failed over (to another tier, or in the gateway).
    pub retried: u64,
    pub failed_over: u64,
    /// How `failed_over` was counted: "reported" (slacheck's tiers, the gateway's marker or its list of the
    /// upstreams it tried said so of each request), or "inferred" (a gateway without a marker: a request served
    /// by another upstream than its class's primary failed over), `inferred` of them.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub inferred: u64,
    /// Failed-over requests that ended successfully.
    pub rescued: u64,
    /// Requests saved by a retry on the same tier (not counted in `rescued`).
    #[serde(default)]
    pub retry_rescued: u64,
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
    /// From the intended send time to the answer's head, as `ttft_ms` counts (the top-level `headers_ms` counts
    /// each attempt from its actual send).
    pub headers_ms: Percentiles,
    pub inter_token_ms: Percentiles,
    /// Every token the streams delivered, answered or not (a stream cut short keeps those it sent): `tokens`'
    /// `output` and `output_unanswered` of the streamed requests.
    #[serde(alias = "tokens")]
    pub tokens_received: u64,
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
    pub shard: Option<crate::profile::Shard>,
    /// Seconds over which the schedule was offered: the profile's length, or the time until a signal stopped the
    /// run (0 in files from before this field: the planned duration is used then).
    #[serde(default)]
    pub offered_s: f64,
    /// What the generator's machine did, for the overload verdict and its hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::machine::Usage>,
}

#[cfg(test)]
impl RunFacts {
    /// A complete run of one tier, offered over `offered_s` seconds, for unit tests.
    pub(crate) fn example(offered_s: f64) -> Self {
        RunFacts {
            started_at: "2026-11-26T00:00:00Z".into(),
            complete: true,
            lag_limit_ms: 10.0,
            prices: vec![(0.0, 0.0)],
            mean_rate: 1.0,
            shard: None,
            offered_s,
            machine: None,
        }
    }
}

/// A run's cost projected to 30 days at `mean_rate` requests per second.
pub(super) fn monthly(cost_usd: f64, requests: u64, mean_rate: f64) -> f64 {
    if requests == 0 {
        return 0.0;
    }
    cost_usd / requests as f64 * mean_rate * 30.0 * 86_400.0
}

pub use crate::measure::cost_usd as cost;

/// The content of `summary.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    /// False when the run was interrupted: the numbers cover only the part that ran.
    pub complete: bool,
    /// What the run came to, in the words of the exit-code table: `pass`, `fail`, `undecided`, `usage`,
    /// `generator-bound` or `interrupted` (absent before schema 3: `no-verdict`).
    #[serde(default)]
    pub outcome: crate::sla::Outcome,
    pub scenario: Scenario,
    /// UTC start time, RFC 3339.
    pub started_at: String,
    /// This run is shard I of N (`--shard I/N`): it sent every N-th request of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::profile::Shard>,
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
    /// Answers that lacked the served-by value although `served_by` is set: counted under `unknown`.
    #[serde(default)]
    pub served_by_missing: u64,
    /// Attempts by region of the tiers' endpoints (their own availability and latency).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<GroupSummary>,
    pub failover: FailoverSummary,
    /// Around each scheduled outage of a mock provider behind a tier.
    pub outages: Vec<OutageStats>,
    /// Failover episodes inferred from the requests themselves (no schedule needed), with the primary they
    /// were judged against. Empty for a merge of shards.
    #[serde(default)]
    pub failover_episodes: crate::measure::Episodes,
    /// Whether anything could fail over: several tiers, a served-by value, or answers from several upstreams.
    /// When false, `failover_episodes` holds error episodes and isolated errors only: nothing failed over.
    #[serde(default = "yes")]
    pub failover_possible: bool,
    /// Where the tail came from, read back from requests.parquet (absent without that file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<crate::requests::Tail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<StreamSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_budget: Option<ErrorBudget>,
    /// Requests that met `[sla] goodput`, when it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<super::goodput::GoodputSummary>,
    /// Input and output tokens delivered, and per second.
    #[serde(default)]
    pub tokens: super::goodput::TokensSummary,
    /// Conversations: sessions completed or broken, and latency by turn number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations: Option<super::sessions::ConversationSummary>,
    /// Requests whose client hung up on purpose, and the tokens generated for them after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellations: Option<crate::measure::Cancellations>,
    /// The `[[scrape]]` endpoints: scrapes, counters' increases over the run, and the reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_metrics: Option<crate::scrape::ServerMetrics>,
    /// How attempts began: each new connection's TCP connect (the lean path, HTTP/1.1 and HTTP/2, http:// and
    /// https://; reqwest, for a proxy, does not tell), and from sending to the answer's head, connecting
    /// included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<Percentiles>,
    /// Each new https connection's TLS handshake, after its connect (the lean path; absent through reqwest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ms: Option<Percentiles>,
    /// Connections opened by requests (timed in `connect_ms`), and before the run at its starting rate.
    #[serde(default)]
    pub connections_opened: u64,
    #[serde(default)]
    pub connections_preopened: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_ms: Option<Percentiles>,
    /// Under `load.max_connections` (or `load.streams_per_connection` over HTTP/2): each attempt's wait for a free
    /// connection (or stream) before it was sent, part of its latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_wait_ms: Option<Percentiles>,
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
        // stop, or until the last turn of a conversation was due when that came later). The run lasted that
        // long, or longer when answers came after it (closed loop, a slow target); achieved is what was sent
        // over that actual time.
        let planned_s = scenario.load.duration.map(|d| d.0.as_secs_f64() - warmup_s);
        let offered_s = match (facts.offered_s > 0.0, planned_s) {
            (true, _) => facts.offered_s,
            (false, Some(p)) => p,
            (false, None) => result.elapsed.as_secs_f64() - warmup_s,
        }
        .max(result.last_due.as_secs_f64() - warmup_s)
        .max(1e-9);
        let duration_s = (result.elapsed.as_secs_f64() - warmup_s).max(offered_s);
        let generator = Generator::of(result, &facts, scenario.load.connections.is_some(), scenario.load.max_in_flight);
        let tiers: Vec<TierSummary> = result
            .tiers
            .iter()
            .enumerate()
            .map(|(i, (name, t))| {
                TierSummary::of(name, t, facts.prices.get(i).copied().unwrap_or_default(), sent, &facts)
            })
            .collect();
        let total_usd: f64 = tiers.iter().map(|t| t.cost_usd).sum();
        let per_request = if sent > 0 { total_usd / sent as f64 } else { 0.0 };
        let f = &result.failover;
        Summary {
            schema_version: SCHEMA_VERSION,
            complete: facts.complete,
            outcome: match facts.complete {
                true => verdict.outcome(scenario.sla.insufficient_data == crate::scenario::InsufficientData::Pass),
                false => crate::sla::Outcome::Interrupted,
            },
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
            // A gateway that fails over internally without a marker: its failovers are inferred from who served,
            // and requests served by another upstream than the primary are not first-attempt successes.
            availability_before_failover: (c.total > 0).then(|| f.first_attempt_ok as f64 / c.total as f64),
            tiers,
            classes: result.classes.iter().map(|(n, g)| GroupSummary::of(n, g)).collect(),
            upstreams: result.upstreams.iter().map(|(n, g)| GroupSummary::of(n, g)).collect(),
            upstreams_beyond_cap: result.upstreams_beyond_cap,
            served_by_missing: result.served_by_missing,
            regions: result.regions.iter().map(|(n, g)| GroupSummary::of(n, g)).collect(),
            failover: FailoverSummary::of(f, sent, scenario.infers_failover()),
            outages: result.outages.clone(),
            failover_episodes: result.episodes.clone(),
            failover_possible: scenario.tiers.len() > 1 || scenario.served_by.is_some() || result.upstreams.len() > 1,
            tail: None,
            error_budget: scenario
                .sla
                .availability
                .filter(|_| c.judged() > 0)
                .map(|target| ErrorBudget::of(c, target.0)),
            streaming: (result.stream.requests > 0).then(|| StreamSummary::of(result)),
            goodput: super::goodput::GoodputSummary::of(result, scenario.sla.goodput, duration_s),
            tokens: super::goodput::TokensSummary::of(result, duration_s),
            conversations: super::sessions::ConversationSummary::of(result),
            cancellations: (result.cancellations.requests > 0).then(|| result.cancellations.clone()),
            server_metrics: None,
            connect_ms: (!result.phases.connect.is_empty()).then(|| Percentiles::of(&result.phases.connect)),
            tls_ms: (!result.phases.tls.is_empty()).then(|| Percentiles::of(&result.phases.tls)),
            connections_opened: result.phases.opened,
            connections_preopened: result.phases.preopened,
            headers_ms: (!result.phases.headers.is_empty()).then(|| Percentiles::of(&result.phases.headers)),
            connection_wait_ms: (!result.phases.wait.is_empty()).then(|| Percentiles::of(&result.phases.wait)),
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

impl TierSummary {
    fn of(
        name: &str,
        t: &crate::measure::TierStats,
        (price_in, price_out): (f64, f64),
        sent: u64,
        facts: &RunFacts,
    ) -> Self {
        let cost_usd = cost(t.prompt_tokens, t.completion_tokens, price_in, price_out);
        TierSummary {
            name: name.to_string(),
            attempts: t.attempts.counts,
            hedged_away: t.hedged_away,
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
            tokens_per_s: (t.decode_tokens > 0.0).then(|| t.decode_tokens / t.decode_time.as_secs_f64().max(1e-9)),
        }
    }
}

impl FailoverSummary {
    fn of(f: &crate::measure::FailoverStats, sent: u64, inferred: bool) -> Self {
        FailoverSummary {
            retried: f.retried,
            failed_over: f.failed_over,
            source: if inferred { "inferred" } else { "reported" }.into(),
            inferred: f.inferred,
            rescued: f.rescued,
            retry_rescued: f.retry_rescued,
            rate: if sent > 0 { f.failed_over as f64 / sent as f64 } else { 0.0 },
            reasons: f.reasons.clone(),
            added_latency_ms: Percentiles::of(&f.added),
            hedged: f.hedged,
            hedge_won: f.hedge_won,
            first_at_s: f.first_at.map(|t| t.as_secs_f64()),
            last_at_s: f.last_at.map(|t| t.as_secs_f64()),
        }
    }
}

impl ErrorBudget {
    /// The budget of an availability target over `c.total` requests (at least one).
    fn of(c: Counts, target: f64) -> Self {
        let judged = c.judged();
        let failures = judged - c.ok;
        let allowed_rate = (1.0 - target).max(1e-12);
        let allowed_failures = allowed_rate * judged as f64;
        ErrorBudget {
            allowed_failures,
            failures,
            consumed: failures as f64 / allowed_failures,
            burn_rate: (failures as f64 / judged.max(1) as f64) / allowed_rate,
        }
    }
}

impl StreamSummary {
    fn of(result: &RunResult) -> Self {
        let st = &result.stream;
        StreamSummary {
            requests: st.requests,
            ttft_ms: Percentiles::of(&st.ttft),
            ttft_from_send_ms: Percentiles::of(&st.ttft_from_send),
            headers_ms: Percentiles::of(&st.headers),
            inter_token_ms: Percentiles::of(&st.inter_token),
            tokens_received: st.tokens,
            tokens_per_s: st.decode_tokens / st.decode_time.as_secs_f64().max(1e-9),
            failures: result
                .errors
                .iter()
                .filter(|(k, _)| k.starts_with("stream "))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        }
    }
}

pub fn write_summary_json(dir: &Path, summary: &Summary) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("summary.json"), &json)
}

fn yes() -> bool {
    true
}

pub(super) fn is_zero(n: &u64) -> bool {
    *n == 0
}
