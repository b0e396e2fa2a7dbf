//! Context managers: [`AsyncContext`] (setup and teardown written once, as async code),
//! entered from blocking code as a [`SyncGuard`] (`.enter().run()`) or from async code as an
//! [`AsyncGuard`] (`.enter().await`); and [`Context`], what `#[anysync::context]` returns.

use crate::asyncgen::core::{Core, Exit, Handback, Step, Yielder};
use crate::bridge::{self, Mobility};
use crate::coroutine::{Local, Sendable};
use pin_project_lite::pin_project;
use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture, poll_fn};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};
use std::thread;

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl<E> Sealed for Result<(), E> {}
}

/// What a context's teardown returns, and so what entering it returns: `()` for an infallible
/// context, `Result<(), E>` for one whose setup or teardown can fail.
///
/// A context whose [`Output`](AsyncContext::Output) is `()` enters without `Result` noise
/// (`.enter().run()` is the guard itself); one whose output is `Result<(), E>` enters as
/// `Result<guard, E>`, and its teardown's error comes back from `exit()`.
///
/// Implemented for `()` and `Result<(), E>` only (sealed).
///
/// ```
/// use anysync::ContextOutput;
///
/// // `()`: entering cannot fail, the guard comes as it is.
/// let entered: u8 = <() as ContextOutput>::ok(7);
/// assert_eq!(<() as ContextOutput>::split(entered), Ok(7));
///
/// // `Result<(), E>`: entering gives `Result<guard, E>`.
/// type Fallible = Result<(), String>;
/// let failed: Result<u8, String> = <Fallible as ContextOutput>::err("refused".into());
/// assert_eq!(<Fallible as ContextOutput>::split(failed), Err("refused".to_string()));
/// assert_eq!(Fallible::Err("late".into()).check(), Err("late".to_string()));
/// ```
#[diagnostic::on_unimplemented(
    message = "a context manager's body must return `()` or `Result<(), E>`, not `{Self}`",
    label = "the body returns `{Self}`",
    note = "the value for the caller's block is handed out with `yield_!`"
)]
pub trait ContextOutput: sealed::Sealed + Sized {
    /// The error entering and exiting can return: [`Infallible`] for `()`, `E` for
    /// `Result<(), E>`.
    type Error;
    /// What entering returns when it gives a `G` on success: `G` itself for `()`,
    /// `Result<G, E>` for `Result<(), E>`.
    type Entered<G>;

    /// Entering succeeded with `value`.
    fn ok<G>(value: G) -> Self::Entered<G>;
    /// Entering failed with `error`.
    fn err<G>(error: Self::Error) -> Self::Entered<G>;
    /// Whether entering succeeded, as a `Result`.
    fn split<G>(entered: Self::Entered<G>) -> Result<G, Self::Error>;
    /// Whether a teardown (or a body that returned early) succeeded, as a `Result`.
    fn check(self) -> Result<(), Self::Error>;
}

impl ContextOutput for () {
    type Error = Infallible;
    type Entered<G> = G;

