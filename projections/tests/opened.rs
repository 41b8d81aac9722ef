//! Replays read events with their personal values opened beside the stored payload text and
//! decode them straight from it (`read_all_opened` + `decode_opened`). That must give exactly
//! the events that the ordinary read and decode give, also once a subject's key is destroyed,
//! and also through the trait's default implementation (other backends).

use chrono::{NaiveDate, TimeZone, Utc};
use kasane_domain::events::*;
use kasane_domain::vocab::{InfoCategory, NoteCategory, SupportArea};
use kasane_domain::*;
use kasane_projections::projection::decode_opened;
use kasane_store::{EventStore, MasterKey};
use kasane_store::{
    ExpectedVersion, OpenedEvent, OpenedValues, ProposedEvent, SqliteConfig, SqliteStore,
};
use uuid::Uuid;

const TENANT: &str = "opened-city";

fn proposed(event: &Event) -> ProposedEvent {
    let mut p = ProposedEvent::new(event.event_type(), event.to_payload());
    p.schema_version = event.schema_version();
    p.occurred_at = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    p.data_subject = event.data_subject();
    p
}

/// A resident's registration and two notes about them.
fn history(resident: ResidentId, name: &str) -> Vec<Event> {
    let (member, agency) = (MemberId(Uuid::now_v7()), AgencyId(Uuid::now_v7()));
    let registered = Event::ResidentRegistered(ResidentRegistered {
        resident_id: resident,
        name: Personal::Known(name.into()),
        kana: Personal::Known("サトウ タロウ".into()),
        birth_date: Personal::Known(NaiveDate::from_ymd_opt(1950, 1, 2).unwrap()),
        address: Personal::Known(None),
        support_areas: vec![SupportArea::Elderly, SupportArea::Disability],
        registered_by: member,
        registered_by_agency: agency,
    });
    let note = |body: &str| {
        Event::NotePosted(NotePosted {
            resident_id: resident,
            note_id: NoteId(Uuid::now_v7()),
            author: member,
            author_agency: agency,
            category: NoteCategory::Visit,
            info_categories: vec![InfoCategory::Health, InfoCategory::Care],
            body: Personal::Known(body.into()),
            describes_at: Utc.with_ymd_and_hms(2026, 5, 31, 23, 0, 0).unwrap(),
            attachments: Vec::new(),
        })
    };
    vec![
        registered,
        note("訪問しました。"),
        note("服薬を確認 \"二回\""),
    ]
}

/// Every event decoded both ways, in log order.
async fn both_ways(store: &dyn EventStore) -> (Vec<Event>, Vec<Event>, Vec<OpenedEvent>) {
    let ordinary: Vec<Event> = store
        .read_all(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| Event::decode(&e.event_type, e.schema_version, &e.payload).unwrap())
        .collect();
    let mut opened = store.read_all_opened(0, 100).await.unwrap();
    let kept = opened.clone();
    let typed = opened
        .iter_mut()
        .map(|e| decode_opened(e).unwrap())
        .collect();
    (ordinary, typed, kept)
}

/// A backend that serves replays through the trait's default implementation.
struct DefaultReplays(SqliteStore);

#[async_trait::async_trait]
impl EventStore for DefaultReplays {
    async fn append(
        &self,
        tenant: &str,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<ProposedEvent>,
    ) -> Result<kasane_store::AppendResult, kasane_store::StoreError> {
        self.0.append(tenant, stream, expected, events).await
    }
    async fn read_stream(
        &self,
        tenant: &str,
        stream: &str,
        from_version: u64,
        direction: kasane_store::ReadDirection,
        max: usize,
    ) -> Result<Vec<kasane_store::RecordedEvent>, kasane_store::StoreError> {
        self.0
            .read_stream(tenant, stream, from_version, direction, max)
            .await
    }
    async fn read_event(
        &self,
        event_id: Uuid,
    ) -> Result<Option<kasane_store::RecordedEvent>, kasane_store::StoreError> {
        self.0.read_event(event_id).await
    }
    async fn stream_version(
        &self,
        tenant: &str,
        stream: &str,
    ) -> Result<Option<u64>, kasane_store::StoreError> {
        self.0.stream_version(tenant, stream).await
    }
    async fn read_all(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<kasane_store::RecordedEvent>, kasane_store::StoreError> {
        self.0.read_all(after_position, max).await
    }
    async fn read_all_stored(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<kasane_store::StoredEvent>, kasane_store::StoreError> {
        self.0.read_all_stored(after_position, max).await
    }
    async fn head_position(&self) -> Result<u64, kasane_store::StoreError> {
        self.0.head_position().await
    }
    async fn subscribe_all(
        &self,
        after_position: u64,
    ) -> Result<kasane_store::Subscription, kasane_store::StoreError> {
        self.0.subscribe_all(after_position).await
    }
    async fn destroy_data_key(
        &self,
        tenant: &str,
        subject: &str,
    ) -> Result<bool, kasane_store::StoreError> {
        self.0.destroy_data_key(tenant, subject).await
    }
    async fn verify(
        &self,
        on_progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<kasane_store::VerifyReport, kasane_store::StoreError> {
        self.0.verify(on_progress).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_reads_decode_to_the_same_events_before_and_after_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteConfig::new(
        dir.path().join("kasane.db"),
        MasterKey::generate(),
    ))
    .await
    .unwrap();
    let (kept, erased) = (ResidentId(Uuid::now_v7()), ResidentId(Uuid::now_v7()));
    let mut written = Vec::new();
    for (resident, name) in [(kept, "佐藤 太郎"), (erased, "鈴木 次郎")] {
        let events = history(resident, name);
        let stream = events[0].stream();
        store
            .append(
                TENANT,
                &stream,
                ExpectedVersion::NoStream,
                events.iter().map(proposed).collect(),
            )
            .await
            .unwrap();
        written.extend(events);
    }

    let (ordinary, typed, opened) = both_ways(&store).await;
    assert_eq!(typed, written);
    assert_eq!(ordinary, written);
    // The text is as stored: the personal values are not in it but beside it.
    assert!(opened.iter().all(|e| !e.payload.contains("$personal")));
    assert!(opened[0].payload.contains("$sealed"));
    assert!(!opened[0].payload.contains("佐藤"));
    assert!(matches!(&opened[0].personal, OpenedValues::Opened(v) if v.len() == 4));
    let defaults = DefaultReplays(store.clone());
    let (_, through_default, _) = both_ways(&defaults).await;
    assert_eq!(through_default, written);

    let subject = written[3].data_subject().unwrap();
    assert!(store.destroy_data_key(TENANT, &subject).await.unwrap());
    let (ordinary, typed, opened) = both_ways(&store).await;
    assert_eq!(typed, ordinary);
    assert_eq!(typed[..3], written[..3]);
    assert!(
        opened[3..]
            .iter()
            .all(|e| e.personal == OpenedValues::Erased)
    );
    let Event::ResidentRegistered(r) = &typed[3] else {
        panic!("{:?}", typed[3]);
    };
    assert!(r.name.is_erased() && r.address.is_erased());
    assert_eq!(
        r.support_areas,
        vec![SupportArea::Elderly, SupportArea::Disability]
    );
    let Event::NotePosted(n) = &typed[4] else {
        panic!("{:?}", typed[4]);
    };
    assert!(n.body.is_erased());
    let (_, through_default, _) = both_ways(&defaults).await;
    assert_eq!(through_default, typed);
    store.close().await;
}
