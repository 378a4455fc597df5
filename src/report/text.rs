//! What every text output shares: how numbers, targets, tiers and the verdict read.

use super::*;

pub(super) use crate::units::fmt_seconds;

/// What a target's row adds after its numbers: how many more requests would settle it, and what the verdict rests
/// on (the worst window or episode, or that there was nothing to measure: "no failover episode" beside a ✓ and a
/// 0). A generator-bound target's note is [`generator_remark`]'s.
pub(super) fn target_remark(t: &crate::sla::TargetResult) -> Option<String> {
    let more = t.more_requests.map(|m| format!("≈{m} more requests would settle it"));
    let window = t.note.as_ref().filter(|_| !t.generator_bound).map(|note| format!("({note})"));
    match (more, window) {
        (Some(m), Some(w)) => Some(format!("{m}  {w}")),
        (m, w) => m.or(w),
    }
}

/// Why a missed target is the generator's, not the target's: the one thing a reader must know before blaming
/// the target.
pub(super) fn generator_remark(t: &crate::sla::TargetResult) -> Option<String> {
    t.note.as_ref().filter(|_| t.generator_bound).map(|why| format!("the generator's: {why}"))
}

/// Who served the requests, most first, when the run says who (served-by is set, or more than one upstream).
pub(super) fn served_by_line(summary: &Summary) -> Option<String> {
    served_by_list(summary, "served by: ", |name, n, share| format!("{name} {n} ({share:.1}%)"))
}

/// "served by" `lead`, then each upstream as `item` writes it (name, requests, percent of those sent), most
/// first; what the shares are of when some requests were never sent (a request never sent went to no one); and
/// the gateway's failed attempts. None when the run does not say who served.
pub(super) fn served_by_list(summary: &Summary, lead: &str, item: fn(&str, u64, f64) -> String) -> Option<String> {
    if summary.scenario.served_by.is_none() && summary.upstreams.len() < 2 {
        return None;
    }
    let mut groups: Vec<&GroupSummary> = summary.upstreams.iter().collect();
    groups.sort_by(|a, b| b.counts.total.cmp(&a.counts.total).then(a.name.cmp(&b.name)));
    let sent: u64 = groups.iter().map(|g| g.counts.total).sum();
    let share = |n: u64| n as f64 * 100.0 / sent.max(1) as f64;
    let list: Vec<String> = groups.iter().map(|g| item(&g.name, g.counts.total, share(g.counts.total))).collect();
    let of_the_sent = match summary.counts.not_sent {
        0 => String::new(),
        _ => format!(" (shares of the {sent} requests sent)"),
    };
    let attempts = failed_attempts_note(summary).unwrap_or_default();
    Some(format!("{lead}{}{of_the_sent}{attempts}", list.join(", ")))
}

/// The attempts a gateway's served-by list reported failing on each upstream before another served, as a
/// sentence's end: "; failed attempts before another upstream served: A 200".
pub(super) fn failed_attempts_note(summary: &Summary) -> Option<String> {
    let failed: Vec<String> = summary
        .upstreams
        .iter()
        .filter(|g| g.failed_attempts > 0)
        .map(|g| format!("{} {}", g.name, g.failed_attempts))
        .collect();
    (!failed.is_empty()).then(|| format!("; failed attempts before another upstream served: {}", failed.join(", ")))
}

/// Answers that came without the served-by value: said, never hidden under the target's name.
pub(super) fn served_by_missing_line(summary: &Summary) -> Option<String> {
    let source = match summary.scenario.served_by.as_ref()?.source()? {
        crate::scenario::ServedBy::Header(h) => format!("header `{h}`"),
        crate::scenario::ServedBy::Json(p) => format!("JSON field `{p}`"),
    };
    (summary.served_by_missing > 0).then(|| {
        format!(
            "{} answers (of {} requests) carried no served-by value ({source}); they are counted as `{}`. Check \
             the name: a gateway may rename the header.",
            summary.served_by_missing,
            summary.counts.total,
            crate::measure::UNKNOWN_UPSTREAM
        )
    })
}

