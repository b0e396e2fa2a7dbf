//! [`iter`] and [`iter_local`]: any [`Stream`] as an [`Iter`], through the iterator machinery.
//!
//! The stream becomes the body of an ordinary [`Iter`]: [`FromStream`] is a body written as a
//! plain `Future` that polls the stream and offers each item to the driver, as `yield_!` would.
//! Everything else (the blocking `for` and `.next().run()` in every calling context, the
//! `Stream` impl, `prefetch`, panics, fusing, dropping) is [`Iter`]'s own code.

use super::core::Yielder;
use super::iter::Iter;
use crate::coroutine::{Local, Sendable};
use futures_core::Stream;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An [`Iter`] over a stream `S`: what [`iter`] (`M` = [`Sendable`]) and [`iter_local`]
/// (`M` = [`Local`]) return, for a struct field or a function's return type.
///
/// ```
/// use anysync::StreamIter;
/// use futures::stream::{self, Iter as Items};
///
/// struct Rows {
///     rows: StreamIter<Items<std::vec::IntoIter<u32>>>,
/// }
///
/// let mut rows = Rows { rows: anysync::iter(stream::iter(vec![1, 2])) };
/// assert_eq!(rows.rows.next().run(), Some(1));
/// ```
pub type StreamIter<S, M = Sendable> = Iter<FromStream<S>, <S as Stream>::Item, M>;

pin_project! {
    /// The body of an [`Iter`] made by [`iter`] or [`iter_local`]: polls the stream when the
    /// consumer asks for an item and hands the item out. It owns the stream, so dropping the
    /// iterator drops the stream.
    ///
    /// Only [`iter`] and [`iter_local`] make one; it appears in [`StreamIter`].
    ///
    /// ```
    /// fn evens() -> anysync::Iter<anysync::FromStream<impl futures::Stream<Item = u32> + Send>, u32> {
    ///     anysync::iter(futures::stream::iter([0, 2, 4]))
    /// }
    ///
    /// assert_eq!(evens().into_iter().sum::<u32>(), 6);
    /// ```
    #[must_use = "a stream body does nothing unless its iterator is iterated"]
    pub struct FromStream<S: Stream> {
        #[pin]
        stream: S,
        yielder: Yielder<S::Item>,
    }
}

impl<S: Stream> Future for FromStream<S> {
    type Output = ();

    // Inlined into `Core::poll_resume`, like a generated body's state machine.
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        match this.stream.poll_next(cx) {
            // Left for the driver, which takes it as this poll returns (a `yield_!`).
            Poll::Ready(Some(item)) => {
                this.yielder.offer(item);
                Poll::Pending
            }
            Poll::Ready(None) => Poll::Ready(()),
            // The stream registered the waker: an `.await` that is not a `yield_!`.
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: Stream> fmt::Debug for FromStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromStream").finish_non_exhaustive()
    }
}

