//! The workload generator: a scenario and a seed in, a lazy stream of
//! operations out. It keeps a small picture of the entities it has created so
//! every operation names something that exists (in the order operations are
//! applied per user); that picture is bounded by the scenario's population, not
//! by the number of operations.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::scenario::{Range, RunLength, Scenario, SizeBucket};
use super::text::{self, Language};
use crate::command::{Command, Read};
use crate::keys::Id;

/// How many random probes look for an entity that still has room for a child
/// before a create turns into an update (keeps generation O(1) per operation).
const CREATE_PROBES: usize = 8;

/// How many operations after an unshare its revoked link is opened again,
/// by another user: a link that came back after a while is caught too.
const REOPEN_AFTER_OPS: u64 = 25;

/// One operation of a workload. `user` owns everything it touches: operations
/// of one user must be applied in order, different users' may interleave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub ordinal: u64,
    pub user: Id,
    pub kind: OpKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpKind {
    Write {
        command: Command,
    },
    Read {
        read: Read,
    },
    /// Substring search of a campaign's sessions.
    Search {
        campaign: Id,
        query: String,
    },
    /// Open a session's share link (the token is known only once shared):
    /// the one it has now, or (`revoked`) the one its last unshare or
    /// delete revoked, which must find nothing.
    OpenShareLink {
        session: Id,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        revoked: bool,
    },
}

impl OpKind {
    /// The read a plain read or a search asks (`None` for a write, and for a
    /// share link, whose read needs the token the run handed out).
    pub fn plain_read(&self) -> Option<Read> {
        match self {
            OpKind::Read { read } => Some(read.clone()),
            OpKind::Search { campaign, query } => Some(Read::SearchSessions {
                campaign: campaign.clone(),
                query: query.clone(),
            }),
            OpKind::Write { .. } | OpKind::OpenShareLink { .. } => None,
        }
    }

    /// A short label for counts and latency histograms.
    pub fn label(&self) -> &'static str {
        match self {
            OpKind::Write { command } => match command {
                Command::CreateUser { .. }
                | Command::CreateCampaign { .. }
                | Command::CreateSession { .. }
                | Command::CreateSummary { .. } => "create",
                Command::UpdateUser { .. }
                | Command::UpdateCampaign { .. }
                | Command::UpdateSession { .. }
                | Command::UpdateSummary { .. } => "update",
                Command::DeleteUser { .. }
                | Command::DeleteCampaign { .. }
                | Command::DeleteSession { .. }
                | Command::DeleteSummary { .. } => "delete",
                Command::ShareSession { .. } | Command::UnshareSession { .. } => "share",
            },
            OpKind::Read { .. } | OpKind::OpenShareLink { .. } => "read",
            OpKind::Search { .. } => "search",
        }
    }
}

#[derive(Debug, Clone)]
struct SessionNode {
    id: Id,
    summary_target: u32,
    summaries: Vec<Id>,
    /// Shared now: an unshare revokes a link that works.
    shared: bool,
}

#[derive(Debug, Clone)]
struct CampaignNode {
    id: Id,
    session_target: u32,
    sessions: Vec<SessionNode>,
}

#[derive(Debug, Clone)]
struct UserNode {
    id: Id,
    campaign_target: u32,
    campaigns: Vec<CampaignNode>,
}

/// A deterministic, lazy stream of operations.
pub struct Workload {
    scenario: Scenario,
    rng: StdRng,
    users: Vec<UserNode>,
    next_id: u64,
    emitted: u64,
    /// Operations owed to an earlier one (the open of a link just revoked,
    /// the reads of what was just deleted), emitted before anything new.
    follow_ups: std::collections::VecDeque<(Id, OpKind)>,
    /// Operations owed later: each with the count of operations emitted
    /// after which it is due (in increasing order).
    later: std::collections::VecDeque<(u64, Id, OpKind)>,
}

fn pick<T>(rng: &mut StdRng, items: &[T]) -> Option<usize> {
    (!items.is_empty()).then(|| rng.random_range(0..items.len()))
}