    fn ok<G>(value: G) -> G {
        value
    }
    fn err<G>(error: Infallible) -> G {
        match error {}
    }
    fn split<G>(entered: G) -> Result<G, Infallible> {
        Ok(entered)
    }
    fn check(self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl<E> ContextOutput for Result<(), E> {
    type Error = E;
    type Entered<G> = Result<G, E>;

    fn ok<G>(value: G) -> Result<G, E> {
        Ok(value)
    }
    fn err<G>(error: E) -> Result<G, E> {
        Err(error)
    }
    fn split<G>(entered: Result<G, E>) -> Result<G, E> {
        entered
    }
    fn check(self) -> Result<(), E> {
        self
    }
}

/// What entering the context `C` returns when it succeeds with a `G`: `G` for a context whose
/// output is `()`, `Result<G, E>` for one whose output is `Result<(), E>`.
pub type EnteredOf<C, G> = <<C as AsyncContext>::Output as ContextOutput>::Entered<G>;

/// The error type of the context `C` ([`Infallible`] if its output is `()`).
type ErrorOf<C> = <<C as AsyncContext>::Output as ContextOutput>::Error;

/// Runs a context's teardown to completion from blocking code; chosen by the mode-specific
/// `.run()` / `.await`, because `Drop` cannot carry the `Send` bounds that lending it to a
/// background thread needs.
type TeardownFn<C> = fn(&mut C, <C as AsyncContext>::Target, Exit) -> <C as AsyncContext>::Output;

/// An async context manager, usable from blocking and async code alike (Python's
/// `AnySyncContextManager`).
///
/// Implement [`setup`](Self::setup) and [`teardown`](Self::teardown) once, with `async fn`;
/// every implementor gets the same surface:
///
/// - blocking code: `let guard = ctx.enter().run();` gives a [`SyncGuard`] that derefs to the
///   target and runs the teardown when it drops: at the end of the block, on early `return`
///   or `?`, and while unwinding from a panic. `guard.exit()` runs it explicitly and returns
///   the teardown's result.
/// - async code: `let guard = ctx.enter().await;` gives an [`AsyncGuard`]; finish with
///   `guard.exit().await`.
/// - scoped: [`scope`](Self::scope) (blocking) and [`scope_async`](Self::scope_async) run a
///   closure between setup and teardown.
///
/// [`Output`](Self::Output) decides whether entering can fail: with `()` the guard comes as it
/// is, with `Result<(), E>` entering returns `Result<guard, E>` and the teardown's error is
/// what `exit()` returns (see [`ContextOutput`]). The teardown learns how the block ended from
/// its [`Exit`] argument.
///
/// `#[anysync::context]` functions return a [`Context`], which implements this trait: one
/// mechanism for both.
///
/// # Example
///
/// A temporary directory, created in setup and removed in teardown:
///
/// ```
/// use anysync::{AsyncContext, Exit};
/// use std::path::PathBuf;
/// use std::{fs, io};
///
/// struct TempDir(&'static str);
///
/// impl AsyncContext for TempDir {
///     type Target = PathBuf;
///     type Output = io::Result<()>;
///
///     async fn setup(&mut self) -> io::Result<PathBuf> {
///         let dir = std::env::temp_dir().join(format!("{}-{}", self.0, std::process::id()));
///         fs::create_dir(&dir)?;
///         Ok(dir)
///     }
///
///     async fn teardown(&mut self, dir: PathBuf, _: Exit) -> io::Result<()> {
///         fs::remove_dir_all(dir)
///     }
/// }
///
/// # fn main() -> io::Result<()> {
/// // Blocking code: the guard removes the directory when it drops.
/// let kept = {
///     let dir = TempDir("anysync-doc-trait").enter().run()?;
///     fs::write(dir.join("notes.txt"), "hi")?;
///     dir.clone()
/// };
/// assert!(!kept.exists());
///
/// // Async code:
/// # anysync::run(async {
/// let dir = TempDir("anysync-doc-trait-async").enter().await?;
/// assert!(dir.is_dir());
/// dir.exit().await?;
/// # io::Result::Ok(())
/// # })?;
/// # Ok(())
/// # }
/// ```
///
/// # `Send`
///
/// The trait puts no `Send` bound on anything. `.run()`, `.await` and the scoped forms need the
/// context, its target and its output to be `Send` (the teardown may have to be lent to a
/// background thread); the setup and teardown *futures* need not be, for blocking use, since
/// they are created where they are polled. For a context that is not `Send`, call
/// [`Enter::local`] after `enter()`.
///
/// For a concrete type, `enter()`'s future is `Send` exactly when what it holds is (so it can
/// be spawned). Generic code cannot state that bound on stable Rust (it would need return type
/// notation); use concrete types where a spawned future must be `Send`.
pub trait AsyncContext: Sized {
    /// What the caller's block gets: the guards deref to it.
    type Target;
    /// What the teardown returns: `()` or `Result<(), E>`; see [`ContextOutput`].
    type Output: ContextOutput;

    /// Enters the context: returns the target, or (for a `Result` output) the error that
    /// makes entering fail; the block and the teardown then do not run.
    fn setup(&mut self) -> impl Future<Output = EnteredOf<Self, Self::Target>>;

    /// Exits the context: gets the target back and how the block ended ([`Exit::Panicked`]
    /// while unwinding from a panic). Runs exactly once for every successful setup.
    fn teardown(&mut self, target: Self::Target, exit: Exit) -> impl Future<Output = Self::Output>;

    /// The name reported if the teardown panics while a panic is already unwinding. Defaults
    /// to the type's name; a `#[anysync::context]` reports its function's name.
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    ///
    /// struct Nothing;
    ///
    /// impl AsyncContext for Nothing {
    ///     type Target = ();
    ///     type Output = ();
    ///     async fn setup(&mut self) {}
    ///     async fn teardown(&mut self, _: (), _: Exit) {}
    /// }
    ///
    /// assert!(Nothing.name().ends_with("Nothing"));
    /// ```
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Starts entering the context: `.run()` it in blocking code for a [`SyncGuard`], `.await`
    /// it in async code for an [`AsyncGuard`].
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    /// use std::sync::{Arc, Mutex};
    ///
    /// /// Records what happened to it.
    /// struct Logged(Arc<Mutex<Vec<String>>>);
    ///
    /// impl AsyncContext for Logged {
    ///     type Target = u32;
    ///     type Output = ();
    ///     async fn setup(&mut self) -> u32 {
    ///         self.0.lock().unwrap().push("setup".into());
    ///         41
    ///     }
    ///     async fn teardown(&mut self, n: u32, exit: Exit) {
    ///         self.0.lock().unwrap().push(format!("teardown {n} {exit:?}"));
    ///     }
    /// }
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// {
    ///     let mut n = Logged(log.clone()).enter().run();
    ///     *n += 1;
    /// }
    /// # anysync::run(async {
    /// let n = Logged(log.clone()).enter().await;
    /// assert_eq!(*n, 41);
    /// n.exit().await;
    /// # });
    /// assert_eq!(
    ///     *log.lock().unwrap(),
    ///     ["setup", "teardown 42 Normal", "setup", "teardown 41 Normal"]
    /// );
    /// ```
    fn enter(self) -> Enter<Self, impl Future<Output = (Self, EnteredOf<Self, Self::Target>)>> {
        Enter::new(self, start::<Self>)
    }

    /// Blocking: enters the context, runs `body` with the target, exits, and returns what
    /// `body` returned; for a `Result` output, the setup's or the teardown's error instead.
    ///
    /// If `body` panics, the teardown runs with [`Exit::Panicked`] and the panic continues.
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    ///
    /// struct Counter(u32);
    ///
    /// impl AsyncContext for Counter {
    ///     type Target = u32;
    ///     type Output = Result<(), String>;
    ///     async fn setup(&mut self) -> Result<u32, String> {
    ///         Ok(self.0)
    ///     }
    ///     async fn teardown(&mut self, n: u32, _: Exit) -> Result<(), String> {
    ///         if n > 10 { Err(format!("{n} is too many")) } else { Ok(()) }
    ///     }
    /// }
    ///
    /// assert_eq!(Counter(1).scope(|n| *n * 2), Ok(2));
    /// assert_eq!(Counter(9).scope(|n| *n += 5), Err("14 is too many".to_string()));
    /// ```
    #[track_caller]
    fn scope<R>(self, body: impl FnOnce(&mut Self::Target) -> R) -> EnteredOf<Self, R>
    where
        Self: Send,
        Self::Target: Send,
        Self::Output: Send,
        ErrorOf<Self>: Send,
    {
        scope_blocking::<Self, R>(self.enter().run(), body)
    }

    /// Async: enters the context, awaits `body` with the target, exits, and returns what
    /// `body` returned; for a `Result` output, the setup's or the teardown's error instead.
    ///
    /// If `body` panics, the teardown runs (blocking) with [`Exit::Panicked`]; if the returned
    /// future is dropped while `body` runs, the teardown runs (blocking) with
    /// [`Exit::Normal`]; see [`AsyncGuard`].
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    ///
    /// struct Buffer;
    ///
    /// impl AsyncContext for Buffer {
    ///     type Target = Vec<u8>;
    ///     type Output = ();
    ///     async fn setup(&mut self) -> Vec<u8> {
    ///         Vec::with_capacity(16)
    ///     }
    ///     async fn teardown(&mut self, buffer: Vec<u8>, _: Exit) {
    ///         assert_eq!(buffer, b"hello");
    ///     }
    /// }
    ///
    /// # anysync::run(async {
    /// let len = Buffer
    ///     .scope_async(async |buffer| {
    ///         tokio::task::yield_now().await;
    ///         buffer.extend_from_slice(b"hello");
    ///         buffer.len()
    ///     })
    ///     .await;
    /// assert_eq!(len, 5);
    /// # });
    /// ```
    fn scope_async<R>(
        self,
        body: impl AsyncFnOnce(&mut Self::Target) -> R,
    ) -> impl Future<Output = EnteredOf<Self, R>>
    where
        Self: Send,
        Self::Target: Send,
        Self::Output: Send,
    {
        scope_awaiting::<Self, _, R>(self.enter(), body)
    }
}

/// The future `enter()` starts: setup, keeping the context for the teardown.
async fn start<C: AsyncContext>(mut context: C) -> (C, EnteredOf<C, C::Target>) {
    let entered = context.setup().await;
    (context, entered)
}

#[track_caller]
fn scope_blocking<C: AsyncContext, R>(
    entered: EnteredOf<C, SyncGuard<C>>,
    body: impl FnOnce(&mut C::Target) -> R,
) -> EnteredOf<C, R> {
    match C::Output::split(entered) {
        Err(error) => C::Output::err(error),
        Ok(mut guard) => {
            let value = body(&mut guard);
            match guard.exit().check() {
                Ok(()) => C::Output::ok(value),
                Err(error) => C::Output::err(error),
            }
        }
    }
}

async fn scope_awaiting<C, E, R>(
    enter: E,
    body: impl AsyncFnOnce(&mut C::Target) -> R,
) -> EnteredOf<C, R>
where
    C: AsyncContext,
    E: IntoFuture<Output = EnteredOf<C, AsyncGuard<C>>>,
{
    match C::Output::split(enter.await) {
        Err(error) => C::Output::err(error),
        Ok(mut guard) => {
            let value = body(&mut guard).await;
            match guard.exit().await.check() {
                Ok(()) => C::Output::ok(value),
                Err(error) => C::Output::err(error),
            }
        }
    }
}

/// Entering a context: `.run()` it in blocking code for a [`SyncGuard`], `.await` it in async
/// code for an [`AsyncGuard`]. Made by [`AsyncContext::enter`].
///
/// `M` is [`Sendable`] (the default: the context, its target and its output are `Send`, and
/// `.run()` works in every calling context) or [`Local`] (nothing needs to be `Send`; see
/// [`Enter::local`]).
///
/// If setup fails (a `Result` output), entering returns the error and the teardown does not
/// run. A panic in setup propagates to the caller of `.run()` / `.await`.
///
/// ```
/// use anysync::{AsyncContext, Exit};
///
/// struct Answer;
///
/// impl AsyncContext for Answer {
///     type Target = u32;
///     type Output = ();
///     async fn setup(&mut self) -> u32 {
///         42
///     }
///     async fn teardown(&mut self, _: u32, _: Exit) {}
/// }
///
/// let entering = Answer.enter(); // nothing has run yet
/// assert_eq!(*entering.run(), 42);
/// ```
#[must_use = "entering does nothing until you `.run()` it (blocking code) or `.await` it (async code)"]
pub struct Enter<C, Fut, M = Sendable> {
    context: C,
    start: fn(C) -> Fut,
    mode: PhantomData<fn() -> M>,
}

impl<C, Fut, M> Enter<C, Fut, M> {
    pub(crate) fn new(context: C, start: fn(C) -> Fut) -> Self {
        Enter {
            context,
            start,
            mode: PhantomData,
        }
    }
}

impl<C, Fut> Enter<C, Fut> {
    /// Switches to [`Local`] mode, for a context that is not `Send`: nothing is ever moved to
    /// another thread, so `.run()` (and a guard's blocking teardown) works where the calling
    /// thread may block: plain threads, multi_thread runtimes, nested calls, and outside the
    /// scheduler of a current_thread runtime. Inside a current_thread runtime's tasks or a
    /// `LocalSet` it panics with advice; `.await` works everywhere.
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    /// use std::rc::Rc;
    ///
    /// struct Shared(Rc<u32>);
    ///
    /// impl AsyncContext for Shared {
    ///     type Target = Rc<u32>;
    ///     type Output = ();
    ///     async fn setup(&mut self) -> Rc<u32> {
    ///         Rc::clone(&self.0)
    ///     }
    ///     async fn teardown(&mut self, _: Rc<u32>, _: Exit) {}
    /// }
    ///
    /// let shared = Rc::new(5);
    /// let guard = Shared(shared.clone()).enter().local().run();
    /// assert_eq!(Rc::strong_count(&shared), 3);
    /// drop(guard);
    /// assert_eq!(Rc::strong_count(&shared), 1);
    /// ```
    pub fn local(self) -> Enter<C, Fut, Local> {
        Enter::new(self.context, self.start)
    }
}

impl<C, Fut> Enter<C, Fut>
where
    C: AsyncContext + Send,
    C::Target: Send,
    C::Output: Send,
    ErrorOf<C>: Send,
    Fut: Future<Output = (C, EnteredOf<C, C::Target>)>,
{
    /// Blocks until setup is done and returns the [`SyncGuard`] (for a `Result` output,
    /// `Ok(guard)` or setup's error). Works in every calling context, like
    /// [`Coroutine::run`](crate::Coroutine::run); the setup future is created where it is
    /// polled, so it need not be `Send`.
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    ///
    /// struct Refused;
    ///
    /// impl AsyncContext for Refused {
    ///     type Target = ();
    ///     type Output = Result<(), &'static str>;
    ///     async fn setup(&mut self) -> Result<(), &'static str> {
    ///         Err("no")
    ///     }
    ///     async fn teardown(&mut self, _: (), _: Exit) -> Result<(), &'static str> {
    ///         unreachable!("setup failed: there is nothing to tear down")
    ///     }
    /// }
    ///
    /// assert_eq!(Refused.enter().run().err(), Some("no"));
    /// ```
    #[track_caller]
    pub fn run(self) -> EnteredOf<C, SyncGuard<C>> {
        let Enter { mut context, .. } = self;
        // Setup runs directly rather than through `start`, and borrows the context instead of
        // moving it through the future and back (copies of a just-written struct stall).
        let entered = bridge::block_on_with(
            || async { C::Output::split(context.setup().await) },
            Mobility::send(),
        );
        SyncGuard::entered(context, entered, teardown_send::<C>)
    }
}

impl<C, Fut> IntoFuture for Enter<C, Fut>
where
    C: AsyncContext + Send,
    C::Target: Send,
    C::Output: Send,
    Fut: Future<Output = (C, EnteredOf<C, C::Target>)>,
{
    type Output = EnteredOf<C, AsyncGuard<C>>;
    type IntoFuture = EnterFuture<C, Fut>;

    fn into_future(self) -> EnterFuture<C, Fut> {
        EnterFuture::new(self, teardown_send::<C>)
    }
}

impl<C, Fut> Enter<C, Fut, Local>
where
    C: AsyncContext,
    Fut: Future<Output = (C, EnteredOf<C, C::Target>)>,
{
    /// Blocks until setup is done and returns the [`SyncGuard`], never moving anything to
    /// another thread; see [`Enter::local`] for where that works.
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// struct Depth(Rc<Cell<u32>>);
    ///
    /// impl AsyncContext for Depth {
    ///     type Target = u32;
    ///     type Output = ();
    ///     async fn setup(&mut self) -> u32 {
    ///         self.0.set(self.0.get() + 1);
    ///         self.0.get()
    ///     }
    ///     async fn teardown(&mut self, _: u32, _: Exit) {
    ///         self.0.set(self.0.get() - 1);
    ///     }
    /// }
    ///
    /// let depth = Rc::new(Cell::new(0));
    /// let outer = Depth(depth.clone()).enter().local().run();
    /// let inner = Depth(depth.clone()).enter().local().run();
    /// assert_eq!((*outer, *inner), (1, 2));
    /// drop(inner);
    /// drop(outer);
    /// assert_eq!(depth.get(), 0);
    /// ```
    #[track_caller]
    pub fn run(self) -> EnteredOf<C, SyncGuard<C>> {
        let Enter { mut context, .. } = self;
        let entered = bridge::block_on_with(|| context.setup(), Mobility::Local);
        SyncGuard::entered(context, C::Output::split(entered), teardown_local::<C>)
    }
}

impl<C, Fut> IntoFuture for Enter<C, Fut, Local>
where
    C: AsyncContext,
    Fut: Future<Output = (C, EnteredOf<C, C::Target>)>,
{
    type Output = EnteredOf<C, AsyncGuard<C>>;
    type IntoFuture = EnterFuture<C, Fut>;

    fn into_future(self) -> EnterFuture<C, Fut> {
        EnterFuture::new(self, teardown_local::<C>)
    }
}

impl<C: fmt::Debug, Fut, M> fmt::Debug for Enter<C, Fut, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enter")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// The teardown of a [`Sendable`] context from blocking code: the maker (the context and the
/// target) may travel to a background thread; the teardown future is created there.
fn teardown_send<C>(context: &mut C, target: C::Target, exit: Exit) -> C::Output
where
    C: AsyncContext + Send,
    C::Target: Send,
    C::Output: Send,
{
    bridge::block_on_with(move || context.teardown(target, exit), Mobility::send())
}

/// The teardown of a [`Local`] context from blocking code, on the calling thread.
fn teardown_local<C: AsyncContext>(context: &mut C, target: C::Target, exit: Exit) -> C::Output {
    bridge::block_on_with(move || context.teardown(target, exit), Mobility::Local)
}

pin_project! {
    /// The future of `.await` on an [`Enter`]: setup, then an [`AsyncGuard`] (for a `Result`
    /// output, `Ok(guard)` or setup's error).
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    ///
    /// struct Answer;
    ///
    /// impl AsyncContext for Answer {
    ///     type Target = u32;
    ///     type Output = ();
    ///     async fn setup(&mut self) -> u32 {
    ///         42
    ///     }
    ///     async fn teardown(&mut self, _: u32, _: Exit) {}
    /// }
    ///
    /// # anysync::run(async {
    /// let entering = std::future::IntoFuture::into_future(Answer.enter());
    /// let answer = entering.await;
    /// assert_eq!(*answer, 42);
    /// answer.exit().await;
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` them"]
    pub struct EnterFuture<C: AsyncContext, Fut> {
        #[pin]
        future: Fut,
        teardown: TeardownFn<C>,
    }
}

impl<C: AsyncContext, Fut> EnterFuture<C, Fut> {
    fn new<M>(enter: Enter<C, Fut, M>, teardown: TeardownFn<C>) -> Self {
        EnterFuture {
            future: (enter.start)(enter.context),
            teardown,
        }
    }
}

impl<C, Fut> Future for EnterFuture<C, Fut>
where
    C: AsyncContext,
    Fut: Future<Output = (C, EnteredOf<C, C::Target>)>,
{
    type Output = EnteredOf<C, AsyncGuard<C>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (context, entered) = ready!(this.future.poll(cx));
        Poll::Ready(match C::Output::split(entered) {
            Ok(target) => C::Output::ok(AsyncGuard(Armed::new(context, target, *this.teardown))),
            Err(error) => C::Output::err(error),
        })
    }
}

impl<C: AsyncContext, Fut> fmt::Debug for EnterFuture<C, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterFuture").finish_non_exhaustive()
    }
}

/// An entered context whose teardown has not run yet: the part the two guards share.
struct Armed<C: AsyncContext> {
    /// `None` once the teardown has started: it runs at most once.
    held: Option<(C, C::Target)>,
    teardown: TeardownFn<C>,
    /// Whether the thread was already unwinding when the guard was made: only a panic that
    /// starts later ends the guard's block with [`Exit::Panicked`] (std's `MutexGuard`
    /// poisoning makes the same distinction).
    panicking: bool,
}

impl<C: AsyncContext> Armed<C> {
    fn new(context: C, target: C::Target, teardown: TeardownFn<C>) -> Self {
        Armed {
            held: Some((context, target)),
            teardown,
            panicking: thread::panicking(),
        }
    }

    fn target(&self) -> &C::Target {
        match &self.held {
            Some((_, target)) => target,
            None => unreachable!("anysync: a context guard used after its exit"),
        }
    }

    fn target_mut(&mut self) -> &mut C::Target {
        match &mut self.held {
            Some((_, target)) => target,
            None => unreachable!("anysync: a context guard used after its exit"),
        }
    }

    fn disarm(&mut self) -> (C, C::Target) {
        self.held
            .take()
            .unwrap_or_else(|| unreachable!("anysync: a context exited twice"))
    }
}

impl<C: AsyncContext> Drop for Armed<C> {
    fn drop(&mut self) {
        let Some((mut context, target)) = self.held.take() else {
            return;
        };
        let unwinding = thread::panicking();
        let exit = if unwinding && !self.panicking {
            Exit::Panicked
        } else {
            Exit::Normal
        };
        let teardown = self.teardown;
        if !unwinding {
            // `drop` cannot return the teardown's error: `exit()` is the way to see it (as
            // with `File`, whose close errors only `sync_all` reports).
            drop(teardown(&mut context, target, exit));
            return;
        }
        // A panic escaping `drop` while unwinding aborts the process: catch it, say so, and let
        // the first panic continue.
        let torn_down = panic::catch_unwind(AssertUnwindSafe(|| {
            drop(teardown(&mut context, target, exit));
        }));
        if let Err(payload) = torn_down {
            eprintln!(
                "anysync: the teardown of context `{}` panicked while unwinding from an earlier \
                 panic ({}); the earlier panic continues",
                context.name(),
                panic_message(&*payload),
            );
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "a non-string payload"
    }
}

/// A context entered from blocking code (`.enter().run()`): derefs to the target, and runs
/// the teardown when dropped.
///
/// The teardown runs exactly once: at [`exit`](SyncGuard::exit), or when the guard drops — at
/// the end of its block, on an early `return` or `?`, and while unwinding from a panic (the
/// teardown then sees [`Exit::Panicked`]). It runs in every calling context `.run()` works
/// in, inside runtimes too.
///
/// - A teardown *error* cannot come out of `drop`: call [`exit`](SyncGuard::exit) to get it
///   (dropping the guard discards it, as dropping a `File` discards close errors).
/// - A teardown that panics while the block is already unwinding from a panic would abort
///   the process if the panic escaped `drop`; it is caught, reported on stderr with the
///   context's [`name`](AsyncContext::name), and the block's panic continues.
///
/// ```
/// use anysync::{AsyncContext, Exit};
/// use std::sync::{Arc, Mutex};
///
/// struct Session(Arc<Mutex<Vec<Exit>>>);
///
/// impl AsyncContext for Session {
///     type Target = String;
///     type Output = ();
///     async fn setup(&mut self) -> String {
///         "session".to_owned()
///     }
///     async fn teardown(&mut self, _: String, exit: Exit) {
///         self.0.lock().unwrap().push(exit);
///     }
/// }
///
/// let exits = Arc::new(Mutex::new(Vec::new()));
/// {
///     let s = Session(exits.clone()).enter().run();
///     assert_eq!(s.len(), 7);
/// } // teardown
/// let _ = std::panic::catch_unwind(|| {
///     let _s = Session(exits.clone()).enter().run();
///     panic!("the block failed");
/// });
/// assert_eq!(*exits.lock().unwrap(), [Exit::Normal, Exit::Panicked]);
/// ```
#[must_use = "if unused, the context exits at once; bind it: `let guard = ...`"]
pub struct SyncGuard<C: AsyncContext>(Armed<C>);

impl<C: AsyncContext> SyncGuard<C> {
    fn entered(
        context: C,
        entered: Result<C::Target, ErrorOf<C>>,
        teardown: TeardownFn<C>,
    ) -> EnteredOf<C, Self> {
        match entered {
            Ok(target) => C::Output::ok(SyncGuard(Armed::new(context, target, teardown))),
            Err(error) => C::Output::err(error),
        }
    }

    /// Runs the teardown now (blocking) with [`Exit::Normal`], and returns its result.
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    ///
    /// struct Flaky;
    ///
    /// impl AsyncContext for Flaky {
    ///     type Target = ();
    ///     type Output = Result<(), String>;
    ///     async fn setup(&mut self) -> Result<(), String> {
    ///         Ok(())
    ///     }
    ///     async fn teardown(&mut self, _: (), _: Exit) -> Result<(), String> {
    ///         Err("could not flush".into())
    ///     }
    /// }
    ///
    /// let guard = Flaky.enter().run().unwrap();
    /// assert_eq!(guard.exit(), Err("could not flush".to_string()));
    /// ```
    pub fn exit(mut self) -> C::Output {
        let (mut context, target) = self.0.disarm();
        (self.0.teardown)(&mut context, target, Exit::Normal)
    }
}

impl<C: AsyncContext> Deref for SyncGuard<C> {
    type Target = C::Target;

    fn deref(&self) -> &C::Target {
        self.0.target()
    }
}

impl<C: AsyncContext> DerefMut for SyncGuard<C> {
    fn deref_mut(&mut self) -> &mut C::Target {
        self.0.target_mut()
    }
}

impl<C: AsyncContext> fmt::Debug for SyncGuard<C>
where
    C::Target: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncGuard")
            .field("target", self.0.target())
            .finish_non_exhaustive()
    }
}

/// A context entered from async code (`.enter().await`): derefs to the target; finish with
/// [`exit().await`](AsyncGuard::exit).
///
/// Dropped without `exit()` (an early `return`, `?`, a panic, or the task being cancelled),
/// the guard still runs the teardown, *blocking*, from its `drop`, as a [`SyncGuard`] does:
/// never silently skipped. Inside a current_thread runtime or a `LocalSet` that lends the
/// teardown to an anysync background thread and blocks this thread until it is done; a
/// teardown that needs *that* runtime to make progress (IO it must wait for on a resource
/// registered there) then cannot finish, so call `exit().await` on every normal path. The
/// teardown sees [`Exit::Panicked`] when the guard drops while unwinding from a panic, and
/// [`Exit::Normal`] otherwise (cancellation included). A [`Local`] context's guard cannot
/// block inside a current_thread runtime or a `LocalSet`: dropping it there panics with
/// advice.
///
/// ```
/// use anysync::{AsyncContext, Exit};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// struct Tracked(Arc<AtomicU32>);
///
/// impl AsyncContext for Tracked {
///     type Target = ();
///     type Output = ();
///     async fn setup(&mut self) {}
///     async fn teardown(&mut self, _: (), _: Exit) {
///         self.0.fetch_add(1, Ordering::SeqCst);
///     }
/// }
///
/// let exits = Arc::new(AtomicU32::new(0));
/// # anysync::run(async {
/// let guard = Tracked(exits.clone()).enter().await;
/// guard.exit().await; // the normal way
///
/// let guard = Tracked(exits.clone()).enter().await;
/// drop(guard); // still torn down, blocking
/// # });
/// assert_eq!(exits.load(Ordering::SeqCst), 2);
/// ```
#[must_use = "if unused, the context exits at once (blocking); bind it: `let guard = ...`"]
pub struct AsyncGuard<C: AsyncContext>(Armed<C>);

impl<C: AsyncContext> AsyncGuard<C> {
    /// Runs the teardown with [`Exit::Normal`] and returns its result.
    ///
    /// If this future is dropped before its first poll, the guard's `drop` runs the teardown
    /// (blocking); once the teardown has started, dropping the future cancels it like any
    /// other future.
    ///
    /// ```
    /// use anysync::{AsyncContext, Exit};
    ///
    /// struct Flaky;
    ///
    /// impl AsyncContext for Flaky {
    ///     type Target = ();
    ///     type Output = Result<(), String>;
    ///     async fn setup(&mut self) -> Result<(), String> {
    ///         Ok(())
    ///     }
    ///     async fn teardown(&mut self, _: (), _: Exit) -> Result<(), String> {
    ///         Err("could not flush".into())
    ///     }
    /// }
    ///
    /// # anysync::run(async {
    /// let guard = Flaky.enter().await.unwrap();
    /// assert_eq!(guard.exit().await, Err("could not flush".to_string()));
    /// # });
    /// ```
    pub async fn exit(mut self) -> C::Output {
        let (mut context, target) = self.0.disarm();
        context.teardown(target, Exit::Normal).await
    }
}

impl<C: AsyncContext> Deref for AsyncGuard<C> {
    type Target = C::Target;

