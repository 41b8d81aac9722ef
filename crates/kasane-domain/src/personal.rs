//! Personal data markers: fields wrapped in [`Personal`] are sealed with the data subject's key
//! by the store and can be crypto-shredded on erasure while the event skeleton remains.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::DeserializeOwned;
use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The JSON key that marks a personal value: `{"$personal": value}`.
pub const PERSONAL_KEY: &str = "$personal";
/// The JSON key that marks a value whose data key was destroyed: `{"$erased": true}`.
pub const ERASED_KEY: &str = "$erased";

/// A personal value, or the trace of one that was erased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Personal<T> {
    /// The value is readable.
    Known(T),
    /// The subject's data key was destroyed: the value can never be read again.
    Erased,
}

impl<T> Personal<T> {
    /// The value, if it was not erased.
    pub fn known(&self) -> Option<&T> {
        match self {
            Personal::Known(v) => Some(v),
            Personal::Erased => None,
        }
    }
    /// True once the value was crypto-shredded.
    pub fn is_erased(&self) -> bool {
        matches!(self, Personal::Erased)
    }
}

impl<T> From<T> for Personal<T> {
    fn from(v: T) -> Self {
        Personal::Known(v)
    }
}

impl<T: Serialize> Serialize for Personal<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Personal::Known(v) => map.serialize_entry(PERSONAL_KEY, v)?,
            Personal::Erased => map.serialize_entry(ERASED_KEY, &true)?,
        }
        map.end()
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Personal<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PersonalVisitor(std::marker::PhantomData))
    }
}

/// The one key of a personal field's object.
#[derive(Deserialize)]
enum MarkerKey {
    #[serde(rename = "$personal")]
    Personal,
    #[serde(rename = "$erased")]
    Erased,
    #[serde(rename = "$sealed")]
    Sealed,
}

const SHAPE: &str =
    "a personal field must be {\"$personal\": value}, {\"$erased\": true} or {\"$sealed\": index}";

struct PersonalVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: DeserializeOwned> de::Visitor<'de> for PersonalVisitor<T> {
    type Value = Personal<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(SHAPE)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Decide by which key is present, not by the value: `{"$personal": null}` is a known
        // `None` for `Personal<Option<_>>`.
        let key = map
            .next_key::<MarkerKey>()
            .map_err(|_| de::Error::custom(SHAPE))?
            .ok_or_else(|| de::Error::custom(SHAPE))?;
        let value = match key {
            MarkerKey::Personal => Personal::Known(map.next_value::<T>()?),
            MarkerKey::Erased => match map.next_value::<bool>()? {
                true => Personal::Erased,
                false => return Err(de::Error::custom(SHAPE)),
            },
            MarkerKey::Sealed => sealed::take(map.next_value::<usize>()?)?,
        };
        if map.next_key::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(SHAPE));
        }
        Ok(value)
    }
}

/// Decoding a payload as the store keeps it: the store cuts each personal value out of the
/// payload, leaving `{"$sealed": i}`, and seals the values together. While
/// [`sealed::with_values`] runs, such a marker decodes to the `i`-th opened value (or to
/// [`Personal::Erased`] once the subject's key is destroyed), so a stored payload becomes a
/// typed event in one pass, with no intermediate JSON tree.
///
/// The values live in a thread-local because derived `Deserialize` impls cannot carry them
/// down to the fields.
pub mod sealed {
    use super::Personal;
    use serde::de::{self, DeserializeOwned};
    use std::cell::RefCell;

    /// What the `{"$sealed": i}` markers of one payload stand for.
    #[derive(Debug)]
    pub enum SealedValues {
        /// The payload has no sealed values (a marker is then an error).
        Absent,
        /// The opened values, in marker order.
        Opened(Vec<serde_json::Value>),
        /// The data subject's key was destroyed: every marker reads as erased.
        Erased,
    }

    /// The values of the payload being decoded on this thread, and which were used.
    struct Current {
        values: SealedValues,
        taken: Vec<bool>,
    }

    thread_local! {
        static CURRENT: RefCell<Current> = const {
            RefCell::new(Current { values: SealedValues::Absent, taken: Vec::new() })
        };
    }

    /// Runs `decode` with `values` standing for the payload's markers. The values are gone
    /// from the thread when it returns, even if `decode` panics.
    pub fn with_values<R>(values: SealedValues, decode: impl FnOnce() -> R) -> R {
        /// Puts the previous values back when dropped.
        struct Restore(Option<Current>);
        impl Drop for Restore {
            fn drop(&mut self) {
                if let Some(previous) = self.0.take() {
                    CURRENT.with(|c| *c.borrow_mut() = previous);
                }
            }
        }
        let taken = match &values {
            SealedValues::Opened(v) => vec![false; v.len()],
            SealedValues::Absent | SealedValues::Erased => Vec::new(),
        };
        let mine = Current { values, taken };
        let _restore = Restore(Some(
            CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), mine)),
        ));
        decode()
    }

    /// How many `{"$sealed": i}` markers a stored (canonical, compact) payload text holds,
    /// wherever they are: in a string, the quotes of that text would be escaped.
    pub fn markers_in(payload: &str) -> usize {
        payload.matches("{\"$sealed\":").count()
    }

    /// The value a `{"$sealed": index}` marker stands for.
    pub(super) fn take<T: DeserializeOwned, E: de::Error>(index: usize) -> Result<Personal<T>, E> {
        // The value leaves the thread-local before it is decoded, so a decoding that meets
        // another marker finds the state free.
        let value = CURRENT.with(|c| {
            let mut current = c.borrow_mut();
            let Current { values, taken } = &mut *current;
            match values {
                SealedValues::Absent => Err(E::custom(
                    "a sealed personal value was found outside a stored payload",
                )),
                SealedValues::Erased => Ok(None),
                SealedValues::Opened(values) => match taken.get_mut(index) {
                    Some(t) if !*t => {
                        *t = true;
                        Ok(Some(values[index].take()))
                    }
                    _ => Err(E::custom(format!(
                        "a $sealed marker points at a missing or reused value {index}"
                    ))),
                },
            }
        })?;
        match value {
            None => Ok(Personal::Erased),
            Some(value) => T::deserialize(value)
                .map(Personal::Known)
                .map_err(E::custom),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Personal<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Personal_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inner = generator.subschema_for::<T>();
        json_schema!({
            "description": "Personal data, sealed with the data subject's key in the store; {\"$erased\": true} after crypto-shredding.",
            "oneOf": [
                { "type": "object", "properties": { "$personal": inner }, "required": ["$personal"], "additionalProperties": false },
                { "type": "object", "properties": { "$erased": { "const": true } }, "required": ["$erased"], "additionalProperties": false }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_erased_round_trip() {
        let known: Personal<String> = Personal::Known("山田 太郎".into());
        let json = serde_json::to_value(&known).unwrap();
        assert_eq!(json, serde_json::json!({"$personal": "山田 太郎"}));
        assert_eq!(
            serde_json::from_value::<Personal<String>>(json).unwrap(),
            known
        );
        let erased = serde_json::json!({"$erased": true});
        assert!(
            serde_json::from_value::<Personal<String>>(erased)
                .unwrap()
                .is_erased()
        );
        assert!(serde_json::from_value::<Personal<String>>(serde_json::json!("plain")).is_err());
        let none: Personal<Option<String>> = Personal::Known(None);
        let json = serde_json::to_value(&none).unwrap();
        assert_eq!(json, serde_json::json!({"$personal": null}));
        assert_eq!(
            serde_json::from_value::<Personal<Option<String>>>(json).unwrap(),
            none
        );
    }
}
