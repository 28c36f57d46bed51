//! The search-cost sweep on real engines, small: every point is measured on
//! every design, returned counts follow the match rule exactly, and the
//! engine's ConsumedCapacity sits beside our model for every DynamoDB point.

use cutover_backends::{Engines, Plan, Sandbox};
use cutover_core::provision::{Engine, Provisioner};
use cutover_core::search::cost::{Design, SweepReport, Threshold, session_matches};
use cutover_search::cost::{SweepOptions, sweep};

fn options() -> SweepOptions {
    SweepOptions {
        sessions: vec![1, 7, 30],
        item_bytes: vec![1024, 100 * 1024],
        match_percents: vec![10, 50],
        repetitions: 1,
        threshold: Threshold {
            max_rcu_per_search: 25.0,
            max_latency_ms_p99: None,
        },
    }
}

async fn run(engines: &Engines) -> SweepReport {
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let engine = engines.dynamodb().engine_name.to_string();
    let report = sweep(&sandbox, &engine, &options(), &|_: &str| {})
        .await
        .unwrap();
    sandbox.close().await.unwrap();
    report
}

fn check_counts(report: &SweepReport) {
    let options = options();
    assert_eq!(
        report.points.len(),
        options.sessions.len()
            * options.item_bytes.len()
            * options.match_percents.len()
            * Design::ALL.len()
    );
    for point in &report.points {
        let expected = (0..point.sessions)
            .filter(|&i| session_matches(i, point.match_percent))
            .count();
        assert_eq!(point.items_returned as usize, expected, "{point:?}");
        if point.design != Design::PostgresFullText {
            assert!(
                point.items_scanned >= point.sessions as u64,
                "a filter reads every session: {point:?}"
            );
            let modeled = point.rcu_modeled.unwrap();
            let returned = point.rcu_returned_modeled.unwrap();
            assert!(returned <= modeled, "{point:?}");
            assert!(
                point.rcu_reported.is_some(),
                "the engine reports capacity: {point:?}"
            );
        }
    }
    // The filter's waste: reading 30 sessions of 100 KB costs the whole partition.
    let base = report
        .points
        .iter()
        .find(|p| {
            p.design == Design::BaseItems && p.sessions == 30 && p.item_bytes_target == 100 * 1024
        })
        .unwrap();
    assert!(base.rcu_modeled.unwrap() >= 30.0 * 25.0, "{base:?}");
    let slim = report
        .points
        .iter()
        .find(|p| {
            p.design == Design::SlimItems && p.sessions == 30 && p.item_bytes_target == 100 * 1024
        })
        .unwrap();
    assert!(slim.rcu_modeled < base.rcu_modeled, "{slim:?} vs {base:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_on_the_embedded_engine_matches_the_model() {
    let report = run(crate::engines().await).await;
    check_counts(&report);
    // Dynoxide charges exactly our model: any change in either shows here.
    let divergent: Vec<_> = report.points.iter().filter(|p| p.diverges()).collect();
    assert!(divergent.is_empty(), "{divergent:#?}");
    // 25 RCU allowed: 30 sessions of 1 KB (about 8 RCU) stay within; one
    // 100 KB session is exactly 25, seven are 175.
    let at = |i: usize| {
        (
            report.breakpoints[i].largest_within,
            report.breakpoints[i].smallest_beyond,
        )
    };
    assert_eq!(at(0), (Some(30), None));
    assert_eq!(at(1), (Some(1), Some(7)));

    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("search-cost.svg");
    cutover_search::plot::rcu_over_sessions(&report, 10, &svg).unwrap();
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("<svg") && drawn.contains("base items + filter, ~100 KB items"));
    assert!(
        report
            .to_markdown("now")
            .contains("| base items + filter | 30 |")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_local_every_point_shows_the_engine_figure_beside_the_model() {
    let plan = Plan::embedded().with(Engine::DynamoDb, Provisioner::Local);
    let engines = Engines::start(&plan).await.unwrap();
    let report = run(&engines).await;
    engines.shutdown().await;
    check_counts(&report);
    let markdown = report.to_markdown("now");
    for point in report.points.iter().filter(|p| p.diverges()) {
        let row = format!("| {} | {} |", point.design.label(), point.sessions);
        assert!(markdown.contains(&row), "divergence at {row} is listed");
    }
    println!(
        "{}",
        markdown.lines().take(30).collect::<Vec<_>>().join("\n")
    );
}
