//! The parity report: JSON for machines, Markdown for people, JUnit XML for CI
//! (one test case per entity type, plus one for S3 objects).

use cutover_core::parity::xml_escape;
use std::collections::BTreeMap;
use std::time::Duration;

use cutover_core::keys::EntityKind;
use cutover_core::parity::{Category, Finding, Tally};
use serde::Serialize;

const IN_FLIGHT_SAMPLES: usize = 20;

/// How a report passes, as its Markdown states it.
pub const PASS_RULE: &str = "passes when nothing mismatches persistently, or when the mismatched share is strictly under the threshold (the plan's \"< 1%\")";

/// The gate: a threshold of 0 passes only a perfect run; any other threshold
/// is strict (`<`), as the plan's "< 1% mismatch" says.
pub(crate) fn passes(mismatched: u64, mismatch_percent: f64, max_mismatch_percent: f64) -> bool {
    mismatched == 0 || mismatch_percent < max_mismatch_percent
}

#[derive(Debug, Clone, Serialize)]
pub struct KindParity {
    pub compared: u64,
    pub mismatched: u64,
    pub parity_percent: f64,
}

/// Everything with a persistent finding, in full (samples are capped): what
/// a repair works from.
#[derive(Debug, Clone, Default)]
pub struct Leftovers {
    /// Entities PostgreSQL has whose DynamoDB item or transcript is missing or wrong.
    pub repairable: Vec<(EntityKind, cutover_core::keys::Id)>,
    /// Items of entities PostgreSQL does not have.
    pub dynamodb_only: Vec<cutover_core::keys::ItemKey>,
    pub malformed_keys: Vec<(String, String)>,
    pub orphan_objects: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    pub parity_percent: f64,
    /// Entities compared (each id seen on either side once).
    pub compared_entities: u64,
    /// Everything compared: the entities, and the objects and items that
    /// belong to none (orphan objects, items that claim no entity). The one
    /// denominator of `parity_percent` and `mismatch_percent`.
    pub compared_total: u64,
    /// Of `compared_total`, those with persistent findings.
    pub mismatched_entities: u64,
    pub mismatch_percent: f64,
    pub max_mismatch_percent: f64,
    /// `PASS_RULE`: nothing mismatched, or strictly under the threshold.
    pub passed: bool,
    pub per_entity: BTreeMap<String, KindParity>,
    /// Persistent findings per category (every category listed, zeros included).
    pub by_category: BTreeMap<Category, u64>,
    /// Persistent field mismatches per `entity.field`.
    pub by_field: BTreeMap<String, u64>,
    /// Causes most findings share, one line each with its count
    /// (`Tally::leading_patterns`): what the report leads with.
    pub patterns: Vec<String>,
    pub samples: BTreeMap<Category, Vec<Finding>>,
    /// Entities (and objects) whose findings were in-flight: a pending outbox
    /// record, or resolved on the re-check.
    pub in_flight: u64,
    pub in_flight_samples: Vec<Finding>,
    pub duration_ms: f64,
    /// Entities compared per second, scan and lookups (before the re-check wait).
    pub entities_per_s: f64,
    #[serde(skip)]
    pub leftovers: Leftovers,
}

