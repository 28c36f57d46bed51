//! An in-memory model of the campaign app: what PostgreSQL should hold after a
//! sequence of commands, with the same refusals (missing parent, duplicate id,
//! missing entity) and the same cascades. The model-based test drives the real
//! dual-write path and this model with the same commands and compares them.

use std::collections::BTreeMap;

use crate::command::{Change, Command, InvalidField};
use crate::domain::canonical_json;
use crate::keys::{EntityKind, Id};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound {
        kind: EntityKind,
        id: Id,
    },
    AlreadyExists {
        kind: EntityKind,
        id: Id,
    },
    /// The command breaks a write rule (`Command::check`).
    Invalid(InvalidField),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelUser {
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelCampaign {
    pub user: Id,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSession {
    pub campaign: Id,
    pub user: Id,
    pub name: String,
    pub summary: String,
    pub metadata: serde_json::Value,
    pub transcript: String,
    /// Whether a share token is set (its value is random, so only its presence is modelled).
    pub shared: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    pub session: Id,
    pub user: Id,
    pub kind: String,
    pub body: String,
}

/// The logical content of the app, without versions, timestamps or token values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub users: BTreeMap<Id, ModelUser>,
    pub campaigns: BTreeMap<Id, ModelCampaign>,
    pub sessions: BTreeMap<Id, ModelSession>,
    pub summaries: BTreeMap<Id, ModelSummary>,
}

fn not_found(kind: EntityKind, id: &Id) -> Refusal {
    Refusal::NotFound {
        kind,
        id: id.clone(),
    }
}

fn exists(kind: EntityKind, id: &Id) -> Refusal {
    Refusal::AlreadyExists {
        kind,
        id: id.clone(),
    }
}

impl Model {
    /// Applies `command` as the app would, or says why the app refuses it.
    /// Returns every entity it wrote or deleted: its target, then what a
    /// delete cascaded to (parents before children).
    pub fn apply(&mut self, command: &Command) -> Result<Vec<Change>, Refusal> {
        command.check().map_err(Refusal::Invalid)?;
        let (kind, id) = command.target();
        let mut touched = vec![Change {
            kind,
            id: id.clone(),
        }];
        match command {
            Command::CreateUser {
                user,
                email,
                display_name,
            } => {
                if self.users.contains_key(user) {
                    return Err(exists(EntityKind::User, user));
                }
                self.users.insert(
                    user.clone(),
                    ModelUser {
                        email: email.clone(),
                        display_name: display_name.clone(),
                    },
                );
            }
            Command::UpdateUser {
                user,
                email,
                display_name,
            } => {
                let found = self
                    .users
                    .get_mut(user)
                    .ok_or_else(|| not_found(EntityKind::User, user))?;
                if let Some(email) = email {
                    found.email = email.clone();
                }
                if let Some(name) = display_name {
                    found.display_name = name.clone();
                }
            }
            Command::DeleteUser { user } => {
                if !self.users.contains_key(user) {
                    return Err(not_found(EntityKind::User, user));
                }
                touched = self.remove_cascade(command);
            }
            Command::CreateCampaign {
                campaign,
                user,
                name,
                description,
            } => {
                if self.campaigns.contains_key(campaign) {
                    return Err(exists(EntityKind::Campaign, campaign));
                }
                if !self.users.contains_key(user) {
                    return Err(not_found(EntityKind::User, user));
                }
                self.campaigns.insert(
                    campaign.clone(),
                    ModelCampaign {
                        user: user.clone(),
                        name: name.clone(),
                        description: description.clone(),
                    },
                );
            }
            Command::UpdateCampaign {
                campaign,
                name,
                description,
            } => {
                let found = self
                    .campaigns
                    .get_mut(campaign)
                    .ok_or_else(|| not_found(EntityKind::Campaign, campaign))?;
                if let Some(name) = name {
                    found.name = name.clone();
                }
                if let Some(description) = description {
                    found.description = description.clone();
                }
            }
            Command::DeleteCampaign { campaign } => {
                if !self.campaigns.contains_key(campaign) {
                    return Err(not_found(EntityKind::Campaign, campaign));
                }
                touched = self.remove_cascade(command);
            }
            Command::CreateSession {
                session,
                campaign,
                name,
                summary,
                metadata,
                transcript,
            } => {
                if self.sessions.contains_key(session) {
                    return Err(exists(EntityKind::Session, session));
                }
                let parent = self
                    .campaigns
                    .get(campaign)
                    .ok_or_else(|| not_found(EntityKind::Campaign, campaign))?;
                self.sessions.insert(
                    session.clone(),
                    ModelSession {
                        campaign: campaign.clone(),
                        user: parent.user.clone(),
                        name: name.clone(),
                        summary: summary.clone(),
                        metadata: canonical_json(metadata.clone()),
                        transcript: transcript.clone(),
                        shared: false,
                    },
                );
            }
            Command::UpdateSession {
                session,
                name,
                summary,
                metadata,
                transcript,
            } => {
                let found = self
                    .sessions
                    .get_mut(session)
                    .ok_or_else(|| not_found(EntityKind::Session, session))?;
                if let Some(name) = name {
                    found.name = name.clone();
                }
                if let Some(summary) = summary {
                    found.summary = summary.clone();
                }
                if let Some(metadata) = metadata {
                    found.metadata = canonical_json(metadata.clone());
                }
                if let Some(transcript) = transcript {
                    found.transcript = transcript.clone();
                }
            }
            Command::DeleteSession { session } => {
                if !self.sessions.contains_key(session) {
                    return Err(not_found(EntityKind::Session, session));
                }
                touched = self.remove_cascade(command);
            }
            Command::ShareSession { session } | Command::UnshareSession { session } => {
                let found = self
                    .sessions
                    .get_mut(session)
                    .ok_or_else(|| not_found(EntityKind::Session, session))?;
                found.shared = matches!(command, Command::ShareSession { .. });
            }
            Command::CreateSummary {
                summary,
                session,
                kind,
                body,
            } => {
                if self.summaries.contains_key(summary) {
                    return Err(exists(EntityKind::Summary, summary));
                }
                let parent = self
                    .sessions
                    .get(session)
                    .ok_or_else(|| not_found(EntityKind::Session, session))?;
                self.summaries.insert(
                    summary.clone(),
                    ModelSummary {
                        session: session.clone(),
                        user: parent.user.clone(),
                        kind: kind.clone(),
                        body: body.clone(),
                    },
                );
            }
            Command::UpdateSummary { summary, body } => {
                let found = self
                    .summaries
                    .get_mut(summary)
                    .ok_or_else(|| not_found(EntityKind::Summary, summary))?;
                found.body = body.clone();
            }
            Command::DeleteSummary { summary } => {
                self.summaries
                    .remove(summary)
                    .ok_or_else(|| not_found(EntityKind::Summary, summary))?;
            }
        }
        Ok(touched)
    }

    /// What `command` touches if applied now: its target and, for a delete,
    /// everything under it — parents before children, each campaign's
    /// sessions and each session's summaries in id order. `apply` returns
    /// exactly this list; a caller that needs the entities' state before the
    /// command (the throughput benchmark) reads it first.
    pub fn cascade(&self, command: &Command) -> Vec<Change> {
        let (kind, id) = command.target();
        let mut touched = Vec::new();
        match command {
            Command::DeleteUser { user } => {
                touched.push(Change {
                    kind,
                    id: id.clone(),
                });
                for (campaign, _) in self.campaigns.iter().filter(|(_, c)| &c.user == user) {
                    self.campaign_cascade(campaign, &mut touched);
                }
            }
            Command::DeleteCampaign { campaign } => self.campaign_cascade(campaign, &mut touched),
            Command::DeleteSession { session } => self.session_cascade(session, &mut touched),
            _ => touched.push(Change {
                kind,
                id: id.clone(),
            }),
        }
        touched
    }

    fn campaign_cascade(&self, campaign: &Id, touched: &mut Vec<Change>) {
        touched.push(Change {
            kind: EntityKind::Campaign,
            id: campaign.clone(),
        });
        for (session, _) in self
            .sessions
            .iter()
            .filter(|(_, s)| &s.campaign == campaign)
        {
            self.session_cascade(session, touched);
        }
    }

    fn session_cascade(&self, session: &Id, touched: &mut Vec<Change>) {
        touched.push(Change {
            kind: EntityKind::Session,
            id: session.clone(),
        });
        touched.extend(
            self.summaries
                .iter()
                .filter(|(_, summary)| &summary.session == session)
                .map(|(id, _)| Change {
                    kind: EntityKind::Summary,
                    id: id.clone(),
                }),
        );
    }

    /// Removes what a delete cascades to, and says what that was.
    fn remove_cascade(&mut self, command: &Command) -> Vec<Change> {
        let touched = self.cascade(command);
        for change in &touched {
            let id = &change.id;
            let removed = match change.kind {
                EntityKind::User => self.users.remove(id).is_some(),
                EntityKind::Campaign => self.campaigns.remove(id).is_some(),
                EntityKind::Session => self.sessions.remove(id).is_some(),
                EntityKind::Summary => self.summaries.remove(id).is_some(),
            };
            debug_assert!(removed, "the cascade names only what exists");
        }
        touched
    }
}

/// An entity two models disagree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: EntityKind,
    pub id: Id,
    /// `missing`, `not expected`, or `expected …, found …`.
    pub what: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.kind.name(), self.id, self.what)
    }
}

