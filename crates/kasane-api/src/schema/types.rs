//! Small GraphQL types that mirror read-model rows (no personal data of residents here).

use async_graphql::{Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use kasane_domain::Basis;
use kasane_domain::vocab::{AgencyKind, InfoCategory, Profession, Role, TeamRole};
use kasane_projections::care_team::TeamSpellView;
use kasane_projections::consents::ConsentStatus as ProjConsentStatus;
use kasane_projections::directory::{AgencyRecord, MemberRecord};
use kasane_projections::referrals::ReferralStatus as ProjReferralStatus;
use kasane_projections::search::ResidentStatus as ProjResidentStatus;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, codes};

/// Parses a GraphQL `ID` that must be a UUID; `what` names it in the error.
pub fn uuid_arg(id: &ID, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| {
        ApiError::new(
            codes::BAD_ID,
            format!(
                "{what} {:?} is not an id: pass the UUID Kasane returned",
                id.as_str()
            ),
        )
    })
}

/// A UUID as a GraphQL `ID`.
pub fn id(u: Uuid) -> ID {
    ID(u.to_string())
}

/// Why the viewer may see something: what the sharing rule answered.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum BasisKind {
    /// Written by the viewer's own agency.
    OwnAgency,
    /// A consent covers the viewer's agency and the categories.
    Consent,
    /// An open statutory support meeting includes the viewer's agency.
    SupportMeeting,
    /// The viewer invoked break-glass.
    BreakGlass,
    /// The viewer is an auditor: metadata only.
    AuditorMetadata,
    /// The viewer is on the care team (details other than notes).
    CareTeam,
}

/// The basis of a read, with the consent, meeting or grant it rests on.
#[derive(SimpleObject, Clone, Debug)]
pub struct BasisView {
    /// Which rule allowed it.
    pub kind: BasisKind,
    /// The consent, for `CONSENT`.
    pub consent_id: Option<ID>,
    /// The meeting, for `SUPPORT_MEETING`.
    pub meeting_id: Option<ID>,
    /// The break-glass grant, for `BREAK_GLASS`.
    pub grant_id: Option<ID>,
}

impl From<Basis> for BasisView {
    fn from(b: Basis) -> Self {
        let none = |kind| BasisView {
            kind,
            consent_id: None,
            meeting_id: None,
            grant_id: None,
        };
        match b {
            Basis::OwnAgency => none(BasisKind::OwnAgency),
            Basis::AuditorMetadata => none(BasisKind::AuditorMetadata),
            Basis::CareTeam => none(BasisKind::CareTeam),
            Basis::Consent { consent_id } => BasisView {
                consent_id: Some(id(consent_id.0)),
                ..none(BasisKind::Consent)
            },
            Basis::SupportMeeting { meeting_id } => BasisView {
                meeting_id: Some(id(meeting_id.0)),
                ..none(BasisKind::SupportMeeting)
            },
            Basis::BreakGlass { grant_id } => BasisView {
                grant_id: Some(id(grant_id.0)),
                ..none(BasisKind::BreakGlass)
            },
        }
    }
}

/// Where a consent stands at the queried instant.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "ProjConsentStatus")]
pub enum ConsentStatus {
    /// Granted, not yet in force.
    NotYetValid,
    /// In force.
    Active,
    /// Ended by its validity period.
    Lapsed,
    /// Withdrawn.
    Withdrawn,
}

/// Where a referral stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "ProjReferralStatus")]
pub enum ReferralStatus {
    /// Sent, not yet answered.
    Made,
    /// Accepted by the receiving agency.
    Accepted,
    /// Declined by the receiving agency.
    Declined,
    /// Withdrawn by the sender.
    Withdrawn,
    /// Completed.
    Completed,
}

/// Whether a case is being worked.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "ProjResidentStatus")]
pub enum CaseStatus {
    /// Registered or reopened.
    Open,
    /// Closed.
    Closed,
}

