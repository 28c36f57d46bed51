//! Media parity as data: every item of the source against the target's
//! row, field by field in one canonical form, plus the checks a constraint
//! would hide (an id used twice, a season whose series is missing).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use super::{MediaItem, MediaType, format_rating};
use crate::domain::canonical_json;
use crate::parity::{field_differences, xml_escape};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaCategory {
    /// In the source, not in the target.
    MissingInTarget,
    /// In the target only.
    OnlyInTarget,
    /// Both have it; a field differs.
    FieldMismatch,
    /// The source uses one id for two items (two types).
    DuplicateId,
    /// A season whose `series_id` is not a TvSeries of the target.
    DanglingSeries,
    /// A source item the migration could not read or the target's rules refuse.
    Rejected,
}

impl MediaCategory {
    /// The category as reports name it (the same kebab-case as its JSON).
    pub fn name(self) -> &'static str {
        match self {
            MediaCategory::MissingInTarget => "missing-in-target",
            MediaCategory::OnlyInTarget => "only-in-target",
            MediaCategory::FieldMismatch => "field-mismatch",
            MediaCategory::DuplicateId => "duplicate-id",
            MediaCategory::DanglingSeries => "dangling-series",
            MediaCategory::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaFinding {
    pub category: MediaCategory,
    pub id: String,
    pub media_type: Option<MediaType>,
    pub field: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
}

/// Each field in one comparable text form.
pub fn fields(item: &MediaItem) -> Vec<(&'static str, String)> {
    let optional = |value: &Option<String>| value.clone().unwrap_or_default();
    vec![
        ("type", item.media_type.name().to_owned()),
        ("shelf", item.shelf.clone()),
        ("title", item.title.clone()),
        (
            "rating",
            item.rating_tenths.map(format_rating).unwrap_or_default(),
        ),
        (
            "image",
            item.image
                .as_ref()
                .map(|i| format!("{} {}x{}", i.url, i.width, i.height))
                .unwrap_or_default(),
        ),
        ("external_id", optional(&item.external_id)),
        ("notes", optional(&item.notes)),
        ("added_at", item.added_at.timestamp_millis().to_string()),
        ("moved_at", item.moved_at.timestamp_millis().to_string()),
        ("series_id", optional(&item.series_id)),
        (
            "data",
            canonical_json(serde_json::Value::Object(item.data.clone())).to_string(),
        ),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaParityReport {
    pub source_counts: BTreeMap<MediaType, u64>,
    pub target_counts: BTreeMap<MediaType, u64>,
    pub compared: u64,
    pub mismatched: u64,
    pub parity_percent: f64,
    pub findings: Vec<MediaFinding>,
}

impl MediaParityReport {
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn by_category(&self) -> BTreeMap<MediaCategory, usize> {
        let mut counts = BTreeMap::new();
        for finding in &self.findings {
            *counts.entry(finding.category).or_insert(0) += 1;
        }
        counts
    }

    /// JUnit XML, one test case per type (and one for rejected or
    /// duplicate items), as the parity validator writes it.
    pub fn to_junit(&self) -> String {
        let mut cases: Vec<(String, Vec<&MediaFinding>)> = MediaType::ALL
            .iter()
            .map(|t| {
                let of_type = self
                    .findings
                    .iter()
                    .filter(|f| f.media_type == Some(*t))
                    .collect();
                (t.name().to_owned(), of_type)
            })
            .collect();
        cases.push((
            "unattributed".to_owned(),
            self.findings
                .iter()
                .filter(|f| f.media_type.is_none())
                .collect(),
        ));
        let failures = cases.iter().filter(|(_, f)| !f.is_empty()).count();
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"cutover-media-parity\" tests=\"{}\" failures=\"{failures}\">\n",
            cases.len()
        );
        for (name, findings) in cases {
            xml.push_str(&format!(
                "  <testcase classname=\"media-parity\" name=\"{}\">\n",
                xml_escape(&name)
            ));
            if !findings.is_empty() {
                let body: Vec<String> = findings
                    .iter()
                    .map(|f| match &f.field {
                        Some(field) => format!("{} {} field {field}", f.category.name(), f.id),
                        None => format!("{} {}", f.category.name(), f.id),
                    })
                    .collect();
                xml.push_str(&format!(
                    "    <failure message=\"{} finding{}\">{}</failure>\n",
                    findings.len(),
                    if findings.len() == 1 { "" } else { "s" },
                    xml_escape(&body.join("\n"))
                ));
            }
            xml.push_str("  </testcase>\n");
        }
        xml.push_str("</testsuite>\n");
        xml
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Media shelf parity\n");
        let _ = writeln!(
            out,
            "{} — parity {:.3}% ({} of {} items mismatched).\n",
            if self.passed() {
                "**PASSED**"
            } else {
                "**FAILED**"
            },
            self.parity_percent,
            self.mismatched,
            self.compared
        );
        let _ = writeln!(out, "| type | source | target |\n| --- | ---: | ---: |");
        for media_type in MediaType::ALL {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                media_type.name(),
                self.source_counts.get(&media_type).unwrap_or(&0),
                self.target_counts.get(&media_type).unwrap_or(&0)
            );
        }
        if !self.findings.is_empty() {
            let _ = writeln!(out, "\n| category | findings |\n| --- | ---: |");
            for (category, n) in self.by_category() {
                let _ = writeln!(out, "| {} | {n} |", category.name());
            }
            let _ = writeln!(out, "\n## Findings\n");
            for f in &self.findings {
                let _ = writeln!(
                    out,
                    "- {} {} {}{}{}",
                    f.category.name(),
                    f.media_type.map_or("(no type)", MediaType::name),
                    f.id,
                    f.field
                        .as_ref()
                        .map(|x| format!(" field {x}"))
                        .unwrap_or_default(),
                    match (&f.source, &f.target) {
                        (None, None) => String::new(),
                        (source, target) =>
                            format!(": source {}, target {}", quoted(source), quoted(target)),
                    }
                );
            }
        }
        out
    }
}

/// A finding's value as the report shows it: quoted (escapes visible), or `(none)`.
fn quoted(value: &Option<String>) -> String {
    value
        .as_deref()
        .map_or("(none)".to_owned(), |value| format!("{value:?}"))
}

/// Compares the source's items with the target's. `rejected` are the keys
/// and reasons the migration reported, listed as findings of their own.
pub fn compare(
    source: &[MediaItem],
    target: &[MediaItem],
    rejected: &[(String, String)],
) -> MediaParityReport {
    let mut findings = Vec::new();
    let finding = |category, item: &MediaItem| MediaFinding {
        category,
        id: item.id.clone(),
        media_type: Some(item.media_type),
        field: None,
        source: None,
        target: None,
    };
    let mut by_id: HashMap<&str, &MediaItem> = HashMap::new();
    for item in source {
        if let Some(first) = by_id.insert(&item.id, item) {
            findings.push(MediaFinding {
                source: Some(format!(
                    "{} and {}",
                    first.media_type.name(),
                    item.media_type.name()
                )),
                ..finding(MediaCategory::DuplicateId, item)
            });
        }
    }
    let target_by_id: HashMap<&str, &MediaItem> =
        target.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut mismatched = std::collections::BTreeSet::new();
    for item in source {
        match target_by_id.get(item.id.as_str()) {
            None => {
                mismatched.insert(item.id.clone());
                findings.push(finding(MediaCategory::MissingInTarget, item));
            }
            Some(row) => {
                for (field, a, b) in field_differences(fields(item), fields(row)) {
                    mismatched.insert(item.id.clone());
                    findings.push(MediaFinding {
                        field: Some(field.to_owned()),
                        source: Some(a),
                        target: Some(b),
                        ..finding(MediaCategory::FieldMismatch, item)
                    });
                }
            }
        }
    }
    for row in target {
        if !by_id.contains_key(row.id.as_str()) {
            mismatched.insert(row.id.clone());
            findings.push(finding(MediaCategory::OnlyInTarget, row));
        }
        if let Some(series) = &row.series_id {
            let parent = target_by_id.get(series.as_str());
            if parent.is_none_or(|p| p.media_type != MediaType::TvSeries) {
                mismatched.insert(row.id.clone());
                findings.push(MediaFinding {
                    field: Some("series_id".into()),
                    target: Some(series.clone()),
                    ..finding(MediaCategory::DanglingSeries, row)
                });
            }
        }
    }
    for (key, reason) in rejected {
        findings.push(MediaFinding {
            category: MediaCategory::Rejected,
            id: key.clone(),
            media_type: None,
            field: None,
            source: Some(reason.clone()),
            target: None,
        });
    }
    let count = |items: &[MediaItem]| {
        let mut counts = BTreeMap::new();
        for item in items {
            *counts.entry(item.media_type).or_insert(0u64) += 1;
        }
        counts
    };
    let compared = by_id.len().max(1) as u64;
    let mismatched_count = mismatched.len() as u64;
    MediaParityReport {
        source_counts: count(source),
        target_counts: count(target),
        compared: by_id.len() as u64,
        mismatched: mismatched_count,
        parity_percent: 100.0 * (1.0 - mismatched_count as f64 / compared as f64).max(0.0),
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tests::book;

    #[test]
    fn a_category_is_named_as_its_json_names_it() {
        for category in [
            MediaCategory::MissingInTarget,
            MediaCategory::OnlyInTarget,
            MediaCategory::FieldMismatch,
            MediaCategory::DuplicateId,
            MediaCategory::DanglingSeries,
            MediaCategory::Rejected,
        ] {
            assert_eq!(
                serde_json::to_value(category).unwrap(),
                serde_json::Value::from(category.name())
            );
        }
    }

    #[test]
    fn equal_shelves_are_at_full_parity() {
        let items = vec![book()];
        let report = compare(&items, &items, &[]);
        assert!(report.passed());
        assert_eq!(report.parity_percent, 100.0);
    }

    #[test]
    fn each_difference_is_named() {
        let source = vec![book()];
        let mut row = book();
        row.title = "Changed".into();
        row.data.insert("reread".into(), serde_json::json!(true));
        let report = compare(&source, &[row], &[]);
        let fields: Vec<_> = report
            .findings
            .iter()
            .map(|f| f.field.clone().unwrap())
            .collect();
        assert_eq!(fields, vec!["title", "data"]);
        assert_eq!(report.mismatched, 1);

        let mut season = book();
        season.id = "0b5b6e8e-9c1d-4a7e-8f3b-2c1d0e9f8a7b".into();
        season.media_type = MediaType::TvSeason;
        season.series_id = Some(book().id);
        let report = compare(&[book(), season.clone()], &[book(), season], &[]);
        assert_eq!(report.findings[0].category, MediaCategory::DanglingSeries);
    }

    #[test]
    fn the_report_renders_every_finding_for_people_and_for_ci() {
        let mut changed = book();
        changed.title = "Changed | piped".into();
        let mut missing = book();
        missing.id = "1c6c7f9f-0d2e-4b8f-9a4c-3d2e1f0a9b8c".into();
        let rejected = vec![("Book:bad-id".to_owned(), "id is not a UUID".to_owned())];
        let report = compare(&[book(), missing], &[changed], &rejected);
        assert!(!report.passed());
        insta::assert_snapshot!("media_parity_markdown", report.to_markdown());
        insta::assert_snapshot!("media_parity_junit", report.to_junit());
    }
}