fn in_range(rng: &mut StdRng, range: Range) -> u32 {
    rng.random_range(range.min..=range.max)
}

impl Workload {
    pub fn new(scenario: &Scenario, seed: u64) -> Workload {
        Workload {
            scenario: scenario.clone(),
            rng: StdRng::seed_from_u64(seed),
            users: Vec::new(),
            next_id: 0,
            emitted: 0,
            follow_ups: std::collections::VecDeque::new(),
            later: std::collections::VecDeque::new(),
        }
    }

    fn new_id(&mut self, prefix: &str) -> Id {
        self.next_id += 1;
        Id::parse(&format!("{prefix}{:07}", self.next_id)).expect("generated ids are valid")
    }

    fn language(&mut self) -> Language {
        text::pick_language(&mut self.rng, &self.scenario.text)
    }

    fn transcript_bytes(&mut self) -> usize {
        let total: u32 = self
            .scenario
            .transcript_sizes
            .iter()
            .map(|b| b.weight)
            .sum();
        let mut roll = self.rng.random_range(0..total);
        let mut chosen: &SizeBucket = &self.scenario.transcript_sizes[0];
        for bucket in &self.scenario.transcript_sizes {
            if roll < bucket.weight {
                chosen = bucket;
                break;
            }
            roll -= bucket.weight;
        }
        match (chosen.bytes, chosen.min_bytes, chosen.max_bytes) {
            (Some(bytes), _, _) => bytes as usize,
            (None, Some(min), Some(max)) => self.rng.random_range(min..=max) as usize,
            _ => unreachable!("checked when the scenario was parsed"),
        }
    }

    fn metadata(&mut self, language: Language) -> serde_json::Value {
        let tags: Vec<String> = (0..self.rng.random_range(0..4))
            .map(|_| text::words(&mut self.rng, language, 1))
            .collect();
        serde_json::json!({
            "tags": tags,
            "round": self.rng.random_range(1..40),
            "location": text::words(&mut self.rng, language, 2),
            "xpAwarded": self.rng.random_range(0..5000) as f64 / 4.0,
        })
    }

    fn session_text(&mut self) -> (String, String, serde_json::Value, String) {
        let language = self.language();
        let name_words = self.rng.random_range(2..6);
        let summary_words = self.rng.random_range(8..30);
        let name = text::words(&mut self.rng, language, name_words);
        let summary = text::words(&mut self.rng, language, summary_words);
        let metadata = self.metadata(language);
        let bytes = self.transcript_bytes();
        let transcript = text::transcript(&mut self.rng, language, bytes);
        (name, summary, metadata, transcript)
    }

