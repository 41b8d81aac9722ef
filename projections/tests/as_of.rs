//! As-of correctness: for random histories written through the real write path (with the
//! projections updated inline) and random instants T, every as-of query equals
//! (1) the same query answered by projections freshly folded from only the events recorded
//!     at or before T, and
//! (2) what the domain says when it folds those events into a case file and asks the
//!     sharing rule at T (an oracle that shares no code with the read models but the rule).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use kasane_app::{CommandMeta, CommandService};
use kasane_domain::directory::{AgencyCommand, MemberCommand};
use kasane_domain::vocab::*;
use kasane_domain::*;
use kasane_projections::registry::{self, ProjectionSettings};
use kasane_projections::runner::{ProjectionRunner, apply_batch, open_read, open_write};
use kasane_projections::timeline::{TimelineQuery, timeline};
use kasane_projections::{ProjectionError, acks, care_team, consents};
use kasane_store::clock::ManualClock;
use kasane_store::{Clock, EventStore, MasterKey, RecordedEvent, SqliteConfig, SqliteStore};
use proptest::prelude::*;
use rusqlite::Connection;
use tempfile::TempDir;
use uuid::Uuid;

const TENANT: &str = "asof-city";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap()
}

/// One step of a random history; indexes pick members, residents, notes and consents.
#[derive(Clone, Debug)]
enum Op {
    AddTeam {
        by: usize,
        member: usize,
        resident: usize,
    },
    RemoveTeam {
        by: usize,
        member: usize,
        resident: usize,
    },
    Grant {
        by: usize,
        resident: usize,
        agencies: Vec<usize>,
        cats: Vec<usize>,
        from_min: i64,
        until_min: Option<i64>,
    },
    Withdraw {
        by: usize,
        resident: usize,
        consent: usize,
    },
    Post {
        by: usize,
        resident: usize,
        cats: Vec<usize>,
    },
    Correct {
        by: usize,
        note: usize,
    },
    Redact {
        by: usize,
        note: usize,
    },
    Ack {
        by: usize,
        note: usize,
    },
    Meeting {
        by: usize,
        resident: usize,
        kind: usize,
        attendees: Vec<usize>,
    },
    Close {
        by: usize,
        resident: usize,
    },
    Reopen {
        by: usize,
        resident: usize,
    },
    BreakGlass {
        by: usize,
        resident: usize,
        cats: Vec<usize>,
        minutes: i64,
    },
}

/// Number of members in the random world.
const MEMBERS: usize = 5;

fn op() -> impl Strategy<Value = Op> {
    let m = 0..MEMBERS;
    let r = 0..2usize;
    let cats = prop::collection::vec(0..5usize, 1..3);
    prop_oneof![
        4 => (m.clone(), m.clone(), r.clone())
            .prop_map(|(by, member, resident)| Op::AddTeam { by, member, resident }),
        1 => (m.clone(), m.clone(), r.clone())
            .prop_map(|(by, member, resident)| Op::RemoveTeam { by, member, resident }),
        2 => (
            m.clone(),
            r.clone(),
            prop::collection::vec(0..3usize, 1..3),
            cats.clone(),
            -60i64..600,
            prop::option::of(60i64..3000),
        )
            .prop_map(|(by, resident, agencies, cats, from_min, until_min)| Op::Grant {
                by,
                resident,
                agencies,
                cats,
                from_min,
                until_min
            }),
        1 => (m.clone(), r.clone(), 0..4usize)
            .prop_map(|(by, resident, consent)| Op::Withdraw { by, resident, consent }),
        5 => (m.clone(), r.clone(), cats.clone())
            .prop_map(|(by, resident, cats)| Op::Post { by, resident, cats }),
        1 => (m.clone(), 0..12usize).prop_map(|(by, note)| Op::Correct { by, note }),
        1 => (m.clone(), 0..12usize).prop_map(|(by, note)| Op::Redact { by, note }),
        2 => (m.clone(), 0..12usize).prop_map(|(by, note)| Op::Ack { by, note }),
        1 => (m.clone(), r.clone(), 0..3usize, prop::collection::vec(0..MEMBERS, 1..4))
            .prop_map(|(by, resident, kind, attendees)| Op::Meeting { by, resident, kind, attendees }),
        1 => (m.clone(), r.clone()).prop_map(|(by, resident)| Op::Close { by, resident }),
        1 => (m.clone(), r.clone()).prop_map(|(by, resident)| Op::Reopen { by, resident }),
        1 => (m, r, cats, 10i64..600)
            .prop_map(|(by, resident, cats, minutes)| Op::BreakGlass { by, resident, cats, minutes }),
    ]
}

