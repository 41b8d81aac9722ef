//! Monthly aggregates for welfare centers' reports: counts of notes, consultations, residents,
//! cases, referrals, meetings, consents, break-glass, acknowledgements and reads per month,
//! broken down by dimension (category, support area, agency, profession, …), and referral
//! response times. Nothing here is personal data: counts, enum names, agency ids, and (in the
//! private helper tables) bare resident, member and referral ids.
//!
//! Months are cut in the projection's time zone (the tenant's; Asia/Tokyo by default) from each
//! event's `occurred_at`; the zone is part of [`Projection::version`], so changing it rebuilds.
//!
//! Storage: `monthly_counts` holds one row per combination of dimension values of a metric
//! (`d1..d4`, `''` when unused; e.g. a note's category, the resident's support areas at the
//! time as a JSON list, the author's agency and profession). `apply` adds each event's one to
//! a counter in memory; `flush`, at the end of the runner's batch, adds each counter to its
//! row in one upsert.
//! [`month_report`] rolls the combinations up into one map per dimension, counting a
//! resident with two support areas once in each. Helper tables fed by the same events keep
//! the projection self-contained: `monthly_residents` (current support areas),
//! `monthly_members` (agency and profession) and `monthly_referrals` (one row per referral:
//! receiving agency, made and first-answered times).
//!
//! A referral's response time counts in the month of its first answer (accepted or declined)
//! in the zone: the month in which the figure became known, so a closed month's figure does
//! not change when old referrals are answered later. Withdrawals are not answers.

use crate::codec::{json, micros, uuid};
use crate::{Envelope, Projection, ProjectionError};
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use kasane_domain::{AgencyId, Event, MemberId, ReferralId, ResidentId};
use rusqlite::types::{ToSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The projection behind monthly reports, cutting months in one time zone.
#[derive(Debug)]
pub struct MonthlyAggregates {
    tz: Tz,
    /// Counter increments of the batch being applied, per tenant, written by
    /// [`Projection::flush`].
    pending: Mutex<HashMap<String, HashMap<Counter, i64>>>,
    /// A rebuild's counters and helper rows, folded in memory ([`crate::MemoryFold`]).
    memory: Mutex<Option<Box<fold::Maps>>>,
}

/// One row of `monthly_counts` within a tenant: month, metric and the dimension values
/// `d1..d4`. Built for every event, so it allocates only for texts read from a table.
type Counter = (Month, &'static str, [Dim; 4]);

/// A month as (year, month 1–12), stored as "YYYY-MM".
type Month = (i32, u32);

fn month_text((year, month): Month) -> String {
    format!("{year:04}-{month:02}")
}

/// A dimension value as stored: text (a name, a JSON list, `''`) or an id's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Dim {
    /// Unused: `''`.
    None,
    /// An enum value's serde name.
    Name(&'static str),
    /// Text read from a helper table.
    Text(String),
    /// An id.
    Id([u8; 16]),
}

impl Dim {
    fn none() -> Dim {
        Dim::None
    }

    fn id(id: &uuid::Uuid) -> Dim {
        Dim::Id(*id.as_bytes())
    }
}

impl ToSql for Dim {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Dim::None => ValueRef::Text(b""),
            Dim::Name(s) => ValueRef::Text(s.as_bytes()),
            Dim::Text(s) => ValueRef::Text(s.as_bytes()),
            Dim::Id(b) => ValueRef::Blob(b),
        }))
    }
}

