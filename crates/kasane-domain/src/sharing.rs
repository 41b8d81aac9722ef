//! The sharing rule: may viewer M see note N of resident R at instant T, and on which basis?
//!
//! This is the only place the rule lives. Live queries ask it with T = now; audit replay asks it
//! with a past T over the case file as it was known then. It returns the basis, because the
//! basis is what audit reports, or the refusal with its code.
//!
//! Order of checks: the viewer must be active; redacted notes are refused (auditors excepted);
//! the viewer must be on the care team at T (auditors off the team get metadata only); then the
//! first basis that holds wins, in this order: own agency, consent, statutory support meeting,
//! break-glass.

use crate::case_file::{CaseFile, NoteState};
use crate::error::ErrorCode;
use crate::events::Basis;
use crate::ids::{AgencyId, MemberId};
use crate::vocab::{InfoCategory, MeetingKind, Role};
use chrono::{DateTime, Utc};

/// What the rule needs to know about one note; read models that keep notes in tables build
/// it from their rows, so the rule never needs the whole note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoteFacts<'a> {
    /// Business time of the post.
    pub posted_at: DateTime<Utc>,
    /// The agency of the author.
    pub author_agency: AgencyId,
    /// The information categories the note contains.
    pub info_categories: &'a [InfoCategory],
    /// Business time of the redaction, if the note was redacted (as far as is known).
    pub redacted_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a NoteState> for NoteFacts<'a> {
    fn from(note: &'a NoteState) -> Self {
        NoteFacts {
            posted_at: note.posted_at,
            author_agency: note.posted.author_agency,
            info_categories: &note.posted.info_categories,
            redacted_at: note.redaction.as_ref().map(|r| r.at),
        }
    }
}

/// Who is looking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub member_id: MemberId,
    pub agency_id: AgencyId,
    pub roles: Vec<Role>,
    /// False while the member is suspended.
    pub active: bool,
}

impl Viewer {
    fn is_auditor(&self) -> bool {
        self.roles.contains(&Role::Auditor)
    }
}

impl From<&crate::context::Actor> for Viewer {
    fn from(actor: &crate::context::Actor) -> Self {
        Viewer {
            member_id: actor.member.member_id,
            agency_id: actor.member.agency_id,
            roles: actor.member.roles.clone(),
            active: actor.member.active,
        }
    }
}

/// Why a viewer may not see something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The viewer's membership is suspended.
    MemberInactive,
    /// The viewer is not on the resident's care team at T.
    NotOnCareTeam,
    /// The note did not exist yet at T.
    NotYetWritten,
    /// The note was redacted at or before T.
    Redacted,
    /// On the team, but no consent, meeting or break-glass covers this note.
    NoBasis,
}

impl Refusal {
    /// The stable code a client sees.
    pub fn code(self) -> ErrorCode {
        match self {
            Refusal::MemberInactive => ErrorCode::MemberInactive,
            Refusal::NotOnCareTeam => ErrorCode::NotOnCareTeam,
            Refusal::NotYetWritten => ErrorCode::NoteNotFound,
            Refusal::Redacted => ErrorCode::NoteRedacted,
            Refusal::NoBasis => ErrorCode::NoteNotVisible,
        }
    }
}

/// May `viewer` see the case file's non-note details (name, team, consents) at `at`?
pub fn case_basis(case: &CaseFile, viewer: &Viewer, at: DateTime<Utc>) -> Result<Basis, Refusal> {
    if !viewer.active {
        return Err(Refusal::MemberInactive);
    }
    if case.team_spell_at(viewer.member_id, at).is_some() {
        return Ok(Basis::CareTeam);
    }
    if viewer.is_auditor() {
        return Ok(Basis::AuditorMetadata);
    }
    Err(Refusal::NotOnCareTeam)
}

/// The sharing rule for one note: the basis on which `viewer` may see it at `at`, or why not.
pub fn note_basis<'a>(
    case: &CaseFile,
    viewer: &Viewer,
    note: impl Into<NoteFacts<'a>>,
    at: DateTime<Utc>,
) -> Result<Basis, Refusal> {
    let note: NoteFacts<'a> = note.into();
    if !viewer.active {
        return Err(Refusal::MemberInactive);
    }
    if note.posted_at > at {
        return Err(Refusal::NotYetWritten);
    }
    let on_team = case.team_spell_at(viewer.member_id, at).is_some();
    if !on_team {
        return if viewer.is_auditor() {
            Ok(Basis::AuditorMetadata)
        } else {
            Err(Refusal::NotOnCareTeam)
        };
    }
    if note.redacted_at.is_some_and(|r| r <= at) {
        return if viewer.is_auditor() {
            Ok(Basis::AuditorMetadata)
        } else {
            Err(Refusal::Redacted)
        };
    }
    if note.author_agency == viewer.agency_id {
        return Ok(Basis::OwnAgency);
    }
    if let Some(consent) = case.consents.values().find(|c| {
        c.active_at(at)
            && c.grant.agencies.contains(&viewer.agency_id)
            && note
                .info_categories
                .iter()
                .all(|cat| c.grant.categories.contains(cat))
    }) {
        return Ok(Basis::Consent {
            consent_id: consent.grant.consent_id,
        });
    }
    if let Some(meeting_id) = statutory_meeting_covering(case, viewer.agency_id, &note, at) {
        return Ok(Basis::SupportMeeting { meeting_id });
    }
    if let Some(grant) = case.break_glass.iter().find(|g| {
        g.member_id == viewer.member_id
            && g.from <= at
            && at < g.expires_at
            && note
                .info_categories
                .iter()
                .all(|cat| g.categories.contains(cat))
    }) {
        return Ok(Basis::BreakGlass {
            grant_id: grant.grant_id,
        });
    }
    Err(Refusal::NoBasis)
}

/// The statutory 支援会議 basis, exactly:
/// - only meetings of kind `Statutory` count (a 重層的支援会議 or case conference never does);
/// - a meeting is open from its `held_at` until the case is next closed (a reopened case needs
///   a new meeting);
/// - its member agencies are the agencies of its attendees;
/// - it covers a note when both the viewer's agency and the note's author agency are members of
///   the same open meeting: what members bring to the meeting is shared among members only.
fn statutory_meeting_covering(
    case: &CaseFile,
    viewer_agency: AgencyId,
    note: &NoteFacts<'_>,
    at: DateTime<Utc>,
) -> Option<crate::ids::MeetingId> {
    case.meetings
        .values()
        .filter(|m| m.kind == MeetingKind::Statutory && m.held_at <= at)
        .filter(|m| !case.closures.iter().any(|c| m.held_at < *c && *c <= at))
        .find(|m| {
            let member = |a: AgencyId| m.attendees.iter().any(|x| x.agency_id == a);
            member(viewer_agency) && member(note.author_agency)
        })
        .map(|m| m.meeting_id)
}
