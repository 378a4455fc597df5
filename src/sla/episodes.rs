//! Targets on the failover episodes inferred from the requests (`max_time_to_failover`, `max_episode_errors`,
//! `max_error_burst`, `max_time_to_recover`), each judged on the worst episode. Isolated episodes (one anomalous
//! request: noise) count for the errors and the error burst only. Without episodes the targets hold, and the note says why; when episodes were not
//! tracked (a merge of shards: each shard saw a part) they are undecided.

use super::{Judgement, TargetResult};
use crate::measure::{Episode, Episodes};
use crate::scenario::Sla;
use crate::units::HumanDuration;
use std::time::Duration;

/// The episode targets the SLA sets, judged on `episodes`, in a run that ended at `run_end_ms`.
pub(super) fn episode_targets(sla: &Sla, episodes: &Episodes, run_end_ms: f64) -> Vec<TargetResult> {
    let mut targets = Vec::new();
    if let Some(limit) = sla.max_time_to_failover {
        targets
            .push(judged(episodes, "max_time_to_failover", limit.to_string(), |list| time_to_failover(list, limit.0)));
    }
    if let Some(limit) = sla.max_episode_errors {
        targets.push(judged(episodes, "max_episode_errors", limit.to_string(), |list| episode_errors(list, limit)));
    }
    if let Some(limit) = sla.max_error_burst {
        targets.push(judged(episodes, "max_error_burst", limit.to_string(), |list| error_burst(list, limit.0)));
    }
    if let Some(limit) = sla.max_time_to_recover {
        let judge = |list: &[Episode]| time_to_recover(list, limit.0, run_end_ms);
        targets.push(judged(episodes, "max_time_to_recover", limit.to_string(), judge));
    }
    targets
}

/// What one target came to on the episodes: its judgement, the worst value (ms or a count), and a note.
struct Worst {
    judgement: Judgement,
    ms: Option<f64>,
    count: Option<u64>,
    note: Option<String>,
}

fn judged(episodes: &Episodes, name: &str, limit: String, judge: impl Fn(&[Episode]) -> Worst) -> TargetResult {
    let untracked = episodes.primary.is_none();
    let w = if untracked {
        Worst {
            judgement: Judgement::InsufficientData,
            ms: None,
            count: None,
            note: Some("episodes were not tracked (a merge of shards: each shard saw a part)".into()),
        }
    } else {
        judge(&episodes.list)
    };
    let mut note = w.note;
    if episodes.beyond_cap > 0 {
        let cap = format!(
            "judged on the first {} episodes; {} more were only counted",
            episodes.list.len(),
            episodes.beyond_cap
        );
        note = Some(note.map_or(cap.clone(), |n| format!("{n}; {cap}")));
    }
    TargetResult {
        name: name.into(),
        limit,
        measured_ms: w.ms,
        measured_ratio: None,
        measured_count: w.count,
        interval: None,
        samples: episodes.list.len() as u64,
        more_requests: None,
        judgement: w.judgement,
        passed: w.judgement == Judgement::Pass,
        note,
        generator_bound: false,
    }
}

fn pass_or_fail(ok: bool) -> Judgement {
    if ok {
        Judgement::Pass
    } else {
        Judgement::Fail
    }
}

fn at(e: &Episode) -> String {
    format!("{}..{}", crate::units::fmt_seconds(e.start_ms / 1000.0), crate::units::fmt_seconds(e.end_ms / 1000.0))
}

fn limit_ms(limit: Duration) -> f64 {
    limit.as_secs_f64() * 1000.0
}

/// The longest time to fail over of the outages (not the isolated anomalies). An outage in which users saw
/// failures and no request was ever served elsewhere never failed over: that fails the target.
fn time_to_failover(list: &[Episode], limit: Duration) -> Worst {
    let outages: Vec<&Episode> = list.iter().filter(|e| !e.isolated).collect();
    if let Some(e) = outages.iter().find(|e| e.time_to_failover_ms.is_none() && e.failed > 0) {
        let note = format!("the episode at {} never failed over: {} requests failed", at(e), e.failed);
        return Worst { judgement: Judgement::Fail, ms: None, count: None, note: Some(note) };
    }
    let worst =
        outages.iter().filter_map(|e| e.time_to_failover_ms.map(|ms| (ms, *e))).max_by(|a, b| a.0.total_cmp(&b.0));
    match worst {
        None if outages.is_empty() => {
            Worst { judgement: Judgement::Pass, ms: None, count: None, note: Some(no_outage(list)) }
        }
        None => {
            let note = "no episode needed a failover: its anomalies were retries that the primary answered".into();
            Worst { judgement: Judgement::Pass, ms: None, count: None, note: Some(note) }
        }
        Some((ms, e)) => Worst {
            judgement: pass_or_fail(ms <= limit_ms(limit)),
            ms: Some(ms),
            count: None,
            note: Some(worst_outage(e, list)),
        },
    }
}

