//! Inline projection: work done inside the writer's group transaction, so read models
//! commit together with the events they reflect (read-your-writes on the embedded store).

use std::fmt;
use std::sync::Arc;

use crate::envelope::RecordedEvent;

/// Called by the writer after a group's events are inserted and before the group commits.
///
/// The store knows nothing of read models; the projections crate implements this. An error
/// undoes only what the call wrote (it runs inside a savepoint): the events still commit,
/// and the read models catch up from the log later.
pub trait InlineProjector: Send + Sync + 'static {
    /// `head_before` is the last committed position before the group; `events` are the
    /// group's events in position order, payloads opened (`{"$personal": v}` markers).
    fn apply(
        &self,
        conn: &rusqlite::Connection,
        head_before: u64,
        events: &[RecordedEvent],
    ) -> Result<(), String>;
}

/// A shareable handle on an [`InlineProjector`] for [`crate::SqliteConfig::inline`].
#[derive(Clone)]
pub struct InlineHook(pub Arc<dyn InlineProjector>);

impl fmt::Debug for InlineHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InlineHook")
    }
}
