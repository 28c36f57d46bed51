//! The search-cost sweep as data: which designs are compared, what one sweep
//! point measured, where the "< 50 sessions" assumption stops holding for a
//! threshold the user sets, and the report. The measuring is IO and lives in
//! `cutover-search`; everything here is pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::capacity::Consistency;
use crate::prices;

/// Ways to answer "sessions of this campaign that mention X".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// Query the campaign's session items, FilterExpression on `searchText`.
    BaseItems,
    /// Query a slim search item per session (`SRCH#<id>`: id + search copy).
    SlimItems,
    /// Query a GSI whose INCLUDE projection holds only the id and search copy.
    GsiInclude,
    /// PostgreSQL full-text search on the campaign (latency only: no RCU).
    PostgresFullText,
}

impl Design {
    pub const ALL: [Design; 4] = [
        Design::BaseItems,
        Design::SlimItems,
        Design::GsiInclude,
        Design::PostgresFullText,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Design::BaseItems => "base items + filter",
            Design::SlimItems => "slim search items + filter",
            Design::GsiInclude => "GSI (INCLUDE) + filter",
            Design::PostgresFullText => "PostgreSQL FTS",
        }
    }

    /// How the DynamoDB designs read: base-table reads are strongly
    /// consistent as the app's search is; an index cannot be.
    pub fn consistency(self) -> Option<Consistency> {
        match self {
            Design::BaseItems | Design::SlimItems => Some(Consistency::Strong),
            Design::GsiInclude => Some(Consistency::Eventual),
            Design::PostgresFullText => None,
        }
    }
}

/// Session `index` (from 0) of a campaign matches a query of `percent`%
/// matches when this says so: exactly `round_down(n * percent / 100)` of the
/// first n sessions match, spread evenly.
pub fn session_matches(index: usize, percent: u32) -> bool {
    let percent = percent as usize;
    (index + 1) * percent / 100 > index * percent / 100
}

/// The word only the matching sessions of a `percent`% query contain. No
/// marker is a substring of another ("zq1pct" is not in "zq10pct").
pub fn marker_word(percent: u32) -> String {
    format!("zq{percent}pct")
}

/// One design at one sweep point; per-search figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostPoint {
    pub design: Design,
    pub sessions: usize,
    /// The item size asked for, and the mean size of the items read.
    pub item_bytes_target: u64,
    pub item_bytes_mean: u64,
    pub match_percent: u32,
    /// `ScannedCount` and `Count` as the engine reported them (PostgreSQL: rows returned).
    pub items_scanned: u64,
    pub items_returned: u64,
    pub pages_reported: Option<usize>,
    pub pages_modeled: Option<usize>,
    /// Our model: all items read, summed and rounded to 4 KB per page.
    pub rcu_modeled: Option<f64>,
    /// `ConsumedCapacity` as the engine reported it.
    pub rcu_reported: Option<f64>,
    /// What reading only the returned items would cost (the filter's waste is the gap).
    pub rcu_returned_modeled: Option<f64>,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub repetitions: usize,
}

impl CostPoint {
    pub fn dollars_per_million_modeled(&self) -> Option<f64> {
        self.rcu_modeled
            .map(prices::on_demand_read_dollars_per_million)
    }

    pub fn dollars_per_million_reported(&self) -> Option<f64> {
        self.rcu_reported
            .map(prices::on_demand_read_dollars_per_million)
    }

    /// The engine's figures (RCU or page count) differ from the model's.
    pub fn diverges(&self) -> bool {
        let rcu = match (self.rcu_modeled, self.rcu_reported) {
            (Some(modeled), Some(reported)) => (modeled - reported).abs() > 1e-6,
            (Some(_), None) => true,
            _ => false,
        };
        rcu || self.pages_reported != self.pages_modeled
    }
}

/// The item size a sweep asks for to measure `kb`-KB sessions: `kb` KiB,
/// except that 400 KB exactly would not fit beside the keys and the search
/// attributes, so the largest asks for 2 KiB less than the item limit.
pub fn item_bytes_for_kb(kb: u64) -> u64 {
    (kb * 1024).min(crate::item_size::MAX_ITEM_BYTES as u64 - 2048)
}

/// What the user calls too expensive for one search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub max_rcu_per_search: f64,
    pub max_latency_ms_p99: Option<f64>,
}

