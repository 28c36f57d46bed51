//! The backfill throughput benchmark: a database filled by a generated
//! workload, copied by the backfill, against each target engine written alone
//! with the same data at the same concurrency. Measurement only; the CLI
//! writes the report.

use std::time::{Duration, Instant};

use cutover_app::dynamo::DynamoStore;
use cutover_app::transcripts::TranscriptStore;
use cutover_app::{App, AppError, Mode};
use cutover_backends::Sandbox;
use cutover_core::backfill::KIND_ORDER;
use cutover_core::domain::Entity;
use cutover_core::workload::Scenario;
use cutover_parity::{ParityOptions, TranscriptCheck, validate};
use cutover_replay::ReplayOptions;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::sync::Arc;

use cutover_backfill::{
    BackfillError, BackfillOptions, BackfillReport, MIB, OBJECT_CONCURRENCY, backfill,
    transcript_objects,
};

/// One engine written alone.
#[derive(Debug, Clone, Serialize)]
pub struct RawWrite {
    pub engine: String,
    /// What was written: items, or transcript objects.
    pub writes: u64,
    pub mib: f64,
    pub seconds: f64,
    /// The dataset's entities over the time this engine needs for its part.
    pub entities_per_s: f64,
    pub mib_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackfillBench {
    pub entities: u64,
    pub prefill: Prefill,
    pub backfill: BackfillReport,
    pub raw: Vec<RawWrite>,
    /// The engine whose raw write of its part takes longest.
    pub slowest: String,
    /// Backfill entities/s over the slowest engine's raw entities/s.
    pub ratio_to_slowest: f64,
    pub parity_percent: f64,
    pub parity_passed: bool,
}

fn raw(engine: &str, writes: u64, bytes: u64, entities: u64, elapsed: Duration) -> RawWrite {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    RawWrite {
        engine: engine.to_owned(),
        writes,
        mib: bytes as f64 / MIB,
        seconds,
        entities_per_s: entities as f64 / seconds,
        mib_per_s: bytes as f64 / MIB / seconds,
    }
}

/// How the source database was made.
#[derive(Debug, Clone, Serialize)]
pub struct Prefill {
    pub scenario: String,
    pub seed: u64,
    pub operations: u64,
    pub seconds: f64,
    /// The pre-fill's own checks (PostgreSQL equals the workload's model).
    pub checks_passed: bool,
}

/// Every entity PostgreSQL holds, with transcripts, read by keyset pages.
async fn read_all(app: &App) -> Result<Vec<(Entity, Option<String>)>, BackfillError> {
    const PAGE: i64 = 1000;
    let mut all = Vec::new();
    for kind in KIND_ORDER {
        let mut after: Option<String> = None;
        loop {
            let ids = app.pg.ids_after(kind, after.as_deref(), PAGE).await?;
            let Some(last) = ids.last().cloned() else {
                break;
            };
            all.extend(app.pg.entities_with_transcripts_by_ids(kind, &ids).await?);
            after = Some(last);
        }
    }
    Ok(all)
}

/// Replays `scenario` (a `postgres-only` workload) to fill PostgreSQL alone,
/// backfills it, checks parity (every transcript's content included), then
/// writes the same items and objects to a fresh table and bucket, each engine
/// alone at the backfill's concurrency.
pub async fn measure(
    sandbox: &Sandbox,
    scenario: &Scenario,
    replay_options: &ReplayOptions,
    options: &BackfillOptions,
) -> Result<BackfillBench, BackfillError> {
    let app = Arc::new(App::install(sandbox, Mode::PostgresOnly).await?);
    let record = cutover_replay::replay(app.clone(), scenario, replay_options)
        .await
        .map_err(|error| BackfillError::Source(error.to_string()))?;
    let prefill = Prefill {
        scenario: scenario.name.clone(),
        seed: replay_options.seed,
        operations: record.operations,
        seconds: record.duration_ms / 1000.0,
        checks_passed: record.passed(),
    };
    app.set_mode(Mode::Dual);
    let total = app.pg.entity_count().await?;

    let report = backfill(&app, options).await?;
    let parity = validate(
        Arc::new(App::on(sandbox, Mode::Dual)),
        &ParityOptions {
            transcripts: TranscriptCheck::Content,
            max_mismatch_percent: 0.0,
            grace: Duration::ZERO,
            ..ParityOptions::default()
        },
    )
    .await?;

    let entities = read_all(&app).await?;
    let raw_dynamodb = {
        let table = DynamoStore::new(sandbox.dynamodb.clone(), sandbox.table_name("raw"));
        table.create_table().await?;
        sandbox
            .claim_table(table.table())
            .await
            .map_err(AppError::from)?;
        let items: Vec<_> = entities
            .iter()
            .map(|(entity, _)| app.profile().to_item(entity))
            .collect();
        let page = options.page_size.max(1);
        let began = Instant::now();
        let written: Vec<cutover_app::dynamo::BatchWriteStats> =
            futures::stream::iter(items.chunks(page))
                .map(|chunk| table.batch_write(chunk))
                .buffer_unordered(options.workers.max(1))
                .try_collect()
                .await?;
        let bytes = written.iter().map(|w| w.item_bytes).sum();
        raw(
            "DynamoDB (BatchWriteItem)",
            items.len() as u64,
            bytes,
            total,
            began.elapsed(),
        )
    };
    let raw_s3 = {
        let bucket = TranscriptStore::new(sandbox.s3.clone(), sandbox.bucket_name("raw"));
        bucket.create_bucket().await?;
        sandbox
            .claim_bucket(bucket.bucket())
            .await
            .map_err(AppError::from)?;
        let objects = transcript_objects(&entities);
        let bytes = objects.iter().map(|(_, text)| text.len() as u64).sum();
        let began = Instant::now();
        futures::stream::iter(&objects)
            .map(|(key, text)| bucket.put(key, text))
            // The backfill's own upload concurrency: workers x objects per page.
            .buffer_unordered(options.workers.max(1) * OBJECT_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        raw(
            "S3 (PutObject)",
            objects.len() as u64,
            bytes,
            total,
            began.elapsed(),
        )
    };
    let raw_writes = vec![raw_dynamodb, raw_s3];
    let slowest = raw_writes
        .iter()
        .min_by(|a, b| a.entities_per_s.total_cmp(&b.entities_per_s))
        .expect("two engines")
        .clone();
    Ok(BackfillBench {
        entities: total,
        prefill,
        ratio_to_slowest: report.entities_per_s / slowest.entities_per_s,
        slowest: slowest.engine,
        raw: raw_writes,
        parity_percent: parity.parity_percent,
        parity_passed: parity.passed,
        backfill: report,
    })
}

impl BackfillBench {
    pub fn to_markdown(&self, header: &str) -> String {
        let b = &self.backfill;
        let mut out = format!(
            "# Backfill throughput\n\n{header}\n\nSource: the `{}` workload (seed {}), {} operations written to PostgreSQL alone in {:.0} s (not timed; its no-lost-writes check {}), leaving {} entities. Copied by `cutover backfill` ({} workers, pages of {}); parity afterwards, every transcript's content included: **{:.3}%** ({}).\n\n",
            self.prefill.scenario,
            self.prefill.seed,
            self.prefill.operations,
            self.prefill.seconds,
            if self.prefill.checks_passed {
                "passed"
            } else {
                "FAILED"
            },
            self.entities,
            b.workers,
            b.page_size,
            self.parity_percent,
            if self.parity_passed {
                "passed"
            } else {
                "FAILED"
            }
        );
        out.push_str("| run | writes | MiB | seconds | entities/s | MiB/s |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
        let copied = b.this_run.item_bytes + b.this_run.transcript_bytes;
        out.push_str(&format!(
            "| backfill (items + transcripts, version check after each batch) | {} items + {} objects | {:.1} | {:.1} | {:.0} | {:.2} |\n",
            b.this_run.entities,
            b.this_run.transcripts,
            copied as f64 / MIB,
            b.duration_ms / 1000.0,
            b.entities_per_s,
            b.mib_per_s
        ));
        for raw in &self.raw {
            out.push_str(&format!(
                "| {} alone, same data | {} | {:.1} | {:.1} | {:.0} | {:.2} |\n",
                raw.engine, raw.writes, raw.mib, raw.seconds, raw.entities_per_s, raw.mib_per_s
            ));
        }
        out.push_str(&format!(
            "\nBackfill vs the slowest engine alone ({}): **{:.2}x** its entities/s. The raw runs write each engine's part of the same data at the backfill's concurrency; the backfill also reads PostgreSQL and re-reads versions after every batch.\n\nWCU: reported by the engine {}, modeled {:.0}.\n",
            self.slowest,
            self.ratio_to_slowest,
            b.this_run
                .wcu_reported
                .map_or("nothing".to_owned(), |wcu| format!("{wcu:.0}")),
            b.this_run.wcu_modeled
        ));
        out
    }
}
