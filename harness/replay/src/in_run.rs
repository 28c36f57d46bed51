//! Every read the workload makes, judged as it is answered: against the
//! model's answer at that point of the run, not only at the end, so an app
//! that serves a stale answer and is repaired by a later write is caught.
//!
//! The model is fed in dispatch order, only the owner writes what it owns,
//! and a read runs on the worker of whoever owns what it names, in order
//! with that owner's writes (even when a stranger asks), so the model's
//! answer when a read is dispatched is the one answer a correct app gives.
//! A stranger's read is judged exactly in every run: who owns what never
//! changes. In a run with faults a read served from DynamoDB may lag the
//! relay legitimately, so the owner's reads are judged against every answer
//! the writes since the stores last settled allow (`cutover_core::window`);
//! the settle points and the end-of-run checks (`checks`) judge the stores.

use cutover_app::Read;
use cutover_core::command::Subject;
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
    /// The model's answer now.
    pub exact: Allowed,
    /// What the answer may be when the owner wrote while a fault was in
    /// force since the stores last settled: any version since (`None`: no
    /// version but the current one).
    pub lagging: Option<Allowed>,
    /// Asked by a user who does not own what it names: the answer must be
    /// "nothing" (an isolation finding otherwise).
    pub stranger: bool,
}

/// What a correct app may answer to `op` now, if `op` is a read the model
/// can judge. A read by a user who does not own its subject gets nothing
/// (who owns what never changes, so this is exact in every run). Any other
/// read gets the model's answer, or, if its owner wrote while a fault was
/// in force, any answer `window` allows: a version since the stores last
/// settled (an app may serve DynamoDB while its relay catches up). A share
/// link opens the session only while it is shared.
pub(crate) fn expectation(model: &Model, window: &Window, op: &Op) -> Option<Expected> {
    let exact = expected_within(model, &Window::default(), op)?;
    // Who owns what never changes, so a stranger's plain read is exact; a
    // share link's answer follows the sharing, which may lag as any write.
    let link = matches!(op.kind, OpKind::OpenShareLink { .. });
    if (exact.stranger && !link) || window.open_entities() == 0 {
        return Some(exact);
    }
    let lagging = expected_within(model, window, op)
        .map(|lagging| lagging.exact)
        .filter(|lagging| *lagging != exact.exact);
    Some(Expected { lagging, ..exact })
}

