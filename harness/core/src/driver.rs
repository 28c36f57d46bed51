//! The driver protocol (docs/driver-protocol.md, schema in
//! docs/driver-protocol.schema.json): how a replay hands each generated
//! operation to the app's own code and reads back what happened. The messages
//! are data here; the process and HTTP transports live in `cutover-replay`.
//!
//! One JSON object per line. The harness sends `hello` (the run's stores),
//! then `write` and `read` operations, then `drain` and `bye`; the driver
//! answers `ready`, then one `result` per operation, naming its id.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::command::{Answer, Command, Read, Subject};
use crate::domain::canonical_json;
use crate::keys::{EntityKind, Id};
use crate::model::{Model, ModelCampaign, ModelSession, ModelSummary, ModelUser};

/// The protocol version this harness speaks. A driver answers `hello` with
/// the version it speaks; any other stops the run before the first operation.
pub const PROTOCOL_VERSION: u32 = 1;

/// What the harness sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Hello {
        protocol: u32,
        run: RunInfo,
    },
    /// A write command, performed as the app performs it.
    Write {
        id: u64,
        /// The user on whose behalf the app acts.
        user: Id,
        command: Command,
    },
    /// A read, answered as the app answers it.
    Read {
        id: u64,
        user: Id,
        read: Read,
    },
    /// Finish background work (an outbox relay, queued retries) within
    /// `timeout_ms`; the answer says how much is still pending.
    Drain {
        id: u64,
        timeout_ms: u64,
    },
    /// From now on write and read as `mode` says (`postgres-only`: a
    /// rollback, the rollback drill's switch); answered once in effect.
    Mode {
        id: u64,
        mode: String,
    },
    /// The run is over: exit (status 0) once stdout is flushed.
    Bye,
}

impl Request {
    /// The operation id, for the messages that carry one.
    pub fn id(&self) -> Option<u64> {
        match self {
            Request::Write { id, .. }
            | Request::Read { id, .. }
            | Request::Drain { id, .. }
            | Request::Mode { id, .. } => Some(*id),
            Request::Hello { .. } | Request::Bye => None,
        }
    }

    /// The `hello` of this harness's protocol version.
    pub fn hello(run: &RunInfo) -> Request {
        Request::Hello {
            protocol: PROTOCOL_VERSION,
            run: run.clone(),
        }
    }

    /// One JSON line (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("requests always serialize")
    }
}

/// Everything a driver needs to reach the run's stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunInfo {
    pub run_id: String,
    /// `dual` (write PostgreSQL, then DynamoDB and S3; read DynamoDB),
    /// `postgres-only` or `shadow-read`.
    pub mode: String,
    pub profile: ProfileInfo,
    pub postgres: PostgresInfo,
    pub dynamodb: DynamodbInfo,
    pub s3: S3Info,
    /// `None`: the standard AWS credential chain (real AWS).
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProfileInfo {
    /// The profile's `name` (`reference`, `electrodb`, …).
    pub name: String,
    /// The profile file, when it came from one.
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PostgresInfo {
    /// A database of its own for this run, empty: the driver creates its schema.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DynamodbInfo {
    /// `None`: the AWS default endpoint of `region`.
    pub endpoint: Option<String>,
    pub region: String,
    /// Created by the harness as the profile lays it out (keys and indexes).
    pub table: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct S3Info {
    pub endpoint: Option<String>,
    pub region: String,
    /// Created by the harness.
    pub bucket: String,
    /// Address buckets as `endpoint/bucket` (local stores need it).
    pub force_path_style: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// What a driver sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Ready {
        protocol: u32,
        /// The driver's name, for the run record.
        driver: String,
        #[serde(default)]
        version: Option<String>,
        /// What it performs: `write`, `read` (default both). A driver that
        /// only reads has the harness's built-in path perform the writes.
        #[serde(default = "both")]
        handles: Vec<Handles>,
    },
    Result {
        id: u64,
        #[serde(flatten)]
        outcome: Outcome,
    },
}

/// The operations a driver performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Handles {
    Write,
    Read,
}

fn both() -> Vec<Handles> {
    vec![Handles::Write, Handles::Read]
}

