//! Households and residents, and the history of their case files over the period.
//!
//! Planning happens per household with its own generator, in three passes per case:
//! structure (registration, closure, team, referrals, hand-overs, consents, meetings, plans,
//! household links, special events), notes, then acknowledgements and reads. The structure
//! pass fixes every interval the sharing rule depends on (team spells, consent periods,
//! statutory meetings, closures), so the third pass can tell exactly which notes a member may
//! see when they acknowledge one: every planned command passes the domain's rules.

use chrono::{Datelike, Months};
use kasane_domain::vocab::{
    ConsentMethod, InfoCategory, MeetingKind, Profession, Relation, SupportArea, SupportKind,
    Urgency,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::names::{self, Gender};
use super::plan::*;
use super::town::{Town, Unit};

const NEVER: i64 = i64::MAX;

// ------------------------------------------------------------------ time helpers

fn uniform(rng: &mut impl Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

/// `t` if it falls in office hours, else a little after the next opening.
fn office(t: i64, rng: &mut impl Rng) -> i64 {
    let day = jst_day(t);
    let secs = jst_secs(t);
    if is_business_day(day) && (OPEN..CLOSE).contains(&secs) {
        return t;
    }
    let next = if is_business_day(day) && secs < OPEN {
        day
    } else {
        business_day_from(day + 1)
    };
    jst_at(next, OPEN + rng.random_range(0..90 * MIN))
}

/// An office moment `lo..=hi` seconds after `t` (later if that falls outside office hours).
fn after(t: i64, lo: i64, hi: i64, rng: &mut impl Rng) -> i64 {
    office(t + uniform(rng, lo.max(1), hi.max(1)), rng)
}

/// A time during a working day on or after `day`.
fn work_time(day: i64, rng: &mut impl Rng) -> i64 {
    jst_at(
        business_day_from(day),
        9 * HOUR + rng.random_range(0..8 * HOUR),
    )
}

/// A home-visit time on `day` (home helpers also work on Saturdays).
fn visit_time(day: i64, saturday: bool, rng: &mut impl Rng) -> i64 {
    let d = if saturday && weekday(day) == 5 {
        day
    } else {
        business_day_from(day)
    };
    jst_at(d, 9 * HOUR + rng.random_range(0..(7 * HOUR + 30 * MIN)))
}

// ------------------------------------------------------------------ demography

/// The kinds of households the town's caseload is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HouseholdKind {
    SingleElderly,
    ElderlyCouple,
    /// A parent around 80 and a withdrawn son or daughter around 50.
    Family8050,
    /// An elderly parent in care, the carer, and the carer's young child.
    DoubleCare,
    ChildDisability,
    SingleParent,
    PovertySingle,
    /// An adult with a disability and their ageing parent (老障介護).
    DisabledAdult,
}

const HOUSEHOLD_WEIGHTS: &[(HouseholdKind, u32)] = &[
    (HouseholdKind::SingleElderly, 30),
    (HouseholdKind::ElderlyCouple, 11),
    (HouseholdKind::Family8050, 8),
    (HouseholdKind::DoubleCare, 6),
    (HouseholdKind::ChildDisability, 7),
    (HouseholdKind::SingleParent, 9),
    (HouseholdKind::PovertySingle, 16),
    (HouseholdKind::DisabledAdult, 7),
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Special {
    pub break_glass: bool,
    pub redaction: bool,
    pub reopen: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Draft {
    pub kind: HouseholdKind,
    pub size: u8,
    pub special: Special,
}

/// Household kinds and sizes adding up to exactly `residents`, with the special events
/// (break-glass, a misposted note, a reopened case) assigned to some of them.
pub(crate) fn drafts(seed: u64, residents: usize, span: i64) -> Vec<Draft> {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, tag::DEMOGRAPHY, 0, 0));
    let total: u32 = HOUSEHOLD_WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut out = Vec::new();
    let mut count = 0usize;
    while count < residents {
        let mut roll = rng.random_range(0..total);
        let mut kind = HouseholdKind::SingleElderly;
        for (k, w) in HOUSEHOLD_WEIGHTS {
            if roll < *w {
                kind = *k;
                break;
            }
            roll -= w;
        }
        let size: usize = match kind {
            HouseholdKind::SingleElderly | HouseholdKind::PovertySingle => 1,
            HouseholdKind::ElderlyCouple | HouseholdKind::Family8050 => 2,
            HouseholdKind::DoubleCare => 3,
            HouseholdKind::ChildDisability | HouseholdKind::DisabledAdult => {
                if rng.random_bool(0.4) { 2 } else { 1 }
            }
            HouseholdKind::SingleParent => {
                if rng.random_bool(0.5) {
                    3
                } else {
                    2
                }
            }
        };
        let size = size.min(residents - count);
        count += size;
        out.push(Draft {
            kind,
            size: size as u8,
            special: Special::default(),
        });
    }
    let per_100 = ((residents + 50) / 100).max(1);
    if span >= 60 * DAY {
        let single = |d: &Draft| d.kind == HouseholdKind::SingleElderly;
        pick(&mut out, &mut rng, per_100, &single, |s| {
            s.break_glass = true
        });
        let couples = |d: &Draft| d.kind == HouseholdKind::ElderlyCouple && d.size == 2;
        pick(&mut out, &mut rng, per_100, &couples, |s| {
            s.redaction = true
        });
        let done = out.iter().filter(|d| d.special.redaction).count();
        pick(
            &mut out,
            &mut rng,
            per_100 - done.min(per_100),
            &single,
            |s| s.redaction = true,
        );
    }
    if span >= 150 * DAY {
        let elderly = |d: &Draft| {
            matches!(
                d.kind,
                HouseholdKind::SingleElderly | HouseholdKind::ElderlyCouple
            )
        };
        pick(
            &mut out,
            &mut rng,
            (residents / 150).max(1),
            &elderly,
            |s| s.reopen = true,
        );
    }
    out
}

/// Marks `n` households that `ok` accepts (and that have no special event yet) with `set`.
fn pick(
    out: &mut [Draft],
    rng: &mut impl Rng,
    n: usize,
    ok: &dyn Fn(&Draft) -> bool,
    set: fn(&mut Special),
) {
    let mut eligible: Vec<usize> = (0..out.len())
        .filter(|i| ok(&out[*i]) && out[*i].special == Special::default())
        .collect();
    for _ in 0..n {
        if eligible.is_empty() {
            break;
        }
        let i = eligible.remove(rng.random_range(0..eligible.len()));
        set(&mut out[i].special);
    }
}

fn elder_gender(rng: &mut impl Rng) -> Gender {
    if rng.random_bool(0.65) {
        Gender::Female
    } else {
        Gender::Male
    }
}

struct Person {
    profile: Profile,
    gender: Gender,
    age: u32,
    reg: i64,
    kin: &'static str,
    dementia: bool,
    family: (&'static str, &'static str),
    address: usize,
    hard: bool,
}

/// One family link in the case file of `from`: what `to` is to `from`.
struct Link {
    from: usize,
    to: usize,
    relation: Relation,
    same_household: bool,
}

fn child_word(g: Gender) -> &'static str {
    match g {
        Gender::Female => "長女",
        Gender::Male => "長男",
    }
}

fn spouse_word(g: Gender) -> &'static str {
    match g {
        Gender::Female => "妻",
        Gender::Male => "夫",
    }
}

fn areas_for(profile: Profile, rng: &mut impl Rng) -> Vec<SupportArea> {
    use SupportArea::*;
    let mut a = Vec::new();
    let mut maybe = |a: &mut Vec<SupportArea>, area, p: f64| {
        if rng.random_bool(p) {
            a.push(area);
        }
    };
    match profile {
        Profile::ElderlyCare => {
            a.push(Elderly);
            maybe(&mut a, Poverty, 0.15);
            maybe(&mut a, Disability, 0.1);
        }
        Profile::ElderlySupport => {
            a.push(Elderly);
            maybe(&mut a, Poverty, 0.15);
        }
        Profile::Withdrawn => {
            a.push(Other);
            maybe(&mut a, Poverty, 0.5);
            maybe(&mut a, Disability, 0.2);
        }
        Profile::Carer => {
            a.push(Other);
            maybe(&mut a, Poverty, 0.25);
        }
        Profile::Child => {
            a.push(Child);
            maybe(&mut a, Poverty, 0.4);
        }
        Profile::ChildDisability => {
            a.push(Child);
            a.push(Disability);
            maybe(&mut a, Poverty, 0.2);
        }
        Profile::SingleParent => {
            a.push(Poverty);
            maybe(&mut a, Other, 0.5);
        }
        Profile::Poverty => {
            a.push(Poverty);
            maybe(&mut a, Other, 0.3);
            maybe(&mut a, Disability, 0.15);
        }
        Profile::DisabledAdult => {
            a.push(Disability);
            maybe(&mut a, Poverty, 0.5);
        }
    }
    a.sort();
    a
}

fn hard_probability(profile: Profile) -> f64 {
    match profile {
        Profile::Withdrawn => 0.5,
        Profile::Carer => 0.25,
        Profile::Child => 0.2,
        Profile::SingleParent => 0.1,
        Profile::Poverty | Profile::ElderlySupport => 0.05,
        _ => 0.0,
    }
}

// ------------------------------------------------------------------ case state while planning

#[derive(Clone, Copy, Debug)]
struct Slot {
    member: u16,
    agency: u16,
    from: i64,
    until: i64,
    lead: bool,
}

struct CModel {
    granted: i64,
    from: i64,
    until: i64,
    withdrawn: i64,
    agencies: Vec<u16>,
    cats: u8,
}

struct SModel {
    recorded: i64,
    held: i64,
    agencies: Vec<u16>,
}

struct NModel {
    at: i64,
    author: u16,
    agency: u16,
    cats: u8,
    kind: NoteKind,
    redact: i64,
    shareable: bool,
}

struct Case {
    r: u32,
    person: usize,
    profile: Profile,
    reg: i64,
    lead: u16,
    hard: bool,
    kin: &'static str,
    close: Option<(i64, CloseReason)>,
    reopen: Option<i64>,
    slots: Vec<Slot>,
    consents: Vec<CModel>,
    statutory: Vec<SModel>,
    notes: Vec<NModel>,
    /// Meetings: (recorded at, convener, kind).
    meetings: Vec<(i64, u16, MeetingKind)>,
    referrals: Vec<u32>,
    /// Members who joined through a referral: (joined at).
    joins: Vec<i64>,
    /// The agency no consent of this case covers (where break-glass happens).
    excluded_agency: Option<u16>,
    /// Extra notes decided in the structure pass: (at, author, kind, redacted at).
    extra_notes: Vec<(i64, u16, NoteKind, Option<i64>)>,
    acts: Vec<Action>,
    seq: u32,
    epoch: i64,
    end: i64,
}

