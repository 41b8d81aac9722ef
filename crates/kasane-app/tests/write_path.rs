//! The write path against a real SQLite store: refused commands write nothing, retries with the
//! same command id are idempotent, expected versions conflict, and state survives a reopen.

use chrono::{DateTime, Duration, TimeZone, Utc};
use kasane_app::{AppError, CommandMeta, CommandService};
use kasane_domain::directory::{AgencyCommand, MemberCommand};
use kasane_domain::vocab::*;
use kasane_domain::*;
use kasane_store::{EventStore, MasterKey, SqliteConfig, SqliteStore};
use std::sync::Arc;
use tempfile::TempDir;
use uuid::Uuid;

fn t(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0).unwrap() + Duration::days(day)
}

struct World {
    _dir: TempDir,
    store: SqliteStore,
    service: CommandService,
    nurse: MemberId,
    doctor: MemberId,
    resident: ResidentId,
}

async fn open(dir: &TempDir, key: &MasterKey) -> (SqliteStore, CommandService) {
    let store = SqliteStore::open(SqliteConfig::new(dir.path().join("kasane.db"), key.clone()))
        .await
        .unwrap();
    let service = CommandService::open(
        Arc::new(store.clone()),
        TenantId::parse("test-city").unwrap(),
    )
    .await
    .unwrap();
    (store, service)
}

async fn world() -> World {
    let dir = TempDir::new().unwrap();
    let (store, service) = open(&dir, &MasterKey::generate()).await;
    let clinic = AgencyId(Uuid::now_v7());
    let nurses = AgencyId(Uuid::now_v7());
    for (agency, name, kind) in [
        (clinic, "本町クリニック", AgencyKind::Clinic),
        (nurses, "さくら訪問看護", AgencyKind::VisitingNurseStation),
    ] {
        service
            .agency(
                None,
                agency,
                AgencyCommand::Register {
                    agency_id: agency,
                    name: name.into(),
                    kind,
                },
                CommandMeta::at(t(0)),
            )
            .await
            .unwrap();
    }
    let enrol = async |agency, name: &str, kana: &str, profession| {
        let member_id = MemberId(Uuid::now_v7());
        service
            .member(
                None,
                member_id,
                MemberCommand::Enrol {
                    member_id,
                    agency_id: agency,
                    name: name.into(),
                    kana: kana.into(),
                    profession,
                    roles: vec![Role::Supporter],
                },
                CommandMeta::at(t(0)),
            )
            .await
            .unwrap();
        member_id
    };
    let doctor = enrol(
        clinic,
        "鈴木 一郎",
        "スズキ イチロウ",
        Profession::Physician,
    )
    .await;
    let nurse = enrol(
        nurses,
        "高橋 美咲",
        "タカハシ ミサキ",
        Profession::VisitingNurse,
    )
    .await;
    let resident = ResidentId(Uuid::now_v7());
    let register = ResidentCommand::Register {
        name: "山田 花子".into(),
        kana: "ヤマダ ハナコ".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1940, 1, 2).unwrap(),
        address: None,
        support_areas: vec![SupportArea::Elderly],
    };
    service
        .resident(doctor, resident, register, CommandMeta::at(t(1)))
        .await
        .unwrap();
    World {
        _dir: dir,
        store,
        service,
        nurse,
        doctor,
        resident,
    }
}

fn note(body: &str) -> ResidentCommand {
    ResidentCommand::PostNote {
        note_id: NoteId(Uuid::now_v7()),
        category: NoteCategory::Visit,
        info_categories: vec![InfoCategory::Health],
        body: body.into(),
        describes_at: t(2),
        attachments: vec![],
    }
}

