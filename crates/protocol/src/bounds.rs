//! PROTOCOL.md §8 "Bounds": every number, string and list that comes from
//! outside has a limit, checked here once for gateway and clients alike.
//! Checks are linear in the input and name the field they refuse.

/// A rejected argument: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ArgError {
    /// The offending field as named on the wire: an args field bare (`name`,
    /// `items[1].duration_s`, `target.device`), or a top-level one (`base_rev`, `kind`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ArgError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

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

/// `s` cut to at most [`MAX_TEXT_CHARS`] characters, the last one `…` when
/// cut: for messages this side writes, which may quote what it was sent
/// (PROTOCOL.md §8 bounds every message and error string).
pub fn clip(mut s: String) -> String {
    if s.len() > MAX_TEXT_CHARS
        && let Some((at, _)) = s.char_indices().nth(MAX_TEXT_CHARS - 1)
        && s[at..].chars().nth(1).is_some()
    {
        s.truncate(at);
        s.push('…');
    }
    s
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

    /// `health.uptime_s`: any finite number (the range is checked by `Health::check`).
    pub fn uptime_s<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() { Ok(v) } else { Err(serde::de::Error::custom("health.uptime_s: must be a finite number")) }
    }
}

pub(crate) fn within(field: &str, v: f32, lo: f32, hi: f32) -> Result<(), ArgError> {
    // `!(lo..=hi).contains` is also true for NaN.
    if !v.is_finite() || !(lo..=hi).contains(&v) {
        return Err(ArgError::new(field, format!("must be a finite number in {lo}..={hi}")));
    }
    Ok(())
}
