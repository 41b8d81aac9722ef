//! Resident search: find a resident on one's own care teams by name or kana in any script,
//! filtered by support area and case status, ordered by kana reading.
//!
//! Tables: `resident_search` (one row per resident: name and kana while known, their folded
//! keys ([`crate::kana::fold`]), birth date as `YYYY-MM-DD` text, support areas, case
//! status, erased flag, registration time) and `resident_search_team` (current care-team
//! membership, so that residents outside the viewer's teams are never even matched). Erasure
//! nulls the name, kana, keys and birth date: an erased resident can no longer be found by name.

use crate::codec::{from_json, from_name, json, micros, name_of, time, uuid};
use crate::kana::fold;
use crate::page::{MAX_PAGE, Page};
use crate::{Envelope, Projection, ProjectionError};
use chrono::{DateTime, NaiveDate, Utc};
use kasane_domain::vocab::SupportArea;
use kasane_domain::{Event, Personal, ResidentId, Viewer};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

/// The projection behind resident search.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResidentSearch;

const TABLES: &[&str] = &["resident_search", "resident_search_team"];

/// Whether a case is being worked, as search shows and filters it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidentStatus {
    /// Registered or reopened.
    Open,
    /// Closed (until reopened).
    Closed,
}

/// What a search asks for; every filter is optional.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchQuery {
    /// Matched as a substring of the folded name or kana (`やまだ` finds 山田 / ヤマダ).
    pub text: Option<String>,
    /// Only residents with this support area.
    pub area: Option<SupportArea>,
    /// Only open or only closed cases.
    pub status: Option<ResidentStatus>,
    /// Page size (1..=[`MAX_PAGE`]; larger asks are cut, 0 counts as 1).
    pub first: usize,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            text: None,
            area: None,
            status: None,
            first: 50,
            after: None,
        }
    }
}

/// One resident found, with the details a result list shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResidentHit {
    /// The resident (and case-file stream).
    pub resident_id: ResidentId,
    /// The name; `None` once erased.
    pub name: Option<String>,
    /// The kana reading; `None` once erased.
    pub kana: Option<String>,
    /// The birth date; `None` once erased.
    pub birth_date: Option<NaiveDate>,
    /// Current support areas.
    pub support_areas: Vec<SupportArea>,
    /// Current case status.
    pub status: ResidentStatus,
    /// True once the resident's personal data was crypto-shredded.
    pub erased: bool,
    /// Business time of the registration.
    pub registered_at: DateTime<Utc>,
    /// Pass as `after` to continue after this hit.
    pub cursor: String,
}

