//! How failover reads, in the README's one vocabulary ("Failover, in words"), for the terminal and summary.md:
//!
//! - a **scheduled outage** is a window of a mock provider's schedule; what happened in it is measured against
//!   the schedule: requests due, how many went to another tier and how soon after it began, user-visible
//!   failures, and how soon after it ended its tier served again;
//! - an **observed episode** is inferred from the answers alone; each has one **time to failover**, one
//!   **error burst** and one **time to recover**;
//! - a lone anomalous request is an **isolated anomaly**, and in a run that cannot fail over (one tier, no
//!   served-by) an **isolated error**: never a failover episode.

use super::*;
use crate::measure::Episode;

/// Episodes listed one by one in summary.md and the verbose terminal.
pub(super) const MAX_EPISODE_LINES: usize = 10;

/// One scheduled outage: requests due, how many went elsewhere and how soon, failures, and the tier's return.
pub(super) fn outage_line(o: &OutageStats) -> String {
    let elsewhere = match (o.failed_over, o.first_failover_after_s) {
        (0, _) | (_, None) => "none sent to another tier".to_string(),
        (n, Some(s)) => {
            let n = if n == o.requests_due { "all".to_string() } else { n.to_string() };
            format!("{n} sent to another tier (the first {} after it began)", fmt_ms(s * 1000.0))
        }
    };
    let back = match o.back_to_tier_after_s {
        Some(s) => format!("{} served again {} after it ended", o.tier, fmt_ms(s * 1000.0)),
        None => format!("{} did not serve again before the run ended", o.tier),
    };
    // The outage is the provider's; the tier is where the requests went. One name when they are the same.
    let whose = if o.provider.is_empty() || o.provider == o.tier {
        o.tier.clone()
    } else {
        format!("{} (tier {})", o.provider, o.tier)
    };
    format!(
        "scheduled outage of {whose} {}..{}: {} requests due, {elsewhere}, {} failed; {back}",
        fmt_seconds(o.start_s),
        fmt_seconds(o.end_s),
        o.requests_due,
        o.user_errors
    )
}

/// One observed episode (not isolated): its span, requests and failures, who served them, and its three figures
/// (only the error burst and the recovery when nothing could fail over).
pub(super) fn episode_line(e: &Episode, failover_possible: bool) -> String {
    let by: Vec<String> = e.served_by.iter().map(|(n, c)| format!("{n} {c}")).collect();
    let failover = match (failover_possible, e.time_to_failover_ms) {
        (false, _) => String::new(),
        (true, Some(ms)) => format!("time to failover {}, ", fmt_ms(ms)),
        (true, None) => "no failover, ".to_string(),
    };
    let recover = match e.time_to_recover_ms {
        Some(ms) => format!("time to recover {}", fmt_ms(ms)),
        None => "not recovered by the end of the run".into(),
    };
    // Requests due within it that their own class's primary served at once were not touched by it: said, so
    // that "served by" is not read as all failed over.
    let untouched = match e.by_primary {
        0 => String::new(),
        n => format!(" ({n} of them untouched: served at once by their class's own primary)"),
    };
    format!(
        "observed episode {}..{}: {} requests{untouched}, {} failed, served by {}; {failover}error burst {}, {recover}",
        fmt_seconds(e.start_ms / 1000.0),
        fmt_seconds(e.end_ms / 1000.0),
        e.requests,
        e.failed,
        by.join(", "),
        fmt_ms(e.error_burst_ms)
    )
}

/// What a lone anomalous request is called: an isolated error where nothing can fail over.
pub(super) fn isolated_name(summary: &Summary) -> &'static str {
    if summary.failover_possible {
        "isolated anomalies"
    } else {
        "isolated errors"
    }
}

