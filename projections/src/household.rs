//! The household graph: family links between residents, so a supporter can see who else in a
//! family is known to the network (layered support looks at the household, not one person).
//!
//! A link lives in one resident's case file and says what the other resident is to that one.
//! Links keep their history (linked and unlinked times), so the graph can be asked as known at
//! any instant. Who may see a resident is decided by [`kasane_domain::case_basis`] over the case
//! facts; residents the viewer may not see are only counted. The rows hold ids and relations,
//! no personal values, so erasure changes nothing here.

use crate::case_facts;
use crate::codec::{from_name, micros, name_of, time, uuid};
use crate::{Envelope, Projection, ProjectionError};
use chrono::{DateTime, Utc};
use kasane_domain::vocab::Relation;
use kasane_domain::{Event, ResidentId, Viewer, case_basis};
use rusqlite::{Connection, params};
use serde::Serialize;
use std::collections::{BTreeSet, VecDeque};

/// The projection that keeps every household link with its history.
#[derive(Clone, Copy, Debug, Default)]
pub struct HouseholdGraph;

const TABLES: &[&str] = &["household_links"];

/// One link as the case file of `resident_id` holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HouseholdLinkRecord {
    /// The resident whose case file holds the link.
    pub resident_id: ResidentId,
    /// The linked resident.
    pub other_resident_id: ResidentId,
    /// What the other resident is to `resident_id`.
    pub relation: Relation,
    /// Whether they live together.
    pub same_household: bool,
    /// Business time of the link.
    pub linked_at: DateTime<Utc>,
}

/// The family around one resident, limited to what the viewer may see.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Household {
    /// The residents of the connected family the viewer may see, the one asked about first,
    /// then in breadth-first order.
    pub residents: Vec<ResidentId>,
    /// The links between those residents.
    pub links: Vec<HouseholdLinkRecord>,
    /// How many residents of the family the viewer may not see (never named).
    pub hidden: usize,
}

impl Projection for HouseholdGraph {
    fn name(&self) -> &'static str {
        "household"
    }

    fn version(&self) -> String {
        "1".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS household_links (
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                other BLOB NOT NULL,
                relation TEXT NOT NULL,
                same_household INTEGER NOT NULL,
                linked_at INTEGER NOT NULL,
                position INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                unlinked_at INTEGER,
                unlinked_position INTEGER,
                unlinked_recorded_at INTEGER,
                PRIMARY KEY (tenant, resident, other, position)
            );
            CREATE INDEX IF NOT EXISTS household_links_incoming
                ON household_links (tenant, other);",
        )?;
        Ok(())
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        match env.event {
            Event::HouseholdLinked(e) => {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO household_links (tenant, resident, other, relation, \
                     same_household, linked_at, position, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    env.tenant,
                    e.resident_id.0.as_bytes(),
                    e.other_resident_id.0.as_bytes(),
                    name_of(&e.relation),
                    e.same_household,
                    micros(env.occurred_at),
                    env.position as i64,
                    micros(env.recorded_at),
                ])?;
            }
            Event::HouseholdUnlinked(e) => {
                conn.prepare_cached(
                    "UPDATE household_links SET unlinked_at = ?4, unlinked_position = ?5, \
                     unlinked_recorded_at = ?6 \
                     WHERE tenant = ?1 AND resident = ?2 AND other = ?3 AND unlinked_at IS NULL",
                )?
                .execute(params![
                    env.tenant,
                    e.resident_id.0.as_bytes(),
                    e.other_resident_id.0.as_bytes(),
                    micros(env.occurred_at),
                    env.position as i64,
                    micros(env.recorded_at),
                ])?;
            }
            _ => {}
        }
        Ok(())
    }
}

const LINK_COLUMNS: &str = "SELECT resident, other, relation, same_household, linked_at \
    FROM household_links WHERE tenant = ?1 AND recorded_at <= ?3 \
    AND (unlinked_recorded_at IS NULL OR unlinked_recorded_at > ?3) AND ";

