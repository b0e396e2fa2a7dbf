//! [`unblock_iter`]: a blocking [`Iterator`] as a [`Stream`], pulled on a worker thread.
//!
//! The iterator and a bounded buffer of its items sit behind one mutex. A *batch* is one
//! closure handed to [`unblock`](crate::unblock) (so it runs where `unblock`'s closures run,
//! under the same syncify origin): it takes the iterator, pulls items into the buffer one by
//! one (waking a waiting consumer as each arrives) until the buffer is full, the iterator
//! ends or panics, or the stream is dropped, and puts the iterator back. The consumer starts a
//! batch when it finds the buffer empty, and again when it has taken the buffer down to half,
//! so a fast iterator is pulled in runs of about half the buffer per worker hand-over, and a
//! slow one (lines from a pipe) still hands each item over as soon as it is pulled.

use crate::unblock::{Unblock, unblock};
use futures_core::Stream;
use futures_core::stream::FusedStream;
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// How many items an [`UnblockIter`] buffers unless told otherwise
/// ([`UnblockIter::buffer`]).
pub const UNBLOCK_ITER_BUFFER: usize = 64;

/// A blocking [`Iterator`] as a [`Stream`] whose items are pulled on a worker thread, so async
/// code can consume it without blocking its runtime (smol's `blocking::Unblock` for
/// iterators; [`unblock`](crate::unblock) for a sequence).
///
/// ```
/// use std::io::BufRead;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let path = std::env::temp_dir().join(format!("anysync-unblock-iter-{}.txt", std::process::id()));
/// std::fs::write(&path, "one\ntwo\nthree\n")?;
///
/// let file = std::io::BufReader::new(std::fs::File::open(&path)?);
/// let mut lines = anysync::unblock_iter(file.lines());
/// let mut seen = Vec::new();
/// while let Some(line) = lines.next().await {
///     seen.push(line?);
/// }
/// assert_eq!(seen, ["one", "two", "three"]);
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
///
/// # Batches and the bound
///
/// Nothing is pulled before the stream is first polled. Then items are pulled in *batches*:
/// one batch is one closure run by [`unblock`](crate::unblock) (on the current runtime's
/// blocking pool, or the global runtime's outside tokio), which calls `next()` repeatedly and
/// stops when the buffer holds [`buffer`](UnblockIter::buffer) items (default
/// [`UNBLOCK_ITER_BUFFER`], 64), the iterator ends or panics, or the stream is dropped. Each
/// item is handed to a waiting consumer as soon as it is pulled, so a slow iterator (lines
/// from a pipe) does not wait for a batch to fill. When the consumer has taken the buffer
/// down to half, the next batch starts. So:
///
/// - at most `buffer` items are pulled ahead of the consumer (plus the one a running `next()`
///   is producing), which bounds the memory and the items a consumer that stops early loses;
/// - one worker thread at a time, and none while the buffer is full or after the end;
/// - the iterator's `next()` always runs on a worker thread, never on the consumer's.
///
/// # Dropping, panics, and where it works
///
/// Dropping the stream drops the iterator: at once if no batch is running, otherwise on the
/// worker thread as soon as the `next()` in progress returns (no further item is pulled; a
/// thread cannot be interrupted mid-call). Buffered items are dropped with it.
///
/// A panic in `next()` reaches the consumer with its payload after the items pulled before it;
/// the stream then ends.
///
/// [`next`](UnblockIter::next) is inherent (`while let Some(x) = it.next().await` with no
/// import). It is a plain [`Stream`] (and [`Unpin`], and [`FusedStream`]): `StreamExt`
/// combinators, `tokio::select!` (taking an item is cancel-safe: an item stays buffered until
/// it is returned), any executor. Blocking code can wrap it in [`iter`](crate::iter) too.
///
/// Inside the iterator's `next()`, `.run()` goes back to the runtime that polled the stream,
/// as in an [`unblock`](crate::unblock) closure.
#[must_use = "streams do nothing unless polled"]
pub struct UnblockIter<I: Iterator> {
    shared: Arc<Shared<I>>,
    /// The running or finished batch: polled so that a batch started outside any runtime is
    /// handed over (see `unblock`), and so that its end wakes the consumer.
    batch: Option<Unblock<()>>,
}

struct Shared<I: Iterator> {
    state: Mutex<State<I>>,
}

