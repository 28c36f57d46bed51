//! What a write records as it goes: the entities it changed (the command's
//! `Outcome`) and, unless the app is in postgres-only mode, one outbox record
//! per changed entity in the same transaction.

use std::sync::Arc;

use cutover_core::command::{Change, Outcome};
use cutover_core::domain::Entity;
use cutover_core::item_size::{MAX_ITEM_BYTES, item_bytes};
use cutover_core::profile::Profile;

use super::Tx;
use crate::error::AppError;

/// The outcome being built, and whether changes go to the outbox.
pub(super) struct Recorder {
    pub(super) outcome: Outcome,
    outbox: bool,
    /// How items are keyed (the outbox keeps each record's stored key) and
    /// sized (a write whose item would pass 400 KB is refused before commit).
    profile: Arc<Profile>,
}

impl Recorder {
    pub(super) fn new(outbox: bool, profile: Arc<Profile>) -> Recorder {
        Recorder {
            outcome: Outcome::default(),
            outbox,
            profile,
        }
    }

    /// Records `entity` as written, after checking its item fits.
    pub(super) async fn upsert(&mut self, tx: &mut Tx, entity: &Entity) -> Result<(), AppError> {
        check_item_size(&self.profile, entity)?;
        self.record(tx, entity, entity.version(), "upsert").await
    }

    /// Records `entity` as deleted by the write of `version`.
    pub(super) async fn delete(
        &mut self,
        tx: &mut Tx,
        entity: &Entity,
        version: i64,
    ) -> Result<(), AppError> {
        self.record(tx, entity, version, "delete").await
    }

    async fn record(
        &mut self,
        tx: &mut Tx,
        entity: &Entity,
        version: i64,
        operation: &str,
    ) -> Result<(), AppError> {
        let entity_key = entity.key();
        self.outcome.changes.push(Change {
            kind: entity_key.entity(),
            id: entity.id().clone(),
        });
        if !self.outbox {
            return Ok(());
        }
        let stored = self.profile.key(&entity_key);
        sqlx::query(
            "INSERT INTO outbox (entity_kind, entity_id, operation, item_pk, item_sk, owner_id, version) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(entity_key.entity().name())
        .bind(entity.id().as_str())
        .bind(operation)
        .bind(stored.pk)
        .bind(stored.sk)
        .bind(entity.owner().as_str())
        .bind(version)
        .execute(&mut **tx)
        .await
        .map_err(AppError::pg("appending to the outbox"))?;
        Ok(())
    }
}

/// Refuses, before commit, an entity whose DynamoDB item would exceed the limit.
fn check_item_size(profile: &Profile, entity: &Entity) -> Result<(), AppError> {
    let bytes = item_bytes(&profile.to_item(entity)).map_err(|e| AppError::Invalid {
        field: "item",
        reason: e.to_string(),
    })?;
    if bytes > MAX_ITEM_BYTES {
        return Err(AppError::ItemTooLarge {
            kind: entity.kind(),
            id: entity.id().to_string(),
            bytes,
        });
    }
    Ok(())
}
