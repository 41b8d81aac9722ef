//! The event envelope in its three shapes: proposed (to append), recorded (read back,
//! payload opened) and stored (exactly as persisted, payload sealed).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who caused an event: a member acting for an agency (audit needs both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The member (professional) who acted.
    pub member: Uuid,
    /// The agency the member acted for.
    pub agency: Uuid,
}

/// An event as a caller hands it to [`crate::EventStore::append`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposedEvent {
    /// Caller-supplied id (UUIDv7); appending the identical event again is an idempotent retry.
    pub event_id: Uuid,
    /// The domain's name for the event, e.g. `NotePosted`.
    pub event_type: String,
    /// Version of the payload's schema for this event type.
    pub schema_version: u16,
    /// Business time: when the described fact happened (stored with microsecond precision).
    pub occurred_at: DateTime<Utc>,
    /// Who caused it (`None` for system events).
    pub actor: Option<Actor>,
    /// Groups the events of one user intention across streams.
    pub correlation_id: Uuid,
    /// The event or command that directly caused this one.
    pub causation_id: Option<Uuid>,
    /// Whose data key seals the `$personal` values; `None` = nothing is sealed.
    pub data_subject: Option<String>,
    /// Domain JSON; personal values appear as `{"$personal": <any json>}`.
    pub payload: serde_json::Value,
}

impl ProposedEvent {
    /// A proposed event with a fresh UUIDv7 id, schema version 1, `occurred_at` = now and
    /// the correlation id equal to the event id; adjust the public fields as needed.
    pub fn new(event_type: impl Into<String>, payload: serde_json::Value) -> Self {
        let event_id = Uuid::now_v7();
        ProposedEvent {
            event_id,
            event_type: event_type.into(),
            schema_version: 1,
            occurred_at: Utc::now(),
            actor: None,
            correlation_id: event_id,
            causation_id: None,
            data_subject: None,
            payload,
        }
    }
}

/// What an append achieved; a replayed (idempotent) append returns the original figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendResult {
    /// Global position of the first appended event.
    pub first_position: u64,
    /// Global position of the last appended event.
    pub last_position: u64,
    /// Stream version of the last appended event (the stream's new version).
    pub stream_version: u64,
    /// Server time at which the events were recorded.
    pub recorded_at: DateTime<Utc>,
    /// `true` when this append was an idempotent retry and nothing was written.
    pub replayed: bool,
}

/// An event as read back, with its personal values opened (or marked erased).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// The caller-supplied event id.
    pub event_id: Uuid,
    /// The tenant (municipality) the event belongs to.
    pub tenant: String,
    /// The stream within the tenant.
    pub stream: String,
    /// 1-based version within the stream.
    pub stream_version: u64,
    /// Position in the store-wide order of all events.
    pub global_position: u64,
    /// The domain's event type name.
    pub event_type: String,
    /// Payload schema version.
    pub schema_version: u16,
    /// Business time.
    pub occurred_at: DateTime<Utc>,
    /// Server time the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Option<Actor>,
    /// Correlation id.
    pub correlation_id: Uuid,
    /// Causation id.
    pub causation_id: Option<Uuid>,
    /// Whose data key seals the personal values.
    pub data_subject: Option<String>,
    /// `{"$personal": v}` restored; `{"$erased": true}` in its place when the key was destroyed.
    pub payload: serde_json::Value,
    /// Hash of the previous event of the stream ([`crate::CHAIN_GENESIS`] for version 1).
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// This event's chain hash ([`crate::compute_hash`]).
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

/// An event as stored, its personal values opened beside the payload instead of put back
/// into it: what replays decode typed events from without building a JSON tree.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenedEvent {
    /// The caller-supplied event id.
    pub event_id: Uuid,
    /// The tenant (municipality) the event belongs to.
    pub tenant: String,
    /// The stream within the tenant.
    pub stream: String,
    /// 1-based version within the stream.
    pub stream_version: u64,
    /// Position in the store-wide order of all events.
    pub global_position: u64,
    /// The domain's event type name.
    pub event_type: String,
    /// Payload schema version.
    pub schema_version: u16,
    /// Business time.
    pub occurred_at: DateTime<Utc>,
    /// Server time the store recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Option<Actor>,
    /// Correlation id.
    pub correlation_id: Uuid,
    /// The payload's JSON text: `{"$sealed": i}` where the store cut out a personal value
    /// (or `{"$personal": v}` inline, from backends that do not seal).
    pub payload: String,
    /// What the `$sealed` markers stand for.
    pub personal: OpenedValues,
}

