//! Input files (scenarios, corpora, profiles, reports to re-render): read as UTF-8, with
//! an error naming the file and the line and column of a byte that is not.

use std::path::Path;
use std::sync::Arc;

use cutover_core::profile::Profile;

use anyhow::Context;

/// The text of the input file at `path`; `what` names it in errors ("scenario").
pub fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))?;
    Ok(cutover_core::input::decode(&bytes, &path.display().to_string())?.to_owned())
}

/// The profile at `path`, checked (errors name file, line and field), or the reference app's.
pub fn load_profile(path: Option<&Path>) -> anyhow::Result<Arc<Profile>> {
    let Some(path) = path else {
        return Ok(Profile::reference());
    };
    let text = read_text(path, "profile")?;
    Ok(Arc::new(Profile::parse(
        &text,
        &path.display().to_string(),
    )?))
}
