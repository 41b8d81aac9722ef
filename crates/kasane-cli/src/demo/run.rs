//! Executes a plan against the command service, one command at a time in time order, with the
//! store's clock set to each command's business time.

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use indicatif::ProgressBar;
use kasane_app::{AppError, CommandMeta, CommandService, Outcome};
use kasane_domain::directory::{AgencyCommand, MemberCommand};
use kasane_domain::events::{AccessedItem, AttachmentMeta};
use kasane_domain::vocab::{AccessKind, TeamRole};
use kasane_domain::{
    AgencyId, BreakGlassId, CaseFile, ConsentId, ErrorCode, MeetingId, MemberId, NoteId, Personal,
    ReferralId, ResidentCommand, ResidentId, Viewer, case_basis, note_basis,
};
use kasane_store::clock::ManualClock;
use uuid::Uuid;

use super::DemoSummary;
use super::plan::*;
use super::texts::{self, Subject, Txt};

/// How many notes a timeline page shows.
const PAGE: usize = 20;

/// Ids of the entities of a plan, derived from the seed.
pub(crate) struct Ids<'p> {
    plan: &'p Plan,
    pub(crate) agencies: Vec<AgencyId>,
    pub(crate) members: Vec<MemberId>,
    pub(crate) residents: Vec<ResidentId>,
}

impl<'p> Ids<'p> {
    fn new(plan: &'p Plan) -> Self {
        let s = plan.seed;
        Ids {
            plan,
            agencies: (0..plan.agencies.len())
                .map(|i| AgencyId(v7(s, tag::AGENCY, i as u64, 0, plan.agencies[i].registered)))
                .collect(),
            members: (0..plan.members.len())
                .map(|i| MemberId(v7(s, tag::MEMBER, i as u64, 0, plan.members[i].enrolled)))
                .collect(),
            residents: (0..plan.residents.len())
                .map(|i| {
                    ResidentId(v7(
                        s,
                        tag::RESIDENT,
                        i as u64,
                        0,
                        plan.residents[i].registered,
                    ))
                })
                .collect(),
        }
    }
    pub(crate) fn member(&self, m: u16) -> MemberId {
        self.members[usize::from(m)]
    }
    fn agency(&self, a: u16) -> AgencyId {
        self.agencies[usize::from(a)]
    }
    pub(crate) fn note(&self, r: u32, ordinal: u32, posted: i64) -> NoteId {
        NoteId(v7(
            self.plan.seed,
            tag::NOTE,
            u64::from(r),
            u64::from(ordinal),
            posted,
        ))
    }
    fn consent(&self, c: u32) -> ConsentId {
        let spec = &self.plan.consents[c as usize];
        ConsentId(v7(
            self.plan.seed,
            tag::CONSENT,
            u64::from(c),
            0,
            spec.granted,
        ))
    }
    fn referral(&self, f: u32) -> ReferralId {
        ReferralId(self.referral_uuid(f))
    }
    fn referral_uuid(&self, f: u32) -> Uuid {
        let spec = &self.plan.referrals[f as usize];
        v7(self.plan.seed, tag::REFERRAL, u64::from(f), 0, spec.made)
    }
    fn meeting(&self, m: u32) -> MeetingId {
        let spec = &self.plan.meetings[m as usize];
        MeetingId(v7(
            self.plan.seed,
            tag::MEETING,
            u64::from(m),
            0,
            spec.recorded,
        ))
    }
    fn grant(&self, g: u32) -> BreakGlassId {
        let spec = &self.plan.grants[g as usize];
        BreakGlassId(v7(self.plan.seed, tag::GRANT, u64::from(g), 0, spec.at))
    }
}

/// True when the service refused the command by a rule (rather than failing to run it): a
/// domain refusal, or an actor the directory does not know (a planning mistake either way).
fn is_refusal(code: &str) -> bool {
    code == "UNKNOWN_ACTOR" || ErrorCode::ALL.iter().any(|c| c.as_str() == code)
}

fn ymd(t: i64) -> String {
    jst_date(t).format("%Y%m%d").to_string()
}

