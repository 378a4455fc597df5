//! Arrival schedules: when each request is due.
//!
//! A profile is a rate over time, r(t). Its integral Λ(t) is the expected number of requests by time t. The
//! schedule inverts Λ: with uniform arrivals the k-th request is due at Λ⁻¹(k); with Poisson arrivals it is due
//! at Λ⁻¹(E₁ + … + E_k) for unit exponential draws E (the time-rescaling theorem), so both follow the profile
//! exactly and a trace replay fires its recorded offsets. Schedules are lazy: nothing is stored per request.

use crate::scenario::{Arrivals, LoadedScenario, ProfileKind};
use rand::SeedableRng;
use rand_distr::{Distribution, Exp1};
use rand_pcg::Pcg64Mcg;
use slacheck_common::tomlfile::FileError;
use std::f64::consts::TAU;
use std::sync::Arc;
use std::time::Duration;

/// `I/N`: this process sends shard I (counting from 0) of N of the schedule: every N-th request from request I.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether request number `request` of the schedule is this shard's to send.
    pub fn keeps(&self, request: u64) -> bool {
        request % u64::from(self.count) == u64::from(self.index)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || format!("`{s}`: expected I/N, shard I of N counting from 0, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let (index, count): (u32, u32) =
            (i.trim().parse().map_err(|_| usage())?, n.trim().parse().map_err(|_| usage())?);
        if count == 0 {
            return Err(format!("`{s}`: the number of shards must be at least 1"));
        }
        if index >= count {
            return Err(format!("`{s}`: shards of {count} are numbered 0 to {}", count - 1));
        }
        Ok(Shard { index, count })
    }
}

/// The highest rate slacheck schedules in one process: some 25 times what it can send on one core, and far
/// past what any one process can pace. Above it a run would spend its time counting requests it never sent.
pub const MAX_RATE: f64 = 1_000_000.0;

/// Why a rate above [`MAX_RATE`] is refused.
pub fn max_rate_message() -> String {
    format!("the peak rate is above {MAX_RATE:.0}/s, more than one process can pace")
}

/// A rate profile over a run of `duration`.
#[derive(Debug, Clone)]
pub struct Profile {
    pub duration: Duration,
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Shape {
    Segments(Vec<Segment>),
    /// Recorded offsets from a trace, sorted.
    Offsets(Arc<Vec<Duration>>),
}

/// One piece of the rate curve, from `start` for `len` seconds.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: f64,
    len: f64,
    curve: Curve,
}

#[derive(Debug, Clone, Copy)]
enum Curve {
    /// Rate moving linearly from `from` to `to` (per second).
    Linear { from: f64, to: f64 },
    /// `mean + amplitude · sin(2π t / period)`, t from the start of the run.
    Sine { mean: f64, amplitude: f64, period: f64 },
}

impl Segment {
    fn rate(&self, tau: f64) -> f64 {
        match self.curve {
            Curve::Linear { from, to } => from + (to - from) * tau / self.len,
            Curve::Sine { mean, amplitude, period } => mean + amplitude * (TAU * (self.start + tau) / period).sin(),
        }
    }

    /// Expected requests from the segment's start to `tau` seconds into it.
    fn integral(&self, tau: f64) -> f64 {
        match self.curve {
            Curve::Linear { from, to } => from * tau + (to - from) * tau * tau / (2.0 * self.len),
            Curve::Sine { mean, amplitude, period } => {
                let w = TAU / period;
                mean * tau + amplitude / w * ((w * self.start).cos() - (w * (self.start + tau)).cos())
            }
        }
    }

    /// The `tau` at which the integral reaches `y` (0 ≤ y ≤ integral(len)).
    fn invert(&self, y: f64) -> f64 {
        if y <= 0.0 {
            return 0.0;
        }
        match self.curve {
            Curve::Linear { from, to } => {
                let slope = (to - from) / self.len;
                if slope.abs() < 1e-12 {
                    return y / from;
                }
                // Root of from·τ + slope·τ²/2 = y, in the form that stays exact when slope is tiny.
                let disc = (from * from + 2.0 * slope * y).max(0.0);
                (2.0 * y / (from + disc.sqrt())).clamp(0.0, self.len)
            }
            Curve::Sine { .. } => {
                // Λ is increasing; Newton steps kept inside a shrinking bracket.
                let (mut lo, mut hi) = (0.0, self.len);
                let mut tau = (y / self.integral(self.len).max(1e-12) * self.len).clamp(lo, hi);
                for _ in 0..60 {
                    let f = self.integral(tau) - y;
                    if f.abs() < 1e-9 {
                        break;
                    }
                    if f > 0.0 {
                        hi = tau;
                    } else {
                        lo = tau;
                    }
                    let r = self.rate(tau);
                    let next = if r > 1e-9 { tau - f / r } else { f64::NAN };
                    tau = if next > lo && next < hi { next } else { (lo + hi) / 2.0 };
                }
                tau
            }
        }
    }
}

