use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use aws_sdk_dynamodb::types::AttributeValue;
use cutover_app::{App, AppError, item_from_sdk};
use cutover_core::domain::{Entity, TranscriptPointer};
use cutover_core::item_size::Item;
use cutover_core::keys::{EntityKind, Id, ItemKey};
use cutover_core::parity::{
    Category, Finding, ObjectObservation, Tally, compare_entity, compare_transcript,
    malformed_item, malformed_row, orphan_object, stale_derived_findings,
};
use cutover_core::profile::Profile;

use crate::report::{Leftovers, ParityReport};
use crate::spill::{self, SortedSpill, entity_key, only_in_left, parse_entity_key};

/// Object reads in flight per Scan segment.
pub const OBJECT_CONCURRENCY: usize = 8;

/// How transcript objects are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptCheck {
    /// Download each object and compare its SHA-256 and size (exact).
    Content,
    /// Compare sizes only (a HEAD per object).
    SizeOnly,
    /// Do not read S3: items and rows only (no transcript or orphan findings).
    Skip,
}

#[derive(Debug, Clone)]
pub struct ParityOptions {
    /// Parallel Scan segments.
    pub segments: u32,
    /// PostgreSQL keyset page size.
    pub page_size: i64,
    /// How long to wait before re-checking mismatches (in-flight writes settle).
    pub grace: Duration,
    pub transcripts: TranscriptCheck,
    /// Persistent mismatches at or above this share of what was compared fail
    /// the run (percent; 0 passes only a perfect run): `report::PASS_RULE`.
    pub max_mismatch_percent: f64,
    /// A pending outbox record older than this is a stuck write, not one in flight.
    pub stuck_after: Duration,
    /// ...and so is one that has failed this many times.
    pub stuck_attempts: i32,
    /// Memory each set of keys (ids seen, object pointers, the bucket
    /// listing, PostgreSQL's ids) may buffer before spilling a sorted run to
    /// disk: the validator's memory does not grow with the table.
    pub spill_buffer_bytes: usize,
}

impl Default for ParityOptions {
    fn default() -> Self {
        ParityOptions {
            segments: 4,
            page_size: 1000,
            grace: Duration::from_secs(2),
            transcripts: TranscriptCheck::Content,
            // The seeds' success criterion: under 1% mismatch.
            max_mismatch_percent: 1.0,
            // The relay retries with backoff capped at 30 s: minutes of failures
            // are not a write in flight.
            stuck_after: Duration::from_secs(300),
            stuck_attempts: 10,
            spill_buffer_bytes: spill::DEFAULT_BUFFER_BYTES,
        }
    }
}

/// An entity with findings, kept for the in-flight re-check.
#[derive(Debug, Clone)]
struct Suspect {
    kind: EntityKind,
    id: Id,
    /// Where the entity was found, or is held; `None` for a PostgreSQL row
    /// that does not decode (its key cannot be known).
    key: Option<ItemKey>,
    findings: Vec<Finding>,
    /// False for an item at a key PostgreSQL does not hold the entity at: it
    /// is counted as an item of no entity, the entity itself at its own key.
    stands_for_entity: bool,
}

impl Suspect {
    /// The tally entry: the entity's kind, or none for a stale-key item.
    fn counted_as(&self) -> Option<EntityKind> {
        self.stands_for_entity.then_some(self.kind)
    }
}

/// What one Scan segment found.
struct SegmentResult {
    tally: Tally,
    suspects: Vec<Suspect>,
    /// `entity_key`s of the entities seen at their current key (or claimed
    /// by a malformed item).
    seen: SortedSpill,
    /// Every session item's object key.
    pointers: SortedSpill,
    /// `pk`/`sk` of malformed items whose key attributes are strings.
    malformed_keys: Vec<(String, String)>,
    /// The entities malformed items claim to be: a repair rewrites them from
    /// PostgreSQL (which decides whether the entity exists) before any delete.
    claimed_by_malformed: Vec<(EntityKind, Id)>,
}