/// [`expectation`] with every version `window` holds allowed.
fn expected_within(model: &Model, window: &Window, op: &Op) -> Option<Expected> {
    let read = match &op.kind {
        OpKind::Write { .. } | OpKind::Read { .. } | OpKind::Search { .. } => {
            op.kind.plain_read()?
        }
        // Who opens a link does not change the answer; a stranger served a
        // session that is not shared is an isolation finding.
        OpKind::OpenShareLink { session, revoked } => {
            let allowed = window.allowed_share_link(model, session, *revoked);
            let owned_by_another = model
                .sessions
                .get(session)
                .is_some_and(|found| found.user != op.user);
            let stranger = owned_by_another && allowed == Allowed::Exact(Value::Null);
            return Some(Expected {
                exact: allowed,
                lagging: None,
                stranger,
            });
        }
    };
    if is_strangers(model, &op.user, &read) {
        return Some(Expected {
            exact: Allowed::Exact(protocol::answer_json(&read.empty_answer())),
            lagging: None,
            stranger: true,
        });
    }
    window.allowed(model, &read).map(|allowed| Expected {
        exact: allowed,
        lagging: None,
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
    /// Judged against every version since the stores last settled.
    lagging: u64,
    wrong: u64,
    samples: Vec<String>,
    entities: Vec<EntityProblem>,
}

impl Verdicts {
    /// Judges the answer `performed` gave to `read` (operation `op`);
    /// `may_lag`: its owner wrote while a fault was in force, since the
    /// stores last settled.
    pub(crate) fn judge(
        &mut self,
        op: &Op,
        read: &Read,
        expected: &Expected,
        may_lag: bool,
        performed: &Performed,
    ) {
        let tally = if expected.stranger {
            &mut self.strangers
        } else {
            &mut self.owners
        };
        let allowed = match (&expected.lagging, may_lag) {
            (Some(lagging), true) => {
                tally.lagging += 1;
                lagging
            }
            _ => &expected.exact,
        };
        tally.judge(op, read, allowed, performed);
    }

    pub(crate) fn merge(&mut self, other: Verdicts) {
        self.owners.merge(other.owners);
        self.strangers.merge(other.strangers);
    }

    /// The checks in the run record: `in-run-reads` (when `content` was
    /// judged) and `isolation`; `reproduce` is the run's command line (each
    /// sample names its ordinal in it).
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
        self.lagging += other.lagging;
        self.wrong += other.wrong;
        let room = SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
        self.entities.extend(other.entities);
    }

    fn into_check(mut self, name: &str, what: &str, reproduce: &str) -> CheckResult {
        self.samples.sort();
        let mut detail = format!("{} of {} {what}", self.wrong, self.judged);
        if self.lagging > 0 {
            detail.push_str(&format!(
                " ({} of them, whose owner wrote while a fault was in force, against every version since the stores last settled)",
                self.lagging
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
        let window = Window::default();
        let expected = expectation(&model, &window, &asked).unwrap();
        assert!(!expected.stranger);
        let mut verdicts = Verdicts::default();
        let answer = |name: &str| Performed::Ok {
            answer: json!({"id": "u1", "email": "u1@example.com", "display_name": name}),
            share_token: None,
        };
        verdicts.judge(&asked, &read, &expected, false, &answer("One"));
        verdicts.judge(&asked, &read, &expected, false, &answer("Old"));
        // "Not found" is nothing, and nothing is not this user.
        let not_found = Performed::Rejected {
            reason: Rejection::NotFound,
            detail: "no such user".into(),
        };
        verdicts.judge(&asked, &read, &expected, false, &not_found);
        // Asked by u2: nothing is right, the user is an isolation finding.
        let stranger = op(9, "u2", read.clone());
        let nothing = expectation(&model, &window, &stranger).expect("a stranger's read");
        assert!(nothing.stranger);
        verdicts.judge(&stranger, &read, &nothing, true, &not_found);
        verdicts.judge(&stranger, &read, &nothing, true, &answer("One"));
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

    #[test]
    fn a_revoked_link_may_open_for_a_stranger_only_while_the_owner_s_unshare_may_lag() {
        use cutover_app::Command;
        let session = Id::parse("s1").unwrap();
        let mut model = Model::default();
        let mut window = Window::default();
        for command in [
            Command::CreateUser {
                user: Id::parse("u1").unwrap(),
                email: "u1@example.com".into(),
                display_name: "One".into(),
            },
            Command::CreateCampaign {
                campaign: Id::parse("c1").unwrap(),
                user: Id::parse("u1").unwrap(),
                name: "n".into(),
                description: "d".into(),
            },
            Command::CreateSession {
                session: session.clone(),
                campaign: Id::parse("c1").unwrap(),
                name: "n".into(),
                summary: "s".into(),
                metadata: json!({}),
                transcript: "t".into(),
            },
            Command::ShareSession {
                session: session.clone(),
            },
        ] {
            window.apply(&mut model, &command).unwrap();
        }
        window.close();
        let open = protocol::expected_answer(&model, &Read::Session(session.clone())).unwrap();
        let mut answer = open.clone();
        answer["share_token"] = json!("t");
        let unshare = Command::UnshareSession {
            session: session.clone(),
        };
        window.apply(&mut model, &unshare).unwrap();
        let stranger = Op {
            ordinal: 9,
            user: Id::parse("u2").unwrap(),
            kind: OpKind::OpenShareLink {
                session,
                revoked: true,
            },
        };
        let expected = expectation(&model, &window, &stranger).unwrap();
        assert!(expected.stranger);
        let read = Read::SessionByShareToken("t".into());
        let opened = Performed::Ok {
            answer,
            share_token: None,
        };
        let mut verdicts = Verdicts::default();
        verdicts.judge(&stranger, &read, &expected, true, &opened);
        let [_, isolation] = verdicts.into_checks("x").try_into().unwrap();
        assert!(isolation.passed, "{}", isolation.detail);
        let mut verdicts = Verdicts::default();
        verdicts.judge(&stranger, &read, &expected, false, &opened);
        let [_, isolation] = verdicts.into_checks("x").try_into().unwrap();
        assert!(!isolation.passed, "{}", isolation.detail);
    }
}
