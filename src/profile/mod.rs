//! Arrival schedules: when each request is due.
//!
//! A profile is a rate over time, r(t). Its integral Λ(t) is the expected number of requests by time t. The
//! schedule inverts Λ: with uniform arrivals the k-th request is due at Λ⁻¹(k); with Poisson arrivals it is due
//! at Λ⁻¹(E₁ + … + E_k) for unit exponential draws E (the time-rescaling theorem), and with gamma arrivals for
//! gamma draws of mean 1, so all follow the profile exactly and a trace replay fires its recorded offsets. Schedules are lazy: nothing is stored per request.
//! Each profile's keys are checked into its own typed shape first (`shape`).

mod shape;

pub use shape::{Burst, Constant, LoadShape, Ramp, ShapeError, Sine, Spike, Steps, TraceFile};

use crate::scenario::{Arrivals, Load};
use rand::SeedableRng;
use rand_distr::{Distribution, Exp1};
use rand_pcg::Pcg64Mcg;
use std::f64::consts::TAU;
use std::path::Path;
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
                // Root of from·τ + slope·τ²/2 = y, in the form that stays exact when slope is tiny (or zero:
                // then it is y / from).
                let disc = (from * from + 2.0 * slope * y).max(0.0);
                (2.0 * y / (from + disc.sqrt())).clamp(0.0, self.len)
            }
            Curve::Sine { .. } => self.invert_sine(y).0,
        }
    }

    /// The sine's inverse by Newton steps kept inside a shrinking bracket (Λ is increasing), with the number of
    /// steps taken: Newton's steps make it a handful where bisection alone would take some forty.
    fn invert_sine(&self, y: f64) -> (f64, u32) {
        let (mut lo, mut hi) = (0.0, self.len);
        let mut tau = (y / self.integral(self.len).max(1e-12) * self.len).clamp(lo, hi);
        for step in 0..60 {
            let f = self.integral(tau) - y;
            if f.abs() < 1e-9 {
                return (tau, step);
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
        (tau, 60)
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

    /// Builds the profile a `[load]` table describes (a trace path counts from `dir`): its keys and values are
    /// checked into a typed [`LoadShape`] first.
    pub fn from_load(load: &Load, dir: &Path) -> Result<Self, ShapeError> {
        LoadShape::from_load(load, dir)?.profile()
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
            gaps: RandomGaps::of(arrivals, seed),
            next_count: 0.0,
            segment: 0,
            before_segment: 0.0,
            index: 0,
        }
    }
}

/// Random gaps between requests, in units of Λ (mean 1): the profile's rate is kept whatever their spread.
enum RandomGaps {
    Exponential(Pcg64Mcg),
    /// Shape k and scale 1/k: mean 1, coefficient of variation 1/√k.
    Gamma(Pcg64Mcg, rand_distr::Gamma<f64>),
}

impl RandomGaps {
    fn of(arrivals: Arrivals, seed: u64) -> Option<Self> {
        let rng = Pcg64Mcg::seed_from_u64(seed);
        match arrivals {
            Arrivals::Uniform => None,
            Arrivals::Poisson => Some(RandomGaps::Exponential(rng)),
            Arrivals::Gamma(b) => {
                let shape = b.get();
                // Burstiness is checked to be in (0, 1000] when the scenario is read: both parameters are valid.
                let gamma = rand_distr::Gamma::new(shape, 1.0 / shape).expect("a checked burstiness");
                Some(RandomGaps::Gamma(rng, gamma))
            }
        }
    }

    fn next(&mut self) -> f64 {
        match self {
            RandomGaps::Exponential(rng) => Exp1.sample(rng),
            RandomGaps::Gamma(rng, gamma) => gamma.sample(rng),
        }
    }
}

/// Intended send times in order; see [`Profile::schedule`].
pub struct Schedule {
    profile: Profile,
    gaps: Option<RandomGaps>,
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
                if let Some(gaps) = &mut self.gaps {
                    self.next_count += gaps.next();
                }
                let target = self.next_count;
                if self.gaps.is_none() {
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
mod tests;
