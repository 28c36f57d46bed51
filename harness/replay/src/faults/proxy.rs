//! The fault proxy: loopback listeners between a client and each engine
//! (DynamoDB's and S3's HTTP, PostgreSQL's wire protocol) that suffer the
//! scenario's faults for any client — an external driver's Node SDK, its
//! `pg` pool, cutover's own path. They share the [`Injector`]'s armed faults
//! and counters, so a fault is armed and reported the same either way.
//!
//! HTTP faults: throttling (`ThrottlingException`) and `SlowDown` answered
//! for the engine, a request held then its connection closed (a timeout), an
//! `InternalServerError` in place of the answer of a request the engine
//! applied. PostgreSQL faults: a statement's connection reset before it
//! reaches the server, a `COMMIT`'s answer lost after the server applied it.
//! Requests go to the engine's address as it is when they arrive, so engine
//! restarts work through the proxy too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cutover_core::workload::{FaultKind, FaultTarget};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::inject::{INJECTED_TIMEOUT, Injector, ServiceFaults, Stage, fault_answer};

/// A listener that stops when dropped.
pub struct Listener {
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The proxies of one run: clients are pointed at these addresses.
pub struct FaultProxies {
    pub dynamodb: Listener,
    pub s3: Listener,
    pub postgres: Listener,
}

impl FaultProxies {
    /// Starts a proxy in front of each engine (`dynamodb_url`, `s3_url`:
    /// `http://host:port`; `postgres`: the server's address).
    pub async fn start(
        injector: &Arc<Injector>,
        dynamodb_url: &str,
        s3_url: &str,
        postgres: SocketAddr,
    ) -> std::io::Result<FaultProxies> {
        Ok(FaultProxies {
            dynamodb: http_proxy(
                injector.service(FaultTarget::Dynamodb).clone(),
                dynamodb_url.trim_end_matches('/').to_owned(),
            )
            .await?,
            s3: http_proxy(
                injector.service(FaultTarget::S3).clone(),
                s3_url.trim_end_matches('/').to_owned(),
            )
            .await?,
            postgres: postgres_proxy(injector.service(FaultTarget::Postgres).clone(), postgres)
                .await?,
        })
    }

    pub fn dynamodb_url(&self) -> String {
        format!("http://{}", self.dynamodb.address)
    }

    pub fn s3_url(&self) -> String {
        format!("http://{}", self.s3.address)
    }

    /// `url` (a PostgreSQL connection URL) pointed at the proxy instead.
    pub fn postgres_url(&self, url: &str) -> Option<String> {
        pointed_at(url, self.postgres.address)
    }
}

/// A connection URL with its host and port replaced by `address`.
fn pointed_at(url: &str, address: SocketAddr) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let credentials = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"));
    Some(format!(
        "{scheme}://{}{address}/{path}",
        credentials.unwrap_or_default()
    ))
}

async fn loopback() -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0)).await
}

// ---------------------------------------------------------------------------
// HTTP (DynamoDB, S3)
// ---------------------------------------------------------------------------

type Upstream = Client<HttpConnector, Full<Bytes>>;

async fn http_proxy(
    service: Arc<ServiceFaults>,
    upstream_url: String,
) -> std::io::Result<Listener> {
    let listener = loopback().await?;
    let address = listener.local_addr()?;
    let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
    let upstream_url: Arc<str> = upstream_url.into();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service.clone();
            let client = client.clone();
            let upstream_url = upstream_url.clone();
            tokio::spawn(async move {
                let handler = hyper::service::service_fn(move |request| {
                    forward(
                        request,
                        service.clone(),
                        client.clone(),
                        upstream_url.clone(),
                    )
                });
                // An injected timeout or an engine that is down ends the
                // connection without an answer, as a dead server would.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler)
                    .await;
            });
        }
    });
    Ok(Listener { address, task })
}

#[derive(Debug)]
struct Dropped(&'static str);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Dropped {}

fn answer(kind: FaultKind) -> Response<Full<Bytes>> {
    let (status, content_type, body) = fault_answer(kind);
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", "cutover-injected-fault")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a valid response")
}

/// Whether an AWS SDK request is the first attempt of its operation (SDKs
/// say `amz-sdk-request: attempt=N; max=M`; without it, every request is one).
fn first_attempt(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get("amz-sdk-request")
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.split(';').any(|part| part.trim() == "attempt=1"))
}

