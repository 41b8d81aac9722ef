//! End-to-end through `kasane serve`: HTTP queries and mutations, WebSocket subscriptions in
//! both protocols, consent-governed sharing, the access ledger, version conflicts, auth and
//! limits.

use futures_util::{SinkExt, StreamExt};
use kasane_e2e::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const END: &str = "2026-10-31T15:00:00Z";
const TENANT: &str = "kasane-city";

/// A small demo town (for the directory) in a temporary data directory.
fn town() -> TempDir {
    let dir = TempDir::new().unwrap();
    let out = kasane(
        dir.path(),
        &[
            "demo",
            "--residents",
            "5",
            "--months",
            "1",
            "--seed",
            "3",
            "--end",
            END,
        ],
    );
    assert_ok(&out);
    dir
}

/// Members of the town: (member id, agency id, roles as text).
fn members(dir: &Path) -> Vec<(String, String, Vec<String>)> {
    let conn = kasane_projections::runner::open_read(&dir.join("kasane.db")).unwrap();
    kasane_projections::directory::members(&conn, TENANT, None)
        .unwrap()
        .into_iter()
        .filter(|m| m.active)
        .map(|m| {
            (
                m.member_id.to_string(),
                m.agency_id.to_string(),
                m.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            )
        })
        .collect()
}

/// Supporters (not administrators) of three different agencies, and an administrator of the
/// second one's agency.
struct Cast {
    a: String,
    b: String,
    b_agency: String,
    c: String,
    b_admin: String,
}

fn cast(dir: &Path) -> Cast {
    let all = members(dir);
    let plain = |m: &&(String, String, Vec<String>)| m.2 == vec!["supporter".to_owned()];
    let a = all.iter().find(plain).expect("a supporter");
    let b = all
        .iter()
        .filter(plain)
        .find(|m| {
            m.1 != a.1
                && all
                    .iter()
                    .any(|x| x.1 == m.1 && x.2.contains(&"agency_admin".to_owned()))
        })
        .expect("a supporter of another agency with an admin");
    let c = all
        .iter()
        .filter(plain)
        .find(|m| m.1 != a.1 && m.1 != b.1)
        .expect("a supporter of a third agency");
    let b_admin = all
        .iter()
        .find(|x| x.1 == b.1 && x.2.contains(&"agency_admin".to_owned()))
        .unwrap();
    Cast {
        a: a.0.clone(),
        b: b.0.clone(),
        b_agency: b.1.clone(),
        c: c.0.clone(),
        b_admin: b_admin.0.clone(),
    }
}

/// The server's token-signing secret (generated into the data directory).
fn hex_secret(dir: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(dir.join("jwt.key")).unwrap();
    (0..text.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text.trim()[i..i + 2], 16).unwrap())
        .collect()
}

fn token(dir: &Path, member: &str) -> String {
    let out = kasane(dir, &["token", "issue", "--member", member, "--ttl", "1h"]);
    assert_ok(&out);
    stdout(&out).trim().to_owned()
}

/// A GraphQL client with one member's token.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl Client {
    fn new(server: &Server, token: Option<&str>) -> Self {
        Client {
            http: reqwest::Client::new(),
            url: format!("{}/graphql", server.base),
            token: token.map(str::to_owned),
        }
    }

    /// The whole response (status, JSON body).
    async fn send(&self, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({"query": query, "variables": variables}));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("a JSON body"))
    }

    /// `data`, asserting there were no errors.
    async fn data(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.send(query, variables).await;
        assert!(
            status == 200 && body.get("errors").is_none(),
            "unexpected errors ({status}): {body:#}"
        );
        body["data"].clone()
    }

    /// The first error's code.
    async fn code(&self, query: &str, variables: Value) -> String {
        let (_, body) = self.send(query, variables).await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {body:#}"))
            .to_owned()
    }
}

const POST_NOTE: &str = "mutation ($r: ID!, $body: String!, $v: Int) {
  postNote(residentId: $r, expectedVersion: $v,
           input: { category: VISIT, infoCategories: [HEALTH], body: $body }) {
    version createdId
  }
}";

const TIMELINE: &str = "query ($r: ID!) {
  resident(id: $r) { version timeline(first: 100) {
    upToVersion edges { node { kind basis { kind } note { id body } } } } }
}";

