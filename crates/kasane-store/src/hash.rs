//! The per-stream hash chain and the content digest used for idempotency.
//!
//! Both are SHA-256 over a domain tag followed by length-prefixed fields (u32 big-endian
//! length, then the bytes); `docs/event-log.md` documents the exact field order.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::envelope::{Actor, StoredEvent, to_micros};

/// `prev_hash` of the first event (version 1) of every stream.
pub const CHAIN_GENESIS: [u8; 32] = [0; 32];

/// Domain tag that starts every event hash (bump it if the encoding ever changes).
pub const EVENT_HASH_TAG: &[u8] = b"kasane-event-v1";

/// Domain tag that starts every content digest.
pub const CONTENT_DIGEST_TAG: &[u8] = b"kasane-content-v1";

/// The chain hash of a stored event, recomputed from its stored fields (pure).
///
/// The global position is deliberately not covered: it may differ after a migration to
/// another store; verify checks the global order separately.
pub fn compute_hash(stored: &StoredEvent) -> [u8; 32] {
    ChainFields {
        tenant: &stored.tenant,
        stream: &stored.stream,
        stream_version: stored.stream_version,
        event_id: &stored.event_id,
        event_type: &stored.event_type,
        schema_version: stored.schema_version,
        occurred_at_us: to_micros(stored.occurred_at),
        recorded_at_us: to_micros(stored.recorded_at),
        actor: stored.actor.as_ref(),
        correlation_id: &stored.correlation_id,
        causation_id: stored.causation_id.as_ref(),
        data_subject: stored.data_subject.as_deref(),
        payload: stored.payload.as_bytes(),
        sealed: stored.sealed.as_deref(),
        prev_hash: &stored.prev_hash,
    }
    .hash()
}

/// Borrowed view of the hashed fields, so the writer can hash without building a
/// [`StoredEvent`].
pub(crate) struct ChainFields<'a> {
    pub tenant: &'a str,
    pub stream: &'a str,
    pub stream_version: u64,
    pub event_id: &'a Uuid,
    pub event_type: &'a str,
    pub schema_version: u16,
    pub occurred_at_us: i64,
    pub recorded_at_us: i64,
    pub actor: Option<&'a Actor>,
    pub correlation_id: &'a Uuid,
    pub causation_id: Option<&'a Uuid>,
    pub data_subject: Option<&'a str>,
    /// Canonical JSON of the public payload (with `$sealed` markers).
    pub payload: &'a [u8],
    pub sealed: Option<&'a [u8]>,
    pub prev_hash: &'a [u8; 32],
}

impl ChainFields<'_> {
    /// SHA-256 over the documented encoding.
    pub(crate) fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(EVENT_HASH_TAG);
        field(&mut h, self.tenant.as_bytes());
        field(&mut h, self.stream.as_bytes());
        field(&mut h, &self.stream_version.to_be_bytes());
        field(&mut h, self.event_id.as_bytes());
        field(&mut h, self.event_type.as_bytes());
        field(&mut h, &self.schema_version.to_be_bytes());
        field(&mut h, &self.occurred_at_us.to_be_bytes());
        field(&mut h, &self.recorded_at_us.to_be_bytes());
        actor_field(&mut h, self.actor);
        field(&mut h, self.correlation_id.as_bytes());
        field(
            &mut h,
            self.causation_id.map(|c| &c.as_bytes()[..]).unwrap_or(&[]),
        );
        field(&mut h, self.data_subject.unwrap_or("").as_bytes());
        field(&mut h, self.payload);
        field(&mut h, self.sealed.unwrap_or(&[]));
        field(&mut h, self.prev_hash);
        h.finalize().into()
    }
}

/// Borrowed view of what makes two proposed events "the same" for idempotency: every
/// field the caller supplies plus tenant and stream, with the plaintext payload.
pub(crate) struct ContentFields<'a> {
    pub tenant: &'a str,
    pub stream: &'a str,
    pub event_id: &'a Uuid,
    pub event_type: &'a str,
    pub schema_version: u16,
    pub occurred_at_us: i64,
    pub actor: Option<&'a Actor>,
    pub correlation_id: &'a Uuid,
    pub causation_id: Option<&'a Uuid>,
    pub data_subject: Option<&'a str>,
    /// Canonical JSON of the public part of the payload (markers in place of personal values).
    pub public_payload: &'a [u8],
    /// Canonical JSON of the personal values array (empty when there are none).
    pub personal_values: &'a [u8],
}

