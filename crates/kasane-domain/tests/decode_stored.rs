//! `Event::decode_stored`: a payload as the store keeps it (personal values cut out as
//! `{"$sealed": i}`) decodes to the same event as the payload with its values put back.

use chrono::{NaiveDate, TimeZone, Utc};
use kasane_domain::events::*;
use kasane_domain::personal::sealed::SealedValues;
use kasane_domain::vocab::{InfoCategory, NoteCategory, SupportArea};
use kasane_domain::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// What the store does before writing: each `{"$personal": v}` becomes `{"$sealed": i}` and
/// `v` the `i`-th sealed value (walk order).
fn cut_out(value: &mut Value, values: &mut Vec<Value>) {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("$personal") => {
            values.push(map.remove("$personal").unwrap());
            map.insert("$sealed".into(), json!(values.len() - 1));
        }
        Value::Object(map) => map.values_mut().for_each(|v| cut_out(v, values)),
        Value::Array(items) => items.iter_mut().for_each(|v| cut_out(v, values)),
        _ => {}
    }
}

fn stored(event: &Event) -> (String, Vec<Value>) {
    let mut payload = event.to_payload();
    let mut values = Vec::new();
    cut_out(&mut payload, &mut values);
    (payload.to_string(), values)
}

fn decode(event: &Event, payload: &str, sealed: SealedValues) -> Result<Event, DecodeError> {
    Event::decode_stored(event.event_type(), event.schema_version(), payload, sealed)
}

fn registered(address: Option<&str>) -> Event {
    Event::ResidentRegistered(ResidentRegistered {
        resident_id: ResidentId(Uuid::now_v7()),
        name: Personal::Known("山田 花子".into()),
        kana: Personal::Known("ヤマダ ハナコ".into()),
        birth_date: Personal::Known(NaiveDate::from_ymd_opt(1948, 3, 9).unwrap()),
        address: Personal::Known(address.map(str::to_owned)),
        support_areas: vec![SupportArea::Elderly],
        registered_by: MemberId(Uuid::now_v7()),
        registered_by_agency: AgencyId(Uuid::now_v7()),
    })
}

fn note() -> Event {
    Event::NotePosted(NotePosted {
        resident_id: ResidentId(Uuid::now_v7()),
        note_id: NoteId(Uuid::now_v7()),
        author: MemberId(Uuid::now_v7()),
        author_agency: AgencyId(Uuid::now_v7()),
        category: NoteCategory::Visit,
        info_categories: vec![InfoCategory::Health],
        body: Personal::Known("訪問。\"引用\" と改行\nあり".into()),
        describes_at: Utc.with_ymd_and_hms(2026, 5, 1, 1, 2, 3).unwrap(),
        attachments: Vec::new(),
    })
}

#[test]
fn sealed_markers_decode_to_the_opened_values() {
    for event in [registered(Some("市内 1-2-3")), registered(None), note()] {
        let (payload, values) = stored(&event);
        assert!(payload.contains("$sealed") && !payload.contains("$personal"));
        let decoded = decode(&event, &payload, SealedValues::Opened(values)).unwrap();
        assert_eq!(decoded, event);
    }
}

#[test]
fn inline_personal_values_decode_without_sealed_values() {
    for event in [registered(Some("市内")), note()] {
        let payload = event.to_payload_string();
        assert_eq!(
            decode(&event, &payload, SealedValues::Absent).unwrap(),
            event
        );
    }
}

#[test]
fn a_destroyed_key_decodes_every_marker_as_erased() {
    let event = registered(Some("市内"));
    let (payload, _) = stored(&event);
    let Event::ResidentRegistered(e) = decode(&event, &payload, SealedValues::Erased).unwrap()
    else {
        panic!("another event type");
    };
    assert!(e.name.is_erased() && e.kana.is_erased());
    assert!(e.birth_date.is_erased() && e.address.is_erased());
    assert_eq!(e.support_areas, vec![SupportArea::Elderly]);
}

#[test]
fn values_and_markers_that_do_not_match_are_refused() {
    let event = registered(Some("市内"));
    let (payload, values) = stored(&event);
    // A value more than there are markers.
    let mut extra = values.clone();
    extra.push(json!("余分"));
    let err = decode(&event, &payload, SealedValues::Opened(extra)).unwrap_err();
    assert!(err.to_string().contains("4 $sealed markers for 5"), "{err}");
    // A marker without its value.
    let short = values[..values.len() - 1].to_vec();
    let err = decode(&event, &payload, SealedValues::Opened(short)).unwrap_err();
    assert!(err.to_string().contains("4 $sealed markers for 3"), "{err}");
    // The same value used twice.
    let reused = payload.replace("{\"$sealed\":1}", "{\"$sealed\":0}");
    assert_ne!(reused, payload);
    let err = decode(&event, &reused, SealedValues::Opened(values)).unwrap_err();
    assert!(err.to_string().contains("missing or reused"), "{err}");
    // A marker with nothing to stand for.
    let err = decode(&event, &payload, SealedValues::Absent).unwrap_err();
    assert!(
        err.to_string().contains("outside a stored payload"),
        "{err}"
    );
}

#[test]
fn a_sealed_value_in_a_field_this_code_does_not_know_is_skipped() {
    // Newer code may add a personal field at the same schema version (with a default).
    let event = note();
    let (payload, mut values) = stored(&event);
    let marker = format!("{{\"$sealed\":{}}}", values.len());
    let newer = payload.replacen('{', &format!("{{\"later\":{marker},"), 1);
    values.push(json!("新しい項目"));
    assert_eq!(
        decode(&event, &newer, SealedValues::Opened(values)).unwrap(),
        event
    );
}

#[test]
fn a_panic_while_decoding_leaves_no_values_on_the_thread() {
    let values = SealedValues::Opened(vec![json!("山田")]);
    let panicked = std::panic::catch_unwind(|| {
        kasane_domain::personal::sealed::with_values(values, || panic!("decoder bug"))
    });
    assert!(panicked.is_err());
    // A marker outside any stored payload is refused again, not resolved to a leftover value.
    let err = serde_json::from_value::<Personal<String>>(json!({"$sealed": 0})).unwrap_err();
    assert!(
        err.to_string().contains("outside a stored payload"),
        "{err}"
    );
}

#[test]
fn a_personal_field_of_another_shape_is_refused() {
    let event = note();
    let (payload, values) = stored(&event);
    for (from, to) in [
        ("{\"$sealed\":0}", "\"plain text\""),
        ("{\"$sealed\":0}", "{\"$sealed\":0,\"x\":1}"),
        ("{\"$sealed\":0}", "{\"$erased\":false}"),
        ("{\"$sealed\":0}", "{\"other\":0}"),
    ] {
        let bad = payload.replace(from, to);
        assert_ne!(bad, payload);
        let err = decode(&event, &bad, SealedValues::Opened(values.clone())).unwrap_err();
        assert!(matches!(err, DecodeError::Payload { .. }), "{to}: {err}");
    }
}

#[test]
fn stored_payloads_of_an_unknown_type_or_newer_version_are_refused() {
    let err = Event::decode_stored("NoSuchEvent", 1, "{}", SealedValues::Absent).unwrap_err();
    assert!(matches!(err, DecodeError::UnknownType(_)), "{err}");
    let err = Event::decode_stored("NotePosted", 99, "{}", SealedValues::Absent).unwrap_err();
    assert!(matches!(err, DecodeError::VersionTooNew { .. }), "{err}");
}
