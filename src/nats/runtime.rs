//! The private async runtime of one mirror or remote canal: a single-threaded tokio runtime
//! running on its own named thread, so nothing async reaches the public API (callers block
//! with timeouts, like everywhere else in transom) and nothing is shared between handles.
//!
//! Invariant: the runtime thread only runs futures; it never blocks on transom locks or on
//! callers. Dropping a [`NatsRuntime`] stops the thread and drops every task still spawned on
//! it (their connections close), then joins the thread — unless the drop happens on that very
//! thread, which then just detaches.

use std::future::Future;
use std::thread::{JoinHandle, ThreadId};

use super::error::NatsError;

/// A tokio runtime on a private thread.
pub struct NatsRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl std::fmt::Debug for NatsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsRuntime")
            .field("thread", &self.thread_id)
            .finish()
    }
}

impl NatsRuntime {
    /// Starts the runtime thread, named `name` (Linux keeps the first 15 bytes).
    pub fn start(name: &str) -> Result<NatsRuntime, NatsError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| NatsError::Runtime(format!("cannot build the runtime: {e}")))?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Runs every spawned task until asked to stop (or the stop sender is dropped);
                // dropping the runtime then drops the tasks still pending.
                let _ = rt.block_on(stopped);
                drop(rt);
            })
            .map_err(|e| NatsError::Runtime(format!("cannot start the runtime thread: {e}")))?;
        let thread_id = thread.thread().id();
        Ok(NatsRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
            thread_id,
        })
    }

    /// The runtime's handle (to spawn from inside tasks, or from other threads).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `future` as a task on the runtime thread.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `future` on the runtime thread and blocks the calling thread until it finishes.
    /// Bound it with `tokio::time::timeout` inside when it may not finish. `Closed` if the
    /// runtime stopped before the future finished. Must not be called on the runtime thread.
    pub fn block_on<F>(&self, future: F) -> Result<F::Output, NatsError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        debug_assert_ne!(std::thread::current().id(), self.thread_id);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| NatsError::Closed)
    }

    /// Whether the caller runs on this runtime's thread.
    pub fn on_runtime_thread(&self) -> bool {
        std::thread::current().id() == self.thread_id
    }
}

impl Drop for NatsRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            if !self.on_runtime_thread() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn block_on_runs_on_the_private_thread_and_drop_stops_pending_tasks() {
        let rt = NatsRuntime::start("transom-rt-test").unwrap();
        let name = rt
            .block_on(async { std::thread::current().name().map(str::to_owned) })
            .unwrap();
        assert_eq!(name.as_deref(), Some("transom-rt-test"));
        // A task that would never finish: dropping the runtime drops it (its guard runs).
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        rt.spawn(async move {
            let _guard = tx;
            std::future::pending::<()>().await;
        });
        let slept = rt
            .block_on(async { tokio::time::sleep(Duration::from_millis(1)).await })
            .is_ok();
        assert!(slept, "timers work");
        drop(rt);
        assert!(
            rx.recv().is_err(),
            "the pending task was dropped with the runtime"
        );
    }
}
