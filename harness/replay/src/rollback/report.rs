//! What a rollback drill found, and its verdict: every line of it observed in
//! the stores or judged against the model, never taken from what was sent.

use cutover_core::keys::EntityKind;
use serde::Serialize;

use crate::record::CheckResult;

/// An item DynamoDB holds for no entity PostgreSQL has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnlyInDynamodb {
    pub kind: Option<EntityKind>,
    pub id: String,
    pub key: String,
}

/// The moment of the switch, as the stores showed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtSwitch {
    /// What the driver said was still pending after its drain (`None`: it
    /// could not say; `drain_problem` says why).
    pub pending: Option<u64>,
    pub drain_problem: Option<String>,
    /// What DynamoDB and S3 did not hold as PostgreSQL did at the switch, by
    /// the parity validator (entities, orphan objects, malformed items), as
    /// "kind id: finding": where the stores stood apart when the app left
    /// DynamoDB. Items only DynamoDB held are judged at the end.
    pub stores_differing: Vec<String>,
    /// Where PostgreSQL differed from the model at the switch.
    pub postgres_differences: Vec<String>,
}

/// What reached DynamoDB and S3 after the switch, which a rolled-back app
/// must not touch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AfterSwitch {
    /// Requests the app sent to DynamoDB while it was cut off.
    pub dynamodb_requests: u64,
    /// Requests the app sent to S3 while it was cut off.
    pub s3_requests: u64,
    /// What the driver said was pending when asked again at the end, still
    /// cut off (`None`: it could not say; `drain_problem_at_end` says why).
    pub pending_at_end: Option<u64>,
    pub drain_problem_at_end: Option<String>,
    /// Items added, changed or removed since the switch (table keys).
    pub items_changed: Vec<String>,
    /// Objects added, changed or removed since the switch (object keys).
    pub objects_changed: Vec<String>,
}