/// What a command does, for counting it once it succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counted {
    Nothing,
    Note,
    Correction,
    Redaction,
    Ack,
    Read,
    Consent,
    ConsentWithdrawal,
    Referral,
    ReferralAnswer,
    Meeting,
    Plan,
    Closure,
    Reopen,
    BreakGlass,
    Link,
}

impl Counted {
    pub(crate) fn add_to(self, summary: &mut DemoSummary) {
        let field = match self {
            Counted::Nothing => return,
            Counted::Note => &mut summary.notes,
            Counted::Correction => &mut summary.corrections,
            Counted::Redaction => &mut summary.redactions,
            Counted::Ack => &mut summary.acknowledgements,
            Counted::Read => &mut summary.reads,
            Counted::Consent => &mut summary.consents,
            Counted::ConsentWithdrawal => &mut summary.consent_withdrawals,
            Counted::Referral => &mut summary.referrals,
            Counted::ReferralAnswer => &mut summary.referral_answers,
            Counted::Meeting => &mut summary.meetings,
            Counted::Plan => &mut summary.plans,
            Counted::Closure => &mut summary.closures,
            Counted::Reopen => &mut summary.reopened,
            Counted::BreakGlass => &mut summary.break_glass,
            Counted::Link => &mut summary.household_links,
        };
        *field += 1;
    }
}

/// A planned command, built from an action (pure: used by the runner and by the tests).
pub(crate) enum Planned {
    Agency {
        by: Option<MemberId>,
        id: AgencyId,
        cmd: AgencyCommand,
    },
    Member {
        by: Option<MemberId>,
        id: MemberId,
        cmd: MemberCommand,
    },
    Resident {
        by: MemberId,
        id: ResidentId,
        cmd: ResidentCommand,
    },
    /// A read: its items depend on the case file when it happens (see `Commands::read`).
    Read { by: MemberId, id: ResidentId },
}

/// Turns actions into commands: ids and texts derived from the seed.
pub(crate) struct Commands<'p> {
    plan: &'p Plan,
    pub(crate) ids: Ids<'p>,
}

impl<'p> Commands<'p> {
    pub(crate) fn new(plan: &'p Plan) -> Self {
        Commands {
            plan,
            ids: Ids::new(plan),
        }
    }

    /// (command id, correlation id) of an action: a note's posts, reads, acknowledgements and
    /// corrections share a correlation id, so do the steps of a referral.
    pub(crate) fn ids_of(&self, a: &Action) -> (Uuid, Uuid) {
        let s = self.plan.seed;
        let t = self.plan.unix(a.at);
        let command = v7(s, tag::COMMAND, u64::from(a.resident), u64::from(a.seq), t);
        let correlation = match a.op {
            Op::PostNote { note, .. } => Some((note, t)),
            Op::CorrectNote { note, posted, .. }
            | Op::RedactNote { note, posted }
            | Op::AckNote { note, posted }
            | Op::ReadNote { note, posted } => Some((note, self.plan.unix(posted))),
            _ => None,
        }
        .map(|(note, posted)| {
            v7(
                s,
                tag::CORRELATION,
                u64::from(a.resident),
                u64::from(note),
                posted,
            )
        })
        .or(match a.op {
            Op::MakeReferral { referral }
            | Op::AcceptReferral { referral }
            | Op::DeclineReferral { referral }
            | Op::WithdrawReferral { referral, .. }
            | Op::CompleteReferral { referral } => Some(self.ids.referral_uuid(referral)),
            _ => None,
        })
        .unwrap_or(command);
        (command, correlation)
    }

    fn text(&self, a: &Action) -> Txt {
        Txt::new(mix(
            self.plan.seed,
            tag::TEXT,
            u64::from(a.resident),
            u64::from(a.seq),
        ))
    }

    fn note_seed(&self, r: u32, ordinal: u32) -> u64 {
        mix(
            self.plan.seed,
            tag::NOTE_TEXT,
            u64::from(r),
            u64::from(ordinal),
        )
    }

