//! Blocking code from async code: [`unblock`] (asyncer's `asyncify`), its cancellable variant,
//! and [`Blocking`], the value a blocking function returns so that it can be awaited or run.
//!
//! A closure handed to `unblock` runs on a blocking thread under [`context::with_origin`], so a
//! `.run()` inside it executes its future on the runtime that called `unblock` (asyncer's
//! `syncify`): resources bound to that runtime keep working.

use crate::context;
use crate::global;
use crate::pool::{self, Pool};
use crate::span;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Runs a blocking closure on a worker thread and returns a future of its result, so async
/// code never blocks its runtime (asyncer's `asyncify`, asyncio's `run_in_executor`).
///
/// # Where the closure runs
///
/// - Inside a tokio runtime of either flavor: on that runtime's blocking pool, exactly like
///   [`tokio::task::spawn_blocking`].
/// - Anywhere else (`futures::executor::block_on`, `pollster`, a plain thread): on the blocking
///   pool of anysync's global runtime. No tokio context is needed.
///
/// Inside a runtime the closure is handed over at once, like `spawn_blocking`, and the
/// returned [`Unblock`] only waits for it: start several and await them later, and they run at
/// the same time. Called outside any runtime (as in `rt.block_on(anysync::unblock(f))`, which
/// evaluates `unblock(f)` before entering `rt`), it is handed over at the first poll, to the
/// runtime that polls it.
///
/// # Calling back into async code (syncify)
///
/// Inside the closure, `.run()` and [`anysync::run`](crate::run) execute their future on the
/// runtime that called `unblock`, polled on the worker thread (asyncer's `syncify`), so
/// sockets, timers and tasks of that runtime work there; see the second example. That runtime
/// must keep running meanwhile, as it does while the caller `.await`s. A current_thread
/// runtime that blocks on the result instead (`unblock(f).run()` in one of its tasks) is
/// stopped, and a future that needs its timers or sockets cannot make progress: `.await`.
///
/// # Why `Send + 'static`
///
/// The closure runs on another thread, and that thread cannot be stopped: if the awaiting
/// future is dropped, the closure keeps running to its end. So it must own everything it
/// touches (`'static`: move values in, or share them with [`Arc`]) and be able to move to
/// another thread (`Send`). Borrowing from the caller would let the caller's stack frame go
/// away while the closure still reads it. To run blocking code that borrows, run it inline
/// instead (in a multi_thread runtime, [`tokio::task::block_in_place`]).
///
/// # Panics and cancellation
///
/// A panic in the closure is resumed in the task that awaits the result, with its original
/// payload. Dropping the [`Unblock`] abandons the result (asyncer's `abandon_on_cancel`): a
/// closure that has started runs to completion and its result is dropped; one that has not
/// started yet (every blocking thread busy) never runs. To let a running closure stop early,
/// use [`unblock_cancellable`]. For a bound on how many closures run at once, use a [`Pool`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let path = std::env::temp_dir().join("anysync-unblock-doc.txt");
/// std::fs::write(&path, "hello")?;
/// let text = anysync::unblock(move || std::fs::read_to_string(path)).await?;
/// assert_eq!(text, "hello");
/// # Ok(())
/// # }
/// ```
///
/// Calling back into async code (syncify): the future runs on the runtime that called
/// `unblock`, so a task spawned there lands on it.
///
/// ```
/// use anysync::RunExt;
/// use tokio::runtime::Handle;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let outer = Handle::current().id();
/// let inner = anysync::unblock(|| {
///     // Blocking code on a worker thread...
///     async { tokio::spawn(async { Handle::current().id() }).await.unwrap() }.run()
/// })
/// .await;
/// assert_eq!(inner, outer);
/// # }
/// ```
#[doc(alias("asyncify", "run_in_executor", "spawn_blocking"))]
pub fn unblock<F, T>(f: F) -> Unblock<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // The caller's span follows the closure (feature `tracing`; nothing otherwise).
    let caller = span::Caller::capture();
    match Handle::try_current() {
        Ok(_) => Unblock::new(Task::Tokio(spawn_in(caller, f)), None),
        // Called outside any runtime (`rt.block_on(unblock(f))` evaluates `unblock(f)` first):
        // wait for the first poll, which knows which runtime is awaiting.
        Err(_) => Unblock::new(
            Task::Deferred(Box::new(move || Task::Tokio(spawn_in(caller, f)))),
            None,
        ),
    }
}

/// Hands `f` to the blocking pool of the current runtime, or of the global one if none, as
/// [`unblock`] does, and returns tokio's handle to it: dropping the handle detaches the
/// closure (it still runs; `anysync::io::AsyncIo` relies on that for writes it accepted).
pub(crate) fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_in(span::Caller::capture(), f)
}

/// [`spawn`], with `f` run in the caller's `tracing` context captured as `caller`.
fn spawn_in<F, T>(caller: span::Caller, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let origin = current_or_global();
    origin.spawn_blocking({
        let origin = origin.clone();
        move || caller.in_scope(|| context::with_origin(origin, f))
    })
}

