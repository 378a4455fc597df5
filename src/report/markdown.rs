//! `summary.md`: the Markdown summary for `$GITHUB_STEP_SUMMARY` or a pull-request comment.

use super::*;

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
    warnings(&mut out, summary);
    targets(&mut out, summary);
    latency(&mut out, summary);
    routing(&mut out, summary);
    notes(&mut out, summary);
    slowest(&mut out, summary);
    out
}

/// An interrupted run, and a generator that fell behind.
fn warnings(out: &mut String, summary: &Summary) {
    if !summary.complete {
        out.push_str("> ⚠️ The run was interrupted: these numbers cover only the part that ran.\n\n");
    }
    if summary.generator.overloaded {
        let _ = writeln!(out, "> ⚠️ {}\n", generator_warning(summary));
    }
}

/// The SLA targets: limit, measurement, interval, judgement, and what more to know.
fn targets(out: &mut String, summary: &Summary) {
    if !summary.verdict.targets.is_empty() {
        out.push_str("| SLA target | limit | measured | 95% interval | | |\n|---|---:|---:|---:|:-:|---|\n");
        for t in &summary.verdict.targets {
            let (limit, measured) = target_cells(t);
            let mark = judgement_mark(t.judgement).1;
            let remark = target_remark(t).unwrap_or_default();
            let _ = writeln!(out, "| {} | {limit} | {measured} | {} | {mark} | {remark} |", t.name, interval_cell(t));
        }
        out.push('\n');
    }
}

/// Latency, service time and lag, and the counts.
fn latency(out: &mut String, summary: &Summary) {
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
    for line in [goodput_line(summary), tokens_line(summary)].into_iter().flatten() {
        let _ = writeln!(out, "\n{}.", capitalized(&line));
    }
}

/// The tier table and failover, when the run routed.
fn routing(out: &mut String, summary: &Summary) {
    if shows_routing(summary) {
        let _ = writeln!(out, "\n| {} |\n|---|---:|---:|---:|---:|---:|---:|", TIER_HEADINGS.join(" | "));
        for t in &summary.tiers {
            let _ = writeln!(out, "| {} |", tier_cells(t).join(" | "));
        }
        let f = &summary.failover;
        let _ = writeln!(
            out,
            "\nFailover: {} requests ({:.2}%), {} rescued, {} saved by a retry on the same tier; added latency p99 {}.",
            f.failed_over,
            f.rate * 100.0,
            f.rescued,
            f.retry_rescued,
            fmt_ms(f.added_latency_ms.p99)
        );
    }
}

/// Outages and the error budget, as a list.
fn notes(out: &mut String, summary: &Summary) {
    if let Some(line) = served_by_missing_line(summary) {
        let _ = writeln!(out, "\n> ⚠️ {line}");
    }
    let notes: Vec<String> = served_by_line(summary)
        .into_iter()
        .chain(summary.outages.iter().map(outage_line))
        .chain(episode_lines(summary))
        .chain(tail_lines(summary))
        .chain(summary.error_budget.as_ref().map(error_budget_line))
        .map(|line| format!("- {}", capitalized(&line)))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\n{}", notes.join("\n"));
    }
}

/// The slowest requests, with what requests.parquet records of them and the id to find them by.
fn slowest(out: &mut String, summary: &Summary) {
    let Some(tail) = summary.tail.as_ref().filter(|t| !t.slowest.is_empty()) else { return };
    let _ = writeln!(
        out,
        "\n| slowest requests | latency | outcome | class | tier | upstream | region | attempts | request id |\n\
         |---|---:|---|---|---|---|---|---:|---|"
    );
    for r in &tail.slowest {
        let _ = writeln!(
            out,
            "| #{} at {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.request,
            fmt_seconds(r.intended_ms / 1000.0),
            fmt_ms(r.latency_ms),
            r.outcome,
            r.class,
            r.tier.as_deref().unwrap_or("-"),
            r.upstream,
            r.region.as_deref().unwrap_or("-"),
            r.attempts,
            r.request_id.as_deref().unwrap_or("-")
        );
    }
}
