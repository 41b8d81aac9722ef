//! `CommandService`: the write path. Loads a stream's state, asks the domain to decide, appends
//! with an expected version, and keeps a cache of what it wrote.

use crate::case_cache::{CaseCache, DEFAULT_CAPACITY};
use crate::directory_cache::DirectoryCache;
use crate::error::AppError;
use crate::event_ids::event_id_for;
use chrono::{DateTime, Utc};
use kasane_domain::directory::{AgencyCommand, MemberCommand, decide_agency, decide_member};
use kasane_domain::events::{AccessRecorded, AccessedItem};
use kasane_domain::ids::streams;
use kasane_domain::vocab::AccessKind;
use kasane_domain::{
    Actor, AgencyId, CaseFile, Context, Event, MemberId, Principal, ResidentCommand, ResidentId,
    TenantId, decide,
};
use kasane_store::{
    Actor as EnvelopeActor, AppendResult, EventStore, ExpectedVersion, ProposedEvent,
    ReadDirection, RecordedEvent, StoreError,
};
use std::sync::{Arc, Mutex, RwLock};
use uuid::Uuid;

/// How many times a command without a caller-given expected version is re-decided after losing
/// a race with another writer.
const CONFLICT_RETRIES: usize = 3;
/// Page size when reading a stream.
const READ_BATCH: usize = 1024;

/// Per-command metadata the caller supplies.
#[derive(Clone, Debug)]
pub struct CommandMeta {
    /// The decision's instant (the domain never reads a clock).
    pub now: DateTime<Utc>,
    /// Idempotency key: the same id retried yields the original result and no duplicate.
    pub command_id: Option<Uuid>,
    /// Ties together everything one request caused.
    pub correlation_id: Uuid,
    /// Optimistic concurrency: refuse with VERSION_CONFLICT unless the stream is at this version.
    pub expected_version: Option<u64>,
}

impl CommandMeta {
    /// Metadata for a command decided at `now`, with a fresh correlation id.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now,
            command_id: None,
            correlation_id: Uuid::now_v7(),
            expected_version: None,
        }
    }
}

/// What a carried-out command produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The stream's version after the command.
    pub version: u64,
    /// Global position of the last event written (0 when nothing was written).
    pub last_position: u64,
    /// How many events the command appended.
    pub events: usize,
    /// True when this was a retry answered with the original result.
    pub replayed: bool,
}

/// The write path for one tenant.
pub struct CommandService {
    store: Arc<dyn EventStore>,
    tenant: TenantId,
    directory: RwLock<DirectoryCache>,
    cases: Mutex<CaseCache>,
}

impl CommandService {
    /// Opens the service with a directory loaded elsewhere (e.g. from the directory read
    /// model, which is current when the projections are), skipping the scan of the log.
    pub fn with_directory(
        store: Arc<dyn EventStore>,
        tenant: TenantId,
        directory: DirectoryCache,
    ) -> Self {
        Self {
            store,
            tenant,
            directory: RwLock::new(directory),
            cases: Mutex::new(CaseCache::new(DEFAULT_CAPACITY)),
        }
    }

