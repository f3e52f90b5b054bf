//! Field readers for mutation `args`: each names the field it rejects.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::ArgError;
use crate::bounds::{self, MAX_PLAYLIST_ITEMS, MAX_SAFE_INT, MAX_TAGS};
pub use crate::bounds::{MAX_TEXT_CHARS as MAX_NAME_CHARS, MAX_URI_BYTES};
use crate::entity::{ContentKind, PlaylistItem};

pub(crate) struct Args<'a>(pub &'a Map<String, Value>);

impl Args<'_> {
    fn get(&self, f: &str) -> Option<&Value> {
        self.0.get(f).filter(|v| !v.is_null())
    }

    pub fn has(&self, f: &str) -> bool {
        self.0.contains_key(f)
    }

    /// Rejects any field not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ArgError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            // An empty key cannot name itself: the error names `args`.
            Some(k) if k.is_empty() => Err(ArgError::new("args", "unknown field ``")),
            Some(k) => Err(ArgError::new(k.as_str(), "unknown field")),
            None => Ok(()),
        }
    }

    /// Reads an optional field with `read` when it is present and not null.
    pub fn opt<T>(&self, read: impl Fn(&Self) -> Result<T, ArgError>, f: &str) -> Result<Option<T>, ArgError> {
        if self.get(f).is_some() { read(self).map(Some) } else { Ok(None) }
    }

    pub fn string(&self, f: &str) -> Result<&str, ArgError> {
        match self.get(f) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(ArgError::new(f, "must be a string")),
            None => Err(ArgError::new(f, "required")),
        }
    }

    pub fn name(&self, f: &str) -> Result<String, ArgError> {
        check_name(f, self.string(f)?)
    }

    pub fn id(&self, f: &str) -> Result<String, ArgError> {
        check_id(f, self.string(f)?)
    }

    pub fn opt_id(&self, f: &str) -> Result<Option<String>, ArgError> {
        self.opt(|a| a.id(f), f)
    }

    pub fn uri(&self, f: &str) -> Result<String, ArgError> {
        let s = self.string(f)?;
        // §8 bounds a `uri` only above.
        if s.len() > MAX_URI_BYTES {
            return Err(ArgError::new(f, format!("must be at most {MAX_URI_BYTES} bytes")));
        }
        Ok(s.to_owned())
    }

    pub fn u64(&self, f: &str) -> Result<u64, ArgError> {
        match self.get(f) {
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= MAX_SAFE_INT)
                .ok_or_else(|| ArgError::new(f, "must be an integer in 0..=2^53-1")),
            None => Err(ArgError::new(f, "required")),
        }
    }

    pub fn i32(&self, f: &str) -> Result<i32, ArgError> {
        match self.get(f).map(Value::as_i64) {
            Some(Some(n)) => i32::try_from(n).map_err(|_| ArgError::new(f, "out of range")),
            Some(None) => Err(ArgError::new(f, "must be an integer")),
            None => Err(ArgError::new(f, "required")),
        }
    }

    pub fn bool(&self, f: &str) -> Result<bool, ArgError> {
        match self.get(f) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ArgError::new(f, "must be true or false")),
            None => Err(ArgError::new(f, "required")),
        }
    }

    pub fn duration(&self, f: &str) -> Result<f64, ArgError> {
        check_duration(f, self.get(f))
    }

    pub fn index(&self, f: &str) -> Result<usize, ArgError> {
        let n = self.u64(f)?;
        usize::try_from(n).map_err(|_| ArgError::new(f, "out of range"))
    }

    pub fn opt_index(&self, f: &str) -> Result<Option<usize>, ArgError> {
        self.opt(|a| a.index(f), f)
    }

    pub fn content_kind(&self, f: &str) -> Result<ContentKind, ArgError> {
        match self.string(f)? {
            "image" => Ok(ContentKind::Image),
            "video" => Ok(ContentKind::Video),
            "web" => Ok(ContentKind::Web),
            _ => Err(ArgError::new(f, "must be one of image, video, web")),
        }
    }

    pub fn tags(&self, f: &str) -> Result<Vec<String>, ArgError> {
        let Some(Value::Array(list)) = self.get(f) else {
            return Err(ArgError::new(f, "required array of strings"));
        };
        // Counted as sent, before duplicates go (PROTOCOL.md §8 Bounds).
        if list.len() > MAX_TAGS {
            return Err(ArgError::new(f, format!("at most {MAX_TAGS} tags, got {}", list.len())));
        }
        let mut seen = HashSet::with_capacity(list.len());
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let Value::String(s) = v else { return Err(ArgError::new(format!("{f}[{i}]"), "must be a string")) };
            bounds::id(&format!("{f}[{i}]"), s)?;
            if seen.insert(s.as_str()) {
                out.push(s.clone());
            }
        }
        Ok(out)
    }

    pub fn items(&self, f: &str) -> Result<Vec<PlaylistItem>, ArgError> {
        let list = match self.get(f) {
            None => return Ok(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(ArgError::new(f, "must be an array")),
        };
        if list.len() > MAX_PLAYLIST_ITEMS {
            return Err(ArgError::new(f, format!("at most {MAX_PLAYLIST_ITEMS} items, got {}", list.len())));
        }
        list.iter()
            .enumerate()
            .map(|(i, v)| {
                let Value::Object(m) = v else {
                    return Err(ArgError::new(format!("{f}[{i}]"), "must be an object"));
                };
                let a = Args(m);
                let content_id = a.id("content_id").map_err(|e| prefix(f, i, e))?;
                let duration_s = a.duration("duration_s").map_err(|e| prefix(f, i, e))?;
                Ok(PlaylistItem { content_id, duration_s })
            })
            .collect()
    }
}

fn prefix(f: &str, i: usize, e: ArgError) -> ArgError {
    ArgError::new(format!("{f}[{i}].{}", e.field), e.message)
}

/// Names: non-empty, at most [`MAX_NAME_CHARS`] characters (PROTOCOL.md
/// §8 asks no more: a name of spaces is a name; the console trims its own).
pub fn check_name(f: &str, s: &str) -> Result<String, ArgError> {
    let n = s.chars().count();
    if s.is_empty() {
        return Err(ArgError::new(f, "must not be empty"));
    }
    if n > MAX_NAME_CHARS {
        return Err(ArgError::new(f, format!("must be at most {MAX_NAME_CHARS} characters, got {n}")));
    }
    Ok(s.to_owned())
}

/// Ids and tags: non-empty, at most [`crate::bounds::MAX_ID_BYTES`] bytes.
pub fn check_id(f: &str, s: &str) -> Result<String, ArgError> {
    bounds::id(f, s)?;
    Ok(s.to_owned())
}

/// Durations: a number of seconds, fractional allowed, > 0 and ≤ 86,400.
pub fn check_duration(f: &str, v: Option<&Value>) -> Result<f64, ArgError> {
    match v {
        None => Err(ArgError::new(f, "required")),
        Some(v) => {
            let d = v.as_f64().ok_or_else(|| ArgError::new(f, "must be a number of seconds"))?;
            bounds::duration(f, d)?;
            Ok(d)
        }
    }
}

#[cfg(test)]
mod tests;
