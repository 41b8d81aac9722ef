//! Commands on a resident's case file and `decide`: the rules that accept or refuse them.
//! Every refusal has a code listed in docs/domain.md; nothing here reads a clock or does I/O.

use crate::case_file::{CaseFile, CaseStatus, NoteState, ReferralState, ReferralStatus};
use crate::context::Context;
use crate::error::{DomainError, ErrorCode, refuse};
use crate::events::*;
use crate::ids::*;
use crate::personal::Personal;
use crate::sharing::{self, Viewer};
use crate::vocab::*;
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Longest note body accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 20_000;
/// Longest break-glass window.
pub const MAX_BREAK_GLASS: Duration = Duration::hours(24);
/// Shortest break-glass justification, in characters.
pub const MIN_JUSTIFICATION_CHARS: usize = 10;

/// A command on one resident's case file (the stream `resident-{id}`).
#[derive(Clone, Debug)]
pub enum ResidentCommand {
    Register {
        name: String,
        kana: String,
        birth_date: NaiveDate,
        address: Option<String>,
        support_areas: Vec<SupportArea>,
    },
    ChangeDetails {
        name: Option<String>,
        kana: Option<String>,
        birth_date: Option<NaiveDate>,
        address: Option<Option<String>>,
        support_areas: Option<Vec<SupportArea>>,
    },
    LinkHousehold {
        other: ResidentId,
        relation: Relation,
        same_household: bool,
    },
    UnlinkHousehold {
        other: ResidentId,
    },
    AddTeamMember {
        member_id: MemberId,
        team_role: TeamRole,
    },
    RemoveTeamMember {
        member_id: MemberId,
    },
    GrantConsent {
        consent_id: ConsentId,
        agencies: Vec<AgencyId>,
        categories: Vec<InfoCategory>,
        purpose: String,
        method: ConsentMethod,
        valid_from: DateTime<Utc>,
        valid_until: Option<DateTime<Utc>>,
        document_ref: Option<String>,
    },
    WithdrawConsent {
        consent_id: ConsentId,
        reason: Option<String>,
    },
    PostNote {
        note_id: NoteId,
        category: NoteCategory,
        info_categories: Vec<InfoCategory>,
        body: String,
        describes_at: DateTime<Utc>,
        attachments: Vec<AttachmentMeta>,
    },
    CorrectNote {
        note_id: NoteId,
        body: String,
        reason: String,
    },
    RedactNote {
        note_id: NoteId,
        reason: String,
    },
    AcknowledgeNote {
        note_id: NoteId,
    },
    MakeReferral {
        referral_id: ReferralId,
        to_agency: AgencyId,
        reason: String,
        requested_support: Vec<SupportKind>,
        urgency: Urgency,
        due_on: Option<NaiveDate>,
        shared_notes: Vec<NoteId>,
    },
    AcceptReferral {
        referral_id: ReferralId,
        comment: Option<String>,
    },
    DeclineReferral {
        referral_id: ReferralId,
        reason: String,
    },
    WithdrawReferral {
        referral_id: ReferralId,
        reason: String,
    },
    CompleteReferral {
        referral_id: ReferralId,
        outcome: String,
    },
    RecordMeeting {
        meeting_id: MeetingId,
        kind: MeetingKind,
        held_at: DateTime<Utc>,
        attendees: Vec<MemberId>,
        agenda: String,
        decisions: String,
        next_review_on: Option<NaiveDate>,
    },
    SetPlan {
        goals: Vec<String>,
        responsibilities: Vec<(AgencyId, Option<MemberId>, String)>,
        review_on: Option<NaiveDate>,
    },
    CloseCase {
        reason: String,
    },
    ReopenCase {
        reason: String,
    },
    InvokeBreakGlass {
        grant_id: BreakGlassId,
        justification: String,
        categories: Vec<InfoCategory>,
        duration: Duration,
    },
    Erase {
        legal_basis: String,
    },
}

