//! The stall diagnosis: a `.run()` still waiting after a threshold says so, once per call.
//!
//! A `.run()` that waits (its future was not ready at the first poll, or it was lent to a
//! background thread) holds a [`Watch`] while it waits. A watchdog thread (`anysync-stall`,
//! started with the first watch) reports each watch that outlives the threshold, once, with the
//! call site, the calling context and what can hold up a call there. It is a notice, not a
//! deadlock verdict: a long download is legitimate, and anysync cannot tell the two apart.
//!
//! Fast paths pay nothing: a future that is ready at its first poll never gets a watch, and a
//! watch is two short critical sections and a clock read around a wait that parks a thread.
//! The threshold is `Config::stall_threshold`, else `ANYSYNC_STALL_SECS`, else 10 s; zero
//! turns the diagnosis off (no watch, no watchdog).
//!
//! The report goes to `tracing` (a `WARN` event of target `anysync`, inside the caller's span,
//! to the caller's subscriber) when the `tracing` feature is on and the caller has a
//! subscriber; to stderr otherwise.

use crate::config;
#[cfg(feature = "tracing")]
use crate::span;
use std::panic::Location;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Where a waiting `.run()` was called, and how it waits there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Site {
    caller: &'static Location<'static>,
    place: Place,
}

impl Site {
    pub(crate) fn new(caller: &'static Location<'static>, place: Place) -> Self {
        Site { caller, place }
    }
}

/// The calling context of a waiting `.run()`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Place {
    /// A thread with no runtime: polled in place with anysync's runtime.
    Plain,
    /// A multi_thread runtime, or nested in another `.run()`: polled in place inside
    /// `block_in_place`.
    InPlace,
    /// A closure run by `unblock` or a `Pool`: polled in place with the runtime that called it.
    Origin,
    /// A `?Send` future on a current_thread runtime's thread outside its scheduler (an
    /// `enter()` guard, `spawn_blocking`): polled in place with anysync's runtime.
    CurrentThreadInPlace,
    /// Lent to a background thread from inside the named place (`bridge::lend`'s words).
    Lent(&'static str),
}

impl Place {
    fn context(self) -> String {
        match self {
            Place::Plain => "a thread with no tokio runtime; the future is polled on the calling \
                             thread with anysync's runtime"
                .to_owned(),
            Place::InPlace => {
                "a multi_thread tokio runtime, or nested inside another `.run()`; the \
                               future is polled on the calling thread inside `block_in_place`, \
                               which hands the worker's other tasks to another thread"
                    .to_owned()
            }
            Place::Origin => {
                "a closure run by `anysync::unblock` or a `Pool`; the future is polled \
                              on the calling thread with the runtime that called `unblock`"
                    .to_owned()
            }
            Place::CurrentThreadInPlace => "a current_thread runtime's context outside its \
                                            scheduler (an `enter()` guard or `spawn_blocking`); \
                                            the future is polled on the calling thread with \
                                            anysync's runtime"
                .to_owned(),
            Place::Lent(place) => format!(
                "{place}; the future was lent to a background thread, and this call blocks the \
                 calling thread until it finishes"
            ),
        }
    }

    fn causes(self) -> &'static [&'static str] {
        const OTHER_RUNTIME: &str = "the future waits on a resource bound to a runtime that is \
            not running: a socket, timer, task or connection made on a current_thread runtime \
            that is idle (nothing calls its `block_on`) or whose thread is blocked, or on a \
            runtime that was dropped; a connection pool that spawned its driver there is one";
        const OWN_RUNTIME: &str = "the caller's own runtime is blocked by this call: a future \
            that needs it (a socket or timer registered on it, a task spawned on it, a channel \
            fed by one of its tasks) cannot finish while the call blocks it; `.await` the future \
            there instead of `.run()`";
        const ORIGIN_RUNTIME: &str = "the runtime that called `unblock` is not running: if its \
            thread waits for this very closure (`unblock(..).run()` or a blocking wait instead \
            of `.await`), no future that needs that runtime can finish";
        const LOCK: &str = "the future waits for a lock or a value that the caller holds while \
            it waits";
        const SLOW: &str = "the work is merely slow (a long download, a large query)";
        match self {
            Place::Plain | Place::InPlace | Place::CurrentThreadInPlace => {
                &[OTHER_RUNTIME, LOCK, SLOW]
            }
            Place::Origin => &[ORIGIN_RUNTIME, OTHER_RUNTIME, LOCK, SLOW],
            Place::Lent(_) => &[OWN_RUNTIME, OTHER_RUNTIME, LOCK, SLOW],
        }
    }
}

/// A `.run()` that waits, watched for as long as this lives.
pub(crate) struct Watch(Option<u64>);

impl Watch {
    /// Starts watching a `.run()` that is about to wait; a no-op when the diagnosis is off.
    pub(crate) fn start(site: Site) -> Self {
        match config::stall_threshold() {
            Some(threshold) => Watch(Some(watch(site, threshold))),
            None => Watch(None),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            let mut state = lock();
            if let Some(at) = state.waits.iter().position(|wait| wait.id == id) {
                state.waits.swap_remove(at);
            }
        }
    }
}