    fn deref(&self) -> &C::Target {
        self.0.target()
    }
}

impl<C: AsyncContext> DerefMut for AsyncGuard<C> {
    fn deref_mut(&mut self) -> &mut C::Target {
        self.0.target_mut()
    }
}

impl<C: AsyncContext> fmt::Debug for AsyncGuard<C>
where
    C::Target: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncGuard")
            .field("target", self.0.target())
            .finish_non_exhaustive()
    }
}

/// A context manager made by `#[anysync::context]`: its body runs setup up to `yield_!(v)`,
/// lends `v` to the caller's block, and runs teardown when the block ends.
///
/// It implements [`AsyncContext`], and has the trait's `enter`, `scope` and `scope_async` as
/// inherent methods too, so callers need no import. `M` is [`Sendable`] (the default) or
/// [`Local`] (`#[anysync::context(?Send)]`, whose `enter()` gives an `Enter<_, _, Local>`).
///
/// The body must reach `yield_!` exactly once:
/// - if it returns before, a `Result` body's `Err` is what entering returns; returning `()`
///   or `Ok(())` without yielding panics, naming the function;
/// - a second `yield_!` panics at exit, naming the function.
///
/// `yield_!(v)` evaluates to `v` again when the block ends (changes the block made through
/// `DerefMut` included), and after it `anysync::exit_status!()` tells the body how the block
/// ended ([`Exit::Normal`], or [`Exit::Panicked`] while unwinding from a panic).
///
/// Creating it runs nothing: the body starts when the context is entered.
///
/// # Example
///
/// ```
/// use anysync::{Exit, exit_status, yield_};
/// use std::sync::{Arc, Mutex};
///
/// #[anysync::context(item = Vec<u32>)]
/// async fn numbers(last: Arc<Mutex<Vec<(Vec<u32>, Exit)>>>) {
///     let list = vec![1, 2]; // setup
///     let list = yield_!(list); // the caller's block runs here
///     last.lock().unwrap().push((list, exit_status!())); // teardown sees the block's changes
/// }
///
/// let last = Arc::new(Mutex::new(Vec::new()));
/// // Blocking code: the guard derefs to the list and tears down when it drops.
/// {
///     let mut list = numbers(last.clone()).enter().run();
///     list.push(3);
/// }
/// assert_eq!(numbers(last.clone()).scope(|list| list.len()), 2);
/// // Async code:
/// # anysync::run(async {
/// let mut list = numbers(last.clone()).enter().await;
/// list.push(4);
/// list.exit().await;
/// # });
/// assert_eq!(
///     *last.lock().unwrap(),
///     [(vec![1, 2, 3], Exit::Normal), (vec![1, 2], Exit::Normal), (vec![1, 2, 4], Exit::Normal)]
/// );
/// ```
///
/// `numbers` returns `Context<impl Future<Output = ()> + Send, Vec<u32>>`: the macro moves
/// the arguments into the body future, and `yield_!(v)` becomes an `.await` on a hidden
/// yielder that hands `v` to the caller and resumes with it (see
/// [`#[anysync::context]`](https://docs.rs/anysync/latest/anysync/attr.context.html)).
#[must_use = "a context does nothing until it is entered: `.enter().run()`, `.enter().await`, `.scope(..)`"]
pub struct Context<F, T, M = Sendable> {
    core: Core<F, T, Handback<T>>,
    mode: PhantomData<fn() -> M>,
}