impl Projection for ResidentSearch {
    fn name(&self) -> &'static str {
        "resident_search"
    }

    fn version(&self) -> String {
        "1".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS resident_search (
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                name TEXT,
                kana TEXT,
                name_key TEXT,
                kana_key TEXT,
                birth_date TEXT,
                support_areas TEXT NOT NULL,
                status TEXT NOT NULL,
                erased INTEGER NOT NULL,
                registered_at INTEGER NOT NULL,
                PRIMARY KEY (tenant, resident)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS resident_search_team (
                tenant TEXT NOT NULL,
                member BLOB NOT NULL,
                resident BLOB NOT NULL,
                PRIMARY KEY (tenant, member, resident)
            ) WITHOUT ROWID;",
        )?;
        Ok(())
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let t = env.tenant;
        match env.event {
            Event::ResidentRegistered(e) => {
                conn.prepare_cached(
                    "INSERT INTO resident_search (tenant, resident, name, kana, name_key, \
                     kana_key, birth_date, support_areas, status, erased, registered_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', 0, ?9) \
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    t,
                    e.resident_id.0.as_bytes(),
                    e.name.known(),
                    e.kana.known(),
                    e.name.known().map(|s| fold(s)),
                    e.kana.known().map(|s| fold(s)),
                    e.birth_date.known().map(NaiveDate::to_string),
                    json(&e.support_areas)?,
                    micros(env.occurred_at),
                ])?;
            }
            Event::ResidentDetailsChanged(e) => {
                let text = |v: &Option<Personal<String>>| v.as_ref().map(|p| p.known().cloned());
                let (name, kana) = (text(&e.name), text(&e.kana));
                let key = |v: &Option<Option<String>>| v.as_ref().map(|s| s.as_deref().map(fold));
                let birth = e
                    .birth_date
                    .as_ref()
                    .map(|b| b.known().map(|d| d.to_string()));
                let areas = e.support_areas.as_ref().map(json).transpose()?;
                // ?3, ?6, ?9: whether the field changed; the value may then be NULL (erased).
                conn.prepare_cached(
                    "UPDATE resident_search SET \
                     name = CASE WHEN ?3 THEN ?4 ELSE name END, \
                     name_key = CASE WHEN ?3 THEN ?5 ELSE name_key END, \
                     kana = CASE WHEN ?6 THEN ?7 ELSE kana END, \
                     kana_key = CASE WHEN ?6 THEN ?8 ELSE kana_key END, \
                     birth_date = CASE WHEN ?9 THEN ?10 ELSE birth_date END, \
                     support_areas = IFNULL(?11, support_areas) \
                     WHERE tenant = ?1 AND resident = ?2",
                )?
                .execute(params![
                    t,
                    e.resident_id.0.as_bytes(),
                    name.is_some(),
                    name.clone().flatten(),
                    key(&name).flatten(),
                    kana.is_some(),
                    kana.clone().flatten(),
                    key(&kana).flatten(),
                    birth.is_some(),
                    birth.flatten(),
                    areas,
                ])?;
            }
            Event::CaseClosed(e) => set_status(conn, t, e.resident_id, ResidentStatus::Closed)?,
            Event::CaseReopened(e) => set_status(conn, t, e.resident_id, ResidentStatus::Open)?,
            Event::ResidentErased(e) => {
                conn.prepare_cached(
                    "UPDATE resident_search SET name = NULL, kana = NULL, name_key = NULL, \
                     kana_key = NULL, birth_date = NULL, erased = 1 \
                     WHERE tenant = ?1 AND resident = ?2",
                )?
                .execute(params![t, e.resident_id.0.as_bytes()])?;
            }
            Event::CareTeamMemberAdded(e) => {
                conn.prepare_cached(
                    "INSERT INTO resident_search_team (tenant, member, resident) \
                     VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    t,
                    e.member_id.0.as_bytes(),
                    e.resident_id.0.as_bytes()
                ])?;
            }
            Event::CareTeamMemberRemoved(e) => {
                conn.prepare_cached(
                    "DELETE FROM resident_search_team \
                     WHERE tenant = ?1 AND member = ?2 AND resident = ?3",
                )?
                .execute(params![
                    t,
                    e.member_id.0.as_bytes(),
                    e.resident_id.0.as_bytes()
                ])?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn set_status(
    conn: &Connection,
    tenant: &str,
    resident: ResidentId,
    status: ResidentStatus,
) -> Result<(), ProjectionError> {
    conn.prepare_cached(
        "UPDATE resident_search SET status = ?3 WHERE tenant = ?1 AND resident = ?2",
    )?
    .execute(params![tenant, resident.0.as_bytes(), name_of(&status)])?;
    Ok(())
}

/// Residents on `viewer`'s current care teams matching `q`, ordered by folded kana then id
/// (erased residents last); a suspended viewer gets an empty page.
///
/// The cursor carries the last item's sort key (its folded kana and id), so a page boundary
/// stays put when residents are added, removed or renamed in between. It therefore holds a
/// kana reading: treat cursors as personal data (do not log them).
pub fn search(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    q: &SearchQuery,
) -> Result<Page<ResidentHit>, ProjectionError> {
    let after = q.after.as_deref().map(parse_cursor).transpose()?;
    if !viewer.active {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let first = q.first.clamp(1, MAX_PAGE);
    let text = q.text.as_deref().map(fold).filter(|t| !t.is_empty());
    let area = q.area.map(|a| format!("\"{}\"", a.as_str()));
    let (after_erased, after_key, after_id) = match &after {
        Some((e, k, id)) => (Some(*e), Some(k.as_str()), Some(id.0.as_bytes().to_vec())),
        None => (None, None, None),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT r.resident, r.name, r.kana, r.birth_date, r.support_areas, r.status, r.erased, \
         r.registered_at, IFNULL(r.kana_key, '') \
         FROM resident_search_team t \
         JOIN resident_search r ON r.tenant = t.tenant AND r.resident = t.resident \
         WHERE t.tenant = ?1 AND t.member = ?2 \
         AND (?3 IS NULL OR instr(r.name_key, ?3) > 0 OR instr(r.kana_key, ?3) > 0) \
         AND (?4 IS NULL OR instr(r.support_areas, ?4) > 0) \
         AND (?5 IS NULL OR r.status = ?5) \
         AND (?6 IS NULL OR (r.erased, IFNULL(r.kana_key, ''), r.resident) > (?6, ?7, ?8)) \
         ORDER BY r.erased, IFNULL(r.kana_key, ''), r.resident \
         LIMIT ?9",
    )?;
    let mut rows = stmt.query(params![
        tenant,
        viewer.member_id.0.as_bytes(),
        text,
        area,
        q.status.map(|s| name_of(&s)),
        after_erased,
        after_key,
        after_id,
        (first + 1) as i64,
    ])?;
    let mut items: Vec<ResidentHit> = Vec::new();
    let mut more = false;
    while let Some(row) = rows.next()? {
        if items.len() == first {
            more = true;
            break;
        }
        let birth: Option<String> = row.get(3)?;
        let resident_id = ResidentId(uuid(&row.get::<_, Vec<u8>>(0)?)?);
        let erased: bool = row.get(6)?;
        let key: String = row.get(8)?;
        let hit = ResidentHit {
            resident_id,
            name: row.get(1)?,
            kana: row.get(2)?,
            birth_date: birth
                .map(|b| b.parse())
                .transpose()
                .map_err(|_| ProjectionError::Corrupt("a birth date is not a date".into()))?,
            support_areas: from_json(&row.get::<_, String>(4)?)?,
            status: from_name(&row.get::<_, String>(5)?)?,
            erased,
            registered_at: time(row.get(7)?)?,
            cursor: cursor(erased, &key, resident_id),
        };
        items.push(hit);
    }
    let next_cursor = if more {
        items.last().map(|h| h.cursor.clone())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// `s` + erased flag + hex of the folded kana + `.` + the id in hex.
fn cursor(erased: bool, key: &str, id: ResidentId) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("s{}{hex}.{}", u8::from(erased), id.0.simple())
}

fn parse_cursor(text: &str) -> Result<(bool, String, ResidentId), ProjectionError> {
    let bad = || ProjectionError::BadCursor(text.to_owned());
    let rest = text.strip_prefix('s').ok_or_else(bad)?;
    let erased = match rest.as_bytes().first() {
        Some(b'0') => false,
        Some(b'1') => true,
        _ => return Err(bad()),
    };
    let (hex, id) = rest[1..].split_once('.').ok_or_else(bad)?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let key = String::from_utf8(bytes).map_err(|_| bad())?;
    let id = uuid::Uuid::try_parse(id).map_err(|_| bad())?;
    Ok((erased, key, ResidentId(id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Harness, TENANT, day};
    use kasane_domain::events::*;
    use kasane_domain::vocab::{Role, SupportArea::*, TeamRole};
    use kasane_domain::{AgencyId, MemberId};
    use uuid::Uuid;

    const AGENCY: AgencyId = AgencyId(Uuid::from_u128(0xa1));
    const ME: MemberId = MemberId(Uuid::from_u128(0xb1));
    const OTHER: MemberId = MemberId(Uuid::from_u128(0xb2));

    fn rid(n: u128) -> ResidentId {
        ResidentId(Uuid::from_u128(0xc00 + n))
    }

    fn rids(ns: &[u128]) -> Vec<ResidentId> {
        ns.iter().map(|n| rid(*n)).collect()
    }

    fn viewer() -> Viewer {
        let roles = vec![Role::Supporter];
        Viewer {
            member_id: ME,
            agency_id: AGENCY,
            roles,
            active: true,
        }
    }

    /// Registers resident `n` and puts `member` on its team.
    fn register(
        h: &mut Harness,
        n: u128,
        name: &str,
        kana: &str,
        areas: &[SupportArea],
        member: MemberId,
    ) {
        let registered = ResidentRegistered {
            resident_id: rid(n),
            name: name.to_owned().into(),
            kana: kana.to_owned().into(),
            birth_date: NaiveDate::from_ymd_opt(1940, 4, 1).unwrap().into(),
            address: Personal::Known(None),
            support_areas: areas.to_vec(),
            registered_by: member,
            registered_by_agency: AGENCY,
        };
        h.apply(registered, day(1), None);
        let team_role = TeamRole::Lead;
        let added = CareTeamMemberAdded {
            resident_id: rid(n),
            member_id: member,
            agency_id: AGENCY,
            team_role,
        };
        h.apply(added, day(1), None);
    }

    fn change(n: u128) -> ResidentDetailsChanged {
        let (name, kana, birth_date, address, support_areas) = (None, None, None, None, None);
        ResidentDetailsChanged {
            resident_id: rid(n),
            name,
            kana,
            birth_date,
            address,
            support_areas,
        }
    }

    fn page(h: &Harness, q: &SearchQuery) -> Page<ResidentHit> {
        search(&h.conn, TENANT, &viewer(), q).unwrap()
    }

    fn find(h: &Harness, q: SearchQuery) -> Vec<ResidentId> {
        page(h, &q).items.iter().map(|r| r.resident_id).collect()
    }

    fn text(t: &str) -> SearchQuery {
        SearchQuery {
            text: Some(t.into()),
            ..SearchQuery::default()
        }
    }

    fn filter(area: Option<SupportArea>, status: Option<ResidentStatus>) -> SearchQuery {
        SearchQuery {
            area,
            status,
            ..SearchQuery::default()
        }
    }

    fn town() -> Harness {
        let mut h = Harness::new(vec![Box::new(ResidentSearch)]);
        register(
            &mut h,
            1,
            "山田 花子",
            "ヤマダ ハナコ",
            &[Elderly, Disability],
            ME,
        );
        register(&mut h, 2, "佐藤 一郎", "サトウ イチロウ", &[Child], ME);
        register(&mut h, 3, "山本 次郎", "ヤマモト ジロウ", &[Elderly], ME);
        register(&mut h, 4, "山田 太郎", "ヤマダ タロウ", &[Elderly], OTHER);
        h
    }

    #[test]
    fn any_script_finds_the_resident() {
        let h = town();
        for q in ["やまだ", "ヤマダ", "ﾔﾏﾀﾞ", "山田", "やまだ　はな", "ﾊﾅｺ"]
        {
            assert_eq!(find(&h, text(q)), rids(&[1]), "query {q}");
        }
        assert_eq!(find(&h, text("ヤマ")), rids(&[1, 3]));
        assert_eq!(find(&h, text("すずき")), rids(&[]));
        let hit = page(&h, &text("はなこ")).items.remove(0);
        assert_eq!(hit.name.as_deref(), Some("山田 花子"));
        assert_eq!(hit.kana.as_deref(), Some("ヤマダ ハナコ"));
        assert_eq!(hit.birth_date, NaiveDate::from_ymd_opt(1940, 4, 1));
        assert_eq!(hit.support_areas, vec![Elderly, Disability]);
        assert_eq!(
            (hit.status, hit.erased, hit.registered_at),
            (ResidentStatus::Open, false, day(1))
        );
    }

    #[test]
    fn only_the_viewers_current_teams_are_searched() {
        let mut h = town();
        // 山田 太郎 (4) is on another member's team only.
        assert_eq!(find(&h, text("たろう")), rids(&[]));
        assert_eq!(find(&h, SearchQuery::default()), rids(&[2, 1, 3]));
        h.apply(
            CareTeamMemberRemoved {
                resident_id: rid(2),
                member_id: ME,
            },
            day(2),
            None,
        );
        assert_eq!(find(&h, SearchQuery::default()), rids(&[1, 3]));
        let suspended = Viewer {
            active: false,
            ..viewer()
        };
        let page = search(&h.conn, TENANT, &suspended, &SearchQuery::default()).unwrap();
        assert_eq!(
            page,
            Page {
                items: vec![],
                next_cursor: None
            }
        );
    }

    #[test]
    fn area_and_status_filters() {
        let mut h = town();
        let (open, closed) = (Some(ResidentStatus::Open), Some(ResidentStatus::Closed));
        assert_eq!(find(&h, filter(Some(Elderly), None)), rids(&[1, 3]));
        assert_eq!(find(&h, filter(Some(Disability), None)), rids(&[1]));
        assert_eq!(find(&h, filter(Some(Poverty), None)), rids(&[]));
        let close = CaseClosed {
            resident_id: rid(3),
            reason: "moved".into(),
            closed_by: ME,
        };
        h.apply(close, day(3), None);
        assert_eq!(find(&h, filter(Some(Elderly), open)), rids(&[1]));
        assert_eq!(find(&h, filter(None, closed)), rids(&[3]));
        let reopen = CaseReopened {
            resident_id: rid(3),
            reason: "back".into(),
            reopened_by: ME,
        };
        h.apply(reopen, day(4), None);
        assert_eq!(find(&h, filter(None, closed)), rids(&[]));
        let areas = ResidentDetailsChanged {
            support_areas: Some(vec![Child, Poverty]),
            ..change(2)
        };
        h.apply(areas, day(5), None);
        assert_eq!(find(&h, filter(Some(Poverty), None)), rids(&[2]));
    }

    #[test]
    fn pages_follow_the_cursor_in_kana_order() {
        let mut h = town();
        register(&mut h, 5, "相川 愛", "アイカワ アイ", &[], ME);
        let mut q = SearchQuery {
            first: 3,
            ..SearchQuery::default()
        };
        let one = page(&h, &q);
        assert_eq!(
            one.items.iter().map(|r| r.resident_id).collect::<Vec<_>>(),
            rids(&[5, 2, 1])
        );
        // A resident added before the cursor does not shift the next page.
        register(&mut h, 6, "阿部 明", "アベ アキラ", &[], ME);
        q.after = Some(one.next_cursor.expect("a second page"));
        let two = page(&h, &q);
        assert_eq!(
            two.items.iter().map(|r| r.resident_id).collect::<Vec<_>>(),
            rids(&[3])
        );
        assert_eq!(two.next_cursor, None);
        q.after = Some("c12".into());
        assert_eq!(
            search(&h.conn, TENANT, &viewer(), &q).unwrap_err().code(),
            "BAD_CURSOR"
        );
    }

    #[test]
    fn renaming_changes_what_is_found() {
        let mut h = town();
        let name = Some("鈴木 一郎".to_owned().into());
        let kana = Some("スズキ イチロウ".to_owned().into());
        h.apply(
            ResidentDetailsChanged {
                name,
                kana,
                ..change(2)
            },
            day(2),
            None,
        );
        assert_eq!(find(&h, text("さとう")), rids(&[]));
        assert_eq!(find(&h, text("すずき")), rids(&[2]));
        assert_eq!(find(&h, text("鈴木")), rids(&[2]));
        assert_eq!(find(&h, SearchQuery::default()), rids(&[2, 1, 3]));
    }

    #[test]
    fn an_erased_resident_is_not_found_by_name() {
        let mut h = town();
        let erased = ResidentErased {
            resident_id: rid(1),
            legal_basis: "retention".into(),
            erased_by: ME,
        };
        h.apply(erased, day(6), None);
        assert_eq!(find(&h, text("やまだ")), rids(&[]));
        assert_eq!(find(&h, text("山田")), rids(&[]));
        // Still listed (last), without personal data; paging crosses the erased boundary.
        assert_eq!(find(&h, SearchQuery::default()), rids(&[2, 3, 1]));
        let one = page(
            &h,
            &SearchQuery {
                first: 2,
                ..SearchQuery::default()
            },
        );
        let two = page(
            &h,
            &SearchQuery {
                first: 2,
                after: one.next_cursor,
                ..SearchQuery::default()
            },
        );
        let last = &two.items[0];
        assert_eq!(
            (last.resident_id, last.erased, two.items.len()),
            (rid(1), true, 1)
        );
        assert_eq!(
            (last.name.clone(), last.kana.clone(), last.birth_date),
            (None, None, None)
        );
        assert_eq!(last.support_areas, vec![Elderly, Disability]);
    }
}
