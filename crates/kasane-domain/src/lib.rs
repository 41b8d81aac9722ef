//! Kasane's domain: the events of a case file and the directory, the commands and the rules
//! that decide them, and the sharing rule. Pure: no I/O, no async, no clock.

pub mod case_file;
pub mod commands;
pub mod context;
pub mod directory;
pub mod error;
pub mod events;
pub mod ids;
pub mod personal;
pub mod sharing;
pub mod upcast;
pub mod vocab;

pub use case_file::CaseFile;
pub use commands::{ResidentCommand, decide};
pub use context::{Actor, AgencyFacts, Context, Directory, MemberFacts, Principal};
pub use error::{DomainError, ErrorCode};
pub use events::{Basis, DecodeError, Event};
pub use ids::*;
pub use personal::Personal;
pub use sharing::{NoteFacts, Refusal, Viewer, case_basis, note_basis};