impl SegmentResult {
    fn new(spill_buffer_bytes: usize) -> SegmentResult {
        SegmentResult {
            tally: Tally::default(),
            suspects: Vec::new(),
            seen: SortedSpill::new(spill_buffer_bytes),
            pointers: SortedSpill::new(spill_buffer_bytes),
            malformed_keys: Vec::new(),
            claimed_by_malformed: Vec::new(),
        }
    }
}

fn spilling(error: io::Error) -> AppError {
    AppError::scratch("spilling the validator's key sets")(error)
}

/// What is at `key`: its size (HEAD) and, when that is the size expected and
/// the check reads content, its SHA-256 hashed as it streams — an object of
/// the wrong size is never downloaded.
async fn observe_object(
    app: &App,
    key: &str,
    expected_bytes: u64,
    check: TranscriptCheck,
) -> Result<ObjectObservation, AppError> {
    let Some(bytes) = app.transcripts.size_of(key).await? else {
        return Ok(ObjectObservation::Missing);
    };
    match check {
        TranscriptCheck::Content if bytes == expected_bytes => {
            Ok(match app.transcripts.digest(key).await? {
                Some((bytes, sha256)) => ObjectObservation::Present { bytes, sha256 },
                // Deleted between the HEAD and the GET.
                None => ObjectObservation::Missing,
            })
        }
        TranscriptCheck::Content => Ok(ObjectObservation::Present {
            bytes,
            sha256: "(not read: its size is not the expected one)".into(),
        }),
        // Without the content the hash cannot be checked: take it as agreeing.
        TranscriptCheck::SizeOnly => Ok(ObjectObservation::Present {
            bytes,
            sha256: String::new(),
        }),
        TranscriptCheck::Skip => unreachable!("objects are not observed when skipped"),
    }
}

/// PostgreSQL's rows of `kind` with these ids: the entities, and the ids
/// whose rows do not decode with what is wrong (a bad row is a finding, not
/// the end of the run). A batch with a bad row is re-read one id at a time.
async fn rows_by_ids(
    app: &App,
    kind: EntityKind,
    ids: &[String],
) -> Result<(Vec<Entity>, HashMap<String, String>), AppError> {
    match app.pg.entities_by_ids(kind, ids).await {
        Ok(entities) => Ok((entities, HashMap::new())),
        Err(AppError::MalformedRow { .. } | AppError::InvalidId(_)) => {
            let mut entities = Vec::new();
            let mut malformed = HashMap::new();
            for id in ids {
                match app.pg.entities_by_ids(kind, std::slice::from_ref(id)).await {
                    Ok(found) => entities.extend(found),
                    Err(error @ (AppError::MalformedRow { .. } | AppError::InvalidId(_))) => {
                        malformed.insert(id.clone(), error.to_string());
                    }
                    Err(error) => return Err(error),
                }
            }
            Ok((entities, malformed))
        }
        Err(error) => Err(error),
    }
}

/// All findings for one entity as each side holds it.
async fn compare(
    app: &App,
    postgres: Option<&Entity>,
    dynamodb: Option<&Entity>,
    check: TranscriptCheck,
) -> Result<Vec<Finding>, AppError> {
    // PostgreSQL's row as the profile stores it, so a declared loss (whole
    // seconds, a version taken from updated_at) is not a mismatch.
    let postgres = postgres.map(|entity| app.profile().as_stored(entity));
    let postgres = postgres.as_ref();
    let mut findings = compare_entity(postgres, dynamodb);
    if check == TranscriptCheck::Skip {
        return Ok(findings);
    }
    if let Some(Entity::Session(session)) = dynamodb {
        let expected: TranscriptPointer = match postgres {
            Some(Entity::Session(pg)) => pg.transcript.clone(),
            _ => session.transcript.clone(),
        };
        let observed =
            observe_object(app, &session.transcript.storage_key, expected.bytes, check).await?;
        let observed = match (check, observed) {
            (TranscriptCheck::SizeOnly, ObjectObservation::Present { bytes, .. }) => {
                ObjectObservation::Present {
                    bytes,
                    sha256: expected.sha256.clone(),
                }
            }
            (_, observed) => observed,
        };
        findings.extend(compare_transcript(
            session.id.as_str(),
            &session.transcript,
            &expected,
            &observed,
        ));
    }
    Ok(findings)
}