impl<F, T> Context<F, T>
where
    F: Future,
    F::Output: ContextOutput,
{
    /// Builds a context from a body; used by `#[anysync::context]`. `name` is the function's
    /// name, for error messages.
    #[doc(hidden)]
    pub fn new(name: &'static str, make: impl FnOnce(Yielder<T, Handback<T>>) -> F) -> Self {
        Context {
            core: Core::new(name, make),
            mode: PhantomData,
        }
    }

    /// Starts entering the context: `.run()` it in blocking code for a [`SyncGuard`],
    /// `.await` it in async code for an [`AsyncGuard`]. See [`AsyncContext::enter`].
    ///
    /// ```
    /// use anysync::yield_;
    ///
    /// #[anysync::context(item = String)]
    /// async fn greeting() {
    ///     yield_!(String::from("hello"));
    /// }
    ///
    /// let g = greeting().enter().run();
    /// assert_eq!(*g, "hello");
    /// # anysync::run(async {
    /// let g = greeting().enter().await;
    /// assert_eq!(*g, "hello");
    /// g.exit().await;
    /// # });
    /// ```
    pub fn enter(self) -> Enter<Self, impl Future<Output = (Self, EnteredOf<Self, T>)>> {
        Enter::new(self, start::<Self>)
    }

    /// Blocking: enters, runs `body` with the target, exits; see [`AsyncContext::scope`].
    ///
    /// ```
    /// # use anysync::yield_;
    /// # #[anysync::context(item = String)]
    /// # async fn greeting() {
    /// #     yield_!(String::from("hello"));
    /// # }
    /// assert_eq!(greeting().scope(|g| g.len()), 5);
    /// ```
    #[track_caller]
    pub fn scope<R>(self, body: impl FnOnce(&mut T) -> R) -> EnteredOf<Self, R>
    where
        F: Send,
        T: Send,
        F::Output: Send,
        ErrorOf<Self>: Send,
    {
        scope_blocking::<Self, R>(self.enter().run(), body)
    }

    /// Async: enters, awaits `body` with the target, exits; see [`AsyncContext::scope_async`].
    ///
    /// ```
    /// # use anysync::yield_;
    /// # #[anysync::context(item = String)]
    /// # async fn greeting() {
    /// #     yield_!(String::from("hello"));
    /// # }
    /// # anysync::run(async {
    /// let shout = greeting().scope_async(async |g| g.to_uppercase()).await;
    /// assert_eq!(shout, "HELLO");
    /// # });
    /// ```
    pub fn scope_async<R>(
        self,
        body: impl AsyncFnOnce(&mut T) -> R,
    ) -> impl Future<Output = EnteredOf<Self, R>>
    where
        F: Send,
        T: Send,
        F::Output: Send,
    {
        scope_awaiting::<Self, _, R>(self.enter(), body)
    }
}

