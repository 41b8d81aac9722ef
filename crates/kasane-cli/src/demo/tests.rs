//! Tests of the planner that need no store: determinism, names, ages, household links, and a
//! simulation that runs every planned command through the domain's own rules.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Utc};
use kasane_domain::directory::{AgencyState, MemberState, decide_agency, decide_member};
use kasane_domain::vocab::{MeetingKind, Relation, SupportArea};
use kasane_domain::{
    Actor, AgencyFacts, AgencyId, CaseFile, Context, Directory, Event, MemberFacts, MemberId,
    Principal, ResidentId, decide,
};

use super::names::is_katakana_reading;
use super::plan::{Action, Op, Plan, jst_date};
use super::run::{Commands, Counted, Planned};
use super::{DemoOptions, DemoSummary, build_plan};

fn end() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-31T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn options(seed: u64, residents: usize, months: u32) -> DemoOptions {
    DemoOptions {
        seed,
        residents,
        months,
        members: 0,
        end: end(),
    }
}

// ------------------------------------------------------------------ a store-free simulation

#[derive(Default)]
struct Dir {
    agencies: BTreeMap<AgencyId, AgencyState>,
    members: BTreeMap<MemberId, MemberState>,
}

impl Directory for Dir {
    fn member(&self, id: MemberId) -> Option<MemberFacts> {
        let state = self.members.get(&id)?;
        let e = state.enrolled.as_ref()?;
        Some(MemberFacts {
            member_id: id,
            agency_id: e.agency_id,
            profession: e.profession,
            roles: e.roles.clone(),
            active: !state.suspended,
        })
    }
    fn agency(&self, id: AgencyId) -> Option<AgencyFacts> {
        let e = self.agencies.get(&id)?.registered.as_ref()?;
        Some(AgencyFacts {
            agency_id: id,
            name: e.name.clone(),
            kind: e.kind,
        })
    }
}

/// What the simulation saw.
#[derive(Default)]
struct Sim {
    summary: DemoSummary,
    refusals: Vec<String>,
    /// Commands the domain accepted but that changed nothing (e.g. a second acknowledgement).
    no_ops: usize,
    by_type: BTreeMap<&'static str, usize>,
    cases: HashMap<ResidentId, CaseFile>,
}

/// Runs every planned command through `decide` (and reads through the sharing rule), exactly
/// as the command service would, but in memory.
fn simulate(plan: &Plan) -> Sim {
    let commands = Commands::new(plan);
    let mut dir = Dir::default();
    let mut sim = Sim::default();
    let mut last = 0u32;
    for a in &plan.actions {
        assert!(a.at >= last, "actions are in time order");
        last = a.at;
        let now = plan.instant(a.at);
        let (planned, counted) = commands.command(a);
        let principal = |dir: &Dir, by: Option<MemberId>| match by {
            None => Some(Principal::Operator),
            Some(m) => Actor::resolve(dir, m).map(Principal::Member),
        };
        let outcome: Result<Vec<Event>, String> = match planned {
            Planned::Agency { by, id, cmd } => match principal(&dir, by) {
                None => Err("UNKNOWN_ACTOR".into()),
                Some(p) => {
                    let state = dir.agencies.entry(id).or_default().clone();
                    decide_agency(&state, &cmd, &p)
                        .inspect(|events| {
                            let s = dir.agencies.entry(id).or_default();
                            events.iter().for_each(|e| s.evolve(e));
                        })
                        .map_err(|e| e.to_string())
                }
            },
            Planned::Member { by, id, cmd } => match principal(&dir, by) {
                None => Err("UNKNOWN_ACTOR".into()),
                Some(p) => {
                    let state = dir.members.get(&id).cloned().unwrap_or_default();
                    decide_member(&state, &cmd, &p, &dir)
                        .inspect(|events| {
                            let s = dir.members.entry(id).or_default();
                            events.iter().for_each(|e| s.evolve(e));
                        })
                        .map_err(|e| e.to_string())
                }
            },
            Planned::Resident { by, id, cmd } => match Actor::resolve(&dir, by) {
                None => Err("UNKNOWN_ACTOR".into()),
                Some(actor) => {
                    let case = sim.cases.entry(id).or_default();
                    let ctx = Context {
                        now,
                        actor: &actor,
                        directory: &dir,
                    };
                    decide(case, id, &cmd, &ctx)
                        .inspect(|events| {
                            events.iter().for_each(|e| case.evolve(e, now));
                        })
                        .map_err(|e| e.to_string())
                }
            },
            Planned::Read { id, .. } => {
                let case = sim.cases.entry(id).or_default();
                match commands.read(a, case, now) {
                    Ok(_) => Ok(vec![]),
                    Err(code) => Err(format!("read: {code}")),
                }
            }
        };
        sim.summary.commands += 1;
        match outcome {
            Ok(events) => {
                if events.is_empty() && counted != Counted::Read {
                    sim.no_ops += 1;
                }
                for e in &events {
                    *sim.by_type.entry(e.event_type()).or_default() += 1;
                }
                sim.summary.events += events.len() as u64 + u64::from(counted == Counted::Read);
                counted.add_to(&mut sim.summary);
            }
            Err(e) => {
                sim.summary.refused += 1;
                sim.refusals
                    .push(format!("{} {:?} r{}: {e}", now, a.op, a.resident));
            }
        }
    }
    sim
}