impl MonthlyAggregates {
    /// Aggregates whose months are cut in `tz` (the tenant's zone).
    pub fn new(tz: Tz) -> Self {
        MonthlyAggregates {
            tz,
            pending: Mutex::new(HashMap::new()),
            memory: Mutex::new(None),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<Counter, i64>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Option<Box<fold::Maps>>> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The month ("YYYY-MM") that instant `at` falls in, in this projection's zone.
    pub fn month_of(&self, at: DateTime<Utc>) -> String {
        month_text(self.month(at))
    }

    fn month(&self, at: DateTime<Utc>) -> Month {
        let local = at.with_timezone(&self.tz);
        (local.year(), local.month())
    }
}

impl Default for MonthlyAggregates {
    fn default() -> Self {
        MonthlyAggregates::new(chrono_tz::Asia::Tokyo)
    }
}

const TABLES: &[&str] = &[
    "monthly_counts",
    "monthly_residents",
    "monthly_members",
    "monthly_referrals",
];

/// Every metric with the dimension names of `d1..d4` (`""`: unused). `support_area` columns
/// hold a JSON list, rolled up once per area (`none` for a resident without areas).
const METRICS: &[(&str, [&str; 4])] = &[
    (
        "notes_posted",
        ["category", "support_area", "agency", "profession"],
    ),
    ("residents_registered", ["support_area", "agency", "", ""]),
    ("cases_closed", ["support_area", "", "", ""]),
    ("cases_reopened", ["support_area", "", "", ""]),
    (
        "referrals_made",
        ["from_agency", "to_agency", "urgency", ""],
    ),
    ("referrals_accepted", ["to_agency", "", "", ""]),
    ("referrals_declined", ["to_agency", "", "", ""]),
    ("referrals_completed", ["to_agency", "", "", ""]),
    ("referrals_withdrawn", ["to_agency", "", "", ""]),
    ("support_meetings", ["kind", "convened_by", "", ""]),
    ("consents_granted", ["method", "", "", ""]),
    ("consents_withdrawn", ["", "", "", ""]),
    ("break_glass", ["agency", "", "", ""]),
    ("acknowledgements", ["agency", "", "", ""]),
    ("access_records", ["agency", "kind", "", ""]),
];

/// Notes of category consultation, reported by the same dimensions as notes (no rows of its own).
const CONSULTATIONS: &str = "consultations";

/// Adds ?8 to a row of `monthly_counts` (?1 tenant, ?2 month, ?3 metric, ?4..?7 d1..d4),
/// inserting it when missing.
const ADD: &str = "INSERT INTO monthly_counts (tenant, month, metric, d1, d2, d3, d4, count) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
     ON CONFLICT (tenant, month, metric, d1, d2, d3, d4) DO UPDATE SET count = count + ?8";

/// What counting an event needs to look up and keep besides the counters: members'
/// professions, residents' support areas and referrals. `apply` keeps them in the helper
/// tables ([`Tables`]); a rebuild's fold in memory ([`fold::Maps`]).
trait Helpers {
    /// Adds one to a counter.
    fn bump(&mut self, tenant: &str, month: Month, metric: &'static str, d: [Dim; 4]);
    /// A member's agency and profession, as enrolled (again).
    fn enrolled(
        &mut self,
        tenant: &str,
        member: MemberId,
        agency: AgencyId,
        profession: &'static str,
    ) -> Result<(), ProjectionError>;
    /// The profession of a member (`unknown` when not enrolled in this tenant).
    fn profession_of(&mut self, tenant: &str, member: MemberId) -> Result<Dim, ProjectionError>;
    /// A resident's current support areas, as a JSON list.
    fn set_areas(
        &mut self,
        tenant: &str,
        resident: ResidentId,
        areas: &str,
    ) -> Result<(), ProjectionError>;
    /// The current support areas of a resident as a JSON list (`[]` when unknown).
    fn areas_of(&mut self, tenant: &str, resident: ResidentId) -> Result<Dim, ProjectionError>;
    /// A referral made (the first one counts if its id comes again).
    fn referral_made(
        &mut self,
        tenant: &str,
        referral: ReferralId,
        to: AgencyId,
        made_at: i64,
    ) -> Result<(), ProjectionError>;
    /// Records when a referral was first answered (a later answer keeps the first).
    fn answered(
        &mut self,
        tenant: &str,
        referral: ReferralId,
        at: i64,
        month: Month,
    ) -> Result<(), ProjectionError>;
    /// The receiving agency of a referral, if the referral is known.
    fn to_agency_of(
        &mut self,
        tenant: &str,
        referral: ReferralId,
    ) -> Result<Option<Dim>, ProjectionError>;
}

/// The helper tables, and the projection's counters of the batch.
struct Tables<'a> {
    conn: &'a Connection,
    pending: &'a mut HashMap<String, HashMap<Counter, i64>>,
}

/// Adds one to a counter of `tenant` in `counters`.
fn bump_into(
    counters: &mut HashMap<String, HashMap<Counter, i64>>,
    tenant: &str,
    month: Month,
    metric: &'static str,
    d: [Dim; 4],
) {
    let of_tenant = match counters.get_mut(tenant) {
        Some(of_tenant) => of_tenant,
        None => counters.entry(tenant.to_owned()).or_default(),
    };
    *of_tenant.entry((month, metric, d)).or_default() += 1;
}

impl Helpers for Tables<'_> {
    fn bump(&mut self, tenant: &str, month: Month, metric: &'static str, d: [Dim; 4]) {
        bump_into(self.pending, tenant, month, metric, d);
    }

    fn enrolled(
        &mut self,
        tenant: &str,
        member: MemberId,
        agency: AgencyId,
        profession: &'static str,
    ) -> Result<(), ProjectionError> {
        self.conn.prepare_cached(SET_MEMBER)?.execute(params![
            tenant,
            member.0.as_bytes(),
            agency.0.as_bytes(),
            profession
        ])?;
        Ok(())
    }

    fn profession_of(&mut self, tenant: &str, member: MemberId) -> Result<Dim, ProjectionError> {
        let profession: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT profession FROM monthly_members WHERE tenant = ?1 AND member = ?2",
            )?
            .query_row(params![tenant, member.0.as_bytes()], |r| r.get(0))
            .optional()?;
        Ok(Dim::Text(profession.unwrap_or_else(|| UNKNOWN.into())))
    }

    fn set_areas(
        &mut self,
        tenant: &str,
        resident: ResidentId,
        areas: &str,
    ) -> Result<(), ProjectionError> {
        self.conn.prepare_cached(SET_AREAS)?.execute(params![
            tenant,
            resident.0.as_bytes(),
            areas
        ])?;
        Ok(())
    }

