//! The schedules' unit tests: every count and time is worked out by hand from the profile's formula.

use super::*;

fn profile(toml_load: &str) -> Profile {
    let load: Load = toml::from_str(&format!("{toml_load}\n")).unwrap();
    Profile::from_load(&load, Path::new(".")).unwrap()
}

fn count_between(times: &[Duration], a: f64, b: f64) -> usize {
    times.iter().filter(|t| t.as_secs_f64() >= a && t.as_secs_f64() < b).count()
}

#[test]
fn constant_fires_rate_times_duration_evenly() {
    let p = profile("profile = \"constant\"\nrate = \"50000/min\"\nduration = \"12s\"");
    let times: Vec<_> = p.schedule(Arrivals::Uniform, 1).collect();
    assert_eq!(times.len(), 10_000);
    assert_eq!(times.len() as u64, p.uniform_count());
    let gap = times[1] - times[0];
    assert!((gap.as_secs_f64() - 60.0 / 50_000.0).abs() < 1e-9);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn ramp_count_is_the_area_under_the_line() {
    let p = profile("profile = \"ramp\"\nfrom = \"0/s\"\nto = \"200/s\"\nduration = \"10s\"");
    let times: Vec<_> = p.schedule(Arrivals::Uniform, 1).collect();
    assert_eq!(times.len(), 1000); // ½ · 200 · 10
                                   // The first half of the time holds a quarter of the requests.
    assert_eq!(count_between(&times, 0.0, 5.0), 250);
}

#[test]
fn burst_follows_base_and_peak() {
    let p = profile(
        "profile = \"burst\"\nbase = \"600/min\"\npeak = \"6000/min\"\nburst_every = \"10s\"\nburst_for = \"2s\"\nduration = \"30s\"",
    );
    let times: Vec<_> = p.schedule(Arrivals::Uniform, 1).collect();
    // Each 10 s period: 8 s at 10/s and 2 s at 100/s.
    assert_eq!(times.len(), 3 * (80 + 200));
    assert_eq!(count_between(&times, 8.0, 10.0), 200);
    assert_eq!(count_between(&times, 0.0, 8.0), 80);
    assert_eq!(p.peak_rate(), 100.0);
}

#[test]
fn steps_spike_and_sine_match_their_formulas() {
    let steps =
        profile("profile = \"steps\"\nsteps = [{ rate = \"10/s\", for = \"2s\" }, { rate = \"50/s\", for = \"3s\" }]");
    assert_eq!(steps.duration, Duration::from_secs(5));
    let times: Vec<_> = steps.schedule(Arrivals::Uniform, 1).collect();
    assert_eq!((times.len(), count_between(&times, 2.0, 5.0)), (170, 150));

    let spike = profile("profile = \"spike\"\nbase = \"10/s\"\npeak = \"100/s\"\nspike_at = \"4s\"\nspike_for = \"1s\"\nduration = \"10s\"");
    let times: Vec<_> = spike.schedule(Arrivals::Uniform, 1).collect();
    assert_eq!((times.len(), count_between(&times, 4.0, 5.0)), (190, 100));

    let sine =
        profile("profile = \"sine\"\nmean = \"100/s\"\namplitude = \"50/s\"\nperiod = \"4s\"\nduration = \"8s\"");
    let times: Vec<_> = sine.schedule(Arrivals::Uniform, 1).collect();
    assert_eq!(times.len(), 800); // whole periods: the sine integrates to zero
                                  // First half-period: 100·2 + 50·4/π ≈ 263.66 requests.
    let expected = 200.0 + 200.0 / std::f64::consts::PI;
    assert!((count_between(&times, 0.0, 2.0) as f64 - expected).abs() <= 1.0);
}

#[test]
fn poisson_keeps_the_mean_rate_and_is_seeded() {
    let p = profile("profile = \"constant\"\nrate = \"1000/s\"\nduration = \"20s\"");
    let a: Vec<_> = p.schedule(Arrivals::Poisson, 7).collect();
    let b: Vec<_> = p.schedule(Arrivals::Poisson, 7).collect();
    assert_eq!(a, b);
    // 20,000 expected, sd √20,000 ≈ 141: within 4 sd.
    assert!((a.len() as f64 - 20_000.0).abs() < 570.0, "{}", a.len());
    // Gaps are exponential: their coefficient of variation is near 1 (uniform would be 0).
    let gaps: Vec<f64> = a.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    assert!((sd / mean - 1.0).abs() < 0.05, "cv {}", sd / mean);
}

/// The coefficient of variation of the gaps between `times`.
fn gaps_cv(times: &[Duration]) -> f64 {
    let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt() / mean
}

#[test]
fn gamma_keeps_the_mean_rate_and_spreads_gaps_by_its_burstiness() {
    use crate::scenario::Burstiness;
    let p = profile("profile = \"constant\"\nrate = \"1000/s\"\nduration = \"20s\"");
    let gamma = |b: f64| Arrivals::Gamma(Burstiness::try_from(b).unwrap());
    assert_eq!(p.schedule(gamma(0.25), 7).collect::<Vec<_>>(), p.schedule(gamma(0.25), 7).collect::<Vec<_>>());
    // Shape k, scale 1/k: gaps of mean 1 ms and coefficient of variation 1/√k (2 for k = 1/4, 0.5 for k = 4).
    for (b, cv) in [(0.25, 2.0), (1.0, 1.0), (4.0, 0.5)] {
        let times: Vec<_> = p.schedule(gamma(b), 7).collect();
        // The count's sd is about cv·√20,000 (a renewal process): within 4 of them.
        let tolerance = 4.0 * cv * 20_000f64.sqrt();
        assert!((times.len() as f64 - 20_000.0).abs() < tolerance, "burstiness {b}: {} requests", times.len());
        let measured = gaps_cv(&times);
        assert!((measured / cv - 1.0).abs() < 0.1, "burstiness {b}: cv {measured}, expected {cv}");
    }
    assert!(Burstiness::try_from(0.0).is_err() && Burstiness::try_from(f64::NAN).is_err());
    assert!(Burstiness::try_from(1000.5).is_err() && Burstiness::try_from(1000.0).is_ok());
}

fn shape_error(toml_load: &str) -> ShapeError {
    let load: Load = toml::from_str(&format!("{toml_load}\n")).unwrap();
    Profile::from_load(&load, Path::new(".")).unwrap_err()
}

fn uniform(p: &Profile) -> Vec<Duration> {
    p.schedule(Arrivals::Uniform, 1).collect()
}

// ---- Shards --------------------------------------------------------------------------------------------------

#[test]
fn a_shard_keeps_every_nth_request_from_its_index() {
    let s: Shard = "1/4".parse().unwrap();
    assert_eq!(s, Shard { index: 1, count: 4 });
    assert_eq!(s.to_string(), "1/4");
    let kept: Vec<u64> = (0..12).filter(|r| s.keeps(*r)).collect();
    assert_eq!(kept, [1, 5, 9]);
    assert_eq!(" 0 / 1 ".parse::<Shard>().unwrap(), Shard { index: 0, count: 1 });
    assert_eq!("4/4".parse::<Shard>().unwrap_err(), "`4/4`: shards of 4 are numbered 0 to 3");
    assert_eq!("0/0".parse::<Shard>().unwrap_err(), "`0/0`: the number of shards must be at least 1");
    for bad in ["1", "a/4", "1/b", "-1/4"] {
        assert!(bad.parse::<Shard>().unwrap_err().contains("expected I/N"), "{bad}");
    }
}

// ---- The rate curve, by hand ---------------------------------------------------------------------------------

#[test]
fn a_linear_segment_integrates_and_inverts_its_line() {
    // 0 → 200/s over 10 s: rate 100 at 5 s; Λ(τ) = 10 τ², so Λ(10) = 1,000 and Λ⁻¹(250) = 5.
    let up = linear(0.0, 10.0, 0.0, 200.0);
    assert_eq!((up.rate(5.0), up.integral(10.0), up.integral(5.0)), (100.0, 1_000.0, 250.0));
    assert!((up.invert(250.0) - 5.0).abs() < 1e-9);
    // 200 → 0/s: Λ(τ) = 200 τ − 10 τ²; Λ(5) = 750, so Λ⁻¹(750) = 5 (the root inside the segment, not 15).
    let down = linear(0.0, 10.0, 200.0, 0.0);
    assert_eq!((down.rate(2.5), down.integral(5.0)), (150.0, 750.0));
    assert!((down.invert(750.0) - 5.0).abs() < 1e-9);
    // Flat at 40/s: Λ⁻¹(10) = 0.25 s; nothing before the start.
    let flat = linear(3.0, 2.0, 40.0, 40.0);
    assert_eq!((flat.invert(10.0), flat.invert(0.0), flat.invert(-1.0)), (0.25, 0.0, 0.0));
    // The inverse stays inside its segment.
    assert_eq!(up.invert(5_000.0), 10.0);
}

#[test]
fn a_sine_segment_integrates_and_inverts_its_curve() {
    // 100 + 50 sin(2π t / 4): rate 150 at 1 s; Λ(1) = 100 + 50 · (4 / 2π) · (cos 0 − cos π/2) = 100 + 100/π.
    let s = Segment { start: 0.0, len: 8.0, curve: Curve::Sine { mean: 100.0, amplitude: 50.0, period: 4.0 } };
    let at_one = 100.0 + 100.0 / std::f64::consts::PI;
    assert!((s.rate(1.0) - 150.0).abs() < 1e-9 && (s.rate(3.0) - 50.0).abs() < 1e-9);
    assert!((s.integral(1.0) - at_one).abs() < 1e-9);
    assert!((s.integral(4.0) - 400.0).abs() < 1e-9, "a whole period integrates to mean × period");
    assert!((s.invert(at_one) - 1.0).abs() < 1e-6);
    // A segment that starts 1 s into the run is a quarter period on: its rate at τ = 0 is the peak.
    let later = Segment { start: 1.0, ..s };
    assert!((later.rate(0.0) - 150.0).abs() < 1e-9);
    // Λ(2) = 200 + 50 · (4 / 2π) · (cos 0 − cos π) = 200 + 200/π, so Λ(2) − Λ(1) = 100 + 100/π: the second
    // quarter mirrors the first.
    assert!((later.integral(1.0) - at_one).abs() < 1e-9);
}

#[test]
fn steps_are_cut_or_stretched_to_a_given_duration() {
    let steps = "profile = \"steps\"\nsteps = [{ rate = \"10/s\", for = \"2s\" }, { rate = \"50/s\", for = \"3s\" }]";
    let natural = profile(steps);
    // 10/s for 2 s, then 50/s for 3 s: Λ(3) = 20 + 50 = 70; Λ(5) = 170; nothing after 5 s.
    assert_eq!((natural.expected_by(3.0), natural.expected_by(5.0), natural.expected_by(100.0)), (70.0, 170.0, 170.0));
    assert_eq!(
        (natural.rate_at(1.0), natural.rate_at(2.0), natural.rate_at(5.0), natural.rate_at(-1.0)),
        (10.0, 50.0, 0.0, 0.0)
    );
    assert_eq!((natural.uniform_count(), natural.peak_rate()), (170, 50.0));
    // Cut at 3 s: 20 + 50; stretched to 7 s: the last step lasts 5 s, 20 + 250; cut inside the first: 10.
    let cut = profile(&format!("{steps}\nduration = \"3s\""));
    assert_eq!((uniform(&cut).len(), cut.duration), (70, Duration::from_secs(3)));
    assert_eq!(uniform(&profile(&format!("{steps}\nduration = \"7s\""))).len(), 270);
    assert_eq!(uniform(&profile(&format!("{steps}\nduration = \"1s\""))).len(), 10);
}

#[test]
fn the_uniform_count_is_every_k_below_the_integral() {
    // Λ(D) = 1,000 exactly: k = 0 … 999. Λ(D) = 1,000.5: k = 0 … 1,000.
    assert_eq!(Profile::constant(100.0, Duration::from_secs(10)).uniform_count(), 1_000);
    assert_eq!(Profile::constant(100.0, Duration::from_millis(10_005)).uniform_count(), 1_001);
    assert_eq!(uniform(&Profile::constant(100.0, Duration::from_millis(10_005))).len(), 1_001);
    // The first request is due at once, the last at 999/100 s.
    let times = uniform(&Profile::constant(100.0, Duration::from_secs(10)));
    assert_eq!((times[0], times[999]), (Duration::ZERO, Duration::from_secs_f64(9.99)));
}

#[test]
fn a_spike_at_the_start_has_no_empty_base_before_it() {
    let p = profile("profile = \"spike\"\nbase = \"10/s\"\npeak = \"100/s\"\nspike_at = \"0s\"\nspike_for = \"1s\"\nduration = \"10s\"");
    let times = uniform(&p);
    // 100 in the first second, then 9 s at 10/s.
    assert_eq!((times.len(), count_between(&times, 0.0, 1.0)), (190, 100));
    assert_eq!((p.rate_at(0.5), p.rate_at(1.5), p.peak_rate()), (100.0, 10.0, 100.0));
}

#[test]
fn ramps_and_sines_peak_where_their_formula_says() {
    let down = profile("profile = \"ramp\"\nfrom = \"300/s\"\nto = \"100/s\"\nduration = \"10s\"");
    assert_eq!((down.peak_rate(), down.rate_at(5.0)), (300.0, 200.0));
    // ½ (300 + 100) · 10 = 2,000 requests.
    assert_eq!(uniform(&down).len(), 2_000);
    let sine =
        profile("profile = \"sine\"\nmean = \"100/s\"\namplitude = \"50/s\"\nperiod = \"4s\"\nduration = \"8s\"");
    assert_eq!(sine.peak_rate(), 150.0);
}

// ---- Traces ------------------------------------------------------------------------------------------------

fn trace_profile(file: &str, text: &str, duration: Option<&str>) -> Result<Profile, ShapeError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), text).unwrap();
    let extra = duration.map(|d| format!("\nduration = \"{d}\"")).unwrap_or_default();
    let load: Load = toml::from_str(&format!("profile = \"trace\"\ntrace = \"{file}\"{extra}\n")).unwrap();
    Profile::from_load(&load, dir.path())
}

