//! PROTOCOL.md §8 "Bounds": every number, string and list that comes from
//! outside has a limit, checked here once for gateway and clients alike.
//! Checks are linear in the input and name the field they refuse.

use crate::device::{Heartbeat, Playback};
use crate::entity::{Health, Playing};
use crate::event::ScheduleExecuted;
use crate::mutation::ArgError;

/// Largest integer a JSON number carries exactly (`rev`, `seq`, `*_ms`, `size_bytes`).
pub const MAX_SAFE_INT: u64 = (1 << 53) - 1;
/// Ids (also a token's `sub` and `org`), tags and alert kinds: at most this many bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Names, messages and error strings: at most this many characters.
pub const MAX_TEXT_CHARS: usize = 256;
/// URIs: at most this many bytes.
pub const MAX_URI_BYTES: usize = 4096;
/// Tags per device, as sent (before duplicates are removed).
pub const MAX_TAGS: usize = 64;
/// Items per playlist.
pub const MAX_PLAYLIST_ITEMS: usize = 1000;
/// Longest `duration_s`, in seconds (one day).
pub const MAX_DURATION_S: f64 = 86_400.0;
/// `health.temp_c` range, degrees Celsius.
pub const TEMP_RANGE: (f32, f32) = (-100.0, 200.0);

/// An id: 1..=[`MAX_ID_BYTES`] bytes.
pub fn id(field: &str, s: &str) -> Result<(), ArgError> {
    if s.is_empty() || s.len() > MAX_ID_BYTES {
        return Err(ArgError::new(field, format!("must be 1 to {MAX_ID_BYTES} bytes")));
    }
    Ok(())
}

/// A free text (message, error string): at most [`MAX_TEXT_CHARS`] characters.
pub fn text(field: &str, s: &str) -> Result<(), ArgError> {
    // Counting stops early: a 1 MiB string costs no more than the limit.
    if s.len() > MAX_TEXT_CHARS && s.chars().nth(MAX_TEXT_CHARS).is_some() {
        return Err(ArgError::new(field, format!("must be at most {MAX_TEXT_CHARS} characters")));
    }
    Ok(())
}

/// An integer JSON carries exactly: 0..=2^53-1.
pub fn int(field: &str, n: u64) -> Result<(), ArgError> {
    if n > MAX_SAFE_INT {
        return Err(ArgError::new(field, "must be at most 2^53-1"));
    }
    Ok(())
}

/// A duration in seconds: finite, > 0 and ≤ [`MAX_DURATION_S`].
pub fn duration(field: &str, d: f64) -> Result<(), ArgError> {
    if !d.is_finite() || d <= 0.0 || d > MAX_DURATION_S {
        return Err(ArgError::new(field, "must be a number of seconds > 0 and ≤ 86400"));
    }
    Ok(())
}

/// Serialises seconds as an integer when whole (`10`, not `10.0`), so
/// whole durations look on the wire as they always did.
pub fn ser_seconds<S: serde::Serializer>(d: &f64, s: S) -> Result<S::Ok, S::Error> {
    match seconds_json(*d) {
        serde_json::Value::Number(n) if n.is_u64() => s.serialize_u64(n.as_u64().unwrap_or(0)),
        _ => s.serialize_f64(*d),
    }
}

/// [`ser_seconds`] for an optional field.
pub fn ser_opt_seconds<S: serde::Serializer>(d: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_seconds(d, s),
        None => s.serialize_none(),
    }
}

/// Seconds as a JSON number: an integer when whole.
pub fn seconds_json(d: f64) -> serde_json::Value {
    if d.fract() == 0.0 && (0.0..=MAX_SAFE_INT as f64).contains(&d) {
        serde_json::Value::from(d as u64)
    } else {
        serde_json::Value::from(d)
    }
}

/// Decoders for `f32` fields that refuse what does not fit a finite `f32`,
/// naming the field.
pub mod finite {
    use serde::{Deserialize, Deserializer};

    fn read<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<f32, D::Error> {
        let v = f64::deserialize(d)?;
        let f = v as f32;
        if f.is_finite() { Ok(f) } else { Err(serde::de::Error::custom(format!("{field}: must be a finite number"))) }
    }

    macro_rules! fields {
        ($($name:ident),*) => {$(
            #[doc = concat!("`health.", stringify!($name), "`.")]
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
                read(d, concat!("health.", stringify!($name)))
            }
        )*};
    }
    fields!(cpu_pct, mem_pct, temp_c, disk_free_pct);
}

fn within(field: &str, v: f32, lo: f32, hi: f32) -> Result<(), ArgError> {
    // `!(lo..=hi).contains` is also true for NaN.
    if !v.is_finite() || !(lo..=hi).contains(&v) {
        return Err(ArgError::new(field, format!("must be a finite number in {lo}..={hi}")));
    }
    Ok(())
}

