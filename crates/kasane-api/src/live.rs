//! Committed events fanned out to subscriptions: one task follows the store's subscription
//! and broadcasts a small notice per event; each GraphQL subscription filters the notices
//! and reads what it sends from the read models (which commit with the events).

use kasane_store::{EventStore, SubscriptionItem};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Notices buffered per subscriber before it is told it lagged (it then re-reads).
const CAPACITY: usize = 4096;

/// What subscriptions need to know about one committed event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Global position.
    pub position: u64,
    /// Tenant of the event.
    pub tenant: String,
    /// Stream it was appended to.
    pub stream: String,
    /// Its type, e.g. `NotePosted`.
    pub event_type: String,
    /// The referral it concerns, for referral events.
    pub referral_id: Option<uuid::Uuid>,
}

/// The broadcast of committed events.
#[derive(Clone)]
pub struct Live {
    tx: broadcast::Sender<Arc<Notice>>,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Live {
    /// A receiver of every notice from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notice>> {
        self.tx.subscribe()
    }

    /// Follows the store from `after` and broadcasts each committed event until the store
    /// closes.
    pub fn spawn_follower(
        &self,
        store: Arc<dyn EventStore>,
        after: u64,
    ) -> tokio::task::JoinHandle<()> {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut subscription = match store.subscribe_all(after).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "live updates cannot start");
                    return;
                }
            };
            loop {
                match subscription.next().await {
                    Ok(SubscriptionItem::Event(e)) => {
                        let referral_id = e
                            .event_type
                            .starts_with("Referral")
                            .then(|| e.payload.get("referral_id")?.as_str()?.parse().ok())
                            .flatten();
                        // No receivers is fine: nobody is subscribed right now.
                        let _ = tx.send(Arc::new(Notice {
                            position: e.global_position,
                            tenant: e.tenant,
                            stream: e.stream,
                            event_type: e.event_type,
                            referral_id,
                        }));
                    }
                    Ok(SubscriptionItem::CaughtUp { .. }) => {}
                    Err(kasane_store::StoreError::Closed) => return,
                    Err(e) => {
                        tracing::error!(error = %e, "live updates stopped");
                        return;
                    }
                }
            }
        })
    }
}
