//! The answers a read may get while writes are still on their way to a
//! store. In a run with faults an app may legitimately serve a read from
//! DynamoDB while its relay catches up, so no single answer is the right
//! one. What is right is bounded, as Jepsen/Elle-style checkers bound it:
//! each entity an answer shows must be one of the versions that entity has
//! had since the stores were last seen settled (every write drained, parity
//! judged), and an entity that existed, unchanged in what the read asks,
//! throughout that window must be shown. An answer older than the window,
//! one no write ever produced (a search copy built by the wrong
//! normalization, a field mangled on the way), or an entity deleted before
//! the window opened is wrong.
//!
//! [`Window`] keeps the versions, fed with every write in dispatch order;
//! [`Window::allowed`] turns them into what a read may answer ([`Allowed`]),
//! and [`Allowed::difference`] judges an answer. With no version recorded
//! (a run without faults never records one) the only answer allowed is the
//! model's own, judged exactly as [`crate::driver::compare_answer`] judges.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::command::{Change, Command, Read};
use crate::driver::{
    self, AnswerDifference, campaign_value, session_value, summary_value, user_value,
};
use crate::keys::{EntityKind, Id};
use crate::model::{Model, ModelCampaign, ModelSession, ModelSummary, ModelUser, Refusal};
use crate::normalize::normalize;

/// Every version of each entity written since the window opened: the state
/// before its first write in the window, then the state after each (`None`:
/// absent). An entity not written since holds only its current state.
#[derive(Debug, Default, Clone)]
pub struct Window {
    users: BTreeMap<Id, Vec<Option<ModelUser>>>,
    campaigns: BTreeMap<Id, Vec<Option<ModelCampaign>>>,
    sessions: BTreeMap<Id, Vec<Option<ModelSession>>>,
    summaries: BTreeMap<Id, Vec<Option<ModelSummary>>>,
}

impl Window {
    /// Applies `command` to `model` and records every version it makes.
    /// A refused command leaves both as they were.
    pub fn apply(&mut self, model: &mut Model, command: &Command) -> Result<Vec<Change>, Refusal> {
        let before: Vec<(Change, Version)> = model
            .cascade(command)
            .into_iter()
            .filter(|change| !self.holds(change))
            .map(|change| {
                let version = Version::of(model, &change);
                (change, version)
            })
            .collect();
        let touched = model.apply(command)?;
        for (change, version) in before {
            self.open(&change.id, version);
        }
        for change in &touched {
            let version = Version::of(model, change);
            self.push(&change.id, version);
        }
        Ok(touched)
    }

    /// The stores were seen settled: only the current versions are allowed
    /// from now on.
    pub fn close(&mut self) {
        *self = Window::default();
    }

    /// How many entities have more than their current version.
    pub fn open_entities(&self) -> usize {
        self.users.len() + self.campaigns.len() + self.sessions.len() + self.summaries.len()
    }

    fn holds(&self, change: &Change) -> bool {
        match change.kind {
            EntityKind::User => self.users.contains_key(&change.id),
            EntityKind::Campaign => self.campaigns.contains_key(&change.id),
            EntityKind::Session => self.sessions.contains_key(&change.id),
            EntityKind::Summary => self.summaries.contains_key(&change.id),
        }
    }

    fn open(&mut self, id: &Id, version: Version) {
        let id = id.clone();
        match version {
            Version::User(v) => drop(self.users.insert(id, vec![v])),
            Version::Campaign(v) => drop(self.campaigns.insert(id, vec![v])),
            Version::Session(v) => drop(self.sessions.insert(id, vec![v])),
            Version::Summary(v) => drop(self.summaries.insert(id, vec![v])),
        }
    }

    fn push(&mut self, id: &Id, version: Version) {
        let id = id.clone();
        match version {
            Version::User(v) => self.users.entry(id).or_default().push(v),
            Version::Campaign(v) => self.campaigns.entry(id).or_default().push(v),
            Version::Session(v) => self.sessions.entry(id).or_default().push(v),
            Version::Summary(v) => self.summaries.entry(id).or_default().push(v),
        }
    }