/// For one item size and the base-items design: the largest campaign within
/// the threshold, and the smallest beyond it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakpoint {
    pub item_bytes_target: u64,
    pub largest_within: Option<usize>,
    pub smallest_beyond: Option<usize>,
    /// Why the smallest beyond is beyond: RCU, latency, or both.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub engine: String,
    pub threshold: Threshold,
    pub points: Vec<CostPoint>,
    pub breakpoints: Vec<Breakpoint>,
}

fn over(point: &CostPoint, threshold: &Threshold) -> Option<String> {
    let mut reasons = Vec::new();
    let rcu = point.rcu_modeled.unwrap_or(0.0);
    if rcu > threshold.max_rcu_per_search {
        reasons.push(format!("{rcu} RCU > {}", threshold.max_rcu_per_search));
    }
    if let Some(limit) = threshold.max_latency_ms_p99
        && point.latency_ms_p99 > limit
    {
        reasons.push(format!("p99 {:.1} ms > {limit} ms", point.latency_ms_p99));
    }
    (!reasons.is_empty()).then(|| reasons.join(" and "))
}

/// Where the base-items design crosses the threshold, per item size. A
/// campaign size counts as beyond when any match rate's point is beyond.
pub fn breakpoints(points: &[CostPoint], threshold: &Threshold) -> Vec<Breakpoint> {
    let mut by_size: BTreeMap<u64, BTreeMap<usize, Option<String>>> = BTreeMap::new();
    for point in points.iter().filter(|p| p.design == Design::BaseItems) {
        let verdict = by_size
            .entry(point.item_bytes_target)
            .or_default()
            .entry(point.sessions)
            .or_insert(None);
        if verdict.is_none() {
            *verdict = over(point, threshold);
        }
    }
    by_size
        .into_iter()
        .map(|(item_bytes_target, by_sessions)| {
            let largest_within = by_sessions
                .iter()
                .take_while(|(_, beyond)| beyond.is_none())
                .map(|(n, _)| *n)
                .last();
            let first_beyond = by_sessions.iter().find(|(_, beyond)| beyond.is_some());
            Breakpoint {
                item_bytes_target,
                largest_within,
                smallest_beyond: first_beyond.map(|(n, _)| *n),
                reason: first_beyond.and_then(|(_, why)| why.clone()),
            }
        })
        .collect()
}

fn kb(bytes: u64) -> String {
    let kb = bytes as f64 / 1024.0;
    if kb < 10.0 {
        format!("{kb:.1}")
    } else {
        format!("{kb:.0}")
    }
}

fn number(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    })
}

impl SweepReport {
    pub fn new(engine: &str, threshold: Threshold, points: Vec<CostPoint>) -> Self {
        let breakpoints = breakpoints(&points, &threshold);
        SweepReport {
            engine: engine.to_owned(),
            threshold,
            points,
            breakpoints,
        }
    }

    /// The match rate the plot draws: the median of the distinct rates
    /// measured (the upper of the middle two), or 0 with no points.
    pub fn plotted_match_percent(&self) -> u32 {
        let mut rates: Vec<u32> = self.points.iter().map(|p| p.match_percent).collect();
        rates.sort_unstable();
        rates.dedup();
        rates.get(rates.len() / 2).copied().unwrap_or(0)
    }

    /// The sentences that answer "when does < 50 sessions stop holding".
    pub fn verdict(&self) -> Vec<String> {
        let latency = self
            .threshold
            .max_latency_ms_p99
            .map(|ms| format!(" or p99 latency over {ms} ms"))
            .unwrap_or_default();
        self.breakpoints
            .iter()
            .map(|b| {
                let sessions = |n: usize| format!("{n} session{}", if n == 1 { "" } else { "s" });
                let size = format!("~{} KB sessions", kb(b.item_bytes_target));
                match (b.largest_within, b.smallest_beyond) {
                    (_, None) => format!(
                        "{size}: every measured campaign size stays within {} RCU per search{latency}.",
                        self.threshold.max_rcu_per_search
                    ),
                    (None, Some(n)) => format!(
                        "{size}: already beyond the threshold at {} ({}).",
                        sessions(n),
                        b.reason.clone().unwrap_or_default()
                    ),
                    (Some(ok), Some(n)) => format!(
                        "{size}: within the threshold up to {}; beyond it from {n} ({}).",
                        sessions(ok),
                        b.reason.clone().unwrap_or_default()
                    ),
                }
            })
            .collect()
    }

