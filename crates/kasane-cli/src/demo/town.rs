//! The town: かさね市's agencies and the professionals enrolled at them, and the directory
//! actions that set them up (operator bootstrap → center admin → agency admins → staff).

use kasane_domain::vocab::{AgencyKind, Profession, Role};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::names::{self, DISTRICTS, Gender};
use super::plan::{
    Action, DAY, HOUR, MIN, NO_RESIDENT, OPERATOR, Op, business_day_from, jst_at, jst_day, mix, tag,
};

/// What an agency does in the demo (finer than `AgencyKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Unit {
    /// 福祉課: municipal section; convenes statutory 支援会議.
    Welfare,
    /// 重層的支援推進センター: the layered-support center (多機関協働).
    Layered,
    /// 社会福祉協議会: CSW, 自立相談支援, 家計改善支援.
    Council,
    /// 地域包括支援センター.
    Comprehensive,
    /// An outpatient clinic (内科).
    Clinic,
    /// A home-visit clinic (在宅診療所).
    HomeCareClinic,
    /// A paediatric clinic.
    Pediatric,
    /// A hospital's regional liaison office (MSW).
    Hospital,
    NurseStation,
    Pharmacy,
    /// 居宅介護支援事業所 (care managers).
    CareOffice,
    /// 訪問介護事業所 (home helpers).
    HomeHelp,
    School,
    /// A food bank / 居場所 / 子ども食堂 NPO.
    Npo,
}

impl Unit {
    pub(crate) const ALL: [Unit; 14] = [
        Unit::Welfare,
        Unit::Layered,
        Unit::Council,
        Unit::Comprehensive,
        Unit::Clinic,
        Unit::HomeCareClinic,
        Unit::Pediatric,
        Unit::Hospital,
        Unit::NurseStation,
        Unit::Pharmacy,
        Unit::CareOffice,
        Unit::HomeHelp,
        Unit::School,
        Unit::Npo,
    ];

    pub(crate) fn index(self) -> usize {
        Unit::ALL.iter().position(|u| *u == self).expect("listed")
    }

    pub(crate) fn kind(self) -> AgencyKind {
        match self {
            Unit::Welfare => AgencyKind::MunicipalSection,
            Unit::Layered => AgencyKind::Other,
            Unit::Council => AgencyKind::SocialWelfareCouncil,
            Unit::Comprehensive => AgencyKind::CommunityGeneralSupportCenter,
            Unit::Clinic | Unit::HomeCareClinic | Unit::Pediatric => AgencyKind::Clinic,
            Unit::Hospital => AgencyKind::Hospital,
            Unit::NurseStation => AgencyKind::VisitingNurseStation,
            Unit::Pharmacy => AgencyKind::Pharmacy,
            Unit::CareOffice => AgencyKind::CareManagementOffice,
            Unit::HomeHelp => AgencyKind::HomeHelpProvider,
            Unit::School => AgencyKind::School,
            Unit::Npo => AgencyKind::Npo,
        }
    }

    /// How many agencies of this unit a town of scale `f` (1.0 = 40 members) has.
    fn copies(self, f: f64) -> usize {
        let n = match self {
            Unit::Welfare | Unit::Layered | Unit::Council => return 1,
            Unit::Comprehensive => f,
            Unit::Clinic | Unit::HomeCareClinic => f,
            Unit::Pediatric => f * 0.5,
            Unit::Hospital => f * 0.34,
            Unit::NurseStation | Unit::Pharmacy | Unit::HomeHelp => f,
            Unit::CareOffice => f * 2.0,
            Unit::School | Unit::Npo => f,
        };
        (n.round() as usize).max(1)
    }

    /// Share of the staff beyond the agency administrator.
    fn staff_weight(self) -> f64 {
        match self {
            Unit::Welfare => 4.0,
            Unit::Layered | Unit::Council | Unit::Comprehensive => 2.0,
            Unit::Clinic => 0.6,
            Unit::HomeCareClinic => 1.0,
            Unit::Pediatric => 0.3,
            Unit::Hospital => 0.5,
            Unit::NurseStation => 2.0,
            Unit::Pharmacy => 1.0,
            Unit::CareOffice => 1.5,
            Unit::HomeHelp => 2.5,
            Unit::School | Unit::Npo => 1.0,
        }
    }

