//! Brings DynamoDB and S3 to PostgreSQL's state, one entity at a time.
//!
//! Applying is state-based: under a per-entity advisory lock, the relay reads the
//! entity's *current* row and makes DynamoDB and S3 match it, then marks every
//! pending outbox record of that entity done in the same transaction. So records
//! may be applied late, twice, or out of order — by the writer right after its
//! commit, or by the relay later — and the stores still converge on the newest
//! state; items are also written only if newer (version condition), so a write
//! made outside this path (a backfill) cannot be overwritten by an older one.
//!
//! What to write is decided by `cutover_core::relay::plan`, a pure function of
//! the row, the records and what DynamoDB holds; this module reads those under
//! the lock and performs the steps.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cutover_core::domain::Entity;
use cutover_core::keys::{EntityKind, Id, ItemKey};
use cutover_core::parity::PendingWrite;
use cutover_core::profile::StoredKey;
use cutover_core::relay::{self as rule, PendingRecord, Step};
use sqlx::Row;

use crate::dynamo::DynamoStore;
use crate::error::AppError;
use crate::pg::PgStore;
use crate::transcripts::TranscriptStore;

/// The entity lock every relay transaction takes: `$1` the kind, `$2` the id.
/// One expression, so every holder of the invariant locks the same key.
macro_rules! entity_lock {
    () => {
        "pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))"
    };
}

/// Takes an entity's lock for the rest of the transaction (`$1` kind name, `$2` id).
pub const ENTITY_LOCK_SQL: &str = concat!("SELECT ", entity_lock!());

/// Bounds on a transaction that holds an entity's lock across DynamoDB and
/// S3 calls (each bounded by `cutover_backends::aws::sdk_timeouts`): waiting
/// for the lock, any one statement, and the transaction sitting idle while the
/// calls run. The lock is held across them on purpose — it is what keeps two
/// applies of one entity from interleaving their item writes — so it is
/// bounded instead of released; a writer that cannot get it in time fails
/// transiently and its records stay pending for the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionBounds {
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
    pub idle_in_transaction_timeout: Duration,
}

impl Default for TransactionBounds {
    fn default() -> Self {
        TransactionBounds {
            lock_timeout: Duration::from_secs(60),
            statement_timeout: Duration::from_secs(60),
            idle_in_transaction_timeout: Duration::from_secs(900),
        }
    }
}

async fn bound(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    bounds: &TransactionBounds,
) -> Result<(), AppError> {
    let ms = |d: Duration| format!("{}ms", d.as_millis().max(1));
    sqlx::query(
        "SELECT set_config('lock_timeout', $1, true),
                set_config('statement_timeout', $2, true),
                set_config('idle_in_transaction_session_timeout', $3, true)",
    )
    .bind(ms(bounds.lock_timeout))
    .bind(ms(bounds.statement_timeout))
    .bind(ms(bounds.idle_in_transaction_timeout))
    .execute(&mut **tx)
    .await
    .map_err(AppError::pg("bounding a relay transaction"))?;
    Ok(())
}

#[derive(Clone)]
pub struct Relay {
    pg: PgStore,
    dynamo: DynamoStore,
    transcripts: TranscriptStore,
    bounds: TransactionBounds,
}

/// What a repair's removal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Deleted; with the transcript object that went with an item, if any.
    Deleted { object: Option<String> },
    /// Left in place, and why (PostgreSQL holds it now, it changed, ...).
    Kept(&'static str),
}

/// What one relay pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayPass {
    pub entities_applied: usize,
    pub entities_failed: usize,
    pub last_error: Option<String>,
}

impl Relay {
    pub fn new(pg: PgStore, dynamo: DynamoStore, transcripts: TranscriptStore) -> Relay {
        Relay {
            pg,
            dynamo,
            transcripts,
            bounds: TransactionBounds::default(),
        }
    }

    /// The same relay with other transaction bounds.
    pub fn with_bounds(mut self, bounds: TransactionBounds) -> Relay {
        self.bounds = bounds;
        self
    }

    /// Outbox records not yet applied.
    pub async fn pending_records(&self) -> Result<i64, AppError> {
        if !self.pg.has_outbox() {
            return Ok(0);
        }
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE done_at IS NULL")
            .fetch_one(self.pg.pool())
            .await
            .map_err(AppError::pg("counting pending outbox records"))
    }

    /// Entities with pending records. None when the database keeps no outbox.
    pub async fn pending_entities(&self) -> Result<BTreeSet<(EntityKind, Id)>, AppError> {
        Ok(self.pending_writes().await?.into_keys().collect())
    }

