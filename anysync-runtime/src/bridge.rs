//! The blocking bridge: drives a future to completion from synchronous code, wherever that is.

use crate::context::{self, Context, Driving, Role};
use crate::global;
use crate::raw::handoff;
use crate::span;
use crate::stall::{self, Place, Site};
use std::cell::Cell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location, PanicHookInfo};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Once, OnceLock};
use std::task::{self, Poll, Wake, Waker};
use std::thread::{self, Thread};
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
///
/// Two rules hold on every path. The future is driven with the global runtime's handle, so
/// what it spawns or registers lives there whatever the calling context (except inside an
/// `unblock` or `Pool` closure and a `.run()` nested in one, where the origin runtime is used
/// on purpose; a future lent from there, in the odd place where tokio refuses
/// `block_in_place`, runs on the global runtime); and it is polled by
/// [`drive`], so blocking tokio calls inside it are allowed in every poll. A `Send` future is
/// never given to `block_in_place` where tokio could refuse (its refusal is a panic that user
/// panic hooks would see): where that cannot be ruled out, the future is lent (two odd places
/// excepted, see [`is_internal_panic`]).
#[track_caller]
pub(crate) fn block_on_with<M, F>(make: M, mobility: Mobility<M, F::Output>) -> F::Output
where
    M: FnOnce() -> F,
    F: Future,
{
    let caller = Location::caller();
    match context::detect() {
        Context::Plain => drive(
            global::handle(),
            make(),
            Some(Site::new(caller, Place::Plain)),
        ),
        Context::Nested(handle) => in_place_again(&handle, make, mobility, caller, Place::Nested),
        Context::Origin(handle) => in_place_again(&handle, make, mobility, caller, Place::Origin),
        Context::MultiThread => {
            let mut make = Some(make);
            let lendable = matches!(mobility, Mobility::Send(_));
            // Probing panics (caught), and so may handing a worker over (a user's deferred
            // waker runs first); inside a panic hook any panic aborts. There, lend what may
            // be lent. (Not merely while unwinding: a guard's teardown on a runtime worker
            // must hand the worker over, not park it.)
            if lendable && IN_HOOK.get() {
                return lend(make, mobility, caller, "a panic hook");
            }
            if scheduler_defers_wakeups() {
                // A worker holding its core: `block_in_place` hands the core to another
                // thread, so the runtime keeps going, and never refuses here (tokio 1.54,
                // `maybe_move_runtime`: a worker's scheduler context is always let through).
                // The one other scheduler that defers wake-ups is a current_thread one, with
                // a multi_thread handle entered inside its task: only there could tokio
                // refuse, and the probe's net then catches it.
                let site = Some(Site::new(caller, Place::MultiThread));
                if cfg!(panic = "abort") {
                    return tokio::task::block_in_place(|| {
                        drive(global::handle(), take(&mut make)(), site)
                    });
                }
                return match in_place(global::handle(), &mut make, site) {
                    Ok(output) => output,
                    Err(Refused) => lend(
                        make,
                        mobility,
                        caller,
                        "a current_thread runtime or a `LocalSet`",
                    ),
                };
            }
            if lendable {
                // No core to hand over, and tokio might refuse (a `LocalSet`): lend.
                return lend(make, mobility, caller, OFF_WORKER);
            }
            // Only in place can this future run: ask tokio, whose refusal is the one panic
            // that `is_internal_panic` recognises.
            let site = Some(Site::new(caller, Place::MultiThreadOffWorker));
            match in_place(global::handle(), &mut make, site) {
                Ok(output) => output,
                Err(Refused) => lend(make, mobility, caller, "a `LocalSet`"),
            }
        }
        Context::CurrentThread => {
            // Tokio allows in-place blocking on a current_thread runtime only outside its
            // scheduler (an `enter()` guard, `spawn_blocking`), where no wake-up is deferred
            // to a scheduler: elsewhere, asking would only earn a refusal. Only on the
            // scheduler does this call block the runtime, which is what the warning is about.
            let on_scheduler = scheduler_defers_wakeups();
            if on_scheduler && !context::is_driving() && context::role() == Role::User {
                warn_blocking(caller);
            }
            let mut make = Some(make);
            let site = Some(Site::new(caller, Place::CurrentThreadEntered));
            if !matches!(mobility, Mobility::Send(_))
                && !on_scheduler
                && let Ok(output) = in_place(global::handle(), &mut make, site)
            {
                return output;
            }
            // A `LocalSet` on a current_thread runtime looks the same as its scheduler.
            lend(
                make,
                mobility,
                caller,
                "a current_thread runtime or a `LocalSet`",
            )
        }
        // Only `Send` work can complete here; `lend` touches no thread-local of ours with a
        // destructor (none was read to get here). With the `tracing` feature,
        // `span::Caller::capture` reads tracing's, which falls back to no subscriber once they
        // are gone.
        Context::Exiting => lend(Some(make), mobility, caller, EXITING),
    }
}

