//! One given/when/then test per rule of docs/domain.md: the command is refused with the rule's
//! code, and a refused decision yields no events. A meta-test checks every code is covered here
//! and documented in docs/domain.md.

mod fixture;

use ResidentCommand as C;
use chrono::Duration;
use fixture::*;
use kasane_domain::directory::*;
use kasane_domain::events::*;
use kasane_domain::vocab::*;
use kasane_domain::*;

fn referral(t: &Town, s: &mut CaseFile) -> ReferralId {
    let referral_id = ReferralId(id());
    t.apply(
        s,
        t.staff,
        days(1),
        C::MakeReferral {
            referral_id,
            to_agency: t.pharmacy,
            reason: "服薬管理の支援をお願いしたい".into(),
            requested_support: vec![SupportKind::Medical],
            urgency: Urgency::Soon,
            due_on: None,
            shared_notes: vec![],
        },
    );
    referral_id
}

// ------------------------------------------------------------------ actor and roles

#[test]
fn suspended_member_cannot_act() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(
            &s,
            t.suspended,
            days(1),
            post(NoteId(id()), &[InfoCategory::Health], days(1)),
        ),
        ErrorCode::MemberInactive,
    );
}

#[test]
fn auditor_cannot_post_notes() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(
            &s,
            t.auditor,
            days(1),
            post(NoteId(id()), &[InfoCategory::Health], days(1)),
        ),
        ErrorCode::RoleRequired,
    );
}

#[test]
fn invalid_input_is_refused() {
    let t = Town::new();
    let mut cmd = register();
    if let C::Register { name, .. } = &mut cmd {
        *name = "  ".into();
    }
    assert_refused(
        t.when(&CaseFile::default(), t.staff, t0(), cmd),
        ErrorCode::InvalidInput,
    );
    assert!(TenantId::parse("Kasane City").is_err());
}

// ------------------------------------------------------------------ directory

#[test]
fn agency_registered_twice_is_refused() {
    let mut state = AgencyState::default();
    let cmd = AgencyCommand::Register {
        agency_id: AgencyId(id()),
        name: "本町クリニック".into(),
        kind: AgencyKind::Clinic,
    };
    for e in decide_agency(&state, &cmd, &Principal::Operator).unwrap() {
        state.evolve(&e);
    }
    assert_refused(
        decide_agency(&state, &cmd, &Principal::Operator),
        ErrorCode::AgencyExists,
    );
}

#[test]
fn only_center_admins_register_agencies() {
    let t = Town::new();
    let cmd = AgencyCommand::Register {
        agency_id: AgencyId(id()),
        name: "新しい薬局".into(),
        kind: AgencyKind::Pharmacy,
    };
    let by_staff = Principal::Member(t.actor(t.staff));
    assert_refused(
        decide_agency(&AgencyState::default(), &cmd, &by_staff),
        ErrorCode::RoleRequired,
    );
    let by_center = Principal::Member(t.actor(t.center));
    assert_eq!(
        decide_agency(&AgencyState::default(), &cmd, &by_center)
            .unwrap()
            .len(),
        1
    );
}

fn enrol(t: &Town, agency: AgencyId) -> MemberCommand {
    let _ = t;
    MemberCommand::Enrol {
        member_id: MemberId(id()),
        agency_id: agency,
        name: "佐藤 一郎".into(),
        kana: "サトウ イチロウ".into(),
        profession: Profession::Physician,
        roles: vec![Role::Supporter],
    }
}

#[test]
fn enrolling_into_an_unknown_agency_is_refused() {
    let t = Town::new();
    assert_refused(
        decide_member(
            &MemberState::default(),
            &enrol(&t, AgencyId(id())),
            &Principal::Operator,
            &t.dir,
        ),
        ErrorCode::AgencyNotFound,
    );
}

