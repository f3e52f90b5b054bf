//! Field readers for mutation `args`: each names the field it rejects.

use serde_json::{Map, Value};

use super::ArgError;
use crate::entity::{ContentKind, PlaylistItem};

/// Longest accepted name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest accepted id or tag, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest accepted URI, in bytes.
pub const MAX_URI_BYTES: usize = 4096;

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
        if s.is_empty() || s.len() > MAX_URI_BYTES {
            return Err(ArgError::new(f, format!("must be 1 to {MAX_URI_BYTES} bytes")));
        }
        Ok(s.to_owned())
    }

    pub fn u64(&self, f: &str) -> Result<u64, ArgError> {
        match self.get(f) {
            Some(v) => v.as_u64().ok_or_else(|| ArgError::new(f, "must be an integer ≥ 0")),
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

    pub fn duration(&self, f: &str) -> Result<u32, ArgError> {
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
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let field = format!("{f}[{i}]");
            let Value::String(s) = v else { return Err(ArgError::new(field, "must be a string")) };
            let tag = check_id(&field, s)?;
            if !out.contains(&tag) {
                out.push(tag);
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

/// Names: non-empty, at most [`MAX_NAME_CHARS`] characters.
pub fn check_name(f: &str, s: &str) -> Result<String, ArgError> {
    let n = s.chars().count();
    if s.trim().is_empty() {
        return Err(ArgError::new(f, "must not be empty"));
    }
    if n > MAX_NAME_CHARS {
        return Err(ArgError::new(f, format!("must be at most {MAX_NAME_CHARS} characters, got {n}")));
    }
    Ok(s.to_owned())
}

/// Ids and tags: non-empty, at most [`MAX_ID_BYTES`] bytes.
pub fn check_id(f: &str, s: &str) -> Result<String, ArgError> {
    if s.is_empty() || s.len() > MAX_ID_BYTES {
        return Err(ArgError::new(f, format!("must be 1 to {MAX_ID_BYTES} bytes")));
    }
    Ok(s.to_owned())
}

/// Durations: whole seconds, > 0.
pub fn check_duration(f: &str, v: Option<&Value>) -> Result<u32, ArgError> {
    match v {
        None => Err(ArgError::new(f, "required")),
        Some(v) => match v.as_u64() {
            Some(0) => Err(ArgError::new(f, "must be > 0")),
            Some(n) => u32::try_from(n).map_err(|_| ArgError::new(f, "out of range")),
            None => Err(ArgError::new(f, "must be a whole number of seconds > 0")),
        },
    }
}

#[cfg(test)]
mod tests;
