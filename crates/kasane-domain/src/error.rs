//! Domain errors: every rule a command can break has a stable code and a sentence saying what to do.

use std::fmt;

macro_rules! codes {
    ($($variant:ident = $text:literal),+ $(,)?) => {
        /// Stable error codes (documented in docs/domain.md); clients match on these.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),+ }
        impl ErrorCode {
            /// Every code, for documentation tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];
            /// The SCREAMING_SNAKE text of the code.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text),+ }
            }
        }
    };
}

codes!(
    InvalidInput = "INVALID_INPUT",
    MemberInactive = "MEMBER_INACTIVE",
    RoleRequired = "ROLE_REQUIRED",
    AgencyExists = "AGENCY_EXISTS",
    AgencyNotFound = "AGENCY_NOT_FOUND",
    MemberExists = "MEMBER_EXISTS",
    MemberNotFound = "MEMBER_NOT_FOUND",
    NotOwnAgency = "NOT_OWN_AGENCY",
    MemberAlreadySuspended = "MEMBER_ALREADY_SUSPENDED",
    MemberNotSuspended = "MEMBER_NOT_SUSPENDED",
    ResidentExists = "RESIDENT_EXISTS",
    ResidentNotFound = "RESIDENT_NOT_FOUND",
    ResidentErased = "RESIDENT_ERASED",
    CaseClosed = "CASE_CLOSED",
    CaseOpen = "CASE_OPEN",
    NotOnCareTeam = "NOT_ON_CARE_TEAM",
    AlreadyOnCareTeam = "ALREADY_ON_CARE_TEAM",
    LastTeamLead = "LAST_TEAM_LEAD",
    HouseholdSelfLink = "HOUSEHOLD_SELF_LINK",
    HouseholdLinkExists = "HOUSEHOLD_LINK_EXISTS",
    HouseholdLinkNotFound = "HOUSEHOLD_LINK_NOT_FOUND",
    ConsentExists = "CONSENT_EXISTS",
    ConsentScopeEmpty = "CONSENT_SCOPE_EMPTY",
    ConsentPeriodInvalid = "CONSENT_PERIOD_INVALID",
    ConsentNotFound = "CONSENT_NOT_FOUND",
    ConsentNotActive = "CONSENT_NOT_ACTIVE",
    NoteExists = "NOTE_EXISTS",
    NoteBodyEmpty = "NOTE_BODY_EMPTY",
    NoteTooLong = "NOTE_TOO_LONG",
    NoteCategoriesRequired = "NOTE_CATEGORIES_REQUIRED",
    NoteNotFound = "NOTE_NOT_FOUND",
    NoteRedacted = "NOTE_REDACTED",
    NotNoteAuthor = "NOT_NOTE_AUTHOR",
    NoteNotVisible = "NOTE_NOT_VISIBLE",
    ReferralExists = "REFERRAL_EXISTS",
    ReferralSameAgency = "REFERRAL_SAME_AGENCY",
    ReferralNotFound = "REFERRAL_NOT_FOUND",
    ReferralNotOpen = "REFERRAL_NOT_OPEN",
    ReferralNotAccepted = "REFERRAL_NOT_ACCEPTED",
    NotReferralRecipient = "NOT_REFERRAL_RECIPIENT",
    NotReferralSender = "NOT_REFERRAL_SENDER",
    MeetingExists = "MEETING_EXISTS",
    MeetingNoAttendees = "MEETING_NO_ATTENDEES",
    StatutoryMeetingNotMunicipal = "STATUTORY_MEETING_NOT_MUNICIPAL",
    PlanGoalsRequired = "PLAN_GOALS_REQUIRED",
    ReasonRequired = "REASON_REQUIRED",
    BreakGlassJustificationRequired = "BREAK_GLASS_JUSTIFICATION_REQUIRED",
    BreakGlassDurationInvalid = "BREAK_GLASS_DURATION_INVALID",
);

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command was refused: nothing was decided, nothing is to be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DomainError {
    /// The stable code.
    pub code: ErrorCode,
    /// A sentence for the user that says what to do next.
    pub message: String,
}

impl DomainError {
    /// Builds an error from a code and a sentence.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    /// Bad input that no specific rule covers.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }
}

/// Shorthand for `Err(DomainError::new(..))` inside decide functions.
pub(crate) fn refuse<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, DomainError> {
    Err(DomainError::new(code, message))
}
