//! Referral boards (つなぎ): one row per referral, so an agency sees what it was asked to take up
//! (inbox) and what it asked of others (outbox), how fast answers came and what is overdue.
//!
//! The reason is personal data of the resident: it is kept while known and set to NULL when the
//! resident is erased. Cards name the resident by id only.

use crate::codec::{from_json, from_name, json, micros, name_of, time, uuid};
use crate::page::{MAX_PAGE, Page, cursor, parse_cursor};
use crate::{Envelope, Projection, ProjectionError};
use chrono::{DateTime, NaiveDate, Utc};
use kasane_domain::vocab::{SupportKind, Urgency};
use kasane_domain::{AgencyId, Event, MemberId, ReferralId, ResidentId, Viewer};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

/// The projection that keeps one row per referral for the agencies' boards.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReferralBoards;

const TABLES: &[&str] = &["referral_boards"];

/// Where a referral is in its lifecycle, as stored and shown on the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    /// Made, not yet answered.
    Made,
    /// Taken up by the receiving agency.
    Accepted,
    /// Refused by the receiving agency.
    Declined,
    /// Taken back by the sending agency before an answer.
    Withdrawn,
    /// The receiving agency finished the support.
    Completed,
}

impl ReferralStatus {
    /// True while the referral still needs work (made or accepted).
    pub fn is_open(self) -> bool {
        matches!(self, ReferralStatus::Made | ReferralStatus::Accepted)
    }
}

/// Which referrals a board lists, so a board can show only open work or one status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Made or accepted.
    Open,
    /// Declined, withdrawn or completed.
    Closed,
    /// Exactly this status.
    Only(ReferralStatus),
}

impl StatusFilter {
    fn statuses(self) -> Vec<ReferralStatus> {
        use ReferralStatus::*;
        match self {
            StatusFilter::Open => vec![Made, Accepted],
            StatusFilter::Closed => vec![Declined, Withdrawn, Completed],
            StatusFilter::Only(s) => vec![s],
        }
    }
}

/// Which side of a referral the viewer's agency is on, so one query serves both boards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardBox {
    /// Referrals sent to the viewer's agency.
    Inbox,
    /// Referrals the viewer's agency sent.
    Outbox,
}

/// One referral as a board shows it (resident by id, never by name).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReferralCard {
    /// The referral.
    pub referral_id: ReferralId,
    /// The resident the referral is about.
    pub resident_id: ResidentId,
    /// The sending agency.
    pub from_agency: AgencyId,
    /// The receiving agency.
    pub to_agency: AgencyId,
    /// The member who made it.
    pub made_by: MemberId,
    /// How soon an answer is needed.
    pub urgency: Urgency,
    /// What support is asked for.
    pub requested_support: Vec<SupportKind>,
    /// The date by which the referral should be dealt with.
    pub due_on: Option<NaiveDate>,
    /// Why the referral was made; `None` once the resident was erased.
    pub reason: Option<String>,
    /// Where the referral is now.
    pub status: ReferralStatus,
    /// Business time of the referral.
    pub made_at: DateTime<Utc>,
    /// When the receiver first accepted or declined.
    pub answered_at: Option<DateTime<Utc>>,
    /// Who gave that first answer.
    pub answered_by: Option<MemberId>,
    /// When the referral was declined, withdrawn or completed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Seconds from `made_at` to `answered_at`, once answered.
    pub time_to_first_answer: Option<i64>,
    /// Open and its due date is before today.
    pub overdue: bool,
    /// Global position of the `ReferralMade` event (the board's order).
    pub position: u64,
}

