//! [`Pool`]: a bounded set of threads for blocking closures (asyncio's `run_in_executor` with
//! a `ThreadPoolExecutor(max_workers=n)`).
//!
//! One FIFO queue behind a mutex, and up to `n` threads started on demand that pop from it.
//! A job is a boxed closure that runs the user's closure and stores its outcome in a slot the
//! waiting [`Unblock`] polls. Dropping the waiter while its job is still queued takes the job
//! out of the queue (so its closure is dropped, never run); once running it cannot be stopped.

use crate::context;
use crate::span;
use crate::unblock::{self, CancelToken, Task, Unblock};
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use tokio::runtime::Handle;

/// The name of a [`Pool`]'s threads.
pub(crate) const THREAD_NAME: &str = "anysync-blocking";

/// A bounded pool of threads for blocking closures: at most `n` run at once, the rest wait in
/// FIFO order.
///
/// [`unblock`](crate::unblock) uses the runtime's blocking pool, which grows to hundreds of
/// threads; a `Pool` bounds how much blocking work runs at once (a database that takes four
/// connections, a CPU-heavy step that should not take every core).
///
/// - **Limit.** At most `n` closures run at the same time. Threads start on demand, up to `n`,
///   and stay until the pool is dropped.
/// - **Order.** Closures start in the order they were queued. Inside a runtime,
///   [`Pool::unblock`] queues the closure itself, so that is call order; called outside any
///   runtime, it queues it at the returned future's first poll (as [`unblock`](crate::unblock)
///   does).
/// - **Abandoning.** Dropping the returned [`Unblock`] while its closure is still queued
///   removes it from the queue: it never runs, and what it captured is dropped at once. A
///   closure that is already running finishes; its result is dropped.
/// - **Dropping the pool** does not cancel submitted work: queued closures still run, in
///   order, and their results still reach whoever awaits them. Each thread exits as soon as
///   the pool is gone and the queue is empty, so an idle pool's threads exit when it is
///   dropped. Dropping never blocks.
/// - **Syncify.** Inside a closure, `.run()` executes its future on the runtime that called
///   [`Pool::unblock`] (the global one outside tokio), exactly as with [`unblock`](crate::unblock),
///   and that runtime is entered (`Handle::current()` and `tokio::spawn` work), as in a
///   `spawn_blocking` closure.
/// - **Panics** in a closure reach its awaiter; the thread survives and takes the next job.
///
/// `Pool` is `Send + Sync`: share it with [`Arc`] or a `static` (`LazyLock`).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = anysync::Pool::new(4);
/// // Each call queues its closure at once; at most 4 of them run at the same time.
/// let squares: Vec<_> = (0..16_u64).map(|i| pool.unblock(move || i * i)).collect();
/// let mut total = 0;
/// for square in squares {
///     total += square.await;
/// }
/// assert_eq!(total, 1240);
/// # }
/// ```
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    max_threads: usize,
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool is closed.
    ready: Condvar,
}

struct State {
    queue: VecDeque<Job>,
    /// Threads started and not yet exited.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// The `Pool` was dropped: threads exit once the queue is empty.
    closed: bool,
    next_id: u64,
}

struct Job {
    id: u64,
    run: Box<dyn FnOnce() + Send>,
}

impl Pool {
    /// A pool that runs at most `max_threads` closures at once.
    ///
    /// No thread starts until the first closure is submitted.
    ///
    /// # Panics
    ///
    /// If `max_threads` is zero.
    ///
    /// ```
    /// let pool = anysync::Pool::new(1);
    /// assert_eq!(pool.max_threads(), 1);
    /// ```
    pub fn new(max_threads: usize) -> Self {
        assert!(
            max_threads > 0,
            "anysync: a `Pool` needs at least one thread"
        );
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    closed: false,
                    next_id: 0,
                }),
                ready: Condvar::new(),
                max_threads,
            }),
        }
    }

    /// The most closures this pool runs at once.
    ///
    /// ```
    /// assert_eq!(anysync::Pool::new(4).max_threads(), 4);
    /// ```
    pub fn max_threads(&self) -> usize {
        self.shared.max_threads
    }

    /// Queues `f` to run on one of the pool's threads and returns a future of its result.
    ///
    /// Like [`unblock`](crate::unblock) (same bounds, for the same reasons; panics reach the
    /// awaiter), except that at most [`max_threads`](Pool::max_threads) closures run at once
    /// and a closure still queued when its future is dropped never runs. It works from any
    /// async context, and from blocking code with `.run()`.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() {
    /// let pool = anysync::Pool::new(2);
    /// let name = pool.unblock(|| std::thread::current().name().map(str::to_owned)).await;
    /// assert_eq!(name.as_deref(), Some("anysync-blocking"));
    /// # }
    /// ```
    #[doc(alias("run_in_executor", "asyncify"))]
    pub fn unblock<F, T>(&self, f: F) -> Unblock<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The caller's span follows the closure (feature `tracing`; nothing otherwise).
        let caller = span::Caller::capture();
        match Handle::try_current() {
            Ok(origin) => Unblock::pool(submit(&self.shared, origin, caller, f)),
            // As for `unblock`: outside any runtime, queue the closure at the first poll,
            // which knows which runtime is awaiting (for syncify).
            Err(_) => {
                let shared = Arc::clone(&self.shared);
                Unblock::deferred(Box::new(move || {
                    Task::Pool(submit(&shared, unblock::current_or_global(), caller, f))
                }))
            }
        }
    }

    /// [`Pool::unblock`] for a closure that can stop early; see
    /// [`unblock_cancellable`](crate::unblock_cancellable).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = anysync::Pool::new(1);
    /// let cancelled = pool.unblock_cancellable(|token| token.is_cancelled()).await;
    /// assert!(!cancelled);
    /// # }
    /// ```
    pub fn unblock_cancellable<F, T>(&self, f: F) -> Unblock<T>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let token = CancelToken::new();
        let flag = token.flag();
        let mut task = self.unblock(move || f(token));
        task.set_cancel(flag);
        task
    }
}

