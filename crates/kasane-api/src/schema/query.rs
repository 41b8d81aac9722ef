//! Queries: the signed-in member, the directory, residents on the caller's teams, referral
//! boards and unread notes.

use super::resident::{DEFAULT_PAGE, Referral, Resident, page_size};
use super::types::{Agency, CaseStatus, Member, PageInfo, id, uuid_arg};
use crate::context::{AccessLog, ApiState, Caller, access_log, caller, state};
use crate::error::{ApiError, ApiResult, codes};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use kasane_domain::events::AccessedItem;
use kasane_domain::vocab::{AccessKind, InfoCategory, SupportArea};
use kasane_domain::{AgencyId, ResidentId, case_basis};
use kasane_projections::referrals::{BoardBox, StatusFilter};
use kasane_projections::search::SearchQuery;

/// The query root.
pub struct Query;

/// Which side of the referral board.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReferralBox {
    /// Referrals sent to the caller's agency.
    Inbox,
    /// Referrals the caller's agency sent.
    Outbox,
}

/// Which referrals of a board.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReferralFilter {
    /// Made or accepted.
    Open,
    /// Declined, withdrawn or completed.
    Closed,
}

#[Object]
impl Query {
    /// The signed-in member.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Member> {
        let member = caller(ctx)?.member_id();
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let record = state(ctx)
            .reads
            .run(move |c| kasane_projections::directory::member(c, &tenant, member))
            .await?;
        record.map(Member).ok_or_else(|| {
            ApiError::new(
                codes::UNKNOWN_MEMBER,
                "you are not in the directory yet: retry in a moment",
            )
        })
    }

    /// Every agency of the tenant.
    async fn agencies(&self, ctx: &Context<'_>) -> ApiResult<Vec<Agency>> {
        caller(ctx)?;
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let list = state(ctx)
            .reads
            .run(move |c| kasane_projections::directory::agencies(c, &tenant))
            .await?;
        Ok(list.into_iter().map(Agency).collect())
    }

    /// Members, of one agency or of all.
    async fn members(&self, ctx: &Context<'_>, agency_id: Option<ID>) -> ApiResult<Vec<Member>> {
        caller(ctx)?;
        let agency = agency_id
            .map(|a| uuid_arg(&a, "agencyId"))
            .transpose()?
            .map(AgencyId);
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let list = state(ctx)
            .reads
            .run(move |c| kasane_projections::directory::members(c, &tenant, agency))
            .await?;
        Ok(list.into_iter().map(Member).collect())
    }

    /// One resident whose care team the caller is on (NOT_ON_CARE_TEAM otherwise).
    async fn resident(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Resident> {
        let resident = ResidentId(uuid_arg(&id, "id")?);
        Resident::load(ctx, resident).await
    }

    /// Residents on the caller's care teams, by kana; `search` matches name or kana with
    /// width and hiragana/katakana folded.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn residents(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        area: Option<SupportArea>,
        status: Option<CaseStatus>,
        #[graphql(default = true)] on_my_team: bool,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ResidentConnection> {
        let caller = caller(ctx)?;
        if !on_my_team {
            return Err(ApiError::new(
                codes::INVALID_INPUT,
                "search covers only residents on your care teams: leave onMyTeam true",
            ));
        }
        let query = SearchQuery {
            text: search,
            area,
            status: status.map(Into::into),
            first: page_size(ctx, first)?,
            after,
        };
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let viewer = caller.viewer.clone();
        let page = state(ctx)
            .reads
            .run(move |c| kasane_projections::search::search(c, &tenant, &viewer, &query))
            .await?;
        let mut edges = Vec::with_capacity(page.items.len());
        for hit in page.items {
            let (_, version) = state(ctx).service.case_file(hit.resident_id).await?;
            access_log(ctx)?.note(
                hit.resident_id,
                AccessKind::ResidentDetails,
                version,
                [AccessedItem {
                    note_id: None,
                    basis: kasane_domain::Basis::CareTeam,
                }],
            );
            edges.push(ResidentEdge {
                cursor: hit.cursor,
                node: ResidentSummary {
                    id: id(hit.resident_id.0),
                    name: hit.name,
                    kana: hit.kana,
                    birth_date: hit.birth_date,
                    support_areas: hit.support_areas,
                    status: hit.status.into(),
                    erased: hit.erased,
                    registered_at: hit.registered_at,
                },
            });
        }
        Ok(ResidentConnection {
            edges,
            page_info: PageInfo {
                has_next_page: page.next_cursor.is_some(),
                end_cursor: page.next_cursor,
            },
        })
    }

    /// The caller's agency's referral inbox or outbox, newest first.
    #[graphql(complexity = "first.unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity")]
    async fn referrals(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "box")] which: ReferralBox,
        status: Option<ReferralFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ReferralConnection> {
        let caller = caller(ctx)?;
        let first = page_size(ctx, first)?;
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let viewer = caller.viewer.clone();
        let today = today(ctx);
        let page = state(ctx)
            .reads
            .run(move |c| {
                kasane_projections::referrals::board(
                    c,
                    &tenant,
                    &viewer,
                    match which {
                        ReferralBox::Inbox => BoardBox::Inbox,
                        ReferralBox::Outbox => BoardBox::Outbox,
                    },
                    status.map(|s| match s {
                        ReferralFilter::Open => StatusFilter::Open,
                        ReferralFilter::Closed => StatusFilter::Closed,
                    }),
                    today,
                    first,
                    after.as_deref(),
                )
            })
            .await?;
        let mut edges = Vec::with_capacity(page.items.len());
        for card in page.items {
            edges.push(ReferralEdge {
                cursor: kasane_projections::page::cursor(card.position as i64),
                node: referral_card(state(ctx), caller, access_log(ctx)?, card).await?,
            });
        }
        Ok(ReferralConnection {
            edges,
            page_info: PageInfo {
                has_next_page: page.next_cursor.is_some(),
                end_cursor: page.next_cursor,
            },
        })
    }

    /// Notes the caller may see and has not acknowledged, oldest first, with the total.
    async fn unread(&self, ctx: &Context<'_>, first: Option<i32>) -> ApiResult<Unread> {
        let caller = caller(ctx)?;
        let first = page_size(ctx, first)?;
        let tenant = state(ctx).settings.tenant.as_str().to_owned();
        let viewer = caller.viewer.clone();
        let now = Utc::now();
        let (notes, total) = state(ctx)
            .reads
            .run(move |c| {
                let total = kasane_projections::acks::unread_count(c, &tenant, &viewer, now)?;
                let notes = kasane_projections::acks::unread(c, &tenant, &viewer, now, first)?;
                Ok((notes, total))
            })
            .await?;
        Ok(Unread {
            total,
            notes: notes
                .into_iter()
                .map(|n| UnreadNote {
                    note_id: id(n.note_id.0),
                    resident_id: id(n.resident_id.0),
                    author_id: id(n.author.0),
                    author_agency_id: id(n.author_agency.0),
                    info_categories: n.info_categories,
                    posted_at: n.posted_at,
                    basis: n.basis.into(),
                })
                .collect(),
        })
    }
}