/// The protocol's JSON Schema: what the harness sends and what a driver
/// answers (docs/driver-protocol.schema.json is this, written out).
pub fn json_schema() -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let request = generator.subschema_for::<Request>();
    let response = generator.subschema_for::<Response>();
    let definitions = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("cutover driver protocol, version {PROTOCOL_VERSION}"),
        "description": "One JSON object per line: a Request on the driver's stdin, a Response on its stdout (docs/driver-protocol.md).",
        "anyOf": [request, response],
        "$defs": definitions,
    })
}

/// How one operation ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Done. Reads carry their answer; `share_session` carries
    /// `{"share_token": …}`; `drain` carries `{"pending": n}`.
    Ok {
        #[serde(default)]
        answer: Value,
    },
    /// The app refused it (as it should refuse a missing parent, say).
    Rejected {
        reason: Rejection,
        #[serde(default)]
        detail: String,
    },
    /// It could not be done. `retryable`: the client may try it again (a
    /// timeout, a restarting engine), as the harness then does.
    Failed {
        error: String,
        #[serde(default)]
        retryable: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    NotFound,
    AlreadyExists,
    Invalid,
}

impl Rejection {
    pub fn name(self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::AlreadyExists => "already_exists",
            Rejection::Invalid => "invalid",
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum ProtocolError {
    #[error("line {line} of the driver's output is not a protocol message ({reason}): {text:?}")]
    Malformed {
        line: u64,
        text: String,
        reason: String,
    },
    #[error(
        "line {line}: the driver speaks protocol {found}; this harness speaks {PROTOCOL_VERSION}"
    )]
    Version { line: u64, found: u32 },
}

/// Reads one line of a driver's output (`line` counts from 1, for messages).
pub fn parse_response(line: u64, text: &str) -> Result<Response, ProtocolError> {
    const SHOWN_CHARS: usize = 300;
    serde_json::from_str(text).map_err(|error| ProtocolError::Malformed {
        line,
        text: text.chars().take(SHOWN_CHARS).collect(),
        reason: error.to_string(),
    })
}

/// What a driver said in `ready`, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    pub driver: String,
    pub version: Option<String>,
    pub handles: Vec<Handles>,
}

/// The answer to `hello`, checked: a `ready` of this protocol version that
/// handles something; `Err` says why not.
pub fn accept_ready(response: Response) -> Result<Ready, String> {
    match response {
        Response::Ready {
            protocol,
            driver,
            version,
            handles,
        } => {
            check_version(1, protocol).map_err(|error| error.to_string())?;
            if handles.is_empty() {
                return Err("`ready` says it handles no operations".to_owned());
            }
            Ok(Ready {
                driver,
                version,
                handles,
            })
        }
        Response::Result { id, .. } => Err(format!(
            "it answered `hello` with the result of operation {id}"
        )),
    }
}

/// `ready`'s version checked against ours.
pub fn check_version(line: u64, protocol: u32) -> Result<(), ProtocolError> {
    if protocol == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ProtocolError::Version {
            line,
            found: protocol,
        })
    }
}

// ---------------------------------------------------------------------------
// Answers, seen as the model sees them.
//
// A driver answers in the protocol's field names (the profiles' vocabulary:
// `display_name`, `campaign_id`, `share_token`, …); extra fields (timestamps,
// versions, pointers) are allowed and ignored. The model holds no versions,
// timestamps or token values, so both sides are projected to what it holds.
// ---------------------------------------------------------------------------

const USER_FIELDS: &[&str] = &["id", "email", "display_name"];
const CAMPAIGN_FIELDS: &[&str] = &["id", "user_id", "name", "description"];
const SESSION_FIELDS: &[&str] = &[
    "id",
    "campaign_id",
    "user_id",
    "name",
    "summary",
    "metadata",
];
const SUMMARY_FIELDS: &[&str] = &["id", "session_id", "user_id", "kind", "body"];

/// A user as answers are projected.
pub(crate) fn user_value(id: &Id, user: &ModelUser) -> Value {
    json!({"id": id, "email": user.email, "display_name": user.display_name})
}

/// A campaign as answers are projected.
pub(crate) fn campaign_value(id: &Id, campaign: &ModelCampaign) -> Value {
    json!({"id": id, "user_id": campaign.user, "name": campaign.name,
           "description": campaign.description})
}