    /// The command an action stands for, and what it counts as once it succeeded.
    pub(crate) fn command(&self, a: &Action) -> (Planned, Counted) {
        let plan = self.plan;
        let by = (a.actor != OPERATOR).then(|| self.ids.member(a.actor));
        match a.op {
            Op::RegisterAgency { agency } => {
                let spec = &plan.agencies[usize::from(agency)];
                let id = self.ids.agency(agency);
                let cmd = AgencyCommand::Register {
                    agency_id: id,
                    name: spec.name.clone(),
                    kind: spec.kind,
                };
                (Planned::Agency { by, id, cmd }, Counted::Nothing)
            }
            Op::EnrolMember { member } => {
                let spec = &plan.members[usize::from(member)];
                let id = self.ids.member(member);
                let cmd = MemberCommand::Enrol {
                    member_id: id,
                    agency_id: self.ids.agency(spec.agency),
                    name: spec.name.clone(),
                    kana: spec.kana.clone(),
                    profession: spec.profession,
                    roles: spec.roles.clone(),
                };
                (Planned::Member { by, id, cmd }, Counted::Nothing)
            }
            Op::SuspendMember { member } => {
                let id = self.ids.member(member);
                let cmd = MemberCommand::Suspend {
                    member_id: id,
                    reason: "退職のため".to_owned(),
                };
                (Planned::Member { by, id, cmd }, Counted::Nothing)
            }
            Op::ReadDetails | Op::ReadTimeline | Op::ReadNote { .. } => (
                Planned::Read {
                    by: self.ids.member(a.actor),
                    id: self.ids.residents[a.resident as usize],
                },
                Counted::Read,
            ),
            _ => {
                let (cmd, counted) = self.resident_command(a, plan.instant(a.at));
                (
                    Planned::Resident {
                        by: self.ids.member(a.actor),
                        id: self.ids.residents[a.resident as usize],
                        cmd,
                    },
                    counted,
                )
            }
        }
    }

    /// What a read returns from `case` at `now`: the case's details (basis care team) and, for
    /// a timeline page, the newest notes the reader may see, each with its basis; for a single
    /// note, that note. `Err` when the sharing rule refuses (a planning mistake).
    pub(crate) fn read(
        &self,
        a: &Action,
        case: &CaseFile,
        now: DateTime<Utc>,
    ) -> Result<(AccessKind, Vec<AccessedItem>), ErrorCode> {
        let plan = self.plan;
        let member = &plan.members[usize::from(a.actor)];
        let viewer = Viewer {
            member_id: self.ids.member(a.actor),
            agency_id: self.ids.agency(member.agency),
            roles: member.roles.clone(),
            active: member.active(plan.unix(a.at)),
        };
        let details = case_basis(case, &viewer, now).map_err(|r| r.code())?;
        match a.op {
            Op::ReadDetails => Ok((
                AccessKind::ResidentDetails,
                vec![AccessedItem {
                    note_id: None,
                    basis: details,
                }],
            )),
            Op::ReadNote { note, posted } => {
                let id = self.ids.note(a.resident, note, plan.unix(posted));
                let state = case.notes.get(&id).ok_or(ErrorCode::NoteNotFound)?;
                let basis = note_basis(case, &viewer, state, now).map_err(|r| r.code())?;
                Ok((
                    AccessKind::Note,
                    vec![AccessedItem {
                        note_id: Some(id),
                        basis,
                    }],
                ))
            }
            _ => {
                let mut visible: Vec<_> = case
                    .notes
                    .values()
                    .filter_map(|n| {
                        note_basis(case, &viewer, n, now)
                            .ok()
                            .map(|b| (n.posted_at, n.posted.note_id, b))
                    })
                    .collect();
                visible.sort_by(|x, y| y.0.cmp(&x.0).then(y.1.cmp(&x.1)));
                let mut items = vec![AccessedItem {
                    note_id: None,
                    basis: details,
                }];
                items.extend(
                    visible
                        .into_iter()
                        .take(PAGE)
                        .map(|(_, id, basis)| AccessedItem {
                            note_id: Some(id),
                            basis,
                        }),
                );
                Ok((AccessKind::TimelinePage, items))
            }
        }
    }