#[test]
fn a_trace_of_offsets_fires_each_offset_once() {
    // Offsets on whole seconds too: a second's count holds its start and not its end.
    let text = "offset_ms\n0\n500\n1000\n1500\n2000\n2500\n";
    let p = trace_profile("t.csv", text, None).unwrap();
    // Its natural length ends 1 ms after the last offset.
    assert_eq!(p.duration, Duration::from_millis(2_501));
    let ms = |v: &[u64]| v.iter().map(|m| Duration::from_millis(*m)).collect::<Vec<_>>();
    assert_eq!(uniform(&p), ms(&[0, 500, 1_000, 1_500, 2_000, 2_500]));
    assert_eq!((p.rate_at(0.2), p.rate_at(1.0), p.rate_at(2.9), p.peak_rate()), (2.0, 2.0, 2.0, 2.0));
    // Requests due before t: strictly before.
    assert_eq!((p.expected_by(0.5), p.expected_by(1.0), p.expected_by(1.6), p.uniform_count()), (1.0, 2.0, 4.0, 6));
    // Cut at 2 s: the requests at 2 s and 2.5 s are not sent.
    let cut = trace_profile("t.csv", text, Some("2s")).unwrap();
    assert_eq!((uniform(&cut), cut.uniform_count()), (ms(&[0, 500, 1_000, 1_500]), 4));
}