/// Where the tail came from: the values over-represented among the slow and the failed requests, for the run
/// and its worst window, one sentence each; or that nothing stood out.
pub(super) fn tail_lines(summary: &Summary) -> Vec<String> {
    let Some(tail) = &summary.tail else { return Vec::new() };
    let mut lines = Vec::new();
    let scopes = [Some(&tail.run), tail.worst_window.as_ref()];
    for scope in scopes.into_iter().flatten() {
        let label = match (scope.start_ms, scope.end_ms) {
            (Some(a), Some(b)) => format!(
                "worst window {}..{} ({})",
                fmt_seconds(a / 1000.0),
                fmt_seconds(b / 1000.0),
                scope.why.as_deref().unwrap_or("")
            ),
            _ => "whole run".into(),
        };
        for f in &scope.findings {
            lines.push(format!("tail, {label}: {}", finding_sentence(f, scope, tail)));
        }
        if scope.findings.is_empty() && scope.slow + scope.failed > 0 {
            lines.push(format!(
                "tail, {label}: no tier, upstream, region, class or status stands out among {} slow and {} failed requests",
                scope.slow, scope.failed
            ));
        }
    }
    lines
}

/// "94% of the 120 requests over 800 ms (the p99 limit) were served by `mid`, which served 11% of all traffic".
pub(super) fn finding_sentence(
    f: &crate::requests::Finding,
    scope: &crate::requests::Scope,
    tail: &crate::requests::Tail,
) -> String {
    let which = match f.among.as_str() {
        "slow" => format!("the {} requests over {} ({})", scope.slow, fmt_ms(tail.slow_over_ms), tail.slow_rule),
        _ => format!("the {} failed requests", scope.failed),
    };
    let (did, had) = match f.dimension.as_str() {
        "upstream" => ("were served by", "served"),
        "tier" => ("ended on tier", "took"),
        "region" => ("went to region", "took"),
        "class" => ("were of class", "was"),
        _ => ("ended with", "was"),
    };
    // A status reads as the errors line has it ("status 500"); a failure without one is named by its outcome.
    let value = match f.value.parse::<u16>() {
        Ok(status) if f.dimension == "status" => format!("status {status}"),
        _ => format!("`{}`", f.value),
    };
    // A window's finding is against the window's traffic, not the run's.
    let traffic = if scope.start_ms.is_some() { "the window's traffic" } else { "all traffic" };
    format!("{} of {which} {did} {value}, which {had} {} of {traffic}", fmt_share(f.share), fmt_share(f.traffic_share))
}

/// A share as a whole percentage, or with two significant digits below 1% (one request in 12,888 is "0.0078%",
/// not "0%").
fn fmt_share(share: f64) -> String {
    let percent = share * 100.0;
    if percent >= 1.0 || percent <= 0.0 {
        return format!("{percent:.0}%");
    }
    let decimals = (1.0 - percent.log10().floor()) as usize;
    format!("{percent:.decimals$}%")
}

/// What failover cost in time: the attempts before the serving one, over the requests served after more than one
/// attempt (a retry on the same tier, or another tier). The max is there because a latency-budget retry can add
/// seconds to a handful of requests that p99 of a few thousand does not show.
pub(super) fn added_latency_text(f: &FailoverSummary) -> String {
    let added = &f.added_latency_ms;
    if added.count == 0 {
        return "no request was served after a failed attempt".into();
    }
    format!(
        "the attempts before the serving one added p50 {} p99 {} max {} to the {} requests served after more than \
         one attempt",
        fmt_ms(added.p50),
        fmt_ms(added.p99),
        fmt_ms(added.max),
        added.count
    )
}

/// The availability target's error budget: how much of it the run used, and how fast.
pub(super) fn error_budget_line(b: &ErrorBudget) -> String {
    format!(
        "error budget: {} failures of {} allowed ({:.0}% used), burn rate {:.2}× the allowed pace",
        b.failures,
        // A whole number of failures reads as one ("176", not "176.0"); 99.9% of 11,300 allows 11.3.
        format!("{:.1}", b.allowed_failures).trim_end_matches(".0"),
        b.consumed * 100.0,
        b.burn_rate
    )
}