/// Links held in `resident`'s case file (`outgoing`) or naming `resident` (not `outgoing`),
/// as known at `at`.
fn links_at(
    conn: &Connection,
    tenant: &str,
    resident: ResidentId,
    outgoing: bool,
    at: DateTime<Utc>,
) -> Result<Vec<HouseholdLinkRecord>, ProjectionError> {
    let sql = if outgoing {
        format!("{LINK_COLUMNS} resident = ?2 ORDER BY position")
    } else {
        format!("{LINK_COLUMNS} other = ?2 ORDER BY position")
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![tenant, resident.0.as_bytes(), micros(at)])?;
    let mut links = Vec::new();
    while let Some(row) = rows.next()? {
        links.push(HouseholdLinkRecord {
            resident_id: ResidentId(uuid(&row.get::<_, Vec<u8>>(0)?)?),
            other_resident_id: ResidentId(uuid(&row.get::<_, Vec<u8>>(1)?)?),
            relation: from_name(&row.get::<_, String>(2)?)?,
            same_household: row.get(3)?,
            linked_at: time(row.get(4)?)?,
        });
    }
    Ok(links)
}

fn may_see(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    resident: ResidentId,
    at: DateTime<Utc>,
) -> Result<bool, ProjectionError> {
    let case = case_facts::load(conn, tenant, resident, at)?;
    Ok(case_basis(&case, viewer, at).is_ok())
}

/// The links in `resident`'s case file as known at `at`; `None` when the viewer may not see
/// the resident's case file at `at`.
pub fn links(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    resident: ResidentId,
    at: DateTime<Utc>,
) -> Result<Option<Vec<HouseholdLinkRecord>>, ProjectionError> {
    if !may_see(conn, tenant, viewer, resident, at)? {
        return Ok(None);
    }
    links_at(conn, tenant, resident, true, at).map(Some)
}