/// A session as answers are projected (its transcript is a read of its own).
pub(crate) fn session_value(id: &Id, session: &ModelSession) -> Value {
    json!({"id": id, "campaign_id": session.campaign, "user_id": session.user,
           "name": session.name, "summary": session.summary, "metadata": session.metadata,
           "shared": session.shared})
}

/// A summary as answers are projected.
pub(crate) fn summary_value(id: &Id, summary: &ModelSummary) -> Value {
    json!({"id": id, "session_id": summary.session, "user_id": summary.user,
           "kind": summary.kind, "body": summary.body})
}

/// The answer the model gives to `read`, projected. `None` when the model
/// cannot say (a share link: token values are not modelled).
pub fn expected_answer(model: &Model, read: &Read) -> Option<Value> {
    let user = |id: &Id| model.users.get(id).map(|u| user_value(id, u));
    let campaign = |id: &Id| model.campaigns.get(id).map(|c| campaign_value(id, c));
    let session = |id: &Id| model.sessions.get(id).map(|s| session_value(id, s));
    let summary = |id: &Id| model.summaries.get(id).map(|s| summary_value(id, s));
    let list = |values: Vec<Value>| Value::Array(values);
    Some(match read {
        Read::User(id) => user(id).unwrap_or(Value::Null),
        Read::Campaign(id) => campaign(id).unwrap_or(Value::Null),
        Read::Session(id) => session(id).unwrap_or(Value::Null),
        Read::CampaignsOf(owner) => list(
            model
                .campaigns
                .iter()
                .filter(|(_, c)| &c.user == owner)
                .filter_map(|(id, _)| campaign(id))
                .collect(),
        ),
        Read::SessionsOf(parent) => list(
            model
                .sessions
                .iter()
                .filter(|(_, s)| &s.campaign == parent)
                .filter_map(|(id, _)| session(id))
                .collect(),
        ),
        Read::SummariesOf(parent) => list(
            model
                .summaries
                .iter()
                .filter(|(_, s)| &s.session == parent)
                .filter_map(|(id, _)| summary(id))
                .collect(),
        ),
        Read::Transcript(id) => model
            .sessions
            .get(id)
            .map_or(Value::Null, |s| Value::String(s.transcript.clone())),
        Read::SearchSessions { campaign, query } => json!(model.search_sessions(campaign, query)),
        Read::SessionByShareToken(_) => return None,
    })
}

/// An answer of cutover's own app in the protocol's shape (its entities'
/// fields by their protocol names, timestamps and versions too), so the
/// built-in path's answers are judged as a driver's are.
pub fn answer_json(answer: &Answer) -> Value {
    let value = match answer {
        Answer::User(user) => serde_json::to_value(user),
        Answer::Campaigns(campaigns) => serde_json::to_value(campaigns),
        Answer::Campaign(campaign) => serde_json::to_value(campaign),
        Answer::Sessions(sessions) => serde_json::to_value(sessions),
        Answer::Session(session) => serde_json::to_value(session),
        Answer::Summaries(summaries) => serde_json::to_value(summaries),
        Answer::Transcript(text) => serde_json::to_value(text),
        Answer::SessionIds(ids) => serde_json::to_value(ids),
    };
    value.expect("entities serialize to JSON")
}

/// One keyword search per campaign the model holds, as its owner asks it:
/// the longest word of its first session's name (so the answer is not
/// trivially empty, and other sessions sharing the word are found too), or
/// of the campaign's own name when it has no session. As (owner, read).
pub fn search_probes(model: &Model) -> Vec<(Id, Read)> {
    model
        .campaigns
        .iter()
        .map(|(id, campaign)| {
            let first_session = model.sessions.values().find(|s| &s.campaign == id);
            let name = first_session.map_or(&campaign.name, |session| &session.name);
            let read = Read::SearchSessions {
                campaign: id.clone(),
                query: longest_word(name),
            };
            (campaign.user.clone(), read)
        })
        .collect()
}

