//! Kasane's application services: the one write path from a command to the log.
//!
//! `load state → decide → append with expected version`, shared by the CLI (demo, import) and the
//! API. I/O lives here; every rule lives in `kasane-domain`.

mod case_cache;
mod directory_cache;
mod error;
mod event_ids;
mod service;

pub use case_cache::CaseCache;
pub use directory_cache::DirectoryCache;
pub use error::AppError;
pub use event_ids::event_id_for;
pub use service::{CommandMeta, CommandService, Outcome};
