//! The `Resident` object: a case file as the viewer may see it. Every resolver that returns
//! personal data notes the read in the request's access log first.

use super::types::{BasisView, CaseStatus, ConsentStatus, Note, PageInfo, TeamSpell, id};
use crate::context::{access_log, caller, state};
use crate::error::{ApiError, ApiResult, codes};
use async_graphql::{ComplexObject, Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use kasane_domain::events::AccessedItem;
use kasane_domain::vocab::{
    AccessKind, ConsentMethod, InfoCategory, MeetingKind, NoteCategory, Relation, SupportArea,
    SupportKind, Urgency,
};
use kasane_domain::{Basis, CaseFile, ResidentId, case_basis};
use kasane_projections::ProjectionError;
use kasane_projections::timeline::{Order, TimelineEntry, TimelineQuery};
use std::sync::Arc;

/// Default page size of connections.
pub const DEFAULT_PAGE: i32 = 20;

/// A resident's case file, loaded once per request and checked by the sharing rule.
#[derive(Clone)]
pub struct Resident {
    id: ResidentId,
    case: Arc<CaseFile>,
    version: u64,
    basis: Basis,
}

impl Resident {
    /// Loads `id` for the caller, refused with NOT_ON_CARE_TEAM (or MEMBER_INACTIVE) when the
    /// sharing rule says no. Residents that do not exist are refused the same way, so ids
    /// reveal nothing.
    pub async fn load(ctx: &Context<'_>, id: ResidentId) -> ApiResult<Resident> {
        let caller = caller(ctx)?;
        access_log(ctx)?;
        let (case, version) = state(ctx).service.case_file(id).await?;
        if !case.is_registered() {
            return Err(ProjectionError::Refused(kasane_domain::Refusal::NotOnCareTeam).into());
        }
        let basis = case_basis(&case, &caller.viewer, Utc::now())
            .map_err(|r| ApiError::from(ProjectionError::Refused(r)))?;
        Ok(Resident {
            id,
            case,
            version,
            basis,
        })
    }

    /// The resident's id.
    pub fn resident_id(&self) -> ResidentId {
        self.id
    }

    /// The case file for a personal field, noting the read; `None` for metadata-only viewers.
    fn personal(&self, ctx: &Context<'_>) -> Option<&CaseFile> {
        if self.basis == Basis::AuditorMetadata {
            return None;
        }
        // `load` made sure there is a log to note the read in.
        access_log(ctx).ok()?.note(
            self.id,
            AccessKind::ResidentDetails,
            self.version,
            [AccessedItem {
                note_id: None,
                basis: self.basis,
            }],
        );
        Some(&self.case)
    }
}

/// Checks `first` against the page limit and returns it as a size.
pub fn page_size(ctx: &Context<'_>, first: Option<i32>) -> ApiResult<usize> {
    let max = state(ctx).settings.limits.max_page;
    match first.unwrap_or(DEFAULT_PAGE) {
        n if n < 1 => Err(ApiError::new(
            codes::INVALID_INPUT,
            "first must be at least 1",
        )),
        n if n as usize > max => Err(ApiError::page_too_large(n as usize, max)),
        n => Ok(n as usize),
    }
}

/// The instant of an as-of query: now when absent; the future is refused.
pub fn instant(as_of: Option<DateTime<Utc>>) -> ApiResult<DateTime<Utc>> {
    let now = Utc::now();
    match as_of {
        None => Ok(now),
        Some(t) if t > now => Err(ApiError::new(
            codes::INVALID_INPUT,
            "asOf lies in the future: ask about an instant up to now",
        )),
        Some(t) => Ok(t),
    }
}

#[Object]
impl Resident {
    /// The resident's id.
    async fn id(&self) -> ID {
        id(self.id.0)
    }
    /// The case file's stream version (pass as `expectedVersion`).
    async fn version(&self) -> u64 {
        self.version
    }
    /// Why the viewer may see this case file.
    async fn basis(&self) -> BasisView {
        self.basis.into()
    }
    /// Whether the case is being worked.
    async fn status(&self) -> CaseStatus {
        self.case.status.into()
    }
    /// True once the resident's personal data was erased.
    async fn erased(&self) -> bool {
        self.case.erased
    }
    /// When the resident was registered.
    async fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.case.registration.as_ref().map(|r| r.registered_at)
    }
    /// Full name (null for metadata-only viewers and after erasure).
    async fn name(&self, ctx: &Context<'_>) -> Option<String> {
        let reg = self.personal(ctx)?.registration.as_ref()?;
        reg.name.known().cloned()
    }
    /// Kana reading of the name.
    async fn kana(&self, ctx: &Context<'_>) -> Option<String> {
        let reg = self.personal(ctx)?.registration.as_ref()?;
        reg.kana.known().cloned()
    }
    /// Date of birth.
    async fn birth_date(&self, ctx: &Context<'_>) -> Option<NaiveDate> {
        let reg = self.personal(ctx)?.registration.as_ref()?;
        reg.birth_date.known().copied()
    }
    /// Address.
    async fn address(&self, ctx: &Context<'_>) -> Option<String> {
        let reg = self.personal(ctx)?.registration.as_ref()?;
        reg.address.known().cloned().flatten()
    }
    /// Areas of support.
    async fn support_areas(&self, ctx: &Context<'_>) -> Vec<SupportArea> {
        self.personal(ctx)
            .map(|c| c.support_areas.clone())
            .unwrap_or_default()
    }
    /// Family links to other residents (their case files need their own access).
    async fn household(&self, ctx: &Context<'_>) -> Vec<HouseholdLink> {
        let Some(case) = self.personal(ctx) else {
            return Vec::new();
        };
        case.household
            .iter()
            .map(|(other, link)| HouseholdLink {
                other_resident_id: id(other.0),
                relation: link.relation,
                same_household: link.same_household,
            })
            .collect()
    }
    /// The care team as of `asOf` (default now), with every spell known then.
    async fn care_team(
        &self,
        ctx: &Context<'_>,
        as_of: Option<DateTime<Utc>>,
    ) -> ApiResult<Vec<TeamSpell>> {
        let at = instant(as_of)?;
        let (tenant, viewer, resident) = self.query_args(ctx)?;
        let spells = state(ctx)
            .reads
            .run(move |c| kasane_projections::care_team::team(c, &tenant, &viewer, resident, at))
            .await?;
        self.note_details(ctx);
        Ok(spells.into_iter().map(TeamSpell::from).collect())
    }
    /// The consents as known at `asOf` (default now), each with its status then.
    async fn consents(
        &self,
        ctx: &Context<'_>,
        as_of: Option<DateTime<Utc>>,
    ) -> ApiResult<Vec<Consent>> {
        let at = instant(as_of)?;
        let (tenant, viewer, resident) = self.query_args(ctx)?;
        let consents = state(ctx)
            .reads
            .run(move |c| kasane_projections::consents::consents(c, &tenant, &viewer, resident, at))
            .await?;
        self.note_details(ctx);
        Ok(consents
            .into_iter()
            .map(|v| Consent {
                id: id(v.consent_id.0),
                agency_ids: v.agencies.iter().map(|a| id(a.0)).collect(),
                categories: v.categories,
                purpose: v.purpose,
                method: v.method,
                obtained_by: id(v.obtained_by.0),
                valid_from: v.valid_from,
                valid_until: v.valid_until,
                document_ref: v.document_ref,
                granted_recorded_at: v.granted_recorded_at,
                withdrawn_at: v.withdrawn_at,
                withdrawn_recorded_at: v.withdrawn_recorded_at,
                withdrawal_reason: v.withdrawal_reason,
                status: v.status.into(),
            })
            .collect())
    }
    /// The timeline as the viewer may see it as of `asOf` (default now): newest first unless
    /// `oldestFirst`; notes filtered by `categories` and `authorAgencyId`.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity")]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        as_of: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
        categories: Option<Vec<NoteCategory>>,
        author_agency_id: Option<ID>,
        oldest_first: Option<bool>,
    ) -> ApiResult<TimelineConnection> {
        let query = TimelineQuery {
            at: instant(as_of)?,
            first: page_size(ctx, first)?,
            after,
            order: if oldest_first.unwrap_or(false) {
                Order::OldestFirst
            } else {
                Order::NewestFirst
            },
            categories: categories.unwrap_or_default(),
            author_agency: author_agency_id
                .map(|a| super::types::uuid_arg(&a, "authorAgencyId"))
                .transpose()?
                .map(kasane_domain::AgencyId),
            from: None,
            until: None,
            // Payloads are looked up and parsed only when the query selects them.
            details: ctx
                .look_ahead()
                .field("edges")
                .field("node")
                .field("details")
                .exists(),
        };
        let (tenant, viewer, resident) = self.query_args(ctx)?;
        // Now-queries reuse the case file this request already loaded (the sharing facts),
        // unless the log moved on in between; as-of queries fold the facts known at T.
        let current = as_of.is_none().then(|| (self.case.clone(), self.version));
        let page = state(ctx)
            .reads
            .run(move |c| {
                use kasane_projections::timeline::{timeline, timeline_with_case};
                if let Some((case, version)) = current {
                    let page = timeline_with_case(c, &tenant, &viewer, resident, &case, &query)?;
                    if page.up_to_version == version {
                        return Ok(page);
                    }
                }
                timeline(c, &tenant, &viewer, resident, &query)
            })
            .await?;
        let items: Vec<AccessedItem> = page
            .entries
            .iter()
            .map(|e| AccessedItem {
                note_id: e.note.as_ref().map(|n| n.note_id),
                basis: e.basis,
            })
            .collect();
        access_log(ctx)?.note(self.id, AccessKind::TimelinePage, page.up_to_version, items);
        Ok(TimelineConnection {
            page_info: PageInfo {
                has_next_page: page.next_cursor.is_some(),
                end_cursor: page.next_cursor.clone(),
            },
            up_to_version: page.up_to_version,
            edges: page
                .entries
                .into_iter()
                .map(|e| TimelineEdge {
                    cursor: kasane_projections::page::cursor(e.position as i64),
                    node: e.into(),
                })
                .collect(),
        })
    }
    /// Referrals made about this resident.
    async fn referrals(&self, ctx: &Context<'_>) -> Vec<Referral> {
        let Some(case) = self.personal(ctx) else {
            return Vec::new();
        };
        case.referrals
            .values()
            .map(|r| Referral {
                id: id(r.made.referral_id.0),
                resident_id: id(self.id.0),
                from_agency_id: id(r.made.from_agency.0),
                to_agency_id: id(r.made.to_agency.0),
                made_by: id(r.made.made_by.0),
                reason: r.made.reason.known().cloned(),
                requested_support: r.made.requested_support.clone(),
                urgency: r.made.urgency,
                due_on: r.made.due_on,
                status: referral_status(r.status),
                made_at: r.made_at,
                answered_at: r.answered_at,
                closed_at: r.closed_at,
                overdue: None,
            })
            .collect()
    }
    /// Support meetings held about this resident.
    async fn meetings(&self, ctx: &Context<'_>) -> Vec<Meeting> {
        let Some(case) = self.personal(ctx) else {
            return Vec::new();
        };
        case.meetings
            .values()
            .map(|m| Meeting {
                id: id(m.meeting_id.0),
                kind: m.kind,
                held_at: m.held_at,
                convened_by: id(m.convened_by.0),
                attendee_ids: m.attendees.iter().map(|a| id(a.member_id.0)).collect(),
                agenda: m.agenda.known().cloned(),
                decisions: m.decisions.known().cloned(),
                next_review_on: m.next_review_on,
            })
            .collect()
    }
    /// The current support plan.
    async fn plan(&self, ctx: &Context<'_>) -> Option<Plan> {
        let plan = self.personal(ctx)?.plan.as_ref()?;
        Some(Plan {
            goals: plan.goals.known().cloned().unwrap_or_default(),
            responsibilities: plan
                .responsibilities
                .iter()
                .map(|r| PlanResponsibility {
                    agency_id: id(r.agency_id.0),
                    member_id: r.member_id.map(|m| id(m.0)),
                    task: r.task.known().cloned(),
                })
                .collect(),
            review_on: plan.review_on,
            set_by: id(plan.set_by.0),
        })
    }
}

