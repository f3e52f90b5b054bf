//! Reads what the load generator counts out of an `events` payload
//! (`{"epoch":…,"items":[{"seq":…,"type":…,"data":{…}},…]}`, PROTOCOL.md
//! §5) in one forward pass over the bytes, building nothing: each item's
//! `seq`, `type` and, for `mutation.applied`, `data.mutation_id`.
//!
//! Why not serde: at 800,000 delivered entries a second the load generator
//! spent most of its CPU in `serde_json` walking entity data it then threw
//! away, which made it the bottleneck of the runs it measures (issue #11).
//! Skipping a value here only tracks strings and bracket depth.
//! `benches/events_scan.rs` measures both on the same frames.
//!
//! What it checks: the structure it walks (objects, arrays, strings, keys,
//! `:` and `,`), and that `seq` is an unsigned integer. Inside a skipped
//! value it only matches brackets by depth (`{]` passes), and keys and
//! strings are compared as written, escapes and all: a reader that counts,
//! not a validator. Malformed input gives an error naming the byte, never
//! a panic; entries before the error have already been reported.

/// One log entry as the load generator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Its position in the org's log.
    pub seq: u64,
    /// Its `type`, as written.
    pub ty: &'a str,
    /// `data.mutation_id` of a `mutation.applied` entry, when a string
    /// there (none for every other type).
    pub mutation_id: Option<&'a str>,
}

/// Where and why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {at}: {what}")]
pub struct ScanError {
    /// Byte offset into the payload.
    pub at: usize,
    /// What was expected there.
    pub what: &'static str,
}

/// Calls `each` with every item of an `events` payload, in order; returns
/// how many there were.
pub fn scan_events<'a>(payload: &'a str, mut each: impl FnMut(Entry<'a>)) -> Result<usize, ScanError> {
    let mut r = Reader { s: payload, b: payload.as_bytes(), i: 0 };
    let mut n = 0;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first)? {
        if key != "items" {
            r.skip_value()?;
            continue;
        }
        let mut first_item = true;
        while r.next_elem(&mut first_item)? {
            each(r.item()?);
            n += 1;
        }
    }
    Ok(n)
}

