//! Tamper verification of the whole log: global order, per-stream versions and hash
//! chains, recomputed hashes, and agreement of a backend's stream index with the log.
//! Works on sealed data, so no key is needed and erased subjects still verify.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::StoredEvent;
use crate::hash::{CHAIN_GENESIS, compute_hash};

/// The outcome of a verification run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Events examined (including the one reported as the first problem, if any).
    pub events_checked: u64,
    /// Distinct streams seen.
    pub streams_checked: u64,
    /// The first problem found in global order; `None` means the log verified.
    pub first_problem: Option<VerifyProblem>,
}

impl VerifyReport {
    /// `true` when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// The first bad event (or stream index entry), precise enough to find the row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyProblem {
    /// Global position of the bad event (0 when a stream index row has no event).
    pub global_position: u64,
    /// Its event id (nil when there is no event).
    pub event_id: Uuid,
    /// Its tenant.
    pub tenant: String,
    /// Its stream.
    pub stream: String,
    /// Its stream version.
    pub stream_version: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// What verify remembers about a stream: enough to check the next event and the index.
#[derive(Clone, Debug)]
struct StreamTail {
    version: u64,
    hash: [u8; 32],
    position: u64,
    event_id: Uuid,
    matched_index_row: bool,
}

/// Incremental checker fed with stored events in global order; reusable by every backend.
#[derive(Default)]
pub struct ChainVerifier {
    last_position: Option<u64>,
    events_checked: u64,
    streams: HashMap<String, HashMap<String, StreamTail>>,
    stream_count: u64,
}

impl ChainVerifier {
    /// A verifier that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Events checked so far.
    pub fn events_checked(&self) -> u64 {
        self.events_checked
    }

    /// Streams seen so far.
    pub fn streams_checked(&self) -> u64 {
        self.stream_count
    }

    /// Checks the next event in global order against everything seen before it.
    pub fn check_event(&mut self, ev: &StoredEvent) -> Result<(), VerifyProblem> {
        self.events_checked += 1;
        let problem = |reason: String| VerifyProblem {
            global_position: ev.global_position,
            event_id: ev.event_id,
            tenant: ev.tenant.clone(),
            stream: ev.stream.clone(),
            stream_version: ev.stream_version,
            reason,
        };
        if let Some(last) = self.last_position
            && ev.global_position <= last
        {
            return Err(problem(format!(
                "global position {} does not increase (the previous event has {last})",
                ev.global_position
            )));
        }
        self.last_position = Some(ev.global_position);

        let tail = self.streams.get(&ev.tenant).and_then(|m| m.get(&ev.stream));
        let (expected_version, expected_prev) = match tail {
            Some(t) => (t.version + 1, t.hash),
            None => (1, CHAIN_GENESIS),
        };
        if ev.stream_version != expected_version {
            return Err(problem(format!(
                "stream version {} where {expected_version} was expected (versions must be \
                 contiguous from 1)",
                ev.stream_version
            )));
        }
        if ev.prev_hash != expected_prev {
            return Err(problem(
                "prev_hash is not the hash of the stream's previous event (the chain is broken)"
                    .into(),
            ));
        }
        if compute_hash(ev) != ev.hash {
            return Err(problem(
                "the stored hash does not match the event's content (the row was modified)".into(),
            ));
        }
        let new_tail = StreamTail {
            version: ev.stream_version,
            hash: ev.hash,
            position: ev.global_position,
            event_id: ev.event_id,
            matched_index_row: false,
        };
        let tenant_map = match self.streams.get_mut(&ev.tenant) {
            Some(m) => m,
            None => self.streams.entry(ev.tenant.clone()).or_default(),
        };
        match tenant_map.get_mut(&ev.stream) {
            Some(t) => *t = new_tail,
            None => {
                tenant_map.insert(ev.stream.clone(), new_tail);
                self.stream_count += 1;
            }
        }
        Ok(())
    }

    /// Checks that a stream a backend lists (by name) has events in the log, and marks it
    /// seen for [`ChainVerifier::check_index_complete`].
    pub fn check_listed(&mut self, tenant: &str, stream: &str) -> Result<(), VerifyProblem> {
        let Some(tail) = self.streams.get_mut(tenant).and_then(|m| m.get_mut(stream)) else {
            return Err(VerifyProblem {
                global_position: 0,
                event_id: Uuid::nil(),
                tenant: tenant.to_owned(),
                stream: stream.to_owned(),
                stream_version: 0,
                reason: "the stream index lists a stream that has no events".into(),
            });
        };
        tail.matched_index_row = true;
        Ok(())
    }

    /// After all index rows were checked: every stream in the log must have had one.
    pub fn check_index_complete(&self) -> Result<(), VerifyProblem> {
        let mut missing: Option<(&String, &String, &StreamTail)> = None;
        for (tenant, streams) in &self.streams {
            for (stream, tail) in streams {
                if !tail.matched_index_row
                    && missing.is_none_or(|(_, _, m)| tail.position < m.position)
                {
                    missing = Some((tenant, stream, tail));
                }
            }
        }
        match missing {
            None => Ok(()),
            Some((tenant, stream, tail)) => Err(VerifyProblem {
                global_position: tail.position,
                event_id: tail.event_id,
                tenant: tenant.clone(),
                stream: stream.clone(),
                stream_version: tail.version,
                reason: "the stream has events but no row in the stream index".into(),
            }),
        }
    }
}
