//! The terminal summary: by default what a person reads in ten seconds (the run, its counts, latency, service
//! time and lag, streams, routing in a line, what explains a miss or needs attention, the SLA table, the
//! verdict); with `--verbose` also the detail (connection phases, tier tables, every episode, the tail, the
//! error budget, cost and the machine). summary.json holds everything either way.

use super::*;

/// How much the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// What a person reads in ten seconds.
    #[default]
    Brief,
    /// Everything the terminal can say (`--verbose`).
    Verbose,
}

/// Observed episodes shown one by one by default; `--verbose` shows up to [`MAX_EPISODE_LINES`].
const BRIEF_EPISODES: usize = 3;
/// Tail findings shown by default, when a target was missed or undecided.
const BRIEF_TAIL: usize = 2;

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
pub fn terminal(summary: &Summary, results_dir: &Path, detail: Detail) -> String {
    let verbose = detail == Detail::Verbose;
    let mut out = String::new();
    headline(&mut out, summary);
    if verbose {
        phases(&mut out, summary);
    }
    streams(&mut out, summary, verbose);
    conversations(&mut out, summary, verbose);
    cancellations(&mut out, summary);
    let tokens = tokens_line(summary).filter(|_| verbose);
    for line in [goodput_line(summary), tokens].into_iter().flatten() {
        let _ = writeln!(out, "  {line}");
    }
    if verbose {
        out.push_str("  (latency counts from each request's intended send time; service time from the actual send)\n");
        routing(&mut out, summary);
    } else {
        routing_in_a_line(&mut out, summary);
    }
    server_metrics(&mut out, summary);
    let lines = if verbose { notes(summary) } else { attention(summary) };
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
    targets(&mut out, summary);
    let _ = writeln!(out, "\n  {}\n  results: {}", verdict_text(summary), results_dir.display());
    out
}

