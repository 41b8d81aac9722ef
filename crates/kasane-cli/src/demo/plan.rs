//! The plan: every command the demo will issue, in a compact form, plus the small side tables
//! (consents, referrals, meetings, plans, break-glass grants) that commands point into.
//!
//! Texts and ids are not stored: they are derived at execution time from the seed and the
//! action's coordinates, so a plan costs about 28 bytes per command.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kasane_domain::vocab::{
    ConsentMethod, InfoCategory, MeetingKind, Relation, SupportKind, Urgency,
};
use uuid::Uuid;

use super::names::Gender;
use super::town::{AgencySpec, MemberSpec};

pub(crate) const MIN: i64 = 60;
pub(crate) const HOUR: i64 = 3_600;
pub(crate) const DAY: i64 = 86_400;
/// Japan Standard Time is UTC+9 all year (no daylight saving).
const JST: i64 = 9 * HOUR;

/// `Action::resident` of a directory action.
pub(crate) const NO_RESIDENT: u32 = u32::MAX;
/// `Action::actor` of an operator (bootstrap) action.
pub(crate) const OPERATOR: u16 = u16::MAX;

/// One planned command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Action {
    /// Seconds since `Plan::epoch`.
    pub at: u32,
    /// Resident index, or [`NO_RESIDENT`].
    pub resident: u32,
    /// Order of generation within the resident (or the directory): breaks ties in time.
    pub seq: u32,
    /// Member index, or [`OPERATOR`].
    pub actor: u16,
    pub op: Op,
}

impl Action {
    /// The global execution order: time, then resident, then generation order.
    pub(crate) fn key(&self) -> (u32, u32, u32) {
        (self.at, self.resident, self.seq)
    }
}

/// Why a case was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    Death,
    Facility,
    MoveOut,
    GoalReached,
}

impl CloseReason {
    pub(crate) fn text(self) -> &'static str {
        match self {
            CloseReason::Death => "死亡",
            CloseReason::Facility => "施設入所",
            CloseReason::MoveOut => "転出",
            CloseReason::GoalReached => "支援終結（目標達成）",
        }
    }
}

/// Which template family renders a note's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoteKind {
    HelperVisit,
    NurseVisit,
    DoctorVisit,
    DoctorOutpatient,
    PediatricVisit,
    PharmacistVisit,
    CareMonitoring,
    CompSupport,
    LayeredOutreach,
    LayeredConsult,
    CouncilConsult,
    WelfareConsult,
    PhnVisit,
    SchoolReport,
    NpoActivity,
    MswNote,
    Wish,
    FamilyCall,
    MinutesStatutory,
    MinutesLayered,
    MinutesConference,
    Hospitalized,
    Discharged,
    Death,
    Facility,
    MoveOut,
    GoalReached,
    Reopened,
    FamilyDeath,
    Emergency,
    ConsentTalk,
}

impl NoteKind {
    /// The domain's note category for the kind.
    pub(crate) fn category(self) -> kasane_domain::vocab::NoteCategory {
        use NoteKind::*;
        use kasane_domain::vocab::NoteCategory as C;
        match self {
            HelperVisit | NurseVisit | DoctorVisit | DoctorOutpatient | PediatricVisit
            | PharmacistVisit | CareMonitoring | LayeredOutreach | PhnVisit => C::Visit,
            CompSupport | LayeredConsult | CouncilConsult | WelfareConsult | MswNote
            | FamilyCall | ConsentTalk => C::Consultation,
            Wish => C::Wish,
            MinutesStatutory | MinutesLayered | MinutesConference => C::MeetingMinutes,
            Hospitalized | Discharged | Death | Facility | MoveOut | GoalReached | Reopened
            | FamilyDeath | Emergency => C::StatusChange,
            SchoolReport | NpoActivity => C::Other,
        }
    }
}

/// What one action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    RegisterAgency {
        agency: u16,
    },
    EnrolMember {
        member: u16,
    },
    SuspendMember {
        member: u16,
    },
    Register,
    Link {
        other: u32,
        relation: Relation,
        same_household: bool,
    },
    AddTeam {
        member: u16,
        lead: bool,
    },
    RemoveTeam {
        member: u16,
    },
    GrantConsent {
        consent: u32,
    },
    WithdrawConsent {
        consent: u32,
    },
    /// `note` is the note's ordinal in the case file; it is posted at the action's time.
    PostNote {
        note: u32,
        kind: NoteKind,
        cats: u8,
        attachment: bool,
    },
    CorrectNote {
        note: u32,
        posted: u32,
        kind: NoteKind,
    },
    RedactNote {
        note: u32,
        posted: u32,
    },
    AckNote {
        note: u32,
        posted: u32,
    },
    MakeReferral {
        referral: u32,
    },
    AcceptReferral {
        referral: u32,
    },
    DeclineReferral {
        referral: u32,
    },
    WithdrawReferral {
        referral: u32,
        closing: bool,
    },
    CompleteReferral {
        referral: u32,
    },
    RecordMeeting {
        meeting: u32,
    },
    SetPlan {
        plan: u32,
    },
    CloseCase {
        reason: CloseReason,
    },
    ReopenCase,
    BreakGlass {
        grant: u32,
    },
    ReadDetails,
    ReadTimeline,
    ReadNote {
        note: u32,
        posted: u32,
    },
}