async fn forward(
    request: Request<Incoming>,
    service: Arc<ServiceFaults>,
    client: Upstream,
    upstream_url: Arc<str>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    service.attempts.fetch_add(1, Ordering::Relaxed);
    if service.refuses() {
        return Err(Dropped("cut off"));
    }
    if first_attempt(&request) {
        service.operations.fetch_add(1, Ordering::Relaxed);
    }
    match service.take_with_latency(Stage::BeforeSend) {
        Some(taken) if taken.kind.adds_latency() => tokio::time::sleep(taken.latency).await,
        Some(taken)
            if matches!(
                taken.kind,
                FaultKind::DynamodbTimeout | FaultKind::S3Timeout
            ) =>
        {
            tokio::time::sleep(INJECTED_TIMEOUT).await;
            return Err(Dropped("injected timeout"));
        }
        Some(taken) => return Ok(answer(taken.kind)),
        None => {}
    }
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| Dropped("the client's request body broke off"))?
        .to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let mut upstream = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream_url}{path}"));
    for (name, value) in &parts.headers {
        // The body is re-sent whole: its framing is hyper's to write.
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            upstream = upstream.header(name, value);
        }
    }
    let upstream = upstream
        .body(Full::new(body))
        .map_err(|_| Dropped("the request could not be rebuilt"))?;
    let response = client
        .request(upstream)
        .await
        .map_err(|_| Dropped("the engine did not answer"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| Dropped("the engine's answer broke off"))?
        .to_bytes();
    // Applied by the engine; its answer replaced.
    if let Some(kind) = service.take(Stage::AfterAnswer) {
        return Ok(answer(kind));
    }
    let mut response = Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response = response.header(name, value);
        }
    }
    response
        .body(Full::new(body))
        .map_err(|_| Dropped("the answer could not be rebuilt"))
}

// ---------------------------------------------------------------------------
// PostgreSQL wire protocol
// ---------------------------------------------------------------------------

/// The startup packet's code asking for TLS (answered `N` by servers without it).
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

async fn postgres_proxy(
    service: Arc<ServiceFaults>,
    upstream: SocketAddr,
) -> std::io::Result<Listener> {
    let listener = loopback().await?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(upstream).await {
                    let _ = relay_postgres(client, server, service).await;
                }
                // (Refused: the client sees its connection closed, as with a
                // server that is down.)
            });
        }
    });
    Ok(Listener { address, task })
}

/// What the client side tells the server side to do with the server's next bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerBytes {
    Pass,
    /// The answer to the COMMIT just sent is to be lost.
    LoseAndCut,
}

async fn relay_postgres(
    client: TcpStream,
    server: TcpStream,
    service: Arc<ServiceFaults>,
) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (verdict_sender, verdict) = tokio::sync::watch::channel(ServerBytes::Pass);

    let upstream = async {
        let mut reader = MessageReader::default();
        loop {
            let Some(message) = reader.next(&mut client_read).await? else {
                return Ok::<_, std::io::Error>(());
            };
            if let Some(query) = message.query_text() {
                service.attempts.fetch_add(1, Ordering::Relaxed);
                service.operations.fetch_add(1, Ordering::Relaxed);
                match service.take_with_latency(Stage::BeforeSend) {
                    Some(taken) if taken.kind == FaultKind::PostgresReset => {
                        // Never reaches the server: the connection just breaks.
                        return Ok(());
                    }
                    Some(taken) if taken.kind.adds_latency() => {
                        tokio::time::sleep(taken.latency).await;
                    }
                    _ => {}
                }
                if is_commit(&query) && service.take(Stage::AfterAnswer).is_some() {
                    let _ = verdict_sender.send(ServerBytes::LoseAndCut);
                }
            }
            server_write.write_all(&message.bytes).await?;
        }
    };
    let downstream = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = server_read.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<_, std::io::Error>(());
            }
            if *verdict.borrow() == ServerBytes::LoseAndCut {
                // Applied by the server, never heard of by the client.
                return Ok(());
            }
            client_write.write_all(&buffer[..read]).await?;
        }
    };
    // Either side ending ends the connection (both halves drop).
    tokio::select! {
        result = upstream => result,
        result = downstream => result,
    }
}

fn is_commit(query: &str) -> bool {
    let statement = query.trim().trim_end_matches(';').trim();
    statement.eq_ignore_ascii_case("commit") || statement.eq_ignore_ascii_case("end")
}

/// One client message, whole: its bytes as read, and its type (`None` for the
/// startup packets, which have none).
struct Message {
    kind: Option<u8>,
    bytes: Vec<u8>,
}

