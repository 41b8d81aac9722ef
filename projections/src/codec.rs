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

/// A unit enum value from its serde name (without allocating: queries call it per row).
pub fn from_name<T: DeserializeOwned>(name: &str) -> Result<T, ProjectionError> {
    use serde::de::IntoDeserializer;
    let deserializer: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        name.into_deserializer();
    T::deserialize(deserializer)
        .map_err(|_| ProjectionError::Corrupt(format!("unknown value {name:?}")))
}

/// Column `i` of `row` as borrowed bytes (an id, packed items), without copying them.
pub fn blob<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r [u8], ProjectionError> {
    let value = row.get_ref(i)?;
    value.as_blob().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, value.data_type(), Box::new(e)).into()
    })
}

/// Column `i` of `row` as borrowed text, without copying it.
pub fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, ProjectionError> {
    let value = row.get_ref(i)?;
    value.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, value.data_type(), Box::new(e)).into()
    })
}

/// Column `i` of `row` as an id, or `None` when NULL.
pub fn opt_uuid(row: &rusqlite::Row<'_>, i: usize) -> Result<Option<Uuid>, ProjectionError> {
    match row.get_ref(i)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => blob(row, i).and_then(uuid).map(Some),
    }
}

/// A list (or any value) as JSON text.
pub fn json<T: Serialize>(value: &T) -> Result<String, ProjectionError> {
    Ok(serde_json::to_string(value)?)
}

/// A list (or any value) from JSON text.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, ProjectionError> {
    Ok(serde_json::from_str(text)?)
}