/// The longest word of `text`, normalized (the first of equals; empty when
/// there is none).
fn longest_word(text: &str) -> String {
    let normalized = crate::normalize::normalize(text);
    let mut longest = "";
    for word in normalized.split(' ') {
        if word.chars().count() > longest.chars().count() {
            longest = word;
        }
    }
    longest.to_owned()
}

/// A driver's answer to `read`, projected as [`expected_answer`] projects the
/// model's; `Err` says what is missing or of the wrong shape.
pub fn project_answer(read: &Read, answer: &Value) -> Result<Value, String> {
    match read {
        Read::User(_) => optional(answer, USER_FIELDS, "user"),
        Read::Campaign(_) => optional(answer, CAMPAIGN_FIELDS, "campaign"),
        Read::Session(_) | Read::SessionByShareToken(_) => {
            optional(answer, SESSION_FIELDS, "session")
        }
        Read::CampaignsOf(_) => many(answer, CAMPAIGN_FIELDS, "campaign"),
        Read::SessionsOf(_) => many(answer, SESSION_FIELDS, "session"),
        Read::SummariesOf(_) => many(answer, SUMMARY_FIELDS, "summary"),
        Read::Transcript(_) => match answer {
            Value::Null | Value::String(_) => Ok(answer.clone()),
            other => Err(format!(
                "a transcript is a string or null, not {}",
                kind_of(other)
            )),
        },
        Read::SearchSessions { .. } => {
            let Value::Array(ids) = answer else {
                return Err(format!(
                    "a search answers a list of session ids, not {}",
                    kind_of(answer)
                ));
            };
            let mut ids = ids
                .iter()
                .map(|id| match id {
                    Value::String(text) => Ok(text.clone()),
                    other => Err(format!("a session id is a string, not {}", kind_of(other))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            ids.sort();
            Ok(json!(ids))
        }
    }
}

fn optional(answer: &Value, fields: &[&str], what: &str) -> Result<Value, String> {
    match answer {
        Value::Null => Ok(Value::Null),
        other => project_object(other, fields, what),
    }
}

fn many(answer: &Value, fields: &[&str], what: &str) -> Result<Value, String> {
    let Value::Array(values) = answer else {
        return Err(format!(
            "expected a list of {what}s, not {}",
            kind_of(answer)
        ));
    };
    let mut projected = values
        .iter()
        .map(|value| project_object(value, fields, what))
        .collect::<Result<Vec<_>, _>>()?;
    projected.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(Value::Array(projected))
}

fn project_object(value: &Value, fields: &[&str], what: &str) -> Result<Value, String> {
    let Value::Object(object) = value else {
        return Err(format!("a {what} is an object, not {}", kind_of(value)));
    };
    let mut out = Map::new();
    for field in fields {
        let found = object
            .get(*field)
            .ok_or_else(|| format!("a {what} has no field {field:?}"))?;
        let found = if *field == "metadata" {
            canonical_json(found.clone())
        } else {
            found.clone()
        };
        out.insert((*field).to_owned(), found);
    }
    if what == "session" {
        let shared = match object.get("share_token") {
            None | Some(Value::Null) => false,
            Some(Value::String(_)) => true,
            Some(other) => {
                return Err(format!(
                    "share_token is a string or null, not {}",
                    kind_of(other)
                ));
            }
        };
        out.insert("shared".to_owned(), Value::Bool(shared));
    }
    Ok(Value::Object(out))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// How a driver's answer differs from the model's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerDifference {
    /// In words: both answers, or what is malformed.
    pub what: String,
    /// The entities whose answer differs: a list's missing, extra or
    /// changed elements; otherwise the read's subject.
    pub entities: Vec<(EntityKind, String)>,
}

/// The entity `read` names, for a finding: its subject, or for a share link
/// the session `expected` shows (none when it shows nothing).
pub fn read_subject(read: &Read, expected: &Value) -> Vec<(EntityKind, String)> {
    match read.subject() {
        Subject::User(id) => vec![(EntityKind::User, id.to_string())],
        Subject::Campaign(id) => vec![(EntityKind::Campaign, id.to_string())],
        Subject::Session(id) => vec![(EntityKind::Session, id.to_string())],
        Subject::ShareLink => expected["id"]
            .as_str()
            .map(|id| vec![(EntityKind::Session, id.to_owned())])
            .unwrap_or_default(),
    }
}

/// Where a driver's answer to `read` differs from `expected` (the model's,
/// projected), or `None` when they agree.
pub fn compare_answer(read: &Read, expected: &Value, answer: &Value) -> Option<AnswerDifference> {
    let subject = || read_subject(read, expected);
    match project_answer(read, answer) {
        Ok(found) if &found == expected => None,
        Ok(found) => {
            let entities = match (list_kind(read), expected, &found) {
                (_, Value::Array(want), Value::Array(have))
                    if matches!(read, Read::SearchSessions { .. }) =>
                {
                    differing_ids(want, have)
                        .into_iter()
                        .map(|id| (EntityKind::Session, id))
                        .collect()
                }
                (Some(kind), Value::Array(want), Value::Array(have)) => {
                    differing_elements(want, have)
                        .into_iter()
                        .map(|id| (kind, id))
                        .collect()
                }
                _ => subject(),
            };
            Some(AnswerDifference {
                what: format!("expected {expected}, the driver answered {found}"),
                entities,
            })
        }
        Err(shape) => Some(AnswerDifference {
            what: format!("the answer is malformed: {shape}"),
            entities: subject(),
        }),
    }
}

/// Where a driver's answer to `read` differs from the model's (`None`: they
/// agree, or the model cannot say).
pub fn answer_difference(model: &Model, read: &Read, answer: &Value) -> Option<AnswerDifference> {
    compare_answer(read, &expected_answer(model, read)?, answer)
}

/// The kind of entity a list read answers.
fn list_kind(read: &Read) -> Option<EntityKind> {
    match read {
        Read::CampaignsOf(_) => Some(EntityKind::Campaign),
        Read::SessionsOf(_) => Some(EntityKind::Session),
        Read::SummariesOf(_) => Some(EntityKind::Summary),
        _ => None,
    }
}

/// The ids (a search's answer) one list has and the other lacks.
fn differing_ids(want: &[Value], have: &[Value]) -> Vec<String> {
    let ids = |values: &[Value]| -> std::collections::BTreeSet<String> {
        values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let (want, have) = (ids(want), ids(have));
    want.symmetric_difference(&have).cloned().collect()
}

/// Ids of the elements one list has and the other lacks or holds differently.
fn differing_elements(want: &[Value], have: &[Value]) -> Vec<String> {
    let by_id = |values: &[Value]| -> std::collections::BTreeMap<String, Value> {
        values
            .iter()
            .filter_map(|v| Some((v["id"].as_str()?.to_owned(), v.clone())))
            .collect()
    };
    let (want, have) = (by_id(want), by_id(have));
    let mut ids: Vec<String> = want
        .iter()
        .filter(|(id, value)| have.get(*id) != Some(value))
        .map(|(id, _)| id.clone())
        .collect();
    ids.extend(have.keys().filter(|id| !want.contains_key(*id)).cloned());
    ids.sort();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelSession, ModelUser};

    /// docs/driver-protocol.schema.json is the schema the types give; a
    /// change to a message shows here. `CUTOVER_WRITE_SCHEMA=1` rewrites it.
    #[test]
    fn the_published_schema_is_the_protocol_s() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/driver-protocol.schema.json");
        let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("CUTOVER_WRITE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == generated,
            "{} is not the schema of the protocol's types: run `CUTOVER_WRITE_SCHEMA=1 cargo test -p cutover-core the_published_schema` and commit it",
            path.display()
        );
    }

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    #[test]
    fn requests_are_one_line_each_in_the_documented_shape() {
        let write = Request::Write {
            id: 7,
            user: id("u1"),
            command: Command::DeleteUser { user: id("u1") },
        };
        assert_eq!(
            write.to_line(),
            r#"{"type":"write","id":7,"user":"u1","command":{"op":"delete_user","user":"u1"}}"#
        );
        let read = Request::Read {
            id: 8,
            user: id("u1"),
            read: Read::Session(id("s1")),
        };
        assert_eq!(
            read.to_line(),
            r#"{"type":"read","id":8,"user":"u1","read":{"read":"session","arg":"s1"}}"#
        );
        assert_eq!(Request::Bye.to_line(), r#"{"type":"bye"}"#);
    }

    #[test]
    fn results_parse_and_bad_lines_name_their_line() {
        assert_eq!(
            parse_response(
                3,
                r#"{"type":"result","id":4,"outcome":"ok","answer":null}"#
            ),
            Ok(Response::Result {
                id: 4,
                outcome: Outcome::Ok {
                    answer: Value::Null
                }
            })
        );
        assert_eq!(
            parse_response(
                1,
                r#"{"type":"result","id":5,"outcome":"rejected","reason":"not_found"}"#
            ),
            Ok(Response::Result {
                id: 5,
                outcome: Outcome::Rejected {
                    reason: Rejection::NotFound,
                    detail: String::new()
                }
            })
        );
        let unknown =
            parse_response(9, r#"{"type":"result","id":5,"outcome":"maybe"}"#).unwrap_err();
        let message = unknown.to_string();
        assert!(
            message.starts_with("line 9 of the driver's output"),
            "{message}"
        );
        assert!(message.contains("maybe"), "{message}");
        let garbage = parse_response(2, "Listening on 3000")
            .unwrap_err()
            .to_string();
        assert!(
            garbage.contains("line 2") && garbage.contains("Listening on 3000"),
            "{garbage}"
        );
        assert!(check_version(1, PROTOCOL_VERSION).is_ok());
        // `handles` defaults to both.
        assert_eq!(
            parse_response(1, r#"{"type":"ready","protocol":1,"driver":"d"}"#),
            Ok(Response::Ready {
                protocol: 1,
                driver: "d".into(),
                version: None,
                handles: vec![Handles::Write, Handles::Read]
            })
        );
        assert_eq!(
            check_version(1, 2).unwrap_err().to_string(),
            "line 1: the driver speaks protocol 2; this harness speaks 1"
        );
    }

    #[test]
    fn answers_are_compared_as_the_model_sees_them() {
        let mut model = Model::default();
        model.users.insert(
            id("u1"),
            ModelUser {
                email: "a@x".into(),
                display_name: "A".into(),
            },
        );
        model.sessions.insert(
            id("s1"),
            ModelSession {
                campaign: id("c1"),
                user: id("u1"),
                name: "n".into(),
                summary: "s".into(),
                metadata: json!({"level": 3}),
                transcript: "hello".into(),
                shared: true,
            },
        );
        // Extra fields are ignored; a whole float is the same number.
        let user =
            json!({"id": "u1", "email": "a@x", "display_name": "A", "createdAt": "2026-01-01"});
        assert_eq!(
            answer_difference(&model, &Read::User(id("u1")), &user),
            None
        );
        let session = json!({"id": "s1", "campaign_id": "c1", "user_id": "u1", "name": "n",
            "summary": "s", "metadata": {"level": 3.0}, "share_token": "t0k"});
        assert_eq!(
            answer_difference(&model, &Read::Session(id("s1")), &session),
            None
        );
        let list = json!([session]);
        assert_eq!(
            answer_difference(&model, &Read::SessionsOf(id("c1")), &list),
            None
        );
        assert_eq!(
            answer_difference(&model, &Read::User(id("gone")), &Value::Null),
            None
        );

        let unshared = json!({"id": "s1", "campaign_id": "c1", "user_id": "u1", "name": "n",
            "summary": "s", "metadata": {"level": 3}, "share_token": null});
        let differs = answer_difference(&model, &Read::Session(id("s1")), &unshared).unwrap();
        assert!(differs.what.contains(r#""shared":false"#), "{differs:?}");
        assert_eq!(differs.entities, [(EntityKind::Session, "s1".to_owned())]);
        let stale = answer_difference(&model, &Read::Transcript(id("s1")), &json!("hell")).unwrap();
        assert!(stale.what.contains("\"hello\""), "{stale:?}");
        let malformed =
            answer_difference(&model, &Read::User(id("u1")), &json!({"id": "u1"})).unwrap();
        assert_eq!(
            malformed.what,
            r#"the answer is malformed: a user has no field "email""#
        );
        // A list names the elements that differ, not the list's owner.
        let extra = json!({"id": "s2", "campaign_id": "c1", "user_id": "u1", "name": "x",
            "summary": "", "metadata": {}, "share_token": null});
        let listed = answer_difference(
            &model,
            &Read::SessionsOf(id("c1")),
            &json!([unshared, extra]),
        )
        .unwrap();
        assert_eq!(
            listed.entities,
            [
                (EntityKind::Session, "s1".to_owned()),
                (EntityKind::Session, "s2".to_owned())
            ]
        );
        // What the model does not hold, it does not judge.
        assert_eq!(
            answer_difference(&model, &Read::SessionByShareToken("t".into()), &Value::Null),
            None
        );
    }

    fn session_named(campaign: &str, name: &str, metadata: Value) -> ModelSession {
        ModelSession {
            campaign: id(campaign),
            user: id("u1"),
            name: name.into(),
            summary: "a quiet evening".into(),
            metadata,
            transcript: String::new(),
            shared: false,
        }
    }

    #[test]
    fn searches_are_judged_by_the_model_s_search_text() {
        let mut model = Model::default();
        for (session, campaign, name, metadata) in [
            ("s1", "c1", "The DRAGON's Lair", json!({})),
            ("s2", "c1", "Market day", json!({"tags": ["dragon-slayer"]})),
            ("s3", "c1", "Ｄｒａｇｏｎ　hunt", json!({})), // full-width: NFKC folds it
            (
                "s4",
                "c1",
                "Harbour",
                json!({"dragon": "no: keys are not searched"}),
            ),
            ("s5", "c2", "Dragon again", json!({})), // another campaign
        ] {
            model
                .sessions
                .insert(id(session), session_named(campaign, name, metadata));
        }
        let search = |query: &str| Read::SearchSessions {
            campaign: id("c1"),
            query: query.into(),
        };
        let ids = |ids: &[&str]| ids.iter().map(|i| id(i)).collect::<Vec<_>>();
        // s4's metadata value says "no: keys are not searched", not "dragon".
        assert_eq!(
            model.search_sessions(&id("c1"), "Dragon"),
            ids(&["s1", "s2", "s3"])
        );
        assert_eq!(
            model.search_sessions(&id("c1"), "  QUIET   evening "),
            ids(&["s1", "s2", "s3", "s4"])
        );
        assert_eq!(
            model.search_sessions(&id("c1"), ""),
            ids(&["s1", "s2", "s3", "s4"])
        );
        assert_eq!(model.search_sessions(&id("c9"), "dragon"), ids(&[]));

        // A driver's answer is a list of ids, in any order.
        assert_eq!(
            answer_difference(&model, &search("dragon"), &json!(["s3", "s1", "s2"])),
            None
        );
        let wrong =
            answer_difference(&model, &search("dragon"), &json!(["s1", "s2", "s4"])).unwrap();
        assert_eq!(
            wrong.entities,
            [
                (EntityKind::Session, "s3".to_owned()),
                (EntityKind::Session, "s4".to_owned())
            ]
        );
        let malformed = answer_difference(&model, &search("dragon"), &json!("s1")).unwrap();
        assert_eq!(
            malformed.what,
            "the answer is malformed: a search answers a list of session ids, not a string"
        );
    }

    #[test]
    fn every_campaign_is_probed_by_its_owner_with_a_word_its_sessions_hold() {
        let mut model = Model::default();
        for (campaign, user, name) in [("c1", "u1", "First campaign"), ("c2", "u2", "Empty one")] {
            model.campaigns.insert(
                id(campaign),
                crate::model::ModelCampaign {
                    user: id(user),
                    name: name.into(),
                    description: String::new(),
                },
            );
        }
        model.sessions.insert(
            id("s1"),
            session_named("c1", "The Sunken Citadel", json!({})),
        );
        let probes = search_probes(&model);
        assert_eq!(
            probes,
            [
                (
                    id("u1"),
                    Read::SearchSessions {
                        campaign: id("c1"),
                        query: "citadel".into()
                    }
                ),
                (
                    id("u2"),
                    Read::SearchSessions {
                        campaign: id("c2"),
                        query: "empty".into()
                    }
                ),
            ]
        );
        // The probe finds the session it was taken from.
        assert_eq!(model.search_sessions(&id("c1"), "citadel"), [id("s1")]);
    }
}
