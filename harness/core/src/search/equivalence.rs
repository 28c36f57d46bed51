//! Search equivalence as data: for each query, the session ids a DynamoDB
//! search returned against the ids a PostgreSQL oracle returned, with
//! precision, recall and every difference classified. Rendering is here too,
//! so the report (and its snapshot) is built without IO.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::classify::{Explanation, GapClass};

/// The pairs of searches compared. The DynamoDB side comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pairing {
    /// DynamoDB `contains(searchText, :q)` vs PostgreSQL `strpos(search_text, q) > 0`:
    /// must agree exactly.
    Substring,
    /// DynamoDB `contains` on every query lexeme vs `search_vector @@ plainto_tsquery`.
    TokenVsPlainFullText,
    /// The same token search vs `search_vector @@ websearch_to_tsquery`.
    TokenVsWebsearch,
    /// What the migration plan ships (substring) vs what the app had (websearch FTS).
    SubstringVsWebsearch,
}

impl Pairing {
    pub const ALL: [Pairing; 4] = [
        Pairing::Substring,
        Pairing::TokenVsPlainFullText,
        Pairing::TokenVsWebsearch,
        Pairing::SubstringVsWebsearch,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pairing::Substring => {
                "substring: DynamoDB contains(searchText) vs PostgreSQL strpos(search_text)"
            }
            Pairing::TokenVsPlainFullText => {
                "token: DynamoDB lexeme set vs PostgreSQL plainto_tsquery"
            }
            Pairing::TokenVsWebsearch => {
                "token vs web search: DynamoDB lexeme set vs PostgreSQL websearch_to_tsquery"
            }
            Pairing::SubstringVsWebsearch => {
                "migration: DynamoDB substring vs PostgreSQL websearch_to_tsquery (the app before)"
            }
        }
    }

    /// Whether any difference at all is a defect (rather than a classified gap).
    pub fn must_be_exact(self) -> bool {
        self == Pairing::Substring
    }
}

/// What one DynamoDB search read and returned: as the engine reported it,
/// and our capacity model's figure for the items it read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchCost {
    pub items_scanned: u64,
    pub items_returned: u64,
    pub pages: usize,
    pub rcu_reported: Option<f64>,
    pub rcu_modeled: f64,
}

/// A session one side found and the other did not, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub session: String,
    /// `true`: only DynamoDB returned it; `false`: only PostgreSQL did.
    pub only_dynamodb: bool,
    pub class: GapClass,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryComparison {
    pub query: String,
    pub note: String,
    pub pairing: Pairing,
    /// Why DynamoDB could not run the query at all (its hits are then empty).
    pub dynamodb_refused: Option<String>,
    /// What the DynamoDB search cost (absent when it was refused).
    pub dynamodb_cost: Option<SearchCost>,
    pub dynamodb_hits: usize,
    pub postgres_hits: usize,
    /// Share of DynamoDB's hits PostgreSQL also returned; `None` with no hits.
    pub precision: Option<f64>,
    /// Share of PostgreSQL's hits DynamoDB also returned; `None` with no hits.
    pub recall: Option<f64>,
    pub differences: Vec<Difference>,
}