fn linear(start: f64, len: f64, from: f64, to: f64) -> Segment {
    Segment { start, len, curve: Curve::Linear { from, to } }
}

impl Profile {
    /// A constant rate (per second) for `duration`.
    pub fn constant(per_second: f64, duration: Duration) -> Self {
        Profile { duration, shape: Shape::Segments(vec![linear(0.0, duration.as_secs_f64(), per_second, per_second)]) }
    }

    /// Builds the profile a scenario's `[load]` describes, checking that exactly the keys it needs are set.
    pub fn from_scenario(loaded: &LoadedScenario) -> Result<Self, FileError> {
        let load = &loaded.scenario.load;
        let err = |field: &str, msg: String| loaded.error(&format!("load.{field}"), msg);
        let kind = load.profile;
        let uses: &[&str] = match kind {
            ProfileKind::Constant => &["rate", "duration"],
            ProfileKind::Ramp => &["from", "to", "duration"],
            ProfileKind::Steps => &["steps", "duration"],
            ProfileKind::Burst => &["base", "peak", "burst_every", "burst_for", "duration"],
            ProfileKind::Spike => &["base", "peak", "spike_at", "spike_for", "duration"],
            ProfileKind::Sine => &["mean", "amplitude", "period", "duration"],
            ProfileKind::Trace => &["trace", "duration"],
        };
        let set = [
            ("duration", load.duration.is_some()),
            ("rate", load.rate.is_some()),
            ("from", load.from.is_some()),
            ("to", load.to.is_some()),
            ("steps", !load.steps.is_empty()),
            ("base", load.base.is_some()),
            ("peak", load.peak.is_some()),
            ("burst_every", load.burst_every.is_some()),
            ("burst_for", load.burst_for.is_some()),
            ("spike_at", load.spike_at.is_some()),
            ("spike_for", load.spike_for.is_some()),
            ("mean", load.mean.is_some()),
            ("amplitude", load.amplitude.is_some()),
            ("period", load.period.is_some()),
            ("trace", load.trace.is_some()),
        ];
        let kind_name = format!("{kind:?}").to_lowercase();
        if let Some((name, _)) = set.iter().find(|(name, is_set)| *is_set && !uses.contains(name)) {
            return Err(err(name, format!("not used by profile {kind_name:?}, which takes {}", uses.join(", "))));
        }
        let need =
            |name: &str| err(name, format!("profile {kind_name:?} needs `{name}` (it takes {})", uses.join(", ")));
        // Steps and traces have a natural length; every other profile needs `duration`.
        let duration = match (kind, load.duration) {
            (_, Some(d)) if d.0.is_zero() => return Err(err("duration", "must be above zero".into())),
            (_, Some(d)) => Some(d.0),
            (ProfileKind::Steps | ProfileKind::Trace, None) => None,
            (_, None) => return Err(need("duration")),
        };
        let positive = |name: &str, r: Option<crate::units::Rate>| -> Result<f64, FileError> {
            let r = r.ok_or_else(|| need(name))?.per_second;
            if r > 0.0 {
                Ok(r)
            } else {
                Err(err(name, "must be above zero".into()))
            }
        };
        let zero_or_more =
            |name: &str, r: Option<crate::units::Rate>| r.map(|r| r.per_second).ok_or_else(|| need(name));
        let span = |name: &str, d: Option<crate::units::HumanDuration>| -> Result<f64, FileError> {
            let d = d.ok_or_else(|| need(name))?.0.as_secs_f64();
            if d > 0.0 {
                Ok(d)
            } else {
                Err(err(name, "must be above zero".into()))
            }
        };
        let profile = match kind {
            ProfileKind::Constant => Profile::constant(positive("rate", load.rate)?, duration.unwrap_or_default()),
            ProfileKind::Ramp => {
                let (from, to) = (zero_or_more("from", load.from)?, zero_or_more("to", load.to)?);
                if from == 0.0 && to == 0.0 {
                    return Err(err("to", "a ramp from 0 to 0 sends nothing".into()));
                }
                let d = duration.unwrap_or_default();
                Profile { duration: d, shape: Shape::Segments(vec![linear(0.0, d.as_secs_f64(), from, to)]) }
            }
            ProfileKind::Steps => {
                let mut segments = Vec::new();
                let mut at = 0.0;
                for (i, step) in load.steps.iter().enumerate() {
                    let len = step.lasts.0.as_secs_f64();
                    if len <= 0.0 {
                        return Err(err(&format!("steps[{i}].for"), "must be above zero".into()));
                    }
                    segments.push(linear(at, len, step.rate.per_second, step.rate.per_second));
                    at += len;
                }
                let total = Duration::from_secs_f64(at);
                Profile { duration: duration.unwrap_or(total), shape: Shape::Segments(segments) }.fit()
            }
            ProfileKind::Burst => {
                let (base, peak) = (zero_or_more("base", load.base)?, positive("peak", load.peak)?);
                let (every, lasts) = (span("burst_every", load.burst_every)?, span("burst_for", load.burst_for)?);
                if lasts >= every {
                    return Err(err("burst_for", format!("must be shorter than burst_every ({every}s)")));
                }
                if peak < base {
                    return Err(err("peak", "must not be below base".into()));
                }
                let d = duration.unwrap_or_default();
                let mut segments = Vec::new();
                let mut at = 0.0;
                while at < d.as_secs_f64() {
                    segments.push(linear(at, every - lasts, base, base));
                    segments.push(linear(at + every - lasts, lasts, peak, peak));
                    at += every;
                }
                Profile { duration: d, shape: Shape::Segments(segments) }.fit()
            }
            ProfileKind::Spike => {
                let (base, peak) = (zero_or_more("base", load.base)?, positive("peak", load.peak)?);
                let at = load.spike_at.ok_or_else(|| need("spike_at"))?.0.as_secs_f64();
                let lasts = span("spike_for", load.spike_for)?;
                let d = duration.unwrap_or_default();
                if at + lasts > d.as_secs_f64() {
                    return Err(err("spike_at", "the spike must end within the duration".into()));
                }
                let mut segments = vec![linear(0.0, at, base, base), linear(at, lasts, peak, peak)];
                segments.push(linear(at + lasts, d.as_secs_f64() - at - lasts, base, base));
                segments.retain(|s| s.len > 0.0);
                Profile { duration: d, shape: Shape::Segments(segments) }
            }
            ProfileKind::Sine => {
                let mean = positive("mean", load.mean)?;
                let amplitude = zero_or_more("amplitude", load.amplitude)?;
                let period = span("period", load.period)?;
                if amplitude > mean {
                    return Err(err("amplitude", "must not exceed mean (a rate cannot go below zero)".into()));
                }
                let d = duration.unwrap_or_default();
                let seg = Segment { start: 0.0, len: d.as_secs_f64(), curve: Curve::Sine { mean, amplitude, period } };
                Profile { duration: d, shape: Shape::Segments(vec![seg]) }
            }
            ProfileKind::Trace => {
                let file = load.trace.as_ref().ok_or_else(|| need("trace"))?;
                let path = loaded.resolve(file);
                let trace = crate::trace::read(&path).map_err(|e| err("trace", e.to_string()))?;
                let profile = match trace {
                    crate::trace::Trace::Offsets(offsets) => {
                        let natural = offsets.last().map(|l| *l + Duration::from_millis(1)).unwrap_or_default();
                        Profile { duration: duration.unwrap_or(natural), shape: Shape::Offsets(Arc::new(offsets)) }
                    }
                    crate::trace::Trace::Rates(rates) => {
                        let segments: Vec<_> = rates.iter().map(|(t, len, r)| linear(*t, *len, *r, *r)).collect();
                        let natural = segments.last().map(|s| s.start + s.len).unwrap_or(0.0);
                        Profile {
                            duration: duration.unwrap_or(Duration::from_secs_f64(natural)),
                            shape: Shape::Segments(segments),
                        }
                        .fit()
                    }
                };
                if profile.duration.is_zero() {
                    return Err(err("trace", format!("{} holds no requests", path.display())));
                }
                profile
            }
        };
        if profile.peak_rate() > MAX_RATE {
            let field = match kind {
                ProfileKind::Constant => "rate",
                ProfileKind::Ramp => "to",
                ProfileKind::Steps => "steps",
                ProfileKind::Burst | ProfileKind::Spike => "peak",
                ProfileKind::Sine => "mean",
                ProfileKind::Trace => "trace",
            };
            return Err(err(field, format!("{}; shard the load over several processes", max_rate_message())));
        }
        Ok(profile)
    }

