//! Every read the workload makes, judged as it is answered: against the
//! model's answer at that point of the run, not only at the end, so an app
//! that serves a stale answer and is repaired by a later write is caught.
//!
//! The model is fed in dispatch order and each user's operations run in
//! order on one worker; the workload reads only what the reader owns, and
//! only its owner writes it, so the model's answer when a read is
//! dispatched is the one answer a correct app gives. A run with faults is
//! not judged here: a read served from DynamoDB may then lag the relay
//! legitimately, and which answers the writes in flight allow is not
//! modeled yet (the end-of-run checks judge such runs).

use cutover_app::Read;
use cutover_core::command::Subject;
use cutover_core::driver::{self as protocol, Rejection};
use cutover_core::keys::EntityKind;
use cutover_core::model::Model;
use cutover_core::workload::{Op, OpKind};
use serde_json::Value;

use crate::blame::EntityProblem;
use crate::driver::Performed;
use crate::record::CheckResult;

/// Wrong answers kept with their whole story; the rest are counted.
const SAMPLES: usize = 20;

/// The answer a correct app gives to `op` now, if `op` is a read the model
/// can judge (a share link: the session while it is shared, nothing once
/// unshared or gone).
pub(crate) fn expectation(model: &Model, op: &Op) -> Option<Value> {
    match &op.kind {
        OpKind::Write { .. } => None,
        OpKind::Read { read } => protocol::expected_answer(model, read),
        OpKind::Search { campaign, query } => protocol::expected_answer(
            model,
            &Read::SearchSessions {
                campaign: campaign.clone(),
                query: query.clone(),
            },
        ),
        OpKind::OpenShareLink { session } => match model.sessions.get(session) {
            Some(found) if found.shared => {
                protocol::expected_answer(model, &Read::Session(session.clone()))
            }
            _ => Some(Value::Null),
        },
    }
}

/// What one worker's judged reads came to.
#[derive(Debug, Default)]
pub(crate) struct Verdicts {
    judged: u64,
    wrong: u64,
    samples: Vec<String>,
    entities: Vec<EntityProblem>,
}

impl Verdicts {
    /// Judges the answer `performed` gave to `read` (operation `op`) against
    /// `expected`.
    pub(crate) fn judge(&mut self, op: &Op, read: &Read, expected: &Value, performed: &Performed) {
        self.judged += 1;
        let wrong = match performed {
            Performed::Ok { answer, .. } => protocol::compare_answer(read, expected, answer)
                .map(|difference| (difference.what, difference.entities)),
            // Nothing there: "not found" is that answer too.
            Performed::Rejected {
                reason: Rejection::NotFound,
                ..
            } if nothing(expected) => None,
            Performed::Rejected { reason, detail } => Some((
                format!("expected {expected}, refused ({}): {detail}", reason.name()),
                subject(read),
            )),
            // A failure is counted with the run's errors, not judged here.
            Performed::Failed { .. } => None,
        };
        let Some((what, entities)) = wrong else {
            return;
        };
        self.wrong += 1;
        if self.samples.len() < SAMPLES {
            let what: String = what.chars().take(600).collect();
            self.samples.push(format!(
                "op {} ({read:?} by {}): {what}",
                op.ordinal, op.user
            ));
        }
        self.entities
            .extend(entities.into_iter().map(|(kind, id)| EntityProblem {
                kind,
                id,
                what: format!("op {} read it wrong", op.ordinal),
            }));
    }

    pub(crate) fn merge(&mut self, other: Verdicts) {
        self.judged += other.judged;
        self.wrong += other.wrong;
        let room = SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
        self.entities.extend(other.entities);
    }

    /// The check in the run record; `reproduce` is the run's command line
    /// (each sample names its ordinal in it).
    pub(crate) fn into_check(mut self, reproduce: &str) -> CheckResult {
        self.samples.sort();
        let mut detail = format!(
            "{} of {} reads answered otherwise than the model at that point",
            self.wrong, self.judged
        );
        if self.wrong > 0 {
            detail.push_str(&format!(" (reproduce: `{reproduce}`; each names its op)"));
        }
        for sample in &self.samples {
            detail.push_str(&format!("; {sample}"));
        }
        CheckResult {
            name: "in-run-reads".to_owned(),
            passed: self.wrong == 0,
            detail,
            entities: self.entities,
        }
    }
}

/// Whether an answer says "nothing": no entity, an empty list.
fn nothing(answer: &Value) -> bool {
    match answer {
        Value::Null => true,
        Value::Array(values) => values.is_empty(),
        _ => false,
    }
}

fn subject(read: &Read) -> Vec<(EntityKind, String)> {
    match read.subject() {
        Subject::User(id) => vec![(EntityKind::User, id.to_string())],
        Subject::Campaign(id) => vec![(EntityKind::Campaign, id.to_string())],
        Subject::Session(id) => vec![(EntityKind::Session, id.to_string())],
        Subject::ShareLink => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_core::keys::Id;
    use serde_json::json;

    fn op(ordinal: u64, read: Read) -> Op {
        Op {
            ordinal,
            user: Id::parse("u1").unwrap(),
            kind: OpKind::Read { read },
        }
    }

    #[test]
    fn a_wrong_answer_is_named_with_its_op_user_and_both_answers() {
        let mut model = Model::default();
        model
            .apply(&cutover_app::Command::CreateUser {
                user: Id::parse("u1").unwrap(),
                email: "u1@example.com".into(),
                display_name: "One".into(),
            })
            .unwrap();
        let read = Read::User(Id::parse("u1").unwrap());
        let asked = op(7, read.clone());
        let expected = expectation(&model, &asked).unwrap();
        let mut verdicts = Verdicts::default();
        let right = json!({"id": "u1", "email": "u1@example.com", "display_name": "One"});
        verdicts.judge(
            &asked,
            &read,
            &expected,
            &Performed::Ok {
                answer: right,
                share_token: None,
            },
        );
        let stale = json!({"id": "u1", "email": "u1@example.com", "display_name": "Old"});
        verdicts.judge(
            &asked,
            &read,
            &expected,
            &Performed::Ok {
                answer: stale,
                share_token: None,
            },
        );
        // "Not found" is nothing, and nothing is not this user.
        verdicts.judge(
            &asked,
            &read,
            &expected,
            &Performed::Rejected {
                reason: Rejection::NotFound,
                detail: "no such user".into(),
            },
        );
        let check = verdicts.into_check("cutover replay s.toml --seed 3");
        assert!(!check.passed);
        assert!(check.detail.starts_with("2 of 3 reads"), "{}", check.detail);
        assert!(
            check.detail.contains("op 7 (User(Id(\"u1\")) by u1)")
                || check.detail.contains("op 7 (User("),
            "{}",
            check.detail
        );
        assert!(check.detail.contains("\"Old\""), "{}", check.detail);
        assert!(
            check.detail.contains("cutover replay s.toml --seed 3"),
            "{}",
            check.detail
        );
        assert_eq!(check.entities.len(), 2);
        // Nothing expected: "not found" is right.
        let gone = op(8, Read::User(Id::parse("u9").unwrap()));
        let mut verdicts = Verdicts::default();
        let OpKind::Read { read } = &gone.kind else {
            unreachable!()
        };
        verdicts.judge(
            &gone,
            read,
            &expectation(&model, &gone).unwrap(),
            &Performed::Rejected {
                reason: Rejection::NotFound,
                detail: "no such user".into(),
            },
        );
        assert!(verdicts.into_check("r").passed);
    }
}
