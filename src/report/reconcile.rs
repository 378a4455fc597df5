//! The gateway's own counters held against what slacheck's clients saw (`[[scrape]] reconcile`): the gateway's
//! increase over the run, slacheck's count, the difference, and in plain words a gateway whose metrics show
//! fewer failures than its clients met.

use super::Summary;
use crate::scrape::Reconciled;

/// What slacheck counted under each name `reconcile` maps: requests sent; errors and timeouts; requests that
/// failed over; output tokens received (answered or not).
pub fn slacheck_count(summary: &Summary, name: &str) -> Option<u64> {
    let c = &summary.counts;
    match name {
        "requests" => Some(c.total - c.not_sent),
        "errors" => Some(c.error + c.timeout),
        "fallbacks" => Some(summary.failover.failed_over),
        "tokens_out" => Some(summary.tokens.output + summary.tokens.output_unanswered),
        _ => None,
    }
}

/// Fills each reconciled line's slacheck count and difference (the gateway's minus slacheck's).
pub fn reconcile(summary: &mut Summary) {
    let Some(mut metrics) = summary.server_metrics.take() else { return };
    for r in &mut metrics.reconcile {
        r.slacheck = slacheck_count(summary, &r.name);
        r.difference = r.gateway.zip(r.slacheck).map(|(g, s)| g - s as f64);
    }
    summary.server_metrics = Some(metrics);
}

/// The table's rows: what, the gateway's increase, slacheck's count, the difference, the selector.
pub fn rows(summary: &Summary) -> Vec<[String; 5]> {
    let Some(m) = &summary.server_metrics else { return Vec::new() };
    let number = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    m.reconcile
        .iter()
        .map(|r| {
            let difference = r.difference.map_or("-".to_string(), |d| format!("{d:+.0}"));
            [r.name.clone(), number(r.gateway), number(r.slacheck.map(|s| s as f64)), difference, r.selector.clone()]
        })
        .collect()
}

/// Plain words for what does not agree: a gateway that shows fewer failures than its clients met first.
pub fn findings(summary: &Summary) -> Vec<String> {
    let Some(m) = &summary.server_metrics else { return Vec::new() };
    let mut out = Vec::new();
    for r in &m.reconcile {
        match (r.gateway, r.slacheck) {
            (None, _) => out.push(unmeasured(r)),
            (Some(g), Some(s)) if r.name == "errors" && g < s as f64 => out.push(format!(
                "the gateway at {} reports {:.0} fewer errors than its clients saw ({g:.0} against {s}): its own \
                 metrics hide failures from whoever watches them",
                r.url,
                s as f64 - g
            )),
            (Some(g), Some(s)) if g != s as f64 => {
                out.push(format!("{}: the gateway counted {g:.0}, its clients {s} ({:+.0})", r.name, g - s as f64))
            }
            _ => {}
        }
    }
    out
}

fn unmeasured(r: &Reconciled) -> String {
    format!("{}: {} has no series of {} (or no scrape of it succeeded)", r.name, r.url, r.selector)
}

/// The scrapes in a line each: successes, failures by why.
pub fn scrape_lines(summary: &Summary) -> Vec<String> {
    let Some(m) = &summary.server_metrics else { return Vec::new() };
    let mut out: Vec<String> = m
        .scrapes
        .iter()
        .map(|s| {
            let why: Vec<String> = s.failures.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let failed =
                if s.failed > 0 { format!(", {} failed ({})", s.failed, why.join(", ")) } else { String::new() };
            format!("scraped {}: {} ok{failed}, {} series", s.url, s.ok, s.series)
        })
        .collect();
    for s in m.scrapes.iter().filter(|s| s.first_s.is_some_and(|t| t > 0.0)) {
        out.push(format!(
            "the first scrape of {} answered {:.2} s after the run began: its increases may miss the first requests",
            s.url,
            s.first_s.unwrap_or_default()
        ));
    }
    if m.samples_beyond_cap > 0 {
        out.push(format!(
            "{} samples of series beyond the first {} were not kept",
            m.samples_beyond_cap,
            crate::scrape::series::MAX_SERIES
        ));
    }
    out
}