impl Case {
    fn push(&mut self, at: i64, actor: u16, op: Op) -> bool {
        if at > self.end || at <= self.epoch {
            return false;
        }
        self.acts.push(Action {
            at: (at - self.epoch) as u32,
            resident: self.r,
            seq: self.seq,
            actor,
            op,
        });
        self.seq += 1;
        true
    }

    /// True when commands needing an open case are accepted at `t` (strictly inside).
    fn open(&self, t: i64) -> bool {
        if t <= self.reg || t > self.end {
            return false;
        }
        match self.close {
            None => true,
            Some((c, _)) => t < c || self.reopen.is_some_and(|r| t > r),
        }
    }

    /// True when `m` is on the team (and active) at `t`, with margins on both ends.
    fn on_team(&self, town: &Town, m: u16, t: i64) -> bool {
        town.member(m).active(t)
            && self
                .slots
                .iter()
                .any(|s| s.member == m && s.from < t && t < s.until)
    }

    /// True when the domain would see `m` on the team at `t` (active or not).
    fn has_spell(&self, m: u16, t: i64) -> bool {
        self.slots
            .iter()
            .any(|s| s.member == m && s.from <= t && t < s.until)
    }

    fn team_at(&self, town: &Town, t: i64) -> Vec<Slot> {
        let mut out: Vec<Slot> = Vec::new();
        for s in &self.slots {
            if s.from < t
                && t < s.until
                && town.member(s.member).active(t)
                && !out.iter().any(|o| o.member == s.member)
            {
                out.push(*s);
            }
        }
        out
    }

    fn team_agencies(&self, town: &Town, t: i64) -> Vec<u16> {
        let mut a: Vec<u16> = self.team_at(town, t).iter().map(|s| s.agency).collect();
        a.sort_unstable();
        a.dedup();
        if let Some(x) = self.excluded_agency {
            a.retain(|y| *y != x);
        }
        a
    }

    fn closed_between(&self, a: i64, b: i64) -> bool {
        self.close.is_some_and(|(c, _)| a < c && c <= b)
    }

    /// The sharing rule as the planner knows it (conservative at the edges): may member `m` of
    /// `agency` see note `n` at `t`?
    fn visible(&self, town: &Town, n: &NModel, m: u16, agency: u16, t: i64) -> bool {
        if n.at >= t || t >= n.redact || !self.on_team(town, m, t) {
            return false;
        }
        if agency == n.agency {
            return true;
        }
        let consent = self.consents.iter().any(|c| {
            c.granted < t
                && c.from <= t
                && t < c.until
                && t < c.withdrawn
                && c.agencies.contains(&agency)
                && n.cats & !c.cats == 0
        });
        consent
            || self.statutory.iter().any(|s| {
                s.recorded < t
                    && s.held <= t
                    && !self.closed_between(s.held, t)
                    && s.agencies.contains(&agency)
                    && s.agencies.contains(&n.agency)
            })
    }

    fn member_of_unit_on_team(&self, town: &Town, unit: Unit, t: i64) -> Option<u16> {
        self.team_at(town, t)
            .into_iter()
            .find(|s| town.unit_of_agency(s.agency) == unit)
            .map(|s| s.member)
    }
}

/// Per-household memory: which agency of each unit serves the household, and who.
struct HouseholdPrefs {
    agency: Vec<Option<u16>>,
    member: Vec<Option<u16>>,
}

// ------------------------------------------------------------------ the planner

pub(crate) struct Planner<'t> {
    seed: u64,
    epoch: i64,
    start: i64,
    end: i64,
    /// months / 12: yearly rates are multiplied by it.
    scale: f64,
    town: &'t Town,
    pub residents: Vec<ResidentSpec>,
    pub consents: Vec<ConsentSpec>,
    pub referrals: Vec<ReferralSpec>,
    pub meetings: Vec<MeetingSpec>,
    pub plans: Vec<PlanSpec>,
    pub grants: Vec<GrantSpec>,
    pub actions: Vec<Action>,
}

/// How many events with yearly rate `p` happen over the period (expected value p × scale).
fn occurrences(rng: &mut impl Rng, p: f64, scale: f64) -> u32 {
    let x = p * scale;
    let whole = x.floor();
    whole as u32 + u32::from(rng.random_bool((x - whole).clamp(0.0, 1.0)))
}