fn assert_clean(sim: &Sim) {
    assert!(
        sim.refusals.is_empty(),
        "{} refused, first ones:\n{}",
        sim.refusals.len(),
        sim.refusals
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(sim.no_ops, 0, "no command should be a no-op");
}

#[test]
fn default_town_passes_every_domain_rule() {
    let plan = build_plan(&options(42, 150, 12)).unwrap();
    let sim = simulate(&plan);
    assert_clean(&sim);
    let s = &sim.summary;
    println!("{s}");
    println!("events by type: {:#?}", sim.by_type);
    println!(
        "plan: {} actions of {} bytes",
        plan.actions.len(),
        size_of::<Action>()
    );
    // the story has every ingredient
    assert_eq!(plan.residents.len(), 150);
    assert!(
        (38..=45).contains(&plan.members.len()),
        "{}",
        plan.members.len()
    );
    assert!(
        s.notes > 2_000 && s.acknowledgements > 1_000 && s.reads > 1_000,
        "{s}"
    );
    assert!(s.corrections > 0 && s.redactions >= 1, "{s}");
    assert!((1..=3).contains(&s.break_glass), "{s}");
    assert_eq!(s.reopened, 1, "{s}");
    assert!(s.closures >= 3, "{s}");
    assert!(s.consent_withdrawals >= 1, "{s}");
    assert!(s.referrals > 20 && s.referral_answers > 10, "{s}");
    for t in [
        "ReferralAccepted",
        "ReferralDeclined",
        "ReferralWithdrawn",
        "ReferralCompleted",
        "CareTeamMemberRemoved",
        "MemberSuspended",
        "HouseholdLinked",
        "SupportPlanSet",
    ] {
        assert!(sim.by_type.get(t).is_some_and(|n| *n > 0), "no {t}");
    }
    let kinds: Vec<MeetingKind> = plan.meetings.iter().map(|m| m.kind).collect();
    for k in MeetingKind::ALL {
        assert!(kinds.contains(k), "no {k:?} meeting");
    }
    assert!(
        plan.consents
            .iter()
            .any(|c| c.valid_until.is_some_and(|u| u < plan.end)),
        "some consent lapses in the period"
    );
}

#[test]
fn other_seeds_and_longer_periods_pass_too() {
    for (seed, residents, months) in [(1, 80, 12), (7, 120, 24), (99, 40, 3), (5, 25, 1)] {
        let plan = build_plan(&options(seed, residents, months)).unwrap();
        assert_eq!(plan.residents.len(), residents);
        let sim = simulate(&plan);
        assert_clean(&sim);
    }
}

#[test]
fn reads_use_every_sharing_basis() {
    use kasane_domain::Basis;
    let plan = build_plan(&options(42, 150, 12)).unwrap();
    let commands = Commands::new(&plan);
    // replay, recording the bases the reads return
    let mut dir = Dir::default();
    let mut cases: HashMap<ResidentId, CaseFile> = HashMap::new();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for a in &plan.actions {
        let now = plan.instant(a.at);
        match commands.command(a).0 {
            Planned::Agency { by, id, cmd } => {
                let p = by.map_or(Principal::Operator, |m| {
                    Principal::Member(Actor::resolve(&dir, m).unwrap())
                });
                let s = dir.agencies.entry(id).or_default();
                let events = decide_agency(s, &cmd, &p).unwrap();
                events.iter().for_each(|e| s.evolve(e));
            }
            Planned::Member { by, id, cmd } => {
                let p = by.map_or(Principal::Operator, |m| {
                    Principal::Member(Actor::resolve(&dir, m).unwrap())
                });
                let state = dir.members.get(&id).cloned().unwrap_or_default();
                let events = decide_member(&state, &cmd, &p, &dir).unwrap();
                let s = dir.members.entry(id).or_default();
                events.iter().for_each(|e| s.evolve(e));
            }
            Planned::Resident { by, id, cmd } => {
                let actor = Actor::resolve(&dir, by).unwrap();
                let case = cases.entry(id).or_default();
                let ctx = Context {
                    now,
                    actor: &actor,
                    directory: &dir,
                };
                let events = decide(case, id, &cmd, &ctx).unwrap();
                events.iter().for_each(|e| case.evolve(e, now));
            }
            Planned::Read { id, .. } => {
                let (_, items) = commands.read(a, &cases[&id], now).unwrap();
                for item in items {
                    let name = match item.basis {
                        Basis::OwnAgency => "own_agency",
                        Basis::Consent { .. } => "consent",
                        Basis::SupportMeeting { .. } => "support_meeting",
                        Basis::BreakGlass { .. } => "break_glass",
                        Basis::AuditorMetadata => "auditor",
                        Basis::CareTeam => "care_team",
                    };
                    *seen.entry(name).or_default() += 1;
                }
            }
        }
    }
    println!("{seen:?}");
    for basis in [
        "own_agency",
        "consent",
        "support_meeting",
        "break_glass",
        "care_team",
    ] {
        assert!(
            seen.contains_key(basis),
            "no read on basis {basis}: {seen:?}"
        );
    }
}

// ------------------------------------------------------------------ the plan itself

#[test]
fn plans_are_deterministic_by_seed() {
    let a = build_plan(&options(42, 60, 6)).unwrap();
    let b = build_plan(&options(42, 60, 6)).unwrap();
    assert!(a == b, "same seed, same plan");
    let c = build_plan(&options(43, 60, 6)).unwrap();
    assert!(a != c, "another seed, another plan");
    assert_ne!(a.residents[0].name, c.residents[0].name);
    // ids and texts derive from the plan and the seed alone
    let (ca, cb) = (Commands::new(&a), Commands::new(&b));
    assert_eq!(ca.ids.residents, cb.ids.residents);
    assert_eq!(ca.ids.members, cb.ids.members);
    for (x, y) in a.actions.iter().zip(&b.actions).step_by(37) {
        assert_eq!(ca.ids_of(x), cb.ids_of(y));
        assert_eq!(
            format!("{:?}", planned_debug(&ca, x)),
            format!("{:?}", planned_debug(&cb, y))
        );
    }
    let cc = Commands::new(&c);
    assert_ne!(ca.ids.residents[0], cc.ids.residents[0]);
}

fn planned_debug(c: &Commands<'_>, a: &Action) -> String {
    match c.command(a).0 {
        Planned::Agency { cmd, .. } => format!("{cmd:?}"),
        Planned::Member { cmd, .. } => format!("{cmd:?}"),
        Planned::Resident { cmd, .. } => format!("{cmd:?}"),
        Planned::Read { by, id } => format!("read {by} {id}"),
    }
}

#[test]
fn ids_are_uuid_v7_and_unique() {
    let plan = build_plan(&options(3, 100, 12)).unwrap();
    let c = Commands::new(&plan);
    let mut all: Vec<uuid::Uuid> = c.ids.residents.iter().map(|r| r.0).collect();
    all.extend(c.ids.members.iter().map(|m| m.0));
    all.extend(c.ids.agencies.iter().map(|a| a.0));
    all.extend(plan.actions.iter().map(|a| c.ids_of(a).0));
    assert!(all.iter().all(|u| u.get_version_num() == 7));
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "no id is used twice");
}

