//! DynamoDB Local, AWS's own engine: the reference for cost and behaviour checks.
//!
//! Found in `CUTOVER_DYNAMODB_LOCAL_DIR` (or `[backends.dynamodb] dir`), else in the
//! cache directory, else fetched once into the cache: from AWS's download when it
//! is reachable, else from the copy bundled in the npm package
//! `amplify-dynamodb-simulator` (`npm pack`, then its `emulator/` folder).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover_core::provision::{Engine, Provisioner};

use crate::aws::AwsEndpoint;
use crate::aws::local_credentials;
use crate::error::{BackendError, error_chain};
use crate::netns::PrivateNetwork;
use crate::process::{ManagedChild, RestartableChild, die_with_parent, free_loopback_port, which};
use crate::scratch::ScratchDir;

const JAR: &str = "DynamoDBLocal.jar";
const LIB_DIR: &str = "DynamoDBLocal_lib";
/// Pinned so every fetch yields the same engine (DynamoDB Local 1.25.1), and
/// checked: its `DynamoDBLocal.jar` must have this SHA-256.
pub const NPM_PACKAGE: &str = "amplify-dynamodb-simulator@2.9.30";
const NPM_JAR_SHA256: &str = "454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7";
/// Another archive (AWS's own download, a mirror): its URL and the SHA-256
/// it must have, both required — an unpinned "latest" is never fetched.
const URL_VARIABLE: &str = "CUTOVER_DYNAMODB_LOCAL_URL";
const SHA256_VARIABLE: &str = "CUTOVER_DYNAMODB_LOCAL_SHA256";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const JAVA_REMEDY: &str = "install a Java runtime, 17 or newer (Debian/Ubuntu: `apt-get install default-jre-headless`), or set JAVA_HOME";

/// A directory holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`.
#[derive(Debug, Clone)]
pub struct Installation {
    pub dir: PathBuf,
}

impl Installation {
    fn at(dir: &Path) -> Option<Installation> {
        (dir.join(JAR).is_file() && dir.join(LIB_DIR).is_dir()).then(|| Installation {
            dir: dir.to_owned(),
        })
    }

    /// The configured directory, else the cached copy; no fetching.
    pub fn locate(explicit_dir: Option<&Path>) -> Result<Option<Installation>, BackendError> {
        if let Some(dir) = explicit_dir {
            return Installation::at(dir).map(Some).ok_or_else(|| BackendError::MissingPrerequisite {
                engine: Engine::DynamoDb,
                provisioner: Provisioner::Local,
                what: format!("{JAR} and {LIB_DIR}/ in {} (from CUTOVER_DYNAMODB_LOCAL_DIR or cutover.toml)", dir.display()),
                remedy: "point CUTOVER_DYNAMODB_LOCAL_DIR at an unpacked DynamoDB Local, or unset it to let cutover fetch one".to_owned(),
            });
        }
        Ok(Installation::at(&cache_dir()))
    }

    pub async fn locate_or_fetch(
        explicit_dir: Option<&Path>,
    ) -> Result<Installation, BackendError> {
        if let Some(found) = Installation::locate(explicit_dir)? {
            return Ok(found);
        }
        tokio::task::spawn_blocking(fetch_into_cache)
            .await
            .map_err(|err| BackendError::Fetch {
                detail: err.to_string(),
            })?
    }
}

/// `$XDG_CACHE_HOME/cutover/dynamodb-local`, else `~/.cache/cutover/dynamodb-local`;
/// with neither, a per-user `cutover-cache-<uid>` in the temp directory
/// (never one folder shared by every user, where another could plant a jar).
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| {
            // SAFETY: getuid has no preconditions and cannot fail.
            let uid = unsafe { libc::getuid() };
            std::env::temp_dir().join(format!("cutover-cache-{uid}"))
        });
    base.join("cutover").join("dynamodb-local")
}

