//! The app's integration tests, in one binary so that its engines start once:
//! every module opens its own sandbox on the engines `support` shares.

mod campaign_app;
mod hostile;
mod isolation;
mod item_size;
mod model;
mod support;