impl Health {
    /// Checks every field's range; the error names it (`health.temp_c`).
    pub fn check(&self) -> Result<(), ArgError> {
        within("health.cpu_pct", self.cpu_pct, 0.0, 100.0)?;
        within("health.mem_pct", self.mem_pct, 0.0, 100.0)?;
        within("health.temp_c", self.temp_c, TEMP_RANGE.0, TEMP_RANGE.1)?;
        within("health.disk_free_pct", self.disk_free_pct, 0.0, 100.0)?;
        int("health.uptime_s", self.uptime_s)
    }
}

impl Playing {
    /// Checks ids and the timestamp.
    pub fn check(&self) -> Result<(), ArgError> {
        id("playing.playlist_id", &self.playlist_id)?;
        id("playing.content_id", &self.content_id)?;
        int("playing.since_ms", self.since_ms)
    }
}

impl Heartbeat {
    /// A heartbeat that breaks a bound changes nothing (PROTOCOL.md §8).
    pub fn check(&self) -> Result<(), ArgError> {
        int("ts_ms", self.ts_ms)?;
        self.health.check()?;
        match &self.playing {
            Some(p) => p.check(),
            None => Ok(()),
        }
    }
}

impl Playback {
    /// Checks the content id, times and error text.
    pub fn check(&self) -> Result<(), ArgError> {
        id("content_id", &self.content_id)?;
        int("started_ms", self.started_ms)?;
        duration("duration_s", self.duration_s)?;
        match &self.error {
            Some(e) => text("error", e),
            None => Ok(()),
        }
    }
}

impl ScheduleExecuted {
    /// Checks ids, time and error text.
    pub fn check(&self) -> Result<(), ArgError> {
        id("schedule_id", &self.schedule_id)?;
        id("device_id", &self.device_id)?;
        id("playlist_id", &self.playlist_id)?;
        int("at_ms", self.at_ms)?;
        match &self.error {
            Some(e) => text("error", e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> Health {
        Health { cpu_pct: 10.0, mem_pct: 20.0, temp_c: 40.0, disk_free_pct: 50.0, uptime_s: 60 }
    }

    #[test]
    fn a_health_value_that_overflows_f32_is_refused_naming_the_field() {
        // 1e39 does not fit an f32: it would become infinity, written as null.
        let err = serde_json::from_str::<Heartbeat>(
            r#"{"ts_ms": 1, "health": {"cpu_pct": 1e39, "mem_pct": 1, "temp_c": 1, "disk_free_pct": 1, "uptime_s": 1}}"#,
        )
        .expect_err("refused while decoding");
        assert!(err.to_string().contains("health.cpu_pct"), "{err}");
        // In range after decoding is a separate check.
        let hb: Heartbeat = serde_json::from_str(
            r#"{"ts_ms": 1, "health": {"cpu_pct": 1e30, "mem_pct": 1, "temp_c": 1, "disk_free_pct": 1, "uptime_s": 1}}"#,
        )
        .expect("finite");
        assert_eq!(hb.check().expect_err("out of range").field, "health.cpu_pct");
    }

    #[test]
    fn every_health_field_has_its_range() {
        assert!(health().check().is_ok());
        for (field, h) in [
            ("health.cpu_pct", Health { cpu_pct: 100.5, ..health() }),
            ("health.mem_pct", Health { mem_pct: -1.0, ..health() }),
            ("health.temp_c", Health { temp_c: 200.5, ..health() }),
            ("health.temp_c", Health { temp_c: f32::NAN, ..health() }),
            ("health.disk_free_pct", Health { disk_free_pct: f32::NEG_INFINITY, ..health() }),
            ("health.uptime_s", Health { uptime_s: MAX_SAFE_INT + 1, ..health() }),
        ] {
            assert_eq!(h.check().expect_err(field).field, field);
        }
        let edge =
            Health { cpu_pct: 0.0, mem_pct: 100.0, temp_c: -100.0, disk_free_pct: 100.0, uptime_s: MAX_SAFE_INT };
        assert!(edge.check().is_ok());
    }

    #[test]
    fn texts_count_characters_not_bytes() {
        let ok = "é".repeat(MAX_TEXT_CHARS);
        assert!(text("error", &ok).is_ok());
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(text("error", &long).expect_err("long").field, "error");
    }

    #[test]
    fn schedule_executed_strings_are_bounded() {
        let ev = ScheduleExecuted {
            schedule_id: "s".into(),
            device_id: "d".into(),
            playlist_id: "p".repeat(MAX_ID_BYTES + 1),
            at_ms: 1,
            outcome: crate::event::ExecutionOutcome::Ok,
            error: None,
        };
        assert_eq!(ev.check().expect_err("long id").field, "playlist_id");
        let ev = ScheduleExecuted { playlist_id: "p".into(), error: Some("x".repeat(100_000)), ..ev };
        assert_eq!(ev.check().expect_err("long error").field, "error");
    }

    #[test]
    fn durations_are_fractional_positive_and_at_most_a_day() {
        assert!(duration("d", 7.5).is_ok());
        assert!(duration("d", MAX_DURATION_S).is_ok());
        for bad in [0.0, -1.0, MAX_DURATION_S + 0.001, f64::NAN, f64::INFINITY] {
            assert!(duration("d", bad).is_err(), "{bad}");
        }
    }
}
