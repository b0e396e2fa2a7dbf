//! Where a blocking call is made, told from tokio's public state and our own thread-local facts.

use std::cell::{Cell, RefCell};
use tokio::runtime::{Handle, RuntimeFlavor};

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
    /// `.run()` calls in progress on this thread that entered a runtime context which tokio
    /// alone would not recognise as nested (see [`Depth`]).
    depth: u32,
    role: Role,
    /// Whether `ORIGIN` holds a handle (checked first: it is almost never set).
    has_origin: bool,
}

thread_local! {
    static FACTS: Cell<Facts> = const {
        Cell::new(Facts { depth: 0, role: Role::User, has_origin: false })
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

/// The number of `.run()` calls in progress on this thread (see [`Depth`]).
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
/// is nested (`Depth`) and so never asks for the origin.
pub(crate) fn with_origin_handle<R>(f: impl FnOnce(&Handle) -> R) -> R {
    // Taken without touching `has_origin`: the thread still has its origin, only lent.
    let lent = RestoreOrigin(ORIGIN.with_borrow_mut(Option::take));
    match &lent.0 {
        Some(handle) => f(handle),
        None => unreachable!("anysync: origin fact set without an origin handle"),
    }
}

/// Counts one `.run()` in progress on this thread for as long as it lives, also on unwind.
///
/// Only the paths that poll with a handle tokio would not report as nested need it: a
/// current_thread origin's `Handle::block_on`, and in-place polling with any handle. A
/// `.run()` nested in the plain path sees the global (multi_thread) runtime entered, which
/// `detect` already treats as in place.
pub(crate) struct Depth(());

impl Depth {
    pub(crate) fn enter() -> Self {
        update(|facts| facts.depth += 1);
        Depth(())
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        update(|facts| facts.depth -= 1);
    }
}

/// Where `.run()` was called, and so how it runs.
#[derive(Debug)]
pub(crate) enum Context {
    /// A thread that `unblock` started, outside any `.run()`: poll in place with the handle of
    /// the runtime that called `unblock` (tokio allows `Handle::block_on` there); see
    /// [`with_origin_handle`].
    Origin,
    /// No tokio runtime: poll in place with the global handle.
    Plain,
    /// A multi_thread runtime, or nested inside another `.run()` on this thread: poll in place
    /// through `block_in_place`, which tokio refuses only inside a `LocalSet` here.
    InPlace(Handle),
    /// A current_thread runtime: lend the future to a background thread.
    CurrentThread,
    /// A thread-local's destructor running after tokio's own thread-locals are gone: no
    /// runtime can be entered on this thread any more (tokio panics, and a panic there aborts
    /// the process), so the future is lent to a background thread.
    Exiting,
}

/// Tells where `.run()` was called.
///
/// | caller | how it is told | what `.run()` does |
/// |---|---|---|
/// | a closure running under `anysync::unblock` (not nested in a `.run()`) | our thread-local origin fact | polls in place with the handle of the runtime that called `unblock` (asyncer's `syncify`) |
/// | plain thread, no runtime | `Handle::try_current()` fails | polls in place with the global handle: no hop, no allocation |
/// | multi_thread runtime: task, root future, `spawn_blocking`, `enter()` guard, inside `block_in_place` | flavor is multi_thread | polls in place inside `block_in_place`, so the worker's other tasks move to another thread and the runtime keeps going |
/// | nested: inside a future that `.run()` is driving (any thread, any depth) | tokio reports the global runtime (multi_thread) entered; where the outer `.run()` polled with a current_thread handle, our depth counter says so. Either way `Handle::block_on` entered it, which lets `block_in_place` through | polls in place inside `block_in_place` with the current handle (~60 ns; no thread, no runtime) |
/// | a task of the global runtime (something a `.run()` future spawned) | flavor is multi_thread | as above: `block_in_place` hands the global worker to another thread |
/// | `LocalSet` on a multi_thread runtime | `block_in_place` refuses (silently caught) | lends the future to a background thread; a `?Send` future panics with advice |
/// | current_thread runtime: root future, task, `LocalSet`, `enter()` guard, `spawn_blocking` | flavor is current_thread | lends the future to a background thread, which polls it with the global handle; a `?Send` future polls in place where tokio allows it and otherwise panics with advice |
/// | a thread-local destructor that runs after tokio's (the thread is exiting) | `Handle::try_current()` says tokio's thread-locals are destroyed | lends the future to a background thread, touching no thread-local of ours that has a destructor; a `?Send` future cannot run (the panic that says so aborts, as any panic there does) |
///
/// `Handle::try_current()` alone cannot tell whether blocking is allowed (RUNTIME-FACTS.md:
/// it answers `Ok` both where `Handle::block_on` panics and where it works), and tokio offers
/// no public "may I block here?" query. So the only question asked here is the runtime's
/// flavor, and the answer is confirmed by tokio itself: `block_in_place` either runs our
/// closure or refuses before touching anything. Our own thread-local facts say what tokio cannot: that
/// this thread runs an `unblock` closure for a given runtime (origin), how deep in `.run()`
/// calls it is, and whether it is one of ours (`Role`, for diagnostics).
pub(crate) fn detect() -> Context {
    let facts = FACTS.get();
    let nested = facts.depth > 0;
    if !nested && facts.has_origin {
        return Context::Origin;
    }
    match Handle::try_current() {
        // Entering any runtime here would panic inside a thread-local destructor: an abort.
        Err(error) if error.is_thread_local_destroyed() => Context::Exiting,
        Err(_) => Context::Plain,
        Ok(handle) if nested || handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Context::InPlace(handle)
        }
        // current_thread, and any flavor a later tokio adds: lending is always safe.
        Ok(_) => Context::CurrentThread,
    }
}
