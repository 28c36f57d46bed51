//! An ephemeral PostgreSQL cluster made with the machine's own server binaries:
//! `initdb` into a scratch directory, `postgres` on a random loopback port with
//! durability switched off. About a second to start; gone when dropped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cutover_core::provision::{Engine, Provisioner};
use sqlx::Connection;

use crate::error::BackendError;
use crate::process::{
    ManagedChild, RestartableChild, die_with_parent, free_loopback_port, open_log,
    server_environment, which,
};
use crate::scratch::ScratchDir;

const SUPERUSER: &str = "postgres";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const PORT_ATTEMPTS: usize = 3;
/// Users tried, in order, to run the server when the harness runs as root
/// (`initdb` refuses to run as root).
const UNPRIVILEGED_USERS: [&str; 2] = ["postgres", "nobody"];
pub(crate) const INSTALL_REMEDY: &str = "install the PostgreSQL server (Debian/Ubuntu: `apt-get install postgresql`), or set CUTOVER_PG_BIN_DIR to the directory holding `initdb` and `postgres`, or choose --postgres endpoint|containers";

/// Where `initdb` and `postgres` were found.
#[derive(Debug, Clone)]
pub struct ServerBinaries {
    pub bin_dir: PathBuf,
}

impl ServerBinaries {
    /// Looks in `explicit_dir`, then `pg_config --bindir`, then the newest
    /// `/usr/lib/postgresql/<major>/bin`, then `PATH`.
    pub fn locate(explicit_dir: Option<&Path>) -> Result<ServerBinaries, BackendError> {
        let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
        if let Some(dir) = explicit_dir {
            return if has_both(dir) {
                Ok(ServerBinaries {
                    bin_dir: dir.to_owned(),
                })
            } else {
                Err(missing(format!(
                    "`initdb` and `postgres` in {} (from CUTOVER_PG_BIN_DIR or cutover.toml)",
                    dir.display()
                )))
            };
        }
        let mut candidates = Vec::new();
        if let Ok(dir) = crate::process::run_capture("pg_config", &["--bindir"]) {
            candidates.push(PathBuf::from(dir));
        }
        if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
            let mut versioned: Vec<(u32, PathBuf)> = entries
                .flatten()
                .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
                .collect();
            versioned.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
            candidates.extend(versioned.into_iter().map(|(_, dir)| dir));
        }
        if let Some(initdb) = which("initdb") {
            // Debian links /usr/local/bin/initdb to the versioned directory.
            let resolved = std::fs::canonicalize(&initdb).unwrap_or(initdb);
            candidates.extend(resolved.parent().map(Path::to_owned));
        }
        candidates
            .into_iter()
            .find(|dir| has_both(dir))
            .map(|bin_dir| ServerBinaries { bin_dir })
            .ok_or_else(|| {
                missing("the PostgreSQL server binaries `initdb` and `postgres`".to_owned())
            })
    }

    pub fn version(&self) -> Result<String, String> {
        crate::process::run_capture(
            self.bin_dir.join("postgres").to_str().unwrap_or("postgres"),
            &["--version"],
        )
    }
}

fn missing(what: String) -> BackendError {
    BackendError::MissingPrerequisite {
        engine: Engine::Postgres,
        provisioner: Provisioner::Embedded,
        what,
        remedy: INSTALL_REMEDY.to_owned(),
    }
}

fn startup_error(detail: impl ToString) -> BackendError {
    BackendError::startup(Engine::Postgres, Provisioner::Embedded, detail)
}

/// The account the server runs under.
#[derive(Debug, Clone, Copy)]
struct ServerAccount {
    uid: u32,
    gid: u32,
}

impl ServerAccount {
    /// `None` when the harness is not root and can run the server itself.
    fn pick() -> Result<Option<ServerAccount>, BackendError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        for name in UNPRIVILEGED_USERS {
            if let Some(account) = lookup_user(name) {
                return Ok(Some(account));
            }
        }
        Err(BackendError::MissingPrerequisite {
            engine: Engine::Postgres,
            provisioner: Provisioner::Embedded,
            what: format!(
                "an unprivileged user to run the server as (initdb refuses root; tried {})",
                UNPRIVILEGED_USERS.join(", ")
            ),
            remedy: "create one with `useradd --system postgres`, or run cutover as a normal user"
                .to_owned(),
        })
    }
}

fn lookup_user(name: &str) -> Option<ServerAccount> {
    let c_name = std::ffi::CString::new(name).ok()?;
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r writes only into `entry` and `buffer`, both owned here and sized as passed.
    let status = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if status != 0 || result.is_null() {
        return None;
    }
    Some(ServerAccount {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    })
}

pub(crate) struct EphemeralCluster {
    // Field order matters: the server stops before its directory is removed.
    server: RestartableChild,
    scratch: ScratchDir,
    port: u16,
    binaries: ServerBinaries,
    account: Option<ServerAccount>,
    /// The superuser's password: the cluster requires it on every connection,
    /// so no other local user can connect as its superuser.
    password: String,
}

