//! Live subscription to the global log: catch up from a position, say so once, then follow
//! new commits, with no gap and no duplicate at the switch.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::watch;

use crate::envelope::RecordedEvent;
use crate::error::StoreError;

/// What a subscription yields next.
// Boxing the event would cost an allocation per event for no gain: items are moved once.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum SubscriptionItem {
    /// The next event in global order.
    Event(RecordedEvent),
    /// Sent exactly once: every event committed before this point has been delivered;
    /// `position` is the last delivered position (or the starting position).
    CaughtUp {
        /// Last delivered global position.
        position: u64,
    },
}

/// Where a subscription reads from: any backend that can read the global log in order.
#[async_trait::async_trait]
pub trait SubscriptionSource: Send + Sync + 'static {
    /// Events with position > `after_position`, ascending, at most `max`.
    async fn read_after(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;
}

/// Events read per catch-up query.
const READ_BATCH: usize = 512;

/// A cursor over the global log that first catches up and then follows live commits.
///
/// It remembers the last delivered position and always reads `position > last`, and it
/// wakes on a watch channel that carries the committed head position. The backend must
/// publish a head only once every position up to it is readable (see
/// [`crate::EventStore::subscribe_all`]).
pub struct Subscription {
    source: Arc<dyn SubscriptionSource>,
    head: watch::Receiver<u64>,
    last: u64,
    buffer: VecDeque<RecordedEvent>,
    caught_up: bool,
}

impl Subscription {
    /// A subscription delivering events after `after_position`, woken by `head` updates;
    /// for backend implementers.
    pub fn new(
        source: Arc<dyn SubscriptionSource>,
        head: watch::Receiver<u64>,
        after_position: u64,
    ) -> Self {
        Subscription {
            source,
            head,
            last: after_position,
            buffer: VecDeque::new(),
            caught_up: false,
        }
    }

    /// The position of the last delivered event (a checkpoint for resuming later).
    pub fn position(&self) -> u64 {
        self.last
    }

    /// The next event, or the one-time `CaughtUp` marker; waits for new commits when live.
    ///
    /// Fails with `STORE_CLOSED` once the store is closed and everything was delivered.
    /// Cancel-safe: dropping the future loses nothing (events are buffered before yielding).
    pub async fn next(&mut self) -> Result<SubscriptionItem, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.last = event.global_position;
                return Ok(SubscriptionItem::Event(event));
            }
            // Mark the current head as seen *before* reading: a commit that lands after
            // this line makes `changed()` below return at once, so nothing is missed.
            let head = *self.head.borrow_and_update();
            if head > self.last {
                let batch = self.source.read_after(self.last, READ_BATCH).await?;
                if !batch.is_empty() {
                    self.buffer.extend(batch);
                    continue;
                }
            }
            if !self.caught_up {
                self.caught_up = true;
                return Ok(SubscriptionItem::CaughtUp {
                    position: self.last,
                });
            }
            if self.head.changed().await.is_err() {
                // The writer is gone; deliver what was committed before it stopped.
                if *self.head.borrow() > self.last {
                    let batch = self.source.read_after(self.last, READ_BATCH).await?;
                    if !batch.is_empty() {
                        self.buffer.extend(batch);
                        continue;
                    }
                }
                return Err(StoreError::Closed);
            }
        }
    }
}
