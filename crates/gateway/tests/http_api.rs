//! The HTTP API (/api/v1, docs/openapi.json) over real sockets: decisions
//! equal to the socket path, idempotent retries, roles and isolation,
//! problem+json for bad input, the log and its SSE stream resumed with
//! `Last-Event-ID`, and the checked-in OpenAPI document.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Wall, mutation, start, token};
use vizora_protocol::Role;

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {} {}", self.status, self.body))
    }
    fn is_problem(&self) -> bool {
        self.head.to_ascii_lowercase().contains("content-type: application/problem+json")
    }
}

/// Decodes an HTTP/1.1 chunked body.
fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap_or("0").trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < i + 2 + n {
            out.extend_from_slice(&b[(i + 2).min(b.len())..(i + 2 + n).min(b.len())]);
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[(i + 4 + n).min(b.len())..];
    }
    out
}

fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let payload = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        unchunk(&raw[split..])
    } else {
        raw[split..].to_vec()
    };
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = String::from_utf8_lossy(&payload).into_owned();
    support::spec::record(method, path, &head, &body);
    Reply { status, head, body }
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn post(addr: &str, tok: &str, path: &str, extra: &[(&str, &str)], body: &Value) -> Reply {
    let auth = bearer(tok);
    let mut h = vec![("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    h.extend_from_slice(extra);
    request(addr, "POST", path, &h, Some(&body.to_string()))
}

fn get(addr: &str, tok: &str, path: &str) -> Reply {
    let auth = bearer(tok);
    request(addr, "GET", path, &[("Authorization", auth.as_str())], None)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Every mutation kind, with outcomes of each sort (applied, conflict,
/// not_found, invalid, duplicate).
fn script() -> Vec<(Option<&'static str>, &'static str, Option<u64>, Value)> {
    vec![
        (
            None,
            "content.create",
            None,
            json!({"id": "c1", "name": "Menu", "kind": "image", "uri": "https://x/m.png", "duration_s": 10, "size_bytes": 1000}),
        ),
        (
            None,
            "content.create",
            None,
            json!({"id": "c2", "name": "Promo", "kind": "video", "uri": "https://x/p.mp4", "duration_s": 7.5, "size_bytes": 5}),
        ),
        (Some("c1"), "content.update", Some(1), json!({"name": "Menu 2"})),
        (Some("c1"), "content.update", Some(1), json!({"name": "stale"})),
        (None, "playlist.create", None, json!({"id": "pl1", "name": "Lobby"})),
        (Some("pl1"), "playlist.rename", Some(1), json!({"name": "Lobby A"})),
        (Some("pl1"), "playlist.add_item", Some(2), json!({"content_id": "c1", "duration_s": 8})),
        (Some("pl1"), "playlist.add_item", Some(3), json!({"content_id": "c2", "duration_s": 7.5})),
        (Some("pl1"), "playlist.move_item", Some(4), json!({"from": 0, "to": 1})),
        (Some("pl1"), "playlist.remove_item", Some(5), json!({"index": 0})),
        (None, "device.create", None, json!({"id": "d1", "name": "Door", "tags": ["a"]})),
        (Some("d1"), "device.rename", Some(1), json!({"name": "Door 1"})),
        (Some("d1"), "device.set_tags", Some(2), json!({"tags": ["a", "b", "a"]})),
        (Some("d1"), "device.assign_playlist", Some(3), json!({"playlist_id": "pl1"})),
        (Some("d1"), "device.restart", None, json!({})),
        (
            None,
            "schedule.create",
            None,
            json!({"name": "Mornings", "playlist_id": "pl1", "target": {"tag": "a"}, "start_ms": 1764230400000u64, "priority": 5, "enabled": true}),
        ),
        (Some("nope"), "schedule.set_enabled", Some(1), json!({"enabled": false})),
        (Some("nope"), "schedule.update", Some(1), json!({"name": "x"})),
        (Some("nope"), "schedule.delete", Some(1), json!({})),
        (Some("al-x"), "alert.ack", None, json!({})),
        (Some("al-x"), "alert.resolve", None, json!({})),
        (Some("al-x"), "alert.mute", None, json!({"until_ms": 1764230400000u64})),
        (Some("c2"), "content.delete", Some(1), json!({})),
        (Some("pl1"), "playlist.delete", Some(6), json!({})),
        (Some("d1"), "device.remove", Some(4), json!({})),
        (
            None,
            "content.create",
            None,
            json!({"name": "", "kind": "image", "uri": "https://x", "duration_s": 1, "size_bytes": 1}),
        ),
        (None, "frobnicate", None, json!({})),
    ]
}

/// The socket ack an HTTP reply stands for.
fn as_ack(r: &Reply) -> Value {
    let v = r.json();
    if r.status == 200 {
        return v;
    }
    assert!(r.is_problem(), "errors are problem+json: {}", r.head);
    json!({"status": "rejected", "code": v["code"]})
}

fn strip(mut ack: Value) -> Value {
    if ack["status"] == "rejected" {
        ack = json!({"status": "rejected", "code": ack["code"]});
    }
    ack
}

fn entities(addr: &str, tok: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for kind in ["devices", "playlists", "content", "schedules", "alerts"] {
        let page = get(addr, tok, &format!("/api/v1/{kind}?limit=1000"));
        assert_eq!(page.status, 200, "{}", page.body);
        for mut item in page.json()["items"].as_array().cloned().unwrap_or_default() {
            // Each listed entity reads the same by id.
            let id = item["id"].as_str().expect("id").to_owned();
            let one = get(addr, tok, &format!("/api/v1/{kind}/{id}"));
            assert_eq!((one.status, one.json()), (200, item.clone()), "GET /api/v1/{kind}/{id}");
            item.as_object_mut().map(|o| o.remove("org"));
            all.push(item);
        }
    }
    all
}

#[test]
fn every_kind_is_decided_over_http_as_over_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let addr = gw.addr.to_string();
    let (ws, web) = (token("ws-org", Role::Admin, "alice"), token("http-org", Role::Admin, "alice"));
    rt().block_on(async {
        let mut wall = Wall::connect(&gw.url(), &ws).await;
        let mut outcomes = Vec::new();
        for (i, (target, kind, base, args)) in script().into_iter().enumerate() {
            let id = format!("m{i}");
            let m = mutation(&id, "c", kind, target, base, args);
            let by_socket = strip(wall.call("mutate", &m).await);
            let by_http = strip(as_ack(&post(&addr, &web, "/api/v1/mutations", &[], &m)));
            assert_eq!(by_socket, by_http, "{kind} #{i}");
            outcomes.push(by_http);
        }
        let status = |i: usize| outcomes[i]["status"].as_str().unwrap_or("").to_owned();
        let code = |i: usize| outcomes[i]["code"].as_str().unwrap_or("").to_owned();
        assert_eq!(status(0), "applied");
        assert_eq!(code(3), "conflict");
        assert_eq!(code(16), "not_found");
        assert_eq!((code(25), code(26)), ("invalid".to_owned(), "invalid".to_owned()));
        // A retry of a decided mutation is a duplicate on both paths.
        let again = mutation(
            "m0",
            "c",
            "content.create",
            None,
            None,
            json!({"id": "zz", "name": "x", "kind": "image", "uri": "https://x", "duration_s": 1, "size_bytes": 1}),
        );
        assert_eq!(wall.call("mutate", &again).await["status"], "duplicate");
        assert_eq!(post(&addr, &web, "/api/v1/mutations", &[], &again).json()["status"], "duplicate");
    });
    let (a, b) = (entities(&addr, &ws), entities(&addr, &web));
    assert!(a.iter().any(|e| e["id"] == "c1" && e["name"] == "Menu 2"), "{a:?}");
    // Server-made ids (the schedule) differ; everything else is equal.
    let no_ids = |v: &[Value]| -> Vec<Value> {
        v.iter()
            .map(|e| {
                let mut e = e.clone();
                if e.get("playlist_id").is_some() && e.get("target").is_some() {
                    e["id"] = json!("schedule");
                }
                e
            })
            .collect()
    };
    assert_eq!(no_ids(&a), no_ids(&b));
    let head = |t: &str| get(&addr, t, "/api/v1/head").json()["head_seq"].clone();
    assert_eq!(head(&ws), head(&web), "the same log length");
    gw.stop();
    support::spec::check_recorded();
}

#[test]
fn idempotency_if_match_roles_and_isolation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let addr = gw.addr.to_string();
    let op = token("acme", Role::Operator, "op");
    let create = json!({"kind": "playlist.create", "args": {"id": "pl1", "name": "Lobby"}});
    let key = [("Idempotency-Key", "create-pl1")];
    assert_eq!(post(&addr, &op, "/api/v1/mutations", &key, &create).json()["status"], "applied");
    let retry = post(&addr, &op, "/api/v1/mutations", &key, &create);
    assert_eq!((retry.status, retry.json()["status"].clone()), (200, json!("duplicate")));
    assert_eq!(get(&addr, &op, "/api/v1/playlists").json()["items"].as_array().map(Vec::len), Some(1));

    // If-Match is base_rev: a stale one is 409 with the entity as it is.
    let rename = json!({"kind": "playlist.rename", "target": "pl1", "args": {"name": "B"}});
    let stale = post(&addr, &op, "/api/v1/mutations", &[("If-Match", "\"7\"")], &rename);
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(stale.is_problem());
    assert_eq!(stale.json()["current"]["rev"], 1);
    assert_eq!(post(&addr, &op, "/api/v1/mutations", &[("If-Match", "\"1\"")], &rename).status, 200);

    // Roles: a viewer reads but does not change; a device token is refused;
    // no token or a bad one is 401; an admin-only kind is 403 for an operator.
    let viewer = token("acme", Role::Viewer, "v");
    assert_eq!(get(&addr, &viewer, "/api/v1/playlists/pl1").json()["name"], "B");
    let r = post(&addr, &viewer, "/api/v1/mutations", &[], &create);
    assert_eq!((r.status, r.json()["code"].clone()), (403, json!("forbidden")));
    assert_eq!(get(&addr, &token("acme", Role::Device, "p1"), "/api/v1/head").status, 403);
    let anon = request(&addr, "GET", "/api/v1/head", &[], None);
    assert_eq!(anon.status, 401);
    assert!(anon.head.to_ascii_lowercase().contains("www-authenticate: bearer"));
    assert_eq!(get(&addr, "not.a.jwt", "/api/v1/head").status, 401);
    let del = json!({"kind": "playlist.delete", "target": "pl1", "base_rev": 2, "args": {}});
    assert_eq!(post(&addr, &op, "/api/v1/mutations", &[], &del).status, 403);

    // Isolation: another org sees none of it.
    let other = token("globex", Role::Admin, "x");
    assert_eq!(get(&addr, &other, "/api/v1/playlists/pl1").status, 404);
    assert_eq!(get(&addr, &other, "/api/v1/playlists").json()["items"], json!([]));
    assert_eq!(post(&addr, &other, "/api/v1/mutations", &[("If-Match", "1")], &rename).status, 404);

    // Provisioning: admin only; the token it mints joins /device.
    let admin = token("acme", Role::Admin, "root");
    let body = json!({"id": "kiosk-1", "name": "Kiosk", "tags": ["lobby"]});
    assert_eq!(post(&addr, &op, "/api/v1/devices/provision", &[], &body).status, 403);
    let p = post(&addr, &admin, "/api/v1/devices/provision", &[], &body);
    assert_eq!(p.status, 200, "{}", p.body);
    let minted = p.json()["token"].as_str().expect("token").to_owned();
    let filtered = get(&addr, &admin, "/api/v1/devices?tag=lobby&status=unknown").json();
    assert_eq!(filtered["items"][0]["id"], "kiosk-1");
    // A retried provisioning (same key, same id) is a duplicate with a fresh
    // token for the same device; a key without an id is refused.
    let keyed = json!({"id": "kiosk-2", "name": "Kiosk 2"});
    let first = post(&addr, &admin, "/api/v1/devices/provision", &[("Idempotency-Key", "prov-2")], &keyed);
    let again = post(&addr, &admin, "/api/v1/devices/provision", &[("Idempotency-Key", "prov-2")], &keyed);
    assert_eq!((first.status, again.status), (200, 200), "{} / {}", first.body, again.body);
    assert_eq!(again.json()["outcome"]["status"], "duplicate");
    assert_eq!(again.json()["device_id"], "kiosk-2");
    let anonymous = json!({"name": "Somewhere"});
    let refused = post(&addr, &admin, "/api/v1/devices/provision", &[("Idempotency-Key", "prov-3")], &anonymous);
    assert_eq!((refused.status, refused.json()["code"].as_str()), (422, Some("invalid")), "{}", refused.body);
    assert!(refused.json()["detail"].as_str().is_some_and(|d| d.starts_with("id:")), "{}", refused.body);
    rt().block_on(async {
        vizora_client::transport::Session::connect(&gw.url(), "/device", &minted, Duration::from_secs(5))
            .await
            .expect("the minted token joins /device");
    });
    gw.stop();
    support::spec::check_recorded();
}

#[test]
fn bad_input_is_a_4xx_problem_never_a_5xx() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let addr = gw.addr.to_string();
    let op = token("acme", Role::Operator, "op");
    let auth = bearer(&op);
    let h = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let long_cursor = format!("/api/v1/devices?cursor={}", "x".repeat(200));
    let cases: Vec<(&str, &str, Option<&str>, u16)> = vec![
        ("POST", "/api/v1/mutations", Some("{not json"), 400),
        ("POST", "/api/v1/mutations", Some("[1,2]"), 400),
        ("POST", "/api/v1/mutations", Some(r#"{"args":{}}"#), 400),
        (
            "POST",
            "/api/v1/mutations",
            Some(r#"{"kind":"device.set_tags","target":"d","base_rev":1,"args":{"tags":7}}"#),
            422,
        ),
        ("GET", "/api/v1/devices?limit=0", None, 400),
        ("GET", "/api/v1/devices?limit=100000", None, 400),
        ("GET", "/api/v1/devices?status=melted", None, 400),
        ("GET", "/api/v1/alerts?severity=7", None, 400),
        ("GET", &long_cursor, None, 400),
        ("GET", "/api/v1/log?since=nocolon", None, 400),
        ("GET", "/api/v1/log?since=zz:1", None, 410),
        ("GET", "/api/v1/nothing", None, 404),
        ("DELETE", "/api/v1/head", None, 405),
    ];
    for (method, path, body, want) in cases {
        let r = request(&addr, method, path, &h, body);
        assert_eq!(r.status, want, "{method} {path}: {}", r.body);
        assert!(r.is_problem(), "{method} {path}: {}", r.head);
        if matches!(want, 404 | 405) {
            support::spec::forget(method, path); // not a route of the API
        }
    }
    // Arbitrary bodies: never a 5xx, never a dropped connection.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 64) as usize;
        let body: String =
            (0..len).map(|i| b"{}[]\":,kindargs0123 .e-\\"[((seed >> (i % 60)) % 24) as usize] as char).collect();
        let r = request(&addr, "POST", "/api/v1/mutations", &h, Some(&body));
        assert!((400..500).contains(&r.status), "{body:?} -> {} {}", r.status, r.body);
    }
    gw.stop();
    support::spec::check_recorded();
}

/// `id:` values of the SSE events read from `s` until `until` is seen.
fn sse_ids(s: &mut std::net::TcpStream, buf: &mut Vec<u8>, until: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut recorded = false;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n").filter(|_| !recorded) {
            support::spec::record("GET", "/api/v1/events", &String::from_utf8_lossy(&buf[..end + 2]), "");
            recorded = true;
        }
        let body = unchunk(&buf[buf.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4)..]);
        let ids: Vec<String> = String::from_utf8_lossy(&body)
            .split("\n\n")
            .filter(|ev| ev.contains("event: entry") && ev.ends_with('}'))
            .filter_map(|ev| ev.lines().find_map(|l| l.strip_prefix("id: ").map(str::to_owned)))
            .collect();
        if until(&ids) {
            return ids;
        }
        let mut chunk = [0u8; 8192];
        let n = s.read(&mut chunk).expect("stream open");
        assert!(n > 0, "stream ended");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn open_stream(addr: &str, tok: &str, last: Option<&str>) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let resume = last.map(|l| format!("Last-Event-ID: {l}\r\n")).unwrap_or_default();
    write!(s, "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {tok}\r\n{resume}\r\n")
        .expect("write");
    s
}

#[test]
fn an_sse_stream_resumed_with_last_event_id_gets_every_entry_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let addr = gw.addr.to_string();
    let op = token("acme", Role::Operator, "op");
    let writer = {
        let (addr, op) = (addr.clone(), op.clone());
        std::thread::spawn(move || {
            for i in 0..60 {
                let m = json!({"kind": "playlist.create", "args": {"id": format!("p{i}"), "name": "P"}});
                assert_eq!(post(&addr, &op, "/api/v1/mutations", &[], &m).status, 200);
            }
        })
    };
    let viewer = token("acme", Role::Viewer, "v");
    let mut s = open_stream(&addr, &viewer, None);
    let mut buf = Vec::new();
    let first = sse_ids(&mut s, &mut buf, |ids| ids.len() >= 10);
    drop(s);
    let last = first.last().expect("an id").clone();
    let mut s = open_stream(&addr, &viewer, Some(&last));
    let mut buf = Vec::new();
    // 60 creates: 120 entries (each change and its mutation.applied).
    let rest = sse_ids(&mut s, &mut buf, |ids| ids.last().is_some_and(|l| l.ends_with(":120")));
    writer.join().expect("writer");
    let seqs: Vec<u64> = first
        .iter()
        .chain(rest.iter())
        .map(|id| id.rsplit_once(':').and_then(|(_, s)| s.parse().ok()).expect("epoch:seq"))
        .collect();
    assert_eq!(seqs, (1..=120).collect::<Vec<_>>(), "every entry once, in order");
    // The JSON page says the same.
    let page = get(&addr, &viewer, "/api/v1/log?limit=1000").json();
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(120));
    gw.stop();
    support::spec::check_recorded();
}