    /// A create that fits the population, or `None` when it is full.
    fn create(&mut self) -> Option<(Id, Command)> {
        let population = self.scenario.population;
        if (self.users.len() as u32) < population.users {
            let id = self.new_id("u");
            let language = self.language();
            let name = text::person(&mut self.rng, language);
            let campaign_target = in_range(&mut self.rng, population.campaigns_per_user);
            self.users.push(UserNode {
                id: id.clone(),
                campaign_target,
                campaigns: Vec::new(),
            });
            let email = format!("{}@example.com", id.as_str());
            return Some((
                id.clone(),
                Command::CreateUser {
                    user: id,
                    email,
                    display_name: name,
                },
            ));
        }
        for _ in 0..CREATE_PROBES {
            let u = pick(&mut self.rng, &self.users)?;
            let user_id = self.users[u].id.clone();
            let roll = self.rng.random_range(0..100);
            let user = &self.users[u];
            if roll < 15 || user.campaigns.is_empty() {
                if (user.campaigns.len() as u32) < user.campaign_target {
                    let id = self.new_id("c");
                    let language = self.language();
                    let name_words = self.rng.random_range(2..5);
                    let name = text::words(&mut self.rng, language, name_words);
                    let description = text::words(&mut self.rng, language, 12);
                    let session_target = in_range(&mut self.rng, population.sessions_per_campaign);
                    self.users[u].campaigns.push(CampaignNode {
                        id: id.clone(),
                        session_target,
                        sessions: Vec::new(),
                    });
                    return Some((
                        user_id.clone(),
                        Command::CreateCampaign {
                            campaign: id,
                            user: user_id,
                            name,
                            description,
                        },
                    ));
                }
                continue;
            }
            let c = pick(&mut self.rng, &self.users[u].campaigns)?;
            let campaign = &self.users[u].campaigns[c];
            if roll < 75 || campaign.sessions.is_empty() {
                if (campaign.sessions.len() as u32) < campaign.session_target {
                    let campaign_id = campaign.id.clone();
                    let id = self.new_id("s");
                    let (name, summary, metadata, transcript) = self.session_text();
                    let summary_target = in_range(&mut self.rng, population.summaries_per_session);
                    self.users[u].campaigns[c].sessions.push(SessionNode {
                        id: id.clone(),
                        summary_target,
                        summaries: Vec::new(),
                        shared: false,
                    });
                    return Some((
                        user_id,
                        Command::CreateSession {
                            session: id,
                            campaign: campaign_id,
                            name,
                            summary,
                            metadata,
                            transcript,
                        },
                    ));
                }
                continue;
            }
            let s = pick(&mut self.rng, &campaign.sessions)?;
            let session = &campaign.sessions[s];
            if (session.summaries.len() as u32) < session.summary_target {
                let session_id = session.id.clone();
                let id = self.new_id("m");
                let language = self.language();
                let body_words = self.rng.random_range(20..80);
                let body = text::words(&mut self.rng, language, body_words);
                self.users[u].campaigns[c].sessions[s]
                    .summaries
                    .push(id.clone());
                return Some((
                    user_id,
                    Command::CreateSummary {
                        summary: id,
                        session: session_id,
                        kind: "recap".into(),
                        body,
                    },
                ));
            }
        }
        None
    }

    /// A random (user, campaign, session) path into the world, as deep as it goes.
    fn random_path(&mut self) -> Option<(usize, Option<usize>, Option<usize>)> {
        let u = pick(&mut self.rng, &self.users)?;
        let c = pick(&mut self.rng, &self.users[u].campaigns);
        let s = c.and_then(|c| pick(&mut self.rng, &self.users[u].campaigns[c].sessions));
        Some((u, c, s))
    }

    fn update(&mut self) -> Option<(Id, Command)> {
        let (u, c, s) = self.random_path()?;
        let user_id = self.users[u].id.clone();
        let roll = self.rng.random_range(0..100);
        let language = self.language();
        let command = match (c, s) {
            (Some(c), Some(s)) if roll < 70 => {
                let session = &self.users[u].campaigns[c].sessions[s];
                let session_id = session.id.clone();
                if let Some(m) = pick(&mut self.rng, &session.summaries).filter(|_| roll < 15) {
                    let summary = self.users[u].campaigns[c].sessions[s].summaries[m].clone();
                    let body = text::words(&mut self.rng, language, 30);
                    Command::UpdateSummary { summary, body }
                } else {
                    let (name, summary, metadata, transcript) = self.session_text();
                    Command::UpdateSession {
                        session: session_id,
                        name: (roll % 2 == 0).then_some(name),
                        summary: (roll % 3 != 0).then_some(summary),
                        metadata: (roll % 5 == 0).then_some(metadata),
                        transcript: (roll % 4 == 0).then_some(transcript),
                    }
                }
            }
            (Some(c), _) if roll < 90 => {
                let campaign = self.users[u].campaigns[c].id.clone();
                Command::UpdateCampaign {
                    campaign,
                    name: Some(text::words(&mut self.rng, language, 3)),
                    description: None,
                }
            }
            _ => Command::UpdateUser {
                user: user_id.clone(),
                email: None,
                display_name: Some(text::person(&mut self.rng, language)),
            },
        };
        Some((user_id, command))
    }

