//! `kasane bench timeline`: latency of a 50-entry timeline page for a resident with 10,000
//! case-file events, as a supporter of another agency sees it (so the sharing rule filters),
//! against a baseline measured in the same run: the same page read without the sharing rule.
//!
//! The case file is written through the [`CommandService`] into a store opened with the
//! projections' inline hook, so the read models are filled exactly as the API would fill
//! them. Three agencies share the team; a consent lets the viewer's agency see care and
//! welfare notes; about a third of the notes are not visible to the viewer at all.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use kasane_app::{CommandMeta, CommandService};
use kasane_domain::directory::{AgencyCommand, MemberCommand};
use kasane_domain::vocab::{
    AgencyKind, ConsentMethod, InfoCategory, NoteCategory, Profession, Role, SupportArea, TeamRole,
};
use kasane_domain::{
    AgencyId, ConsentId, MemberId, NoteId, ResidentCommand, ResidentId, TenantId, Viewer,
};
use kasane_projections::registry::{self, ProjectionSettings};
use kasane_projections::runner::{ProjectionRunner, open_read};
use kasane_projections::timeline::{TimelineQuery, timeline};
use kasane_store::clock::ManualClock;
use kasane_store::{Durability, EventStore, MasterKey, SqliteConfig, SqliteStore};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

/// Entries per page.
pub const PAGE: usize = 50;

/// Events in the benchmark resident's case file.
pub const CASE_EVENTS: u64 = 10_000;

/// The latency target for the median page.
pub const TARGET_P50: Duration = Duration::from_millis(5);

/// Corrections, redactions and acknowledgements among the case file's events.
const CORRECTIONS: usize = 40;
const REDACTIONS: usize = 5;
const ACKNOWLEDGEMENTS: usize = 47;

/// Unmeasured queries before the samples (statement cache, page cache).
const WARM_UP: usize = 100;

const TENANT: &str = "kasane-city";

/// What to measure.
#[derive(Clone, Debug)]
pub struct TimelineBenchOptions {
    /// Where the temporary store goes (default: the system temp directory).
    pub dir: Option<PathBuf>,
    /// Measured pages (each also measured by the baseline).
    pub samples: usize,
    /// Seed of the case file's content and of the sampled cursors and instants.
    pub seed: u64,
    /// Keep the database afterwards (for looking at query plans).
    pub keep: bool,
}

impl Default for TimelineBenchOptions {
    fn default() -> Self {
        TimelineBenchOptions {
            dir: None,
            samples: 2_000,
            seed: 7,
            keep: false,
        }
    }
}

/// Latency percentiles of one series of samples.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    /// Samples taken.
    pub samples: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest sample.
    pub max: Duration,
}

impl Latencies {
    fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Latencies::default();
        }
        samples.sort_unstable();
        let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
        Latencies {
            samples: samples.len(),
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
            max: *samples.last().expect("not empty"),
        }
    }
}

/// One kind of page request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The newest page, now.
    FirstPage,
    /// A deeper page now, after a cursor handed out by an earlier page.
    DeeperPage,
    /// The newest page as of a random past instant.
    AsOfPast,
}

impl Scenario {
    const ALL: [Scenario; 3] = [
        Scenario::FirstPage,
        Scenario::DeeperPage,
        Scenario::AsOfPast,
    ];

    fn label(self) -> &'static str {
        match self {
            Scenario::FirstPage => "first page, now",
            Scenario::DeeperPage => "random cursor, now",
            Scenario::AsOfPast => "first page, random past T",
        }
    }
}

/// The figures of one scenario.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// Which requests.
    pub scenario: Scenario,
    /// `timeline(...)` with the sharing rule.
    pub timeline: Latencies,
    /// The same page without the rule.
    pub baseline: Latencies,
    /// Mean entries per page returned by `timeline(...)`.
    pub mean_entries: f64,
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct TimelineBenchReport {
    /// The command line as typed.
    pub command: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Events in the resident's case file.
    pub case_events: u64,
    /// Events in the whole log (directory included).
    pub log_events: u64,
    /// Notes posted.
    pub notes: usize,
    /// Entries of the whole timeline the viewer sees now.
    pub visible_now: usize,
    /// Pages the viewer walks through now.
    pub pages_now: usize,
    /// Time to write the case file (inline projections included).
    pub write_elapsed: Duration,
    /// All samples.
    pub overall: ScenarioResult,
    /// Per scenario.
    pub scenarios: Vec<ScenarioResult>,
}

