//! Tenant isolation (seed 004: user A never sees user B's data): every read
//! built from a user's own ids — campaign list, session list, session details,
//! transcript, summaries, search, share-token lookup — returns only that
//! user's data, on both stores; and a user asking with another user's ids
//! (`read_as`) gets exactly what a missing entity gets, on both stores. Ids
//! are chosen to collide by prefix (`u1`, `u10`, `u1-`, `U1`), so a key or
//! filter that matched by prefix would leak.
//!
//! Cases: `CUTOVER_ISOLATION_CASES` (default 10,000) for each property.

use crate::support;

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use crate::support::DynamoEngine;
use cutover_app::{App, Command, Mode};
use cutover_backends::Sandbox;
use cutover_core::command::{Answer, Read};
use cutover_core::keys::Id;
use proptest::prelude::*;

/// Users whose ids are prefixes of one another.
const USERS: [&str; 8] = ["u1", "u10", "u1-", "u1_", "U1", "u2", "u20", "u2-0"];

/// What each user owns, and the share tokens and transcripts handed out.
#[derive(Default)]
struct Owned {
    campaigns: Vec<Id>,
    sessions: Vec<Id>,
    tokens: Vec<String>,
    transcripts: BTreeMap<Id, String>,
}

struct World {
    _sandbox: Sandbox,
    app: App,
    owned: BTreeMap<&'static str, Owned>,
    /// Words every user's sessions contain, so a search could match across users.
    words: Vec<String>,
}

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    support::RUNTIME.block_on(async {
        let (sandbox, app) = support::installed(DynamoEngine::Dynoxide, Mode::Dual).await;
        let mut owned: BTreeMap<&'static str, Owned> = BTreeMap::new();
        for user in USERS {
            let mine = owned.entry(user).or_default();
            app.execute(&Command::CreateUser {
                user: id(user),
                email: format!("{user}@example.com"),
                display_name: user.into(),
            })
            .await
            .unwrap();
            for c in 0..2 {
                // Campaign ids collide by prefix across users too: c-u1-0 vs c-u10-0.
                let campaign = id(&format!("c-{user}-{c}"));
                app.execute(&Command::CreateCampaign {
                    campaign: campaign.clone(),
                    user: id(user),
                    name: format!("shared words campaign {c}"),
                    description: "dragon tavern".into(),
                })
                .await
                .unwrap();
                for s in 0..3 {
                    let session = id(&format!("s-{user}-{c}-{s}"));
                    let transcript = format!("transcript of {session}: the dragon sleeps");
                    app.execute(&Command::CreateSession {
                        session: session.clone(),
                        campaign: campaign.clone(),
                        name: format!("dragon tavern session {s}"),
                        summary: "the party meets in the tavern".into(),
                        metadata: serde_json::json!({ "owner": user }),
                        transcript: transcript.clone(),
                    })
                    .await
                    .unwrap();
                    app.execute(&Command::CreateSummary {
                        summary: id(&format!("m-{user}-{c}-{s}")),
                        session: session.clone(),
                        kind: "recap".into(),
                        body: "dragon".into(),
                    })
                    .await
                    .unwrap();
                    if s == 0 {
                        let shared = app
                            .execute(&Command::ShareSession {
                                session: session.clone(),
                            })
                            .await
                            .unwrap();
                        mine.tokens.push(shared.share_token.expect("a share token"));
                    }
                    mine.transcripts.insert(session.clone(), transcript);
                    mine.sessions.push(session);
                }
                mine.campaigns.push(campaign);
            }
        }
        let words = ["dragon", "tavern", "u1", "u10", "s-u1", "-0-", "owner", ""]
            .map(str::to_owned)
            .to_vec();
        World {
            _sandbox: sandbox,
            app,
            owned,
            words,
        }
    })
});

/// Every entity in an answer belongs to `user` (transcripts: to one of its sessions).
fn owned_by(answer: &Answer, user: &Id, mine: &Owned) -> Result<(), String> {
    let check = |owner: &Id, what: &str| {
        (owner == user)
            .then_some(())
            .ok_or_else(|| format!("{what} of {owner} answered to {user}"))
    };
    match answer {
        Answer::User(found) => found.iter().try_for_each(|u| check(&u.id, "user")),
        Answer::Campaigns(list) => list.iter().try_for_each(|c| check(&c.user_id, "campaign")),
        Answer::Campaign(found) => found.iter().try_for_each(|c| check(&c.user_id, "campaign")),
        Answer::Sessions(list) => list.iter().try_for_each(|s| check(&s.user_id, "session")),
        Answer::Session(found) => found.iter().try_for_each(|s| check(&s.user_id, "session")),
        Answer::Summaries(list) => list.iter().try_for_each(|m| check(&m.user_id, "summary")),
        Answer::SessionIds(ids) => ids.iter().try_for_each(|s| {
            mine.sessions
                .contains(s)
                .then_some(())
                .ok_or_else(|| format!("session {s} found by a search of {user}"))
        }),
        Answer::Transcript(text) => text.iter().try_for_each(|t| {
            mine.transcripts
                .values()
                .any(|own| own == t)
                .then_some(())
                .ok_or_else(|| format!("a transcript not {user}'s answered to {user}"))
        }),
    }
}