impl<'t> Planner<'t> {
    pub(crate) fn new(
        seed: u64,
        epoch: i64,
        start: i64,
        end: i64,
        months: u32,
        town: &'t Town,
    ) -> Self {
        Planner {
            seed,
            epoch,
            start,
            end,
            scale: f64::from(months) / 12.0,
            town,
            residents: Vec::new(),
            consents: Vec::new(),
            referrals: Vec::new(),
            meetings: Vec::new(),
            plans: Vec::new(),
            grants: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Plans every household of `drafts`.
    pub(crate) fn plan_households(&mut self, drafts: &[Draft]) {
        for (h, draft) in drafts.iter().enumerate() {
            self.plan_household(h as u32, draft);
        }
    }

    // -------------------------------------------------------------- people

    fn first_registration(&self, rng: &mut impl Rng) -> i64 {
        let span = self.end - self.start;
        let backlog = (42 * DAY).min(span / 3);
        let tail = (14 * DAY).min(span / 6);
        let t = if rng.random_bool(0.55) {
            self.start + uniform(rng, 0, backlog)
        } else {
            self.start + backlog + uniform(rng, 0, span - backlog - tail)
        };
        work_time(jst_day(t), rng)
    }

    fn later(&self, t: i64, lo_days: i64, hi_days: i64, rng: &mut impl Rng) -> i64 {
        let latest = self.end - 2 * DAY;
        let x = work_time(jst_day(t + uniform(rng, lo_days * DAY, hi_days * DAY)), rng);
        if x > latest {
            // too late in the period: register the same week instead
            let y = after(t, 10 * MIN, 3 * DAY, rng);
            if y > latest { t + 10 * MIN } else { y }
        } else {
            x
        }
    }

    fn people(&self, draft: &Draft, rng: &mut impl Rng) -> (Vec<Person>, Vec<Link>, Vec<String>) {
        let mut persons: Vec<Person> = Vec::new();
        let mut links: Vec<Link> = Vec::new();
        let home = names::address(rng);
        let mut addresses = vec![home];
        let family = names::surname(rng);
        let t0 = self.first_registration(rng);
        let person = |profile: Profile,
                      gender: Gender,
                      age: u32,
                      reg: i64,
                      kin: &'static str,
                      family,
                      address| Person {
            profile,
            gender,
            age,
            reg,
            kin,
            dementia: false,
            family,
            address,
            hard: false,
        };
        let link = |links: &mut Vec<Link>,
                    a: usize,
                    b: usize,
                    a_to_b: Relation,
                    b_to_a: Relation,
                    same: bool| {
            // the case file of `a` says what `b` is to `a`, and vice versa
            links.push(Link {
                from: a,
                to: b,
                relation: b_to_a,
                same_household: same,
            });
            links.push(Link {
                from: b,
                to: a,
                relation: a_to_b,
                same_household: same,
            });
        };
        match draft.kind {
            HouseholdKind::SingleElderly => {
                let care = rng.random_bool(0.65);
                let (profile, age) = if care {
                    (Profile::ElderlyCare, rng.random_range(72..=95))
                } else {
                    (Profile::ElderlySupport, rng.random_range(66..=88))
                };
                let kin = *["長男", "長女", "次女", "甥", "姪"]
                    .choose(rng)
                    .expect("non-empty");
                persons.push(person(profile, elder_gender(rng), age, t0, kin, family, 0));
            }
            HouseholdKind::ElderlyCouple => {
                let husband = rng.random_range(72..=92);
                let wife = (husband - rng.random_range(0..=5)).max(66);
                let second = if rng.random_bool(0.4) {
                    Profile::ElderlyCare
                } else {
                    Profile::ElderlySupport
                };
                let (first_gender, first_age, second_age) = if rng.random_bool(0.5) {
                    (Gender::Male, husband, wife)
                } else {
                    (Gender::Female, wife, husband)
                };
                let second_gender = match first_gender {
                    Gender::Male => Gender::Female,
                    Gender::Female => Gender::Male,
                };
                let t1 = if rng.random_bool(0.6) {
                    after(t0, 10 * MIN, 2 * HOUR, rng)
                } else {
                    self.later(t0, 1, 3, rng)
                };
                persons.push(person(
                    Profile::ElderlyCare,
                    first_gender,
                    first_age,
                    t0,
                    spouse_word(second_gender),
                    family,
                    0,
                ));
                persons.push(person(
                    second,
                    second_gender,
                    second_age,
                    t1,
                    spouse_word(first_gender),
                    family,
                    0,
                ));
                link(&mut links, 0, 1, Relation::Spouse, Relation::Spouse, true);
            }
            HouseholdKind::Family8050 => {
                let parent_gender = if rng.random_bool(0.7) {
                    Gender::Female
                } else {
                    Gender::Male
                };
                let parent_age: u32 = rng.random_range(76..=90);
                let child_gender = if rng.random_bool(0.65) {
                    Gender::Male
                } else {
                    Gender::Female
                };
                let child_age = (parent_age - rng.random_range(24..=34)).clamp(42, 60);
                let profile = if rng.random_bool(0.6) {
                    Profile::ElderlyCare
                } else {
                    Profile::ElderlySupport
                };
                let t1 = self.later(t0, 30, 150, rng);
                persons.push(person(
                    profile,
                    parent_gender,
                    parent_age,
                    t0,
                    child_word(child_gender),
                    family,
                    0,
                ));
                persons.push(person(
                    Profile::Withdrawn,
                    child_gender,
                    child_age,
                    t1,
                    parent_word(parent_gender),
                    family,
                    0,
                ));
                link(&mut links, 0, 1, Relation::Parent, Relation::Child, true);
            }
            HouseholdKind::DoubleCare => {
                let carer_gender = if rng.random_bool(0.75) {
                    Gender::Female
                } else {
                    Gender::Male
                };
                let carer_age: u32 = rng.random_range(35..=48);
                let elder_age = (carer_age + rng.random_range(28..=40)).clamp(70, 92);
                let elder_g = elder_gender(rng);
                let kid_gender = Gender::random(rng);
                let kid_age = rng.random_range(3..=12u32).min(carer_age - 22);
                let together = rng.random_bool(0.5);
                let elder_family = if carer_gender == Gender::Female && rng.random_bool(0.7) {
                    names::surname(rng)
                } else {
                    family
                };
                let elder_home = if together {
                    0
                } else {
                    addresses.push(names::address(rng));
                    1
                };
                let t1 = self.later(t0, 7, 60, rng);
                let t2 = self.later(t1, 1, 14, rng);
                persons.push(person(
                    Profile::ElderlyCare,
                    elder_g,
                    elder_age,
                    t0,
                    child_word(carer_gender),
                    elder_family,
                    elder_home,
                ));
                persons.push(person(
                    Profile::Carer,
                    carer_gender,
                    carer_age,
                    t1,
                    parent_word(elder_g),
                    family,
                    0,
                ));
                persons.push(person(
                    Profile::Child,
                    kid_gender,
                    kid_age,
                    t2,
                    parent_word(carer_gender),
                    family,
                    0,
                ));
                link(
                    &mut links,
                    0,
                    1,
                    Relation::Parent,
                    Relation::Child,
                    together,
                );
                link(&mut links, 1, 2, Relation::Parent, Relation::Child, true);
                link(
                    &mut links,
                    0,
                    2,
                    Relation::Grandparent,
                    Relation::Grandchild,
                    together,
                );
            }
            HouseholdKind::ChildDisability => {
                let kid_age: u32 = rng.random_range(3..=17);
                let parent_gender = if rng.random_bool(0.8) {
                    Gender::Female
                } else {
                    Gender::Male
                };
                let parent_age = (kid_age + rng.random_range(24..=40)).clamp(25, 55);
                persons.push(person(
                    Profile::ChildDisability,
                    Gender::random(rng),
                    kid_age,
                    t0,
                    parent_word(parent_gender),
                    family,
                    0,
                ));
                let t1 = self.later(t0, 7, 40, rng);
                persons.push(person(
                    Profile::SingleParent,
                    parent_gender,
                    parent_age,
                    t1,
                    child_word(persons[0].gender),
                    family,
                    0,
                ));
                link(&mut links, 0, 1, Relation::Child, Relation::Parent, true);
            }
            HouseholdKind::SingleParent => {
                let parent_gender = if rng.random_bool(0.85) {
                    Gender::Female
                } else {
                    Gender::Male
                };
                let parent_age: u32 = rng.random_range(26..=45);
                let first_kid = Gender::random(rng);
                persons.push(person(
                    Profile::SingleParent,
                    parent_gender,
                    parent_age,
                    t0,
                    child_word(first_kid),
                    family,
                    0,
                ));
                for k in 0..2 {
                    let max_age = (parent_age - 18).min(17);
                    let age = rng.random_range(3..=max_age.max(3));
                    let gender = if k == 0 {
                        first_kid
                    } else {
                        Gender::random(rng)
                    };
                    let t = self.later(t0, 1, 10, rng);
                    persons.push(person(
                        Profile::Child,
                        gender,
                        age,
                        t,
                        parent_word(parent_gender),
                        family,
                        0,
                    ));
                    link(
                        &mut links,
                        0,
                        k + 1,
                        Relation::Parent,
                        Relation::Child,
                        true,
                    );
                }
                link(&mut links, 1, 2, Relation::Sibling, Relation::Sibling, true);
            }
            HouseholdKind::PovertySingle => {
                let age = rng.random_range(20..=64);
                persons.push(person(
                    Profile::Poverty,
                    Gender::random(rng),
                    age,
                    t0,
                    "",
                    family,
                    0,
                ));
            }
            HouseholdKind::DisabledAdult => {
                let age: u32 = rng.random_range(20..=55);
                let parent_gender = if rng.random_bool(0.7) {
                    Gender::Female
                } else {
                    Gender::Male
                };
                let parent_age = (age + rng.random_range(25..=35)).clamp(66, 92);
                let gender = Gender::random(rng);
                persons.push(person(
                    Profile::DisabledAdult,
                    gender,
                    age,
                    t0,
                    parent_word(parent_gender),
                    family,
                    0,
                ));
                let t1 = self.later(t0, 10, 60, rng);
                persons.push(person(
                    Profile::ElderlySupport,
                    parent_gender,
                    parent_age,
                    t1,
                    child_word(gender),
                    family,
                    0,
                ));
                link(&mut links, 0, 1, Relation::Child, Relation::Parent, true);
            }
        }
        let size = usize::from(draft.size);
        persons.truncate(size);
        links.retain(|l| l.from < size && l.to < size);
        for p in &mut persons {
            p.dementia = p.profile == Profile::ElderlyCare && rng.random_bool(0.2);
            p.hard = rng.random_bool(hard_probability(p.profile));
        }
        (persons, links, addresses)
    }

    // -------------------------------------------------------------- members

    /// A supporter of `unit` for a team at `t` (the household's usual agency first).
    #[allow(clippy::too_many_arguments)]
    fn pick_member(
        &self,
        rng: &mut impl Rng,
        prefs: &mut HouseholdPrefs,
        unit: Unit,
        profession: Option<Profession>,
        t: i64,
        exclude: &[u16],
        lead: bool,
    ) -> Option<u16> {
        let town = self.town;
        let ok = |m: u16, strict: bool| {
            let spec = town.member(m);
            spec.active(t)
                && !exclude.contains(&m)
                && (!lead || spec.leaves.is_none())
                && spec.leaves.is_none_or(|l| l > t + 7 * DAY)
                && (!strict || profession.is_none_or(|p| spec.profession == p))
        };
        if let Some(m) = prefs.member[unit.index()]
            && ok(m, true)
            && rng.random_bool(0.85)
        {
            return Some(m);
        }
        let agencies = town.agencies_of(unit);
        let first = prefs.agency[unit.index()]
            .unwrap_or_else(|| *agencies.choose(rng).expect("every unit has an agency"));
        let mut order: Vec<u16> = vec![first];
        order.extend(agencies.iter().copied().filter(|a| *a != first));
        for strict in [true, false] {
            for a in &order {
                let staff: Vec<u16> = town.staff[usize::from(*a)]
                    .iter()
                    .copied()
                    .filter(|m| ok(*m, strict))
                    .collect();
                if let Some(m) = staff.choose(rng) {
                    prefs.agency[unit.index()].get_or_insert(*a);
                    prefs.member[unit.index()].get_or_insert(*m);
                    return Some(*m);
                }
            }
        }
        None
    }

    /// Any active supporter of `agency` at `t` (the administrator counts).
    fn someone_at(
        &self,
        rng: &mut impl Rng,
        agency: u16,
        t: i64,
        prefer: Option<u16>,
    ) -> Option<u16> {
        if let Some(p) = prefer
            && self.town.member(p).active(t)
        {
            return Some(p);
        }
        let staff: Vec<u16> = self.town.staff[usize::from(agency)]
            .iter()
            .copied()
            .filter(|m| self.town.member(*m).active(t))
            .collect();
        staff.choose(rng).copied()
    }

    // -------------------------------------------------------------- one household

    fn plan_household(&mut self, h: u32, draft: &Draft) {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, tag::HOUSEHOLD, u64::from(h), 0));
        let (persons, links, addresses) = self.people(draft, &mut rng);
        let mut prefs = HouseholdPrefs {
            agency: vec![None; Unit::ALL.len()],
            member: vec![None; Unit::ALL.len()],
        };
        let mut cases: Vec<Case> = Vec::new();
        for (i, p) in persons.iter().enumerate() {
            if let Some(case) = self.register(h, i, p, &addresses, &mut prefs, &mut rng) {
                cases.push(case);
            }
        }
        let last_reg = cases.iter().map(|c| c.reg).max().unwrap_or(self.start);
        for (i, case) in cases.iter_mut().enumerate() {
            let reopen = draft.special.reopen && i == 0;
            self.plan_closure(case, last_reg, reopen, &mut rng);
        }
        for (i, case) in cases.iter_mut().enumerate() {
            let forced_helper = i == 0 && (draft.special.break_glass || draft.special.redaction)
                || i == 1 && draft.special.redaction;
            let person = &persons[case.person];
            self.plan_team(case, person, forced_helper, &mut prefs, &mut rng);
            if draft.special.break_glass && i == 0 {
                case.excluded_agency = case
                    .member_of_unit_on_team(self.town, Unit::HomeHelp, case.reg + 3 * DAY)
                    .map(|m| self.town.agency_of(m));
            }
            self.plan_referrals(case, &mut prefs, &mut rng);
            self.plan_consents(case, person, &mut rng);
            self.plan_meetings(case, &mut rng);
        }
        self.plan_links(&mut cases, &links, &mut rng);
        if draft.special.break_glass && !cases.is_empty() {
            self.plan_break_glass(&mut cases[0], &mut rng);
        }
        if draft.special.redaction && !cases.is_empty() {
            self.plan_misposted(&mut cases, &mut rng);
        }
        // Deaths are news for the rest of the household.
        let deaths: Vec<(usize, i64)> = cases
            .iter()
            .filter_map(|c| match c.close {
                Some((t, CloseReason::Death)) => Some((c.person, t)),
                _ => None,
            })
            .collect();
        for case in &mut cases {
            for (who, t) in &deaths {
                // only where the deceased is the family member the case's notes talk about
                let close_kin = links.iter().any(|l| {
                    l.from == case.person
                        && l.to == *who
                        && matches!(l.relation, Relation::Spouse | Relation::Parent)
                });
                if close_kin {
                    let at = after(*t, 2 * HOUR, 5 * DAY, &mut rng);
                    if case.open(at) && case.on_team(self.town, case.lead, at) {
                        case.extra_notes
                            .push((at, case.lead, NoteKind::FamilyDeath, None));
                    }
                }
            }
        }
        for case in &mut cases {
            self.plan_notes(case, &mut rng);
            self.plan_reads_and_acks(case, &mut rng);
            self.actions.append(&mut case.acts);
        }
    }

    fn register(
        &mut self,
        h: u32,
        i: usize,
        p: &Person,
        addresses: &[String],
        prefs: &mut HouseholdPrefs,
        rng: &mut impl Rng,
    ) -> Option<Case> {
        let (unit, profession) = lead_unit(p, rng);
        let lead = self.pick_member(rng, prefs, unit, profession, p.reg, &[], true)?;
        let reg_date = jst_date(p.reg);
        let birth_date = reg_date
            .checked_sub_months(Months::new(12 * p.age))
            .expect("valid date")
            - chrono::Days::new(rng.random_range(1..=360));
        let given = names::given_name(rng, p.gender, birth_date.year());
        let (name, kana) = names::full_name(p.family, given);
        let r = self.residents.len() as u32;
        self.residents.push(ResidentSpec {
            household: h,
            profile: p.profile,
            gender: p.gender,
            name,
            kana,
            birth_date,
            address: addresses[p.address].clone(),
            areas: areas_for(p.profile, rng),
            registered: p.reg,
            kin: p.kin,
            dementia: p.dementia,
        });
        let mut case = Case {
            r,
            person: i,
            profile: p.profile,
            reg: p.reg,
            lead,
            hard: p.hard,
            kin: p.kin,
            close: None,
            reopen: None,
            slots: vec![Slot {
                member: lead,
                agency: self.town.agency_of(lead),
                from: p.reg,
                until: NEVER,
                lead: true,
            }],
            consents: Vec::new(),
            statutory: Vec::new(),
            notes: Vec::new(),
            meetings: Vec::new(),
            referrals: Vec::new(),
            joins: Vec::new(),
            excluded_agency: None,
            extra_notes: Vec::new(),
            acts: Vec::new(),
            seq: 0,
            epoch: self.epoch,
            end: self.end,
        };
        case.push(p.reg, lead, Op::Register);
        Some(case)
    }