/// The run in a line, why achieved fell short of offered, its counts, errors, and latency, service time and lag.
fn headline(out: &mut String, summary: &Summary) {
    let c = &summary.counts;
    let _ = writeln!(
        out,
        "slacheck: {} — {} requests in {:.1}s (offered {:.1}/s, achieved {:.1}/s){}{}",
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
    if let Some(why) = achieved_below_offered(summary) {
        let _ = writeln!(out, "  {why}");
    }
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
}

/// Why the achieved rate (requests sent over the whole run) is below the offered one (requests over the
/// schedule): requests not sent, and the time the run went on after its schedule (the last answers, or sends
/// that ran late). None when the two read the same.
pub(super) fn achieved_below_offered(summary: &Summary) -> Option<String> {
    let (offered, achieved) = (summary.offered_rate_per_s, summary.achieved_rate_per_s);
    if format!("{achieved:.1}") == format!("{offered:.1}") || achieved > offered || offered <= 0.0 {
        return None;
    }
    let scheduled_s = summary.counts.total as f64 / offered;
    let after_s = summary.duration_s - scheduled_s;
    let mut why = Vec::new();
    if summary.counts.not_sent > 0 {
        why.push(format!("{} requests were not sent", summary.counts.not_sent));
    }
    if after_s > 0.0 {
        why.push(format!(
            "the run went on {} after its {} schedule, until the last answers came",
            fmt_seconds(after_s),
            fmt_seconds(scheduled_s)
        ));
    }
    if summary.generator.overloaded {
        why.push("the generator fell behind (the warning below)".into());
    }
    (!why.is_empty()).then(|| format!("achieved is below offered: {}", why.join("; ")))
}

/// How attempts began: connect, TLS and headers, and the connections opened.
fn phases(out: &mut String, summary: &Summary) {
    if let Some(p) = &summary.headers_ms {
        out.push_str(&percentile_line("headers", p));
    }
    if let Some(p) = &summary.connection_wait_ms {
        out.push_str(&percentile_line("conn wait", p));
        let _ = writeln!(
            out,
            "  (conn wait: for a free connection under load.max_connections, or HTTP/2 stream under \
             streams_per_connection, before the send)"
        );
    }
    if let Some(p) = &summary.connect_ms {
        out.push_str(&percentile_line("connect", p));
        if let Some(tls) = &summary.tls_ms {
            out.push_str(&percentile_line("tls", tls));
        }
        // Headers count fewer attempts than the tiers: an attempt that timed out or broke before its answer
        // began has no head.
        let heads = summary.headers_ms.as_ref().map_or(0, |h| h.count);
        let _ = writeln!(
            out,
            "  (connect: each of the {} connections opened during the run, not the {} opened before it; headers: \
             each of the {heads} attempts whose answer began, from send to answer head)",
            summary.connections_opened, summary.connections_preopened
        );
    }
}

/// Streamed answers: time to first token, between tokens, decode rate; with `verbose`, time to first token from
/// the actual send, and each tier's own figures when several stream.
fn streams(out: &mut String, summary: &Summary, verbose: bool) {
    let Some(st) = &summary.streaming else { return };
    out.push_str(&percentile_line("ttft", &st.ttft_ms));
    if verbose {
        out.push_str(&percentile_line("ttft/send", &st.ttft_from_send_ms));
    }
    out.push_str(&percentile_line("inter-tok", &st.inter_token_ms));
    let _ = writeln!(
        out,
        "  streams   {} answers, {} tokens, {:.0} tokens/s while decoding",
        st.requests, st.tokens_received, st.tokens_per_s
    );
    // With several tiers streaming, each one's own figures: providers differ most in these.
    let streaming: Vec<&TierSummary> = summary.tiers.iter().filter(|t| t.ttft_ms.is_some()).collect();
    if verbose && streaming.len() > 1 {
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

/// The scrapes, and the gateway's counters against slacheck's counts, with what does not agree.
fn server_metrics(out: &mut String, summary: &Summary) {
    for line in super::reconcile::scrape_lines(summary) {
        let _ = writeln!(out, "  {line}");
    }
    let rows = super::reconcile::rows(summary);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {:<11}{:>12}{:>12}{:>12}  selector", "reconcile", "gateway", "slacheck", "difference");
    for [name, gateway, slacheck, difference, selector] in rows {
        let _ = writeln!(out, "  {name:<11}{gateway:>12}{slacheck:>12}{difference:>12}  {selector}");
    }
    for line in super::reconcile::findings(summary) {
        let _ = writeln!(out, "  {line}");
    }
}

/// The most turn numbers shown as columns; summary.json has them all.
const TURN_COLUMNS: usize = 8;

/// Sessions, and with `verbose` by turn number their requests, latency, first token and input tokens.
fn conversations(out: &mut String, summary: &Summary, verbose: bool) {
    let Some(c) = &summary.conversations else { return };
    let s = &c.sessions;
    let _ = writeln!(
        out,
        "  sessions  {} started: {} completed, {} broken (a turn failed), {} cut (not sent, or stopped)",
        s.started, s.completed, s.broken, s.cut
    );
    if !verbose {
        return;
    }
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

/// Failover and who served, in one line, when the run routed or says who served.
fn routing_in_a_line(out: &mut String, summary: &Summary) {
    let served = served_by_shares(summary);
    if shows_routing(summary) {
        let f = &summary.failover;
        let served = served.map(|s| format!("; {s}")).unwrap_or_default();
        if f.failed_over == 0 {
            let _ = writeln!(out, "  failover  no request went to another tier{served}");
        } else {
            let rescued = if f.rescued == f.failed_over { "all".to_string() } else { f.rescued.to_string() };
            let _ = writeln!(
                out,
                "  failover  {} requests ({:.2}%) went to another tier, {rescued} rescued{served}",
                f.failed_over,
                f.rate * 100.0
            );
        }
    } else if let Some(line) = served {
        let _ = writeln!(out, "  {line}");
    }
}

/// Who served, most first, as shares: "served by default 78.3%, fallback 11.4%".
fn served_by_shares(summary: &Summary) -> Option<String> {
    served_by_list(summary, "served by ", |name, _, share| format!("{name} {share:.1}%"))
}

/// The tier table, failover, who served, regions, hedges and retry reasons, when the run routed.
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
            "  failover: {} requests ({:.2}%) went to another tier, {} rescued, {} saved by a retry on the same \
             tier; {}; availability before failover {}",
            f.failed_over,
            f.rate * 100.0,
            f.rescued,
            f.retry_rescued,
            added_latency_text(f),
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
            // Why an attempt was followed by another (on the same tier or the next): not only retries.
            let _ = writeln!(out, "  another attempt because: {}", list.join(", "));
        }
    }
    if let Some(line) = served_by_line(summary) {
        let _ = writeln!(out, "  {line}");
    }
}

/// What explains a miss or needs attention, one line each: a served-by value missing, scheduled outages and
/// observed episodes, where the tail came from when a target was missed or undecided, names beyond the cap, and
/// a generator that fell behind.
fn attention(summary: &Summary) -> Vec<String> {
    let mut lines: Vec<String> = served_by_missing_line(summary).map(|l| format!("WARNING: {l}")).into_iter().collect();
    lines.extend(summary.outages.iter().map(outage_line));
    let episodes: Vec<&crate::measure::Episode> =
        summary.failover_episodes.list.iter().filter(|e| !e.isolated).collect();
    lines.extend(episodes.iter().take(BRIEF_EPISODES).map(|e| episode_line(e, summary.failover_possible)));
    if episodes.len() > BRIEF_EPISODES {
        lines.push(format!("…and {} more observed episodes (--verbose lists them)", episodes.len() - BRIEF_EPISODES));
    }
    // Isolated anomalies next to an episode say how noisy the rest was; alone, the errors line counts them.
    if !episodes.is_empty() {
        lines.extend(isolated_line(summary, 3));
    }
    lines.extend(tail_explaining(summary).into_iter().take(BRIEF_TAIL));
    lines.extend(beyond_cap_line(summary));
    lines.extend(warnings(summary));
    lines
}

/// Where the tail came from, for the targets that were not met: the whole run's findings among the slow
/// requests when a latency target was missed or undecided, and among the failed ones when a share was.
fn tail_explaining(summary: &Summary) -> Vec<String> {
    let Some(tail) = &summary.tail else { return Vec::new() };
    let unmet: Vec<_> = summary.verdict.targets.iter().filter(|t| t.judgement != crate::sla::Judgement::Pass).collect();
    let slow = unmet.iter().any(|t| t.measured_ms.is_some());
    let failed = unmet.iter().any(|t| t.measured_ratio.is_some());
    let run = &tail.run;
    run.findings
        .iter()
        .filter(|f| (f.among == "slow" && slow) || (f.among == "failed" && failed))
        .map(|f| format!("tail, whole run: {}", finding_sentence(f, run, tail)))
        .collect()
}

/// Everything the terminal can say after the routing (`--verbose`).
fn notes(summary: &Summary) -> Vec<String> {
    let mut lines: Vec<String> = served_by_missing_line(summary).map(|l| format!("WARNING: {l}")).into_iter().collect();
    lines.extend(summary.outages.iter().map(outage_line));
    lines.extend(episode_lines(summary));
    lines.extend(tail_lines(summary));
    lines.extend(summary.error_budget.as_ref().map(error_budget_line));
    if summary.cost.total_usd > 0.0 {
        lines.push(format!(
            "cost: ${:.4} for this run, ${:.4} per 1,000 requests, ${:.2} a month at the profile's mean rate",
            summary.cost.total_usd, summary.cost.per_1000_requests_usd, summary.cost.monthly_usd
        ));
    }
    lines.extend(beyond_cap_line(summary));
    lines.extend(machine_line(summary));
    lines.extend(warnings(summary));
    lines
}

/// A generator that fell behind, certificates that were not verified, and `show` series that drew nothing: said
/// even under `--quiet`, whose one line would otherwise show a PASS that the run's own figures do not support.
pub fn warnings(summary: &Summary) -> Vec<String> {
    let mut lines = Vec::new();
    if summary.generator.overloaded {
        lines.push(format!("WARNING: {}", generator_warning(summary)));
    }
    lines.extend(connection_cap_note(summary).map(|n| format!("note: {n}")));
    if !summary.scenario.target.tls_verify {
        lines.push(
            "WARNING: TLS certificates were not verified ([target] tls_verify = false): any server could have \
             answered for the target"
                .into(),
        );
    }
    lines.extend(super::shown::warnings(summary).into_iter().map(|w| format!("WARNING: {w}")));
    lines
}

/// Served-by names past the cap, counted together.
fn beyond_cap_line(summary: &Summary) -> Option<String> {
    (summary.upstreams_beyond_cap > 0).then(|| {
        format!(
            "note: the served-by value had more than {} distinct names; {} requests of later names are counted \
             under \"{}\"",
            crate::measure::MAX_UPSTREAMS,
            summary.upstreams_beyond_cap,
            crate::measure::OTHER_UPSTREAMS
        )
    })
}

/// The generator's machine: CPU used, load, the open-files limit, and the lag limit.
fn machine_line(summary: &Summary) -> Option<String> {
    let g = &summary.generator;
    let m = g.machine.as_ref()?;
    let load = m.load_average.map(|l| format!(", load average {l:.1}")).unwrap_or_default();
    let files = m.open_files.map(|f| format!(", open-files limit {} (hard {})", f.soft, f.hard)).unwrap_or_default();
    Some(format!(
        "machine: the generator used {:.1} of {} CPU cores over {}{load}{files}; {} requests sent more than {} late",
        m.cores_used(),
        m.cores,
        fmt_seconds(m.wall_s),
        g.lagging,
        fmt_ms(g.lag_limit_ms)
    ))
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
            if let Some(why) = generator_remark(t) {
                let _ = writeln!(out, "     {why}");
            }
        }
    }
}
