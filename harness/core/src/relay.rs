//! The relay's rule, without IO: from an entity's current row, its pending
//! outbox records and what DynamoDB holds, the steps that bring DynamoDB and S3
//! to the row's state, in the order they must happen. `cutover_app::relay`
//! reads the inputs under the entity's advisory lock and performs the steps.
//!
//! Applying is state-based, so records may be applied late, twice or out of
//! order and the stores still converge on the newest state:
//! - items left at keys the entity no longer has go first (deleted, or the
//!   entity deleted and re-created elsewhere), each delete conditioned on the
//!   newest write the records stand for, so a newer item there survives;
//! - an item already as new as the row is left alone;
//! - a transcript object goes up before any item points to it, and the one an
//!   item stopped pointing to goes after;
//! - after a failed attempt (which may have left objects nothing points to)
//!   the session's whole transcript prefix is swept but for the live object.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::Entity;
use crate::keys::{EntityKind, Id};
use crate::profile::{Profile, StoredKey};

/// A pending outbox record, as the relay read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecord {
    pub id: i64,
    /// The item's key as the write that made this record stored it.
    pub key: StoredKey,
    pub owner: Id,
    pub version: i64,
    /// PostgreSQL's clock when the relay read the record, in milliseconds:
    /// what orders a delete at a stale key when the profile orders writes by
    /// `updated_at` (every write the record stands for happened before it).
    pub read_at_ms: i64,
    /// Failed applies so far: a record that failed may have left an object behind.
    pub attempts: i32,
}

/// One step of an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Delete the item at `key` unless what orders its writes is `below` or more.
    DeleteItem { key: StoredKey, below: i64 },
    /// Delete one transcript object.
    DeleteObject { key: String },
    /// Delete every transcript object of the session (by the profile's
    /// layout: `Profile::is_transcript_of`) except `keep`.
    SweepObjects {
        user: Id,
        session: Id,
        keep: Option<String>,
    },
    /// Upload the row's transcript as the object `key`.
    PutTranscript { key: String },
    /// Put the row's item unless a newer one is there (`order` is the row's).
    PutItem { order: i64 },
}

/// What DynamoDB holds for the entity, read under its lock.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The decodable items at the stale keys (`stale_keys`); only sessions
    /// need them, to learn which transcript an item pointed to.
    pub at_stale_keys: BTreeMap<StoredKey, Entity>,
    /// The decodable item at the row's own key.
    pub at_current_key: Option<Entity>,
}

/// The keys the records wrote that the entity no longer has, with the owner
/// each was written for.
pub fn stale_keys(
    profile: &Profile,
    state: Option<&Entity>,
    records: &[PendingRecord],
) -> BTreeSet<(StoredKey, Id)> {
    let current_key = state.map(|entity| profile.key(&entity.key()));
    records
        .iter()
        .filter(|record| Some(&record.key) != current_key.as_ref())
        .map(|record| (record.key.clone(), record.owner.clone()))
        .collect()
}

