//! The closed vocabularies of the domain (professions, categories, kinds), one enum each.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! vocab {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order (for generators, docs and exhaustive tests).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stable snake_case name used in events and the API.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
    };
}

vocab!(
    /// What kind of organisation an agency is.
    AgencyKind {
        Clinic = "clinic",
        Hospital = "hospital",
        VisitingNurseStation = "visiting_nurse_station",
        Pharmacy = "pharmacy",
        CareManagementOffice = "care_management_office",
        HomeHelpProvider = "home_help_provider",
        /// A municipal section: the only kind that may convene a statutory 支援会議.
        MunicipalSection = "municipal_section",
        SocialWelfareCouncil = "social_welfare_council",
        CommunityGeneralSupportCenter = "community_general_support_center",
        School = "school",
        Npo = "npo",
        Other = "other",
    }
);

vocab!(
    /// A member's profession.
    Profession {
        Physician = "physician",
        VisitingNurse = "visiting_nurse",
        PublicHealthNurse = "public_health_nurse",
        Pharmacist = "pharmacist",
        CareManager = "care_manager",
        HomeHelper = "home_helper",
        SocialWorker = "social_worker",
        MunicipalStaff = "municipal_staff",
        Teacher = "teacher",
        NpoStaff = "npo_staff",
        Other = "other",
    }
);

vocab!(
    /// What a member may do in the system.
    Role {
        /// Works cases: reads and writes case files of residents on their teams.
        Supporter = "supporter",
        /// Enrols and suspends members of their own agency.
        AgencyAdmin = "agency_admin",
        /// Registers agencies and reads aggregates (no personal data).
        CenterAdmin = "center_admin",
        /// Replays histories and reads audit metadata.
        Auditor = "auditor",
    }
);

vocab!(
    /// Support areas of a resident; several at once is the point of layered support.
    SupportArea {
        Elderly = "elderly",
        Disability = "disability",
        Child = "child",
        Poverty = "poverty",
        Other = "other",
    }
);

vocab!(
    /// Categories of information; consent is given per category and a note declares its own.
    InfoCategory {
        Health = "health",
        Care = "care",
        Welfare = "welfare",
        Finance = "finance",
        Family = "family",
    }
);

vocab!(
    /// What a note is about.
    NoteCategory {
        Visit = "visit",
        Consultation = "consultation",
        /// The person's own wish (本人の意向).
        Wish = "wish",
        MeetingMinutes = "meeting_minutes",
        StatusChange = "status_change",
        Other = "other",
    }
);

vocab!(
    /// How a linked resident relates to the resident whose case file holds the link.
    Relation {
        Parent = "parent",
        Child = "child",
        Spouse = "spouse",
        Sibling = "sibling",
        Grandparent = "grandparent",
        Grandchild = "grandchild",
        Other = "other",
    }
);

vocab!(
    /// A member's role on a care team.
    TeamRole {
        Lead = "lead",
        Member = "member",
    }
);

vocab!(
    /// How a consent was obtained.
    ConsentMethod {
        Written = "written",
        Verbal = "verbal",
        /// Given by a guardian on the person's behalf.
        Guardian = "guardian",
    }
);

vocab!(
    /// Kinds of support a referral can request (participation support included).
    SupportKind {
        Medical = "medical",
        Nursing = "nursing",
        Care = "care",
        Financial = "financial",
        Housing = "housing",
        Work = "work",
        SocialContact = "social_contact",
        Childcare = "childcare",
        Other = "other",
    }
);

vocab!(
    /// How soon a referral needs an answer.
    Urgency {
        Routine = "routine",
        Soon = "soon",
        Urgent = "urgent",
    }
);

vocab!(
    /// The legal nature of a support meeting; only a statutory 支援会議 is a sharing basis.
    MeetingKind {
        /// 支援会議 under Social Welfare Act Art. 106-6: members share under a confidentiality duty.
        Statutory = "statutory",
        /// 重層的支援会議 under the implementation guideline: sharing still needs consent.
        Layered = "layered",
        /// An ordinary case conference: no sharing basis of its own.
        CaseConference = "case_conference",
    }
);

vocab!(
    /// What kind of read an access record describes.
    AccessKind {
        ResidentDetails = "resident_details",
        TimelinePage = "timeline_page",
        Note = "note",
        Export = "export",
    }
);