/// The runtime whose context this is, or anysync's global runtime outside any.
pub(crate) fn current_or_global() -> Handle {
    Handle::try_current().unwrap_or_else(|_| global::handle().clone())
}

/// [`unblock`] for a closure that can stop early: it receives a [`CancelToken`], which is set
/// when the awaiting [`Unblock`] is dropped before the closure returns.
///
/// A thread cannot be killed, so cancellation is cooperative: the closure checks
/// [`CancelToken::is_cancelled`] between steps and returns when it is set. Its return value
/// then goes nowhere (nobody awaits it any more). Everything else is as for [`unblock`].
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (started_tx, started) = tokio::sync::oneshot::channel();
/// let (stopped_tx, stopped) = tokio::sync::oneshot::channel();
/// let work = anysync::unblock_cancellable(move |token| {
///     started_tx.send(()).unwrap();
///     let mut steps = 0_u64;
///     while !token.is_cancelled() {
///         steps += 1; // one slice of blocking work
///         std::thread::sleep(Duration::from_millis(1));
///     }
///     stopped_tx.send(steps).unwrap();
/// });
/// // (A closure whose future is dropped before it starts never runs: wait until it does.)
/// started.await.unwrap();
/// // Give up waiting: the timeout drops the future, which sets the token...
/// assert!(tokio::time::timeout(Duration::from_millis(20), work).await.is_err());
/// // ...and the closure sees it and returns.
/// let steps = stopped.await.unwrap();
/// println!("stopped after {steps} steps");
/// # }
/// ```
#[doc(alias("abandon_on_cancel", "cancellation"))]
pub fn unblock_cancellable<F, T>(f: F) -> Unblock<T>
where
    F: FnOnce(CancelToken) -> T + Send + 'static,
    T: Send + 'static,
{
    let token = CancelToken::new();
    let flag = token.flag();
    let mut task = unblock(move || f(token));
    task.set_cancel(flag);
    task
}

/// The future of a closure running on a worker thread: returned by [`unblock`],
/// [`unblock_cancellable`], [`Pool::unblock`] and [`Blocking`]'s `.await`.
///
/// It resolves to the closure's return value, or resumes the closure's panic. Dropping it
/// before then abandons the result: a closure that has not started never runs, one that is
/// running finishes (and sees its [`CancelToken`] set, if it has one).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let task: anysync::Unblock<u32> = anysync::unblock(|| 6 * 7);
/// assert_eq!(task.await, 42);
/// # }
/// ```
#[must_use = "the closure runs anyway; `.await` the `Unblock` to get its result"]
pub struct Unblock<T> {
    task: Task<T>,
    /// Set when the future is dropped before the closure's result was taken.
    cancel: Option<Arc<AtomicBool>>,
}

/// Where the closure was sent.
pub(crate) enum Task<T> {
    /// Not yet: `unblock` was called outside any runtime, so the closure is handed over at the
    /// first poll, to the runtime polling it.
    Deferred(Box<dyn FnOnce() -> Task<T> + Send>),
    /// A tokio blocking pool.
    Tokio(JoinHandle<T>),
    /// An anysync [`Pool`].
    Pool(pool::Waiter<T>),
    /// The result has been taken.
    Done,
}

impl<T> Unblock<T> {
    fn new(task: Task<T>, cancel: Option<Arc<AtomicBool>>) -> Self {
        Unblock { task, cancel }
    }

    pub(crate) fn pool(waiter: pool::Waiter<T>) -> Self {
        Unblock::new(Task::Pool(waiter), None)
    }

    /// A closure to be handed over at the first poll, by `start`.
    pub(crate) fn deferred(start: Box<dyn FnOnce() -> Task<T> + Send>) -> Self {
        Unblock::new(Task::Deferred(start), None)
    }

    /// Makes dropping this future (before it completes) set `flag`.
    pub(crate) fn set_cancel(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }
}

// The closure and its result are never pinned: `Unblock` only holds handles to them.
impl<T> Unpin for Unblock<T> {}

impl<T> Future for Unblock<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Task::Deferred(_) = self.task
            && let Task::Deferred(start) = std::mem::replace(&mut self.task, Task::Done)
        {
            self.task = start();
        }
        let outcome = match &mut self.task {
            Task::Tokio(handle) => match ready!(Pin::new(handle).poll(cx)) {
                Ok(value) => Ok(value),
                Err(error) if error.is_panic() => Err(error.into_panic()),
                // Nobody else holds the handle, so only a shutdown cancels the task.
                Err(_) => {
                    self.task = Task::Done;
                    panic!(
                        "anysync: the closure given to `unblock` never ran: \
                         its tokio runtime shut down first"
                    )
                }
            },
            Task::Pool(waiter) => ready!(waiter.poll(cx)),
            Task::Deferred(_) => unreachable!("anysync: started above"),
            Task::Done => panic!("anysync: `Unblock` polled after it completed"),
        };
        self.task = Task::Done;
        match outcome {
            Ok(value) => Poll::Ready(value),
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

impl<T> Drop for Unblock<T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.task, Task::Done) {
            // Never handed over: the closure is dropped unrun.
            Task::Done | Task::Deferred(_) => return,
            // Per tokio's docs, aborting a blocking task that has not started yet keeps it
            // from starting; a running one is unaffected.
            Task::Tokio(handle) => handle.abort(),
            Task::Pool(waiter) => waiter.abandon(),
        }
        if let Some(flag) = &self.cancel {
            flag.store(true, Ordering::Release);
        }
    }
}

