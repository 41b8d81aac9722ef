//! Queries for oversight rather than casework: the access ledger (who read what about a
//! resident, and who has read a note) and the welfare center's monthly aggregates.
//!
//! Neither returns a resident's personal data: ledger rows hold ids and bases, reports hold
//! counts. So these reads are not themselves recorded as `AccessRecorded` events.

use super::resident::{DEFAULT_PAGE, page_size};
use super::types::{BasisView, PageInfo, id, uuid_arg};
use crate::context::{caller, state};
use crate::error::{ApiError, ApiResult, codes};
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use kasane_domain::vocab::{AccessKind, Role};
use kasane_domain::{NoteId, ResidentId, Viewer};
use kasane_projections::access_ledger::{AccessEntry, NoteReadSummary};
use kasane_projections::monthly::{MonthReport, ResponseStats};

/// The oversight part of the query root (merged into it).
pub struct OversightQuery;

#[Object]
impl OversightQuery {
    /// Recorded reads of a resident's data that occurred in `[from, to)`, oldest first.
    /// Auditors see every read, agency admins their agency's, other members their own.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity")]
    async fn access_log(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<AccessLogConnection> {
        let caller = caller(ctx)?;
        let resident = ResidentId(uuid_arg(&resident_id, "residentId")?);
        let from = from.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let to = to.unwrap_or(DateTime::<Utc>::MAX_UTC);
        if from >= to {
            return Err(ApiError::new(
                codes::INVALID_INPUT,
                "`from` must lie before `to`: the period is [from, to)",
            ));
        }
        let first = page_size(ctx, first)?;
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let viewer = caller.viewer.clone();
        let page = state(ctx)
            .reads
            .run(move |c| {
                kasane_projections::access_ledger::for_resident(
                    c,
                    &tenant,
                    &viewer,
                    resident,
                    from,
                    to,
                    first,
                    after.as_deref(),
                )
            })
            .await?;
        Ok(AccessLogConnection {
            page_info: PageInfo {
                has_next_page: page.next_cursor.is_some(),
                end_cursor: page.next_cursor,
            },
            edges: page
                .items
                .into_iter()
                .map(|e| AccessLogEdge {
                    cursor: kasane_projections::page::cursor(e.position as i64),
                    node: e.into(),
                })
                .collect(),
        })
    }

    /// Who has read a note, one line per member in order of first read, from the access
    /// ledger entries the caller may see (as for `accessLog`).
    async fn note_readers(&self, ctx: &Context<'_>, note_id: ID) -> ApiResult<Vec<NoteReader>> {
        let caller = caller(ctx)?;
        let note = NoteId(uuid_arg(&note_id, "noteId")?);
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let viewer = caller.viewer.clone();
        let readers = state(ctx)
            .reads
            .run(move |c| {
                use kasane_projections::{access_ledger, timeline};
                let Some((resident, posted)) = timeline::note_home(c, &tenant, note)? else {
                    return Ok(Vec::new());
                };
                access_ledger::readers_of_note(c, &tenant, &viewer, resident, note, posted)
            })
            .await?;
        Ok(readers.into_iter().map(NoteReader::from).collect())
    }

    /// The months (`YYYY-MM`, ascending, in the tenant's zone) that have anything counted.
    /// For center admins and auditors.
    async fn report_months(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        require_report_role(&caller(ctx)?.viewer)?;
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        Ok(state(ctx)
            .reads
            .run(move |c| kasane_projections::monthly::months(c, &tenant))
            .await?)
    }

    /// One month's counts (month boundaries in the tenant's zone) and the response times of
    /// referrals first answered in it: aggregates only, no personal data. For center admins
    /// and auditors.
    async fn monthly_report(&self, ctx: &Context<'_>, month: String) -> ApiResult<MonthlyReport> {
        require_report_role(&caller(ctx)?.viewer)?;
        // Exactly YYYY-MM: chrono alone would also take "2026-1", which names no stored month.
        if month.len() != 7
            || NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_err()
        {
            return Err(ApiError::new(
                codes::INVALID_INPUT,
                format!("month {month:?} is not a month: write it as YYYY-MM, e.g. 2026-10"),
            ));
        }
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let (report, response) = state(ctx)
            .reads
            .run(move |c| {
                let report = kasane_projections::monthly::month_report(c, &tenant, &month)?;
                let response = kasane_projections::monthly::referral_response(c, &tenant, &month)?;
                Ok((report, response))
            })
            .await?;
        Ok(MonthlyReport::new(
            report,
            response,
            state(ctx).settings.time_zone.name(),
        ))
    }
}

/// Reports are for the welfare center (and auditors): refused with ROLE_REQUIRED otherwise.
fn require_report_role(viewer: &Viewer) -> ApiResult<()> {
    if viewer
        .roles
        .iter()
        .any(|r| matches!(r, Role::CenterAdmin | Role::Auditor))
    {
        return Ok(());
    }
    Err(ApiError::new(
        codes::ROLE_REQUIRED,
        "monthly reports are for center admins and auditors: ask your agency administrator for the role",
    ))
}

/// A page of the access ledger.
#[derive(SimpleObject)]
pub struct AccessLogConnection {
    /// The reads with their cursors.
    pub edges: Vec<AccessLogEdge>,
    /// Where the next page starts.
    pub page_info: PageInfo,
}

/// One read with its cursor.
#[derive(SimpleObject)]
pub struct AccessLogEdge {
    /// Pass as `after` to continue after this read.
    pub cursor: String,
    /// The read.
    pub node: AccessRecord,
}

/// One recorded read of a resident's data.
#[derive(SimpleObject)]
pub struct AccessRecord {
    /// Global position of its `AccessRecorded` event.
    pub position: u64,
    /// Whose data was read.
    pub resident_id: ID,
    /// Who read it.
    pub member_id: ID,
    /// For which agency.
    pub agency_id: ID,
    /// What kind of read.
    pub kind: AccessKind,
    /// The case file's version the response reflected.
    pub up_to_version: u64,
    /// Each item returned, with the basis it was shown on.
    pub items: Vec<AccessedItemView>,
    /// When the read happened.
    pub occurred_at: DateTime<Utc>,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// One item of a read.
#[derive(SimpleObject)]
pub struct AccessedItemView {
    /// The note, when the item was a note.
    pub note_id: Option<ID>,
    /// Why the reader could see it.
    pub basis: BasisView,
}

impl From<AccessEntry> for AccessRecord {
    fn from(e: AccessEntry) -> Self {
        AccessRecord {
            position: e.position,
            resident_id: id(e.resident_id.0),
            member_id: id(e.member_id.0),
            agency_id: id(e.agency_id.0),
            kind: e.kind,
            up_to_version: e.up_to_version,
            items: e
                .items
                .into_iter()
                .map(|i| AccessedItemView {
                    note_id: i.note_id.map(|n| id(n.0)),
                    basis: i.basis.into(),
                })
                .collect(),
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
        }
    }
}

/// How one member has read one note.
#[derive(SimpleObject)]
pub struct NoteReader {
    /// The reader.
    pub member_id: ID,
    /// The reader's agency.
    pub agency_id: ID,
    /// When the note was first read.
    pub first_read_at: DateTime<Utc>,
    /// How many recorded reads included it.
    pub reads: u64,
    /// The distinct bases it was read on, in order of first use.
    pub bases: Vec<BasisView>,
}

impl From<NoteReadSummary> for NoteReader {
    fn from(s: NoteReadSummary) -> Self {
        NoteReader {
            member_id: id(s.member_id.0),
            agency_id: id(s.agency_id.0),
            first_read_at: s.first_read_at,
            reads: s.reads,
            bases: s.bases.into_iter().map(Into::into).collect(),
        }
    }
}

/// A month of counts for the welfare center.
#[derive(SimpleObject)]
pub struct MonthlyReport {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// The zone the month is cut in (the tenant's).
    pub time_zone: String,
    /// Every metric, zero when nothing happened, by name.
    pub metrics: Vec<Metric>,
    /// Response times of the referrals first answered this month.
    pub referral_response: ResponseTimes,
}

/// One counted metric of a month (e.g. `notes_posted`, `referrals_made`).
#[derive(SimpleObject)]
pub struct Metric {
    /// The metric's name.
    pub name: String,
    /// How many events it counted.
    pub total: u64,
    /// The same count broken down per dimension. A resident with several support areas
    /// counts in each, so the `support_area` breakdown may add up to more than `total`.
    pub breakdowns: Vec<Breakdown>,
}

/// A metric broken down by one dimension.
#[derive(SimpleObject)]
pub struct Breakdown {
    /// The dimension: `category`, `support_area`, `agency`, `profession`, …
    pub dimension: String,
    /// Each key (an enum's serde name or an agency id) with its count.
    pub counts: Vec<KeyCount>,
}

/// One key of a breakdown.
#[derive(SimpleObject)]
pub struct KeyCount {
    /// The key.
    pub key: String,
    /// Its count.
    pub count: u64,
}

/// Referral response-time figures (nearest-rank percentiles, in seconds).
#[derive(SimpleObject)]
pub struct ResponseTimes {
    /// Referrals answered (accepted or declined).
    pub answered: u64,
    /// Median seconds from made to first answer; null when none was answered.
    pub median_seconds: Option<i64>,
    /// 90th percentile seconds.
    pub p90_seconds: Option<i64>,
    /// Mean seconds.
    pub mean_seconds: Option<f64>,
    /// The same per receiving agency.
    pub by_agency: Vec<AgencyResponseTimes>,
}

/// Response times of one receiving agency.
#[derive(SimpleObject)]
pub struct AgencyResponseTimes {
    /// The agency.
    pub agency_id: ID,
    /// Referrals it answered.
    pub answered: u64,
    /// Median seconds.
    pub median_seconds: i64,
    /// 90th percentile seconds.
    pub p90_seconds: i64,
    /// Mean seconds.
    pub mean_seconds: f64,
}

impl MonthlyReport {
    fn new(report: MonthReport, response: ResponseStats, time_zone: &str) -> Self {
        MonthlyReport {
            month: report.month,
            time_zone: time_zone.to_owned(),
            metrics: report
                .metrics
                .into_iter()
                .map(|(name, counts)| Metric {
                    name,
                    total: counts.total,
                    breakdowns: counts
                        .by
                        .into_iter()
                        .map(|(dimension, keys)| Breakdown {
                            dimension,
                            counts: keys
                                .into_iter()
                                .map(|(key, count)| KeyCount { key, count })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            referral_response: ResponseTimes {
                answered: response.answered,
                median_seconds: response.median_seconds,
                p90_seconds: response.p90_seconds,
                mean_seconds: response.mean_seconds,
                by_agency: response
                    .by_agency
                    .into_iter()
                    .map(|(agency, f)| AgencyResponseTimes {
                        agency_id: id(agency.0),
                        answered: f.answered,
                        median_seconds: f.median_seconds,
                        p90_seconds: f.p90_seconds,
                        mean_seconds: f.mean_seconds,
                    })
                    .collect(),
            },
        }
    }
}