/// Decides a command against the case file of `resident`: the events to append, or a refusal.
pub fn decide(
    state: &CaseFile,
    resident: ResidentId,
    command: &ResidentCommand,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, DomainError> {
    use ResidentCommand as C;
    let actor = ctx.actor;
    if !actor.member.active {
        return refuse(
            ErrorCode::MemberInactive,
            "your membership is suspended: ask your agency administrator to reinstate you",
        );
    }
    if state.erased {
        return refuse(
            ErrorCode::ResidentErased,
            "this resident's data was erased: the case file accepts no more changes",
        );
    }
    if let C::Register { .. } = command {
        // falls through to the match below
    } else if !state.is_registered() {
        return refuse(
            ErrorCode::ResidentNotFound,
            format!(
                "resident {resident} is not registered: check the id or register the resident first"
            ),
        );
    }
    let me = actor.member_id();
    let r = resident;
    let now = ctx.now;

    let events: Vec<Event> = match command {
        C::Register {
            name,
            kana,
            birth_date,
            address,
            support_areas,
        } => {
            require_role(ctx, Role::Supporter, "register a resident")?;
            if state.is_registered() {
                return refuse(
                    ErrorCode::ResidentExists,
                    format!("resident {r} is already registered: open the existing case file"),
                );
            }
            require_text(name, "the resident's name")?;
            require_text(kana, "the resident's kana reading")?;
            if *birth_date > now.date_naive() {
                return Err(DomainError::invalid_input(
                    "the birth date is in the future: check the date",
                ));
            }
            vec![
                ResidentRegistered {
                    resident_id: r,
                    name: Personal::Known(name.trim().to_owned()),
                    kana: Personal::Known(kana.trim().to_owned()),
                    birth_date: Personal::Known(*birth_date),
                    address: Personal::Known(address.clone()),
                    support_areas: sorted(support_areas),
                    registered_by: me,
                    registered_by_agency: actor.agency_id(),
                }
                .into(),
                CareTeamMemberAdded {
                    resident_id: r,
                    member_id: me,
                    agency_id: actor.agency_id(),
                    team_role: TeamRole::Lead,
                }
                .into(),
            ]
        }
        C::ChangeDetails {
            name,
            kana,
            birth_date,
            address,
            support_areas,
        } => {
            require_team(state, ctx)?;
            if name.is_none()
                && kana.is_none()
                && birth_date.is_none()
                && address.is_none()
                && support_areas.is_none()
            {
                return Err(DomainError::invalid_input(
                    "nothing to change: give at least one detail",
                ));
            }
            if let Some(n) = name {
                require_text(n, "the resident's name")?;
            }
            if let Some(k) = kana {
                require_text(k, "the resident's kana reading")?;
            }
            vec![
                ResidentDetailsChanged {
                    resident_id: r,
                    name: name.as_ref().map(|v| Personal::Known(v.trim().to_owned())),
                    kana: kana.as_ref().map(|v| Personal::Known(v.trim().to_owned())),
                    birth_date: birth_date.map(Personal::Known),
                    address: address.clone().map(Personal::Known),
                    support_areas: support_areas.as_ref().map(|a| sorted(a)),
                }
                .into(),
            ]
        }
        C::LinkHousehold {
            other,
            relation,
            same_household,
        } => {
            require_open_team(state, ctx)?;
            if *other == r {
                return refuse(
                    ErrorCode::HouseholdSelfLink,
                    "a resident cannot be linked to themself: choose the family member's id",
                );
            }
            if state.household.contains_key(other) {
                return refuse(
                    ErrorCode::HouseholdLinkExists,
                    "these residents are already linked: unlink first to change the relation",
                );
            }
            vec![
                HouseholdLinked {
                    resident_id: r,
                    other_resident_id: *other,
                    relation: *relation,
                    same_household: *same_household,
                }
                .into(),
            ]
        }
        C::UnlinkHousehold { other } => {
            require_team(state, ctx)?;
            if !state.household.contains_key(other) {
                return refuse(
                    ErrorCode::HouseholdLinkNotFound,
                    "these residents are not linked: nothing to unlink",
                );
            }
            vec![
                HouseholdUnlinked {
                    resident_id: r,
                    other_resident_id: *other,
                }
                .into(),
            ]
        }
        C::AddTeamMember {
            member_id,
            team_role,
        } => {
            require_open_team(state, ctx)?;
            let member = ctx.directory.member(*member_id).ok_or_else(|| {
                DomainError::new(
                    ErrorCode::MemberNotFound,
                    format!("member {member_id} is not enrolled: check the id"),
                )
            })?;
            if !member.active {
                return refuse(
                    ErrorCode::MemberInactive,
                    "that member is suspended and cannot join a care team",
                );
            }
            if state.team_spell_at(*member_id, now).is_some() {
                return refuse(
                    ErrorCode::AlreadyOnCareTeam,
                    "that member is already on the care team",
                );
            }
            vec![
                CareTeamMemberAdded {
                    resident_id: r,
                    member_id: *member_id,
                    agency_id: member.agency_id,
                    team_role: *team_role,
                }
                .into(),
            ]
        }
        C::RemoveTeamMember { member_id } => {
            require_team(state, ctx)?;
            let Some(spell) = state.team_spell_at(*member_id, now) else {
                return refuse(
                    ErrorCode::NotOnCareTeam,
                    "that member is not on the care team: nothing to remove",
                );
            };
            let other_leads = state
                .current_team()
                .filter(|s| s.team_role == TeamRole::Lead && s.member_id != *member_id)
                .count();
            let others = state
                .current_team()
                .filter(|s| s.member_id != *member_id)
                .count();
            if spell.team_role == TeamRole::Lead && other_leads == 0 && others > 0 {
                return refuse(
                    ErrorCode::LastTeamLead,
                    "this is the team's only lead: add another lead before removing this one",
                );
            }
            vec![
                CareTeamMemberRemoved {
                    resident_id: r,
                    member_id: *member_id,
                }
                .into(),
            ]
        }
        C::GrantConsent {
            consent_id,
            agencies,
            categories,
            purpose,
            method,
            valid_from,
            valid_until,
            document_ref,
        } => {
            require_open_team(state, ctx)?;
            if state.consents.contains_key(consent_id) {
                return refuse(
                    ErrorCode::ConsentExists,
                    "a consent with this id is already recorded: use a new id",
                );
            }
            if agencies.is_empty() || categories.is_empty() {
                return refuse(
                    ErrorCode::ConsentScopeEmpty,
                    "a consent must name at least one agency and one information category",
                );
            }
            if valid_until.is_some_and(|u| u <= *valid_from) {
                return refuse(
                    ErrorCode::ConsentPeriodInvalid,
                    "the consent ends before it starts: check valid_from and valid_until",
                );
            }
            for agency in agencies {
                if ctx.directory.agency(*agency).is_none() {
                    return refuse(
                        ErrorCode::AgencyNotFound,
                        format!("agency {agency} is not registered: check the id"),
                    );
                }
            }
            require_text(purpose, "the purpose of the consent")?;
            vec![
                ConsentGranted {
                    resident_id: r,
                    consent_id: *consent_id,
                    agencies: sorted(agencies),
                    categories: sorted(categories),
                    purpose: purpose.trim().to_owned(),
                    method: *method,
                    obtained_by: me,
                    valid_from: *valid_from,
                    valid_until: *valid_until,
                    document_ref: document_ref.clone(),
                }
                .into(),
            ]
        }
        C::WithdrawConsent { consent_id, reason } => {
            require_team(state, ctx)?;
            let consent = state.consents.get(consent_id).ok_or_else(|| {
                DomainError::new(
                    ErrorCode::ConsentNotFound,
                    format!("consent {consent_id} is not recorded for this resident: check the id"),
                )
            })?;
            let in_force_or_pending =
                consent.withdrawn_at.is_none() && consent.grant.valid_until.is_none_or(|u| now < u);
            if !in_force_or_pending {
                return refuse(
                    ErrorCode::ConsentNotActive,
                    "this consent was already withdrawn or has lapsed: nothing to withdraw",
                );
            }
            vec![
                ConsentWithdrawn {
                    resident_id: r,
                    consent_id: *consent_id,
                    effective_at: now,
                    reason: reason.clone(),
                }
                .into(),
            ]
        }
        C::PostNote {
            note_id,
            category,
            info_categories,
            body,
            describes_at,
            attachments,
        } => {
            require_role(ctx, Role::Supporter, "post a note")?;
            require_open_team(state, ctx)?;
            if state.notes.contains_key(note_id) {
                return refuse(
                    ErrorCode::NoteExists,
                    "a note with this id is already posted: use a new id",
                );
            }
            check_body(body)?;
            if info_categories.is_empty() {
                return refuse(
                    ErrorCode::NoteCategoriesRequired,
                    "say which information categories the note contains (health, care, welfare, finance, family)",
                );
            }
            if *describes_at > now + Duration::hours(1) {
                return Err(DomainError::invalid_input(
                    "the note describes a time in the future: check describes_at",
                ));
            }
            vec![
                NotePosted {
                    resident_id: r,
                    note_id: *note_id,
                    author: me,
                    author_agency: actor.agency_id(),
                    category: *category,
                    info_categories: sorted(info_categories),
                    body: Personal::Known(body.clone()),
                    describes_at: *describes_at,
                    attachments: attachments.clone(),
                }
                .into(),
            ]
        }
        C::CorrectNote {
            note_id,
            body,
            reason,
        } => {
            require_open_team(state, ctx)?;
            let note = live_note(state, *note_id)?;
            if note.posted.author != me {
                return refuse(
                    ErrorCode::NotNoteAuthor,
                    "only the note's author can correct it: ask them, or post a new note",
                );
            }
            check_body(body)?;
            require_reason(reason)?;
            vec![
                NoteCorrected {
                    resident_id: r,
                    note_id: *note_id,
                    body: Personal::Known(body.clone()),
                    reason: reason.trim().to_owned(),
                    corrected_by: me,
                }
                .into(),
            ]
        }
        C::RedactNote { note_id, reason } => {
            let note = live_note(state, *note_id)?;
            let agency_admin_of_author = actor.member.has_role(Role::AgencyAdmin)
                && actor.agency_id() == note.posted.author_agency;
            if note.posted.author != me && !agency_admin_of_author {
                return refuse(
                    ErrorCode::NotNoteAuthor,
                    "only the author or an administrator of the author's agency can redact a note",
                );
            }
            require_reason(reason)?;
            vec![
                NoteRedacted {
                    resident_id: r,
                    note_id: *note_id,
                    reason: reason.trim().to_owned(),
                    redacted_by: me,
                }
                .into(),
            ]
        }
        C::AcknowledgeNote { note_id } => {
            let note = live_note(state, *note_id)?;
            if let Err(refusal) = sharing::note_basis(state, &Viewer::from(actor), note, now) {
                return refuse(
                    refusal.code(),
                    "you cannot see this note, so you cannot acknowledge it",
                );
            }
            if note.acknowledgements.contains_key(&me) {
                vec![] // acknowledging twice changes nothing
            } else {
                vec![
                    NoteAcknowledged {
                        resident_id: r,
                        note_id: *note_id,
                        member_id: me,
                        agency_id: actor.agency_id(),
                    }
                    .into(),
                ]
            }
        }
        C::MakeReferral {
            referral_id,
            to_agency,
            reason,
            requested_support,
            urgency,
            due_on,
            shared_notes,
        } => {
            require_open_team(state, ctx)?;
            if state.referrals.contains_key(referral_id) {
                return refuse(
                    ErrorCode::ReferralExists,
                    "a referral with this id already exists: use a new id",
                );
            }
            if *to_agency == actor.agency_id() {
                return refuse(
                    ErrorCode::ReferralSameAgency,
                    "a referral goes to another agency: choose the agency you are asking",
                );
            }
            if ctx.directory.agency(*to_agency).is_none() {
                return refuse(
                    ErrorCode::AgencyNotFound,
                    format!("agency {to_agency} is not registered: check the id"),
                );
            }
            require_reason(reason)?;
            if requested_support.is_empty() {
                return Err(DomainError::invalid_input(
                    "say what support is requested (e.g. nursing, housing, social_contact)",
                ));
            }
            for note in shared_notes {
                live_note(state, *note)?;
            }
            vec![
                ReferralMade {
                    resident_id: r,
                    referral_id: *referral_id,
                    from_agency: actor.agency_id(),
                    to_agency: *to_agency,
                    made_by: me,
                    reason: Personal::Known(reason.trim().to_owned()),
                    requested_support: sorted(requested_support),
                    urgency: *urgency,
                    due_on: *due_on,
                    shared_notes: shared_notes.clone(),
                }
                .into(),
            ]
        }
        C::AcceptReferral {
            referral_id,
            comment,
        } => {
            open_referral_for_recipient(state, *referral_id, ctx)?;
            vec![
                ReferralAccepted {
                    resident_id: r,
                    referral_id: *referral_id,
                    accepted_by: me,
                    comment: comment.clone(),
                }
                .into(),
            ]
        }
        C::DeclineReferral {
            referral_id,
            reason,
        } => {
            open_referral_for_recipient(state, *referral_id, ctx)?;
            require_reason(reason)?;
            vec![
                ReferralDeclined {
                    resident_id: r,
                    referral_id: *referral_id,
                    declined_by: me,
                    reason: reason.trim().to_owned(),
                }
                .into(),
            ]
        }
        C::WithdrawReferral {
            referral_id,
            reason,
        } => {
            let referral = find_referral(state, *referral_id)?;
            if referral.made.from_agency != actor.agency_id() {
                return refuse(
                    ErrorCode::NotReferralSender,
                    "only the sending agency can withdraw a referral",
                );
            }
            if referral.status != ReferralStatus::Made {
                return refuse(
                    ErrorCode::ReferralNotOpen,
                    "this referral was already answered or closed: it can no longer be withdrawn",
                );
            }
            require_reason(reason)?;
            vec![
                ReferralWithdrawn {
                    resident_id: r,
                    referral_id: *referral_id,
                    withdrawn_by: me,
                    reason: reason.trim().to_owned(),
                }
                .into(),
            ]
        }
        C::CompleteReferral {
            referral_id,
            outcome,
        } => {
            let referral = find_referral(state, *referral_id)?;
            if referral.made.to_agency != actor.agency_id() {
                return refuse(
                    ErrorCode::NotReferralRecipient,
                    "only the receiving agency can complete a referral",
                );
            }
            if referral.status != ReferralStatus::Accepted {
                return refuse(
                    ErrorCode::ReferralNotAccepted,
                    "only an accepted referral can be completed: accept it first",
                );
            }
            require_text(outcome, "the outcome")?;
            vec![
                ReferralCompleted {
                    resident_id: r,
                    referral_id: *referral_id,
                    completed_by: me,
                    outcome: Personal::Known(outcome.trim().to_owned()),
                }
                .into(),
            ]
        }
        C::RecordMeeting {
            meeting_id,
            kind,
            held_at,
            attendees,
            agenda,
            decisions,
            next_review_on,
        } => {
            require_open_team(state, ctx)?;
            if state.meetings.contains_key(meeting_id) {
                return refuse(
                    ErrorCode::MeetingExists,
                    "a meeting with this id is already recorded: use a new id",
                );
            }
            if attendees.is_empty() {
                return refuse(
                    ErrorCode::MeetingNoAttendees,
                    "list who attended the meeting",
                );
            }
            if *kind == MeetingKind::Statutory && actor.agency.kind != AgencyKind::MunicipalSection
            {
                return refuse(
                    ErrorCode::StatutoryMeetingNotMunicipal,
                    "a statutory support meeting (支援会議) is convened by the municipality: ask a municipal member to record it, or record it as a case conference",
                );
            }
            let mut resolved = Vec::with_capacity(attendees.len());
            for m in attendees {
                let member = ctx.directory.member(*m).ok_or_else(|| {
                    DomainError::new(
                        ErrorCode::MemberNotFound,
                        format!("attendee {m} is not enrolled: check the id"),
                    )
                })?;
                resolved.push(Attendee {
                    member_id: *m,
                    agency_id: member.agency_id,
                });
            }
            vec![
                SupportMeetingRecorded {
                    resident_id: r,
                    meeting_id: *meeting_id,
                    kind: *kind,
                    held_at: *held_at,
                    convened_by: actor.agency_id(),
                    attendees: resolved,
                    agenda: Personal::Known(agenda.clone()),
                    decisions: Personal::Known(decisions.clone()),
                    next_review_on: *next_review_on,
                }
                .into(),
            ]
        }
        C::SetPlan {
            goals,
            responsibilities,
            review_on,
        } => {
            require_open_team(state, ctx)?;
            let goals: Vec<String> = goals
                .iter()
                .map(|g| g.trim().to_owned())
                .filter(|g| !g.is_empty())
                .collect();
            if goals.is_empty() {
                return refuse(
                    ErrorCode::PlanGoalsRequired,
                    "a support plan needs at least one goal",
                );
            }
            vec![
                SupportPlanSet {
                    resident_id: r,
                    goals: Personal::Known(goals),
                    responsibilities: responsibilities
                        .iter()
                        .map(|(agency_id, member_id, task)| Responsibility {
                            agency_id: *agency_id,
                            member_id: *member_id,
                            task: Personal::Known(task.clone()),
                        })
                        .collect(),
                    review_on: *review_on,
                    set_by: me,
                }
                .into(),
            ]
        }
        C::CloseCase { reason } => {
            require_team(state, ctx)?;
            if state.status == CaseStatus::Closed {
                return refuse(ErrorCode::CaseClosed, "the case is already closed");
            }
            require_reason(reason)?;
            vec![
                CaseClosed {
                    resident_id: r,
                    reason: reason.trim().to_owned(),
                    closed_by: me,
                }
                .into(),
            ]
        }
        C::ReopenCase { reason } => {
            require_team(state, ctx)?;
            if state.status == CaseStatus::Open {
                return refuse(ErrorCode::CaseOpen, "the case is already open");
            }
            require_reason(reason)?;
            vec![
                CaseReopened {
                    resident_id: r,
                    reason: reason.trim().to_owned(),
                    reopened_by: me,
                }
                .into(),
            ]
        }
        C::InvokeBreakGlass {
            grant_id,
            justification,
            categories,
            duration,
        } => {
            require_team(state, ctx)?;
            if justification.trim().chars().count() < MIN_JUSTIFICATION_CHARS {
                return refuse(
                    ErrorCode::BreakGlassJustificationRequired,
                    format!(
                        "break-glass needs a justification of at least {MIN_JUSTIFICATION_CHARS} characters: say whose life or body is at risk and why consent cannot be obtained"
                    ),
                );
            }
            if *duration <= Duration::zero() || *duration > MAX_BREAK_GLASS {
                return refuse(
                    ErrorCode::BreakGlassDurationInvalid,
                    "break-glass lasts more than zero and at most 24 hours: invoke it again if the emergency goes on",
                );
            }
            if categories.is_empty() {
                return Err(DomainError::invalid_input(
                    "name the information categories the emergency read needs",
                ));
            }
            vec![
                BreakGlassInvoked {
                    resident_id: r,
                    grant_id: *grant_id,
                    member_id: me,
                    agency_id: actor.agency_id(),
                    justification: Personal::Known(justification.trim().to_owned()),
                    categories: sorted(categories),
                    expires_at: now + *duration,
                }
                .into(),
            ]
        }
        C::Erase { legal_basis } => {
            require_role(ctx, Role::CenterAdmin, "erase a resident's data")?;
            require_reason(legal_basis)?;
            vec![
                ResidentErased {
                    resident_id: r,
                    legal_basis: legal_basis.trim().to_owned(),
                    erased_by: me,
                }
                .into(),
            ]
        }
    };
    Ok(events)
}

fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort();
    v.dedup();
    v
}

