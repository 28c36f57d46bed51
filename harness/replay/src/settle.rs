//! Settle points: in a run with faults, when each fault after the first is
//! due (by the same schedule, counted in operations sent), the workload
//! pauses, every operation sent completes, the driver
//! drains its background work, and the stores are judged — DynamoDB and S3
//! against PostgreSQL (parity), PostgreSQL against the model. What a fault
//! broke is found before a later write to the same entity can hide it (an
//! app that skips a sync on a retry is repaired by the next update, and the
//! end-of-run checks would pass it).
//!
//! A settle point with a fault still armed (requests it has not yet failed)
//! is skipped, and the report says so: the checks' own requests would suffer
//! it, and the window stays open until the next settle point or the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cutover_app::App;
use cutover_core::model::Model;
use cutover_core::workload::FaultTarget;
use tokio::sync::Notify;

use crate::blame::EntityProblem;
use crate::checks;
use crate::driver::Driver;
use crate::engine::ReplayError;
use crate::faults::FaultRig;
use crate::record::CheckResult;

const POLL: Duration = Duration::from_millis(20);
const CHECK_ATTEMPTS: u32 = 5;

/// Settle points made so far, shared by the workload (which makes them, by
/// the faults' own schedule) and the fault driver (which fires fault `k`,
/// from the second on, only once settle point `k` is made).
#[derive(Debug, Default)]
pub(crate) struct SettleGate {
    made: AtomicUsize,
    notify: Notify,
}

impl SettleGate {
    /// Waits until settle point `k` (before fault `k`) has been made, or the
    /// workload has ended.
    pub(crate) async fn wait_for(&self, k: usize, finished: &AtomicBool) {
        while self.made.load(Ordering::SeqCst) < k && !finished.load(Ordering::Relaxed) {
            let _ = tokio::time::timeout(POLL, self.notify.notified()).await;
        }
    }

    /// Settle point `k` is made: fault `k` may fire.
    pub(crate) fn made(&self, k: usize) {
        self.made.store(k, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// One settle point's verdicts.
#[derive(Debug)]
pub(crate) struct SettlePoint {
    after_fault: String,
    after_operation: u64,
    outcome: Result<Vec<CheckResult>, String>,
}

impl SettlePoint {
    /// Whether the driver drained here: every write sent has reached every
    /// store, so no read after it may show an older version.
    pub(crate) fn drained(&self) -> bool {
        self.outcome.as_ref().is_ok_and(|checks| {
            checks
                .iter()
                .any(|check| check.name == checks::DRAINED && check.passed)
        })
    }
}

/// What is needed to judge the stores at a settle point.
pub(crate) struct Judge<'a> {
    pub driver: &'a Driver,
    pub app: &'a Arc<App>,
    pub rig: &'a FaultRig<'a>,
    pub drain_timeout: Duration,
}

impl Judge<'_> {
    /// Judges the stores now (every operation sent has completed): the
    /// driver drains, then parity and PostgreSQL against `model`.
    pub(crate) async fn settle(
        &self,
        after_fault: String,
        after_operation: u64,
        model: &Model,
    ) -> Result<SettlePoint, ReplayError> {
        let unspent: Vec<String> = [
            FaultTarget::Dynamodb,
            FaultTarget::S3,
            FaultTarget::Postgres,
        ]
        .into_iter()
        .filter_map(|target| {
            let left = self.rig.injector.unspent(target);
            (left > 0).then(|| format!("{left} {target:?} requests"))
        })
        .collect();
        let outcome = if unspent.is_empty() {
            let drained = checks::drained(self.driver, self.drain_timeout).await?;
            let parity = retried("parity", || checks::parity(self.app.clone())).await?;
            let postgres =
                retried("no-lost-writes", || checks::no_lost_writes(self.app, model)).await?;
            Ok(vec![drained, parity, postgres])
        } else {
            Err(format!(
                "skipped: faults still armed ({})",
                unspent.join(", ")
            ))
        };
        Ok(SettlePoint {
            after_fault,
            after_operation,
            outcome,
        })
    }
}

/// A check's reads, tried again while they fail: the fault just over may
/// have left a broken connection in a pool (a restarted PostgreSQL), which
/// the next attempt replaces. The checks only read, so a retry is safe.
async fn retried<F, Fut>(check: &'static str, run: F) -> Result<CheckResult, ReplayError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<CheckResult, cutover_app::AppError>>,
{
    let mut delay = Duration::from_millis(100);
    for _ in 1..CHECK_ATTEMPTS {
        match run().await {
            Ok(result) => return Ok(result),
            Err(error) => {
                tracing::debug!(%error, check, "settle-point check failed; trying again");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    run()
        .await
        .map_err(|source| ReplayError::Check { check, source })
}

/// The run's `settle-points` check: passed when every settle point judged
/// passed; each failing one says after which fault and operation, and what.
pub(crate) fn into_check(points: Vec<SettlePoint>) -> CheckResult {
    let judged = points.iter().filter(|p| p.outcome.is_ok()).count();
    let mut detail = format!(
        "{judged} of {} settle points judged (drained, parity, PostgreSQL against the model)",
        points.len()
    );
    let mut passed = true;
    let mut entities = Vec::new();
    for point in points {
        let at = format!("after {} (op {})", point.after_fault, point.after_operation);
        match point.outcome {
            Err(skipped) => detail.push_str(&format!("; {at}: {skipped}")),
            Ok(checks) => {
                for check in checks.into_iter().filter(|check| !check.passed) {
                    passed = false;
                    let what: String = check.detail.chars().take(1500).collect();
                    detail.push_str(&format!("; {at}: {} failed: {what}", check.name));
                    entities.extend(check.entities.into_iter().map(|problem| EntityProblem {
                        what: format!("{at}: {}", problem.what),
                        ..problem
                    }));
                }
            }
        }
    }
    CheckResult {
        name: "settle-points".to_owned(),
        passed,
        detail,
        entities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, passed: bool) -> CheckResult {
        CheckResult {
            name: name.into(),
            passed,
            detail: format!("{name} detail"),
            entities: Vec::new(),
        }
    }

    #[test]
    fn a_failing_settle_point_fails_the_check_and_a_skipped_one_is_said() {
        let points = vec![
            SettlePoint {
                after_fault: "dynamodb-throttle".into(),
                after_operation: 40,
                outcome: Ok(vec![check("relay-drained", true), check("parity", false)]),
            },
            SettlePoint {
                after_fault: "s3-latency".into(),
                after_operation: 90,
                outcome: Err("skipped: faults still armed (2 S3 requests)".into()),
            },
        ];
        let result = into_check(points);
        assert!(!result.passed);
        assert!(
            result.detail.starts_with("1 of 2 settle points judged"),
            "{}",
            result.detail
        );
        assert!(
            result
                .detail
                .contains("after dynamodb-throttle (op 40): parity failed: parity detail"),
            "{}",
            result.detail
        );
        assert!(result.detail.contains("after s3-latency (op 90): skipped"));
        let clean = into_check(vec![SettlePoint {
            after_fault: "x".into(),
            after_operation: 1,
            outcome: Ok(vec![check("parity", true)]),
        }]);
        assert!(clean.passed, "{}", clean.detail);
    }
}