/// Which outage was the worst, and how many isolated anomalies the target left out: a lone request's failover
/// can well take longer than the worst outage's.
fn worst_outage(worst: &Episode, list: &[Episode]) -> String {
    match list.iter().filter(|e| e.isolated).count() {
        0 => format!("worst: the episode at {}", at(worst)),
        n => format!("worst: the episode at {}; {n} isolated anomalies not judged", at(worst)),
    }
}

/// The most failures in one episode, isolated ones included.
fn episode_errors(list: &[Episode], limit: u64) -> Worst {
    match list.iter().max_by_key(|e| e.failed) {
        None => Worst { judgement: Judgement::Pass, ms: None, count: Some(0), note: Some(no_outage(list)) },
        Some(e) => Worst {
            judgement: pass_or_fail(e.failed <= limit),
            ms: None,
            count: Some(e.failed),
            note: Some(format!("worst: the episode at {}", at(e))),
        },
    }
}

/// The longest error burst of any episode, isolated ones included (a lone failure that took its whole timeout
/// kept its user waiting that long): from the first of a run of failed requests' intended send to the last
/// one's completion, every request between failing.
fn error_burst(list: &[Episode], limit: Duration) -> Worst {
    let failing = list.iter().filter(|e| e.failed > 0);
    match failing.max_by(|a, b| a.error_burst_ms.total_cmp(&b.error_burst_ms)) {
        Some(e) => Worst {
            judgement: pass_or_fail(e.error_burst_ms <= limit_ms(limit)),
            ms: Some(e.error_burst_ms),
            count: None,
            note: Some(format!("worst: the episode at {}", at(e))),
        },
        None => {
            let note = if list.is_empty() { no_outage(list) } else { "no request failed".into() };
            Worst { judgement: Judgement::Pass, ms: Some(0.0), count: None, note: Some(note) }
        }
    }
}

/// The longest time to recover of the outages. One that had not recovered when the run ended took at least
/// until then: a fail when that already passes the limit, else undecided.
fn time_to_recover(list: &[Episode], limit: Duration, run_end_ms: f64) -> Worst {
    let outages: Vec<&Episode> = list.iter().filter(|e| !e.isolated).collect();
    let limit_ms = limit_ms(limit);
    if let Some(e) = outages.iter().find(|e| !e.recovered) {
        let at_least = (run_end_ms - e.end_ms).max(0.0);
        let note = format!(
            "the episode at {} had not recovered when the run ended, {} after its last anomaly",
            at(e),
            HumanDuration(Duration::from_secs_f64(at_least / 1000.0))
        );
        let judgement = if at_least > limit_ms { Judgement::Fail } else { Judgement::InsufficientData };
        return Worst { judgement, ms: Some(at_least), count: None, note: Some(note) };
    }
    let worst =
        outages.iter().filter_map(|e| e.time_to_recover_ms.map(|ms| (ms, *e))).max_by(|a, b| a.0.total_cmp(&b.0));
    match worst {
        None => Worst { judgement: Judgement::Pass, ms: None, count: None, note: Some(no_outage(list)) },
        Some((ms, e)) => Worst {
            judgement: pass_or_fail(ms <= limit_ms),
            ms: Some(ms),
            count: None,
            note: Some(worst_outage(e, list)),
        },
    }
}

