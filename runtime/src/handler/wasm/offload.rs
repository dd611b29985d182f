//! Where a guest that keeps computing runs: on threads of its own, not on the threads that
//! serve requests.
//!
//! A call starts on the thread that asked for it, so an ordinary call (tens of microseconds)
//! pays no hand-off. The epoch callback yields every tick; but yielding only lets other tasks
//! of the *same* thread run between ticks, and the HTTP server's workers are single-threaded:
//! every task of a request scheduled on a spinning guest's worker waited up to a tick at each
//! of its awaits, hundreds of milliseconds in all. So a call that has computed for a whole
//! tick is moved at the next one, the very future, onto the guest threads, which the operating
//! system schedules at a lower priority than the server's own: a spinning guest then costs
//! unrelated calls less than two ticks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use tokio_util::task::AbortOnDropHandle;

use super::WasmError;

/// How much lower than the server's threads the guest threads run (a nice value; Linux and
/// other Unixes). Only the share of CPU changes: a guest alone on the machine runs at full
/// speed.
const GUEST_NICENESS: i32 = 10;

/// The guest threads: a runtime of their own, shut down (without waiting for guests still
/// running, which the deadline traps anyway) when the host goes.
pub(super) struct GuestThreads {
    runtime: Option<tokio::runtime::Runtime>,
}

impl GuestThreads {
    /// One thread per core: guests that compute compete for the cores, not for each other's
    /// threads.
    pub(super) fn start() -> Result<Self, WasmError> {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("hookwing-guest")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .map_err(|e| WasmError::Engine(format!("cannot start the guest threads: {e}")))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `call` here until `computing` says the guest used up a tick, then moves it onto
    /// the guest threads. `Err` only if the call panicked or the host is shutting down.
    pub(super) async fn run<F>(&self, call: F, computing: &AtomicBool) -> Result<F::Output, String>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut call: Pin<Box<F>> = Box::pin(call);
        let here = std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending if computing.load(Ordering::Relaxed) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await;
        if let Some(output) = here {
            return Ok(output);
        }
        let Some(runtime) = &self.runtime else {
            return Err("the server is shutting down".into());
        };
        // Dropped (the caller gave up), the handle aborts the call where it runs.
        let moved = AbortOnDropHandle::new(runtime.spawn(call));
        moved.await.map_err(|error| {
            if error.is_panic() {
                "the wasm host panicked during the call".to_owned()
            } else {
                "the server is shutting down".to_owned()
            }
        })
    }
}

impl Drop for GuestThreads {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime blocks, which is not allowed inside another runtime.
            runtime.shutdown_background();
        }
    }
}

/// A flag the epoch callback raises once the guest has computed for a tick.
pub(super) fn computing_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

#[cfg(unix)]
fn lower_priority() {
    // On Linux a nice value belongs to the thread, and "this process" means the calling
    // thread. Failing (a sandbox forbidding it) only leaves the guests at normal priority.
    if let Err(error) = rustix::process::setpriority_process(None, GUEST_NICENESS) {
        tracing::debug!(%error, "cannot lower the guest threads' priority");
    }
}

#[cfg(not(unix))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_quick_call_finishes_where_it_started() {
        let threads = GuestThreads::start().expect("guest threads");
        let flag = computing_flag();
        let here = std::thread::current().id();
        let ran_on = threads
            .run(async { std::thread::current().id() }, &flag)
            .await
            .expect("the call runs");
        assert_eq!(ran_on, here);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_computing_call_moves_to_the_guest_threads() {
        let threads = GuestThreads::start().expect("guest threads");
        let flag = computing_flag();
        let raised = flag.clone();
        let here = std::thread::current().id();
        let ran_on = threads
            .run(
                async move {
                    // As the epoch callback does: flag, then yield.
                    raised.store(true, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                    std::thread::current().id()
                },
                &flag,
            )
            .await
            .expect("the call runs");
        assert_ne!(ran_on, here);
    }
}