#[test]
fn the_served_openapi_document_is_the_checked_in_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let served = request(&gw.addr.to_string(), "GET", "/api/v1/openapi.json", &[], None);
    support::spec::forget("GET", "/api/v1/openapi.json"); // the document itself
    assert_eq!(served.status, 200);
    let doc: Value = serde_json::from_str(&served.body).expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    for path in ["/api/v1/mutations", "/api/v1/events", "/api/v1/log", "/api/v1/devices", "/api/v1/devices/provision"] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("VIZORA_BLESS").is_some() {
        std::fs::write(&file, format!("{}\n", served.body.trim_end())).expect("write docs/openapi.json");
    }
    let checked_in: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("docs/openapi.json")).expect("json");
    assert_eq!(doc, checked_in, "docs/openapi.json is stale: rerun with VIZORA_BLESS=1");
    gw.stop();
    support::spec::check_recorded();
}

/// The `/metrics` sample `name`, polled until `want` holds (the sequencer
/// refreshes fleet gauges about once a second).
fn metric_eventually(addr: &str, name: &str, want: f64) {
    let mut last = None;
    for _ in 0..100 {
        let (_, text) = support::raw::http_get(addr, "/metrics").expect("GET /metrics");
        last = support::raw::sample(&text, name);
        if last == Some(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} is {last:?}, want {want}");
}

#[test]
fn metrics_show_each_orgs_fleet_by_status_its_unresolved_alerts_and_log_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let addr = gw.addr.to_string();
    let acme = token("acme", Role::Admin, "alice");
    let globex = token("globex", Role::Admin, "gina");
    for id in ["d1", "d2", "d3"] {
        let m = json!({"kind": "device.create", "args": {"id": id, "name": id}});
        assert_eq!(post(&addr, &acme, "/api/v1/mutations", &[], &m).status, 200);
    }
    let m = json!({"kind": "device.create", "args": {"id": "g1", "name": "g1"}});
    assert_eq!(post(&addr, &globex, "/api/v1/mutations", &[], &m).status, 200);
    metric_eventually(&addr, "vizora_devices{org=\"acme\",status=\"unknown\"}", 3.0);
    metric_eventually(&addr, "vizora_devices{org=\"globex\",status=\"unknown\"}", 1.0);
    let head = get(&addr, &acme, "/api/v1/head").json();
    let seq = head["head_seq"].as_f64().expect("head_seq");
    metric_eventually(&addr, "vizora_log_head{org=\"acme\"}", seq);

    // d1 reports too hot: degraded, with a warning alert; d2 reports well.
    let url = format!("http://{addr}");
    rt().block_on(async {
        let mut players = Vec::new();
        for (id, temp) in [("d1", 95.0), ("d2", 40.0)] {
            let mut p = support::raw::Raw::open(&url).await;
            let tok = token("acme", Role::Device, id);
            let answer = p.connect_ns("/device", Some(&json!({"token": tok}))).await;
            assert!(answer.starts_with("0/device,"), "{answer}");
            let health =
                json!({"cpu_pct": 10.0, "mem_pct": 30.0, "temp_c": temp, "disk_free_pct": 60.0, "uptime_s": 5});
            let hb = json!({"ts_ms": vizora_protocol::now_ms(), "health": health});
            p.send_sio(&vizora_protocol::codec::encode_event("/device", None, "heartbeat", &hb)).await;
            players.push(p);
        }
        tokio::task::spawn_blocking(move || {
            metric_eventually(&addr, "vizora_devices{org=\"acme\",status=\"degraded\"}", 1.0);
            metric_eventually(&addr, "vizora_devices{org=\"acme\",status=\"online\"}", 1.0);
            metric_eventually(&addr, "vizora_devices{org=\"acme\",status=\"unknown\"}", 1.0);
            metric_eventually(&addr, "vizora_alerts_unresolved{org=\"acme\",severity=\"warning\",state=\"open\"}", 1.0);
            // The same alert through the API's filters and by id.
            let open = get(&addr, &acme, "/api/v1/alerts?state=open&severity=warning").json();
            let alert = open["items"][0].clone();
            assert_eq!(
                (open["items"].as_array().map(Vec::len), alert["device_id"].as_str()),
                (Some(1), Some("d1")),
                "{open}"
            );
            let id = alert["id"].as_str().expect("alert id");
            assert_eq!(get(&addr, &acme, &format!("/api/v1/alerts/{id}")).json(), alert);
            let none = get(&addr, &acme, "/api/v1/alerts?severity=critical").json();
            assert_eq!(none["items"], json!([]), "{none}");
            let degraded = get(&addr, &acme, "/api/v1/devices?status=degraded").json();
            assert_eq!(degraded["items"][0]["id"], "d1", "{degraded}");
            assert_eq!(get(&addr, &globex, &format!("/api/v1/alerts/{id}")).status, 404, "other orgs do not see it");
            metric_eventually(
                &addr,
                "vizora_alerts_unresolved{org=\"globex\",severity=\"warning\",state=\"open\"}",
                0.0,
            );
            metric_eventually(&addr, "vizora_devices{org=\"globex\",status=\"unknown\"}", 1.0);
            let (_, text) = support::raw::http_get(&addr, "/metrics").expect("GET /metrics");
            let age = support::raw::sample(&text, "vizora_log_newest_entry_age_seconds{org=\"acme\"}").expect("age");
            assert!((0.0..60.0).contains(&age), "age of the newest entry: {age}");
            // How far the fan-out's spacing is stretched: from 1 (as
            // configured) to 4 (the socket writers saturated).
            let stretch = support::raw::sample(&text, "vizora_fanout_stretch").expect("stretch");
            assert!((1.0..=4.0).contains(&stretch), "fan-out stretch: {stretch}");
        })
        .await
        .expect("checks");
        drop(players);
    });
    support::spec::check_recorded();
}

