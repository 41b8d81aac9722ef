//! Upcasting: turns a payload of an older schema version into the current one before decoding.
//! Every type is still at version 1, so the only work today is refusing versions from the future.

use crate::events::{DecodeError, Event};

/// Brings `payload` of `(event_type, schema_version)` up to the version this code decodes.
pub fn upcast(
    event_type: &str,
    schema_version: u16,
    payload: serde_json::Value,
) -> Result<serde_json::Value, DecodeError> {
    let current = Event::TYPES
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|(_, v)| *v)
        .ok_or_else(|| DecodeError::UnknownType(event_type.to_owned()))?;
    if schema_version > current {
        return Err(DecodeError::VersionTooNew {
            event_type: event_type.to_owned(),
            found: schema_version,
            supported: current,
        });
    }
    // When a type moves to v2, add its v1 -> v2 step here and keep the step's test forever.
    Ok(payload)
}
