//! What the app is asked to do, as data: writes (`Command`) and reads (`Read`,
//! answered by `Answer`). The workload generator produces them, the in-memory
//! model applies them, the dual-write path applies them for real.

use crate::domain::{Campaign, Session, Summary, User};
use crate::keys::{EntityKind, Id};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    CreateUser {
        user: Id,
        email: String,
        display_name: String,
    },
    UpdateUser {
        user: Id,
        email: Option<String>,
        display_name: Option<String>,
    },
    DeleteUser {
        user: Id,
    },
    CreateCampaign {
        campaign: Id,
        user: Id,
        name: String,
        description: String,
    },
    UpdateCampaign {
        campaign: Id,
        name: Option<String>,
        description: Option<String>,
    },
    DeleteCampaign {
        campaign: Id,
    },
    CreateSession {
        session: Id,
        campaign: Id,
        name: String,
        summary: String,
        metadata: serde_json::Value,
        transcript: String,
    },
    UpdateSession {
        session: Id,
        name: Option<String>,
        summary: Option<String>,
        metadata: Option<serde_json::Value>,
        transcript: Option<String>,
    },
    DeleteSession {
        session: Id,
    },
    /// Gives the session a new random share token (replacing any old one).
    ShareSession {
        session: Id,
    },
    UnshareSession {
        session: Id,
    },
    CreateSummary {
        summary: Id,
        session: Id,
        kind: String,
        body: String,
    },
    UpdateSummary {
        summary: Id,
        body: String,
    },
    DeleteSummary {
        summary: Id,
    },
}

impl Command {
    /// The entity the command is about.
    pub fn target(&self) -> (EntityKind, &Id) {
        use Command::*;
        match self {
            CreateUser { user, .. } | UpdateUser { user, .. } | DeleteUser { user } => {
                (EntityKind::User, user)
            }
            CreateCampaign { campaign, .. }
            | UpdateCampaign { campaign, .. }
            | DeleteCampaign { campaign } => (EntityKind::Campaign, campaign),
            CreateSession { session, .. }
            | UpdateSession { session, .. }
            | DeleteSession { session }
            | ShareSession { session }
            | UnshareSession { session } => (EntityKind::Session, session),
            CreateSummary { summary, .. }
            | UpdateSummary { summary, .. }
            | DeleteSummary { summary } => (EntityKind::Summary, summary),
        }
    }
}

/// A field a write is refused for before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidField {
    fn nul(field: &'static str, holder: &str) -> InvalidField {
        InvalidField {
            field,
            reason: format!("contains a NUL character, which {holder} cannot hold"),
        }
    }
}

impl Command {
    /// What a write may hold, stated once: the store refuses a command that
    /// breaks a rule before it writes anything, and the model refuses the
    /// same one. Text holds no NUL (PostgreSQL text cannot); metadata is a
    /// JSON object with no NUL in any key or string (JSONB cannot). Returns
    /// the first field, in the command's order, that breaks one.
    pub fn check(&self) -> Result<(), InvalidField> {
        for (field, text) in self.texts() {
            if text.contains('\0') {
                return Err(InvalidField::nul(field, "PostgreSQL text"));
            }
        }
        let Some(metadata) = self.metadata() else {
            return Ok(());
        };
        if !metadata.is_object() {
            return Err(InvalidField {
                field: "metadata",
                reason: format!("must be a JSON object, got {metadata}"),
            });
        }
        if holds_nul(metadata) {
            return Err(InvalidField::nul("metadata", "JSONB"));
        }
        Ok(())
    }

    /// The text fields the command sets, by name.
    fn texts(&self) -> Vec<(&'static str, &str)> {
        use Command::*;
        let fields: Vec<(&'static str, Option<&String>)> = match self {
            CreateUser {
                email,
                display_name,
                ..
            } => vec![("email", Some(email)), ("display_name", Some(display_name))],
            UpdateUser {
                email,
                display_name,
                ..
            } => vec![
                ("email", email.as_ref()),
                ("display_name", display_name.as_ref()),
            ],
            CreateCampaign {
                name, description, ..
            } => vec![("name", Some(name)), ("description", Some(description))],
            UpdateCampaign {
                name, description, ..
            } => vec![
                ("name", name.as_ref()),
                ("description", description.as_ref()),
            ],
            CreateSession {
                name,
                summary,
                transcript,
                ..
            } => vec![
                ("name", Some(name)),
                ("summary", Some(summary)),
                ("transcript", Some(transcript)),
            ],
            UpdateSession {
                name,
                summary,
                transcript,
                ..
            } => vec![
                ("name", name.as_ref()),
                ("summary", summary.as_ref()),
                ("transcript", transcript.as_ref()),
            ],
            CreateSummary { kind, body, .. } => vec![("kind", Some(kind)), ("body", Some(body))],
            UpdateSummary { body, .. } => vec![("body", Some(body))],
            DeleteUser { .. }
            | DeleteCampaign { .. }
            | DeleteSession { .. }
            | ShareSession { .. }
            | UnshareSession { .. }
            | DeleteSummary { .. } => Vec::new(),
        };
        fields
            .into_iter()
            .filter_map(|(field, text)| Some((field, text?.as_str())))
            .collect()
    }

    /// The metadata the command sets.
    fn metadata(&self) -> Option<&serde_json::Value> {
        match self {
            Command::CreateSession { metadata, .. } => Some(metadata),
            Command::UpdateSession { metadata, .. } => metadata.as_ref(),
            _ => None,
        }
    }
}