/// Queues `f` as a job whose `.run()` calls go back to `origin`.
fn submit<F, T>(shared: &Arc<Shared>, origin: Handle, caller: span::Caller, f: F) -> Waiter<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot = Arc::new(Slot::default());
    let completion = Completion {
        slot: Arc::clone(&slot),
    };
    let run = Box::new(move || {
        // Entered, as in a `spawn_blocking` closure: `Handle::current()` and `tokio::spawn`
        // work, and a nested `.run()` finds the runtime.
        let _entered = origin.enter();
        let result = caller.in_scope(|| {
            panic::catch_unwind(AssertUnwindSafe(|| context::with_origin(origin.clone(), f)))
        });
        completion.complete(result.map_err(Lost::Panicked));
    });
    let id = enqueue(shared, run);
    Waiter {
        slot,
        shared: Arc::clone(shared),
        id,
    }
}

/// Queues a job, starting a thread if none is free and the limit allows; returns its id.
fn enqueue(shared: &Arc<Shared>, run: Box<dyn FnOnce() + Send>) -> u64 {
    let mut state = lock(&shared.state);
    let id = state.next_id;
    state.next_id += 1;
    state.queue.push_back(Job { id, run });
    // Each idle thread will take one queued job; start a thread for the rest. (A closed pool
    // still starts one if it has none left: a job queued at its first poll must run.)
    if state.queue.len() > state.idle && state.threads < shared.max_threads {
        state.threads += 1;
        let serving = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(THREAD_NAME.into())
            .stack_size(crate::config::settings().stack_size)
            .spawn(move || work(&serving));
        if let Err(error) = spawned {
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody could ever run the job: take it back and refuse loudly.
                let job = state.queue.pop_back();
                drop(state);
                drop(job);
                panic!("anysync: a `Pool` cannot start a thread: {error}");
            }
            // The running threads will get to it.
        }
    }
    if state.idle > 0 {
        shared.ready.notify_one();
    }
    id
}

/// A pool thread: runs queued jobs until the pool is closed and the queue is empty.
fn work(shared: &Shared) {
    let mut state = lock(&shared.state);
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            (job.run)();
            state = lock(&shared.state);
        } else if state.closed {
            state.threads -= 1;
            return;
        } else {
            state.idle += 1;
            state = shared
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.idle -= 1;
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.ready.notify_all();
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("Pool")
            .field("max_threads", &self.shared.max_threads)
            .field("threads", &state.threads)
            .field("idle", &state.idle)
            .field("queued", &state.queue.len())
            .finish()
    }
}

/// Why a job produced no value.
pub(crate) enum Lost {
    /// The closure panicked with this payload.
    Panicked(Box<dyn Any + Send>),
    /// The job was dropped without running (only when its waiter removed it).
    Dropped,
}

/// Where a job leaves its outcome for its waiter.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    outcome: Option<Result<T, Lost>>,
    waker: Option<Waker>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                outcome: None,
                waker: None,
            }),
        }
    }
}

/// The job's side of a slot. If the job is dropped without running, the waiter hears so
/// instead of waiting forever.
struct Completion<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Completion<T> {
    fn complete(self, outcome: Result<T, Lost>) {
        let waker = {
            let mut state = lock(&self.slot.state);
            state.outcome = Some(outcome);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.slot.state);
            if state.outcome.is_some() {
                return;
            }
            state.outcome = Some(Err(Lost::Dropped));
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The waiting side of a job: what [`Unblock`] holds for a pool closure.
pub(crate) struct Waiter<T> {
    slot: Arc<Slot<T>>,
    shared: Arc<Shared>,
    id: u64,
}

impl<T> Waiter<T> {
    /// The closure's value, or its panic payload.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Box<dyn Any + Send>>> {
        let mut state = lock(&self.slot.state);
        match state.outcome.take() {
            Some(Ok(value)) => Poll::Ready(Ok(value)),
            Some(Err(Lost::Panicked(payload))) => Poll::Ready(Err(payload)),
            Some(Err(Lost::Dropped)) => {
                drop(state);
                panic!("anysync: a `Pool` dropped a job without running it")
            }
            None => {
                match &mut state.waker {
                    Some(waker) => waker.clone_from(cx.waker()),
                    None => state.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// Gives up on the result: a job still queued is removed (and its closure dropped), a
    /// running one finishes unobserved.
    pub(crate) fn abandon(self) {
        if lock(&self.slot.state).outcome.is_some() {
            return;
        }
        let removed = {
            let mut state = lock(&self.shared.state);
            let position = state.queue.iter().position(|job| job.id == self.id);
            position.and_then(|i| state.queue.remove(i))
        };
        // Dropped outside the lock: the closure's captures may take their time.
        drop(removed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Jobs run outside every lock and catch their panics, so poisoning carries no meaning here.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
