//! Every read the workload makes, judged as it is answered: against the
//! model's answer at that point of the run, not only at the end, so an app
//! that serves a stale answer and is repaired by a later write is caught.
//!
//! The model is fed in dispatch order, only the owner writes what it owns,
//! and a read runs on the worker of whoever owns what it names, in order
//! with that owner's writes (even when a stranger asks), so the model's
//! answer when a read is dispatched is the one answer a correct app gives.
//! A stranger's read is judged in every run: who owns what never changes.
//! Other reads are not judged in a run with faults, where a read served
//! from DynamoDB may lag the relay legitimately; such runs are judged at
//! their settle points and at the end (`checks`).

use cutover_app::Read;
use cutover_core::command::Subject;
use cutover_core::driver::{self as protocol, Rejection};
use cutover_core::keys::{EntityKind, Id};
use cutover_core::model::Model;
use cutover_core::workload::{Op, OpKind};
use serde_json::Value;

use crate::blame::EntityProblem;
use crate::driver::Performed;
use crate::record::CheckResult;

/// Wrong answers kept with their whole story; the rest are counted.
const SAMPLES: usize = 20;

/// What a read is judged on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expected {
    pub answer: Value,
    /// Asked by a user who does not own what it names: the answer must be
    /// "nothing" (an isolation finding otherwise).
    pub stranger: bool,
}

/// The answer a correct app gives to `op` now, if `op` is a read the model
/// can judge: a read by a user who does not own its subject — always, since
/// who owns what never changes — and, with `content`, every other read (a
/// share link: the session while it is shared, nothing once unshared or gone).
pub(crate) fn expectation(model: &Model, op: &Op, content: bool) -> Option<Expected> {
    let read = match &op.kind {
        OpKind::Write { .. } => return None,
        OpKind::Read { read } => read.clone(),
        OpKind::Search { campaign, query } => Read::SearchSessions {
            campaign: campaign.clone(),
            query: query.clone(),
        },
        // Only while the session is shared does its link open it, and a
        // revoked link never again. Who opens it does not matter to the
        // answer; a stranger served a session that is not shared is an
        // isolation finding. Judged with content only: under faults the
        // unshare may legitimately be still on its way to DynamoDB.
        OpKind::OpenShareLink { session, revoked } => {
            let found = model.sessions.get(session);
            let answer = match found {
                Some(found) if found.shared && !revoked => {
                    protocol::expected_answer(model, &Read::Session(session.clone()))?
                }
                _ => Value::Null,
            };
            let stranger = answer.is_null() && found.is_some_and(|found| found.user != op.user);
            return content.then_some(Expected { answer, stranger });
        }
    };
    if is_strangers(model, &op.user, &read) {
        return Some(Expected {
            answer: protocol::answer_json(&read.empty_answer()),
            stranger: true,
        });
    }
    content
        .then(|| protocol::expected_answer(model, &read))
        .flatten()
        .map(|answer| Expected {
            answer,
            stranger: false,
        })
}

/// Whether `read` names what someone other than `user` owns.
fn is_strangers(model: &Model, user: &Id, read: &Read) -> bool {
    owner(model, read).is_some_and(|owner| owner != user)
}

/// The answer `user` must get to `read` (not a share link) from an app
/// that holds what `model` holds: nothing if it names what another user
/// owns, the model's answer otherwise.
pub(crate) fn answer_for(model: &Model, user: &Id, read: &Read) -> Option<Value> {
    if is_strangers(model, user, read) {
        return Some(protocol::answer_json(&read.empty_answer()));
    }
    protocol::expected_answer(model, read)
}

/// Who owns what a read or a share link names, by the model (`None`: a
/// write, or nothing the model holds).
pub(crate) fn owner_of_target<'m>(model: &'m Model, op: &Op) -> Option<&'m Id> {
    match &op.kind {
        OpKind::Write { .. } => None,
        OpKind::Read { read } => owner(model, read),
        OpKind::Search { campaign, .. } => model.campaigns.get(campaign).map(|c| &c.user),
        OpKind::OpenShareLink { session, .. } => model.sessions.get(session).map(|s| &s.user),
    }
}

/// Who owns what `read` names, by the model (`None`: nobody, or public).
fn owner<'m>(model: &'m Model, read: &Read) -> Option<&'m Id> {
    match read.subject() {
        Subject::User(id) => model.users.get_key_value(id).map(|(id, _)| id),
        Subject::Campaign(id) => model.campaigns.get(id).map(|c| &c.user),
        Subject::Session(id) => model.sessions.get(id).map(|s| &s.user),
        Subject::ShareLink => None,
    }
}

/// What one worker's judged reads came to: those of the owner, and those
/// of strangers (isolation).
#[derive(Debug, Default)]
pub(crate) struct Verdicts {
    owners: Tally,
    strangers: Tally,
}

#[derive(Debug, Default)]
struct Tally {
    judged: u64,
    wrong: u64,
    samples: Vec<String>,
    entities: Vec<EntityProblem>,
}