impl From<kasane_domain::case_file::CaseStatus> for CaseStatus {
    fn from(s: kasane_domain::case_file::CaseStatus) -> Self {
        match s {
            kasane_domain::case_file::CaseStatus::Open => CaseStatus::Open,
            kasane_domain::case_file::CaseStatus::Closed => CaseStatus::Closed,
        }
    }
}

/// Relay page information.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    /// True when `endCursor` leads to more items.
    pub has_next_page: bool,
    /// Pass as `after` to get the next page.
    pub end_cursor: Option<String>,
}

/// An agency of the directory.
pub struct Agency(pub AgencyRecord);

#[Object]
impl Agency {
    /// The agency's id.
    async fn id(&self) -> ID {
        id(self.0.agency_id.0)
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What kind of agency it is.
    async fn kind(&self) -> AgencyKind {
        self.0.kind
    }
    /// When it was registered.
    async fn registered_at(&self) -> DateTime<Utc> {
        self.0.registered_at
    }
    /// Its directory stream's version (for `expectedVersion`).
    async fn version(&self) -> u64 {
        self.0.version
    }
}

/// A member of an agency (staff, not residents).
pub struct Member(pub MemberRecord);

#[Object]
impl Member {
    /// The member's id.
    async fn id(&self) -> ID {
        id(self.0.member_id.0)
    }
    /// The member's agency id.
    async fn agency_id(&self) -> ID {
        id(self.0.agency_id.0)
    }
    /// Name (absent once erased).
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// Kana reading of the name.
    async fn kana(&self) -> Option<&str> {
        self.0.kana.as_deref()
    }
    /// Profession.
    async fn profession(&self) -> Profession {
        self.0.profession
    }
    /// Roles in Kasane.
    async fn roles(&self) -> &[Role] {
        &self.0.roles
    }
    /// False while suspended.
    async fn active(&self) -> bool {
        self.0.active
    }
    /// Its directory stream's version (for `expectedVersion`).
    async fn version(&self) -> u64 {
        self.0.version
    }
}

/// One spell of a member on a care team.
#[derive(SimpleObject, Clone, Debug)]
pub struct TeamSpell {
    /// The member.
    pub member_id: ID,
    /// Their agency.
    pub agency_id: ID,
    /// Lead or member.
    pub team_role: TeamRole,
    /// Business time the spell started.
    #[graphql(name = "from")]
    pub since: DateTime<Utc>,
    /// When the addition was recorded.
    pub added_recorded_at: DateTime<Utc>,
    /// Business time the spell ended, if it did.
    pub until: Option<DateTime<Utc>>,
    /// When the removal was recorded.
    pub removed_recorded_at: Option<DateTime<Utc>>,
    /// True when the spell covers the queried instant.
    pub active: bool,
}

impl From<TeamSpellView> for TeamSpell {
    fn from(s: TeamSpellView) -> Self {
        TeamSpell {
            member_id: id(s.member_id.0),
            agency_id: id(s.agency_id.0),
            team_role: s.team_role,
            since: s.from,
            added_recorded_at: s.added_recorded_at,
            until: s.until,
            removed_recorded_at: s.removed_recorded_at,
            active: s.active,
        }
    }
}

/// A note of a timeline entry, as the viewer may see it at the queried instant.
#[derive(SimpleObject, Clone, Debug)]
pub struct Note {
    /// The note's id.
    pub id: ID,
    /// What kind of note.
    pub category: kasane_domain::vocab::NoteCategory,
    /// The information categories it contains (what consent must cover).
    pub info_categories: Vec<InfoCategory>,
    /// Its author.
    pub author_id: ID,
    /// The author's agency.
    pub author_agency_id: ID,
    /// Business time it was posted.
    pub posted_at: DateTime<Utc>,
    /// The time the note is about.
    pub describes_at: DateTime<Utc>,
    /// The body as of the queried instant (null for auditors: metadata only).
    pub body: Option<String>,
    /// True when corrected at or before the instant.
    pub corrected: bool,
    /// True when redacted at or before the instant (auditors only see such notes).
    pub redacted: bool,
}