#[test]
fn a_trace_of_rates_is_a_step_curve() {
    // 10/s from 0 s, 20/s from 2 s for one second: 20 + 20 requests over a natural 3 s.
    let p = trace_profile("r.jsonl", "{\"t_s\": 0, \"rate\": 10}\n{\"t_s\": 2, \"rate\": 20}\n", None).unwrap();
    assert_eq!((p.duration, uniform(&p).len(), p.peak_rate()), (Duration::from_secs(3), 40, 20.0));
    let empty = trace_profile("e.csv", "offset_ms\n", None).unwrap_err();
    assert_eq!(empty.field, "trace");
    assert!(empty.message.ends_with("e.csv: the trace holds no rows"), "{}", empty.message);
    let missing = shape_error("profile = \"trace\"\ntrace = \"/nonexistent/trace.csv\"");
    assert_eq!(missing.field, "trace");
}

// ---- Every shape checks its own keys and values ------------------------------------------------------------

#[test]
fn each_profile_takes_exactly_its_keys() {
    let e = shape_error("profile = \"constant\"\nrate = \"5/s\"\nduration = \"1s\"\npeak = \"9/s\"");
    assert_eq!(e.field, "peak");
    assert_eq!(e.message, "not used by profile \"constant\", which takes rate, duration");
    let e = shape_error("profile = \"burst\"\nbase = \"5/s\"\npeak = \"9/s\"\nburst_for = \"1s\"\nduration = \"9s\"");
    assert_eq!(e.field, "burst_every");
    assert_eq!(
        e.message,
        "profile \"burst\" needs `burst_every` (it takes base, peak, burst_every, burst_for, duration)"
    );
    for (load, field) in [
        ("profile = \"constant\"\nrate = \"5/s\"", "duration"),
        ("profile = \"ramp\"\nfrom = \"5/s\"\nduration = \"1s\"", "to"),
        ("profile = \"steps\"", "steps"),
        ("profile = \"spike\"\nbase = \"1/s\"\npeak = \"5/s\"\nspike_for = \"1s\"\nduration = \"9s\"", "spike_at"),
        ("profile = \"sine\"\nmean = \"5/s\"\nperiod = \"1s\"\nduration = \"9s\"", "amplitude"),
        ("profile = \"trace\"", "trace"),
        ("profile = \"sine\"\nmean = \"5/s\"\namplitude = \"1/s\"\nperiod = \"1s\"\nduration = \"9s\"\nsteps = [{ rate = \"1/s\", for = \"1s\" }]", "steps"),
    ] {
        assert_eq!(shape_error(load).field, field, "{load}");
    }
}