impl TimelineBenchReport {
    /// True when the median page meets the target.
    pub fn meets_target(&self) -> bool {
        self.overall.timeline.p50 < TARGET_P50
    }
}

/// Removes the benchmark directory however the run ends (unless it is to be kept).
struct TempDirGuard(Option<PathBuf>);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The people of the benchmark: three agencies with two members each.
struct Cast {
    agencies: [AgencyId; 3],
    /// `members[a]` are the two members of agency `a`.
    members: [[MemberId; 2]; 3],
}

impl Cast {
    /// The viewer: the first member of the third agency (the care management office).
    fn viewer(&self) -> MemberId {
        self.members[2][0]
    }
}

/// Moves the clock on by `step` and gives the metadata of a command at that instant.
fn tick(clock: &ManualClock, now: &mut DateTime<Utc>, step: TimeDelta) -> CommandMeta {
    *now += step;
    clock.set(*now);
    CommandMeta::at(*now)
}

/// Creates the resident and their case file; returns the cast, the resident, the instant the
/// viewer joined the team, the end of the history and the number of notes.
async fn write_case_file(
    service: &CommandService,
    clock: &ManualClock,
    rng: &mut ChaCha8Rng,
    progress: &ProgressBar,
) -> Result<(Cast, ResidentId, DateTime<Utc>, DateTime<Utc>, usize)> {
    let start = Utc
        .with_ymd_and_hms(2024, 11, 1, 0, 0, 0)
        .single()
        .expect("a valid instant");
    let mut now = start;

    let kinds = [
        (AgencyKind::Clinic, "本町クリニック", Profession::Physician),
        (
            AgencyKind::VisitingNurseStation,
            "さくら訪問看護ステーション",
            Profession::VisitingNurse,
        ),
        (
            AgencyKind::CareManagementOffice,
            "かさね居宅介護支援事業所",
            Profession::CareManager,
        ),
    ];
    let agencies = [0, 1, 2].map(|_| AgencyId(Uuid::now_v7()));
    let members = [0, 1, 2].map(|_| [0, 1].map(|_| MemberId(Uuid::now_v7())));
    for (a, (kind, name, _)) in kinds.iter().enumerate() {
        service
            .agency(
                None,
                agencies[a],
                AgencyCommand::Register {
                    agency_id: agencies[a],
                    name: (*name).into(),
                    kind: *kind,
                },
                tick(clock, &mut now, TimeDelta::minutes(1)),
            )
            .await?;
    }
    let names = [
        ("鈴木 一郎", "スズキ イチロウ"),
        ("佐藤 京子", "サトウ キョウコ"),
        ("高橋 美咲", "タカハシ ミサキ"),
        ("田中 健", "タナカ ケン"),
        ("伊藤 由美", "イトウ ユミ"),
        ("渡辺 誠", "ワタナベ マコト"),
    ];
    for a in 0..3 {
        for m in 0..2 {
            let (name, kana) = names[a * 2 + m];
            service
                .member(
                    None,
                    members[a][m],
                    MemberCommand::Enrol {
                        member_id: members[a][m],
                        agency_id: agencies[a],
                        name: name.into(),
                        kana: kana.into(),
                        profession: kinds[a].2,
                        roles: vec![Role::Supporter],
                    },
                    tick(clock, &mut now, TimeDelta::minutes(1)),
                )
                .await?;
        }
    }
    let cast = Cast { agencies, members };

    let resident = ResidentId(Uuid::now_v7());
    let lead = members[0][0];
    let mut case_events = 0u64;
    let run = async |by: MemberId, cmd: ResidentCommand, meta: CommandMeta| {
        let outcome = service
            .resident(by, resident, cmd, meta)
            .await
            .context("a benchmark command was refused")?;
        progress.inc(outcome.events as u64);
        anyhow::Ok(outcome.events as u64)
    };
    case_events += run(
        lead,
        ResidentCommand::Register {
            name: "山田 花子".into(),
            kana: "ヤマダ ハナコ".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1938, 5, 12).expect("a valid date"),
            address: Some("かさね市本町三丁目4-12".into()),
            support_areas: vec![SupportArea::Elderly],
        },
        tick(clock, &mut now, TimeDelta::hours(1)),
    )
    .await?;
    for member in [
        members[0][1],
        members[1][0],
        members[1][1],
        members[2][0],
        members[2][1],
    ] {
        case_events += run(
            lead,
            ResidentCommand::AddTeamMember {
                member_id: member,
                team_role: TeamRole::Member,
            },
            tick(clock, &mut now, TimeDelta::minutes(30)),
        )
        .await?;
    }
    let viewer_joined = now;
    let meta = tick(clock, &mut now, TimeDelta::hours(1));
    case_events += run(
        lead,
        ResidentCommand::GrantConsent {
            consent_id: ConsentId(Uuid::now_v7()),
            agencies: vec![agencies[2]],
            categories: vec![InfoCategory::Care, InfoCategory::Welfare],
            purpose: "在宅生活の継続に向けた介護サービス調整のため".into(),
            method: ConsentMethod::Written,
            valid_from: meta.now,
            valid_until: None,
            document_ref: Some("同意書 2024-11-01".into()),
        },
        meta,
    )
    .await?;

    // The rest of the case file: notes, with corrections, redactions and acknowledgements
    // of earlier notes sprinkled among them, spread over two years.
    let others = CORRECTIONS + REDACTIONS + ACKNOWLEDGEMENTS;
    let notes = (CASE_EVENTS - case_events) as usize - others;
    let total = notes + others;
    // Which actions are not notes: never among the first few, so there is a note to act on.
    let mut kinds_of: Vec<u8> = vec![0; total];
    let mut slots: Vec<usize> = (20..total).collect();
    let (chosen, _) = slots.partial_shuffle(rng, others);
    for (i, slot) in chosen.iter().enumerate() {
        kinds_of[*slot] = match i {
            i if i < CORRECTIONS => 1,
            i if i < CORRECTIONS + REDACTIONS => 2,
            _ => 3,
        };
    }
    let span = TimeDelta::days(730).num_seconds();
    let step = TimeDelta::seconds(span / total as i64);
    // (note, author's agency, author index within the agency)
    let mut posted: Vec<(NoteId, usize, usize)> = Vec::with_capacity(notes);
    let mut redacted = std::collections::HashSet::new();
    let mut acked = std::collections::HashSet::new();
    for kind in kinds_of {
        let jitter = TimeDelta::seconds(rng.random_range(-600..=600));
        let meta = tick(clock, &mut now, step + jitter);
        let at = meta.now;
        match kind {
            0 => {
                let agency = match rng.random_range(0..100) {
                    0..40 => 0,
                    40..75 => 1,
                    _ => 2,
                };
                let author = rng.random_range(0..2);
                let note_id = NoteId(Uuid::now_v7());
                let n = posted.len();
                case_events += run(
                    members[agency][author],
                    ResidentCommand::PostNote {
                        note_id,
                        category: *[
                            NoteCategory::Visit,
                            NoteCategory::Visit,
                            NoteCategory::Consultation,
                            NoteCategory::StatusChange,
                            NoteCategory::Wish,
                            NoteCategory::Other,
                        ]
                        .choose(rng)
                        .expect("not empty"),
                        info_categories: info_categories(rng),
                        body: body(rng, n),
                        describes_at: at - TimeDelta::minutes(rng.random_range(0..180)),
                        attachments: vec![],
                    },
                    meta,
                )
                .await?;
                posted.push((note_id, agency, author));
            }
            _ => {
                // An earlier note that is still live (and, for an acknowledgement, not yet
                // acknowledged by the author's colleague).
                let (note_id, agency, author) = loop {
                    let candidate = *posted.choose(rng).expect("notes come first");
                    let colleague = members[candidate.1][1 - candidate.2];
                    if !redacted.contains(&candidate.0)
                        && (kind != 3 || !acked.contains(&(candidate.0, colleague)))
                    {
                        break candidate;
                    }
                };
                let author_id = members[agency][author];
                let (by, cmd) = match kind {
                    1 => (
                        author_id,
                        ResidentCommand::CorrectNote {
                            note_id,
                            body: format!("{}（訂正: 数値を記録し直しました）", body(rng, 0)),
                            reason: "測定値の転記誤り".into(),
                        },
                    ),
                    2 => {
                        redacted.insert(note_id);
                        (
                            author_id,
                            ResidentCommand::RedactNote {
                                note_id,
                                reason: "別の利用者の記録を誤って投稿したため".into(),
                            },
                        )
                    }
                    _ => {
                        let colleague = members[agency][1 - author];
                        acked.insert((note_id, colleague));
                        (colleague, ResidentCommand::AcknowledgeNote { note_id })
                    }
                };
                case_events += run(by, cmd, meta).await?;
            }
        }
    }
    ensure!(
        case_events == CASE_EVENTS,
        "the case file holds {case_events} events, not {CASE_EVENTS}"
    );
    Ok((cast, resident, viewer_joined, now, notes))
}