/// A ratio as a percentage with three decimals, or "n/a".
pub(super) fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|a| format!("{:.3}%", a * 100.0)).unwrap_or_else(|| "n/a".into())
}

/// Whether a run routed through tiers or retried, so its tier table is worth showing.
pub(super) fn shows_routing(summary: &Summary) -> bool {
    summary.tiers.len() > 1 || summary.failover.retried > 0 || summary.failover.hedged > 0
}

/// The cells of a tier's table row: name, attempts, availability, served, p50, p99, cost.
pub(super) fn tier_cells(t: &TierSummary) -> [String; 7] {
    let latency = |v: f64| if t.attempt_latency_ms.count == 0 { "n/a".to_string() } else { fmt_ms(v) };
    [
        t.name.clone(),
        match t.hedged_away {
            0 => t.attempts.total.to_string(),
            n => format!("{} ({n} hedged away)", t.attempts.total + n),
        },
        fmt_ratio(t.availability),
        t.served.to_string(),
        latency(t.attempt_latency_ms.p50),
        latency(t.attempt_latency_ms.p99),
        format!("${:.4}", t.cost_usd),
    ]
}

/// Per attempt but for `served` and `cost`: "attempts ok" is the tier's availability as the provider delivered
/// it, before failover, not the run's availability per request.
pub(super) const TIER_HEADINGS: [&str; 7] =
    ["tier", "attempts", "attempts ok", "served", "attempt p50", "attempt p99", "cost"];

/// The generator fell behind: by how much, and the hint that fits the evidence.
pub(super) fn generator_warning(summary: &Summary) -> String {
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

/// Requests waited for one of `load.max_connections`' connections (over HTTP/2, for one of their streams, or of
/// `load.streams_per_connection`'s on its one connection): that wait is in their latency, and it is the cap's
/// (the generator's), not the target's. None when nothing waited a millisecond at p99.
pub(super) fn connection_cap_note(summary: &Summary) -> Option<String> {
    let wait = summary.connection_wait_ms.as_ref().filter(|w| w.p99 >= 1.0)?;
    let load = &summary.scenario.load;
    let what = match (load.max_connections, load.streams_per_connection) {
        (Some(cap), None) => format!("one of load.max_connections' {cap} connections"),
        (Some(cap), Some(s)) => format!("one of the {} streams of load.max_connections' {cap} connections", cap * s),
        (None, Some(s)) => format!("one of load.streams_per_connection's {s} streams on its connection"),
        (None, None) => return None,
    };
    Some(format!(
        "requests waited for {what} (wait p99 {}, max {}): that wait is in their latency, and comes from the cap, \
         not from the target",
        fmt_ms(wait.p99),
        fmt_ms(wait.max)
    ))
}

/// ✓/✗/? for a terminal, ✅/❌/⚠️ for Markdown.
pub(super) fn judgement_mark(j: crate::sla::Judgement) -> (&'static str, &'static str) {
    match j {
        crate::sla::Judgement::Pass => ("✓", "✅"),
        crate::sla::Judgement::Fail => ("✗", "❌"),
        crate::sla::Judgement::InsufficientData => ("?", "⚠️"),
    }
}

/// A target's 95% interval: of the ratio, or of the percentile's value (open above when unbounded).
pub(super) fn interval_cell(t: &crate::sla::TargetResult) -> String {
    match (t.interval, t.measured_ratio.is_some()) {
        (Some((lo, Some(hi))), true) => format!("[{}, {}]", fmt_ratio(Some(lo)), fmt_ratio(Some(hi))),
        (Some((lo, Some(hi))), false) => format!("[{}, {}]", fmt_ms(lo), fmt_ms(hi)),
        (Some((lo, None)), _) => format!("[{}, ∞)", fmt_ms(lo)),
        (None, _) => String::new(),
    }
}

/// The run's one-line verdict: the targets' ([`targets_verdict_text`]), after "INTERRUPTED" when a signal
/// stopped the run, so that the numbers of a part never read as a pass of the whole (the exit code is the signal's).
pub fn verdict_text(summary: &Summary) -> String {
    let verdict = targets_verdict_text(&summary.verdict);
    if summary.complete {
        verdict
    } else {
        format!("INTERRUPTED before its schedule ended; on the part that ran: {verdict}")
    }
}

/// The targets' one-line verdict: PASS, FAIL, UNDECIDED or GENERATOR-BOUND, the exit-code table's words.
pub fn targets_verdict_text(v: &crate::sla::Verdict) -> String {
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
        let holds = if failed == 1 { "it holds" } else { "each holds" };
        format!(
            "GENERATOR-BOUND: {failed} of {n} SLA targets missed, but {holds} without what the generator added \
             (its lag, the requests it never sent, or its in-process mock's lateness): the generator's own limits \
             explain the result, not the target"
        )
    } else if failed > 0 {
        format!("FAIL: {failed} of {n} SLA targets missed")
    } else if !undecided.is_empty() {
        // A longer run settles a run-wide target; a window target needs more requests in each window instead.
        let more = |per_window: bool| {
            undecided.iter().filter(|t| t.is_per_window() == per_window).filter_map(|t| t.more_requests).max()
        };
        let hint = match (more(false), more(true)) {
            (Some(m), None) => format!("; about {m} more requests (a longer run) would settle them"),
            (None, Some(w)) => format!(
                "; about {w} more requests in each window (a higher rate, or a wider `[sla] window`) would settle them"
            ),
            (Some(m), Some(w)) => format!(
                "; about {m} more requests (a longer run), and {w} more in each window (a higher rate, or a wider \
                 `[sla] window`), would settle them"
            ),
            (None, None) => String::new(),
        };
        format!("UNDECIDED: {} of {n} SLA targets could not be decided (insufficient data){hint}", undecided.len())
    } else {
        format!("PASS: all {n} SLA targets held")
    }
}

