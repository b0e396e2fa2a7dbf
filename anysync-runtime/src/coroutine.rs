//! [`Coroutine`]: a future that can also be run to completion from blocking code.

use crate::bridge;
use crate::timeout::{Elapsed, Timeout};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Mode of a [`Coroutine`] whose future is `Send`: `.run()` works in every calling context.
///
/// This is the default; `#[anysync::coroutine]` produces it unless given `?Send`.
///
/// ```
/// let c: anysync::Coroutine<_, anysync::Sendable> = anysync::Coroutine::new(async { 1 });
/// assert_eq!(c.run(), 1);
/// ```
#[derive(Debug)]
pub enum Sendable {}

/// Mode of a [`Coroutine`] whose future is not `Send` (`#[anysync::coroutine(?Send)]`).
///
/// Such a future is never moved to another thread, so `.run()` works wherever it can be
/// polled on the calling thread: plain threads, multi_thread runtimes, nested calls, and
/// outside the scheduler of a current_thread runtime. Inside a current_thread runtime's tasks
/// or a `LocalSet` it panics with a message saying to `.await` it instead. Inside a `LocalSet`
/// on a multi_thread runtime, only tokio can say so, by refusing `block_in_place` with a panic
/// that anysync catches; a panic hook can ignore it with
/// [`is_internal_panic`](crate::is_internal_panic).
///
/// ```
/// use std::rc::Rc;
///
/// let shared = Rc::new(41);
/// let c = anysync::Coroutine::local(async move { *shared + 1 });
/// assert_eq!(c.run(), 42);
/// ```
#[derive(Debug)]
pub enum Local {}

/// Mode of a [`Coroutine`] whose future is `Send` but whose output is not (an `Rc`, a
/// `Box<dyn Trait>` without `+ Send`, a lock guard).
///
/// The output could not come back from a background thread, so `.run()` polls the future on
/// the calling thread wherever tokio allows that (plain threads, multi_thread runtimes,
/// nested calls, outside a current_thread runtime's scheduler), and panics before starting it
/// where it would have to be lent (inside a current_thread runtime's tasks or a `LocalSet`),
/// saying to `.await` it or to return a `Send` value. `.await` works everywhere.
/// `#[anysync::coroutine]` picks this mode for an output type that is never `Send`.
///
/// ```
/// use std::rc::Rc;
///
/// #[anysync::coroutine]
/// async fn shared(n: u32) -> Rc<u32> {
///     tokio::task::yield_now().await;
///     Rc::new(n)
/// }
///
/// // Polled in place on this thread: the `Rc` never crosses a thread.
/// assert_eq!(*shared(7).run(), 7);
/// ```
#[derive(Debug)]
pub enum LocalOutput {}

pin_project! {
    /// A future that is also runnable from blocking code: `.await` it in async code, `.run()`
    /// it in blocking code.
    ///
    /// `#[anysync::coroutine]` returns one; [`Coroutine::new`] wraps any future. It adds
    /// nothing to the future's size and `.await` polls the future directly, so it costs
    /// nothing in async code. `M` is [`Sendable`] (the default) or [`Local`].
    ///
    /// # Example
    ///
    /// ```
    /// use anysync::Coroutine;
    ///
    /// fn answer() -> Coroutine<impl Future<Output = u32> + Send> {
    ///     Coroutine::new(async { 42 })
    /// }
    ///
    /// // Blocking code, from any thread or runtime:
    /// assert_eq!(answer().run(), 42);
    ///
    /// // Async code:
    /// # anysync::run(async {
    /// assert_eq!(answer().await, 42);
    /// # });
    /// ```
    #[must_use = "a coroutine does nothing until you `.run()` it (blocking code) or `.await` it (async code)"]
    pub struct Coroutine<F, M = Sendable> {
        #[pin]
        future: F,
        mode: PhantomData<fn() -> M>,
    }
}

impl<F: Future> Coroutine<F> {
    /// Wraps a future whose `.run()` may use a background thread (so it must be `Send`).
    ///
    /// ```
    /// let c = anysync::Coroutine::new(async { "hi" });
    /// assert_eq!(c.run(), "hi");
    /// ```
    pub const fn new(future: F) -> Self {
        Coroutine {
            future,
            mode: PhantomData,
        }
    }
}

impl<F: Future> Coroutine<F, Local> {
    /// Wraps a future that is not `Send`; see [`Local`] for where it can `.run()`.
    ///
    /// ```
    /// let c = anysync::Coroutine::local(async { std::rc::Rc::new(5) });
    /// assert_eq!(*c.run(), 5);
    /// ```
    pub const fn local(future: F) -> Self {
        Coroutine {
            future,
            mode: PhantomData,
        }
    }
}