/// Where a multi_thread runtime's context is entered on a thread that holds no worker core,
/// in the stall notice of the `.run()`s lent from there.
const OFF_WORKER: &str = "a multi_thread runtime's context away from its workers (its root \
                          future, `spawn_blocking`, an `enter()` guard) or a `LocalSet`";

/// Polls in place with `handle`, the runtime that this thread's `.run()` or `unblock` closure
/// already has entered ([`Context::Nested`], [`Context::Origin`]).
///
/// There, tokio counts the thread as running a runtime only if user code in between blocked
/// on that same runtime (`Handle::current().block_on(..)` inside a `.run()` future or an
/// `unblock` closure), and then refuses blocking tokio calls inside this future too. So the
/// future is polled inside `block_in_place`, which leaves that state where tokio allows it
/// (nowhere else is there anything to leave: it then only calls the closure). It refuses only
/// where that user `block_on` polls a `LocalSet`, or the user entered this runtime's handle
/// inside a current_thread runtime's task: places where a `.run()` lends, and so does this
/// one then (a `?Send` future is then polled in place without `block_in_place`, where tokio
/// refuses blocking calls inside it).
fn in_place_again<M, F>(
    handle: &Handle,
    make: M,
    mobility: Mobility<M, F::Output>,
    caller: &'static Location<'static>,
    place: Place,
) -> F::Output
where
    M: FnOnce() -> F,
    F: Future,
{
    // Where a refusal would abort (see `in_place`), poll without asking, as `drive` alone.
    if cfg!(panic = "abort") || IN_HOOK.get() || thread::panicking() {
        return drive(handle, make(), Some(Site::new(caller, place)));
    }
    let mut make = Some(make);
    match in_place(handle, &mut make, Some(Site::new(caller, place))) {
        Ok(output) => output,
        Err(Refused) if matches!(mobility, Mobility::Send(_)) => lend(
            make,
            mobility,
            caller,
            "a current_thread runtime or a `LocalSet`",
        ),
        Err(Refused) => drive(handle, take(&mut make)(), Some(Site::new(caller, place))),
    }
}

/// Where [`Context::Exiting`] is, in the `?Send` advice.
pub(crate) const EXITING: &str = "a thread-local destructor that runs after tokio's own";

fn take<M>(make: &mut Option<M>) -> M {
    make.take()
        .unwrap_or_else(|| unreachable!("anysync: work ran twice"))
}

/// Whether the calling thread may wait on a std primitive for work done on the global
/// runtime. Not in a multi_thread runtime's context (on a worker that may be the global
/// runtime's own, whose work would then never run): there, wait with [`block_on_send`],
/// which hands the worker over first.
pub(crate) fn may_park_here() -> bool {
    !matches!(context::detect(), Context::MultiThread)
}

/// What a background thread runs for lent work. The caller's wait is watched from here: it
/// lasts as long as the future is pending here.
fn drive_lent<F: Future>(make: impl FnOnce() -> F, site: Site) -> F::Output {
    drive(global::handle(), make(), Some(site))
}

/// Whether a tokio scheduler on this thread defers wake-ups to its next turn: a multi_thread
/// worker that holds its core, or a current_thread runtime's scheduler (root future, tasks,
/// a `LocalSet` it runs). Told without a panic by tokio's own `yield_now`, whose wake-up
/// (`context::defer`, tokio 1.54) is deferred exactly there and made at once everywhere else
/// (a plain thread, a root future of a multi_thread runtime, a `spawn_blocking` thread, a
/// worker inside `block_in_place`, whose core is gone).
fn scheduler_defers_wakeups() -> bool {
    static FLAG: LazyLock<Waker> = LazyLock::new(|| Waker::from(Arc::new(WokenFlag)));
    WOKEN.set(false);
    let mut yielded = pin!(tokio::task::yield_now());
    // The deferred waker, when there is one, fires later and only sets `WOKEN` again.
    let _pending = yielded.as_mut().poll(&mut task::Context::from_waker(&FLAG));
    !WOKEN.get()
}

