//! Every read the workload makes, judged as it is answered: against the
//! model's answer at that point of the run, not only at the end, so an app
//! that serves a stale answer and is repaired by a later write is caught.
//!
//! The model is fed in dispatch order, only the owner writes what it owns,
//! and a read runs on the worker of whoever owns what it names, in order
//! with that owner's writes (even when a stranger asks), so the model's
//! answer when a read is dispatched is the one answer a correct app gives.
//! A stranger's read is judged exactly in every run: who owns what never
//! changes. In a run with faults an app may serve DynamoDB while its relay
//! catches up with writes a fault interrupted, so a read may show any
//! version of what it covers since the last write made with no fault in
//! force (`cutover_core::window`, narrowed by the worker, which knows which
//! writes were made under a fault); the settle points and the end-of-run
//! checks (`checks`) judge the stores.

use std::collections::HashMap;

use cutover_app::Read;
use cutover_core::command::{Change, Subject};
use cutover_core::driver::{self as protocol, Rejection};
use cutover_core::keys::{EntityKind, Id};
use cutover_core::model::Model;
use cutover_core::window::{Allowed, Window};
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
    /// The answers a correct app may give, as the writes since the stores
    /// last settled left them; the worker narrows them to what it may still
    /// lag behind (`Allowed::narrowed`).
    pub allowed: Allowed,
    /// Asked by a user who does not own what it names: the answer must be
    /// "nothing" (an isolation finding otherwise).
    pub stranger: bool,
}

/// Who owns each entity the run created, deleted or not: ownership never
/// changes, and a read of a deleted entity is still its owner's business
/// (routed to the owner's worker, a stranger's read judged as one).
#[derive(Debug, Default)]
pub(crate) struct Owners(HashMap<Id, Id>);

impl Owners {
    /// Notes the owners of what a write touched, as `model` holds it after.
    pub(crate) fn record(&mut self, model: &Model, touched: &[Change]) {
        for change in touched {
            let id = &change.id;
            let owner = match change.kind {
                EntityKind::User => model.users.contains_key(id).then_some(id),
                EntityKind::Campaign => model.campaigns.get(id).map(|c| &c.user),
                EntityKind::Session => model.sessions.get(id).map(|s| &s.user),
                EntityKind::Summary => model.summaries.get(id).map(|s| &s.user),
            };
            if let Some(owner) = owner {
                self.0.insert(id.clone(), owner.clone());
            }
        }
    }

    /// Who owns what a read or a share link names (`None`: a write, or
    /// nothing the run created).
    pub(crate) fn of_target(&self, op: &Op) -> Option<&Id> {
        match &op.kind {
            OpKind::Write { .. } => None,
            OpKind::Read { read } => self.of_read(read),
            OpKind::Search { campaign, .. } => self.0.get(campaign),
            OpKind::OpenShareLink { session, .. } => self.0.get(session),
        }
    }

    /// Who owns what `read` names (`None`: nobody, or a share link's).
    fn of_read(&self, read: &Read) -> Option<&Id> {
        match read.subject() {
            Subject::User(id) | Subject::Campaign(id) | Subject::Session(id) => self.0.get(id),
            Subject::ShareLink => None,
        }
    }

    /// Whether `read` names what someone other than `user` owns.
    fn is_strangers(&self, user: &Id, read: &Read) -> bool {
        self.of_read(read).is_some_and(|owner| owner != user)
    }
}

/// What a correct app may answer to `op` now, if `op` is a read the model
/// can judge. A read by a user who does not own its subject gets nothing
/// (exact in every run: who owns what never changes). Any other read may
/// show any version `window` holds of what it covers; the worker narrows
/// that to the versions written while a fault was in force, which a
/// correct app may still lag behind (it serves DynamoDB while its relay
/// catches up). A share link opens the session only while it is shared.
pub(crate) fn expectation(
    model: &Model,
    owners: &Owners,
    window: &Window,
    op: &Op,
) -> Option<Expected> {
    let read = match &op.kind {
        OpKind::Write { .. } | OpKind::Read { .. } | OpKind::Search { .. } => {
            op.kind.plain_read()?
        }
        // Who opens a link does not change the answer; a stranger served a
        // session that is not shared is an isolation finding.
        OpKind::OpenShareLink { session, revoked } => {
            let allowed = window.allowed_share_link(model, session, *revoked);
            let owned_by_another = owners.0.get(session).is_some_and(|owner| owner != &op.user);
            let stranger = owned_by_another
                && !matches!(&allowed, Allowed::Exact(answer) if !answer.is_null());
            return Some(Expected { allowed, stranger });
        }
    };
    if owners.is_strangers(&op.user, &read) {
        return Some(Expected {
            allowed: Allowed::Exact(protocol::answer_json(&read.empty_answer())),
            stranger: true,
        });
    }
    window.allowed(model, &read).map(|allowed| Expected {
        allowed,
        stranger: false,
    })
}