#[test]
fn enrolling_twice_is_refused() {
    let t = Town::new();
    let cmd = enrol(&t, t.clinic);
    let mut state = MemberState::default();
    for e in decide_member(&state, &cmd, &Principal::Operator, &t.dir).unwrap() {
        state.evolve(&e);
    }
    assert_refused(
        decide_member(&state, &cmd, &Principal::Operator, &t.dir),
        ErrorCode::MemberExists,
    );
}

#[test]
fn agency_admins_enrol_only_into_their_own_agency() {
    let t = Town::new();
    let by = Principal::Member(t.actor(t.clinic_admin));
    assert_refused(
        decide_member(&MemberState::default(), &enrol(&t, t.nurses), &by, &t.dir),
        ErrorCode::NotOwnAgency,
    );
    assert!(decide_member(&MemberState::default(), &enrol(&t, t.clinic), &by, &t.dir).is_ok());
}

#[test]
fn suspension_rules() {
    let t = Town::new();
    let member_id = MemberId(id());
    let suspend = MemberCommand::Suspend {
        member_id,
        reason: "退職".into(),
    };
    assert_refused(
        decide_member(
            &MemberState::default(),
            &suspend,
            &Principal::Operator,
            &t.dir,
        ),
        ErrorCode::MemberNotFound,
    );
    let mut state = MemberState::default();
    let cmd = MemberCommand::Enrol {
        member_id,
        agency_id: t.clinic,
        name: "佐藤 一郎".into(),
        kana: "サトウ イチロウ".into(),
        profession: Profession::Physician,
        roles: vec![Role::Supporter],
    };
    for e in decide_member(&state, &cmd, &Principal::Operator, &t.dir).unwrap() {
        state.evolve(&e);
    }
    assert_refused(
        decide_member(
            &state,
            &MemberCommand::Reinstate { member_id },
            &Principal::Operator,
            &t.dir,
        ),
        ErrorCode::MemberNotSuspended,
    );
    let no_reason = MemberCommand::Suspend {
        member_id,
        reason: " ".into(),
    };
    assert_refused(
        decide_member(&state, &no_reason, &Principal::Operator, &t.dir),
        ErrorCode::ReasonRequired,
    );
    for e in decide_member(&state, &suspend, &Principal::Operator, &t.dir).unwrap() {
        state.evolve(&e);
    }
    assert_refused(
        decide_member(&state, &suspend, &Principal::Operator, &t.dir),
        ErrorCode::MemberAlreadySuspended,
    );
}

// ------------------------------------------------------------------ registration and status

#[test]
fn registering_twice_is_refused() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(&s, t.staff, days(1), register()),
        ErrorCode::ResidentExists,
    );
}

#[test]
fn registration_makes_the_registrar_team_lead() {
    let t = Town::new();
    let events = t
        .when(&CaseFile::default(), t.staff, t0(), register())
        .unwrap();
    assert!(
        matches!(&events[1], Event::CareTeamMemberAdded(e) if e.member_id == t.staff && e.team_role == TeamRole::Lead)
    );
}

#[test]
fn commands_on_an_unregistered_resident_are_refused() {
    let t = Town::new();
    assert_refused(
        t.when(
            &CaseFile::default(),
            t.staff,
            t0(),
            post(NoteId(id()), &[InfoCategory::Health], t0()),
        ),
        ErrorCode::ResidentNotFound,
    );
}

#[test]
fn an_erased_case_accepts_nothing() {
    let t = Town::new();
    let mut s = t.case();
    t.apply(
        &mut s,
        t.center,
        days(1),
        C::Erase {
            legal_basis: "保存期間満了".into(),
        },
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(2),
            post(NoteId(id()), &[InfoCategory::Health], days(2)),
        ),
        ErrorCode::ResidentErased,
    );
}

#[test]
fn a_closed_case_refuses_new_notes_and_double_close() {
    let t = Town::new();
    let mut s = t.case();
    t.apply(
        &mut s,
        t.staff,
        days(1),
        C::CloseCase {
            reason: "施設入所".into(),
        },
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(2),
            post(NoteId(id()), &[InfoCategory::Health], days(2)),
        ),
        ErrorCode::CaseClosed,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(2),
            C::CloseCase {
                reason: "重複".into(),
            },
        ),
        ErrorCode::CaseClosed,
    );
}

