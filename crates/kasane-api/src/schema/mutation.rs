//! Mutations: one per domain command. Each takes an optional `expectedVersion` (refused with
//! VERSION_CONFLICT and the current version when the stream moved on) and an optional
//! `idempotencyKey` (a UUID: retrying with it returns the first result and writes nothing).

use super::resident::Resident;
use super::types::{Agency, Member, id, uuid_arg};
use crate::context::{caller, state};
use crate::error::{ApiError, ApiResult, codes};
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use kasane_app::Outcome;
use kasane_domain::directory::{AgencyCommand, MemberCommand};
use kasane_domain::events::AttachmentMeta;
use kasane_domain::vocab::{
    AgencyKind, ConsentMethod, InfoCategory, MeetingKind, NoteCategory, Profession, Relation, Role,
    SupportArea, SupportKind, TeamRole, Urgency,
};
use kasane_domain::{
    AgencyId, BreakGlassId, ConsentId, MeetingId, MemberId, NoteId, ReferralId, ResidentCommand,
    ResidentId,
};
use uuid::Uuid;

/// The mutation root.
pub struct Mutation;

/// What a resident command did.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct ResidentPayload {
    /// The case file's version after the command.
    pub version: u64,
    /// True when this was a retry answered with the original result.
    pub replayed: bool,
    /// Events the command appended (0 when it changed nothing).
    pub events: u64,
    /// The id of what the command created (note, consent, referral, meeting, grant), if any.
    pub created_id: Option<ID>,
    #[graphql(skip)]
    pub resident_id: ResidentId,
}

#[ComplexObject]
impl ResidentPayload {
    /// The case file after the command (null if the caller may no longer see it).
    async fn resident(&self, ctx: &Context<'_>) -> Option<Resident> {
        Resident::load(ctx, self.resident_id).await.ok()
    }
}

/// What a directory command did.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct MemberPayload {
    /// The member stream's version after the command.
    pub version: u64,
    /// True when this was a retry answered with the original result.
    pub replayed: bool,
    #[graphql(skip)]
    pub member_id: MemberId,
}

#[ComplexObject]
impl MemberPayload {
    /// The member after the command.
    async fn member(&self, ctx: &Context<'_>) -> ApiResult<Option<Member>> {
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let member = self.member_id;
        let record = state(ctx)
            .reads
            .run(move |c| kasane_projections::directory::member(c, &tenant, member))
            .await?;
        Ok(record.map(Member))
    }
}

/// What registering an agency did.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct AgencyPayload {
    /// The agency stream's version after the command.
    pub version: u64,
    /// True when this was a retry answered with the original result.
    pub replayed: bool,
    #[graphql(skip)]
    pub agency_id: AgencyId,
}

#[ComplexObject]
impl AgencyPayload {
    /// The agency after the command.
    async fn agency(&self, ctx: &Context<'_>) -> ApiResult<Option<Agency>> {
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let agency = self.agency_id;
        let list = state(ctx)
            .reads
            .run(move |c| kasane_projections::directory::agencies(c, &tenant))
            .await?;
        Ok(list.into_iter().find(|a| a.agency_id == agency).map(Agency))
    }
}

/// Registering a resident.
#[derive(InputObject, Debug)]
pub struct RegisterResidentInput {
    /// The new resident's id (default: the idempotency key, or a new id).
    pub resident_id: Option<ID>,
    /// Full name.
    pub name: String,
    /// Kana reading.
    pub kana: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Address.
    pub address: Option<String>,
    /// Areas of support.
    pub support_areas: Vec<SupportArea>,
}

/// Changing a resident's details; absent fields stay as they are.
#[derive(InputObject, Debug)]
pub struct ChangeDetailsInput {
    /// New name.
    pub name: Option<String>,
    /// New kana.
    pub kana: Option<String>,
    /// New date of birth.
    pub birth_date: Option<NaiveDate>,
    /// New address.
    pub address: Option<String>,
    /// True to remove the address.
    #[graphql(default)]
    pub clear_address: bool,
    /// New support areas.
    pub support_areas: Option<Vec<SupportArea>>,
}

