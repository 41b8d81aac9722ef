//! `schema/schema.graphql` must equal the SDL the code generates.
//! Run with KASANE_UPDATE_SCHEMAS=1 to rewrite it after changing the API.

use std::path::PathBuf;

#[test]
fn the_checked_in_sdl_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/schema.graphql");
    let sdl = kasane_api::schema::sdl();
    if std::env::var_os("KASANE_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &sdl).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == sdl,
        "schema/schema.graphql is out of date: run \
         `KASANE_UPDATE_SCHEMAS=1 cargo test -p kasane-api --test schema_file` and commit it"
    );
}

#[test]
fn every_mutation_of_a_case_file_takes_expected_version_and_idempotency_key() {
    let sdl = kasane_api::schema::sdl();
    let start = sdl.find("type Mutation {").expect("a Mutation type");
    let body = &sdl[start..sdl[start..].find("\n}").map(|e| start + e).unwrap()];
    let mut checked = 0;
    for field in body.lines().map(str::trim).filter(|l| l.contains("): ")) {
        assert!(
            field.contains("idempotencyKey: String"),
            "{field} lacks idempotencyKey"
        );
        let creates = ["registerResident", "enrolMember", "registerAgency"]
            .iter()
            .any(|c| field.starts_with(c));
        if !creates {
            assert!(
                field.contains("expectedVersion: Int"),
                "{field} lacks expectedVersion"
            );
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} mutations found");
}
