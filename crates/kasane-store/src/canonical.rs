//! Canonical JSON: the one byte form of a JSON value that hashes and digests are taken over.
//!
//! Compact (no whitespace), object keys sorted by their UTF-8 bytes, strings and numbers
//! written exactly as `serde_json`'s compact serializer writes them. Keys are sorted here
//! explicitly, so the result does not depend on whether some other crate in the build turns
//! on `serde_json/preserve_order`.

use std::sync::LazyLock;

use serde_json::Value;

/// The canonical JSON text of `value` (see the module docs for the rules).
pub fn to_canonical_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    write_canonical(value, &mut out);
    // Only valid UTF-8 is ever written (JSON punctuation plus serde_json's output).
    String::from_utf8(out).expect("canonical JSON is UTF-8")
}

/// Appends the canonical JSON of `value` to `out`.
pub(crate) fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_json(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in sorted_entries(map).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
    }
}

/// Whether `serde_json::Map` iterates in byte-wise key order: it is a `BTreeMap<String, _>`
/// unless some crate in the build turns on `serde_json/preserve_order`.
static MAPS_ITERATE_SORTED: LazyLock<bool> = LazyLock::new(|| {
    let mut map = serde_json::Map::new();
    for key in ["b", "a", "ä", "Z"] {
        map.insert(key.to_owned(), Value::Null);
    }
    map.keys().map(String::as_bytes).is_sorted()
});

/// The entries of an object in canonical (byte-wise key) order, without collecting and
/// sorting them when the map already iterates in that order.
pub(crate) fn sorted_entries(map: &serde_json::Map<String, Value>) -> SortedEntries<'_> {
    if *MAPS_ITERATE_SORTED {
        return SortedEntries::InOrder(map.iter());
    }
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    SortedEntries::Sorted(entries.into_iter())
}

/// Iterator returned by [`sorted_entries`].
pub(crate) enum SortedEntries<'a> {
    InOrder(serde_json::map::Iter<'a>),
    Sorted(std::vec::IntoIter<(&'a String, &'a Value)>),
}

impl<'a> Iterator for SortedEntries<'a> {
    type Item = (&'a String, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            SortedEntries::InOrder(it) => it.next(),
            SortedEntries::Sorted(it) => it.next(),
        }
    }
}

/// Appends a JSON string literal (escaped exactly as serde_json escapes it).
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    write_json(s, out);
}

fn write_json<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Serialising a string or a number into a Vec cannot fail.
    serde_json::to_writer(out, v).expect("serialising a JSON scalar into memory cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_compact_and_escaped() {
        let v = json!({"b": [1, 2.5, null, true], "a": {"z": "é\"\n", "y": -3}, "ä": false});
        assert_eq!(
            to_canonical_json(&v),
            r#"{"a":{"y":-3,"z":"é\"\n"},"b":[1,2.5,null,true],"ä":false}"#
        );
    }

    #[test]
    fn matches_serde_json_for_sorted_maps() {
        let v = json!({"k": [{"x": 1e300, "w": "日本語"}], "a": 18446744073709551615u64});
        assert_eq!(to_canonical_json(&v), serde_json::to_string(&v).unwrap());
    }
}
