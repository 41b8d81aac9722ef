//! Errors of the write path, each with the stable code a client sees.

use kasane_domain::{DecodeError, DomainError, MemberId};
use kasane_store::StoreError;

/// Why a command was not carried out; nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A domain rule refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store refused or failed (version conflict, duplicate id, I/O).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The acting member is not in the directory.
    #[error("member {0} is not enrolled in this tenant: sign in as an enrolled member")]
    UnknownActor(MemberId),
    /// A stored event could not be read back into the domain.
    #[error("the log holds an event this version cannot read: {0}")]
    Decode(#[from] DecodeError),
}

impl AppError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Domain(e) => e.code.as_str(),
            AppError::Store(e) => e.code(),
            AppError::UnknownActor(_) => "UNKNOWN_ACTOR",
            AppError::Decode(_) => "EVENT_UNREADABLE",
        }
    }
}
