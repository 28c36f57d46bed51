//! What a backfill run did, for `reports/` and the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use cutover_core::backfill::{Checkpoint, CopyTotals};
use cutover_core::keys::EntityKind;
use serde::Serialize;

use crate::BackfillOptions;

pub const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, Serialize)]
pub struct BackfillReport {
    pub source: String,
    pub workers: usize,
    pub page_size: usize,
    /// Rows PostgreSQL held when the run started.
    pub rows_at_start: u64,
    /// Where the run resumed: per kind, the last id already copied.
    pub resumed_from: Option<BTreeMap<EntityKind, String>>,
    /// Copied by earlier, interrupted runs (from the checkpoint).
    pub copied_before: CopyTotals,
    pub this_run: CopyTotals,
    /// The checkpoint as the run left it (its totals cover every run).
    pub checkpoint: Checkpoint,
    pub pages_this_run: u64,
    /// Stopped before the end (`stop_after_pages`).
    pub interrupted: bool,
    pub complete: bool,
    pub duration_ms: f64,
    pub entities_per_s: f64,
    /// Item and transcript bytes written per second.
    pub mib_per_s: f64,
    /// Why a complete run copied nothing (a finished checkpoint, an empty
    /// source), so "COMPLETE" is never mistaken for a copy that happened.
    pub nothing_to_copy: Option<String>,
}

impl BackfillReport {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        options: &BackfillOptions,
        rows_at_start: u64,
        resumed_from: Option<BTreeMap<EntityKind, String>>,
        copied_before: CopyTotals,
        this_run: CopyTotals,
        checkpoint: Checkpoint,
        pages_this_run: u64,
        interrupted: bool,
        elapsed: Duration,
    ) -> BackfillReport {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let bytes = (this_run.item_bytes + this_run.transcript_bytes) as f64;
        let nothing_to_copy = nothing_to_copy(
            options,
            rows_at_start,
            &copied_before,
            &this_run,
            checkpoint.finished(),
        );
        BackfillReport {
            nothing_to_copy,
            source: options.source.clone(),
            workers: options.workers,
            page_size: options.page_size,
            rows_at_start,
            resumed_from,
            copied_before,
            this_run,
            complete: checkpoint.finished(),
            checkpoint,
            pages_this_run,
            interrupted,
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            entities_per_s: this_run.entities as f64 / seconds,
            mib_per_s: bytes / MIB / seconds,
        }
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let run = &self.this_run;
        let _ = writeln!(out, "# Backfill of {}\n", self.source);
        let _ = writeln!(
            out,
            "**{}** — {} entities in {:.1} s ({:.0} entities/s, {:.2} MiB/s), {} pages of up to {} on {} workers.\n",
            if self.nothing_to_copy.is_some() {
                "COMPLETE, NOTHING COPIED"
            } else if self.complete {
                "COMPLETE"
            } else if self.interrupted {
                "INTERRUPTED"
            } else {
                "INCOMPLETE"
            },
            run.entities,
            self.duration_ms / 1000.0,
            self.entities_per_s,
            self.mib_per_s,
            self.pages_this_run,
            self.page_size,
            self.workers
        );
        if let Some(why) = &self.nothing_to_copy {
            let _ = writeln!(out, "Nothing was copied: {why}.\n");
        }
        if let Some(from) = &self.resumed_from {
            let at: Vec<String> = from
                .iter()
                .map(|(kind, id)| format!("{kind} after {id:?}"))
                .collect();
            let _ = writeln!(
                out,
                "Resumed from the checkpoint ({}): {} entities were copied before.\n",
                at.join(", "),
                self.copied_before.entities
            );
        }
        let _ = writeln!(out, "| | this run | all runs |\n| --- | ---: | ---: |");
        let all = &self.checkpoint.totals;
        let rows: [(&str, u64, u64); 10] = [
            ("users", run.users, all.users),
            ("campaigns", run.campaigns, all.campaigns),
            ("sessions", run.sessions, all.sessions),
            ("summaries", run.summaries, all.summaries),
            ("transcripts uploaded", run.transcripts, all.transcripts),
            ("item bytes", run.item_bytes, all.item_bytes),
            (
                "transcript bytes",
                run.transcript_bytes,
                all.transcript_bytes,
            ),
            (
                "write calls (UpdateItem of the profile's attributes)",
                run.write_calls,
                all.write_calls,
            ),
            (
                "items that were there, merged (unowned attributes kept)",
                run.items_merged,
                all.items_merged,
            ),
            (
                "writes sent again after throttling",
                run.unprocessed_retries,
                all.unprocessed_retries,
            ),
        ];
        for (name, this, total) in rows {
            let _ = writeln!(out, "| {name} | {this} | {total} |");
        }
        let reported = |totals: &CopyTotals| {
            totals
                .wcu_reported
                .map_or("not reported".to_owned(), |wcu| format!("{wcu:.0}"))
        };
        let _ = writeln!(
            out,
            "| WCU reported by the engine | {} | {} |\n| WCU modeled (`capacity::upsert_wcu_indexed`: the larger of the item before and after, table + index entries) | {:.0} | {:.0} |\n| entities reconciled after a live write moved them | {} | {} |",
            reported(run),
            reported(all),
            run.wcu_modeled,
            all.wcu_modeled,
            run.redriven,
            all.redriven
        );
        if let Some(wcu) = run.wcu_reported
            && (wcu - run.wcu_modeled).abs() > 0.5
        {
            let _ = writeln!(
                out,
                "\nThe engine's WCU ({wcu:.0}) and the model's ({:.0}) differ; both are shown.",
                run.wcu_modeled
            );
        }
        out
    }
}