    fn subject(&self, r: u32) -> Subject<'_> {
        let spec = &self.plan.residents[r as usize];
        Subject {
            profile: spec.profile,
            gender: spec.gender,
            kin: spec.kin,
            dementia: spec.dementia,
        }
    }

    fn resident_command(&self, a: &Action, now: DateTime<Utc>) -> (ResidentCommand, Counted) {
        use ResidentCommand as C;
        let plan = self.plan;
        let ids = &self.ids;
        let r = a.resident;
        let spec = &plan.residents[r as usize];
        let t = self.plan.unix(a.at);
        let mut txt = self.text(a);
        match a.op {
            Op::Register => (
                C::Register {
                    name: spec.name.clone(),
                    kana: spec.kana.clone(),
                    birth_date: spec.birth_date,
                    address: Some(spec.address.clone()),
                    support_areas: spec.areas.clone(),
                },
                Counted::Nothing,
            ),
            Op::Link {
                other,
                relation,
                same_household,
            } => (
                C::LinkHousehold {
                    other: ids.residents[other as usize],
                    relation,
                    same_household,
                },
                Counted::Link,
            ),
            Op::AddTeam { member, lead } => (
                C::AddTeamMember {
                    member_id: ids.member(member),
                    team_role: if lead {
                        TeamRole::Lead
                    } else {
                        TeamRole::Member
                    },
                },
                Counted::Nothing,
            ),
            Op::RemoveTeam { member } => (
                C::RemoveTeamMember {
                    member_id: ids.member(member),
                },
                Counted::Nothing,
            ),
            Op::GrantConsent { consent } => {
                let c = &plan.consents[consent as usize];
                (
                    C::GrantConsent {
                        consent_id: ids.consent(consent),
                        agencies: c.agencies.iter().map(|a| ids.agency(*a)).collect(),
                        categories: cats_of(c.cats),
                        purpose: texts::consent_purpose(spec.profile, c.purpose),
                        method: c.method,
                        valid_from: instant(c.valid_from),
                        valid_until: c.valid_until.map(instant),
                        document_ref: texts::document_ref(
                            c.method,
                            chrono::Datelike::year(&jst_date(c.granted)),
                            c.doc_no,
                        ),
                    },
                    Counted::Consent,
                )
            }
            Op::WithdrawConsent { consent } => (
                C::WithdrawConsent {
                    consent_id: ids.consent(consent),
                    reason: Some(texts::consent_withdraw_reason(&mut txt)),
                },
                Counted::ConsentWithdrawal,
            ),
            Op::PostNote {
                note,
                kind,
                cats,
                attachment,
            } => {
                let mut body_txt = Txt::new(self.note_seed(r, note));
                let body = texts::note_body(kind, &self.subject(r), &mut body_txt);
                let describes_at = match kind.category() {
                    kasane_domain::vocab::NoteCategory::Visit => {
                        now - Duration::minutes(body_txt.range(20, 150) as i64)
                    }
                    _ => now - Duration::minutes(body_txt.range(0, 30) as i64),
                };
                let attachments = if attachment {
                    let h = mix(plan.seed, tag::FILE, u64::from(r), u64::from(note));
                    let digest: String = (0..4)
                        .map(|i| format!("{:016x}", mix(h, tag::FILE, i, 0)))
                        .collect();
                    vec![AttachmentMeta {
                        name: Personal::Known(texts::attachment_name(kind, &ymd(t))),
                        media_type: "application/pdf".to_owned(),
                        size: 40_000 + h % 900_000,
                        sha256: digest,
                    }]
                } else {
                    Vec::new()
                };
                (
                    C::PostNote {
                        note_id: ids.note(r, note, t),
                        category: kind.category(),
                        info_categories: cats_of(cats),
                        body,
                        describes_at,
                        attachments,
                    },
                    Counted::Note,
                )
            }
            Op::CorrectNote { note, posted, kind } => {
                let body = texts::note_body(
                    kind,
                    &self.subject(r),
                    &mut Txt::corrected(self.note_seed(r, note)),
                );
                (
                    C::CorrectNote {
                        note_id: ids.note(r, note, plan.unix(posted)),
                        body,
                        reason: texts::CORRECTION_REASON.to_owned(),
                    },
                    Counted::Correction,
                )
            }
            Op::RedactNote { note, posted } => (
                C::RedactNote {
                    note_id: ids.note(r, note, plan.unix(posted)),
                    reason: texts::REDACTION_REASON.to_owned(),
                },
                Counted::Redaction,
            ),
            Op::AckNote { note, posted } => (
                C::AcknowledgeNote {
                    note_id: ids.note(r, note, plan.unix(posted)),
                },
                Counted::Ack,
            ),
            Op::MakeReferral { referral } => {
                let f = &plan.referrals[referral as usize];
                let kinds = kinds_of(f.kinds);
                (
                    C::MakeReferral {
                        referral_id: ids.referral(referral),
                        to_agency: ids.agency(f.to_agency),
                        reason: texts::referral_reason(kinds[0], spec.profile, &mut txt),
                        requested_support: kinds,
                        urgency: f.urgency,
                        due_on: f.due_on.map(jst_date),
                        shared_notes: f
                            .shared
                            .iter()
                            .map(|(n, posted)| ids.note(r, *n, *posted))
                            .collect(),
                    },
                    Counted::Referral,
                )
            }
            Op::AcceptReferral { referral } => (
                C::AcceptReferral {
                    referral_id: ids.referral(referral),
                    comment: texts::accept_comment(&mut txt),
                },
                Counted::ReferralAnswer,
            ),
            Op::DeclineReferral { referral } => (
                C::DeclineReferral {
                    referral_id: ids.referral(referral),
                    reason: texts::decline_reason(&mut txt),
                },
                Counted::ReferralAnswer,
            ),
            Op::WithdrawReferral { referral, closing } => (
                C::WithdrawReferral {
                    referral_id: ids.referral(referral),
                    reason: texts::withdraw_reason(closing, &mut txt),
                },
                Counted::Nothing,
            ),
            Op::CompleteReferral { referral } => {
                let f = &plan.referrals[referral as usize];
                (
                    C::CompleteReferral {
                        referral_id: ids.referral(referral),
                        outcome: texts::referral_outcome(kinds_of(f.kinds)[0], &mut txt),
                    },
                    Counted::Nothing,
                )
            }
            Op::RecordMeeting { meeting } => {
                let m = &plan.meetings[meeting as usize];
                let mut units = Vec::new();
                for x in &m.attendees {
                    let unit =
                        plan.agencies[usize::from(plan.members[usize::from(*x)].agency)].unit;
                    if !units.contains(&unit) {
                        units.push(unit);
                    }
                }
                let next_months = m.next_review.map(|n| ((n - m.held_at) / (30 * DAY)) as u32);
                (
                    C::RecordMeeting {
                        meeting_id: ids.meeting(meeting),
                        kind: m.kind,
                        held_at: instant(m.held_at),
                        attendees: m.attendees.iter().map(|x| ids.member(*x)).collect(),
                        agenda: texts::meeting_agenda(m.kind, spec.profile, m.round, &mut txt),
                        decisions: texts::meeting_decisions(&units, next_months, &mut txt),
                        next_review_on: m.next_review.map(jst_date),
                    },
                    Counted::Meeting,
                )
            }
            Op::SetPlan { plan: p } => {
                let s = &plan.plans[p as usize];
                (
                    C::SetPlan {
                        goals: texts::plan_goals(spec.profile, &mut txt),
                        responsibilities: s
                            .responsible
                            .iter()
                            .map(|m| {
                                let member = &plan.members[usize::from(*m)];
                                let unit = plan.agencies[usize::from(member.agency)].unit;
                                (
                                    ids.agency(member.agency),
                                    Some(ids.member(*m)),
                                    texts::unit_task(unit, &mut txt),
                                )
                            })
                            .collect(),
                        review_on: s.review_on.map(jst_date),
                    },
                    Counted::Plan,
                )
            }
            Op::CloseCase { reason } => (
                C::CloseCase {
                    reason: reason.text().to_owned(),
                },
                Counted::Closure,
            ),
            Op::ReopenCase => (
                C::ReopenCase {
                    reason: "施設退所・在宅復帰のため".to_owned(),
                },
                Counted::Reopen,
            ),
            Op::BreakGlass { grant } => {
                let g = &plan.grants[grant as usize];
                (
                    C::InvokeBreakGlass {
                        grant_id: ids.grant(grant),
                        justification: texts::justification(spec.kin, &mut txt),
                        categories: cats_of(g.cats),
                        duration: Duration::minutes(i64::from(g.minutes)),
                    },
                    Counted::BreakGlass,
                )
            }
            Op::RegisterAgency { .. }
            | Op::EnrolMember { .. }
            | Op::SuspendMember { .. }
            | Op::ReadDetails
            | Op::ReadTimeline
            | Op::ReadNote { .. } => unreachable!("handled by the caller"),
        }
    }
}