const AGENCIES: [(&str, AgencyKind); 3] = [
    ("市役所 福祉課", AgencyKind::MunicipalSection),
    ("本町クリニック", AgencyKind::Clinic),
    ("さくら訪問看護", AgencyKind::VisitingNurseStation),
];

struct World {
    dir: TempDir,
    store: SqliteStore,
    service: CommandService,
    clock: Arc<ManualClock>,
    agencies: Vec<AgencyId>,
    members: Vec<MemberId>,
    residents: Vec<ResidentId>,
    notes: Vec<(ResidentId, NoteId)>,
    consents: Vec<(ResidentId, ConsentId)>,
    settings: ProjectionSettings,
}

impl World {
    async fn new() -> World {
        let dir = TempDir::new().unwrap();
        let clock = Arc::new(ManualClock::new(start()));
        let settings = ProjectionSettings::default();
        let path = dir.path().join("kasane.db");
        let runner = ProjectionRunner::new(&path, registry::all(&settings));
        let mut config = SqliteConfig::new(&path, MasterKey::generate());
        config.clock = clock.clone();
        config.inline = Some(runner.inline_hook());
        let store = SqliteStore::open(config).await.unwrap();
        runner.prepare().unwrap();
        let service =
            CommandService::open(Arc::new(store.clone()), TenantId::parse(TENANT).unwrap())
                .await
                .unwrap();
        let mut w = World {
            dir,
            store,
            service,
            clock,
            agencies: Vec::new(),
            members: Vec::new(),
            residents: Vec::new(),
            notes: Vec::new(),
            consents: Vec::new(),
            settings,
        };
        for (name, kind) in AGENCIES {
            let id = AgencyId(Uuid::now_v7());
            let cmd = AgencyCommand::Register {
                agency_id: id,
                name: name.into(),
                kind,
            };
            w.service.agency(None, id, cmd, w.meta()).await.unwrap();
            w.agencies.push(id);
        }
        let people = [
            (0, Profession::MunicipalStaff, vec![Role::Supporter]),
            (1, Profession::Physician, vec![Role::Supporter]),
            (2, Profession::VisitingNurse, vec![Role::Supporter]),
            (1, Profession::Pharmacist, vec![Role::Supporter]),
            (0, Profession::MunicipalStaff, vec![Role::Auditor]),
        ];
        for (i, (agency, profession, roles)) in people.into_iter().enumerate() {
            let id = MemberId(Uuid::now_v7());
            let cmd = MemberCommand::Enrol {
                member_id: id,
                agency_id: w.agencies[agency],
                name: format!("職員 {i}"),
                kana: format!("ショクイン {i}"),
                profession,
                roles,
            };
            w.service.member(None, id, cmd, w.meta()).await.unwrap();
            w.members.push(id);
        }
        for (by, name) in [(0, "山田 花子"), (1, "山田 太郎")] {
            let id = ResidentId(Uuid::now_v7());
            let cmd = ResidentCommand::Register {
                name: name.into(),
                kana: "ヤマダ".into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap(),
                address: None,
                support_areas: vec![SupportArea::Elderly],
            };
            w.tick(5);
            w.service
                .resident(w.members[by], id, cmd, w.meta())
                .await
                .unwrap();
            w.residents.push(id);
        }
        w
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn meta(&self) -> CommandMeta {
        CommandMeta::at(self.now())
    }

    fn tick(&self, minutes: i64) {
        self.clock.set(self.now() + Duration::minutes(minutes));
    }

    fn command(&mut self, op: &Op) -> Option<(usize, ResidentId, ResidentCommand)> {
        use ResidentCommand as C;
        let cats = |c: &Vec<usize>| -> Vec<InfoCategory> {
            let set: BTreeSet<_> = c.iter().map(|i| InfoCategory::ALL[*i]).collect();
            set.into_iter().collect()
        };
        let now = self.now();
        Some(match op {
            Op::AddTeam {
                by,
                member,
                resident,
            } => (
                *by,
                self.residents[*resident],
                C::AddTeamMember {
                    member_id: self.members[*member],
                    team_role: TeamRole::Member,
                },
            ),
            Op::RemoveTeam {
                by,
                member,
                resident,
            } => (
                *by,
                self.residents[*resident],
                C::RemoveTeamMember {
                    member_id: self.members[*member],
                },
            ),
            Op::Grant {
                by,
                resident,
                agencies,
                cats: c,
                from_min,
                until_min,
            } => {
                let id = ConsentId(Uuid::now_v7());
                self.consents.push((self.residents[*resident], id));
                let agencies: BTreeSet<_> = agencies.iter().map(|a| self.agencies[*a]).collect();
                (
                    *by,
                    self.residents[*resident],
                    C::GrantConsent {
                        consent_id: id,
                        agencies: agencies.into_iter().collect(),
                        categories: cats(c),
                        purpose: "支援のため".into(),
                        method: ConsentMethod::Written,
                        valid_from: now + Duration::minutes(*from_min),
                        valid_until: until_min.map(|u| now + Duration::minutes(from_min + u)),
                        document_ref: None,
                    },
                )
            }
            Op::Withdraw {
                by,
                resident,
                consent,
            } => {
                let (_, id) = self.consents.get(*consent).copied()?;
                (
                    *by,
                    self.residents[*resident],
                    C::WithdrawConsent {
                        consent_id: id,
                        reason: Some("本人の希望".into()),
                    },
                )
            }
            Op::Post {
                by,
                resident,
                cats: c,
            } => {
                let id = NoteId(Uuid::now_v7());
                self.notes.push((self.residents[*resident], id));
                (
                    *by,
                    self.residents[*resident],
                    C::PostNote {
                        note_id: id,
                        category: NoteCategory::Visit,
                        info_categories: cats(c),
                        body: format!("訪問記録 {}", self.notes.len()),
                        describes_at: now,
                        attachments: vec![],
                    },
                )
            }
            Op::Correct { by, note } => {
                let (r, id) = self.notes.get(*note).copied()?;
                (
                    *by,
                    r,
                    C::CorrectNote {
                        note_id: id,
                        body: format!("訂正 {note} at {now}"),
                        reason: "誤記".into(),
                    },
                )
            }
            Op::Redact { by, note } => {
                let (r, id) = self.notes.get(*note).copied()?;
                (
                    *by,
                    r,
                    C::RedactNote {
                        note_id: id,
                        reason: "別の方の記録".into(),
                    },
                )
            }
            Op::Ack { by, note } => {
                let (r, id) = self.notes.get(*note).copied()?;
                (*by, r, C::AcknowledgeNote { note_id: id })
            }
            Op::Meeting {
                by,
                resident,
                kind,
                attendees,
            } => {
                let attendees: BTreeSet<_> = attendees.iter().map(|m| self.members[*m]).collect();
                (
                    *by,
                    self.residents[*resident],
                    C::RecordMeeting {
                        meeting_id: MeetingId(Uuid::now_v7()),
                        kind: MeetingKind::ALL[*kind],
                        held_at: now - Duration::minutes(30),
                        attendees: attendees.into_iter().collect(),
                        agenda: "今後の支援".into(),
                        decisions: "役割分担".into(),
                        next_review_on: None,
                    },
                )
            }
            Op::Close { by, resident } => (
                *by,
                self.residents[*resident],
                C::CloseCase {
                    reason: "転居".into(),
                },
            ),
            Op::Reopen { by, resident } => (
                *by,
                self.residents[*resident],
                C::ReopenCase {
                    reason: "再相談".into(),
                },
            ),
            Op::BreakGlass {
                by,
                resident,
                cats: c,
                minutes,
            } => (
                *by,
                self.residents[*resident],
                C::InvokeBreakGlass {
                    grant_id: BreakGlassId(Uuid::now_v7()),
                    justification: "救急搬送".into(),
                    categories: cats(c),
                    duration: Duration::minutes(*minutes),
                },
            ),
        })
    }

    /// Runs one step; refusals are part of random histories (they write nothing).
    async fn run(&mut self, op: &Op) -> bool {
        let Some((by, resident, cmd)) = self.command(op) else {
            return false;
        };
        self.service
            .resident(self.members[by], resident, cmd, self.meta())
            .await
            .is_ok()
    }

    fn viewers(&self) -> Vec<Viewer> {
        self.members
            .iter()
            .map(|m| Viewer::from(&self.service.actor(*m).expect("enrolled")))
            .collect()
    }
}

/// Projections folded from scratch from only `events`, in a fresh database.
fn fresh_fold(settings: &ProjectionSettings, events: &[RecordedEvent]) -> (TempDir, Connection) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("fresh.db");
    let projections = registry::all(settings);
    let runner = ProjectionRunner::new(&path, registry::all(settings));
    runner.prepare().unwrap();
    let conn = open_write(&path).unwrap();
    apply_batch(&conn, &projections, events, None).unwrap();
    let head = events.last().map(|e| e.global_position).unwrap_or(0);
    let statuses = runner.status(head).unwrap();
    assert!(
        statuses.iter().all(|s| s.error.is_none() && s.lag == 0),
        "{statuses:?}"
    );
    (dir, conn)
}

