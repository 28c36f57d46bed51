//! The item size model against the engines: for generated items of several
//! shapes, an item the model sizes at exactly 409,600 bytes must be accepted and
//! one byte more refused. Where an engine draws the line elsewhere, the test
//! finds the engine's real boundary and reports the difference instead of
//! hiding it; the differences are asserted against the known list below.

use std::collections::BTreeMap;

use crate::support::{DynamoEngine, engines};
use cutover_app::dynamo::{KeySpec, create_string_keyed_table};
use cutover_app::item_to_sdk;
use cutover_backends::Sandbox;
use cutover_core::item_size::{AttrValue, Item, MAX_ITEM_BYTES, item_bytes};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn s(text: &str) -> AttrValue {
    AttrValue::S(text.to_owned())
}

fn n(text: &str) -> AttrValue {
    AttrValue::N(text.to_owned())
}

fn number_strategy() -> impl Strategy<Value = String> {
    ("-?", "[1-9][0-9]{0,37}", 0usize..38, -20i32..20).prop_map(
        |(sign, digits, point, exponent)| {
            let point = point.min(digits.len());
            let (integer, fraction) = digits.split_at(point);
            let mantissa = if fraction.is_empty() {
                integer.to_owned()
            } else {
                format!(
                    "{}.{fraction}",
                    if integer.is_empty() { "0" } else { integer }
                )
            };
            format!("{sign}{mantissa}e{exponent}")
        },
    )
}

fn value_strategy() -> impl Strategy<Value = AttrValue> {
    let leaf = prop_oneof![
        "\\PC{0,30}".prop_map(AttrValue::S),
        number_strategy().prop_map(AttrValue::N),
        any::<bool>().prop_map(AttrValue::Bool),
        Just(AttrValue::Null),
        proptest::collection::vec(any::<u8>(), 1..20).prop_map(AttrValue::B),
        proptest::collection::btree_set("\\PC{1,8}", 1..4)
            .prop_map(|set| AttrValue::Ss(set.into_iter().collect())),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(AttrValue::L),
            proptest::collection::btree_map("[a-zA-Z0-9_é🐉]{1,6}", inner, 0..5)
                .prop_map(AttrValue::M),
        ]
    })
}

/// Items generated from a fixed seed, so every run tries the same ones.
fn generated_shapes(count: usize) -> Vec<(String, Item)> {
    let config = proptest::test_runner::Config::default();
    let rng = proptest::test_runner::TestRng::from_seed(
        proptest::test_runner::RngAlgorithm::ChaCha,
        &[7; 32],
    );
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(config, rng);
    let strategy = proptest::collection::btree_map("[a-z]{1,8}", value_strategy(), 1..6);
    (0..count)
        .map(|i| {
            let mut item = strategy.new_tree(&mut runner).expect("generate").current();
            for reserved in ["pk", "sk", "pad"] {
                item.remove(reserved);
            }
            (format!("generated {i}"), item)
        })
        .collect()
}

/// Item shapes: everything but the ASCII padding that brings them to the limit.
fn shapes() -> Vec<(String, Item)> {
    let mut shapes: Vec<(String, Item)> = hand_written_shapes()
        .into_iter()
        .map(|(name, item)| (name.to_owned(), item))
        .collect();
    shapes.extend(generated_shapes(12));
    shapes
}

fn hand_written_shapes() -> Vec<(&'static str, Item)> {
    let mut nested = BTreeMap::new();
    nested.insert(
        "deep".to_owned(),
        AttrValue::M(BTreeMap::from([
            ("leaf".to_owned(), s("value")),
            ("n".to_owned(), n("42")),
        ])),
    );
    nested.insert(
        "list".to_owned(),
        AttrValue::L(vec![
            s("a"),
            n("1.5"),
            AttrValue::Bool(true),
            AttrValue::Null,
        ]),
    );
    vec![
        ("ascii", Item::new()),
        (
            "multibyte text",
            Item::from([("text".to_owned(), s(&"日本語🐉é".repeat(2000)))]),
        ),
        (
            "numbers",
            Item::from([
                ("int".to_owned(), n("1234567")),
                ("even".to_owned(), n("1.5")),
                (
                    "big".to_owned(),
                    n("12345678901234567890123456789012345678"),
                ),
                ("tiny".to_owned(), n("0.000001")),
                ("zero".to_owned(), n("0")),
                ("exp".to_owned(), n("1e125")),
            ]),
        ),
        (
            "negative numbers",
            Item::from([
                ("neg".to_owned(), n("-12345")),
                ("neg2".to_owned(), n("-1.5")),
            ]),
        ),
        (
            "nested map and list",
            Item::from([("doc".to_owned(), AttrValue::M(nested))]),
        ),
        (
            "string and number sets",
            Item::from([
                (
                    "ss".to_owned(),
                    AttrValue::Ss(vec!["red".into(), "grün".into()]),
                ),
                (
                    "ns".to_owned(),
                    AttrValue::Ns(vec!["1".into(), "22".into(), "-3".into()]),
                ),
            ]),
        ),
        (
            "binary and booleans",
            Item::from([
                ("bin".to_owned(), AttrValue::B(vec![0, 1, 2, 255])),
                ("yes".to_owned(), AttrValue::Bool(true)),
                ("nil".to_owned(), AttrValue::Null),
            ]),
        ),
    ]
}