fn describe_key(profile: &Profile, item: &HashMap<String, AttributeValue>) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(text)) => text.clone(),
        Some(other) => format!("{other:?}"),
        None => "?".to_owned(),
    };
    format!(
        "{}/{}",
        part(&profile.table.partition_key),
        part(&profile.table.sort_key)
    )
}

async fn scan_segment(
    app: Arc<App>,
    segment: i32,
    total: i32,
    check: TranscriptCheck,
    spill_buffer_bytes: usize,
) -> Result<SegmentResult, AppError> {
    let mut result = SegmentResult::new(spill_buffer_bytes);
    let mut start = None;
    loop {
        let page = app.dynamo.scan_page(Some((segment, total)), start).await?;
        let mut by_kind: BTreeMap<EntityKind, Vec<(Entity, Item)>> = BTreeMap::new();
        for raw in page.items() {
            let parsed: Result<(Entity, Item), String> =
                item_from_sdk(raw).and_then(|item: Item| {
                    let entity = app.profile().from_item(&item).map_err(|e| e.to_string())?;
                    Ok((entity, item))
                });
            match parsed {
                Ok((entity, item)) => by_kind
                    .entry(entity.kind())
                    .or_default()
                    .push((entity, item)),
                Err(problem) => {
                    if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) = (
                        raw.get(&app.profile().table.partition_key),
                        raw.get(&app.profile().table.sort_key),
                    ) {
                        result.malformed_keys.push((pk.clone(), sk.clone()));
                    }
                    // An item that claims an entity is that entity's one finding:
                    // not also "missing" when PostgreSQL's pass reaches its id.
                    let claimed = item_from_sdk(raw)
                        .ok()
                        .and_then(|item| app.profile().claimed_identity(&item));
                    let finding = malformed_item(
                        &describe_key(app.profile(), raw),
                        &problem,
                        claimed.as_ref().map(|(kind, id)| (*kind, id.as_str())),
                    );
                    if let Some(pattern) = item_from_sdk(raw)
                        .ok()
                        .and_then(|item| app.profile().malformation_pattern(&item))
                    {
                        result.tally.count_pattern(pattern);
                    }
                    match claimed {
                        Some((kind, id)) => {
                            result.seen.push(entity_key(kind, &id)).map_err(spilling)?;
                            if let Ok(parsed) = Id::parse(&id) {
                                result.claimed_by_malformed.push((kind, parsed));
                            }
                            result.tally.record(Some(kind), vec![finding]);
                        }
                        None => result.tally.record(None, vec![finding]),
                    }
                }
            }
        }
        for (kind, entities) in by_kind {
            let ids: Vec<String> = entities.iter().map(|(e, _)| e.id().to_string()).collect();
            let (rows, malformed_rows) = rows_by_ids(&app, kind, &ids).await?;
            let rows: HashMap<String, Entity> =
                rows.into_iter().map(|e| (e.id().to_string(), e)).collect();
            // Object reads dominate: compare a page's entities concurrently.
            let compared: Vec<(Entity, Result<Vec<Finding>, AppError>, bool)> =
                futures::stream::iter(entities)
                    .map(|(entity, item)| {
                        let app = &app;
                        let postgres = rows.get(entity.id().as_str());
                        let row_problem = malformed_rows.get(entity.id().as_str());
                        async move {
                            // PostgreSQL's row is unreadable: that is the finding.
                            if let Some(problem) = row_problem {
                                let finding = malformed_row(kind, entity.id().as_str(), problem);
                                return (entity.clone(), Ok(vec![finding]), true);
                            }
                            // An item at a key PostgreSQL does not hold the entity at
                            // is DynamoDB's only, whatever its fields say.
                            if let Some(postgres) = postgres.filter(|pg| pg.key() != entity.key()) {
                                let at = app.profile().key(&postgres.key()).to_string();
                                return (
                                    entity.clone(),
                                    Ok(vec![Finding::at_stale_key(&entity, &at)]),
                                    false,
                                );
                            }
                            let findings = compare(app, postgres, Some(&entity), check).await.map(
                                |mut findings| {
                                    if let Some(postgres) = postgres {
                                        findings.extend(stale_derived_findings(
                                            app.profile(),
                                            &item,
                                            postgres,
                                        ));
                                    }
                                    findings
                                },
                            );
                            (entity, findings, true)
                        }
                    })
                    .buffer_unordered(OBJECT_CONCURRENCY)
                    .collect()
                    .await;
            for (entity, findings, at_current_key) in compared {
                let findings = findings?;
                if let Entity::Session(session) = &entity {
                    let pointer = session.transcript.storage_key.clone().into_bytes();
                    result.pointers.push(pointer).map_err(spilling)?;
                }
                if at_current_key {
                    // Seen where PostgreSQL holds it; a stale-key item does not
                    // stand for the entity, so its current key is checked too.
                    let seen = entity_key(kind, entity.id().as_str());
                    result.seen.push(seen).map_err(spilling)?;
                }
                if findings.is_empty() && at_current_key {
                    result.tally.record(Some(kind), findings);
                } else {
                    result.suspects.push(Suspect {
                        kind,
                        id: entity.id().clone(),
                        key: Some(entity.key()),
                        findings,
                        stands_for_entity: at_current_key,
                    });
                }
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(result);
        }
    }
}

