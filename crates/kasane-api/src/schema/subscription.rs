//! Subscriptions: a resident's timeline as entries arrive, the agency's referral inbox, and the
//! caller's unread count. Each message is read from the read models as the viewer may see it
//! at that moment (so a withdrawn consent stops delivery at once), and reads of personal data
//! are recorded before the message is sent.

use super::query::referral_card;
use super::resident::Referral;
use super::resident::TimelineItem;
use super::types::uuid_arg;
use crate::context::{AccessLog, ApiState, Caller, caller, state};
use crate::error::{ApiError, ApiResult};
use crate::live::Notice;
use async_graphql::{Context, ID, Subscription};
use chrono::Utc;
use futures_util::Stream;
use kasane_domain::events::AccessedItem;
use kasane_domain::ids::streams;
use kasane_domain::vocab::AccessKind;
use kasane_domain::{ResidentId, case_basis};
use kasane_projections::ProjectionError;
use kasane_projections::timeline::{Order, TimelineQuery};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast::{Receiver, error::RecvError};

/// The subscription root.
pub struct Subscription;

/// Keeps the subscriber gauge right however the stream ends.
struct Gauge(Arc<ApiState>);

impl Gauge {
    fn new(state: Arc<ApiState>) -> Self {
        state.metrics.subscribers.inc();
        Gauge(state)
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.metrics.subscribers.dec();
    }
}

/// Waits for the next notice that `wanted` accepts; `None` once the server stops. A lagging
/// receiver gets a synthetic wake-up so the subscriber re-reads what it missed.
async fn next_notice(
    rx: &mut Receiver<Arc<Notice>>,
    mut wanted: impl FnMut(&Notice) -> bool,
) -> Option<()> {
    loop {
        match rx.recv().await {
            Ok(n) if wanted(&n) => return Some(()),
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return Some(()),
            Err(RecvError::Closed) => return None,
        }
    }
}

/// The caller as the directory knows them now (a suspension ends the subscription).
fn current(state: &ApiState, caller: &Caller) -> ApiResult<Caller> {
    state.caller(caller.member_id(), caller.correlation_id)
}

struct TimelineFeed {
    state: Arc<ApiState>,
    caller: Caller,
    resident: ResidentId,
    stream: String,
    last: u64,
    rx: Receiver<Arc<Notice>>,
    buffer: VecDeque<ApiResult<TimelineItem>>,
    done: bool,
    _gauge: Gauge,
}

impl TimelineFeed {
    /// Reads the entries after `last` that the viewer may see now, records the read, and
    /// queues them.
    async fn refill(&mut self) -> ApiResult<()> {
        let caller = current(&self.state, &self.caller)?;
        let tenant = self.state.settings.tenant.as_str().to_owned();
        let viewer = caller.viewer.clone();
        let resident = self.resident;
        let query = TimelineQuery {
            at: Utc::now(),
            first: kasane_projections::page::MAX_PAGE,
            after: Some(kasane_projections::page::cursor(self.last as i64)),
            order: Order::OldestFirst,
            categories: Vec::new(),
            author_agency: None,
            from: None,
            until: None,
            details: true,
        };
        let page = self
            .state
            .reads
            .run(move |c| {
                kasane_projections::timeline::timeline(c, &tenant, &viewer, resident, &query)
            })
            .await?;
        if let Some(last) = page.entries.last() {
            self.last = last.position;
        }
        if page.entries.is_empty() {
            return Ok(());
        }
        let log = AccessLog::default();
        log.note(
            resident,
            AccessKind::TimelinePage,
            page.up_to_version,
            page.entries.iter().map(|e| AccessedItem {
                note_id: e.note.as_ref().map(|n| n.note_id),
                basis: e.basis,
            }),
        );
        let written = log.flush(&self.state.service, &caller).await?;
        self.state.metrics.access_records.inc_by(written as u64);
        self.buffer
            .extend(page.entries.into_iter().map(|e| Ok(TimelineItem::from(e))));
        Ok(())
    }
}

struct InboxFeed {
    state: Arc<ApiState>,
    caller: Caller,
    rx: Receiver<Arc<Notice>>,
    _gauge: Gauge,
}

struct UnreadFeed {
    state: Arc<ApiState>,
    caller: Caller,
    rx: Receiver<Arc<Notice>>,
    last: Option<u64>,
    _gauge: Gauge,
}

/// Event types that can change what a member has unread.
const UNREAD_EVENTS: &[&str] = &[
    "NotePosted",
    "NoteRedacted",
    "NoteAcknowledged",
    "CareTeamMemberAdded",
    "CareTeamMemberRemoved",
    "ConsentGranted",
    "ConsentWithdrawn",
    "SupportMeetingRecorded",
    "BreakGlassInvoked",
    "CaseClosed",
    "CaseReopened",
    "ResidentErased",
];

