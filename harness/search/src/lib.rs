//! Search on both sides of the migration, with real engines: the oracles,
//! the equivalence run over a corpus, and the cost sweep of FilterExpression
//! search. The rules and the report types are `cutover_core::search` and
//! `cutover_core::capacity`.
//!
//! # Code map
//!
//! - `oracles`: PostgreSQL's answers — `substring` (`strpos`), `full_text` (`plainto_tsquery`
//!   or `websearch_to_tsquery` on the app's `search_vector`), `ts_debug` (its tokenization,
//!   the classifier's evidence).
//! - `equivalence`: `load` (a corpus through the dual-write path into one campaign),
//!   `compare_corpus` (every query, four pairings, every difference explained);
//!   `check_corpus(sandbox, corpus)` does both on a freshly installed app.
//! - `cost`: `SearchBench` (`install`, `write_campaign`, `search_once`) and `sweep`: campaigns
//!   written once through the app's mapping into a table with an INCLUDE index, searched per
//!   design, engine figures kept beside `cutover_core::capacity`'s.
//! - `plot`: `rcu_over_sessions`, the SVG.
//!
//! **Architecture invariant:** the rules (tokenizing, classifying, the capacity model, the
//! threshold verdict) are in `cutover-core`; this crate only fetches and times. A difference
//! between DynamoDB and PostgreSQL is data in a report; `Unclassified` is the only class a
//! test rejects (and any difference at all between the two substring searches).

pub mod cost;
pub mod equivalence;
pub mod oracles;
pub mod plot;
