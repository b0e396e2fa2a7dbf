//! Where a blocking call is made, told from tokio's public state and our own thread-local facts.

use std::cell::{Cell, RefCell};
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

/// What this thread knows about itself. `Copy` and const-initialised, so reading it is one
/// plain thread-local access: it is read on every `.run()`.
#[derive(Clone, Copy)]
struct Facts {
    /// Futures that `.run()` is driving on this thread right now (see [`Driving`]).
    depth: u32,
    /// The runtime whose context the innermost of them entered.
    driving: Option<runtime::Id>,
    role: Role,
    /// Whether `ORIGIN` holds a handle (checked first: it is almost never set).
    has_origin: bool,
}

thread_local! {
    static FACTS: Cell<Facts> = const {
        Cell::new(Facts { depth: 0, driving: None, role: Role::User, has_origin: false })
    };
    /// The runtime that handed this thread a blocking closure (`anysync::unblock`), if any.
    static ORIGIN: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

fn update(f: impl FnOnce(&mut Facts)) {
    let mut facts = FACTS.get();
    f(&mut facts);
    FACTS.set(facts);
}

pub(crate) fn mark_runtime_thread() {
    update(|facts| facts.role = Role::Runtime);
}

pub(crate) fn mark_pool_thread() {
    update(|facts| facts.role = Role::Pool);
}

pub(crate) fn role() -> Role {
    FACTS.get().role
}

/// The number of futures `.run()` is driving on this thread right now (see [`Driving`]).
pub(crate) fn depth() -> u32 {
    FACTS.get().depth
}

/// Puts `origin` in this thread's origin slot, keeping the `has_origin` fact in step, and
/// returns what was there. `with_borrow_mut`, not `LocalKey::set`/`replace`, which measured
/// as a third of a `.run()` inside an `unblock` closure (they build and drop a whole
/// `RefCell` to assign through).
#[inline]
fn swap_origin(origin: Option<Handle>) -> Option<Handle> {
    update(|facts| facts.has_origin = origin.is_some());
    ORIGIN.with_borrow_mut(|slot| std::mem::replace(slot, origin))
}

/// Puts a handle back in the origin slot when dropped, also on unwind.
struct RestoreOrigin(Option<Handle>);

impl Drop for RestoreOrigin {
    fn drop(&mut self) {
        swap_origin(self.0.take());
    }
}

/// Runs `f` on this thread as a closure handed over by the runtime `origin`: a `.run()`
/// inside `f` executes its future on `origin` (asyncer's `syncify`), so resources bound to
/// that runtime keep working.
pub(crate) fn with_origin<R>(origin: Handle, f: impl FnOnce() -> R) -> R {
    let _restore = RestoreOrigin(swap_origin(Some(origin)));
    f()
}

/// Runs `f` with the origin handle of this thread (see [`with_origin`]), lent rather than
/// cloned: a `.run()` inside an `unblock` closure pays no reference count for it. The handle
/// is out of its slot while `f` runs; nothing reads it then, since every `.run()` inside `f`
/// is nested ([`Driving`]) and so never asks for the origin.
pub(crate) fn with_origin_handle<R>(f: impl FnOnce(&Handle) -> R) -> R {
    // Taken without touching `has_origin`: the thread still has its origin, only lent.
    let lent = RestoreOrigin(ORIGIN.with_borrow_mut(Option::take));
    match &lent.0 {
        Some(handle) => f(handle),
        None => unreachable!("anysync: origin fact set without an origin handle"),
    }
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
        let mut facts = FACTS.get();
        let outer = facts.driving.replace(id);
        facts.depth += 1;
        FACTS.set(facts);
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
        let mut facts = FACTS.get();
        facts.driving = self.outer;
        facts.depth -= 1;
        FACTS.set(facts);
    }
}

/// Where `.run()` was called, and so how it runs.
#[derive(Debug)]
pub(crate) enum Context {
    /// A thread that `unblock` started, outside any `.run()`: poll in place with the handle of
    /// the runtime that called `unblock` (asyncer's `syncify`); see [`with_origin_handle`].
    Origin,
    /// No tokio runtime: poll in place with the global handle.
    Plain,
    /// Inside a future that `.run()` drives on this thread, in the runtime context that
    /// `.run()` entered: poll in place with that handle. Nothing of tokio's marks the thread
    /// as running a runtime there, so this thread may block.
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
/// | a closure running under `anysync::unblock` (not nested in a `.run()`) | our thread-local origin fact |
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
    let facts = FACTS.get();
    if facts.has_origin && facts.driving.is_none() {
        return Context::Origin;
    }
    match Handle::try_current() {
        // Entering any runtime here would panic inside a thread-local destructor: an abort.
        Err(error) if error.is_thread_local_destroyed() => Context::Exiting,
        Err(_) => Context::Plain,
        // The runtime our own `.run()` entered, not one the future entered since (a user's
        // `Runtime::block_on` inside it is a calling context like any other).
        // (Inside an origin's `.run()`, that runtime is judged by its flavor like any other:
        // the origin handle is lent to the outer call, see `with_origin_handle`.)
        Ok(handle) if facts.driving == Some(handle.id()) => Context::Nested(handle),
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => Context::MultiThread,
        // current_thread, and any flavor a later tokio adds: lending is always safe.
        Ok(_) => Context::CurrentThread,
    }
}