/// The answer `user` must get to `read` (not a share link) from an app
/// that holds what `model` holds: nothing if it names what another user
/// owns, the model's answer otherwise.
pub(crate) fn answer_for(model: &Model, owners: &Owners, user: &Id, read: &Read) -> Option<Value> {
    if owners.is_strangers(user, read) {
        return Some(protocol::answer_json(&read.empty_answer()));
    }
    protocol::expected_answer(model, read)
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
    /// Judged against more than one version of what they show: writes
    /// made while a fault was in force may not have reached every store.
    lenient: u64,
    wrong: u64,
    samples: Vec<String>,
    entities: Vec<EntityProblem>,
}

impl Verdicts {
    /// Judges the answer `performed` gave to `read` (operation `op`)
    /// against `allowed`, `Expected::allowed` narrowed to what may lag.
    pub(crate) fn judge(
        &mut self,
        op: &Op,
        read: &Read,
        expected: &Expected,
        allowed: &Allowed,
        performed: &Performed,
    ) {
        let tally = if expected.stranger {
            &mut self.strangers
        } else {
            &mut self.owners
        };
        if allowed.lenient() {
            tally.lenient += 1;
        }
        tally.judge(op, read, allowed, performed);
    }

    pub(crate) fn merge(&mut self, other: Verdicts) {
        self.owners.merge(other.owners);
        self.strangers.merge(other.strangers);
    }

    /// The checks in the run record: `in-run-reads` and `isolation`;
    /// `reproduce` is the run's command line (each sample names its ordinal
    /// in it).
    pub(crate) fn into_checks(self, reproduce: &str) -> Vec<CheckResult> {
        let owners = "reads answered otherwise than the model at that point";
        vec![
            self.owners.into_check("in-run-reads", owners, reproduce),
            self.strangers.into_check(
                "isolation",
                "reads by a user who does not own what they name answered with something",
                reproduce,
            ),
        ]
    }
}

