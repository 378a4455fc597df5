//! summary.md's tables of what a run measured besides its latency: streamed answers (time to first token, the
//! gap between tokens, the decoding rate), goodput and tokens, overall and by class and tier, with the figures
//! the terminal prints; and the table writer every Markdown table uses, which leaves out a column with nothing
//! in it. report.html is made from summary.md, so it shows the same tables.

use super::*;

/// A column's alignment: left, right or centred.
#[derive(Clone, Copy)]
pub(super) enum Align {
    L,
    R,
    C,
}
use Align::*;

/// The headings of a table of percentiles; the first column holds each row's name.
pub(super) const PERCENTILE_HEADS: [(&str, Align); 6] =
    [("", L), ("p50", R), ("p90", R), ("p99", R), ("p99.9", R), ("max", R)];

/// A row of [`PERCENTILE_HEADS`]: `label`, then p50, p90, p99, p99.9 and the maximum.
pub(super) fn percentile_cells(label: &str, p: &Percentiles) -> Vec<String> {
    [p.p50, p.p90, p.p99, p.p99_9, p.max].into_iter().map(fmt_ms).fold(vec![label.to_string()], |mut row, c| {
        row.push(c);
        row
    })
}

/// Writes a Markdown table of `rows` under `heads`, then an empty line. A column whose every row is empty or
/// "-" is left out: it would say nothing. No rows, no table.
pub(super) fn table(out: &mut String, heads: &[(&str, Align)], rows: &[Vec<String>]) {
    if rows.is_empty() {
        return;
    }
    let blank = |cell: Option<&String>| cell.is_none_or(|c| c.trim().is_empty() || c.trim() == "-");
    let shown: Vec<usize> = (0..heads.len()).filter(|i| !rows.iter().all(|r| blank(r.get(*i)))).collect();
    let line = |cells: Vec<&str>| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(shown.iter().map(|i| heads[*i].0).collect()));
    let rule = |a: Align| match a {
        L => "---",
        R => "---:",
        C => ":-:",
    };
    out.push_str(&format!("|{}|\n", shown.iter().map(|i| rule(heads[*i].1)).collect::<Vec<_>>().join("|")));
    for row in rows {
        out.push_str(&line(shown.iter().map(|i| row.get(*i).map_or("", String::as_str)).collect()));
    }
    out.push('\n');
}

/// Streamed answers: time to first token (from the intended and from the actual send) and between tokens, as
/// the terminal gives them; answers, tokens and the decoding rate; and each tier's when several streamed.
pub(super) fn streams(out: &mut String, summary: &Summary) {
    let Some(st) = &summary.streaming else { return };
    let mut heads = PERCENTILE_HEADS;
    heads[0].0 = "streamed answers";
    let rows = [
        percentile_cells("time to first token", &st.ttft_ms),
        percentile_cells("time to first token, from the actual send", &st.ttft_from_send_ms),
        percentile_cells("inter-token latency", &st.inter_token_ms),
    ];
    table(out, &heads, &rows);
    // With one streaming tier the first table has its figures; with several, each tier's beside the whole's.
    let streaming: Vec<&TierSummary> = summary.tiers.iter().filter(|t| t.ttft_ms.is_some()).collect();
    let several = streaming.len() > 1;
    let cells = |name: String, ttft: Option<&Percentiles>, gap: Option<&Percentiles>, rate: Option<f64>| {
        let p50 = |x: Option<&Percentiles>| x.filter(|_| several).map_or("-".into(), |p| fmt_ms(p.p50));
        let p99 = |x: Option<&Percentiles>| x.filter(|_| several).map_or("-".into(), |p| fmt_ms(p.p99));
        let rate = rate.map_or("-".into(), |r| format!("{r:.0}"));
        vec![name, p50(ttft), p99(ttft), p50(gap), p99(gap), rate]
    };
    let mut rows =
        vec![cells("all answers".into(), Some(&st.ttft_ms), Some(&st.inter_token_ms), Some(st.tokens_per_s))];
    if several {
        for t in streaming {
            rows.push(cells(format!("tier {}", t.name), t.ttft_ms.as_ref(), t.inter_token_ms.as_ref(), t.tokens_per_s));
        }
    }
    let heads = [
        ("decoding", L),
        ("time to first token p50", R),
        ("p99", R),
        ("inter-token p50", R),
        ("p99", R),
        ("tokens/s while decoding", R),
    ];
    table(out, &heads, &rows);
    let _ = writeln!(out, "{} streamed answers, {} tokens.\n", st.requests, st.tokens_received);
}

