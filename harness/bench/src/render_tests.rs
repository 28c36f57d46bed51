//! Every benchmark report's Markdown, snapshot-tested from fixed figures (the
//! header with its timestamp is the caller's, so nothing here needs redacting).

use cutover_core::provision::Engine;

use crate::memory::{MemoryBench, MemoryPoint};
use crate::startup::{StartupReport, StartupSample};
use crate::throughput::{StoreRun, ThroughputReport};
use crate::validator::{ParityBench, RateRun};

const HEADER: &str = "Generated (time) on (machine); engines: (engines).";

fn store_run(store: &str, seconds: f64) -> StoreRun {
    StoreRun {
        store: store.to_owned(),
        requests: 1500,
        seconds,
        writes_per_s: 1500.0 / seconds,
    }
}

fn throughput(ratio: f64) -> ThroughputReport {
    ThroughputReport {
        scenario: "campaign-50".to_owned(),
        seed: 7,
        writes: 1500,
        concurrency: 8,
        dual: store_run("dual (postgres + s3 + dynamodb)", 6.0),
        alone: vec![
            store_run("postgres alone", 2.5),
            store_run("dynamodb alone", 1.5),
        ],
        slowest_alone: "postgres alone".to_owned(),
        ratio,
        dual_ms_per_write: 4.0,
        sum_alone_ms_per_write: 2.67,
    }
}

#[test]
fn throughput_says_whether_the_aim_was_met() {
    let missed = throughput(0.42);
    assert!(!missed.met());
    insta::assert_snapshot!(
        "throughput",
        missed.to_markdown(HEADER, "cutover bench replay --seed 7")
    );
    assert!(throughput(0.8).met());
    assert!(throughput(0.8).to_markdown(HEADER, "").contains("— met."));
}

fn memory_point(entities: u64, compared_entities: u64, peak_rss_mib: f64) -> MemoryPoint {
    MemoryPoint {
        entities,
        compared_entities,
        parity_percent: 100.0,
        passed: true,
        peak_rss_mib,
        validate_seconds: entities as f64 / 1000.0,
    }
}

#[test]
fn memory_fails_on_the_highest_peak_or_an_entity_not_compared() {
    let flat = MemoryBench {
        points: vec![
            memory_point(1060, 1060, 40.5),
            memory_point(10600, 10600, 42.0),
        ],
        objects: true,
        load_seconds: 12.0,
    };
    assert!(flat.passed());
    insta::assert_snapshot!(
        "memory",
        flat.to_markdown(
            HEADER,
            "content",
            "cutover bench parity-memory --entities 1060,10600"
        )
    );
    let too_high = MemoryBench {
        points: vec![memory_point(1060, 1060, 600.0)],
        ..flat.clone()
    };
    assert!(!too_high.passed());
    let short = MemoryBench {
        points: vec![memory_point(1060, 1000, 40.0)],
        ..flat
    };
    assert!(!short.passed());
    assert!(
        short
            .to_markdown(HEADER, "content", "")
            .contains("did not compare every entity")
    );
}

fn rate_run(approach: &str, entities_per_s: f64) -> RateRun {
    RateRun {
        approach: approach.to_owned(),
        entities: 10600,
        seconds: 10600.0 / entities_per_s,
        entities_per_s,
    }
}

#[test]
fn parity_rate_states_both_ratios_against_their_aims() {
    let bench = ParityBench {
        entities: 10600,
        load_seconds: 30.0,
        validator: rate_run("validator", 4000.0),
        raw_read: rate_run("raw read", 4500.0),
        validator_items_only: rate_run("validator, items only", 9000.0),
        naive: rate_run("naive", 600.0),
        ratio_to_raw: 4000.0 / 4500.0,
        ratio_to_naive: 15.0,
        parity_percent: 100.0,
    };
    insta::assert_snapshot!(
        "parity_rate",
        bench.to_markdown(
            HEADER,
            4,
            "cutover bench parity --entities 10600 --segments 4"
        )
    );
}

#[test]
fn startup_judges_the_first_subject_by_its_median() {
    let sample = |subject: &str, ready_ms: Vec<f64>| StartupSample {
        subject: subject.to_owned(),
        per_engine_ms: Engine::ALL
            .iter()
            .map(|engine| (*engine, ready_ms.iter().map(|ms| ms / 2.0).collect()))
            .collect(),
        ready_ms,
    };
    let report = StartupReport {
        runs: 3,
        samples: vec![
            sample("all embedded", vec![900.0, 1200.0, 5000.0]),
            sample("dynamodb local", vec![3000.0, 3100.0, 3300.0]),
        ],
        containers: "not measured: no Docker engine".to_owned(),
    };
    assert_eq!(report.embedded_median_ms(), 1200.0);
    assert!(report.met());
    assert_eq!(report.to_json()["target"]["met"], true);
    insta::assert_snapshot!(
        "startup",
        report.to_markdown("Generated (time) on (machine)")
    );
}

#[test]
fn backfill_puts_the_copy_beside_each_engine_alone() {
    use crate::backfill::{BackfillBench, Prefill, RawWrite};
    use cutover_backfill::BackfillReport;
    use cutover_core::backfill::{Checkpoint, CopyTotals};

    let this_run = CopyTotals {
        entities: 5_000,
        users: 100,
        campaigns: 400,
        sessions: 3_000,
        summaries: 1_500,
        item_bytes: 5_000 * 900,
        transcript_bytes: 3_000 * 6_000,
        transcripts: 3_000,
        write_calls: 200,
        items_merged: 0,
        unprocessed_retries: 0,
        wcu_reported: Some(5_400.0),
        wcu_modeled: 5_380.0,
        redriven: 0,
    };
    let raw_write = |engine: &str, writes: u64, mib: f64, seconds: f64| RawWrite {
        engine: engine.into(),
        writes,
        mib,
        seconds,
        entities_per_s: 5_000.0 / seconds,
        mib_per_s: mib / seconds,
    };
    let bench = BackfillBench {
        entities: 5_000,
        prefill: Prefill {
            scenario: "churn".into(),
            seed: 7,
            operations: 20_000,
            seconds: 41.0,
            checks_passed: true,
        },
        backfill: BackfillReport {
            source: "postgres".into(),
            workers: 4,
            page_size: 500,
            rows_at_start: 5_000,
            resumed_from: None,
            copied_before: CopyTotals::default(),
            this_run,
            checkpoint: Checkpoint {
                totals: this_run,
                ..Checkpoint::new("postgres")
            },
            pages_this_run: 10,
            interrupted: false,
            complete: true,
            duration_ms: 2_500.0,
            entities_per_s: 2_000.0,
            mib_per_s: 8.58,
            nothing_to_copy: None,
        },
        raw: vec![
            raw_write("dynamodb (dynoxide)", 5_000, 4.3, 1.6),
            raw_write("s3 (s3s-fs)", 3_000, 17.2, 2.0),
        ],
        slowest: "s3 (s3s-fs)".into(),
        ratio_to_slowest: 0.8,
        parity_percent: 100.0,
        parity_passed: true,
    };
    insta::assert_snapshot!(bench.to_markdown(HEADER));
}
