//! Helpers shared by the serde round-trip tests: literal JSON against our types.

#![allow(dead_code)]

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A test literal as a JSON value.
pub fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("test literal is not JSON ({e}): {text}"))
}

/// Our text, read back as a value: goes through the text form so that `f32`
/// fields compare as the decimal the wire carries.
pub fn ours<T: Serialize>(v: &T) -> Value {
    parse(&serde_json::to_string(v).expect("serialises"))
}

/// Drops `null` members: a null optional field and a missing one are the same (§8).
pub fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        v => v,
    }
}

/// `literal` decodes to `expected`, and `expected` serialises to `literal`
/// (nulls in the literal standing for fields our serialiser leaves out).
#[track_caller]
pub fn assert_wire<T: Serialize + DeserializeOwned + PartialEq + Debug>(literal: &str, expected: &T) {
    let decoded: T = serde_json::from_str(literal).unwrap_or_else(|e| panic!("{e}: {literal}"));
    assert_eq!(&decoded, expected, "decoding {literal}");
    assert_eq!(ours(expected), strip_nulls(parse(literal)), "serialising {expected:?}");
}

/// Like [`assert_wire`], but the literal must come back exactly, nulls included.
#[track_caller]
pub fn assert_wire_exact<T: Serialize + DeserializeOwned + PartialEq + Debug>(literal: &str, expected: &T) {
    let decoded: T = serde_json::from_str(literal).unwrap_or_else(|e| panic!("{e}: {literal}"));
    assert_eq!(&decoded, expected, "decoding {literal}");
    assert_eq!(ours(expected), parse(literal), "serialising {expected:?}");
}

/// Shorthand for an owned string.
pub fn s(v: &str) -> String {
    v.to_owned()
}
