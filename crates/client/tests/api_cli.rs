//! `vizora get`, `vizora mutate` and `vizora device provision` (the library
//! functions behind them) against the real gateway's HTTP API: tables and
//! JSON, filters and paging, outcomes and their exit codes, retries by
//! idempotency key, provisioning whose token joins `/device`, and readable
//! errors for a bad token, a dead gateway and bad arguments.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Gateway, token};
use vizora_client::cli::api::{self, Api, ApiCliError, Change, Kind, NewDevice, Query, Target};
use vizora_protocol::Role;

fn api_for(url: &str, tok: &str) -> Api {
    let http = url.replacen("ws://", "http://", 1);
    Api::new(&Target { server: Some(http), token: Some(tok.into()), insecure: false }).expect("usable target")
}

fn change(kind: &str, target: Option<&str>, base_rev: Option<u64>, args: &[&str]) -> Change {
    Change {
        kind: kind.into(),
        target: target.map(Into::into),
        base_rev,
        args: args.iter().map(|a| api::parse_arg(a).expect("arg")).collect(),
        ..Change::default()
    }
}

fn text(out: Vec<u8>) -> String {
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn changes_print_their_outcome_and_exit_by_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path());
    let op = api_for(&gw.url(), &token(Role::Operator, "op"));

    let mut out = Vec::new();
    let create = change("playlist.create", None, None, &["id=pl1", "name=Lobby"]);
    let ack = api::mutate(&op, &create, false, &mut out).expect("applied");
    assert_eq!(ack["status"], "applied");
    let line = text(out);
    assert!(line.starts_with("applied pl1 rev 1 at seq "), "{line}");

    // A retry with the key it printed is `duplicate`: exit 0, applied once.
    let key = line.rsplit_once("(key ").and_then(|(_, k)| k.strip_suffix(")\n")).expect("key").to_owned();
    let retry = Change { key: Some(key), ..create };
    let mut out = Vec::new();
    let again = api::mutate(&op, &retry, false, &mut out).expect("duplicate is success");
    assert_eq!(again["status"], "duplicate", "{again}");

    // A stale base rev: rejected conflict with the current entity, exit 1.
    let mut out = Vec::new();
    let rename = change("playlist.rename", Some("pl1"), Some(7), &["name=Lobby A"]);
    let e = api::mutate(&op, &rename, false, &mut out).unwrap_err();
    assert!(matches!(&e, ApiCliError::Rejected { code, .. } if code == "conflict"), "{e}");
    assert_eq!(e.exit_code(), 1);
    assert!(text(out).contains("\"rev\":1"), "the current entity is shown");

    // Invalid args name the field; typed args go through --arg k:=json.
    let mut out = Vec::new();
    let bad = change(
        "content.create",
        None,
        None,
        &["name=Menu", "kind=image", "uri=https://x/m.png", "duration_s:=-1", "size_bytes:=10"],
    );
    let e = api::mutate(&op, &bad, false, &mut out).unwrap_err();
    assert!(
        matches!(&e, ApiCliError::Rejected { code, detail } if code == "invalid" && detail.contains("duration_s")),
        "{e}"
    );
    let good = change(
        "content.create",
        None,
        None,
        &["id=c1", "name=Menu", "kind=image", "uri=https://x/m.png", "duration_s:=7.5", "size_bytes:=10"],
    );
    api::mutate(&op, &good, false, &mut Vec::new()).expect("fractional duration applies");

    // --json instead of --arg, with the reply printed as JSON.
    let mut out = Vec::new();
    let add = Change {
        kind: "playlist.add_item".into(),
        target: Some("pl1".into()),
        base_rev: Some(1),
        json: Some(r#"{"content_id":"c1","duration_s":8}"#.into()),
        ..Change::default()
    };
    api::mutate(&op, &add, true, &mut out).expect("applied");
    let reply: Value = serde_json::from_str(&text(out)).expect("one JSON line");
    assert_eq!((reply["status"].as_str(), reply["rev"].as_u64()), (Some("applied"), Some(2)), "{reply}");
    let mut out = Vec::new();
    api::get(&op, Kind::Playlists, &Query { id: Some("pl1".into()), ..Query::default() }, true, &mut out).expect("get");
    let pl: Value = serde_json::from_str(&text(out)).expect("json");
    assert_eq!((pl["items"][0]["content_id"].as_str(), pl["items"][0]["duration_s"].as_f64()), (Some("c1"), Some(8.0)));

    // A viewer may not change anything.
    let viewer = api_for(&gw.url(), &token(Role::Viewer, "v"));
    let e = api::mutate(&viewer, &change("playlist.delete", Some("pl1"), Some(2), &[]), false, &mut Vec::new())
        .unwrap_err();
    assert!(matches!(&e, ApiCliError::Rejected { code, .. } if code == "forbidden"), "{e}");
    // Both --arg and --json is a usage error.
    let both = Change { json: Some("{}".into()), ..change("playlist.create", None, None, &["name=x"]) };
    assert_eq!(api::mutate(&op, &both, false, &mut Vec::new()).unwrap_err().exit_code(), 2);
}