fn require_text(value: &str, what: &str) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::invalid_input(format!(
            "{what} must not be empty"
        )));
    }
    Ok(())
}

fn require_reason(reason: &str) -> Result<(), DomainError> {
    if reason.trim().is_empty() {
        return refuse(ErrorCode::ReasonRequired, "give a reason");
    }
    Ok(())
}

fn require_role(ctx: &Context<'_>, role: Role, action: &str) -> Result<(), DomainError> {
    if ctx.actor.member.has_role(role) {
        Ok(())
    } else {
        refuse(
            ErrorCode::RoleRequired,
            format!("to {action} you need the {} role", role.as_str()),
        )
    }
}

fn require_team(state: &CaseFile, ctx: &Context<'_>) -> Result<(), DomainError> {
    if state
        .team_spell_at(ctx.actor.member_id(), ctx.now)
        .is_some()
    {
        Ok(())
    } else {
        refuse(
            ErrorCode::NotOnCareTeam,
            "you are not on this resident's care team: ask the team lead to add you",
        )
    }
}

fn require_open_team(state: &CaseFile, ctx: &Context<'_>) -> Result<(), DomainError> {
    require_team(state, ctx)?;
    if state.status == CaseStatus::Closed {
        return refuse(
            ErrorCode::CaseClosed,
            "the case is closed: reopen it before changing it",
        );
    }
    Ok(())
}

