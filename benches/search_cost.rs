//! Criterion benches of search: the pure rules (lexemes, the capacity model)
//! and FilterExpression search latency per design over campaign sizes on the
//! embedded engines. `cargo bench -p cutover-search`; the cost figures
//! (RCU read vs returned, dollars) are `cutover bench search-cost`'s report.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use cutover_backends::{Engines, Plan, Sandbox};
use cutover_core::capacity::{Consistency, query_rcu};
use cutover_core::search::cost::Design;
use cutover_core::search::lexemes::lexemes;
use cutover_search::cost::SearchBench;

const SESSIONS: [usize; 8] = [1, 5, 10, 25, 50, 100, 200, 500];
const ITEM_BYTES: u64 = 4 * 1024;
const MATCH_PERCENT: u32 = 10;

fn pure(c: &mut Criterion) {
    let summary = "The party crossed the ancient bridge, fought goblins near the ruins \
                   and the wizard's healing spells saved the well-known half-orc. "
        .repeat(40);
    c.bench_function("lexemes of a 5 KB summary", |b| {
        b.iter(|| lexemes(black_box(&summary)))
    });
    let sizes: Vec<u64> = (0..500).map(|i| 1_000 + i * 731).collect();
    c.bench_function("rcu model of a 500-item query", |b| {
        b.iter(|| query_rcu(black_box(&sizes), None, Consistency::Strong))
    });
}

fn filter_search(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let engines = runtime
        .block_on(Engines::start(&Plan::embedded()))
        .expect("embedded engines start");
    let sandbox = runtime
        .block_on(Sandbox::open(&engines, cutover_backends::new_run_id()))
        .expect("a sandbox opens");
    let bench = runtime
        .block_on(SearchBench::install(&sandbox))
        .expect("the sweep's stores install");
    let mut group = c.benchmark_group("search latency");
    group.sample_size(20);
    for sessions in SESSIONS {
        let campaign = runtime
            .block_on(bench.write_campaign(sessions, ITEM_BYTES, &[MATCH_PERCENT]))
            .expect("the campaign is written");
        for design in Design::ALL {
            group.bench_with_input(
                BenchmarkId::new(design.label(), sessions),
                &campaign,
                |b, campaign| {
                    b.to_async(&runtime).iter(|| async {
                        bench
                            .search_once(campaign, design, MATCH_PERCENT)
                            .await
                            .expect("the search runs")
                    })
                },
            );
        }
    }
    group.finish();
    runtime
        .block_on(sandbox.close())
        .expect("the sandbox closes");
    drop(engines);
}

criterion_group!(benches, pure, filter_search);
criterion_main!(benches);