/// The kind of person a resident is, which drives their team, cadence and texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Profile {
    /// An elderly person in home care (要介護), care manager as lead.
    ElderlyCare,
    /// An elderly person needing light support (要支援・見守り), community center as lead.
    ElderlySupport,
    /// The withdrawn (ひきこもり) son or daughter of an 8050 household.
    Withdrawn,
    /// The carer of a double-care household (育児と介護のダブルケア).
    Carer,
    /// A child needing support.
    Child,
    /// A child with a disability.
    ChildDisability,
    /// A single parent in financial difficulty.
    SingleParent,
    /// A working-age adult in poverty (生活困窮).
    Poverty,
    /// A working-age adult with a disability.
    DisabledAdult,
}

/// One resident, as registered.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ResidentSpec {
    pub household: u32,
    pub profile: Profile,
    pub gender: Gender,
    pub name: String,
    pub kana: String,
    pub birth_date: NaiveDate,
    pub address: String,
    pub areas: Vec<kasane_domain::vocab::SupportArea>,
    /// Registration time (unix seconds).
    pub registered: i64,
    /// The family member notes talk about (母, 長男, 妻, …), or "" when none.
    pub kin: &'static str,
    /// Lives with a dementia diagnosis (texts, guardian consents).
    pub dementia: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConsentSpec {
    pub resident: u32,
    pub granted: i64,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub agencies: Vec<u16>,
    pub cats: u8,
    pub method: ConsentMethod,
    /// 0 = the first consent of the case, 1 = renewal, 2 = extension to a new agency,
    /// 3 = narrowed after a withdrawal, 4 = the person's first consent after refusing.
    pub purpose: u8,
    pub doc_no: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReferralSpec {
    pub resident: u32,
    pub made: i64,
    pub from_agency: u16,
    pub to_agency: u16,
    pub kinds: u16,
    pub urgency: Urgency,
    pub due_on: Option<i64>,
    /// (note ordinal, posted at) of notes shared with the referral.
    pub shared: Vec<(u32, i64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MeetingSpec {
    pub resident: u32,
    pub recorded: i64,
    pub kind: MeetingKind,
    pub held_at: i64,
    pub attendees: Vec<u16>,
    pub next_review: Option<i64>,
    /// How many meetings of this case came before.
    pub round: u8,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlanSpec {
    pub resident: u32,
    pub set: i64,
    pub responsible: Vec<u16>,
    pub review_on: Option<i64>,
    pub revision: u8,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GrantSpec {
    pub resident: u32,
    pub at: i64,
    pub cats: u8,
    pub minutes: u32,
}

/// Everything the executor needs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    pub seed: u64,
    /// Unix seconds of `Action::at == 0`.
    pub epoch: i64,
    pub start: i64,
    pub end: i64,
    pub households: usize,
    pub agencies: Vec<AgencySpec>,
    pub members: Vec<MemberSpec>,
    pub residents: Vec<ResidentSpec>,
    pub consents: Vec<ConsentSpec>,
    pub referrals: Vec<ReferralSpec>,
    pub meetings: Vec<MeetingSpec>,
    pub plans: Vec<PlanSpec>,
    pub grants: Vec<GrantSpec>,
    pub actions: Vec<Action>,
}

impl Plan {
    /// Unix seconds of an action time.
    pub(crate) fn unix(&self, at: u32) -> i64 {
        self.epoch + i64::from(at)
    }
    /// An action time as a UTC instant.
    pub(crate) fn instant(&self, at: u32) -> DateTime<Utc> {
        instant(self.unix(at))
    }
}

/// Unix seconds as a UTC instant.
pub(crate) fn instant(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).expect("demo times are in range")
}

// ------------------------------------------------------------------ time in Japan

/// The JST calendar day number (days since 1970-01-01 JST) of unix time `t`.
pub(crate) fn jst_day(t: i64) -> i64 {
    (t + JST).div_euclid(DAY)
}

/// Seconds since JST midnight of unix time `t`.
pub(crate) fn jst_secs(t: i64) -> i64 {
    (t + JST).rem_euclid(DAY)
}

/// Unix time of `secs` after JST midnight of `day`.
pub(crate) fn jst_at(day: i64, secs: i64) -> i64 {
    day * DAY + secs - JST
}

/// The JST calendar date of unix time `t`.
pub(crate) fn jst_date(t: i64) -> NaiveDate {
    day_date(jst_day(t))
}

pub(crate) fn day_date(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid") + chrono::Days::new(day as u64)
}

/// 0 = Monday … 6 = Sunday.
pub(crate) fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// Weekdays except the year-end holidays (12/29–1/3).
pub(crate) fn is_business_day(day: i64) -> bool {
    if weekday(day) >= 5 {
        return false;
    }
    let d = day_date(day);
    !((d.month() == 12 && d.day() >= 29) || (d.month() == 1 && d.day() <= 3))
}

/// Office hours, in seconds after JST midnight.
pub(crate) const OPEN: i64 = 8 * HOUR + 45 * MIN;
pub(crate) const CLOSE: i64 = 18 * HOUR;

/// The first business day on or after `day`.
pub(crate) fn business_day_from(mut day: i64) -> i64 {
    while !is_business_day(day) {
        day += 1;
    }
    day
}

// ------------------------------------------------------------------ bit sets

pub(crate) fn cat_bit(c: InfoCategory) -> u8 {
    1 << InfoCategory::ALL
        .iter()
        .position(|x| *x == c)
        .expect("known")
}

pub(crate) fn cats_of(bits: u8) -> Vec<InfoCategory> {
    InfoCategory::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

pub(crate) fn kind_bit(k: SupportKind) -> u16 {
    1 << SupportKind::ALL
        .iter()
        .position(|x| *x == k)
        .expect("known")
}

pub(crate) fn kinds_of(bits: u16) -> Vec<SupportKind> {
    SupportKind::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, k)| *k)
        .collect()
}

// ------------------------------------------------------------------ deterministic ids

pub(crate) mod tag {
    pub const AGENCY: u64 = 1;
    pub const MEMBER: u64 = 2;
    pub const RESIDENT: u64 = 3;
    pub const NOTE: u64 = 4;
    pub const CONSENT: u64 = 5;
    pub const REFERRAL: u64 = 6;
    pub const MEETING: u64 = 7;
    pub const GRANT: u64 = 8;
    pub const COMMAND: u64 = 9;
    pub const CORRELATION: u64 = 10;
    pub const TEXT: u64 = 11;
    pub const NOTE_TEXT: u64 = 12;
    pub const TOWN: u64 = 13;
    pub const HOUSEHOLD: u64 = 14;
    pub const DEMOGRAPHY: u64 = 15;
    pub const FILE: u64 = 16;
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit hash of the seed and up to three coordinates (stable across platforms).
pub(crate) fn mix(seed: u64, tag: u64, a: u64, b: u64) -> u64 {
    let mut x = splitmix(seed ^ tag.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    x = splitmix(x ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    splitmix(x ^ b.wrapping_mul(0xBF58_476D_1CE4_E5B9))
}

/// A UUIDv7 for the entity (`tag`, `a`, `b`) created at unix second `t`, derived from the seed.
pub(crate) fn v7(seed: u64, tag: u64, a: u64, b: u64, t: i64) -> Uuid {
    let h1 = mix(seed, tag, a, b);
    let h2 = mix(seed, tag ^ 0xA5A5_A5A5, b, a);
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&h1.to_le_bytes());
    bytes[8..].copy_from_slice(&h2.to_le_bytes()[..2]);
    let millis = (t.max(0) as u64) * 1000 + (h2 >> 32) % 1000;
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

/// The display sex of a resident in texts (for 本人 vs 母/父 wording).
pub(crate) fn parent_word(g: Gender) -> &'static str {
    match g {
        Gender::Female => "母",
        Gender::Male => "父",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jst_calendar() {
        // 2025-04-01 00:00 JST is 2025-03-31 15:00 UTC.
        let t = DateTime::parse_from_rfc3339("2025-03-31T15:00:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(jst_date(t), NaiveDate::from_ymd_opt(2025, 4, 1).unwrap());
        assert_eq!(jst_secs(t), 0);
        assert_eq!(weekday(jst_day(t)), 1); // a Tuesday
        assert_eq!(jst_at(jst_day(t), 9 * HOUR), t + 9 * HOUR);
        let new_year = jst_day(t) + 275; // 2026-01-01
        assert_eq!(
            day_date(new_year),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
        );
        assert!(!is_business_day(new_year));
    }

    #[test]
    fn ids_are_v7_and_deterministic() {
        let a = v7(7, tag::NOTE, 1, 2, 1_750_000_000);
        assert_eq!(a, v7(7, tag::NOTE, 1, 2, 1_750_000_000));
        assert_ne!(a, v7(8, tag::NOTE, 1, 2, 1_750_000_000));
        assert_ne!(a, v7(7, tag::NOTE, 2, 1, 1_750_000_000));
        assert_eq!(a.get_version_num(), 7);
        let (secs, _) = a.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_750_000_000);
    }

    #[test]
    fn bit_sets_round_trip() {
        let bits = cat_bit(InfoCategory::Health) | cat_bit(InfoCategory::Family);
        assert_eq!(
            cats_of(bits),
            vec![InfoCategory::Health, InfoCategory::Family]
        );
        let k = kind_bit(SupportKind::Work) | kind_bit(SupportKind::Housing);
        assert_eq!(kinds_of(k), vec![SupportKind::Housing, SupportKind::Work]);
    }
}
