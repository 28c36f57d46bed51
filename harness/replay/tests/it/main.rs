//! The replay crate's integration tests, in one binary so that the engines
//! the tests share start once (`support`).

mod drivers;
mod faults;
mod read_checks;
mod replay;
mod rollback;
mod support;
