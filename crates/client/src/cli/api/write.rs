//! `vizora mutate` and `vizora device provision`: one change through the API,
//! with its idempotency key.

use std::io::Write;

use serde_json::{Map, Value, json};

use super::{Api, ApiCliError, problem};

/// One `--arg`: `key=text` sets a string, `key:=json` any JSON value
/// (numbers, booleans, arrays, objects, null), as HTTPie does.
pub fn parse_arg(s: &str) -> Result<(String, Value), String> {
    if let Some((k, v)) = s.split_once(":=")
        && !k.contains('=')
    {
        let v = serde_json::from_str(v).map_err(|e| format!("--arg {s}: `{v}` is not JSON ({e})"))?;
        return Ok((non_empty(k, s)?, v));
    }
    let (k, v) = s.split_once('=').ok_or_else(|| format!("--arg {s}: expected key=text or key:=json"))?;
    Ok((non_empty(k, s)?, Value::String(v.to_owned())))
}

fn non_empty(k: &str, s: &str) -> Result<String, String> {
    if k.is_empty() { Err(format!("--arg {s}: the key is empty")) } else { Ok(k.to_owned()) }
}

/// A change for `vizora mutate`.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// The mutation kind, e.g. `device.rename`.
    pub kind: String,
    /// The target entity.
    pub target: Option<String>,
    /// The revision the change is based on (sent as `If-Match`).
    pub base_rev: Option<u64>,
    /// `--arg` pairs.
    pub args: Vec<(String, Value)>,
    /// `--json`: the whole args object.
    pub json: Option<String>,
    /// The `Idempotency-Key`; a fresh one when `None`. Re-run a command
    /// with the key it printed to retry it safely.
    pub key: Option<String>,
}

/// `vizora mutate`: sends one change, prints the outcome, and returns the
/// ack when the change was applied or had been (`duplicate`).
pub fn mutate(api: &Api, change: &Change, json: bool, out: &mut impl Write) -> Result<Value, ApiCliError> {
    let args = match (&change.json, change.args.is_empty()) {
        (Some(_), false) => return Err(ApiCliError::Usage("give --arg or --json, not both".into())),
        (Some(text), true) => {
            let v: Value = serde_json::from_str(text).map_err(|e| ApiCliError::Usage(format!("--json: {e}")))?;
            if !v.is_object() {
                return Err(ApiCliError::Usage("--json: the args must be a JSON object".into()));
            }
            v
        }
        (None, _) => Value::Object(change.args.iter().cloned().collect::<Map<String, Value>>()),
    };
    let mut body = json!({ "kind": change.kind, "args": &args });
    if let Some(t) = &change.target {
        body["target"] = Value::String(t.clone());
    }
    let key = change.key.clone().unwrap_or_else(|| format!("cli-{}", ulid::Ulid::generate()));
    let rev = change.base_rev.map(|r| format!("\"{r}\""));
    let mut headers = vec![("Idempotency-Key", key.as_str())];
    if let Some(r) = &rev {
        headers.push(("If-Match", r.as_str()));
    }
    // Whatever happens from here, the key is what makes a retry safe: say it.
    let with_key = |e: ApiCliError| match e {
        ApiCliError::Unreachable { server, reason } => {
            ApiCliError::Unreachable { server, reason: format!("{reason} (retry safely with --key {key})") }
        }
        ApiCliError::Problem { status, title, detail, code } => {
            ApiCliError::Problem { status, title, detail: format!("{detail} (retry safely with --key {key})"), code }
        }
        other => other,
    };
    let (status, reply) = api.post("/api/v1/mutations", &headers, &body).map_err(with_key)?;
    if json {
        writeln!(out, "{reply}")?;
    }
    if status == 200 {
        if !json {
            let outcome = reply["status"].as_str().unwrap_or("applied");
            let target = change.target.as_deref().or(args["id"].as_str());
            let what = match (target, reply["rev"].as_u64(), reply["seq"].as_u64()) {
                (Some(id), Some(rev), Some(seq)) => format!(" {id} rev {rev} at seq {seq}"),
                (None, Some(rev), Some(seq)) => format!(" rev {rev} at seq {seq}"),
                _ => String::new(),
            };
            writeln!(out, "{outcome}{what} (key {key})")?;
        }
        return Ok(reply);
    }
    let Some(code) = reply["code"].as_str().filter(|_| reply["type"].as_str().is_some()) else {
        return Err(ApiCliError::Unreachable { server: api.base.clone(), reason: format!("HTTP {status}: {reply}") });
    };
    let detail = reply["detail"].as_str().unwrap_or_default().to_owned();
    let decided = ["conflict", "not_found", "forbidden", "invalid"];
    if !decided.contains(&code) {
        // rate_limited, unavailable (not decided: retry), or not a decision at all.
        return Err(with_key(problem(status, &reply)));
    }
    if !json {
        match reply.get("current").filter(|c| !c.is_null()) {
            Some(current) => writeln!(out, "rejected {code}: {detail} (current: {current}) (key {key})")?,
            None => writeln!(out, "rejected {code}: {detail} (key {key})")?,
        }
    }
    Err(ApiCliError::Rejected { code: code.to_owned(), detail })
}

