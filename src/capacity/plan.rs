//! Where a capacity search can start: how many requests a step needs to decide its targets, and the lowest rate
//! at which a step of the chosen duration gets them.

use super::Settings;
use crate::report::fmt_ms;
use crate::scenario::LoadedScenario;
use serde::{Deserialize, Serialize};

/// The strictest run-wide target, by the requests it needs: its name and limit as written, and how many.
fn strictest(loaded: &LoadedScenario) -> Option<(String, u64)> {
    let limits = loaded.scenario.sla.overall();
    let latency = limits
        .latency()
        .into_iter()
        .map(|(name, q, limit)| (format!("{name} {}", fmt_ms(limit.as_secs_f64() * 1e3)), q));
    let availability = limits.availability.map(|a| (format!("availability {}%", a.0 * 100.0), a.0));
    latency
        .chain(availability)
        .filter(|(_, q)| *q < 1.0)
        .map(|(name, q)| (name, (1.5 * 1.96f64.powi(2) * q / (1.0 - q)).ceil() as u64))
        .max_by_key(|(_, n)| *n)
}

/// About how many requests a step needs for its run-wide targets to be decided when they hold with some margin:
/// with none over the limit, "a share q within the limit" is shown at 95% confidence after about
/// 1.96² · q / (1 − q) requests (the Wilson bound); half as many again leave room for a few misses (a p99
/// target needs about 570 requests, a 99.9% one about 5,800). A max, or a 100% target, needs none: its first
/// miss decides it.
pub fn requests_to_decide(loaded: &LoadedScenario) -> u64 {
    strictest(loaded).map_or(0, |(_, n)| n)
}

/// Where the search starts, and why there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// Requests a step needs to decide its strictest target ([`requests_to_decide`]).
    pub requests_to_decide: u64,
    /// That target, as written (`availability 99.9%`, `p99 500ms`); empty when none needs any.
    pub strictest: String,
    /// Seconds a step at `min` would need to judge that many.
    pub at_min_s: f64,
    /// The first step's rate: `min`, or the lowest rate at which a step of `step_duration` judges enough.
    pub rate_per_s: f64,
}

/// Where a search can start: at `min` when a step of `step_duration` judges enough requests there, else at the
/// lowest rate that does (a step below it could only end undecided, or run for minutes). Refused, with the
/// numbers, when even `max` is too low.
pub fn start(loaded: &LoadedScenario, settings: &Settings) -> Result<Start, String> {
    let (strictest, needed) = strictest(loaded).unwrap_or_default();
    let step_s = settings.step_duration.as_secs_f64();
    let lowest = needed as f64 / step_s;
    let at_min_s = needed as f64 / settings.min;
    if lowest > settings.max {
        return Err(format!(
            "a step needs about {needed} requests to decide {strictest} (95% confidence, room for a few misses): \
             {at_min_s:.1} s at --min {:.1}/s, and still {:.1} s at --max {:.1}/s, longer than the {step_s} s step; \
             lengthen --step-duration to at least {:.0} s, or raise --max to at least {lowest:.1}/s",
            settings.min,
            needed as f64 / settings.max,
            settings.max,
            (needed as f64 / settings.max).ceil()
        ));
    }
    Ok(Start { requests_to_decide: needed, strictest, at_min_s, rate_per_s: settings.min.max(lowest) })
}

/// The start in a sentence, said before the search.
pub fn start_line(start: &Start, settings: &Settings) -> String {
    let step_s = settings.step_duration.as_secs_f64();
    if start.requests_to_decide == 0 {
        return format!("every target is decided by its first miss: the search starts at --min {:.1}/s", settings.min);
    }
    let head = format!(
        "a step needs about {} requests to decide {}: {:.1} s at --min {:.1}/s",
        start.requests_to_decide, start.strictest, start.at_min_s, settings.min
    );
    if start.rate_per_s > settings.min {
        format!(
            "{head}, longer than the {step_s} s step; the search starts at {:.1}/s, where one step judges them (a \
             lower rate needs --step-duration {:.0}s)",
            start.rate_per_s,
            start.at_min_s.ceil()
        )
    } else {
        format!("{head}, within the {step_s} s step")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn loaded(sla: &str) -> LoadedScenario {
        let source = format!(
            "name = \"c\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"1s\"\n[sla]\n{sla}\n"
        );
        LoadedScenario { scenario: toml::from_str(&source).unwrap(), path: "c.toml".into(), source }
    }

    #[test]
    fn a_step_needs_enough_requests_to_decide_its_strictest_share() {
        // 1.5 × 1.96² × q / (1 − q): p99 → 1.5 × 3.8416 × 99 = 570.5, so 571; 99.9% → × 999 = 5,756.6, so 5,757.
        assert_eq!(requests_to_decide(&loaded("p99 = \"1s\"")), 571);
        assert_eq!(requests_to_decide(&loaded("p99 = \"1s\"\navailability = \"99.9%\"")), 5_757);
        // p50: 1.5 × 3.8416 × 1 = 5.76, so 6. A max, or a 100% target, is decided by its first miss: none needed.
        assert_eq!(requests_to_decide(&loaded("p50 = \"1s\"\nmax = \"2s\"")), 6);
        assert_eq!(requests_to_decide(&loaded("availability = \"100%\"")), 0);
    }

    fn settings(min: f64, max: f64, step_s: u64) -> Settings {
        Settings { min, max, step_duration: Duration::from_secs(step_s), ..Settings::default() }
    }

    #[test]
    fn the_search_starts_where_one_step_decides_or_is_refused_with_the_numbers() {
        // The search: 99.9% and p99 500 ms, --min 10/s, 6 s steps. 5,757 requests: 575.7 s at 10/s; one
        // 6 s step judges them from 5,757 / 6 = 959.5/s.
        let sla = loaded("availability = \"99.9%\"\np99 = \"500ms\"");
        let s = start(&sla, &settings(10.0, 2000.0, 6)).unwrap();
        assert_eq!((s.requests_to_decide, s.strictest.as_str()), (5_757, "availability 99.9%"));
        assert!((s.at_min_s - 575.7).abs() < 1e-9 && (s.rate_per_s - 959.5).abs() < 1e-9, "{s:?}");
        let line = start_line(&s, &settings(10.0, 2000.0, 6));
        assert!(line.contains("575.7 s at --min 10.0/s") && line.contains("starts at 959.5/s"), "{line}");
        // Up to --max 400/s it cannot: 14.4 s at 400/s, longer than 6 s.
        let refused = start(&sla, &settings(10.0, 400.0, 6)).unwrap_err();
        assert!(refused.contains("5757 requests") && refused.contains("14.4 s at --max 400.0/s"), "{refused}");
        assert!(refused.contains("--step-duration to at least 15 s") && refused.contains("959.5/s"), "{refused}");
        // p99 alone at 100/s: 571 requests, 5.71 s, within a 6 s step: the search starts at --min.
        let s = start(&loaded("p99 = \"1s\""), &settings(100.0, 400.0, 6)).unwrap();
        assert_eq!((s.rate_per_s, s.strictest.as_str()), (100.0, "p99 1.00s"));
        assert!(start_line(&s, &settings(100.0, 400.0, 6)).ends_with("within the 6 s step"));
    }
}
