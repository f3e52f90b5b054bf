//! `docs/protocol.md` is kept true to the code: the first column of each of
//! its machine-checked tables lists exactly the values the code has, spelled
//! as they go on the wire, and the Bounds table gives each constant's value.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Value, json};
use vizora_protocol::bounds::{
    MAX_DURATION_S, MAX_ID_BYTES, MAX_PLAYLIST_ITEMS, MAX_SAFE_INT, MAX_TAGS, MAX_TEXT_CHARS, MAX_URI_BYTES, TEMP_RANGE,
};
use vizora_protocol::mutation::MUTATION_KINDS;
use vizora_protocol::{AlertState, AuthErrorCode, DeviceStatus, ErrorCode, MutationOp, RejectCode, Role, Severity};

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");

/// The page, read fresh on every run.
fn doc() -> String {
    std::fs::read_to_string(DOC_PATH).unwrap_or_else(|e| panic!("cannot read {DOC_PATH}: {e}"))
}

/// Splits a table row into its trimmed cells; `\|` inside a cell is not a separator.
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == '|' {
            out.push(cur.trim().to_owned());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    out.push(cur.trim().to_owned());
    out
}

/// A header/body separator row such as `|---|:--:|`.
fn is_separator(cells: &[String]) -> bool {
    cells.iter().all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

/// The body rows (cells) of the tables in the section `## {heading}`: from
/// that heading line to the next `## ` or `# ` heading, the header row of each
/// table and the separator rows left out.
fn section_rows(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let title = format!("## {heading}");
    let mut lines = doc.lines();
    assert!(lines.by_ref().any(|l| l.trim_end() == title), "docs/protocol.md has no `{title}` section");
    let mut rows = Vec::new();
    // The next table row is a header: true at the start and after any non-table line.
    let mut header_next = true;
    for line in lines {
        let t = line.trim();
        if t.starts_with("## ") || t.starts_with("# ") {
            break;
        }
        if !t.starts_with('|') {
            header_next = true;
            continue;
        }
        let row = cells(t);
        if header_next {
            header_next = false;
            continue;
        }
        if is_separator(&row) {
            continue;
        }
        rows.push(row);
    }
    assert!(!rows.is_empty(), "`{title}` in docs/protocol.md has no table rows");
    rows
}

/// The single backticked token in a first cell, e.g. `` `conflict` `` → `conflict`.
fn backticked(heading: &str, cell: &str) -> String {
    let inner = cell.strip_prefix('`').and_then(|c| c.strip_suffix('`'));
    match inner {
        Some(v) if !v.is_empty() && !v.contains('`') && !v.contains(char::is_whitespace) => v.to_owned(),
        _ => panic!("`## {heading}`: the first cell must be one backticked value, got {cell:?}"),
    }
}

/// The values of the first column of `## {heading}`, each once.
fn first_column(doc: &str, heading: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for row in section_rows(doc, heading) {
        let v = backticked(heading, &row[0]);
        assert!(seen.insert(v.clone()), "`## {heading}` lists `{v}` twice");
    }
    seen
}

/// Both directions at once, naming what is missing from and extra in the page.
fn assert_same(heading: &str, documented: &BTreeSet<String>, code: &BTreeSet<String>) {
    let missing: Vec<&String> = code.difference(documented).collect();
    let extra: Vec<&String> = documented.difference(code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/protocol.md `## {heading}` differs from the code:\n  missing (in the code, not in the table): {missing:?}\n  extra (in the table, not in the code): {extra:?}"
    );
}

/// How each value goes on the wire: serde's string for a unit variant.
fn wire_names<T: Serialize + std::fmt::Debug>(all: &[T]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for v in all {
        let name = match serde_json::to_value(v) {
            Ok(Value::String(s)) => s,
            other => panic!("{v:?} does not serialise as a string: {other:?}"),
        };
        assert!(out.insert(name.clone()), "two variants serialise as `{name}`");
    }
    out
}

/// Every variant of a fieldless enum, as an array. The same list feeds an
/// exhaustive `match`, so a variant added to the type breaks compilation here
/// until it is listed (and then the page must document it).
macro_rules! all_variants {
    ($ty:ident { $($v:ident),+ $(,)? }) => {{
        fn listed(c: $ty) {
            match c {
                $($ty::$v)|+ => {}
            }
        }
        let all = [$($ty::$v),+];
        for c in all {
            listed(c);
        }
        all
    }};
}

fn check_enum<T: Serialize + std::fmt::Debug>(heading: &str, all: &[T]) {
    assert_same(heading, &first_column(&doc(), heading), &wire_names(all));
}

#[test]
fn mutation_kinds_table_lists_every_kind() {
    let code: BTreeSet<String> = MUTATION_KINDS.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(code.len(), MUTATION_KINDS.len(), "MUTATION_KINDS has a duplicate");
    assert_same("Mutation kinds", &first_column(&doc(), "Mutation kinds"), &code);
}

/// Arguments that pass validation for `kind`, to ask the parsed op its rules.
fn sample_args(kind: &str) -> Value {
    match kind {
        "device.rename" | "playlist.rename" | "device.create" | "playlist.create" => json!({"name": "n"}),
        "device.set_tags" => json!({"tags": ["t"]}),
        "playlist.add_item" => json!({"content_id": "c", "duration_s": 1}),
        "playlist.remove_item" => json!({"index": 0}),
        "playlist.move_item" => json!({"from": 0, "to": 0}),
        "content.create" => {
            json!({"name": "n", "kind": "image", "uri": "https://example.com/a.png", "duration_s": 1, "size_bytes": 0})
        }
        "content.update" | "schedule.update" => json!({"name": "n"}),
        "schedule.create" => json!({"name": "n", "playlist_id": "p", "target": {"device": "d"}, "start_ms": 0}),
        "schedule.set_enabled" => json!({"enabled": true}),
        "alert.mute" => json!({"until_ms": 0}),
        _ => json!({}),
    }
}

#[test]
fn mutation_kinds_table_gives_each_kind_its_roles_and_rev_rule() {
    for row in section_rows(&doc(), "Mutation kinds") {
        let kind = backticked("Mutation kinds", &row[0]);
        assert!(row.len() >= 4, "`{kind}`: expected kind | roles allowed | args | what it does, got {row:?}");
        let Ok(op) = MutationOp::parse(&kind, &sample_args(&kind)) else {
            // An unknown kind is reported by `mutation_kinds_table_lists_every_kind`.
            continue;
        };
        let roles = &row[1];
        assert!(
            roles.contains("`admin`") && !roles.contains("viewer") && !roles.contains("`device`"),
            "`{kind}`: roles allowed must name `admin` and neither `viewer` nor `device`, got {roles:?}"
        );
        assert_eq!(
            roles.contains("`operator`"),
            !op.needs_admin(),
            "`{kind}`: the code says needs_admin = {}, the table's roles say {roles:?}",
            op.needs_admin()
        );
        let any_rev = !op.checks_rev() && !op.is_create();
        assert_eq!(
            row[3].contains("any rev"),
            any_rev,
            "`{kind}`: *any rev* must be said exactly of the kinds that neither create nor check base_rev (code: {any_rev})"
        );
    }
}

#[test]
fn reject_codes_table_lists_every_reject_code() {
    let all = all_variants!(RejectCode { Conflict, NotFound, Forbidden, Invalid, RateLimited, Unavailable });
    check_enum("Reject codes", &all);
}

#[test]
fn error_codes_table_lists_every_error_code() {
    let all = all_variants!(ErrorCode { RateLimited, BadRequest, PayloadTooLarge, TokenExpired });
    check_enum("Error codes", &all);
}

#[test]
fn connect_error_codes_table_lists_every_auth_error_code() {
    let all = all_variants!(AuthErrorCode { TokenMissing, TokenInvalid, TokenExpired, TokenRevoked, WrongNamespace });
    check_enum("Connect error codes", &all);
}

#[test]
fn device_statuses_table_lists_every_status() {
    let all = all_variants!(DeviceStatus { Online, Degraded, Offline, Unknown });
    check_enum("Device statuses", &all);
}

#[test]
fn alert_severities_table_lists_every_severity() {
    let all = all_variants!(Severity { Info, Warning, Critical });
    check_enum("Alert severities", &all);
}

#[test]
fn alert_states_table_lists_every_state() {
    let all = all_variants!(AlertState { Open, Acked, Resolved });
    check_enum("Alert states", &all);
}

#[test]
fn roles_table_lists_every_role() {
    let all = all_variants!(Role { Viewer, Operator, Admin, Device });
    check_enum("Roles", &all);
}

/// A bound's value as the page must give it.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// A plain integer: `1000`.
    Int(u64),
    /// A number of seconds, written plainly: `86400`.
    Real(f64),
    /// An inclusive range: `-100..=200`.
    Range(f32, f32),
}