/// Granting a consent.
#[derive(InputObject, Debug)]
pub struct GrantConsentInput {
    /// The consent's id (default: the idempotency key, or a new id).
    pub consent_id: Option<ID>,
    /// Agencies information may go to.
    pub agency_ids: Vec<ID>,
    /// Information categories covered.
    pub categories: Vec<InfoCategory>,
    /// What for.
    pub purpose: String,
    /// How it was obtained.
    pub method: ConsentMethod,
    /// In force from (default now).
    pub valid_from: Option<DateTime<Utc>>,
    /// Lapses at (exclusive).
    pub valid_until: Option<DateTime<Utc>>,
    /// Reference to the signed document.
    pub document_ref: Option<String>,
}

/// Posting a note.
#[derive(InputObject, Debug)]
pub struct PostNoteInput {
    /// The note's id (default: the idempotency key, or a new id).
    pub note_id: Option<ID>,
    /// What kind of note.
    pub category: NoteCategory,
    /// Information categories it contains (consent must cover all of them).
    pub info_categories: Vec<InfoCategory>,
    /// The text.
    pub body: String,
    /// The time the note is about (default now).
    pub describes_at: Option<DateTime<Utc>>,
}

/// Making a referral.
#[derive(InputObject, Debug)]
pub struct MakeReferralInput {
    /// The referral's id (default: the idempotency key, or a new id).
    pub referral_id: Option<ID>,
    /// The receiving agency.
    pub to_agency_id: ID,
    /// Why.
    pub reason: String,
    /// What support is asked for.
    pub requested_support: Vec<SupportKind>,
    /// How urgent.
    pub urgency: Urgency,
    /// Answer due on.
    pub due_on: Option<NaiveDate>,
    /// Notes shared with the referral.
    #[graphql(default)]
    pub shared_note_ids: Vec<ID>,
}

/// Recording a support meeting.
#[derive(InputObject, Debug)]
pub struct RecordMeetingInput {
    /// The meeting's id (default: the idempotency key, or a new id).
    pub meeting_id: Option<ID>,
    /// Which kind of meeting.
    pub kind: MeetingKind,
    /// When it was held.
    pub held_at: DateTime<Utc>,
    /// Members who attended.
    pub attendee_ids: Vec<ID>,
    /// Agenda.
    pub agenda: String,
    /// Decisions.
    pub decisions: String,
    /// Next review date.
    pub next_review_on: Option<NaiveDate>,
}

/// One line of a support plan.
#[derive(InputObject, Debug)]
pub struct ResponsibilityInput {
    /// The responsible agency.
    pub agency_id: ID,
    /// The responsible member, if named.
    pub member_id: Option<ID>,
    /// The task.
    pub task: String,
}

/// Setting the support plan.
#[derive(InputObject, Debug)]
pub struct SetPlanInput {
    /// Goals.
    pub goals: Vec<String>,
    /// Who does what.
    pub responsibilities: Vec<ResponsibilityInput>,
    /// Next review date.
    pub review_on: Option<NaiveDate>,
}

/// Invoking break-glass.
#[derive(InputObject, Debug)]
pub struct BreakGlassInput {
    /// The grant's id (default: the idempotency key, or a new id).
    pub grant_id: Option<ID>,
    /// Why (protection of life or body), at least a sentence.
    pub justification: String,
    /// Information categories needed.
    pub categories: Vec<InfoCategory>,
    /// How long, in minutes (at most 24 hours).
    pub minutes: i32,
}

/// Enrolling a member.
#[derive(InputObject, Debug)]
pub struct EnrolMemberInput {
    /// The member's id (default: the idempotency key, or a new id).
    pub member_id: Option<ID>,
    /// Their agency.
    pub agency_id: ID,
    /// Name.
    pub name: String,
    /// Kana reading.
    pub kana: String,
    /// Profession.
    pub profession: Profession,
    /// Roles in Kasane.
    pub roles: Vec<Role>,
}

fn key(idempotency_key: Option<&str>) -> ApiResult<Option<Uuid>> {
    idempotency_key
        .map(|k| {
            Uuid::parse_str(k).map_err(|_| {
                ApiError::new(
                    codes::BAD_ID,
                    "idempotencyKey must be a UUID: generate one per command and reuse it only to retry",
                )
            })
        })
        .transpose()
}

/// The id of a created object: the given one, else the idempotency key (so a retry creates
/// the same object), else a new one.
fn new_id(given: Option<&ID>, key: Option<Uuid>, what: &str) -> ApiResult<Uuid> {
    match given {
        Some(g) => uuid_arg(g, what),
        None => Ok(key.unwrap_or_else(Uuid::now_v7)),
    }
}