fn with_padding(shape: &Item, key: &str, padding: usize) -> Item {
    let mut item = shape.clone();
    item.insert("pk".into(), s(key));
    item.insert("sk".into(), s("size"));
    item.insert("pad".into(), s(&"x".repeat(padding)));
    item
}

/// The padding at which the model says the item is exactly `MAX_ITEM_BYTES`.
fn padding_at_limit(shape: &Item, key: &str) -> usize {
    let without = item_bytes(&with_padding(shape, key, 0)).unwrap();
    MAX_ITEM_BYTES - without
}

async fn accepted(sandbox: &Sandbox, table: &str, item: &Item) -> bool {
    match sandbox
        .dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item_to_sdk(item)))
        .send()
        .await
    {
        Ok(_) => true,
        Err(error) => {
            let text = cutover_backends::error::error_chain(&error);
            assert!(
                text.contains("size"),
                "refused for another reason than size: {text}"
            );
            false
        }
    }
}

/// Bytes (by the model) of the largest item of this shape the engine accepts,
/// minus the limit: 0 when the engine agrees with the model.
async fn engine_disagreement(sandbox: &Sandbox, table: &str, name: &str, shape: &Item) -> i64 {
    let key = format!("shape-{}", name.replace(' ', "-"));
    let at_limit = padding_at_limit(shape, &key);
    let ok_at_limit = accepted(sandbox, table, &with_padding(shape, &key, at_limit)).await;
    let ok_above = accepted(sandbox, table, &with_padding(shape, &key, at_limit + 1)).await;
    if ok_at_limit && !ok_above {
        return 0;
    }
    // Binary search the largest padding the engine accepts.
    let (mut low, mut high) = (at_limit.saturating_sub(20_000), at_limit + 20_000);
    assert!(
        accepted(sandbox, table, &with_padding(shape, &key, low)).await,
        "{name}: far below the limit refused"
    );
    assert!(
        !accepted(sandbox, table, &with_padding(shape, &key, high)).await,
        "{name}: far above the limit accepted"
    );
    while high - low > 1 {
        let middle = (low + high) / 2;
        if accepted(sandbox, table, &with_padding(shape, &key, middle)).await {
            low = middle;
        } else {
            high = middle;
        }
    }
    low as i64 - at_limit as i64
}

async fn boundary_report(engine: DynamoEngine) -> Vec<(String, i64)> {
    let sandbox = Sandbox::open(engines(engine).await, cutover_backends::new_run_id())
        .await
        .unwrap();
    let table = sandbox.table_name("sizes");
    create_string_keyed_table(
        &sandbox.dynamodb,
        &table,
        KeySpec::new("pk", Some("sk")),
        Vec::new(),
    )
    .await
    .unwrap();
    let mut report = Vec::new();
    for (name, shape) in shapes() {
        let delta = engine_disagreement(&sandbox, &table, &name, &shape).await;
        eprintln!("{engine:?}: {name:<24} model vs engine boundary: {delta:+} bytes");
        report.push((name, delta));
    }
    sandbox.close().await.unwrap();
    report
}

#[tokio::test]
async fn size_boundary_on_dynamodb_local() {
    let report = boundary_report(DynamoEngine::DynamoDbLocal).await;
    let expected: Vec<(String, i64)> = shapes().into_iter().map(|(name, _)| (name, 0)).collect();
    assert_eq!(report, expected);
}

#[tokio::test]
async fn size_boundary_on_dynoxide() {
    let report = boundary_report(DynamoEngine::Dynoxide).await;
    let expected: Vec<(String, i64)> = shapes().into_iter().map(|(name, _)| (name, 0)).collect();
    assert_eq!(report, expected);
}
