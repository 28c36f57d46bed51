//! What the rollback drill reads from the stores themselves: parity at the
//! switch, a fingerprint of every item and object (to prove nothing changed
//! after the switch), and the items no PostgreSQL entity explains.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use cutover_app::{App, AppError, item_from_sdk};
use cutover_core::keys::{EntityKind, Id};
use cutover_core::model::Model;

use super::report::OnlyInDynamodb;

/// Every item (by its table key) and object (by its key), fingerprinted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoreSnapshot {
    items: BTreeMap<String, u64>,
    objects: BTreeMap<String, (i64, String)>,
}

/// What differs between two snapshots.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    /// Table keys of items added, changed or removed.
    pub items: Vec<String>,
    /// Keys of objects added, changed or removed.
    pub objects: Vec<String>,
}

/// The keys added, changed or removed between two snapshots.
pub fn changes(before: &StoreSnapshot, after: &StoreSnapshot) -> Changes {
    Changes {
        items: changed_keys(&before.items, &after.items),
        objects: changed_keys(&before.objects, &after.objects),
    }
}

fn changed_keys<V: PartialEq>(
    before: &BTreeMap<String, V>,
    after: &BTreeMap<String, V>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .cloned()
        .collect()
}

/// The table's key of a raw item, as `pk/sk` (`?` for a part it lacks).
fn key_of(stores: &App, raw: &HashMap<String, AttributeValue>) -> String {
    let table = &stores.profile().table;
    [&table.partition_key, &table.sort_key]
        .iter()
        .map(|name| match raw.get(name.as_str()) {
            Some(AttributeValue::S(text)) => text.clone(),
            _ => "?".into(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Calls `each` with every item of the run's table (a strongly consistent Scan).
async fn for_each_item(
    stores: &App,
    mut each: impl FnMut(&HashMap<String, AttributeValue>),
) -> Result<(), AppError> {
    let mut start = None;
    loop {
        let page = stores.dynamo.scan_page(None, start).await?;
        page.items().iter().for_each(&mut each);
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(());
        }
    }
}

/// Every item and object of the run's table and bucket, as they are now.
pub async fn snapshot(stores: &App) -> Result<StoreSnapshot, AppError> {
    let mut items = BTreeMap::new();
    for_each_item(stores, |raw| {
        let mut hasher = DefaultHasher::new();
        match item_from_sdk(raw) {
            // `Item` is ordered all the way down: one text per content.
            Ok(item) => format!("{item:?}").hash(&mut hasher),
            // The SDK's maps are not ordered: the top level is put in name
            // order, and what does not decode is named with its error.
            Err(problem) => {
                let ordered: BTreeMap<&String, String> = raw
                    .iter()
                    .map(|(name, value)| (name, format!("{value:?}")))
                    .collect();
                format!("{problem}: {ordered:?}").hash(&mut hasher);
            }
        }
        items.insert(key_of(stores, raw), hasher.finish());
    })
    .await?;
    let objects = stores.transcripts.inventory("").await?;
    Ok(StoreSnapshot { items, objects })
}

/// One entity (or object, or item of no entity) the parity validator found
/// not held alike by the stores.
#[derive(Debug, Clone, PartialEq)]
struct ParityProblem {
    /// DynamoDB holds it and PostgreSQL does not (the drill lists these
    /// apart, sorted by what the model held at the switch).
    pub only_in_dynamodb: bool,
    /// `kind id: what`.
    pub line: String,
}

/// Entities whose DynamoDB item or transcript is not as PostgreSQL holds
/// them, by the parity validator (no grace: the caller has drained, so an
/// in-flight finding is a problem too).
async fn parity_problems(stores: &Arc<App>) -> Result<Vec<ParityProblem>, AppError> {
    let options = cutover_parity::ParityOptions {
        max_mismatch_percent: 0.0,
        grace: Duration::ZERO,
        ..Default::default()
    };
    let report = cutover_parity::validate(stores.clone(), &options).await?;
    let mut what: BTreeMap<(Option<EntityKind>, String), Vec<String>> = BTreeMap::new();
    for finding in report.findings().chain(&report.in_flight_samples) {
        let detail = match &finding.field {
            Some(field) => format!("{} ({field})", finding.category.name()),
            None => finding.category.name().to_owned(),
        };
        what.entry((finding.entity, finding.id.clone()))
            .or_default()
            .push(detail);
    }
    let leftovers = &report.leftovers;
    let mut problems: BTreeMap<(Option<EntityKind>, String), bool> = BTreeMap::new();
    for (kind, id) in &leftovers.repairable {
        problems.insert((Some(*kind), id.to_string()), false);
    }
    for key in &leftovers.dynamodb_only {
        problems.insert((Some(key.entity()), key.id().to_string()), true);
    }
    for key in leftovers
        .malformed_keys
        .iter()
        .map(|(key, _)| key)
        .chain(&leftovers.orphan_objects)
    {
        problems.insert((None, key.clone()), false);
    }
    for finding in &report.in_flight_samples {
        problems
            .entry((finding.entity, finding.id.clone()))
            .or_insert(false);
    }
    Ok(problems
        .into_iter()
        .map(|((kind, id), only_in_dynamodb)| {
            let name = kind.map_or("object or item", EntityKind::name);
            let line = match what.get(&(kind, id.clone())) {
                Some(found) => format!("{name} {id}: {}", found.join(", ")),
                None => format!("{name} {id}"),
            };
            ParityProblem {
                only_in_dynamodb,
                line,
            }
        })
        .collect())
}

/// What PostgreSQL holds that DynamoDB and S3 do not hold alike — entities,
/// and orphan objects and malformed items — as `kind id: what`; items only
/// DynamoDB holds are left to [`only_in_dynamodb`].
pub async fn entities_differing(stores: &Arc<App>) -> Result<Vec<String>, AppError> {
    Ok(parity_problems(stores)
        .await?
        .into_iter()
        .filter(|problem| !problem.only_in_dynamodb)
        .map(|problem| problem.line)
        .collect())
}

/// Items DynamoDB holds for no entity PostgreSQL (`postgres`) has, apart
/// from those of entities the model held at the switch (deleted since: not
/// lost); and how many of those there were.
pub async fn only_in_dynamodb(
    stores: &App,
    postgres: &Model,
    at_switch: &Model,
) -> Result<(Vec<OnlyInDynamodb>, u64), AppError> {
    let profile = stores.profile().clone();
    let mut only = Vec::new();
    let mut deleted_since_switch = 0;
    for_each_item(stores, |raw| {
        let key = key_of(stores, raw);
        let decoded = item_from_sdk(raw)
            .ok()
            .and_then(|item| profile.from_item(&item).ok());
        let Some(entity) = decoded else {
            only.push(OnlyInDynamodb {
                kind: None,
                id: key.clone(),
                key,
            });
            return;
        };
        let id = entity.id().to_string();
        if holds(postgres, entity.kind(), &id) {
            return;
        }
        if holds(at_switch, entity.kind(), &id) {
            deleted_since_switch += 1;
        } else {
            only.push(OnlyInDynamodb {
                kind: Some(entity.kind()),
                id,
                key,
            });
        }
    })
    .await?;
    Ok((only, deleted_since_switch))
}

/// Whether the model holds this entity.
fn holds(model: &Model, kind: EntityKind, id: &str) -> bool {
    let Ok(id) = Id::parse(id) else {
        return false;
    };
    match kind {
        EntityKind::User => model.users.contains_key(&id),
        EntityKind::Campaign => model.campaigns.contains_key(&id),
        EntityKind::Session => model.sessions.contains_key(&id),
        EntityKind::Summary => model.summaries.contains_key(&id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_every_key_added_changed_or_removed() {
        let before = StoreSnapshot {
            items: BTreeMap::from([("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]),
            objects: BTreeMap::from([("x".into(), (1, "e1".into()))]),
        };
        let after = StoreSnapshot {
            items: BTreeMap::from([("a".into(), 1), ("b".into(), 9), ("d".into(), 4)]),
            objects: BTreeMap::from([("x".into(), (1, "e2".into()))]),
        };
        assert_eq!(
            changes(&before, &after),
            Changes {
                items: vec!["b".into(), "c".into(), "d".into()],
                objects: vec!["x".into()],
            }
        );
        assert_eq!(changes(&after, &after), Changes::default());
    }
}