    fn plan_closure(&self, case: &mut Case, last_reg: i64, reopen: bool, rng: &mut impl Rng) {
        let from = last_reg + 60 * DAY;
        let to = self.end - 2 * DAY;
        if reopen && matches!(case.profile, Profile::ElderlyCare | Profile::ElderlySupport) {
            let latest = self.end - 100 * DAY;
            if from < latest {
                let c = work_time(jst_day(uniform(rng, from, latest)), rng);
                let r = work_time(jst_day(c + uniform(rng, 20 * DAY, 60 * DAY)), rng);
                if case.push(
                    c,
                    case.lead,
                    Op::CloseCase {
                        reason: CloseReason::Facility,
                    },
                ) {
                    case.close = Some((c, CloseReason::Facility));
                    if case.push(r, case.lead, Op::ReopenCase) {
                        case.reopen = Some(r);
                    }
                }
                return;
            }
        }
        if from >= to {
            return;
        }
        let rates: &[(CloseReason, f64)] = match case.profile {
            Profile::ElderlyCare => &[
                (CloseReason::Death, 0.08),
                (CloseReason::Facility, 0.07),
                (CloseReason::MoveOut, 0.02),
            ],
            Profile::ElderlySupport => &[
                (CloseReason::Death, 0.03),
                (CloseReason::Facility, 0.03),
                (CloseReason::MoveOut, 0.02),
            ],
            Profile::Poverty => &[
                (CloseReason::GoalReached, 0.15),
                (CloseReason::MoveOut, 0.04),
            ],
            Profile::SingleParent => &[
                (CloseReason::GoalReached, 0.08),
                (CloseReason::MoveOut, 0.04),
            ],
            Profile::DisabledAdult => &[
                (CloseReason::GoalReached, 0.04),
                (CloseReason::MoveOut, 0.03),
            ],
            Profile::Withdrawn => &[(CloseReason::MoveOut, 0.01)],
            Profile::Carer | Profile::Child | Profile::ChildDisability => {
                &[(CloseReason::MoveOut, 0.03)]
            }
        };
        let mut roll: f64 = rng.random_range(0.0..1.0);
        for (reason, rate) in rates {
            let p = (rate * self.scale).min(0.45);
            if roll < p {
                let c = work_time(jst_day(uniform(rng, from, to)), rng);
                if c <= to && case.push(c, case.lead, Op::CloseCase { reason: *reason }) {
                    case.close = Some((c, *reason));
                }
                return;
            }
            roll -= p;
        }
    }

    /// Adds `m` to the team at `at` (by the lead). A member who leaves their agency later hands
    /// the case over right away in the plan, so every slot is final once created and later
    /// passes can trust the team intervals.
    fn add_member(&self, case: &mut Case, m: u16, at: i64, rng: &mut impl Rng) -> bool {
        if !case.open(at)
            || case.has_spell(m, at)
            // a later add of the same member is already planned: this one would clash with it
            || case.slots.iter().any(|s| s.member == m && s.from >= at)
            || !self.town.member(m).active(at)
            || !case.on_team(self.town, case.lead, at)
        {
            return false;
        }
        if !case.push(
            at,
            case.lead,
            Op::AddTeam {
                member: m,
                lead: false,
            },
        ) {
            return false;
        }
        case.slots.push(Slot {
            member: m,
            agency: self.town.agency_of(m),
            from: at,
            until: NEVER,
            lead: false,
        });
        self.hand_over(case, case.slots.len() - 1, rng);
        true
    }

    /// A member who leaves their agency is taken off the team a few days before and a
    /// colleague of the same profession takes over.
    fn hand_over(&self, case: &mut Case, slot: usize, rng: &mut impl Rng) {
        let town = self.town;
        let s = case.slots[slot];
        let Some(leaves) = town.member(s.member).leaves else {
            return;
        };
        let day = business_day_from(jst_day(leaves - uniform(rng, 2, 9) * DAY));
        let h = jst_at(day, 10 * HOUR + rng.random_range(0..6 * HOUR));
        if h <= s.from + HOUR || h >= leaves || !case.open(h) {
            return; // stays on the team until it closes; inactive once they left
        }
        if !self.remove_member(case, s.member, h) {
            return;
        }
        let profession = town.member(s.member).profession;
        let add = after(h, 10 * MIN, DAY, rng);
        let colleagues: Vec<u16> = town.staff[usize::from(s.agency)]
            .iter()
            .copied()
            .filter(|m| {
                let spec = town.member(*m);
                *m != s.member && spec.leaves.is_none() && spec.profession == profession
            })
            .collect();
        for m in colleagues {
            if self.add_member(case, m, add, rng) {
                break;
            }
        }
    }

    fn remove_member(&self, case: &mut Case, m: u16, at: i64) -> bool {
        if !case.on_team(self.town, case.lead, at) || m == case.lead {
            return false;
        }
        // only an open-ended spell can end here (a spell with a planned end already has its
        // removal in the plan), and never inside its first instant
        let open_spell = case
            .slots
            .iter()
            .any(|s| s.member == m && s.from < at && s.until == NEVER);
        if !open_spell || case.slots.iter().any(|s| s.member == m && s.from >= at) {
            return false;
        }
        if case.push(at, case.lead, Op::RemoveTeam { member: m }) {
            for s in case
                .slots
                .iter_mut()
                .filter(|s| s.member == m && s.until == NEVER)
            {
                s.until = at;
            }
            true
        } else {
            false
        }
    }

    fn plan_team(
        &self,
        case: &mut Case,
        p: &Person,
        forced_helper: bool,
        prefs: &mut HouseholdPrefs,
        rng: &mut impl Rng,
    ) {
        let mut wanted = team_recipe(p, case.lead_unit(self.town), rng);
        if forced_helper && !wanted.iter().any(|(u, _)| *u == Unit::HomeHelp) {
            wanted.insert(0, (Unit::HomeHelp, None));
        }
        if case.hard
            && !wanted.iter().any(|(u, _)| *u == Unit::Welfare)
            && case.lead_unit(self.town) != Unit::Welfare
        {
            wanted.insert(0, (Unit::Welfare, None));
        }
        wanted.truncate(5);
        let mut t = case.reg;
        for (unit, profession) in wanted {
            t = after(t, 5 * MIN, 20 * HOUR, rng);
            let exclude: Vec<u16> = case.slots.iter().map(|s| s.member).collect();
            if let Some(m) = self.pick_member(rng, prefs, unit, profession, t, &exclude, false) {
                self.add_member(case, m, t, rng);
            }
        }
    }

    fn plan_referrals(&mut self, case: &mut Case, prefs: &mut HouseholdPrefs, rng: &mut impl Rng) {
        use SupportKind as K;
        let candidates: &[(Unit, &[SupportKind], f64)] = match case.profile {
            Profile::ElderlyCare => &[
                (Unit::NurseStation, &[K::Nursing], 0.3),
                (Unit::HomeHelp, &[K::Care], 0.2),
                (Unit::Comprehensive, &[K::Financial, K::Other], 0.1),
                (Unit::Npo, &[K::SocialContact], 0.1),
                (Unit::Council, &[K::Financial], 0.1),
            ],
            Profile::ElderlySupport => &[
                (Unit::CareOffice, &[K::Care], 0.3),
                (Unit::Npo, &[K::SocialContact], 0.25),
                (Unit::Clinic, &[K::Medical], 0.15),
            ],
            Profile::Withdrawn => &[
                (Unit::Npo, &[K::SocialContact], 0.6),
                (Unit::Council, &[K::Work], 0.35),
                (Unit::Welfare, &[K::Financial], 0.25),
                (Unit::Clinic, &[K::Medical], 0.15),
            ],
            Profile::Carer => &[
                (Unit::Npo, &[K::Childcare, K::SocialContact], 0.3),
                (Unit::Council, &[K::Financial], 0.2),
                (Unit::Welfare, &[K::Childcare], 0.3),
                (Unit::CareOffice, &[K::Care], 0.2),
            ],
            Profile::Child => &[
                (Unit::Npo, &[K::SocialContact, K::Other], 0.35),
                (Unit::Pediatric, &[K::Medical], 0.2),
                (Unit::Welfare, &[K::Childcare], 0.2),
                (Unit::Council, &[K::Financial], 0.1),
            ],
            Profile::ChildDisability => &[
                (Unit::Pediatric, &[K::Medical], 0.3),
                (Unit::Npo, &[K::SocialContact], 0.25),
                (Unit::Welfare, &[K::Other], 0.2),
            ],
            Profile::SingleParent => &[
                (Unit::Council, &[K::Financial, K::Work], 0.35),
                (Unit::Npo, &[K::Other], 0.35),
                (Unit::Welfare, &[K::Financial], 0.25),
                (Unit::Npo, &[K::Housing], 0.15),
            ],
            Profile::Poverty => &[
                (Unit::Welfare, &[K::Financial], 0.45),
                (Unit::Npo, &[K::Other], 0.4),
                (Unit::Npo, &[K::Housing], 0.2),
                (Unit::Council, &[K::Work], 0.3),
                (Unit::Clinic, &[K::Medical], 0.15),
                (Unit::Npo, &[K::SocialContact], 0.15),
            ],
            Profile::DisabledAdult => &[
                (Unit::HomeHelp, &[K::Care], 0.25),
                (Unit::Council, &[K::Work], 0.25),
                (Unit::Npo, &[K::SocialContact], 0.25),
                (Unit::Welfare, &[K::Financial], 0.2),
            ],
        };
        let mut planned: Vec<(i64, Unit, u16)> = Vec::new();
        for (unit, kinds, p) in candidates {
            let kinds_bits = kinds.iter().fold(0u16, |acc, k| acc | kind_bit(*k));
            for _ in 0..occurrences(rng, *p, self.scale) {
                let made = work_time(
                    jst_day(uniform(rng, case.reg + 7 * DAY, self.end - DAY)),
                    rng,
                );
                planned.push((made, *unit, kinds_bits));
            }
        }
        planned.sort_by_key(|x| x.0);
        for (made, unit, kinds) in planned {
            self.plan_referral(case, prefs, made, unit, kinds, rng);
        }
    }