/// Everything the as-of queries answer for one viewer, resident and instant.
#[derive(Debug, PartialEq)]
struct Answers {
    timeline: Result<serde_json::Value, String>,
    team: Result<serde_json::Value, String>,
    consents: Result<serde_json::Value, String>,
    unread: u64,
}

fn answers(conn: &Connection, viewer: &Viewer, resident: ResidentId, at: DateTime<Utc>) -> Answers {
    fn show<T: serde::Serialize>(
        r: Result<T, ProjectionError>,
    ) -> Result<serde_json::Value, String> {
        r.map(|v| serde_json::to_value(v).unwrap())
            .map_err(|e| e.code().to_owned())
    }
    Answers {
        timeline: show(timeline(
            conn,
            TENANT,
            viewer,
            resident,
            &TimelineQuery::at(at, 500),
        )),
        team: show(care_team::team(conn, TENANT, viewer, resident, at)),
        consents: show(consents::consents(conn, TENANT, viewer, resident, at)),
        unread: acks::unread_count(conn, TENANT, viewer, at).unwrap(),
    }
}

/// A visible note: id, basis, body shown, redacted.
type Seen = (NoteId, String, Option<String>, bool);

/// The oracle: the domain's own fold of the resident's events recorded by `at`, asked at `at`.
fn oracle_notes(
    events: &[RecordedEvent],
    viewer: &Viewer,
    resident: ResidentId,
    at: DateTime<Utc>,
) -> Result<BTreeSet<Seen>, ErrorCode> {
    let stream = streams::resident(resident);
    let mut case = CaseFile::default();
    for e in events
        .iter()
        .filter(|e| e.stream == stream && e.recorded_at <= at)
    {
        let ev = Event::decode(&e.event_type, e.schema_version, &e.payload).unwrap();
        case.evolve(&ev, e.occurred_at);
    }
    case_basis(&case, viewer, at).map_err(|r| r.code())?;
    Ok(case
        .notes
        .values()
        .filter_map(|n| {
            let basis = note_basis(&case, viewer, n, at).ok()?;
            let body = if basis == Basis::AuditorMetadata {
                None
            } else {
                n.current_body().known().cloned()
            };
            Some((
                n.posted.note_id,
                format!("{basis:?}"),
                body,
                n.redacted_at(at),
            ))
        })
        .collect())
}

