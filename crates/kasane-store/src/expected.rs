//! Optimistic concurrency: what the caller believes a stream's version is.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The version a caller decided against; an append succeeds only if it still holds.
///
/// Stream versions are 1-based: the first event of a stream has version 1, and a stream
/// that does not exist has "current version 0" (so `Exact(0)` means the same as `NoStream`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check: append whatever the stream's version is.
    Any,
    /// The stream must not exist yet (it has no events).
    NoStream,
    /// The stream must already exist (at least one event).
    Exists,
    /// The stream's last event must have exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose last version is `current` (`None` = no stream) satisfies this.
    pub fn is_satisfied_by(self, current: Option<u64>) -> bool {
        let current_or_zero = current.unwrap_or(0);
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current_or_zero == 0,
            ExpectedVersion::Exists => current_or_zero > 0,
            ExpectedVersion::Exact(v) => current_or_zero == v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExpectedVersion::*;

    #[test]
    fn each_case() {
        assert!(Any.is_satisfied_by(None));
        assert!(Any.is_satisfied_by(Some(3)));
        assert!(NoStream.is_satisfied_by(None));
        assert!(!NoStream.is_satisfied_by(Some(1)));
        assert!(!Exists.is_satisfied_by(None));
        assert!(Exists.is_satisfied_by(Some(1)));
        assert!(Exact(3).is_satisfied_by(Some(3)));
        assert!(!Exact(2).is_satisfied_by(Some(3)));
        assert!(!Exact(1).is_satisfied_by(None));
        assert!(Exact(0).is_satisfied_by(None));
    }
}