/// Half of the notes hold only care or welfare information (which the consent covers); the
/// others also hold health, finance or family information.
fn info_categories(rng: &mut ChaCha8Rng) -> Vec<InfoCategory> {
    let shared = [InfoCategory::Care, InfoCategory::Welfare];
    let private = [
        InfoCategory::Health,
        InfoCategory::Finance,
        InfoCategory::Family,
    ];
    let mut out = vec![*shared.choose(rng).expect("not empty")];
    if rng.random_bool(0.3) {
        out.push(if out[0] == shared[0] {
            shared[1]
        } else {
            shared[0]
        });
    }
    if rng.random_bool(0.5) {
        out.push(*private.choose(rng).expect("not empty"));
    }
    out
}

/// A realistic note of 100 to 250 characters.
fn body(rng: &mut ChaCha8Rng, n: usize) -> String {
    let openings = [
        "本日訪問。",
        "電話にて長女より相談あり。",
        "デイサービス利用時の様子。",
        "定期受診に同行。",
        "サービス担当者会議の前に状況確認。",
    ];
    let middles = [
        "血圧{a}/{b}、脈拍{c}。食欲はあり、水分摂取も確認できた。",
        "夜間の徘徊が週{d}回ほどあるとのこと。家族の介護負担が大きくなってきている。",
        "服薬は朝夕とも確認済み。残薬{d}日分あり、薬局と調整予定。",
        "入浴は介助で実施。皮膚の状態に問題なし、右足のむくみ軽度。",
        "生活費のやりくりに不安があると本人より。社協の相談窓口を紹介した。",
    ];
    let closings = [
        "次回訪問時に再確認する。",
        "ケアマネに共有し、プラン見直しを検討。",
        "主治医へ報告済み。",
        "引き続き見守りを継続。",
    ];
    let middle = middles
        .choose(rng)
        .expect("not empty")
        .replace("{a}", &rng.random_range(110..160).to_string())
        .replace("{b}", &rng.random_range(60..95).to_string())
        .replace("{c}", &rng.random_range(55..100).to_string())
        .replace("{d}", &rng.random_range(1..6).to_string());
    format!(
        "{}{}{}（記録 {}）",
        openings.choose(rng).expect("not empty"),
        middle,
        closings.choose(rng).expect("not empty"),
        n + 1
    )
}

