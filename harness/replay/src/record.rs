//! The run record a replay leaves in `reports/`: what ran, how it went, and
//! the exact command that reproduces it.

use std::collections::BTreeMap;

use serde::Serialize;

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

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayRecord {
    pub scenario: String,
    pub seed: u64,
    /// The command that replays exactly this workload.
    pub reproduce: String,
    pub mode: String,
    pub concurrency: u32,
    pub operations: u64,
    pub duration_ms: f64,
    pub throughput_ops_per_s: f64,
    pub by_kind: BTreeMap<String, KindStats>,
    /// The first errors seen, with the operation that caused them.
    pub error_samples: Vec<String>,
    pub inline_apply_failures: u64,
    pub shadow_compared: u64,
    pub shadow_mismatched: u64,
    pub checks: Vec<CheckResult>,
    /// Which engine served each store, filled in by the caller.
    pub backends: BTreeMap<String, String>,
}

impl ReplayRecord {
    /// Passed when nothing failed and every check held.
    pub fn passed(&self) -> bool {
        self.by_kind.values().all(|kind| kind.failed == 0)
            && self.checks.iter().all(|check| check.passed)
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# Replay of `{}` (seed {})\n\n**{}** — {} operations in {:.1} s ({:.0} ops/s), concurrency {}, mode `{}`.\n\nReproduce: `{}`\n\n",
            self.scenario,
            self.seed,
            if self.passed() { "PASSED" } else { "FAILED" },
            self.operations,
            self.duration_ms / 1000.0,
            self.throughput_ops_per_s,
            self.concurrency,
            self.mode,
            self.reproduce
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
            "\nDynamoDB/S3 writes left to the relay after commit: {}. Shadow reads compared: {}, mismatched: {}.\n\n## Checks\n\n",
            self.inline_apply_failures, self.shadow_compared, self.shadow_mismatched
        ));
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
        if !self.error_samples.is_empty() {
            out.push_str("\n## First errors\n\n");
            for sample in &self.error_samples {
                out.push_str(&format!("- {sample}\n"));
            }
        }
        out
    }
}
