//! `.run()` for any future: [`run`] and [`RunExt`].

use crate::bridge;
use crate::timeout::{Elapsed, Timeout};
use std::future::IntoFuture;
use std::time::Duration;

/// Runs any future to completion from blocking code, in any context, and returns its output.
///
/// This is [`Coroutine::run`](crate::Coroutine::run) for futures that did not come from
/// `#[anysync::coroutine]` (asyncer's `runnify`, anysync's `anysync.run`). The future must be
/// `Send`, because inside a current_thread runtime it runs on a background thread; for a
/// `!Send` future use [`Coroutine::local`](crate::Coroutine::local).
///
/// Wherever it is called, the future is driven with anysync's global runtime (what it spawns
/// or registers lives there; inside an [`unblock`](crate::unblock) closure, with the runtime
/// that called `unblock`), and polled with that runtime's context entered but not marked as
/// running: blocking tokio calls inside it (a nested `Handle::block_on`, a `Runtime` created
/// and dropped, `reqwest::blocking`) work in every poll, and tokio's cooperative budget does
/// not make it yield.
///
/// ```
/// let n = anysync::run(async {
///     tokio::task::yield_now().await;
///     // A runtime of its own, blocked on and dropped inside the future, after an `.await`.
///     let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
///     rt.block_on(async { 2 })
/// });
/// assert_eq!(n, 2);
/// ```
///
/// Some tokio futures need a runtime when they are *created*: `tokio::time::sleep(d)` called
/// on a plain thread panics before anysync sees it. Create them inside an `async` block, which
/// runs with the runtime entered:
///
/// ```
/// use std::time::Duration;
///
/// let slept = anysync::run(async {
///     tokio::time::sleep(Duration::from_millis(1)).await;
///     "slept"
/// });
/// assert_eq!(slept, "slept");
/// ```
#[track_caller]
pub fn run<F>(future: F) -> F::Output
where
    F: IntoFuture,
    F::IntoFuture: Send,
    F::Output: Send,
{
    bridge::block_on_send(future.into_future())
}

/// `.run()` and `.run_timeout()` for every future, so third-party futures block as easily as
/// coroutines do.
///
/// ```
/// use anysync::RunExt;
///
/// let (tx, mut rx) = tokio::sync::mpsc::channel(1);
/// tx.send("ping").run().unwrap();
/// assert_eq!(rx.recv().run(), Some("ping"));
/// ```
pub trait RunExt: IntoFuture + Sized {
    /// Blocks until the future completes; see [`run`].
    ///
    /// ```
    /// use anysync::RunExt;
    /// assert_eq!(std::future::ready(3).run(), 3);
    /// ```
    #[track_caller]
    fn run(self) -> Self::Output
    where
        Self::IntoFuture: Send,
        Self::Output: Send,
    {
        bridge::block_on_send(self.into_future())
    }

    /// Blocks until the future completes or `timeout` passes; on timeout the future is
    /// dropped and `Err(Elapsed)` returned.
    ///
    /// ```
    /// use anysync::RunExt;
    /// use std::time::Duration;
    ///
    /// let never = std::future::pending::<()>();
    /// assert!(never.run_timeout(Duration::from_millis(5)).is_err());
    /// ```
    #[track_caller]
    fn run_timeout(self, timeout: Duration) -> Result<Self::Output, Elapsed>
    where
        Self::IntoFuture: Send,
        Self::Output: Send,
    {
        bridge::block_on_send(Timeout::new(self.into_future(), timeout))
    }
}

impl<T: IntoFuture> RunExt for T {}
