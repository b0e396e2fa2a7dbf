//! [`Prefetch`]: an iterator pumped ahead on the global runtime into a bounded buffer.

use crate::bridge;
use crate::global;
use crate::stall::{self, Place, Site};
use futures_core::Stream;
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use tokio::task::JoinHandle;

/// An iterator whose body runs ahead on the global runtime, made by
/// [`Iter::prefetch`](crate::Iter::prefetch).
///
/// Blocking code iterates it with `for` (waiting on the buffer, never on a runtime), async
/// code with `.next().await` or as a [`Stream`]. Dropping it stops the body.
///
/// ```
/// # use anysync::yield_;
/// #[anysync::iterator(item = u64)]
/// async fn squares() {
///     for n in 1..=4 {
///         yield_!(n * n);
///     }
/// }
///
/// let mut ahead = squares().prefetch(2);
/// # anysync::run(async {
/// assert_eq!(ahead.next().await, Some(1));
/// # });
/// let rest: Vec<u64> = ahead.into_iter().collect();
/// assert_eq!(rest, [4, 9, 16]);
/// ```
#[must_use = "dropping a `Prefetch` stops its iterator"]
pub struct Prefetch<T> {
    shared: Arc<Shared<T>>,
    pump: JoinHandle<()>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    filled: Condvar,
}

struct State<T> {
    buffer: VecDeque<T>,
    capacity: usize,
    /// The body finished (or panicked, see `panic`): no more items after the buffer.
    ended: bool,
    panic: Option<Box<dyn Any + Send>>,
    consumer: Option<Waker>,
    producer: Option<Waker>,
    /// A blocking consumer is waiting on `filled`: only then is it worth a notify (each one
    /// is a futex call).
    waiting: bool,
}

impl<T: Send + 'static> Prefetch<T> {
    pub(crate) fn spawn<S>(stream: S, n: usize) -> Self
    where
        S: Stream<Item = T> + Send + Unpin + 'static,
    {
        let capacity = n.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buffer: VecDeque::with_capacity(capacity),
                capacity,
                ended: false,
                panic: None,
                consumer: None,
                producer: None,
                waiting: false,
            }),
            filled: Condvar::new(),
        });
        let pump = global::handle().spawn(pump(stream, Arc::clone(&shared)));
        Prefetch { shared, pump }
    }
}

/// Moves items from `stream` into the buffer, waiting while it is full.
async fn pump<S: Stream + Unpin>(mut stream: S, shared: Arc<Shared<S::Item>>) {
    poll_fn(|cx| {
        // Woken at half empty, so this rarely finds the buffer full; it guards the bound
        // against a spurious wake-up.
        if is_full(&mut lock(&shared.state), cx) {
            return Poll::Pending;
        }
        loop {
            let next =
                panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut stream).poll_next(cx)));
            let mut state = lock(&shared.state);
            match next {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Some(item))) => state.buffer.push_back(item),
                Ok(Poll::Ready(None)) => state.ended = true,
                Err(payload) => {
                    state.ended = true;
                    state.panic = Some(payload);
                }
            }
            // One notify per wait: the flag is consumed, so the items pushed before the consumer
            // gets to run cost no further futex calls.
            let notify = std::mem::take(&mut state.waiting);
            let consumer = state.consumer.take();
            let ended = state.ended;
            let full = !ended && is_full(&mut state, cx);
            // Wake after unlocking: a woken consumer would otherwise find the lock taken.
            drop(state);
            if notify {
                shared.filled.notify_one();
            }
            if let Some(consumer) = consumer {
                consumer.wake();
            }
            if ended {
                return Poll::Ready(());
            }
            if full {
                return Poll::Pending;
            }
        }
    })
    .await;
}

/// Whether the buffer is full; if so, the producer's waker is left for the consumer.
fn is_full<T>(state: &mut State<T>, cx: &mut Context<'_>) -> bool {
    let full = state.buffer.len() >= state.capacity;
    if full {
        state.producer = Some(cx.waker().clone());
    }
    full
}

/// What the consumer finds in the buffer.
enum Taken<T> {
    /// An item, and the producer to wake (once the buffer is half empty: waking it for every
    /// item would trade items one at a time).
    Item(T, Option<Waker>),
    /// The body ended, possibly by panicking.
    End(Option<Box<dyn Any + Send>>),
    Empty,
}

impl<T> State<T> {
    fn take(&mut self) -> Taken<T> {
        if let Some(item) = self.buffer.pop_front() {
            let refill = self.buffer.len() <= self.capacity / 2;
            let producer = if refill { self.producer.take() } else { None };
            return Taken::Item(item, producer);
        }
        if self.ended {
            return Taken::End(self.panic.take());
        }
        Taken::Empty
    }
}

