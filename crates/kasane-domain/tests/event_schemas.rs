//! The JSON Schemas in schema/events/ must equal what the code generates.
//! Run with KASANE_UPDATE_SCHEMAS=1 to rewrite them after changing an event.

use std::collections::BTreeSet;
use std::path::PathBuf;

#[test]
fn event_schemas_are_in_sync_with_the_code() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/events");
    let update = std::env::var_os("KASANE_UPDATE_SCHEMAS").is_some();
    let mut expected_files = BTreeSet::new();
    let mut drift = Vec::new();
    for (event_type, version, schema) in kasane_domain::events::json_schemas() {
        let file = format!("{event_type}.v{version}.json");
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = dir.join(&file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            drift.push(file.clone());
        }
        expected_files.insert(file);
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    let stale: Vec<_> = on_disk.difference(&expected_files).collect();
    assert!(
        drift.is_empty() && (update || stale.is_empty()),
        "schema/events is out of date (changed or missing: {drift:?}; no longer generated: {stale:?}); \
         run `KASANE_UPDATE_SCHEMAS=1 cargo test -p kasane-domain --test event_schemas` and commit"
    );
}

#[test]
fn every_event_round_trips_through_its_payload() {
    use kasane_domain::Event;
    // each type decodes from what it encodes, and unknown or future types are refused
    let e: Event = kasane_domain::events::MemberReinstated {
        member_id: kasane_domain::MemberId(uuid::Uuid::now_v7()),
    }
    .into();
    let back = Event::from_payload(e.event_type(), e.schema_version(), e.to_payload()).unwrap();
    assert_eq!(back, e);
    assert!(matches!(
        Event::from_payload("NoSuchEvent", 1, serde_json::json!({})),
        Err(kasane_domain::DecodeError::UnknownType(_))
    ));
    assert!(matches!(
        Event::from_payload("MemberReinstated", 2, e.to_payload()),
        Err(kasane_domain::DecodeError::VersionTooNew { .. })
    ));
    assert_eq!(
        Event::TYPES.len(),
        kasane_domain::events::json_schemas().len()
    );
}