impl Projection for ReferralBoards {
    fn name(&self) -> &'static str {
        "referral_boards"
    }

    fn version(&self) -> String {
        "1".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS referral_boards (
                tenant TEXT NOT NULL,
                referral BLOB NOT NULL,
                resident BLOB NOT NULL,
                from_agency BLOB NOT NULL,
                to_agency BLOB NOT NULL,
                made_by BLOB NOT NULL,
                urgency TEXT NOT NULL,
                requested_support TEXT NOT NULL,
                due_on TEXT,
                reason TEXT,
                status TEXT NOT NULL,
                made_at INTEGER NOT NULL,
                answered_at INTEGER,
                answered_by BLOB,
                closed_at INTEGER,
                position INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                updated_position INTEGER NOT NULL,
                updated_recorded_at INTEGER NOT NULL,
                PRIMARY KEY (tenant, referral)
            );
            CREATE INDEX IF NOT EXISTS referral_boards_inbox
                ON referral_boards (tenant, to_agency, position);
            CREATE INDEX IF NOT EXISTS referral_boards_outbox
                ON referral_boards (tenant, from_agency, position);
            CREATE INDEX IF NOT EXISTS referral_boards_resident
                ON referral_boards (tenant, resident);",
        )?;
        Ok(())
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let at = micros(env.occurred_at);
        let (pos, rec) = (env.position as i64, micros(env.recorded_at));
        match env.event {
            Event::ReferralMade(e) => {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO referral_boards (tenant, referral, resident, \
                     from_agency, to_agency, made_by, urgency, requested_support, due_on, reason, \
                     status, made_at, position, recorded_at, updated_position, \
                     updated_recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'made', ?11, ?12, ?13, ?12, ?13)",
                )?
                .execute(params![
                    env.tenant,
                    e.referral_id.0.as_bytes(),
                    e.resident_id.0.as_bytes(),
                    e.from_agency.0.as_bytes(),
                    e.to_agency.0.as_bytes(),
                    e.made_by.0.as_bytes(),
                    name_of(&e.urgency),
                    json(&e.requested_support)?,
                    e.due_on.map(|d| d.to_string()),
                    e.reason.known(),
                    at,
                    pos,
                    rec,
                ])?;
            }
            Event::ReferralAccepted(e) => step(
                conn,
                env,
                e.referral_id,
                "accepted",
                Some(e.accepted_by),
                false,
            )?,
            Event::ReferralDeclined(e) => step(
                conn,
                env,
                e.referral_id,
                "declined",
                Some(e.declined_by),
                true,
            )?,
            Event::ReferralWithdrawn(e) => step(conn, env, e.referral_id, "withdrawn", None, true)?,
            Event::ReferralCompleted(e) => step(conn, env, e.referral_id, "completed", None, true)?,
            Event::ResidentErased(e) => {
                conn.prepare_cached(
                    "UPDATE referral_boards SET reason = NULL WHERE tenant = ?1 AND resident = ?2",
                )?
                .execute(params![env.tenant, e.resident_id.0.as_bytes()])?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Moves a referral to `status`; `answer` is who answered (accept/decline), `closes` ends it.
fn step(
    conn: &Connection,
    env: &Envelope<'_>,
    referral: ReferralId,
    status: &str,
    answer: Option<MemberId>,
    closes: bool,
) -> Result<(), ProjectionError> {
    let at = micros(env.occurred_at);
    let answered = answer.is_some();
    conn.prepare_cached(
        "UPDATE referral_boards SET status = ?3, \
         answered_at = CASE WHEN ?4 AND answered_at IS NULL THEN ?5 ELSE answered_at END, \
         answered_by = CASE WHEN ?4 AND answered_at IS NULL THEN ?6 ELSE answered_by END, \
         closed_at = CASE WHEN ?7 THEN ?5 ELSE closed_at END, \
         updated_position = ?8, updated_recorded_at = ?9 \
         WHERE tenant = ?1 AND referral = ?2",
    )?
    .execute(params![
        env.tenant,
        referral.0.as_bytes(),
        status,
        answered,
        at,
        answer.map(|m| m.0.as_bytes().to_vec()),
        closes,
        env.position as i64,
        micros(env.recorded_at),
    ])?;
    Ok(())
}

/// The viewer's agency's inbox or outbox, newest first, `first` cards after the cursor.
/// Suspended viewers get an empty page.
#[allow(clippy::too_many_arguments)]
pub fn board(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    box_: BoardBox,
    status: Option<StatusFilter>,
    today: NaiveDate,
    first: usize,
    after: Option<&str>,
) -> Result<Page<ReferralCard>, ProjectionError> {
    let before = after.map(parse_cursor).transpose()?.unwrap_or(i64::MAX);
    if !viewer.active {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let first = first.clamp(1, MAX_PAGE);
    let statuses: Option<Vec<String>> = status.map(|s| s.statuses().iter().map(name_of).collect());
    let side = match box_ {
        BoardBox::Inbox => "to_agency",
        BoardBox::Outbox => "from_agency",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM referral_boards WHERE tenant = ?1 AND {side} = ?2 \
         AND position < ?3 AND (?4 IS NULL OR status IN (SELECT value FROM json_each(?4))) \
         ORDER BY position DESC LIMIT ?5"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![
        tenant,
        viewer.agency_id.0.as_bytes(),
        before,
        statuses.as_ref().map(json).transpose()?,
        (first + 1) as i64,
    ])?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        items.push(card(row, today)?);
    }
    let next_cursor = if items.len() > first {
        items.truncate(first);
        items.last().map(|c| cursor(c.position as i64))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// One referral by id, for a detail view (no visibility check: the caller decides).
pub fn get(
    conn: &Connection,
    tenant: &str,
    referral: ReferralId,
    today: NaiveDate,
) -> Result<Option<ReferralCard>, ProjectionError> {
    let sql = format!("SELECT {COLUMNS} FROM referral_boards WHERE tenant = ?1 AND referral = ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let row = stmt
        .query_row(params![tenant, referral.0.as_bytes()], |row| {
            Ok(card(row, today))
        })
        .optional()?;
    row.transpose()
}

const COLUMNS: &str = "referral, resident, from_agency, to_agency, made_by, urgency, \
    requested_support, due_on, reason, status, made_at, answered_at, answered_by, closed_at, \
    position";

fn card(row: &Row<'_>, today: NaiveDate) -> Result<ReferralCard, ProjectionError> {
    let blob =
        |i: usize| -> Result<uuid::Uuid, ProjectionError> { uuid(&row.get::<_, Vec<u8>>(i)?) };
    let opt_time = |i: usize| -> Result<Option<DateTime<Utc>>, ProjectionError> {
        row.get::<_, Option<i64>>(i)?.map(time).transpose()
    };
    let due_on = row
        .get::<_, Option<String>>(7)?
        .map(|d| {
            d.parse::<NaiveDate>()
                .map_err(|_| ProjectionError::Corrupt(format!("bad due date {d:?}")))
        })
        .transpose()?;
    let status: ReferralStatus = from_name(&row.get::<_, String>(9)?)?;
    let made_at = time(row.get(10)?)?;
    let answered_at = opt_time(11)?;
    let answered_by = row
        .get::<_, Option<Vec<u8>>>(12)?
        .map(|b| uuid(&b).map(MemberId))
        .transpose()?;
    Ok(ReferralCard {
        referral_id: ReferralId(blob(0)?),
        resident_id: ResidentId(blob(1)?),
        from_agency: AgencyId(blob(2)?),
        to_agency: AgencyId(blob(3)?),
        made_by: MemberId(blob(4)?),
        urgency: from_name(&row.get::<_, String>(5)?)?,
        requested_support: from_json(&row.get::<_, String>(6)?)?,
        due_on,
        reason: row.get(8)?,
        status,
        made_at,
        answered_at,
        answered_by,
        closed_at: opt_time(13)?,
        time_to_first_answer: answered_at.map(|a| (a - made_at).num_seconds()),
        overdue: status.is_open() && due_on.is_some_and(|d| d < today),
        position: row.get::<_, i64>(14)? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Harness, TENANT, day};
    use kasane_domain::events::*;
    use kasane_domain::vocab::Role;
    use uuid::Uuid;

    fn agency() -> AgencyId {
        AgencyId(Uuid::now_v7())
    }

    fn viewer(agency_id: AgencyId) -> Viewer {
        Viewer {
            member_id: MemberId(Uuid::now_v7()),
            agency_id,
            roles: vec![Role::Supporter],
            active: true,
        }
    }

    fn made(from: AgencyId, to: AgencyId, due: Option<NaiveDate>) -> (ReferralMade, ReferralId) {
        let id = ReferralId(Uuid::now_v7());
        let e = ReferralMade {
            resident_id: ResidentId(Uuid::now_v7()),
            referral_id: id,
            from_agency: from,
            to_agency: to,
            made_by: MemberId(Uuid::now_v7()),
            reason: "needs a home visit".to_string().into(),
            requested_support: vec![SupportKind::Nursing],
            urgency: Urgency::Soon,
            due_on: due,
            shared_notes: vec![],
        };
        (e, id)
    }

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    /// The first 10 cards of a board.
    fn list(
        h: &Harness,
        v: &Viewer,
        box_: BoardBox,
        status: Option<StatusFilter>,
        today: NaiveDate,
    ) -> Page<ReferralCard> {
        board(&h.conn, TENANT, v, box_, status, today, 10, None).unwrap()
    }

    fn ids(page: &Page<ReferralCard>) -> Vec<ReferralId> {
        page.items.iter().map(|c| c.referral_id).collect()
    }

    #[test]
    fn inbox_and_outbox_are_the_two_sides_newest_first() {
        let mut h = Harness::new(vec![Box::new(ReferralBoards)]);
        let (a, b, c) = (agency(), agency(), agency());
        let (r1, id1) = made(a, b, None);
        let (r2, id2) = made(c, b, None);
        let (r3, id3) = made(b, a, None);
        h.apply(r1, day(1), None);
        h.apply(r2, day(2), None);
        h.apply(r3, day(3), None);
        let vb = viewer(b);
        let inbox = list(&h, &vb, BoardBox::Inbox, None, date(4));
        assert_eq!(ids(&inbox), vec![id2, id1]);
        let outbox = list(&h, &vb, BoardBox::Outbox, None, date(4));
        assert_eq!(ids(&outbox), vec![id3]);
        let card = &outbox.items[0];
        assert_eq!((card.from_agency, card.to_agency), (b, a));
        assert_eq!(card.reason.as_deref(), Some("needs a home visit"));
        assert_eq!(card.status, ReferralStatus::Made);
        assert_eq!(card.made_at, day(3));
        let other = list(&h, &viewer(c), BoardBox::Inbox, None, date(4));
        assert!(other.items.is_empty());
    }

    #[test]
    fn first_answer_time_and_who_are_kept_and_status_filters() {
        let mut h = Harness::new(vec![Box::new(ReferralBoards)]);
        let (a, b) = (agency(), agency());
        let (r1, id1) = made(a, b, None);
        let (r2, id2) = made(a, b, None);
        let (res1, res2) = (r1.resident_id, r2.resident_id);
        h.apply(r1, day(1), None);
        h.apply(r2, day(1), None);
        let who = MemberId(Uuid::now_v7());
        let accepted = ReferralAccepted {
            resident_id: res1,
            referral_id: id1,
            accepted_by: who,
            comment: None,
        };
        h.apply(accepted, day(3), None);
        let completed = ReferralCompleted {
            resident_id: res1,
            referral_id: id1,
            completed_by: who,
            outcome: "done".to_string().into(),
        };
        h.apply(completed, day(5), None);
        let withdrawn = ReferralWithdrawn {
            resident_id: res2,
            referral_id: id2,
            withdrawn_by: MemberId(Uuid::now_v7()),
            reason: "moved away".into(),
        };
        h.apply(withdrawn, day(2), None);
        let va = viewer(a);
        let page = list(&h, &va, BoardBox::Outbox, None, date(9));
        let c1 = page.items.iter().find(|c| c.referral_id == id1).unwrap();
        assert_eq!(c1.status, ReferralStatus::Completed);
        assert_eq!((c1.answered_at, c1.answered_by), (Some(day(3)), Some(who)));
        assert_eq!(c1.time_to_first_answer, Some(2 * 86_400));
        assert_eq!(c1.closed_at, Some(day(5)));
        let c2 = page.items.iter().find(|c| c.referral_id == id2).unwrap();
        assert_eq!(
            (c2.time_to_first_answer, c2.closed_at),
            (None, Some(day(2)))
        );
        let only = Some(StatusFilter::Only(ReferralStatus::Withdrawn));
        assert_eq!(
            ids(&list(&h, &va, BoardBox::Outbox, only, date(9))),
            vec![id2]
        );
        let closed = list(
            &h,
            &va,
            BoardBox::Outbox,
            Some(StatusFilter::Closed),
            date(9),
        );
        assert_eq!(ids(&closed), vec![id2, id1]);
        let open = list(&h, &va, BoardBox::Outbox, Some(StatusFilter::Open), date(9));
        assert!(open.items.is_empty());
    }

    #[test]
    fn overdue_means_open_and_due_before_today() {
        let mut h = Harness::new(vec![Box::new(ReferralBoards)]);
        let (a, b) = (agency(), agency());
        let (r1, id1) = made(a, b, Some(date(5)));
        let (r2, id2) = made(a, b, Some(date(5)));
        let res2 = r2.resident_id;
        h.apply(r1, day(1), None);
        h.apply(r2, day(1), None);
        let declined = ReferralDeclined {
            resident_id: res2,
            referral_id: id2,
            declined_by: MemberId(Uuid::now_v7()),
            reason: "no capacity".into(),
        };
        h.apply(declined, day(2), None);
        let vb = viewer(b);
        let overdue = |today| {
            let page = list(&h, &vb, BoardBox::Inbox, None, today);
            page.items
                .iter()
                .map(|c| (c.referral_id, c.overdue))
                .collect::<Vec<_>>()
        };
        assert_eq!(overdue(date(5)), vec![(id2, false), (id1, false)]);
        assert_eq!(overdue(date(6)), vec![(id2, false), (id1, true)]);
    }

    #[test]
    fn pages_follow_the_cursor_and_bad_cursors_are_refused() {
        let mut h = Harness::new(vec![Box::new(ReferralBoards)]);
        let (a, b) = (agency(), agency());
        let mut made_ids = Vec::new();
        for d in 1..=5 {
            let (r, id) = made(a, b, None);
            h.apply(r, day(d), None);
            made_ids.push(id);
        }
        made_ids.reverse();
        let vb = viewer(b);
        let page = |first, after: Option<&str>| {
            board(
                &h.conn,
                TENANT,
                &vb,
                BoardBox::Inbox,
                None,
                date(9),
                first,
                after,
            )
        };
        let p1 = page(2, None).unwrap();
        assert_eq!(ids(&p1), made_ids[..2]);
        let p2 = page(2, p1.next_cursor.as_deref()).unwrap();
        assert_eq!(ids(&p2), made_ids[2..4]);
        let p3 = page(0, p2.next_cursor.as_deref()).unwrap();
        assert_eq!((ids(&p3), p3.next_cursor), (made_ids[4..].to_vec(), None));
        assert!(matches!(
            page(2, Some("x1")),
            Err(ProjectionError::BadCursor(_))
        ));
    }

    #[test]
    fn suspended_viewers_see_nothing_and_erasure_drops_the_reason() {
        let mut h = Harness::new(vec![Box::new(ReferralBoards)]);
        let (a, b) = (agency(), agency());
        let (r, id) = made(a, b, None);
        let resident = r.resident_id;
        h.apply(r, day(1), None);
        let mut vb = viewer(b);
        vb.active = false;
        assert!(
            list(&h, &vb, BoardBox::Inbox, None, date(9))
                .items
                .is_empty()
        );
        let erased = ResidentErased {
            resident_id: resident,
            legal_basis: "request".into(),
            erased_by: MemberId(Uuid::now_v7()),
        };
        h.apply(erased, day(2), None);
        let card = get(&h.conn, TENANT, id, date(9)).unwrap().unwrap();
        assert_eq!((card.reason, card.resident_id), (None, resident));
    }
}