#[Subscription]
impl Subscription {
    /// New entries of a resident's timeline that the caller may see, as they are committed.
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
    ) -> Result<impl Stream<Item = ApiResult<TimelineItem>> + use<>, ApiError> {
        let state = state(ctx).clone();
        let caller = caller(ctx)?.clone();
        let resident = ResidentId(uuid_arg(&resident_id, "residentId")?);
        let rx = state.live.subscribe();
        let (case, _) = state.service.case_file(resident).await?;
        if !case.is_registered() {
            return Err(ProjectionError::Refused(kasane_domain::Refusal::NotOnCareTeam).into());
        }
        case_basis(&case, &caller.viewer, Utc::now())
            .map_err(|r| ApiError::from(ProjectionError::Refused(r)))?;
        let last = state.service.store().head_position().await?;
        let feed = TimelineFeed {
            _gauge: Gauge::new(state.clone()),
            stream: streams::resident(resident),
            state,
            caller,
            resident,
            last,
            rx,
            buffer: VecDeque::new(),
            done: false,
        };
        Ok(futures_util::stream::unfold(feed, |mut feed| async move {
            loop {
                if let Some(item) = feed.buffer.pop_front() {
                    return Some((item, feed));
                }
                if feed.done {
                    return None;
                }
                let tenant = feed.state.settings.tenant.as_str().to_owned();
                let stream = feed.stream.clone();
                next_notice(&mut feed.rx, |n| n.tenant == tenant && n.stream == stream).await?;
                if let Err(e) = feed.refill().await {
                    // A refusal (suspended, left the team) ends the subscription.
                    feed.done = true;
                    return Some((Err(e), feed));
                }
            }
        }))
    }

    /// Referrals arriving at (or changing in) the caller's agency's inbox.
    async fn referral_inbox(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = ApiResult<Referral>> + use<>, ApiError> {
        let state = state(ctx).clone();
        let caller = caller(ctx)?.clone();
        let feed = InboxFeed {
            _gauge: Gauge::new(state.clone()),
            rx: state.live.subscribe(),
            state,
            caller,
        };
        Ok(futures_util::stream::unfold(feed, |mut feed| async move {
            loop {
                let tenant = feed.state.settings.tenant.as_str().to_owned();
                let mut referral = None;
                next_notice(&mut feed.rx, |n| {
                    referral = n.referral_id;
                    n.tenant == tenant && n.referral_id.is_some()
                })
                .await?;
                let Some(referral) = referral else { continue };
                match inbox_card(&feed, referral).await {
                    Ok(Some(card)) => return Some((Ok(card), feed)),
                    Ok(None) => {}
                    Err(e) => return Some((Err(e), feed)),
                }
            }
        }))
    }

    /// The caller's unread-note count: now, then whenever it changes.
    async fn unread_count(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = ApiResult<u64>> + use<>, ApiError> {
        let state = state(ctx).clone();
        let caller = caller(ctx)?.clone();
        let feed = UnreadFeed {
            _gauge: Gauge::new(state.clone()),
            rx: state.live.subscribe(),
            state,
            caller,
            last: None,
        };
        Ok(futures_util::stream::unfold(feed, |mut feed| async move {
            loop {
                if feed.last.is_some() {
                    let tenant = feed.state.settings.tenant.as_str().to_owned();
                    next_notice(&mut feed.rx, |n| {
                        n.tenant == tenant && UNREAD_EVENTS.contains(&n.event_type.as_str())
                    })
                    .await?;
                }
                let count = match unread_count(&feed).await {
                    Ok(c) => c,
                    Err(e) => return Some((Err(e), feed)),
                };
                // No access record holds this push back: wait until what it counted is durable.
                if let Err(e) = feed.state.service.store().durable_barrier().await {
                    return Some((Err(e.into()), feed));
                }
                if feed.last != Some(count) {
                    feed.last = Some(count);
                    return Some((Ok(count), feed));
                }
            }
        }))
    }
}

async fn inbox_card(feed: &InboxFeed, referral: uuid::Uuid) -> ApiResult<Option<Referral>> {
    let caller = current(&feed.state, &feed.caller)?;
    let tenant = feed.state.settings.tenant.as_str().to_owned();
    let today = Utc::now()
        .with_timezone(&feed.state.settings.time_zone)
        .date_naive();
    let card = feed
        .state
        .reads
        .run(move |c| {
            kasane_projections::referrals::get(
                c,
                &tenant,
                kasane_domain::ReferralId(referral),
                today,
            )
        })
        .await?;
    let Some(card) = card.filter(|c| c.to_agency == caller.viewer.agency_id) else {
        return Ok(None);
    };
    let log = AccessLog::default();
    let view = referral_card(&feed.state, &caller, &log, card).await?;
    let written = log.flush(&feed.state.service, &caller).await?;
    feed.state.metrics.access_records.inc_by(written as u64);
    Ok(Some(view))
}

async fn unread_count(feed: &UnreadFeed) -> ApiResult<u64> {
    let caller = current(&feed.state, &feed.caller)?;
    let tenant = feed.state.settings.tenant.as_str().to_owned();
    let viewer = caller.viewer.clone();
    feed.state
        .reads
        .run(move |c| kasane_projections::acks::unread_count(c, &tenant, &viewer, Utc::now()))
        .await
}