/// Finishes a `take` outside the lock: wakes the producer, resumes the body's panic.
fn deliver<T>(taken: Taken<T>) -> Option<T> {
    match taken {
        Taken::Item(item, producer) => {
            if let Some(producer) = producer {
                producer.wake();
            }
            Some(item)
        }
        Taken::End(Some(payload)) => panic::resume_unwind(payload),
        Taken::End(None) => None,
        Taken::Empty => unreachable!("anysync: delivered an empty take"),
    }
}

impl<T> Prefetch<T> {
    /// The next item: `.await` it in async code, `.run()` it in blocking code.
    ///
    /// ```
    /// # use anysync::yield_;
    /// # #[anysync::iterator(item = u8)]
    /// # async fn one() { yield_!(1); }
    /// let mut it = one().prefetch(4);
    /// assert_eq!(it.next().run(), Some(1));
    /// assert_eq!(it.next().run(), None);
    /// ```
    #[allow(clippy::should_implement_trait)] // `.await` or `.run()` it: not `Iterator::next`
    pub fn next(&mut self) -> PrefetchNext<'_, T> {
        PrefetchNext { prefetch: self }
    }

    #[track_caller]
    fn blocking_next(&mut self) -> Option<T>
    where
        T: Send,
    {
        let caller = Location::caller();
        // Watched by the stall diagnosis from the first time this thread must wait.
        let mut watch: Option<Option<stall::Watch>> = None;
        let mut state = lock(&self.shared.state);
        loop {
            match state.take() {
                Taken::Empty => {}
                taken => {
                    drop(state);
                    return deliver(taken);
                }
            }
            if !bridge::may_park_here() {
                drop(state);
                return bridge::block_on_send(poll_fn(|cx| self.poll_item(cx)));
            }
            if watch.is_none() {
                watch = Some(stall::Watch::start(Site::new(caller, Place::Prefetch)));
            }
            // The body runs on the global runtime, which this thread is not driving: waiting
            // on the buffer is all it takes.
            state.waiting = true;
            state = self
                .shared
                .filled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting = false;
        }
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = lock(&self.shared.state);
        match state.take() {
            Taken::Empty => {
                state.consumer = Some(cx.waker().clone());
                Poll::Pending
            }
            taken => {
                drop(state);
                Poll::Ready(deliver(taken))
            }
        }
    }
}

/// The future of [`Prefetch::next`]; [`run`](PrefetchNext::run) waits for it in blocking code.
#[must_use = "futures do nothing unless you `.await` or `.run()` them"]
pub struct PrefetchNext<'a, T> {
    prefetch: &'a mut Prefetch<T>,
}

impl<T: Send> PrefetchNext<'_, T> {
    /// Blocks until the next item is buffered (or the body ends).
    ///
    /// ```
    /// # use anysync::yield_;
    /// # #[anysync::iterator(item = u8)]
    /// # async fn one() { yield_!(7); }
    /// assert_eq!(one().prefetch(1).next().run(), Some(7));
    /// ```
    pub fn run(self) -> Option<T> {
        self.prefetch.blocking_next()
    }
}

impl<T> Future for PrefetchNext<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().prefetch.poll_item(cx)
    }
}

impl<T> Stream for Prefetch<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_item(cx)
    }
}

impl<T: Send> IntoIterator for Prefetch<T> {
    type Item = T;
    type IntoIter = PrefetchIter<T>;

    fn into_iter(self) -> PrefetchIter<T> {
        PrefetchIter(self)
    }
}

/// `for item in &mut prefetched`: iterate, `break`, and carry on later with what is left.
impl<'a, T: Send> IntoIterator for &'a mut Prefetch<T> {
    type Item = T;
    type IntoIter = PrefetchIterMut<'a, T>;

    fn into_iter(self) -> PrefetchIterMut<'a, T> {
        PrefetchIterMut(self)
    }
}

/// The blocking iterator of a borrowed [`Prefetch`] (`for item in &mut prefetched`).
///
/// ```
/// let mut ahead = anysync::iter(futures::stream::iter(1..=5)).prefetch(2);
/// for n in &mut ahead {
///     if n == 2 {
///         break;
///     }
/// }
/// let rest: Vec<u32> = ahead.into_iter().collect();
/// assert_eq!(rest, [3, 4, 5]);
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct PrefetchIterMut<'a, T>(&'a mut Prefetch<T>);

impl<T: Send> Iterator for PrefetchIterMut<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.0.blocking_next()
    }
}

impl<T> fmt::Debug for PrefetchIterMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefetchIterMut").finish_non_exhaustive()
    }
}

/// The blocking iterator of a [`Prefetch`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct PrefetchIter<T>(Prefetch<T>);

impl<T: Send> Iterator for PrefetchIter<T> {
    type Item = T;

    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.0.blocking_next()
    }
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        // The body lives in the pump task: aborting it drops the body there, on the global
        // runtime. Waiting for that makes the cleanup happen before `drop` returns.
        self.pump.abort();
        let pump = &mut self.pump;
        bridge::block_on_send(async move { drop(pump.await) });
    }
}

impl<T> fmt::Debug for Prefetch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefetch").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for PrefetchIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefetchIter").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