impl<F, T> Context<F, T, Local>
where
    F: Future,
    F::Output: ContextOutput,
{
    /// Builds a `!Send` context from a body; used by `#[anysync::context(?Send)]`.
    #[doc(hidden)]
    pub fn local(name: &'static str, make: impl FnOnce(Yielder<T, Handback<T>>) -> F) -> Self {
        Context {
            core: Core::new(name, make),
            mode: PhantomData,
        }
    }

    /// Starts entering the context in [`Local`] mode: `.run()` it where the calling thread may
    /// block (see [`Enter::local`]), `.await` it anywhere.
    ///
    /// ```
    /// use anysync::yield_;
    /// use std::rc::Rc;
    ///
    /// #[anysync::context(item = Rc<u8>, ?Send)]
    /// async fn shared() {
    ///     yield_!(Rc::new(1));
    /// }
    ///
    /// assert_eq!(**shared().enter().run(), 1);
    /// ```
    pub fn enter(self) -> Enter<Self, impl Future<Output = (Self, EnteredOf<Self, T>)>, Local> {
        Enter::new(self, start::<Self>)
    }

    /// Blocking, in [`Local`] mode: enters, runs `body` with the target, exits.
    ///
    /// ```
    /// # use anysync::yield_;
    /// # use std::rc::Rc;
    /// # #[anysync::context(item = Rc<u8>, ?Send)]
    /// # async fn shared() {
    /// #     yield_!(Rc::new(1));
    /// # }
    /// assert_eq!(shared().scope(|n| **n + 1), 2);
    /// ```
    #[track_caller]
    pub fn scope<R>(self, body: impl FnOnce(&mut T) -> R) -> EnteredOf<Self, R> {
        scope_blocking::<Self, R>(self.enter().run(), body)
    }

    /// Async, in [`Local`] mode: enters, awaits `body` with the target, exits.
    ///
    /// ```
    /// # use anysync::yield_;
    /// # use std::rc::Rc;
    /// # #[anysync::context(item = Rc<u8>, ?Send)]
    /// # async fn shared() {
    /// #     yield_!(Rc::new(1));
    /// # }
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let n = rt.block_on(shared().scope_async(async |n| **n + 1));
    /// assert_eq!(n, 2);
    /// ```
    pub fn scope_async<R>(
        self,
        body: impl AsyncFnOnce(&mut T) -> R,
    ) -> impl Future<Output = EnteredOf<Self, R>> {
        scope_awaiting::<Self, _, R>(self.enter(), body)
    }
}

