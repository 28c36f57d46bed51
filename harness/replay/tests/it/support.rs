//! What the replay tests share: one set of embedded engines for every test
//! that restarts nothing (each faults test starts its own, since it restarts
//! them), a runtime for the synchronous tests, and the shipped scenarios.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use cutover_backends::{Engines, Plan};
use cutover_core::workload::Scenario;
use tokio::sync::OnceCell;

/// A runtime for the tests that drive async code from a plain `#[test]`.
pub static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
});

static EMBEDDED: OnceCell<Engines> = OnceCell::const_new();

/// The embedded engines, started once per test binary; every test opens its
/// own sandbox on them.
pub async fn engines() -> &'static Engines {
    EMBEDDED
        .get_or_init(|| async { Engines::start(&Plan::embedded()).await.expect("engines") })
        .await
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn scenarios_dir() -> PathBuf {
    repo().join("scenarios")
}

/// A shipped scenario, `scenarios/<name>.toml`.
pub fn scenario(name: &str) -> Scenario {
    let path = scenarios_dir().join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    Scenario::parse(&text, &path.display().to_string()).unwrap()
}