#[test]
fn each_shape_refuses_values_that_make_no_schedule() {
    let refusal = |r: Result<(), ShapeError>| r.map(|_| ()).unwrap_err();
    let s = Duration::from_secs(10);
    let cases = [
        (refusal(Constant::new(0.0, s).map(drop)), "rate", "must be above zero"),
        (refusal(Constant::new(5.0, Duration::ZERO).map(drop)), "duration", "must be above zero"),
        (refusal(Ramp::new(0.0, 0.0, s).map(drop)), "to", "a ramp from 0 to 0 sends nothing"),
        (refusal(Steps::new(vec![(5.0, 1.0), (5.0, 0.0)], None).map(drop)), "steps[1].for", "must be above zero"),
        (refusal(Steps::new(vec![], None).map(drop)), "steps", "profile \"steps\" needs at least one step"),
        (refusal(Burst::new(1.0, 5.0, 2.0, 2.0, s).map(drop)), "burst_for", "must be shorter than burst_every (2s)"),
        (refusal(Burst::new(6.0, 5.0, 2.0, 1.0, s).map(drop)), "peak", "must not be below base"),
        (refusal(Burst::new(1.0, 0.0, 2.0, 1.0, s).map(drop)), "peak", "must be above zero"),
        (refusal(Burst::new(1.0, 5.0, 0.0, 1.0, s).map(drop)), "burst_every", "must be above zero"),
        (refusal(Burst::new(1.0, 5.0, 2.0, 0.0, s).map(drop)), "burst_for", "must be above zero"),
        (refusal(Spike::new(1.0, 5.0, 9.5, 1.0, s).map(drop)), "spike_at", "the spike must end within the duration"),
        (refusal(Spike::new(1.0, 5.0, 1.0, 0.0, s).map(drop)), "spike_for", "must be above zero"),
        (
            refusal(Sine::new(5.0, 6.0, 1.0, s).map(drop)),
            "amplitude",
            "must not exceed mean (a rate cannot go below zero)",
        ),
        (refusal(Sine::new(0.0, 0.0, 1.0, s).map(drop)), "mean", "must be above zero"),
        (refusal(Sine::new(5.0, 1.0, 0.0, s).map(drop)), "period", "must be above zero"),
    ];
    for (e, field, message) in cases {
        assert_eq!((e.field.as_str(), e.message.as_str()), (field, message));
    }
    // The edges that are allowed: a spike that ends exactly at the end, a sine that touches zero, a burst
    // whose peak equals its base.
    assert!(Spike::new(1.0, 5.0, 9.0, 1.0, s).is_ok());
    assert!(Sine::new(5.0, 5.0, 1.0, s).is_ok());
    assert!(Burst::new(5.0, 5.0, 2.0, 1.0, s).is_ok());
    assert!(Ramp::new(0.0, 5.0, s).is_ok());
}