/// The bytes `skip_nested` stops at: `"`, `{`, `}`, `[`, `]`.
const STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn err<T>(&self, what: &'static str) -> Result<T, ScanError> {
        Err(ScanError { at: self.i, what })
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), ScanError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// At `{` (`first`) or after a member's value: the next key, with the
    /// reader on its value; `None` past the object's `}`.
    fn next_key(&mut self, first: &mut bool) -> Result<Option<&'a str>, ScanError> {
        self.ws();
        if std::mem::take(first) {
            self.expect(b'{', "expected `{`")?;
            self.ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(None);
            }
        } else {
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    return Ok(None);
                }
                _ => return self.err("expected `,` or `}`"),
            }
        }
        let key = self.string()?;
        self.ws();
        self.expect(b':', "expected `:`")?;
        self.ws();
        Ok(Some(key))
    }

    /// At `[` (`first`) or after an element: true with the reader on the
    /// next element, false past the array's `]`.
    fn next_elem(&mut self, first: &mut bool) -> Result<bool, ScanError> {
        self.ws();
        if std::mem::take(first) {
            self.expect(b'[', "expected `[`")?;
            self.ws();
            if self.peek() == Some(b']') {
                self.i += 1;
                return Ok(false);
            }
            return Ok(true);
        }
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                self.ws();
                Ok(true)
            }
            Some(b']') => {
                self.i += 1;
                Ok(false)
            }
            _ => self.err("expected `,` or `]`"),
        }
    }

    /// A string's text as written (escapes kept), the reader past its closing quote.
    fn string(&mut self) -> Result<&'a str, ScanError> {
        self.expect(b'"', "expected a string")?;
        let start = self.i;
        // Most strings here are short ids and names: a plain loop beats
        // setting up a vectorised or word-at-a-time search for each
        // (measured with benches/events_scan.rs).
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    self.i += 1;
                    // Both ends sit next to an ASCII quote: char boundaries.
                    return Ok(&self.s[start..self.i - 1]);
                }
                // The byte after a backslash is escaped, whatever it is.
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
        self.i = self.b.len();
        self.err("unterminated string")
    }

    fn u64(&mut self) -> Result<u64, ScanError> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            v = match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))) {
                Some(v) => v,
                None => return self.err("`seq` out of range"),
            };
            self.i += 1;
        }
        if self.i == start || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            self.i = start;
            return self.err("`seq` is not an unsigned integer");
        }
        Ok(v)
    }

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> Result<(), ScanError> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{' | b'[') => self.skip_nested(),
            Some(_) => {
                let start = self.i;
                while !matches!(self.peek(), None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')) {
                    self.i += 1;
                }
                if self.i == start { self.err("expected a value") } else { Ok(()) }
            }
            None => self.err("expected a value"),
        }
    }

    /// Skips an object or array: strings, and brackets by depth.
    fn skip_nested(&mut self) -> Result<(), ScanError> {
        let mut depth = 0usize;
        loop {
            // Past the bytes that mean nothing here, a table lookup each.
            while self.b.get(self.i).is_some_and(|&c| !STRUCTURAL[usize::from(c)]) {
                self.i += 1;
            }
            match self.peek() {
                None => return self.err("unterminated object or array"),
                Some(b'"') => {
                    self.string()?;
                    continue;
                }
                Some(b'{' | b'[') => depth += 1,
                Some(_) => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
            }
            self.i += 1;
        }
    }

    /// One item object, the reader past it.
    fn item(&mut self) -> Result<Entry<'a>, ScanError> {
        let at = self.i;
        let (mut seq, mut ty, mut mutation_id) = (None, None, None);
        let mut first = true;
        while let Some(key) = self.next_key(&mut first)? {
            match key {
                "seq" => seq = Some(self.u64()?),
                "type" => ty = Some(self.string()?),
                // Only `mutation.applied` carries a `mutation_id` worth
                // reading: data of another type already seen is skipped whole.
                "data" if self.peek() == Some(b'{') && ty.is_none_or(|t| t == "mutation.applied") => {
                    let mut first_field = true;
                    while let Some(field) = self.next_key(&mut first_field)? {
                        if field == "mutation_id" && self.peek() == Some(b'"') {
                            mutation_id = Some(self.string()?);
                        } else {
                            self.skip_value()?;
                        }
                    }
                }
                _ => self.skip_value()?,
            }
        }
        match (seq, ty) {
            (Some(seq), Some(ty)) => {
                Ok(Entry { seq, ty, mutation_id: mutation_id.filter(|_| ty == "mutation.applied") })
            }
            _ => Err(ScanError { at, what: "an item without `seq` or `type`" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::*;

    /// What serde reads from the same payload: the reference.
    fn with_serde(payload: &str) -> Option<Vec<(u64, String, Option<String>)>> {
        #[derive(Deserialize)]
        struct Batch {
            items: Vec<Item>,
        }
        #[derive(Deserialize)]
        struct Item {
            seq: u64,
            #[serde(rename = "type")]
            ty: String,
            data: Data,
        }
        #[derive(Deserialize)]
        struct Data {
            #[serde(default)]
            mutation_id: Option<Value>,
        }
        let b: Batch = serde_json::from_str(payload).ok()?;
        Some(
            b.items
                .into_iter()
                .map(|i| {
                    let applied = i.ty == "mutation.applied";
                    let mid = i.data.mutation_id.filter(|_| applied).and_then(|m| m.as_str().map(str::to_owned));
                    (i.seq, i.ty, mid)
                })
                .collect(),
        )
    }

    fn scanned(payload: &str) -> Result<Vec<(u64, String, Option<String>)>, ScanError> {
        let mut out = Vec::new();
        let n = scan_events(payload, |e| out.push((e.seq, e.ty.to_owned(), e.mutation_id.map(str::to_owned))))?;
        assert_eq!(n, out.len());
        Ok(out)
    }

    #[test]
    fn reads_a_gateway_frame_with_nested_lookalike_keys_and_escapes() {
        let payload = r#"{"epoch":"01J","items":[{"seq":7,"ts_ms":1,"type":"content.upsert","data":{"id":"c1","name":"say \"seq\":9 \\","meta":{"seq":99,"items":[{"seq":1}]},"tags":["]","}"]}},
            {"seq":8,"ts_ms":2,"type":"mutation.applied","data":{"mutation_id":"lt-3","kind":"content.create"}}]}"#;
        assert_eq!(
            scanned(payload).unwrap(),
            vec![(7, "content.upsert".into(), None), (8, "mutation.applied".into(), Some("lt-3".into()))]
        );
    }

    #[test]
    fn keys_in_any_order_and_an_empty_batch() {
        let payload = r#"{ "items" : [ { "data" : { "x" : null , "mutation_id" : "m" } , "type" : "mutation.applied" , "seq" : 18446744073709551615 } ,
            {"type":"t","data":{"mutation_id":"n"},"seq":1} ] , "epoch" : "e" }"#;
        assert_eq!(
            scanned(payload).unwrap(),
            vec![(u64::MAX, "mutation.applied".into(), Some("m".into())), (1, "t".into(), None)]
        );
        assert_eq!(scanned(r#"{"epoch":"e","items":[]}"#).unwrap(), vec![]);
    }

    #[test]
    fn malformed_payloads_are_errors_naming_the_byte() {
        for (payload, at, what) in [
            (r#"{"items":[{"seq":-1,"type":"t"}]}"#, 17, "`seq` is not an unsigned integer"),
            (r#"{"items":[{"seq":1.5,"type":"t"}]}"#, 17, "`seq` is not an unsigned integer"),
            (r#"{"items":[{"seq":18446744073709551616,"type":"t"}]}"#, 36, "`seq` out of range"),
            (r#"{"items":[{"type":"t"}]}"#, 10, "an item without `seq` or `type`"),
            (r#"{"items":[{"seq":1,"type":"t"}"#, 30, "expected `,` or `]`"),
            (r#"{"items":[{"seq":1,"type":"t","data":{"a":"x}]}"#, 47, "unterminated string"),
            (r#"{"items":[{"seq":1,"type":"t","data":{"a":[1,[2]"#, 48, "unterminated object or array"),
            (r#"["items"]"#, 0, "expected `{`"),
            ("", 0, "expected `{`"),
        ] {
            assert_eq!(scanned(payload), Err(ScanError { at, what }), "{payload}");
        }
    }

    /// Any JSON value, keys drawn so that look-alikes of the keys read come up.
    fn any_value() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec!["seq", "type", "data", "items", "mutation_id", "id", "név", "a\"b"]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key.clone().prop_map(str::to_owned), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// One item as a server might write it: its four keys in any order,
    /// `ws` between tokens.
    fn any_item() -> impl Strategy<Value = String> {
        let ty = prop_oneof![Just("mutation.applied".to_owned()), "[a-z.]{1,20}"];
        let order = Just(vec!["seq", "type", "data", "extra"]).prop_shuffle();
        let ws = prop::sample::select(vec!["", " ", "\n  "]);
        (any::<u64>(), ty, any_value(), proptest::option::of("[a-z0-9-]{0,12}"), any_value(), order, ws).prop_map(
            |(seq, ty, mut data, mid, extra, order, ws)| {
                if !data.is_object() {
                    data = json!({ "v": data });
                }
                match mid {
                    Some(m) => data["mutation_id"] = json!(m),
                    None => drop(data.as_object_mut().map(|o| o.remove("mutation_id"))),
                }
                let value = |k: &str| match k {
                    "seq" => json!(seq),
                    "type" => json!(ty),
                    "data" => data.clone(),
                    _ => extra.clone(),
                };
                let fields: Vec<String> = order
                    .iter()
                    .map(|k| format!("\"{k}\"{ws}:{ws}{}", serde_json::to_string(&value(k)).unwrap()))
                    .collect();
                format!("{{{ws}{}{ws}}}", fields.join(&format!("{ws},{ws}")))
            },
        )
    }

    fn batch(items: &[String], epoch: &Value, ws: &str) -> String {
        let epoch = serde_json::to_string(epoch).unwrap();
        let items = items.join(&format!(",{ws}"));
        format!("{{{ws}\"epoch\"{ws}:{ws}{epoch}{ws},{ws}\"items\"{ws}:{ws}[{ws}{items}{ws}]{ws}}}")
    }

    proptest! {
        #[test]
        fn reads_what_serde_reads(
            items in prop::collection::vec(any_item(), 0..8),
            epoch in any_value(),
            ws in prop::sample::select(vec!["", " ", "\n"]),
        ) {
            let payload = batch(&items, &epoch, ws);
            prop_assert_eq!(Some(scanned(&payload).unwrap()), with_serde(&payload));
        }

        #[test]
        fn a_cut_payload_is_an_error_never_a_panic(items in prop::collection::vec(any_item(), 1..4), cut in any::<prop::sample::Index>()) {
            let payload = batch(&items, &json!("e"), "");
            let mut end = cut.index(payload.len());
            while !payload.is_char_boundary(end) {
                end -= 1;
            }
            prop_assert!(scanned(&payload[..end]).is_err());
        }

        #[test]
        fn any_text_is_read_or_refused_without_a_panic(text in ".{0,200}") {
            let _ = scanned(&text);
        }
    }
}