fn read_for(world: &World, user: usize, kind: usize, pick: usize) -> Read {
    let name = USERS[user % USERS.len()];
    let mine = &world.owned[name];
    let session = mine.sessions[pick % mine.sessions.len()].clone();
    let campaign = mine.campaigns[pick % mine.campaigns.len()].clone();
    match kind % 8 {
        0 => Read::User(id(name)),
        1 => Read::CampaignsOf(id(name)),
        2 => Read::Campaign(campaign),
        3 => Read::SessionsOf(campaign),
        4 => Read::Session(session),
        5 => Read::SummariesOf(session),
        6 => Read::Transcript(session),
        _ => match pick % 3 {
            0 => Read::SessionByShareToken(mine.tokens[pick % mine.tokens.len()].clone()),
            _ => Read::SearchSessions {
                campaign,
                query: world.words[pick % world.words.len()].clone(),
            },
        },
    }
}

fn cases() -> u32 {
    support::cases_from_env("CUTOVER_ISOLATION_CASES", 10_000)
}

#[test]
fn every_read_built_from_a_users_own_ids_returns_only_that_users_data() {
    let world = &*WORLD;
    let config = ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    };
    proptest!(config, |(user in 0usize..USERS.len(), kind in 0usize..8, pick in 0usize..64)| {
        let read = read_for(world, user, kind, pick);
        let name = USERS[user];
        let answers = support::RUNTIME.block_on(async {
            (
                world.app.postgres_reads().read(&read).await.unwrap(),
                world.app.dynamodb_reads().read(&read).await.unwrap(),
            )
        });
        for answer in [&answers.0, &answers.1] {
            if let Err(leak) = owned_by(answer, &id(name), &world.owned[name]) {
                return Err(TestCaseError::fail(format!("{read:?}: {leak}")));
            }
        }
        prop_assert_eq!(&answers.0, &answers.1, "the stores disagree on {:?}", read);
    });
}

#[test]
fn a_user_asking_with_another_users_ids_gets_what_a_missing_entity_gets() {
    use cutover_app::access::read_as;
    use cutover_core::command::Subject;
    let world = &*WORLD;
    let config = ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    };
    proptest!(config, |(asker in 0usize..USERS.len(), owner in 0usize..USERS.len(), kind in 0usize..8, pick in 0usize..64)| {
        let read = read_for(world, owner, kind, pick);
        let requester = id(USERS[asker]);
        let (postgres, dynamodb) = support::RUNTIME.block_on(async {
            (
                read_as(world.app.postgres_reads(), &requester, &read).await.unwrap(),
                read_as(world.app.dynamodb_reads(), &requester, &read).await.unwrap(),
            )
        });
        prop_assert_eq!(&postgres, &dynamodb, "the stores disagree on {:?} asked by {}", read, requester);
        if asker == owner || read.subject() == Subject::ShareLink {
            // One's own data, or a share link: served as the plain read.
            let plain = support::RUNTIME
                .block_on(world.app.postgres_reads().read(&read))
                .unwrap();
            prop_assert_eq!(&postgres, &plain, "{:?} asked by its owner {}", read, requester);
        } else {
            prop_assert_eq!(&postgres, &read.empty_answer(), "{:?} leaked to {}", read, requester);
        }
    });
}

#[test]
fn share_tokens_are_128_random_bits() {
    let tokens: Vec<String> = (0..10_000)
        .map(|_| cutover_app::pg::new_share_token())
        .collect();
    let distinct: HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), tokens.len(), "a token repeated");
    assert!(tokens.iter().all(|t| {
        t.len() == 32
            && t.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    }));
    // 1,280,000 bits: a fair source sets half of them, give or take a few hundredths.
    let ones: u32 = tokens
        .iter()
        .flat_map(|t| hex::decode(t).unwrap())
        .map(u8::count_ones)
        .sum();
    let share = f64::from(ones) / (tokens.len() as f64 * 128.0);
    assert!((0.49..0.51).contains(&share), "{share}");
}