/// Re-reads one suspect on both sides, at the key it was found at (or, for
/// one DynamoDB lacked, PostgreSQL's): its findings now.
async fn recheck(
    app: &App,
    suspect: &Suspect,
    check: TranscriptCheck,
) -> Result<Vec<Finding>, AppError> {
    let (rows, malformed) = rows_by_ids(app, suspect.kind, &[suspect.id.to_string()]).await?;
    if let Some(problem) = malformed.get(suspect.id.as_str()) {
        return Ok(vec![malformed_row(
            suspect.kind,
            suspect.id.as_str(),
            problem,
        )]);
    }
    let postgres = rows.into_iter().next();
    let Some(key) = suspect
        .key
        .clone()
        .or_else(|| postgres.as_ref().map(Entity::key))
    else {
        // Neither side holds it any more.
        return Ok(Vec::new());
    };
    let item = app.dynamo.get(&key).await?;
    let dynamodb = item
        .as_ref()
        .and_then(|item| app.profile().from_item(item).ok());
    if let Some(postgres) = postgres.as_ref().filter(|pg| pg.key() != key) {
        // PostgreSQL holds the entity elsewhere now: whatever is still at the
        // suspect's key is DynamoDB's only; its current key is the scan's concern.
        let at = app.profile().key(&postgres.key()).to_string();
        return Ok(dynamodb
            .iter()
            .map(|found| Finding::at_stale_key(found, &at))
            .collect());
    }
    let mut findings = compare(app, postgres.as_ref(), dynamodb.as_ref(), check).await?;
    if let (Some(item), Some(_), Some(postgres)) = (&item, &dynamodb, &postgres) {
        findings.extend(stale_derived_findings(app.profile(), item, postgres));
    }
    Ok(findings)
}

/// Every entity PostgreSQL holds, as `entity_key`s, read a keyset page at a time.
async fn postgres_entity_keys(app: &App, options: &ParityOptions) -> Result<SortedSpill, AppError> {
    let mut keys = SortedSpill::new(options.spill_buffer_bytes);
    for kind in EntityKind::ALL {
        let mut after: Option<String> = None;
        loop {
            let ids = app
                .pg
                .ids_after(kind, after.as_deref(), options.page_size)
                .await?;
            for id in &ids {
                keys.push(entity_key(kind, id)).map_err(spilling)?;
            }
            let last_page = i64::try_from(ids.len()).unwrap_or(i64::MAX) < options.page_size;
            after = ids.last().cloned();
            if last_page {
                break;
            }
        }
    }
    Ok(keys)
}

