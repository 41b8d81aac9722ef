//! The state of a resident's case file, folded from the `resident-{id}` stream.
//!
//! The state keeps validity intervals (team spells, consent periods, meeting and break-glass
//! windows) with their business times, so the sharing rule can be asked about any instant.

use crate::events::*;
use crate::ids::*;
use crate::personal::Personal;
use crate::vocab::*;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

/// A resident's case file as known after some prefix of its stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaseFile {
    /// Set by `ResidentRegistered`; `None` means the stream is empty.
    pub registration: Option<Registration>,
    pub support_areas: Vec<SupportArea>,
    pub household: BTreeMap<ResidentId, HouseholdLink>,
    /// Every spell of team membership, open or ended, in order.
    pub team: Vec<TeamSpell>,
    pub consents: BTreeMap<ConsentId, ConsentState>,
    pub notes: BTreeMap<NoteId, NoteState>,
    pub referrals: BTreeMap<ReferralId, ReferralState>,
    pub meetings: BTreeMap<MeetingId, SupportMeetingRecorded>,
    pub plan: Option<SupportPlanSet>,
    pub status: CaseStatus,
    /// Instants at which the case was closed (ends statutory meeting bases).
    pub closures: Vec<DateTime<Utc>>,
    pub break_glass: Vec<BreakGlassGrant>,
    pub erased: bool,
}

/// Identity details of the resident (personal, sealed in the store).
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub resident_id: ResidentId,
    pub name: Personal<String>,
    pub kana: Personal<String>,
    pub birth_date: Personal<NaiveDate>,
    pub address: Personal<Option<String>>,
    pub registered_at: DateTime<Utc>,
    pub registered_by_agency: AgencyId,
}

/// Whether the case is being worked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CaseStatus {
    #[default]
    Open,
    Closed,
}

/// A family link from this resident to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HouseholdLink {
    pub relation: Relation,
    pub same_household: bool,
}

/// One interval during which a member was on the care team.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TeamSpell {
    pub member_id: MemberId,
    pub agency_id: AgencyId,
    pub team_role: TeamRole,
    pub from: DateTime<Utc>,
    /// Exclusive end; `None` while still on the team.
    pub until: Option<DateTime<Utc>>,
}

impl TeamSpell {
    /// True when the spell covers instant `at`.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && self.until.is_none_or(|u| at < u)
    }
}

/// A consent and, if it happened, its withdrawal.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsentState {
    pub grant: ConsentGranted,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl ConsentState {
    /// True when the consent is in force at `at`: started, not lapsed, not withdrawn.
    pub fn active_at(&self, at: DateTime<Utc>) -> bool {
        self.grant.valid_from <= at
            && self.grant.valid_until.is_none_or(|u| at < u)
            && self.withdrawn_at.is_none_or(|w| at < w)
    }
}

/// A note with its corrections, redaction and acknowledgements.
#[derive(Clone, Debug, PartialEq)]
pub struct NoteState {
    pub posted: NotePosted,
    pub posted_at: DateTime<Utc>,
    pub corrections: Vec<Correction>,
    pub redaction: Option<Redaction>,
    pub acknowledgements: BTreeMap<MemberId, DateTime<Utc>>,
}

impl NoteState {
    /// The body as last corrected.
    pub fn current_body(&self) -> &Personal<String> {
        self.corrections
            .last()
            .map(|c| &c.body)
            .unwrap_or(&self.posted.body)
    }
    /// True when the note was redacted at or before `at`.
    pub fn redacted_at(&self, at: DateTime<Utc>) -> bool {
        self.redaction.as_ref().is_some_and(|r| r.at <= at)
    }
}

/// One correction of a note.
#[derive(Clone, Debug, PartialEq)]
pub struct Correction {
    pub body: Personal<String>,
    pub reason: String,
    pub by: MemberId,
    pub at: DateTime<Utc>,
}

/// The redaction of a note.
#[derive(Clone, Debug, PartialEq)]
pub struct Redaction {
    pub reason: String,
    pub by: MemberId,
    pub at: DateTime<Utc>,
}

/// Where a referral is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferralStatus {
    Made,
    Accepted,
    Declined,
    Withdrawn,
    Completed,
}

