//! [`AsyncIo`]: blocking `std::io` as tokio's async IO traits, run on worker threads.

use crate::unblock;
use std::cmp;
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::panic;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;

/// The most bytes one operation moves, as for `tokio::fs::File`.
const MAX_BUF: usize = 2 * 1024 * 1024;

/// A blocking reader or writer as tokio's [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`]:
/// each operation runs on a worker thread, so the runtime is never blocked (smol's
/// `blocking::Unblock`, for tokio).
///
/// Each `poll_read`, `poll_write`, `poll_flush` and seek hands `T` to a blocking thread (the
/// current runtime's blocking pool, as [`unblock`](crate::unblock) uses; the global runtime's
/// outside any runtime) together with an internal buffer, and gets both back when the call
/// returns. One operation runs at a time.
///
/// - **Reading** reads at most what the caller asked for (up to 2 MiB), into the internal
///   buffer, then copies it out. `Ok` with nothing read is the end of the stream, as for
///   `std::io::Read`; `ErrorKind::Interrupted` is retried; every other error comes back with
///   its `io::ErrorKind` (a peer reset as `ConnectionReset`, and so on).
/// - **Writing** copies up to 2 MiB of the caller's bytes into the internal buffer and
///   returns at once: the write (`write_all`) runs in the background. Its error, if any, is
///   returned by the next write, `flush` or `shutdown`, so a caller learns a write's outcome
///   from `flush().await` (or `shutdown().await`, which flushes: std writers have no
///   shutdown).
/// - **Dropping** never blocks, as for `tokio::fs::File`: a write already accepted still
///   completes on its worker thread, and `T` is dropped there afterwards; its errors are then
///   discarded. Flush before dropping to see them. (If the runtime shuts down before that
///   thread starts, the write is dropped unrun.)
/// - **Seeking** (`T: Seek`) discards what the internal buffer read ahead and accounts for it
///   in [`SeekFrom::Current`], like `tokio::fs::File`; `start_seek` while another operation
///   is in progress returns an error (call `poll_complete` first, as `AsyncSeekExt::seek`
///   does).
/// - **Read ahead by a cancelled read**: a read whose future is dropped (a `select!` or a
///   timeout) after its worker read leaves those bytes in the internal buffer, and the next
///   read returns them first. A *write* does not discard them: `tokio::fs::File` seeks back
///   over them first, which needs `T: Seek` and so cannot happen here, and the write lands
///   after them. For a file read and written through one `AsyncIo`, seek before writing after
///   a cancelled read (`seek(SeekFrom::Current(0))` puts `T` back where the reader is).
///
/// A `.run()` inside `T`'s methods runs on the runtime that polled the operation, as inside an
/// [`unblock`](crate::unblock) closure. If an operation panics, the panic reaches the task
/// that polls it, and `T` is lost: later operations return an error.
///
/// # Example
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let path = std::env::temp_dir().join(format!("anysync-async-io-{}.txt", std::process::id()));
/// let mut file = anysync::io::AsyncIo::new(std::fs::File::create(&path)?);
/// file.write_all(b"written off the runtime").await?;
/// file.flush().await?; // the outcome of the writes
///
/// let mut file = anysync::io::AsyncIo::new(std::fs::File::open(&path)?);
/// let mut text = String::new();
/// file.read_to_string(&mut text).await?;
/// assert_eq!(text, "written off the runtime");
/// # std::fs::remove_file(path)
/// # }
/// ```
pub struct AsyncIo<T> {
    state: State<T>,
    /// The error of a write or flush that completed unobserved, for the next write or flush.
    write_error: Option<io::Error>,
    /// A write was accepted since the last flush started.
    need_flush: bool,
    /// Where the last completed seek ended.
    position: u64,
}

enum State<T> {
    Idle(Core<T>),
    Busy(JoinHandle<(Core<T>, Op)>),
    /// `T` was lost: an operation panicked, or its runtime shut down before it ran.
    Gone,
}

/// What travels to the worker thread: `T` and the buffers.
struct Core<T> {
    io: T,
    /// Bytes read ahead: `read[start..end]` are not yet handed out.
    read: Vec<u8>,
    start: usize,
    end: usize,
    /// The bytes of the write in progress.
    write: Vec<u8>,
}

/// The operation a worker ran, and its outcome.
enum Op {
    Read(io::Result<()>),
    Write(io::Result<()>),
    Flush(io::Result<()>),
    Seek(io::Result<u64>),
}

