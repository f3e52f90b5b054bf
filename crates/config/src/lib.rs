//! The one loader of the project's files: RON configs (the gateway's, the
//! wallboard's, the simulator's scenarios) and JSON fixtures. Every error
//! names the file, and where it can, the line and column: a syntax or schema
//! error where the parser stopped (unknown keys are named), a value out of
//! range where its key is written.

use std::path::Path;

use serde::de::DeserializeOwned;

/// A config (or fixture) file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Syntax or schema error, with position.
    #[error("{path}:{line}:{col}: {message}")]
    Parse {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong (unknown keys are named).
        message: String,
    },
    /// A value out of range, where its key is written (0:0 when left at its default).
    #[error("{path}:{line}:{col}: {field}: {message}")]
    Invalid {
        /// File.
        path: String,
        /// 1-based line of the key.
        line: usize,
        /// 1-based column of the key.
        col: usize,
        /// Field, e.g. `kiosk.dim_level` or `content[2].name`.
        field: String,
        /// Why.
        message: String,
    },
}

impl ConfigError {
    /// The field a value error names (none for unreadable or unparsable files).
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Reads a file, reporting an unreadable one with its path.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.display().to_string(), source })
}

/// Reads a RON file into `T` (unknown keys are refused where `T` denies
/// them) and checks it with `validate`; every error carries file:line:col.
pub fn load_ron<T: DeserializeOwned, F: Into<String>>(
    path: &Path,
    validate: impl FnOnce(&T) -> Result<(), (F, String)>,
) -> Result<T, ConfigError> {
    let text = read_file(path)?;
    parse_ron(&text, &path.display().to_string(), validate)
}

/// [`load_ron`] on text already read; `path` names it in errors.
pub fn parse_ron<T: DeserializeOwned, F: Into<String>>(
    text: &str,
    path: &str,
    validate: impl FnOnce(&T) -> Result<(), (F, String)>,
) -> Result<T, ConfigError> {
    // `Some(x)` may be written as plain `x`.
    let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let value: T = options.from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        line: e.span.start.line,
        col: e.span.start.col,
        message: e.code.to_string(),
    })?;
    validate(&value).map_err(|(field, message)| {
        let field = field.into();
        let (line, col) = key_position(text, &field);
        ConfigError::Invalid { path: path.to_owned(), line, col, field, message }
    })?;
    Ok(value)
}

/// Reads a JSON file into `T`, reporting file:line:col on bad JSON.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = read_file(path)?;
    serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        line: e.line(),
        col: e.column(),
        message: e.to_string(),
    })
}

/// Where `field` (its last dotted segment) is written as a key in `text`,
/// 1-based; `(0, 0)` when the file leaves it at its default, and for a
/// field inside a list (`content[2].name`: the first `name:` in the file
/// may be another entry's, so no position is better than a wrong one).
pub fn key_position(text: &str, field: &str) -> (usize, usize) {
    let key = field.rsplit('.').next().unwrap_or(field);
    if key.is_empty() || field.contains('[') {
        return (0, 0);
    }
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut from = 0;
        while let Some(at) = code[from..].find(key).map(|a| a + from) {
            let before = code[..at].chars().next_back();
            let after = code[at + key.len()..].trim_start();
            let starts = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if starts && after.starts_with(':') {
                return (i + 1, code[..at].chars().count() + 1);
            }
            from = at + key.len();
        }
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Conf {
        rate: f64,
        #[serde(default)]
        name: Option<String>,
    }

    fn check(c: &Conf) -> Result<(), (&'static str, String)> {
        if c.rate.is_finite() && c.rate > 0.0 { Ok(()) } else { Err(("rate", "must be a finite number > 0".into())) }
    }

    #[test]
    fn errors_carry_file_line_and_column() {
        let err = parse_ron::<Conf, _>("(\n  rate: 1.0,\n  speed: 2,\n)", "c.ron", check).expect_err("unknown key");
        let s = err.to_string();
        assert!(s.starts_with("c.ron:3:") && s.contains("speed"), "{s}");
        let err = parse_ron::<Conf, _>("(\n  name: \"x\",\n    rate: -1.0,\n)", "c.ron", check).expect_err("range");
        assert_eq!(err.to_string(), "c.ron:3:5: rate: must be a finite number > 0");
        assert_eq!(err.field(), Some("rate"));
        let ok: Conf = parse_ron("(rate: 2.5, name: \"a\")", "c.ron", check).expect("implicit Some");
        assert_eq!(ok.name.as_deref(), Some("a"));
    }

    #[test]
    fn dotted_fields_are_found_by_their_key_and_listed_ones_not_guessed() {
        let text = "(\n  content: [\n    (name: \"\"),\n  ],\n  kiosk: (dim_level: 2.0),\n)";
        assert_eq!(key_position(text, "content[0].name"), (0, 0), "which entry's `name:` is unknown");
        assert_eq!(key_position(text, "kiosk.dim_level"), (5, 11));
        assert_eq!(key_position(text, "kiosk.missing"), (0, 0));
        // A key inside a comment or another word is not the key.
        assert_eq!(key_position("(// rate: 1\n  pirate: 2, rate: 3)", "rate"), (2, 14));
    }

    #[test]
    fn json_fixtures_report_where_they_break() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.json");
        std::fs::write(&p, "{\n  \"rate\": 1.0,\n  \"rate\" 2\n}").expect("write");
        let err = load_json::<serde_json::Value>(&p).expect_err("bad json").to_string();
        assert!(err.contains("f.json:3:"), "{err}");
        let missing = load_json::<serde_json::Value>(&dir.path().join("nope.json")).expect_err("missing");
        assert!(matches!(missing, ConfigError::Io { .. }));
    }
}
