//! Search equivalence on real engines: the hand-written corpus (snapshot),
//! generated campaigns (replayable by seed), and the rules our token search
//! copies from PostgreSQL (stop list, stemmer, expression limit).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use cutover_app::{App, Mode};
use cutover_backends::Sandbox;
use cutover_core::search::corpus::Corpus;
use cutover_core::search::equivalence::EquivalenceReport;
use cutover_core::search::expression::{MAX_EXPRESSION_BYTES, SearchFilter, max_lexemes};
use cutover_core::search::lexemes::{lexeme, stop_words};
use cutover_search::equivalence::{compare_corpus, load};
use sqlx::Row;

async fn fresh_app() -> (Sandbox, App) {
    let engines = crate::engines().await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let app = App::install(&sandbox, Mode::Dual).await.unwrap();
    (sandbox, app)
}

fn fixture(name: &str) -> (String, String) {
    let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (path, text)
}

fn assert_no_defects(report: &EquivalenceReport) {
    let defects = report.defects();
    assert!(
        defects.is_empty(),
        "{} defect(s):\n{}",
        defects.len(),
        report.to_markdown()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_report_is_exact_on_substrings_and_classifies_every_token_gap() {
    let (path, text) = fixture("search-corpus.toml");
    let corpus = Corpus::parse(&text, &path).unwrap();
    let (sandbox, app) = fresh_app().await;
    let campaign = load(&app, &corpus).await.unwrap();
    let report = compare_corpus(&app, &corpus, &campaign).await.unwrap();
    assert_no_defects(&report);
    // The gaps the reference expects are there, each under its class.
    let classes: Vec<&str> = report.summaries[1]
        .differences_by_class
        .keys()
        .map(|class| class.label())
        .collect();
    for expected in ["email-or-url", "hyphenation", "number", "expression-limit"] {
        assert!(
            classes.contains(&expected),
            "{expected} missing from {classes:?}"
        );
    }
    // A filter lowers what comes back, never what is read: every substring
    // search reads every session of the campaign, and is charged for it.
    let substring = &report.summaries[0];
    assert_eq!(
        substring.items_scanned,
        (corpus.queries.len() * corpus.sessions.len()) as u64
    );
    assert!(substring.items_returned < substring.items_scanned);
    assert_eq!(
        substring.rcu_reported,
        Some(substring.rcu_modeled),
        "Dynoxide charges our model"
    );
    insta::assert_snapshot!("search_corpus_report", report.to_markdown());
    sandbox.close().await.unwrap();
}

/// Seeds whose generated campaigns once found a difference the classifier
/// could not explain ("ruins 👹": an emoji is a word to PostgreSQL; "l'aube":
/// websearch_to_tsquery phrases words joined by punctuation). They run every
/// time, with one fixed seed more.
const REGRESSION_SEEDS: [u64; 3] = [
    8_955_939_106_380_174_769,
    4_447_946_660_985_538_049,
    20_261_122,
];

/// `CUTOVER_SEARCH_SEED=N` replays one seed; `CUTOVER_SEARCH_SEED=random`
/// explores a new one (printed); unset runs the regression seeds.
fn seeds() -> Vec<u64> {
    match std::env::var("CUTOVER_SEARCH_SEED").as_deref() {
        Ok("random") => vec![rand_seed()],
        Ok(value) => vec![value.parse().unwrap_or_else(|_| {
            panic!("CUTOVER_SEARCH_SEED={value:?} is not a number or `random`")
        })],
        Err(_) => REGRESSION_SEEDS.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_campaigns_agree_exactly_on_substrings() {
    for seed in seeds() {
        println!("generated search corpus seed {seed} (replay: CUTOVER_SEARCH_SEED={seed})");
        let corpus = Corpus::generated(seed, 120, 150);
        let (sandbox, app) = fresh_app().await;
        let campaign = load(&app, &corpus).await.unwrap();
        let report = compare_corpus(&app, &corpus, &campaign).await.unwrap();
        println!(
            "{}",
            report
                .to_markdown()
                .lines()
                .take(12)
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_no_defects(&report);
        let substring = &report.summaries[0];
        assert_eq!(substring.queries, 150);
        assert_eq!(substring.queries_exact, 150);
        sandbox.close().await.unwrap();
    }
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_stop_list_and_stems_are_postgres_own() {
    let (sandbox, app) = fresh_app().await;
    for word in stop_words() {
        let row = sqlx::query("SELECT to_tsvector('english', $1)::text AS v")
            .bind(word)
            .fetch_one(app.pg.pool())
            .await
            .unwrap();
        assert_eq!(
            row.get::<String, _>("v"),
            "",
            "{word} is a stop word in PostgreSQL too"
        );
    }
    let words = [
        "dragons",
        "running",
        "runners",
        "ran",
        "healing",
        "healed",
        "stealthy",
        "villagers",
        "ambushed",
        "necromancer",
        "initiative",
        "critical",
        "generously",
        "happiness",
        "connection",
        "argued",
        "abilities",
        "quests",
        "casting",
        "wizards",
        "goblins",
        "antidisestablishmentarianism",
        "caresses",
        "ponies",
        "sensational",
        "traditional",
    ];
    let mut disagreements = BTreeMap::new();
    for word in words {
        let row = sqlx::query("SELECT (ts_lexize('english_stem', $1))[1] AS lexeme")
            .bind(word)
            .fetch_one(app.pg.pool())
            .await
            .unwrap();
        let theirs: Option<String> = row.get("lexeme");
        let ours = lexeme(word);
        if ours != theirs {
            disagreements.insert(word, (ours, theirs));
        }
    }
    assert!(
        disagreements.is_empty(),
        "stems differ (ours, PostgreSQL's): {disagreements:?}"
    );
    sandbox.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_enforces_the_expression_limit_we_check_before_sending() {
    let (sandbox, app) = fresh_app().await;
    let query = app
        .profile()
        .sessions_of(&cutover_core::keys::Id::parse("c1").unwrap());
    let most = max_lexemes();
    let lexemes = |n: usize| (0..n).map(|i| format!("w{i}")).collect();
    let fits = SearchFilter::AllLexemes(lexemes(most))
        .expression()
        .unwrap();
    app.dynamo
        .filtered_query(&query, fits.as_ref(), true)
        .await
        .expect("an expression within 4 KB runs");
    assert!(
        SearchFilter::AllLexemes(lexemes(most + 1))
            .expression()
            .is_err()
    );

    // Sent anyway, the engine refuses it too: our limit is the engine's.
    let too_long: Vec<String> = (0..=most)
        .map(|i| format!("contains(#lx, :t{i})"))
        .collect();
    let too_long = too_long.join(" AND ");
    assert!(too_long.len() > MAX_EXPRESSION_BYTES);
    let mut request = app
        .dynamo
        .client()
        .query()
        .table_name(app.dynamo.table())
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S(query.partition_key.clone()))
        .filter_expression(too_long)
        .expression_attribute_names("#lx", "searchLexemes");
    for i in 0..=most {
        request =
            request.expression_attribute_values(format!(":t{i}"), AttributeValue::S(i.to_string()));
    }
    let error = request
        .send()
        .await
        .expect_err("the engine rejects a filter over 4 KB");
    let detail = cutover_backends::error::error_chain(&error);
    assert!(detail.to_lowercase().contains("expression"), "{detail}");
    sandbox.close().await.unwrap();
}
