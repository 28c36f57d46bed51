//! Which write left each problem the checks found, and which fault came
//! before it: a lost or divergent write is named with the operation that last
//! wrote the entity (its ordinal, command and outcome, when it ran) and the
//! latest fault fired before that operation ended.

use std::collections::HashMap;
use std::sync::Mutex;

use cutover_core::command::Change;
use cutover_core::keys::{EntityKind, Id};
use serde::Serialize;

use crate::faults::FaultRecord;
use crate::record::CheckResult;

/// An entity a check found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityProblem {
    pub kind: EntityKind,
    pub id: String,
    /// What is wrong, in words (`missing in DynamoDB`, `field name differs`).
    pub what: String,
}

/// The last operation that wrote an entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastWrite {
    pub ordinal: u64,
    /// The user who made it.
    pub user: String,
    /// The command (`update_session`), as the protocol names it.
    pub command: String,
    /// `ok`, `rejected` or `failed`, after the client's retries.
    pub outcome: &'static str,
    pub began_ms: f64,
    pub ended_ms: f64,
}

/// The last write to each entity, kept as workers finish operations.
#[derive(Debug, Default)]
pub struct WriteLog {
    last: Mutex<HashMap<(EntityKind, Id), LastWrite>>,
}

impl WriteLog {
    pub fn record(&self, touched: &[Change], write: LastWrite) {
        let mut last = self.last.lock().expect("write log lock");
        for change in touched {
            last.insert((change.kind, change.id.clone()), write.clone());
        }
    }

    fn last_write(&self, kind: EntityKind, id: &str) -> Option<LastWrite> {
        let id = Id::parse(id).ok()?;
        self.last
            .lock()
            .expect("write log lock")
            .get(&(kind, id))
            .cloned()
    }
}

/// A problem, the write behind it and the fault before that write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suspect {
    pub check: String,
    #[serde(flatten)]
    pub problem: EntityProblem,
    pub last_write: Option<LastWrite>,
    /// The latest fault fired before the write ended: its kind, when, and
    /// how long before the write ended.
    pub fault_before: Option<FaultBefore>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultBefore {
    /// Its number in the run record's fault table (from 1).
    pub number: usize,
    pub kind: String,
    pub at_ms: f64,
    pub ms_before_write_ended: f64,
}

/// At most this many suspects are listed (the checks' own counts stay whole).
pub const SUSPECTS_LISTED: usize = 200;

/// Joins each failed check's entities with their last write and the fault
/// before it.
pub fn suspects(checks: &[CheckResult], log: &WriteLog, faults: &[FaultRecord]) -> Vec<Suspect> {
    let mut out = Vec::new();
    for check in checks.iter().filter(|check| !check.passed) {
        for problem in &check.entities {
            if out.len() == SUSPECTS_LISTED {
                return out;
            }
            let last_write = log.last_write(problem.kind, &problem.id);
            let fault_before = last_write
                .as_ref()
                .and_then(|write| fault_before(faults, write.ended_ms));
            out.push(Suspect {
                check: check.name.clone(),
                problem: problem.clone(),
                last_write,
                fault_before,
            });
        }
    }
    out
}

fn fault_before(faults: &[FaultRecord], ended_ms: f64) -> Option<FaultBefore> {
    faults
        .iter()
        .enumerate()
        .filter_map(|(index, fault)| fault.at_ms.map(|at_ms| (index, fault, at_ms)))
        .filter(|(_, _, at_ms)| *at_ms <= ended_ms)
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(index, fault, at_ms)| FaultBefore {
            number: index + 1,
            kind: fault.kind.to_string(),
            at_ms,
            ms_before_write_ended: ended_ms - at_ms,
        })
}

/// One line for the run record.
pub fn describe(suspect: &Suspect) -> String {
    let problem = &suspect.problem;
    let mut line = format!(
        "{} {} ({}): {}",
        problem.kind.name(),
        problem.id,
        suspect.check,
        problem.what
    );
    match &suspect.last_write {
        Some(write) => line.push_str(&format!(
            " — last written by op {} ({} by {}, {}) at {:.2}–{:.2} s",
            write.ordinal,
            write.command,
            write.user,
            write.outcome,
            write.began_ms / 1000.0,
            write.ended_ms / 1000.0
        )),
        None => line.push_str(" — no write of the run touched it"),
    }
    match &suspect.fault_before {
        Some(fault) => line.push_str(&format!(
            "; fault #{} {} fired at {:.2} s, {:.0} ms before that write ended",
            fault.number,
            fault.kind,
            fault.at_ms / 1000.0,
            fault.ms_before_write_ended
        )),
        None if suspect.last_write.is_some() => {
            line.push_str("; no fault had fired before it");
        }
        None => {}
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::PathReaction;
    use cutover_core::workload::FaultKind;

    fn fault(kind: FaultKind, at_ms: f64) -> FaultRecord {
        FaultRecord {
            kind,
            asked: "down 400 ms".into(),
            at_operation: Some(1),
            at_ms: Some(at_ms),
            how: String::new(),
            injected_requests: 0,
            unavailable_ms: None,
            error: None,
            reaction: PathReaction::default(),
        }
    }

    #[test]
    fn a_problem_is_named_with_its_last_write_and_the_fault_before_it() {
        let log = WriteLog::default();
        let session = Id::parse("s1").unwrap();
        let write = |ordinal, began_ms, ended_ms| LastWrite {
            ordinal,
            user: "u1".into(),
            command: "update_session".into(),
            outcome: "ok",
            began_ms,
            ended_ms,
        };
        let touched = [Change {
            kind: EntityKind::Session,
            id: session.clone(),
        }];
        log.record(&touched, write(3, 100.0, 200.0));
        log.record(&touched, write(9, 1500.0, 2600.0));
        let check = CheckResult {
            name: "parity".into(),
            passed: false,
            detail: String::new(),
            entities: vec![
                EntityProblem {
                    kind: EntityKind::Session,
                    id: "s1".into(),
                    what: "missing in DynamoDB".into(),
                },
                EntityProblem {
                    kind: EntityKind::User,
                    id: "u9".into(),
                    what: "not expected".into(),
                },
            ],
        };
        let faults = [
            fault(FaultKind::PostgresRestart, 1000.0),
            fault(FaultKind::DynamodbRestart, 2000.0),
            fault(FaultKind::DynamodbRestart, 3000.0),
        ];
        let found = suspects(&[check], &log, &faults);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].last_write.as_ref().unwrap().ordinal, 9);
        let before = found[0].fault_before.as_ref().unwrap();
        assert_eq!((before.number, before.ms_before_write_ended), (2, 600.0));
        assert_eq!(
            describe(&found[0]),
            "session s1 (parity): missing in DynamoDB — last written by op 9 (update_session by u1, ok) at 1.50–2.60 s; fault #2 dynamodb-restart fired at 2.00 s, 600 ms before that write ended"
        );
        assert_eq!(
            describe(&found[1]),
            "user u9 (parity): not expected — no write of the run touched it"
        );
        // A passing check blames nothing.
        let passed = CheckResult {
            name: "parity".into(),
            passed: true,
            detail: String::new(),
            entities: found.iter().map(|s| s.problem.clone()).collect(),
        };
        assert!(suspects(&[passed], &log, &faults).is_empty());
    }
}
