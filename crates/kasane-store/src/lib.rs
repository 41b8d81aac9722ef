#![warn(missing_docs)]
//! Kasane's event store: append-only envelopes with per-stream hash chains, optimistic
//! concurrency, idempotent appends, sealed personal values (crypto-shredding), live
//! subscriptions and tamper verification. It knows nothing of residents or notes.
//!
//! The format (hash encoding, sealing, key hierarchy, guarantees) is documented in
//! `docs/event-log.md`.

pub mod canonical;
pub mod clock;
pub mod envelope;
pub mod error;
pub mod expected;
pub mod hash;
pub mod keys;
mod prepare;
pub mod seal;
pub mod sqlite;
pub mod stats;
pub mod store;
pub mod subscription;
pub mod verify;

pub use clock::{Clock, ManualClock, SystemClock};
pub use envelope::{
    Actor, AppendResult, OpenedEvent, OpenedValues, ProposedEvent, RecordedEvent, StoredEvent,
};
pub use error::StoreError;
pub use expected::ExpectedVersion;
pub use hash::{CHAIN_GENESIS, compute_hash};
pub use keys::MasterKey;
pub use prepare::MAX_NAME_LEN;
pub use sqlite::{Durability, InlineHook, InlineProjector, SqliteConfig, SqliteStore};
pub use stats::{CommitCounts, CommitStats};
pub use store::{EventStore, ReadDirection};
pub use subscription::{Subscription, SubscriptionItem, SubscriptionSource};
pub use verify::{ChainVerifier, VerifyProblem, VerifyReport};
