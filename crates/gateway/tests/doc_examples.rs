//! The `curl` examples of README.md and docs/http-api.md, run as written
//! against a fresh gateway: every `sh` block that calls `curl` (and does not
//! start a gateway of its own) runs with `$GW` and `$T` (an admin token) set;
//! each command must succeed, and a `#=> text` line after a command must
//! appear in what it printed. A streaming `curl -N` is stopped after its
//! first output.

mod support;

use std::path::Path;
use std::process::Command;

use support::{start, token};
use vizora_protocol::Role;

/// One command of an example (continuation lines joined) and what it must print.
#[derive(Debug)]
struct Step {
    line: usize,
    command: String,
    expect: Vec<String>,
}

/// The `sh` blocks of `markdown` that call curl, as steps.
fn examples(markdown: &str) -> Vec<Vec<Step>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<Step>> = None;
    let mut pending = String::new();
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_end();
        match (&mut current, trimmed) {
            (None, "```sh") => current = Some(Vec::new()),
            (None, _) => {}
            (Some(_), "```") => {
                let block = current.take().unwrap_or_default();
                let runs_curl = block.iter().any(|s| s.command.contains("curl "));
                let starts_gateway = block.iter().any(|s| s.command.contains("--listen"));
                if runs_curl && !starts_gateway {
                    blocks.push(block);
                }
            }
            (Some(steps), _) => {
                if let Some(want) = trimmed.strip_prefix("#=> ") {
                    if let Some(last) = steps.last_mut() {
                        last.expect.push(want.to_owned());
                    }
                } else if trimmed.starts_with('#') || trimmed.is_empty() {
                } else if let Some(head) = trimmed.strip_suffix('\\') {
                    pending.push_str(head);
                } else {
                    pending.push_str(trimmed);
                    steps.push(Step { line: i + 1, command: std::mem::take(&mut pending), expect: Vec::new() });
                }
            }
        }
    }
    blocks
}

fn run_examples(file: &str) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let blocks = examples(&text);
    assert!(!blocks.is_empty(), "{file} has curl examples");
    let mut ran = 0;
    for block in blocks {
        let dir = tempfile::tempdir().expect("tempdir");
        let gw = start(dir.path());
        let gw_url = format!("http://{}", gw.addr);
        let admin = token("acme", Role::Admin, "alice");
        // Variables a block sets (H=...) carry to its later commands.
        let mut prelude = String::from("set -euo pipefail\n");
        for step in &block {
            if step.command.split_once('=').is_some_and(|(k, _)| !k.contains(' ') && !k.is_empty()) {
                prelude.push_str(&step.command);
                prelude.push('\n');
                continue;
            }
            let streaming = step.command.contains("curl -s -N ") || step.command.contains("curl -N ");
            // A stream never ends by itself: stop it after a while and keep what it printed.
            let command =
                if streaming { step.command.replacen("curl ", "curl --max-time 2 ", 1) } else { step.command.clone() };
            let script = format!("{prelude}{command}\n");
            let out = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .env("GW", &gw_url)
                .env("T", &admin)
                .output()
                .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
            let printed = String::from_utf8_lossy(&out.stdout).into_owned();
            let code = out.status.code();
            let ok = out.status.success() || (streaming && code == Some(28));
            assert!(
                ok,
                "{file}:{}: `{}` failed ({:?})\nstdout: {printed}\nstderr: {}",
                step.line,
                step.command,
                code,
                String::from_utf8_lossy(&out.stderr)
            );
            for want in &step.expect {
                assert!(
                    printed.contains(want.as_str()),
                    "{file}:{}: `{}` printed {printed:?}, not {want:?}",
                    step.line,
                    step.command
                );
            }
            ran += 1;
        }
        gw.stop();
    }
    ran
}

#[test]
fn the_http_api_guides_curl_examples_work_as_written() {
    assert!(Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success()), "needs curl");
    let ran = run_examples("docs/http-api.md");
    assert!(ran >= 10, "{ran} commands ran");
}

#[test]
fn the_readmes_curl_examples_work_as_written() {
    let ran = run_examples("README.md");
    assert!(ran >= 3, "{ran} commands ran");
}
