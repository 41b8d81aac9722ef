//! The monthly aggregates rebuilt in memory ([`MemoryFold`]): counters and helper rows kept in
//! maps while the log is folded, written once at the end.

use std::collections::HashMap;

use kasane_domain::{AgencyId, MemberId, ReferralId, ResidentId};
use rusqlite::{Connection, params};

use super::{
    Counter, Dim, Month, MonthlyAggregates, NO_AREAS, SET_AREAS, SET_MEMBER, UNKNOWN, add_counters,
    bump_into, month_text,
};
use crate::folding::{Tenant, Tenants};
use crate::{Envelope, MemoryFold, ProjectionError};

/// Everything the fold has counted and kept so far.
#[derive(Debug, Default)]
pub(super) struct Maps {
    tenants: Tenants,
    counters: HashMap<String, HashMap<Counter, i64>>,
    /// Agency and profession by member.
    members: HashMap<Key, ([u8; 16], &'static str)>,
    /// Support areas (a JSON list) by resident.
    residents: HashMap<Key, String>,
    referrals: HashMap<Key, Referral>,
}

/// A member, resident or referral: its tenant and id.
type Key = (Tenant, [u8; 16]);

/// A `monthly_referrals` row but its key.
#[derive(Debug)]
struct Referral {
    to: [u8; 16],
    made_at: i64,
    answered: Option<(i64, Month)>,
}

impl super::Helpers for Maps {
    fn bump(&mut self, tenant: &str, month: Month, metric: &'static str, d: [Dim; 4]) {
        bump_into(&mut self.counters, tenant, month, metric, d);
    }

    fn enrolled(
        &mut self,
        tenant: &str,
        member: MemberId,
        agency: AgencyId,
        profession: &'static str,
    ) -> Result<(), ProjectionError> {
        let key = (self.tenants.of(tenant), *member.0.as_bytes());
        self.members.insert(key, (*agency.0.as_bytes(), profession));
        Ok(())
    }

    fn profession_of(&mut self, tenant: &str, member: MemberId) -> Result<Dim, ProjectionError> {
        let key = (self.tenants.of(tenant), *member.0.as_bytes());
        let profession = self.members.get(&key).map_or(UNKNOWN, |(_, p)| *p);
        Ok(Dim::Text(profession.to_owned()))
    }

    fn set_areas(
        &mut self,
        tenant: &str,
        resident: ResidentId,
        areas: &str,
    ) -> Result<(), ProjectionError> {
        let key = (self.tenants.of(tenant), *resident.0.as_bytes());
        self.residents.insert(key, areas.to_owned());
        Ok(())
    }

    fn areas_of(&mut self, tenant: &str, resident: ResidentId) -> Result<Dim, ProjectionError> {
        let key = (self.tenants.of(tenant), *resident.0.as_bytes());
        let areas = self.residents.get(&key).map_or(NO_AREAS, String::as_str);
        Ok(Dim::Text(areas.to_owned()))
    }

    fn referral_made(
        &mut self,
        tenant: &str,
        referral: ReferralId,
        to: AgencyId,
        made_at: i64,
    ) -> Result<(), ProjectionError> {
        let key = (self.tenants.of(tenant), *referral.0.as_bytes());
        self.referrals.entry(key).or_insert(Referral {
            to: *to.0.as_bytes(),
            made_at,
            answered: None,
        });
        Ok(())
    }

    fn answered(
        &mut self,
        tenant: &str,
        referral: ReferralId,
        at: i64,
        month: Month,
    ) -> Result<(), ProjectionError> {
        let key = (self.tenants.of(tenant), *referral.0.as_bytes());
        if let Some(r) = self.referrals.get_mut(&key) {
            r.answered.get_or_insert((at, month));
        }
        Ok(())
    }

    fn to_agency_of(
        &mut self,
        tenant: &str,
        referral: ReferralId,
    ) -> Result<Option<Dim>, ProjectionError> {
        let key = (self.tenants.of(tenant), *referral.0.as_bytes());
        Ok(self.referrals.get(&key).map(|r| Dim::Id(r.to)))
    }
}

impl Maps {
    /// Writes the helper rows and the counters (into empty tables).
    fn write(self, conn: &Connection) -> Result<(), ProjectionError> {
        let tenants = &self.tenants;
        let mut insert = conn.prepare_cached(SET_MEMBER)?;
        for ((t, member), (agency, profession)) in &self.members {
            insert.execute(params![tenants.name(*t), member, agency, profession])?;
        }
        let mut insert = conn.prepare_cached(SET_AREAS)?;
        for ((t, resident), areas) in &self.residents {
            insert.execute(params![tenants.name(*t), resident, areas])?;
        }
        let mut insert = conn.prepare_cached(
            "INSERT INTO monthly_referrals \
             (tenant, referral, to_agency, made_at, answered_at, answer_month) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for ((t, referral), r) in &self.referrals {
            insert.execute(params![
                tenants.name(*t),
                referral,
                r.to,
                r.made_at,
                r.answered.map(|(at, _)| at),
                r.answered.map(|(_, month)| month_text(month)),
            ])?;
        }
        add_counters(conn, self.counters)
    }
}

impl MemoryFold for MonthlyAggregates {
    fn begin(&self) {
        *self.memory() = Some(Box::default());
    }

    fn fold(&self, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        match self.memory().as_mut() {
            Some(helpers) => self.count(helpers.as_mut(), env),
            None => Err(not_begun()),
        }
    }

    fn write(
        &self,
        conn: &Connection,
        _commit: &mut dyn FnMut() -> Result<(), ProjectionError>,
    ) -> Result<(), ProjectionError> {
        let helpers = self.memory().take().ok_or_else(not_begun)?;
        helpers.write(conn)
    }

    fn abandon(&self) {
        self.memory().take();
    }
}

fn not_begun() -> ProjectionError {
    ProjectionError::Corrupt(
        "the monthly aggregates' memory fold was not begun (a runner bug)".into(),
    )
}
