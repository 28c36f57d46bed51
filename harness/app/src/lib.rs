//! The migration under test: a Rust reference of the campaign app's data layer.
//!
//! PostgreSQL is the source of truth (`pg`); DynamoDB holds one table (`dynamo`)
//! whose keys come from `cutover_core::keys`; transcripts live in S3 behind a
//! pointer (`transcripts`). Writes go through PostgreSQL and a transactional
//! outbox, then DynamoDB and S3 (`app`, `relay`). Reads exist on both sides
//! (`reads`) with the same answers, so they can be compared.

pub mod access;
pub mod app;
mod convert;
pub mod dynamo;
pub mod error;
pub mod model_view;
pub mod pg;
pub mod reads;
pub mod relay;
pub mod transcripts;

pub use app::{App, BUCKET_PURPOSE, Mode, TABLE_PURPOSE};
pub use convert::{item_from_sdk, item_to_sdk};
pub use cutover_core::command::{Answer, Change, Command, Outcome, Read};
pub use error::AppError;
