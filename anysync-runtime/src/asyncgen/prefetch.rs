//! [`Prefetch`]: an iterator pumped ahead on the global runtime into a bounded buffer.

use crate::bridge;
use crate::global;
use futures_core::Stream;
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{self, AssertUnwindSafe};
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
        loop {
            {
                let mut state = lock(&shared.state);
                if state.buffer.len() >= state.capacity {
                    state.producer = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
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
            shared.filled.notify_one();
            if let Some(consumer) = state.consumer.take() {
                consumer.wake();
            }
            if state.ended {
                return Poll::Ready(());
            }
        }
    })
    .await;
}

impl<T> State<T> {
    /// Takes the next item if one is ready; `Err(())` if the consumer must wait.
    fn take(&mut self) -> Result<Option<T>, ()> {
        let state = self;
        if let Some(item) = state.buffer.pop_front() {
            if let Some(producer) = state.producer.take() {
                producer.wake();
            }
            return Ok(Some(item));
        }
        if state.ended {
            if let Some(payload) = state.panic.take() {
                panic::resume_unwind(payload);
            }
            return Ok(None);
        }
        Err(())
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

    fn blocking_next(&mut self) -> Option<T>
    where
        T: Send,
    {
        let mut state = lock(&self.shared.state);
        loop {
            if let Ok(item) = state.take() {
                return item;
            }
            if !bridge::may_park_here() {
                drop(state);
                return bridge::block_on_send(poll_fn(|cx| self.poll_item(cx)));
            }
            // The body runs on the global runtime, which this thread is not driving: waiting
            // on the buffer is all it takes.
            state = self
                .shared
                .filled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = lock(&self.shared.state);
        match state.take() {
            Ok(item) => Poll::Ready(item),
            Err(()) => {
                state.consumer = Some(cx.waker().clone());
                Poll::Pending
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

/// The blocking iterator of a [`Prefetch`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct PrefetchIter<T>(Prefetch<T>);

impl<T: Send> Iterator for PrefetchIter<T> {
    type Item = T;

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