    pub fn to_markdown(&self, generated: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Cost of FilterExpression search\n");
        let _ = writeln!(
            out,
            "Generated {generated}; DynamoDB engine: {}. Figures are per search. \
             **modeled** = our capacity model (`cutover_core::capacity`: the items read, summed and rounded \
             up to 4 KB per page; strong reads 1 unit per 4 KB, eventual half); **reported** = \
             `ConsumedCapacity` as the engine returned it. Dollars: on-demand, ${} per million read \
             units ({}).\n",
            self.engine,
            prices::ON_DEMAND_READ_UNIT.dollars,
            prices::ON_DEMAND_READ_UNIT.source
        );
        let _ = writeln!(
            out,
            "## When does \"< 50 sessions\" stop holding?\n\nThreshold: {} RCU per search{}.\n",
            self.threshold.max_rcu_per_search,
            self.threshold
                .max_latency_ms_p99
                .map(|ms| format!(", p99 latency {ms} ms"))
                .unwrap_or_default()
        );
        for line in self.verdict() {
            let _ = writeln!(out, "- {line}");
        }

        let divergent: Vec<&CostPoint> = self.points.iter().filter(|p| p.diverges()).collect();
        let _ = writeln!(out, "\n## Engine-reported vs modeled RCU\n");
        if divergent.is_empty() {
            let _ = writeln!(
                out,
                "The engine's ConsumedCapacity and page count equal the model's at every DynamoDB point.\n"
            );
        } else {
            // Cost does not depend on the match rate: one row per (design, size, campaign).
            let mut rows: BTreeMap<(Design, u64, usize), (Vec<u32>, &CostPoint)> = BTreeMap::new();
            for p in &divergent {
                rows.entry((p.design, p.item_bytes_target, p.sessions))
                    .or_insert_with(|| (Vec::new(), p))
                    .0
                    .push(p.match_percent);
            }
            let largest_percent = divergent
                .iter()
                .filter_map(|p| match (p.rcu_modeled, p.rcu_reported) {
                    (Some(m), Some(r)) if m > 0.0 => Some((m - r).abs() / m * 100.0),
                    _ => None,
                })
                .fold(0.0_f64, f64::max);
            let _ = writeln!(
                out,
                "{} point(s) where the engine's RCU or page count is not the model's; both are shown, \
                 neither is hidden. The largest RCU difference is {largest_percent:.2}% of the modeled figure. \
                 A page holds at most 1 MB: the model ends a page with the item that reaches 1 MB, an engine \
                 that ends it before that item (or pages differently) rounds up to 4 KB more or fewer times.\n",
                divergent.len()
            );
            let _ = writeln!(
                out,
                "| design | sessions | item KB | match % | pages reported/modeled | RCU modeled | RCU reported |"
            );
            let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            for ((design, _, sessions), (rates, p)) in rows {
                let rates: Vec<String> = rates.iter().map(u32::to_string).collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {}/{} | {} | {} |",
                    design.label(),
                    sessions,
                    kb(p.item_bytes_mean),
                    rates.join(", "),
                    p.pages_reported.map_or("-".into(), |n| n.to_string()),
                    p.pages_modeled.map_or("-".into(), |n| n.to_string()),
                    number(p.rcu_modeled),
                    number(p.rcu_reported)
                );
            }
            let _ = writeln!(out);
        }