#[test]
fn a_rate_above_what_one_process_can_pace_is_refused_on_the_key_that_sets_it() {
    let e = shape_error("profile = \"constant\"\nrate = \"1000001/s\"\nduration = \"1s\"");
    assert_eq!(e.field, "rate");
    assert_eq!(
        e.message,
        "the peak rate is above 1000000/s, more than one process can pace; shard the load over several processes"
    );
    assert!(profile("profile = \"constant\"\nrate = \"1000000/s\"\nduration = \"1s\"").peak_rate() == MAX_RATE);
    let fields = [
        ("profile = \"ramp\"\nfrom = \"1/s\"\nto = \"2000000/s\"\nduration = \"1s\"", "to"),
        ("profile = \"steps\"\nsteps = [{ rate = \"2000000/s\", for = \"1s\" }]", "steps"),
        ("profile = \"spike\"\nbase = \"1/s\"\npeak = \"2000000/s\"\nspike_at = \"0s\"\nspike_for = \"1s\"\nduration = \"2s\"", "peak"),
        ("profile = \"sine\"\nmean = \"2000000/s\"\namplitude = \"0/s\"\nperiod = \"1s\"\nduration = \"2s\"", "mean"),
    ];
    for (load, field) in fields {
        assert_eq!(shape_error(load).field, field, "{load}");
    }
}

