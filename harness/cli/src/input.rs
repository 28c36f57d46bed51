//! Input files (scenarios, corpora, reports to re-render): read as UTF-8, with
//! an error naming the file and the line and column of a byte that is not.

use std::path::Path;

use anyhow::Context;

/// The text of the input file at `path`; `what` names it in errors ("scenario").
pub fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))?;
    Ok(cutover_core::input::decode(&bytes, &path.display().to_string())?.to_owned())
}
