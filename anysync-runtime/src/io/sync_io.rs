//! [`SyncIo`]: async IO as `std::io`, in every calling context.

use crate::bridge;
use crate::raw::fill_buf::FillBuf;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, BufRead, IoSlice, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::task::{Poll, ready};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// An async reader or writer as a blocking [`Read`], [`BufRead`], [`Write`] and [`Seek`], in
/// every calling context.
///
/// Each call (`read`, `fill_buf`, `write`, `flush`, `seek`, [`shutdown`](SyncIo::shutdown))
/// blocks until `T`'s matching poll method is ready, exactly as `.run()` blocks on a future:
/// on a plain thread, inside a tokio runtime of either flavor, in a `LocalSet`, in
/// `spawn_blocking` or a `Drop`, nested in another `.run()`. It is what
/// `tokio_util::io::SyncIoBridge` does, without its limits: that bridge panics on a plain
/// thread ("there is no reactor running") and inside runtimes ("Cannot start a runtime from
/// within a runtime").
///
/// `SyncIo` has no buffer of its own: every byte goes straight to or from `T`, `flush` flushes
/// `T`, and dropping a `SyncIo` only drops `T`. For buffering, wrap `T` in
/// `tokio::io::BufReader` / `BufWriter` (then `SyncIo` is also [`BufRead`]), or wrap the
/// `SyncIo` in `std::io::BufReader` / `BufWriter`. A call allocates nothing of its own.
///
/// `T` must be `Unpin` (pin a `!Unpin` reader with `Box::pin`) and `Send`, because inside a
/// current_thread runtime the poll loop runs on an anysync background thread while the caller
/// blocks; it borrows `T` and the caller's buffer, nothing is copied.
///
/// # Which runtime drives the IO
///
/// An IO object such as a `tokio::net::TcpStream` is driven by the runtime it was created on,
/// and that runtime must be *running* while a call waits for it: anysync's global runtime
/// (an object created inside `.run()` or `anysync::run`), a multi_thread runtime, or a
/// runtime on another thread. A current_thread runtime stops while its own thread blocks, so
/// sync code called from inside it cannot wait for IO that only it drives: the call never
/// returns. This is the deadlock the README describes for every blocking call. Create the IO
/// object where a running runtime owns it: with `.run()` (the global runtime), or on a
/// multi_thread runtime.
///
/// ```no_run
/// use std::io::Read;
///
/// # fn main() -> std::io::Result<()> {
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// rt.block_on(async {
///     // Registered with `rt`, which drives it only while this task yields...
///     let stream = tokio::net::TcpStream::connect("127.0.0.1:8080").await?;
///     // ...but this sync read blocks `rt`'s only thread: it waits forever.
///     let mut first = [0; 1];
///     anysync::io::SyncIo::new(stream).read_exact(&mut first)
/// })
/// # }
/// ```
///
/// The same read works when the stream was connected with
/// `anysync::run(TcpStream::connect(addr))`: the global runtime, which keeps running, drives
/// it. In-memory objects (`tokio::io::duplex`, `&[u8]`) need no runtime at all.
///
/// # Example
///
/// A JSON document parsed by a sync parser straight from a socket, whatever thread this runs
/// on:
///
/// ```
/// use anysync::RunExt;
/// use std::io::{BufRead, Write};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
/// use tokio::net::{TcpListener, TcpStream};
///
/// # fn main() -> std::io::Result<()> {
/// // A server on the global runtime that answers each line with its length.
/// let listener = anysync::run(TcpListener::bind("127.0.0.1:0"))?;
/// let addr = listener.local_addr()?;
/// anysync::run(async move {
///     tokio::spawn(async move {
///         let (mut socket, _) = listener.accept().await.unwrap();
///         let mut line = Vec::new();
///         let mut byte = [0; 1];
///         while socket.read(&mut byte).await.unwrap() == 1 && byte[0] != b'\n' {
///             line.push(byte[0]);
///         }
///         socket.write_all(format!("{}\n", line.len()).as_bytes()).await.unwrap();
///     });
/// });
///
/// // Blocking code: the stream is connected on the global runtime, then used through `std::io`.
/// let stream = TcpStream::connect(addr).run()?;
/// let mut io = anysync::io::SyncIo::new(BufReader::new(stream));
/// io.write_all(b"hello\n")?;
/// io.flush()?;
/// let mut answer = String::new();
/// io.read_line(&mut answer)?;
/// assert_eq!(answer, "5\n");
/// # Ok(())
/// # }
/// ```
pub struct SyncIo<T> {
    inner: T,
}

