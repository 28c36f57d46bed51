//! The integration tests of this crate, in one binary so that the embedded
//! engines they share start once; every test opens its own sandbox on them.

use cutover_backends::{Engines, Plan};
use tokio::sync::OnceCell;

mod cost;
mod equivalence;

static EMBEDDED: OnceCell<Engines> = OnceCell::const_new();

/// The embedded engines, started on first use.
async fn engines() -> &'static Engines {
    EMBEDDED
        .get_or_init(|| async { Engines::start(&Plan::embedded()).await.expect("engines") })
        .await
}