    /// Cuts segments at the duration, and stretches the last one if the duration is longer.
    fn fit(mut self) -> Self {
        let d = self.duration.as_secs_f64();
        if let Shape::Segments(segments) = &mut self.shape {
            segments.retain(|s| s.start < d);
            if let Some(last) = segments.last_mut() {
                last.len = d - last.start;
            }
        }
        self
    }

    /// The rate (per second) due at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        match &self.shape {
            Shape::Segments(segments) => segments
                .iter()
                .find(|s| t >= s.start && t < s.start + s.len)
                .map(|s| s.rate(t - s.start))
                .unwrap_or(0.0),
            Shape::Offsets(offsets) => {
                let (a, b) =
                    (Duration::from_secs_f64(t.floor().max(0.0)), Duration::from_secs_f64(t.floor().max(0.0) + 1.0));
                offsets.iter().filter(|o| **o >= a && **o < b).count() as f64
            }
        }
    }

    /// Expected requests in the first `t` seconds.
    pub fn expected_by(&self, t: f64) -> f64 {
        match &self.shape {
            Shape::Segments(segments) => {
                segments.iter().take_while(|s| s.start < t).map(|s| s.integral((t - s.start).min(s.len))).sum()
            }
            Shape::Offsets(offsets) => offsets.iter().filter(|o| o.as_secs_f64() < t).count() as f64,
        }
    }

    /// Requests a uniform schedule sends over the whole run: every k with Λ⁻¹(k) inside it.
    pub fn uniform_count(&self) -> u64 {
        match &self.shape {
            Shape::Offsets(offsets) => offsets.iter().filter(|o| **o < self.duration).count() as u64,
            Shape::Segments(_) => {
                let total = self.expected_by(self.duration.as_secs_f64());
                // k = 0, 1, … while k < Λ(D); the small epsilon absorbs float error on exact integers.
                (total - 1e-9).ceil().max(0.0) as u64
            }
        }
    }

    /// The highest rate anywhere in the profile (per second).
    pub fn peak_rate(&self) -> f64 {
        match &self.shape {
            Shape::Segments(segments) => segments
                .iter()
                .map(|s| match s.curve {
                    Curve::Linear { from, to } => from.max(to),
                    Curve::Sine { mean, amplitude, .. } => mean + amplitude,
                })
                .fold(0.0, f64::max),
            Shape::Offsets(_) => {
                (0..self.duration.as_secs().max(1)).map(|s| self.rate_at(s as f64)).fold(0.0, f64::max)
            }
        }
    }

    /// The lazy list of intended send times, as offsets from the start of the run.
    pub fn schedule(&self, arrivals: Arrivals, seed: u64) -> Schedule {
        Schedule {
            profile: self.clone(),
            rng: (arrivals == Arrivals::Poisson).then(|| Pcg64Mcg::seed_from_u64(seed)),
            next_count: 0.0,
            segment: 0,
            before_segment: 0.0,
            index: 0,
        }
    }
}