impl<T> fmt::Debug for Unblock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.task {
            Task::Deferred(_) => "not started",
            Task::Tokio(_) => "tokio blocking pool",
            Task::Pool(_) => "anysync pool",
            Task::Done => "done",
        };
        f.debug_struct("Unblock")
            .field("task", &state)
            .field("cancellable", &self.cancel.is_some())
            .finish()
    }
}

/// Tells a closure started by [`unblock_cancellable`] or [`Pool::unblock_cancellable`] that
/// nobody waits for its result any more.
///
/// Clones share the flag, so the closure can hand it to helpers or other threads.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let was_cancelled = anysync::unblock_cancellable(|token| token.is_cancelled()).await;
/// assert!(!was_cancelled); // awaited to the end: never cancelled
/// # }
/// ```
#[derive(Clone)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
}

impl CancelToken {
    pub(crate) fn new() -> Self {
        CancelToken {
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    /// Whether the awaiting future was dropped before the closure returned: if so, stop
    /// working and return; the result will be discarded.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sum = anysync::unblock_cancellable(|token| {
    ///     let mut sum = 0_u64;
    ///     for i in 0..1_000 {
    ///         if token.is_cancelled() {
    ///             break;
    ///         }
    ///         sum += i;
    ///     }
    ///     sum
    /// })
    /// .await;
    /// assert_eq!(sum, 499_500);
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// A blocking call, not yet made: `.await` it to run it on a worker thread, or `.run()` it to
/// run it inline on the calling thread.
///
/// This is what a blocking function returns when it should be usable both ways: write the
/// function once, and async callers offload it while blocking callers call it directly.
/// `#[anysync::blocking]` writes such a function for you; [`Blocking::new`] makes one by hand.
///
/// - `.await` (through [`IntoFuture`]) hands the closure to [`unblock`]: it runs on the
///   current runtime's blocking pool (the global one outside tokio), and a `.run()` inside it
///   goes back to the awaiting runtime. This needs the closure and its result to be
///   `Send + 'static` (see [`unblock`] for why).
/// - `.run()` calls the closure right here, with no thread hop and no bounds. In async code
///   that blocks the runtime for as long as the closure runs: `.await` it there instead.
/// - [`.on(&pool)`](Blocking::on) offloads it to a bounded [`Pool`].
///
/// ```
/// use anysync::Blocking;
/// use std::path::PathBuf;
///
/// fn byte_len(path: PathBuf) -> Blocking<impl FnOnce() -> std::io::Result<u64> + Send + 'static> {
///     Blocking::new(move || Ok(std::fs::metadata(path)?.len()))
/// }
///
/// let path = std::env::temp_dir().join("anysync-blocking-doc.txt");
/// std::fs::write(&path, "four").unwrap();
///
/// // Blocking code: inline, on this thread.
/// assert_eq!(byte_len(path.clone()).run().unwrap(), 4);
///
/// // Async code: offloaded to a worker thread.
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(byte_len(path).await.unwrap(), 4);
/// # });
/// ```
#[must_use = "a blocking call does nothing until you `.await` it (async code) or `.run()` it (blocking code)"]
pub struct Blocking<F> {
    call: F,
}

impl<F> Blocking<F> {
    /// Wraps the closure that makes the call.
    ///
    /// ```
    /// let call = anysync::Blocking::new(|| "made");
    /// assert_eq!(call.run(), "made");
    /// ```
    pub fn new<T>(call: F) -> Self
    where
        F: FnOnce() -> T,
    {
        Blocking { call }
    }

    /// Makes the call inline, on the calling thread, and returns its result.
    ///
    /// This shadows [`RunExt::run`](crate::RunExt::run), which would offload the call and
    /// wait for it: here there is nothing to wait for.
    ///
    /// ```
    /// let here = std::thread::current().id();
    /// let ran_on = anysync::Blocking::new(|| std::thread::current().id()).run();
    /// assert_eq!(ran_on, here);
    /// ```
    pub fn run<T>(self) -> T
    where
        F: FnOnce() -> T,
    {
        (self.call)()
    }

    /// Offloads the call to `pool` instead of the runtime's blocking pool.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = anysync::Pool::new(2);
    /// let sum = anysync::Blocking::new(|| (1..=10).sum::<u32>()).on(&pool).await;
    /// assert_eq!(sum, 55);
    /// # }
    /// ```
    pub fn on<T>(self, pool: &Pool) -> Unblock<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        pool.unblock(self.call)
    }
}

impl<F, T> IntoFuture for Blocking<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;
    type IntoFuture = Unblock<T>;

    /// Offloads the call with [`unblock`].
    fn into_future(self) -> Unblock<T> {
        unblock(self.call)
    }
}

impl<F> fmt::Debug for Blocking<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocking").finish_non_exhaustive()
    }
}