impl Tally {
    fn judge(&mut self, op: &Op, read: &Read, allowed: &Allowed, performed: &Performed) {
        self.judged += 1;
        let wrong = match performed {
            Performed::Ok { answer, .. } => allowed
                .difference(read, answer)
                .map(|difference| (difference.what, difference.entities)),
            // Nothing there: "not found" is that answer too.
            Performed::Rejected {
                reason: Rejection::NotFound,
                ..
            } if allowed.allows_nothing() => None,
            Performed::Rejected { reason, detail } => Some((
                format!(
                    "expected {}, refused ({}): {detail}",
                    allowed.describe(600),
                    reason.name()
                ),
                protocol::read_subject(read, &Value::Null),
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
        self.lenient += other.lenient;
        self.wrong += other.wrong;
        let room = SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
        self.entities.extend(other.entities);
    }

    fn into_check(mut self, name: &str, what: &str, reproduce: &str) -> CheckResult {
        self.samples.sort();
        let mut detail = format!("{} of {} {what}", self.wrong, self.judged);
        if self.lenient > 0 {
            detail.push_str(&format!(
                " ({} of them against more than one version: what writes made while a fault was in force may not yet have reached every store)",
                self.lenient
            ));
        }
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

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    #[test]
    fn a_wrong_answer_is_named_with_its_op_user_and_both_answers() {
        let mut model = Model::default();
        let mut owners = Owners::default();
        for user in ["u1", "u2"] {
            let touched = model
                .apply(&cutover_app::Command::CreateUser {
                    user: id(user),
                    email: format!("{user}@example.com"),
                    display_name: "One".into(),
                })
                .unwrap();
            owners.record(&model, &touched);
        }
        let read = Read::User(id("u1"));
        let asked = op(7, "u1", read.clone());
        let window = Window::default();
        let expected = expectation(&model, &owners, &window, &asked).unwrap();
        assert!(!expected.stranger);
        let allowed = expected.allowed.narrowed(|_| false);
        let mut verdicts = Verdicts::default();
        let answer = |name: &str| Performed::Ok {
            answer: json!({"id": "u1", "email": "u1@example.com", "display_name": name}),
            share_token: None,
        };
        verdicts.judge(&asked, &read, &expected, &allowed, &answer("One"));
        verdicts.judge(&asked, &read, &expected, &allowed, &answer("Old"));
        // "Not found" is nothing, and nothing is not this user.
        let not_found = Performed::Rejected {
            reason: Rejection::NotFound,
            detail: "no such user".into(),
        };
        verdicts.judge(&asked, &read, &expected, &allowed, &not_found);
        // Asked by u2: nothing is right, the user is an isolation finding.
        let stranger = op(9, "u2", read.clone());
        let nothing = expectation(&model, &owners, &window, &stranger).expect("a stranger's read");
        assert!(nothing.stranger);
        let allowed = nothing.allowed.narrowed(|_| true);
        verdicts.judge(&stranger, &read, &nothing, &allowed, &not_found);
        verdicts.judge(&stranger, &read, &nothing, &allowed, &answer("One"));
        let checks = verdicts.into_checks("cutover replay s.toml --seed 3");
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
    }

    /// A deleted session is still its owner's: another user's read of it is
    /// a stranger's, and a revoked link opens for them only while the
    /// owner's unshare may lag (made while a fault was in force).
    #[test]
    fn a_revoked_link_may_open_for_a_stranger_only_while_the_owner_s_unshare_may_lag() {
        use cutover_app::Command;
        let session = id("s1");
        let mut model = Model::default();
        let mut owners = Owners::default();
        let mut window = Window::default();
        let commands = [
            Command::CreateUser {
                user: id("u1"),
                email: "u1@example.com".into(),
                display_name: "One".into(),
            },
            Command::CreateCampaign {
                campaign: id("c1"),
                user: id("u1"),
                name: "n".into(),
                description: "d".into(),
            },
            Command::CreateSession {
                session: session.clone(),
                campaign: id("c1"),
                name: "n".into(),
                summary: "s".into(),
                metadata: json!({}),
                transcript: "t".into(),
            },
            Command::ShareSession {
                session: session.clone(),
            },
        ];
        for (ordinal, command) in commands.iter().enumerate() {
            let touched = window.apply(&mut model, command, ordinal as u64).unwrap();
            owners.record(&model, &touched);
        }
        window.close();
        let open = protocol::expected_answer(&model, &Read::Session(session.clone())).unwrap();
        let mut answer = open.clone();
        answer["share_token"] = json!("t");
        let unshare = Command::UnshareSession {
            session: session.clone(),
        };
        window.apply(&mut model, &unshare, 8).unwrap();
        let stranger = Op {
            ordinal: 9,
            user: id("u2"),
            kind: OpKind::OpenShareLink {
                session: session.clone(),
                revoked: true,
            },
        };
        let expected = expectation(&model, &owners, &window, &stranger).unwrap();
        assert!(expected.stranger);
        let read = Read::SessionByShareToken("t".into());
        let opened = Performed::Ok {
            answer,
            share_token: None,
        };
        let isolation = |faulted: bool| {
            let mut verdicts = Verdicts::default();
            let allowed = expected.allowed.narrowed(|_| faulted);
            verdicts.judge(&stranger, &read, &expected, &allowed, &opened);
            let [_, isolation]: [CheckResult; 2] = verdicts.into_checks("x").try_into().unwrap();
            isolation
        };
        assert!(isolation(true).passed, "{}", isolation(true).detail);
        assert!(!isolation(false).passed, "{}", isolation(false).detail);

        // Deleted, the session is still u1's: u2's plain read of it is a
        // stranger's, and routed to u1's worker.
        window
            .apply(
                &mut model,
                &Command::DeleteSession {
                    session: session.clone(),
                },
                10,
            )
            .unwrap();
        let plain = op(11, "u2", Read::Session(session));
        assert_eq!(owners.of_target(&plain), Some(&id("u1")));
        let expected = expectation(&model, &owners, &window, &plain).unwrap();
        assert!(expected.stranger);
        assert_eq!(expected.allowed, Allowed::Exact(Value::Null));
    }
}