/// Every constant of `bounds.rs`. `bounds_rs_constants_are_all_listed` keeps
/// this list complete.
fn bounds() -> Vec<(&'static str, Bound)> {
    vec![
        ("MAX_SAFE_INT", Bound::Int(MAX_SAFE_INT)),
        ("MAX_ID_BYTES", Bound::Int(MAX_ID_BYTES as u64)),
        ("MAX_TEXT_CHARS", Bound::Int(MAX_TEXT_CHARS as u64)),
        ("MAX_URI_BYTES", Bound::Int(MAX_URI_BYTES as u64)),
        ("MAX_TAGS", Bound::Int(MAX_TAGS as u64)),
        ("MAX_PLAYLIST_ITEMS", Bound::Int(MAX_PLAYLIST_ITEMS as u64)),
        ("MAX_DURATION_S", Bound::Real(MAX_DURATION_S)),
        ("TEMP_RANGE", Bound::Range(TEMP_RANGE.0, TEMP_RANGE.1)),
    ]
}

/// Whether the page's `text` says `want`.
fn value_matches(want: Bound, text: &str) -> bool {
    let text = text.trim().trim_matches('`').trim();
    match want {
        Bound::Int(n) => text.parse::<u64>() == Ok(n),
        Bound::Real(x) => text.parse::<f64>().is_ok_and(|v| v == x),
        Bound::Range(lo, hi) => text
            .split_once("..=")
            .and_then(|(a, b)| Some((a.trim().parse::<f32>().ok()?, b.trim().parse::<f32>().ok()?)))
            .is_some_and(|(a, b)| a == lo && b == hi),
    }
}

#[test]
fn bounds_table_gives_every_constant_its_value() {
    let doc = doc();
    let rows = section_rows(&doc, "Bounds");
    let documented: BTreeSet<String> = first_column(&doc, "Bounds");
    let expected = bounds();
    let code: BTreeSet<String> = expected.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_same("Bounds", &documented, &code);
    for row in rows {
        let name = backticked("Bounds", &row[0]);
        let Some((_, want)) = expected.iter().find(|(n, _)| *n == name) else { continue };
        let given = row.get(1).map(String::as_str).unwrap_or("");
        assert!(value_matches(*want, given), "`## Bounds`: `{name}` is {want:?} in the code, the page says {given:?}");
    }
}

#[test]
fn bounds_rs_constants_are_all_listed() {
    // A constant added to bounds.rs must be added to `bounds()` above, and so to the page.
    let source = include_str!("../src/bounds.rs");
    let in_source: BTreeSet<String> = source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|rest| rest.split(':').next())
        .map(|name| name.trim().to_owned())
        .collect();
    let listed: BTreeSet<String> = bounds().iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_same("Bounds (constants of bounds.rs vs this test's list)", &listed, &in_source);
}