/// A referral and its answers.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferralState {
    pub made: ReferralMade,
    pub made_at: DateTime<Utc>,
    pub status: ReferralStatus,
    /// When the receiver first answered (accepted or declined).
    pub answered_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// One break-glass window granted to one member.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakGlassGrant {
    pub grant_id: BreakGlassId,
    pub member_id: MemberId,
    pub agency_id: AgencyId,
    pub categories: Vec<InfoCategory>,
    pub from: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl CaseFile {
    /// Folds a whole stream of (event, occurred-at) pairs.
    pub fn fold<'a>(events: impl IntoIterator<Item = (&'a Event, DateTime<Utc>)>) -> Self {
        let mut state = CaseFile::default();
        for (event, at) in events {
            state.evolve(event, at);
        }
        state
    }

    /// True once `ResidentRegistered` was folded.
    pub fn is_registered(&self) -> bool {
        self.registration.is_some()
    }

    /// The team spell covering `member` at `at`, if any.
    pub fn team_spell_at(&self, member: MemberId, at: DateTime<Utc>) -> Option<&TeamSpell> {
        self.team
            .iter()
            .find(|s| s.member_id == member && s.covers(at))
    }

    /// The open (current) team spells.
    pub fn current_team(&self) -> impl Iterator<Item = &TeamSpell> {
        self.team.iter().filter(|s| s.until.is_none())
    }

    /// Applies one event that occurred at `occurred_at` (its business time).
    pub fn evolve(&mut self, event: &Event, occurred_at: DateTime<Utc>) {
        match event {
            Event::ResidentRegistered(e) => {
                self.registration = Some(Registration {
                    resident_id: e.resident_id,
                    name: e.name.clone(),
                    kana: e.kana.clone(),
                    birth_date: e.birth_date.clone(),
                    address: e.address.clone(),
                    registered_at: occurred_at,
                    registered_by_agency: e.registered_by_agency,
                });
                self.support_areas = e.support_areas.clone();
            }
            Event::ResidentDetailsChanged(e) => {
                if let Some(r) = self.registration.as_mut() {
                    if let Some(v) = &e.name {
                        r.name = v.clone();
                    }
                    if let Some(v) = &e.kana {
                        r.kana = v.clone();
                    }
                    if let Some(v) = &e.birth_date {
                        r.birth_date = v.clone();
                    }
                    if let Some(v) = &e.address {
                        r.address = v.clone();
                    }
                }
                if let Some(areas) = &e.support_areas {
                    self.support_areas = areas.clone();
                }
            }
            Event::HouseholdLinked(e) => {
                self.household.insert(
                    e.other_resident_id,
                    HouseholdLink {
                        relation: e.relation,
                        same_household: e.same_household,
                    },
                );
            }
            Event::HouseholdUnlinked(e) => {
                self.household.remove(&e.other_resident_id);
            }
            Event::CareTeamMemberAdded(e) => self.team.push(TeamSpell {
                member_id: e.member_id,
                agency_id: e.agency_id,
                team_role: e.team_role,
                from: occurred_at,
                until: None,
            }),
            Event::CareTeamMemberRemoved(e) => {
                for spell in self
                    .team
                    .iter_mut()
                    .filter(|s| s.member_id == e.member_id && s.until.is_none())
                {
                    spell.until = Some(occurred_at);
                }
            }
            Event::ConsentGranted(e) => {
                self.consents.insert(
                    e.consent_id,
                    ConsentState {
                        grant: e.clone(),
                        withdrawn_at: None,
                    },
                );
            }
            Event::ConsentWithdrawn(e) => {
                if let Some(c) = self.consents.get_mut(&e.consent_id) {
                    c.withdrawn_at = Some(e.effective_at);
                }
            }
            Event::NotePosted(e) => {
                self.notes.insert(
                    e.note_id,
                    NoteState {
                        posted: e.clone(),
                        posted_at: occurred_at,
                        corrections: Vec::new(),
                        redaction: None,
                        acknowledgements: BTreeMap::new(),
                    },
                );
            }
            Event::NoteCorrected(e) => {
                if let Some(n) = self.notes.get_mut(&e.note_id) {
                    n.corrections.push(Correction {
                        body: e.body.clone(),
                        reason: e.reason.clone(),
                        by: e.corrected_by,
                        at: occurred_at,
                    });
                }
            }
            Event::NoteRedacted(e) => {
                if let Some(n) = self.notes.get_mut(&e.note_id) {
                    n.redaction = Some(Redaction {
                        reason: e.reason.clone(),
                        by: e.redacted_by,
                        at: occurred_at,
                    });
                }
            }
            Event::NoteAcknowledged(e) => {
                if let Some(n) = self.notes.get_mut(&e.note_id) {
                    n.acknowledgements.entry(e.member_id).or_insert(occurred_at);
                }
            }
            Event::ReferralMade(e) => {
                self.referrals.insert(
                    e.referral_id,
                    ReferralState {
                        made: e.clone(),
                        made_at: occurred_at,
                        status: ReferralStatus::Made,
                        answered_at: None,
                        closed_at: None,
                    },
                );
            }
            Event::ReferralAccepted(e) => {
                self.referral_step(e.referral_id, ReferralStatus::Accepted, occurred_at)
            }
            Event::ReferralDeclined(e) => {
                self.referral_step(e.referral_id, ReferralStatus::Declined, occurred_at)
            }
            Event::ReferralWithdrawn(e) => {
                self.referral_step(e.referral_id, ReferralStatus::Withdrawn, occurred_at)
            }
            Event::ReferralCompleted(e) => {
                self.referral_step(e.referral_id, ReferralStatus::Completed, occurred_at)
            }
            Event::SupportMeetingRecorded(e) => {
                self.meetings.insert(e.meeting_id, e.clone());
            }
            Event::SupportPlanSet(e) => self.plan = Some(e.clone()),
            Event::CaseClosed(_) => {
                self.status = CaseStatus::Closed;
                self.closures.push(occurred_at);
            }
            Event::CaseReopened(_) => self.status = CaseStatus::Open,
            Event::BreakGlassInvoked(e) => self.break_glass.push(BreakGlassGrant {
                grant_id: e.grant_id,
                member_id: e.member_id,
                agency_id: e.agency_id,
                categories: e.categories.clone(),
                from: occurred_at,
                expires_at: e.expires_at,
            }),
            Event::ResidentErased(_) => self.erased = true,
            Event::AgencyRegistered(_)
            | Event::MemberEnrolled(_)
            | Event::MemberSuspended(_)
            | Event::MemberReinstated(_)
            | Event::AccessRecorded(_) => {}
        }
    }

    fn referral_step(&mut self, id: ReferralId, status: ReferralStatus, at: DateTime<Utc>) {
        if let Some(r) = self.referrals.get_mut(&id) {
            if matches!(status, ReferralStatus::Accepted | ReferralStatus::Declined) {
                r.answered_at.get_or_insert(at);
            }
            if !matches!(status, ReferralStatus::Accepted) {
                r.closed_at = Some(at);
            }
            r.status = status;
        }
    }
}