    fn plan_referral(
        &mut self,
        case: &mut Case,
        prefs: &mut HouseholdPrefs,
        made: i64,
        unit: Unit,
        kinds: u16,
        rng: &mut impl Rng,
    ) {
        let town = self.town;
        if !case.open(made) || made > self.end {
            return;
        }
        let agencies = town.agencies_of(unit);
        let to_agency = prefs.agency[unit.index()]
            .unwrap_or_else(|| *agencies.choose(rng).expect("every unit has an agency"));
        let team = case.team_at(town, made);
        let senders: Vec<Slot> = team
            .iter()
            .copied()
            .filter(|s| s.agency != to_agency)
            .collect();
        let Some(sender) = senders
            .iter()
            .find(|s| s.lead && rng.random_bool(0.6))
            .or_else(|| senders.choose(rng))
            .copied()
        else {
            return;
        };
        let urgency = match rng.random_range(0..10) {
            0 => Urgency::Urgent,
            1..=3 => Urgency::Soon,
            _ => Urgency::Routine,
        };
        let due_on = match urgency {
            Urgency::Urgent => Some(made + DAY),
            Urgency::Soon => Some(made + 7 * DAY),
            Urgency::Routine => rng
                .random_bool(0.6)
                .then(|| made + uniform(rng, 14, 30) * DAY),
        };
        let id = self.referrals.len() as u32;
        self.referrals.push(ReferralSpec {
            resident: case.r,
            made,
            from_agency: sender.agency,
            to_agency,
            kinds,
            urgency,
            due_on,
            shared: Vec::new(),
        });
        if !case.push(made, sender.member, Op::MakeReferral { referral: id }) {
            self.referrals.pop();
            return;
        }
        case.referrals.push(id);
        let answer = match urgency {
            Urgency::Urgent => after(made, HOUR, 8 * HOUR, rng),
            Urgency::Soon => after(made, 4 * HOUR, 3 * DAY, rng),
            Urgency::Routine => after(made, DAY, 10 * DAY, rng),
        };
        if let Some((c, _)) = case.close
            && made < c
            && c <= answer
        {
            // the case closes before anyone answers: the sender withdraws it
            let at = after(c, HOUR, DAY, rng);
            if let Some(m) = self.someone_at(rng, sender.agency, at, Some(sender.member)) {
                case.push(
                    at,
                    m,
                    Op::WithdrawReferral {
                        referral: id,
                        closing: true,
                    },
                );
            }
            return;
        }
        let roll: f64 = rng.random_range(0.0..1.0);
        if roll < 0.08 {
            let at = after(made, DAY, 5 * DAY, rng);
            if case.close.is_none_or(|(c, _)| at < c)
                && let Some(m) = self.someone_at(rng, sender.agency, at, Some(sender.member))
            {
                case.push(
                    at,
                    m,
                    Op::WithdrawReferral {
                        referral: id,
                        closing: false,
                    },
                );
            }
            return;
        }
        let admin = town.agencies[usize::from(to_agency)].admin;
        if roll < 0.23 {
            let prefer = rng.random_bool(0.5).then_some(admin);
            if let Some(m) = self.someone_at(rng, to_agency, answer, prefer) {
                case.push(answer, m, Op::DeclineReferral { referral: id });
            }
            return;
        }
        let profession = unit_profession(unit);
        let candidates: Vec<u16> = town.staff[usize::from(to_agency)]
            .iter()
            .copied()
            .filter(|m| {
                let s = town.member(*m);
                s.active(answer) && profession.is_none_or(|p| s.profession == p)
            })
            .collect();
        let Some(acceptor) = candidates
            .choose(rng)
            .copied()
            .or_else(|| self.someone_at(rng, to_agency, answer, None))
        else {
            return;
        };
        if !case.push(answer, acceptor, Op::AcceptReferral { referral: id }) {
            return;
        }
        let join = after(answer, HOUR, 3 * DAY, rng);
        if self.add_member(case, acceptor, join, rng) {
            case.joins.push(join);
        }
        if rng.random_bool(0.55) {
            let done = after(answer, 20 * DAY, 120 * DAY, rng);
            if !case.open(done) {
                return;
            }
            let Some(by) = self.someone_at(rng, to_agency, done, Some(acceptor)) else {
                return;
            };
            if case.push(done, by, Op::CompleteReferral { referral: id }) && rng.random_bool(0.3) {
                let out = after(done, DAY, 5 * DAY, rng);
                if case.open(out) && case.on_team(town, acceptor, out) {
                    self.remove_member(case, acceptor, out);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn grant(
        &mut self,
        case: &mut Case,
        at: i64,
        agencies: Vec<u16>,
        cats: u8,
        method: ConsentMethod,
        until: Option<i64>,
        purpose: u8,
        rng: &mut impl Rng,
    ) -> Option<usize> {
        if agencies.is_empty() || !case.open(at) || !case.on_team(self.town, case.lead, at) {
            return None;
        }
        let valid_from = (at - uniform(rng, 0, 20 * HOUR)).max(case.reg + 1).min(at);
        let id = self.consents.len() as u32;
        self.consents.push(ConsentSpec {
            resident: case.r,
            granted: at,
            valid_from,
            valid_until: until,
            agencies: agencies.clone(),
            cats,
            method,
            purpose,
            doc_no: id + 1,
        });
        if !case.push(at, case.lead, Op::GrantConsent { consent: id }) {
            self.consents.pop();
            return None;
        }
        case.consents.push(CModel {
            granted: at,
            from: valid_from,
            until: until.unwrap_or(NEVER),
            withdrawn: NEVER,
            agencies,
            cats,
        });
        Some(id as usize)
    }

    fn plan_consents(&mut self, case: &mut Case, p: &Person, rng: &mut impl Rng) {
        use InfoCategory as I;
        let town = self.town;
        let bit = cat_bit;
        let mut cats = match case.profile {
            Profile::ElderlyCare | Profile::ElderlySupport => {
                bit(I::Health) | bit(I::Care) | bit(I::Welfare)
            }
            Profile::Child | Profile::ChildDisability => {
                bit(I::Health) | bit(I::Welfare) | bit(I::Family)
            }
            Profile::Withdrawn | Profile::Carer => {
                bit(I::Welfare) | bit(I::Family) | bit(I::Health)
            }
            Profile::SingleParent | Profile::Poverty => {
                bit(I::Welfare) | bit(I::Finance) | bit(I::Family)
            }
            Profile::DisabledAdult => bit(I::Health) | bit(I::Welfare) | bit(I::Care),
        };
        if rng.random_bool(0.6) {
            cats |= bit(I::Family);
        }
        if rng.random_bool(0.3) {
            cats |= bit(I::Finance);
        }
        if rng.random_bool(0.3) {
            cats |= bit(I::Care) | bit(I::Health);
        }
        let method =
            if matches!(case.profile, Profile::Child | Profile::ChildDisability) || p.dementia {
                ConsentMethod::Guardian
            } else if rng.random_bool(0.8) {
                ConsentMethod::Written
            } else {
                ConsentMethod::Verbal
            };
        let refuses = case.profile == Profile::Withdrawn && rng.random_bool(0.6)
            || case.profile == Profile::Poverty && rng.random_bool(0.05);
        if refuses {
            if rng.random_bool(0.4) {
                let at = work_time(jst_day(case.reg + uniform(rng, 60 * DAY, 200 * DAY)), rng);
                let agencies = case.team_agencies(town, at);
                if self
                    .grant(
                        case,
                        at,
                        agencies,
                        cats,
                        ConsentMethod::Verbal,
                        None,
                        4,
                        rng,
                    )
                    .is_some()
                {
                    case.extra_notes.push((
                        at + uniform(rng, 5 * MIN, HOUR),
                        case.lead,
                        NoteKind::ConsentTalk,
                        None,
                    ));
                }
            }
        } else {
            let at = after(case.reg, 10 * MIN, 4 * DAY, rng);
            let mut agencies = case.team_agencies(town, at);
            if agencies.len() > 2 && rng.random_bool(0.25) {
                let lead_agency = town.agency_of(case.lead);
                let npo = agencies
                    .iter()
                    .position(|a| town.unit_of_agency(*a) == Unit::Npo);
                let drop = npo.unwrap_or_else(|| rng.random_range(0..agencies.len()));
                if agencies[drop] != lead_agency {
                    agencies.remove(drop);
                }
            }
            let until = match rng.random_range(0..10) {
                0 | 1 => Some(at + 180 * DAY),
                2..=4 => Some(at + 365 * DAY),
                _ => None,
            };
            if let Some(first) = self.grant(case, at, agencies, cats, method, until, 0, rng) {
                let withdraw = rng.random_bool(0.05);
                if withdraw {
                    let w = work_time(jst_day(at + uniform(rng, 30 * DAY, 180 * DAY)), rng);
                    let in_force = until.is_none_or(|u| w < u - DAY);
                    let idx = case.consents.len() - 1;
                    if in_force
                        && case.open(w)
                        && case.push(
                            w,
                            case.lead,
                            Op::WithdrawConsent {
                                consent: first as u32,
                            },
                        )
                    {
                        case.consents[idx].withdrawn = w;
                        if rng.random_bool(0.6) {
                            let again = after(w, 10 * MIN, 2 * DAY, rng);
                            let mut narrower = case.team_agencies(town, again);
                            let mut narrower_cats = cats;
                            if rng.random_bool(0.5) && narrower.len() > 1 {
                                let lead_agency = town.agency_of(case.lead);
                                if let Some(pos) = narrower.iter().position(|a| *a != lead_agency) {
                                    narrower.remove(pos);
                                }
                            } else {
                                narrower_cats &= !(bit(I::Finance) | bit(I::Family));
                                if narrower_cats == 0 {
                                    narrower_cats = bit(I::Welfare);
                                }
                            }
                            self.grant(case, again, narrower, narrower_cats, method, None, 3, rng);
                        }
                    }
                } else if let Some(u) = until
                    && u < self.end
                    && rng.random_bool(0.6)
                {
                    // renewed a little before it lapses, or after a gap
                    let at = if rng.random_bool(0.6) {
                        work_time(jst_day(u - uniform(rng, 3 * DAY, 21 * DAY)), rng)
                    } else {
                        work_time(jst_day(u + uniform(rng, DAY, 30 * DAY)), rng)
                    };
                    let agencies = case.team_agencies(town, at);
                    let until = rng.random_bool(0.5).then_some(at + 365 * DAY);
                    self.grant(case, at, agencies, cats, method, until, 1, rng);
                }
            }
        }
        // Agencies that joined through a referral are added by a new consent, often.
        for join in case.joins.clone() {
            if case.consents.is_empty() || !rng.random_bool(0.5) {
                continue;
            }
            let at = after(join, 10 * MIN, 7 * DAY, rng);
            let agencies = case.team_agencies(town, at);
            let m = if method == ConsentMethod::Guardian {
                method
            } else {
                ConsentMethod::Written
            };
            self.grant(case, at, agencies, cats, m, None, 2, rng);
        }
    }

    fn record_meeting(
        &mut self,
        case: &mut Case,
        kind: MeetingKind,
        convener_unit: Option<Unit>,
        held_day: i64,
        rng: &mut impl Rng,
    ) -> Option<i64> {
        let town = self.town;
        let held = jst_at(
            business_day_from(held_day),
            13 * HOUR + 30 * MIN + rng.random_range(0..150) * MIN,
        );
        let recorded = held + uniform(rng, HOUR, 4 * HOUR);
        if !case.open(held) || !case.open(recorded) {
            return None;
        }
        let convener = match convener_unit {
            None => case.lead,
            Some(u) => case.member_of_unit_on_team(town, u, held)?,
        };
        if !case.on_team(town, convener, recorded) {
            return None;
        }
        let team = case.team_at(town, held);
        let mut attendees: Vec<u16> = vec![convener];
        for s in &team {
            if s.member != convener && (kind == MeetingKind::Statutory || rng.random_bool(0.75)) {
                attendees.push(s.member);
            }
        }
        let mut agencies: Vec<u16> = attendees.iter().map(|m| town.agency_of(*m)).collect();
        agencies.sort_unstable();
        agencies.dedup();
        if kind == MeetingKind::Statutory && agencies.len() < 2 {
            return None;
        }
        let round = case.meetings.len() as u8;
        let next_review = rng.random_bool(0.8).then(|| {
            held + match kind {
                MeetingKind::CaseConference => 180,
                _ => 90,
            } * DAY
        });
        let id = self.meetings.len() as u32;
        self.meetings.push(MeetingSpec {
            resident: case.r,
            recorded,
            kind,
            held_at: held,
            attendees,
            next_review,
            round,
        });
        if !case.push(recorded, convener, Op::RecordMeeting { meeting: id }) {
            self.meetings.pop();
            return None;
        }
        if kind == MeetingKind::Statutory {
            case.statutory.push(SModel {
                recorded,
                held,
                agencies,
            });
        }
        case.meetings.push((recorded, convener, kind));
        // the plan follows the meeting
        let set = after(recorded, DAY, 7 * DAY, rng);
        self.set_plan(case, set, rng);
        Some(held)
    }

    fn set_plan(&mut self, case: &mut Case, at: i64, rng: &mut impl Rng) {
        if !case.open(at) || !case.on_team(self.town, case.lead, at) {
            return;
        }
        let mut responsible: Vec<u16> = vec![case.lead];
        for s in case.team_at(self.town, at) {
            if s.member != case.lead && responsible.len() < 5 {
                responsible.push(s.member);
            }
        }
        let revision = self
            .plans
            .iter()
            .rev()
            .take_while(|p| p.resident == case.r)
            .count() as u8;
        let review_on =
            Some(at + if case.hard { 90 } else { 180 } * DAY).filter(|_| rng.random_bool(0.9));
        let id = self.plans.len() as u32;
        self.plans.push(PlanSpec {
            resident: case.r,
            set: at,
            responsible,
            review_on,
            revision,
        });
        if !case.push(at, case.lead, Op::SetPlan { plan: id }) {
            self.plans.pop();
        }
    }

    fn plan_meetings<R: Rng>(&mut self, case: &mut Case, rng: &mut R) {
        let reg_day = jst_day(case.reg);
        let day = |rng: &mut R, lo: i64, hi: i64| reg_day + uniform(rng, lo, hi);
        let first: Option<(MeetingKind, Option<Unit>, i64)> = match case.profile {
            Profile::ElderlyCare => Some((MeetingKind::CaseConference, None, day(rng, 5, 20))),
            Profile::ElderlySupport if rng.random_bool(0.2) => {
                Some((MeetingKind::CaseConference, None, day(rng, 20, 60)))
            }
            Profile::Child | Profile::ChildDisability if rng.random_bool(0.5) => {
                Some((MeetingKind::CaseConference, None, day(rng, 14, 45)))
            }
            Profile::Withdrawn if rng.random_bool(0.7) => {
                Some((MeetingKind::Layered, Some(Unit::Layered), day(rng, 20, 60)))
            }
            Profile::Carer if rng.random_bool(0.6) => {
                Some((MeetingKind::Layered, Some(Unit::Layered), day(rng, 20, 60)))
            }
            Profile::Poverty | Profile::SingleParent if rng.random_bool(0.25) => {
                Some((MeetingKind::Layered, Some(Unit::Layered), day(rng, 20, 60)))
            }
            Profile::Poverty | Profile::SingleParent | Profile::DisabledAdult
                if rng.random_bool(0.35) =>
            {
                Some((MeetingKind::CaseConference, None, day(rng, 14, 45)))
            }
            _ => None,
        };
        let mut any = false;
        if let Some((kind, unit, d)) = first
            && let Some(held) = self.record_meeting(case, kind, unit, d, rng)
        {
            any = true;
            // service-担当者 conferences come back every six months for care cases
            if case.profile == Profile::ElderlyCare {
                let mut next = jst_day(held) + uniform(rng, 170, 190);
                while jst_at(next, 0) < self.end {
                    if self.record_meeting(case, kind, unit, next, rng).is_none()
                        && !case.open(jst_at(next, 12 * HOUR))
                    {
                        break;
                    }
                    next += uniform(rng, 170, 190);
                }
            }
        }
        if case.hard {
            let d = day(rng, 25, 90);
            if let Some(held) =
                self.record_meeting(case, MeetingKind::Statutory, Some(Unit::Welfare), d, rng)
            {
                any = true;
                if rng.random_bool(0.5) {
                    let again = jst_day(held) + uniform(rng, 90, 120);
                    self.record_meeting(
                        case,
                        MeetingKind::Statutory,
                        Some(Unit::Welfare),
                        again,
                        rng,
                    );
                }
            }
        }
        if !any && rng.random_bool(0.7) {
            let at = after(case.reg, 14 * DAY, 35 * DAY, rng);
            self.set_plan(case, at, rng);
        }
    }

    fn plan_links(&self, cases: &mut [Case], links: &[Link], rng: &mut impl Rng) {
        for l in links {
            let (Some(from), Some(to)) = (
                cases.iter().position(|c| c.person == l.from),
                cases.iter().position(|c| c.person == l.to),
            ) else {
                continue;
            };
            let other = cases[to].r;
            let both = cases[from].reg.max(cases[to].reg);
            let case = &mut cases[from];
            let at = after(both, 10 * MIN, 2 * DAY, rng);
            if case.open(at) && case.on_team(self.town, case.lead, at) {
                case.push(
                    at,
                    case.lead,
                    Op::Link {
                        other,
                        relation: l.relation,
                        same_household: l.same_household,
                    },
                );
            }
        }
    }

    fn plan_break_glass(&mut self, case: &mut Case, rng: &mut impl Rng) {
        let town = self.town;
        for _ in 0..30 {
            let t = work_time(
                jst_day(uniform(rng, case.reg + 30 * DAY, self.end - 2 * DAY)),
                rng,
            );
            let Some(helper) = case.member_of_unit_on_team(town, Unit::HomeHelp, t) else {
                continue;
            };
            let read = t + uniform(rng, MIN, 5 * MIN);
            let note = t + uniform(rng, 20 * MIN, 50 * MIN);
            if !(case.open(note) && case.on_team(town, helper, note)) {
                continue;
            }
            let mut cats = cat_bit(InfoCategory::Health) | cat_bit(InfoCategory::Family);
            if rng.random_bool(0.5) {
                cats |= cat_bit(InfoCategory::Care);
            }
            let id = self.grants.len() as u32;
            self.grants.push(GrantSpec {
                resident: case.r,
                at: t,
                cats,
                minutes: uniform(rng, 240, 720) as u32,
            });
            if !case.push(t, helper, Op::BreakGlass { grant: id }) {
                self.grants.pop();
                return;
            }
            case.push(read, helper, Op::ReadTimeline);
            case.extra_notes
                .push((note, helper, NoteKind::Emergency, None));
            let hospital = after(note, 12 * HOUR, 2 * DAY, rng);
            if case.open(hospital) {
                case.extra_notes
                    .push((hospital, case.lead, NoteKind::Hospitalized, None));
            }
            return;
        }
    }

    /// A note meant for the spouse lands in the wrong case file: the author redacts it and
    /// posts it where it belongs.
    fn plan_misposted(&self, cases: &mut [Case], rng: &mut impl Rng) {
        let town = self.town;
        let last_reg = cases.iter().map(|c| c.reg).max().unwrap_or(self.start);
        for _ in 0..30 {
            let t = visit_time(
                jst_day(uniform(rng, last_reg + 20 * DAY, self.end - 3 * DAY)),
                false,
                rng,
            );
            let redact = t + uniform(rng, HOUR, 6 * HOUR);
            let repost = redact + uniform(rng, 5 * MIN, 30 * MIN);
            let wrong = &cases[0];
            let authors: Vec<u16> = wrong
                .team_at(town, t)
                .iter()
                .filter(|s| !s.lead)
                .map(|s| s.member)
                .collect();
            let shared = authors.iter().copied().find(|m| {
                cases.len() > 1
                    && cases[1].open(repost)
                    && cases[1].on_team(town, *m, repost)
                    && cases[1].on_team(town, *m, t)
            });
            let Some(author) = shared.or_else(|| authors.first().copied()) else {
                continue;
            };
            if !(wrong.open(t)
                && wrong.on_team(town, author, t)
                && town.member(author).active(redact)
                && redact <= self.end)
            {
                continue;
            }
            let kind = visit_kind(
                town.unit_of_agency(town.agency_of(author)),
                cases[0].profile,
                town.member(author).profession,
            );
            cases[0].extra_notes.push((t, author, kind, Some(redact)));
            if shared.is_some() {
                cases[1].extra_notes.push((repost, author, kind, None));
            }
            return;
        }
    }

    // -------------------------------------------------------------- notes

    fn post(
        &self,
        case: &mut Case,
        at: i64,
        author: u16,
        kind: NoteKind,
        redact: Option<i64>,
        rng: &mut impl Rng,
    ) -> bool {
        let town = self.town;
        if !case.open(at) || !case.on_team(town, author, at) {
            return false;
        }
        let cats = note_cats(kind, rng);
        let attachment = matches!(
            kind,
            NoteKind::NurseVisit
                | NoteKind::DoctorVisit
                | NoteKind::CareMonitoring
                | NoteKind::PharmacistVisit
        ) && rng.random_bool(0.04);
        let note = case.notes.len() as u32;
        if rng.random_bool(0.4) {
            let read = at - uniform(rng, MIN, 10 * MIN);
            if case.open(read) && case.on_team(town, author, read) {
                case.push(read, author, Op::ReadTimeline);
            }
        }
        if !case.push(
            at,
            author,
            Op::PostNote {
                note,
                kind,
                cats,
                attachment,
            },
        ) {
            return false;
        }
        let redact_at = redact.unwrap_or(NEVER);
        case.notes.push(NModel {
            at,
            author,
            agency: town.agency_of(author),
            cats,
            kind,
            redact: redact_at,
            shareable: redact.is_none(),
        });
        if let Some(r) = redact {
            case.push(
                r,
                author,
                Op::RedactNote {
                    note,
                    posted: (at - self.epoch) as u32,
                },
            );
        }
        true
    }

    fn plan_notes(&mut self, case: &mut Case, rng: &mut impl Rng) {
        let town = self.town;
        // visits and consultations on each member's cadence
        for i in 0..case.slots.len() {
            let s = case.slots[i];
            let spec = town.member(s.member);
            let unit = town.unit_of_agency(s.agency);
            let Some(every) = cadence(unit, case.profile, s.lead) else {
                continue;
            };
            let until = s.until.min(spec.leaves.unwrap_or(NEVER)).min(self.end);
            let kind = visit_kind(unit, case.profile, spec.profession);
            let mut t = s.from + (every * DAY as f64 * rng.random_range(0.2..1.0)) as i64;
            while t < until {
                let visit = visit_time(jst_day(t), unit == Unit::HomeHelp, rng);
                let at = visit + uniform(rng, 20 * MIN, 3 * HOUR);
                if at < until && at > s.from {
                    self.post(case, at, s.member, kind, None, rng);
                }
                t = visit + (every * DAY as f64 * rng.random_range(0.7..1.3)) as i64;
            }
        }
        // the lead's notes about wishes and family calls
        let mut t = case.reg + uniform(rng, 20 * DAY, 120 * DAY);
        while t < self.end {
            let at = work_time(jst_day(t), rng);
            if rng.random_bool(0.5) {
                self.post(case, at, case.lead, NoteKind::Wish, None, rng);
            }
            t += uniform(rng, 90 * DAY, 150 * DAY);
        }
        if !case.kin.is_empty() {
            let mut t = case.reg + uniform(rng, 10 * DAY, 90 * DAY);
            while t < self.end {
                let at = work_time(jst_day(t), rng);
                if rng.random_bool(0.4) {
                    self.post(case, at, case.lead, NoteKind::FamilyCall, None, rng);
                }
                t += uniform(rng, 45 * DAY, 110 * DAY);
            }
        }
        // minutes of each meeting
        for (recorded, convener, kind) in case.meetings.clone() {
            let k = match kind {
                MeetingKind::Statutory => NoteKind::MinutesStatutory,
                MeetingKind::Layered => NoteKind::MinutesLayered,
                MeetingKind::CaseConference => NoteKind::MinutesConference,
            };
            let at = recorded + uniform(rng, 5 * MIN, 90 * MIN);
            self.post(case, at, convener, k, None, rng);
        }
        // hospital stays of people in home care
        if case.profile == Profile::ElderlyCare {
            for _ in 0..occurrences(rng, 0.12, self.scale) {
                let t = work_time(
                    jst_day(uniform(rng, case.reg + 14 * DAY, self.end - 20 * DAY)),
                    rng,
                );
                if self.post(case, t, case.lead, NoteKind::Hospitalized, None, rng) {
                    let back = work_time(jst_day(t + uniform(rng, 14 * DAY, 40 * DAY)), rng);
                    self.post(case, back, case.lead, NoteKind::Discharged, None, rng);
                }
            }
        }
        // status changes around closing and reopening
        if let Some((c, reason)) = case.close {
            let at = (c - uniform(rng, HOUR, 30 * HOUR)).max(case.reg + MIN);
            let kind = match reason {
                CloseReason::Death => NoteKind::Death,
                CloseReason::Facility => NoteKind::Facility,
                CloseReason::MoveOut => NoteKind::MoveOut,
                CloseReason::GoalReached => NoteKind::GoalReached,
            };
            self.post(case, at, case.lead, kind, None, rng);
        }
        if let Some(r) = case.reopen {
            let at = r + uniform(rng, 10 * MIN, 2 * HOUR);
            self.post(case, at, case.lead, NoteKind::Reopened, None, rng);
        }
        for (at, author, kind, redact) in std::mem::take(&mut case.extra_notes) {
            self.post(case, at, author, kind, redact, rng);
        }
        // a few slips corrected by their authors
        for n in 0..case.notes.len() {
            let note = &case.notes[n];
            if note.redact != NEVER || !has_slip(note.kind) || !rng.random_bool(0.03) {
                continue;
            }
            let at = note.at + uniform(rng, 20 * MIN, 20 * HOUR);
            let (author, posted, kind) = (note.author, note.at, note.kind);
            if case.open(at) && case.on_team(town, author, at) {
                case.push(
                    at,
                    author,
                    Op::CorrectNote {
                        note: n as u32,
                        posted: (posted - self.epoch) as u32,
                        kind,
                    },
                );
            }
        }
        // notes shared with referrals: the sender agency's latest notes before the referral
        for id in case.referrals.clone() {
            let spec = &self.referrals[id as usize];
            if !rng.random_bool(0.5) {
                continue;
            }
            let mut shared: Vec<(u32, i64)> = case
                .notes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.agency == spec.from_agency && n.shareable && n.at < spec.made)
                .map(|(i, n)| (i as u32, n.at))
                .collect();
            shared.sort_by_key(|x| x.1);
            let keep = uniform(rng, 1, 2) as usize;
            let from = shared.len().saturating_sub(keep);
            self.referrals[id as usize].shared = shared[from..].to_vec();
        }
    }

    // -------------------------------------------------------------- reads and acknowledgements

    fn plan_reads_and_acks(&self, case: &mut Case, rng: &mut impl Rng) {
        let town = self.town;
        // newcomers open the case's details and its timeline
        for i in 0..case.slots.len() {
            let s = case.slots[i];
            if s.lead {
                continue;
            }
            let at = s.from + uniform(rng, 5 * MIN, DAY);
            if case.open(at) && case.on_team(town, s.member, at) {
                case.push(at, s.member, Op::ReadDetails);
                let next = at + uniform(rng, 30, 300);
                if case.open(next) && case.on_team(town, s.member, next) {
                    case.push(next, s.member, Op::ReadTimeline);
                }
            }
        }
        let mut members: Vec<u16> = case.slots.iter().map(|s| s.member).collect();
        members.sort_unstable();
        members.dedup();
        for n in 0..case.notes.len() {
            let note = &case.notes[n];
            if note.redact != NEVER {
                continue;
            }
            let (at, author, agency) = (note.at, note.author, note.agency);
            for m in &members {
                let m = *m;
                if m == author {
                    continue;
                }
                let my_agency = town.agency_of(m);
                let p = if my_agency == agency { 0.75 } else { 0.6 };
                if !rng.random_bool(p) {
                    continue;
                }
                let delay = match rng.random_range(0..20) {
                    0 => uniform(rng, 4 * DAY, 14 * DAY),
                    1..=5 => uniform(rng, DAY, 4 * DAY),
                    _ => uniform(rng, 20 * MIN, DAY),
                };
                let ack = after(at, delay, delay, rng);
                if !case.open(ack) || !case.visible(town, &case.notes[n], m, my_agency, ack) {
                    continue;
                }
                let posted = (at - self.epoch) as u32;
                if rng.random_bool(0.45) {
                    let read = ack - uniform(rng, 5, 90);
                    if case.open(read) && case.visible(town, &case.notes[n], m, my_agency, read) {
                        case.push(
                            read,
                            m,
                            Op::ReadNote {
                                note: n as u32,
                                posted,
                            },
                        );
                    }
                }
                case.push(
                    ack,
                    m,
                    Op::AckNote {
                        note: n as u32,
                        posted,
                    },
                );
            }
        }
    }
}

impl Case {
    fn lead_unit(&self, town: &Town) -> Unit {
        town.unit_of_agency(town.agency_of(self.lead))
    }
}

fn lead_unit(p: &Person, rng: &mut impl Rng) -> (Unit, Option<Profession>) {
    use Profession as P;
    match p.profile {
        Profile::ElderlyCare => (Unit::CareOffice, Some(P::CareManager)),
        Profile::ElderlySupport => (Unit::Comprehensive, None),
        Profile::Withdrawn => (Unit::Layered, Some(P::SocialWorker)),
        Profile::Carer => {
            if rng.random_bool(0.5) {
                (Unit::Layered, Some(P::SocialWorker))
            } else {
                (Unit::Welfare, Some(P::MunicipalStaff))
            }
        }
        Profile::Child => {
            if p.age >= 6 && rng.random_bool(0.4) {
                (Unit::School, Some(P::Teacher))
            } else {
                (Unit::Welfare, Some(P::MunicipalStaff))
            }
        }
        Profile::ChildDisability => (Unit::Welfare, Some(P::MunicipalStaff)),
        Profile::SingleParent | Profile::DisabledAdult => {
            if rng.random_bool(0.6) {
                (Unit::Welfare, Some(P::MunicipalStaff))
            } else {
                (Unit::Council, None)
            }
        }
        Profile::Poverty => (Unit::Council, None),
    }
}

/// The members a case starts with besides its lead: (unit, preferred profession).
fn team_recipe<R: Rng>(p: &Person, lead: Unit, rng: &mut R) -> Vec<(Unit, Option<Profession>)> {
    use Profession as P;
    let mut out: Vec<(Unit, Option<Profession>)> = Vec::new();
    let want = |out: &mut Vec<(Unit, Option<Profession>)>,
                rng: &mut R,
                unit: Unit,
                prof: Option<Profession>,
                prob: f64| {
        if unit != lead && rng.random_bool(prob) && !out.iter().any(|(u, _)| *u == unit) {
            out.push((unit, prof));
        }
    };
    match p.profile {
        Profile::ElderlyCare => {
            let doctor: f64 = 0.9;
            if rng.random_bool(doctor) {
                if rng.random_bool(0.7) {
                    out.push((Unit::HomeCareClinic, Some(P::Physician)));
                } else {
                    out.push((Unit::Clinic, Some(P::Physician)));
                }
            }
            want(&mut out, rng, Unit::NurseStation, None, 0.6);
            want(&mut out, rng, Unit::HomeHelp, None, 0.75);
            want(&mut out, rng, Unit::Pharmacy, None, 0.45);
            want(&mut out, rng, Unit::Comprehensive, None, 0.15);
        }
        Profile::ElderlySupport => {
            want(&mut out, rng, Unit::Clinic, None, 0.6);
            want(&mut out, rng, Unit::HomeHelp, None, 0.3);
            want(&mut out, rng, Unit::Npo, None, 0.2);
            want(&mut out, rng, Unit::Council, None, 0.2);
        }
        Profile::Withdrawn => {
            want(&mut out, rng, Unit::Council, None, 0.7);
            want(
                &mut out,
                rng,
                Unit::Welfare,
                Some(P::PublicHealthNurse),
                0.7,
            );
            want(&mut out, rng, Unit::Npo, None, 0.5);
            want(&mut out, rng, Unit::Comprehensive, None, 0.5);
        }
        Profile::Carer => {
            want(&mut out, rng, Unit::CareOffice, None, 0.7);
            want(
                &mut out,
                rng,
                Unit::Welfare,
                Some(P::PublicHealthNurse),
                0.6,
            );
            want(&mut out, rng, Unit::Layered, None, 0.5);
            want(&mut out, rng, Unit::School, None, 0.5);
            want(&mut out, rng, Unit::Npo, None, 0.3);
            want(&mut out, rng, Unit::Council, None, 0.3);
        }
        Profile::Child => {
            if p.age >= 6 {
                want(&mut out, rng, Unit::School, None, 0.85);
            }
            want(
                &mut out,
                rng,
                Unit::Welfare,
                Some(P::PublicHealthNurse),
                0.5,
            );
            want(&mut out, rng, Unit::Npo, None, 0.4);
            want(&mut out, rng, Unit::Pediatric, None, 0.25);
        }
        Profile::ChildDisability => {
            want(&mut out, rng, Unit::Pediatric, None, 0.8);
            if p.age >= 6 {
                want(&mut out, rng, Unit::School, None, 0.7);
            }
            want(&mut out, rng, Unit::Npo, None, 0.3);
            want(&mut out, rng, Unit::Council, None, 0.1);
        }
        Profile::SingleParent => {
            want(&mut out, rng, Unit::Council, None, 0.6);
            want(&mut out, rng, Unit::Welfare, Some(P::MunicipalStaff), 0.6);
            want(&mut out, rng, Unit::Npo, None, 0.5);
            want(&mut out, rng, Unit::Layered, None, 0.3);
        }
        Profile::Poverty => {
            want(&mut out, rng, Unit::Welfare, Some(P::MunicipalStaff), 0.6);
            want(&mut out, rng, Unit::Npo, None, 0.5);
            want(&mut out, rng, Unit::Hospital, None, 0.15);
            want(&mut out, rng, Unit::Clinic, None, 0.2);
            want(&mut out, rng, Unit::Layered, None, 0.2);
        }
        Profile::DisabledAdult => {
            want(&mut out, rng, Unit::Clinic, None, 0.5);
            want(&mut out, rng, Unit::Hospital, None, 0.15);
            want(&mut out, rng, Unit::Npo, None, 0.4);
            want(&mut out, rng, Unit::HomeHelp, None, 0.3);
            want(&mut out, rng, Unit::Council, None, 0.4);
            want(&mut out, rng, Unit::Welfare, Some(P::MunicipalStaff), 0.4);
        }
    }
    if out.is_empty() {
        let fallback = match p.profile {
            Profile::ElderlyCare => Unit::HomeHelp,
            Profile::ElderlySupport => Unit::Clinic,
            Profile::Child | Profile::ChildDisability | Profile::Carer => Unit::Npo,
            _ if lead == Unit::Welfare => Unit::Council,
            _ => Unit::Welfare,
        };
        out.push((fallback, None));
    }
    out
}

fn unit_profession(unit: Unit) -> Option<Profession> {
    use Profession as P;
    match unit {
        Unit::Clinic | Unit::HomeCareClinic | Unit::Pediatric => Some(P::Physician),
        Unit::NurseStation => Some(P::VisitingNurse),
        Unit::Pharmacy => Some(P::Pharmacist),
        Unit::CareOffice => Some(P::CareManager),
        Unit::HomeHelp => Some(P::HomeHelper),
        Unit::Npo => Some(P::NpoStaff),
        _ => None,
    }
}

/// Days between notes of a member of `unit` on a case of `profile`.
fn cadence(unit: Unit, profile: Profile, lead: bool) -> Option<f64> {
    let elderly = matches!(profile, Profile::ElderlyCare | Profile::ElderlySupport);
    Some(match unit {
        Unit::HomeHelp => {
            if elderly {
                7.0
            } else {
                14.0
            }
        }
        Unit::NurseStation => {
            if profile == Profile::ElderlyCare {
                10.0
            } else {
                14.0
            }
        }
        Unit::HomeCareClinic => 14.0,
        Unit::Clinic => 30.0,
        Unit::Pediatric => 45.0,
        Unit::Hospital => 45.0,
        Unit::Pharmacy => 21.0,
        Unit::CareOffice => 30.0,
        Unit::Comprehensive => {
            if lead {
                21.0
            } else {
                45.0
            }
        }
        Unit::Layered => {
            if profile == Profile::Withdrawn {
                14.0
            } else if lead {
                21.0
            } else {
                45.0
            }
        }
        Unit::Council => {
            if lead {
                21.0
            } else {
                35.0
            }
        }
        Unit::Welfare => {
            if lead {
                28.0
            } else {
                45.0
            }
        }
        Unit::School => 21.0,
        Unit::Npo => 21.0,
    })
}

fn visit_kind(unit: Unit, profile: Profile, profession: Profession) -> NoteKind {
    match unit {
        Unit::HomeHelp => NoteKind::HelperVisit,
        Unit::NurseStation => NoteKind::NurseVisit,
        Unit::HomeCareClinic => NoteKind::DoctorVisit,
        Unit::Clinic => NoteKind::DoctorOutpatient,
        Unit::Pediatric => NoteKind::PediatricVisit,
        Unit::Hospital => NoteKind::MswNote,
        Unit::Pharmacy => NoteKind::PharmacistVisit,
        Unit::CareOffice => NoteKind::CareMonitoring,
        Unit::Comprehensive => NoteKind::CompSupport,
        Unit::Layered => {
            if profile == Profile::Withdrawn {
                NoteKind::LayeredOutreach
            } else {
                NoteKind::LayeredConsult
            }
        }
        Unit::Council => NoteKind::CouncilConsult,
        Unit::Welfare => {
            if profession == Profession::PublicHealthNurse {
                NoteKind::PhnVisit
            } else {
                NoteKind::WelfareConsult
            }
        }
        Unit::School => NoteKind::SchoolReport,
        Unit::Npo => NoteKind::NpoActivity,
    }
}

/// Kinds whose template always has a slip a correction can fix.
fn has_slip(kind: NoteKind) -> bool {
    matches!(
        kind,
        NoteKind::HelperVisit
            | NoteKind::NurseVisit
            | NoteKind::DoctorVisit
            | NoteKind::DoctorOutpatient
            | NoteKind::PharmacistVisit
            | NoteKind::CareMonitoring
            | NoteKind::SchoolReport
            | NoteKind::PhnVisit
    )
}

/// The information categories a note of `kind` contains.
fn note_cats(kind: NoteKind, rng: &mut impl Rng) -> u8 {
    use InfoCategory as I;
    use NoteKind::*;
    let b = cat_bit;
    let mut maybe = |bits: &mut u8, c: InfoCategory, p: f64| {
        if rng.random_bool(p) {
            *bits |= b(c);
        }
    };
    let mut bits;
    match kind {
        HelperVisit => {
            bits = b(I::Care);
            maybe(&mut bits, I::Health, 0.3);
        }
        NurseVisit => {
            bits = b(I::Health);
            maybe(&mut bits, I::Care, 0.4);
        }
        DoctorVisit | DoctorOutpatient | PediatricVisit => {
            bits = b(I::Health);
            maybe(&mut bits, I::Family, 0.1);
        }
        PharmacistVisit => bits = b(I::Health),
        CareMonitoring => {
            bits = b(I::Care) | b(I::Welfare);
            maybe(&mut bits, I::Family, 0.4);
        }
        CompSupport => {
            bits = b(I::Welfare);
            maybe(&mut bits, I::Family, 0.5);
            maybe(&mut bits, I::Care, 0.2);
            maybe(&mut bits, I::Finance, 0.15);
        }
        LayeredOutreach => {
            bits = b(I::Welfare) | b(I::Family);
            maybe(&mut bits, I::Health, 0.2);
        }
        LayeredConsult => {
            bits = b(I::Welfare) | b(I::Family);
            maybe(&mut bits, I::Finance, 0.2);
        }
        CouncilConsult => {
            bits = b(I::Welfare) | b(I::Finance);
            maybe(&mut bits, I::Family, 0.3);
        }
        WelfareConsult => {
            bits = b(I::Welfare);
            maybe(&mut bits, I::Finance, 0.5);
            maybe(&mut bits, I::Family, 0.3);
        }
        PhnVisit => {
            bits = b(I::Health);
            maybe(&mut bits, I::Family, 0.6);
        }
        SchoolReport => {
            bits = b(I::Welfare) | b(I::Family);
            maybe(&mut bits, I::Health, 0.15);
        }
        NpoActivity => {
            bits = b(I::Welfare);
            maybe(&mut bits, I::Family, 0.3);
        }
        MswNote => bits = b(I::Health) | b(I::Welfare),
        Wish => {
            bits = b(I::Welfare);
            maybe(&mut bits, I::Family, 0.3);
        }
        FamilyCall => {
            bits = b(I::Family);
            maybe(&mut bits, I::Welfare, 0.5);
        }
        MinutesStatutory | MinutesLayered | MinutesConference => {
            bits = b(I::Welfare) | b(I::Family);
            maybe(&mut bits, I::Health, 0.3);
        }
        Hospitalized | Discharged | Emergency => bits = b(I::Health) | b(I::Care),
        Death | Facility => bits = b(I::Health) | b(I::Welfare),
        MoveOut | GoalReached | Reopened => bits = b(I::Welfare),
        FamilyDeath => bits = b(I::Family) | b(I::Welfare),
        ConsentTalk => bits = b(I::Welfare),
    }
    bits
}