    fn areas_of(&mut self, tenant: &str, resident: ResidentId) -> Result<Dim, ProjectionError> {
        let areas: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT areas FROM monthly_residents WHERE tenant = ?1 AND resident = ?2",
            )?
            .query_row(params![tenant, resident.0.as_bytes()], |r| r.get(0))
            .optional()?;
        Ok(Dim::Text(areas.unwrap_or_else(|| NO_AREAS.into())))
    }

    fn referral_made(
        &mut self,
        tenant: &str,
        referral: ReferralId,
        to: AgencyId,
        made_at: i64,
    ) -> Result<(), ProjectionError> {
        self.conn
            .prepare_cached(
                "INSERT INTO monthly_referrals (tenant, referral, to_agency, made_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                tenant,
                referral.0.as_bytes(),
                to.0.as_bytes(),
                made_at
            ])?;
        Ok(())
    }

    fn answered(
        &mut self,
        tenant: &str,
        referral: ReferralId,
        at: i64,
        month: Month,
    ) -> Result<(), ProjectionError> {
        self.conn
            .prepare_cached(
                "UPDATE monthly_referrals SET answered_at = ?3, answer_month = ?4 \
                 WHERE tenant = ?1 AND referral = ?2 AND answered_at IS NULL",
            )?
            .execute(params![
                tenant,
                referral.0.as_bytes(),
                at,
                month_text(month)
            ])?;
        Ok(())
    }

    fn to_agency_of(
        &mut self,
        tenant: &str,
        referral: ReferralId,
    ) -> Result<Option<Dim>, ProjectionError> {
        let to: Option<Value> = self
            .conn
            .prepare_cached(
                "SELECT to_agency FROM monthly_referrals WHERE tenant = ?1 AND referral = ?2",
            )?
            .query_row(params![tenant, referral.0.as_bytes()], |r| r.get(0))
            .optional()?;
        match to {
            None => Ok(None),
            Some(Value::Blob(b)) => match <[u8; 16]>::try_from(b.as_slice()) {
                Ok(id) => Ok(Some(Dim::Id(id))),
                Err(_) => Err(ProjectionError::Corrupt(
                    "a referral's receiving agency is not an id".into(),
                )),
            },
            Some(Value::Text(t)) => Ok(Some(Dim::Text(t))),
            Some(other) => Err(ProjectionError::Corrupt(format!(
                "a referral's receiving agency is {other:?}"
            ))),
        }
    }
}

/// A member's profession when the member is not enrolled in the tenant.
const UNKNOWN: &str = "unknown";

/// The support areas of a resident not registered in the tenant.
const NO_AREAS: &str = "[]";

const SET_MEMBER: &str = "INSERT INTO monthly_members (tenant, member, agency, profession) \
    VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE \
    SET agency = excluded.agency, profession = excluded.profession";

const SET_AREAS: &str = "INSERT INTO monthly_residents (tenant, resident, areas) \
    VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET areas = excluded.areas";

