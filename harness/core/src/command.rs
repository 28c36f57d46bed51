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
}
