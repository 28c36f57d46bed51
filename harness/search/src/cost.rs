//! The search-cost sweep on real engines: for every campaign size, item size
//! and match rate, write the campaign once, search it with each design, and
//! keep what the engine reported beside what our capacity model says.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Projection, ProjectionType};
use cutover_app::AppError;
use cutover_app::dynamo::{
    DynamoStore, IndexSpec, KeySpec, SearchResult, create_string_keyed_table,
};
use cutover_app::pg::PgStore;
use cutover_backends::Sandbox;
use cutover_core::campaign_item::attr;
use cutover_core::capacity::{Consistency, query_rcu};
use cutover_core::domain::{Campaign, Entity, Session, TranscriptPointer, User};
use cutover_core::item_size::{AttrValue, Item, item_bytes};
use cutover_core::keys::{Id, ItemKey, PartitionQuery};
use cutover_core::profile::Profile;
use cutover_core::search::cost::{
    CostPoint, Design, SweepReport, Threshold, marker_word, session_matches,
};
use cutover_core::search::expression::SearchFilter;
use hdrhistogram::Histogram;

use crate::oracles::{self, FullText};

/// The GSI of the INCLUDE design and its partition attribute.
pub const SEARCH_INDEX: &str = "search";
pub const SEARCH_PARTITION: &str = "searchPk";
/// Sort-key prefix of the slim search items.
pub const SLIM_PREFIX: &str = "SRCH#";

#[derive(Debug, Clone, PartialEq)]
pub struct SweepOptions {
    pub sessions: Vec<usize>,
    pub item_bytes: Vec<u64>,
    pub match_percents: Vec<u32>,
    pub repetitions: usize,
    pub threshold: Threshold,
}

/// A campaign the sweep wrote, and the sizes each design will read.
pub struct WrittenCampaign {
    pub id: Id,
    /// Item sizes in key order, per DynamoDB design.
    pub sizes: BTreeMap<Design, Vec<u64>>,
    pub sessions: usize,
    pub item_bytes_target: u64,
}

/// What one search returned: DynamoDB's pages, or PostgreSQL's row count.
pub enum SearchOutcome {
    DynamoDb(SearchResult),
    Postgres { rows: u64 },
}

const FILLER: &str = "the party crossed the ancient bridge and fought goblins near the ruins while the wizard cast spells ";

fn fixed_timestamp() -> cutover_core::domain::Timestamp {
    chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a valid instant")
}

fn session(
    user: &Id,
    campaign: &Id,
    index: usize,
    summary_bytes: usize,
    percents: &[u32],
) -> Session {
    let markers: Vec<String> = percents
        .iter()
        .filter(|&&p| session_matches(index, p))
        .map(|&p| marker_word(p))
        .collect();
    // Session ids are unique across campaigns and sort in index order.
    let id = Id::parse(&format!("{campaign}-s{index:05}")).expect("generated ids are valid");
    let summary: String = FILLER.chars().cycle().take(summary_bytes).collect();
    Session {
        id: id.clone(),
        campaign_id: campaign.clone(),
        user_id: user.clone(),
        name: format!("Session {index} {}", markers.join(" ")),
        summary,
        metadata: serde_json::json!({ "index": index }),
        share_token: None,
        transcript: TranscriptPointer {
            storage_key: cutover_core::domain::transcript_storage_key(user, &id, "none"),
            bytes: 0,
            sha256: String::new(),
        },
        created_at: fixed_timestamp(),
        updated_at: fixed_timestamp(),
        version: 1,
    }
}

/// An item's size as DynamoDB counts it; the sweep's items hold no numbers
/// DynamoDB would reject.
fn bytes(item: &Item) -> u64 {
    item_bytes(item).expect("generated items hold valid numbers") as u64
}

/// The base item as the GSI design stores it: the app's item plus the index key.
fn base_item(session: &Session) -> Item {
    let profile = Profile::reference();
    let mut item = profile.to_item(&Entity::Session(session.clone()));
    let pk = profile
        .key(&ItemKey::Session {
            campaign: session.campaign_id.clone(),
            session: session.id.clone(),
        })
        .pk;
    item.insert(SEARCH_PARTITION.to_owned(), AttrValue::S(pk));
    item
}

fn slim_item(base: &Item) -> Item {
    let mut slim = Item::new();
    for name in [attr::PK, attr::SESSION_ID, attr::SEARCH_TEXT] {
        if let Some(value) = base.get(name) {
            slim.insert(name.to_owned(), value.clone());
        }
    }
    if let Some(AttrValue::S(id)) = base.get(attr::SESSION_ID) {
        slim.insert(
            attr::SK.to_owned(),
            AttrValue::S(format!("{SLIM_PREFIX}{id}")),
        );
    }
    slim
}

