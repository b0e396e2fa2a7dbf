//! The stall diagnosis: a `.run()` still waiting after a threshold says so, once per call.
//!
//! The thread that drives a `.run()` future (the caller's own, or the background thread it was
//! lent to) arms a [`Watch`] the first time the future is still pending after its poll with
//! the real waker, that is just before the thread parks (`bridge::poll_to_end`), and drops it
//! when the future completes. A watchdog thread (`anysync-stall`, started with the first watch)
//! reports each watch that outlives the threshold, once, with the call site, the calling
//! context and what can hold up a call there. It is a notice, not a deadlock verdict: a long
//! download is legitimate, and anysync cannot tell the two apart.
//!
//! Blocking iteration of a `.prefetch(n)` iterator, which waits on its buffer rather than
//! through `.run()`, holds a watch from its first wait.
//!
//! A future that is ready before the thread would park costs nothing here; a watch, two short
//! critical sections and a clock read, is armed only on the way to parking a thread. The
//! threshold is `Config::stall_threshold`, else `ANYSYNC_STALL_SECS`, else 10 s; zero turns the
//! diagnosis off (no watch, no watchdog).
//!
//! The report goes to `tracing` (a `WARN` event of target `anysync`, inside the caller's span,
//! to the caller's subscriber) when the `tracing` feature is on and the caller has a
//! subscriber; to stderr otherwise.

use crate::config;
#[cfg(feature = "tracing")]
use crate::span;
use std::panic::{self, AssertUnwindSafe, Location};
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
    /// A multi_thread runtime's worker: polled in place inside `block_in_place`, with
    /// anysync's runtime.
    MultiThread,
    /// A `?Send` future in a multi_thread runtime's context away from its workers: polled in
    /// place with anysync's runtime.
    MultiThreadOffWorker,
    /// Nested inside another `.run()` on this thread: polled in place, with the runtime the
    /// outer call drives.
    Nested,
    /// A closure run by `unblock` or a `Pool`: polled in place with the runtime that called it.
    Origin,
    /// A `?Send` future on a current_thread runtime's thread outside its scheduler (an
    /// `enter()` guard, `spawn_blocking`): polled in place with anysync's runtime.
    CurrentThreadEntered,
    /// Lent to a background thread from inside the named place (`bridge::lend`'s words).
    Lent(&'static str),
    /// Blocking iteration of a `.prefetch(n)` iterator, waiting for its body's next item.
    Prefetch,
}

