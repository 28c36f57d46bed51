//! Search on both sides of the migration, as pure logic: the token variant's
//! lexemes, the corpus of queries, the comparison of result sets, and the
//! classification of every difference.

pub mod classify;
pub mod corpus;
pub mod cost;
pub mod equivalence;
pub mod expression;
pub mod lexemes;