fn check_body(body: &str) -> Result<(), DomainError> {
    if body.trim().is_empty() {
        return refuse(
            ErrorCode::NoteBodyEmpty,
            "write something in the note's body",
        );
    }
    if body.chars().count() > MAX_NOTE_CHARS {
        return refuse(
            ErrorCode::NoteTooLong,
            format!("a note holds at most {MAX_NOTE_CHARS} characters: split it or attach a file"),
        );
    }
    Ok(())
}

fn live_note(state: &CaseFile, id: NoteId) -> Result<&NoteState, DomainError> {
    let note = state.notes.get(&id).ok_or_else(|| {
        DomainError::new(
            ErrorCode::NoteNotFound,
            format!("note {id} is not in this case file: check the id"),
        )
    })?;
    if note.redaction.is_some() {
        return refuse(ErrorCode::NoteRedacted, "this note was redacted");
    }
    Ok(note)
}

fn find_referral(state: &CaseFile, id: ReferralId) -> Result<&ReferralState, DomainError> {
    state.referrals.get(&id).ok_or_else(|| {
        DomainError::new(
            ErrorCode::ReferralNotFound,
            format!("referral {id} is not in this case file: check the id"),
        )
    })
}

fn open_referral_for_recipient<'s>(
    state: &'s CaseFile,
    id: ReferralId,
    ctx: &Context<'_>,
) -> Result<&'s ReferralState, DomainError> {
    let referral = find_referral(state, id)?;
    if referral.made.to_agency != ctx.actor.agency_id() {
        return refuse(
            ErrorCode::NotReferralRecipient,
            "only the receiving agency can answer a referral",
        );
    }
    if referral.status != ReferralStatus::Made {
        return refuse(
            ErrorCode::ReferralNotOpen,
            "this referral was already answered, withdrawn or completed",
        );
    }
    Ok(referral)
}