    /// What a read of `read` may answer now, the model holding the current
    /// versions; `None` when the model cannot say (a share token's value).
    /// Exact where nothing the read covers was written in the window.
    pub fn allowed(&self, model: &Model, read: &Read) -> Option<Allowed> {
        let exact = || driver::expected_answer(model, read).map(Allowed::Exact);
        let allowed = match read {
            Read::User(id) => self.users.get(id).map(|versions| {
                any_of(
                    versions
                        .iter()
                        .map(|v| v.as_ref().map(|u| user_value(id, u))),
                )
            }),
            Read::Campaign(id) => self.campaigns.get(id).map(|versions| {
                any_of(
                    versions
                        .iter()
                        .map(|v| v.as_ref().map(|c| campaign_value(id, c))),
                )
            }),
            Read::Session(id) => self.sessions.get(id).map(|versions| {
                any_of(
                    versions
                        .iter()
                        .map(|v| v.as_ref().map(|s| session_value(id, s))),
                )
            }),
            Read::Transcript(id) => self.sessions.get(id).map(|versions| {
                any_of(versions.iter().map(|v| {
                    v.as_ref()
                        .map(|session| Value::String(session.transcript.clone()))
                }))
            }),
            Read::CampaignsOf(owner) => members(
                &model.campaigns,
                &self.campaigns,
                |c| &c.user == owner,
                campaign_value,
            ),
            Read::SessionsOf(parent) => members(
                &model.sessions,
                &self.sessions,
                |s| &s.campaign == parent,
                session_value,
            ),
            Read::SummariesOf(parent) => members(
                &model.summaries,
                &self.summaries,
                |s| &s.session == parent,
                summary_value,
            ),
            Read::SearchSessions { campaign, query } => {
                let needle = normalize(query);
                members(
                    &model.sessions,
                    &self.sessions,
                    |s| &s.campaign == campaign && s.search_text().contains(&needle),
                    |id, _| Value::String(id.to_string()),
                )
            }
            Read::SessionByShareToken(_) => return None,
        };
        allowed.or_else(exact)
    }

    /// What opening a share link to `session` may answer now: a version of
    /// the session while it was shared, or nothing if at some point in the
    /// window it was not (unshared, deleted, or not yet shared). A revoked
    /// link's session may still open while the unshare is on its way.
    pub fn allowed_share_link(&self, model: &Model, session: &Id, revoked: bool) -> Allowed {
        let current = [model.sessions.get(session).cloned()];
        let versions = self
            .sessions
            .get(session)
            .map_or(&current[..], Vec::as_slice);
        let opens = |v: &Option<ModelSession>| v.as_ref().is_some_and(|s| s.shared);
        let mut answers: Vec<Value> = Vec::new();
        for version in versions {
            let answer = match version {
                Some(found) if opens(version) && (!revoked || versions.len() > 1) => {
                    session_value(session, found)
                }
                _ => Value::Null,
            };
            if !answers.contains(&answer) {
                answers.push(answer);
            }
        }
        if revoked && !answers.contains(&Value::Null) {
            answers.push(Value::Null);
        }
        match answers.len() {
            1 => Allowed::Exact(answers.remove(0)),
            _ => Allowed::AnyOf(answers),
        }
    }
}

/// One entity's state, before or after a write.
enum Version {
    User(Option<ModelUser>),
    Campaign(Option<ModelCampaign>),
    Session(Option<ModelSession>),
    Summary(Option<ModelSummary>),
}

impl Version {
    fn of(model: &Model, change: &Change) -> Version {
        let id = &change.id;
        match change.kind {
            EntityKind::User => Version::User(model.users.get(id).cloned()),
            EntityKind::Campaign => Version::Campaign(model.campaigns.get(id).cloned()),
            EntityKind::Session => Version::Session(model.sessions.get(id).cloned()),
            EntityKind::Summary => Version::Summary(model.summaries.get(id).cloned()),
        }
    }
}

/// The distinct answers `versions` give (`None`: the entity absent).
fn any_of(versions: impl Iterator<Item = Option<Value>>) -> Allowed {
    let mut answers = Vec::new();
    for answer in versions.map(|v| v.unwrap_or(Value::Null)) {
        if !answers.contains(&answer) {
            answers.push(answer);
        }
    }
    Allowed::AnyOf(answers)
}