impl EphemeralCluster {
    /// Runs `initdb` and starts the server; returns once it accepts connections.
    pub(crate) async fn start(binaries: &ServerBinaries) -> Result<EphemeralCluster, BackendError> {
        let account = ServerAccount::pick()?;
        let scratch = ScratchDir::create("pg")?;
        let data_dir = scratch.path().join("data");
        if let Some(account) = account {
            chown(scratch.path(), account)?;
        }

        let password = random_password();
        let password_file = scratch.path().join("superuser.password");
        {
            use std::io::Write;
            let owner = account.map(|a| (a.uid, a.gid));
            let mut file = open_log(&password_file, owner)?;
            file.write_all(password.as_bytes())
                .map_err(BackendError::io("writing", &password_file))?;
        }
        let initdb_log = scratch.path().join("initdb.log");
        let mut initdb = Command::new(binaries.bin_dir.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data_dir)
            .arg(format!("--pwfile={}", password_file.display()))
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]);
        let mut initdb = run_as(&mut initdb, account, scratch.path(), &initdb_log)?;
        let status = tokio::task::spawn_blocking(move || initdb.wait())
            .await
            .map_err(|err| startup_error(format!("initdb task: {err}")))?
            .map_err(BackendError::io("waiting for initdb in", scratch.path()))?;
        let _ = std::fs::remove_file(&password_file);
        if !status.success() {
            return Err(startup_error(format!(
                "initdb exited with {status}: {}",
                tail_of(&initdb_log)
            )));
        }

        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_loopback_port()
                .map_err(BackendError::io("finding a free port for", scratch.path()))?;
            match start_server(
                binaries,
                account,
                scratch.path(),
                &data_dir,
                port,
                &password,
            )
            .await
            {
                Ok(server) => {
                    return Ok(EphemeralCluster {
                        server: RestartableChild::new(
                            Engine::Postgres,
                            "the ephemeral PostgreSQL server",
                            server,
                        ),
                        scratch,
                        port,
                        binaries: binaries.clone(),
                        account,
                        password,
                    });
                }
                // Another process may have taken the port between our probe and the bind.
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    pub(crate) fn admin_url(&self) -> String {
        superuser_url(&self.password, self.port)
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.scratch.path().join("data")
    }

    /// The server's pid; `None` while a restart has it stopped.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    /// Crashes the server (SIGQUIT: PostgreSQL's immediate shutdown, which skips
    /// the checkpoint like a crash) and, after `down`, starts it again on the same
    /// port over the same data directory, so it runs crash recovery. Connections
    /// open at the time break; committed transactions must survive.
    pub(crate) async fn restart_abruptly(
        &self,
        down: Duration,
        engine_runtime: &tokio::runtime::Handle,
    ) -> Result<String, BackendError> {
        let (binaries, account, home, data_dir, port, password) = (
            self.binaries.clone(),
            self.account,
            self.scratch.path().to_owned(),
            self.data_dir(),
            self.port,
            self.password.clone(),
        );
        let start = async move {
            start_server(&binaries, account, &home, &data_dir, port, &password).await
        };
        let pid = self
            .server
            .crash_and_restart(libc::SIGQUIT, down, engine_runtime, start)
            .await?;
        Ok(format!(
            "SIGQUIT (immediate shutdown, as in a crash) to postgres pid {pid}; started again on port {port} over the same data directory (crash recovery)"
        ))
    }
}

/// 128 random bits, hex: the superuser's password of one cluster.
fn random_password() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

fn superuser_url(password: &str, port: u16) -> String {
    format!("postgres://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres")
}

async fn start_server(
    binaries: &ServerBinaries,
    account: Option<ServerAccount>,
    home: &Path,
    data_dir: &Path,
    port: u16,
    password: &str,
) -> Result<ManagedChild, BackendError> {
    let log = home.join("postgres.log");
    let mut command = Command::new(binaries.bin_dir.join("postgres"));
    command.arg("-D").arg(data_dir).arg("-k").arg(home).args([
        "-p",
        &port.to_string(),
        "-c",
        "listen_addresses=127.0.0.1",
        // A throwaway cluster: surviving a machine crash buys nothing and costs
        // seconds. Commits still reach the kernel before they are acknowledged
        // (synchronous_commit stays on), so a crash of the server process loses
        // no acknowledged write: the `postgres-restart` fault relies on that.
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=300",
    ]);
    // SIGQUIT is PostgreSQL's immediate shutdown, right for a server whose owner is gone.
    die_with_parent(&mut command, libc::SIGQUIT);
    let child = run_as(&mut command, account, home, &log)?;
    // SIGINT is the "fast" shutdown: roll back and exit cleanly.
    let mut server = ManagedChild::new(child, libc::SIGINT, Duration::from_secs(10));

    let url = superuser_url(password, port);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = server.exited() {
            return Err(startup_error(format!(
                "postgres exited with {status} before accepting connections: {}",
                tail_of(&log)
            )));
        }
        match sqlx::PgConnection::connect(&url).await {
            Ok(connection) => {
                let _ = connection.close().await;
                return Ok(server);
            }
            Err(error) if Instant::now() > deadline => {
                return Err(startup_error(format!(
                    "not ready after {READY_TIMEOUT:?} on port {port}: {error}; log: {}",
                    tail_of(&log)
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

fn run_as(
    command: &mut Command,
    account: Option<ServerAccount>,
    home: &Path,
    log: &Path,
) -> Result<std::process::Child, BackendError> {
    // The directory belongs to the server account, which could plant a symlink here.
    let log_file = open_log(log, account.map(|a| (a.uid, a.gid)))?;
    let log_file_err = log_file
        .try_clone()
        .map_err(BackendError::io("opening", log))?;
    server_environment(command)
        .env("HOME", home)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_file_err);
    if let Some(account) = account {
        // std drops root's supplementary groups when it switches uid.
        command.uid(account.uid).gid(account.gid);
    }
    command
        .spawn()
        .map_err(|err| startup_error(format!("could not run {:?}: {err}", command.get_program())))
}

fn chown(path: &Path, account: ServerAccount) -> Result<(), BackendError> {
    std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid))
        .map_err(BackendError::io("changing the owner of", path))
}

/// The last lines of a log, for error messages.
fn tail_of(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(8).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}
