//! Is there a Docker engine to run containers on? Asked at run time, in about a
//! millisecond, so tests that need containers can say why they skip.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use cutover_core::provision::{Engine, Provisioner};

use testcontainers_modules::testcontainers::{ContainerAsync, Image, runners::AsyncRunner};

use crate::error::BackendError;

pub const REMEDY: &str = "start a Docker engine (or set DOCKER_HOST to one), or choose another provisioner: embedded, local or endpoint";

/// `Ok(socket)` when a Docker engine answers `/_ping` on its socket, else why not.
pub fn probe() -> Result<PathBuf, String> {
    let socket = match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => PathBuf::from(&host["unix://".len()..]),
        Ok(host) if !host.is_empty() => {
            return Err(format!(
                "DOCKER_HOST={host} is not a unix socket; cutover only probes local engines"
            ));
        }
        _ => PathBuf::from("/var/run/docker.sock"),
    };
    let mut stream = UnixStream::connect(&socket)
        .map_err(|err| format!("no Docker engine at {}: {err}", socket.display()))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|err| {
            format!(
                "Docker socket {} did not take a request: {err}",
                socket.display()
            )
        })?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    if answer.starts_with("HTTP/1.") && answer.contains(" 200 ") {
        Ok(socket)
    } else {
        Err(format!(
            "Docker socket {} did not answer /_ping with 200",
            socket.display()
        ))
    }
}

pub(crate) fn require(engine: Engine) -> Result<(), BackendError> {
    probe()
        .map(|_| ())
        .map_err(|why| BackendError::MissingPrerequisite {
            engine,
            provisioner: Provisioner::Containers,
            what: format!("a Docker engine ({why})"),
            remedy: REMEDY.to_owned(),
        })
}

/// Starts `image` on the Docker engine (refused with the remedy when none
/// answers) and returns the container with the `host:port` its
/// `container_port` is published on; every failure is a start-up error of
/// `engine`'s containers provisioner.
pub async fn start_published<I: Image>(
    engine: Engine,
    image: impl AsyncRunner<I>,
    container_port: u16,
) -> Result<(ContainerAsync<I>, String), BackendError> {
    require(engine)?;
    let failed = |detail: String| BackendError::startup(engine, Provisioner::Containers, detail);
    let container = image
        .start()
        .await
        .map_err(|err| failed(crate::error::error_chain(&err)))?;
    let host = container
        .get_host()
        .await
        .map_err(|err| failed(err.to_string()))?;
    let port = container
        .get_host_port_ipv4(container_port)
        .await
        .map_err(|err| failed(err.to_string()))?;
    Ok((container, format!("{host}:{port}")))
}