impl<T> SyncIo<T> {
    /// Wraps an async reader or writer.
    ///
    /// ```
    /// let io = anysync::io::SyncIo::new(&b"bytes"[..]);
    /// assert_eq!(io.into_inner(), b"bytes");
    /// ```
    pub fn new(inner: T) -> Self {
        SyncIo { inner }
    }

    /// The wrapped reader or writer.
    ///
    /// ```
    /// let io = anysync::io::SyncIo::new(&b"bytes"[..]);
    /// assert_eq!(io.get_ref().len(), 5);
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped reader or writer, mutably (`SyncIo` buffers nothing, so nothing is skipped
    /// or lost by using it directly).
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let mut io = anysync::io::SyncIo::new(&b"bytes"[..]);
    /// *io.get_mut() = &b"other"[..];
    /// let mut text = String::new();
    /// io.read_to_string(&mut text).unwrap();
    /// assert_eq!(text, "other");
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the reader or writer.
    ///
    /// ```
    /// use std::io::Write;
    ///
    /// let mut io = anysync::io::SyncIo::new(Vec::new());
    /// io.write_all(b"kept").unwrap();
    /// assert_eq!(io.into_inner(), b"kept");
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncWrite + Unpin + Send> SyncIo<T> {
    /// Shuts the writer down (`AsyncWrite::poll_shutdown`), blocking until it is done: for a
    /// socket, flushes and closes the write half, so the peer reads EOF.
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let (a, b) = tokio::io::duplex(16);
    /// let mut writer = anysync::io::SyncIo::new(a);
    /// writer.write_all(b"last words")?;
    /// writer.shutdown()?;
    /// let mut all = Vec::new();
    /// anysync::io::SyncIo::new(b).read_to_end(&mut all)?; // returns at EOF
    /// assert_eq!(all, b"last words");
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn shutdown(&mut self) -> io::Result<()> {
        let inner = &mut self.inner;
        bridge::block_on_send(poll_fn(|cx| Pin::new(&mut *inner).poll_shutdown(cx)))
    }
}

impl<T: AsyncRead + Unpin + Send> Read for SyncIo<T> {
    /// Blocks until `T` has read some bytes into `buf` (`Ok(0)`: end of stream, or an empty
    /// `buf`).
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let inner = &mut self.inner;
        let mut buf = ReadBuf::new(buf);
        bridge::block_on_send(poll_fn(|cx| {
            ready!(Pin::new(&mut *inner).poll_read(cx, &mut buf))?;
            Poll::Ready(Ok(buf.filled().len()))
        }))
    }
}

impl<T: AsyncBufRead + Unpin + Send> BufRead for SyncIo<T> {
    /// Blocks until `T`'s buffer has bytes (or `T` reached the end of the stream), and returns
    /// them, borrowed from `T`.
    #[track_caller]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        bridge::block_on_send(FillBuf::new(&mut self.inner))
    }

    fn consume(&mut self, amount: usize) {
        Pin::new(&mut self.inner).consume(amount);
    }
}

impl<T: AsyncWrite + Unpin + Send> Write for SyncIo<T> {
    /// Blocks until `T` has accepted some bytes of `buf`.
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let inner = &mut self.inner;
        bridge::block_on_send(poll_fn(|cx| Pin::new(&mut *inner).poll_write(cx, buf)))
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let inner = &mut self.inner;
        bridge::block_on_send(poll_fn(|cx| {
            Pin::new(&mut *inner).poll_write_vectored(cx, bufs)
        }))
    }

    /// Blocks until `T` has flushed (`AsyncWrite::poll_flush`).
    #[track_caller]
    fn flush(&mut self) -> io::Result<()> {
        let inner = &mut self.inner;
        bridge::block_on_send(poll_fn(|cx| Pin::new(&mut *inner).poll_flush(cx)))
    }
}

impl<T: AsyncSeek + Unpin + Send> Seek for SyncIo<T> {
    /// Blocks until `T` has seeked, as `AsyncSeekExt::seek` does: first waits for any seek
    /// still in progress, then starts this one and waits for its result.
    #[track_caller]
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        let inner = &mut self.inner;
        bridge::block_on_send(async move {
            poll_fn(|cx| Pin::new(&mut *inner).poll_complete(cx)).await?;
            Pin::new(&mut *inner).start_seek(position)?;
            poll_fn(|cx| Pin::new(&mut *inner).poll_complete(cx)).await
        })
    }
}

impl<T: fmt::Debug> fmt::Debug for SyncIo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SyncIo").field(&self.inner).finish()
    }
}