#[tokio::test]
async fn a_refused_command_gets_its_code_and_writes_nothing() {
    let w = world().await;
    let head = w.store.head_position().await.unwrap();
    // the nurse is not on the care team
    let err = w
        .service
        .resident(
            w.nurse,
            w.resident,
            note("訪問しました"),
            CommandMeta::at(t(2)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_ON_CARE_TEAM");
    let err = w
        .service
        .resident(w.doctor, w.resident, note("   "), CommandMeta::at(t(2)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOTE_BODY_EMPTY");
    assert!(err.to_string().contains("write something"), "{err}");
    assert_eq!(w.store.head_position().await.unwrap(), head);
}

#[tokio::test]
async fn a_retried_command_id_returns_the_original_result_once() {
    let w = world().await;
    let cmd = note("訪問時、血圧は140/85。");
    let mut meta = CommandMeta::at(t(2));
    meta.command_id = Some(Uuid::now_v7());
    let first = w
        .service
        .resident(w.doctor, w.resident, cmd.clone(), meta.clone())
        .await
        .unwrap();
    assert!(!first.replayed);
    let head = w.store.head_position().await.unwrap();
    // the retry arrives later, on a new connection: same id, same content
    let mut retry = meta.clone();
    retry.now = t(3);
    let second = w
        .service
        .resident(w.doctor, w.resident, cmd, retry)
        .await
        .unwrap();
    assert!(second.replayed);
    assert_eq!(
        (second.version, second.last_position),
        (first.version, first.last_position)
    );
    assert_eq!(w.store.head_position().await.unwrap(), head, "no duplicate");
    // the same id with different content is refused
    let err = w
        .service
        .resident(w.doctor, w.resident, note("別の内容"), meta)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "DUPLICATE_EVENT_ID");
    assert_eq!(w.store.head_position().await.unwrap(), head);
}

#[tokio::test]
async fn a_stale_expected_version_conflicts_and_reports_the_current_one() {
    let w = world().await;
    let (_, version) = w.service.case_file(w.resident).await.unwrap();
    let mut meta = CommandMeta::at(t(2));
    meta.expected_version = Some(version);
    w.service
        .resident(w.doctor, w.resident, note("一件目"), meta.clone())
        .await
        .unwrap();
    let err = w
        .service
        .resident(w.doctor, w.resident, note("二件目"), meta)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VERSION_CONFLICT");
    assert!(
        err.to_string().contains(&(version + 1).to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn concurrent_writers_without_expected_version_all_land() {
    let w = Arc::new(world().await);
    let (_, before) = w.service.case_file(w.resident).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move {
                w.service
                    .resident(
                        w.doctor,
                        w.resident,
                        note(&format!("記録{i}")),
                        CommandMeta::at(t(2)),
                    )
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(AppError::Store(e)) => {
                assert_eq!(e.code(), "VERSION_CONFLICT", "only a lost race may fail")
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (state, after) = w.service.case_file(w.resident).await.unwrap();
    assert_eq!(after - before, ok as u64);
    assert_eq!(state.notes.len(), ok);
    assert!(ok >= 4, "retries should let most writers land, got {ok}");
}

#[tokio::test]
async fn state_and_directory_survive_a_reopen() {
    let dir = TempDir::new().unwrap();
    let key = MasterKey::generate();
    let (store, service) = open(&dir, &key).await;
    let agency = AgencyId(Uuid::now_v7());
    service
        .agency(
            None,
            agency,
            AgencyCommand::Register {
                agency_id: agency,
                name: "福祉課".into(),
                kind: AgencyKind::MunicipalSection,
            },
            CommandMeta::at(t(0)),
        )
        .await
        .unwrap();
    let member_id = MemberId(Uuid::now_v7());
    service
        .member(
            None,
            member_id,
            MemberCommand::Enrol {
                member_id,
                agency_id: agency,
                name: "伊藤 健".into(),
                kana: "イトウ ケン".into(),
                profession: Profession::MunicipalStaff,
                roles: vec![Role::Supporter],
            },
            CommandMeta::at(t(0)),
        )
        .await
        .unwrap();
    store.close().await;
    let (_store, service) = open(&dir, &key).await;
    let actor = service.actor(member_id).unwrap();
    assert_eq!(actor.agency.kind, AgencyKind::MunicipalSection);
    let err = service
        .member(
            None,
            member_id,
            MemberCommand::Enrol {
                member_id,
                agency_id: agency,
                name: "伊藤 健".into(),
                kana: "イトウ ケン".into(),
                profession: Profession::MunicipalStaff,
                roles: vec![Role::Supporter],
            },
            CommandMeta::at(t(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "MEMBER_EXISTS");
}