/// The personal values of an [`OpenedEvent`].
#[derive(Clone, Debug, PartialEq)]
pub enum OpenedValues {
    /// Nothing was sealed.
    None,
    /// The decrypted values, in marker order.
    Opened(Vec<serde_json::Value>),
    /// The data subject's key was destroyed: every marker reads as erased.
    Erased,
}

impl OpenedEvent {
    /// The same event from a read that put the personal values back (`{"$personal": v}`
    /// inline): how backends without a cheaper path serve replays.
    pub fn from_recorded(e: RecordedEvent) -> Self {
        OpenedEvent {
            event_id: e.event_id,
            tenant: e.tenant,
            stream: e.stream,
            stream_version: e.stream_version,
            global_position: e.global_position,
            event_type: e.event_type,
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
            actor: e.actor,
            correlation_id: e.correlation_id,
            payload: e.payload.to_string(),
            personal: OpenedValues::None,
        }
    }
}

/// An event exactly as stored (payload sealed): what verify, export and migration work on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The caller-supplied event id.
    pub event_id: Uuid,
    /// The tenant.
    pub tenant: String,
    /// The stream within the tenant.
    pub stream: String,
    /// 1-based version within the stream.
    pub stream_version: u64,
    /// Position in this store's global order (not part of the hash).
    pub global_position: u64,
    /// The domain's event type name.
    pub event_type: String,
    /// Payload schema version.
    pub schema_version: u16,
    /// Business time (microsecond precision).
    pub occurred_at: DateTime<Utc>,
    /// Server time (microsecond precision).
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Option<Actor>,
    /// Correlation id.
    pub correlation_id: Uuid,
    /// Causation id.
    pub causation_id: Option<Uuid>,
    /// Whose data key seals the personal values.
    pub data_subject: Option<String>,
    /// The public payload as its exact stored canonical JSON text, with `{"$sealed": i}`
    /// markers where personal values were (text, not a parsed value, so the hashed bytes
    /// survive export and migration unchanged).
    pub payload: String,
    /// `nonce || ciphertext` of the personal values array, `None` when nothing was sealed.
    #[serde(with = "hex_opt")]
    pub sealed: Option<Vec<u8>>,
    /// Digest of the plaintext content, used to recognise idempotent retries.
    #[serde(with = "hex32")]
    pub content_digest: [u8; 32],
    /// Hash of the previous event of the stream.
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// This event's chain hash.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

/// Timestamps are stored as microseconds since the Unix epoch.
pub(crate) fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The inverse of [`to_micros`]; out-of-range values are corruption.
pub(crate) fn from_micros(us: i64) -> Result<DateTime<Utc>, crate::StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| crate::StoreError::Corrupt(format!("timestamp {us} is out of range")))
}

/// Serde helper: a 32-byte hash as lowercase hex.
mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

/// Serde helper: optional bytes as lowercase hex.
mod hex_opt {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| hex::decode(s).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_event_serde_round_trips_with_hex_hashes() {
        let ev = StoredEvent {
            event_id: Uuid::now_v7(),
            tenant: "t".into(),
            stream: "s".into(),
            stream_version: 1,
            global_position: 1,
            event_type: "E".into(),
            schema_version: 1,
            occurred_at: from_micros(1_700_000_000_000_001).unwrap(),
            recorded_at: from_micros(1_700_000_000_000_002).unwrap(),
            actor: None,
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            data_subject: Some("r".into()),
            payload: r#"{"a":{"$sealed":0}}"#.into(),
            sealed: Some(vec![1, 2, 255]),
            content_digest: [7; 32],
            prev_hash: [0; 32],
            hash: [0xab; 32],
        };
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["sealed"], "0102ff");
        assert_eq!(json["hash"], "ab".repeat(32));
        let back: StoredEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
    }
}