impl<T> AsyncIo<T> {
    /// Wraps a blocking reader or writer.
    ///
    /// ```
    /// let io = anysync::io::AsyncIo::new(std::io::empty());
    /// # drop(io);
    /// ```
    pub fn new(inner: T) -> Self {
        AsyncIo {
            state: State::Idle(Core {
                io: inner,
                read: Vec::new(),
                start: 0,
                end: 0,
                write: Vec::new(),
            }),
            write_error: None,
            need_flush: false,
            position: 0,
        }
    }

    /// The wrapped reader or writer, if no operation is in progress (`None` while one runs on
    /// its worker thread, or after one panicked).
    ///
    /// ```
    /// let io = anysync::io::AsyncIo::new(std::io::Cursor::new(vec![1, 2, 3]));
    /// assert_eq!(io.get_ref().unwrap().get_ref().len(), 3);
    /// ```
    pub fn get_ref(&self) -> Option<&T> {
        match &self.state {
            State::Idle(core) => Some(&core.io),
            _ => None,
        }
    }

    /// The wrapped reader or writer, mutably, if no operation is in progress. Bytes read ahead
    /// into the internal buffer and not yet handed out stay there.
    ///
    /// ```
    /// let mut io = anysync::io::AsyncIo::new(Vec::<u8>::new());
    /// io.get_mut().unwrap().push(1);
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        match &mut self.state {
            State::Idle(core) => Some(&mut core.io),
            _ => None,
        }
    }

    /// Waits for the operation in progress (a write in the background, say) and unwraps the
    /// reader or writer. Bytes read ahead and not yet handed out are lost; the error of a
    /// write that failed in the background is returned instead of `T` (flush first to keep
    /// `T` in that case).
    ///
    /// ```
    /// use tokio::io::AsyncWriteExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mut io = anysync::io::AsyncIo::new(Vec::new());
    /// io.write_all(b"done").await?;
    /// assert_eq!(io.into_inner().await?, b"done");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn into_inner(mut self) -> io::Result<T> {
        while let Some(op) = std::future::poll_fn(|cx| self.poll_busy(cx)).await? {
            self.absorb(op);
        }
        if let Some(error) = self.write_error.take() {
            return Err(error);
        }
        match std::mem::replace(&mut self.state, State::Gone) {
            State::Idle(core) => Ok(core.io),
            _ => unreachable!("anysync: `AsyncIo` is idle here"),
        }
    }

    /// Waits for the operation in progress, if any: `Some(op)` when one finished now, `None`
    /// if idle already. A panic in the operation resumes here.
    fn poll_busy(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Op>>> {
        let handle = match &mut self.state {
            State::Idle(_) => return Poll::Ready(Ok(None)),
            State::Gone => return Poll::Ready(Err(gone())),
            State::Busy(handle) => handle,
        };
        let joined = ready!(Pin::new(handle).poll(cx));
        match joined {
            Ok((core, op)) => {
                self.state = State::Idle(core);
                Poll::Ready(Ok(Some(op)))
            }
            Err(error) => {
                self.state = State::Gone;
                if error.is_panic() {
                    panic::resume_unwind(error.into_panic());
                }
                Poll::Ready(Err(io::Error::other(
                    "anysync: an `AsyncIo` operation never ran: its tokio runtime shut down",
                )))
            }
        }
    }

    /// Keeps what an operation nobody waited for left behind: read-ahead bytes stay in the
    /// buffer, a write's error waits for the next write or flush, a seek's end is recorded.
    fn absorb(&mut self, op: Op) {
        match op {
            Op::Write(Err(error)) | Op::Flush(Err(error)) => {
                self.write_error.get_or_insert(error);
            }
            Op::Seek(Ok(position)) => self.position = position,
            Op::Read(_) | Op::Write(Ok(())) | Op::Flush(Ok(())) | Op::Seek(Err(_)) => {}
        }
    }

    /// The idle core (after `poll_busy` returned `None` or `Some`).
    fn core(&mut self) -> &mut Core<T> {
        match &mut self.state {
            State::Idle(core) => core,
            _ => unreachable!("anysync: `AsyncIo` is idle here"),
        }
    }

    /// Hands the core to a worker thread to run `op` on it.
    fn start(&mut self, op: impl FnOnce(&mut Core<T>) -> Op + Send + 'static)
    where
        T: Send + 'static,
    {
        let State::Idle(mut core) = std::mem::replace(&mut self.state, State::Gone) else {
            unreachable!("anysync: `AsyncIo` is idle here")
        };
        self.state = State::Busy(unblock::spawn(move || {
            let op = op(&mut core);
            (core, op)
        }));
    }

    /// Shared by `poll_flush` and `poll_shutdown`.
    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        T: Write + Send + 'static,
    {
        loop {
            match ready!(self.poll_busy(cx))? {
                Some(Op::Write(Err(error)) | Op::Flush(Err(error))) => {
                    return Poll::Ready(Err(error));
                }
                Some(op) => self.absorb(op),
                None => {
                    if let Some(error) = self.write_error.take() {
                        return Poll::Ready(Err(error));
                    }
                    if !self.need_flush {
                        return Poll::Ready(Ok(()));
                    }
                    self.need_flush = false;
                    self.start(|core| Op::Flush(core.io.flush()));
                }
            }
        }
    }
}

impl<T> Core<T> {
    /// Reads at most `wanted` bytes into the empty read buffer.
    fn fill(&mut self, wanted: usize) -> io::Result<()>
    where
        T: Read,
    {
        if self.read.len() < wanted {
            // Zeroed once as the buffer grows, not per read.
            self.read.resize(wanted, 0);
        }
        self.start = 0;
        self.end = 0;
        loop {
            match self.io.read(&mut self.read[..wanted]) {
                Ok(n) => {
                    self.end = cmp::min(n, wanted);
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Hands out buffered bytes; returns how many.
    fn copy_to(&mut self, dst: &mut ReadBuf<'_>) -> usize {
        let n = cmp::min(self.end - self.start, dst.remaining());
        dst.put_slice(&self.read[self.start..self.start + n]);
        self.start += n;
        n
    }
}

fn gone() -> io::Error {
    io::Error::other(
        "anysync: an earlier `AsyncIo` operation panicked; the reader or writer is gone",
    )
}

// `T` is never pinned: it moves to worker threads and back.
impl<T> Unpin for AsyncIo<T> {}

impl<T: Read + Send + 'static> AsyncRead for AsyncIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match ready!(this.poll_busy(cx))? {
                Some(Op::Read(result)) => {
                    result?;
                    // What this read got, or nothing at the end of the stream.
                    this.core().copy_to(dst);
                    return Poll::Ready(Ok(()));
                }
                Some(op) => this.absorb(op),
                None => {
                    let core = this.core();
                    if core.start < core.end {
                        core.copy_to(dst);
                        return Poll::Ready(Ok(()));
                    }
                    if dst.remaining() == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    let wanted = cmp::min(dst.remaining(), MAX_BUF);
                    this.start(move |core| Op::Read(core.fill(wanted)));
                }
            }
        }
    }
}

impl<T: Write + Send + 'static> AsyncWrite for AsyncIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match ready!(this.poll_busy(cx))? {
                // An earlier write failed: this one is not accepted.
                Some(Op::Write(Err(error)) | Op::Flush(Err(error))) => {
                    return Poll::Ready(Err(error));
                }
                Some(op) => this.absorb(op),
                None => {
                    if let Some(error) = this.write_error.take() {
                        return Poll::Ready(Err(error));
                    }
                    if src.is_empty() {
                        return Poll::Ready(Ok(0));
                    }
                    let n = cmp::min(src.len(), MAX_BUF);
                    let core = this.core();
                    core.write.clear();
                    core.write.extend_from_slice(&src[..n]);
                    this.start(|core| Op::Write(core.io.write_all(&core.write)));
                    this.need_flush = true;
                    return Poll::Ready(Ok(n));
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_inner(cx)
    }

    /// Flushes: a `std::io::Write` has nothing else to shut down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_inner(cx)
    }
}

