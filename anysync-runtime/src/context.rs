//! Where a blocking call is made, told from tokio's public state and our own thread-local facts.

use std::cell::Cell;
use tokio::runtime::{self, Handle, RuntimeFlavor};

/// Which kind of thread this is, as far as anysync knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A thread anysync did not start.
    User,
    /// A thread of the global runtime (its worker, or its blocking pool).
    Runtime,
    /// One of anysync's background threads (see `background`).
    Pool,
}

/// What this thread knows about itself: a cell per fact, const-initialised and without a
/// destructor, so each read or write is one plain access to thread-local memory (it is
/// touched on every `.run()`), and still works while the thread's destructors run.
struct Facts {
    /// The runtime whose context the innermost future that `.run()` drives on this thread
    /// entered, if any (see [`Driving`]).
    driving: Cell<Option<runtime::Id>>,
    role: Cell<Role>,
    /// The runtime that handed this thread a blocking closure (`anysync::unblock`), if any.
    origin: Cell<Option<runtime::Id>>,
}

thread_local! {
    static FACTS: Facts = const {
        Facts { driving: Cell::new(None), role: Cell::new(Role::User), origin: Cell::new(None) }
    };
}

pub(crate) fn mark_runtime_thread() {
    FACTS.with(|facts| facts.role.set(Role::Runtime));
}

pub(crate) fn mark_pool_thread() {
    FACTS.with(|facts| facts.role.set(Role::Pool));
}

pub(crate) fn role() -> Role {
    FACTS.with(|facts| facts.role.get())
}

/// Whether `.run()` is driving a future on this thread right now (see [`Driving`]).
pub(crate) fn is_driving() -> bool {
    FACTS.with(|facts| facts.driving.get().is_some())
}

/// Puts the previous origin back when dropped, also on unwind.
struct RestoreOrigin(Option<runtime::Id>);

impl Drop for RestoreOrigin {
    fn drop(&mut self) {
        FACTS.with(|facts| facts.origin.set(self.0));
    }
}

/// Runs `f` on this thread as a closure handed over by the runtime `origin`, whose context
/// the caller has entered: a `.run()` inside `f` executes its future on `origin` (asyncer's
/// `syncify`), so resources bound to that runtime keep working. Only while that runtime is
/// the current one: inside a runtime that `f` starts itself, `.run()` is judged by that
/// runtime, as anywhere else.
pub(crate) fn with_origin<R>(origin: Handle, f: impl FnOnce() -> R) -> R {
    let _restore = RestoreOrigin(FACTS.with(|facts| facts.origin.replace(Some(origin.id()))));
    f()
}

/// Marks this thread as driving a future for `.run()` with the runtime `id` entered, for as
/// long as it lives (also on unwind), so that a `.run()` inside that future knows it is
/// nested: tokio would report only "some runtime entered", which a `.run()` called from the
/// caller's own runtime context looks the same as.
pub(crate) struct Driving {
    outer: Option<runtime::Id>,
}

impl Driving {
    #[inline]
    pub(crate) fn enter(id: runtime::Id) -> Self {
        let outer = FACTS.with(|facts| facts.driving.replace(Some(id)));
        Driving { outer }
    }

    /// Whether another future was being driven on this thread when this one started.
    pub(crate) fn is_nested(&self) -> bool {
        self.outer.is_some()
    }
}

impl Drop for Driving {
    #[inline]
    fn drop(&mut self) {
        FACTS.with(|facts| facts.driving.set(self.outer));
    }
}

/// Where `.run()` was called, and so how it runs.
#[derive(Debug)]
pub(crate) enum Context {
    /// A closure that `unblock` runs, outside any `.run()` and in the context of the runtime
    /// that called `unblock` (not one the closure started): poll in place with that runtime's
    /// handle (asyncer's `syncify`); see [`with_origin`]. As for [`Context::Nested`], inside
    /// `block_in_place` (see `bridge::in_place_again`).
    Origin(Handle),
    /// No tokio runtime: poll in place with the global handle.
    Plain,
    /// Inside a future that `.run()` drives on this thread, in the runtime context that
    /// `.run()` entered: poll in place with that handle, inside `block_in_place`, which leaves
    /// the "runtime running" state that a user's own `block_on` of that runtime in between
    /// would have set; where tokio refuses, a `Send` future is lent (see
    /// `bridge::in_place_again`).
    Nested(Handle),
    /// A multi_thread runtime's context (its worker, its root future, a `LocalSet` on it, a
    /// `spawn_blocking` thread, an `enter()` guard). Only a worker that holds its core needs
    /// `block_in_place`; tokio refuses that call inside a `LocalSet`, which nothing public
    /// tells apart from the other places.
    MultiThread,
    /// A current_thread runtime's context: lend the future to a background thread.
    CurrentThread,
    /// A thread-local's destructor running after tokio's own thread-locals are gone: no
    /// runtime can be entered on this thread any more (tokio panics, and a panic there aborts
    /// the process), so the future is lent to a background thread.
    Exiting,
}

/// Tells where `.run()` was called (the table in the README's "Where `.run()` runs" says what
/// each place then does).
///
/// | caller | how it is told |
/// |---|---|
/// | a closure running under `anysync::unblock` (not nested in a `.run()`), in its origin's context | our thread-local origin fact, and the current handle is the origin's |
/// | plain thread, no runtime | `Handle::try_current()` fails |
/// | nested: inside a future that `.run()` is driving on this thread | the current handle is the one that `.run()` entered ([`Driving`]) |
/// | a multi_thread runtime's context: task, root future, `LocalSet`, `spawn_blocking`, `enter()` guard, a task of the global runtime | flavor is multi_thread |
/// | a current_thread runtime's context: root future, task, `LocalSet`, `enter()` guard, `spawn_blocking` | flavor is current_thread |
/// | a thread-local destructor that runs after tokio's (the thread is exiting) | `Handle::try_current()` says tokio's thread-locals are destroyed |
///
/// `Handle::try_current()` alone cannot tell whether blocking is allowed (RUNTIME-FACTS.md:
/// it answers `Ok` both where `Handle::block_on` panics and where it works), and tokio offers
/// no public "may I block here?" query. So the only question asked of tokio here is the
/// runtime's flavor; our own thread-local facts say what tokio cannot: that this thread runs
/// an `unblock` closure for a given runtime (origin), that it is driving a future for
/// `.run()` and with which runtime, and whether it is one of ours (`Role`, for diagnostics).
pub(crate) fn detect() -> Context {
    // Read only where a runtime is entered: the plain path needs none of it.
    let facts = || FACTS.with(|facts| (facts.driving.get(), facts.origin.get()));
    match Handle::try_current() {
        // Entering any runtime here would panic inside a thread-local destructor: an abort.
        Err(error) if error.is_thread_local_destroyed() => Context::Exiting,
        Err(_) => Context::Plain,
        // The runtime our own `.run()` entered, not one the future entered since (a user's
        // `Runtime::block_on` inside it is a calling context like any other).
        Ok(handle) if facts().0 == Some(handle.id()) => Context::Nested(handle),
        // An `unblock` closure, not inside a runtime of its own (whose scheduler could be this
        // thread's: polling in place there would hang on a deferred wake-up).
        Ok(handle) if facts() == (None, Some(handle.id())) => Context::Origin(handle),
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => Context::MultiThread,
        // current_thread, and any flavor a later tokio adds: lending is always safe.
        Ok(_) => Context::CurrentThread,
    }
}
