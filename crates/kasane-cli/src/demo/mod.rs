//! `kasane demo`: a realistic, deterministic history of a small fictional town, かさね市.
//!
//! The generator first plans every command (agencies and members, then households of
//! residents and months of their case files: teams, consents, notes, acknowledgements,
//! referrals, support meetings, plans, closures, break-glass and reads), sorts the plan by
//! time, and then issues the commands through the [`CommandService`] one by one, moving the
//! store's clock forward to each command's business time.
//!
//! Everything is derived from the seed: the same options give the same commands, texts and
//! ids. The plan stores about 28 bytes per command (texts are rendered when a command is
//! sent), so 10,000 residents over 24 months (a few million events) fit in memory.
//!
//! Every planned command passes the domain's rules: the planner tracks team spells, consent
//! periods, statutory meetings and closures, and only lets a member acknowledge a note the
//! sharing rule lets them see. Reads are built from the current case file with
//! [`kasane_domain::note_basis`]. A refused command is counted in [`DemoSummary::refused`]
//! and logged; a correct plan has none.

mod names;
mod plan;
mod run;
mod story;
mod texts;
mod town;

use std::fmt;

use chrono::{DateTime, Months, Utc};
use indicatif::ProgressBar;
use kasane_app::CommandService;
use kasane_store::clock::ManualClock;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoOptions {
    /// Everything (names, texts, ids, times) is derived from this seed.
    pub seed: u64,
    /// How many residents to register (default 150).
    pub residents: usize,
    /// How many months of history, ending at `end` (default 12).
    pub months: u32,
    /// How many members (professionals) to enrol; 0 = scale with residents:
    /// max(40, residents / 4). At least one per agency plus the center admin and the auditor.
    pub members: usize,
    /// The history ends here (pass the current time).
    pub end: DateTime<Utc>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            seed: 1,
            residents: 150,
            months: 12,
            members: 0,
            end: Utc::now(),
        }
    }
}

/// What the generator did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoSummary {
    pub agencies: usize,
    pub members: usize,
    pub residents: usize,
    pub households: usize,
    /// The history runs from here to `end`.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Commands in the plan.
    pub planned: u64,
    /// Commands sent (reads included).
    pub commands: u64,
    /// Events appended.
    pub events: u64,
    /// Commands the domain refused (0 for a correct generator).
    pub refused: u64,
    /// Commands the store had already seen (same command id), e.g. when re-run on one store.
    pub replayed: u64,
    pub notes: u64,
    pub corrections: u64,
    pub redactions: u64,
    pub acknowledgements: u64,
    pub reads: u64,
    pub consents: u64,
    pub consent_withdrawals: u64,
    pub referrals: u64,
    pub referral_answers: u64,
    pub meetings: u64,
    pub plans: u64,
    pub closures: u64,
    pub reopened: u64,
    pub break_glass: u64,
    pub household_links: u64,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jst = |t: DateTime<Utc>| t.with_timezone(&chrono_tz::Asia::Tokyo).format("%Y-%m-%d");
        writeln!(
            f,
            "かさね市 demo, {} to {} (JST)",
            jst(self.start),
            jst(self.end)
        )?;
        writeln!(
            f,
            "  directory:  {} agencies, {} members",
            self.agencies, self.members
        )?;
        writeln!(
            f,
            "  residents:  {} in {} households ({} household links)",
            self.residents, self.households, self.household_links
        )?;
        writeln!(
            f,
            "  commands:   {} of {} planned, {} refused, {} replayed; {} events appended",
            self.commands, self.planned, self.refused, self.replayed, self.events
        )?;
        writeln!(
            f,
            "  notes:      {} ({} corrected, {} redacted), {} acknowledgements, {} reads",
            self.notes, self.corrections, self.redactions, self.acknowledgements, self.reads
        )?;
        writeln!(
            f,
            "  consents:   {} granted, {} withdrawn",
            self.consents, self.consent_withdrawals
        )?;
        writeln!(
            f,
            "  referrals:  {} made, {} answered",
            self.referrals, self.referral_answers
        )?;
        write!(
            f,
            "  meetings:   {} ({} support plans); {} cases closed, {} reopened; {} break-glass",
            self.meetings, self.plans, self.closures, self.reopened, self.break_glass
        )
    }
}

/// Plans the whole history (pure: no I/O).
fn build_plan(opts: &DemoOptions) -> anyhow::Result<plan::Plan> {
    anyhow::ensure!(opts.residents >= 1, "the demo needs at least one resident");
    anyhow::ensure!(
        (1..=120).contains(&opts.months),
        "the demo covers 1 to 120 months"
    );
    let end = opts.end.timestamp();
    let start = opts
        .end
        .checked_sub_months(Months::new(opts.months))
        .ok_or_else(|| anyhow::anyhow!("the demo's start is out of range"))?
        .timestamp();
    let epoch = plan::jst_at(plan::jst_day(start) - 35, 0);
    let members = if opts.members == 0 {
        town::default_members(opts.residents)
    } else {
        opts.members
    };
    let mut town = town::plan(opts.seed, members, epoch, start, end);
    let mut actions = std::mem::take(&mut town.actions);
    let drafts = story::drafts(opts.seed, opts.residents, end - start);
    let mut planner = story::Planner::new(opts.seed, epoch, start, end, opts.months, &town);
    planner.plan_households(&drafts);
    actions.append(&mut planner.actions);
    actions.sort_unstable_by_key(|a| a.key());
    let story::Planner {
        residents,
        consents,
        referrals,
        meetings,
        plans,
        grants,
        ..
    } = planner;
    Ok(plan::Plan {
        seed: opts.seed,
        epoch,
        start,
        end,
        households: drafts.len(),
        agencies: town.agencies,
        members: town.members,
        residents,
        consents,
        referrals,
        meetings,
        plans,
        grants,
        actions,
    })
}

/// Generates the demo history through `service`, setting `clock` to each command's time.
/// Sets `progress`'s length to the number of planned commands and advances it per command.
pub async fn generate(
    service: &CommandService,
    clock: &ManualClock,
    opts: &DemoOptions,
    progress: &ProgressBar,
) -> anyhow::Result<DemoSummary> {
    let plan = build_plan(opts)?;
    progress.set_length(plan.actions.len() as u64);
    let mut summary = DemoSummary {
        agencies: plan.agencies.len(),
        members: plan.members.len(),
        residents: plan.residents.len(),
        households: plan.households,
        start: plan::instant(plan.start),
        end: plan::instant(plan.end),
        planned: plan.actions.len() as u64,
        ..DemoSummary::default()
    };
    tracing::info!(
        seed = opts.seed,
        residents = summary.residents,
        members = summary.members,
        commands = summary.planned,
        "demo planned"
    );
    run::Runner::new(&plan, service, clock, progress)
        .run(&mut summary)
        .await?;
    Ok(summary)
}

#[cfg(test)]
mod tests;