impl ContentFields<'_> {
    /// SHA-256 over the documented encoding.
    pub(crate) fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(CONTENT_DIGEST_TAG);
        field(&mut h, self.tenant.as_bytes());
        field(&mut h, self.stream.as_bytes());
        field(&mut h, self.event_id.as_bytes());
        field(&mut h, self.event_type.as_bytes());
        field(&mut h, &self.schema_version.to_be_bytes());
        field(&mut h, &self.occurred_at_us.to_be_bytes());
        actor_field(&mut h, self.actor);
        field(&mut h, self.correlation_id.as_bytes());
        field(
            &mut h,
            self.causation_id.map(|c| &c.as_bytes()[..]).unwrap_or(&[]),
        );
        field(&mut h, self.data_subject.unwrap_or("").as_bytes());
        field(&mut h, self.public_payload);
        field(&mut h, self.personal_values);
        h.finalize().into()
    }
}

fn actor_field(h: &mut Sha256, actor: Option<&Actor>) {
    match actor {
        Some(a) => {
            let mut buf = [0u8; 32];
            buf[..16].copy_from_slice(a.member.as_bytes());
            buf[16..].copy_from_slice(a.agency.as_bytes());
            field(h, &buf);
        }
        None => field(h, &[]),
    }
}

/// One length-prefixed field: u32 big-endian length, then the bytes.
fn field(h: &mut Sha256, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a hashed field is shorter than 4 GiB");
    h.update(len.to_be_bytes());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::from_micros;

    fn sample() -> StoredEvent {
        StoredEvent {
            event_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
            tenant: "tenant-a".into(),
            stream: "resident-1".into(),
            stream_version: 1,
            global_position: 42,
            event_type: "NotePosted".into(),
            schema_version: 1,
            occurred_at: from_micros(1_700_000_000_000_000).unwrap(),
            recorded_at: from_micros(1_700_000_000_500_000).unwrap(),
            actor: Some(Actor {
                member: Uuid::from_u128(1),
                agency: Uuid::from_u128(2),
            }),
            correlation_id: Uuid::from_u128(3),
            causation_id: None,
            data_subject: Some("resident-1".into()),
            payload: r#"{"body":{"$sealed":0}}"#.into(),
            sealed: Some(vec![9; 40]),
            content_digest: [0; 32],
            prev_hash: CHAIN_GENESIS,
            hash: [0; 32],
        }
    }

    /// The encoding written out by hand, so a silent change of field order fails here.
    #[test]
    fn matches_the_documented_encoding() {
        let ev = sample();
        let mut bytes = b"kasane-event-v1".to_vec();
        let mut f = |b: &[u8]| {
            bytes.extend_from_slice(&(b.len() as u32).to_be_bytes());
            bytes.extend_from_slice(b);
        };
        f(b"tenant-a");
        f(b"resident-1");
        f(&1u64.to_be_bytes());
        f(ev.event_id.as_bytes());
        f(b"NotePosted");
        f(&1u16.to_be_bytes());
        f(&1_700_000_000_000_000i64.to_be_bytes());
        f(&1_700_000_000_500_000i64.to_be_bytes());
        let mut actor = Uuid::from_u128(1).as_bytes().to_vec();
        actor.extend_from_slice(Uuid::from_u128(2).as_bytes());
        f(&actor);
        f(Uuid::from_u128(3).as_bytes());
        f(&[]);
        f(b"resident-1");
        f(br#"{"body":{"$sealed":0}}"#);
        f(&[9; 40]);
        f(&[0; 32]);
        let expected: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(compute_hash(&ev), expected);
    }

    #[test]
    fn every_field_matters_except_position_and_stored_hash() {
        let base = sample();
        let h = compute_hash(&base);
        let mut same = base.clone();
        same.global_position = 7;
        same.hash = [1; 32];
        same.content_digest = [2; 32];
        assert_eq!(compute_hash(&same), h);

        type Change = Box<dyn Fn(&mut StoredEvent)>;
        let variants: Vec<Change> = vec![
            Box::new(|e| e.tenant.push('x')),
            Box::new(|e| e.stream.push('x')),
            Box::new(|e| e.stream_version += 1),
            Box::new(|e| e.event_id = Uuid::from_u128(99)),
            Box::new(|e| e.event_type.push('x')),
            Box::new(|e| e.schema_version += 1),
            Box::new(|e| e.occurred_at += chrono::Duration::microseconds(1)),
            Box::new(|e| e.recorded_at += chrono::Duration::microseconds(1)),
            Box::new(|e| e.actor = None),
            Box::new(|e| e.correlation_id = Uuid::from_u128(4)),
            Box::new(|e| e.causation_id = Some(Uuid::from_u128(5))),
            Box::new(|e| e.data_subject = None),
            Box::new(|e| e.payload = r#"{"body":{"$sealed":1}}"#.into()),
            Box::new(|e| e.sealed.as_mut().unwrap()[0] ^= 1),
            Box::new(|e| e.prev_hash[31] = 1),
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut e = base.clone();
            change(&mut e);
            assert_ne!(compute_hash(&e), h, "variant {i} did not change the hash");
        }
    }
}