    /// A delete, followed at once by reads of what it removed: the entity and
    /// one of its children (and a deleted shared session's link), which must
    /// all find nothing — nothing may come back through DynamoDB or S3.
    fn delete(&mut self) -> Option<(Id, Command)> {
        let (u, c, s) = self.random_path()?;
        let user_id = self.users[u].id.clone();
        let roll = self.rng.random_range(0..100);
        let mut gone = Vec::new();
        let command = match (c, s) {
            (Some(c), Some(s)) if roll < 85 => {
                let session = &mut self.users[u].campaigns[c].sessions[s];
                if !session.summaries.is_empty() && roll < 40 {
                    let m = self.rng.random_range(0..session.summaries.len());
                    gone.push(OpKind::Read {
                        read: Read::SummariesOf(session.id.clone()),
                    });
                    Command::DeleteSummary {
                        summary: session.summaries.remove(m),
                    }
                } else {
                    let removed = self.users[u].campaigns[c].sessions.remove(s);
                    gone.extend(self.session_gone(&removed));
                    Command::DeleteSession {
                        session: removed.id,
                    }
                }
            }
            (Some(c), _) if roll < 98 => {
                let removed = self.users[u].campaigns.remove(c);
                gone.push(OpKind::Read {
                    read: Read::Campaign(removed.id.clone()),
                });
                let child = match pick(&mut self.rng, &removed.sessions) {
                    Some(s) if roll % 2 == 0 => Read::Transcript(removed.sessions[s].id.clone()),
                    _ => Read::SessionsOf(removed.id.clone()),
                };
                gone.push(OpKind::Read { read: child });
                Command::DeleteCampaign {
                    campaign: removed.id,
                }
            }
            _ => {
                let removed = self.users.remove(u);
                gone.push(OpKind::Read {
                    read: Read::User(removed.id.clone()),
                });
                gone.push(OpKind::Read {
                    read: Read::CampaignsOf(removed.id.clone()),
                });
                Command::DeleteUser { user: removed.id }
            }
        };
        self.follow_ups
            .extend(gone.into_iter().map(|kind| (user_id.clone(), kind)));
        Some((user_id, command))
    }

    /// The reads that must find nothing once `session` is deleted: itself,
    /// one of its children, and its link if it had one.
    fn session_gone(&mut self, session: &SessionNode) -> Vec<OpKind> {
        let id = session.id.clone();
        let child = match self.rng.random_range(0..2) {
            0 => Read::Transcript(id.clone()),
            _ => Read::SummariesOf(id.clone()),
        };
        let mut gone = vec![
            OpKind::Read {
                read: Read::Session(id.clone()),
            },
            OpKind::Read { read: child },
        ];
        if session.shared {
            gone.push(OpKind::OpenShareLink {
                session: id,
                revoked: true,
            });
        }
        gone
    }

    /// A share, or (one time in four) the unshare of a session that is
    /// shared now, followed at once by an open of the link it revoked, and
    /// later by another user's.
    fn share(&mut self) -> Option<(Id, Command)> {
        if self.rng.random_range(0..4) == 0
            && let Some((u, c, s)) = self.pick_shared()
        {
            let node = &mut self.users[u].campaigns[c].sessions[s];
            node.shared = false;
            let session = node.id.clone();
            let owner = self.users[u].id.clone();
            let open = OpKind::OpenShareLink {
                session: session.clone(),
                revoked: true,
            };
            self.follow_ups.push_back((owner.clone(), open.clone()));
            let other = self.other_user(u);
            self.later
                .push_back((self.emitted + REOPEN_AFTER_OPS, other, open));
            return Some((owner, Command::UnshareSession { session }));
        }
        let (u, Some(c), Some(s)) = self.random_path()? else {
            return None;
        };
        let session = &mut self.users[u].campaigns[c].sessions[s];
        session.shared = true;
        let session = session.id.clone();
        Some((self.users[u].id.clone(), Command::ShareSession { session }))
    }