impl Verdicts {
    /// Judges the answer `performed` gave to `read` (operation `op`).
    pub(crate) fn judge(
        &mut self,
        op: &Op,
        read: &Read,
        expected: &Expected,
        performed: &Performed,
    ) {
        let tally = if expected.stranger {
            &mut self.strangers
        } else {
            &mut self.owners
        };
        tally.judge(op, read, &expected.answer, performed);
    }

    pub(crate) fn merge(&mut self, other: Verdicts) {
        self.owners.merge(other.owners);
        self.strangers.merge(other.strangers);
    }

    /// The checks in the run record: `in-run-reads` (when `content` was
    /// judged) and `isolation`; `reproduce` is the run's command line (each
    /// sample names its ordinal in it).
    pub(crate) fn into_checks(self, content: bool, reproduce: &str) -> Vec<CheckResult> {
        let mut checks = Vec::new();
        if content {
            checks.push(self.owners.into_check(
                "in-run-reads",
                "reads answered otherwise than the model at that point",
                reproduce,
            ));
        }
        checks.push(self.strangers.into_check(
            "isolation",
            "reads by a user who does not own what they name answered with something",
            reproduce,
        ));
        checks
    }
}

impl Tally {
    fn judge(&mut self, op: &Op, read: &Read, expected: &Value, performed: &Performed) {
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

    fn merge(&mut self, other: Tally) {
        self.judged += other.judged;
        self.wrong += other.wrong;
        let room = SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
        self.entities.extend(other.entities);
    }

    fn into_check(mut self, name: &str, what: &str, reproduce: &str) -> CheckResult {
        self.samples.sort();
        let mut detail = format!("{} of {} {what}", self.wrong, self.judged);
        if self.wrong > 0 {
            detail.push_str(&format!(" (reproduce: `{reproduce}`; each names its op)"));
        }
        for sample in &self.samples {
            detail.push_str(&format!("; {sample}"));
        }
        CheckResult {
            name: name.to_owned(),
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
    use serde_json::json;

    fn op(ordinal: u64, user: &str, read: Read) -> Op {
        Op {
            ordinal,
            user: Id::parse(user).unwrap(),
            kind: OpKind::Read { read },
        }
    }

    #[test]
    fn a_wrong_answer_is_named_with_its_op_user_and_both_answers() {
        let mut model = Model::default();
        for user in ["u1", "u2"] {
            model
                .apply(&cutover_app::Command::CreateUser {
                    user: Id::parse(user).unwrap(),
                    email: format!("{user}@example.com"),
                    display_name: "One".into(),
                })
                .unwrap();
        }
        let read = Read::User(Id::parse("u1").unwrap());
        let asked = op(7, "u1", read.clone());
        let expected = expectation(&model, &asked, true).unwrap();
        assert!(!expected.stranger);
        let mut verdicts = Verdicts::default();
        let answer = |name: &str| Performed::Ok {
            answer: json!({"id": "u1", "email": "u1@example.com", "display_name": name}),
            share_token: None,
        };
        verdicts.judge(&asked, &read, &expected, &answer("One"));
        verdicts.judge(&asked, &read, &expected, &answer("Old"));
        // "Not found" is nothing, and nothing is not this user.
        let not_found = Performed::Rejected {
            reason: Rejection::NotFound,
            detail: "no such user".into(),
        };
        verdicts.judge(&asked, &read, &expected, &not_found);
        // Asked by u2: nothing is right, the user is an isolation finding.
        let stranger = op(9, "u2", read.clone());
        let nothing = expectation(&model, &stranger, false).expect("judged even without content");
        assert!(nothing.stranger);
        verdicts.judge(&stranger, &read, &nothing, &not_found);
        verdicts.judge(&stranger, &read, &nothing, &answer("One"));
        let checks = verdicts.into_checks(true, "cutover replay s.toml --seed 3");
        let [reads, isolation] = checks.as_slice() else {
            panic!("{checks:?}")
        };
        assert_eq!(reads.name, "in-run-reads");
        assert!(!reads.passed);
        assert!(reads.detail.starts_with("2 of 3 reads"), "{}", reads.detail);
        assert!(reads.detail.contains("op 7 (User("), "{}", reads.detail);
        assert!(reads.detail.contains(" by u1)"), "{}", reads.detail);
        assert!(reads.detail.contains("\"Old\""), "{}", reads.detail);
        assert!(
            reads.detail.contains("cutover replay s.toml --seed 3"),
            "{}",
            reads.detail
        );
        assert_eq!(reads.entities.len(), 2);
        assert_eq!(isolation.name, "isolation");
        assert!(!isolation.passed);
        assert!(
            isolation.detail.starts_with("1 of 2 reads by a user"),
            "{}",
            isolation.detail
        );
        assert!(isolation.detail.contains("op 9 ("), "{}", isolation.detail);
        // Without content judging only the strangers' reads are judged.
        assert_eq!(expectation(&model, &asked, false), None);
    }
}
