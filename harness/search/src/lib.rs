//! Search on both sides of the migration, with real engines: the oracles,
//! the equivalence run over a corpus, and the cost sweep of FilterExpression
//! search. The rules and the report types are `cutover_core::search` and
//! `cutover_core::capacity`.

pub mod cost;
pub mod equivalence;
pub mod oracles;
pub mod plot;
