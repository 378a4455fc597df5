//! The terminal summary.

use super::*;

pub(super) fn percentile_line(label: &str, p: &Percentiles) -> String {
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
    headline(&mut out, summary);
    streams(&mut out, summary);
    conversations(&mut out, summary);
    cancellations(&mut out, summary);
    for line in [goodput_line(summary), tokens_line(summary)].into_iter().flatten() {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str("  (latency counts from each request's intended send time; service time from the actual send)\n");
    routing(&mut out, summary);
    notes(&mut out, summary);
    targets(&mut out, summary);
    let _ = writeln!(out, "\n  {}\n  results: {}", verdict_text(&summary.verdict), results_dir.display());
    out
}

/// The run in a line, its counts, errors, and latency, service time and lag.
fn headline(out: &mut String, summary: &Summary) {
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
    let cancelled = if c.cancelled > 0 { format!("  cancelled {}", c.cancelled) } else { String::new() };
    let _ = writeln!(
        out,
        "  requests  ok {}  error {}  timeout {}  not sent {}{cancelled}  availability {}",
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
    if let Some(p) = &summary.headers_ms {
        out.push_str(&percentile_line("headers", p));
    }
    if let Some(p) = &summary.connect_ms {
        out.push_str(&percentile_line("connect", p));
        if let Some(tls) = &summary.tls_ms {
            out.push_str(&percentile_line("tls", tls));
        }
        let _ = writeln!(
            out,
            "  (connect: each of the {} connections requests opened, {} more before the run; headers: send to \
             answer head)",
            summary.connections_opened, summary.connections_preopened
        );
    }
}

/// Streamed answers: time to first token, between tokens, decode rate; per tier when several stream.
fn streams(out: &mut String, summary: &Summary) {
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
}

/// Requests whose client hung up, and the tokens generated for them after it.
fn cancellations(out: &mut String, summary: &Summary) {
    let Some(c) = &summary.cancellations else { return };
    let after = match c.tokens_after {
        Some(n) => format!("{n} more generated that no client received ({} requests counted)", c.measured),
        None => "tokens generated after them unknown (no provider's count)".into(),
    };
    let _ = writeln!(
        out,
        "  hang-ups  {} ({} before a first token), {} tokens received; {after}",
        c.requests, c.before_first_token, c.tokens_received
    );
}

/// The most turn numbers shown as columns; summary.json has them all.
const TURN_COLUMNS: usize = 8;

/// Sessions, and by turn number their requests, latency, first token and input tokens.
fn conversations(out: &mut String, summary: &Summary) {
    let Some(c) = &summary.conversations else { return };
    let s = &c.sessions;
    let _ = writeln!(
        out,
        "  sessions  {} started: {} completed, {} broken (a turn failed), {} cut (not sent, or stopped)",
        s.started, s.completed, s.broken, s.cut
    );
    let turns = &c.turns[..c.turns.len().min(TURN_COLUMNS)];
    let row = |label: &str, cell: &dyn Fn(&super::sessions::TurnSummary) -> String| {
        let cells: String = turns.iter().map(|t| format!("{:>9}", cell(t))).collect();
        format!("  {label:<13}{cells}\n")
    };
    out.push_str(&row("turn", &|t| format!("{}{}", t.turn, if t.and_later { "+" } else { "" })));
    out.push_str(&row("requests", &|t| t.requests.to_string()));
    out.push_str(&row("latency p50", &|t| fmt_ms(t.latency_ms.p50)));
    if turns.iter().any(|t| t.ttft_ms.is_some()) {
        out.push_str(&row("ttft p50", &|t| t.ttft_ms.as_ref().map_or("-".into(), |p| fmt_ms(p.p50))));
    }
    if turns.iter().any(|t| t.input_tokens_mean.is_some()) {
        out.push_str(&row("input tokens", &|t| t.input_tokens_mean.map_or("-".into(), |n| format!("{n:.0}"))));
    }
    if c.turns.len() > TURN_COLUMNS {
        let _ = writeln!(out, "  (turns past {TURN_COLUMNS}: summary.json `conversations.turns`)");
    }
}

/// The tier table, failover, regions, hedges and retry reasons, when the run routed.
fn routing(out: &mut String, summary: &Summary) {
    if shows_routing(summary) {
        out.push('\n');
        for cells in std::iter::once(TIER_HEADINGS.map(String::from)).chain(summary.tiers.iter().map(tier_cells)) {
            let [name, rest @ ..] = cells;
            let _ = write!(out, "  {name:<12}");
            for cell in rest {
                let _ = write!(out, " {cell:>12}");
            }
            out.push('\n');
        }
        let f = &summary.failover;
        let _ = writeln!(
            out,
            "  failover: {} requests ({:.2}%), {} rescued, {} saved by a retry on the same tier; added latency p50 {} \
             p99 {}; availability before failover {}",
            f.failed_over,
            f.rate * 100.0,
            f.rescued,
            f.retry_rescued,
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
}

/// Outages, the error budget, cost, and what the reader should know about the generator.
fn notes(out: &mut String, summary: &Summary) {
    if let Some(line) = served_by_line(summary) {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(line) = served_by_missing_line(summary) {
        let _ = writeln!(out, "  WARNING: {line}");
    }
    for o in &summary.outages {
        let _ = writeln!(out, "  {}", outage_line(o));
    }
    for line in episode_lines(summary).into_iter().chain(tail_lines(summary)) {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(b) = &summary.error_budget {
        let _ = writeln!(out, "  {}", error_budget_line(b));
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
    if !summary.scenario.target.tls_verify {
        let _ = writeln!(
            out,
            "  WARNING: TLS certificates were not verified ([target] tls_verify = false): any server could have \
             answered for the target"
        );
    }
}

/// The SLA targets, each with its limit, measurement and interval.
fn targets(out: &mut String, summary: &Summary) {
    if !summary.verdict.targets.is_empty() {
        // The name column fits the longest name ("availability in every window", a scoped target's).
        let width = summary.verdict.targets.iter().map(|t| t.name.chars().count() + 1).max().unwrap_or(0).max(22);
        let _ = writeln!(
            out,
            "\n  {:<3}{:<width$}{:>12}{:>12}{:>26}",
            "", "SLA target", "limit", "measured", "95% interval"
        );
        for t in &summary.verdict.targets {
            let (limit, measured) = target_cells(t);
            let more = match target_remark(t) {
                Some(remark) => format!("  {remark}"),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<3}{:<width$}{limit:>12}{measured:>12}{:>26}{more}",
                judgement_mark(t.judgement).0,
                t.name,
                interval_cell(t)
            );
        }
    }
}