/// Whether any string or key of `value` holds U+0000. (Searching the
/// serialized text for `\u0000` would also refuse the six characters a user
/// typed as `\u0000`; the hostile-input test found that.)
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(values) => values.iter().any(holds_nul),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, v)| key.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// An entity a committed write touched, and so an outbox record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Change {
    pub kind: EntityKind,
    pub id: Id,
}

/// What a committed write did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Every entity changed, cascades included, in the order they were recorded.
    pub changes: Vec<Change>,
    /// The new token of a `ShareSession`.
    pub share_token: Option<String>,
}

/// One read request of the app.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "read", content = "arg", rename_all = "snake_case")]
pub enum Read {
    User(Id),
    CampaignsOf(Id),
    Campaign(Id),
    SessionsOf(Id),
    Session(Id),
    SummariesOf(Id),
    SessionByShareToken(String),
    Transcript(Id),
    /// Sessions of a campaign whose search copy contains the normalized query
    /// (a case-insensitive substring search).
    SearchSessions {
        campaign: Id,
        query: String,
    },
}

/// What a read names, which decides who may ask it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A user's own profile or campaign list.
    User(&'a Id),
    /// A campaign, its sessions, or a search in it.
    Campaign(&'a Id),
    /// A session, its summaries, or its transcript.
    Session(&'a Id),
    /// Whoever holds a share token may open the session it names.
    ShareLink,
}

impl Read {
    pub fn subject(&self) -> Subject<'_> {
        match self {
            Read::User(user) | Read::CampaignsOf(user) => Subject::User(user),
            Read::Campaign(campaign)
            | Read::SessionsOf(campaign)
            | Read::SearchSessions { campaign, .. } => Subject::Campaign(campaign),
            Read::Session(session) | Read::SummariesOf(session) | Read::Transcript(session) => {
                Subject::Session(session)
            }
            Read::SessionByShareToken(_) => Subject::ShareLink,
        }
    }

    /// The answer when there is nothing to return: what a missing entity
    /// gets, and what a requester gets for someone else's (so a foreign id
    /// reads exactly like one that does not exist).
    pub fn empty_answer(&self) -> Answer {
        match self {
            Read::User(_) => Answer::User(None),
            Read::CampaignsOf(_) => Answer::Campaigns(Vec::new()),
            Read::Campaign(_) => Answer::Campaign(None),
            Read::SessionsOf(_) => Answer::Sessions(Vec::new()),
            Read::Session(_) | Read::SessionByShareToken(_) => Answer::Session(None),
            Read::SummariesOf(_) => Answer::Summaries(Vec::new()),
            Read::Transcript(_) => Answer::Transcript(None),
            Read::SearchSessions { .. } => Answer::SessionIds(Vec::new()),
        }
    }
}

/// The answer to a [`Read`].
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    User(Option<User>),
    Campaigns(Vec<Campaign>),
    Campaign(Option<Campaign>),
    Sessions(Vec<Session>),
    Session(Option<Session>),
    Summaries(Vec<Summary>),
    Transcript(Option<String>),
    /// Session ids, sorted.
    SessionIds(Vec<Id>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_read_names_what_decides_who_may_ask_it() {
        let id = |text: &str| Id::parse(text).unwrap();
        let (u, c, s) = (id("u1"), id("c1"), id("s1"));
        let search = Read::SearchSessions {
            campaign: c.clone(),
            query: "dragon".into(),
        };
        assert_eq!(Read::CampaignsOf(u.clone()).subject(), Subject::User(&u));
        assert_eq!(search.subject(), Subject::Campaign(&c));
        assert_eq!(Read::Transcript(s.clone()).subject(), Subject::Session(&s));
        assert_eq!(
            Read::SessionByShareToken("t".into()).subject(),
            Subject::ShareLink
        );
        assert_eq!(search.empty_answer(), Answer::SessionIds(Vec::new()));
        assert_eq!(Read::Transcript(s).empty_answer(), Answer::Transcript(None));
    }

    #[test]
    fn the_write_rules_name_the_first_field_that_breaks_one() {
        let id = |text: &str| Id::parse(text).unwrap();
        let session = |name: &str, metadata: serde_json::Value| Command::CreateSession {
            session: id("s1"),
            campaign: id("c1"),
            name: name.into(),
            summary: "fine".into(),
            metadata,
            transcript: "a\0b".into(),
        };
        let refused = |command: &Command| command.check().err().map(|e| e.field);
        // Texts in the command's order, then metadata.
        assert_eq!(refused(&session("n\0", json!({}))), Some("name"));
        assert_eq!(refused(&session("n", json!({}))), Some("transcript"));
        let ok_texts = |metadata| Command::UpdateSession {
            session: id("s1"),
            name: Some("n".into()),
            summary: None,
            metadata: Some(metadata),
            transcript: None,
        };
        assert_eq!(refused(&ok_texts(json!({"a": 1}))), None);
        assert_eq!(refused(&ok_texts(json!([1]))), Some("metadata"));
        assert_eq!(refused(&ok_texts(json!({"k\0": 1}))), Some("metadata"));
        assert_eq!(refused(&ok_texts(json!({"k": ["x\0"]}))), Some("metadata"));
        // The six characters `\u0000` typed by a user are text, not a NUL.
        assert_eq!(refused(&ok_texts(json!({"k": "\\u0000"}))), None);
        // Fields a command leaves alone are not checked, and deletes hold none.
        let update = Command::UpdateUser {
            user: id("u1"),
            email: None,
            display_name: Some("d\0".into()),
        };
        let error = update.check().unwrap_err();
        assert_eq!(error.field, "display_name");
        assert!(error.reason.contains("NUL"), "{error}");
        assert_eq!(refused(&Command::DeleteUser { user: id("u1") }), None);
    }
}