impl Place {
    fn context(self) -> String {
        match self {
            Place::Plain => "a thread with no tokio runtime; the future is polled on the calling \
                             thread with anysync's runtime"
                .to_owned(),
            Place::MultiThread => "a multi_thread tokio runtime's worker; the future is \
                                   polled on the calling thread inside `block_in_place`, which \
                                   hands the worker's other tasks to another thread"
                .to_owned(),
            Place::MultiThreadOffWorker => "a multi_thread tokio runtime's context away from its \
                                            workers (its root future, `spawn_blocking`, an \
                                            `enter()` guard); the future is polled on the \
                                            calling thread with anysync's runtime"
                .to_owned(),
            Place::Nested => "nested inside another `.run()` on this thread; the future is \
                              polled on the calling thread with the runtime the outer call \
                              drives"
                .to_owned(),
            Place::Origin => {
                "a closure run by `anysync::unblock` or a `Pool`; the future is polled \
                              on the calling thread with the runtime that called `unblock`"
                    .to_owned()
            }
            Place::CurrentThreadEntered => "a current_thread runtime's context outside its \
                                            scheduler (an `enter()` guard or `spawn_blocking`); \
                                            the future is polled on the calling thread with \
                                            anysync's runtime"
                .to_owned(),
            Place::Prefetch => "blocking iteration of a `.prefetch(n)` iterator; its body runs \
                                as a task on anysync's runtime, and this call waits for its next \
                                item"
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
        const OWN_RUNTIME: &str = "the caller's own runtime is blocked by this call (a \
            current_thread runtime or a `LocalSet` is; a multi_thread runtime's workers keep \
            going): a future that needs it (a socket or timer registered on it, a task spawned on it, a channel \
            fed by one of its tasks) cannot finish while the call blocks it; `.await` the future \
            there instead of `.run()`";
        const ORIGIN_RUNTIME: &str = "the runtime that called `unblock` is not running: if its \
            thread waits for this very closure (`unblock(..).run()` or a blocking wait instead \
            of `.await`), no future that needs that runtime can finish";
        const BUSY: &str = "the runtime that drives the future's sockets and timers is stuck: \
            one of its tasks blocks a worker thread (blocking code outside `unblock` or \
            `block_in_place`), and anysync's runtime has one worker unless configured";
        const LOCK: &str = "the future waits for a lock or a value that the caller holds while \
            it waits";
        const SLOW: &str = "the work is merely slow (a long download, a large query)";
        match self {
            Place::Plain
            | Place::MultiThread
            | Place::MultiThreadOffWorker
            | Place::Nested
            | Place::CurrentThreadEntered
            | Place::Prefetch => &[OTHER_RUNTIME, BUSY, LOCK, SLOW],
            Place::Origin => &[ORIGIN_RUNTIME, OTHER_RUNTIME, BUSY, LOCK, SLOW],
            // An exiting thread has no runtime of its own left to block.
            Place::Lent(place) if place == crate::bridge::EXITING => {
                &[OTHER_RUNTIME, BUSY, LOCK, SLOW]
            }
            Place::Lent(_) => &[OWN_RUNTIME, OTHER_RUNTIME, BUSY, LOCK, SLOW],
        }
    }
}

/// A `.run()` that waits, watched for as long as this lives (its slot in the list of waits).
pub(crate) struct Watch(usize);

impl Watch {
    /// Starts watching a `.run()` that is about to wait; `None` when the diagnosis is off.
    pub(crate) fn start(site: Site) -> Option<Self> {
        let threshold = config::stall_threshold()?;
        // A threshold too large to be a point in time never comes: nothing to watch.
        let deadline = Instant::now().checked_add(threshold)?;
        Some(Watch(watch(site, threshold, deadline)))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let wait = {
            let mut state = lock();
            state.free.push(self.0);
            state.waits[self.0].take()
        };
        // Dropped outside the lock: with the `tracing` feature it holds the caller's span,
        // whose subscriber runs code of its own when the span closes.
        drop(wait);
    }
}

/// One watched `.run()`.
struct Wait {
    site: Site,
    threshold: Duration,
    deadline: Instant,
    reported: bool,
    thread: Thread,
    #[cfg(feature = "tracing")]
    caller: span::Caller,
}

struct State {
    /// The watched calls, by slot; a slot is free while `None` (listed in `free`), so that a
    /// watch is added and removed in constant time however many calls wait.
    waits: Vec<Option<Wait>>,
    free: Vec<usize>,
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
    free: Vec::new(),
    watchdog: Watchdog::NotStarted,
});
static WAKE: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, State> {
    // Nothing panics while holding it; a poisoned lock must not disable `.run()`.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn watch(site: Site, threshold: Duration, deadline: Instant) -> usize {
    let wait = Wait {
        site,
        threshold,
        deadline,
        reported: false,
        thread: thread::current(),
        #[cfg(feature = "tracing")]
        caller: span::Caller::capture(),
    };
    let mut state = lock();
    let id = match state.free.pop() {
        Some(id) => {
            state.waits[id] = Some(wait);
            id
        }
        None => {
            state.waits.push(Some(wait));
            state.waits.len() - 1
        }
    };
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
        for wait in state
            .waits
            .iter_mut()
            .flatten()
            .filter(|wait| !wait.reported)
        {
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
                // A subscriber that panics loses its notice, not the watchdog.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| report.emit()));
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
        // Lent work is watched from the background thread: its caller's thread is elsewhere.
        let thread = match (place, wait.thread.name()) {
            (Place::Lent(_), _) => String::new(),
            (_, Some(name)) => format!(" (thread '{name}')"),
            (_, None) => format!(" (thread {:?})", wait.thread.id()),
        };
        let mut message = format!(
            "anysync: `.run()` at {caller}{thread} is still waiting after {} s (a notice, \
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    /// How many waits are watched for a `.run()` on `line` of this file.
    fn watched_on(line: u32) -> usize {
        lock()
            .waits
            .iter()
            .flatten()
            .filter(|wait| wait.site.caller.file() == file!() && wait.site.caller.line() == line)
            .count()
    }

    /// Pending until another thread has seen its `.run()` watched (then it wakes it), and
    /// ready with what that thread saw.
    struct WaitsToBeWatched {
        line: u32,
        seen: Arc<Mutex<Option<usize>>>,
        started: bool,
    }

    impl Future for WaitsToBeWatched {
        type Output = usize;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            if let Some(seen) = *self.seen.lock().unwrap() {
                return Poll::Ready(seen);
            }
            // The first poll with the real waker (the bridge polls once with a no-op one).
            if !std::mem::replace(&mut self.started, true) {
                return Poll::Pending;
            }
            let (line, seen, waker) = (self.line, Arc::clone(&self.seen), cx.waker().clone());
            std::thread::spawn(move || {
                // The caller arms the watch before it parks, and parks until this wakes it
                // (a watchdog ends the wait, and the test, if it never does).
                let watchdog = Instant::now() + Duration::from_secs(60);
                while watched_on(line) == 0 && Instant::now() < watchdog {
                    std::thread::yield_now();
                }
                *seen.lock().unwrap() = Some(watched_on(line));
                waker.wake();
            });
            Poll::Pending
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "spins until another thread parks: slow under Miri")]
    fn a_run_is_watched_while_it_waits_and_not_before_or_after() {
        if config::stall_threshold().is_none() {
            return; // ANYSYNC_STALL_SECS=0 in this environment: nothing is ever armed.
        }
        let line = line!() + 1;
        let ready = crate::bridge::block_on_send(async { watched_on(line!() - 1) });
        assert_eq!(ready, 0, "a ready future arms nothing");
        assert_eq!(watched_on(line), 0);

        let line = line!() + 1;
        let seen = crate::bridge::block_on_send(WaitsToBeWatched {
            line,
            seen: Arc::default(),
            started: false,
        });
        assert_eq!(seen, 1, "watched once while it waits");
        assert_eq!(watched_on(line), 0, "and no longer once done");
    }
}