fn no_outage(list: &[Episode]) -> String {
    match list.len() {
        0 => "no failover episode".into(),
        n => format!("no outage: {n} isolated anomalies only"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Primary;
    use std::collections::BTreeMap;

    fn episode(start_ms: f64, end_ms: f64, failed: u64, to_failover: Option<f64>, to_recover: Option<f64>) -> Episode {
        Episode {
            start_ms,
            end_ms,
            recovered: to_recover.is_some(),
            requests: failed.max(1) * 10,
            failed,
            served_by: BTreeMap::new(),
            by_primary: 0,
            time_to_failover_ms: to_failover,
            error_burst_ms: 0.0,
            time_to_recover_ms: to_recover,
            isolated: false,
        }
    }

    fn tracked(list: Vec<Episode>) -> Episodes {
        Episodes {
            primary: Some(Primary { names: vec![Some("p".into())], chosen_by: "x".into() }),
            list,
            beyond_cap: 0,
        }
    }

    fn sla(text: &str) -> Sla {
        toml::from_str(text).unwrap()
    }

    const ALL: &str = "max_time_to_failover = \"200ms\"\nmax_episode_errors = 5\nmax_time_to_recover = \"1s\"";

    fn judge(list: Vec<Episode>, run_end_ms: f64) -> Vec<(Judgement, Option<f64>, Option<u64>)> {
        episode_targets(&sla(ALL), &tracked(list), run_end_ms)
            .iter()
            .map(|t| (t.judgement, t.measured_ms, t.measured_count))
            .collect()
    }

    #[test]
    fn each_target_is_judged_on_the_worst_episode_inclusively() {
        use Judgement::*;
        // Worst failover 200 ms (= the limit: holds), worst errors 5 (= the limit), worst recovery 1,000 ms.
        let list = vec![
            episode(1_000.0, 2_000.0, 5, Some(200.0), Some(1_000.0)),
            episode(5_000.0, 5_500.0, 2, Some(50.0), Some(10.0)),
        ];
        assert_eq!(
            judge(list, 9_000.0),
            [(Pass, Some(200.0), None), (Pass, None, Some(5)), (Pass, Some(1_000.0), None)]
        );
        // Just past each limit.
        let list = vec![episode(1_000.0, 2_000.0, 6, Some(200.5), Some(1_000.5))];
        assert_eq!(
            judge(list.clone(), 9_000.0),
            [(Fail, Some(200.5), None), (Fail, None, Some(6)), (Fail, Some(1_000.5), None)]
        );
        // Each says which episode was the worst, and `passed` follows the judgement.
        let t = episode_targets(&sla(ALL), &tracked(list), 9_000.0);
        assert!(t.iter().all(|t| t.note.as_deref() == Some("worst: the episode at 1s..2s") && !t.passed), "{t:?}");
        let t = episode_targets(&sla(ALL), &tracked(vec![episode(0.0, 1_500.0, 0, Some(1.0), Some(1.0))]), 9_000.0);
        assert!(t.iter().all(|t| t.passed && t.note.as_deref() == Some("worst: the episode at 0s..1.5s")), "{t:?}");
    }

    #[test]
    fn the_error_burst_is_the_longest_of_any_episode_isolated_failures_included() {
        use Judgement::*;
        let burst = |start_ms: f64, failed: u64, burst_ms: f64, isolated: bool| Episode {
            error_burst_ms: burst_ms,
            isolated,
            ..episode(start_ms, start_ms + 2_000.0, failed, Some(10.0), Some(10.0))
        };
        let judged = |limit: &str, list: Vec<Episode>| {
            let t = episode_targets(&sla(&format!("max_error_burst = \"{limit}\"")), &tracked(list), 9_000.0);
            assert_eq!((t.len(), t[0].name.as_str()), (1, "max_error_burst"));
            (t[0].judgement, t[0].measured_ms, t[0].note.clone().unwrap(), t[0].passed)
        };
        // Worst: the lone failure that waited out a 3 s timeout, though isolated.
        let list = || vec![burst(1_000.0, 40, 1_200.0, false), burst(5_000.0, 1, 3_000.0, true)];
        let at = "worst: the episode at 5s..7s".to_string();
        assert_eq!(judged("3s", list()), (Pass, Some(3_000.0), at.clone(), true), "at the limit it holds");
        assert_eq!(judged("2999ms", list()), (Fail, Some(3_000.0), at, false));
        // Episodes in which nothing failed (failed over in time, or retried) hold, as does a run without any.
        let clean = vec![burst(1_000.0, 0, 0.0, false)];
        assert_eq!(judged("0s", clean), (Pass, Some(0.0), "no request failed".into(), true));
        assert_eq!(judged("0s", vec![]), (Pass, Some(0.0), "no failover episode".into(), true));
        // Merged shards tracked no episodes: undecided.
        let untracked = Episodes { primary: None, ..tracked(list()) };
        let t = episode_targets(&sla("max_error_burst = \"1s\""), &untracked, 9_000.0);
        assert_eq!((t[0].judgement, t[0].measured_ms), (InsufficientData, None));
    }

    #[test]
    fn episodes_past_the_cap_are_said_to_be_left_out_of_the_judgement() {
        let mut episodes = tracked(vec![episode(1_000.0, 2_000.0, 1, Some(10.0), Some(10.0))]);
        let within = episode_targets(&sla(ALL), &episodes, 9_000.0);
        assert!(within.iter().all(|t| !t.note.as_deref().unwrap().contains("only counted")), "{within:?}");
        episodes.beyond_cap = 3;
        let past = episode_targets(&sla(ALL), &episodes, 9_000.0);
        for t in &past {
            let note = t.note.as_deref().unwrap();
            assert!(note.ends_with("; judged on the first 1 episodes; 3 more were only counted"), "{note}");
        }
    }

    #[test]
    fn no_episode_holds_and_isolated_anomalies_count_for_errors_only() {
        use Judgement::*;
        assert_eq!(judge(vec![], 1_000.0), [(Pass, None, None), (Pass, None, Some(0)), (Pass, None, None)]);
        let mut lone = episode(100.0, 100.0, 1, None, None);
        lone.isolated = true;
        let t = episode_targets(&sla(ALL), &tracked(vec![lone]), 1_000.0);
        assert_eq!(t.iter().map(|t| t.judgement).collect::<Vec<_>>(), [Pass, Pass, Pass]);
        assert_eq!(t[0].note.as_deref(), Some("no outage: 1 isolated anomalies only"));
        assert_eq!(t[1].measured_count, Some(1));
        // Beside an outage, the lone anomaly's slower failover (1.5 s) and recovery are left out, and said to be.
        let lone = Episode { isolated: true, ..episode(100.0, 100.0, 1, Some(1_500.0), Some(1_600.0)) };
        let outage = episode(1_000.0, 2_000.0, 3, Some(150.0), Some(900.0));
        let t = episode_targets(&sla(ALL), &tracked(vec![lone, outage]), 9_000.0);
        let failover_and_recovery = [&t[0], &t[2]].map(|t| (t.judgement, t.measured_ms, t.note.clone().unwrap()));
        let note = "worst: the episode at 1s..2s; 1 isolated anomalies not judged".to_string();
        assert_eq!(failover_and_recovery, [(Pass, Some(150.0), note.clone()), (Pass, Some(900.0), note)]);
    }

    #[test]
    fn an_outage_that_never_failed_over_fails_and_one_still_open_is_judged_on_what_it_took_so_far() {
        use Judgement::*;
        let t = episode_targets(&sla(ALL), &tracked(vec![episode(1_000.0, 3_000.0, 40, None, Some(5.0))]), 9_000.0);
        assert_eq!(t[0].judgement, Fail);
        assert!(t[0].note.as_deref().unwrap().contains("never failed over: 40 requests failed"), "{:?}", t[0].note);
        // Open at the end: 600 ms after its last anomaly so far (under 1 s: undecided), or 1,500 ms (a fail).
        assert_eq!(
            judge(vec![episode(1_000.0, 2_400.0, 0, Some(20.0), None)], 3_000.0)[2],
            (InsufficientData, Some(600.0), None)
        );
        assert_eq!(
            judge(vec![episode(1_000.0, 1_500.0, 0, Some(20.0), None)], 3_000.0)[2],
            (Fail, Some(1_500.0), None)
        );
    }

    #[test]
    fn an_open_episode_exactly_at_the_limit_is_not_yet_past_it() {
        // 1,000 ms after its last anomaly on a 1 s limit: it may still recover in time.
        let open = episode(1_000.0, 2_000.0, 0, Some(20.0), None);
        assert_eq!(judge(vec![open], 3_000.0)[2], (Judgement::InsufficientData, Some(1_000.0), None));
    }

    #[test]
    fn an_outage_of_retries_that_the_primary_answered_needed_no_failover() {
        // No request failed and none was served elsewhere: nothing to fail over from.
        let t = episode_targets(&sla(ALL), &tracked(vec![episode(1_000.0, 1_200.0, 0, None, Some(3.0))]), 9_000.0);
        assert_eq!((t[0].judgement, t[0].measured_ms), (Judgement::Pass, None));
        assert!(t[0].note.as_deref().unwrap().starts_with("no episode needed a failover"), "{:?}", t[0].note);
    }

    #[test]
    fn untracked_episodes_are_undecided() {
        let t = episode_targets(&sla(ALL), &Episodes::default(), 1_000.0);
        assert!(t
            .iter()
            .all(|t| t.judgement == Judgement::InsufficientData && t.note.as_deref().unwrap().contains("merge")));
    }
}