fn visible_notes(page: &serde_json::Value) -> BTreeSet<Seen> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "NotePosted")
        .map(|e| {
            let basis: Basis = serde_json::from_value(e["basis"].clone()).unwrap();
            let note = &e["note"];
            (
                serde_json::from_value(note["note_id"].clone()).unwrap(),
                format!("{basis:?}"),
                note["body"].as_str().map(str::to_owned),
                note["redacted"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Probe picks from here on count back from the last event.
const END_PICK: usize = 1_000_000;

/// Runs `ops`, then checks every as-of query at each probed instant; returns how many
/// commands were accepted and how many notes some viewer could see at some probe.
async fn check(ops: Vec<Op>, probes: Vec<(usize, i64)>) -> (usize, usize) {
    let mut w = World::new().await;
    let mut accepted = 0;
    for (i, op) in ops.iter().enumerate() {
        w.tick(7 + (i as i64 * 13) % 97);
        accepted += usize::from(w.run(op).await);
    }
    let events = w.store.read_all(0, usize::MAX).await.unwrap();
    let last = events.last().unwrap().recorded_at;
    let live = open_read(&w.dir.path().join("kasane.db")).unwrap();
    let viewers = w.viewers();
    let span = (last - start()).num_minutes().max(1);
    let mut seen = 0;
    for (pick, offset) in probes {
        // Half the probes land exactly on an event's recorded_at, the rest anywhere; picks
        // past END_PICK count back from the last event.
        let at = if pick >= END_PICK {
            events[events.len().saturating_sub(1 + pick - END_PICK)].recorded_at
        } else if pick % 2 == 0 {
            events[pick % events.len()].recorded_at
        } else {
            start() + Duration::minutes(offset % (span + 60))
        };
        let prefix: Vec<RecordedEvent> = events
            .iter()
            .filter(|e| e.recorded_at <= at)
            .cloned()
            .collect();
        let (_fresh_dir, fresh) = fresh_fold(&w.settings, &prefix);
        for viewer in &viewers {
            for resident in &w.residents {
                let live_answers = answers(&live, viewer, *resident, at);
                let fresh_answers = answers(&fresh, viewer, *resident, at);
                assert_eq!(live_answers, fresh_answers, "as of {at}, viewer {viewer:?}");
                let expected = oracle_notes(&events, viewer, *resident, at);
                match (&live_answers.timeline, expected) {
                    (Ok(page), Ok(expected)) => {
                        seen += expected.len();
                        assert_eq!(
                            visible_notes(page),
                            expected,
                            "as of {at}, viewer {viewer:?}"
                        )
                    }
                    (Err(code), Err(expected)) => assert_eq!(code, expected.as_str()),
                    (got, want) => panic!(
                        "as of {at}, viewer {viewer:?}: got {got:?}, the domain says {want:?}"
                    ),
                }
            }
        }
    }
    w.store.close().await;
    (accepted, seen)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn as_of_queries_equal_a_fresh_fold_of_what_was_recorded_by_then(
        ops in prop::collection::vec(op(), 10..60),
        probes in prop::collection::vec((0usize..1000, 0i64..100_000), 4),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(check(ops, probes));
    }
}

/// The property above is only worth something if random histories are rich: a fixed long
/// history must get most commands accepted and show notes on several bases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_histories_are_not_all_refusals() {
    let mut ops = Vec::new();
    for i in 0..MEMBERS {
        for r in 0..2 {
            ops.push(Op::AddTeam {
                by: r,
                member: i,
                resident: r,
            });
        }
    }
    for i in 0..20 {
        ops.push(Op::Post {
            by: i % 4,
            resident: i % 2,
            cats: vec![i % 5],
        });
    }
    ops.push(Op::Grant {
        by: 0,
        resident: 0,
        agencies: vec![1, 2],
        cats: vec![0, 1, 2, 3, 4],
        from_min: 0,
        until_min: None,
    });
    let probes = (0..4).map(|i| (END_PICK + i * 3, 0)).collect();
    let (accepted, seen) = check(ops.clone(), probes).await;
    assert!(
        accepted > ops.len() / 2,
        "{accepted} of {} accepted",
        ops.len()
    );
    assert!(seen > 10, "only {seen} notes visible across probes");
}
