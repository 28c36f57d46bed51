//! Scratch directories for engine state (PostgreSQL data, S3 objects).
//!
//! Each holds an `owner.pid` file. A harness that was killed, or a test binary
//! whose shared engines live in a `static` (never dropped), leaves its directory
//! behind; the next harness to create one of the same kind removes every sibling
//! whose owner is gone. So the temp dir never fills up across runs.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::error::BackendError;
use crate::process::process_alive;

const OWNER_FILE: &str = "owner.pid";

pub(crate) struct ScratchDir {
    dir: TempDir,
}

impl ScratchDir {
    /// Creates `<tmp>/cutover-<kind>-XXXX` after sweeping stale ones.
    pub(crate) fn create(kind: &str) -> Result<ScratchDir, BackendError> {
        let parent = std::env::temp_dir();
        let prefix = format!("cutover-{kind}-");
        sweep_stale(&parent, &prefix);
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&parent)
            .map_err(BackendError::io("creating a scratch directory in", &parent))?;
        // Engine state (data files, objects, logs) is the harness's alone.
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))
                .map_err(BackendError::io("restricting", dir.path()))?;
        }
        let owner = dir.path().join(OWNER_FILE);
        fs::write(&owner, std::process::id().to_string())
            .map_err(BackendError::io("writing", &owner))?;
        Ok(ScratchDir { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn sweep_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(prefix) {
            continue;
        }
        let dir: PathBuf = entry.path();
        let owner_pid = fs::read_to_string(dir.join(OWNER_FILE))
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok());
        // A directory without a readable owner may be one being created right now.
        if let Some(pid) = owner_pid
            && !process_alive(pid)
        {
            tracing::debug!(dir = %dir.display(), pid, "removing stale scratch directory");
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let scratch = ScratchDir::create("permissions-test").unwrap();
        let mode = fs::metadata(scratch.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
}
