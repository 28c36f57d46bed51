//! Versions that advance: every write to an entity must move the version
//! its answers show (`updated_at`), or the app's own conditional writes
//! ("never over a later state") cannot tell a late, older apply from the
//! state it would overwrite. Judged from the answers: a worker runs every
//! write and every read of what its users own, in order, so it knows how many
//! writes an entity had between two answers that show it.
//!
//! An answer without `updated_at` is not judged (the protocol allows a
//! driver to leave it out), and neither is one that may lag (a read after a
//! write made while a fault was in force, `in_run`): an older version is
//! then a legitimate answer.

use std::collections::HashMap;

use cutover_app::Read;
use cutover_core::command::Change;
use cutover_core::keys::EntityKind;
use cutover_core::workload::Op;
use serde_json::Value;

use crate::blame::EntityProblem;
use crate::record::CheckResult;

/// The field of an answer that carries its version.
pub const VERSION_FIELD: &str = "updated_at";

/// Findings kept with their whole story; the rest are counted.
const SAMPLES: usize = 20;

type EntityKey = (EntityKind, String);

/// The writes an entity has had on this worker, and the last of them.
#[derive(Debug, Clone, Default)]
struct Written {
    count: u64,
    last_op: u64,
    last_command: String,
}

/// One worker's view: the writes each entity had, the version each was last
/// seen with, and what that came to.
#[derive(Debug, Default)]
pub(crate) struct VersionWatch {
    written: HashMap<EntityKey, Written>,
    /// The version last seen, and the entity's write count then.
    seen: HashMap<EntityKey, (Value, u64)>,
    tally: Tally,
}

#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Answers seen again after at least one write.
    judged: u64,
    wrong: u64,
    samples: Vec<String>,
    entities: Vec<EntityProblem>,
}

impl VersionWatch {
    /// A write (operation `op`, named `command`) completed and touched these
    /// entities.
    pub(crate) fn wrote(&mut self, op: &Op, command: &str, touched: &[Change]) {
        for change in touched {
            let written = self
                .written
                .entry((change.kind, change.id.to_string()))
                .or_default();
            written.count += 1;
            written.last_op = op.ordinal;
            written.last_command = command.to_owned();
        }
    }

    /// Judges the versions an answer to `read` (operation `op`) shows.
    pub(crate) fn observe(&mut self, op: &Op, read: &Read, answer: &Value) {
        let Some(kind) = shown_kind(read) else {
            return;
        };
        let shown: Vec<&Value> = match answer {
            Value::Array(values) => values.iter().collect(),
            Value::Object(_) => vec![answer],
            _ => return,
        };
        for entity in shown {
            let (Some(id), Some(version)) = (entity["id"].as_str(), entity.get(VERSION_FIELD))
            else {
                continue;
            };
            if version.is_null() {
                continue;
            }
            let key = (kind, id.to_owned());
            let writes = self.written.get(&key).map_or(0, |w| w.count);
            if let Some((before, writes_then)) = self.seen.get(&key)
                && writes > *writes_then
            {
                self.tally.judged += 1;
                let problem = if version == before {
                    Some("kept its version")
                } else if went_back(before, version) {
                    Some("went back to an older version")
                } else {
                    None
                };
                if let Some(problem) = problem {
                    let written = &self.written[&key];
                    self.tally.wrong += 1;
                    let what = format!(
                        "{kind:?} {id} {problem} ({VERSION_FIELD} {before} then {version}) across {} write(s), the last op {} ({})",
                        writes - writes_then,
                        written.last_op,
                        written.last_command
                    );
                    if self.tally.samples.len() < SAMPLES {
                        self.tally.samples.push(format!(
                            "op {} ({read:?} by {}): {what}",
                            op.ordinal, op.user
                        ));
                    }
                    self.tally.entities.push(EntityProblem {
                        kind,
                        id: id.to_owned(),
                        what: format!("op {} saw its version unchanged by a write", op.ordinal),
                    });
                }
            }
            self.seen.insert(key, (version.clone(), writes));
        }
    }

    pub(crate) fn into_tally(self) -> Tally {
        self.tally
    }
}

impl Tally {
    pub(crate) fn merge(&mut self, other: Tally) {
        self.judged += other.judged;
        self.wrong += other.wrong;
        let room = SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
        self.entities.extend(other.entities);
    }

