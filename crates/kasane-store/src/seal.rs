//! Payload sealing: personal values are cut out of the payload, encrypted under the data
//! subject's key (XChaCha20-Poly1305) and replaced by `{"$sealed": i}` markers.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::canonical::{sorted_entries, write_canonical, write_str};
use crate::error::StoreError;

/// Marker key a caller wraps a personal value in.
pub const PERSONAL_KEY: &str = "$personal";
/// Marker key that replaces a personal value in the stored public payload.
pub const SEALED_KEY: &str = "$sealed";
/// Marker key that replaces a personal value on read once its data key is destroyed.
pub const ERASED_KEY: &str = "$erased";

/// Length of the random XChaCha20 nonce that starts every sealed blob.
pub(crate) const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Encrypts `plaintext` with a random nonce; returns `nonce || ciphertext || tag`.
pub(crate) fn seal_bytes(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let cipher = XChaCha20Poly1305::new(key.into());
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, &mut out[NONCE_LEN..])
        .expect("XChaCha20-Poly1305 accepts any message shorter than 256 GiB");
    out.extend_from_slice(&tag);
    out
}

/// Decrypts what [`seal_bytes`] produced; `None` if the key, the AAD or the bytes are wrong.
pub(crate) fn open_bytes(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut buf = ciphertext.to_vec();
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, &mut buf, tag.into())
        .ok()?;
    Some(buf)
}

/// Additional authenticated data of an event's sealed values: `event_id || tenant || stream`
/// (binds the ciphertext to its event, so it cannot be moved to another one).
pub(crate) fn event_aad(event_id: &Uuid, tenant: &str, stream: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + tenant.len() + stream.len());
    aad.extend_from_slice(event_id.as_bytes());
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(stream.as_bytes());
    aad
}

/// A payload cut in two: the public canonical JSON (with markers) and the personal values.
#[derive(Debug)]
pub(crate) struct SplitPayload {
    /// Canonical JSON of the payload with `{"$sealed": i}` in place of each personal value.
    pub public: String,
    /// Canonical JSON array `[v0, v1, ...]` of the personal values; `None` when there are none.
    pub personal: Option<Vec<u8>>,
}

/// Cuts the personal values out of `payload` (one pass, no copy of the payload).
///
/// `may_seal` is false when the event has no data subject: `$personal` values are then an
/// error. Objects that look like our own `$sealed`/`$erased` markers are rejected so a
/// payload can never be mistaken for a sealed one.
pub(crate) fn split_payload(payload: &Value, may_seal: bool) -> Result<SplitPayload, String> {
    let mut public = Vec::with_capacity(256);
    let mut personal: Vec<&Value> = Vec::new();
    split_walk(payload, may_seal, &mut public, &mut personal)?;
    let personal = if personal.is_empty() {
        None
    } else {
        let mut out = Vec::with_capacity(64);
        out.push(b'[');
        for (i, v) in personal.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_canonical(v, &mut out);
        }
        out.push(b']');
        Some(out)
    };
    let public = String::from_utf8(public).expect("canonical JSON is UTF-8");
    Ok(SplitPayload { public, personal })
}

fn split_walk<'v>(
    v: &'v Value,
    may_seal: bool,
    out: &mut Vec<u8>,
    personal: &mut Vec<&'v Value>,
) -> Result<(), String> {
    match v {
        Value::Object(map) => {
            // Markers are single-key objects; a longer object is checked key by key below.
            if map.len() == 1
                && let Some((key, inner)) = map.iter().next()
            {
                if key == PERSONAL_KEY {
                    if !may_seal {
                        return Err(format!(
                            "the payload holds \"{PERSONAL_KEY}\" values but data_subject is not set; \
                             set data_subject to the person the values are about"
                        ));
                    }
                    out.extend_from_slice(b"{\"");
                    out.extend_from_slice(SEALED_KEY.as_bytes());
                    out.extend_from_slice(b"\":");
                    out.extend_from_slice(personal.len().to_string().as_bytes());
                    out.push(b'}');
                    personal.push(inner);
                    return Ok(());
                }
                if key == SEALED_KEY || key == ERASED_KEY {
                    return Err(format!(
                        "objects with the single key \"{SEALED_KEY}\" or \"{ERASED_KEY}\" are reserved \
                         for the store; rename the key"
                    ));
                }
            }
            out.push(b'{');
            for (i, (k, v)) in sorted_entries(map).enumerate() {
                if k == PERSONAL_KEY {
                    return Err(format!(
                        "an object holding \"{PERSONAL_KEY}\" must have no other keys; \
                         wrap only the personal value itself: {{\"{PERSONAL_KEY}\": value}}"
                    ));
                }
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                split_walk(v, may_seal, out, personal)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                split_walk(item, may_seal, out, personal)?;
            }
            out.push(b']');
        }
        scalar => write_canonical(scalar, out),
    }
    Ok(())
}