/// One watched `.run()`.
struct Wait {
    id: u64,
    site: Site,
    threshold: Duration,
    deadline: Instant,
    reported: bool,
    thread: Thread,
    #[cfg(feature = "tracing")]
    caller: span::Caller,
}

struct State {
    waits: Vec<Wait>,
    next_id: u64,
    watchdog: Watchdog,
}

/// What the watchdog thread is doing.
#[derive(PartialEq, Eq)]
enum Watchdog {
    NotStarted,
    /// Sleeping until this instant, or until notified (`None`).
    Sleeping(Option<Instant>),
    /// Busy: it will look at the waits again before it sleeps.
    Awake,
    /// It could not be started: no diagnosis.
    Failed,
}

static STATE: Mutex<State> = Mutex::new(State {
    waits: Vec::new(),
    next_id: 0,
    watchdog: Watchdog::NotStarted,
});
static WAKE: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, State> {
    // Nothing panics while holding it; a poisoned lock must not disable `.run()`.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn watch(site: Site, threshold: Duration) -> u64 {
    let thread = thread::current();
    #[cfg(feature = "tracing")]
    let caller = span::Caller::capture();
    let deadline = Instant::now() + threshold;
    let mut state = lock();
    let id = state.next_id;
    state.next_id += 1;
    state.waits.push(Wait {
        id,
        site,
        threshold,
        deadline,
        reported: false,
        thread,
        #[cfg(feature = "tracing")]
        caller,
    });
    match state.watchdog {
        Watchdog::NotStarted => {
            let started = thread::Builder::new()
                .name("anysync-stall".into())
                .stack_size(config::settings().stack_size)
                .spawn(watchdog);
            state.watchdog = match started {
                Ok(_) => Watchdog::Awake,
                Err(_) => Watchdog::Failed,
            };
        }
        Watchdog::Sleeping(until) if until.is_none_or(|until| deadline < until) => {
            WAKE.notify_one();
        }
        _ => {}
    }
    id
}

/// The watchdog thread: reports each wait that outlives its threshold, once.
fn watchdog() {
    let mut state = lock();
    loop {
        state.watchdog = Watchdog::Awake;
        let now = Instant::now();
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        for wait in state.waits.iter_mut().filter(|wait| !wait.reported) {
            if wait.deadline <= now {
                wait.reported = true;
                due.push(Report::of(wait));
            } else {
                next = Some(next.map_or(wait.deadline, |next| next.min(wait.deadline)));
            }
        }
        if !due.is_empty() {
            // Reported outside the lock: a subscriber may take its time, or call `.run()`.
            drop(state);
            for report in due {
                report.emit();
            }
            state = lock();
            continue;
        }
        state.watchdog = Watchdog::Sleeping(next);
        state = match next {
            None => WAKE.wait(state).unwrap_or_else(PoisonError::into_inner),
            Some(until) => {
                let timeout = until.saturating_duration_since(now);
                WAKE.wait_timeout(state, timeout)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}

/// What the watchdog says about one wait.
struct Report {
    message: String,
    #[cfg(feature = "tracing")]
    caller: &'static Location<'static>,
    #[cfg(feature = "tracing")]
    trace: Option<(tracing::Dispatch, tracing::Span)>,
}

impl Report {
    fn of(wait: &Wait) -> Self {
        let Site { caller, place } = wait.site;
        let thread = match wait.thread.name() {
            Some(name) => format!("thread '{name}'"),
            None => format!("thread {:?}", wait.thread.id()),
        };
        let mut message = format!(
            "anysync: `.run()` at {caller} ({thread}) is still waiting after {} s (a notice, \
             not an error: slow work is legitimate; shown once for this call)\n  called from: \
             {}\n  possible causes:",
            wait.threshold.as_secs_f64(),
            place.context(),
        );
        for (n, cause) in place.causes().iter().enumerate() {
            message.push_str(&format!("\n    {}. {cause}", n + 1));
        }
        message.push_str(&format!(
            "\n  (threshold: `anysync::Config::stall_threshold` or {}=SECONDS; 0 turns this off)",
            config::STALL_ENV
        ));
        Report {
            message,
            #[cfg(feature = "tracing")]
            caller,
            #[cfg(feature = "tracing")]
            trace: wait
                .caller
                .subscriber()
                .map(|dispatch| (dispatch.clone(), wait.caller.span().clone())),
        }
    }

    fn emit(self) {
        #[cfg(feature = "tracing")]
        if let Some((dispatch, span)) = &self.trace {
            let (message, caller) = (&self.message, self.caller);
            tracing::dispatcher::with_default(dispatch, || {
                tracing::warn!(target: "anysync", parent: span, call_site = %caller, "{message}");
            });
            return;
        }
        eprintln!("{}", self.message);
    }
}