impl Projection for MonthlyAggregates {
    fn name(&self) -> &'static str {
        "monthly_aggregates"
    }

    fn version(&self) -> String {
        format!("2+{}", self.tz.name())
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS monthly_counts (
                tenant TEXT NOT NULL,
                month TEXT NOT NULL,
                metric TEXT NOT NULL,
                d1 NOT NULL, d2 NOT NULL, d3 NOT NULL, d4 NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY (tenant, month, metric, d1, d2, d3, d4)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS monthly_residents (
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                areas TEXT NOT NULL,
                PRIMARY KEY (tenant, resident)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS monthly_members (
                tenant TEXT NOT NULL,
                member BLOB NOT NULL,
                agency BLOB NOT NULL,
                profession TEXT NOT NULL,
                PRIMARY KEY (tenant, member)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS monthly_referrals (
                tenant TEXT NOT NULL,
                referral BLOB NOT NULL,
                to_agency BLOB NOT NULL,
                made_at INTEGER NOT NULL,
                answered_at INTEGER,
                answer_month TEXT,
                PRIMARY KEY (tenant, referral)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS monthly_referrals_by_answer
                ON monthly_referrals (tenant, answer_month) WHERE answer_month IS NOT NULL;",
        )?;
        Ok(())
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let mut pending = self.pending();
        self.count(
            &mut Tables {
                conn,
                pending: &mut pending,
            },
            env,
        )
    }

    fn flush(&self, conn: &Connection) -> Result<(), ProjectionError> {
        let pending = std::mem::take(&mut *self.pending());
        add_counters(conn, pending)
    }

    fn discard(&self) {
        self.pending().clear();
    }

    fn memory_fold(&self) -> Option<&dyn crate::MemoryFold> {
        Some(self)
    }
}

/// Adds every counter to its row of `monthly_counts`.
fn add_counters(
    conn: &Connection,
    counters: HashMap<String, HashMap<Counter, i64>>,
) -> Result<(), ProjectionError> {
    if counters.is_empty() {
        return Ok(());
    }
    let mut add = conn.prepare_cached(ADD)?;
    for (tenant, counters) in counters {
        for ((month, metric, [d1, d2, d3, d4]), n) in counters {
            let month = month_text(month);
            add.execute(params![tenant, month, metric, d1, d2, d3, d4, n])?;
        }
    }
    Ok(())
}

impl MonthlyAggregates {
    /// Counts one event: what `apply` does, with its lookups and helper rows in `helpers`.
    fn count(&self, helpers: &mut dyn Helpers, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        use Event as E;
        let (t, month) = (env.tenant, self.month(env.occurred_at));
        let none = Dim::none;
        match env.event {
            E::MemberEnrolled(e) => {
                helpers.enrolled(t, e.member_id, e.agency_id, e.profession.as_str())?;
            }
            E::ResidentRegistered(e) => {
                let areas = json(&e.support_areas)?;
                helpers.set_areas(t, e.resident_id, &areas)?;
                let agency = Dim::id(&e.registered_by_agency.0);
                helpers.bump(
                    t,
                    month,
                    "residents_registered",
                    [Dim::Text(areas), agency, none(), none()],
                );
            }
            E::ResidentDetailsChanged(e) => {
                if let Some(areas) = &e.support_areas {
                    helpers.set_areas(t, e.resident_id, &json(areas)?)?;
                }
            }
            E::NotePosted(e) => {
                let d = [
                    Dim::Name(e.category.as_str()),
                    helpers.areas_of(t, e.resident_id)?,
                    Dim::id(&e.author_agency.0),
                    helpers.profession_of(t, e.author)?,
                ];
                helpers.bump(t, month, "notes_posted", d);
            }
            E::CaseClosed(e) => {
                let d = [helpers.areas_of(t, e.resident_id)?, none(), none(), none()];
                helpers.bump(t, month, "cases_closed", d);
            }
            E::CaseReopened(e) => {
                let d = [helpers.areas_of(t, e.resident_id)?, none(), none(), none()];
                helpers.bump(t, month, "cases_reopened", d);
            }
            E::ReferralMade(e) => {
                helpers.referral_made(t, e.referral_id, e.to_agency, micros(env.occurred_at))?;
                let d = [
                    Dim::id(&e.from_agency.0),
                    Dim::id(&e.to_agency.0),
                    Dim::Name(e.urgency.as_str()),
                    none(),
                ];
                helpers.bump(t, month, "referrals_made", d);
            }
            E::ReferralAccepted(e) => {
                helpers.answered(t, e.referral_id, micros(env.occurred_at), month)?;
                by_referral(helpers, t, month, "referrals_accepted", e.referral_id)?;
            }
            E::ReferralDeclined(e) => {
                helpers.answered(t, e.referral_id, micros(env.occurred_at), month)?;
                by_referral(helpers, t, month, "referrals_declined", e.referral_id)?;
            }
            E::ReferralCompleted(e) => {
                by_referral(helpers, t, month, "referrals_completed", e.referral_id)?
            }
            E::ReferralWithdrawn(e) => {
                by_referral(helpers, t, month, "referrals_withdrawn", e.referral_id)?
            }
            E::SupportMeetingRecorded(e) => {
                let d = [
                    Dim::Name(e.kind.as_str()),
                    Dim::id(&e.convened_by.0),
                    none(),
                    none(),
                ];
                helpers.bump(t, month, "support_meetings", d);
            }
            E::ConsentGranted(e) => helpers.bump(
                t,
                month,
                "consents_granted",
                [Dim::Name(e.method.as_str()), none(), none(), none()],
            ),
            E::ConsentWithdrawn(_) => helpers.bump(
                t,
                month,
                "consents_withdrawn",
                [none(), none(), none(), none()],
            ),
            E::BreakGlassInvoked(e) => helpers.bump(
                t,
                month,
                "break_glass",
                [Dim::id(&e.agency_id.0), none(), none(), none()],
            ),
            E::NoteAcknowledged(e) => helpers.bump(
                t,
                month,
                "acknowledgements",
                [Dim::id(&e.agency_id.0), none(), none(), none()],
            ),
            E::AccessRecorded(e) => {
                let d = [
                    Dim::id(&e.agency_id.0),
                    Dim::Name(e.kind.as_str()),
                    none(),
                    none(),
                ];
                helpers.bump(t, month, "access_records", d);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Counts a referral step by the referral's receiving agency (nothing for an unknown referral).
fn by_referral(
    helpers: &mut dyn Helpers,
    tenant: &str,
    month: Month,
    metric: &'static str,
    referral: ReferralId,
) -> Result<(), ProjectionError> {
    if let Some(to) = helpers.to_agency_of(tenant, referral)? {
        helpers.bump(
            tenant,
            month,
            metric,
            [to, Dim::none(), Dim::none(), Dim::none()],
        );
    }
    Ok(())
}

#[path = "monthly_fold.rs"]
mod fold;

/// Every count of one month: metric → its total and its breakdown per dimension.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonthReport {
    /// The month, "YYYY-MM" in the projection's zone.
    pub month: String,
    /// Every metric (zero when nothing happened), by name.
    pub metrics: BTreeMap<String, MetricCounts>,
}

/// One metric of a month.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MetricCounts {
    /// How many events; a breakdown by support area may add up to more (several areas).
    pub total: u64,
    /// Dimension (`category`, `support_area`, `agency`, …) → key (serde name or agency id) → count.
    pub by: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Referral response times of the referrals first answered in one month.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResponseStats {
    /// How many referrals were answered (accepted or declined).
    pub answered: u64,
    /// Median (nearest rank) seconds from made to answered; `None` when nothing was answered.
    pub median_seconds: Option<i64>,
    /// 90th percentile (nearest rank) in seconds.
    pub p90_seconds: Option<i64>,
    /// Mean in seconds.
    pub mean_seconds: Option<f64>,
    /// The same figures per receiving agency.
    pub by_agency: BTreeMap<AgencyId, ResponseFigures>,
}

/// Response-time figures of one receiving agency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResponseFigures {
    /// How many referrals it answered.
    pub answered: u64,
    /// Median (nearest rank) seconds.
    pub median_seconds: i64,
    /// 90th percentile (nearest rank) seconds.
    pub p90_seconds: i64,
    /// Mean seconds.
    pub mean_seconds: f64,
}

/// All counts of `month` ("YYYY-MM") for `tenant`, rolled up per dimension.
pub fn month_report(
    conn: &Connection,
    tenant: &str,
    month: &str,
) -> Result<MonthReport, ProjectionError> {
    let mut metrics: BTreeMap<String, MetricCounts> = METRICS
        .iter()
        .map(|(m, _)| m.to_string())
        .chain([CONSULTATIONS.to_string()])
        .map(|m| (m, MetricCounts::default()))
        .collect();
    let mut stmt = conn.prepare_cached(
        "SELECT metric, d1, d2, d3, d4, count FROM monthly_counts \
         WHERE tenant = ?1 AND month = ?2",
    )?;
    let mut rows = stmt.query(params![tenant, month])?;
    while let Some(row) = rows.next()? {
        let metric: String = row.get(0)?;
        let Some(&(name, dims)) = METRICS.iter().find(|(m, _)| *m == metric) else {
            return Err(ProjectionError::Corrupt(format!(
                "unknown metric {metric:?}"
            )));
        };
        let keys = [
            key(row.get(1)?)?,
            key(row.get(2)?)?,
            key(row.get(3)?)?,
            key(row.get(4)?)?,
        ];
        let count = row.get::<_, i64>(5)? as u64;
        if let Some(counts) = metrics.get_mut(name) {
            add(counts, dims, &keys, count)?;
        }
        if name == "notes_posted" && keys[0] == "consultation" {
            let dims = ["", dims[1], dims[2], dims[3]];
            if let Some(counts) = metrics.get_mut(CONSULTATIONS) {
                add(counts, dims, &keys, count)?;
            }
        }
    }
    Ok(MonthReport {
        month: month.to_owned(),
        metrics,
    })
}

fn add(
    counts: &mut MetricCounts,
    dims: [&str; 4],
    keys: &[String; 4],
    n: u64,
) -> Result<(), ProjectionError> {
    counts.total += n;
    for (dim, key) in dims.iter().zip(keys).filter(|(d, _)| !d.is_empty()) {
        let by = counts.by.entry(dim.to_string()).or_default();
        if *dim == "support_area" {
            let areas: Vec<String> = crate::codec::from_json(key)?;
            if areas.is_empty() {
                *by.entry("none".into()).or_default() += n;
            }
            for area in areas {
                *by.entry(area).or_default() += n;
            }
        } else {
            *by.entry(key.clone()).or_default() += n;
        }
    }
    Ok(())
}

/// A dimension value as reported: text as stored, ids in their hyphenated form.
fn key(value: Value) -> Result<String, ProjectionError> {
    match value {
        Value::Text(s) => Ok(s),
        Value::Blob(b) => Ok(uuid(&b)?.to_string()),
        other => Err(ProjectionError::Corrupt(format!(
            "dimension value {other:?}"
        ))),
    }
}

/// The months (ascending "YYYY-MM") in which anything was counted for `tenant`.
pub fn months(conn: &Connection, tenant: &str) -> Result<Vec<String>, ProjectionError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT month FROM monthly_counts WHERE tenant = ?1 ORDER BY month",
    )?;
    let months = stmt.query_map([tenant], |r| r.get(0))?;
    Ok(months.collect::<Result<_, _>>()?)
}

/// Response times of the referrals first answered in `month` (see the module doc).
pub fn referral_response(
    conn: &Connection,
    tenant: &str,
    month: &str,
) -> Result<ResponseStats, ProjectionError> {
    let mut stmt = conn.prepare_cached(
        "SELECT to_agency, answered_at - made_at FROM monthly_referrals \
         WHERE tenant = ?1 AND answer_month = ?2",
    )?;
    let mut rows = stmt.query(params![tenant, month])?;
    let mut all = Vec::new();
    let mut per_agency: BTreeMap<AgencyId, Vec<i64>> = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let agency = AgencyId(uuid(&row.get::<_, Vec<u8>>(0)?)?);
        let seconds = (row.get::<_, i64>(1)? / 1_000_000).max(0);
        all.push(seconds);
        per_agency.entry(agency).or_default().push(seconds);
    }
    let overall = figures(&mut all);
    Ok(ResponseStats {
        answered: all.len() as u64,
        median_seconds: overall.as_ref().map(|f| f.median_seconds),
        p90_seconds: overall.as_ref().map(|f| f.p90_seconds),
        mean_seconds: overall.as_ref().map(|f| f.mean_seconds),
        by_agency: per_agency
            .into_iter()
            .filter_map(|(a, mut s)| figures(&mut s).map(|f| (a, f)))
            .collect(),
    })
}

fn figures(seconds: &mut [i64]) -> Option<ResponseFigures> {
    if seconds.is_empty() {
        return None;
    }
    seconds.sort_unstable();
    let n = seconds.len();
    // Nearest rank: the smallest value with at least p% of the values at or below it.
    let rank = |percent: usize| seconds[(percent * n).div_ceil(100).max(1) - 1];
    Some(ResponseFigures {
        answered: n as u64,
        median_seconds: rank(50),
        p90_seconds: rank(90),
        mean_seconds: seconds.iter().sum::<i64>() as f64 / n as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Harness, TENANT, day};
    use chrono::{Duration, TimeZone};
    use kasane_domain::events::*;
    use kasane_domain::vocab::*;
    use kasane_domain::{ConsentId, MemberId, NoteId, Personal};
    use uuid::Uuid;

    const CLINIC: AgencyId = AgencyId(Uuid::from_u128(0xa1));
    const OFFICE: AgencyId = AgencyId(Uuid::from_u128(0xa2));
    const NURSE: MemberId = MemberId(Uuid::from_u128(0xb1));
    const MANAGER: MemberId = MemberId(Uuid::from_u128(0xb2));
    const NOVEMBER: &str = "2026-11";

    fn rid(n: u128) -> ResidentId {
        ResidentId(Uuid::from_u128(0xc00 + n))
    }

    fn text(s: &str) -> Personal<String> {
        Personal::Known(s.to_owned())
    }

    fn enroll(h: &mut Harness, member_id: MemberId, agency_id: AgencyId, profession: Profession) {
        let (name, kana, roles) = (text("某"), text("ボウ"), vec![Role::Supporter]);
        let e = MemberEnrolled {
            member_id,
            agency_id,
            name,
            kana,
            profession,
            roles,
        };
        h.apply(e, day(1), None);
    }

    fn register(h: &mut Harness, n: u128, areas: &[SupportArea]) {
        let e = ResidentRegistered {
            resident_id: rid(n),
            name: text("山田 花子"),
            kana: text("ヤマダ ハナコ"),
            birth_date: chrono::NaiveDate::from_ymd_opt(1940, 4, 1).unwrap().into(),
            address: Personal::Known(None),
            support_areas: areas.to_vec(),
            registered_by: MANAGER,
            registered_by_agency: OFFICE,
        };
        h.apply(e, day(1), None);
    }

    fn note(h: &mut Harness, n: u128, author: MemberId, category: NoteCategory, at: DateTime<Utc>) {
        let e = NotePosted {
            resident_id: rid(n),
            note_id: NoteId(Uuid::now_v7()),
            author,
            author_agency: if author == NURSE { CLINIC } else { OFFICE },
            category,
            info_categories: vec![InfoCategory::Health],
            body: text("訪問しました"),
            describes_at: at,
            attachments: vec![],
        };
        h.apply(e, at, None);
    }

    fn refer(
        h: &mut Harness,
        n: u128,
        to: AgencyId,
        urgency: Urgency,
        at: DateTime<Utc>,
    ) -> ReferralId {
        let referral_id = ReferralId(Uuid::now_v7());
        let e = ReferralMade {
            resident_id: rid(n),
            referral_id,
            from_agency: if to == CLINIC { OFFICE } else { CLINIC },
            to_agency: to,
            made_by: MANAGER,
            reason: text("通院支援"),
            requested_support: vec![SupportKind::Medical],
            urgency,
            due_on: None,
            shared_notes: vec![],
        };
        h.apply(e, at, None);
        referral_id
    }

    fn accept(h: &mut Harness, n: u128, referral_id: ReferralId, at: DateTime<Utc>) {
        let (resident_id, accepted_by) = (rid(n), NURSE);
        let e = ReferralAccepted {
            resident_id,
            referral_id,
            accepted_by,
            comment: None,
        };
        h.apply(e, at, None);
    }

    /// Two members, resident 1 (elderly + disability) and 2 (child).
    fn town(tz: Tz) -> Harness {
        let mut h = Harness::new(vec![Box::new(MonthlyAggregates::new(tz))]);
        enroll(&mut h, NURSE, CLINIC, Profession::VisitingNurse);
        enroll(&mut h, MANAGER, OFFICE, Profession::CareManager);
        register(&mut h, 1, &[SupportArea::Disability, SupportArea::Elderly]);
        register(&mut h, 2, &[SupportArea::Child]);
        h
    }

    fn report(h: &Harness, month: &str) -> MonthReport {
        month_report(&h.conn, TENANT, month).unwrap()
    }

    /// One dimension of a metric as (key, count) pairs.
    fn by(r: &MonthReport, metric: &str, dim: &str) -> Vec<(String, u64)> {
        let counts = r.metrics[metric].by.get(dim).cloned().unwrap_or_default();
        counts.into_iter().collect()
    }

    fn pairs(p: &[(&str, u64)]) -> Vec<(String, u64)> {
        p.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn months_are_cut_in_the_zone() {
        let at = Utc.with_ymd_and_hms(2026, 10, 31, 15, 30, 0).unwrap();
        for (tz, month, other) in [
            (chrono_tz::Asia::Tokyo, "2026-11", "2026-10"),
            (chrono_tz::UTC, "2026-10", "2026-11"),
        ] {
            let mut h = town(tz);
            note(&mut h, 2, NURSE, NoteCategory::Visit, at);
            assert_eq!(report(&h, month).metrics["notes_posted"].total, 1, "{tz}");
            assert_eq!(report(&h, other).metrics["notes_posted"].total, 0, "{tz}");
        }
        assert_eq!(MonthlyAggregates::default().version(), "2+Asia/Tokyo");
        assert_eq!(MonthlyAggregates::new(chrono_tz::UTC).version(), "2+UTC");
    }

    #[test]
    fn notes_count_once_per_area_with_the_authors_profession() {
        let mut h = town(chrono_tz::Asia::Tokyo);
        note(&mut h, 1, NURSE, NoteCategory::Visit, day(2));
        note(&mut h, 1, MANAGER, NoteCategory::Consultation, day(3));
        note(&mut h, 2, NURSE, NoteCategory::Consultation, day(4));
        let r = report(&h, NOVEMBER);
        assert_eq!(r.metrics["notes_posted"].total, 3);
        let areas = pairs(&[("child", 1), ("disability", 2), ("elderly", 2)]);
        assert_eq!(by(&r, "notes_posted", "support_area"), areas);
        let professions = pairs(&[("care_manager", 1), ("visiting_nurse", 2)]);
        assert_eq!(by(&r, "notes_posted", "profession"), professions);
        let agencies = [(CLINIC.to_string(), 2), (OFFICE.to_string(), 1)];
        assert_eq!(by(&r, "notes_posted", "agency"), agencies.to_vec());
        let categories = pairs(&[("consultation", 2), ("visit", 1)]);
        assert_eq!(by(&r, "notes_posted", "category"), categories);
        assert_eq!(r.metrics["consultations"].total, 2);
        let areas = pairs(&[("child", 1), ("disability", 1), ("elderly", 1)]);
        assert_eq!(by(&r, "consultations", "support_area"), areas);
        let professions = pairs(&[("care_manager", 1), ("visiting_nurse", 1)]);
        assert_eq!(by(&r, "consultations", "profession"), professions);
        // Areas as they are when the note is posted.
        let change = ResidentDetailsChanged {
            resident_id: rid(2),
            name: None,
            kana: None,
            birth_date: None,
            address: None,
            support_areas: Some(vec![]),
        };
        h.apply(change, day(5), None);
        note(&mut h, 2, NURSE, NoteCategory::Visit, day(6));
        let areas = pairs(&[("child", 1), ("disability", 2), ("elderly", 2), ("none", 1)]);
        assert_eq!(
            by(&report(&h, NOVEMBER), "notes_posted", "support_area"),
            areas
        );
        assert_eq!(months(&h.conn, TENANT).unwrap(), vec![NOVEMBER.to_string()]);
    }

    #[test]
    fn response_times_count_in_the_month_of_the_answer() {
        let mut h = town(chrono_tz::Asia::Tokyo);
        let a = refer(&mut h, 1, CLINIC, Urgency::Urgent, day(2));
        let b = refer(&mut h, 1, CLINIC, Urgency::Routine, day(2));
        let c = refer(&mut h, 2, OFFICE, Urgency::Routine, day(3));
        let october = Utc.with_ymd_and_hms(2026, 10, 20, 0, 0, 0).unwrap();
        let old = refer(&mut h, 2, OFFICE, Urgency::Soon, october);
        accept(&mut h, 1, a, day(2) + Duration::hours(1));
        let (resident_id, declined_by, reason) = (rid(1), NURSE, "満員".to_owned());
        let declined = ReferralDeclined {
            resident_id,
            referral_id: b,
            declined_by,
            reason,
        };
        h.apply(declined, day(2) + Duration::hours(2), None);
        accept(&mut h, 2, c, day(3) + Duration::hours(10));
        accept(&mut h, 2, c, day(9)); // a second answer keeps the first
        accept(&mut h, 2, old, day(1));
        let s = referral_response(&h.conn, TENANT, NOVEMBER).unwrap();
        // 3600, 7200, 36000 and the October referral's 12 days + 9 h.
        let old_secs = (day(1) - october).num_seconds();
        assert_eq!(old_secs, 12 * 86400 + 9 * 3600);
        assert_eq!(
            (s.answered, s.median_seconds, s.p90_seconds),
            (4, Some(7200), Some(old_secs))
        );
        assert_eq!(
            s.mean_seconds,
            Some((3600 + 7200 + 36000 + old_secs) as f64 / 4.0)
        );
        let clinic = &s.by_agency[&CLINIC];
        assert_eq!(
            (clinic.answered, clinic.median_seconds, clinic.p90_seconds),
            (2, 3600, 7200)
        );
        assert_eq!(clinic.mean_seconds, 5400.0);
        assert_eq!(s.by_agency[&OFFICE].answered, 2);
        let october = referral_response(&h.conn, TENANT, "2026-10").unwrap();
        assert_eq!(
            (
                october.answered,
                october.median_seconds,
                october.by_agency.len()
            ),
            (0, None, 0)
        );
        let r = report(&h, NOVEMBER);
        assert_eq!(
            by(&r, "referrals_made", "urgency"),
            pairs(&[("routine", 2), ("urgent", 1)])
        );
        assert_eq!(
            by(&r, "referrals_accepted", "to_agency"),
            vec![(CLINIC.to_string(), 1), (OFFICE.to_string(), 3)]
        );
        assert_eq!(
            by(&r, "referrals_declined", "to_agency"),
            vec![(CLINIC.to_string(), 1)]
        );
    }

    #[test]
    fn a_month_report() {
        let mut h = town(chrono_tz::Asia::Tokyo);
        note(&mut h, 1, NURSE, NoteCategory::Visit, day(2));
        note(&mut h, 2, MANAGER, NoteCategory::Consultation, day(2));
        let referral_id = refer(&mut h, 1, CLINIC, Urgency::Soon, day(3));
        accept(&mut h, 1, referral_id, day(4));
        let (resident_id, completed_by, outcome) = (rid(1), NURSE, text("済"));
        let e = ReferralCompleted {
            resident_id,
            referral_id,
            completed_by,
            outcome,
        };
        h.apply(e, day(20), None);
        let e = SupportMeetingRecorded {
            resident_id: rid(1),
            meeting_id: kasane_domain::MeetingId(Uuid::from_u128(0xe1)),
            kind: MeetingKind::Statutory,
            held_at: day(5),
            convened_by: OFFICE,
            attendees: vec![],
            agenda: text("役割分担"),
            decisions: text("週2回訪問"),
            next_review_on: None,
        };
        h.apply(e, day(5), None);
        let e = ConsentGranted {
            resident_id: rid(1),
            consent_id: ConsentId(Uuid::from_u128(0xf1)),
            agencies: vec![CLINIC],
            categories: vec![InfoCategory::Health],
            purpose: "在宅療養".into(),
            method: ConsentMethod::Written,
            obtained_by: MANAGER,
            valid_from: day(6),
            valid_until: None,
            document_ref: None,
        };
        h.apply(e, day(6), None);
        let (resident_id, note_id, member_id, agency_id) =
            (rid(1), NoteId(Uuid::nil()), NURSE, CLINIC);
        h.apply(
            NoteAcknowledged {
                resident_id,
                note_id,
                member_id,
                agency_id,
            },
            day(7),
            None,
        );
        let e = BreakGlassInvoked {
            resident_id: rid(2),
            grant_id: kasane_domain::BreakGlassId(Uuid::from_u128(0xf2)),
            member_id: NURSE,
            agency_id: CLINIC,
            justification: text("救急搬送"),
            categories: vec![InfoCategory::Health],
            expires_at: day(9),
        };
        h.apply(e, day(8), None);
        let (resident_id, kind, items) = (rid(2), AccessKind::TimelinePage, vec![]);
        let e = AccessRecorded {
            resident_id,
            member_id,
            agency_id,
            kind,
            up_to_version: 3,
            items,
        };
        h.apply(e, day(8), None);
        let (reason, by) = ("転居".to_owned(), MANAGER);
        h.apply(
            CaseClosed {
                resident_id,
                reason,
                closed_by: by,
            },
            day(10),
            None,
        );
        let (reason, by) = ("帰郷".to_owned(), MANAGER);
        h.apply(
            CaseReopened {
                resident_id,
                reason,
                reopened_by: by,
            },
            day(12),
            None,
        );
        insta::assert_json_snapshot!(report(&h, NOVEMBER));
    }

    #[test]
    fn a_fold_in_memory_writes_exactly_what_applying_wrote() {
        let mut h = town(chrono_tz::Asia::Tokyo);
        note(&mut h, 1, NURSE, NoteCategory::Visit, day(2));
        note(&mut h, 2, MANAGER, NoteCategory::Consultation, day(3));
        // A member enrolled again, changed areas, a resident and a member never registered.
        enroll(&mut h, NURSE, OFFICE, Profession::Physician);
        let change = ResidentDetailsChanged {
            resident_id: rid(2),
            name: None,
            kana: None,
            birth_date: None,
            address: None,
            support_areas: Some(vec![SupportArea::Poverty]),
        };
        h.apply(change, day(4), None);
        note(&mut h, 2, NURSE, NoteCategory::Visit, day(5));
        note(
            &mut h,
            9,
            MemberId(Uuid::from_u128(0xbad)),
            NoteCategory::Visit,
            day(5),
        );
        let a = refer(&mut h, 1, CLINIC, Urgency::Urgent, day(6));
        let b = refer(&mut h, 2, OFFICE, Urgency::Routine, day(6));
        accept(&mut h, 1, a, day(7));
        accept(&mut h, 1, a, day(8)); // the first answer counts
        let completed = ReferralCompleted {
            resident_id: rid(1),
            referral_id: a,
            completed_by: NURSE,
            outcome: text("完了"),
        };
        h.apply(completed, day(9), None);
        let unknown = ReferralWithdrawn {
            resident_id: rid(2),
            referral_id: ReferralId(Uuid::from_u128(0xdead)),
            withdrawn_by: MANAGER,
            reason: "取り下げ".into(),
        };
        h.apply(unknown, day(9), None);
        // Another tenant, and a month in another year.
        h.tenant = "a-town".into();
        enroll(&mut h, MANAGER, CLINIC, Profession::SocialWorker);
        register(&mut h, 1, &[SupportArea::Child]);
        note(&mut h, 1, MANAGER, NoteCategory::Visit, day(10));
        let c = refer(&mut h, 1, OFFICE, Urgency::Soon, day(10));
        accept(
            &mut h,
            1,
            c,
            Utc.with_ymd_and_hms(2027, 1, 5, 0, 0, 0).unwrap(),
        );
        let _ = b;

        let monthly = MonthlyAggregates::default();
        let applied = crate::test_support::dump(&h.conn, &monthly);
        assert!(applied.iter().any(|r| r.contains("a-town")), "{applied:#?}");
        assert!(
            applied.iter().any(|r| r.contains("2027-01")),
            "{applied:#?}"
        );
        let folded = crate::test_support::folded(&monthly, &h.log, true);
        assert_eq!(crate::test_support::dump(&folded, &monthly), applied);
    }
}