fn ids<T>(list: &[ID], what: &str, wrap: impl Fn(Uuid) -> T) -> ApiResult<Vec<T>> {
    list.iter().map(|i| uuid_arg(i, what).map(&wrap)).collect()
}

async fn on_resident(
    ctx: &Context<'_>,
    resident_id: &ID,
    command: ResidentCommand,
    created: Option<Uuid>,
    expected_version: Option<u64>,
    key: Option<Uuid>,
) -> ApiResult<ResidentPayload> {
    let caller = caller(ctx)?;
    let resident = ResidentId(uuid_arg(resident_id, "residentId")?);
    let outcome = state(ctx)
        .service
        .resident(
            caller.member_id(),
            resident,
            command,
            caller.meta(expected_version, key),
        )
        .await?;
    observe(ctx, &outcome);
    Ok(ResidentPayload {
        version: outcome.version,
        replayed: outcome.replayed,
        events: outcome.events as u64,
        created_id: created.map(id),
        resident_id: resident,
    })
}

fn observe(ctx: &Context<'_>, outcome: &Outcome) {
    if outcome.events > 0 && !outcome.replayed {
        state(ctx)
            .metrics
            .append_events
            .observe(outcome.events as f64);
    }
}

#[Object]
impl Mutation {
    /// Registers a resident; the caller joins the care team as lead.
    async fn register_resident(
        &self,
        ctx: &Context<'_>,
        input: RegisterResidentInput,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let key = key(idempotency_key.as_deref())?;
        let resident = new_id(input.resident_id.as_ref(), key, "residentId")?;
        let command = ResidentCommand::Register {
            name: input.name,
            kana: input.kana,
            birth_date: input.birth_date,
            address: input.address,
            support_areas: input.support_areas,
        };
        on_resident(ctx, &id(resident), command, None, Some(0), key).await
    }

