//! The wall's import graph, read from `src/`: dependencies point one way
//! (the layers of `src/lib.rs`), panels never import each other, the bottom
//! layer has no Bevy, and no files import each other in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first: a module may use its own layer and those before it.
const LAYERS: [&str; 6] = ["base", "sync", "wall", "panels", "chrome", "app"];

/// Module path (`panels::devices::marks`) → file, for every library file under `src/`.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src").with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts.last().is_some_and(|l| l == "mod") {
            parts.pop();
        }
        // The crate root and the binary's files are not in a layer.
        if parts.len() == 1 && ["lib", "main", "api_cmd", "wall_cmd"].contains(&parts[0].as_str()) {
            continue;
        }
        out.insert(parts.join("::"), f);
    }
    out
}

/// The code of a file without comments and without its test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The modules a file's code names, by `crate::` and `super::` paths,
/// including the items of grouped imports (`crate::wall::{pages::X, Y}`).
fn references(module: &str, code: &str, known: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let segments: Vec<&str> = module.split("::").collect();
    // `super` is the module's parent (a file's folder module, a `mod.rs`'s parent).
    let parent = segments[..segments.len().saturating_sub(1)].to_vec();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix).map(|a| a + from) {
            from = at + prefix.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || (c == ':' && prefix == "super::")) {
                continue;
            }
            let rest = &code[from..];
            let path: String =
                rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '{').collect();
            let (head, group) = match path.split_once('{') {
                Some((h, _)) => {
                    let body = rest[h.len() + 1..].split('}').next().unwrap_or("");
                    (h.trim_end_matches(':').to_owned(), body.split(',').map(|s| s.trim().to_owned()).collect())
                }
                None => (path.clone(), vec![String::new()]),
            };
            for item in group {
                let mut segs: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
                segs.extend(head.split("::").filter(|s| !s.is_empty()).map(str::to_owned));
                segs.extend(item.split("::").filter(|s| !s.is_empty() && *s != "self").map(str::to_owned));
                // The longest prefix that is a module is the file named.
                while !segs.is_empty() {
                    let m = segs.join("::");
                    if known.contains_key(&m) {
                        if m != module {
                            out.insert(m);
                        }
                        break;
                    }
                    segs.pop();
                }
            }
        }
    }
    out
}

fn layer(module: &str) -> usize {
    let top = module.split("::").next().unwrap_or("");
    LAYERS
        .iter()
        .position(|l| *l == top)
        .unwrap_or_else(|| panic!("{module} is in no layer: put it in one of {LAYERS:?}"))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    known.iter().map(|(m, f)| (m.clone(), references(m, &code(f), &known))).collect()
}

#[test]
fn dependencies_point_down_the_layers_and_panels_stay_apart() {
    let g = graph();
    assert!(g.len() > 20, "the wall's modules were found: {:?}", g.keys());
    let mut wrong = Vec::new();
    for (from, tos) in &g {
        for to in tos {
            if layer(to) > layer(from) {
                wrong.push(format!("{from} -> {to}: {} is above {}", LAYERS[layer(to)], LAYERS[layer(from)]));
            }
            let panel = |m: &str| m.split("::").nth(1).map(str::to_owned);
            if layer(from) == 3 && layer(to) == 3 && panel(from) != panel(to) {
                wrong.push(format!("{from} -> {to}: panels never import each other"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn the_bottom_layer_has_no_bevy() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (m, f) in modules(&src) {
        if layer(&m) == 0 {
            assert!(!code(&f).contains("bevy"), "{m} uses Bevy; the base layer is plain Rust");
        }
    }
}

#[test]
fn no_files_import_each_other_in_a_cycle() {
    let g = graph();
    // Depth-first search; a grey node met again closes a cycle.
    fn visit<'a>(
        n: &'a str,
        g: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(n, 1);
        stack.push(n);
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|s| *s == m).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[at..].iter().map(|s| (*s).to_owned()).collect();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if !state.contains_key(n.as_str())
            && let Some(cycle) = visit(n, &g, &mut state, &mut Vec::new())
        {
            panic!("an import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_check_sees_grouped_super_and_nested_paths() {
    let known: BTreeMap<String, PathBuf> =
        ["wall", "wall::pages", "panels::devices", "panels::devices::marks", "base::format"]
            .iter()
            .map(|m| ((*m).to_owned(), PathBuf::new()))
            .collect();
    let refs = references(
        "panels::devices::marks",
        "use crate::wall::{pages::ActivePage, WallSize};\nuse super::Tile;\nlet x = crate::base::format::age(1);",
        &known,
    );
    let want: BTreeSet<String> =
        ["wall", "wall::pages", "panels::devices", "base::format"].iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(refs, want);
}