/// Entities two models disagree on: what `expected` holds and `actual`
/// lacks, what `actual` holds beyond it, and what differs.
fn differences_in<T: PartialEq + std::fmt::Debug>(
    kind: EntityKind,
    expected: &BTreeMap<Id, T>,
    actual: &BTreeMap<Id, T>,
    out: &mut Vec<Difference>,
) {
    let mut push = |id: &Id, what: String| {
        out.push(Difference {
            kind,
            id: id.clone(),
            what,
        })
    };
    for (id, want) in expected {
        match actual.get(id) {
            None => push(id, "missing".into()),
            Some(have) if have != want => push(id, format!("expected {want:?}, found {have:?}")),
            Some(_) => {}
        }
    }
    for id in actual.keys().filter(|id| !expected.contains_key(*id)) {
        push(id, "not expected".into());
    }
}

impl ModelSession {
    /// The session's search text, as the app stores it beside the session.
    pub fn search_text(&self) -> String {
        crate::domain::session_search_text(&self.name, &self.summary, &self.metadata)
    }
}

impl Model {
    /// The app's keyword search: the ids, in order, of `campaign`'s sessions
    /// whose search text contains the normalized `query` (an empty query
    /// matches every session), as PostgreSQL's `strpos` and DynamoDB's
    /// `contains` FilterExpression both answer it.
    pub fn search_sessions(&self, campaign: &Id, query: &str) -> Vec<Id> {
        let needle = crate::normalize::normalize(query);
        self.sessions
            .iter()
            .filter(|(_, session)| &session.campaign == campaign)
            .filter(|(_, session)| session.search_text().contains(&needle))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

impl Model {
    /// Every entity `actual` holds differently from `self` (empty when equal).
    pub fn differing(&self, actual: &Model) -> Vec<Difference> {
        let mut out = Vec::new();
        differences_in(EntityKind::User, &self.users, &actual.users, &mut out);
        differences_in(
            EntityKind::Campaign,
            &self.campaigns,
            &actual.campaigns,
            &mut out,
        );
        differences_in(
            EntityKind::Session,
            &self.sessions,
            &actual.sessions,
            &mut out,
        );
        differences_in(
            EntityKind::Summary,
            &self.summaries,
            &actual.summaries,
            &mut out,
        );
        out
    }

    /// [`Model::differing`], one line each.
    pub fn differences(&self, actual: &Model) -> Vec<String> {
        self.differing(actual)
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_missing_extra_and_changed_entities() {
        let user = |email: &str| ModelUser {
            email: email.into(),
            display_name: "u".into(),
        };
        let mut expected = Model::default();
        expected.users.insert(id("a"), user("a@x"));
        expected.users.insert(id("b"), user("b@x"));
        let mut actual = Model::default();
        actual.users.insert(id("a"), user("changed@x"));
        actual.users.insert(id("c"), user("c@x"));
        let found = expected.differences(&actual);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("user a: expected"), "{found:?}");
        assert_eq!(found[1], "user b: missing");
        assert_eq!(found[2], "user c: not expected");
        assert!(expected.differences(&expected.clone()).is_empty());
    }

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    #[test]
    fn deletes_cascade_and_refusals_match_the_app() {
        let mut model = Model::default();
        model
            .apply(&Command::CreateUser {
                user: id("u"),
                email: "e".into(),
                display_name: "d".into(),
            })
            .unwrap();
        assert_eq!(
            model.apply(&Command::CreateCampaign {
                campaign: id("c"),
                user: id("x"),
                name: "n".into(),
                description: "d".into()
            }),
            Err(Refusal::NotFound {
                kind: EntityKind::User,
                id: id("x")
            })
        );
        model
            .apply(&Command::CreateCampaign {
                campaign: id("c"),
                user: id("u"),
                name: "n".into(),
                description: "d".into(),
            })
            .unwrap();
        model
            .apply(&Command::CreateSession {
                session: id("s"),
                campaign: id("c"),
                name: "n".into(),
                summary: "s".into(),
                metadata: serde_json::json!({"x": 1.0}),
                transcript: "t".into(),
            })
            .unwrap();
        assert_eq!(
            model.sessions[&id("s")].metadata,
            serde_json::json!({"x": 1})
        );
        model
            .apply(&Command::CreateSummary {
                summary: id("m"),
                session: id("s"),
                kind: "k".into(),
                body: "b".into(),
            })
            .unwrap();
        assert_eq!(
            model.apply(&Command::CreateUser {
                user: id("u"),
                email: "e".into(),
                display_name: "d".into()
            }),
            Err(Refusal::AlreadyExists {
                kind: EntityKind::User,
                id: id("u")
            })
        );
        // The write rules are the store's (`Command::check`): refused, nothing changed.
        let before = model.clone();
        let refused = model.apply(&Command::UpdateSummary {
            summary: id("m"),
            body: "b\0".into(),
        });
        assert!(
            matches!(&refused, Err(Refusal::Invalid(invalid)) if invalid.field == "body"),
            "{refused:?}"
        );
        assert_eq!(model, before);
        let delete = Command::DeleteUser { user: id("u") };
        let predicted = model.cascade(&delete);
        let touched = model.apply(&delete).unwrap();
        assert_eq!(
            predicted, touched,
            "cascade says beforehand what apply touches"
        );
        let change = |kind, text: &str| Change { kind, id: id(text) };
        assert_eq!(
            touched,
            vec![
                change(EntityKind::User, "u"),
                change(EntityKind::Campaign, "c"),
                change(EntityKind::Session, "s"),
                change(EntityKind::Summary, "m"),
            ],
            "a delete touches what it cascades to, parents first"
        );
        assert_eq!(model, Model::default());
    }
}
