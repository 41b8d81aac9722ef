//! Timeline queries: paging, filters, as-of bodies, auditors and erasure.

use super::*;
use crate::case_facts::CaseFacts;
use crate::test_support::{Harness, TENANT, day, dump, folded};
use kasane_domain::events::*;
use kasane_domain::personal::Personal;
use kasane_domain::vocab::{ConsentMethod, Role, SupportArea, TeamRole};
use kasane_domain::{ConsentId, ResidentId};
use kasane_store::Actor;
use uuid::Uuid;

/// The first entry of `kind` on `page`.
fn entry<'a>(page: &'a TimelinePage, kind: &str) -> &'a TimelineEntry {
    page.entries
        .iter()
        .find(|e| e.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} entry on the page"))
}

struct World {
    h: Harness,
    resident: ResidentId,
    nurse: Viewer,
    doctor: Viewer,
    auditor: Viewer,
}

fn viewer(agency_id: AgencyId, roles: Vec<Role>) -> Viewer {
    Viewer {
        member_id: MemberId(Uuid::now_v7()),
        agency_id,
        roles,
        active: true,
    }
}

fn actor(v: &Viewer) -> Option<Actor> {
    Some(Actor {
        member: v.member_id.0,
        agency: v.agency_id.0,
    })
}

/// A nurse and a doctor of two agencies on the team from day 1; an auditor off the team.
fn world() -> World {
    let mut h = Harness::new(vec![Box::new(CaseFacts), Box::new(Timeline::default())]);
    let resident = ResidentId(Uuid::now_v7());
    let nurse = viewer(AgencyId(Uuid::now_v7()), vec![Role::Supporter]);
    let doctor = viewer(AgencyId(Uuid::now_v7()), vec![Role::Supporter]);
    let auditor = viewer(AgencyId(Uuid::now_v7()), vec![Role::Auditor]);
    h.apply(
        ResidentRegistered {
            resident_id: resident,
            name: "山田 花子".to_owned().into(),
            kana: "ヤマダ ハナコ".to_owned().into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1940, 1, 2).unwrap().into(),
            address: Personal::Known(None),
            support_areas: vec![SupportArea::Elderly],
            registered_by: nurse.member_id,
            registered_by_agency: nurse.agency_id,
        },
        day(1),
        actor(&nurse),
    );
    for v in [&nurse, &doctor] {
        h.apply(
            CareTeamMemberAdded {
                resident_id: resident,
                member_id: v.member_id,
                agency_id: v.agency_id,
                team_role: TeamRole::Member,
            },
            day(1),
            actor(&nurse),
        );
    }
    World {
        h,
        resident,
        nurse,
        doctor,
        auditor,
    }
}

impl World {
    fn post(
        &mut self,
        by: &Viewer,
        category: NoteCategory,
        cats: &[InfoCategory],
        body: &str,
        d: u32,
    ) -> NoteId {
        let note_id = NoteId(Uuid::now_v7());
        let by = by.clone();
        self.h.apply(
            NotePosted {
                resident_id: self.resident,
                note_id,
                author: by.member_id,
                author_agency: by.agency_id,
                category,
                info_categories: cats.to_vec(),
                body: body.to_owned().into(),
                describes_at: day(d),
                attachments: vec![],
            },
            day(d),
            actor(&by),
        );
        note_id
    }

    fn page(&self, v: &Viewer, q: &TimelineQuery) -> Result<TimelinePage, ProjectionError> {
        timeline(&self.h.conn, TENANT, v, self.resident, q)
    }
}

fn bodies(page: &TimelinePage) -> Vec<Option<String>> {
    page.entries
        .iter()
        .filter_map(|e| e.note.as_ref().map(|n| n.body.clone()))
        .collect()
}

