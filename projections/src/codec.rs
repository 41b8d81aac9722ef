//! How projection tables encode values: ids as 16-byte BLOBs, times as UTC microseconds,
//! enums as their serde names, lists as JSON text.

use crate::ProjectionError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// A time as stored: microseconds since the Unix epoch, UTC.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The inverse of [`micros`].
pub fn time(us: i64) -> Result<DateTime<Utc>, ProjectionError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| ProjectionError::Corrupt(format!("timestamp {us} is out of range")))
}

/// An id from its stored 16 bytes.
pub fn uuid(bytes: &[u8]) -> Result<Uuid, ProjectionError> {
    Uuid::from_slice(bytes).map_err(|_| ProjectionError::Corrupt("an id is not 16 bytes".into()))
}

/// The serde name of a unit enum value (`Profession::Nurse` → `"nurse"`).
pub fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A unit enum value from its serde name.
pub fn from_name<T: DeserializeOwned>(name: &str) -> Result<T, ProjectionError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| ProjectionError::Corrupt(format!("unknown value {name:?}")))
}

/// A list (or any value) as JSON text.
pub fn json<T: Serialize>(value: &T) -> Result<String, ProjectionError> {
    Ok(serde_json::to_string(value)?)
}

/// A list (or any value) from JSON text.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, ProjectionError> {
    Ok(serde_json::from_str(text)?)
}
