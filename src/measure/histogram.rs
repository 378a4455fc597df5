//! The histograms every measurement uses (1 µs to 1 hour, 3 significant digits, in microseconds) and their
//! text form: V2 deflate in base64, the encoding of an interval-log line, used in measurements.json too.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::time::Duration;

/// Histogram range: 1 µs to 1 hour, 3 significant digits. Values are in microseconds.
pub const HIST_MAX_US: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds are valid")
}

/// A duration as a histogram value: microseconds, within the range.
pub(crate) fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, HIST_MAX_US)
}

/// Microseconds as milliseconds.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// A histogram as one line of text: V2 deflate, base64 (the encoding of an interval log line).
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serializing into memory fails only for a histogram too large to count, which slacheck's bounds rule out.
    let _ = V2DeflateSerializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads [`encode`]'s text back, widened to slacheck's range (1 µs to 1 h) so that any two add together.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    decode_with(&mut Deserializer::new(), text)
}

pub(crate) fn decode_with(deserializer: &mut Deserializer, text: &str) -> Result<Histogram<u64>, String> {
    let raw = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("bad base64: {e}"))?;
    let decoded: Histogram<u64> = deserializer.deserialize(&mut &raw[..]).map_err(|e| format!("{e:?}"))?;
    let mut histogram = new_histogram();
    histogram.auto(true);
    histogram.add(&decoded).map_err(|e| format!("does not fit 1 µs..1 h: {e:?}"))?;
    Ok(histogram)
}

/// `#[serde(with = "crate::measure::as_text")]`: a histogram field as [`encode`]'s text.
pub mod as_text {
    use hdrhistogram::Histogram;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        super::decode(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// `#[serde(with = "crate::measure::option_as_text")]`: an optional histogram field as [`encode`]'s text or null.
pub mod option_as_text {
    use hdrhistogram::Histogram;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Option<Histogram<u64>>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_some(&super::encode(h)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Histogram<u64>>, D::Error> {
        Option::<String>::deserialize(d)?.map(|t| super::decode(&t).map_err(D::Error::custom)).transpose()
    }
}