/// A list read's members: every entity that `belongs` in some version, with
/// the values it may be shown as; required when it belongs in every version.
/// `None` when nothing in the list was written in the window (exact).
fn members<T>(
    current: &BTreeMap<Id, T>,
    window: &BTreeMap<Id, Vec<Option<T>>>,
    belongs: impl Fn(&T) -> bool,
    value: impl Fn(&Id, &T) -> Value,
) -> Option<Allowed> {
    let mut members = BTreeMap::new();
    let mut written = false;
    for (id, versions) in window {
        let values: Vec<Value> = versions
            .iter()
            .flatten()
            .filter(|v| belongs(v))
            .map(|v| value(id, v))
            .collect();
        if values.is_empty() {
            continue;
        }
        written = true;
        let required = versions.iter().all(|v| v.as_ref().is_some_and(&belongs));
        members.insert(id.to_string(), Member::new(values, required));
    }
    if !written {
        return None;
    }
    for (id, entity) in current {
        if !window.contains_key(id) && belongs(entity) {
            members.insert(id.to_string(), Member::new(vec![value(id, entity)], true));
        }
    }
    Some(Allowed::Members(members))
}

/// What a read may answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// Only this answer (projected): nothing it covers was written in the window.
    Exact(Value),
    /// Any one of these: an entity's versions in the window (`null`: absent).
    AnyOf(Vec<Value>),
    /// A list or a search: each element shown must be one its entity's
    /// versions allows, none twice; the required ones must all be shown.
    Members(BTreeMap<String, Member>),
}

/// One entity a list or search may show.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// How it may be shown (a search shows its id).
    pub values: Vec<Value>,
    /// Shown in every version of the window: the answer must show it.
    pub required: bool,
}

impl Member {
    fn new(mut values: Vec<Value>, required: bool) -> Member {
        values.dedup();
        Member { values, required }
    }
}

impl Allowed {
    /// Whether "nothing" (no entity, an empty list) is an allowed answer.
    pub fn allows_nothing(&self) -> bool {
        let nothing = |answer: &Value| match answer {
            Value::Null => true,
            Value::Array(values) => values.is_empty(),
            _ => false,
        };
        match self {
            Allowed::Exact(answer) => nothing(answer),
            Allowed::AnyOf(answers) => answers.iter().any(nothing),
            Allowed::Members(members) => members.values().all(|m| !m.required),
        }
    }