/// One page request.
#[derive(Clone, Debug)]
struct Request {
    scenario: Scenario,
    at: DateTime<Utc>,
    after: Option<String>,
}

/// The baseline: the same join, bounds and order as `timeline(...)`, the first 50 rows with
/// every column read, the payload parsed and the body of each note as of T fetched, but no
/// sharing rule (no case facts, no basis per note, no hidden rows to skip).
fn baseline_page(
    conn: &Connection,
    tenant: &str,
    resident: ResidentId,
    boundary: i64,
    at: i64,
) -> Result<usize> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.position, t.stream_version, t.kind, t.recorded_at, t.occurred_at, \
         t.actor_member, t.actor_agency, n.note_id, t.note_position, n.posted_at, n.author, \
         n.author_agency, n.category, n.info_categories, n.describes_at, n.redacted_at, \
         n.redacted_recorded_at, n.posted_position, n.body, n.corrected_recorded_at \
         FROM timeline t LEFT JOIN timeline_notes n ON n.tenant = t.tenant \
         AND n.resident = t.resident AND n.posted_position = t.note_position \
         WHERE t.tenant = ?1 AND t.resident = ?2 AND t.position < ?3 AND t.recorded_at <= ?4 \
         ORDER BY t.position DESC LIMIT ?5",
    )?;
    let mut body_stmt = conn.prepare_cached(
        "SELECT body FROM timeline_note_bodies WHERE note_id = ?1 AND recorded_at <= ?2 \
         ORDER BY position DESC LIMIT 1",
    )?;
    let mut payload_stmt =
        conn.prepare_cached("SELECT payload FROM timeline_payloads WHERE position = ?1")?;
    let mut rows = stmt.query(params![
        tenant,
        resident.0.as_bytes(),
        boundary,
        at,
        PAGE as i64
    ])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        let position: i64 = row.get(0)?;
        let version: i64 = row.get(1)?;
        let kind: String = row.get(2)?;
        let times: (i64, i64) = (row.get(3)?, row.get(4)?);
        let actor: (Option<Vec<u8>>, Option<Vec<u8>>) = (row.get(5)?, row.get(6)?);
        let note_id: Option<Vec<u8>> = row.get(7)?;
        let payload: Option<serde_json::Value> = match row.get::<_, Option<i64>>(8)? {
            Some(_) => None,
            None => payload_stmt
                .query_row([position], |r| r.get::<_, Option<String>>(0))?
                .map(|p| serde_json::from_str(&p))
                .transpose()?,
        };
        let note = match &note_id {
            Some(id) => {
                let body: Option<String> = match row.get::<_, Option<i64>>(19)? {
                    Some(last) if last > at => body_stmt
                        .query_row(params![id, at], |r| r.get(0))
                        .optional()?
                        .flatten(),
                    _ => row.get(18)?,
                };
                let facts: (Option<i64>, Option<Vec<u8>>, Option<String>, Option<String>) =
                    (row.get(9)?, row.get(11)?, row.get(12)?, row.get(13)?);
                let categories: Option<serde_json::Value> =
                    facts.3.as_deref().map(serde_json::from_str).transpose()?;
                Some((body, facts, categories, row.get::<_, Option<i64>>(17)?))
            }
            None => None,
        };
        std::hint::black_box((position, version, kind, times, actor, payload, note));
        n += 1;
    }
    Ok(n)
}