pub(crate) struct Runner<'a> {
    plan: &'a Plan,
    commands: Commands<'a>,
    service: &'a CommandService,
    clock: &'a ManualClock,
    progress: &'a ProgressBar,
}

impl<'a> Runner<'a> {
    pub(crate) fn new(
        plan: &'a Plan,
        service: &'a CommandService,
        clock: &'a ManualClock,
        progress: &'a ProgressBar,
    ) -> Self {
        Runner {
            plan,
            commands: Commands::new(plan),
            service,
            clock,
            progress,
        }
    }

    pub(crate) async fn run(&self, summary: &mut DemoSummary) -> anyhow::Result<()> {
        let mut month = String::new();
        for action in &self.plan.actions {
            let now = self.plan.instant(action.at);
            let this_month = jst_date(now.timestamp()).format("%Y-%m").to_string();
            if this_month != month {
                self.progress.set_message(this_month.clone());
                month = this_month;
            }
            self.clock.set(now);
            self.step(action, now, summary).await?;
            self.progress.inc(1);
        }
        Ok(())
    }

    async fn step(
        &self,
        a: &Action,
        now: DateTime<Utc>,
        summary: &mut DemoSummary,
    ) -> anyhow::Result<()> {
        let (command_id, correlation_id) = self.commands.ids_of(a);
        let meta = CommandMeta {
            now,
            command_id: Some(command_id),
            correlation_id,
            expected_version: None,
        };
        let (planned, counted) = self.commands.command(a);
        let result = match planned {
            Planned::Agency { by, id, cmd } => self.service.agency(by, id, cmd, meta).await,
            Planned::Member { by, id, cmd } => self.service.member(by, id, cmd, meta).await,
            Planned::Resident { by, id, cmd } => self.service.resident(by, id, cmd, meta).await,
            Planned::Read { by, id } => {
                let (case, _version) = self
                    .service
                    .case_file(id)
                    .await
                    .map_err(anyhow::Error::new)
                    .context("loading a case file for a demo read")?;
                match self.commands.read(a, &case, now) {
                    Ok((kind, items)) => {
                        self.service.record_access(by, id, kind, items, meta).await
                    }
                    Err(code) => {
                        summary.refused += 1;
                        tracing::warn!(
                            code = code.as_str(),
                            op = ?a.op,
                            resident = a.resident,
                            at = %now,
                            "demo read refused by the sharing rule"
                        );
                        return Ok(());
                    }
                }
            }
        };
        account(a, now, result, counted, summary)
    }
}

/// Adds a command's result to the summary; a refusal is counted and logged, any other error
/// (the store failing) ends the generation.
fn account(
    a: &Action,
    now: DateTime<Utc>,
    result: Result<Outcome, AppError>,
    counted: Counted,
    summary: &mut DemoSummary,
) -> anyhow::Result<()> {
    summary.commands += 1;
    match result {
        Ok(outcome) => {
            summary.events += outcome.events as u64;
            if outcome.replayed {
                summary.replayed += 1;
            }
            counted.add_to(summary);
            Ok(())
        }
        Err(e) if is_refusal(e.code()) => {
            summary.refused += 1;
            tracing::warn!(
                code = e.code(),
                op = ?a.op,
                resident = a.resident,
                at = %now,
                "demo command refused: {e}"
            );
            Ok(())
        }
        Err(e) => {
            Err(anyhow::Error::new(e)).with_context(|| format!("demo command {:?} at {now}", a.op))
        }
    }
}