impl AfterSwitch {
    /// The app left DynamoDB and S3 alone: no request, no change, and no
    /// work it deferred to them.
    pub fn untouched(&self) -> bool {
        self.dynamodb_requests == 0
            && self.s3_requests == 0
            && self.items_changed.is_empty()
            && self.objects_changed.is_empty()
            && self.pending_at_end == Some(0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    pub scenario: String,
    pub seed: u64,
    pub writes_dual: u64,
    pub writes_postgres_only: u64,
    /// Reads (and searches, share links) made after the switch, each judged
    /// against the model.
    pub reads_after_switch: u64,
    /// Share links the workload opened after the switch whose token the
    /// drill never saw handed out (not asked).
    pub share_links_not_asked: u64,
    /// Writes the app refused exactly as the model did (a generated workload has few or none).
    pub refused_as_modeled: u64,
    pub at_switch: AtSwitch,
    pub after_switch: AfterSwitch,
    /// Where PostgreSQL differs from the workload's model at the end (empty: complete).
    pub postgres_differences: Vec<String>,
    /// Items DynamoDB holds for entities PostgreSQL does not have.
    pub only_in_dynamodb: Vec<OnlyInDynamodb>,
    /// Entities PostgreSQL holds that DynamoDB lacks or holds otherwise at the
    /// end (observed by the parity validator): expected for what was written
    /// after the switch.
    pub stale_or_missing_in_dynamodb: u64,
    /// Items DynamoDB still holds for entities deleted (or cascaded away) in
    /// PostgreSQL after the switch: expected, not lost data.
    pub deleted_since_switch: u64,
    /// Writes whose outcome differed from the model's (accepted by one,
    /// refused by the other, or failed).
    pub disagreements: Vec<String>,
    /// Reads after the switch whose answer was not the model's.
    pub wrong_answers: Vec<String>,
    /// At the end, with DynamoDB and S3 still cut off: every access pattern
    /// of every entity the model holds, asked of the app and judged.
    pub read_check: CheckResult,
}

impl RollbackReport {
    /// PostgreSQL alone is complete and the app behaved as modeled.
    pub fn postgres_complete(&self) -> bool {
        self.postgres_differences.is_empty()
            && self.at_switch.postgres_differences.is_empty()
            && self.disagreements.is_empty()
    }

    /// Nothing was left behind at the switch: the drain finished and the
    /// stores agreed.
    pub fn switch_clean(&self) -> bool {
        self.at_switch.pending == Some(0)
            && self.at_switch.drain_problem.is_none()
            && self.at_switch.stores_differing.is_empty()
    }

    /// The drill's verdict: the switch was clean, the app left DynamoDB and
    /// S3 alone after it and answered every read as the model does,
    /// PostgreSQL alone is complete, and nothing lives only in DynamoDB —
    /// that is, no reason to fail it.
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// Why the drill failed, a line per reason (empty when it passed).
    pub fn failures(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        let at = &self.at_switch;
        match (at.pending, &at.drain_problem) {
            (_, Some(problem)) => reasons.push(format!(
                "the drain before the switch did not finish: {problem}"
            )),
            (Some(0), None) => {}
            (Some(pending), None) => reasons.push(format!(
                "{pending} writes were still pending at the switch (they never reach DynamoDB)"
            )),
            (None, None) => reasons.push("the driver did not say what was pending".into()),
        }
        if !at.stores_differing.is_empty() {
            reasons.push(format!(
                "{} entities or objects were not in DynamoDB and S3 as in PostgreSQL at the switch",
                at.stores_differing.len()
            ));
        }
        if !at.postgres_differences.is_empty() {
            reasons.push(format!(
                "PostgreSQL differed from the model at the switch ({} differences)",
                at.postgres_differences.len()
            ));
        }
        let after = &self.after_switch;
        if after.dynamodb_requests > 0 || after.s3_requests > 0 {
            reasons.push(format!(
                "the app still reached DynamoDB ({} requests) and S3 ({} requests) after the switch",
                after.dynamodb_requests, after.s3_requests
            ));
        }
        match (after.pending_at_end, &after.drain_problem_at_end) {
            (_, Some(problem)) => reasons.push(format!(
                "the drain at the end, DynamoDB and S3 cut off, did not finish: {problem}"
            )),
            (Some(0), None) => {}
            (Some(pending), None) => reasons.push(format!(
                "{pending} writes were still pending at the end, after the switch"
            )),
            (None, None) => {
                reasons.push("the driver did not say what was pending at the end".into())
            }
        }
        if !after.items_changed.is_empty() || !after.objects_changed.is_empty() {
            reasons.push(format!(
                "{} items and {} objects changed after the switch",
                after.items_changed.len(),
                after.objects_changed.len()
            ));
        }
        if !self.wrong_answers.is_empty() {
            reasons.push(format!(
                "{} reads after the switch were not answered as the model answers",
                self.wrong_answers.len()
            ));
        }
        if !self.read_check.passed {
            reasons.push(format!(
                "the reads at the end were not answered as the model answers: {}",
                self.read_check.detail
            ));
        }
        if !self.postgres_differences.is_empty() {
            reasons.push(format!(
                "PostgreSQL alone differs from the model ({} differences)",
                self.postgres_differences.len()
            ));
        }
        if !self.disagreements.is_empty() {
            reasons.push(format!(
                "{} writes did not end as the model says",
                self.disagreements.len()
            ));
        }
        if !self.only_in_dynamodb.is_empty() {
            reasons.push(format!(
                "{} items live only in DynamoDB (a rollback loses them)",
                self.only_in_dynamodb.len()
            ));
        }
        reasons
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!(
            "# Rollback drill: {} (seed {})\n",
            self.scenario, self.seed
        ));
        line(format!(
            "{} writes through the dual-write path, then the switch to `postgres-only` with DynamoDB and S3 cut off, then {} writes and {} reads with them still cut off.\n",
            self.writes_dual, self.writes_postgres_only, self.reads_after_switch
        ));
        line(format!(
            "**{}**{}\n",
            if self.passed() { "PASSED" } else { "FAILED" },
            self.failures()
                .iter()
                .map(|reason| format!("\n- {reason}"))
                .collect::<String>()
        ));
        line("## At the switch\n".into());
        let at = &self.at_switch;
        line(format!(
            "- pending after the drain: {}",
            match (at.pending, &at.drain_problem) {
                (_, Some(problem)) => format!("not known ({problem})"),
                (Some(pending), None) => pending.to_string(),
                (None, None) => "not known".into(),
            }
        ));
        list(
            &mut line,
            "not in DynamoDB and S3 as in PostgreSQL",
            &at.stores_differing,
        );
        list(
            &mut line,
            "PostgreSQL against the model",
            &at.postgres_differences,
        );
        line("\n## After the switch\n".into());
        let after = &self.after_switch;
        line(format!(
            "- requests to DynamoDB while cut off: {}; to S3: {}",
            after.dynamodb_requests, after.s3_requests
        ));
        line(format!(
            "- pending when drained again at the end: {}",
            match (after.pending_at_end, &after.drain_problem_at_end) {
                (_, Some(problem)) => format!("not known ({problem})"),
                (Some(pending), None) => pending.to_string(),
                (None, None) => "not known".into(),
            }
        ));
        list(&mut line, "items changed", &after.items_changed);
        list(&mut line, "objects changed", &after.objects_changed);
        list(&mut line, "reads answered wrong", &self.wrong_answers);
        line(format!(
            "- every access pattern at the end, DynamoDB and S3 still cut off: {}",
            self.read_check.detail
        ));
        if self.share_links_not_asked > 0 {
            line(format!(
                "- share links not opened (token never handed out to the drill): {}",
                self.share_links_not_asked
            ));
        }
        line("\n## At the end\n".into());
        line(format!(
            "- PostgreSQL alone against the workload's model: **{}**",
            if self.postgres_complete() {
                "complete"
            } else {
                "NOT complete"
            }
        ));
        for difference in self
            .postgres_differences
            .iter()
            .chain(&self.disagreements)
            .take(50)
        {
            line(format!("  - {difference}"));
        }
        if self.refused_as_modeled > 0 {
            line(format!(
                "- writes refused as the model refuses them: {}",
                self.refused_as_modeled
            ));
        }
        line(format!(
            "- only in DynamoDB (a rollback loses these): **{}**",
            self.only_in_dynamodb.len()
        ));
        for item in &self.only_in_dynamodb {
            line(format!(
                "  - {} {} ({})",
                item.kind.map_or("unparseable item", EntityKind::name),
                item.id,
                item.key
            ));
        }
        line(format!(
            "- stale or missing in DynamoDB since the switch (expected; a roll-forward re-drives them): {} entities, {} deleted",
            self.stale_or_missing_in_dynamodb, self.deleted_since_switch
        ));
        out
    }
}

/// `- title: n`, and the first entries below it.
fn list(line: &mut impl FnMut(String), title: &str, entries: &[String]) {
    line(format!("- {title}: {}", entries.len()));
    for entry in entries.iter().take(20) {
        line(format!("  - {entry}"));
    }
    if entries.len() > 20 {
        line(format!("  - … and {} more", entries.len() - 20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passing() -> RollbackReport {
        RollbackReport {
            scenario: "churn".into(),
            seed: 7,
            writes_dual: 200,
            writes_postgres_only: 188,
            reads_after_switch: 120,
            share_links_not_asked: 0,
            refused_as_modeled: 0,
            at_switch: AtSwitch {
                pending: Some(0),
                drain_problem: None,
                stores_differing: Vec::new(),
                postgres_differences: Vec::new(),
            },
            after_switch: AfterSwitch {
                dynamodb_requests: 0,
                s3_requests: 0,
                pending_at_end: Some(0),
                drain_problem_at_end: None,
                items_changed: Vec::new(),
                objects_changed: Vec::new(),
            },
            postgres_differences: Vec::new(),
            only_in_dynamodb: Vec::new(),
            stale_or_missing_in_dynamodb: 57,
            deleted_since_switch: 9,
            disagreements: Vec::new(),
            wrong_answers: Vec::new(),
            read_check: CheckResult {
                name: "read-parity".into(),
                passed: true,
                detail: "0 of 96 reads differ (the driver's answers against the model)".into(),
                entities: Vec::new(),
            },
        }
    }

    /// One fault planted in a passing report.
    type Plant = Box<dyn Fn(&mut RollbackReport)>;

    #[test]
    fn a_clean_drill_passes_and_each_fault_fails_it_with_its_reason() {
        assert!(passing().passed(), "{:?}", passing().failures());
        let cases: Vec<(&str, Plant)> = vec![
            (
                "still pending",
                Box::new(|r| r.at_switch.pending = Some(69)),
            ),
            ("did not say", Box::new(|r| r.at_switch.pending = None)),
            (
                "did not finish",
                Box::new(|r| r.at_switch.drain_problem = Some("timed out".into())),
            ),
            (
                "at the switch",
                Box::new(|r| r.at_switch.stores_differing = vec!["session s1".into()]),
            ),
            (
                "differed from the model at the switch",
                Box::new(|r| r.at_switch.postgres_differences = vec!["user u1".into()]),
            ),
            (
                "reached DynamoDB (211",
                Box::new(|r| r.after_switch.dynamodb_requests = 211),
            ),
            ("S3 (4", Box::new(|r| r.after_switch.s3_requests = 4)),
            (
                "3 writes were still pending at the end",
                Box::new(|r| r.after_switch.pending_at_end = Some(3)),
            ),
            (
                "1 items and 0 objects changed",
                Box::new(|r| r.after_switch.items_changed = vec!["USER#u1/METADATA".into()]),
            ),
            (
                "0 items and 1 objects changed",
                Box::new(|r| r.after_switch.objects_changed = vec!["transcripts/x".into()]),
            ),
            (
                "reads after the switch",
                Box::new(|r| r.wrong_answers = vec!["User(u1)".into()]),
            ),
            (
                "the reads at the end",
                Box::new(|r| {
                    r.read_check.passed = false;
                    r.read_check.detail = "1 of 96 reads differ".into();
                }),
            ),
            (
                "PostgreSQL alone differs",
                Box::new(|r| r.postgres_differences = vec!["user u1".into()]),
            ),
            (
                "did not end as the model says",
                Box::new(|r| r.disagreements = vec!["failed".into()]),
            ),
            (
                "only in DynamoDB",
                Box::new(|r| {
                    r.only_in_dynamodb = vec![OnlyInDynamodb {
                        kind: Some(EntityKind::User),
                        id: "ghost".into(),
                        key: "USER#ghost/METADATA".into(),
                    }]
                }),
            ),
        ];
        for (reason, plant) in cases {
            let mut report = passing();
            plant(&mut report);
            assert!(!report.passed(), "{reason}: passed");
            let failures = report.failures().join("\n");
            assert!(failures.contains(reason), "{reason}: {failures}");
            assert!(report.to_markdown().contains("**FAILED**"));
        }
    }

    #[test]
    fn the_markdown_report() {
        let mut report = passing();
        report.at_switch.pending = Some(3);
        report.at_switch.stores_differing = vec!["session s-12: missing-in-dynamodb".into()];
        report.after_switch.dynamodb_requests = 12;
        report.after_switch.items_changed = vec!["CAMP#c1/SESS#s-12".into()];
        report.wrong_answers =
            vec!["op 311 (Session(s-12) by u-1): expected null, the driver answered {…}".into()];
        report.only_in_dynamodb = vec![
            OnlyInDynamodb {
                kind: Some(EntityKind::User),
                id: "ghost".into(),
                key: "USER#ghost/METADATA".into(),
            },
            OnlyInDynamodb {
                kind: None,
                id: "?".into(),
                key: "JUNK/1".into(),
            },
        ];
        insta::assert_snapshot!(report.to_markdown());
    }
}