/// The primary the episodes were judged against: one upstream, or each class's.
fn primary_line(summary: &Summary, primary: &crate::measure::Primary) -> String {
    let names: Vec<&str> = primary.names.iter().map(|n| n.as_deref().unwrap_or("none")).collect();
    let classes = &summary.scenario.classes;
    // Names in backticks: an upstream may well be called `primary`.
    let which = if names.windows(2).all(|w| w[0] == w[1]) || classes.len() != names.len() {
        format!("`{}`", names.first().copied().unwrap_or("none"))
    } else {
        let each: Vec<String> = classes.iter().zip(&names).map(|(c, n)| format!("{} → `{n}`", c.name)).collect();
        format!("by class, {}", each.join(", "))
    };
    format!("judged against the primary upstream, {which} ({})", primary.chosen_by)
}

/// Every episode, one line each (the first [`MAX_EPISODE_LINES`]): a count and the primary they were judged
/// against, the observed episodes, then the isolated ones.
pub(super) fn episode_lines(summary: &Summary) -> Vec<String> {
    let found = &summary.failover_episodes;
    let Some(primary) = &found.primary else { return Vec::new() };
    if found.list.is_empty() {
        return Vec::new();
    }
    let total = found.list.len() as u64 + found.beyond_cap;
    let isolated = found.list.iter().filter(|e| e.isolated).count();
    let kind = if summary.failover_possible { "observed failover episodes" } else { "observed error episodes" };
    // All of them isolated is no episode at all: said so, rather than "3, 3 of them isolated errors".
    let count = if isolated as u64 == total {
        format!("none, only {isolated} {}", isolated_name(summary))
    } else {
        format!("{total}, {isolated} of them {}", isolated_name(summary))
    };
    let mut lines = vec![format!("{kind}: {count}; {}", primary_line(summary, primary))];
    let f = &summary.failover;
    if f.source == "inferred" && f.inferred > 0 {
        lines.push(format!(
            "failed over: {} requests ({} rescued), {} of them inferred: served by another upstream than the \
             primary (the gateway sends no failover marker)",
            f.failed_over, f.rescued, f.inferred
        ));
    }
    // Outages first: a run with scattered single errors would otherwise bury them.
    let outages: Vec<&Episode> = found.list.iter().filter(|e| !e.isolated).collect();
    for e in outages.iter().take(MAX_EPISODE_LINES) {
        lines.push(episode_line(e, summary.failover_possible));
    }
    if outages.len() > MAX_EPISODE_LINES {
        lines.push(format!("…and {} more episodes (summary.json lists them)", outages.len() - MAX_EPISODE_LINES));
    }
    if let Some(line) = isolated_line(summary, 5) {
        lines.push(line);
    }
    lines
}

/// The isolated ones: how many, and when the first `shown` were due.
pub(super) fn isolated_line(summary: &Summary, shown: usize) -> Option<String> {
    let isolated: Vec<&Episode> = summary.failover_episodes.list.iter().filter(|e| e.isolated).collect();
    if isolated.is_empty() {
        return None;
    }
    let at: Vec<String> = isolated.iter().take(shown).map(|e| fmt_seconds(e.start_ms / 1000.0)).collect();
    let more = if isolated.len() > shown { ", …" } else { "" };
    Some(format!("{} (one request each): {}, at {}{more}", isolated_name(summary), isolated.len(), at.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage(tier: &str, provider: &str) -> OutageStats {
        serde_json::from_value(serde_json::json!({ "tier": tier, "provider": provider, "start_s": 20.0, "end_s": 35.0,
            "requests_due": 200, "failed_over": 200, "user_errors": 0, "first_failover_after_s": 0.001,
            "error_burst_s": 0.0, "back_to_tier_after_s": 0.002 }))
        .unwrap()
    }

    #[test]
    fn an_outage_is_named_by_its_provider_and_the_tier_it_served() {
        let line = outage_line(&outage("default", "primary"));
        assert!(line.starts_with("scheduled outage of primary (tier default) 20s..35s: 200 requests due"), "{line}");
        let same = outage_line(&outage("default", "default"));
        assert!(same.starts_with("scheduled outage of default 20s..35s:"), "{same}");
    }
}
