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
        // Decide by which key is present, not by the value: `{"$personal": null}` is a known
        // `None` for `Personal<Option<_>>`.
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let shape_error = || {
            de::Error::custom(
                "a personal field must be {\"$personal\": value} or {\"$erased\": true}",
            )
        };
        if map.len() != 1 {
            return Err(shape_error());
        }
        if let Some(value) = map.remove(PERSONAL_KEY) {
            return T::deserialize(value)
                .map(Personal::Known)
                .map_err(de::Error::custom);
        }
        match map.remove(ERASED_KEY) {
            Some(serde_json::Value::Bool(true)) => Ok(Personal::Erased),
            _ => Err(shape_error()),
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