impl Resident {
    fn query_args(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<(String, kasane_domain::Viewer, ResidentId)> {
        let caller = caller(ctx)?;
        Ok((
            state(ctx).settings.tenant.as_str().to_owned(),
            caller.viewer.clone(),
            self.id,
        ))
    }

    fn note_details(&self, ctx: &Context<'_>) {
        let _ = self.personal(ctx);
    }
}

/// Maps the domain's referral status onto the API's.
pub fn referral_status(
    s: kasane_domain::case_file::ReferralStatus,
) -> super::types::ReferralStatus {
    use super::types::ReferralStatus as R;
    use kasane_domain::case_file::ReferralStatus as D;
    match s {
        D::Made => R::Made,
        D::Accepted => R::Accepted,
        D::Declined => R::Declined,
        D::Withdrawn => R::Withdrawn,
        D::Completed => R::Completed,
    }
}

/// A family link to another resident.
#[derive(SimpleObject, Clone, Debug)]
pub struct HouseholdLink {
    /// The other resident.
    pub other_resident_id: ID,
    /// How they are related (seen from this resident).
    pub relation: Relation,
    /// True when they live in the same household.
    pub same_household: bool,
}

/// A consent as known at the queried instant.
#[derive(SimpleObject, Clone, Debug)]
pub struct Consent {
    /// The consent's id.
    pub id: ID,
    /// Agencies it lets information go to.
    pub agency_ids: Vec<ID>,
    /// Information categories it covers.
    pub categories: Vec<InfoCategory>,
    /// What for.
    pub purpose: String,
    /// How it was obtained.
    pub method: ConsentMethod,
    /// Who obtained it.
    pub obtained_by: ID,
    /// In force from.
    pub valid_from: DateTime<Utc>,
    /// Lapses at (exclusive).
    pub valid_until: Option<DateTime<Utc>>,
    /// Reference to the signed document.
    pub document_ref: Option<String>,
    /// When the grant was recorded.
    pub granted_recorded_at: DateTime<Utc>,
    /// Effective time of the withdrawal, if recorded by the instant.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// When the withdrawal was recorded.
    pub withdrawn_recorded_at: Option<DateTime<Utc>>,
    /// Why it was withdrawn.
    pub withdrawal_reason: Option<String>,
    /// Its state at the instant.
    pub status: ConsentStatus,
}

/// A referral from one agency to another.
#[derive(SimpleObject, Clone, Debug)]
pub struct Referral {
    /// The referral's id.
    pub id: ID,
    /// The resident it is about.
    pub resident_id: ID,
    /// The sending agency.
    pub from_agency_id: ID,
    /// The receiving agency.
    pub to_agency_id: ID,
    /// Who sent it.
    pub made_by: ID,
    /// Why (null when the viewer may not see the resident's details).
    pub reason: Option<String>,
    /// What support is asked for.
    pub requested_support: Vec<SupportKind>,
    /// How urgent.
    pub urgency: Urgency,
    /// Answer due on (tenant's calendar).
    pub due_on: Option<NaiveDate>,
    /// Where it stands.
    pub status: super::types::ReferralStatus,
    /// When it was made.
    pub made_at: DateTime<Utc>,
    /// First answer (accepted or declined).
    pub answered_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// True when unanswered past its due date (boards only).
    pub overdue: Option<bool>,
}

/// A support meeting (支援会議, 重層的支援会議 or case conference).
#[derive(SimpleObject, Clone, Debug)]
pub struct Meeting {
    /// The meeting's id.
    pub id: ID,
    /// Which kind of meeting.
    pub kind: MeetingKind,
    /// When it was held.
    pub held_at: DateTime<Utc>,
    /// The convening agency.
    pub convened_by: ID,
    /// Members who attended.
    pub attendee_ids: Vec<ID>,
    /// Agenda.
    pub agenda: Option<String>,
    /// Decisions.
    pub decisions: Option<String>,
    /// Next review date.
    pub next_review_on: Option<NaiveDate>,
}

/// The support plan.
#[derive(SimpleObject, Clone, Debug)]
pub struct Plan {
    /// Goals.
    pub goals: Vec<String>,
    /// Who does what.
    pub responsibilities: Vec<PlanResponsibility>,
    /// Next review date.
    pub review_on: Option<NaiveDate>,
    /// Who set it.
    pub set_by: ID,
}

/// One line of a support plan.
#[derive(SimpleObject, Clone, Debug)]
pub struct PlanResponsibility {
    /// The responsible agency.
    pub agency_id: ID,
    /// The responsible member, if named.
    pub member_id: Option<ID>,
    /// The task.
    pub task: Option<String>,
}

/// A page of a timeline.
#[derive(SimpleObject, Clone, Debug)]
pub struct TimelineConnection {
    /// The entries with their cursors.
    pub edges: Vec<TimelineEdge>,
    /// Where the next page starts.
    pub page_info: PageInfo,
    /// The case file's version the page reflects (recorded in the access ledger).
    pub up_to_version: u64,
}

/// One timeline entry with its cursor.
#[derive(SimpleObject, Clone, Debug)]
pub struct TimelineEdge {
    /// Pass as `after` to continue after this entry.
    pub cursor: String,
    /// The entry.
    pub node: TimelineItem,
}

/// One thing that happened in a case file.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct TimelineItem {
    /// Global position in the log.
    pub position: u64,
    /// Version of the case file this entry made.
    pub stream_version: u64,
    /// The event type, e.g. `NotePosted`.
    pub kind: String,
    /// When it was recorded (server time).
    pub recorded_at: DateTime<Utc>,
    /// When it happened (business time).
    pub occurred_at: DateTime<Utc>,
    /// The member who acted.
    pub actor_id: Option<ID>,
    /// Their agency.
    pub actor_agency_id: Option<ID>,
    /// Why the viewer may see it.
    pub basis: BasisView,
    /// For note entries: the note as of the queried instant.
    pub note: Option<Note>,
    #[graphql(skip)]
    pub payload: Option<serde_json::Value>,
}

#[ComplexObject]
impl TimelineItem {
    /// For entries other than notes: the event's fields (personal values withheld from
    /// metadata-only viewers).
    async fn details(&self) -> Option<Json<serde_json::Value>> {
        self.payload.clone().map(Json)
    }
}

impl From<TimelineEntry> for TimelineItem {
    fn from(e: TimelineEntry) -> Self {
        TimelineItem {
            position: e.position,
            stream_version: e.stream_version,
            kind: e.kind,
            recorded_at: e.recorded_at,
            occurred_at: e.occurred_at,
            actor_id: e.actor_member.map(|m| id(m.0)),
            actor_agency_id: e.actor_agency.map(|a| id(a.0)),
            basis: e.basis.into(),
            note: e.note.map(|n| Note {
                id: id(n.note_id.0),
                category: n.category,
                info_categories: n.info_categories,
                author_id: id(n.author.0),
                author_agency_id: id(n.author_agency.0),
                posted_at: n.posted_at,
                describes_at: n.describes_at,
                body: n.body,
                corrected: n.corrected,
                redacted: n.redacted,
            }),
            payload: e.payload,
        }
    }
}
