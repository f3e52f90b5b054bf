//! Every HTTP response a test sees, checked against docs/openapi.json by
//! `tests/node/check_specs.mjs` (which also validates the OpenAPI document as
//! OpenAPI 3.1 and parses docs/asyncapi.yaml with the AsyncAPI parser).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::{Value, json};

static SEEN: Mutex<Vec<Value>> = Mutex::new(Vec::new());

const SETUP: &str = "run `npm ci --prefix crates/gateway/tests/node` from the repository root (scripts/test does)";

/// Records one response: `head` is the status line and headers as received.
pub fn record(method: &str, path: &str, head: &str, body: &str) {
    let status: u16 = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-type").then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    let body = if content_type.starts_with("text/event-stream") || body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
    };
    let line = json!({"method": method, "path": path, "status": status, "content_type": content_type, "body": body});
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).push(line);
}

/// Forgets the last response recorded for `method path`: one to a route
/// the API does not have (its problem+json is checked by the test itself).
pub fn forget(method: &str, path: &str) {
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = seen.iter().rposition(|v| v["method"] == method && v["path"] == path) {
        seen.remove(i);
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the checker over the documents and every response recorded so far
/// (then forgets them); panics with its report when anything fails.
pub fn check_recorded() {
    let seen: Vec<Value> = std::mem::take(&mut *SEEN.lock().unwrap_or_else(|p| p.into_inner()));
    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        node_dir.join("node_modules/@asyncapi/parser/package.json").exists(),
        "the spec checker's packages are missing: {SETUP}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("responses.jsonl");
    let text: String = seen.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(&file, text).expect("write responses");
    let out = Command::new("node")
        .arg(node_dir.join("check_specs.mjs"))
        .arg("--asyncapi")
        .arg(repo().join("docs/asyncapi.yaml"))
        .arg("--openapi")
        .arg(repo().join("docs/openapi.json"))
        .arg("--responses")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` ({e}): install Node.js >= 18, then {SETUP}"));
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "responses or documents do not match the specs ({} responses):\n{report}",
        seen.len()
    );
    assert!(report.contains(&format!("{} responses checked", seen.len())), "{report}");
}