#[test]
fn pages_hold_only_visible_entries_and_cursors_walk_without_gaps_or_repeats() {
    let mut w = world();
    let (nurse, doctor) = (w.nurse.clone(), w.doctor.clone());
    // Seven notes the doctor may see (own agency), interleaved with six it may not.
    for i in 0..7 {
        w.post(
            &doctor,
            NoteCategory::Visit,
            &[InfoCategory::Health],
            &format!("診察 {i}"),
            2 + i,
        );
        if i < 6 {
            w.post(
                &nurse,
                NoteCategory::Visit,
                &[InfoCategory::Care],
                &format!("訪問 {i}"),
                2 + i,
            );
        }
    }
    let mut q = TimelineQuery::at(day(20), 3);
    q.categories = vec![NoteCategory::Visit];
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = w.page(&doctor, &q).unwrap();
        pages += 1;
        assert!(page.entries.len() <= 3);
        seen.extend(bodies(&page));
        match page.next_cursor {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<_> = (0..7).rev().map(|i| Some(format!("診察 {i}"))).collect();
    assert_eq!(
        seen, expected,
        "newest first, only the doctor's own agency's notes"
    );

    q.after = Some("garbage".into());
    assert_eq!(w.page(&doctor, &q).unwrap_err().code(), "BAD_CURSOR");
}

#[test]
fn filters_by_category_author_agency_and_business_time_and_runs_oldest_first() {
    let mut w = world();
    let nurse = w.nurse.clone();
    w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Care],
        "訪問",
        2,
    );
    w.post(
        &nurse,
        NoteCategory::Consultation,
        &[InfoCategory::Care],
        "相談",
        3,
    );
    w.post(
        &nurse,
        NoteCategory::Wish,
        &[InfoCategory::Family],
        "本人の意向",
        4,
    );

    let mut q = TimelineQuery::at(day(20), 50);
    q.categories = vec![NoteCategory::Consultation, NoteCategory::Wish];
    assert_eq!(
        bodies(&w.page(&nurse, &q).unwrap()),
        vec![Some("本人の意向".into()), Some("相談".into())]
    );

    q.order = Order::OldestFirst;
    assert_eq!(
        bodies(&w.page(&nurse, &q).unwrap()),
        vec![Some("相談".into()), Some("本人の意向".into())]
    );

    let mut q = TimelineQuery::at(day(20), 50);
    q.author_agency = Some(w.doctor.agency_id);
    assert!(w.page(&nurse, &q).unwrap().entries.is_empty());

    let mut q = TimelineQuery::at(day(20), 50);
    q.from = Some(day(3));
    q.until = Some(day(4));
    let page = w.page(&nurse, &q).unwrap();
    assert_eq!(bodies(&page), vec![Some("相談".into())]);
    assert!(
        page.entries
            .iter()
            .all(|e| e.occurred_at >= day(3) && e.occurred_at < day(4))
    );

    // Unfiltered, team changes and the registration are entries too, on the care-team basis.
    let all = w.page(&nurse, &TimelineQuery::at(day(20), 50)).unwrap();
    assert_eq!(all.entries.len(), 6);
    assert_eq!(all.entries.last().unwrap().kind, "ResidentRegistered");
    assert_eq!(all.entries.last().unwrap().basis, Basis::CareTeam);
    assert_eq!(all.up_to_version, 6);
}

#[test]
fn a_consent_shows_the_other_agencys_notes_and_a_correction_is_known_only_from_its_recording() {
    let mut w = world();
    let (nurse, doctor) = (w.nurse.clone(), w.doctor.clone());
    let note = w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Health],
        "血圧 150",
        2,
    );
    assert!(bodies(&w.page(&doctor, &TimelineQuery::at(day(20), 50)).unwrap()).is_empty());
    let consent_id = ConsentId(Uuid::now_v7());
    w.h.apply(
        ConsentGranted {
            resident_id: w.resident,
            consent_id,
            agencies: vec![doctor.agency_id],
            categories: vec![InfoCategory::Health],
            purpose: "在宅医療".into(),
            method: ConsentMethod::Written,
            obtained_by: nurse.member_id,
            valid_from: day(5),
            valid_until: None,
            document_ref: None,
        },
        day(5),
        actor(&nurse),
    );
    w.h.apply(
        NoteCorrected {
            resident_id: w.resident,
            note_id: note,
            body: "血圧 130".to_owned().into(),
            reason: "誤記".into(),
            corrected_by: nurse.member_id,
        },
        day(8),
        actor(&nurse),
    );
    let at = |d| w.page(&doctor, &TimelineQuery::at(day(d), 50)).unwrap();
    assert!(bodies(&at(4)).is_empty(), "no consent yet on day 4");
    let day6 = at(6);
    assert_eq!(bodies(&day6), vec![Some("血圧 150".into())]);
    let posted = entry(&day6, "NotePosted");
    assert_eq!(posted.basis, Basis::Consent { consent_id });
    assert!(!posted.note.as_ref().unwrap().corrected);
    let day9 = at(9);
    let bodies9: Vec<_> = bodies(&day9);
    assert_eq!(
        bodies9,
        vec![Some("血圧 130".into()), Some("血圧 130".into())],
        "the correction entry and the corrected post"
    );
    assert!(
        day9.entries
            .iter()
            .filter_map(|e| e.note.as_ref())
            .all(|n| n.corrected)
    );
    assert!(
        day9.entries
            .iter()
            .filter(|e| e.note.is_some())
            .all(|e| e.payload.is_none()),
        "note entries show their note, not their payload"
    );
    let registered = entry(&day9, "ResidentRegistered");
    assert_eq!(
        registered.payload.as_ref().unwrap()["name"],
        "山田 花子",
        "personal values are opened"
    );
}

