//! The pure logic of cutover.
//!
//! **Architecture invariant:** this crate does no IO. It opens no files, sockets or
//! processes and reads no clock or environment variable; callers hand it text and
//! lookups. That keeps every rule here testable in milliseconds.
//!
//! # Code map
//!
//! - `provision`: `Engine`, `Provisioner`, `SettingsLayer` (one layer of settings: flags, env
//!   or `cutover.toml`) and `SettingsLayer::over` (merge), `choose_auto` (what `auto` means
//!   given `MachineFacts`), `validate` (a provisioner the engine does not support is refused,
//!   naming where it was set).
//! - `naming`: `RunId` and every name derived from it (`postgres_database`, `dynamodb_table`,
//!   `s3_bucket`, `owns`); `RunId::from_random` spells bits the caller drew
//!   (`cutover_backends::new_run_id` draws them), so core reads no OS randomness.
//! - `driver`: the driver protocol as data (docs/driver-protocol.md): `Request`, `RunInfo`,
//!   `Response`, `Outcome`, `PROTOCOL_VERSION`, `parse_response` (errors name the line), the
//!   answers projected to what the model holds (`expected_answer`, `project_answer`,
//!   `compare_answer`: which entities differ) and `json_schema` (a test keeps
//!   docs/driver-protocol.schema.json equal to it).
//! - `keys`: `Id` (validated entity id), `ItemKey` (which entity, by ids — not how it is
//!   written), `PartitionQuery` (a Query: index, partition, sort-key prefix), `EntityKind`.
//! - `profile`: the app under test as data (`profiles/*.toml`). `Profile::parse` checks a
//!   profile (errors name file:line:field); `Profile::reference()` is the shipped reference
//!   app's. `profile::fields`: the fields of each entity and where each must be stored.
//!   `profile::transcripts`: the session's `transcript_key` layout as the one statement of
//!   where transcripts live — `transcript_listing_prefix`, `session_transcripts_prefix`,
//!   `transcript_owner` (an object key read back; `None` for any other shape: never the app's
//!   to delete), `with_transcript_layout_of` (the reference database read for another layout).
//!   `profile::template`: `Template` (`USER#${userId}`) and `Casing` (ElectroDB's rules) —
//!   every key string is built and matched there. `profile::codec`: `Profile::to_item` /
//!   `from_item` (the one mapping between entities and items: kind by markers or key shape,
//!   ids from attributes, every key rebuilt and compared, the transcript pointer checked
//!   against the profile's template), `key`, the access patterns (`campaigns_of`,
//!   `session_by_id`, ...), `version_condition` / `order_of` (what conditional writes
//!   compare: a version, or `updatedAt`), `owned_attributes` (what a rewrite sets),
//!   `as_stored` (PostgreSQL's entity as the profile's encodings keep it) and
//!   `answer_as_stored` (the same for a read's answer), `colliding_ids`.
//!   `profile::rows`: the profile's PostgreSQL half — `select_sql` / `ids_after_sql` /
//!   `orders_sql` / `count_sql` / `colliding_ids_sql` (every statement that reads the app's
//!   own tables, identifiers quoted), `Cell` and `Profile::entity_from_row` (a row's cells
//!   to an entity: ids validated, hashes checked, timestamps cut to milliseconds, the
//!   version from `updatedAt` without a version column, the transcript key from the
//!   profile's template), `RowError` (names table, column and value), `same_tables_as`.
//! - `item_size`: `AttrValue`/`Item` (the harness's own attribute values), `item_bytes`,
//!   `number_bytes`, `MAX_ITEM_BYTES`.
//! - `normalize`: `normalize` and `search_text`, the search copy both stores hold.
//! - `domain`: `User`, `Campaign`, `Session` (with its `TranscriptPointer`), `Summary`,
//!   `Entity`; `transcript_storage_key`.
//! - `command`: `Command` (every write), `Read` and `Answer` (every read; `Read::subject` says what decides who may ask it, `Read::empty_answer` what nothing looks like), `Outcome`; `Command::check`, the write
//!   rules (no NUL in text, metadata a JSON object without NUL) stated once for the store and
//!   the model (`InvalidField`).
//! - `model`: `Model`, the in-memory app the model-based test compares against (`Refusal`,
//!   `Refusal::Invalid` for a command `Command::check` refuses); `apply` returns what a
//!   command touched and `cascade` says it beforehand (a delete's cascade, stated once);
//!   `search_sessions` is the app's keyword search over `ModelSession::search_text`.
//! - `window`: what a read may answer while writes are on their way to a store. `Window`
//!   records each entity's versions since the stores last settled, each stamped with the
//!   write that made it (`apply` beside the model, `close` at a drained settle point);
//!   `allowed(model, read)` → `Allowed` (`Exact`, `Versions` of an entity, `Members` of a
//!   list or search: each shown element one of its versions, the ones in it throughout
//!   required); `narrowed(faulted)` keeps each entity's versions from its last write made
//!   with no fault in force, and `difference` judges an answer. Pure; the replay's in-run
//!   judge uses it in fault runs.
//! - `relay`: the relay's rule with no IO — `plan(profile, kind, id, state, records, stored)`
//!   → the ordered `Step`s (delete items at stale keys, conditioned on the newest record;
//!   object before item; old objects after; sweep after a failed attempt), `stale_keys`,
//!   `PendingRecord`; tested from a table of cases.
//! - `workload`: `Scenario` (parsed and checked, `ScenarioError` names file:line:column and
//!   field), `Workload` (the generator, an `Iterator<Item = Op>`), `fit_to_bytes`.
//! - `parity`: `fields`, `field_differences` (the one canonical field comparison, also used
//!   for the media shelf), `compare_entity`, `compare_transcript`, `Finding`, `Category`,
//!   `Tally`, `xml_escape` — the comparison the validator runs, with no IO.
//! - `campaign_item`: `ItemError` (names the attribute that is wrong), JSON ↔ document
//!   types, the timestamp format, and `attr` — the reference profile's attribute names, for
//!   the tables cutover lays out itself (a test checks they agree with `reference.toml`).
//! - `media`: the media shelf (seed 003) — `MediaItem`, `MediaType`, the target's rules
//!   (`validate`: UUID ids, column lengths, `DECIMAL(2,1)` ratings, `chk_series_id`);
//!   `media::source`: the old app's DynamoDB layout (`type:id`, `movedAt:type:id`,
//!   `type:shelf`, epoch-ms dates, the 8 GSIs in `INDEXES`), `to_source_item` /
//!   `from_source_item`; `media::backup`: the per-type JSON backup files, read through the
//!   same codec; `media::generator`: seeded shelves; `media::parity`: `compare` and
//!   `MediaParityReport` (counts, duplicate ids, dangling series, field mismatches);
//!   `media::queries`: `MediaQuery` (every access pattern) and its in-memory `oracle`.
//! - `input`: `FileError`, `decode` (UTF-8 or the line, column and bytes that are not) and
//!   `from_toml`, so every input file's error names file, line, column and field.
//! - `workload::faults`: `Fault`, `FaultKind`, `FaultSize`, `FaultTarget` — a scenario's
//!   `[[faults]]`, checked.
//! - `capacity`: the RCU/WCU model from item sizes (`query_rcu`, `query_pages`,
//!   `get_item_rcu`, `batch_get_rcu`, `put_wcu`, `batch_write_wcu_indexed` (index entries included), ...). `prices`: the one dated price table.
//! - `search::lexemes`: the token variant's tokenizer (PostgreSQL's stop list, Snowball
//!   stemmer). `search::expression`: `SearchFilter` → `FilterExpression`, refusing what
//!   passes 4 KB. `search::classify`: `GapClass` and the explanations from `ts_debug`
//!   evidence. `search::equivalence`: id-set comparison, `EquivalenceReport` and its
//!   Markdown. `search::corpus`: corpus files and generated corpora. `search::cost`:
//!   `Design`, `CostPoint`, breakpoints against a `Threshold`, `SweepReport` (its verdict,
//!   Markdown and `plotted_match_percent`), `item_bytes_for_kb` (the sizes a sweep asks for).
//!
//! **Architecture invariant:** every statement that reads an app's entity rows is built in
//! `profile::rows` from the schema profile (table and column names quoted). SQL of its own is
//! written only where the reference app's schema is required and checked: its write path
//! (`pg`, which refuses other schemas), its search and transcript reads, its model view, and
//! the replay checks that run on it.
//!
//! **Architecture invariant:** every DynamoDB key string of the campaign table is built and
//! matched in `profile::template`, from the app profile's templates; no module formats
//! `USER#`, `CAMP#`, `SESS#` or `SUMMARY#` (the templates are data in `profiles/`). Checked,
//! with "composite media keys only in `media::source`" and "no clock, OS randomness, env,
//! files, network or processes in core", by `harness/core/tests/tidy.rs`. Ids are
//! read from attributes, never parsed out of keys (under ElectroDB's default casing `usrA`'s
//! key is `usra`'s).
//!
//! **Architecture invariant:** every composite key of the media table (`type:id`,
//! `movedAt:type:id`, `addedAt:type:id`, `type:shelf`) is built and checked in
//! `media::source`; backups are read through the same codec as table items.
//!
//! **Architecture invariant:** `cutover-core` does no IO: no files, sockets, processes,
//! clocks or environment reads. Callers pass text and lookups in.

pub mod backfill;
pub mod campaign_item;
pub mod capacity;
pub mod command;
pub mod domain;
pub mod driver;
pub mod input;
pub mod item_size;
pub mod keys;
pub mod media;
pub mod model;
pub mod naming;
pub mod normalize;
pub mod parity;
pub mod prices;
pub mod profile;
pub mod provision;
pub mod relay;
pub mod search;
pub mod window;
pub mod workload;

/// How this build of cutover was compiled: `debug` or `release`. Timings in
/// every report depend on it, so reports say which (a compile-time fact, not
/// the environment).
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}