    /// Changes a resident's details.
    async fn change_resident_details(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        input: ChangeDetailsInput,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let address = match (input.clear_address, input.address) {
            (true, _) => Some(None),
            (false, Some(a)) => Some(Some(a)),
            (false, None) => None,
        };
        let command = ResidentCommand::ChangeDetails {
            name: input.name,
            kana: input.kana,
            birth_date: input.birth_date,
            address,
            support_areas: input.support_areas,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Links two residents as family (consent never transfers along the link).
    #[allow(clippy::too_many_arguments)]
    async fn link_household(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        other_resident_id: ID,
        relation: Relation,
        same_household: bool,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::LinkHousehold {
            other: ResidentId(uuid_arg(&other_resident_id, "otherResidentId")?),
            relation,
            same_household,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Removes a family link.
    async fn unlink_household(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        other_resident_id: ID,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::UnlinkHousehold {
            other: ResidentId(uuid_arg(&other_resident_id, "otherResidentId")?),
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Adds a member to the care team.
    async fn add_team_member(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        member_id: ID,
        team_role: TeamRole,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::AddTeamMember {
            member_id: MemberId(uuid_arg(&member_id, "memberId")?),
            team_role,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Removes a member from the care team.
    async fn remove_team_member(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        member_id: ID,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::RemoveTeamMember {
            member_id: MemberId(uuid_arg(&member_id, "memberId")?),
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Records a consent the resident gave.
    async fn grant_consent(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        input: GrantConsentInput,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let key = key(idempotency_key.as_deref())?;
        let consent = new_id(input.consent_id.as_ref(), key, "consentId")?;
        let command = ResidentCommand::GrantConsent {
            consent_id: ConsentId(consent),
            agencies: ids(&input.agency_ids, "agencyIds", AgencyId)?,
            categories: input.categories,
            purpose: input.purpose,
            method: input.method,
            valid_from: input.valid_from.unwrap_or_else(Utc::now),
            valid_until: input.valid_until,
            document_ref: input.document_ref,
        };
        on_resident(
            ctx,
            &resident_id,
            command,
            Some(consent),
            expected_version,
            key,
        )
        .await
    }

    /// Records that the resident withdrew a consent (effective now).
    async fn withdraw_consent(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        consent_id: ID,
        reason: Option<String>,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::WithdrawConsent {
            consent_id: ConsentId(uuid_arg(&consent_id, "consentId")?),
            reason,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Posts a note to the resident's timeline.
    async fn post_note(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        input: PostNoteInput,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let key = key(idempotency_key.as_deref())?;
        let note = new_id(input.note_id.as_ref(), key, "noteId")?;
        let command = ResidentCommand::PostNote {
            note_id: NoteId(note),
            category: input.category,
            info_categories: input.info_categories,
            body: input.body,
            describes_at: input.describes_at.unwrap_or_else(Utc::now),
            attachments: Vec::<AttachmentMeta>::new(),
        };
        on_resident(
            ctx,
            &resident_id,
            command,
            Some(note),
            expected_version,
            key,
        )
        .await
    }

    /// Corrects a note the caller wrote (the earlier text stays in the history).
    #[allow(clippy::too_many_arguments)]
    async fn correct_note(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        note_id: ID,
        body: String,
        reason: String,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::CorrectNote {
            note_id: NoteId(uuid_arg(&note_id, "noteId")?),
            body,
            reason,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Redacts a note (hidden from everyone but auditors from now on).
    async fn redact_note(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        note_id: ID,
        reason: String,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::RedactNote {
            note_id: NoteId(uuid_arg(&note_id, "noteId")?),
            reason,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Acknowledges that the caller has read a note.
    async fn acknowledge_note(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        note_id: ID,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::AcknowledgeNote {
            note_id: NoteId(uuid_arg(&note_id, "noteId")?),
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Refers the resident to another agency.
    async fn make_referral(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        input: MakeReferralInput,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let key = key(idempotency_key.as_deref())?;
        let referral = new_id(input.referral_id.as_ref(), key, "referralId")?;
        let command = ResidentCommand::MakeReferral {
            referral_id: ReferralId(referral),
            to_agency: AgencyId(uuid_arg(&input.to_agency_id, "toAgencyId")?),
            reason: input.reason,
            requested_support: input.requested_support,
            urgency: input.urgency,
            due_on: input.due_on,
            shared_notes: ids(&input.shared_note_ids, "sharedNoteIds", NoteId)?,
        };
        on_resident(
            ctx,
            &resident_id,
            command,
            Some(referral),
            expected_version,
            key,
        )
        .await
    }

    /// Accepts a referral sent to the caller's agency.
    #[allow(clippy::too_many_arguments)]
    async fn accept_referral(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        referral_id: ID,
        comment: Option<String>,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::AcceptReferral {
            referral_id: ReferralId(uuid_arg(&referral_id, "referralId")?),
            comment,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Declines a referral sent to the caller's agency.
    async fn decline_referral(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        referral_id: ID,
        reason: String,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::DeclineReferral {
            referral_id: ReferralId(uuid_arg(&referral_id, "referralId")?),
            reason,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Withdraws a referral the caller's agency made.
    async fn withdraw_referral(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        referral_id: ID,
        reason: String,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::WithdrawReferral {
            referral_id: ReferralId(uuid_arg(&referral_id, "referralId")?),
            reason,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Completes an accepted referral.
    async fn complete_referral(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        referral_id: ID,
        outcome: String,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::CompleteReferral {
            referral_id: ReferralId(uuid_arg(&referral_id, "referralId")?),
            outcome,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Records a support meeting.
    async fn record_meeting(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        input: RecordMeetingInput,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let key = key(idempotency_key.as_deref())?;
        let meeting = new_id(input.meeting_id.as_ref(), key, "meetingId")?;
        let command = ResidentCommand::RecordMeeting {
            meeting_id: MeetingId(meeting),
            kind: input.kind,
            held_at: input.held_at,
            attendees: ids(&input.attendee_ids, "attendeeIds", MemberId)?,
            agenda: input.agenda,
            decisions: input.decisions,
            next_review_on: input.next_review_on,
        };
        on_resident(
            ctx,
            &resident_id,
            command,
            Some(meeting),
            expected_version,
            key,
        )
        .await
    }

    /// Sets (replaces) the support plan.
    async fn set_plan(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        input: SetPlanInput,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let responsibilities = input
            .responsibilities
            .iter()
            .map(|r| {
                Ok((
                    AgencyId(uuid_arg(&r.agency_id, "agencyId")?),
                    r.member_id
                        .as_ref()
                        .map(|m| uuid_arg(m, "memberId").map(MemberId))
                        .transpose()?,
                    r.task.clone(),
                ))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let command = ResidentCommand::SetPlan {
            goals: input.goals,
            responsibilities,
            review_on: input.review_on,
        };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Closes the case.
    async fn close_case(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        reason: String,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::CloseCase { reason };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Reopens a closed case.
    async fn reopen_case(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        reason: String,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let command = ResidentCommand::ReopenCase { reason };
        let key = key(idempotency_key.as_deref())?;
        on_resident(ctx, &resident_id, command, None, expected_version, key).await
    }

    /// Invokes break-glass: reads without consent for a short window, recorded for audit.
    async fn invoke_break_glass(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        input: BreakGlassInput,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ResidentPayload> {
        let key = key(idempotency_key.as_deref())?;
        let grant = new_id(input.grant_id.as_ref(), key, "grantId")?;
        let command = ResidentCommand::InvokeBreakGlass {
            grant_id: BreakGlassId(grant),
            justification: input.justification,
            categories: input.categories,
            duration: Duration::minutes(i64::from(input.minutes)),
        };
        on_resident(
            ctx,
            &resident_id,
            command,
            Some(grant),
            expected_version,
            key,
        )
        .await
    }

    /// Enrols a member in an agency (agency administrators).
    async fn enrol_member(
        &self,
        ctx: &Context<'_>,
        input: EnrolMemberInput,
        idempotency_key: Option<String>,
    ) -> ApiResult<MemberPayload> {
        let key = key(idempotency_key.as_deref())?;
        let member = MemberId(new_id(input.member_id.as_ref(), key, "memberId")?);
        let command = MemberCommand::Enrol {
            member_id: member,
            agency_id: AgencyId(uuid_arg(&input.agency_id, "agencyId")?),
            name: input.name,
            kana: input.kana,
            profession: input.profession,
            roles: input.roles,
        };
        member_command(ctx, member, command, Some(0), key).await
    }

    /// Suspends a member: their tokens stop working at once.
    async fn suspend_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        reason: String,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<MemberPayload> {
        let member = MemberId(uuid_arg(&member_id, "memberId")?);
        let command = MemberCommand::Suspend {
            member_id: member,
            reason,
        };
        let key = key(idempotency_key.as_deref())?;
        member_command(ctx, member, command, expected_version, key).await
    }

    /// Reinstates a suspended member.
    async fn reinstate_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        expected_version: Option<u64>,
        idempotency_key: Option<String>,
    ) -> ApiResult<MemberPayload> {
        let member = MemberId(uuid_arg(&member_id, "memberId")?);
        let command = MemberCommand::Reinstate { member_id: member };
        let key = key(idempotency_key.as_deref())?;
        member_command(ctx, member, command, expected_version, key).await
    }

    /// Registers an agency (center administrators).
    async fn register_agency(
        &self,
        ctx: &Context<'_>,
        agency_id: Option<ID>,
        name: String,
        kind: AgencyKind,
        idempotency_key: Option<String>,
    ) -> ApiResult<AgencyPayload> {
        let caller = caller(ctx)?;
        let key = key(idempotency_key.as_deref())?;
        let agency = AgencyId(new_id(agency_id.as_ref(), key, "agencyId")?);
        let outcome = state(ctx)
            .service
            .agency(
                Some(caller.member_id()),
                agency,
                AgencyCommand::Register {
                    agency_id: agency,
                    name,
                    kind,
                },
                caller.meta(Some(0), key),
            )
            .await?;
        observe(ctx, &outcome);
        Ok(AgencyPayload {
            version: outcome.version,
            replayed: outcome.replayed,
            agency_id: agency,
        })
    }
}

async fn member_command(
    ctx: &Context<'_>,
    member: MemberId,
    command: MemberCommand,
    expected_version: Option<u64>,
    key: Option<Uuid>,
) -> ApiResult<MemberPayload> {
    let caller = caller(ctx)?;
    let outcome = state(ctx)
        .service
        .member(
            Some(caller.member_id()),
            member,
            command,
            caller.meta(expected_version, key),
        )
        .await?;
    observe(ctx, &outcome);
    Ok(MemberPayload {
        version: outcome.version,
        replayed: outcome.replayed,
        member_id: member,
    })
}