impl Message {
    /// The SQL of a simple query (`Q`) or of a statement being parsed (`P`).
    fn query_text(&self) -> Option<String> {
        let payload = self.bytes.get(5..)?;
        let text = match self.kind? {
            b'Q' => payload,
            // Parse: statement name (C string), then the query (C string).
            b'P' => {
                let name_end = payload.iter().position(|&b| b == 0)?;
                &payload[name_end + 1..]
            }
            _ => return None,
        };
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        Some(String::from_utf8_lossy(&text[..end]).into_owned())
    }
}

/// Splits the client's byte stream into messages.
#[derive(Default)]
struct MessageReader {
    /// The startup packet has been read (messages have a type byte from then on).
    started: bool,
}

/// The longest message the proxy passes (PostgreSQL's own limit is 1 GiB).
const MAX_MESSAGE_BYTES: usize = 1 << 30;

impl MessageReader {
    async fn next(
        &mut self,
        from: &mut (impl AsyncReadExt + Unpin),
    ) -> std::io::Result<Option<Message>> {
        let mut head = [0u8; 5];
        let head_len = if self.started { 5 } else { 4 };
        match from.read_exact(&mut head[..head_len]).await {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => return Err(error),
        }
        let (kind, length_at) = if self.started {
            (Some(head[0]), 1)
        } else {
            (None, 0)
        };
        let length = u32::from_be_bytes(head[length_at..length_at + 4].try_into().expect("4 bytes"))
            as usize;
        if !(4..=MAX_MESSAGE_BYTES).contains(&length) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a PostgreSQL message of length {length}"),
            ));
        }
        let mut bytes = head[..head_len].to_vec();
        bytes.resize(head_len + length - 4, 0);
        from.read_exact(&mut bytes[head_len..]).await?;
        if !self.started {
            let code = bytes
                .get(4..8)
                .map(|code| u32::from_be_bytes(code.try_into().expect("4 bytes")));
            // A TLS or GSS request is followed by the real startup packet.
            if code != Some(SSL_REQUEST) && code != Some(GSSENC_REQUEST) {
                self.started = true;
            }
        }
        Ok(Some(Message { kind, bytes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&(payload.len() as u32 + 4).to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    #[tokio::test]
    async fn client_messages_are_split_and_their_sql_read() {
        let mut stream = Vec::new();
        // SSLRequest, then the startup packet, then a simple query and a Parse.
        stream.extend_from_slice(&8u32.to_be_bytes());
        stream.extend_from_slice(&SSL_REQUEST.to_be_bytes());
        stream.extend_from_slice(&12u32.to_be_bytes());
        stream.extend_from_slice(&196_608u32.to_be_bytes());
        stream.extend_from_slice(b"u\0\0\0");
        stream.extend(message(b'Q', b"COMMIT\0"));
        stream.extend(message(b'P', b"s1\0SELECT 1\0\0\0"));
        let mut reader = MessageReader::default();
        let mut input = stream.as_slice();
        let ssl = reader.next(&mut input).await.unwrap().unwrap();
        assert_eq!((ssl.kind, ssl.bytes.len()), (None, 8));
        let startup = reader.next(&mut input).await.unwrap().unwrap();
        assert_eq!((startup.kind, startup.bytes.len()), (None, 12));
        let commit = reader.next(&mut input).await.unwrap().unwrap();
        assert_eq!(commit.query_text().as_deref(), Some("COMMIT"));
        assert!(is_commit(&commit.query_text().unwrap()));
        let parse = reader.next(&mut input).await.unwrap().unwrap();
        assert_eq!(parse.query_text().as_deref(), Some("SELECT 1"));
        assert!(!is_commit("COMMIT PREPARED 'x'"));
        assert!(reader.next(&mut input).await.unwrap().is_none());
    }

    #[test]
    fn a_database_url_is_pointed_at_the_proxy() {
        let proxy: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        assert_eq!(
            pointed_at(
                "postgres://cutover:pw@127.0.0.1:5432/run_abc?sslmode=disable",
                proxy
            )
            .as_deref(),
            Some("postgres://cutover:pw@127.0.0.1:6000/run_abc?sslmode=disable")
        );
        assert_eq!(
            pointed_at("postgres://localhost/db", proxy).as_deref(),
            Some("postgres://127.0.0.1:6000/db")
        );
        assert_eq!(pointed_at("not a url", proxy), None);
    }
}
