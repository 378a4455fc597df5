//! The load shapes, one type per profile. Each checks its own values when it is made (as vegeta's pacers do),
//! so a shape that exists is a valid one; [`LoadShape::from_load`] reads the `[load]` table into one, and
//! [`LoadShape::profile`] turns it into the rate curve the schedule inverts.

use super::{linear, max_rate_message, Curve, Profile, Segment, Shape, MAX_RATE};
use crate::scenario::{Load, ProfileKind};
use crate::units::{HumanDuration, Rate};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A `[load]` key that is missing, not used by its profile, or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("load.{field}: {message}")]
pub struct ShapeError {
    /// The key under `[load]`, e.g. `peak` or `steps[1].for`.
    pub field: String,
    pub message: String,
}

fn refuse<T>(field: &str, message: impl Into<String>) -> Result<T, ShapeError> {
    Err(ShapeError { field: field.into(), message: message.into() })
}

fn above_zero(field: &str, value: f64) -> Result<f64, ShapeError> {
    if value > 0.0 {
        Ok(value)
    } else {
        refuse(field, "must be above zero")
    }
}

/// A checked load shape.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadShape {
    Constant(Constant),
    Ramp(Ramp),
    Steps(Steps),
    Burst(Burst),
    Spike(Spike),
    Sine(Sine),
    Trace(TraceFile),
}

/// `rate` per second for `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    rate: f64,
    duration: Duration,
}

impl Constant {
    pub fn new(rate: f64, duration: Duration) -> Result<Self, ShapeError> {
        Ok(Constant { rate: above_zero("rate", rate)?, duration: nonzero(duration)? })
    }
}

/// From `from` to `to` per second, linearly, over `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    from: f64,
    to: f64,
    duration: Duration,
}

impl Ramp {
    pub fn new(from: f64, to: f64, duration: Duration) -> Result<Self, ShapeError> {
        if from == 0.0 && to == 0.0 {
            return refuse("to", "a ramp from 0 to 0 sends nothing");
        }
        Ok(Ramp { from, to, duration: nonzero(duration)? })
    }
}

/// (rate per second, seconds) one after another; cut or stretched to `duration` when one is given.
#[derive(Debug, Clone, PartialEq)]
pub struct Steps {
    steps: Vec<(f64, f64)>,
    duration: Option<Duration>,
}

impl Steps {
    pub fn new(steps: Vec<(f64, f64)>, duration: Option<Duration>) -> Result<Self, ShapeError> {
        if steps.is_empty() {
            return refuse("steps", "profile \"steps\" needs at least one step");
        }
        for (i, (_, len)) in steps.iter().enumerate() {
            above_zero(&format!("steps[{i}].for"), *len)?;
        }
        Ok(Steps { steps, duration: duration.map(nonzero).transpose()? })
    }
}

/// `base` per second, with `lasts` seconds at `peak` closing every `every` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    base: f64,
    peak: f64,
    every: f64,
    lasts: f64,
    duration: Duration,
}

impl Burst {
    pub fn new(base: f64, peak: f64, every: f64, lasts: f64, duration: Duration) -> Result<Self, ShapeError> {
        let (peak, every) = (above_zero("peak", peak)?, above_zero("burst_every", every)?);
        let lasts = above_zero("burst_for", lasts)?;
        if lasts >= every {
            return refuse("burst_for", format!("must be shorter than burst_every ({every}s)"));
        }
        if peak < base {
            return refuse("peak", "must not be below base");
        }
        Ok(Burst { base, peak, every, lasts, duration: nonzero(duration)? })
    }
}

/// `base` per second, with one stretch of `lasts` seconds at `peak` from `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    base: f64,
    peak: f64,
    at: f64,
    lasts: f64,
    duration: Duration,
}

impl Spike {
    pub fn new(base: f64, peak: f64, at: f64, lasts: f64, duration: Duration) -> Result<Self, ShapeError> {
        let (peak, lasts, duration) = (above_zero("peak", peak)?, above_zero("spike_for", lasts)?, nonzero(duration)?);
        if at + lasts > duration.as_secs_f64() {
            return refuse("spike_at", "the spike must end within the duration");
        }
        Ok(Spike { base, peak, at, lasts, duration })
    }
}