/// The GSI entry: table keys, index key and the INCLUDE attributes.
fn projected_entry(base: &Item) -> Item {
    base.iter()
        .filter(|(name, _)| {
            [
                attr::PK,
                attr::SK,
                SEARCH_PARTITION,
                attr::SESSION_ID,
                attr::SEARCH_TEXT,
            ]
            .contains(&name.as_str())
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The summary length that makes a session item about `target` bytes
/// (the search copy repeats the summary, so each summary byte counts twice).
fn summary_bytes_for(user: &Id, campaign: &Id, target: u64, percents: &[u32]) -> usize {
    let size = |summary: usize| bytes(&base_item(&session(user, campaign, 0, summary, percents)));
    let fixed = size(0);
    let mut guess = (target.saturating_sub(fixed) / 2) as usize;
    for _ in 0..3 {
        let error = size(guess) as i64 - target as i64;
        guess = (guess as i64 - error / 2).max(0) as usize;
    }
    guess
}

/// The sweep's table: the app's keys and an INCLUDE index holding only the
/// session id and the search copy.
async fn create_table(client: &Client, table: &str) -> Result<(), AppError> {
    let include = Projection::builder()
        .projection_type(ProjectionType::Include)
        .non_key_attributes(attr::SESSION_ID)
        .non_key_attributes(attr::SEARCH_TEXT)
        .build();
    create_string_keyed_table(
        client,
        table,
        KeySpec::new(attr::PK, Some(attr::SK)),
        vec![IndexSpec {
            name: SEARCH_INDEX,
            key: KeySpec::new(SEARCH_PARTITION, Some(attr::SK)),
            projection: include,
        }],
    )
    .await
}

/// The sweep's stores: the sandbox's database and a table of its own (with
/// the INCLUDE index), and the user every campaign belongs to.
pub struct SearchBench {
    pg: PgStore,
    dynamo: DynamoStore,
    user: Id,
}

impl SearchBench {
    pub async fn install(sandbox: &Sandbox) -> Result<SearchBench, AppError> {
        let pg = PgStore::new(sandbox.pg.clone());
        pg.migrate().await?;
        let table = sandbox.table_name("searchcost");
        create_table(&sandbox.dynamodb, &table).await?;
        sandbox.claim_table(&table).await?;
        let dynamo = DynamoStore::new(sandbox.dynamodb.clone(), table);
        let user = Id::parse("cost-user").expect("a valid id");
        pg.load(&[(
            Entity::User(User {
                id: user.clone(),
                email: "cost@example.com".into(),
                display_name: "Cost".into(),
                created_at: fixed_timestamp(),
                updated_at: fixed_timestamp(),
                version: 1,
            }),
            None,
        )])
        .await?;
        Ok(SearchBench { pg, dynamo, user })
    }

    /// Writes one campaign of `count` sessions of about `target` bytes to both stores.
    pub async fn write_campaign(
        &self,
        count: usize,
        target: u64,
        percents: &[u32],
    ) -> Result<WrittenCampaign, AppError> {
        let (pg, dynamo, user) = (&self.pg, &self.dynamo, &self.user);
        let id = Id::parse(&format!("c{count}n{target}b")).expect("generated ids are valid");
        pg.load(&[(
            Entity::Campaign(Campaign {
                id: id.clone(),
                user_id: user.clone(),
                name: format!("{count} sessions of {target} bytes"),
                description: String::new(),
                created_at: fixed_timestamp(),
                updated_at: fixed_timestamp(),
                version: 1,
            }),
            None,
        )])
        .await?;
        let summary_bytes = summary_bytes_for(user, &id, target, percents);
        let mut sizes: BTreeMap<Design, Vec<u64>> = BTreeMap::new();
        const CHUNK: usize = 25;
        for start in (0..count).step_by(CHUNK) {
            let sessions: Vec<Session> = (start..(start + CHUNK).min(count))
                .map(|index| session(user, &id, index, summary_bytes, percents))
                .collect();
            let rows: Vec<(Entity, Option<String>)> = sessions
                .iter()
                .map(|s| (Entity::Session(s.clone()), Some(String::new())))
                .collect();
            pg.load(&rows).await?;
            let base: Vec<Item> = sessions.iter().map(base_item).collect();
            let slim: Vec<Item> = base.iter().map(slim_item).collect();
            for item in &base {
                sizes
                    .entry(Design::BaseItems)
                    .or_default()
                    .push(bytes(item));
                sizes
                    .entry(Design::GsiInclude)
                    .or_default()
                    .push(bytes(&projected_entry(item)));
            }
            for item in &slim {
                sizes
                    .entry(Design::SlimItems)
                    .or_default()
                    .push(bytes(item));
            }
            dynamo.batch_put(&base).await?;
            dynamo.batch_put(&slim).await?;
        }
        Ok(WrittenCampaign {
            id,
            sizes,
            sessions: count,
            item_bytes_target: target,
        })
    }

    /// One search for the `percent`% marker word with `design`.
    pub async fn search_once(
        &self,
        campaign: &WrittenCampaign,
        design: Design,
        percent: u32,
    ) -> Result<SearchOutcome, AppError> {
        let word = marker_word(percent);
        if design == Design::PostgresFullText {
            let rows =
                oracles::full_text(&self.pg, &campaign.id, &word, FullText::Websearch).await?;
            return Ok(SearchOutcome::Postgres {
                rows: rows.len() as u64,
            });
        }
        let filter = SearchFilter::Substring(word)
            .expression()
            .expect("a substring filter is one short expression");
        let consistent = design.consistency() == Some(Consistency::Strong);
        let result = self
            .dynamo
            .filtered_query(&query_of(design, &campaign.id), filter.as_ref(), consistent)
            .await?;
        Ok(SearchOutcome::DynamoDb(result))
    }
}

fn query_of(design: Design, campaign: &Id) -> PartitionQuery {
    // The sweep lays its table out as the reference app does.
    let sessions_of = Profile::reference().sessions_of(campaign);
    let pk = sessions_of.partition_key.clone();
    match design {
        Design::BaseItems => sessions_of,
        Design::SlimItems => PartitionQuery {
            sort_key_prefix: Some(SLIM_PREFIX.to_owned()),
            ..sessions_of
        },
        Design::GsiInclude => PartitionQuery {
            index: Some(SEARCH_INDEX.to_owned()),
            partition_attribute: SEARCH_PARTITION.to_owned(),
            partition_key: pk,
            sort_attribute: attr::SK.to_owned(),
            sort_key_prefix: None,
        },
        Design::PostgresFullText => unreachable!("PostgreSQL is not queried by partition"),
    }
}

fn percentile_ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

async fn measure(
    bench: &SearchBench,
    campaign: &WrittenCampaign,
    design: Design,
    percent: u32,
    repetitions: usize,
) -> Result<CostPoint, AppError> {
    let mut latency_us =
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
    let mut last = None;
    for _ in 0..repetitions.max(1) {
        let started = Instant::now();
        last = Some(bench.search_once(campaign, design, percent).await?);
        latency_us.saturating_record(started.elapsed().as_micros() as u64);
    }
    let sizes = campaign.sizes.get(&design).cloned().unwrap_or_default();
    let matched: Vec<u64> = sizes
        .iter()
        .enumerate()
        .filter(|(index, _)| session_matches(*index, percent))
        .map(|(_, size)| *size)
        .collect();
    let item_bytes_mean = if sizes.is_empty() {
        0
    } else {
        sizes.iter().sum::<u64>() / sizes.len() as u64
    };
    let (items_scanned, items_returned, pages_reported, rcu_reported) = match &last {
        Some(SearchOutcome::DynamoDb(result)) => (
            result.scanned(),
            result.items.len() as u64,
            Some(result.pages.len()),
            result.rcu_reported(),
        ),
        Some(SearchOutcome::Postgres { rows }) => (*rows, *rows, None, None),
        None => (0, 0, None, None),
    };
    let (pages_modeled, rcu_modeled, rcu_returned_modeled) = match design.consistency() {
        Some(consistency) => {
            let read = query_rcu(&sizes, None, consistency);
            let returned = query_rcu(&matched, None, consistency);
            (Some(read.pages), Some(read.rcu), Some(returned.rcu))
        }
        None => (None, None, None),
    };
    Ok(CostPoint {
        design,
        sessions: campaign.sessions,
        item_bytes_target: campaign.item_bytes_target,
        item_bytes_mean: if design == Design::PostgresFullText {
            campaign.item_bytes_target
        } else {
            item_bytes_mean
        },
        match_percent: percent,
        items_scanned,
        items_returned,
        pages_reported,
        pages_modeled,
        rcu_modeled,
        rcu_reported,
        rcu_returned_modeled,
        latency_ms_p50: percentile_ms(&latency_us, 0.5),
        latency_ms_p99: percentile_ms(&latency_us, 0.99),
        repetitions: repetitions.max(1),
    })
}

/// Runs the sweep in `sandbox` (its database and a table of its own) and
/// returns the report. `engine` names the DynamoDB engine for the report.
pub async fn sweep(
    sandbox: &Sandbox,
    engine: &str,
    options: &SweepOptions,
    progress: &dyn Fn(&str),
) -> Result<SweepReport, AppError> {
    let bench = SearchBench::install(sandbox).await?;
    let mut points = Vec::new();
    for &target in &options.item_bytes {
        for &count in &options.sessions {
            progress(&format!(
                "writing {count} sessions of ~{} KB",
                target / 1024
            ));
            let campaign = bench
                .write_campaign(count, target, &options.match_percents)
                .await?;
            for &percent in &options.match_percents {
                for design in Design::ALL {
                    points.push(
                        measure(&bench, &campaign, design, percent, options.repetitions).await?,
                    );
                }
            }
        }
    }
    Ok(SweepReport::new(engine, options.threshold, points))
}