impl<T: Seek + Send + 'static> AsyncSeek for AsyncIo<T> {
    fn start_seek(self: Pin<&mut Self>, mut position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        match &mut this.state {
            State::Idle(core) => {
                // The worker's position is past the bytes read ahead and not handed out.
                let ahead = core.end - core.start;
                if let SeekFrom::Current(offset) = &mut position {
                    *offset -= ahead as i64;
                }
                core.start = 0;
                core.end = 0;
                this.start(move |core| Op::Seek(core.io.seek(position)));
                Ok(())
            }
            State::Busy(_) => Err(io::Error::other(
                "anysync: `AsyncIo`: another operation is in progress; call `poll_complete` \
                 before `start_seek` (`AsyncSeekExt::seek` does)",
            )),
            State::Gone => Err(gone()),
        }
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            match ready!(this.poll_busy(cx))? {
                Some(Op::Seek(result)) => {
                    if let Ok(position) = result {
                        this.position = position;
                    }
                    return Poll::Ready(result);
                }
                Some(op) => this.absorb(op),
                None => return Poll::Ready(Ok(this.position)),
            }
        }
    }
}

impl<T> fmt::Debug for AsyncIo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Idle(_) => "idle",
            State::Busy(_) => "busy",
            State::Gone => "gone",
        };
        f.debug_struct("AsyncIo")
            .field("state", &state)
            .field("need_flush", &self.need_flush)
            .finish_non_exhaustive()
    }
}