/// The family connected to `resident` by links in either direction, as known at `at`, naming
/// only residents the viewer may see; `None` when the viewer may not see `resident` itself.
pub fn household_of(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    resident: ResidentId,
    at: DateTime<Utc>,
) -> Result<Option<Household>, ProjectionError> {
    if !may_see(conn, tenant, viewer, resident, at)? {
        return Ok(None);
    }
    let mut seen = BTreeSet::from([resident]);
    let mut queue = VecDeque::from([resident]);
    let mut residents = Vec::new();
    let mut hidden = 0;
    let mut edges = Vec::new();
    while let Some(current) = queue.pop_front() {
        if current == resident || may_see(conn, tenant, viewer, current, at)? {
            residents.push(current);
        } else {
            hidden += 1;
        }
        let outgoing = links_at(conn, tenant, current, true, at)?;
        let incoming = links_at(conn, tenant, current, false, at)?;
        for link in outgoing.iter().chain(&incoming) {
            let next = if link.resident_id == current {
                link.other_resident_id
            } else {
                link.resident_id
            };
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
        edges.extend(outgoing);
    }
    let visible: BTreeSet<ResidentId> = residents.iter().copied().collect();
    edges.retain(|l| visible.contains(&l.resident_id) && visible.contains(&l.other_resident_id));
    Ok(Some(Household {
        residents,
        links: edges,
        hidden,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case_facts::CaseFacts;
    use crate::test_support::{Harness, TENANT, day};
    use kasane_domain::events::*;
    use kasane_domain::vocab::{Role, TeamRole};
    use kasane_domain::{AgencyId, MemberId};
    use uuid::Uuid;

    fn resident() -> ResidentId {
        ResidentId(Uuid::now_v7())
    }

    fn viewer() -> Viewer {
        Viewer {
            member_id: MemberId(Uuid::now_v7()),
            agency_id: AgencyId(Uuid::now_v7()),
            roles: vec![Role::Supporter],
            active: true,
        }
    }

    fn join(h: &mut Harness, v: &Viewer, r: ResidentId) {
        let added = CareTeamMemberAdded {
            resident_id: r,
            member_id: v.member_id,
            agency_id: v.agency_id,
            team_role: TeamRole::Member,
        };
        h.apply(added, day(1), None);
    }

    fn link(h: &mut Harness, from: ResidentId, to: ResidentId, relation: Relation, d: u32) {
        let e = HouseholdLinked {
            resident_id: from,
            other_resident_id: to,
            relation,
            same_household: true,
        };
        h.apply(e, day(d), None);
    }

    #[test]
    fn links_are_the_case_files_own_as_known_at_the_instant() {
        let mut h = Harness::new(vec![Box::new(CaseFacts), Box::new(HouseholdGraph)]);
        let (a, b, c) = (resident(), resident(), resident());
        let v = viewer();
        join(&mut h, &v, a);
        link(&mut h, a, b, Relation::Parent, 2);
        link(&mut h, c, a, Relation::Child, 2);
        let unlinked = HouseholdUnlinked {
            resident_id: a,
            other_resident_id: b,
        };
        h.apply(unlinked, day(5), None);
        link(&mut h, a, b, Relation::Sibling, 6);
        let at = |d| links(&h.conn, TENANT, &v, a, day(d)).unwrap().unwrap();
        assert_eq!(at(1), vec![]);
        let expected = HouseholdLinkRecord {
            resident_id: a,
            other_resident_id: b,
            relation: Relation::Parent,
            same_household: true,
            linked_at: day(2),
        };
        assert_eq!(at(4), vec![expected]);
        assert_eq!(at(5), vec![]);
        let relations: Vec<_> = at(6).iter().map(|l| l.relation).collect();
        assert_eq!(relations, vec![Relation::Sibling]);
        assert_eq!(links(&h.conn, TENANT, &v, c, day(6)).unwrap(), None);
        assert_eq!(links(&h.conn, TENANT, &viewer(), a, day(6)).unwrap(), None);
    }

    #[test]
    fn household_walks_both_directions_and_counts_hidden_residents() {
        let mut h = Harness::new(vec![Box::new(CaseFacts), Box::new(HouseholdGraph)]);
        let (a, b, c, d, e) = (resident(), resident(), resident(), resident(), resident());
        let v = viewer();
        for r in [a, b, d] {
            join(&mut h, &v, r);
        }
        // a -> b, c -> b (c hidden), c -> d: d is reached only through the hidden c
        link(&mut h, a, b, Relation::Parent, 2);
        link(&mut h, c, b, Relation::Sibling, 2);
        link(&mut h, c, d, Relation::Child, 2);
        link(&mut h, e, resident(), Relation::Other, 2);
        let family = household_of(&h.conn, TENANT, &v, a, day(3))
            .unwrap()
            .unwrap();
        assert_eq!(family.residents, vec![a, b, d]);
        assert_eq!(family.hidden, 1);
        let pairs: Vec<_> = family
            .links
            .iter()
            .map(|l| (l.resident_id, l.other_resident_id))
            .collect();
        assert_eq!(pairs, vec![(a, b)]);
        let unlinked = HouseholdUnlinked {
            resident_id: c,
            other_resident_id: b,
        };
        h.apply(unlinked, day(4), None);
        let family = household_of(&h.conn, TENANT, &v, a, day(4))
            .unwrap()
            .unwrap();
        assert_eq!((family.residents, family.hidden), (vec![a, b], 0));
        let before = household_of(&h.conn, TENANT, &v, b, day(3))
            .unwrap()
            .unwrap();
        assert_eq!((before.residents, before.hidden), (vec![b, a, d], 1));
        assert_eq!(household_of(&h.conn, TENANT, &v, c, day(3)).unwrap(), None);
    }
}
