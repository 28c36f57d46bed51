//! The engine runtime: a Tokio runtime on its own thread that owns every
//! in-process server and child process the harness starts.
//!
//! Engines must outlive the runtime of whoever asked for them: a test binary
//! shares one set of engines between `#[tokio::test]`s, each of which has its own
//! short-lived runtime. Clients, on the other hand, are made in the caller's
//! runtime (see `Sandbox`), because connection pools are bound to the runtime
//! that created them.

use std::future::Future;
use std::pin::Pin;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

type Cleanup = Pin<Box<dyn Future<Output = ()> + Send>>;

pub(crate) struct EngineRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<Cleanup>>,
    thread: Option<JoinHandle<()>>,
}

impl EngineRuntime {
    pub(crate) fn start() -> std::io::Result<EngineRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cutover-engines")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<Cleanup>();
        let thread = std::thread::Builder::new()
            .name("cutover-engine-owner".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if let Ok(cleanup) = stopped.await {
                        cleanup.await;
                    }
                });
                runtime.shutdown_timeout(std::time::Duration::from_secs(5));
            })?;
        Ok(EngineRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where engine processes and servers are spawned (see `die_with_parent`).
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `future` on the engine runtime and waits for it from any runtime.
    pub(crate) async fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.handle.spawn(future).await {
            Ok(output) => output,
            Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
        }
    }

    /// Runs `cleanup` on the engine runtime, then stops it and joins its thread.
    pub(crate) fn shutdown_with(&mut self, cleanup: impl Future<Output = ()> + Send + 'static) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Box::pin(cleanup));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EngineRuntime {
    fn drop(&mut self) {
        self.shutdown_with(async {});
    }
}