/// The waker of [`scheduler_defers_wakeups`]: notes that it was woken on this thread.
struct WokenFlag;

impl Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A deferred wake-up may come while the thread exits: nothing to note then.
        let _ = WOKEN.try_with(|woken| woken.set(true));
    }
}

/// Drives `future` to completion on this thread with `handle`'s runtime context entered: what
/// `handle.block_on(future)` does, except that tokio is never told that this thread runs a
/// runtime.
///
/// `Handle::block_on` marks the thread as running a runtime for the whole call, and tokio
/// then refuses every blocking call of its own inside the future (a nested
/// `Handle::block_on`, dropping a `Runtime`, `reqwest::blocking`, `SyncIoBridge`), while a
/// poll made under `Handle::enter` alone allows them. So every poll here is made under
/// `Handle::enter` only, and this thread parks between polls with its own waker: the same
/// future sees the same rules in its first poll and in every later one (timers, I/O and
/// `tokio::spawn` work in all of them).
///
/// Two things of `Handle::block_on` are not done. It polls under tokio's cooperative budget
/// (128 operations on tokio resources per poll, after which they return `Pending` once to
/// make the task yield); here no budget applies, as inside `block_in_place` or
/// `tokio::task::unconstrained`: the future has this thread to itself, so there is nothing to
/// yield to. And it reseeds the thread's RNG, which only `tokio::select!`'s random branch
/// order reads.
///
/// The first poll uses a no-op waker: a future that is ready at once costs no waker at all
/// (measured in `benches/run.rs`); one that is not is polled again with the real waker
/// before this thread parks, so no wake-up is lost (a future must register the waker of its
/// latest poll).
///
/// A future still pending after that second poll is watched by the stall diagnosis (`site`)
/// until it ends; one that is ready by then arms nothing.
fn drive<F: Future>(handle: &Handle, future: F, site: Option<Site>) -> F::Output {
    // Declared before the future, so dropped after it: the future is dropped (also on unwind)
    // inside the runtime context, and still counts as driven while it drops.
    let _runtime = handle.enter();
    let driving = Driving::enter(handle.id());
    if driving.is_nested() {
        // The outer poll's budget is still set on this thread (constrained, if the future
        // entered a runtime of its own with `Handle::block_on`): run unconstrained, or a spent
        // budget would make tokio resources return `Pending` again at every poll.
        return poll_to_end(pin!(tokio::task::unconstrained(future)), &driving, site);
    }
    poll_to_end(pin!(future), &driving, site)
}

/// Polls `future` until it is ready: once with a no-op waker, then with this thread's waker,
/// parking in between.
fn poll_to_end<F: Future>(
    mut future: Pin<&mut F>,
    driving: &Driving,
    mut site: Option<Site>,
) -> F::Output {
    if let Poll::Ready(output) = future
        .as_mut()
        .poll(&mut task::Context::from_waker(Waker::noop()))
    {
        return output;
    }
    let notify = Notify::for_this_thread();
    // A nested loop may take the wake-up meant for the loop it runs inside (they share this
    // thread's `Notify`): when it ends, the outer future is polled again to be sure.
    let _rewake = RewakeOuter(driving.is_nested().then_some(&notify));
    let waker = Waker::from(Arc::clone(&notify));
    let mut cx = task::Context::from_waker(&waker);
    let mut _watch = None;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // About to wait: from now on the wait is watched (once; `None` if the diagnosis is off).
        if let Some(site) = site.take() {
            _watch = stall::Watch::start(site);
        }
        notify.wait();
    }
}

/// Wakes the thread's outer [`poll_to_end`] loop when a nested one ends (also on unwind).
struct RewakeOuter<'a>(Option<&'a Arc<Notify>>);

impl Drop for RewakeOuter<'_> {
    fn drop(&mut self) {
        if let Some(notify) = self.0 {
            notify.woken.store(true, Ordering::Release);
        }
    }
}

