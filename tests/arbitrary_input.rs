//! Arbitrary text as a scenario file and as a trace file: `validate` exits 0 or 2, and never panics.
//!
//! The library is called in-process for most cases (fast enough for hundreds of them), and the real binary for
//! a sample, so that the exit code itself is checked too.

mod common;
use proptest::prelude::*;
use slacheck::run::Overrides;
use slacheck::scenario::LoadedScenario;

/// Text that is often nearly a scenario: real keys and values, shuffled, cut and mixed with noise.
fn scenario_like() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "name = \"x\"\n",
        "[target]\n",
        "mock = \"default\"\n",
        "url = \"http://127.0.0.1:1/\"\n",
        "timeout = \"1s\"\n",
        "max_body = \"1KiB\"\n",
        "body_file = \"/dev/zero\"\n",
        "[load]\n",
        "profile = \"constant\"\n",
        "profile = \"trace\"\n",
        "trace = \"trace.csv\"\n",
        "rate = \"10/s\"\n",
        "rate = \"1e300/s\"\n",
        "duration = \"1s\"\n",
        "duration = \"1e300s\"\n",
        "[sla]\n",
        "window = \"1ns\"\n",
        "p99 = \"-1ms\"\n",
        "availability = \"100%\"\n",
        "[[tiers]]\n",
        "model = \"m\"\n",
        "[[mock.providers]]\n",
        "outages = [{ window = \"0s..1s\" }]\n",
        "= = =\n",
        "\"\n",
        "[",
    ]);
    prop_oneof![
        prop::collection::vec(pieces, 0..16).prop_map(|v| v.concat()),
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// Text that is often nearly a trace.
fn trace_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("offset_ms\n".to_string()),
        Just("t_s,rate\n".to_string()),
        any::<f64>().prop_map(|v| format!("{v}\n")),
        (any::<f64>(), any::<f64>()).prop_map(|(a, b)| format!("{a},{b}\n")),
        any::<f64>().prop_map(|v| format!("{{\"offset_ms\": {v}}}\n")),
        any::<String>(),
    ];
    prop::collection::vec(line, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_scenario_text_is_valid_or_a_located_error(text in scenario_like(), trace in trace_like()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("trace.csv"), &trace).unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, &text).unwrap();
        // A panic fails the test; an error must name the file.
        // As `validate` does: the file's checks, then the load shape's.
        let checked = LoadedScenario::read(&path).and_then(|l| l.with_overrides(&Overrides::default()));
        if let Err(e) = checked {
            prop_assert!(e.to_string().starts_with(&path.display().to_string()), "{e}");
        }
    }

    #[test]
    fn any_trace_text_is_read_or_refused(trace in trace_like(), jsonl in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let name = if jsonl { "trace.jsonl" } else { "trace.csv" };
        std::fs::write(dir.path().join(name), &trace).unwrap();
        let path = dir.path().join("s.toml");
        let text = format!("name = \"t\"\n[target]\nmock = \"default\"\n[load]\nprofile = \"trace\"\ntrace = \"{name}\"\n");
        std::fs::write(&path, text).unwrap();
        let _ = LoadedScenario::read(&path).and_then(|l| l.with_overrides(&Overrides::default()));
    }
}

#[test]
fn the_binary_exits_0_or_2_on_a_sample_of_arbitrary_scenarios() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let ws = common::Workspace::new();
    for i in 0..40 {
        let text = scenario_like().new_tree(&mut runner).unwrap().current();
        let trace = trace_like().new_tree(&mut runner).unwrap().current();
        ws.write("trace.csv", &trace);
        let file = ws.write(&format!("s{i}.toml"), &text);
        let o = std::process::Command::new(common::bin()).arg("validate").arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{text:?}: {stderr}");
        assert!(matches!(o.status.code(), Some(0 | 2)), "{text:?}: exit {:?}: {stderr}", o.status.code());
    }
}