#[test]
fn names_have_katakana_readings() {
    let plan = build_plan(&options(11, 150, 12)).unwrap();
    for r in &plan.residents {
        assert!(is_katakana_reading(&r.kana), "{} / {}", r.name, r.kana);
        assert_eq!(r.name.split(' ').count(), 2, "{}", r.name);
        assert_eq!(r.kana.split(' ').count(), 2, "{}", r.kana);
        assert!(r.address.starts_with("かさね市"), "{}", r.address);
    }
    for m in &plan.members {
        assert!(is_katakana_reading(&m.kana), "{} / {}", m.name, m.kana);
    }
}

#[test]
fn birth_dates_fit_support_areas() {
    for seed in [1, 2, 3] {
        let plan = build_plan(&options(seed, 200, 12)).unwrap();
        for r in &plan.residents {
            let on = jst_date(r.registered);
            let mut age = on.year() - r.birth_date.year();
            if (on.month(), on.day()) < (r.birth_date.month(), r.birth_date.day()) {
                age -= 1;
            }
            let ok = if r.areas.contains(&SupportArea::Elderly) {
                (65..=100).contains(&age)
            } else if r.areas.contains(&SupportArea::Child) {
                (3..=17).contains(&age)
            } else {
                (18..=64).contains(&age)
            };
            assert!(ok, "{} aged {age} with {:?}", r.name, r.areas);
            assert!(!r.areas.is_empty());
        }
    }
}