        let _ = writeln!(out, "## Every point\n");
        let _ = writeln!(
            out,
            "| design | sessions | item KB | match % | scanned | returned | RCU modeled | RCU reported | RCU if only returned | $/M searches (modeled) | $/M (reported) | p50 ms | p99 ms |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        let mut points: Vec<&CostPoint> = self.points.iter().collect();
        points.sort_by_key(|p| (p.design, p.item_bytes_target, p.sessions, p.match_percent));
        for p in points {
            let dollars = |d: Option<f64>| d.map_or("-".to_owned(), |d| format!("{d:.2}"));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} |",
                p.design.label(),
                p.sessions,
                kb(p.item_bytes_mean),
                p.match_percent,
                p.items_scanned,
                p.items_returned,
                number(p.rcu_modeled),
                number(p.rcu_reported),
                number(p.rcu_returned_modeled),
                dollars(p.dollars_per_million_modeled()),
                dollars(p.dollars_per_million_reported()),
                p.latency_ms_p50,
                p.latency_ms_p99
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_are_kib_and_the_largest_leaves_room_for_the_keys() {
        assert_eq!(item_bytes_for_kb(1), 1024);
        assert_eq!(item_bytes_for_kb(40), 40 * 1024);
        assert_eq!(item_bytes_for_kb(400), 409_600 - 2048);
        assert_eq!(item_bytes_for_kb(399), 409_600 - 2048);
    }

    #[test]
    fn match_rates_are_exact_and_spread() {
        let count = |n: usize, percent| (0..n).filter(|&i| session_matches(i, percent)).count();
        assert_eq!(count(100, 10), 10);
        assert_eq!(count(500, 1), 5);
        assert_eq!(count(50, 50), 25);
        assert_eq!(count(1, 50), 0);
        assert_eq!(count(7, 100), 7);
        assert!(!marker_word(10).contains(&marker_word(1)));
    }

    fn point(sessions: usize, item: u64, rcu: f64, p99: f64) -> CostPoint {
        CostPoint {
            design: Design::BaseItems,
            sessions,
            item_bytes_target: item,
            item_bytes_mean: item,
            match_percent: 10,
            items_scanned: sessions as u64,
            items_returned: 0,
            pages_reported: Some(1),
            pages_modeled: Some(1),
            rcu_modeled: Some(rcu),
            rcu_reported: Some(rcu),
            rcu_returned_modeled: Some(1.0),
            latency_ms_p50: p99 / 2.0,
            latency_ms_p99: p99,
            repetitions: 1,
        }
    }

    #[test]
    fn the_breakpoint_is_the_first_size_over_the_threshold() {
        let points = vec![
            point(10, 1024, 3.0, 1.0),
            point(50, 1024, 13.0, 2.0),
            point(100, 1024, 25.0, 9.0),
            point(10, 40_960, 100.0, 1.0),
        ];
        let threshold = Threshold {
            max_rcu_per_search: 20.0,
            max_latency_ms_p99: Some(5.0),
        };
        let report = SweepReport::new("test", threshold, points);
        assert_eq!(report.breakpoints[0].largest_within, Some(50));
        assert_eq!(report.breakpoints[0].smallest_beyond, Some(100));
        assert_eq!(
            report.breakpoints[0].reason.as_deref(),
            Some("25 RCU > 20 and p99 9.0 ms > 5 ms")
        );
        assert_eq!(report.breakpoints[1].largest_within, None);
        let verdict = report.verdict();
        assert!(
            verdict[0].contains("up to 50 sessions; beyond it from 100"),
            "{verdict:?}"
        );
        assert!(
            verdict[1].contains("already beyond the threshold at 10"),
            "{verdict:?}"
        );
    }

    #[test]
    fn the_plot_draws_the_median_match_rate() {
        let threshold = Threshold {
            max_rcu_per_search: 20.0,
            max_latency_ms_p99: None,
        };
        let at_rates = |rates: &[u32]| {
            let points = rates
                .iter()
                .map(|&rate| CostPoint {
                    match_percent: rate,
                    ..point(10, 1024, 3.0, 1.0)
                })
                .collect();
            SweepReport::new("test", threshold, points).plotted_match_percent()
        };
        assert_eq!(at_rates(&[50, 1, 10, 10, 1]), 10);
        assert_eq!(at_rates(&[1, 50]), 50);
        assert_eq!(at_rates(&[]), 0);
    }

    #[test]
    fn divergence_is_shown_with_both_figures() {
        let mut p = point(10, 1024, 3.0, 1.0);
        assert!(!p.diverges());
        p.rcu_reported = Some(3.5);
        assert!(p.diverges());
        let report = SweepReport::new(
            "test",
            Threshold {
                max_rcu_per_search: 20.0,
                max_latency_ms_p99: None,
            },
            vec![p],
        );
        let markdown = report.to_markdown("now");
        assert!(
            markdown.contains("| base items + filter | 10 | 1.0 | 10 | 1/1 | 3 | 3.5 |"),
            "{markdown}"
        );
        assert!(markdown.contains("| 0.38 | 0.44 |"), "{markdown}");
    }

    #[test]
    fn the_report_shows_modeled_and_reported_figures_side_by_side() {
        let mut diverging = point(50, 1024, 13.0, 2.0);
        diverging.rcu_reported = Some(14.5);
        diverging.pages_reported = None;
        let report = SweepReport::new(
            "Dynoxide (embedded)",
            Threshold {
                max_rcu_per_search: 20.0,
                max_latency_ms_p99: None,
            },
            vec![
                point(10, 1024, 3.0, 1.0),
                diverging,
                point(100, 1024, 25.0, 9.0),
            ],
        );
        insta::assert_snapshot!("sweep_report", report.to_markdown("(time) on (machine)"));
    }
}