/// A device for `vizora device provision`.
#[derive(Debug, Clone, Default)]
pub struct NewDevice {
    /// Its id (`dev-<ulid>` when `None`).
    pub id: Option<String>,
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// How long its token lives, seconds (the gateway's default when `None`).
    pub token_ttl_s: Option<u64>,
}

/// `vizora device provision`: pre-registers a device and prints its id and
/// `/device` token (`device_id …` and `token …` lines, or the JSON reply).
pub fn provision(api: &Api, device: &NewDevice, json: bool, out: &mut impl Write) -> Result<Value, ApiCliError> {
    // The id is chosen here, so a run that fails midway can say which one to look for.
    let id = device.id.clone().unwrap_or_else(|| format!("dev-{}", ulid::Ulid::generate().to_string().to_lowercase()));
    let mut body = json!({ "id": id, "name": device.name, "tags": device.tags });
    if let Some(ttl) = device.token_ttl_s {
        body["token_ttl_s"] = Value::from(ttl);
    }
    let hint = format!("(device {id}: if `vizora get device {id}` finds nothing, retry with --id {id})");
    let (status, reply) = api.post("/api/v1/devices/provision", &[], &body).map_err(|e| match e {
        ApiCliError::Unreachable { server, reason } => {
            ApiCliError::Unreachable { server, reason: format!("{reason} {hint}") }
        }
        other => other,
    })?;
    if status != 200 {
        let code = reply["code"].as_str().unwrap_or_default();
        return Err(if ["conflict", "invalid", "forbidden"].contains(&code) {
            ApiCliError::Rejected { code: code.to_owned(), detail: reply["detail"].as_str().unwrap_or_default().into() }
        } else {
            problem(status, &reply)
        });
    }
    if json {
        writeln!(out, "{reply}")?;
    } else {
        writeln!(out, "device_id {}", reply["device_id"].as_str().unwrap_or_default())?;
        writeln!(out, "token {}", reply["token"].as_str().unwrap_or_default())?;
        writeln!(
            out,
            "expires {}",
            reply["expires"].as_u64().map(|s| crate::cli::iso_utc(s * 1000)).unwrap_or_default()
        )?;
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_are_strings_unless_given_as_json() {
        assert_eq!(parse_arg("name=Door 1"), Ok(("name".into(), json!("Door 1"))));
        assert_eq!(parse_arg("name=a=b"), Ok(("name".into(), json!("a=b"))));
        assert_eq!(parse_arg("duration_s:=7.5"), Ok(("duration_s".into(), json!(7.5))));
        assert_eq!(parse_arg("tags:=[\"a\",\"b\"]"), Ok(("tags".into(), json!(["a", "b"]))));
        assert_eq!(parse_arg("url=http://x:=y"), Ok(("url".into(), json!("http://x:=y"))));
        assert!(parse_arg("n:=seven").unwrap_err().contains("not JSON"));
        assert!(parse_arg("novalue").unwrap_err().contains("key=text"));
        assert!(parse_arg("=x").unwrap_err().contains("empty"));
    }
}