/// Creates the cache's parent as ours alone, and refuses one another user owns.
fn private_cache_parent(parent: &Path) -> Result<(), BackendError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(BackendError::io("creating", parent))?;
    let metadata =
        std::fs::symlink_metadata(parent).map_err(BackendError::io("inspecting", parent))?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if metadata.uid() != uid || !metadata.is_dir() {
        return Err(BackendError::Fetch {
            detail: format!(
                "the cache directory {} is not a directory owned by uid {uid}; remove it, or set XDG_CACHE_HOME",
                parent.display()
            ),
        });
    }
    Ok(())
}

/// Downloads DynamoDB Local into the cache. Safe to run concurrently: each
/// fetch unpacks into its own staging directory and renames it into place; a
/// loser of that race keeps the winner's copy.
pub fn fetch_into_cache() -> Result<Installation, BackendError> {
    let target = cache_dir();
    if let Some(found) = Installation::at(&target) {
        return Ok(found);
    }
    let parent = target.parent().expect("cache dir has a parent");
    private_cache_parent(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".dynamodb-local-staging-")
        .tempdir_in(parent)
        .map_err(BackendError::io("creating a staging directory in", parent))?;

    let unpacked = match (std::env::var(URL_VARIABLE), std::env::var(SHA256_VARIABLE)) {
        (Ok(url), Ok(sha256)) => fetch_archive(staging.path(), &url, &sha256),
        (Ok(_), Err(_)) => Err(format!(
            "{URL_VARIABLE} is set without {SHA256_VARIABLE}: give the archive's SHA-256 too (an archive is never used unchecked)"
        )),
        _ => fetch_from_npm(staging.path()),
    }
    .map_err(|detail| BackendError::Fetch {
        detail: format!(
            "{detail}. Remedy: make the npm registry reachable, or set {URL_VARIABLE} and {SHA256_VARIABLE}, or unpack DynamoDB Local yourself and set CUTOVER_DYNAMODB_LOCAL_DIR"
        ),
    })?;
    match std::fs::rename(&unpacked, &target) {
        Ok(()) => {}
        // Someone else finished first: theirs is as good as ours.
        Err(_) if Installation::at(&target).is_some() => {}
        Err(err) => return Err(BackendError::io("moving DynamoDB Local into", &target)(err)),
    }
    Installation::at(&target).ok_or_else(|| BackendError::Fetch {
        detail: format!("{} holds no {JAR} after unpacking", target.display()),
    })
}

/// The SHA-256 of a file, streamed, as lowercase hex.
fn file_sha256(path: &Path) -> Result<String, String> {
    use sha2::{Digest, Sha256};
    let mut file =
        std::fs::File::open(path).map_err(|err| format!("reading {}: {err}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|err| format!("reading {}: {err}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Refuses a file whose SHA-256 is not `expected`, naming both.
fn check_sha256(path: &Path, expected: &str) -> Result<(), String> {
    let actual = file_sha256(path)?;
    if actual.eq_ignore_ascii_case(expected.trim()) {
        Ok(())
    } else {
        Err(format!(
            "{} has SHA-256 {actual}, not the pinned {expected}: refusing to run it",
            path.display()
        ))
    }
}

fn fetch_archive(staging: &Path, url: &str, sha256: &str) -> Result<PathBuf, String> {
    let archive = staging.join("dynamodb_local.tar.gz");
    run(Command::new("curl")
        .args([
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--connect-timeout",
            "5",
            "--max-time",
            "300",
            "-o",
        ])
        .arg(&archive)
        .arg(url))?;
    check_sha256(&archive, sha256)?;
    let dir = staging.join("archive");
    std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&dir))?;
    Installation::at(&dir)
        .map(|i| i.dir)
        .ok_or_else(|| format!("{url} held no {JAR}"))
}

fn fetch_from_npm(staging: &Path) -> Result<PathBuf, String> {
    if which("npm").is_none() {
        return Err("npm is not installed (Debian/Ubuntu: `apt-get install npm`)".to_owned());
    }
    run(Command::new("npm")
        .args(["pack", "--silent", NPM_PACKAGE, "--pack-destination"])
        .arg(staging)
        .current_dir(staging))?;
    let archive = std::fs::read_dir(staging)
        .map_err(|err| err.to_string())?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "tgz"))
        .ok_or_else(|| format!("npm pack {NPM_PACKAGE} produced no .tgz"))?;
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(staging)
        .arg("package/emulator"))?;
    let dir = staging.join("package").join("emulator");
    let installation =
        Installation::at(&dir).ok_or_else(|| format!("{NPM_PACKAGE} held no emulator/{JAR}"))?;
    check_sha256(&installation.dir.join(JAR), NPM_JAR_SHA256)?;
    Ok(installation.dir)
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("could not run {:?}: {err}", command.get_program()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} exited with {}: {}",
            command.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The `java` to run DynamoDB Local with: `$JAVA_HOME/bin/java`, else `java` on PATH.