/// What to put where a `$sealed` marker stands when a payload is opened.
pub(crate) enum Opening {
    /// The decrypted values array.
    Values(Vec<Value>),
    /// The key was destroyed: put `{"$erased": true}` in each place.
    Erased,
}

/// Parses a stored public payload and puts the personal values (or erasure markers) back.
pub(crate) fn open_payload(public: &str, opening: Option<Opening>) -> Result<Value, StoreError> {
    let mut value: Value = serde_json::from_str(public)
        .map_err(|e| StoreError::Corrupt(format!("a stored payload is not JSON ({e})")))?;
    if let Some(mut opening) = opening {
        let mut taken = match &opening {
            Opening::Values(values) => vec![false; values.len()],
            Opening::Erased => Vec::new(),
        };
        restore_walk(&mut value, &mut opening, &mut taken)?;
        if taken.iter().any(|t| !t) {
            return Err(StoreError::Corrupt(
                "a payload has fewer $sealed markers than sealed values".into(),
            ));
        }
    }
    Ok(value)
}

fn restore_walk(
    v: &mut Value,
    opening: &mut Opening,
    taken: &mut [bool],
) -> Result<(), StoreError> {
    match v {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(marker) = map.get(SEALED_KEY)
            {
                let index = marker.as_u64().ok_or_else(|| {
                    StoreError::Corrupt("a $sealed marker has no numeric index".into())
                })?;
                let (key, replacement) = match opening {
                    Opening::Erased => (ERASED_KEY, Value::Bool(true)),
                    Opening::Values(values) => {
                        let i = usize::try_from(index)
                            .ok()
                            .filter(|&i| i < values.len() && !taken[i])
                            .ok_or_else(|| {
                                StoreError::Corrupt(format!(
                                    "a $sealed marker points at a missing or reused value {index}"
                                ))
                            })?;
                        taken[i] = true;
                        (PERSONAL_KEY, values[i].take())
                    }
                };
                let mut m = Map::new();
                m.insert(key.to_owned(), replacement);
                *map = m;
                return Ok(());
            }
            for (_, child) in map.iter_mut() {
                restore_walk(child, opening, taken)?;
            }
        }
        Value::Array(items) => {
            for child in items {
                restore_walk(child, opening, taken)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_replaces_personal_values_by_indexed_markers() {
        let p = json!({"name": {"$personal": "山田 花子"}, "tags": [{"$personal": {"x": 1}}, 3], "kind": "visit"});
        let s = split_payload(&p, true).unwrap();
        assert_eq!(
            s.public,
            r#"{"kind":"visit","name":{"$sealed":0},"tags":[{"$sealed":1},3]}"#
        );
        assert_eq!(
            String::from_utf8(s.personal.unwrap()).unwrap(),
            r#"["山田 花子",{"x":1}]"#
        );
        let plain = split_payload(&json!({"a": 1}), true).unwrap();
        assert!(plain.personal.is_none());
    }

    #[test]
    fn split_rejects_what_would_be_ambiguous() {
        assert!(split_payload(&json!({"n": {"$personal": 1}}), false).is_err());
        assert!(split_payload(&json!({"n": {"$personal": 1, "x": 2}}), true).is_err());
        // A sibling that sorts before the marker, with its own nested objects.
        assert!(split_payload(&json!({"!": {"a": [1]}, "$personal": 1}), true).is_err());
        assert!(split_payload(&json!({"n": {"$sealed": 0}}), true).is_err());
        assert!(split_payload(&json!([{"$erased": true}]), true).is_err());
    }

    #[test]
    fn open_restores_or_erases() {
        let p = json!({"name": {"$personal": "山田"}, "list": [{"$personal": [1, 2]}]});
        let s = split_payload(&p, true).unwrap();
        let values: Vec<Value> = serde_json::from_slice(s.personal.as_ref().unwrap()).unwrap();
        let back = open_payload(&s.public, Some(Opening::Values(values))).unwrap();
        assert_eq!(back, p);
        let erased = open_payload(&s.public, Some(Opening::Erased)).unwrap();
        assert_eq!(
            erased,
            json!({"name": {"$erased": true}, "list": [{"$erased": true}]})
        );
        assert!(open_payload(&s.public, Some(Opening::Values(vec![json!(1)]))).is_err());
        let three = vec![json!(1), json!(2), json!(3)];
        assert!(open_payload(&s.public, Some(Opening::Values(three))).is_err());
        let reused = r#"{"a":{"$sealed":0},"b":{"$sealed":0}}"#;
        assert!(open_payload(reused, Some(Opening::Values(vec![json!(1), json!(2)]))).is_err());
    }

    #[test]
    fn aead_round_trip_and_tamper_detection() {
        let key = [7u8; 32];
        let sealed = seal_bytes(&key, b"aad", b"hello");
        assert_eq!(open_bytes(&key, b"aad", &sealed).unwrap(), b"hello");
        assert!(open_bytes(&key, b"other", &sealed).is_none());
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(open_bytes(&key, b"aad", &bad).is_none());
        assert!(open_bytes(&[8u8; 32], b"aad", &sealed).is_none());
    }
}