    /// The allowed answers in words, for a finding (cut to `limit` chars).
    pub fn describe(&self, limit: usize) -> String {
        let text = match self {
            Allowed::Exact(answer) => answer.to_string(),
            Allowed::AnyOf(answers) => format!(
                "one of {}",
                answers
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            Allowed::Members(members) => {
                let required: Vec<&str> = members
                    .iter()
                    .filter(|(_, m)| m.required)
                    .map(|(id, _)| id.as_str())
                    .collect();
                let optional: Vec<&str> = members
                    .iter()
                    .filter(|(_, m)| !m.required)
                    .map(|(id, _)| id.as_str())
                    .collect();
                format!("{required:?}, and any of {optional:?}")
            }
        };
        text.chars().take(limit).collect()
    }

    /// Where `answer` (the driver's, unprojected) to `read` falls outside
    /// what is allowed, or `None` when it is one of the allowed answers.
    pub fn difference(&self, read: &Read, answer: &Value) -> Option<AnswerDifference> {
        let members = match self {
            Allowed::Exact(expected) => return driver::compare_answer(read, expected, answer),
            Allowed::AnyOf(answers) if answers.len() == 1 => {
                return driver::compare_answer(read, &answers[0], answer);
            }
            Allowed::AnyOf(answers) => {
                let found = match driver::project_answer(read, answer) {
                    Ok(found) => found,
                    // Malformed whatever was expected: said as such.
                    Err(_) => return driver::compare_answer(read, &answers[0], answer),
                };
                if answers.contains(&found) {
                    return None;
                }
                let versions: Vec<String> = answers.iter().map(Value::to_string).collect();
                return Some(AnswerDifference {
                    what: format!(
                        "the driver answered {found}, which it never was since the stores last settled (its versions since: {})",
                        versions.join(" | ")
                    ),
                    entities: subject_entities(read, answers),
                });
            }
            Allowed::Members(members) => members,
        };
        let found = match driver::project_answer(read, answer) {
            Ok(Value::Array(found)) => found,
            Ok(_) => unreachable!("a list read projects to a list"),
            Err(shape) => {
                return Some(AnswerDifference {
                    what: format!("the answer is malformed: {shape}"),
                    entities: Vec::new(),
                });
            }
        };
        let kind = member_kind(read);
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for element in &found {
            let id = element
                .as_str()
                .or_else(|| element["id"].as_str())
                .unwrap_or_default()
                .to_owned();
            if !seen.insert(id.clone()) {
                problems.push((id, "shown twice".to_owned()));
                continue;
            }
            match members.get(&id) {
                None => problems.push((id, "never in it since the stores last settled".into())),
                Some(member) if !member.values.contains(element) => problems.push((
                    id,
                    format!("shown as {element}, which it never was since the stores last settled"),
                )),
                Some(_) => {}
            }
        }
        for (id, member) in members {
            if member.required && !seen.contains(id) {
                problems.push((id.clone(), "missing: it was in it throughout".into()));
            }
        }
        if problems.is_empty() {
            return None;
        }
        let what = problems
            .iter()
            .map(|(id, problem)| format!("{id} {problem}"))
            .collect::<Vec<_>>()
            .join("; ");
        Some(AnswerDifference {
            what,
            entities: problems.into_iter().map(|(id, _)| (kind, id)).collect(),
        })
    }
}

/// The kind of entity a list or search read shows.
fn member_kind(read: &Read) -> EntityKind {
    match read {
        Read::CampaignsOf(_) => EntityKind::Campaign,
        Read::SummariesOf(_) => EntityKind::Summary,
        _ => EntityKind::Session,
    }
}

/// The entity an entity read names, for a finding.
fn subject_entities(read: &Read, answers: &[Value]) -> Vec<(EntityKind, String)> {
    let kind = match read {
        Read::User(_) => EntityKind::User,
        Read::Campaign(_) => EntityKind::Campaign,
        _ => EntityKind::Session,
    };
    let id = match read {
        Read::User(id) | Read::Campaign(id) | Read::Session(id) | Read::Transcript(id) => {
            Some(id.to_string())
        }
        _ => answers
            .iter()
            .find_map(|answer| answer["id"].as_str().map(str::to_owned)),
    };
    id.map(|id| vec![(kind, id)]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    fn setup() -> (Window, Model) {
        let mut model = Model::default();
        let mut window = Window::default();
        for command in [
            Command::CreateUser {
                user: id("u1"),
                email: "a@example.com".into(),
                display_name: "A".into(),
            },
            Command::CreateCampaign {
                campaign: id("c1"),
                user: id("u1"),
                name: "Moor".into(),
                description: "".into(),
            },
            Command::CreateSession {
                session: id("s1"),
                campaign: id("c1"),
                name: "Ashen gate".into(),
                summary: "".into(),
                metadata: json!({}),
                transcript: "t1".into(),
            },
        ] {
            model.apply(&command).unwrap();
        }
        window.close();
        (window, model)
    }

    fn rename(session: &str, name: &str) -> Command {
        Command::UpdateSession {
            session: id(session),
            name: Some(name.into()),
            summary: None,
            metadata: None,
            transcript: None,
        }
    }

    fn session_answer(model: &Model, session: &str) -> Value {
        driver::expected_answer(model, &Read::Session(id(session))).unwrap()
    }

    #[test]
    fn with_nothing_written_since_the_stores_settled_only_the_model_s_answer_is_right() {
        let (window, model) = setup();
        let read = Read::Session(id("s1"));
        let allowed = window.allowed(&model, &read).unwrap();
        assert!(matches!(allowed, Allowed::Exact(_)), "{allowed:?}");
        assert!(
            allowed
                .difference(&read, &session_answer(&model, "s1"))
                .is_none()
        );
        let mut stale = session_answer(&model, "s1");
        stale["name"] = json!("Other");
        let found = allowed.difference(&read, &stale).expect("a wrong answer");
        assert!(found.what.starts_with("expected"), "{}", found.what);
    }

    #[test]
    fn a_read_may_show_any_version_since_the_stores_settled_and_no_other() {
        let (mut window, mut model) = setup();
        let first = session_answer(&model, "s1");
        window
            .apply(&mut model, &rename("s1", "Bone road"))
            .unwrap();
        let second = session_answer(&model, "s1");
        window
            .apply(&mut model, &rename("s1", "Cold tower"))
            .unwrap();
        let read = Read::Session(id("s1"));
        let allowed = window.allowed(&model, &read).unwrap();
        for answer in [&first, &second, &session_answer(&model, "s1")] {
            assert_eq!(allowed.difference(&read, answer), None, "{answer}");
        }
        let mut never = first.clone();
        never["name"] = json!("ashen gate");
        let found = allowed.difference(&read, &never).expect("never a version");
        assert!(found.what.contains("never was"), "{}", found.what);
        assert_eq!(found.entities, vec![(EntityKind::Session, "s1".to_owned())]);

        // Once the stores settle, only the current version is right.
        window.close();
        let allowed = window.allowed(&model, &read).unwrap();
        assert!(allowed.difference(&read, &first).is_some());
    }

    #[test]
    fn a_list_needs_what_was_in_it_throughout_and_may_show_what_came_or_went() {
        let (mut window, mut model) = setup();
        window
            .apply(
                &mut model,
                &Command::CreateSession {
                    session: id("s2"),
                    campaign: id("c1"),
                    name: "New".into(),
                    summary: "".into(),
                    metadata: json!({}),
                    transcript: "".into(),
                },
            )
            .unwrap();
        let read = Read::SessionsOf(id("c1"));
        let allowed = window.allowed(&model, &read).unwrap();
        let s1 = session_answer(&model, "s1");
        let s2 = session_answer(&model, "s2");
        assert_eq!(allowed.difference(&read, &json!([s1])), None);
        assert_eq!(allowed.difference(&read, &json!([s1, s2])), None);
        let missing = allowed.difference(&read, &json!([s2])).unwrap();
        assert!(missing.what.contains("s1 missing"), "{}", missing.what);
        let twice = allowed.difference(&read, &json!([s1, s1])).unwrap();
        assert!(twice.what.contains("shown twice"), "{}", twice.what);
        assert!(!allowed.allows_nothing());
    }

    #[test]
    fn a_search_may_miss_a_session_renamed_in_the_window_but_never_find_what_no_version_held() {
        let (mut window, mut model) = setup();
        window
            .apply(&mut model, &rename("s1", "Straße"))
            .expect("rename");
        let search = |query: &str| Read::SearchSessions {
            campaign: id("c1"),
            query: query.into(),
        };
        // Renamed in the window: either answer.
        let read = search("ashen");
        let allowed = window.allowed(&model, &read).unwrap();
        assert_eq!(allowed.difference(&read, &json!(["s1"])), None);
        assert_eq!(allowed.difference(&read, &json!([])), None);
        // No version of s1 ever holds "zzz".
        let read = search("zzz");
        let allowed = window.allowed(&model, &read).unwrap();
        let found = allowed.difference(&read, &json!(["s1"])).unwrap();
        assert_eq!(found.entities, vec![(EntityKind::Session, "s1".to_owned())]);
    }

    #[test]
    fn a_delete_before_the_window_leaves_nothing_to_show_and_one_in_it_leaves_both() {
        let (mut window, mut model) = setup();
        let before = session_answer(&model, "s1");
        window
            .apply(&mut model, &Command::DeleteCampaign { campaign: id("c1") })
            .unwrap();
        let read = Read::Session(id("s1"));
        let allowed = window.allowed(&model, &read).unwrap();
        assert_eq!(allowed.difference(&read, &before), None);
        assert_eq!(allowed.difference(&read, &Value::Null), None);
        let transcript = Read::Transcript(id("s1"));
        let allowed = window.allowed(&model, &transcript).unwrap();
        assert_eq!(allowed.difference(&transcript, &json!("t1")), None);
        window.close();
        let allowed = window.allowed(&model, &read).unwrap();
        assert!(allowed.difference(&read, &before).is_some(), "resurrected");
    }

    #[test]
    fn a_refused_write_records_nothing() {
        let (mut window, mut model) = setup();
        assert!(window.apply(&mut model, &rename("s9", "x")).is_err());
        assert_eq!(window.open_entities(), 0);
    }

    #[test]
    fn a_revoked_link_may_open_only_while_its_unshare_is_in_the_window() {
        let (mut window, mut model) = setup();
        let share = Command::ShareSession { session: id("s1") };
        window.apply(&mut model, &share).unwrap();
        window.close();
        let read = Read::SessionByShareToken("t".into());
        let mut open = session_answer(&model, "s1");
        open["share_token"] = json!("t");
        let unshare = Command::UnshareSession { session: id("s1") };
        window.apply(&mut model, &unshare).unwrap();
        let allowed = window.allowed_share_link(&model, &id("s1"), true);
        assert_eq!(allowed.difference(&read, &open), None);
        assert_eq!(allowed.difference(&read, &Value::Null), None);
        window.close();
        let allowed = window.allowed_share_link(&model, &id("s1"), true);
        assert!(allowed.difference(&read, &open).is_some());
        assert_eq!(allowed, Allowed::Exact(Value::Null));
    }
}
