//! The run's own exit code: a signal's code, the verdict's, and a write error that never hides a miss.

use super::*;
use crate::sla::{Judgement, TargetResult, Verdict};

/// A finished run whose verdict has one target with this judgement (and no target at all for None).
fn outcome(judgement: Option<Judgement>, insufficient_data: &str) -> RunOutcome {
    let text = format!("name = \"t\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"1s\"\n[sla]\ninsufficient_data = \"{insufficient_data}\"\n");
    let scenario: crate::scenario::Scenario = toml::from_str(&text).unwrap();
    let result = crate::measure::Recorder::new(Arc::default(), &["t".into()], &["c".into()], &[], None).finish().0;
    let targets: Vec<TargetResult> = judgement
        .map(|judgement| {
            let t: TargetResult = serde_json::from_value(serde_json::json!({
                "name": "p99", "limit": "1s", "judgement": judgement, "passed": judgement == Judgement::Pass
            }))
            .unwrap();
            t
        })
        .into_iter()
        .collect();
    let failed = targets.iter().any(|t| t.judgement == Judgement::Fail);
    let undecided = targets.iter().any(|t| t.judgement == Judgement::InsufficientData);
    let verdict = Verdict {
        passed: !failed && !undecided,
        insufficient_data: undecided && !failed,
        unmatched_scopes: Vec::new(),
        targets,
    };
    let facts = crate::report::RunFacts::example(1.0);
    RunOutcome {
        summary: Summary::new(&scenario, &result, verdict, facts),
        dir: PathBuf::from("out"),
        interrupted: None,
        replaced: Vec::new(),
        write_errors: Vec::new(),
        metrics: None,
    }
}

fn write_error() -> RunError {
    RunError::NotWritten { path: "out/summary.json".into(), source: std::io::Error::other("disk full") }
}

#[test]
fn the_verdict_decides_unless_a_signal_stopped_the_run() {
    assert_eq!(outcome(Some(Judgement::Pass), "fail").exit_code(), 0);
    assert_eq!(outcome(Some(Judgement::Fail), "fail").exit_code(), 1);
    assert_eq!(outcome(Some(Judgement::InsufficientData), "fail").exit_code(), 1);
    assert_eq!(outcome(Some(Judgement::InsufficientData), "pass").exit_code(), 0, "the scenario's own policy");
    assert_eq!(outcome(None, "fail").exit_code(), 0);
    for (stop, code) in [(Stop::Interrupt, 130), (Stop::Terminate, 143), (Stop::Hangup, 129)] {
        let mut o = outcome(Some(Judgement::Fail), "fail");
        o.interrupted = Some(stop);
        assert_eq!(o.exit_code(), code, "{stop:?}");
    }
}

#[test]
fn a_file_that_could_not_be_written_fails_a_passing_run_and_never_hides_a_miss() {
    let mut passing = outcome(Some(Judgement::Pass), "fail");
    passing.write_errors = vec![write_error()];
    assert_eq!(passing.exit_code(), 3);
    let mut missing = outcome(Some(Judgement::Fail), "fail");
    missing.write_errors = vec![write_error()];
    assert_eq!(missing.exit_code(), 1);
    let mut stopped = outcome(Some(Judgement::Pass), "fail");
    stopped.interrupted = Some(Stop::Terminate);
    stopped.write_errors = vec![write_error()];
    assert_eq!(stopped.exit_code(), 143, "a signal's code stays");
}