/// Writes the case file, then measures the pages; the store is deleted afterwards.
pub async fn run(opts: &TimelineBenchOptions, command: String) -> Result<TimelineBenchReport> {
    if opts.samples == 0 {
        bail!("--samples must be at least 1");
    }
    let started_at = Utc::now();
    let base = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("kasane-bench-timeline-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the benchmark directory {}", dir.display()))?;
    let _guard = TempDirGuard((!opts.keep).then(|| dir.clone()));
    let path = dir.join(crate::config::DB_FILE);

    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2024, 11, 1, 0, 0, 0)
            .single()
            .expect("a valid instant"),
    ));
    let runner = ProjectionRunner::new(&path, registry::all(&ProjectionSettings::default()));
    let mut config = SqliteConfig::new(&path, MasterKey::generate());
    config.durability = Durability::Normal;
    config.clock = clock.clone();
    config.inline = Some(runner.inline_hook());
    let store = SqliteStore::open(config)
        .await
        .with_context(|| format!("cannot open the benchmark store {}", path.display()))?;
    let result = async {
        runner.prepare()?;
        runner.catch_up(&store, &|_, _| {}).await?;
        measure(&store, &clock, &path, opts).await
    }
    .await;
    store.close().await;
    if opts.keep {
        eprintln!("the database is kept at {}", path.display());
    }
    let mut report = result?;
    report.command = command;
    report.started_at = started_at;
    Ok(report)
}