    /// A session that is shared now, as its path.
    fn pick_shared(&mut self) -> Option<(usize, usize, usize)> {
        let mut shared = Vec::new();
        for (u, user) in self.users.iter().enumerate() {
            for (c, campaign) in user.campaigns.iter().enumerate() {
                for (s, session) in campaign.sessions.iter().enumerate() {
                    if session.shared {
                        shared.push((u, c, s));
                    }
                }
            }
        }
        pick(&mut self.rng, &shared).map(|i| shared[i])
    }

    fn read(&mut self) -> Option<(Id, OpKind)> {
        let (u, c, s) = self.random_path()?;
        let user = &self.users[u];
        let user_id = user.id.clone();
        let roll = self.rng.random_range(0..8);
        let read = match (roll, c, s) {
            (0, _, _) => Read::User(user_id.clone()),
            (1, _, _) => Read::CampaignsOf(user_id.clone()),
            (2, Some(c), _) => Read::Campaign(user.campaigns[c].id.clone()),
            (3, Some(c), _) => Read::SessionsOf(user.campaigns[c].id.clone()),
            (4, Some(c), Some(s)) => Read::Session(user.campaigns[c].sessions[s].id.clone()),
            (5, Some(c), Some(s)) => Read::SummariesOf(user.campaigns[c].sessions[s].id.clone()),
            (6, Some(c), Some(s)) => Read::Transcript(user.campaigns[c].sessions[s].id.clone()),
            (7, Some(c), Some(s)) => {
                let session = user.campaigns[c].sessions[s].id.clone();
                let reader = self.reader(u);
                return Some((
                    reader,
                    OpKind::OpenShareLink {
                        session,
                        revoked: false,
                    },
                ));
            }
            _ => Read::CampaignsOf(user_id.clone()),
        };
        Some((self.reader(u), OpKind::Read { read }))
    }

    /// Who reads what user `u` owns: `u`, or now and then someone else.
    fn reader(&mut self, u: usize) -> Id {
        if self.rng.random_range(0..100) < self.scenario.mix.stranger_reads {
            self.other_user(u)
        } else {
            self.users[u].id.clone()
        }
    }

    /// A user other than user `u`, if there is one.
    fn other_user(&mut self, u: usize) -> Id {
        let users = self.users.len();
        if users < 2 {
            return self.users[u].id.clone();
        }
        let offset = self.rng.random_range(1..users);
        self.users[(u + offset) % users].id.clone()
    }

    fn search(&mut self) -> Option<(Id, OpKind)> {
        let (u, c, _) = self.random_path()?;
        let campaign = self.users[u].campaigns.get(c?)?.id.clone();
        let language = self.language();
        let query = text::words(&mut self.rng, language, 1);
        Some((self.users[u].id.clone(), OpKind::Search { campaign, query }))
    }

    fn next_op(&mut self) -> (Id, OpKind) {
        let mix = self.scenario.mix;
        let total = mix.create + mix.update + mix.delete + mix.read + mix.search + mix.share;
        let roll = self.rng.random_range(0..total);
        let write = |found: Option<(Id, Command)>| {
            found.map(|(user, command)| (user, OpKind::Write { command }))
        };
        let mut bounds = [
            mix.create, mix.update, mix.delete, mix.read, mix.search, mix.share,
        ]
        .into_iter()
        .scan(0, |sum, w| {
            *sum += w;
            Some(*sum)
        });
        let kind = bounds
            .position(|bound| roll < bound)
            .expect("roll is below the total");
        let chosen = match kind {
            0 => write(self.create()),
            1 => write(self.update()),
            2 => write(self.delete()),
            3 => self.read(),
            4 => self.search(),
            _ => write(self.share()),
        };
        // Nothing to act on yet (or the population is full): create, else update.
        chosen
            .or_else(|| write(self.create()))
            .or_else(|| write(self.update()))
            .expect("a create is always possible while the population is empty")
    }
}