/// Suspects for entities PostgreSQL holds and the scan did not see.
async fn missing_from_dynamodb(
    app: &App,
    kind: EntityKind,
    ids: &[String],
    tally: &mut Tally,
) -> Result<Vec<Suspect>, AppError> {
    let (entities, malformed) = rows_by_ids(app, kind, ids).await?;
    let mut suspects: Vec<Suspect> = entities
        .into_iter()
        .map(|entity| Suspect {
            kind,
            id: entity.id().clone(),
            key: Some(entity.key()),
            findings: compare_entity(Some(&entity), None),
            stands_for_entity: true,
        })
        .collect();
    for (id, problem) in malformed {
        let finding = malformed_row(kind, &id, &problem);
        match Id::parse(&id) {
            Ok(parsed) => suspects.push(Suspect {
                kind,
                key: None,
                id: parsed,
                findings: vec![finding],
                stands_for_entity: true,
            }),
            // Not even an id: no write can be in flight for it; final now.
            Err(_) => tally.record(Some(kind), vec![finding]),
        }
    }
    Ok(suspects)
}

/// Compares everything PostgreSQL, DynamoDB and S3 hold for the app.
pub async fn validate(app: Arc<App>, options: &ParityOptions) -> Result<ParityReport, AppError> {
    let began = Instant::now();
    let segments = i32::try_from(options.segments.max(1)).unwrap_or(i32::MAX);
    // One budget per set, shared by the segments that fill it.
    let segment_buffer_bytes =
        options.spill_buffer_bytes / usize::try_from(segments).unwrap_or(usize::MAX).max(1);
    let mut tasks = Vec::new();
    for segment in 0..segments {
        tasks.push(tokio::spawn(scan_segment(
            app.clone(),
            segment,
            segments,
            options.transcripts,
            segment_buffer_bytes,
        )));
    }
    let mut tally = Tally::default();
    let mut suspects = Vec::new();
    let mut seen = SortedSpill::new(options.spill_buffer_bytes);
    let mut pointers = SortedSpill::new(options.spill_buffer_bytes);
    let mut malformed_keys = Vec::new();
    let mut claimed_by_malformed = Vec::new();
    for task in tasks {
        let part = task
            .await
            .map_err(|e| AppError::task("a Scan segment", e))??;
        tally.merge(part.tally);
        suspects.extend(part.suspects);
        seen.absorb(part.seen).map_err(spilling)?;
        pointers.absorb(part.pointers).map_err(spilling)?;
        malformed_keys.extend(part.malformed_keys);
        claimed_by_malformed.extend(part.claimed_by_malformed);
    }

    tracing::info!(
        seen = seen.keys_pushed(),
        runs = seen.runs_written(),
        "scan done"
    );
    // What PostgreSQL has and the scan did not see: both sides as sorted
    // streams (bytes, not PostgreSQL's collation), merged.
    let postgres_ids = postgres_entity_keys(&app, options).await?;
    tracing::info!(
        ids = postgres_ids.keys_pushed(),
        runs = postgres_ids.runs_written(),
        "postgres ids read"
    );
    let missing = only_in_left(
        postgres_ids.into_sorted().map_err(spilling)?,
        seen.into_sorted().map_err(spilling)?,
    );
    let page_size = usize::try_from(options.page_size).unwrap_or(1000).max(1);
    let mut batch: Option<(EntityKind, Vec<String>)> = None;
    for key in missing {
        let key = key.map_err(spilling)?;
        let (kind, id) = parse_entity_key(&key).expect("only entity keys are spilled");
        match &mut batch {
            Some((batch_kind, ids)) if *batch_kind == kind && ids.len() < page_size => ids.push(id),
            _ => {
                if let Some((batch_kind, ids)) = batch.replace((kind, vec![id])) {
                    let found = missing_from_dynamodb(&app, batch_kind, &ids, &mut tally).await?;
                    suspects.extend(found);
                }
            }
        }
    }
    if let Some((kind, ids)) = batch {
        suspects.extend(missing_from_dynamodb(&app, kind, &ids, &mut tally).await?);
    }

    tracing::info!(suspects = suspects.len(), "missing merged");
    // Objects no item points to: the listing and the pointers, merged.
    let mut orphans: Vec<String> = if options.transcripts == TranscriptCheck::Skip {
        Vec::new()
    } else {
        let mut listed = SortedSpill::new(options.spill_buffer_bytes);
        // Under the prefix of the profile's layout; an object there of
        // another shape is listed too (a repair keeps it: `remove_orphan`).
        app.transcripts
            .for_each_key(&app.profile().transcript_listing_prefix(), |key| {
                listed.push(key.into_bytes()).map_err(spilling)
            })
            .await?;
        only_in_left(
            listed.into_sorted().map_err(spilling)?,
            pointers.into_sorted().map_err(spilling)?,
        )
        .map(|key| {
            let key = key.map_err(spilling)?;
            Ok(String::from_utf8(key).expect("object keys are UTF-8"))
        })
        .collect::<Result<_, AppError>>()?
    };
    let scanned_s = began.elapsed().as_secs_f64();

    // In-flight: a pending outbox record that is not stuck, or resolved on a
    // re-check after the grace period. A stuck record is a persistent finding.
    let pending = app.relay().pending_writes().await?;
    let stuck_after_ms = i64::try_from(options.stuck_after.as_millis()).unwrap_or(i64::MAX);
    let stuck = |kind: EntityKind, id: &Id| {
        pending
            .get(&(kind, id.clone()))
            .filter(|write| write.is_stuck(stuck_after_ms, options.stuck_attempts))
    };
    let mut in_flight: Vec<Finding> = Vec::new();
    let mut stuck_suspects = Vec::new();
    let mut flagged = Vec::new();
    let mut unresolved = Vec::new();
    for mut suspect in suspects {
        if let Some(write) = stuck(suspect.kind, &suspect.id) {
            suspect.findings.push(Finding::stuck_write(
                suspect.kind,
                suspect.id.as_str(),
                write,
            ));
            stuck_suspects.push(suspect);
        } else if pending.contains_key(&(suspect.kind, suspect.id.clone())) {
            flagged.push(suspect);
        } else {
            unresolved.push(suspect);
        }
    }
    for suspect in flagged {
        tally.record(suspect.counted_as(), Vec::new());
        in_flight.extend(suspect.findings);
    }
    // Stuck writes whose stores agree all the same: the relay is failing on them.
    let suspected: HashSet<(EntityKind, Id)> = stuck_suspects
        .iter()
        .chain(&unresolved)
        .map(|s| (s.kind, s.id.clone()))
        .collect();
    for ((kind, id), write) in &pending {
        if write.is_stuck(stuck_after_ms, options.stuck_attempts)
            && !suspected.contains(&(*kind, id.clone()))
        {
            tally.record(None, vec![Finding::stuck_write(*kind, id.as_str(), write)]);
        }
    }
    if !unresolved.is_empty() || !orphans.is_empty() {
        tokio::time::sleep(options.grace).await;
        let mut still = Vec::new();
        for mut suspect in unresolved {
            let now = recheck(&app, &suspect, options.transcripts).await?;
            if now.is_empty() {
                tally.record(suspect.counted_as(), Vec::new());
                in_flight.extend(suspect.findings);
            } else {
                suspect.findings = now;
                still.push(suspect);
            }
        }
        unresolved = still;
        let mut remaining = Vec::new();
        for key in orphans {
            if app.relay().object_in_use(&key).await? {
                in_flight.push(orphan_object(&key));
            } else {
                remaining.push(key);
            }
        }
        orphans = remaining;
    }
    let mut leftovers = Leftovers {
        malformed_keys,
        orphan_objects: orphans.clone(),
        repairable: claimed_by_malformed,
        ..Leftovers::default()
    };
    for suspect in unresolved.into_iter().chain(stuck_suspects) {
        let has = |category: Category| suspect.findings.iter().any(|f| f.category == category);
        if has(Category::MalformedRow) {
            // Nothing trustworthy to write from: listed by its finding only.
        } else if let (true, Some(key)) = (has(Category::OnlyInDynamodb), &suspect.key) {
            leftovers.dynamodb_only.push(key.clone());
        } else {
            leftovers
                .repairable
                .push((suspect.kind, suspect.id.clone()));
        }
        tally.record(suspect.counted_as(), suspect.findings);
    }
    // An entity a malformed item claims may be a suspect too: repaired once.
    leftovers.repairable.sort();
    leftovers.repairable.dedup();
    for key in orphans {
        tally.record(None, vec![orphan_object(&key)]);
    }
    Ok(ParityReport::new(
        tally,
        in_flight,
        leftovers,
        options.max_mismatch_percent,
        began.elapsed(),
        scanned_s,
    ))
}