/// Compares two id sets; `explain` is asked about every id found by one side only.
pub fn compare(
    query: &str,
    note: &str,
    pairing: Pairing,
    dynamodb: &BTreeSet<String>,
    postgres: &BTreeSet<String>,
    mut explain: impl FnMut(&str, bool) -> Explanation,
) -> QueryComparison {
    let both = dynamodb.intersection(postgres).count();
    let ratio = |part: usize, whole: usize| (whole > 0).then(|| part as f64 / whole as f64);
    let mut differences = Vec::new();
    for (ids, only_dynamodb) in [
        (dynamodb.difference(postgres), true),
        (postgres.difference(dynamodb), false),
    ] {
        for id in ids {
            let why = explain(id, only_dynamodb);
            differences.push(Difference {
                session: id.clone(),
                only_dynamodb,
                class: why.class,
                detail: why.detail,
            });
        }
    }
    differences.sort_by(|a, b| a.session.cmp(&b.session));
    QueryComparison {
        query: query.to_owned(),
        note: note.to_owned(),
        pairing,
        dynamodb_refused: None,
        dynamodb_cost: None,
        dynamodb_hits: dynamodb.len(),
        postgres_hits: postgres.len(),
        precision: ratio(both, dynamodb.len()),
        recall: ratio(both, postgres.len()),
        differences,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairingSummary {
    pub pairing: Pairing,
    pub title: &'static str,
    pub queries: usize,
    pub queries_exact: usize,
    pub differences: usize,
    pub differences_by_class: BTreeMap<GapClass, usize>,
    /// Micro-averaged over all queries: (shared hits) / (hits of the side).
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    /// The DynamoDB side's searches, summed: what they read and returned.
    pub items_scanned: u64,
    pub items_returned: u64,
    pub rcu_modeled: f64,
    /// `None` when any search lacked the engine's figure.
    pub rcu_reported: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EquivalenceReport {
    pub corpus: String,
    pub sessions: usize,
    pub summaries: Vec<PairingSummary>,
    pub comparisons: Vec<QueryComparison>,
}

impl EquivalenceReport {
    pub fn new(corpus: &str, sessions: usize, comparisons: Vec<QueryComparison>) -> Self {
        let summaries = Pairing::ALL
            .iter()
            .map(|&pairing| {
                let of_pairing: Vec<&QueryComparison> = comparisons
                    .iter()
                    .filter(|c| c.pairing == pairing)
                    .collect();
                let mut differences_by_class = BTreeMap::new();
                let (mut dynamodb_hits, mut postgres_hits, mut only_dynamodb, mut only_postgres) =
                    (0, 0, 0, 0);
                for comparison in &of_pairing {
                    dynamodb_hits += comparison.dynamodb_hits;
                    postgres_hits += comparison.postgres_hits;
                    for difference in &comparison.differences {
                        *differences_by_class.entry(difference.class).or_insert(0) += 1;
                        if difference.only_dynamodb {
                            only_dynamodb += 1;
                        } else {
                            only_postgres += 1;
                        }
                    }
                }
                let ratio =
                    |shared: usize, whole: usize| (whole > 0).then(|| shared as f64 / whole as f64);
                let costs: Vec<&SearchCost> = of_pairing
                    .iter()
                    .filter_map(|c| c.dynamodb_cost.as_ref())
                    .collect();
                PairingSummary {
                    items_scanned: costs.iter().map(|c| c.items_scanned).sum(),
                    items_returned: costs.iter().map(|c| c.items_returned).sum(),
                    rcu_modeled: costs.iter().map(|c| c.rcu_modeled).sum(),
                    rcu_reported: costs.iter().map(|c| c.rcu_reported).sum(),
                    pairing,
                    title: pairing.title(),
                    queries: of_pairing.len(),
                    queries_exact: of_pairing
                        .iter()
                        .filter(|c| c.differences.is_empty())
                        .count(),
                    differences: only_dynamodb + only_postgres,
                    differences_by_class,
                    precision: ratio(dynamodb_hits - only_dynamodb, dynamodb_hits),
                    recall: ratio(postgres_hits - only_postgres, postgres_hits),
                }
            })
            .collect();
        EquivalenceReport {
            corpus: corpus.to_owned(),
            sessions,
            summaries,
            comparisons,
        }
    }

    /// Differences the harness could not explain, and any difference at all
    /// where the pairing must be exact. Empty when the report is acceptable.
    pub fn defects(&self) -> Vec<(&QueryComparison, &Difference)> {
        self.comparisons
            .iter()
            .flat_map(|c| c.differences.iter().map(move |d| (c, d)))
            .filter(|(c, d)| c.pairing.must_be_exact() || d.class == GapClass::Unclassified)
            .collect()
    }

    pub fn to_markdown(&self) -> String {
        let percent = |value: Option<f64>| match value {
            Some(v) => format!("{:.1}%", v * 100.0),
            None => "-".to_owned(),
        };
        let mut out = String::new();
        let _ = writeln!(out, "# Search equivalence: {}\n", self.corpus);
        let _ = writeln!(
            out,
            "{} sessions in one campaign. Sets of session ids are compared per query; \
             precision is the share of DynamoDB's hits PostgreSQL agrees with, recall the \
             share of PostgreSQL's hits DynamoDB found.\n",
            self.sessions
        );
        let _ = writeln!(
            out,
            "| pairing | queries | exact | differences | precision | recall | by class |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | --- |");
        for s in &self.summaries {
            let classes: Vec<String> = s
                .differences_by_class
                .iter()
                .map(|(class, n)| format!("{} {n}", class.label()))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                s.title,
                s.queries,
                s.queries_exact,
                s.differences,
                percent(s.precision),
                percent(s.recall),
                if classes.is_empty() {
                    "-".to_owned()
                } else {
                    classes.join(", ")
                }
            );
        }
        let _ = writeln!(
            out,
            "\nWhat the DynamoDB side of each pairing read to answer its queries (a filter lowers what is returned, never what is read):\n"
        );
        let _ = writeln!(
            out,
            "| pairing | items read | items returned | RCU modeled | RCU reported |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
        for s in &self.summaries {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                s.title,
                s.items_scanned,
                s.items_returned,
                s.rcu_modeled,
                s.rcu_reported.map_or("-".to_owned(), |r| r.to_string())
            );
        }
        let defects = self.defects();
        let _ = writeln!(
            out,
            "\n{}\n",
            if defects.is_empty() {
                "No defects: the substring searches agree exactly and every other difference is classified.".to_owned()
            } else {
                format!(
                    "**{} defect(s)**: unexplained differences or substring disagreements, listed below.",
                    defects.len()
                )
            }
        );
        let refused: Vec<&QueryComparison> = self
            .comparisons
            .iter()
            .filter(|c| c.dynamodb_refused.is_some())
            .collect();
        if !refused.is_empty() {
            let _ = writeln!(out, "## Queries DynamoDB refuses\n");
            for comparison in refused {
                let _ = writeln!(
                    out,
                    "- {} ({}): {}",
                    markdown_cell(&comparison.query, QUERY_CHARS, true),
                    comparison.pairing.title(),
                    comparison.dynamodb_refused.as_deref().unwrap_or_default()
                );
            }
            let _ = writeln!(out);
        }
        for pairing in Pairing::ALL {
            let with_differences: Vec<&QueryComparison> = self
                .comparisons
                .iter()
                .filter(|c| c.pairing == pairing && !c.differences.is_empty())
                .collect();
            if with_differences.is_empty() {
                continue;
            }
            let _ = writeln!(out, "## {}\n", pairing.title());
            let _ = writeln!(
                out,
                "| query | DynamoDB | PostgreSQL | precision | recall | session | found only by | class | why |"
            );
            let _ = writeln!(
                out,
                "| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |"
            );
            for comparison in with_differences {
                // One row per (side, class, reason), naming every session it covers.
                let mut groups: Vec<(bool, GapClass, &str, Vec<&str>)> = Vec::new();
                for d in &comparison.differences {
                    match groups.iter_mut().find(|(side, class, detail, _)| {
                        *side == d.only_dynamodb && *class == d.class && *detail == d.detail
                    }) {
                        Some(group) => group.3.push(&d.session),
                        None => {
                            groups.push((d.only_dynamodb, d.class, &d.detail, vec![&d.session]))
                        }
                    }
                }
                for (i, (only_dynamodb, class, detail, sessions)) in groups.iter().enumerate() {
                    let head = if i == 0 {
                        format!(
                            "{} | {} | {} | {} | {}",
                            markdown_cell(&comparison.query, QUERY_CHARS, true),
                            comparison.dynamodb_hits,
                            comparison.postgres_hits,
                            percent(comparison.precision),
                            percent(comparison.recall)
                        )
                    } else {
                        " | | | | ".to_owned()
                    };
                    let _ = writeln!(
                        out,
                        "| {head} | {} | {} | {} | {} |",
                        sessions.join(", "),
                        if *only_dynamodb {
                            "DynamoDB"
                        } else {
                            "PostgreSQL"
                        },
                        class.label(),
                        markdown_cell(detail, DETAIL_CHARS, false)
                    );
                }
            }
            let _ = writeln!(out);
        }
        out
    }
}

const QUERY_CHARS: usize = 60;
const DETAIL_CHARS: usize = 200;

/// Keeps a table cell on one line and short: long corpus entries (4 KB
/// queries) are shown by their start and length. `code` sets the text in
/// backticks.
pub fn markdown_cell(text: &str, shown_chars: usize, code: bool) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|");
    let quote = |t: &str| if code { format!("`{t}`") } else { t.to_owned() };
    if one_line.chars().count() <= shown_chars {
        return quote(&one_line);
    }
    let start: String = one_line.chars().take(shown_chars).collect();
    format!("{}… ({} bytes)", quote(&start), text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precision_recall_and_every_difference_explained() {
        let comparison = compare(
            "rat",
            "",
            Pairing::TokenVsPlainFullText,
            &ids(&["a", "b", "c"]),
            &ids(&["b", "c", "d"]),
            |id, only_dynamodb| Explanation {
                class: if only_dynamodb {
                    GapClass::Stemming
                } else {
                    GapClass::Number
                },
                detail: id.to_owned(),
            },
        );
        assert_eq!(comparison.precision, Some(2.0 / 3.0));
        assert_eq!(comparison.recall, Some(2.0 / 3.0));
        let listed: Vec<(&str, bool)> = comparison
            .differences
            .iter()
            .map(|d| (d.session.as_str(), d.only_dynamodb))
            .collect();
        assert_eq!(listed, vec![("a", true), ("d", false)]);

        let report = EquivalenceReport::new("test", 4, vec![comparison]);
        let token = &report.summaries[1];
        assert_eq!(
            (token.queries, token.queries_exact, token.differences),
            (1, 0, 2)
        );
        assert!(report.defects().is_empty());
        assert!(
            report
                .to_markdown()
                .contains("| `rat` | 3 | 3 | 66.7% | 66.7% | a | DynamoDB | stemming |")
        );
    }

    #[test]
    fn any_substring_difference_is_a_defect() {
        let comparison = compare(
            "x",
            "",
            Pairing::Substring,
            &ids(&["a"]),
            &ids(&[]),
            |_, _| Explanation {
                class: GapClass::SubstringInsideWord,
                detail: String::new(),
            },
        );
        let report = EquivalenceReport::new("test", 1, vec![comparison]);
        assert_eq!(report.defects().len(), 1);
        assert!(report.to_markdown().contains("**1 defect(s)**"));
    }

    #[test]
    fn long_cells_are_cut_and_pipes_escaped() {
        assert_eq!(markdown_cell("a|b", 10, true), "`a\\|b`");
        let long = "x".repeat(5000);
        assert!(markdown_cell(&long, 60, true).ends_with("`… (5000 bytes)"));
    }
}