pub fn java() -> Result<PathBuf, BackendError> {
    std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin").join("java"))
        .filter(|path| path.is_file())
        .or_else(|| which("java"))
        .ok_or_else(|| BackendError::MissingPrerequisite {
            engine: Engine::DynamoDb,
            provisioner: Provisioner::Local,
            what: "a Java runtime (`java`)".to_owned(),
            remedy: JAVA_REMEDY.to_owned(),
        })
}

pub(crate) struct DynamoDbLocalProcess {
    // Field order matters: the JVM stops before its bridge, its network and
    // its data directory go.
    process: RestartableChild,
    _bridge: Option<AbortOnDrop>,
    network: Option<Arc<PrivateNetwork>>,
    data: ScratchDir,
    install: Installation,
    /// Where clients connect: the bridge's port, or the JVM's own without a
    /// private network.
    port: u16,
    /// The JVM's port (inside its network when it has one).
    jvm_port: u16,
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl DynamoDbLocalProcess {
    /// Starts DynamoDB Local on a free port. Its tables live in files (`-dbPath`
    /// in a scratch directory, not `-inMemory`) so a killed JVM can be started
    /// again with its data, as `restart` does.
    ///
    /// DynamoDB Local cannot be told to bind loopback only; where a network
    /// namespace can be made (root), the JVM runs in one of its own and is
    /// reached through a bridge on 127.0.0.1 (`netns`), so no other machine
    /// can reach it. Elsewhere it listens on every interface, and a warning
    /// says so.
    pub(crate) async fn start(
        install: &Installation,
    ) -> Result<DynamoDbLocalProcess, BackendError> {
        let jvm_port = free_loopback_port()
            .map_err(BackendError::io("finding a free port for", &install.dir))?;
        let data = ScratchDir::create("dynamodb-local")?;
        let (network, bridge, port) = match PrivateNetwork::create() {
            Ok(network) => {
                let network = Arc::new(network);
                let (port, task) = crate::netns::bridge(network.clone(), jvm_port)
                    .await
                    .map_err(BackendError::io("bridging to", &install.dir))?;
                (Some(network), Some(AbortOnDrop(task)), port)
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    "no private network namespace for DynamoDB Local: it listens on every interface"
                );
                (None, None, jvm_port)
            }
        };
        let process = spawn_jvm(install, data.path(), jvm_port, port, network.as_deref()).await?;
        Ok(DynamoDbLocalProcess {
            process: RestartableChild::new(Engine::DynamoDb, "DynamoDB Local", process),
            _bridge: bridge,
            network,
            data,
            install: install.clone(),
            port,
            jvm_port,
        })
    }

    pub(crate) fn endpoint(&self) -> AwsEndpoint {
        AwsEndpoint::local(
            format!("http://127.0.0.1:{}", self.port),
            local_credentials(),
        )
    }