/// `mean + amplitude · sin(2π t / period)` per second.
#[derive(Debug, Clone, PartialEq)]
pub struct Sine {
    mean: f64,
    amplitude: f64,
    period: f64,
    duration: Duration,
}

impl Sine {
    pub fn new(mean: f64, amplitude: f64, period: f64, duration: Duration) -> Result<Self, ShapeError> {
        let (mean, period) = (above_zero("mean", mean)?, above_zero("period", period)?);
        if amplitude > mean {
            return refuse("amplitude", "must not exceed mean (a rate cannot go below zero)");
        }
        Ok(Sine { mean, amplitude, period, duration: nonzero(duration)? })
    }
}

/// A trace file, replayed for its own length or cut or stretched to `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFile {
    path: PathBuf,
    duration: Option<Duration>,
}

fn nonzero(d: Duration) -> Result<Duration, ShapeError> {
    if d.is_zero() {
        refuse("duration", "must be above zero")
    } else {
        Ok(d)
    }
}

impl LoadShape {
    /// Reads a `[load]` table: exactly the keys its profile takes must be set, each checked by its shape. A
    /// trace's path counts from `dir` (the scenario file's folder).
    pub fn from_load(load: &Load, dir: &Path) -> Result<Self, ShapeError> {
        let keys = Keys::of(load)?;
        let rate = |r: Option<Rate>, name: &str| r.map(|r| r.per_second).ok_or_else(|| keys.needs(name));
        let secs = |d: Option<HumanDuration>, name: &str| d.map(|d| d.0.as_secs_f64()).ok_or_else(|| keys.needs(name));
        let duration = || load.duration.map(|d| d.0).ok_or_else(|| keys.needs("duration"));
        Ok(match load.profile {
            ProfileKind::Constant => LoadShape::Constant(Constant::new(rate(load.rate, "rate")?, duration()?)?),
            ProfileKind::Ramp => {
                LoadShape::Ramp(Ramp::new(rate(load.from, "from")?, rate(load.to, "to")?, duration()?)?)
            }
            ProfileKind::Steps if load.steps.is_empty() => return Err(keys.needs("steps")),
            ProfileKind::Steps => {
                let steps = load.steps.iter().map(|s| (s.rate.per_second, s.lasts.0.as_secs_f64())).collect();
                LoadShape::Steps(Steps::new(steps, load.duration.map(|d| d.0))?)
            }
            ProfileKind::Burst => LoadShape::Burst(Burst::new(
                rate(load.base, "base")?,
                rate(load.peak, "peak")?,
                secs(load.burst_every, "burst_every")?,
                secs(load.burst_for, "burst_for")?,
                duration()?,
            )?),
            ProfileKind::Spike => LoadShape::Spike(Spike::new(
                rate(load.base, "base")?,
                rate(load.peak, "peak")?,
                secs(load.spike_at, "spike_at")?,
                secs(load.spike_for, "spike_for")?,
                duration()?,
            )?),
            ProfileKind::Sine => LoadShape::Sine(Sine::new(
                rate(load.mean, "mean")?,
                rate(load.amplitude, "amplitude")?,
                secs(load.period, "period")?,
                duration()?,
            )?),
            ProfileKind::Trace => {
                let file = load.trace.as_ref().ok_or_else(|| keys.needs("trace"))?;
                let duration = load.duration.map(|d| nonzero(d.0)).transpose()?;
                LoadShape::Trace(TraceFile { path: dir.join(file), duration })
            }
        })
    }