struct State<I: Iterator> {
    /// The iterator, while no batch holds it; `None` after the end or the drop.
    iter: Option<I>,
    buffer: VecDeque<I::Item>,
    capacity: usize,
    /// A batch was handed over and has not yet given the iterator back.
    running: bool,
    /// The iterator returned `None` or panicked: no more items after the buffer.
    ended: bool,
    panic: Option<Box<dyn Any + Send>>,
    /// The stream was dropped: a running batch stops and drops the iterator.
    closed: bool,
    consumer: Option<Waker>,
}

/// Turns a blocking [`Iterator`] into a [`Stream`] whose items are pulled on a worker thread,
/// in bounded batches; see [`UnblockIter`] for the batch size, the bound and drop semantics.
///
/// ```
/// use futures::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Each `next()` may block (here: a sleep standing in for a read).
/// let slow = (1..=5).map(|n| {
///     std::thread::sleep(std::time::Duration::from_millis(1));
///     n
/// });
/// let doubled: Vec<u32> = anysync::unblock_iter(slow).map(|n| n * 2).collect().await;
/// assert_eq!(doubled, [2, 4, 6, 8, 10]);
/// # }
/// ```
#[doc(alias("Unblock", "iter_to_stream"))]
pub fn unblock_iter<I>(iter: I) -> UnblockIter<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    UnblockIter {
        shared: Arc::new(Shared {
            state: Mutex::new(State {
                iter: Some(iter),
                buffer: VecDeque::new(),
                capacity: UNBLOCK_ITER_BUFFER,
                running: false,
                ended: false,
                panic: None,
                closed: false,
                consumer: None,
            }),
        }),
        batch: None,
    }
}

impl<I> UnblockIter<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    /// Sets how many items may be pulled ahead of the consumer (at least 1): the buffer's
    /// size, and so how long a batch runs. The default is [`UNBLOCK_ITER_BUFFER`] (64).
    ///
    /// ```
    /// # anysync::run(async {
    /// let mut lines = anysync::unblock_iter(["a", "b", "c"].into_iter()).buffer(2);
    /// assert_eq!(lines.next().await, Some("a"));
    /// assert_eq!(lines.buffer_size(), 2);
    /// # });
    /// ```
    pub fn buffer(self, n: usize) -> Self {
        lock(&self.shared.state).capacity = n.max(1);
        self
    }

    /// How many items may be pulled ahead of the consumer.
    ///
    /// ```
    /// let lines = anysync::unblock_iter(std::iter::empty::<u8>());
    /// assert_eq!(lines.buffer_size(), anysync::UNBLOCK_ITER_BUFFER);
    /// ```
    pub fn buffer_size(&self) -> usize {
        lock(&self.shared.state).capacity
    }

    /// The next item, for `while let Some(item) = it.next().await` with no trait to import.
    ///
    /// An inherent method, so it stays unambiguous when both `futures::StreamExt` and
    /// `tokio_stream::StreamExt` are in scope (each has a `next`, rustc's E0034 otherwise).
    /// Cancel-safe, as [`Stream::poll_next`] is here: an item is taken from the buffer only
    /// when it is returned.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut numbers = anysync::unblock_iter(1..=3);
    /// let mut total = 0;
    /// while let Some(n) = numbers.next().await {
    ///     total += n;
    /// }
    /// assert_eq!(total, 6);
    /// # }
    /// ```
    #[allow(clippy::should_implement_trait)] // `.await` it: not `Iterator::next`
    pub fn next(&mut self) -> UnblockIterNext<'_, I> {
        UnblockIterNext { stream: self }
    }

    /// Hands a batch to a worker thread (the caller checked that none is running).
    fn start_batch(&mut self) {
        let shared = Arc::clone(&self.shared);
        self.batch = Some(unblock(move || batch(&shared)));
    }
}

/// The future of [`UnblockIter::next`]: the next item, or `None` at the end.
///
/// ```
/// # anysync::run(async {
/// let mut letters = anysync::unblock_iter("ab".chars());
/// let next: anysync::UnblockIterNext<'_, std::str::Chars<'static>> = letters.next();
/// assert_eq!(next.await, Some('a'));
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
pub struct UnblockIterNext<'a, I: Iterator> {
    stream: &'a mut UnblockIter<I>,
}

impl<I> Future for UnblockIterNext<'_, I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    type Output = Option<I::Item>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Pin::new(&mut *self.get_mut().stream).poll_next(cx)
    }
}

impl<I: Iterator> fmt::Debug for UnblockIterNext<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnblockIterNext").finish_non_exhaustive()
    }
}

