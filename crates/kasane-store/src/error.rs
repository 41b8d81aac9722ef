//! The one error type of the store, with stable codes and messages that say what to do next.

use std::path::PathBuf;

use uuid::Uuid;

use crate::expected::ExpectedVersion;

/// Everything that can go wrong in the store; callers branch on [`StoreError::code`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream is not at the version the caller decided against (optimistic concurrency).
    #[error("{}", version_conflict_message(stream, expected, actual))]
    VersionConflict {
        /// The stream that moved on.
        stream: String,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's real version (`None`: the stream does not exist).
        actual: Option<u64>,
    },

    /// An event id is already stored with other content, or only part of a batch was stored.
    #[error(
        "event id {event_id} is already stored with different content (or in a different batch): \
         give new events new ids, and retry a failed append with exactly the same events"
    )]
    DuplicateEventId {
        /// The id that clashes.
        event_id: Uuid,
    },

    /// The file exists but is not a Kasane store; we never touch it.
    #[error(
        "{} is not a Kasane store ({detail}): point the store path at a Kasane database \
         or at a new file name",
        path.display()
    )]
    NotAKasaneStore {
        /// The file that was opened.
        path: PathBuf,
        /// Why it was not recognised.
        detail: String,
    },

    /// The store was written by a newer Kasane whose schema this build does not know.
    #[error(
        "the store has schema version {found} but this build supports up to {supported}: \
         upgrade kasane before opening this store"
    )]
    SchemaTooNew {
        /// Schema version found in the file.
        found: u32,
        /// Highest schema version this build understands.
        supported: u32,
    },

    /// The master key does not match the one the store was created with.
    #[error(
        "the master key does not match the one this store was created with: \
         supply the store's original master key (a new key cannot open existing data keys)"
    )]
    MasterKeyMismatch,

    /// A master key could not be read or parsed.
    #[error("the master key is not usable ({0}): provide 64 hexadecimal characters (32 bytes)")]
    InvalidMasterKey(String),

    /// Personal values were sent for a subject whose data key was destroyed (erasure is final).
    #[error(
        "the data key of subject {subject} in tenant {tenant} was destroyed (erasure): \
         append this event without $personal values, or record it under another data subject"
    )]
    DataKeyDestroyed {
        /// Tenant of the subject.
        tenant: String,
        /// The erased subject.
        subject: String,
    },

    /// The request itself is malformed; the message says which rule it breaks.
    #[error("invalid event: {0}")]
    InvalidEvent(String),

    /// Stored data failed an integrity check (decryption, decoding, or chaining).
    #[error("the store is corrupt: {0}; run `kasane verify` and restore from a backup if it fails")]
    Corrupt(String),

    /// The store was closed (or its writer stopped) before the request could be served.
    #[error("the event store is closed: reopen the store and retry")]
    Closed,

    /// A write transaction failed to commit; none of its events were stored.
    #[error(
        "the write transaction failed ({0}) and nothing was stored: \
         check disk space and permissions, then retry"
    )]
    WriteFailed(String),

    /// Flushing the log to disk failed: the appends waiting for it may or may not survive a
    /// crash, so the store refuses further appends until the process restarts.
    #[error(
        "the disk reported an error while making appends durable ({0}); the last appends may \
         or may not have been kept, and this store refuses further appends: check the disk, \
         restart kasane and run `kasane verify`"
    )]
    SyncFailed(String),

    /// An error from SQLite.
    #[error("SQLite failed: {0}; check disk space and file permissions, then retry")]
    Sqlite(#[from] rusqlite::Error),

    /// An error from the file system.
    #[error("file system error: {0}; check the path, disk space and permissions, then retry")]
    Io(#[from] std::io::Error),
}

fn version_conflict_message(
    stream: &str,
    expected: &ExpectedVersion,
    actual: &Option<u64>,
) -> String {
    match actual {
        Some(v) => format!(
            "stream {stream} is at version {v} but the append expected {expected}: \
             reload the stream and retry with the current version {v}"
        ),
        None => format!(
            "stream {stream} does not exist but the append expected {expected}: \
             reload and retry with NoStream (or Any)"
        ),
    }
}

impl StoreError {
    /// A stable, machine-readable code for APIs and logs (never changes once published).
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::VersionConflict { .. } => "VERSION_CONFLICT",
            StoreError::DuplicateEventId { .. } => "DUPLICATE_EVENT_ID",
            StoreError::NotAKasaneStore { .. } => "STORE_NOT_KASANE",
            StoreError::SchemaTooNew { .. } => "STORE_SCHEMA_TOO_NEW",
            StoreError::MasterKeyMismatch => "MASTER_KEY_MISMATCH",
            StoreError::InvalidMasterKey(_) => "MASTER_KEY_INVALID",
            StoreError::DataKeyDestroyed { .. } => "DATA_KEY_DESTROYED",
            StoreError::InvalidEvent(_) => "INVALID_EVENT",
            StoreError::Corrupt(_) => "STORE_CORRUPT",
            StoreError::Closed => "STORE_CLOSED",
            StoreError::SyncFailed(_) => "STORE_SYNC_FAILED",
            StoreError::WriteFailed(_) | StoreError::Sqlite(_) | StoreError::Io(_) => "STORE_IO",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_message_names_the_current_version() {
        let e = StoreError::VersionConflict {
            stream: "resident-1".into(),
            expected: ExpectedVersion::Exact(5),
            actual: Some(7),
        };
        let msg = e.to_string();
        assert!(msg.contains("retry with the current version 7"), "{msg}");
        assert_eq!(e.code(), "VERSION_CONFLICT");
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(StoreError::Closed.code(), "STORE_CLOSED");
        assert_eq!(StoreError::MasterKeyMismatch.code(), "MASTER_KEY_MISMATCH");
        assert_eq!(StoreError::Corrupt("x".into()).code(), "STORE_CORRUPT");
        assert_eq!(
            StoreError::SchemaTooNew {
                found: 2,
                supported: 1
            }
            .code(),
            "STORE_SCHEMA_TOO_NEW"
        );
    }
}