impl Iterator for Workload {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        if let RunLength::Operations(limit) = self.scenario.length
            && self.emitted >= limit
        {
            return None;
        }
        let due = |later: &std::collections::VecDeque<(u64, Id, OpKind)>, emitted| {
            later.front().is_some_and(|(at, _, _)| *at <= emitted)
        };
        let (user, kind) = match self.follow_ups.pop_front() {
            Some(owed) => owed,
            None if due(&self.later, self.emitted) => {
                let (_, user, kind) = self.later.pop_front().expect("one is due");
                (user, kind)
            }
            None => self.next_op(),
        };
        self.emitted += 1;
        Some(Op {
            ordinal: self.emitted,
            user,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Scenario;

    fn scenario() -> Scenario {
        Scenario::parse(crate::workload::scenario::tests::VALID, "t.toml").unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_workload_byte_for_byte() {
        let first: Vec<Op> = Workload::new(&scenario(), 42).collect();
        let second: Vec<Op> = Workload::new(&scenario(), 42).collect();
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&second).unwrap()
        );
        let other: Vec<Op> = Workload::new(&scenario(), 43).collect();
        assert_ne!(first, other);
        assert_eq!(first.len(), 100);
    }

    #[test]
    fn an_unshare_revokes_a_shared_link_and_the_link_is_opened_next() {
        use std::collections::HashSet;
        let mut shared: HashSet<Id> = HashSet::new();
        let mut long = scenario();
        long.length = RunLength::Operations(3000);
        let ops: Vec<Op> = Workload::new(&long, 5).collect();
        let mut unshares = 0;
        for (i, op) in ops.iter().enumerate() {
            let OpKind::Write { command } = &op.kind else {
                continue;
            };
            match command {
                Command::ShareSession { session } => {
                    shared.insert(session.clone());
                }
                Command::UnshareSession { session } => {
                    unshares += 1;
                    assert!(shared.remove(session), "{op:?}: not shared");
                    let open = OpKind::OpenShareLink {
                        session: session.clone(),
                        revoked: true,
                    };
                    let next = &ops[i + 1];
                    assert_eq!((&next.user, &next.kind), (&op.user, &open), "{op:?}");
                    // Opened again later, by someone else (if the run lasts).
                    if op.ordinal + REOPEN_AFTER_OPS + 10 >= ops.len() as u64 {
                        continue;
                    }
                    let again = ops[i + 2..]
                        .iter()
                        .find(|later| later.kind == open)
                        .unwrap_or_else(|| panic!("{op:?}: not opened again"));
                    assert_ne!(again.user, op.user, "{again:?}");
                    assert!(again.ordinal >= op.ordinal + REOPEN_AFTER_OPS, "{again:?}");
                }
                Command::DeleteSession { session } => {
                    shared.remove(session);
                }
                _ => {}
            }
        }
        assert!(unshares > 0, "the scenario unshares nothing");
    }

    #[test]
    fn operations_only_name_entities_that_exist() {
        // Replays the stream against a set of live ids.
        use std::collections::HashSet;
        let mut live: HashSet<String> = HashSet::new();
        for op in Workload::new(&scenario(), 9).take(2000) {
            if let OpKind::Write { command } = &op.kind {
                let (_, target) = command.target();
                match command {
                    Command::CreateUser { .. } => assert!(live.insert(target.to_string())),
                    Command::CreateCampaign { user, .. } => {
                        assert!(live.contains(user.as_str()));
                        assert!(live.insert(target.to_string()));
                    }
                    Command::CreateSession { campaign, .. } => {
                        assert!(live.contains(campaign.as_str()), "{op:?}");
                        assert!(live.insert(target.to_string()));
                    }
                    Command::CreateSummary { session, .. } => {
                        assert!(live.contains(session.as_str()), "{op:?}");
                        assert!(live.insert(target.to_string()));
                    }
                    Command::DeleteUser { .. }
                    | Command::DeleteCampaign { .. }
                    | Command::DeleteSession { .. }
                    | Command::DeleteSummary { .. } => {
                        assert!(live.remove(target.as_str()), "{op:?}");
                    }
                    _ => assert!(live.contains(target.as_str()), "{op:?}"),
                }
            }
        }
    }
}