async fn measure(
    store: &SqliteStore,
    clock: &ManualClock,
    path: &Path,
    opts: &TimelineBenchOptions,
) -> Result<TimelineBenchReport> {
    let tenant = TenantId::parse(TENANT).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let service = CommandService::open(Arc::new(store.clone()), tenant.clone()).await?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);

    let progress = ProgressBar::new(CASE_EVENTS);
    progress.set_style(
        ProgressStyle::with_template(
            "writing the case file (inline projections) {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    let started = Instant::now();
    let (cast, resident, viewer_joined, end, notes) =
        write_case_file(&service, clock, &mut rng, &progress).await?;
    let write_elapsed = started.elapsed();
    progress.finish_and_clear();
    let (_, version) = service.case_file(resident).await?;
    ensure!(
        version == CASE_EVENTS,
        "the case file is at version {version}"
    );
    let log_events = store.head_position().await?;
    let runner_status = ProjectionRunner::new(path, registry::all(&ProjectionSettings::default()))
        .status(log_events)?;
    if let Some(bad) = runner_status
        .iter()
        .find(|s| s.error.is_some() || s.lag > 0)
    {
        bail!(
            "projection {} is at {} of {log_events}: {}",
            bad.name,
            bad.position,
            bad.error.as_deref().unwrap_or("behind")
        );
    }

    let conn = open_read(path)?;
    let viewer = Viewer::from(&service.actor(cast.viewer())?);
    ensure!(viewer.agency_id == cast.agencies[2], "the viewer's agency");
    let tenant = tenant.as_str();
    let now = end + TimeDelta::minutes(1);

    // Walk the whole timeline now, as the viewer, to collect real cursors.
    let mut cursors = Vec::new();
    let mut visible_now = 0;
    let mut after = None;
    loop {
        let mut q = TimelineQuery::at(now, PAGE);
        q.after = after.clone();
        let page = timeline(&conn, tenant, &viewer, resident, &q)?;
        visible_now += page.entries.len();
        match page.next_cursor {
            Some(c) => {
                cursors.push(c.clone());
                after = Some(c);
            }
            None => break,
        }
    }
    let pages_now = cursors.len() + 1;
    ensure!(!cursors.is_empty(), "the timeline has a single page");

    let window = (end - viewer_joined).num_seconds();
    let mut request = |i: usize| -> Request {
        let scenario = Scenario::ALL[i % Scenario::ALL.len()];
        match scenario {
            Scenario::FirstPage => Request {
                scenario,
                at: now,
                after: None,
            },
            Scenario::DeeperPage => Request {
                scenario,
                at: now,
                after: Some(cursors.choose(&mut rng).expect("not empty").clone()),
            },
            Scenario::AsOfPast => Request {
                scenario,
                at: viewer_joined
                    + TimeDelta::hours(2)
                    + TimeDelta::seconds(rng.random_range(0..window)),
                after: None,
            },
        }
    };
    let run_one = |r: &Request| -> Result<(Duration, Duration, usize)> {
        let mut q = TimelineQuery::at(r.at, PAGE);
        q.after = r.after.clone();
        let boundary = match &r.after {
            Some(c) => kasane_projections::page::parse_cursor(c)?,
            None => i64::MAX,
        };
        let t0 = Instant::now();
        let page = timeline(&conn, tenant, &viewer, resident, &q)?;
        let with_rule = t0.elapsed();
        let t0 = Instant::now();
        let rows = baseline_page(&conn, tenant, resident, boundary, r.at.timestamp_micros())?;
        let without = t0.elapsed();
        std::hint::black_box(rows);
        Ok((with_rule, without, page.entries.len()))
    };
    for i in 0..WARM_UP {
        run_one(&request(i))?;
    }
    let bar = ProgressBar::new(opts.samples as u64);
    bar.set_style(
        ProgressStyle::with_template("measuring pages {bar:40} {pos}/{len}")
            .expect("valid template"),
    );
    // (scenario, with the rule, baseline, entries)
    let mut samples = Vec::with_capacity(opts.samples);
    for i in 0..opts.samples {
        let r = request(i);
        let (with_rule, without, entries) = run_one(&r)?;
        samples.push((r.scenario, with_rule, without, entries));
        bar.inc(1);
    }
    bar.finish_and_clear();

    let result = |filter: &dyn Fn(Scenario) -> bool, scenario: Scenario| {
        let chosen: Vec<_> = samples.iter().filter(|s| filter(s.0)).collect();
        ScenarioResult {
            scenario,
            timeline: Latencies::of(chosen.iter().map(|s| s.1).collect()),
            baseline: Latencies::of(chosen.iter().map(|s| s.2).collect()),
            mean_entries: chosen.iter().map(|s| s.3 as f64).sum::<f64>()
                / chosen.len().max(1) as f64,
        }
    };
    let overall = result(&|_| true, Scenario::FirstPage);
    let scenarios = Scenario::ALL
        .iter()
        .map(|&s| result(&|x| x == s, s))
        .collect();
    Ok(TimelineBenchReport {
        command: String::new(),
        started_at: Utc::now(),
        case_events: version,
        log_events,
        notes,
        visible_now,
        pages_now,
        write_elapsed,
        overall,
        scenarios,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl fmt::Display for TimelineBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(
            f,
            "timeline benchmark, started {} ({} cores)",
            self.started_at.format("%Y-%m-%d %H:%M UTC"),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        )?;
        writeln!(
            f,
            "case file: {} events ({} notes, {CORRECTIONS} corrections, {REDACTIONS} redactions, \
             {ACKNOWLEDGEMENTS} acknowledgements; 3 agencies on the team), {} events in the log, \
             written through the command service with inline projections in {:.1} s",
            self.case_events,
            self.notes,
            self.log_events,
            self.write_elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "viewer: a supporter of the care management office (own-agency notes, care/welfare \
             notes by consent); sees {} entries now ({} pages of {PAGE})",
            self.visible_now, self.pages_now
        )?;
        writeln!(
            f,
            "baseline: the same join and bounds, first {PAGE} rows, payload parsed and latest \
             body fetched, without the sharing rule"
        )?;
        writeln!(
            f,
            "{:<28} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7}",
            "requests",
            "samples",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "base p50",
            "base p99",
            "ratio"
        )?;
        for r in std::iter::once(&self.overall).chain(&self.scenarios) {
            let label = if std::ptr::eq(r, &self.overall) {
                "all"
            } else {
                r.scenario.label()
            };
            writeln!(
                f,
                "{:<28} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>9.2} {:>6.1}x",
                label,
                r.timeline.samples,
                ms(r.timeline.p50),
                ms(r.timeline.p90),
                ms(r.timeline.p99),
                ms(r.timeline.max),
                ms(r.baseline.p50),
                ms(r.baseline.p99),
                r.timeline.p50.as_secs_f64() / r.baseline.p50.as_secs_f64().max(1e-9),
            )?;
        }
        writeln!(
            f,
            "entries per page (mean): {}",
            self.scenarios
                .iter()
                .map(|s| format!("{} {:.1}", s.scenario.label(), s.mean_entries))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        write!(
            f,
            "target: p50 < {} ms: {}",
            TARGET_P50.as_millis(),
            if self.meets_target() {
                "met"
            } else {
                "NOT met"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let l = Latencies::of((1..=100).map(Duration::from_millis).collect());
        assert_eq!(l.samples, 100);
        assert_eq!(l.p50, Duration::from_millis(51));
        assert_eq!(l.p99, Duration::from_millis(99));
        assert_eq!(l.max, Duration::from_millis(100));
        assert_eq!(Latencies::of(vec![]).samples, 0);
    }

    #[test]
    fn note_categories_mix_shared_and_private() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let lists: Vec<_> = (0..1000).map(|_| info_categories(&mut rng)).collect();
        let shared_only = lists
            .iter()
            .filter(|l| {
                l.iter()
                    .all(|c| matches!(c, InfoCategory::Care | InfoCategory::Welfare))
            })
            .count();
        assert!((400..600).contains(&shared_only), "{shared_only}");
        assert!(lists.iter().all(|l| !l.is_empty()));
    }
}