    /// Kills the JVM (SIGKILL: no shutdown hook runs) and, after `down`, starts
    /// DynamoDB Local again on the same port over the same data files. The new
    /// JVM is spawned on `engine_runtime`, whose threads it must not outlive.
    pub(crate) async fn restart(
        &self,
        down: Duration,
        engine_runtime: &tokio::runtime::Handle,
    ) -> Result<String, BackendError> {
        let (install, data, port) = (self.install.clone(), self.data.path().to_owned(), self.port);
        let (jvm_port, network) = (self.jvm_port, self.network.clone());
        let start =
            async move { spawn_jvm(&install, &data, jvm_port, port, network.as_deref()).await };
        let pid = self
            .process
            .crash_and_restart(libc::SIGKILL, down, engine_runtime, start)
            .await?;
        Ok(format!(
            "SIGKILL to the DynamoDB Local JVM (pid {pid}); started again on port {port} over the same -dbPath files"
        ))
    }
}

/// Runs DynamoDB Local on `jvm_port` (inside `network`, when given) and waits
/// until its API answers on `port` (the bridge's, or the same).
async fn spawn_jvm(
    install: &Installation,
    data_dir: &Path,
    jvm_port: u16,
    port: u16,
    network: Option<&PrivateNetwork>,
) -> Result<ManagedChild, BackendError> {
    let java = java()?;
    let log = data_dir.join("dynamodb-local.log");
    let log_out = crate::process::open_log(&log, None)?;
    let log_err = log_out
        .try_clone()
        .map_err(BackendError::io("opening", &log))?;
    let mut command = Command::new(&java);
    crate::process::server_environment(&mut command)
        .arg(format!(
            "-Djava.library.path={}",
            install.dir.join(LIB_DIR).display()
        ))
        .arg("-jar")
        .arg(install.dir.join(JAR))
        .args(["-sharedDb", "-disableTelemetry", "-dbPath"])
        .arg(data_dir)
        .args(["-port", &jvm_port.to_string()])
        .current_dir(&install.dir)
        .stdin(Stdio::null())
        .stdout(log_out)
        .stderr(log_err);
    die_with_parent(&mut command, libc::SIGKILL);
    let spawned = match network {
        Some(network) => network.spawn(command),
        None => command.spawn(),
    };
    let child = spawned.map_err(|err| {
        BackendError::startup(
            Engine::DynamoDb,
            Provisioner::Local,
            format!("could not run {}: {err}", java.display()),
        )
    })?;
    let mut process = ManagedChild::new(child, libc::SIGTERM, Duration::from_secs(5));
    let endpoint = AwsEndpoint::local(format!("http://127.0.0.1:{port}"), local_credentials());
    wait_until_answering(&endpoint, Some((&mut process, &log))).await?;
    Ok(process)
}

/// Waits for a successful `ListTables`: DynamoDB Local opens its port seconds
/// before its API answers.
pub(crate) async fn wait_until_answering(
    endpoint: &AwsEndpoint,
    mut process: Option<(&mut ManagedChild, &Path)>,
) -> Result<(), BackendError> {
    let client = endpoint.dynamodb_probe_client().await;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some((child, log)) = process.as_mut()
            && let Some(status) = child.exited()
        {
            return Err(BackendError::startup(
                Engine::DynamoDb,
                Provisioner::Local,
                format!(
                    "java exited with {status}: {}",
                    std::fs::read_to_string(log).unwrap_or_default().trim()
                ),
            ));
        }
        match client.list_tables().limit(1).send().await {
            Ok(_) => return Ok(()),
            Err(error) if Instant::now() > deadline => {
                return Err(BackendError::startup(
                    Engine::DynamoDb,
                    Provisioner::Local,
                    format!(
                        "no answer from {} after {READY_TIMEOUT:?}: {}",
                        endpoint.url.as_deref().unwrap_or("?"),
                        error_chain(&error)
                    ),
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_another_hash_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join(JAR);
        std::fs::write(&jar, b"not the engine").unwrap();
        let error = check_sha256(&jar, NPM_JAR_SHA256).unwrap_err();
        assert!(
            error.contains("not the pinned") && error.contains(NPM_JAR_SHA256),
            "{error}"
        );
        let actual = file_sha256(&jar).unwrap();
        assert!(check_sha256(&jar, &actual.to_uppercase()).is_ok());
    }
}
