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

/// One version of an entity: the write that made it (`None`: the state the
/// window opened with) and its state (`None`: absent).
#[derive(Debug, Clone)]
struct Stamped<T> {
    by: Option<u64>,
    state: Option<T>,
}

type Versions<T> = BTreeMap<Id, Vec<Stamped<T>>>;

/// Every version of each entity written since the window opened, oldest
/// first, each stamped with the write (its operation's ordinal) that made
/// it. An entity not written since holds only its current state.
#[derive(Debug, Default, Clone)]
pub struct Window {
    users: Versions<ModelUser>,
    campaigns: Versions<ModelCampaign>,
    sessions: Versions<ModelSession>,
    summaries: Versions<ModelSummary>,
}

impl Window {
    /// Applies `command` (operation `ordinal`) to `model` and records every
    /// version it makes. A refused command leaves both as they were.
    pub fn apply(
        &mut self,
        model: &mut Model,
        command: &Command,
        ordinal: u64,
    ) -> Result<Vec<Change>, Refusal> {
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
            self.push(&change.id, None, version);
        }
        for change in &touched {
            let version = Version::of(model, change);
            self.push(&change.id, Some(ordinal), version);
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

    fn push(&mut self, id: &Id, by: Option<u64>, version: Version) {
        fn stamp<T>(versions: &mut Versions<T>, id: &Id, by: Option<u64>, state: Option<T>) {
            versions
                .entry(id.clone())
                .or_default()
                .push(Stamped { by, state });
        }
        match version {
            Version::User(state) => stamp(&mut self.users, id, by, state),
            Version::Campaign(state) => stamp(&mut self.campaigns, id, by, state),
            Version::Session(state) => stamp(&mut self.sessions, id, by, state),
            Version::Summary(state) => stamp(&mut self.summaries, id, by, state),
        }
    }

    /// What a read of `read` may answer now, the model holding the current
    /// versions; `None` when the model cannot say (a share token's value).
    /// Exact where nothing the read covers was written in the window.
    pub fn allowed(&self, model: &Model, read: &Read) -> Option<Allowed> {
        let exact = || driver::expected_answer(model, read).map(Allowed::Exact);
        let allowed = match read {
            Read::User(id) => self
                .users
                .get(id)
                .map(|versions| shown(versions, |u| Some(user_value(id, u)))),
            Read::Campaign(id) => self
                .campaigns
                .get(id)
                .map(|versions| shown(versions, |c| Some(campaign_value(id, c)))),
            Read::Session(id) => self
                .sessions
                .get(id)
                .map(|versions| shown(versions, |s| Some(session_value(id, s)))),
            Read::Transcript(id) => self
                .sessions
                .get(id)
                .map(|versions| shown(versions, |s| Some(Value::String(s.transcript.clone())))),
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

    /// What opening a share link to `session` may answer now: the session
    /// in a version where it is shared, nothing in any other. A `revoked`
    /// link (its token replaced or removed by a write of the window) opens
    /// no version from that write on, only earlier ones.
    pub fn allowed_share_link(&self, model: &Model, session: &Id, revoked: bool) -> Allowed {
        let current = [Stamped {
            by: None,
            state: model.sessions.get(session).cloned(),
        }];
        let versions = self
            .sessions
            .get(session)
            .map_or(&current[..], Vec::as_slice);
        let last = versions.len() - 1;
        let opens = |index: usize, found: &ModelSession| found.shared && (!revoked || index < last);
        let shown: Vec<Shown> = versions
            .iter()
            .enumerate()
            .map(|(index, version)| Shown {
                by: version.by,
                value: version
                    .state
                    .as_ref()
                    .filter(|found| opens(index, found))
                    .map(|found| session_value(session, found)),
            })
            .collect();
        match shown.as_slice() {
            [only] => Allowed::Exact(only.value.clone().unwrap_or(Value::Null)),
            _ => Allowed::Versions(shown),
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

/// An entity read's versions as it shows them (`show` returns `None` where
/// it shows nothing).
fn shown<T>(versions: &[Stamped<T>], show: impl Fn(&T) -> Option<Value>) -> Allowed {
    Allowed::Versions(
        versions
            .iter()
            .map(|version| Shown {
                by: version.by,
                value: version.state.as_ref().and_then(&show),
            })
            .collect(),
    )
}

/// A list read's members: every entity that `belongs` in some version, each
/// with its versions as the list shows them (`value: None` where it is not
/// in the list). `None` when nothing in the list was written in the window.
fn members<T>(
    current: &BTreeMap<Id, T>,
    window: &Versions<T>,
    belongs: impl Fn(&T) -> bool,
    value: impl Fn(&Id, &T) -> Value,
) -> Option<Allowed> {
    let mut members = BTreeMap::new();
    for (id, versions) in window {
        let shown: Vec<Shown> = versions
            .iter()
            .map(|version| Shown {
                by: version.by,
                value: version
                    .state
                    .as_ref()
                    .filter(|state| belongs(state))
                    .map(|state| value(id, state)),
            })
            .collect();
        if shown.iter().any(|s| s.value.is_some()) {
            members.insert(id.to_string(), shown);
        }
    }
    if members.is_empty() {
        return None;
    }
    for (id, entity) in current {
        if !window.contains_key(id) && belongs(entity) {
            let only = Shown {
                by: None,
                value: Some(value(id, entity)),
            };
            members.insert(id.to_string(), vec![only]);
        }
    }
    Some(Allowed::Members(members))
}

/// One version of an entity as a read shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// The write (its operation's ordinal) that made it; `None`: the state
    /// the window opened with.
    pub by: Option<u64>,
    /// What the read shows of it; `None`: nothing (the entity absent, not in
    /// the list, not found by the search).
    pub value: Option<Value>,
}

/// What a read may answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// Only this answer (projected): nothing it covers was written in the window.
    Exact(Value),
    /// An entity read: any one of the entity's versions, oldest first.
    Versions(Vec<Shown>),
    /// A list or a search: each element shown must be one of its member's
    /// versions, none twice; a member shown in every version must be shown.
    Members(BTreeMap<String, Vec<Shown>>),
}

/// From the last version a correct app must have caught up with: the last
/// made by a write that completed with no fault in force (`faulted` says
/// which did not), or the one the window opened with.
fn caught_up(versions: &[Shown], faulted: &impl Fn(u64) -> bool) -> Vec<Shown> {
    let from = versions
        .iter()
        .rposition(|version| version.by.is_none_or(|by| !faulted(by)))
        .unwrap_or(0);
    versions[from..].to_vec()
}

impl Allowed {
    /// Only what a correct app may still answer, given which writes of the
    /// window were made while a fault was in force: an app may lag behind
    /// those (its relay catches up later), never behind the others.
    pub fn narrowed(&self, faulted: impl Fn(u64) -> bool) -> Allowed {
        match self {
            Allowed::Exact(_) => self.clone(),
            Allowed::Versions(versions) => Allowed::Versions(caught_up(versions, &faulted)),
            Allowed::Members(members) => Allowed::Members(
                members
                    .iter()
                    .map(|(id, versions)| (id.clone(), caught_up(versions, &faulted)))
                    .collect(),
            ),
        }
    }

    /// Whether more than one answer is allowed: some entity may be shown in
    /// more than one of its versions.
    pub fn lenient(&self) -> bool {
        let several = |versions: &Vec<Shown>| {
            let mut values = versions.iter().map(|v| &v.value);
            let first = values.next();
            values.any(|value| Some(value) != first)
        };
        match self {
            Allowed::Exact(_) => false,
            Allowed::Versions(versions) => several(versions),
            Allowed::Members(members) => members.values().any(several),
        }
    }

    /// Whether "nothing" (no entity, an empty list) is an allowed answer.
    pub fn allows_nothing(&self) -> bool {
        match self {
            Allowed::Exact(answer) => match answer {
                Value::Null => true,
                Value::Array(values) => values.is_empty(),
                _ => false,
            },
            Allowed::Versions(versions) => versions.iter().any(|v| v.value.is_none()),
            Allowed::Members(members) => members.values().all(|versions| !required(versions)),
        }
    }

    /// The allowed answers in words, for a finding (cut to `limit` chars).
    pub fn describe(&self, limit: usize) -> String {
        let text = match self {
            Allowed::Exact(answer) => answer.to_string(),
            Allowed::Versions(versions) => format!("one of {}", alternatives(versions)),
            Allowed::Members(members) => {
                let ids = |wanted: bool| -> Vec<&str> {
                    members
                        .iter()
                        .filter(|(_, versions)| required(versions) == wanted)
                        .map(|(id, _)| id.as_str())
                        .collect()
                };
                format!("{:?}, and any of {:?}", ids(true), ids(false))
            }
        };
        text.chars().take(limit).collect()
    }

    /// Where `answer` (the driver's, unprojected) to `read` falls outside
    /// what is allowed, or `None` when it is one of the allowed answers.
    pub fn difference(&self, read: &Read, answer: &Value) -> Option<AnswerDifference> {
        let members = match self {
            Allowed::Exact(expected) => return driver::compare_answer(read, expected, answer),
            Allowed::Versions(versions) => return versions_difference(read, versions, answer),
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
            let versions = members.get(&id).map_or(&[][..], Vec::as_slice);
            if versions.iter().all(|v| v.value.is_none()) {
                problems.push((id, "not in it in any version it may show".into()));
            } else if !versions.iter().any(|v| v.value.as_ref() == Some(element)) {
                problems.push((
                    id,
                    format!(
                        "shown as {element}, none of its versions it may show ({})",
                        alternatives(versions)
                    ),
                ));
            }
        }
        for (id, versions) in members {
            if required(versions) && !seen.contains(id) {
                problems.push((id.clone(), "missing: it is in it in every version".into()));
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

/// A member shown in every version of the window must be shown.
fn required(versions: &[Shown]) -> bool {
    versions.iter().all(|v| v.value.is_some())
}

/// The distinct answers of an entity's versions (`null`: nothing).
fn answers(versions: &[Shown]) -> Vec<Value> {
    let mut answers: Vec<Value> = Vec::new();
    for answer in versions
        .iter()
        .map(|v| v.value.clone().unwrap_or(Value::Null))
    {
        if !answers.contains(&answer) {
            answers.push(answer);
        }
    }
    answers
}

fn alternatives(versions: &[Shown]) -> String {
    answers(versions)
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// An entity read judged against its versions.
fn versions_difference(
    read: &Read,
    versions: &[Shown],
    answer: &Value,
) -> Option<AnswerDifference> {
    let answers = answers(versions);
    if let [only] = answers.as_slice() {
        return driver::compare_answer(read, only, answer);
    }
    let found = match driver::project_answer(read, answer) {
        Ok(found) => found,
        // Malformed whatever was expected: said as such.
        Err(_) => return driver::compare_answer(read, &answers[0], answer),
    };
    if answers.contains(&found) {
        return None;
    }
    Some(AnswerDifference {
        what: format!(
            "the driver answered {found}, none of the versions it may show ({})",
            alternatives(versions)
        ),
        entities: driver::read_subject(
            read,
            answers
                .iter()
                .find(|answer| answer["id"].is_string())
                .unwrap_or(&Value::Null),
        ),
    })
}

/// The kind of entity a list or search read shows.
fn member_kind(read: &Read) -> EntityKind {
    match read {
        Read::CampaignsOf(_) => EntityKind::Campaign,
        Read::SummariesOf(_) => EntityKind::Summary,
        _ => EntityKind::Session,
    }
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

    /// Every write of the window made while a fault was in force.
    fn lagging(allowed: Allowed) -> Allowed {
        allowed.narrowed(|_| true)
    }

    #[test]
    fn with_nothing_written_since_the_stores_settled_only_the_model_s_answer_is_right() {
        let (window, model) = setup();
        let read = Read::Session(id("s1"));
        let allowed = lagging(window.allowed(&model, &read).unwrap());
        assert!(matches!(allowed, Allowed::Exact(_)), "{allowed:?}");
        assert!(!allowed.lenient());
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
    fn a_read_may_lag_behind_writes_made_under_a_fault_and_no_further() {
        let (mut window, mut model) = setup();
        let first = session_answer(&model, "s1");
        window
            .apply(&mut model, &rename("s1", "Bone road"), 10)
            .unwrap();
        let second = session_answer(&model, "s1");
        window
            .apply(&mut model, &rename("s1", "Cold tower"), 11)
            .unwrap();
        let third = session_answer(&model, "s1");
        let read = Read::Session(id("s1"));
        let history = window.allowed(&model, &read).unwrap();

        // Both writes under a fault: any version since the stores settled.
        let allowed = lagging(history.clone());
        assert!(allowed.lenient());
        for answer in [&first, &second, &third] {
            assert_eq!(allowed.difference(&read, answer), None, "{answer}");
        }
        let mut never = first.clone();
        never["name"] = json!("ashen gate");
        let found = allowed.difference(&read, &never).expect("never a version");
        assert!(
            found.what.contains("none of the versions"),
            "{}",
            found.what
        );
        assert_eq!(found.entities, vec![(EntityKind::Session, "s1".to_owned())]);

        // Op 10 made with no fault in force: nothing older than it.
        let allowed = history.narrowed(|by| by == 11);
        assert!(allowed.difference(&read, &first).is_some());
        assert_eq!(allowed.difference(&read, &second), None);
        assert_eq!(allowed.difference(&read, &third), None);

        // The last write with no fault in force: exactly the model's answer.
        let allowed = history.narrowed(|_| false);
        assert!(!allowed.lenient());
        assert!(allowed.difference(&read, &second).is_some());
        let found = allowed.difference(&read, &second).unwrap();
        assert!(found.what.starts_with("expected"), "{}", found.what);

        // Once the stores settle, only the current version is right.
        window.close();
        let allowed = lagging(window.allowed(&model, &read).unwrap());
        assert!(allowed.difference(&read, &first).is_some());
    }

    #[test]
    fn a_list_needs_what_was_in_it_throughout_and_may_show_what_came_or_went() {
        let (mut window, mut model) = setup();
        let create = Command::CreateSession {
            session: id("s2"),
            campaign: id("c1"),
            name: "New".into(),
            summary: "".into(),
            metadata: json!({}),
            transcript: "".into(),
        };
        window.apply(&mut model, &create, 5).unwrap();
        let read = Read::SessionsOf(id("c1"));
        let allowed = lagging(window.allowed(&model, &read).unwrap());
        let s1 = session_answer(&model, "s1");
        let s2 = session_answer(&model, "s2");
        assert_eq!(allowed.difference(&read, &json!([s1])), None);
        assert_eq!(allowed.difference(&read, &json!([s1, s2])), None);
        let missing = allowed.difference(&read, &json!([s2])).unwrap();
        assert!(missing.what.contains("s1 missing"), "{}", missing.what);
        let twice = allowed.difference(&read, &json!([s1, s1])).unwrap();
        assert!(twice.what.contains("shown twice"), "{}", twice.what);
        assert!(!allowed.allows_nothing());
        // The create made with no fault in force: s2 must be there.
        let exact = window.allowed(&model, &read).unwrap().narrowed(|_| false);
        assert!(exact.difference(&read, &json!([s1])).is_some());
    }

    #[test]
    fn a_search_may_miss_a_session_renamed_in_the_window_but_never_find_what_no_version_held() {
        let (mut window, mut model) = setup();
        window
            .apply(&mut model, &rename("s1", "Straße"), 7)
            .expect("rename");
        let search = |query: &str| Read::SearchSessions {
            campaign: id("c1"),
            query: query.into(),
        };
        // Renamed in the window: either answer.
        let read = search("ashen");
        let allowed = lagging(window.allowed(&model, &read).unwrap());
        assert_eq!(allowed.difference(&read, &json!(["s1"])), None);
        assert_eq!(allowed.difference(&read, &json!([])), None);
        // No version of s1 ever holds "zzz".
        let read = search("zzz");
        let allowed = lagging(window.allowed(&model, &read).unwrap());
        let found = allowed.difference(&read, &json!(["s1"])).unwrap();
        assert_eq!(found.entities, vec![(EntityKind::Session, "s1".to_owned())]);
    }

    #[test]
    fn a_delete_before_the_window_leaves_nothing_to_show_and_one_in_it_leaves_both() {
        let (mut window, mut model) = setup();
        let before = session_answer(&model, "s1");
        window
            .apply(
                &mut model,
                &Command::DeleteCampaign { campaign: id("c1") },
                3,
            )
            .unwrap();
        let read = Read::Session(id("s1"));
        let allowed = lagging(window.allowed(&model, &read).unwrap());
        assert_eq!(allowed.difference(&read, &before), None);
        assert_eq!(allowed.difference(&read, &Value::Null), None);
        let transcript = Read::Transcript(id("s1"));
        let allowed = lagging(window.allowed(&model, &transcript).unwrap());
        assert_eq!(allowed.difference(&transcript, &json!("t1")), None);
        window.close();
        let allowed = lagging(window.allowed(&model, &read).unwrap());
        assert!(allowed.difference(&read, &before).is_some(), "resurrected");
    }

    #[test]
    fn a_refused_write_records_nothing() {
        let (mut window, mut model) = setup();
        assert!(window.apply(&mut model, &rename("s9", "x"), 1).is_err());
        assert_eq!(window.open_entities(), 0);
    }

    #[test]
    fn a_revoked_link_may_open_only_while_its_unshare_may_lag() {
        let (mut window, mut model) = setup();
        let share = Command::ShareSession { session: id("s1") };
        window.apply(&mut model, &share, 1).unwrap();
        window.close();
        let read = Read::SessionByShareToken("t".into());
        let mut open = session_answer(&model, "s1");
        open["share_token"] = json!("t");
        // A rename keeps the link; it is the unshare that revokes it.
        window.apply(&mut model, &rename("s1", "x"), 2).unwrap();
        let unshare = Command::UnshareSession { session: id("s1") };
        window.apply(&mut model, &unshare, 3).unwrap();
        let history = window.allowed_share_link(&model, &id("s1"), true);
        let allowed = history.narrowed(|_| true);
        assert_eq!(allowed.difference(&read, &open), None);
        assert_eq!(allowed.difference(&read, &Value::Null), None);
        let allowed = history.narrowed(|by| by != 3);
        assert!(allowed.difference(&read, &open).is_some());
        window.close();
        let allowed = window.allowed_share_link(&model, &id("s1"), true);
        assert_eq!(allowed, Allowed::Exact(Value::Null));
    }
}
