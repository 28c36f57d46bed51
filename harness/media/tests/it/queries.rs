//! Every access pattern of the old app (DynamoDB GSIs) against the new SQL,
//! page by page, and both against the in-memory oracle; the new combined
//! searches against the oracle. Items moved in the same millisecond are
//! planted, so the tie-breakers are exercised.

use std::collections::HashMap;

use cutover_app::dynamo::DynamoStore;
use cutover_backends::Sandbox;
use cutover_core::media::source::to_source_item;
use cutover_core::media::{MediaType, generator};
use cutover_media::migrate::{MigrateOptions, Source, migrate};
use cutover_media::queries::{check, queries_for};
use cutover_media::schema::{create_source_table, install_target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_pair_gives_the_same_items_in_the_same_order_page_by_page() {
    let engines = crate::engines().await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    install_target(&sandbox.pg).await.unwrap();
    let table = sandbox.table_name("media");
    create_source_table(&sandbox.dynamodb, &table)
        .await
        .unwrap();
    let store = DynamoStore::new(sandbox.dynamodb.clone(), table);

    let mut items = generator::generate(42, 3_000);
    // Ties: books moved in the same millisecond, and a feature and a series too.
    let moment = items[10].moved_at;
    for item in items
        .iter_mut()
        .filter(|i| i.media_type == MediaType::Book)
        .skip(20)
        .take(9)
    {
        item.moved_at = moment;
    }
    for media_type in [MediaType::Feature, MediaType::TvSeries] {
        items
            .iter_mut()
            .find(|i| i.media_type == media_type)
            .unwrap()
            .moved_at = moment;
    }
    let stored: Vec<_> = items.iter().map(to_source_item).collect();
    store.batch_put(&stored).await.unwrap();
    let source = Source::DynamoDb(store.clone());
    migrate(&source, &sandbox.pg, &MigrateOptions::default(), &|_| {})
        .await
        .unwrap();

    let by_id: HashMap<String, _> = items.iter().map(|i| (i.id.clone(), i.clone())).collect();
    let queries = queries_for(&items);
    assert!(queries.len() > 40, "{}", queries.len());
    let mut failures = Vec::new();
    let mut paged = 0;
    for query in &queries {
        let result = check(&store, &sandbox.pg, query, &items, &by_id, 7)
            .await
            .unwrap();
        if result.pages > 1 {
            paged += 1;
        }
        if result.old_equals_new == Some(false) || !result.new_equals_oracle {
            failures.push(result);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(paged > 20, "most answers span several pages: {paged}");
    sandbox.close().await.unwrap();
}
