//! The run record a replay leaves in `reports/`: what ran, how it went, and
//! the exact command that reproduces it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::blame::{self, EntityProblem, Suspect};

#[derive(Debug, Clone, Serialize)]
pub struct KindStats {
    pub ok: u64,
    /// Refused by the app (a missing entity, an oversize item): data, not a failure.
    pub rejected: u64,
    /// A store or the harness failed.
    pub failed: u64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    /// The entities it found wrong, when it names them (`crate::blame`
    /// joins them with the write and the fault behind them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntityProblem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayRecord {
    pub scenario: String,
    pub seed: u64,
    /// The command that replays exactly this workload.
    pub reproduce: String,
    /// Who performed the operations: the built-in path or an external driver.
    pub driver: String,
    pub mode: String,
    pub concurrency: u32,
    pub operations: u64,
    pub duration_ms: f64,
    pub throughput_ops_per_s: f64,
    pub by_kind: BTreeMap<String, KindStats>,
    /// The first errors seen, with the operation that caused them.
    pub error_samples: Vec<String>,
    /// Entity writes the built-in path left to its relay after the commit;
    /// `None` when an external driver wrote (its path is its own).
    pub inline_apply_failures: Option<u64>,
    /// Operations the client tried again after a transient failure.
    pub client_retries: u64,
    /// Writes whose failed attempt had committed after all (the retry was
    /// refused as already done).
    pub writes_resolved_on_retry: u64,
    /// The faults injected, in firing order, and what the path did.
    pub faults: Vec<crate::faults::FaultRecord>,
    pub shadow_compared: u64,
    pub shadow_mismatched: u64,
    pub checks: Vec<CheckResult>,
    /// Each entity a failed check named, with the write and the fault behind it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspects: Vec<Suspect>,
    /// Which engine served each store, filled in by the caller.
    pub backends: BTreeMap<String, String>,
    /// `debug` or `release`: the timings above depend on it.
    pub build_profile: String,
}

