//! The blocking bridge: drives a future to completion from synchronous code, wherever that is.

use crate::context::{self, Context, Depth, Role};
use crate::global;
use crate::raw::handoff;
use crate::span;
use crate::stall::{self, Place, Site};
use std::cell::Cell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};
use std::task::{self, Poll, Waker};
use tokio::runtime::Handle;

/// Whether the work may be lent to a background thread.
pub(crate) enum Mobility<M, T> {
    /// The maker and the output are `Send`: a background thread may create and drive the
    /// future (`None` if no thread could be started). The [`Site`] is the caller's, for the
    /// stall diagnosis there.
    Send(fn(M, Site) -> Option<T>),
    /// The future must be created and polled on the calling thread: it is not `Send`.
    Local,
    /// The future could move, but its output could not come back (it is not `Send`): poll
    /// on the calling thread too.
    LocalOutput,
}

impl<M, F> Mobility<M, F::Output>
where
    M: FnOnce() -> F + Send,
    F: Future,
    F::Output: Send,
{
    pub(crate) fn send() -> Self {
        Mobility::Send(|make, site| {
            // The caller's span follows the work (feature `tracing`; nothing otherwise).
            let caller = span::Caller::capture();
            handoff::lend(move || caller.in_scope(|| drive_lent(make, site))).ok()
        })
    }
}

/// Runs a `Send` future to completion on the calling thread's behalf; see [`context::detect`].
#[track_caller]
pub(crate) fn block_on_send<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    block_on_with(move || future, Mobility::send())
}

/// Runs a future that must stay on this thread to completion, where tokio allows that.
#[track_caller]
pub(crate) fn block_on_local<F: Future>(future: F) -> F::Output {
    block_on_with(move || future, Mobility::Local)
}

/// Runs a `Send` future whose output is not `Send` to completion on this thread, where tokio
/// allows that.
#[track_caller]
pub(crate) fn block_on_local_output<F: Future + Send>(future: F) -> F::Output {
    block_on_with(move || future, Mobility::LocalOutput)
}

/// Creates a future with `make` and runs it to completion on the calling thread's behalf,
/// wherever that is (see [`context::detect`]). The future is created, polled and dropped on
/// one thread: where a background thread must drive it, `make` travels there, not the
/// future, so only `make` and the output need to be `Send`.
#[track_caller]
pub(crate) fn block_on_with<M, F>(make: M, mobility: Mobility<M, F::Output>) -> F::Output
where
    M: FnOnce() -> F,
    F: Future,
{
    let caller = Location::caller();
    match context::detect() {
        // The plain path keeps no count: a nested `.run()` sees the global runtime entered.
        Context::Plain => drive(
            global::handle(),
            make(),
            Some(Site::new(caller, Place::Plain)),
        ),
        Context::Origin => {
            let _depth = Depth::enter();
            context::with_origin_handle(|handle| {
                drive(handle, make(), Some(Site::new(caller, Place::Origin)))
            })
        }
        Context::InPlace(handle) => {
            let _depth = Depth::enter();
            let mut make = Some(make);
            // Probing panics (caught), but inside a panic hook any panic aborts: there, lend
            // what may be lent instead of asking tokio. (Not merely while unwinding: a guard's
            // teardown on a runtime worker must hand the worker over, not park it.)
            if IN_HOOK.get() && matches!(mobility, Mobility::Send(_)) {
                return lend(make, mobility, caller, "a panic hook");
            }
            match in_place(
                &handle,
                &mut make,
                Some(Site::new(caller, Place::MultiThread)),
            ) {
                Ok(output) => output,
                Err(Refused) => lend(make, mobility, caller, "a `LocalSet`"),
            }
        }
        Context::CurrentThread => {
            if context::depth() == 0 && context::role() == Role::User {
                warn_blocking(caller);
            }
            let mut make = Some(make);
            if !matches!(mobility, Mobility::Send(_)) {
                // Tokio allows in-place blocking on a current_thread runtime only outside its
                // scheduler (an `enter()` guard, `spawn_blocking`); the global handle drives it.
                let site = Some(Site::new(caller, Place::CurrentThreadEntered));
                if let Ok(output) = in_place(global::handle(), &mut make, site) {
                    return output;
                }
            }
            lend(make, mobility, caller, "a current_thread runtime")
        }
        // Only `Send` work can complete here; `lend` touches no thread-local of ours with a
        // destructor (only `FACTS`, which has none, was read to get here).
        Context::Exiting => lend(Some(make), mobility, caller, EXITING),
    }
}