impl<F, T, M> AsyncContext for Context<F, T, M>
where
    F: Future,
    F::Output: ContextOutput,
{
    type Target = T;
    type Output = F::Output;

    // `setup` and `teardown` are `poll_fn`s over the core rather than `async fn`s: no state
    // machine of their own on top of the body's.

    /// Resumes the body until its `yield_!`.
    fn setup(&mut self) -> impl Future<Output = EnteredOf<Self, T>> {
        assert!(
            !self.core.started(),
            "anysync: context `{}` entered twice; enter a fresh one (call the function again)",
            self.core.name()
        );
        poll_fn(|cx| {
            let step = ready!(self.core.poll_resume(cx, &mut None));
            Poll::Ready(match step {
                Some(Step::Yielded(target)) => F::Output::ok(target),
                Some(Step::Complete(output)) => match output.check() {
                    Err(error) => F::Output::err(error),
                    Ok(()) => panic!(
                        "anysync: context `{}` returned without reaching `yield_!`; a \
                         `#[anysync::context]` body must reach `yield_!` exactly once (to fail \
                         setup, return an `Err` before it)",
                        self.core.name()
                    ),
                },
                None => unreachable!("anysync: context `{}` entered twice", self.core.name()),
            })
        })
    }

    /// Hands the target back to the body's `yield_!` and resumes it until it returns.
    fn teardown(&mut self, target: T, exit: Exit) -> impl Future<Output = F::Output> {
        let mut handback = Some((target, exit));
        poll_fn(move |cx| {
            let step = ready!(self.core.poll_resume(cx, &mut handback));
            Poll::Ready(match step {
                Some(Step::Complete(output)) => output,
                Some(Step::Yielded(_)) => panic!(
                    "anysync: context `{}` reached `yield_!` twice; a `#[anysync::context]` \
                     body must reach `yield_!` exactly once",
                    self.core.name()
                ),
                None => unreachable!("anysync: context `{}` exited twice", self.core.name()),
            })
        })
    }

    fn name(&self) -> &str {
        self.core.name()
    }
}

impl<F: Future, T, M> fmt::Debug for Context<F, T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.core.name())
            .field("started", &self.core.started())
            .field("finished", &self.core.finished())
            .finish_non_exhaustive()
    }
}