/// Goodput, when `[sla] goodput` set objectives: good requests of all, by class and by serving tier (of the
/// requests it served), and per second.
pub(super) fn goodput(out: &mut String, summary: &Summary) {
    let Some(g) = &summary.goodput else { return };
    let row = |name: String, good: u64, of: u64, ratio: Option<f64>, per_s: f64| {
        vec![name, good.to_string(), of.to_string(), fmt_ratio(ratio), format!("{per_s:.1}/s")]
    };
    let mut rows = vec![row("all requests".into(), g.good, g.total, g.ratio, g.per_s)];
    for (kind, slices) in [("class", &g.classes), ("tier", &g.tiers)] {
        if slices.len() > 1 {
            rows.extend(slices.iter().map(|(n, s)| row(format!("{kind} {n}"), s.good, s.of, s.ratio, s.per_s)));
        }
    }
    let by_tier = if g.tiers.len() > 1 { "; a tier's share is of the requests it served" } else { "" };
    let heads = [("goodput", L), ("good", R), ("of", R), ("share", R), ("per second", R)];
    table(out, &heads, &rows);
    let o = &g.objectives;
    let objectives: Vec<String> =
        [("time to first token", o.ttft), ("inter-token latency", o.inter_token), ("latency", o.latency)]
            .into_iter()
            .filter_map(|(name, limit)| limit.map(|l| format!("{name} ≤ {l}")))
            .collect();
    let _ = writeln!(out, "A good request succeeded with {}{by_tier}.\n", objectives.join(", "));
}

/// Tokens delivered, when any were counted: input and output, in all and per second, overall, by class and by
/// serving tier.
pub(super) fn tokens(out: &mut String, summary: &Summary) {
    let t = &summary.tokens;
    if t.input + t.output == 0 {
        return;
    }
    let row = |name: String, input: u64, input_per_s: f64, output: u64, output_per_s: f64| {
        vec![name, input.to_string(), format!("{input_per_s:.0}/s"), output.to_string(), format!("{output_per_s:.0}/s")]
    };
    let mut rows = vec![row("all requests".into(), t.input, t.input_per_s, t.output, t.output_per_s)];
    for (kind, slices) in [("class", &t.classes), ("tier", &t.tiers)] {
        if slices.len() > 1 {
            let each = slices
                .iter()
                .map(|(n, s)| row(format!("{kind} {n}"), s.input, s.input_per_s, s.output, s.output_per_s));
            rows.extend(each);
        }
    }
    let heads = [("tokens", L), ("input", R), ("input per second", R), ("output", R), ("output per second", R)];
    table(out, &heads, &rows);
}

/// Conversations: how the sessions ended, and by turn number the requests, latency, first token and input
/// tokens (a prefix cache shows as turns 2+ answering sooner while their input grows).
pub(super) fn conversations(out: &mut String, summary: &Summary) {
    let Some(c) = &summary.conversations else { return };
    let s = &c.sessions;
    let _ = writeln!(
        out,
        "Sessions: {} started; {} completed, {} broken (a turn failed), {} cut (not sent, or stopped), {} ended by \
         a hang-up.\n",
        s.started, s.completed, s.broken, s.cut, s.cancelled
    );
    let p = |x: Option<&Percentiles>, f: fn(&Percentiles) -> f64| x.map_or("-".into(), |p| fmt_ms(f(p)));
    let rows: Vec<Vec<String>> = c
        .turns
        .iter()
        .map(|t| {
            vec![
                format!("{}{}", t.turn, if t.and_later { " and later" } else { "" }),
                t.requests.to_string(),
                t.ok.to_string(),
                fmt_ms(t.latency_ms.p50),
                fmt_ms(t.latency_ms.p99),
                p(t.ttft_ms.as_ref(), |p| p.p50),
                p(t.ttft_ms.as_ref(), |p| p.p99),
                t.input_tokens_mean.map_or("-".into(), |n| format!("{n:.0}")),
            ]
        })
        .collect();
    let heads = [
        ("turn", L),
        ("requests", R),
        ("ok", R),
        ("latency p50", R),
        ("latency p99", R),
        ("time to first token p50", R),
        ("p99", R),
        ("input tokens (mean)", R),
    ];
    table(out, &heads, &rows);
}

/// Requests whose client hung up on purpose, and the tokens generated for them that no client received.
pub(super) fn hang_ups(out: &mut String, summary: &Summary) {
    let Some(c) = &summary.cancellations else { return };
    let after = match c.tokens_after {
        Some(n) => {
            format!("{n} tokens were generated for them that no client received ({} requests counted)", c.measured)
        }
        None => "the tokens generated after them are unknown (no provider's count)".into(),
    };
    let _ = writeln!(
        out,
        "Hang-ups: {} requests ({} before a first token), {} tokens received; {after}.\n",
        c.requests, c.before_first_token, c.tokens_received
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_with_nothing_in_it_is_left_out() {
        let mut out = String::new();
        let rows = [vec!["p99".into(), "≤ 1s".into(), String::new(), "-".into()], vec!["p50".into(), "≤ 2s".into()]];
        table(&mut out, &[("target", L), ("limit", R), ("note", L), ("region", C)], &rows);
        assert_eq!(out, "| target | limit |\n|---|---:|\n| p99 | ≤ 1s |\n| p50 | ≤ 2s |\n\n");
        let mut out = String::new();
        let rows = [vec!["a".into(), String::new(), "x".into()]];
        table(&mut out, &[("", L), ("b", R), ("c", C)], &rows);
        assert_eq!(out, "|  | c |\n|---|:-:|\n| a | x |\n\n", "a heading may be empty; a column may not");
        let mut none = String::new();
        table(&mut none, &[("a", L)], &[]);
        assert!(none.is_empty());
    }
}