#[test]
fn auditors_see_metadata_only_and_outsiders_are_refused() {
    let mut w = world();
    let nurse = w.nurse.clone();
    w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Health],
        "秘密の所見",
        2,
    );
    let page = w.page(&w.auditor, &TimelineQuery::at(day(20), 50)).unwrap();
    assert_eq!(page.case_basis, Basis::AuditorMetadata);
    let posted = entry(&page, "NotePosted");
    assert_eq!(posted.basis, Basis::AuditorMetadata);
    assert_eq!(posted.note.as_ref().unwrap().body, None);
    let registered = entry(&page, "ResidentRegistered");
    assert_eq!(
        registered.payload.as_ref().unwrap()["name"],
        serde_json::json!({"$withheld": true})
    );
    assert!(!serde_json::to_string(&page).unwrap().contains("秘密"));

    let stranger = viewer(nurse.agency_id, vec![Role::Supporter]);
    let err = w
        .page(&stranger, &TimelineQuery::at(day(20), 50))
        .unwrap_err();
    assert_eq!(err.code(), "NOT_ON_CARE_TEAM");
    let mut suspended = nurse.clone();
    suspended.active = false;
    assert_eq!(
        w.page(&suspended, &TimelineQuery::at(day(20), 50))
            .unwrap_err()
            .code(),
        "MEMBER_INACTIVE"
    );
}

#[test]
fn a_redaction_hides_the_note_from_its_recording_on_but_not_before() {
    let mut w = world();
    let nurse = w.nurse.clone();
    let note = w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Care],
        "別の方の記録",
        2,
    );
    w.h.apply(
        NoteRedacted {
            resident_id: w.resident,
            note_id: note,
            reason: "誤投稿".into(),
            redacted_by: nurse.member_id,
        },
        day(6),
        actor(&nurse),
    );
    assert_eq!(
        bodies(&w.page(&nurse, &TimelineQuery::at(day(5), 50)).unwrap()),
        vec![Some("別の方の記録".into())]
    );
    assert!(bodies(&w.page(&nurse, &TimelineQuery::at(day(7), 50)).unwrap()).is_empty());
    let audit = w.page(&w.auditor, &TimelineQuery::at(day(7), 50)).unwrap();
    let n = audit.entries.iter().find_map(|e| e.note.as_ref()).unwrap();
    assert!(n.redacted && n.body.is_none());
}

#[test]
fn erasure_removes_every_personal_value_from_the_timeline() {
    let mut w = world();
    let nurse = w.nurse.clone();
    w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Care],
        "消すべき内容",
        2,
    );
    w.h.apply(
        ResidentErased {
            resident_id: w.resident,
            legal_basis: "保存期間満了".into(),
            erased_by: nurse.member_id,
        },
        day(9),
        actor(&nurse),
    );
    let page = w.page(&nurse, &TimelineQuery::at(day(20), 50)).unwrap();
    let text = serde_json::to_string(&page).unwrap();
    assert!(
        !text.contains("消すべき") && !text.contains("山田"),
        "{text}"
    );
    assert_eq!(bodies(&page), vec![None]);
    let registered = entry(&page, "ResidentRegistered");
    assert_eq!(
        registered.payload.as_ref().unwrap()["name"],
        serde_json::json!({"$erased": true})
    );
}

#[test]
fn a_supplied_case_file_gives_the_same_page_and_drives_the_sharing_rule() {
    let mut w = world();
    let (nurse, doctor) = (w.nurse.clone(), w.doctor.clone());
    w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Care],
        "訪問",
        2,
    );
    w.post(
        &doctor,
        NoteCategory::Visit,
        &[InfoCategory::Health],
        "診察",
        3,
    );
    let q = TimelineQuery::at(day(20), 10);
    let folded = crate::case_facts::load(&w.h.conn, TENANT, w.resident, q.at).unwrap();
    let expected = w.page(&doctor, &q).unwrap();
    let supplied = timeline_with_case(&w.h.conn, TENANT, &doctor, w.resident, &folded, &q).unwrap();
    assert_eq!(supplied, expected);

    assert_eq!(
        supplied.up_to_version, 5,
        "what a caller compares with its case version"
    );

    // The rule is asked about the case file given: one without the doctor on the team refuses.
    let empty = kasane_domain::CaseFile::default();
    let refused = timeline_with_case(&w.h.conn, TENANT, &doctor, w.resident, &empty, &q);
    assert_eq!(refused.unwrap_err().code(), "NOT_ON_CARE_TEAM");
}