/// What [`drive`]'s waker sets: a flag, so that no wake-up is lost whoever else parks or
/// unparks this thread, and the thread to unpark.
struct Notify {
    thread: Thread,
    woken: AtomicBool,
}

impl Notify {
    fn for_this_thread() -> Arc<Notify> {
        thread_local! {
            static NOTIFY: Arc<Notify> = Arc::new(Notify::new());
        }
        // Inside a thread-local destructor that runs after this one, a fresh one does.
        NOTIFY
            .try_with(Arc::clone)
            .unwrap_or_else(|_| Arc::new(Notify::new()))
    }

    fn new() -> Notify {
        Notify {
            thread: thread::current(),
            woken: AtomicBool::new(false),
        }
    }

    /// Parks this thread until the waker has been called since the last `wait`.
    fn wait(&self) {
        while !self.woken.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

impl Wake for Notify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
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
             attribute; for a stream, make it `Send` and use `anysync::iter` instead of \
             `anysync::iter_local`)"
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
    /// Set when the waker of [`scheduler_defers_wakeups`] is woken on this thread.
    static WOKEN: Cell<bool> = const { Cell::new(false) };
}

/// Creates the future with `make` and polls it on this thread with `handle`, inside
/// `block_in_place`: the probe, used only for futures that cannot be lent.
///
/// `block_in_place` panics, before doing anything, where tokio forbids blocking: on a
/// current_thread runtime's scheduler thread and inside a `LocalSet` (away from a
/// multi_thread worker). tokio has no way to ask beforehand, so its refusal is caught and
/// reported as `Refused`, with `make` left in place for another path; a panic from the
/// future itself propagates unchanged. The refusal is a real panic: panic hooks installed
/// after anysync's see it, and can ignore it with [`is_internal_panic`].
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
            drive(handle, take(make)(), site)
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

/// Whether a panic is one that anysync raises and catches itself, so that a panic hook can
/// ignore it.
///
/// There is one such panic: tokio's refusal of `block_in_place`, which `.run()` asks for (and
/// catches) only for a future that cannot move to another thread (`?Send`, or an output that
/// is not `Send`), in the one place where tokio may refuse and nothing public says whether it
/// will: a multi_thread runtime's `LocalSet`, away from a worker thread. `.run()` of a `Send`
/// future causes one only in two odd places: where a multi_thread runtime's handle was
/// entered (`Handle::enter`) inside a current_thread runtime's task, which looks the same as
/// a multi_thread worker; and where code inside a `.run()` future or an `unblock` closure
/// enters the very runtime that `.run()` uses there again, inside a current_thread runtime's
/// task or a `LocalSet` (its own `Handle::current().block_on(..)` around a `LocalSet`, say);
/// a `?Send` future causes one there too, and is then polled in place anyway. Everywhere
/// else, where tokio could refuse, the future is lent to a background thread without asking.
///
/// anysync wraps the process's panic hook when it starts, and that wrapper already hides this
/// panic from the hooks installed before. A hook installed later (an error reporter, a test
/// harness) sees it, usually followed by the panic with anysync's advice that `.run()` then
/// raises (the refused future cannot run there); call this first to skip it.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static CRASHES: AtomicUsize = AtomicUsize::new(0);
///
/// let previous = std::panic::take_hook();
/// std::panic::set_hook(Box::new(move |info| {
///     if anysync::is_internal_panic(info) {
///         return; // caught by anysync: not a crash
///     }
///     CRASHES.fetch_add(1, Ordering::Relaxed);
///     previous(info);
/// }));
///
/// let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
/// tokio::task::LocalSet::new().block_on(&rt, async {
///     // A `?Send` future cannot leave this thread, and tokio refuses to block it here:
///     // `.run()` panics with advice (one crash report), after tokio's refusal (ignored).
///     let local = anysync::Coroutine::local(async { 1 });
///     let advice = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| local.run()));
///     assert!(advice.is_err());
/// });
/// assert_eq!(CRASHES.load(Ordering::Relaxed), 1);
/// # let _ = std::panic::take_hook();
/// ```
pub fn is_internal_panic(info: &PanicHookInfo<'_>) -> bool {
    PROBING.get() && is_refusal(payload_str(info.payload()))
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
/// set later replaces the wrapper (it then sees the refusals of `?Send` probes, which
/// [`is_internal_panic`] recognises; `Send` futures cause none).
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
            if !is_internal_panic(info) {
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