// `Send` is asked of the future by each method, not by the impl: a generic coroutine's future
// is `Send` per instantiation (see `Coroutine::run`).
impl<F: Future> Coroutine<F, LocalOutput> {
    /// Wraps a `Send` future whose output is not `Send`; see [`LocalOutput`].
    ///
    /// ```
    /// let c = anysync::Coroutine::local_output(async { std::rc::Rc::new(3) });
    /// assert_eq!(*c.run(), 3);
    /// ```
    pub const fn local_output(future: F) -> Self {
        Coroutine {
            future,
            mode: PhantomData,
        }
    }

    /// Blocks until the future completes, polling it on the calling thread; panics with
    /// advice where it would have to move (see [`LocalOutput`]).
    ///
    /// ```
    /// let c = anysync::Coroutine::local_output(async { std::rc::Rc::new("here") });
    /// assert_eq!(*c.run(), "here");
    /// ```
    #[track_caller]
    pub fn run(self) -> F::Output
    where
        F: Send,
    {
        bridge::block_on_local_output(self.future)
    }

    /// Like [`run`](Self::run), giving up after `timeout` (the future is dropped).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let slow = anysync::Coroutine::local_output(async {
    ///     std::future::pending::<()>().await;
    ///     std::rc::Rc::new(())
    /// });
    /// assert!(slow.run_timeout(Duration::from_millis(10)).is_err());
    /// ```
    #[track_caller]
    pub fn run_timeout(self, timeout: Duration) -> Result<F::Output, Elapsed>
    where
        F: Send,
    {
        bridge::block_on_local_output(Timeout::new(self.future, timeout))
    }
}

impl<F, M> Coroutine<F, M> {
    /// Unwraps the future.
    ///
    /// ```
    /// let future = anysync::Coroutine::new(async { 7 }).into_inner();
    /// assert_eq!(anysync::run(future), 7);
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

// The `Send` bounds are on each method, not on the impl: for a coroutine whose future is
// `Send` only for some instantiations (a generic `#[anysync::coroutine]`), calling `.run()`
// on another one is then rustc's E0277 naming the type that is not `Send`, rather than
// "method exists but its trait bounds were not satisfied".
impl<F: Future> Coroutine<F> {
    /// Blocks the calling thread until the future completes, and returns its output.
    ///
    /// Works from any thread and context (plain threads, inside current_thread and
    /// multi_thread runtimes, `LocalSet`s, `spawn_blocking`, nested inside another `.run()`);
    /// the crate docs have the table of where the future is polled. A panic in the future
    /// resumes here with its original payload.
    ///
    /// Inside async code prefer `.await`: blocking a current_thread runtime stops all of its
    /// tasks until this returns, and a future that needs one of *that* runtime's tasks or IO
    /// resources to make progress then waits forever.
    ///
    /// ```
    /// let c = anysync::Coroutine::new(async { 6 * 7 });
    /// assert_eq!(c.run(), 42);
    /// ```
    #[track_caller]
    pub fn run(self) -> F::Output
    where
        F: Send,
        F::Output: Send,
    {
        bridge::block_on_send(self.future)
    }

    /// Like [`run`](Self::run), but gives up after `timeout`: the future is then dropped (its
    /// destructors run) and `Err(Elapsed)` is returned.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let slow = anysync::Coroutine::new(std::future::pending::<()>());
    /// assert!(slow.run_timeout(Duration::from_millis(10)).is_err());
    /// ```
    #[track_caller]
    pub fn run_timeout(self, timeout: Duration) -> Result<F::Output, Elapsed>
    where
        F: Send,
        F::Output: Send,
    {
        bridge::block_on_send(Timeout::new(self.future, timeout))
    }
}

impl<F: Future> Coroutine<F, Local> {
    /// Blocks the calling thread until the future completes, without ever moving it to
    /// another thread; panics with advice where that is impossible (see [`Local`]).
    ///
    /// ```
    /// let c = anysync::Coroutine::local(async { std::rc::Rc::new("local") });
    /// assert_eq!(*c.run(), "local");
    /// ```
    #[track_caller]
    pub fn run(self) -> F::Output {
        bridge::block_on_local(self.future)
    }

    /// Like [`run`](Self::run), giving up after `timeout` (the future is dropped).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let slow = anysync::Coroutine::local(std::future::pending::<()>());
    /// assert!(slow.run_timeout(Duration::from_millis(10)).is_err());
    /// ```
    #[track_caller]
    pub fn run_timeout(self, timeout: Duration) -> Result<F::Output, Elapsed> {
        bridge::block_on_local(Timeout::new(self.future, timeout))
    }
}

impl<F: Future, M> Future for Coroutine<F, M> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

impl<F, M> fmt::Debug for Coroutine<F, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coroutine").finish_non_exhaustive()
    }
}