#[test]
fn households_are_linked_both_ways() {
    let plan = build_plan(&options(5, 300, 12)).unwrap();
    let mut links: BTreeMap<(u32, u32), (Relation, bool)> = BTreeMap::new();
    for a in &plan.actions {
        if let Op::Link {
            other,
            relation,
            same_household,
        } = a.op
        {
            assert!(
                links
                    .insert((a.resident, other), (relation, same_household))
                    .is_none(),
                "linked twice"
            );
            assert_eq!(
                plan.residents[a.resident as usize].household,
                plan.residents[other as usize].household
            );
        }
    }
    assert!(links.len() > 50);
    let inverse = |r: Relation| match r {
        Relation::Parent => Relation::Child,
        Relation::Child => Relation::Parent,
        Relation::Grandparent => Relation::Grandchild,
        Relation::Grandchild => Relation::Grandparent,
        other => other,
    };
    for ((a, b), (relation, same)) in &links {
        let back = links
            .get(&(*b, *a))
            .unwrap_or_else(|| panic!("{b} is not linked back to {a}"));
        assert_eq!(back.0, inverse(*relation));
        assert_eq!(back.1, *same);
    }
    // everyone in a household of several is linked to someone
    let mut sizes: BTreeMap<u32, usize> = BTreeMap::new();
    for r in &plan.residents {
        *sizes.entry(r.household).or_default() += 1;
    }
    for (i, r) in plan.residents.iter().enumerate() {
        if sizes[&r.household] > 1 {
            assert!(
                links.keys().any(|(a, _)| *a == i as u32),
                "{} has no link",
                r.name
            );
        }
    }
    // double care and 8050 households are there
    let relations: Vec<Relation> = links.values().map(|v| v.0).collect();
    assert!(relations.contains(&Relation::Grandchild));
    assert!(relations.contains(&Relation::Spouse));
    assert!(relations.contains(&Relation::Sibling));
}

#[test]
fn actions_are_compact() {
    assert!(size_of::<Action>() <= 32, "{}", size_of::<Action>());
}

#[test]
fn summary_displays() {
    let s = DemoSummary {
        agencies: 15,
        members: 40,
        residents: 150,
        ..DemoSummary::default()
    };
    let text = s.to_string();
    assert!(text.contains("15 agencies, 40 members"));
    assert!(text.contains("150 in"));
}

/// A bigger town (run with `cargo test --release -- --ignored`): edge cases show up at scale.
#[test]
#[ignore]
fn larger_towns_pass_every_domain_rule() {
    let residents = std::env::var("DEMO_RESIDENTS").map_or(2000, |v| v.parse().unwrap());
    let months = std::env::var("DEMO_MONTHS").map_or(12, |v| v.parse().unwrap());
    let seeds: Vec<u64> = std::env::var("DEMO_SEEDS").map_or(vec![42], |v| {
        v.split(',').map(|s| s.parse().unwrap()).collect()
    });
    for seed in seeds {
        let started = std::time::Instant::now();
        let plan = build_plan(&options(seed, residents, months)).unwrap();
        let planned = started.elapsed();
        let sim = simulate(&plan);
        println!(
            "seed {seed}: {} actions planned in {planned:?}, simulated in {:?}",
            plan.actions.len(),
            started.elapsed() - planned
        );
        println!("{}", sim.summary);
        assert_clean(&sim);
    }
}
