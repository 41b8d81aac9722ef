//! Every projection Kasane runs, in the order the runner applies them.

use crate::Projection;

/// Settings that change what projections store (part of their versions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectionSettings {
    /// The tenant's time zone, where months are cut for reports.
    pub time_zone: chrono_tz::Tz,
}

impl Default for ProjectionSettings {
    fn default() -> Self {
        ProjectionSettings {
            time_zone: chrono_tz::Asia::Tokyo,
        }
    }
}

/// All projections, configured by `settings`.
pub fn all(settings: &ProjectionSettings) -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(crate::case_facts::CaseFacts),
        Box::new(crate::timeline::Timeline::default()),
        Box::new(crate::care_team::CareTeam),
        Box::new(crate::consents::Consents),
        Box::new(crate::directory::DirectoryProjection),
        Box::new(crate::referrals::ReferralBoards),
        Box::new(crate::acks::Acknowledgements),
        Box::new(crate::household::HouseholdGraph),
        Box::new(crate::access_ledger::AccessLedger),
        Box::new(crate::search::ResidentSearch),
        Box::new(crate::monthly::MonthlyAggregates::new(settings.time_zone)),
    ]
}