#[test]
fn get_lists_with_filters_and_paging_as_a_table_or_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path());
    let admin = api_for(&gw.url(), &token(Role::Admin, "alice"));
    for i in 0..1205 {
        let tags = if i % 2 == 0 { r#"tags:=["lobby"]"# } else { r#"tags:=["shop"]"# };
        let c = change("device.create", None, None, &[&format!("id=d{i:04}"), &format!("name=Screen {i}"), tags]);
        api::mutate(&admin, &c, false, &mut Vec::new()).expect("created");
    }
    let viewer = api_for(&gw.url(), &token(Role::Viewer, "v"));
    // Every one, across pages of 1000.
    let mut out = Vec::new();
    let n = api::get(&viewer, Kind::Devices, &Query::default(), true, &mut out).expect("list");
    assert_eq!(n, 1205);
    let all: Vec<Value> = serde_json::from_str(&text(out)).expect("a JSON array");
    let ids: Vec<&str> = all.iter().filter_map(|d| d["id"].as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "in id order, each once");

    let q = Query { tag: Some("lobby".into()), status: Some("unknown".into()), limit: Some(5), ..Query::default() };
    let mut out = Vec::new();
    assert_eq!(api::get(&viewer, Kind::Devices, &q, false, &mut out).expect("list"), 5);
    let table = text(out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID     NAME") && lines[0].contains("STATUS"), "{table}");
    assert_eq!(lines.len(), 6, "{table}");
    assert!(
        lines[1].starts_with("d0000  Screen 0 ") && lines[1].contains("unknown") && lines[1].ends_with("never"),
        "{table}"
    );
    assert!(lines[2].starts_with("d0002"), "only lobby devices: {table}");

    let one = Query { id: Some("d0001".into()), ..Query::default() };
    let mut out = Vec::new();
    api::get(&viewer, Kind::Devices, &one, true, &mut out).expect("one");
    let d: Value = serde_json::from_str(&text(out)).expect("json");
    assert_eq!((d["id"].as_str(), d["tags"].clone()), (Some("d0001"), json!(["shop"])));

    // A missing id, a filter for another kind and a bad filter value.
    let missing = Query { id: Some("nope".into()), ..Query::default() };
    let e = api::get(&viewer, Kind::Devices, &missing, false, &mut Vec::new()).unwrap_err();
    assert!(matches!(&e, ApiCliError::Problem { status: 404, .. }), "{e}");
    assert_eq!(e.exit_code(), 3);
    let wrong = Query { severity: Some("critical".into()), ..Query::default() };
    let e = api::get(&viewer, Kind::Devices, &wrong, false, &mut Vec::new()).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    let bad = Query { status: Some("melted".into()), ..Query::default() };
    let e = api::get(&viewer, Kind::Devices, &bad, false, &mut Vec::new()).unwrap_err();
    assert!(matches!(&e, ApiCliError::Problem { status: 400, detail, .. } if detail.contains("status")), "{e}");
}

#[test]
fn provisioning_prints_a_token_that_joins_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path());
    let admin = api_for(&gw.url(), &token(Role::Admin, "alice"));
    let new =
        NewDevice { id: Some("door-1".into()), name: "Door".into(), tags: vec!["lobby".into()], token_ttl_s: None };
    let mut out = Vec::new();
    api::provision(&admin, &new, false, &mut out).expect("provisioned");
    let printed = text(out);
    let tok = printed.lines().find_map(|l| l.strip_prefix("token ")).expect("a token line").to_owned();
    assert!(printed.starts_with("device_id door-1\n"), "{printed}");

    let url = gw.url();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let s = vizora_client::transport::Session::connect(&url, "/device", &tok, Duration::from_secs(5)).await;
        assert!(s.is_ok(), "the printed token joins /device: {:?}", s.err());
    });

    // The same id again: rejected, exit 1. An operator may not provision: exit 1 (forbidden).
    let e = api::provision(&admin, &new, false, &mut Vec::new()).unwrap_err();
    assert!(matches!(&e, ApiCliError::Rejected { code, .. } if code == "conflict"), "{e}");
    let op = api_for(&gw.url(), &token(Role::Operator, "op"));
    let other = NewDevice { name: "Hall".into(), ..NewDevice::default() };
    let e = api::provision(&op, &other, false, &mut Vec::new()).unwrap_err();
    assert!(matches!(&e, ApiCliError::Rejected { code, .. } if code == "forbidden"), "{e}");
}

#[test]
fn bad_tokens_dead_gateways_and_missing_settings_are_readable_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = Gateway::start(dir.path());
    let url = gw.url();
    let forged = api_for(&url, "not-a-jwt");
    let e = api::get(&forged, Kind::Alerts, &Query::default(), false, &mut Vec::new()).unwrap_err();
    assert!(matches!(&e, ApiCliError::Problem { status: 401, code, .. } if code == "token_invalid"), "{e}");
    assert_eq!(e.exit_code(), 3);

    gw.stop();
    let gone = api_for(&url, &token(Role::Viewer, "v"));
    let e = api::get(&gone, Kind::Alerts, &Query::default(), false, &mut Vec::new()).unwrap_err();
    assert!(matches!(e, ApiCliError::Unreachable { .. }), "{e}");
    assert!(e.to_string().starts_with("http://127.0.0.1:"), "names the server: {e}");

    let e = Api::new(&Target { server: None, token: Some("t".into()), insecure: false }).err().expect("no server");
    assert!(e.to_string().contains("VIZORA_SERVER"), "{e}");
    let e =
        Api::new(&Target { server: Some("http://gw.example:7311".into()), token: Some("t".into()), insecure: false })
            .err()
            .expect("a token in the clear to a remote host");
    assert!(e.to_string().contains("--insecure"), "{e}");
    assert_eq!(e.exit_code(), 2);
}