#[test]
fn reopening_an_open_case_is_refused() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            C::ReopenCase {
                reason: "再開".into(),
            },
        ),
        ErrorCode::CaseOpen,
    );
}

#[test]
fn closing_needs_a_reason() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(&s, t.staff, days(1), C::CloseCase { reason: "".into() }),
        ErrorCode::ReasonRequired,
    );
}

// ------------------------------------------------------------------ care team

#[test]
fn only_team_members_write_to_the_case() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(
            &s,
            t.pharmacist,
            days(1),
            post(NoteId(id()), &[InfoCategory::Health], days(1)),
        ),
        ErrorCode::NotOnCareTeam,
    );
}

#[test]
fn adding_a_member_twice_is_refused() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            C::AddTeamMember {
                member_id: t.doctor,
                team_role: TeamRole::Member,
            },
        ),
        ErrorCode::AlreadyOnCareTeam,
    );
}

#[test]
fn adding_unknown_or_suspended_members_is_refused() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            C::AddTeamMember {
                member_id: MemberId(id()),
                team_role: TeamRole::Member,
            },
        ),
        ErrorCode::MemberNotFound,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            C::AddTeamMember {
                member_id: t.suspended,
                team_role: TeamRole::Member,
            },
        ),
        ErrorCode::MemberInactive,
    );
}

#[test]
fn the_last_lead_cannot_leave_a_team_with_members() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(
            &s,
            t.doctor,
            days(1),
            C::RemoveTeamMember { member_id: t.staff },
        ),
        ErrorCode::LastTeamLead,
    );
    assert_refused(
        t.when(
            &s,
            t.doctor,
            days(1),
            C::RemoveTeamMember {
                member_id: t.pharmacist,
            },
        ),
        ErrorCode::NotOnCareTeam,
    );
}

// ------------------------------------------------------------------ household

#[test]
fn household_link_rules() {
    let t = Town::new();
    let mut s = t.case();
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            C::LinkHousehold {
                other: t.resident,
                relation: Relation::Child,
                same_household: true,
            },
        ),
        ErrorCode::HouseholdSelfLink,
    );
    let other = ResidentId(id());
    t.apply(
        &mut s,
        t.staff,
        days(1),
        C::LinkHousehold {
            other,
            relation: Relation::Child,
            same_household: true,
        },
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            C::LinkHousehold {
                other,
                relation: Relation::Child,
                same_household: true,
            },
        ),
        ErrorCode::HouseholdLinkExists,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            C::UnlinkHousehold {
                other: ResidentId(id()),
            },
        ),
        ErrorCode::HouseholdLinkNotFound,
    );
}

// ------------------------------------------------------------------ consent

#[test]
fn consent_rules() {
    let t = Town::new();
    let mut s = t.case();
    let grant =
        |consent_id, agencies: Vec<AgencyId>, cats: Vec<InfoCategory>, until| C::GrantConsent {
            consent_id,
            agencies,
            categories: cats,
            purpose: "在宅生活の継続支援".into(),
            method: ConsentMethod::Verbal,
            valid_from: days(1),
            valid_until: until,
            document_ref: None,
        };
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            grant(ConsentId(id()), vec![], vec![InfoCategory::Health], None),
        ),
        ErrorCode::ConsentScopeEmpty,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            grant(
                ConsentId(id()),
                vec![t.clinic],
                vec![InfoCategory::Health],
                Some(days(1)),
            ),
        ),
        ErrorCode::ConsentPeriodInvalid,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            grant(
                ConsentId(id()),
                vec![AgencyId(id())],
                vec![InfoCategory::Health],
                None,
            ),
        ),
        ErrorCode::AgencyNotFound,
    );
    let c = t.consent(
        &mut s,
        &[t.nurses],
        &[InfoCategory::Health],
        days(1),
        Some(days(30)),
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(2),
            grant(c, vec![t.clinic], vec![InfoCategory::Health], None),
        ),
        ErrorCode::ConsentExists,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(2),
            C::WithdrawConsent {
                consent_id: ConsentId(id()),
                reason: None,
            },
        ),
        ErrorCode::ConsentNotFound,
    );
    // lapsed at day 30: nothing left to withdraw
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(31),
            C::WithdrawConsent {
                consent_id: c,
                reason: None,
            },
        ),
        ErrorCode::ConsentNotActive,
    );
    t.apply(
        &mut s,
        t.staff,
        days(5),
        C::WithdrawConsent {
            consent_id: c,
            reason: Some("本人の意向".into()),
        },
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(6),
            C::WithdrawConsent {
                consent_id: c,
                reason: None,
            },
        ),
        ErrorCode::ConsentNotActive,
    );
}

