//! Canonical JSON: the one byte form of a JSON value that hashes and digests are taken over.
//!
//! Compact (no whitespace), object keys sorted by their UTF-8 bytes, strings and numbers
//! written exactly as `serde_json`'s compact serializer writes them. Keys are sorted here
//! explicitly, so the result does not depend on whether some other crate in the build turns
//! on `serde_json/preserve_order`.

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
            for (i, (k, v)) in sorted_entries(map).into_iter().enumerate() {
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

/// The entries of an object in canonical (byte-wise key) order.
pub(crate) fn sorted_entries(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    // serde_json's default map is already sorted; this is a no-op check then.
    if !entries.is_sorted_by(|a, b| a.0.as_bytes() <= b.0.as_bytes()) {
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    entries
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