/// One batch, on a worker thread: pulls items until the buffer is full, the iterator ends or
/// panics, or the stream is dropped.
fn batch<I: Iterator>(shared: &Shared<I>) {
    let Some(mut iter) = lock(&shared.state).iter.take() else {
        // The stream was dropped before this batch started, and took the iterator with it.
        return;
    };
    loop {
        let item = match panic::catch_unwind(AssertUnwindSafe(|| iter.next())) {
            Ok(Some(item)) => item,
            ended => {
                // Dropped before the end is published: a consumer that sees the end knows the
                // iterator (and what it holds, a file, a connection) is gone.
                drop(iter);
                let mut state = lock(&shared.state);
                state.ended = true;
                state.running = false;
                state.panic = ended.err();
                let consumer = state.consumer.take();
                drop(state);
                if let Some(consumer) = consumer {
                    consumer.wake();
                }
                return;
            }
        };
        let mut state = lock(&shared.state);
        state.buffer.push_back(item);
        let consumer = state.consumer.take();
        let stop = state.closed || state.buffer.len() >= state.capacity;
        if !stop {
            // Wake after unlocking: the woken consumer would otherwise find the lock taken.
            drop(state);
            if let Some(consumer) = consumer {
                consumer.wake();
            }
            continue;
        }
        state.running = false;
        let abandoned = if state.closed {
            Some(iter)
        } else {
            state.iter = Some(iter);
            None
        };
        drop(state);
        if let Some(consumer) = consumer {
            consumer.wake();
        }
        // The stream was dropped while this batch held the iterator: it goes here, on the
        // worker thread.
        drop(abandoned);
        return;
    }
}

/// What the consumer found.
enum Found<T> {
    Item(T),
    End(Option<Box<dyn Any + Send>>),
    Empty,
}

impl<I> Stream for UnblockIter<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    type Item = I::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<I::Item>> {
        let this = self.get_mut();
        loop {
            let (found, start) = {
                let mut state = lock(&this.shared.state);
                match state.buffer.pop_front() {
                    Some(item) => {
                        // Refill at half empty: a batch per item would pay a worker hand-over
                        // for each one.
                        let refill = !state.running
                            && state.iter.is_some()
                            && state.buffer.len() <= state.capacity / 2;
                        state.running |= refill;
                        (Found::Item(item), refill)
                    }
                    None if state.ended => (Found::End(state.panic.take()), false),
                    None => {
                        match &mut state.consumer {
                            Some(waker) => waker.clone_from(cx.waker()),
                            None => state.consumer = Some(cx.waker().clone()),
                        }
                        let start = !state.running;
                        state.running = true;
                        (Found::Empty, start)
                    }
                }
            };
            if start {
                this.start_batch();
            }
            match found {
                Found::Item(item) => {
                    if start {
                        // Outside any runtime a batch is handed over at its first poll.
                        this.poll_batch(cx);
                    }
                    return Poll::Ready(Some(item));
                }
                Found::End(Some(payload)) => {
                    this.batch = None;
                    panic::resume_unwind(payload)
                }
                Found::End(None) => {
                    this.batch = None;
                    return Poll::Ready(None);
                }
                Found::Empty => {
                    // A batch that finished since the lock was released left items or the
                    // end: look again instead of waiting for a wake-up already spent.
                    if this.poll_batch(cx) {
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<I: Iterator> UnblockIter<I> {
    /// Polls the current batch; whether it has finished.
    fn poll_batch(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(batch) = &mut self.batch else {
            return false;
        };
        match Pin::new(batch).poll(cx) {
            Poll::Ready(()) => {
                self.batch = None;
                true
            }
            Poll::Pending => false,
        }
    }
}

impl<I> FusedStream for UnblockIter<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    fn is_terminated(&self) -> bool {
        let state = lock(&self.shared.state);
        state.ended && state.buffer.is_empty() && state.panic.is_none()
    }
}

impl<I: Iterator> Drop for UnblockIter<I> {
    fn drop(&mut self) {
        let (iter, buffer) = {
            let mut state = lock(&self.shared.state);
            state.closed = true;
            state.consumer = None;
            (state.iter.take(), std::mem::take(&mut state.buffer))
        };
        // Dropped outside the lock: a running batch may want it. A batch not yet started never
        // starts (`Unblock`'s drop) or finds no iterator; a running one drops it when its
        // `next()` returns.
        drop(iter);
        drop(buffer);
        self.batch = None;
    }
}

impl<I: Iterator> fmt::Debug for UnblockIter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("UnblockIter")
            .field("buffered", &state.buffer.len())
            .field("buffer_size", &state.capacity)
            .field("running", &state.running)
            .field("ended", &state.ended)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Batches catch the iterator's panics, and nothing else panics under the lock.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