/// The steps that bring DynamoDB and S3 to `state` (`None`: the row is gone).
pub fn plan(
    profile: &Profile,
    kind: EntityKind,
    id: &Id,
    state: Option<&Entity>,
    records: &[PendingRecord],
    stored: &Stored,
) -> Vec<Step> {
    let mut steps = Vec::new();
    // What a delete at a stale key compares: the newest record's version, or
    // the time it was read when the profile orders writes by `updated_at`.
    let newest_record = records
        .iter()
        .map(|record| {
            if profile.orders_by_updated_at(kind) {
                record.read_at_ms
            } else {
                record.version
            }
        })
        .max()
        .unwrap_or(0);
    let recovering = records.iter().any(|record| record.attempts > 0);
    let live_object = |owner: &Id| match state {
        Some(Entity::Session(session)) if &session.user_id == owner => {
            Some(session.transcript.storage_key.clone())
        }
        _ => None,
    };
    for (key, owner) in stale_keys(profile, state, records) {
        let newest = state.map_or(newest_record, |entity| {
            profile.order_of(entity).max(newest_record)
        });
        let pointed_to = match stored.at_stale_keys.get(&key) {
            Some(Entity::Session(old)) if kind == EntityKind::Session => {
                Some(old.transcript.storage_key.clone())
            }
            _ => None,
        };
        steps.push(Step::DeleteItem {
            key,
            below: newest.saturating_add(1),
        });
        if kind != EntityKind::Session {
            continue;
        }
        let keep = live_object(&owner);
        if recovering {
            steps.push(Step::SweepObjects {
                user: owner,
                session: id.clone(),
                keep,
            });
        } else if let Some(pointer) = pointed_to.filter(|pointer| Some(pointer) != keep.as_ref()) {
            steps.push(Step::DeleteObject { key: pointer });
        }
    }
    let Some(entity) = state else {
        return steps;
    };
    let order = profile.order_of(entity);
    if stored
        .at_current_key
        .as_ref()
        .is_some_and(|item| profile.order_of(item) >= order)
    {
        // Already applied (by the writer, or by an earlier relay pass).
        return steps;
    }
    let Entity::Session(session) = entity else {
        steps.push(Step::PutItem { order });
        return steps;
    };
    let old_pointer = match &stored.at_current_key {
        Some(Entity::Session(old)) => Some(old.transcript.storage_key.clone()),
        _ => None,
    };
    let pointer = &session.transcript.storage_key;
    // Content-addressed: when the item already points to this content, the
    // object is there.
    if old_pointer.as_ref() != Some(pointer) {
        steps.push(Step::PutTranscript {
            key: pointer.clone(),
        });
    }
    steps.push(Step::PutItem { order });
    if recovering {
        steps.push(Step::SweepObjects {
            user: session.user_id.clone(),
            session: session.id.clone(),
            keep: Some(pointer.clone()),
        });
    } else if let Some(old) = old_pointer.filter(|old| old != pointer) {
        steps.push(Step::DeleteObject { key: old });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Session, Summary, TranscriptPointer};
    use chrono::{TimeZone, Utc};

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    /// Session s1 of `owner` at `version`, its transcript object named by `content`.
    fn session(owner: &str, version: i64, content: &str) -> Entity {
        let at = Utc
            .timestamp_millis_opt(1_700_000_000_000 + version)
            .unwrap();
        Entity::Session(Session {
            id: id("s1"),
            campaign_id: id("c1"),
            user_id: id(owner),
            name: "n".into(),
            summary: "s".into(),
            metadata: serde_json::json!({}),
            share_token: None,
            transcript: TranscriptPointer {
                storage_key: object(owner, content),
                bytes: 1,
                sha256: content.into(),
            },
            created_at: at,
            updated_at: at,
            version,
        })
    }

    fn object(owner: &str, content: &str) -> String {
        format!("transcripts/{owner}/s1/{content}")
    }

    fn summary(version: i64) -> Entity {
        let at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
        Entity::Summary(Summary {
            id: id("m1"),
            session_id: id("s1"),
            user_id: id("u1"),
            kind: "k".into(),
            body: "b".into(),
            created_at: at,
            updated_at: at,
            version,
        })
    }

    fn key_of(entity: &Entity) -> StoredKey {
        Profile::reference().key(&entity.key())
    }

    fn record(entity: &Entity, version: i64, attempts: i32) -> PendingRecord {
        PendingRecord {
            id: version,
            key: key_of(entity),
            owner: entity.owner().clone(),
            version,
            read_at_ms: 0,
            attempts,
        }
    }

    struct Case {
        name: &'static str,
        kind: EntityKind,
        state: Option<Entity>,
        records: Vec<PendingRecord>,
        stored: Stored,
        steps: Vec<Step>,
    }

    fn at_current(entity: Entity) -> Stored {
        Stored {
            at_current_key: Some(entity),
            ..Stored::default()
        }
    }

    fn at_stale(entity: Entity) -> Stored {
        Stored {
            at_stale_keys: [(key_of(&entity), entity)].into(),
            ..Stored::default()
        }
    }

    fn cases() -> Vec<Case> {
        let (v1, v2) = (session("u1", 1, "aa"), session("u1", 2, "bb"));
        // Deleted and re-created by another owner in another campaign: a new key.
        let mut elsewhere = session("u2", 3, "cc");
        if let Entity::Session(moved) = &mut elsewhere {
            moved.campaign_id = id("c2");
        }
        vec![
            Case {
                name: "a new session: its object, then its item",
                kind: EntityKind::Session,
                state: Some(v1.clone()),
                records: vec![record(&v1, 1, 0)],
                stored: Stored::default(),
                steps: vec![
                    Step::PutTranscript {
                        key: object("u1", "aa"),
                    },
                    Step::PutItem { order: 1 },
                ],
            },
            Case {
                name: "already applied (a duplicate or a late record): nothing",
                kind: EntityKind::Session,
                state: Some(v2.clone()),
                records: vec![record(&v1, 1, 0), record(&v2, 2, 0)],
                stored: at_current(v2.clone()),
                steps: vec![],
            },
            Case {
                name: "a newer item than the row (a write in flight): left alone",
                kind: EntityKind::Session,
                state: Some(v1.clone()),
                records: vec![record(&v1, 1, 0)],
                stored: at_current(v2.clone()),
                steps: vec![],
            },
            Case {
                name: "a new transcript: new object, item, then the old object",
                kind: EntityKind::Session,
                state: Some(v2.clone()),
                records: vec![record(&v2, 2, 0)],
                stored: at_current(v1.clone()),
                steps: vec![
                    Step::PutTranscript {
                        key: object("u1", "bb"),
                    },
                    Step::PutItem { order: 2 },
                    Step::DeleteObject {
                        key: object("u1", "aa"),
                    },
                ],
            },
            Case {
                name: "same transcript, other fields: the item only",
                kind: EntityKind::Session,
                state: Some(session("u1", 2, "aa")),
                records: vec![record(&v1, 2, 0)],
                stored: at_current(v1.clone()),
                steps: vec![Step::PutItem { order: 2 }],
            },
            Case {
                name: "after a failed attempt: the prefix is swept but for the live object",
                kind: EntityKind::Session,
                state: Some(v2.clone()),
                records: vec![record(&v2, 2, 1)],
                stored: at_current(v1.clone()),
                steps: vec![
                    Step::PutTranscript {
                        key: object("u1", "bb"),
                    },
                    Step::PutItem { order: 2 },
                    Step::SweepObjects {
                        user: Id::parse("u1").unwrap(),
                        session: Id::parse("s1").unwrap(),
                        keep: Some(object("u1", "bb")),
                    },
                ],
            },
            Case {
                name: "deleted: the item, newer writes kept, then the object it pointed to",
                kind: EntityKind::Session,
                state: None,
                records: vec![record(&v1, 1, 0), record(&v1, 5, 0)],
                stored: at_stale(v1.clone()),
                steps: vec![
                    Step::DeleteItem {
                        key: key_of(&v1),
                        below: 6,
                    },
                    Step::DeleteObject {
                        key: object("u1", "aa"),
                    },
                ],
            },
            Case {
                name: "deleted, the item already gone: a conditional delete, no object",
                kind: EntityKind::Session,
                state: None,
                records: vec![record(&v1, 4, 0)],
                stored: Stored::default(),
                steps: vec![Step::DeleteItem {
                    key: key_of(&v1),
                    below: 5,
                }],
            },
            Case {
                name: "deleted after a failed attempt: the item, then the whole prefix",
                kind: EntityKind::Session,
                state: None,
                records: vec![record(&v1, 4, 2)],
                stored: at_stale(v1.clone()),
                steps: vec![
                    Step::DeleteItem {
                        key: key_of(&v1),
                        below: 5,
                    },
                    Step::SweepObjects {
                        user: Id::parse("u1").unwrap(),
                        session: Id::parse("s1").unwrap(),
                        keep: None,
                    },
                ],
            },
            Case {
                name: "re-created under another owner: the old key goes first, newer than the row kept",
                kind: EntityKind::Session,
                state: Some(elsewhere.clone()),
                records: vec![record(&v1, 1, 0), record(&elsewhere, 3, 0)],
                stored: at_stale(v1.clone()),
                steps: vec![
                    Step::DeleteItem {
                        key: key_of(&v1),
                        below: 4,
                    },
                    Step::DeleteObject {
                        key: object("u1", "aa"),
                    },
                    Step::PutTranscript {
                        key: object("u2", "cc"),
                    },
                    Step::PutItem { order: 3 },
                ],
            },
            Case {
                name: "not a session: items only, never objects",
                kind: EntityKind::Summary,
                state: None,
                records: vec![record(&summary(2), 2, 3)],
                stored: at_stale(summary(2)),
                steps: vec![Step::DeleteItem {
                    key: key_of(&summary(2)),
                    below: 3,
                }],
            },
            Case {
                name: "a summary update: its item",
                kind: EntityKind::Summary,
                state: Some(summary(3)),
                records: vec![record(&summary(3), 3, 0)],
                stored: at_current(summary(2)),
                steps: vec![Step::PutItem { order: 3 }],
            },
        ]
    }

    #[test]
    fn the_relay_plans_each_case_as_the_table_says() {
        let profile = Profile::reference();
        for case in cases() {
            let target = match case.kind {
                EntityKind::Session => id("s1"),
                _ => id("m1"),
            };
            let steps = plan(
                &profile,
                case.kind,
                &target,
                case.state.as_ref(),
                &case.records,
                &case.stored,
            );
            assert_eq!(steps, case.steps, "{}", case.name);
        }
    }

    #[test]
    fn under_updated_at_ordering_a_stale_delete_compares_the_read_time() {
        let profile = Profile::parse(crate::profile::ELECTRODB_TOML, "electrodb.toml").unwrap();
        let v1 = session("u1", 1, "aa");
        let mut pending = record(&v1, 0, 0);
        pending.key = profile.key(&v1.key());
        pending.read_at_ms = 1_700_000_009_999;
        let steps = plan(
            &profile,
            EntityKind::Session,
            &id("s1"),
            None,
            &[pending.clone()],
            &Stored::default(),
        );
        assert_eq!(
            steps,
            vec![Step::DeleteItem {
                key: pending.key,
                below: 1_700_000_010_000,
            }]
        );
    }
}