/// Any [`Stream`] as an iterator for blocking code, in every calling context, and still a
/// `Stream` for async code: the [`Iter`] of an `#[anysync::iterator]` whose body is the stream.
///
/// What `futures::executor::block_on_stream` and a hand-written `Handle::block_on` loop cannot
/// do: a blocking `for` over a database row stream, a response body, a `ReceiverStream`, from
/// a plain thread, inside a current_thread or multi_thread runtime, a `LocalSet`, a
/// `spawn_blocking` closure or a nested `.run()` (the README's table says where each item is
/// polled).
///
/// - **Lazy and exact**: the stream is polled only when the consumer asks for the next item,
///   so breaking out of a loop loses no item. [`prefetch(n)`](Iter::prefetch) opts into
///   reading up to `n` items ahead on the global runtime.
/// - **Blocking code**: `for item in anysync::iter(s)` (or `&mut it`), and
///   [`it.next().run()`](Iter::next).
/// - **Async code**: `it.next().await`, or the [`Stream`] impl for combinators. `.next()` is
///   inherent, so importing `StreamExt` makes no call ambiguous: on the `Iter` itself
///   `.take(10)` is `StreamExt::take`, on `.into_iter()` it is `Iterator::take`.
/// - **Dropping** the iterator drops the stream at once (closing its connection, say).
/// - **A panic** in the stream reaches the consumer with its payload; the stream is dropped
///   and the iterator ends.
///
/// The stream and its items must be `Send`, since in some contexts (a current_thread
/// runtime's tasks, a `LocalSet`) each item is polled on a background thread; for a `!Send`
/// stream use [`iter_local`]. The stream lives in one allocation made here; iterating
/// allocates nothing per item.
///
/// ```compile_fail
/// let rcs = futures::stream::iter([std::rc::Rc::new(1)]);
/// let it = anysync::iter(rcs); // error: `Rc<i32>` cannot be sent between threads safely
/// ```
///
/// # Whose runtime drives the stream
///
/// Each item is polled as `.run()` polls a future, so a stream whose IO or feeding task belongs
/// to a runtime that keeps running works everywhere: the global runtime (a socket opened with
/// `.run()`), a multi_thread runtime, a runtime on another thread. Inside a current_thread
/// runtime, though, blocking iteration stops that runtime until each item arrives: a stream
/// fed by *that* runtime (a socket connected with `.await` in one of its tasks, a channel
/// filled by one of its tasks) then waits forever, as any `.run()` of such a future does (the
/// README's "Blocking a runtime is still blocking it"). There, `.await` the items instead, or
/// open the source with `.run()` so that it lives on the global runtime:
///
/// ```
/// use anysync::RunExt;
/// use tokio::io::{AsyncBufReadExt, BufReader};
/// use tokio_stream::wrappers::LinesStream;
///
/// # let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// # let addr = server.local_addr().unwrap();
/// # std::thread::spawn(move || {
/// #     use std::io::Write;
/// #     let (mut socket, _) = server.accept().unwrap();
/// #     socket.write_all(b"one\ntwo\n").unwrap();
/// # });
/// /// A sync helper, called below from a current_thread runtime's task.
/// fn read_lines(addr: std::net::SocketAddr) -> Vec<String> {
///     // Connected with `.run()`: the socket is registered with a runtime that keeps running.
///     let socket = async { tokio::net::TcpStream::connect(addr).await }.run().unwrap();
///     let lines = LinesStream::new(BufReader::new(socket).lines());
///     anysync::iter(lines).into_iter().map(Result::unwrap).collect()
/// }
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let lines = rt.block_on(async { tokio::spawn(async move { read_lines(addr) }).await.unwrap() });
/// assert_eq!(lines, ["one", "two"]);
/// ```
///
/// # Example
///
/// ```
/// use tokio_stream::wrappers::ReceiverStream;
///
/// let (tx, rx) = tokio::sync::mpsc::channel(8);
/// std::thread::spawn(move || {
///     for n in 1..=20 {
///         tx.blocking_send(n).unwrap();
///     }
/// });
///
/// // Blocking code, from any thread or runtime:
/// let firsts: Vec<u32> = anysync::iter(ReceiverStream::new(rx)).into_iter().take(10).collect();
/// assert_eq!(firsts, (1..=10).collect::<Vec<_>>());
/// ```
///
/// The same value in async code:
///
/// ```
/// # anysync::run(async {
/// let mut it = anysync::iter(futures::stream::iter(["a", "b"]));
/// assert_eq!(it.next().await, Some("a"));
/// assert_eq!(it.next().await, Some("b"));
/// assert_eq!(it.next().await, None);
/// # });
/// ```
#[doc(alias("block_on_stream", "blocking_iter"))]
pub fn iter<S>(stream: S) -> StreamIter<S>
where
    S: Stream + Send,
    S::Item: Send,
{
    Iter::new(|yielder| FromStream { stream, yielder })
}

/// [`iter`] for a stream that is not `Send` (or whose items are not): it is never moved to
/// another thread.
///
/// Blocking iteration then works wherever the stream can be polled on the calling thread
/// (plain threads, multi_thread runtimes, `spawn_blocking`, nested `.run()`, outside the
/// scheduler of a current_thread runtime), and panics with advice inside a current_thread
/// runtime's tasks or a `LocalSet`, where only `.await` can wait for it (as
/// [`Coroutine::local`](crate::Coroutine::local) does). Async code can use it everywhere.
///
/// ```
/// use std::rc::Rc;
///
/// let stream = futures::stream::iter([Rc::new(1), Rc::new(2)]);
/// let total: u32 = anysync::iter_local(stream).into_iter().map(|n| *n).sum();
/// assert_eq!(total, 3);
/// ```
pub fn iter_local<S: Stream>(stream: S) -> StreamIter<S, Local> {
    Iter::local(|yielder| FromStream { stream, yielder })
}
