//! Validation and preparation of an append request, done by the caller's task before the
//! request reaches a backend's writer (so that CPU work runs in parallel with writing).

use uuid::Uuid;

use crate::envelope::{Actor, ProposedEvent, to_micros};
use crate::error::StoreError;
use crate::expected::ExpectedVersion;
use crate::hash::ContentFields;
use crate::keys::{DataKey, KeyCache, KeyState};
use crate::seal::{event_aad, seal_bytes, split_payload};

/// Longest tenant, stream, event type or data subject accepted (bytes).
pub const MAX_NAME_LEN: usize = 256;

/// An append request that passed validation, with payloads split and digests computed.
#[derive(Debug)]
pub(crate) struct PreparedAppend {
    pub tenant: String,
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<PreparedEvent>,
}

/// One validated event, ready to be sealed, chained and stored.
#[derive(Debug)]
pub(crate) struct PreparedEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u16,
    pub occurred_at_us: i64,
    pub actor: Option<Actor>,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub data_subject: Option<String>,
    /// Canonical public JSON (markers in place of personal values).
    pub public_payload: String,
    /// Canonical JSON array of the personal values, to be sealed; `None` if none.
    pub personal: Option<Vec<u8>>,
    /// The personal values already sealed by the caller's task with the key it found in the
    /// key cache; the writer uses them only if that key is still the subject's live key.
    pub pre_sealed: Option<(DataKey, Vec<u8>)>,
    /// Content digest for idempotency (over the plaintext).
    pub digest: [u8; 32],
    /// The payload as proposed (personal values marked, not sealed), handed to inline
    /// projections once the event is written; `None` when the store has none (it is then
    /// dropped as soon as it is split, while it is still in the CPU's cache).
    pub payload: Option<serde_json::Value>,
}

fn check_name(what: &str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::InvalidEvent(format!(
            "{what} is empty; give a non-empty {what}"
        )));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(StoreError::InvalidEvent(format!(
            "{what} is {} bytes long; keep it within {MAX_NAME_LEN} bytes",
            value.len()
        )));
    }
    // Names are nearly always ASCII: check bytes, and decode characters only otherwise.
    let control = if value.is_ascii() {
        value.bytes().any(|b| b.is_ascii_control())
    } else {
        value.chars().any(char::is_control)
    };
    if control {
        return Err(StoreError::InvalidEvent(format!(
            "{what} {value:?} contains control characters; remove them"
        )));
    }
    Ok(())
}

/// Validates an append request and prepares its events; `keep_payloads` keeps each proposed
/// payload for inline projections.
pub(crate) fn prepare_append(
    tenant: &str,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<ProposedEvent>,
    keep_payloads: bool,
) -> Result<PreparedAppend, StoreError> {
    check_name("tenant", tenant)?;
    check_name("stream", stream)?;
    if events.is_empty() {
        return Err(StoreError::InvalidEvent(
            "the append has no events; send at least one event".into(),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        if events[..i].iter().any(|o| o.event_id == e.event_id) {
            return Err(StoreError::InvalidEvent(format!(
                "event id {} appears twice in one append; give every event its own id",
                e.event_id
            )));
        }
    }
    let mut prepared = Vec::with_capacity(events.len());
    for e in events {
        check_name("event_type", &e.event_type)?;
        if let Some(subject) = &e.data_subject {
            check_name("data_subject", subject)?;
        }
        let split = split_payload(&e.payload, e.data_subject.is_some())
            .map_err(|msg| StoreError::InvalidEvent(format!("event {}: {msg}", e.event_id)))?;
        let occurred_at_us = to_micros(e.occurred_at);
        let digest = ContentFields {
            tenant,
            stream,
            event_id: &e.event_id,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            occurred_at_us,
            actor: e.actor.as_ref(),
            correlation_id: &e.correlation_id,
            causation_id: e.causation_id.as_ref(),
            data_subject: e.data_subject.as_deref(),
            public_payload: split.public.as_bytes(),
            personal_values: split.personal.as_deref().unwrap_or(&[]),
        }
        .digest();
        prepared.push(PreparedEvent {
            event_id: e.event_id,
            event_type: e.event_type,
            schema_version: e.schema_version,
            occurred_at_us,
            actor: e.actor,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            data_subject: e.data_subject,
            public_payload: split.public,
            personal: split.personal,
            pre_sealed: None,
            digest,
            payload: keep_payloads.then_some(e.payload),
        });
    }
    Ok(PreparedAppend {
        tenant: tenant.to_owned(),
        stream: stream.to_owned(),
        expected,
        events: prepared,
    })
}

impl PreparedAppend {
    /// Seals personal values now (in the caller's task, in parallel with the writer) for
    /// subjects whose key is already cached; the writer re-checks the key before use.
    pub(crate) fn pre_seal(&mut self, keys: &KeyCache) {
        for ev in &mut self.events {
            if let (Some(values), Some(subject)) = (&ev.personal, &ev.data_subject)
                && let Some(KeyState::Live(key)) = keys.get(&self.tenant, subject)
            {
                let aad = event_aad(&ev.event_id, &self.tenant, &self.stream);
                ev.pre_sealed = Some((key, seal_bytes(&key.0, &aad, values)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev() -> ProposedEvent {
        ProposedEvent::new("Happened", json!({"a": 1}))
    }

    #[test]
    fn names_in_any_script_without_control_characters_are_accepted() {
        for stream in ["resident-さくら", "agency-ｶﾅ", "s"] {
            prepare_append("t", stream, ExpectedVersion::Any, vec![ev()], false).unwrap();
        }
    }

    #[test]
    fn rejects_bad_requests_with_invalid_event() {
        let cases: Vec<(&str, &str, Vec<ProposedEvent>)> = vec![
            ("", "s", vec![ev()]),
            ("t", "", vec![ev()]),
            ("t", "s", vec![]),
            ("t", "s\n", vec![ev()]),
            ("t", "s\u{7f}", vec![ev()]),
            // A C1 control character in a name that is not ASCII.
            ("t", "resident-さくら\u{85}", vec![ev()]),
            ("t", "s", {
                let e = ev();
                vec![e.clone(), e]
            }),
            ("t", "s", {
                let mut e = ev();
                e.payload = json!({"name": {"$personal": "x"}});
                vec![e]
            }),
            ("t", "s", {
                let mut e = ev();
                e.data_subject = Some(String::new());
                vec![e]
            }),
        ];
        for (i, (t, s, events)) in cases.into_iter().enumerate() {
            let err = prepare_append(t, s, ExpectedVersion::Any, events, false).unwrap_err();
            assert_eq!(err.code(), "INVALID_EVENT", "case {i}: {err}");
        }
    }

    #[test]
    fn digest_covers_plaintext_but_not_nanoseconds() {
        let mut a = ev();
        a.data_subject = Some("r1".into());
        a.payload = json!({"name": {"$personal": "山田"}});
        let mut b = a.clone();
        b.payload = json!({"name": {"$personal": "田中"}});
        let da = prepare_append("t", "s", ExpectedVersion::Any, vec![a.clone()], false).unwrap();
        let db = prepare_append("t", "s", ExpectedVersion::Any, vec![b], false).unwrap();
        assert_ne!(da.events[0].digest, db.events[0].digest);
        let other_stream =
            prepare_append("t", "s2", ExpectedVersion::Any, vec![a.clone()], false).unwrap();
        assert_ne!(da.events[0].digest, other_stream.events[0].digest);
        let again = prepare_append("t", "s", ExpectedVersion::Exact(9), vec![a], false).unwrap();
        assert_eq!(da.events[0].digest, again.events[0].digest);
    }
}
