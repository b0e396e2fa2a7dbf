//! Write an API once as `async fn`; call it with `.await` from async code and `.run()` from
//! blocking code, on any thread and in any context.
//!
//! # Example
//!
//! ```
//! #[anysync::coroutine]
//! async fn double(x: u32) -> u32 {
//!     tokio::task::yield_now().await;
//!     x * 2
//! }
//!
//! // Blocking code: a plain thread, a sync trait method, or inside a tokio runtime.
//! assert_eq!(double(21).run(), 42);
//!
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! rt.block_on(async {
//!     // Async code awaits the same function...
//!     assert_eq!(double(1).await, 2);
//!     // ...and sync code called from here can still block on it, where
//!     // `Handle::block_on` would panic with "Cannot start a runtime from within a runtime".
//!     assert_eq!(double(2).run(), 4);
//! });
//! ```
//!
//! # How it works
//!
//! `#[anysync::coroutine]` turns the `async fn` into a plain `fn` returning a [`Coroutine`], a
//! zero-size wrapper around the future the `async fn` would have returned. The example's
//! function becomes, in plain Rust:
//!
//! ```
//! fn double(x: u32) -> anysync::Coroutine<impl Future<Output = u32> + Send> {
//!     anysync::Coroutine::new(async move {
//!         tokio::task::yield_now().await;
//!         x * 2
//!     })
//! }
//! # assert_eq!(double(21).run(), 42);
//! ```
//!
//! [`Coroutine`] implements [`Future`] by polling the inner future directly, so `.await` costs
//! nothing extra. [`Coroutine::run`] looks at where it was called and drives the future there:
//!
//! - **no runtime on this thread, or nested inside another `.run()`**: it polls the future
//!   on the calling thread with the runtime context entered (`Handle::enter`) and parks the
//!   thread between polls. The global runtime is a multi_thread tokio runtime with one
//!   worker, started on first use, whose worker drives timers and IO.
//! - **a multi_thread runtime's worker task**: the same, inside `tokio::task::block_in_place`,
//!   which hands the worker's other tasks to another thread.
//! - **elsewhere inside a runtime** (a current_thread runtime, a `LocalSet`, a multi_thread
//!   runtime's root future or `spawn_blocking` thread): it lends the future to an anysync
//!   background thread and blocks until that thread is done. The future may borrow from the
//!   caller: the caller cannot return, or unwind, before the background thread has finished
//!   with it.
//!
//! Wherever it runs, the future is driven with the global runtime (what it spawns or
//! registers lives there), and tokio never considers its thread to be running a runtime, so
//! blocking tokio calls inside it work in every poll.
//!
//! The README has the full table, and the caveats (blocking a runtime is still blocking it).
//!
//! # Configuration and diagnosis
//!
//! [`Config`] chooses, once, before first use, the global runtime's worker count, thread name
//! and stack size, the background threads' keep-alive, the stall threshold, or an
//! application's own multi_thread runtime to use instead of a global one.
//!
//! A `.run()` whose future is still pending after the stall threshold (10 s by default,
//! `ANYSYNC_STALL_SECS` or [`Config::stall_threshold`]; `0` turns it off) reports it once for
//! that call: "`.run()` at src/db.rs:42:17 is still waiting after 10 s", with the calling
//! context and the causes possible there (the caller's own runtime blocked by this call, or a
//! resource bound to a runtime that is not running). It is a notice, not an error: slow work
//! is legitimate. It goes to stderr, or to `tracing` with the `tracing` feature.
//!
//! # Cargo features
//!
//! - **`tracing`** (off by default): the caller's current `tracing` span and subscriber are
//!   current inside a future that `.run()` lends to a background thread and inside
//!   [`unblock`] and [`Pool`] closures, as they are where the future is polled in place; so
//!   a coroutine's `#[tracing::instrument]` span is a child of the caller's span in every
//!   context. The stall notice becomes a `WARN` event of target `anysync` in the caller's
//!   span. `tokio::task_local!` values are not carried, with or without it (tokio cannot
//!   enumerate them): pass such values in, or set them again inside with `scope`.
//!
//! ```
//! # #[cfg(feature = "tracing")] {
//! # let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry());
//! // With `features = ["tracing"]`:
//! let span = tracing::info_span!("request", id = 7);
//! let _entered = span.enter();
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! rt.block_on(async {
//!     // Lent to a background thread: the caller's span is current there too.
//!     let inside = anysync::run(async { tracing::Span::current().id() });
//!     assert_eq!(inside, span.id());
//!     assert!(inside.is_some());
//! });
//! # }
//! ```
//!
//! # When to pick something else
//!
//! If your code is async all the way down, you don't need this crate: `.await`. If you only
//! ever call from `main`, `Runtime::block_on` is enough. anysync is for libraries whose
//! callers may be either, and for sync code that cannot know where it runs.

#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
// All of anysync's `unsafe` lives in `anysync-runtime/src/raw/`; the compiler checks that.
#![forbid(unsafe_code)]

#[doc(inline)]
pub use anysync_runtime::{
    AsyncContext, AsyncGuard, Blocking, CancelToken, Config, ConfigError, Context, ContextOutput,
    Coroutine, Elapsed, Enter, EnterFuture, EnteredOf, Exit, FromStream, Generator, GeneratorIter,
    IntoIter, ItemOf, Iter, IterOutput, Joined, Local, LocalOutput, Next, Pool, Prefetch,
    PrefetchIter, PrefetchIterMut, PrefetchNext, Resume, RunExt, Sendable, Soon, StreamIter,
    SyncGuard, TaskGroup, UNBLOCK_ITER_BUFFER, Unblock, UnblockIter, UnblockIterNext,
    is_internal_panic, iter, iter_local, run, task_group, unblock, unblock_cancellable,
    unblock_iter,
};

#[doc(inline)]
pub use anysync_runtime::io;

#[doc(inline)]
pub use anysync_macros::{blocking, context, coroutine, generator, iterator};

/// Hands a value out of the body of an [`iterator`], [`generator`] or [`context`] function.
///
/// Those attributes rewrite every `yield_!(value)` in their body; see [`iterator`] for the
/// rules. Anywhere else (outside those bodies, inside a closure, an `async` block or another
/// macro's arguments) `yield_!` is a compile error:
///
/// ```compile_fail
/// fn not_a_generator() {
///     anysync::yield_!(1); // error: `yield_!` can only be used directly in the body of ...
/// }
/// ```
///
/// ```
/// use anysync::yield_;
///
/// #[anysync::iterator(item = &'static str)]
/// async fn greetings() {
///     yield_!("hello");
///     yield_!("world");
/// }
///
/// assert_eq!(greetings().into_iter().collect::<Vec<_>>(), ["hello", "world"]);
/// ```
#[macro_export]
macro_rules! yield_ {
    // Not public API: the attributes call this to resolve the path the user wrote.
    (@__anysync_resolve) => {};
    ($($value:tt)*) => {
        ::core::compile_error!(
            "`yield_!` can only be used directly in the body of an `#[anysync::iterator]`, \
             `#[anysync::generator]` or `#[anysync::context]` function: not outside one, and \
             not inside a closure, an `async` block, a nested fn or another macro's arguments"
        )
    };
}

/// How the caller's block ended, inside the body of a [`context`] function after its
/// `yield_!`: [`Exit::Normal`], or [`Exit::Panicked`] if the block is unwinding from a panic.
///
/// ```
/// use anysync::{Exit, exit_status, yield_};
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// static ROLLED_BACK: AtomicBool = AtomicBool::new(false);
///
/// #[anysync::context(item = ())]
/// async fn transaction() {
///     yield_!(());
///     if exit_status!() == Exit::Panicked {
///         ROLLED_BACK.store(true, Ordering::SeqCst);
///     }
/// }
///
/// let result = std::panic::catch_unwind(|| {
///     let _tx = transaction().enter().run();
///     panic!("the block failed");
/// });
/// assert!(result.is_err());
/// assert!(ROLLED_BACK.load(Ordering::SeqCst));
/// ```
///
/// Anywhere else it is a compile error:
///
/// ```compile_fail
/// let _ = anysync::exit_status!(); // error: only in the body of an #[anysync::context]
/// ```
#[macro_export]
macro_rules! exit_status {
    // Not public API: the attributes call this to resolve the path the user wrote.
    (@__anysync_resolve) => {};
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`exit_status!()` can only be used directly in the body of an \
             `#[anysync::context]` function, after its `yield_!`"
        )
    };
}

/// Items for the code anysync's macros generate. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