    /// The check `versions-advance`.
    pub(crate) fn into_check(mut self, reproduce: &str) -> CheckResult {
        self.samples.sort();
        let mut detail = format!(
            "{} of {} answers showing an entity again after a write kept or lowered its `{VERSION_FIELD}`",
            self.wrong, self.judged
        );
        if self.judged == 0 {
            detail.push_str(
                " (no answer showed an entity's version again after a write: not judged)",
            );
        }
        if self.wrong > 0 {
            detail.push_str(&format!(" (reproduce: `{reproduce}`; each names its op)"));
        }
        for sample in &self.samples {
            detail.push_str(&format!("; {sample}"));
        }
        CheckResult {
            name: "versions-advance".to_owned(),
            passed: self.wrong == 0,
            detail,
            entities: self.entities,
        }
    }
}

/// The kind of entity an answer to `read` shows with its fields.
fn shown_kind(read: &Read) -> Option<EntityKind> {
    match read {
        Read::User(_) => Some(EntityKind::User),
        Read::Campaign(_) | Read::CampaignsOf(_) => Some(EntityKind::Campaign),
        Read::Session(_) | Read::SessionsOf(_) | Read::SessionByShareToken(_) => {
            Some(EntityKind::Session)
        }
        Read::SummariesOf(_) => Some(EntityKind::Summary),
        Read::Transcript(_) | Read::SearchSessions { .. } => None,
    }
}

/// Whether `later` is an older version than `earlier`: both numbers, or
/// both ISO-8601 instants.
fn went_back(earlier: &Value, later: &Value) -> bool {
    match (earlier, later) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => b < a,
            _ => false,
        },
        (Value::String(a), Value::String(b)) => {
            let instant = |text: &str| chrono::DateTime::parse_from_rfc3339(text).ok();
            match (instant(a), instant(b)) {
                (Some(a), Some(b)) => b < a,
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_core::keys::Id;
    use cutover_core::workload::OpKind;
    use serde_json::json;

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    fn read_op(ordinal: u64, read: Read) -> Op {
        Op {
            ordinal,
            user: id("u1"),
            kind: OpKind::Read { read },
        }
    }

    fn session(at: &str) -> Value {
        json!({"id": "s1", "name": "x", VERSION_FIELD: at})
    }

    #[test]
    fn a_write_that_leaves_the_version_as_it_was_is_named_with_the_write() {
        let mut watch = VersionWatch::default();
        let read = Read::SessionsOf(id("c1"));
        let touched = [Change {
            kind: EntityKind::Session,
            id: id("s1"),
        }];
        watch.observe(
            &read_op(1, read.clone()),
            &read,
            &json!([session("2026-12-07T10:00:00.000Z")]),
        );
        // Seen again with no write between: nothing to judge.
        watch.observe(
            &read_op(2, read.clone()),
            &read,
            &json!([session("2026-12-07T10:00:00.000Z")]),
        );
        watch.wrote(&read_op(3, read.clone()), "update_session", &touched);
        watch.observe(
            &read_op(4, read.clone()),
            &read,
            &json!([session("2026-12-07T10:00:00.000Z")]),
        );
        watch.wrote(&read_op(5, read.clone()), "update_session", &touched);
        watch.observe(
            &read_op(6, read.clone()),
            &read,
            &json!([session("2026-12-07T10:00:01.000Z")]),
        );
        watch.wrote(&read_op(7, read.clone()), "update_session", &touched);
        watch.observe(
            &read_op(8, read.clone()),
            &read,
            &json!([session("2026-12-07T09:00:00.000Z")]),
        );
        // No version in the answer: not judged.
        watch.wrote(&read_op(9, read.clone()), "update_session", &touched);
        watch.observe(&read_op(10, read.clone()), &read, &json!([{"id": "s1"}]));
        let check = watch.into_tally().into_check("cutover replay x.toml");
        assert!(!check.passed);
        assert!(
            check.detail.starts_with("2 of 3 answers"),
            "{}",
            check.detail
        );
        assert!(
            check.detail.contains("op 4 (SessionsOf(") && check.detail.contains("kept its version"),
            "{}",
            check.detail
        );
        assert!(
            check.detail.contains("the last op 3 (update_session)"),
            "{}",
            check.detail
        );
        assert!(check.detail.contains("op 8 (") && check.detail.contains("went back"));
        assert_eq!(check.entities.len(), 2);
    }

    #[test]
    fn with_nothing_seen_twice_the_check_says_it_judged_nothing() {
        let check = VersionWatch::default().into_tally().into_check("x");
        assert!(check.passed);
        assert!(check.detail.contains("not judged"), "{}", check.detail);
    }
}