    /// The rate curve of this shape (a trace is read here), refused above [`MAX_RATE`].
    pub fn profile(&self) -> Result<Profile, ShapeError> {
        let whole = |duration: Duration, segments: Vec<Segment>| Profile { duration, shape: Shape::Segments(segments) };
        let (profile, peak_field) = match self {
            LoadShape::Constant(c) => (Profile::constant(c.rate, c.duration), "rate"),
            LoadShape::Ramp(r) => (whole(r.duration, vec![linear(0.0, r.duration.as_secs_f64(), r.from, r.to)]), "to"),
            LoadShape::Steps(s) => {
                let mut at = 0.0;
                let mut segments = Vec::new();
                for (rate, len) in &s.steps {
                    segments.push(linear(at, *len, *rate, *rate));
                    at += len;
                }
                (whole(s.duration.unwrap_or(Duration::from_secs_f64(at)), segments).fit(), "steps")
            }
            LoadShape::Burst(b) => {
                let (quiet, mut at, mut segments) = (b.every - b.lasts, 0.0, Vec::new());
                while at < b.duration.as_secs_f64() {
                    segments.push(linear(at, quiet, b.base, b.base));
                    segments.push(linear(at + quiet, b.lasts, b.peak, b.peak));
                    at += b.every;
                }
                (whole(b.duration, segments).fit(), "peak")
            }
            LoadShape::Spike(s) => {
                let end = s.at + s.lasts;
                let mut segments = vec![
                    linear(0.0, s.at, s.base, s.base),
                    linear(s.at, s.lasts, s.peak, s.peak),
                    linear(end, s.duration.as_secs_f64() - end, s.base, s.base),
                ];
                segments.retain(|seg| seg.len > 0.0);
                (whole(s.duration, segments), "peak")
            }
            LoadShape::Sine(s) => {
                let curve = Curve::Sine { mean: s.mean, amplitude: s.amplitude, period: s.period };
                (whole(s.duration, vec![Segment { start: 0.0, len: s.duration.as_secs_f64(), curve }]), "mean")
            }
            LoadShape::Trace(t) => (t.profile()?, "trace"),
        };
        if profile.peak_rate() > MAX_RATE {
            return refuse(peak_field, format!("{}; shard the load over several processes", max_rate_message()));
        }
        Ok(profile)
    }
}

impl TraceFile {
    fn profile(&self) -> Result<Profile, ShapeError> {
        let trace =
            crate::trace::read(&self.path).map_err(|e| ShapeError { field: "trace".into(), message: e.to_string() })?;
        let profile = match trace {
            crate::trace::Trace::Offsets(offsets) => {
                let natural = offsets.last().map(|l| *l + Duration::from_millis(1)).unwrap_or_default();
                Profile { duration: self.duration.unwrap_or(natural), shape: Shape::Offsets(Arc::new(offsets)) }
            }
            crate::trace::Trace::Rates(rates) => {
                let segments: Vec<_> = rates.iter().map(|(t, len, r)| linear(*t, *len, *r, *r)).collect();
                let natural = segments.last().map(|s| s.start + s.len).unwrap_or(0.0);
                let duration = self.duration.unwrap_or(Duration::from_secs_f64(natural));
                Profile { duration, shape: Shape::Segments(segments) }.fit()
            }
        };
        // `trace::read` refuses a file without rows, so the natural length is never zero.
        Ok(profile)
    }
}

/// Which `[load]` keys a profile takes; a key set that its profile does not take is an error.
struct Keys {
    kind: &'static str,
    takes: &'static [&'static str],
}

impl Keys {
    fn of(load: &Load) -> Result<Keys, ShapeError> {
        let (kind, takes): (&str, &[&str]) = match load.profile {
            ProfileKind::Constant => ("constant", &["rate", "duration"]),
            ProfileKind::Ramp => ("ramp", &["from", "to", "duration"]),
            ProfileKind::Steps => ("steps", &["steps", "duration"]),
            ProfileKind::Burst => ("burst", &["base", "peak", "burst_every", "burst_for", "duration"]),
            ProfileKind::Spike => ("spike", &["base", "peak", "spike_at", "spike_for", "duration"]),
            ProfileKind::Sine => ("sine", &["mean", "amplitude", "period", "duration"]),
            ProfileKind::Trace => ("trace", &["trace", "duration"]),
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
        let keys = Keys { kind, takes };
        match set.iter().find(|(name, is_set)| *is_set && !takes.contains(name)) {
            Some((name, _)) => refuse(name, format!("not used by profile {kind:?}, which takes {}", keys.list())),
            None => Ok(keys),
        }
    }

    fn list(&self) -> String {
        self.takes.join(", ")
    }

    fn needs(&self, name: &str) -> ShapeError {
        let message = format!("profile {:?} needs `{name}` (it takes {})", self.kind, self.list());
        ShapeError { field: name.into(), message }
    }
}