impl ParityReport {
    pub(crate) fn new(
        tally: Tally,
        in_flight: Vec<Finding>,
        leftovers: Leftovers,
        max_mismatch_percent: f64,
        duration: Duration,
        scanned_s: f64,
    ) -> ParityReport {
        let compared_entities: u64 = tally.compared.values().sum();
        // One denominator: entities, and the objects and items that belong to none.
        let compared_total = tally.compared_total();
        let mismatched_entities = tally.mismatched_total();
        let mismatch_percent = if compared_total == 0 {
            0.0
        } else {
            100.0 * mismatched_entities as f64 / compared_total as f64
        };
        let per_entity = EntityKind::ALL
            .into_iter()
            .map(|kind| {
                let compared = tally.compared.get(&kind).copied().unwrap_or(0);
                let mismatched = tally.mismatched.get(&kind).copied().unwrap_or(0);
                (
                    kind.name().to_owned(),
                    KindParity {
                        compared,
                        mismatched,
                        parity_percent: tally.parity_percent_of(kind),
                    },
                )
            })
            .collect();
        let by_category = Category::ALL
            .into_iter()
            .map(|c| (c, tally.by_category.get(&c).copied().unwrap_or(0)))
            .collect();
        ParityReport {
            parity_percent: 100.0 - mismatch_percent,
            compared_entities,
            compared_total,
            mismatched_entities,
            mismatch_percent,
            max_mismatch_percent,
            passed: passes(mismatched_entities, mismatch_percent, max_mismatch_percent),
            per_entity,
            by_category,
            patterns: tally.leading_patterns(),
            by_field: tally.by_field,
            samples: tally.samples,
            in_flight: in_flight
                .iter()
                .map(|f| (f.entity, f.id.as_str()))
                .collect::<std::collections::BTreeSet<_>>()
                .len() as u64,
            in_flight_samples: in_flight.into_iter().take(IN_FLIGHT_SAMPLES).collect(),
            duration_ms: duration.as_secs_f64() * 1000.0,
            entities_per_s: compared_entities as f64 / scanned_s.max(1e-9),
            leftovers,
        }
    }

