//! `summary.md`: the Markdown summary for `$GITHUB_STEP_SUMMARY` or a pull-request comment.

use super::measured::{percentile_cells, table, Align::*, PERCENTILE_HEADS};
use super::*;

/// `summary.md`: a compact Markdown report for `$GITHUB_STEP_SUMMARY` or a pull-request comment.
pub fn markdown(summary: &Summary) -> String {
    let mut out = String::new();
    let text = verdict_text(summary);
    let verdict = if summary.verdict.targets.is_empty() {
        text
    } else if summary.verdict.failed().count() > 0 {
        format!("❌ {text}")
    } else if !summary.complete || summary.verdict.insufficient_data {
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
    reconciliation(&mut out, summary);
    slowest(&mut out, summary);
    // Each part ends with an empty line, or starts with one: one is enough.
    while out.contains("\n\n\n") {
        out = out.replace("\n\n\n", "\n\n");
    }
    out
}

/// The scrapes, and the gateway's counters against slacheck's counts.
fn reconciliation(out: &mut String, summary: &Summary) {
    let scrapes = super::reconcile::scrape_lines(summary);
    let rows = super::reconcile::rows(summary);
    if scrapes.is_empty() && rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n#### The gateway's metrics\n");
    for line in scrapes {
        let _ = writeln!(out, "- {line}");
    }
    if !rows.is_empty() {
        let _ = writeln!(out, "\n| counted | gateway | slacheck | difference | selector |\n|---|---:|---:|---:|---|");
        for [name, gateway, slacheck, difference, selector] in rows {
            let _ = writeln!(out, "| {name} | {gateway} | {slacheck} | {difference} | `{selector}` |");
        }
    }
    for line in super::reconcile::findings(summary) {
        let _ = writeln!(out, "\n**{line}**");
    }
}

/// An interrupted run, and a generator that fell behind.
fn warnings(out: &mut String, summary: &Summary) {
    if !summary.complete {
        out.push_str("> ⚠️ The run was interrupted: these numbers cover only the part that ran.\n\n");
    }
    if summary.generator.overloaded {
        let _ = writeln!(out, "> ⚠️ {}\n", generator_warning(summary));
    }
    if let Some(note) = connection_cap_note(summary) {
        let _ = writeln!(out, "> {note}\n");
    }
    for warning in super::shown::warnings(summary) {
        let _ = writeln!(out, "> ⚠️ {warning}\n");
    }
}

/// The SLA targets: limit, measurement, interval, judgement, and what more to know.
fn targets(out: &mut String, summary: &Summary) {
    let rows: Vec<Vec<String>> = summary
        .verdict
        .targets
        .iter()
        .map(|t| {
            let (limit, measured) = target_cells(t);
            let mark = judgement_mark(t.judgement).1.to_string();
            let remarks: Vec<String> = target_remark(t).into_iter().chain(generator_remark(t)).collect();
            vec![t.name.clone(), limit, measured, interval_cell(t), mark, remarks.join("; ")]
        })
        .collect();
    let heads = [("SLA target", L), ("limit", R), ("measured", R), ("95% interval", R), ("verdict", C), ("note", L)];
    table(out, &heads, &rows);
}

/// Latency, service time and lag (and how attempts began, when the client timed it), the counts, the errors,
/// and for streamed answers, goodput and tokens their own tables.
fn latency(out: &mut String, summary: &Summary) {
    // Each phase row says what it counts: attempts, or new connections (far fewer, and mostly at the start).
    let phases = [
        ("headers", "attempts whose answer began, from send to answer head", &summary.headers_ms),
        ("wait for a connection", "attempts, under max_connections", &summary.connection_wait_ms),
        ("TCP connect", "new connections", &summary.connect_ms),
        ("TLS handshake", "new connections", &summary.tls_ms),
    ];
    let rows = [
        ("latency", &summary.latency_ms),
        ("service time", &summary.service_time_ms),
        ("dispatcher lag", &summary.lag_ms),
    ]
    .into_iter()
    .map(|(label, p)| percentile_cells(label, p))
    .chain(
        phases
            .into_iter()
            .filter_map(|(name, of, p)| p.as_ref().map(|p| percentile_cells(&format!("{name} ({} {of})", p.count), p))),
    )
    .collect::<Vec<_>>();
    table(out, &PERCENTILE_HEADS, &rows);
    let c = &summary.counts;
    let _ = writeln!(
        out,
        "{} requests in {:.1} s (offered {:.1}/s, achieved {:.1}/s): {} ok, {} errors, {} timeouts, {} not sent{}; \
         availability {}.",
        c.total,
        summary.duration_s,
        summary.offered_rate_per_s,
        summary.achieved_rate_per_s,
        c.ok,
        c.error,
        c.timeout,
        c.not_sent,
        // The five add up to the total: a hang-up on purpose is counted, and is neither ok nor failed.
        if c.cancelled > 0 {
            format!(", {} hung up on purpose (cancelled, not judged)", c.cancelled)
        } else {
            String::new()
        },
        fmt_ratio(summary.availability)
    );
    if !summary.errors.is_empty() {
        let list: Vec<String> = summary.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(
            out,
            "
Errors: {}.",
            list.join(", ")
        );
    }
    out.push('\n');
    super::measured::streams(out, summary);
    super::measured::goodput(out, summary);
    super::measured::tokens(out, summary);
    super::measured::conversations(out, summary);
    super::measured::hang_ups(out, summary);
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
            "\nFailover: {} requests ({:.2}%) went to another tier, {} rescued, {} saved by a retry on the same tier; {}; \
             availability before failover {}.",
            f.failed_over,
            f.rate * 100.0,
            f.rescued,
            f.retry_rescued,
            added_latency_text(f),
            fmt_ratio(summary.availability_before_failover)
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
    let rows: Vec<Vec<String>> = tail
        .slowest
        .iter()
        .map(|r| {
            vec![
                format!("#{} at {}", r.request, fmt_seconds(r.intended_ms / 1000.0)),
                fmt_ms(r.latency_ms),
                r.outcome.clone(),
                r.class.clone(),
                r.tier.clone().unwrap_or_default(),
                r.upstream.clone(),
                r.region.clone().unwrap_or_default(),
                r.attempts.to_string(),
                r.request_id.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.push('\n');
    let heads = [
        ("slowest requests", L),
        ("latency", R),
        ("outcome", L),
        ("class", L),
        ("tier", L),
        ("upstream", L),
        ("region", L),
        ("attempts", R),
        ("request id", L),
    ];
    table(out, &heads, &rows);
}