    /// Opens the service, loading the tenant's directory by scanning the log.
    pub async fn open(store: Arc<dyn EventStore>, tenant: TenantId) -> Result<Self, AppError> {
        let mut directory = DirectoryCache::default();
        let mut after = 0;
        loop {
            let batch = store.read_all(after, READ_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.global_position;
            for recorded in batch.iter().filter(|r| {
                r.tenant == tenant.as_str()
                    && (r.stream.starts_with("agency-") || r.stream.starts_with("member-"))
            }) {
                directory.apply(&decode(recorded)?, recorded.stream_version);
            }
        }
        Ok(Self::with_directory(store, tenant, directory))
    }

    /// The tenant this service writes for.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// A snapshot of the directory.
    pub fn directory(&self) -> DirectoryCache {
        self.directory.read().expect("directory lock").clone()
    }

    /// Resolves a member into an actor (with their agency).
    pub fn actor(&self, member: MemberId) -> Result<Actor, AppError> {
        let dir = self.directory.read().expect("directory lock");
        Actor::resolve(&*dir, member).ok_or(AppError::UnknownActor(member))
    }

    /// Carries out an agency command (`by` None = the operator at the console).
    pub async fn agency(
        &self,
        by: Option<MemberId>,
        agency_id: AgencyId,
        cmd: AgencyCommand,
        meta: CommandMeta,
    ) -> Result<Outcome, AppError> {
        let principal = self.principal(by)?;
        let stream = streams::agency(agency_id);
        let (state, version) = self
            .directory
            .read()
            .expect("directory lock")
            .agency_state(agency_id);
        let events = decide_agency(&state, &cmd, &principal)?;
        self.write_directory(&stream, version, events, &principal, meta)
            .await
    }

    /// Carries out a member command (`by` None = the operator at the console).
    pub async fn member(
        &self,
        by: Option<MemberId>,
        member_id: MemberId,
        cmd: MemberCommand,
        meta: CommandMeta,
    ) -> Result<Outcome, AppError> {
        let principal = self.principal(by)?;
        let stream = streams::member(member_id);
        let events = {
            let dir = self.directory.read().expect("directory lock");
            let (state, version) = dir.member_state(member_id);
            (decide_member(&state, &cmd, &principal, &*dir)?, version)
        };
        self.write_directory(&stream, events.1, events.0, &principal, meta)
            .await
    }

    /// Carries out a command on a resident's case file.
    pub async fn resident(
        &self,
        by: MemberId,
        resident_id: ResidentId,
        cmd: ResidentCommand,
        meta: CommandMeta,
    ) -> Result<Outcome, AppError> {
        let actor = self.actor(by)?;
        let stream = streams::resident(resident_id);
        if let Some(outcome) = self
            .replay_if_retried(&stream, &meta, |state, now| {
                let dir = self.directory.read().expect("directory lock");
                let ctx = Context {
                    now,
                    actor: &actor,
                    directory: &*dir,
                };
                decide(state, resident_id, &cmd, &ctx)
            })
            .await?
        {
            return Ok(outcome);
        }
        let mut attempt = 0;
        loop {
            let (state, version) = self.case_file(resident_id).await?;
            let events = {
                let dir = self.directory.read().expect("directory lock");
                let ctx = Context {
                    now: meta.now,
                    actor: &actor,
                    directory: &*dir,
                };
                decide(&state, resident_id, &cmd, &ctx)?
            };
            if events.is_empty() {
                return Ok(Outcome {
                    version,
                    last_position: 0,
                    events: 0,
                    replayed: false,
                });
            }
            let expected = expected_from(meta.expected_version, version);
            let proposed = self.propose(&events, Some(&actor), &meta);
            match self
                .store
                .append(self.tenant.as_str(), &stream, expected, proposed)
                .await
            {
                Ok(result) => {
                    let mut next = (*state).clone();
                    for e in &events {
                        next.evolve(e, meta.now);
                    }
                    self.cache_case(resident_id, next, result.stream_version, version);
                    return Ok(outcome(&result, events.len()));
                }
                Err(StoreError::VersionConflict { .. })
                    if meta.expected_version.is_none() && attempt < CONFLICT_RETRIES =>
                {
                    attempt += 1;
                    self.forget_case(resident_id);
                }
                Err(e) => {
                    if matches!(e, StoreError::VersionConflict { .. }) {
                        self.forget_case(resident_id);
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// Records that `by` read a resident's data (the `access-{id}` stream; never conflicts).
    pub async fn record_access(
        &self,
        by: MemberId,
        resident_id: ResidentId,
        kind: AccessKind,
        items: Vec<AccessedItem>,
        meta: CommandMeta,
    ) -> Result<Outcome, AppError> {
        let (_, up_to_version) = self.case_file(resident_id).await?;
        self.record_read(by, resident_id, kind, up_to_version, items, meta)
            .await
    }

    /// Records a read whose response reflected the case file up to `up_to_version` (the
    /// caller knows it from the read itself); durable when this returns. Concurrent reads share
    /// the store's group commit.
    pub async fn record_read(
        &self,
        by: MemberId,
        resident_id: ResidentId,
        kind: AccessKind,
        up_to_version: u64,
        items: Vec<AccessedItem>,
        meta: CommandMeta,
    ) -> Result<Outcome, AppError> {
        let actor = self.actor(by)?;
        let event: Event = AccessRecorded {
            resident_id,
            member_id: actor.member_id(),
            agency_id: actor.agency_id(),
            kind,
            up_to_version,
            items,
        }
        .into();
        let proposed = self.propose(std::slice::from_ref(&event), Some(&actor), &meta);
        let result = self
            .store
            .append(
                self.tenant.as_str(),
                &event.stream(),
                ExpectedVersion::Any,
                proposed,
            )
            .await?;
        Ok(outcome(&result, 1))
    }

    /// The resident's case file as of now and its stream version (0 = no such stream).
    pub async fn case_file(
        &self,
        resident_id: ResidentId,
    ) -> Result<(Arc<CaseFile>, u64), AppError> {
        if let Some(hit) = self.cases.lock().expect("case cache").get(&resident_id) {
            return Ok(hit);
        }
        let stream = streams::resident(resident_id);
        let (state, version) = self.fold_stream(&stream, u64::MAX).await?;
        let state = Arc::new(state);
        let mut cases = self.cases.lock().expect("case cache");
        // A writer may have cached a newer state while this fold ran: keep the newer one.
        if cases
            .version(&resident_id)
            .is_none_or(|cached| cached < version)
        {
            cases.insert(resident_id, state.clone(), version);
        }
        Ok((state, version))
    }

    /// Folds a resident stream up to and including `until_version`.
    async fn fold_stream(
        &self,
        stream: &str,
        until_version: u64,
    ) -> Result<(CaseFile, u64), AppError> {
        let mut state = CaseFile::default();
        let mut version = 0;
        loop {
            let batch = self
                .store
                .read_stream(
                    self.tenant.as_str(),
                    stream,
                    version + 1,
                    ReadDirection::Forward,
                    READ_BATCH,
                )
                .await?;
            let n = batch.len();
            for recorded in batch
                .iter()
                .take_while(|r| r.stream_version <= until_version)
            {
                state.evolve(&decode(recorded)?, recorded.occurred_at);
                version = recorded.stream_version;
            }
            if n < READ_BATCH || version >= until_version {
                return Ok((state, version));
            }
        }
    }

    /// Idempotent retry: when the command id was already used on `stream`, decide again against
    /// the state just before the original events, at the original time, and append the same ids.
    /// The store then answers with the original result, or DUPLICATE_EVENT_ID if the command
    /// differs from the one first sent with that id.
    async fn replay_if_retried(
        &self,
        stream: &str,
        meta: &CommandMeta,
        redecide: impl Fn(&CaseFile, DateTime<Utc>) -> Result<Vec<Event>, kasane_domain::DomainError>,
    ) -> Result<Option<Outcome>, AppError> {
        let Some(command_id) = meta.command_id else {
            return Ok(None);
        };
        let Some(original) = self.store.read_event(command_id).await? else {
            return Ok(None);
        };
        if original.stream != stream || original.tenant != self.tenant.as_str() {
            return Err(StoreError::DuplicateEventId {
                event_id: command_id,
            }
            .into());
        }
        let (before, version) = self
            .fold_stream(stream, original.stream_version - 1)
            .await?;
        let events = redecide(&before, original.occurred_at)?;
        let replay_meta = CommandMeta {
            now: original.occurred_at,
            correlation_id: original.correlation_id,
            ..meta.clone()
        };
        let actor = original
            .actor
            .map(|a| MemberId::from_uuid(a.member))
            .map(|m| self.actor(m))
            .transpose()?;
        let proposed = self.propose(&events, actor.as_ref(), &replay_meta);
        let result = self
            .store
            .append(
                self.tenant.as_str(),
                stream,
                ExpectedVersion::Exact(version),
                proposed,
            )
            .await?;
        Ok(Some(outcome(&result, events.len())))
    }

    async fn write_directory(
        &self,
        stream: &str,
        version: u64,
        events: Vec<Event>,
        principal: &Principal,
        meta: CommandMeta,
    ) -> Result<Outcome, AppError> {
        let actor = match principal {
            Principal::Member(a) => Some(a),
            Principal::Operator => None,
        };
        let proposed = self.propose(&events, actor, &meta);
        let expected = expected_from(meta.expected_version, version);
        let result = self
            .store
            .append(self.tenant.as_str(), stream, expected, proposed)
            .await?;
        let mut dir = self.directory.write().expect("directory lock");
        for (i, e) in events.iter().enumerate() {
            dir.apply(e, result.stream_version - (events.len() - 1 - i) as u64);
        }
        Ok(outcome(&result, events.len()))
    }

    fn principal(&self, by: Option<MemberId>) -> Result<Principal, AppError> {
        Ok(match by {
            None => Principal::Operator,
            Some(m) => Principal::Member(self.actor(m)?),
        })
    }

    fn propose(
        &self,
        events: &[Event],
        actor: Option<&Actor>,
        meta: &CommandMeta,
    ) -> Vec<ProposedEvent> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| ProposedEvent {
                event_id: meta
                    .command_id
                    .map(|c| event_id_for(c, i))
                    .unwrap_or_else(Uuid::now_v7),
                event_type: e.event_type().to_owned(),
                schema_version: e.schema_version(),
                occurred_at: meta.now,
                actor: actor.map(|a| EnvelopeActor {
                    member: a.member_id().as_uuid(),
                    agency: a.agency_id().as_uuid(),
                }),
                correlation_id: meta.correlation_id,
                causation_id: meta.command_id,
                data_subject: e.data_subject(),
                payload: e.to_payload(),
            })
            .collect()
    }

    fn cache_case(&self, id: ResidentId, state: CaseFile, version: u64, read_version: u64) {
        let mut cases = self.cases.lock().expect("case cache");
        // Only the writer that moved the stream on from the cached version may replace it.
        match cases.version(&id) {
            Some(v) if v != read_version => cases.remove(&id),
            _ => cases.insert(id, Arc::new(state), version),
        }
    }

    fn forget_case(&self, id: ResidentId) {
        self.cases.lock().expect("case cache").remove(&id);
    }
}

fn expected_from(given: Option<u64>, current: u64) -> ExpectedVersion {
    match given.unwrap_or(current) {
        0 => ExpectedVersion::NoStream,
        v => ExpectedVersion::Exact(v),
    }
}

fn outcome(result: &AppendResult, events: usize) -> Outcome {
    Outcome {
        version: result.stream_version,
        last_position: result.last_position,
        events,
        replayed: result.replayed,
    }
}

/// Turns a recorded envelope back into a domain event.
pub(crate) fn decode(recorded: &RecordedEvent) -> Result<Event, AppError> {
    Ok(Event::from_payload(
        &recorded.event_type,
        recorded.schema_version,
        recorded.payload.clone(),
    )?)
}