/// Ids and bodies of the notes (from NotePosted entries) that a timeline page shows.
fn notes(data: &Value) -> Vec<(String, String)> {
    data["resident"]["timeline"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["kind"] == "NotePosted")
        .map(|n| {
            (
                n["note"]["id"].as_str().unwrap().to_owned(),
                n["note"]["body"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/graphql/ws` with `protocol` and completes the handshake with `token`.
async fn ws_connect(server: &Server, protocol: &str, token: &str) -> Ws {
    let url = format!("{}/graphql/ws", server.base.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects");
    send(
        &mut ws,
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}),
    )
    .await;
    let ack = next_message(&mut ws, Duration::from_secs(10))
        .await
        .expect("an answer to connection_init");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string())).await.unwrap();
}

/// The next protocol message other than keep-alives, or `None` after `wait`.
async fn next_message(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(text) = msg {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "ka" || v["type"] == "ping" || v["type"] == "pong" {
                continue;
            }
            return Some(v);
        }
    }
}

/// The data of the next `next`/`data` message, or `None` after `wait`.
async fn next_data(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let msg = next_message(ws, wait).await?;
    assert!(
        msg["type"] == "next" || msg["type"] == "data",
        "expected data, got {msg}"
    );
    Some(msg["payload"]["data"].clone())
}

/// AccessRecorded payloads in the log for `resident`, in order.
fn access_records(dir: &Path, resident: &str) -> Vec<Value> {
    let conn = rusqlite::Connection::open(dir.join("kasane.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT payload FROM events WHERE stream = ?1 AND event_type = 'AccessRecorded' \
             ORDER BY position",
        )
        .unwrap();
    stmt.query_map([format!("access-{resident}")], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| serde_json::from_str(&p.unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_follows_consent_in_queries_and_subscriptions_and_every_read_is_recorded() {
    let dir = town();
    let cast = cast(dir.path());
    let (ta, tb, tc) = (
        token(dir.path(), &cast.a),
        token(dir.path(), &cast.b),
        token(dir.path(), &cast.c),
    );
    let server = Server::start(dir.path(), &[]);
    let (a, b, c) = (
        Client::new(&server, Some(&ta)),
        Client::new(&server, Some(&tb)),
        Client::new(&server, Some(&tc)),
    );

    // A registers a resident (and leads the team), adds B of another agency, posts a note.
    let reg = a
        .data(
            "mutation { registerResident(input: { name: \"山田 花子\", kana: \"やまだ はなこ\",
               birthDate: \"1948-04-01\", supportAreas: [ELDERLY] }) {
               version resident { id name } } }",
            json!({}),
        )
        .await;
    let r = reg["registerResident"]["resident"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reg["registerResident"]["resident"]["name"], "山田 花子");
    a.data(
        "mutation ($r: ID!, $m: ID!) { addTeamMember(residentId: $r, memberId: $m, teamRole: MEMBER) { version } }",
        json!({"r": r, "m": cast.b}),
    )
    .await;
    let n1 = a
        .data(
            POST_NOTE,
            json!({"r": r, "body": "血圧 148/92。服薬を確認した。"}),
        )
        .await["postNote"]["createdId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Without consent B is on the team but does not see A's health note.
    let before = b.data(TIMELINE, json!({"r": r})).await;
    assert!(notes(&before).is_empty(), "{before:#}");
    // C is not on the team: refused, and absent from search.
    assert_eq!(c.code(TIMELINE, json!({"r": r})).await, "NOT_ON_CARE_TEAM");
    let search = c
        .data(
            "{ residents(search: \"ヤマダ\") { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert!(!search.to_string().contains(&r), "{search}");
    // A finds the resident by kana, folded (hiragana registered, katakana searched).
    let found = a
        .data(
            "{ residents(search: \"ヤマダ\") { edges { node { id name } } } }",
            json!({}),
        )
        .await;
    assert!(found.to_string().contains(&r), "{found}");
    // A second 山田: search pages by kana, and each edge's cursor continues after it.
    a.data(
        "mutation { registerResident(input: { name: \"山田 太郎\", kana: \"ヤマダ タロウ\",
           birthDate: \"1975-06-01\", supportAreas: [POVERTY] }) { version } }",
        json!({}),
    )
    .await;
    let page = a
        .data(
            "{ residents(search: \"やまだ\", first: 2) { edges { cursor node { id kana } } } }",
            json!({}),
        )
        .await;
    let edges = page["residents"]["edges"].as_array().unwrap().clone();
    assert_eq!(edges.len(), 2, "{page}");
    assert_eq!(
        edges[0]["node"]["kana"], "ヤマダ タロウ",
        "kana order: タ before ハ"
    );
    let next = a
        .data(
            "query ($a: String!) { residents(search: \"やまだ\", first: 1, after: $a) { edges { node { id } } } }",
            json!({"a": edges[0]["cursor"]}),
        )
        .await;
    assert_eq!(
        next["residents"]["edges"][0]["node"]["id"],
        edges[1]["node"]["id"]
    );

    // A records the resident's consent for B's agency and health information.
    let consent = a
        .data(
            "mutation ($r: ID!, $ag: ID!) { grantConsent(residentId: $r, input: {
               agencyIds: [$ag], categories: [HEALTH], purpose: \"訪問看護との情報共有\",
               method: WRITTEN }) { createdId } }",
            json!({"r": r, "ag": cast.b_agency}),
        )
        .await["grantConsent"]["createdId"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_consent = b.data(TIMELINE, json!({"r": r})).await;
    assert_eq!(
        notes(&with_consent),
        vec![(n1.clone(), "血圧 148/92。服薬を確認した。".to_owned())]
    );
    assert!(with_consent.to_string().contains("\"CONSENT\""));

    // B subscribes (graphql-transport-ws) to the timeline and (legacy graphql-ws) to unread.
    let mut live = ws_connect(&server, "graphql-transport-ws", &tb).await;
    send(
        &mut live,
        json!({"id": "t", "type": "subscribe", "payload": {
            "query": "subscription ($r: ID!) { timeline(residentId: $r) { kind basis { kind } note { id body } } }",
            "variables": {"r": r}}}),
    )
    .await;
    let mut legacy = ws_connect(&server, "graphql-ws", &tb).await;
    send(
        &mut legacy,
        json!({"id": "u", "type": "start", "payload": {"query": "subscription { unreadCount }"}}),
    )
    .await;
    let unread_before = next_data(&mut legacy, Duration::from_secs(10))
        .await
        .expect("the current unread count")["unreadCount"]
        .as_u64()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let n2 = a
        .data(POST_NOTE, json!({"r": r, "body": "夜間の不眠の訴えあり。"}))
        .await["postNote"]["createdId"]
        .as_str()
        .unwrap()
        .to_owned();
    let pushed = next_data(&mut live, Duration::from_secs(10))
        .await
        .expect("the new note arrives live");
    assert_eq!(pushed["timeline"]["kind"], "NotePosted");
    assert_eq!(pushed["timeline"]["note"]["id"], n2.as_str());
    assert_eq!(pushed["timeline"]["note"]["body"], "夜間の不眠の訴えあり。");
    let unread_after = next_data(&mut legacy, Duration::from_secs(10))
        .await
        .expect("the unread count changes")["unreadCount"]
        .as_u64()
        .unwrap();
    assert_eq!(unread_after, unread_before + 1);

    // The consent is withdrawn: B's subscription gets the withdrawal, but not the next note.
    a.data(
        "mutation ($r: ID!, $c: ID!) { withdrawConsent(residentId: $r, consentId: $c, reason: \"本人の希望\") { version } }",
        json!({"r": r, "c": consent}),
    )
    .await;
    let withdrawn = next_data(&mut live, Duration::from_secs(10)).await.unwrap();
    assert_eq!(withdrawn["timeline"]["kind"], "ConsentWithdrawn");
    a.data(POST_NOTE, json!({"r": r, "body": "家族と面談した。"}))
        .await;
    a.data(
        "mutation ($r: ID!) { changeResidentDetails(residentId: $r, input: { address: \"かさね市本町1-2\" }) { version } }",
        json!({"r": r}),
    )
    .await;
    let next = next_data(&mut live, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        next["timeline"]["kind"], "ResidentDetailsChanged",
        "the note posted after the withdrawal must not be delivered: {next}"
    );
    // ...and the notes are gone from B's queries too.
    let after = b.data(TIMELINE, json!({"r": r})).await;
    assert!(notes(&after).is_empty(), "{after:#}");
    // A (own agency) still sees all three.
    assert_eq!(notes(&a.data(TIMELINE, json!({"r": r})).await).len(), 3);

    // Every read of B is in the log, before its response: three timeline reads by HTTP and
    // the pushes of the subscription.
    let records = access_records(dir.path(), &r);
    let by_b: Vec<&Value> = records
        .iter()
        .filter(|p| p["member_id"] == cast.b.as_str())
        .collect();
    let pages = by_b.iter().filter(|p| p["kind"] == "timeline_page").count();
    assert!(pages >= 3 + 3, "B's reads: {by_b:#?}");
    let saw_n1 = by_b.iter().any(|p| {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["note_id"] == n1.as_str() && i["basis"]["basis"] == "consent")
    });
    assert!(
        saw_n1,
        "the consent-based read of the note is recorded: {by_b:#?}"
    );
    assert!(
        records.iter().all(|p| p["member_id"] != cast.c.as_str()),
        "a refused read records nothing"
    );

    // Two posts with the same expectedVersion: one wins, one gets VERSION_CONFLICT.
    let version = a.data(TIMELINE, json!({"r": r})).await["resident"]["version"]
        .as_u64()
        .unwrap();
    let (one, two) = tokio::join!(
        a.send(
            POST_NOTE,
            json!({"r": r, "body": "同時投稿1", "v": version})
        ),
        b.send(
            POST_NOTE,
            json!({"r": r, "body": "同時投稿2", "v": version})
        )
    );
    let outcomes = [one.1, two.1];
    let ok = outcomes
        .iter()
        .filter(|o| o.get("errors").is_none())
        .count();
    let conflicts: Vec<&Value> = outcomes
        .iter()
        .filter(|o| o["errors"][0]["extensions"]["code"] == "VERSION_CONFLICT")
        .collect();
    assert_eq!((ok, conflicts.len()), (1, 1), "{outcomes:#?}");
    assert_eq!(
        conflicts[0]["errors"][0]["extensions"]["currentVersion"],
        version + 1
    );

    // A refers the resident to B's agency: B's inbox subscription gets the card, with the
    // reason (B is on the team). The request's correlation id goes into the event.
    send(
        &mut live,
        json!({"id": "i", "type": "subscribe", "payload": {
            "query": "subscription { referralInbox { id status reason toAgencyId } }"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let correlation = uuid::Uuid::now_v7().to_string();
    let referral = a
        .http
        .post(&a.url)
        .bearer_auth(&ta)
        .header("x-correlation-id", &correlation)
        .json(
            &json!({"query": "mutation ($r: ID!, $ag: ID!) { makeReferral(residentId: $r, input: {
            toAgencyId: $ag, reason: \"服薬管理の支援をお願いします\", requestedSupport: [NURSING],
            urgency: SOON }) { createdId } }", "variables": {"r": r, "ag": cast.b_agency}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        referral.headers()["x-correlation-id"].to_str().unwrap(),
        correlation
    );
    let referral: Value = referral.json().await.unwrap();
    let referral_id = referral["data"]["makeReferral"]["createdId"]
        .as_str()
        .unwrap_or_else(|| panic!("{referral:#}"))
        .to_owned();
    let card = loop {
        let msg = next_message(&mut live, Duration::from_secs(10))
            .await
            .expect("the referral arrives in the inbox");
        if msg["id"] == "i" {
            break msg["payload"]["data"]["referralInbox"].clone();
        }
    };
    assert_eq!(card["id"], referral_id.as_str());
    assert_eq!(card["status"], "MADE");
    assert_eq!(card["reason"], "服薬管理の支援をお願いします");
    let conn = rusqlite::Connection::open(dir.path().join("kasane.db")).unwrap();
    let stored: Vec<u8> = conn
        .query_row(
            "SELECT correlation_id FROM events WHERE event_type = 'ReferralMade' \
             ORDER BY position DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(
        uuid::Uuid::from_slice(&stored).unwrap().to_string(),
        correlation
    );

    // B's agency admin suspends B: B's token stops working at once, with its own code.

    let admin = Client::new(&server, Some(&token(dir.path(), &cast.b_admin)));
    admin
        .data(
            "mutation ($m: ID!) { suspendMember(memberId: $m, reason: \"退職\") { version member { active } } }",
            json!({"m": cast.b}),
        )
        .await;
    let (status, body) = b.send("{ me { name } }", json!({})).await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["extensions"]["code"], "MEMBER_SUSPENDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_limits_and_bad_input_are_refused_with_codes() {
    let dir = town();
    let cast = cast(dir.path());
    let ta = token(dir.path(), &cast.a);
    let server = Server::start(
        dir.path(),
        &[
            "--max-depth",
            "4",
            "--max-body-bytes",
            "4096",
            "--max-page",
            "10",
            "--rate-per-second",
            "1",
            "--rate-burst",
            "12",
            "--max-complexity",
            "50",
        ],
    );
    let a = Client::new(&server, Some(&ta));
    let anonymous = Client::new(&server, None);
    let forged = Client::new(
        &server,
        Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"),
    );

    assert_eq!(
        anonymous.code("{ me { name } }", json!({})).await,
        "UNAUTHENTICATED"
    );
    let (status, body) = forged.send("{ me { name } }", json!({})).await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].as_str()),
        (401, Some("TOKEN_INVALID"))
    );
    // Tokens signed with the server's own secret, for a member it does not know and expired.
    let secret = hex_secret(dir.path());
    let sign = |sub: &str, exp: i64| {
        let claims = json!({"sub": sub, "tenant": TENANT, "iss": "kasane",
            "iat": exp - 60, "exp": exp, "jti": "t"});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    for (token, status, code) in [
        (
            sign(&uuid::Uuid::now_v7().to_string(), now + 600),
            401,
            "UNKNOWN_MEMBER",
        ),
        (sign(&cast.a, now - 3_600), 401, "TOKEN_EXPIRED"),
    ] {
        let (got, body) = Client::new(&server, Some(&token))
            .send("{ me { name } }", json!({}))
            .await;
        assert_eq!(
            (got, body["errors"][0]["extensions"]["code"].as_str()),
            (status, Some(code))
        );
    }
    assert_eq!(
        a.code("{ resident(id: \"nope\") { name } }", json!({}))
            .await,
        "BAD_ID"
    );
    assert_eq!(
        a.code(
            "{ residents(first: 10) { edges { node { id name kana birthDate supportAreas status erased registeredAt } } } }",
            json!({})
        )
        .await,
        "QUERY_TOO_COMPLEX"
    );
    assert_eq!(
        a.code(
            "{ residents(first: 5, onMyTeam: false) { edges { cursor } } }",
            json!({})
        )
        .await,
        "INVALID_INPUT"
    );
    assert_eq!(
        a.code(
            "{ residents(first: 5, after: \"garbage\") { edges { cursor } } }",
            json!({})
        )
        .await,
        "BAD_CURSOR"
    );
    assert_eq!(
        a.code("{ residents(first: 11) { edges { cursor } } }", json!({}))
            .await,
        "PAGE_TOO_LARGE"
    );
    assert_eq!(
        a.code(
            "{ __schema { types { fields { type { ofType { name } } } } } }",
            json!({})
        )
        .await,
        "QUERY_TOO_DEEP"
    );
    let long = "あ".repeat(3000);
    let (status, body) = a.send(POST_NOTE, json!({"r": cast.a, "body": long})).await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].as_str()),
        (413, Some("BODY_TOO_LARGE"))
    );
    assert_eq!(
        a.code("{ me { nosuchfield } }", json!({})).await,
        "BAD_REQUEST"
    );
    // The burst is 12 per token; the requests above used 7 of it (refused tokens and bodies
    // are turned away before the budget is charged).
    let mut codes = Vec::new();
    for _ in 0..14 {
        let (_, body) = a.send("{ me { name } }", json!({})).await;
        codes.push(
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("ok")
                .to_owned(),
        );
    }
    assert!(codes.contains(&"RATE_LIMITED".to_owned()), "{codes:?}");
    assert_eq!(codes[0], "ok");

    // Health, readiness and metrics answer without a token.
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", server.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status().as_u16(), 200);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("kasane_graphql_requests_total"),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"RATE_LIMITED\""), "{metrics}");
    assert!(metrics.contains("kasane_store_commits "), "{metrics}");
    assert!(metrics.contains("kasane_store_appends "), "{metrics}");
    let graphiql = get("/graphql").await.unwrap().text().await.unwrap();
    assert!(
        graphiql.contains("graphiql"),
        "GraphiQL is served on GET /graphql"
    );

    // SIGTERM: the server finishes, closes the store and exits cleanly.
    let output = server.output.clone();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.wait();
    assert!(exit.success(), "exit status {exit:?}");
    std::thread::sleep(Duration::from_millis(200));
    let lines = output.lock().unwrap().join("\n");
    assert!(lines.contains("stopped"), "{lines}");
    assert_ok(&kasane(dir.path(), &["verify"]));
}

/// A plain supporter of the town who is on a team, and the first resident of their teams.
fn a_supporter_and_their_resident(dir: &Path) -> (uuid::Uuid, uuid::Uuid) {
    let conn = kasane_projections::runner::open_read(&dir.join("kasane.db")).unwrap();
    kasane_projections::directory::members(&conn, TENANT, None)
        .unwrap()
        .into_iter()
        .filter(|m| m.roles.iter().map(|r| r.as_str()).eq(["supporter"]))
        .find_map(|m| {
            let residents =
                kasane_projections::care_team::residents_of(&conn, TENANT, m.member_id).unwrap();
            residents.first().map(|r| (m.member_id.0, r.0))
        })
        .expect("a supporter on a team")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supporters_view_of_a_case_file_as_of_the_demo_end_is_stable() {
    let dir = town();
    let (member, resident) = a_supporter_and_their_resident(dir.path());
    let token = token(dir.path(), &member.to_string());
    let server = Server::start(dir.path(), &[]);
    let client = Client::new(&server, Some(&token));
    let data = client
        .data(
            "query ($r: ID!, $t: DateTime!) { resident(id: $r) {
               name kana birthDate status supportAreas basis { kind }
               careTeam(asOf: $t) { teamRole from until active }
               consents(asOf: $t) { status categories purpose method validFrom validUntil }
               timeline(asOf: $t, first: 8) { upToVersion pageInfo { hasNextPage endCursor }
                 edges { cursor node { kind occurredAt recordedAt basis { kind }
                   note { category infoCategories body corrected redacted } } } } } }",
            json!({"r": resident.to_string(), "t": END}),
        )
        .await;
    insta::assert_json_snapshot!(data);

    // `details` is fetched only when selected (look-ahead): the same page with and without it
    // holds the same entries; with it, however it is spelled, every entry other than a note
    // carries its fields.
    let page = |fields: &'static str| {
        let client = &client;
        let resident = resident.to_string();
        async move {
            let query = format!(
                "query ($r: ID!, $t: DateTime!) {{ resident(id: $r) {{
                   timeline(asOf: $t, first: 50) {{ edges {{ node {{ position kind {fields} }} }} }} }} }}"
            );
            let data = client.data(&query, json!({"r": resident, "t": END})).await;
            data["resident"]["timeline"]["edges"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let with = page("note { id } details").await;
    let without = page("").await;
    // An alias inside an inline fragment still asks for the field.
    let aliased = page("note { id } ... on TimelineItem { fields: details }").await;
    let keys = |edges: &[Value]| -> Vec<(Value, Value)> {
        edges
            .iter()
            .map(|e| (e["node"]["position"].clone(), e["node"]["kind"].clone()))
            .collect()
    };
    assert_eq!(keys(&with), keys(&without));
    let others: Vec<&Value> = with
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["note"].is_null())
        .collect();
    assert!(!others.is_empty(), "the page has entries other than notes");
    for node in others {
        assert!(node["details"].is_object(), "{node:#}");
    }
    for node in with
        .iter()
        .map(|e| &e["node"])
        .filter(|n| !n["note"].is_null())
    {
        assert!(node["details"].is_null(), "{node:#}");
    }
    assert_eq!(keys(&aliased), keys(&with));
    for (a, w) in aliased.iter().zip(&with) {
        assert_eq!(a["node"]["fields"], w["node"]["details"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_an_external_oidc_issuer_are_accepted_with_their_member_claim() {
    let dir = town();
    let cast = cast(dir.path());
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/kasane-api/tests/fixtures");
    let jwks = fixtures.join("oidc-jwks.json");
    let key = std::fs::read(fixtures.join("oidc-es256.pem")).unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--oidc-issuer",
            "https://id.example.jp",
            "--oidc-jwks-file",
            jwks.to_str().unwrap(),
            "--oidc-audience",
            "kasane",
            "--oidc-tenant-claim",
            "tenant",
        ],
    );
    let sign = |tenant: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        let claims = json!({
            "iss": "https://id.example.jp", "aud": "kasane", "sub": "someone@example.jp",
            "exp": chrono::Utc::now().timestamp() + 600,
            "kasane_member": cast.a, "tenant": tenant,
        });
        let key = jsonwebtoken::EncodingKey::from_ec_pem(&key).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    let external = Client::new(&server, Some(&sign(TENANT)));
    let me = external.data("{ me { id } }", json!({})).await;
    assert_eq!(me["me"]["id"], cast.a.as_str());
    let foreign = Client::new(&server, Some(&sign("other-town")));
    let (status, body) = foreign.send("{ me { id } }", json!({})).await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["extensions"]["code"], "FOREIGN_TENANT");
    // Kasane's own tokens keep working beside the external issuer.
    let own = Client::new(&server, Some(&token(dir.path(), &cast.b)));
    assert_eq!(
        own.data("{ me { id } }", json!({})).await["me"]["id"],
        cast.b.as_str()
    );
}

#[test]
fn a_config_file_sets_store_and_server_settings_and_flags_win() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("kasane.toml");
    std::fs::write(
        &config,
        "[store]\ntenant = \"minato\"\ntime_zone = \"Asia/Tokyo\"\n\
         [server]\nlisten = \"127.0.0.1:1\"\n[limits]\nmax_page = 5\n",
    )
    .unwrap();
    // --listen (a flag) wins over the file's unusable port 1; the tenant comes from the file.
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()]);
    let lines = server.output.lock().unwrap().join("\n");
    assert!(lines.contains("serving tenant minato"), "{lines}");
    drop(server);
    std::fs::write(&config, "[store]\ntenant = \"minato\"\ncolour = \"blue\"\n").unwrap();
    let out = kasane(dir.path(), &["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a valid Kasane configuration"),
        "{}",
        stderr(&out)
    );
}

/// Members of the town holding `role`.
fn with_role(dir: &Path, role: &str) -> String {
    members(dir)
        .into_iter()
        .find(|m| m.2.iter().any(|r| r == role))
        .unwrap_or_else(|| panic!("the demo town has a member with role {role}"))
        .0
}

/// How many events of `kind` occurred in October 2026, Tokyo time, counted from the log itself.
fn occurred_in_october_tokyo(dir: &Path, kind: &str) -> u64 {
    let from = chrono::DateTime::parse_from_rfc3339("2026-10-01T00:00:00+09:00").unwrap();
    let to = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00+09:00").unwrap();
    let conn = rusqlite::Connection::open(dir.join("kasane.db")).unwrap();
    conn.query_row(
        "SELECT count(*) FROM events WHERE event_type = ?1 AND occurred_at >= ?2 AND occurred_at < ?3",
        rusqlite::params![kind, from.timestamp_micros(), to.timestamp_micros()],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

const ACCESS_LOG: &str = "query ($r: ID!, $from: DateTime) {
  accessLog(residentId: $r, from: $from, first: 50) {
    edges { node { memberId agencyId kind upToVersion items { noteId basis { kind } } } } }
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_read_the_access_ledger_and_center_admins_the_monthly_report() {
    let dir = town();
    let cast = cast(dir.path());
    let auditor = with_role(dir.path(), "auditor");
    let center = with_role(dir.path(), "center_admin");
    let server = Server::start(dir.path(), &[]);
    let a = Client::new(&server, Some(&token(dir.path(), &cast.a)));
    let b = Client::new(&server, Some(&token(dir.path(), &cast.b)));
    let b_admin = Client::new(&server, Some(&token(dir.path(), &cast.b_admin)));
    let audit = Client::new(&server, Some(&token(dir.path(), &auditor)));
    let center = Client::new(&server, Some(&token(dir.path(), &center)));

    // A registers a resident and posts a note, then reads the timeline once.
    let resident = a
        .data(
            "mutation { registerResident(input: { name: \"監査 太郎\", kana: \"カンサ タロウ\",
               birthDate: \"1950-02-03\", supportAreas: [ELDERLY] }) { resident { id } } }",
            json!({}),
        )
        .await["registerResident"]["resident"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let note = a
        .data(POST_NOTE, json!({"r": resident, "body": "血圧 128/80"}))
        .await["postNote"]["createdId"]
        .as_str()
        .unwrap()
        .to_owned();
    let since = chrono::Utc::now().to_rfc3339();
    let page = a.data(TIMELINE, json!({"r": resident})).await;
    let version = page["resident"]["timeline"]["upToVersion"]
        .as_u64()
        .unwrap();

    // The auditor sees exactly that read, with the note and its basis.
    let log = audit
        .data(ACCESS_LOG, json!({"r": resident, "from": since}))
        .await;
    let edges = log["accessLog"]["edges"].as_array().unwrap();
    let pages: Vec<&Value> = edges
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["kind"] == "TIMELINE_PAGE")
        .collect();
    assert_eq!(pages.len(), 1, "one timeline read since {since}: {log:#}");
    assert_eq!(pages[0]["memberId"], cast.a.as_str());
    assert_eq!(pages[0]["upToVersion"].as_u64(), Some(version));
    assert!(
        pages[0]["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["noteId"] == note.as_str() && i["basis"]["kind"] == "OWN_AGENCY"),
        "{log:#}"
    );
    // Others see only the reads their scope allows: their own, or their agency's.
    for (who, client) in [
        ("a supporter of another agency", &b),
        ("its admin", &b_admin),
    ] {
        let theirs = client
            .data(ACCESS_LOG, json!({"r": resident, "from": since}))
            .await;
        assert_eq!(
            theirs["accessLog"]["edges"].as_array().unwrap().len(),
            0,
            "{who} sees none of A's reads: {theirs:#}"
        );
    }
    let own = a
        .data(ACCESS_LOG, json!({"r": resident, "from": since}))
        .await;
    assert!(!own["accessLog"]["edges"].as_array().unwrap().is_empty());
    assert_eq!(
        audit
            .code(
                "query ($r: ID!) { accessLog(residentId: $r, from: \"2026-11-01T00:00:00Z\",
                   to: \"2026-10-01T00:00:00Z\") { edges { cursor } } }",
                json!({"r": resident}),
            )
            .await,
        "INVALID_INPUT"
    );

    // Who has read the note: A, on its own agency's basis.
    let readers = audit
        .data(
            "query ($n: ID!) { noteReaders(noteId: $n) { memberId reads bases { kind } } }",
            json!({"n": note}),
        )
        .await;
    let readers = readers["noteReaders"].as_array().unwrap();
    assert_eq!(readers.len(), 1, "{readers:#?}");
    assert_eq!(readers[0]["memberId"], cast.a.as_str());
    assert!(readers[0]["reads"].as_u64().unwrap() >= 1);
    assert_eq!(readers[0]["bases"][0]["kind"], "OWN_AGENCY");

    // The monthly report: counts that agree with the log, for the center admin only.
    const REPORT: &str = "query ($m: String!) { monthlyReport(month: $m) { month timeZone
        metrics { name total breakdowns { dimension counts { key count } } }
        referralResponse { answered medianSeconds } } }";
    let report = center.data(REPORT, json!({"m": "2026-10"})).await;
    let report = &report["monthlyReport"];
    assert_eq!(report["timeZone"], "Asia/Tokyo");
    let metric = |name: &str| {
        report["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("metric {name} in {report:#}"))
            .clone()
    };
    let posted = occurred_in_october_tokyo(dir.path(), "NotePosted");
    assert!(posted > 0, "the demo month has notes");
    assert_eq!(metric("notes_posted")["total"].as_u64(), Some(posted));
    let by_category: u64 = metric("notes_posted")["breakdowns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["dimension"] == "category")
        .expect("notes by category")["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(by_category, posted, "each note counts in one category");
    assert!(
        !report.to_string().contains("監査"),
        "no personal data in a report"
    );
    let totals: Vec<(String, u64)> = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["total"].as_u64().unwrap(),
            )
        })
        .collect();
    insta::assert_json_snapshot!("october_report_totals", totals);

    let months = audit.data("{ reportMonths }", json!({})).await;
    assert!(
        months["reportMonths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "2026-10")
    );
    assert_eq!(
        a.code(REPORT, json!({"m": "2026-10"})).await,
        "ROLE_REQUIRED"
    );
    for bad in ["2026-13", "2026-1", "October"] {
        assert_eq!(
            center.code(REPORT, json!({"m": bad})).await,
            "INVALID_INPUT",
            "{bad}"
        );
    }
}

/// The README's first command on an empty data directory: the demo town is created, and the
/// printed tokens and sample query read a timeline as printed. A restart keeps the town and
/// the tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_creates_the_town_once_and_its_printed_tokens_read_a_timeline() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(dir.path(), &["--demo"]);
    let printed = |server: &Server| -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let lines = server.output.lock().unwrap().clone();
            if lines
                .iter()
                .any(|l| l.starts_with("try, as the supporter: "))
            {
                return lines;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no sample query printed:\n{}",
                lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let lines = printed(&server);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("creating the demo town")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("GraphiQL: open http://"))
    );
    // "  supporter     Name (id)" followed by "    {"Authorization": "Bearer …"}".
    let tokens: Vec<(String, String)> = lines
        .windows(2)
        .filter_map(|w| {
            let header = w[1].strip_prefix("    {\"Authorization\": \"Bearer ")?;
            let token = header.trim_end_matches("\"}");
            let label = w[0].trim().split("  ").next()?.to_owned();
            Some((label, token.to_owned()))
        })
        .collect();
    let labels: Vec<&str> = tokens.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        ["supporter", "agency admin", "auditor", "center admin"]
    );
    for ((_, token), role) in
        tokens
            .iter()
            .zip(["SUPPORTER", "AGENCY_ADMIN", "AUDITOR", "CENTER_ADMIN"])
    {
        let me = Client::new(&server, Some(token))
            .data("{ me { roles } }", json!({}))
            .await;
        let roles = me["me"]["roles"].as_array().unwrap();
        assert!(roles.iter().any(|r| r == role), "{role} in {me}");
    }
    let sample = lines
        .iter()
        .find_map(|l| l.strip_prefix("try, as the supporter: "))
        .unwrap()
        .to_owned();
    let supporter = Client::new(&server, Some(&tokens[0].1));
    let read = supporter.data(&sample, json!({})).await;
    let entries = read["resident"]["timeline"]["edges"].as_array().unwrap();
    assert_eq!(entries.len(), 5, "{read:#}");
    assert!(read["resident"]["name"].is_string(), "{read:#}");
    drop(server);

    let again = Server::start(dir.path(), &["--demo"]);
    let lines = printed(&again);
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("creating the demo town")),
        "the town is created on the first start only: {lines:#?}"
    );
    let reread = Client::new(&again, Some(&tokens[0].1))
        .data(&sample, json!({}))
        .await;
    assert_eq!(
        reread["resident"]["timeline"]["edges"], read["resident"]["timeline"]["edges"],
        "yesterday's token reads the same timeline after a restart"
    );
}

/// When the access record cannot be written, the response carries no personal data: the read
/// is refused with ACCESS_NOT_RECORDED (503), and served again once records can be written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_cannot_be_recorded_is_refused_without_data() {
    let dir = town();
    let (member, resident) = a_supporter_and_their_resident(dir.path());
    let server = Server::start(dir.path(), &[]);
    let client = Client::new(&server, Some(&token(dir.path(), &member.to_string())));
    let query = "query ($r: ID!) { resident(id: $r) { name timeline(first: 5) {
        edges { node { kind note { body } } } } } }";
    let vars = json!({"r": resident.to_string()});
    let served = client.data(query, vars.clone()).await;
    assert!(served["resident"]["name"].is_string(), "{served:#}");

    // A trigger planted by hand makes every AccessRecorded insert fail in the server's writer.
    let db = rusqlite::Connection::open(dir.path().join("kasane.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER no_reads BEFORE INSERT ON events WHEN NEW.event_type = 'AccessRecorded' \
         BEGIN SELECT RAISE(ABORT, 'planted: the ledger is unavailable'); END;",
    )
    .unwrap();
    let (status, body) = client.send(query, vars.clone()).await;
    assert_eq!(status, 503, "{body:#}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "ACCESS_NOT_RECORDED"
    );
    assert!(
        body.get("data").is_none(),
        "no data leaves unrecorded: {body:#}"
    );
    let name = served["resident"]["name"].as_str().unwrap();
    assert!(!body.to_string().contains(name), "{body:#}");

    db.execute_batch("DROP TRIGGER no_reads").unwrap();
    assert_eq!(client.data(query, vars).await, served);
}