    /// Every entity with pending records: how old the oldest is, the most
    /// attempts, the newest error (the parity validator tells in-flight
    /// writes from stuck ones by these). None when the database keeps no outbox.
    pub async fn pending_writes(
        &self,
    ) -> Result<std::collections::BTreeMap<(EntityKind, Id), PendingWrite>, AppError> {
        if !self.pg.has_outbox() {
            return Ok(Default::default());
        }
        let rows = sqlx::query(
            "SELECT entity_kind, entity_id,
                    (extract(epoch FROM now() - min(created_at)) * 1000)::bigint,
                    max(attempts),
                    (array_agg(last_error ORDER BY id DESC) FILTER (WHERE last_error IS NOT NULL))[1]
             FROM outbox WHERE done_at IS NULL GROUP BY entity_kind, entity_id",
        )
        .fetch_all(self.pg.pool())
        .await
        .map_err(AppError::pg("reading pending outbox records"))?;
        rows.iter()
            .map(|row| {
                let kind: String = row.get(0);
                let id: String = row.get(1);
                Ok((
                    (
                        EntityKind::parse(&kind).expect("constrained by the schema"),
                        Id::parse(&id)?,
                    ),
                    PendingWrite {
                        age_ms: row.get(2),
                        attempts: row.get(3),
                        last_error: row.get(4),
                    },
                ))
            })
            .collect()
    }