// ------------------------------------------------------------------ notes

#[test]
fn note_content_rules() {
    let t = Town::new();
    let mut s = t.case();
    let n = t.note(&mut s, t.doctor, days(1), &[InfoCategory::Health]);
    assert_refused(
        t.when(
            &s,
            t.doctor,
            days(1),
            post(n, &[InfoCategory::Health], days(1)),
        ),
        ErrorCode::NoteExists,
    );
    let with_body = |body: String| C::PostNote {
        note_id: NoteId(id()),
        category: NoteCategory::Visit,
        info_categories: vec![InfoCategory::Health],
        body,
        describes_at: days(1),
        attachments: vec![],
    };
    assert_refused(
        t.when(&s, t.doctor, days(1), with_body("\n ".into())),
        ErrorCode::NoteBodyEmpty,
    );
    assert_refused(
        t.when(&s, t.doctor, days(1), with_body("あ".repeat(20_001))),
        ErrorCode::NoteTooLong,
    );
    assert!(
        t.when(&s, t.doctor, days(1), with_body("あ".repeat(20_000)))
            .is_ok()
    );
    assert_refused(
        t.when(&s, t.doctor, days(1), post(NoteId(id()), &[], days(1))),
        ErrorCode::NoteCategoriesRequired,
    );
}

#[test]
fn correction_and_redaction_rules() {
    let t = Town::new();
    let mut s = t.case();
    let n = t.note(&mut s, t.doctor, days(1), &[InfoCategory::Health]);
    let correct = |note_id, reason: &str| C::CorrectNote {
        note_id,
        body: "訂正後の本文".into(),
        reason: reason.into(),
    };
    assert_refused(
        t.when(&s, t.doctor, days(2), correct(NoteId(id()), "誤記訂正")),
        ErrorCode::NoteNotFound,
    );
    assert_refused(
        t.when(&s, t.nurse, days(2), correct(n, "誤記訂正")),
        ErrorCode::NotNoteAuthor,
    );
    assert_refused(
        t.when(&s, t.doctor, days(2), correct(n, "")),
        ErrorCode::ReasonRequired,
    );
    t.apply(&mut s, t.doctor, days(2), correct(n, "誤記訂正"));
    assert!(matches!(s.notes[&n].current_body(), Personal::Known(b) if b == "訂正後の本文"));
    assert_eq!(
        s.notes[&n].posted.body.known().map(String::as_str),
        Some("訪問時、血圧は140/85。食欲はやや低下。")
    );
    // the clinic's admin may redact the clinic doctor's note; the nurse may not
    assert_refused(
        t.when(
            &s,
            t.nurse,
            days(3),
            C::RedactNote {
                note_id: n,
                reason: "別の利用者への投稿".into(),
            },
        ),
        ErrorCode::NotNoteAuthor,
    );
    t.apply(
        &mut s,
        t.clinic_admin,
        days(3),
        C::RedactNote {
            note_id: n,
            reason: "別の利用者への投稿".into(),
        },
    );
    assert_refused(
        t.when(&s, t.doctor, days(4), correct(n, "誤記訂正")),
        ErrorCode::NoteRedacted,
    );
}