    fn admin_profession(self) -> Profession {
        self.staff_professions()[0]
    }

    /// Professions of the staff, cycled in order (the first is also the administrator's).
    fn staff_professions(self) -> &'static [Profession] {
        use Profession::*;
        match self {
            Unit::Welfare => &[
                MunicipalStaff,
                PublicHealthNurse,
                MunicipalStaff,
                PublicHealthNurse,
            ],
            Unit::Layered | Unit::Council | Unit::Hospital => &[SocialWorker],
            Unit::Comprehensive => &[SocialWorker, PublicHealthNurse, CareManager],
            Unit::Clinic | Unit::HomeCareClinic | Unit::Pediatric => &[Physician],
            Unit::NurseStation => &[VisitingNurse],
            Unit::Pharmacy => &[Pharmacist],
            Unit::CareOffice => &[CareManager],
            Unit::HomeHelp => &[HomeHelper],
            Unit::School => &[Teacher, Teacher, SocialWorker],
            Unit::Npo => &[NpoStaff],
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Unit::Welfare => &["かさね市 福祉課"],
            Unit::Layered => &["かさね市 重層的支援推進センター"],
            Unit::Council => &["社会福祉法人 かさね市社会福祉協議会"],
            Unit::Comprehensive => &[
                "かさね市北部地域包括支援センター",
                "かさね市南部地域包括支援センター",
                "かさね市東部地域包括支援センター",
                "かさね市西部地域包括支援センター",
                "かさね市中央地域包括支援センター",
            ],
            Unit::Clinic => &[
                "本町内科クリニック",
                "栄町ファミリークリニック",
                "緑ヶ丘内科医院",
                "港町診療所",
                "桜台クリニック",
            ],
            Unit::HomeCareClinic => &[
                "みなと在宅診療所",
                "かさね在宅クリニック",
                "さくら訪問診療所",
                "ひまわり在宅医療クリニック",
            ],
            Unit::Pediatric => &[
                "さくら小児科",
                "わかば小児科クリニック",
                "こどもクリニックかさね",
            ],
            Unit::Hospital => &[
                "かさね中央病院 地域医療連携室",
                "かさね市民病院 患者支援センター",
            ],
            Unit::NurseStation => &[
                "かさね訪問看護ステーション",
                "訪問看護ステーション あおぞら",
                "訪問看護ステーション ひまわり",
            ],
            Unit::Pharmacy => &["みどり薬局 本町店", "さくら薬局 栄町店", "ひかり調剤薬局"],
            Unit::CareOffice => &[
                "居宅介護支援事業所 ひだまり",
                "居宅介護支援事業所 あおば",
                "ケアプランセンター さくら",
                "居宅介護支援事業所 かさねの里",
                "ケアプランセンター みなと",
            ],
            Unit::HomeHelp => &[
                "ヘルパーステーション たんぽぽ",
                "訪問介護事業所 なごみ",
                "ヘルパーステーション すずらん",
            ],
            Unit::School => &[
                "かさね市立かさね学園（義務教育学校）",
                "かさね市立本町小学校",
                "かさね市立第一中学校",
            ],
            Unit::Npo => &[
                "NPO法人 かさね居場所ネット（フードバンク・子ども食堂）",
                "NPO法人 ひきこもり家族会 ともしび",
                "NPO法人 わかものサポートかさね",
            ],
        }
    }

    fn fallback_name(self, n: usize) -> String {
        let d = DISTRICTS[n % DISTRICTS.len()];
        let base = match self {
            Unit::Comprehensive => format!("かさね市{d}地域包括支援センター"),
            Unit::Clinic => format!("{d}内科クリニック"),
            Unit::HomeCareClinic => format!("{d}在宅クリニック"),
            Unit::Pediatric => format!("{d}こどもクリニック"),
            Unit::Hospital => format!("{d}病院 地域医療連携室"),
            Unit::NurseStation => format!("訪問看護ステーション {d}"),
            Unit::Pharmacy => format!("{d}調剤薬局"),
            Unit::CareOffice => format!("居宅介護支援事業所 {d}"),
            Unit::HomeHelp => format!("ヘルパーステーション {d}"),
            Unit::School => format!("かさね市立{d}小学校"),
            Unit::Npo => format!("NPO法人 {d}ささえあいネット"),
            Unit::Welfare | Unit::Layered | Unit::Council => format!("かさね市 {d}出張所"),
        };
        if n >= DISTRICTS.len() {
            format!("{base}（第{}）", n / DISTRICTS.len() + 1)
        } else {
            base
        }
    }

    /// How notes and meeting texts refer to this agency's people.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Unit::Welfare => "市福祉課",
            Unit::Layered => "重層的支援推進センター",
            Unit::Council => "社協",
            Unit::Comprehensive => "地域包括",
            Unit::Clinic | Unit::HomeCareClinic => "主治医",
            Unit::Pediatric => "小児科",
            Unit::Hospital => "病院MSW",
            Unit::NurseStation => "訪問看護",
            Unit::Pharmacy => "薬局",
            Unit::CareOffice => "ケアマネジャー",
            Unit::HomeHelp => "ヘルパー",
            Unit::School => "学校",
            Unit::Npo => "NPO",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AgencySpec {
    pub name: String,
    pub kind: AgencyKind,
    pub unit: Unit,
    /// The agency administrator (member index).
    pub admin: u16,
    pub registered: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MemberSpec {
    pub agency: u16,
    pub name: String,
    pub kana: String,
    pub gender: Gender,
    pub profession: Profession,
    pub roles: Vec<Role>,
    pub enrolled: i64,
    /// Who enrolled the member (member index or `OPERATOR`).
    pub enrolled_by: u16,
    /// When the member leaves (suspended for 退職), if they do within the period.
    pub leaves: Option<i64>,
}

impl MemberSpec {
    pub(crate) fn is_supporter(&self) -> bool {
        self.roles.contains(&Role::Supporter)
    }
    /// Enrolled before `t` and not yet left at `t`.
    pub(crate) fn active(&self, t: i64) -> bool {
        self.enrolled < t && self.leaves.is_none_or(|l| t < l)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Town {
    pub agencies: Vec<AgencySpec>,
    pub members: Vec<MemberSpec>,
    /// Agency indices per unit (indexed by `Unit::index`).
    pub by_unit: Vec<Vec<u16>>,
    /// Supporters per agency.
    pub staff: Vec<Vec<u16>>,
    pub center_admin: u16,
    pub auditor: u16,
    /// The directory actions, in time order.
    pub actions: Vec<Action>,
}

impl Town {
    pub(crate) fn member(&self, m: u16) -> &MemberSpec {
        &self.members[usize::from(m)]
    }
    pub(crate) fn agency_of(&self, m: u16) -> u16 {
        self.members[usize::from(m)].agency
    }
    pub(crate) fn unit_of_agency(&self, a: u16) -> Unit {
        self.agencies[usize::from(a)].unit
    }
    pub(crate) fn agencies_of(&self, unit: Unit) -> &[u16] {
        &self.by_unit[unit.index()]
    }
}

/// Members of a town built for `target` members: at least one administrator per agency plus
/// the center administrator and the auditor.
pub(crate) fn default_members(residents: usize) -> usize {
    (residents / 4).max(40)
}

fn staff_plan(f: f64) -> Vec<Unit> {
    let mut out = Vec::new();
    for unit in Unit::ALL {
        for _ in 0..unit.copies(f) {
            out.push(unit);
        }
    }
    out
}

/// Builds the town for `target` members (the result may hold a few more when `target` is
/// below what the agencies need).
pub(crate) fn plan(seed: u64, target: usize, epoch: i64, start: i64, end: i64) -> Town {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, tag::TOWN, 0, 0));
    let f = (target as f64 / 40.0).max(1.0);
    let units = staff_plan(f);
    let span = end - start;
    let leavers = if span >= 90 * DAY {
        (target / 40).max(1)
    } else {
        0
    };
    // Welfare holds the center admin and the auditor besides its agency admin.
    let minimum = units.len() + 2;
    let total = target.max(minimum + leavers).min(usize::from(u16::MAX) - 1);
    let roster = total - leavers;

    // Largest-remainder split of the staff beyond the administrators.
    let extras = roster - minimum;
    let weights: Vec<f64> = units.iter().map(|u| u.staff_weight()).collect();
    let sum: f64 = weights.iter().sum();
    let quotas: Vec<f64> = weights.iter().map(|w| extras as f64 * w / sum).collect();
    let mut staff_count: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let mut left = extras - staff_count.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|a, b| {
        let ra = quotas[*a] - quotas[*a].floor();
        let rb = quotas[*b] - quotas[*b].floor();
        rb.total_cmp(&ra).then(a.cmp(b))
    });
    for i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        staff_count[*i] += 1;
        left -= 1;
    }

    // Agencies and names.
    let mut agencies = Vec::with_capacity(units.len());
    let mut by_unit = vec![Vec::new(); Unit::ALL.len()];
    let mut taken = std::collections::BTreeSet::new();
    for unit in &units {
        let n = by_unit[unit.index()].len();
        let mut name = unit
            .names()
            .get(n)
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| unit.fallback_name(n));
        let mut k = 2;
        while taken.contains(&name) {
            name = format!("{}（第{k}）", unit.fallback_name(n));
            k += 1;
        }
        taken.insert(name.clone());
        by_unit[unit.index()].push(agencies.len() as u16);
        agencies.push(AgencySpec {
            name,
            kind: unit.kind(),
            unit: *unit,
            admin: 0,
            registered: 0,
        });
    }

    // Bootstrap times: day 0 sets up the directory, the following business days enrol staff.
    let day0 = business_day_from(jst_day(epoch) + 1);
    let mut t = jst_at(day0, 9 * HOUR + 30 * MIN);
    let mut actions = Vec::new();
    let mut dir_seq = 0u32;
    let mut push = |actions: &mut Vec<Action>, at: i64, actor: u16, op: Op| {
        actions.push(Action {
            at: (at - epoch) as u32,
            resident: NO_RESIDENT,
            seq: dir_seq,
            actor,
            op,
        });
        dir_seq += 1;
    };
    let mut members: Vec<MemberSpec> = Vec::with_capacity(total);
    let step = if agencies.len() > 60 { 20 } else { 3 * MIN };
    let new_member = |rng: &mut ChaCha8Rng,
                      agency: u16,
                      profession: Profession,
                      roles: Vec<Role>,
                      enrolled: i64,
                      by: u16|
     -> MemberSpec {
        let gender = Gender::random(rng);
        let year = rng.random_range(1962..=2000);
        let (name, kana) =
            names::full_name(names::surname(rng), names::given_name(rng, gender, year));
        MemberSpec {
            agency,
            name,
            kana,
            gender,
            profession,
            roles,
            enrolled,
            enrolled_by: by,
            leaves: None,
        }
    };

    let welfare = by_unit[Unit::Welfare.index()][0];
    agencies[usize::from(welfare)].registered = t;
    push(
        &mut actions,
        t,
        OPERATOR,
        Op::RegisterAgency { agency: welfare },
    );
    t += 4 * MIN;
    let center_admin = 0u16;
    members.push(new_member(
        &mut rng,
        welfare,
        Profession::MunicipalStaff,
        vec![Role::CenterAdmin],
        t,
        OPERATOR,
    ));
    push(
        &mut actions,
        t,
        OPERATOR,
        Op::EnrolMember {
            member: center_admin,
        },
    );
    for a in 0..agencies.len() as u16 {
        if a == welfare {
            continue;
        }
        t += step;
        agencies[usize::from(a)].registered = t;
        push(
            &mut actions,
            t,
            center_admin,
            Op::RegisterAgency { agency: a },
        );
    }
    t += 5 * MIN;
    let auditor = members.len() as u16;
    members.push(new_member(
        &mut rng,
        welfare,
        Profession::MunicipalStaff,
        vec![Role::Auditor],
        t,
        center_admin,
    ));
    push(
        &mut actions,
        t,
        center_admin,
        Op::EnrolMember { member: auditor },
    );
    for a in 0..agencies.len() as u16 {
        t += step;
        let unit = agencies[usize::from(a)].unit;
        let m = members.len() as u16;
        members.push(new_member(
            &mut rng,
            a,
            unit.admin_profession(),
            vec![Role::AgencyAdmin, Role::Supporter],
            t,
            center_admin,
        ));
        agencies[usize::from(a)].admin = m;
        push(&mut actions, t, center_admin, Op::EnrolMember { member: m });
    }
    // Staff, enrolled by their agency administrators over the next business days.
    let staff_day0 = jst_day(t) + 1;
    for (a, count) in staff_count.iter().enumerate() {
        let unit = agencies[a].unit;
        let admin = agencies[a].admin;
        let mut day = business_day_from(staff_day0 + (a as i64 % 5));
        let mut at = jst_at(day, 10 * HOUR) + rng.random_range(0..60) * MIN;
        let professions = unit.staff_professions();
        for k in 0..*count {
            let profession = professions[(k + 1) % professions.len()];
            let m = members.len() as u16;
            members.push(new_member(
                &mut rng,
                a as u16,
                profession,
                vec![Role::Supporter],
                at,
                admin,
            ));
            push(&mut actions, at, admin, Op::EnrolMember { member: m });
            at += rng.random_range(4..12) * MIN;
            if jst_at(day, 17 * HOUR) < at {
                day = business_day_from(day + 1);
                at = jst_at(day, 10 * HOUR);
            }
        }
    }

    // Leavers (退職) and their successors (enrolled three weeks before to hand over).
    let mut candidates: Vec<u16> = (0..members.len() as u16)
        .filter(|m| {
            let spec = &members[usize::from(*m)];
            let same = members
                .iter()
                .filter(|o| o.agency == spec.agency && o.is_supporter())
                .count();
            spec.roles == [Role::Supporter] && same >= 2
        })
        .collect();
    for _ in 0..leavers {
        if candidates.is_empty() {
            break;
        }
        let pick = candidates.remove(rng.random_range(0..candidates.len()));
        let at = start + (span as f64 * rng.random_range(0.45..0.85)) as i64;
        let day = business_day_from(jst_day(at));
        let leaves = jst_at(day, 17 * HOUR + 30 * MIN);
        members[usize::from(pick)].leaves = Some(leaves);
        candidates.retain(|m| members[usize::from(*m)].agency != members[usize::from(pick)].agency);
        let agency = members[usize::from(pick)].agency;
        let admin = agencies[usize::from(agency)].admin;
        let hire_day = business_day_from(jst_day(leaves - 21 * DAY));
        let hired = jst_at(hire_day, 9 * HOUR + 15 * MIN);
        let profession = members[usize::from(pick)].profession;
        let m = members.len() as u16;
        members.push(new_member(
            &mut rng,
            agency,
            profession,
            vec![Role::Supporter],
            hired,
            admin,
        ));
        push(&mut actions, hired, admin, Op::EnrolMember { member: m });
        push(
            &mut actions,
            leaves,
            admin,
            Op::SuspendMember { member: pick },
        );
    }

    let mut staff = vec![Vec::new(); agencies.len()];
    for (i, m) in members.iter().enumerate() {
        if m.is_supporter() {
            staff[usize::from(m.agency)].push(i as u16);
        }
    }
    Town {
        agencies,
        members,
        by_unit,
        staff,
        center_admin,
        auditor,
        actions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_town_has_every_unit_and_forty_members() {
        let start = 1_743_433_200; // 2025-04-01 00:00 JST
        let end = start + 365 * DAY;
        let town = plan(1, 40, start - 35 * DAY, start, end);
        assert_eq!(town.members.len(), 40);
        for unit in Unit::ALL {
            assert!(!town.agencies_of(unit).is_empty(), "{unit:?}");
        }
        for (a, agency) in town.agencies.iter().enumerate() {
            let admins = town
                .members
                .iter()
                .filter(|m| m.agency as usize == a && m.roles.contains(&Role::AgencyAdmin))
                .count();
            assert_eq!(admins, 1, "{}", agency.name);
        }
        assert!(
            town.member(town.center_admin)
                .roles
                .contains(&Role::CenterAdmin)
        );
        assert!(town.member(town.auditor).roles.contains(&Role::Auditor));
        assert!(town.members.iter().any(|m| m.leaves.is_some()));
        let clinics = town
            .agencies
            .iter()
            .filter(|a| a.kind == AgencyKind::Clinic)
            .count();
        assert!((2..=3).contains(&clinics));
    }

    #[test]
    fn large_town_scales() {
        let start = 1_743_433_200;
        let town = plan(1, 2500, start - 35 * DAY, start, start + 730 * DAY);
        assert_eq!(town.members.len(), 2500);
        assert!(town.agencies.len() > 300);
        let mut names: Vec<&str> = town.agencies.iter().map(|a| a.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), town.agencies.len(), "agency names are unique");
    }
}