#[test]
fn the_sine_inverse_is_exact_and_takes_a_handful_of_newton_steps() {
    // Over two periods of 100 ± 50/s, and of a rate that touches zero (100 ± 100/s), every whole request.
    // (Newton slows where the rate nears zero: 5 steps at most for 100 ± 50/s, 12 for 100 ± 100/s.)
    for (amplitude, bound) in [(50.0, 8), (100.0, 16)] {
        let s = Segment { start: 0.0, len: 8.0, curve: Curve::Sine { mean: 100.0, amplitude, period: 4.0 } };
        let mut most = 0;
        for k in 1..800 {
            let y = k as f64;
            let (tau, steps) = s.invert_sine(y);
            assert!((s.integral(tau) - y).abs() < 1e-9, "Λ({tau}) = {} for {y}", s.integral(tau));
            most = most.max(steps);
        }
        // Bisection alone would need log2(8 s / 1e-11 s) ≈ 40 steps; Newton's take a handful.
        assert!(most <= bound, "{most} steps at amplitude {amplitude}");
    }
}

#[test]
fn a_cut_on_a_step_boundary_leaves_no_empty_step() {
    let steps = "profile = \"steps\"\nsteps = [{ rate = \"10/s\", for = \"2s\" }, { rate = \"50/s\", for = \"3s\" }]";
    let cut = profile(&format!("{steps}\nduration = \"2s\""));
    assert!(matches!(&cut.shape, Shape::Segments(s) if s.len() == 1 && s[0].len == 2.0));
    assert_eq!(uniform(&cut).len(), 20);
}