#[test]
fn acknowledging_needs_visibility_and_is_idempotent() {
    let t = Town::new();
    let mut s = t.case();
    let n = t.note(&mut s, t.doctor, days(1), &[InfoCategory::Health]);
    // the nurse's agency has no consent: the nurse cannot see the doctor's note
    assert_refused(
        t.when(&s, t.nurse, days(2), C::AcknowledgeNote { note_id: n }),
        ErrorCode::NoteNotVisible,
    );
    t.consent(&mut s, &[t.nurses], &[InfoCategory::Health], days(2), None);
    t.apply(&mut s, t.nurse, days(3), C::AcknowledgeNote { note_id: n });
    assert_eq!(
        t.when(&s, t.nurse, days(4), C::AcknowledgeNote { note_id: n })
            .unwrap(),
        vec![]
    );
}

// ------------------------------------------------------------------ referrals

#[test]
fn referral_rules() {
    let t = Town::new();
    let mut s = t.case();
    let make = |referral_id, to_agency, shared_notes: Vec<NoteId>| C::MakeReferral {
        referral_id,
        to_agency,
        reason: "服薬管理の支援をお願いしたい".into(),
        requested_support: vec![SupportKind::Medical],
        urgency: Urgency::Routine,
        due_on: None,
        shared_notes,
    };
    assert_refused(
        t.when(&s, t.staff, days(1), make(ReferralId(id()), t.city, vec![])),
        ErrorCode::ReferralSameAgency,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            make(ReferralId(id()), AgencyId(id()), vec![]),
        ),
        ErrorCode::AgencyNotFound,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            make(ReferralId(id()), t.pharmacy, vec![NoteId(id())]),
        ),
        ErrorCode::NoteNotFound,
    );
    let r = referral(&t, &mut s);
    assert_refused(
        t.when(&s, t.staff, days(1), make(r, t.pharmacy, vec![])),
        ErrorCode::ReferralExists,
    );
    assert_refused(
        t.when(
            &s,
            t.pharmacist,
            days(2),
            C::AcceptReferral {
                referral_id: ReferralId(id()),
                comment: None,
            },
        ),
        ErrorCode::ReferralNotFound,
    );
    assert_refused(
        t.when(
            &s,
            t.doctor,
            days(2),
            C::AcceptReferral {
                referral_id: r,
                comment: None,
            },
        ),
        ErrorCode::NotReferralRecipient,
    );
    assert_refused(
        t.when(
            &s,
            t.pharmacist,
            days(2),
            C::WithdrawReferral {
                referral_id: r,
                reason: "不要".into(),
            },
        ),
        ErrorCode::NotReferralSender,
    );
    assert_refused(
        t.when(
            &s,
            t.pharmacist,
            days(2),
            C::CompleteReferral {
                referral_id: r,
                outcome: "完了".into(),
            },
        ),
        ErrorCode::ReferralNotAccepted,
    );
    assert_refused(
        t.when(
            &s,
            t.pharmacist,
            days(2),
            C::DeclineReferral {
                referral_id: r,
                reason: " ".into(),
            },
        ),
        ErrorCode::ReasonRequired,
    );
    // the recipient answers without being on the team
    t.apply(
        &mut s,
        t.pharmacist,
        days(2),
        C::AcceptReferral {
            referral_id: r,
            comment: Some("対応します".into()),
        },
    );
    assert_refused(
        t.when(
            &s,
            t.pharmacist,
            days(3),
            C::DeclineReferral {
                referral_id: r,
                reason: "対応困難".into(),
            },
        ),
        ErrorCode::ReferralNotOpen,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(3),
            C::WithdrawReferral {
                referral_id: r,
                reason: "不要".into(),
            },
        ),
        ErrorCode::ReferralNotOpen,
    );
    t.apply(
        &mut s,
        t.pharmacist,
        days(9),
        C::CompleteReferral {
            referral_id: r,
            outcome: "一包化を開始".into(),
        },
    );
    let state = &s.referrals[&r];
    assert_eq!(
        (state.answered_at, state.closed_at),
        (Some(days(2)), Some(days(9)))
    );
}