/// How a target reads in a table: (limit, measured).
pub(super) fn target_cells(t: &crate::sla::TargetResult) -> (String, String) {
    if let Some(count) = t.measured_count {
        return (format!("≤ {}", t.limit), count.to_string());
    }
    match (t.measured_ratio, t.measured_ms) {
        (Some(r), _) => (format!("≥ {}", t.limit), fmt_ratio(Some(r))),
        (_, Some(m)) => (format!("≤ {}", t.limit), fmt_ms(m)),
        _ => (t.limit.clone(), "no data".into()),
    }
}

pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// Goodput in a line: the share and rate of requests that met every objective, and the objectives.
pub(super) fn goodput_line(summary: &Summary) -> Option<String> {
    let g = summary.goodput.as_ref()?;
    let o = &g.objectives;
    let objectives: Vec<String> = [("ttft", o.ttft), ("inter-token", o.inter_token), ("latency", o.latency)]
        .into_iter()
        .filter_map(|(name, limit)| limit.map(|l| format!("{name} ≤ {l}")))
        .collect();
    Some(format!(
        "goodput {} of {} requests ({:.1} good requests/s) succeeded with {}",
        fmt_ratio(g.ratio),
        g.total,
        g.per_s,
        objectives.join(", ")
    ))
}

/// Tokens in a line, when any were counted.
pub(super) fn tokens_line(summary: &Summary) -> Option<String> {
    let t = &summary.tokens;
    (t.input + t.output > 0).then(|| {
        format!(
            "tokens in {} ({:.0} tokens/s), out {} ({:.0} tokens/s)",
            t.input, t.input_per_s, t.output, t.output_per_s
        )
    })
}

/// `line` with its first letter in capitals, for a sentence.
pub(super) fn capitalized(line: &str) -> String {
    let mut chars = line.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    format!("{first}{}", chars.as_str())
}