#[test]
fn each_token_has_its_own_request_rate_on_the_gateways_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = vizora_gateway::ManualClock::at(vizora_protocol::now_ms());
    let mut cfg = support::config(dir.path());
    (cfg.rate_per_s, cfg.rate_burst) = (5.0, 5.0);
    let hooks = vizora_gateway::Hooks { clock: std::sync::Arc::new(clock.clone()), ..Default::default() };
    let gw = vizora_gateway::Embedded::start_with(cfg, vizora_gateway::Auth::hs256(support::SECRET), hooks)
        .expect("gateway starts");
    let addr = gw.addr.to_string();
    let noisy = token("acme", Role::Viewer, "noisy");
    let quiet = token("acme", Role::Viewer, "quiet");
    let statuses: Vec<u16> = (0..8).map(|_| get(&addr, &noisy, "/api/v1/head").status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429], "a burst of 5, then refused");
    let refused = get(&addr, &noisy, "/api/v1/devices");
    assert!(refused.is_problem() && refused.json()["code"] == "rate_limited", "{}", refused.body);
    assert!(refused.head.to_ascii_lowercase().contains("retry-after: 1"), "{}", refused.head);
    // Another token of the same org is not slowed down by it.
    assert_eq!(get(&addr, &quiet, "/api/v1/head").status, 200);
    // A mutation counts too, and a refused one is not decided: its retry applies.
    let op = token("acme", Role::Operator, "busy-op");
    for i in 0..5 {
        let m = json!({"kind": "playlist.create", "args": {"id": format!("p{i}"), "name": "P"}});
        let key = format!("k{i}");
        assert_eq!(post(&addr, &op, "/api/v1/mutations", &[("Idempotency-Key", &key)], &m).status, 200);
    }
    let late = json!({"kind": "playlist.create", "args": {"id": "late", "name": "P"}});
    let refused = post(&addr, &op, "/api/v1/mutations", &[("Idempotency-Key", "late")], &late);
    assert_eq!(refused.status, 429, "{}", refused.body);
    clock.advance(200);
    let retried = post(&addr, &op, "/api/v1/mutations", &[("Idempotency-Key", "late")], &late);
    assert_eq!((retried.status, retried.json()["status"].as_str()), (200, Some("applied")), "{}", retried.body);
    // 200 ms of the gateway's clock is one more request: 400 ms since it was refused, two.
    clock.advance(200);
    assert_eq!(get(&addr, &noisy, "/api/v1/head").status, 200);
    assert_eq!(get(&addr, &noisy, "/api/v1/head").status, 200);
    assert_eq!(get(&addr, &noisy, "/api/v1/head").status, 429);
    gw.stop();
    support::spec::check_recorded();
}