// ------------------------------------------------------------------ meetings, plan, break-glass

#[test]
fn meeting_rules() {
    let t = Town::new();
    let mut s = t.case();
    let meet = |meeting_id, kind, attendees: Vec<MemberId>| C::RecordMeeting {
        meeting_id,
        kind,
        held_at: days(1),
        attendees,
        agenda: "支援方針の確認".into(),
        decisions: "週2回の訪問看護を継続".into(),
        next_review_on: None,
    };
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            meet(MeetingId(id()), MeetingKind::CaseConference, vec![]),
        ),
        ErrorCode::MeetingNoAttendees,
    );
    assert_refused(
        t.when(
            &s,
            t.doctor,
            days(1),
            meet(MeetingId(id()), MeetingKind::Statutory, vec![t.doctor]),
        ),
        ErrorCode::StatutoryMeetingNotMunicipal,
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            meet(
                MeetingId(id()),
                MeetingKind::Statutory,
                vec![MemberId(id())],
            ),
        ),
        ErrorCode::MemberNotFound,
    );
    let m = MeetingId(id());
    t.apply(
        &mut s,
        t.staff,
        days(1),
        meet(m, MeetingKind::Statutory, vec![t.staff, t.doctor]),
    );
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            meet(m, MeetingKind::Statutory, vec![t.staff]),
        ),
        ErrorCode::MeetingExists,
    );
}

#[test]
fn a_plan_needs_goals() {
    let t = Town::new();
    let s = t.case();
    let cmd = C::SetPlan {
        goals: vec![" ".into()],
        responsibilities: vec![],
        review_on: None,
    };
    assert_refused(
        t.when(&s, t.staff, days(1), cmd),
        ErrorCode::PlanGoalsRequired,
    );
}

#[test]
fn break_glass_rules() {
    let t = Town::new();
    let s = t.case();
    let invoke = |justification: &str, hours| C::InvokeBreakGlass {
        grant_id: BreakGlassId(id()),
        justification: justification.into(),
        categories: vec![InfoCategory::Health],
        duration: Duration::hours(hours),
    };
    assert_refused(
        t.when(&s, t.nurse, days(1), invoke("急変", 4)),
        ErrorCode::BreakGlassJustificationRequired,
    );
    assert_refused(
        t.when(
            &s,
            t.nurse,
            days(1),
            invoke("自宅で意識低下、家族不在で同意取得不能のため", 25),
        ),
        ErrorCode::BreakGlassDurationInvalid,
    );
    assert_refused(
        t.when(
            &s,
            t.nurse,
            days(1),
            invoke("自宅で意識低下、家族不在で同意取得不能のため", 0),
        ),
        ErrorCode::BreakGlassDurationInvalid,
    );
    let events = t
        .when(
            &s,
            t.nurse,
            days(1),
            invoke("自宅で意識低下、家族不在で同意取得不能のため", 24),
        )
        .unwrap();
    assert!(
        matches!(&events[0], Event::BreakGlassInvoked(e) if e.expires_at == days(1) + Duration::hours(24))
    );
}

#[test]
fn only_center_admins_erase() {
    let t = Town::new();
    let s = t.case();
    assert_refused(
        t.when(
            &s,
            t.staff,
            days(1),
            C::Erase {
                legal_basis: "保存期間満了".into(),
            },
        ),
        ErrorCode::RoleRequired,
    );
}

// ------------------------------------------------------------------ the rule book itself

#[test]
fn every_code_is_tested_here_and_documented() {
    let tests = [
        include_str!("invariants.rs"),
        include_str!("sharing_rule.rs"),
    ]
    .concat();
    let doc = include_str!("../../../docs/domain.md");
    for code in ErrorCode::ALL {
        let variant = format!("{code:?}");
        assert!(
            tests.contains(&format!("ErrorCode::{variant}")),
            "no test asserts {code}"
        );
        assert!(
            doc.contains(&format!("`{}`", code.as_str())),
            "docs/domain.md does not document {code}"
        );
    }
}