    /// Makes DynamoDB and S3 hold the current state of one entity. A failure
    /// leaves its records pending with a later retry time and the error noted.
    pub async fn apply_entity(&self, kind: EntityKind, id: &Id) -> Result<bool, AppError> {
        let mut tx = self
            .pg
            .pool()
            .begin()
            .await
            .map_err(AppError::pg("beginning a relay transaction"))?;
        bound(&mut tx, &self.bounds).await?;
        // Lock and read in one round trip. Records committed while we waited for the
        // lock may be missing here; their writers apply them after us.
        let rows = sqlx::query(concat!(
            "WITH entity_lock AS (SELECT ",
            entity_lock!(),
            ")
             SELECT id, item_pk, item_sk, owner_id, version, attempts,
                    (extract(epoch FROM clock_timestamp()) * 1000)::bigint
             FROM outbox, entity_lock
             WHERE entity_kind = $1 AND entity_id = $2 AND done_at IS NULL ORDER BY id"
        ))
        .bind(kind.name())
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(AppError::pg(
            "locking an entity and reading its pending outbox records",
        ))?;
        if rows.is_empty() {
            return Ok(false);
        }
        let records = rows
            .iter()
            .map(|row| {
                Ok(PendingRecord {
                    id: row.get(0),
                    key: StoredKey {
                        pk: row.get(1),
                        sk: row.get(2),
                    },
                    owner: Id::parse(row.get(3))?,
                    version: row.get(4),
                    attempts: row.get(5),
                    read_at_ms: row.get(6),
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let record_ids: Vec<i64> = records.iter().map(|r| r.id).collect();
        // Read after taking the lock, in a fresh snapshot: it reflects every record above.
        let state = self.current(&mut tx, kind, id).await?;

        match self.sync(kind, id, state, &records).await {
            Ok(()) => {
                sqlx::query(
                    "UPDATE outbox SET done_at = now(), last_error = NULL WHERE id = ANY($1)",
                )
                .bind(&record_ids)
                .execute(&mut *tx)
                .await
                .map_err(AppError::pg("marking outbox records done"))?;
                tx.commit()
                    .await
                    .map_err(AppError::pg("committing a relay transaction"))?;
                Ok(true)
            }
            Err(error) => {
                drop(tx);
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                         next_attempt_at = now() + make_interval(secs => LEAST(30, 0.05 * power(2, LEAST(attempts, 20))))
                     WHERE id = ANY($1)",
                )
                .bind(&record_ids)
                .bind(error.to_string())
                .execute(self.pg.pool())
                .await
                .map_err(AppError::pg("recording a relay failure"))?;
                Err(error)
            }
        }
    }

    /// Reads what DynamoDB holds for the entity and performs the relay's
    /// plan (`cutover_core::relay::plan`) for it.
    async fn sync(
        &self,
        kind: EntityKind,
        id: &Id,
        state: Option<(Entity, Option<String>)>,
        records: &[PendingRecord],
    ) -> Result<(), AppError> {
        let profile = self.dynamo.profile().clone();
        let (entity, transcript) = match &state {
            Some((entity, transcript)) => (Some(entity), transcript.as_deref()),
            None => (None, None),
        };
        let mut stored = rule::Stored::default();
        if kind == EntityKind::Session {
            // Learn the transcript each stale item points to before it goes.
            for (key, _) in rule::stale_keys(&profile, entity, records) {
                let item = self.dynamo.get_stored(&key).await?;
                if let Some(old) = item.and_then(|item| profile.from_item(&item).ok()) {
                    stored.at_stale_keys.insert(key, old);
                }
            }
        }
        if let Some(entity) = entity {
            let item = self.dynamo.get(&entity.key()).await?;
            stored.at_current_key = item.and_then(|item| profile.from_item(&item).ok());
        }
        for step in rule::plan(&profile, kind, id, entity, records, &stored) {
            match step {
                Step::DeleteItem { key, below } => {
                    self.dynamo.delete_if_older(kind, &key, below).await?;
                }
                Step::DeleteObject { key } => self.transcripts.delete(&key).await?,
                Step::SweepObjects {
                    user,
                    session,
                    keep,
                } => {
                    self.sweep_transcripts(&user, &session, keep.as_deref())
                        .await?;
                }
                Step::PutTranscript { key } => {
                    self.transcripts
                        .put(&key, transcript.unwrap_or_default())
                        .await?;
                }
                Step::PutItem { order } => {
                    let entity = entity.expect("the plan puts only a row that exists");
                    self.dynamo
                        .put_if_newer(&entity.key(), &profile.to_item(entity), order)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// A transaction holding `kind`/`id`'s advisory lock — the lock
    /// `apply_entity` takes in its first query — for a repair or a reconcile.
    async fn lock_entity(
        &self,
        kind: EntityKind,
        id: &Id,
        purpose: &str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, AppError> {
        let mut tx = self.pg.pool().begin().await.map_err(AppError::pg(format!(
            "beginning a transaction to {purpose}"
        )))?;
        bound(&mut tx, &self.bounds).await?;
        sqlx::query(ENTITY_LOCK_SQL)
            .bind(kind.name())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(AppError::pg(format!("locking an entity to {purpose}")))?;
        Ok(tx)
    }

    /// Writes `entity`'s transcript object and item as PostgreSQL holds them,
    /// over an item of the same version too, never over a newer one.
    async fn rewrite(&self, entity: &Entity, transcript: Option<&str>) -> Result<(), AppError> {
        if let Entity::Session(session) = entity {
            self.transcripts
                .put(
                    &session.transcript.storage_key,
                    transcript.unwrap_or_default(),
                )
                .await?;
        }
        self.dynamo
            .put_unless_newer(
                &entity.key(),
                &self.dynamo.profile().to_item(entity),
                self.dynamo.profile().order_of(entity),
            )
            .await?;
        Ok(())
    }

    /// Rewrites one entity's DynamoDB item and transcript object from its
    /// current PostgreSQL row, even when the stored item claims the same version
    /// (it may have been corrupted), never over a newer one. Returns `false` when
    /// PostgreSQL has no such entity (nothing to repair from).
    pub async fn repair_entity(&self, kind: EntityKind, id: &Id) -> Result<bool, AppError> {
        let mut tx = self.lock_entity(kind, id, "repair").await?;
        let Some((entity, transcript)) = self.current(&mut tx, kind, id).await? else {
            return Ok(false);
        };
        self.rewrite(&entity, transcript.as_deref()).await?;
        tx.commit()
            .await
            .map_err(AppError::pg("committing a repair"))?;
        Ok(true)
    }

    /// After a copy wrote `copied` with an unconditional batch (the backfill),
    /// makes DynamoDB and S3 hold this entity's *current* state again, under
    /// its advisory lock like every apply: the copy may have overwritten a
    /// newer item the live path wrote, or put back one it had deleted.
    /// Newer items are never touched (version conditions), so racing the
    /// relay is safe in either order.
    pub async fn reconcile_copy(&self, copied: &Entity) -> Result<(), AppError> {
        let (kind, id) = (copied.kind(), copied.id());
        let mut tx = self.lock_entity(kind, id, "reconcile a copy").await?;
        let state = self.current(&mut tx, kind, id).await?;
        let copied_key = copied.key();
        if state.as_ref().map(|(entity, _)| entity.key()) != Some(copied_key.clone()) {
            // Deleted (or moved) since it was read: take back what the copy wrote.
            self.dynamo
                .delete_if_not_newer(&copied_key, self.dynamo.profile().order_of(copied))
                .await?;
        }
        if let Some((entity, transcript)) = &state {
            self.rewrite(entity, transcript.as_deref()).await?;
        }
        if let Entity::Session(session) = copied {
            // The copy's object, if the session now points elsewhere or is gone.
            let keep = match &state {
                Some((Entity::Session(current), _)) if current.user_id == session.user_id => {
                    Some(current.transcript.storage_key.as_str())
                }
                _ => None,
            };
            self.sweep_transcripts(&session.user_id, &session.id, keep)
                .await?;
        }
        tx.commit()
            .await
            .map_err(AppError::pg("committing a reconcile"))?;
        Ok(())
    }

    /// Deletes the session's transcript objects (by the profile's layout)
    /// except `keep`; an object of any other shape under the same prefix is
    /// left alone.
    async fn sweep_transcripts(
        &self,
        user: &Id,
        session: &Id,
        keep: Option<&str>,
    ) -> Result<usize, AppError> {
        let profile = self.dynamo.profile();
        self.transcripts
            .delete_listed_except(
                &profile.session_transcripts_prefix(user, session),
                |key| profile.is_transcript_of(key, user, session),
                keep,
            )
            .await
    }

    /// Removes an item PostgreSQL has no entity for at `key`: under the
    /// entity's lock, only if PostgreSQL still does not hold the entity
    /// there, conditional on the version read now (an entity re-created since
    /// the scan keeps its fresh item); with the transcript object it pointed
    /// to, unless the entity's current row points there too.
    pub async fn remove_dynamodb_only(&self, key: &ItemKey) -> Result<Removal, AppError> {
        let (kind, id) = (key.entity(), key.id());
        let mut tx = self
            .lock_entity(kind, id, "remove a DynamoDB-only item")
            .await?;
        let state = self.current(&mut tx, kind, id).await?;
        if state
            .as_ref()
            .is_some_and(|(entity, _)| entity.key() == *key)
        {
            return Ok(Removal::Kept("PostgreSQL holds the entity at this key now"));
        }
        let profile = self.dynamo.profile().clone();
        let Some(item) = self.dynamo.get(key).await? else {
            return Ok(Removal::Kept("already gone"));
        };
        let Ok(found) = profile.from_item(&item) else {
            return Ok(Removal::Kept(
                "it no longer decodes: the malformed-item rule applies",
            ));
        };
        if !self
            .dynamo
            .delete_if_not_newer(key, profile.order_of(&found))
            .await?
        {
            return Ok(Removal::Kept("it changed since it was read"));
        }
        let mut object = None;
        if let Entity::Session(session) = &found {
            let current = match &state {
                Some((Entity::Session(current), _)) => {
                    Some(current.transcript.storage_key.as_str())
                }
                _ => None,
            };
            if current != Some(session.transcript.storage_key.as_str()) {
                self.transcripts
                    .delete(&session.transcript.storage_key)
                    .await?;
                object = Some(session.transcript.storage_key.clone());
            }
        }
        tx.commit()
            .await
            .map_err(AppError::pg("committing a removal"))?;
        Ok(Removal::Deleted { object })
    }

    /// Removes an item that does not decode, at `key`: only one whose key has
    /// the shape of one of the app's entities (another app's items on a shared
    /// table are never touched), under the lock of the entity it claims to be,
    /// and only while it still does not decode and is unchanged.
    pub async fn remove_malformed(&self, key: &StoredKey) -> Result<Removal, AppError> {
        let profile = self.dynamo.profile().clone();
        if !profile.owns_key(key) {
            return Ok(Removal::Kept("its key is none of the app's entities'"));
        }
        let Some(item) = self.dynamo.get_stored(key).await? else {
            return Ok(Removal::Kept("already gone"));
        };
        let claimed = profile.claimed_identity(&item);
        let tx = match &claimed {
            Some((kind, id)) => Some(
                self.lock_entity(*kind, &Id::parse(id)?, "remove a malformed item")
                    .await?,
            ),
            None => None,
        };
        // Read again under the lock: a relay apply may have rewritten it whole.
        let Some(item) = self.dynamo.get_stored(key).await? else {
            return Ok(Removal::Kept("already gone"));
        };
        if profile.from_item(&item).is_ok() {
            return Ok(Removal::Kept("it decodes now"));
        }
        if !self.dynamo.delete_if_unchanged(key, &item).await? {
            return Ok(Removal::Kept("it changed since it was read"));
        }
        if let Some(tx) = tx {
            tx.commit()
                .await
                .map_err(AppError::pg("committing a removal"))?;
        }
        Ok(Removal::Deleted { object: None })
    }

    /// Deletes a transcript object no item points to — after reading, under
    /// the session's lock, whether its session's item points to it now (the
    /// relay uploads an object before the item that points to it, under the
    /// same lock).
    pub async fn remove_orphan(&self, object: &str) -> Result<Removal, AppError> {
        let Some(session) = self.transcript_session(object) else {
            // Not of the app's layout: not provably the app's to delete.
            return Ok(Removal::Kept(
                "its key is not of the app's transcript layout (listed, not deleted)",
            ));
        };
        let mut tx = self
            .lock_entity(EntityKind::Session, &session, "remove an orphan object")
            .await?;
        if self.points_to(&mut tx, &session, object).await? {
            return Ok(Removal::Kept("its session's item points to it now"));
        }
        // PostgreSQL's row is the truth: an object it names is the item's
        // problem (missing or malformed), never garbage.
        if let Some((Entity::Session(row), _)) =
            self.current(&mut tx, EntityKind::Session, &session).await?
            && row.transcript.storage_key == object
        {
            return Ok(Removal::Kept(
                "PostgreSQL's row of its session names it (the item is what is wrong)",
            ));
        }
        self.transcripts.delete(object).await?;
        tx.commit()
            .await
            .map_err(AppError::pg("committing a removal"))?;
        Ok(Removal::Deleted { object: None })
    }

    /// Whether a readable item of the session `object` belongs to points to
    /// it now (a malformed item's pointer is not followed). The validator's
    /// re-check of an orphan asks this without a lock; a removal under one.
    pub async fn object_in_use(&self, object: &str) -> Result<bool, AppError> {
        let Some(session) = self.transcript_session(object) else {
            return Ok(false);
        };
        let mut connection = self
            .pg
            .pool()
            .acquire()
            .await
            .map_err(AppError::pg("connecting to re-check an orphan"))?;
        self.points_to(&mut connection, &session, object).await
    }

    /// The session an object is a transcript of, by the profile's layout.
    fn transcript_session(&self, object: &str) -> Option<Id> {
        self.dynamo
            .profile()
            .transcript_owner(object)
            .map(|owner| owner.session)
    }

    async fn points_to(
        &self,
        connection: &mut sqlx::PgConnection,
        session: &Id,
        object: &str,
    ) -> Result<bool, AppError> {
        let Some((entity, _)) = self
            .current(connection, EntityKind::Session, session)
            .await?
        else {
            return Ok(false);
        };
        let item = self.dynamo.get(&entity.key()).await?;
        let decoded = item
            .as_ref()
            .and_then(|item| self.dynamo.profile().from_item(item).ok());
        Ok(
            matches!(decoded, Some(Entity::Session(found)) if found.transcript.storage_key == object),
        )
    }

    /// The entity's current row (and a session's transcript) on `connection`.
    async fn current(
        &self,
        connection: &mut sqlx::PgConnection,
        kind: EntityKind,
        id: &Id,
    ) -> Result<Option<(Entity, Option<String>)>, AppError> {
        crate::pg::entity_row(connection, self.pg.schema(), kind, id).await
    }

    /// One pass over entities with due records (all pending ones when
    /// `ignore_backoff`), at most `limit` entities.
    pub async fn run_once(&self, ignore_backoff: bool, limit: i64) -> Result<RelayPass, AppError> {
        let rows = sqlx::query(
            "SELECT entity_kind, entity_id FROM outbox WHERE done_at IS NULL AND ($1 OR next_attempt_at <= now())
             GROUP BY entity_kind, entity_id ORDER BY min(id) LIMIT $2",
        )
        .bind(ignore_backoff)
        .bind(limit)
        .fetch_all(self.pg.pool())
        .await
        .map_err(AppError::pg("selecting due outbox records"))?;
        let mut pass = RelayPass::default();
        for row in rows {
            let kind = EntityKind::parse(row.get(0)).expect("constrained by the schema");
            let id = Id::parse(row.get(1))?;
            match self.apply_entity(kind, &id).await {
                Ok(_) => pass.entities_applied += 1,
                Err(error) => {
                    pass.entities_failed += 1;
                    pass.last_error = Some(error.to_string());
                }
            }
        }
        Ok(pass)
    }

    /// Applies until nothing is pending, honouring backoff, or until `timeout`.
    /// Returns the records still pending (zero when drained).
    pub async fn drain(&self, timeout: Duration) -> Result<i64, AppError> {
        let deadline = Instant::now() + timeout;
        loop {
            let pass = self.run_once(false, 500).await?;
            let pending = self.pending_records().await?;
            if pending == 0 || Instant::now() >= deadline {
                return Ok(pending);
            }
            if pass.entities_applied == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