/// Today's date in the tenant's zone.
pub fn today(ctx: &Context<'_>) -> NaiveDate {
    Utc::now()
        .with_timezone(&state(ctx).settings.time_zone)
        .date_naive()
}

/// A board card for the caller; its reason (personal) only when the sharing rule lets the
/// caller see the resident's case file, and then the read is noted.
pub async fn referral_card(
    state: &ApiState,
    caller: &Caller,
    log: &AccessLog,
    card: kasane_projections::referrals::ReferralCard,
) -> ApiResult<Referral> {
    let (case, version) = state.service.case_file(card.resident_id).await?;
    let reason = match case_basis(&case, &caller.viewer, Utc::now()) {
        Ok(basis) if basis != kasane_domain::Basis::AuditorMetadata && card.reason.is_some() => {
            log.note(
                card.resident_id,
                AccessKind::ResidentDetails,
                version,
                [AccessedItem {
                    note_id: None,
                    basis,
                }],
            );
            card.reason
        }
        _ => None,
    };
    Ok(Referral {
        id: id(card.referral_id.0),
        resident_id: id(card.resident_id.0),
        from_agency_id: id(card.from_agency.0),
        to_agency_id: id(card.to_agency.0),
        made_by: id(card.made_by.0),
        reason,
        requested_support: card.requested_support,
        urgency: card.urgency,
        due_on: card.due_on,
        status: card.status.into(),
        made_at: card.made_at,
        answered_at: card.answered_at,
        closed_at: card.closed_at,
        overdue: Some(card.overdue),
    })
}

/// A resident as search lists them.
#[derive(SimpleObject, Clone, Debug)]
pub struct ResidentSummary {
    /// Open the case file with `resident(id:)`.
    pub id: ID,
    /// Full name.
    pub name: Option<String>,
    /// Kana reading.
    pub kana: Option<String>,
    /// Date of birth.
    pub birth_date: Option<NaiveDate>,
    /// Areas of support.
    pub support_areas: Vec<SupportArea>,
    /// Whether the case is being worked.
    pub status: CaseStatus,
    /// True once erased.
    pub erased: bool,
    /// When registered.
    pub registered_at: DateTime<Utc>,
}

/// A page of residents.
#[derive(SimpleObject, Clone, Debug)]
pub struct ResidentConnection {
    /// The residents.
    pub edges: Vec<ResidentEdge>,
    /// Where the next page starts.
    pub page_info: PageInfo,
}

/// One resident with a cursor.
#[derive(SimpleObject, Clone, Debug)]
pub struct ResidentEdge {
    /// Pass as `after` to continue after this resident.
    pub cursor: String,
    /// The resident.
    pub node: ResidentSummary,
}

/// A page of referrals.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReferralConnection {
    /// The referrals.
    pub edges: Vec<ReferralEdge>,
    /// Where the next page starts.
    pub page_info: PageInfo,
}

/// One referral with its cursor.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReferralEdge {
    /// Pass as `after` to continue after this referral.
    pub cursor: String,
    /// The referral.
    pub node: Referral,
}

/// Unread notes.
#[derive(SimpleObject, Clone, Debug)]
pub struct Unread {
    /// How many there are in all.
    pub total: u64,
    /// The oldest of them.
    pub notes: Vec<UnreadNote>,
}

/// A note the caller has not acknowledged (open it through the resident's timeline).
#[derive(SimpleObject, Clone, Debug)]
pub struct UnreadNote {
    /// The note.
    pub note_id: ID,
    /// Its resident.
    pub resident_id: ID,
    /// Its author.
    pub author_id: ID,
    /// The author's agency.
    pub author_agency_id: ID,
    /// What it contains.
    pub info_categories: Vec<InfoCategory>,
    /// When posted.
    pub posted_at: DateTime<Utc>,
    /// Why the caller may see it.
    pub basis: super::types::BasisView,
}
