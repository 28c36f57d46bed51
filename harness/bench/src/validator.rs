//! The validation-rate benchmark: the validator against (a) reading both sides
//! in full with no comparison and (b) the naive approach of seed 002 — scan
//! DynamoDB, then one PostgreSQL lookup per item. Measurement only; the CLI
//! writes the report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use cutover_app::transcripts::sha256_hex;
use cutover_app::{App, AppError, Mode};
use cutover_backends::Sandbox;
use cutover_core::domain::{
    Campaign, Entity, Session, Summary, TranscriptPointer, User, transcript_storage_key,
};
use cutover_core::keys::{EntityKind, Id};
use futures::StreamExt;
use serde::Serialize;

use cutover_parity::{ParityOptions, TranscriptCheck, validate};

const CAMPAIGNS_PER_USER: usize = 5;
const SESSIONS_PER_CAMPAIGN: usize = 10;
/// One summary per session: a user is 1 + 5 + 50 + 50 = 106 entities.
pub const ENTITIES_PER_USER: usize = 1 + CAMPAIGNS_PER_USER * (1 + 2 * SESSIONS_PER_CAMPAIGN);
const LOAD_CONCURRENCY: usize = 8;
use cutover_parity::OBJECT_CONCURRENCY;

#[derive(Debug, Clone, Serialize)]
pub struct RateRun {
    pub approach: String,
    pub entities: u64,
    pub seconds: f64,
    pub entities_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParityBench {
    pub entities: u64,
    pub load_seconds: f64,
    /// Items, rows and every transcript's content.
    pub validator: RateRun,
    pub raw_read: RateRun,
    /// Items and rows only, comparable to the naive approach, which reads no S3.
    pub validator_items_only: RateRun,
    pub naive: RateRun,
    /// Validator rate over the raw read rate (aim: 0.8 or more).
    pub ratio_to_raw: f64,
    /// Items-only validator rate over the naive rate (aim: 10 or more).
    pub ratio_to_naive: f64,
    pub parity_percent: f64,
}

fn id(prefix: &str, n: usize) -> Id {
    Id::parse(&format!("{prefix}{n:07}")).expect("valid generated id")
}

/// The dataset: `users` users, each with campaigns, sessions (small
/// transcripts) and summaries, all at version 1 — 106 entities per user,
/// grouped by user, parents first. Also the backfill benchmark's source.
pub fn dataset(users: usize) -> Vec<Vec<(Entity, Option<String>)>> {
    (0..users).map(user_entities).collect()
}

/// User `u`'s 106 entities, parents first, each session with its transcript.
pub fn user_entities(u: usize) -> Vec<(Entity, Option<String>)> {
    let at = Utc
        .timestamp_millis_opt(1_700_000_000_000)
        .single()
        .expect("valid time");
    let user = id("u", u);
    let mut entities = vec![(
        Entity::User(User {
            id: user.clone(),
            email: format!("{user}@example.com"),
            display_name: format!("User {u}"),
            created_at: at,
            updated_at: at,
            version: 1,
        }),
        None,
    )];
    for c in 0..CAMPAIGNS_PER_USER {
        let campaign = id("c", u * CAMPAIGNS_PER_USER + c);
        entities.push((
            Entity::Campaign(Campaign {
                id: campaign.clone(),
                user_id: user.clone(),
                name: format!("Campaign {c}"),
                description: "a campaign".into(),
                created_at: at,
                updated_at: at,
                version: 1,
            }),
            None,
        ));
        for s in 0..SESSIONS_PER_CAMPAIGN {
            let n = (u * CAMPAIGNS_PER_USER + c) * SESSIONS_PER_CAMPAIGN + s;
            let session = id("s", n);
            let transcript = format!("GM: session {n} begins.\nPlayer: we enter the tavern.\n");
            let sha256 = sha256_hex(transcript.as_bytes());
            entities.push((
                Entity::Session(Session {
                    id: session.clone(),
                    campaign_id: campaign.clone(),
                    user_id: user.clone(),
                    name: format!("Session {s}"),
                    summary: "the party meets a dragon".into(),
                    metadata: serde_json::json!({"round": s, "tags": ["dragon"]}),
                    share_token: None,
                    transcript: TranscriptPointer {
                        storage_key: transcript_storage_key(&user, &session, &sha256),
                        bytes: transcript.len() as u64,
                        sha256,
                    },
                    created_at: at,
                    updated_at: at,
                    version: 1,
                }),
                Some(transcript),
            ));
            entities.push((
                Entity::Summary(Summary {
                    id: id("m", n),
                    session_id: session,
                    user_id: user.clone(),
                    kind: "recap".into(),
                    body: format!("summary {n}"),
                    created_at: at,
                    updated_at: at,
                    version: 1,
                }),
                None,
            ));
        }
    }
    entities
}

/// Loads the same data into PostgreSQL, DynamoDB and S3 (not timed as validation).
async fn load(app: &App, users: Vec<Vec<(Entity, Option<String>)>>) -> Result<(), AppError> {
    load_users(app, users, true).await
}

/// Loads users as they are generated; without `objects` no transcript is
/// uploaded (for runs that do not read S3).
pub async fn load_users(
    app: &App,
    users: impl IntoIterator<Item = Vec<(Entity, Option<String>)>>,
    objects: bool,
) -> Result<(), AppError> {
    futures::stream::iter(users)
        .map(|entities| async move {
            app.pg.load(&entities).await?;
            let items: Vec<_> = entities
                .iter()
                .map(|(e, _)| app.profile().to_item(e))
                .collect();
            app.dynamo.batch_put(&items).await?;
            for (entity, transcript) in entities.iter().filter(|_| objects) {
                if let (Entity::Session(s), Some(text)) = (entity, transcript) {
                    app.transcripts.put(&s.transcript.storage_key, text).await?;
                }
            }
            Ok::<(), AppError>(())
        })
        .buffer_unordered(LOAD_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

fn rate(approach: &str, entities: u64, elapsed: Duration) -> RateRun {
    RateRun {
        approach: approach.to_owned(),
        entities,
        seconds: elapsed.as_secs_f64(),
        entities_per_s: entities as f64 / elapsed.as_secs_f64().max(1e-9),
    }
}

/// Reads everything the validator reads — every item, row and transcript, and
/// the bucket listing — and compares nothing.
async fn raw_read(app: &Arc<App>, segments: i32, page_size: i64) -> Result<u64, AppError> {
    let mut tasks = Vec::new();
    for segment in 0..segments {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut items = 0u64;
            let mut start = None;
            loop {
                let page = app
                    .dynamo
                    .scan_page(Some((segment, segments)), start)
                    .await?;
                items += page.items().len() as u64;
                let keys: Vec<String> = page
                    .items()
                    .iter()
                    .filter_map(|raw| match raw.get("transcriptStorageKey") {
                        Some(aws_sdk_dynamodb::types::AttributeValue::S(key)) => Some(key.clone()),
                        _ => None,
                    })
                    .collect();
                // The same object concurrency as the validator.
                let reads: Vec<Result<Option<Vec<u8>>, AppError>> =
                    futures::stream::iter(keys.into_iter().map(|key| {
                        let app = app.clone();
                        async move { app.transcripts.get_bytes(&key).await }
                    }))
                    .buffer_unordered(OBJECT_CONCURRENCY)
                    .collect()
                    .await;
                for read in reads {
                    read?;
                }
                start = page.last_evaluated_key().cloned();
                if start.is_none() {
                    return Ok::<u64, AppError>(items);
                }
            }
        }));
    }
    let mut items = 0;
    for task in tasks {
        items += task
            .await
            .map_err(|e| AppError::task("a Scan segment", e))??;
    }
    // The validator lists the bucket to find orphans; so does the raw read.
    app.transcripts
        .list(&app.profile().transcript_listing_prefix())
        .await?;
    for kind in EntityKind::ALL {
        let mut after: Option<String> = None;
        loop {
            let ids = app.pg.ids_after(kind, after.as_deref(), page_size).await?;
            app.pg.entities_by_ids(kind, &ids).await?;
            after = ids.last().cloned();
            if (ids.len() as i64) < page_size {
                break;
            }
        }
    }
    Ok(items)
}