/// Why a complete run copied nothing, if it did.
fn nothing_to_copy(
    options: &BackfillOptions,
    rows_at_start: u64,
    copied_before: &CopyTotals,
    this_run: &CopyTotals,
    finished: bool,
) -> Option<String> {
    if !finished || this_run.entities > 0 {
        return None;
    }
    Some(match &options.checkpoint {
        Some(path) if copied_before.entities > 0 => format!(
            "the checkpoint {} says earlier runs copied every kind ({} entities); remove it to copy again",
            path.display(),
            copied_before.entities
        ),
        _ if rows_at_start == 0 => "PostgreSQL holds no rows of the app's tables".to_owned(),
        _ => "no page held a row".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(entities: u64, wcu_reported: Option<f64>, wcu_modeled: f64) -> CopyTotals {
        CopyTotals {
            entities,
            users: entities / 10,
            campaigns: entities / 5,
            sessions: entities / 2,
            summaries: entities - entities / 10 - entities / 5 - entities / 2,
            item_bytes: entities * 900,
            transcript_bytes: entities * 4_000,
            transcripts: entities / 4,
            write_calls: entities,
            items_merged: 0,
            unprocessed_retries: 3,
            wcu_reported,
            wcu_modeled,
            redriven: 2,
        }
    }

    /// A resumed run that finished, on an engine whose WCU is not the model's.
    #[test]
    fn the_markdown_report_of_a_resumed_run() {
        let mut checkpoint = Checkpoint::new("postgres://cutover_run/db");
        checkpoint.kinds_finished = vec![
            EntityKind::User,
            EntityKind::Campaign,
            EntityKind::Session,
            EntityKind::Summary,
        ];
        let before = totals(400, Some(410.0), 405.0);
        let this_run = totals(600, Some(640.0), 612.0);
        checkpoint.totals = before;
        checkpoint.totals.add(&this_run);
        let report = BackfillReport::new(
            &BackfillOptions::new("postgres://cutover_run/db"),
            1_000,
            Some(BTreeMap::from([(EntityKind::User, "u-0099".to_owned())])),
            before,
            this_run,
            checkpoint,
            24,
            false,
            Duration::from_millis(1_500),
        );
        insta::assert_snapshot!(report.to_markdown());
    }

    /// A finished checkpoint run again: COMPLETE, and it says nothing was copied.
    #[test]
    fn a_run_over_a_finished_checkpoint_says_it_copied_nothing() {
        let before = totals(1_000, None, 1_000.0);
        let mut checkpoint = Checkpoint::new("postgres://cutover_run/db");
        checkpoint.kinds_finished = EntityKind::ALL.to_vec();
        checkpoint.totals = before;
        let options = BackfillOptions {
            checkpoint: Some("backfill.checkpoint.json".into()),
            ..BackfillOptions::new("postgres://cutover_run/db")
        };
        let report = BackfillReport::new(
            &options,
            1_000,
            Some(BTreeMap::new()),
            before,
            CopyTotals::default(),
            checkpoint,
            0,
            false,
            Duration::from_millis(20),
        );
        assert!(report.complete);
        let why = report.nothing_to_copy.as_deref().expect("nothing copied");
        assert!(why.contains("backfill.checkpoint.json"), "{why}");
        assert!(why.contains("1000 entities"), "{why}");
        let markdown = report.to_markdown();
        assert!(markdown.contains("COMPLETE, NOTHING COPIED"), "{markdown}");
        assert!(
            markdown.contains("Nothing was copied: the checkpoint"),
            "{markdown}"
        );

        let empty = BackfillReport::new(
            &BackfillOptions::new("postgres://cutover_run/db"),
            0,
            None,
            CopyTotals::default(),
            CopyTotals::default(),
            checkpoint_finished(),
            0,
            false,
            Duration::from_millis(5),
        );
        assert_eq!(
            empty.nothing_to_copy.as_deref(),
            Some("PostgreSQL holds no rows of the app's tables")
        );
    }

    fn checkpoint_finished() -> Checkpoint {
        let mut checkpoint = Checkpoint::new("postgres://cutover_run/db");
        checkpoint.kinds_finished = EntityKind::ALL.to_vec();
        checkpoint
    }

    /// An interrupted run on an engine that reports no capacity.
    #[test]
    fn the_markdown_report_of_an_interrupted_run() {
        let this_run = totals(100, None, 104.0);
        let mut checkpoint = Checkpoint::new("postgres://cutover_run/db");
        checkpoint.totals = this_run;
        let report = BackfillReport::new(
            &BackfillOptions::new("postgres://cutover_run/db"),
            1_000,
            None,
            CopyTotals::default(),
            this_run,
            checkpoint,
            4,
            true,
            Duration::from_millis(500),
        );
        insta::assert_snapshot!(report.to_markdown());
    }
}
