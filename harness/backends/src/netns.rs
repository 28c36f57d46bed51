//! A private network for a server that cannot be told to bind loopback only
//! (DynamoDB Local has no bind-address option and listens on every
//! interface): the server runs in a network namespace of its own, which has
//! nothing but its own loopback, and a bridge on this machine's 127.0.0.1
//! forwards each connection into it. Nothing outside this machine's loopback
//! can reach the server.
//!
//! One thread enters the new namespace (`unshare(CLONE_NEWNET)` affects only
//! the calling thread) and stays there: children it spawns are born inside,
//! and sockets it connects belong to the namespace. It needs `CAP_SYS_ADMIN`
//! (root, as cutover's CI runs); without it the caller falls back to a plain
//! spawn and says so.

use std::io;
use std::net::TcpStream as StdTcpStream;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::mpsc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

enum Request {
    Spawn(Box<Command>, mpsc::Sender<io::Result<Child>>),
    Connect(u16, tokio::sync::oneshot::Sender<io::Result<StdTcpStream>>),
}

/// A network namespace with only its loopback, and the thread that lives in it.
pub(crate) struct PrivateNetwork {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PrivateNetwork {
    /// Creates the namespace; an error (`EPERM` without `CAP_SYS_ADMIN`) means none.
    pub(crate) fn create() -> io::Result<PrivateNetwork> {
        let (requests, inbox) = mpsc::channel::<Request>();
        let (ready, entered) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("cutover-netns".into())
            .spawn(move || {
                let setup = enter_private_network();
                let failed = setup.is_err();
                let _ = ready.send(setup);
                if failed {
                    return;
                }
                // Serve until every sender is gone (the network is dropped).
                for request in inbox {
                    match request {
                        Request::Spawn(mut command, answer) => {
                            let _ = answer.send(command.spawn());
                        }
                        Request::Connect(port, answer) => {
                            let _ = answer.send(StdTcpStream::connect(("127.0.0.1", port)));
                        }
                    }
                }
            })?;
        match entered.recv() {
            Ok(Ok(())) => Ok(PrivateNetwork {
                requests: Some(requests),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => Err(io::Error::other("the namespace thread ended at once")),
        }
    }

    fn send(&self, request: Request) -> io::Result<()> {
        self.requests
            .as_ref()
            .expect("live until dropped")
            .send(request)
            .map_err(|_| io::Error::other("the namespace thread is gone"))
    }

    /// Spawns `command` inside the namespace. Its parent (for
    /// `PR_SET_PDEATHSIG`) is the namespace thread, which lives as long as this.
    pub(crate) fn spawn(&self, command: Command) -> io::Result<Child> {
        let (answer, reply) = mpsc::channel();
        self.send(Request::Spawn(Box::new(command), answer))?;
        reply
            .recv()
            .map_err(|_| io::Error::other("the namespace thread is gone"))?
    }

    /// A connection to `127.0.0.1:port` inside the namespace.
    pub(crate) async fn connect(&self, port: u16) -> io::Result<TcpStream> {
        let (answer, reply) = tokio::sync::oneshot::channel();
        self.send(Request::Connect(port, answer))?;
        let stream = reply
            .await
            .map_err(|_| io::Error::other("the namespace thread is gone"))??;
        stream.set_nonblocking(true)?;
        TcpStream::from_std(stream)
    }
}

impl Drop for PrivateNetwork {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Moves this thread into a new network namespace and brings its loopback up.
fn enter_private_network() -> io::Result<()> {
    // SAFETY: plain syscalls on this thread's own state and a socket it owns.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if socket < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        let result = if libc::ioctl(socket, libc::SIOCGIFFLAGS, &mut request) != 0 {
            Err(io::Error::last_os_error())
        } else {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(socket, libc::SIOCSIFFLAGS, &request) != 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        libc::close(socket);
        result
    }
}

/// Forwards connections to this machine's `127.0.0.1:<returned port>` into
/// the namespace's `127.0.0.1:inner_port`, until the returned task is aborted.
pub(crate) async fn bridge(
    network: Arc<PrivateNetwork>,
    inner_port: u16,
) -> io::Result<(u16, JoinHandle<()>)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let network = network.clone();
            tokio::spawn(async move {
                // A server that is down (restarting) refuses: the client sees
                // its connection closed, as it would without the bridge.
                if let Ok(mut server) = network.connect(inner_port).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    Ok((port, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inside the namespace a listener on every interface is reachable only
    /// through the bridge; this machine's own port of that number is not it.
    #[tokio::test]
    async fn a_server_in_the_private_network_is_reached_only_through_the_bridge() {
        let network = match PrivateNetwork::create() {
            Ok(network) => Arc::new(network),
            Err(error) => {
                eprintln!("skipping: no network namespace here ({error}); needs CAP_SYS_ADMIN");
                return;
            }
        };
        // A tiny server on 0.0.0.0 inside: Python's, spawned by the namespace thread.
        let inner_port = 47_000 + (std::process::id() % 1000) as u16;
        let mut command = Command::new("python3");
        command.args([
            "-c",
            &format!(
                "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',{inner_port}))\ns.listen()\nc,_=s.accept()\nc.sendall(b'inside')\nc.close()"
            ),
        ]);
        let mut child = network.spawn(command).unwrap();
        let (port, task) = bridge(network.clone(), inner_port).await.unwrap();
        let mut answer = Vec::new();
        for _ in 0..100 {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await {
                use tokio::io::AsyncReadExt;
                answer.clear();
                let _ = stream.read_to_end(&mut answer).await;
                if answer == b"inside" {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(answer, b"inside");
        // Not on this machine's interfaces at its own port number.
        assert!(StdTcpStream::connect(("127.0.0.1", inner_port)).is_err());
        task.abort();
        let _ = child.kill();
        let _ = child.wait();
    }
}