/// Seed 002's script: scan DynamoDB, look each item up in PostgreSQL, compare.
async fn naive(app: &App) -> Result<u64, AppError> {
    let mut compared = 0u64;
    let mut start = None;
    loop {
        let page = app.dynamo.scan_page(None, start).await?;
        for raw in page.items() {
            let item =
                cutover_app::item_from_sdk(raw).map_err(|detail| AppError::MalformedItem {
                    key: "?".into(),
                    detail,
                })?;
            if let Ok(entity) = app.profile().from_item(&item) {
                let postgres = app
                    .pg
                    .entities_by_ids(entity.kind(), &[entity.id().to_string()])
                    .await?;
                let _ = cutover_core::parity::compare_entity(postgres.first(), Some(&entity));
                compared += 1;
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(compared);
        }
    }
}

/// Loads about `entities` entities and measures the three approaches on them.
pub async fn measure(
    sandbox: &Sandbox,
    entities: usize,
    segments: u32,
) -> Result<ParityBench, AppError> {
    let app = Arc::new(App::install(sandbox, Mode::Dual).await?);
    let users = entities.div_ceil(ENTITIES_PER_USER).max(1);
    let began = Instant::now();
    load(&app, dataset(users)).await?;
    let load_seconds = began.elapsed().as_secs_f64();
    let total = (users * ENTITIES_PER_USER) as u64;

    let options = ParityOptions {
        segments,
        grace: Duration::ZERO,
        transcripts: TranscriptCheck::Content,
        ..ParityOptions::default()
    };
    let began = Instant::now();
    let report = validate(app.clone(), &options).await?;
    let validator = rate(
        "parity validator (parallel Scan + batched PostgreSQL reads + S3 GETs)",
        report.compared_entities,
        began.elapsed(),
    );

    let began = Instant::now();
    let items = raw_read(&app, segments as i32, options.page_size).await?;
    let raw = rate(
        "raw read of both sides, every transcript and the bucket listing, no comparison",
        items,
        began.elapsed(),
    );

    let items_only = ParityOptions {
        transcripts: TranscriptCheck::Skip,
        ..options.clone()
    };
    let began = Instant::now();
    let report_items = validate(app.clone(), &items_only).await?;
    let validator_items_only = rate(
        "parity validator, items and rows only",
        report_items.compared_entities,
        began.elapsed(),
    );

    let began = Instant::now();
    let compared = naive(&app).await?;
    let naive = rate(
        "naive (seed 002): Scan, one PostgreSQL lookup per item, no S3",
        compared,
        began.elapsed(),
    );

    Ok(ParityBench {
        entities: total,
        load_seconds,
        ratio_to_raw: validator.entities_per_s / raw.entities_per_s,
        ratio_to_naive: validator_items_only.entities_per_s / naive.entities_per_s,
        parity_percent: report.parity_percent,
        validator,
        raw_read: raw,
        validator_items_only,
        naive,
    })
}

impl ParityBench {
    /// `segments`: the validator's Scan segments; `reproduce`: the command that measures it again.
    pub fn to_markdown(&self, header: &str, segments: u32, reproduce: &str) -> String {
        let mut markdown = format!(
            "# Parity validation rate\n\n{header}\n\n{} entities (loaded in {:.0} s, not timed), {segments} Scan segments; the validator found {:.3}% parity.\n\n| approach | entities | seconds | entities/s |\n| --- | ---: | ---: | ---: |\n",
            self.entities, self.load_seconds, self.parity_percent
        );
        for run in [
            &self.validator,
            &self.raw_read,
            &self.validator_items_only,
            &self.naive,
        ] {
            markdown.push_str(&format!(
                "| {} | {} | {:.2} | {:.0} |\n",
                run.approach, run.entities, run.seconds, run.entities_per_s
            ));
        }
        markdown.push_str(&format!(
            "\nValidator vs raw read of the same data: **{:.2}x** (aim 0.8 — {}). Items-only validator vs the naive approach (neither reads S3): **{:.1}x** (aim 10 — {}).\n\nNote: the embedded S3 store (s3s-fs) answers each ListObjectsV2 page by walking the whole bucket, so listing it for orphans grows with the square of the object count here; on S3 a listing is linear.\n\nReproduce: `{reproduce}`\n",
            self.ratio_to_raw,
            if self.ratio_to_raw >= 0.8 { "met" } else { "NOT met" },
            self.ratio_to_naive,
            if self.ratio_to_naive >= 10.0 { "met" } else { "NOT met" },
        ));
        markdown
    }
}