    /// Every persistent finding kept as a sample, across categories.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.samples.values().flatten()
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# Parity\n\n**{}** — parity {:.3}%: {} of {} compared mismatched persistently ({} entities, {} objects and items of no entity); threshold {}% (the report {}). In-flight: {}.\n\n",
            if self.passed { "PASSED" } else { "FAILED" },
            self.parity_percent,
            self.mismatched_entities,
            self.compared_total,
            self.compared_entities,
            self.compared_total - self.compared_entities,
            self.max_mismatch_percent,
            PASS_RULE,
            self.in_flight
        );
        if !self.patterns.is_empty() {
            out.push_str("Most findings share a cause:\n\n");
            for pattern in &self.patterns {
                out.push_str(&format!("- **{pattern}**\n"));
            }
            out.push('\n');
        }
        out.push_str("| entity | compared | mismatched | parity |\n| --- | ---: | ---: | ---: |\n");
        for (kind, parity) in &self.per_entity {
            out.push_str(&format!(
                "| {kind} | {} | {} | {:.3}% |\n",
                parity.compared, parity.mismatched, parity.parity_percent
            ));
        }
        out.push_str("\n| category | with findings |\n| --- | ---: |\n");
        for (category, count) in &self.by_category {
            out.push_str(&format!("| {} | {count} |\n", category.name()));
        }
        if !self.by_field.is_empty() {
            out.push_str("\n| field | mismatches |\n| --- | ---: |\n");
            for (field, count) in &self.by_field {
                out.push_str(&format!("| {field} | {count} |\n"));
            }
        }
        let samples: Vec<&Finding> = self.findings().collect();
        if !samples.is_empty() {
            out.push_str("\n## Samples\n\n");
            for finding in samples {
                out.push_str(&format!(
                    "- {} {} {}{}{}{}\n",
                    finding.category.name(),
                    finding.entity.map(|k| k.name()).unwrap_or("-"),
                    finding.id,
                    finding
                        .field
                        .as_deref()
                        .map(|f| format!(" field {f}"))
                        .unwrap_or_default(),
                    match (&finding.postgres, &finding.dynamodb) {
                        (Some(pg), Some(ddb)) => format!(": postgres {pg:?}, dynamodb {ddb:?}"),
                        (None, Some(ddb)) => format!(": {ddb}"),
                        (Some(pg), None) => format!(": {pg}"),
                        _ => String::new(),
                    },
                    finding
                        .note
                        .as_deref()
                        .map(|note| format!(" ({note})"))
                        .unwrap_or_default()
                ));
            }
        }
        out.push_str(&format!(
            "\nCompared {:.0} entities/s; took {:.1} s.\n",
            self.entities_per_s,
            self.duration_ms / 1000.0
        ));
        out
    }

    /// JUnit XML: a test case per entity type and one for S3 objects and
    /// malformed items, failing when it has persistent findings.
    pub fn to_junit(&self) -> String {
        let mut cases = Vec::new();
        for (kind, parity) in &self.per_entity {
            let failures: Vec<&Finding> = self
                .findings()
                .filter(|f| f.entity.map(|k| k.name()) == Some(kind.as_str()))
                .collect();
            cases.push((kind.clone(), parity.mismatched, failures));
        }
        let other: Vec<&Finding> = self.findings().filter(|f| f.entity.is_none()).collect();
        let other_count = self.compared_total - self.compared_entities;
        cases.push(("objects-and-items".to_owned(), other_count, other));
        let failures = cases.iter().filter(|(_, n, _)| *n > 0).count();
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"cutover-parity\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">\n",
            cases.len(),
            self.duration_ms / 1000.0
        );
        for (name, mismatched, findings) in cases {
            xml.push_str(&format!(
                "  <testcase classname=\"parity\" name=\"{}\">\n",
                xml_escape(&name)
            ));
            if mismatched > 0 {
                let body: Vec<String> = findings
                    .iter()
                    .map(|f| {
                        let field = f.field.as_deref().map(|name| format!(" field {name}"));
                        format!(
                            "{} {}{}",
                            f.category.name(),
                            f.id,
                            field.unwrap_or_default()
                        )
                    })
                    .collect();
                xml.push_str(&format!(
                    "    <failure message=\"{mismatched} persistent mismatches\">{}</failure>\n",
                    xml_escape(&body.join("\n"))
                ));
            }
            xml.push_str("  </testcase>\n");
        }
        xml.push_str("</testsuite>\n");
        xml
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cutover_core::parity::{Finding, orphan_object};

    /// A report with a finding of several kinds: one session's field differs,
    /// one campaign is missing in DynamoDB, one object belongs to nobody, and
    /// one summary's write is in flight. Its figures are fixed, so its
    /// renderings can be snapshots.
    pub(crate) fn sample_report() -> ParityReport {
        let mut tally = Tally::default();
        for _ in 0..40 {
            tally.record(Some(EntityKind::Session), Vec::new());
        }
        tally.record(
            Some(EntityKind::Session),
            vec![Finding {
                category: Category::FieldMismatch,
                entity: Some(EntityKind::Session),
                id: "s-7".into(),
                field: Some("name".into()),
                postgres: Some("Session <7> & more".into()),
                dynamodb: Some("Session 7".into()),
                note: None,
            }],
        );
        tally.record(
            Some(EntityKind::Campaign),
            vec![Finding {
                category: Category::MissingInDynamodb,
                entity: Some(EntityKind::Campaign),
                id: "c-2".into(),
                field: None,
                postgres: None,
                dynamodb: None,
                note: None,
            }],
        );
        tally.record(Some(EntityKind::User), Vec::new());
        tally.record(None, vec![orphan_object("transcripts/u-1/s-9/t.txt")]);
        let in_flight = vec![Finding {
            category: Category::MissingInDynamodb,
            entity: Some(EntityKind::Summary),
            id: "m-3".into(),
            field: None,
            postgres: None,
            dynamodb: None,
            note: Some("pending outbox record".into()),
        }];
        ParityReport::new(
            tally,
            in_flight,
            Leftovers::default(),
            1.0,
            Duration::from_millis(2_500),
            2.0,
        )
    }

    #[test]
    fn the_markdown_report() {
        insta::assert_snapshot!(sample_report().to_markdown());
    }

    #[test]
    fn the_junit_report() {
        insta::assert_snapshot!(sample_report().to_junit());
    }

    #[test]
    fn the_gate_is_strict_and_zero_means_perfect() {
        assert!(passes(0, 0.0, 0.0));
        assert!(!passes(1, 0.001, 0.0));
        // The plan's "< 1%": exactly 1% fails, just under passes.
        assert!(!passes(1, 1.0, 1.0));
        assert!(passes(99, 0.99, 1.0));
        assert!(passes(0, 0.0, 1.0));
    }
}