/// Intended send times in order; see [`Profile::schedule`].
pub struct Schedule {
    profile: Profile,
    rng: Option<Pcg64Mcg>,
    /// The value of Λ at which the next request is due.
    next_count: f64,
    segment: usize,
    /// Λ at the start of the current segment.
    before_segment: f64,
    index: usize,
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let duration = self.profile.duration;
        match &self.profile.shape {
            Shape::Offsets(offsets) => {
                let at = *offsets.get(self.index)?;
                self.index += 1;
                (at < duration).then_some(at)
            }
            Shape::Segments(segments) => {
                if let Some(rng) = &mut self.rng {
                    let gap: f64 = Exp1.sample(rng);
                    self.next_count += gap;
                }
                let target = self.next_count;
                if self.rng.is_none() {
                    self.next_count += 1.0;
                }
                loop {
                    let seg = segments.get(self.segment)?;
                    let total = seg.integral(seg.len);
                    if target < self.before_segment + total {
                        let t = seg.start + seg.invert(target - self.before_segment);
                        let at = Duration::from_secs_f64(t);
                        return (at < duration).then_some(at);
                    }
                    self.before_segment += total;
                    self.segment += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(toml_load: &str) -> Profile {
        let src = format!("name = \"t\"\n[target]\nmock = \"default\"\n[load]\n{toml_load}\n");
        let dir = std::env::temp_dir();
        let path = dir.join(format!("slacheck-profile-{}.toml", std::process::id()));
        let scenario: crate::scenario::Scenario = toml::from_str(&src).unwrap();
        let loaded = LoadedScenario { scenario, path, source: src };
        Profile::from_scenario(&loaded).unwrap()
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
        let steps = profile(
            "profile = \"steps\"\nsteps = [{ rate = \"10/s\", for = \"2s\" }, { rate = \"50/s\", for = \"3s\" }]",
        );
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
}