/// Where [`Context::Exiting`] is, in the `?Send` advice.
const EXITING: &str = "a thread-local destructor that runs after tokio's own";

/// Whether the calling thread may wait on a std primitive for work done on the global
/// runtime. Not on a multi_thread runtime's worker (it may be the global runtime's own, whose
/// work would then never run) nor inside another `.run()`: there, wait with [`block_on_send`],
/// which hands the worker over first.
pub(crate) fn may_park_here() -> bool {
    !matches!(context::detect(), Context::InPlace(_))
}

/// What a background thread runs for lent work (a nested `.run()` there sees the global
/// runtime entered, as on the plain path). The caller's wait is watched from here: it lasts
/// as long as the future is pending here.
fn drive_lent<F: Future>(make: impl FnOnce() -> F, site: Site) -> F::Output {
    drive(global::handle(), make(), Some(site))
}

/// Drives `future` to completion on this thread with `handle`: what `handle.block_on(future)`
/// does, but a future that is ready at once costs a third of that.
///
/// `Handle::block_on` pays for its set-up before the first poll: it marks the thread as
/// running a runtime, reseeds the thread's RNG (a lock), and makes a waker that unparks this
/// thread. Here the future is first polled once inside the runtime's context only (what
/// `Handle::enter` sets: timers, I/O, `tokio::spawn` all work) with a no-op waker; if it is
/// not ready, `block_on` polls it again with the real waker before parking, so no wake-up is
/// lost (a future must register the waker of its latest poll). What differs in that first
/// poll: tokio does not yet consider the thread to be running a runtime, which only makes a
/// nested `block_in_place` or `Handle::block_on` allowed there; a nested `.run()` works
/// either way. Measured in `benches/run.rs`.
///
/// A future that `block_on` finds pending is watched by the stall diagnosis (`site`) from
/// then on; one that is ready by then arms nothing.
fn drive<F: Future>(handle: &Handle, future: F, site: Option<Site>) -> F::Output {
    let mut future = pin!(future);
    {
        let _runtime = handle.enter();
        let mut cx = task::Context::from_waker(Waker::noop());
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    handle.block_on(stall::Watched::new(future, site.as_ref()))
}

fn lend<M, T>(
    make: Option<M>,
    mobility: Mobility<M, T>,
    caller: &'static Location<'static>,
    place: &'static str,
) -> T {
    let make = make.unwrap_or_else(|| unreachable!("anysync: work lent after it ran"));
    match mobility {
        Mobility::Send(lend) => match lend(make, Site::new(caller, Place::Lent(place))) {
            Some(output) => output,
            None => panic!(
                "anysync: `.run()` at {caller} needs a background thread, and none could be \
                 started (the OS refused to spawn a thread)"
            ),
        },
        // Panicking inside a thread-local destructor aborts the process; this message is
        // printed first, and the README documents the case.
        Mobility::Local | Mobility::LocalOutput if place == EXITING => panic!(
            "anysync: `.run()` at {caller} cannot run inside {place}: this thread is exiting, \
             no runtime can be entered on it any more, and the future or its output is not \
             `Send`, so it cannot move to a background thread. Make both `Send` (drop `?Send` \
             from the attribute), or do this work before the thread exits"
        ),
        Mobility::Local => panic!(
            "anysync: `.run()` at {caller} cannot block inside {place}: the future is not \
             `Send`, so it cannot move to a background thread, and tokio forbids blocking this \
             thread. `.await` it instead, or make the future `Send` (drop `?Send` from the \
             attribute)"
        ),
        Mobility::LocalOutput => panic!(
            "anysync: `.run()` at {caller} cannot block inside {place}: it would have to run \
             the future on a background thread, and the value it returns is not `Send`, so it \
             cannot come back from there. `.await` it instead, or return a `Send` value (an \
             `Arc` for an `Rc`, `Box<dyn Trait + Send>` for a `Box<dyn Trait>`)"
        ),
    }
}

/// Tokio refused to block this thread in place.
struct Refused;

thread_local! {
    /// Set while the panic hook (through our wrapper) runs on this thread.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
    /// Set while `block_in_place` decides whether to run our closure, so that its refusal
    /// (a panic we catch) is not printed by the panic hook.
    static PROBING: Cell<bool> = const { Cell::new(false) };
}

/// Creates the future with `make` and polls it on this thread with `handle`, inside
/// `block_in_place`.
///
/// `block_in_place` panics, before doing anything, exactly where blocking is forbidden: on a
/// current_thread runtime's scheduler thread and inside a `LocalSet`. tokio has no way to ask
/// beforehand, so its refusal is caught and reported as `Refused`, with `make` left in place
/// for another path; a panic from the future itself propagates unchanged.
fn in_place<M, F>(
    handle: &Handle,
    make: &mut Option<M>,
    site: Option<Site>,
) -> Result<F::Output, Refused>
where
    M: FnOnce() -> F,
    F: Future,
{
    if cfg!(panic = "abort") {
        // The refusal cannot be caught: never ask.
        return Err(Refused);
    }
    install_quiet_hook();
    PROBING.set(true);
    let attempt = panic::catch_unwind(AssertUnwindSafe(|| {
        tokio::task::block_in_place(|| {
            PROBING.set(false);
            let make = make
                .take()
                .unwrap_or_else(|| unreachable!("anysync: work ran twice"));
            drive(handle, make(), site)
        })
    }));
    PROBING.set(false);
    match attempt {
        Ok(output) => Ok(output),
        // Only tokio's own refusal is a refusal: a panic from user code that tokio runs first
        // (a deferred waker) propagates like any other.
        Err(payload) if make.is_some() && is_refusal(payload_str(&*payload)) => Err(Refused),
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// The message of tokio's `block_in_place` refusal (tokio 1.54, `maybe_move_runtime`). Should
/// tokio reword it, the refusal is still handled; only the hook stops hiding it.
const TOKIO_REFUSAL: &str = "can call blocking only when running on the multi-threaded runtime";

fn is_refusal(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.contains(TOKIO_REFUSAL))
}

fn payload_str(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}

/// Wraps the process's panic hook once, so that tokio's refusal in [`in_place`] stays silent
/// and a `.run()` inside a hook knows it must not probe. Every other panic reaches the
/// previous hook unchanged. Called when the global runtime starts and before probing; a hook
/// set later replaces the wrapper (refusals are then printed, and a `.run()` inside that hook
/// in a `LocalSet` on a multi_thread runtime aborts, as any panic in a hook does).
pub(crate) fn install_quiet_hook() {
    static INSTALL: Once = Once::new();
    // std panics if a panicking thread touches the hook, which would also poison `INSTALL`:
    // a guard's teardown in a `Drop` can block here while unwinding. Skip; a later call
    // installs it. (Regression test: test_context_trait.rs,
    // `unwinding_teardown_as_the_first_in_place_block_does_not_break_later_runs`.)
    if std::thread::panicking() {
        return;
    }
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !(PROBING.get() && is_refusal(payload_str(info.payload()))) {
                IN_HOOK.set(true);
                previous(info);
                IN_HOOK.set(false);
            }
        }));
    });
}

/// Warns once per process, if `ANYSYNC_WARN_BLOCKING` is set, that `.run()` blocks a thread
/// of a current_thread runtime: the whole runtime stops while the call waits, and a future
/// that needs that runtime never finishes (the stall diagnosis reports such a call later).
fn warn_blocking(caller: &Location<'_>) {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    static WARNED: AtomicBool = AtomicBool::new(false);
    let enabled = *ENABLED.get_or_init(|| {
        std::env::var_os("ANYSYNC_WARN_BLOCKING").is_some_and(|v| !v.is_empty() && v != "0")
    });
    if enabled && !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "anysync: warning: `.run()` at {caller} blocks a current_thread tokio runtime: \
             the whole runtime stops while this call waits, and if the future needs that \
             runtime (a socket, timer or task of it) the call never returns; in async code, \
             `.await` the future instead (shown once, for the first such call; unset \
             ANYSYNC_WARN_BLOCKING to silence)"
        );
    }
}
