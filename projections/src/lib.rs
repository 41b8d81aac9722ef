#![warn(missing_docs)]
//! Kasane's read models: rebuildable folds over the event log, stored in SQLite tables, and
//! the query functions the API, audit and reports use.
//!
//! A [`Projection`] owns some tables and applies one [`Envelope`] at a time. The runner
//! ([`runner`]) feeds every projection in global order and writes each one's checkpoint in
//! the same transaction as its changes, either inline (inside the embedded store's append
//! transaction) or by catching up from the log. Tables are derived data: dropping them and
//! replaying the log gives identical contents.
//!
//! Storage conventions every projection follows:
//! - ids are 16-byte BLOBs (`Uuid::as_bytes`), times are INTEGER microseconds since the Unix
//!   epoch (UTC), enums are their serde names, lists are JSON text;
//! - every row carries its `tenant`, or belongs to a row that does (a ledger entry's items,
//!   a note's bodies);
//! - rows that matter for as-of queries keep the `position` and `recorded_at` of the event
//!   that wrote them, so a query can ignore what was recorded after an instant.

pub mod access_ledger;
pub mod acks;
pub mod care_team;
pub mod case_facts;
pub mod codec;
pub mod consents;
pub mod directory;
mod folding;
pub mod household;
pub mod kana;
pub mod monthly;
pub mod page;
pub mod projection;
pub mod referrals;
pub mod registry;
pub mod runner;
pub mod search;
pub mod timeline;

pub use projection::{Envelope, MemoryFold, Projection, ProjectionError};

#[cfg(test)]
pub(crate) mod test_support;