impl ReplayRecord {
    /// Passed when nothing failed and every check held.
    pub fn passed(&self) -> bool {
        self.by_kind.values().all(|kind| kind.failed == 0)
            && self.checks.iter().all(|check| check.passed)
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# Replay of `{}` (seed {})\n\n**{}** — {} operations in {:.1} s ({:.0} ops/s), concurrency {}, mode `{}`.\n\nReproduce: `{}`\n\nDriver: {}\n\nBuild: {} build of cutover\n\n",
            self.scenario,
            self.seed,
            if self.passed() { "PASSED" } else { "FAILED" },
            self.operations,
            self.duration_ms / 1000.0,
            self.throughput_ops_per_s,
            self.concurrency,
            self.mode,
            self.reproduce,
            self.driver,
            self.build_profile
        );
        if !self.backends.is_empty() {
            out.push_str("Backends: ");
            out.push_str(
                &self
                    .backends
                    .iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            out.push_str("\n\n");
        }
        out.push_str("| operation | ok | rejected | failed | p50 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (kind, stats) in &self.by_kind {
            out.push_str(&format!(
                "| {kind} | {} | {} | {} | {:.2} | {:.2} | {:.2} |\n",
                stats.ok,
                stats.rejected,
                stats.failed,
                stats.latency_ms_p50,
                stats.latency_ms_p99,
                stats.latency_ms_max
            ));
        }
        out.push_str(&format!(
            "\nDynamoDB/S3 writes left to the relay after commit: {}. Client retries after transient failures: {} ({} writes found already committed on retry). Shadow reads compared: {}, mismatched: {}.\n",
            self.inline_apply_failures.map_or_else(
                || "not known (the driver's own path)".to_owned(),
                |n| n.to_string()
            ),
            self.client_retries,
            self.writes_resolved_on_retry,
            self.shadow_compared,
            self.shadow_mismatched
        ));
        if !self.faults.is_empty() {
            out.push_str("\n## Faults\n\n| # | fault | asked | at op | at s | what was done | injected | unavailable ms |\n| ---: | --- | --- | ---: | ---: | --- | ---: | ---: |\n");
            for (index, fault) in self.faults.iter().enumerate() {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {}{} | {} | {} |\n",
                    index + 1,
                    fault.kind,
                    fault.asked,
                    fault.at_operation.map_or("-".into(), |n| n.to_string()),
                    fault
                        .at_ms
                        .map_or("-".into(), |ms| format!("{:.1}", ms / 1000.0)),
                    fault.how,
                    fault
                        .error
                        .as_deref()
                        .map_or(String::new(), |e| format!(" — FAILED: {e}")),
                    fault.injected_requests,
                    fault
                        .unavailable_ms
                        .map_or("-".into(), |ms| format!("{ms:.0}")),
                ));
            }
            out.push_str(
                "\nWhat the dual-write path did after each fault (until the next one):\n\n",
            );
            for (index, fault) in self.faults.iter().enumerate() {
                out.push_str(&format!(
                    "{}. {} — {} operations: {}\n",
                    index + 1,
                    fault.kind,
                    fault.reaction.operations,
                    fault.reaction_line()
                ));
            }
        }
        out.push_str("\n## Checks\n\n");
        if self.checks.is_empty() {
            out.push_str("None configured.\n");
        }
        for check in &self.checks {
            out.push_str(&format!(
                "- **{}**: {} — {}\n",
                check.name,
                if check.passed { "passed" } else { "FAILED" },
                check.detail
            ));
        }
        if !self.suspects.is_empty() {
            out.push_str("\n## Lost or divergent writes\n\n");
            let named: usize = self.checks.iter().map(|check| check.entities.len()).sum();
            if named > self.suspects.len() {
                out.push_str(&format!(
                    "The first {} of {named} entities the checks name:\n\n",
                    self.suspects.len()
                ));
            }
            for suspect in &self.suspects {
                out.push_str(&format!("- {}\n", blame::describe(suspect)));
            }
        }
        if !self.error_samples.is_empty() {
            out.push_str("\n## First errors\n\n");
            for sample in &self.error_samples {
                out.push_str(&format!("- {sample}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{FaultRecord, PathReaction, ServiceCounters};
    use cutover_core::workload::FaultKind;

    fn stats(ok: u64, rejected: u64, failed: u64) -> KindStats {
        KindStats {
            ok,
            rejected,
            failed,
            latency_ms_p50: 1.25,
            latency_ms_p99: 9.5,
            latency_ms_max: 31.0,
        }
    }

    /// A failed run through an external driver, with one fault.
    #[test]
    fn the_markdown_record() {
        let record = ReplayRecord {
            scenario: "faults".into(),
            seed: 4242,
            reproduce: "cutover replay scenarios/faults.toml --seed 4242".into(),
            driver: "node drivers/naive/main.mjs".into(),
            mode: "dual".into(),
            build_profile: "release".into(),
            concurrency: 4,
            operations: 400,
            duration_ms: 8_000.0,
            throughput_ops_per_s: 50.0,
            by_kind: BTreeMap::from([
                ("create".into(), stats(180, 4, 0)),
                ("update".into(), stats(120, 0, 2)),
            ]),
            error_samples: vec!["op 211 update session s-4: DynamoDB: throttled".into()],
            inline_apply_failures: None,
            client_retries: 6,
            writes_resolved_on_retry: 1,
            faults: vec![FaultRecord {
                kind: FaultKind::DynamodbThrottle,
                asked: "dynamodb-throttle at 50%".into(),
                at_operation: Some(200),
                at_ms: Some(4_012.0),
                how: "the proxy answered 3 requests with ThrottlingException".into(),
                injected_requests: 3,
                unavailable_ms: None,
                error: None,
                reaction: PathReaction {
                    operations: 200,
                    dynamodb: ServiceCounters {
                        operations: 210,
                        attempts: 214,
                        injected: 3,
                    },
                    s3: ServiceCounters::default(),
                    postgres: ServiceCounters::default(),
                    left_to_relay: None,
                    client_retries: 2,
                    operations_failed: 2,
                },
            }],
            shadow_compared: 0,
            shadow_mismatched: 0,
            checks: vec![
                CheckResult {
                    name: "relay-drained".into(),
                    passed: true,
                    detail: "no pending outbox records".into(),
                    entities: Vec::new(),
                },
                CheckResult {
                    name: "parity".into(),
                    passed: false,
                    detail: "parity 99.500%: 2 of 400 mismatched".into(),
                    entities: Vec::new(),
                },
            ],
            suspects: Vec::new(),
            backends: BTreeMap::from([
                ("dynamodb".into(), "dynoxide".into()),
                ("postgres".into(), "local".into()),
            ]),
        };
        insta::assert_snapshot!(record.to_markdown());
    }
}