#[test]
fn a_fold_in_memory_writes_exactly_what_applying_wrote() {
    let mut w = world();
    let nurse = w.nurse.clone();
    let doctor = w.doctor.clone();
    let first = w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Health],
        "血圧 150",
        2,
    );
    let second = w.post(
        &doctor,
        NoteCategory::Visit,
        &[InfoCategory::Care],
        "入浴介助",
        3,
    );
    let third = w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Care],
        "食事",
        4,
    );
    let correct = |w: &mut World, note: NoteId, body: &str, d: u32| {
        w.h.apply(
            NoteCorrected {
                resident_id: w.resident,
                note_id: note,
                body: body.to_owned().into(),
                reason: "誤記".into(),
                corrected_by: nurse.member_id,
            },
            day(d),
            actor(&nurse),
        );
    };
    correct(&mut w, first, "血圧 130", 5);
    correct(&mut w, first, "血圧 135", 6);
    for d in [6, 7] {
        // Only the first redaction counts.
        w.h.apply(
            NoteRedacted {
                resident_id: w.resident,
                note_id: second,
                reason: "誤投稿".into(),
                redacted_by: nurse.member_id,
            },
            day(d),
            actor(&nurse),
        );
    }
    w.h.apply(
        NoteAcknowledged {
            resident_id: w.resident,
            note_id: third,
            member_id: doctor.member_id,
            agency_id: doctor.agency_id,
        },
        day(7),
        actor(&doctor),
    );
    // A second tenant, whose name sorts before the first: rows go in the tables' key order.
    w.h.tenant = "a-town".into();
    let resident = w.resident;
    w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Care],
        "別の町",
        7,
    );
    w.h.tenant = TENANT.into();
    w.h.apply(
        ResidentErased {
            resident_id: resident,
            legal_basis: "保存期間満了".into(),
            erased_by: nurse.member_id,
        },
        day(8),
        actor(&nurse),
    );
    // After the erasure: a first correction of a note posted before it, a later post.
    correct(&mut w, third, "食事 (訂正)", 9);
    let later = w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Care],
        "消去の後",
        10,
    );
    correct(&mut w, later, "消去の後 (訂正)", 11);

    let timeline = Timeline::default();
    let applied = dump(&w.h.conn, &timeline);
    assert!(
        applied.iter().any(|r| r.contains("$erased")),
        "{applied:#?}"
    );
    assert!(applied.iter().any(|r| r.contains("a-town")), "{applied:#?}");
    for prepare in [false, true] {
        let folded = folded(&timeline, &w.h.log, prepare);
        assert_eq!(dump(&folded, &timeline), applied, "prepared: {prepare}");
    }
}

#[test]
fn a_fold_refuses_an_event_about_a_note_it_never_saw_posted() {
    let mut w = world();
    let nurse = w.nurse.clone();
    let note = w.post(
        &nurse,
        NoteCategory::Visit,
        &[InfoCategory::Care],
        "記録",
        2,
    );
    let timeline = Timeline::default();
    let fold = timeline.memory_fold().unwrap();
    fold.begin();
    // The log without the posting.
    let mut failed = None;
    for (recorded, event) in
        w.h.log
            .iter()
            .filter(|(_, e)| !matches!(e, Event::NotePosted(_)))
    {
        failed = fold.fold(&Envelope::new(recorded, event)).err().or(failed);
    }
    assert!(failed.is_none(), "nothing refers to the note yet");
    let (mut recorded, _) = w.h.log.last().unwrap().clone();
    let ack = Event::from(NoteAcknowledged {
        resident_id: w.resident,
        note_id: note,
        member_id: nurse.member_id,
        agency_id: nurse.agency_id,
    });
    recorded.global_position += 1;
    let err = fold.fold(&Envelope::new(&recorded, &ack)).unwrap_err();
    assert_eq!(err.code(), "PROJECTION_CORRUPT");
    // Not begun (or abandoned): writing is refused instead of writing nothing.
    fold.abandon();
    let conn = Connection::open_in_memory().unwrap();
    timeline.create(&conn).unwrap();
    assert_eq!(
        fold.write(&conn, &mut || Ok(())).unwrap_err().code(),
        "PROJECTION_CORRUPT"
    );
}
