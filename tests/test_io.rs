//! `anysync::io`: `SyncIo` (async IO as `std::io`) in every calling context, over loopback TCP
//! driven by each kind of running runtime, `tokio::io::duplex` and a real file; `AsyncIo`
//! (blocking `std::io` as tokio IO) on each runtime flavor and none; error kinds, EOF, drop
//! semantics and allocations.

mod common;
mod counting;

use anysync::RunExt;
use anysync::io::{AsyncIo, SyncIo};
use common::ctx::{ALL, within};
use common::echo_server;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{OnceLock, mpsc};
use std::thread;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// Fails the test instead of hanging: runs `f` on a thread and waits at most a minute.
fn watchdog<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!(),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: hung for a minute"),
    }
}

/// anysync's global runtime, which keeps running: its tasks make progress while a test blocks.
fn global() -> Handle {
    anysync::run(async { Handle::current() })
}

/// A fresh path in the temp dir, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TempPath(
            std::env::temp_dir().join(format!("anysync-test-io-{}-{name}-{n}", std::process::id())),
        )
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A new, empty file at `path`, open for reading and writing.
fn create_read_write(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap()
}

/// The runtimes that drive a TCP stream in these tests, all running while the caller blocks.
#[derive(Clone, Copy, Debug)]
enum Driver {
    /// anysync's global runtime: connected with `.run()` on a plain thread.
    Global,
    /// A multi_thread runtime of the test's own.
    MultiThread,
    /// A current_thread runtime running on a thread of its own.
    OtherThread,
}

const DRIVERS: [Driver; 3] = [Driver::Global, Driver::MultiThread, Driver::OtherThread];

/// A handle to a runtime of `driver`'s kind, kept running for the whole test binary.
fn driver_handle(driver: Driver) -> Option<Handle> {
    static MULTI: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    static OTHER: OnceLock<Handle> = OnceLock::new();
    match driver {
        Driver::Global => None,
        Driver::MultiThread => Some(
            MULTI
                .get_or_init(|| common::multi_thread(2))
                .handle()
                .clone(),
        ),
        Driver::OtherThread => Some(
            OTHER
                .get_or_init(|| {
                    let (tx, rx) = mpsc::channel();
                    thread::spawn(move || {
                        let rt = common::current_thread();
                        tx.send(rt.handle().clone()).unwrap();
                        rt.block_on(std::future::pending::<()>());
                    });
                    rx.recv().unwrap()
                })
                .clone(),
        ),
    }
}

/// Connects to `addr` on a runtime of `driver`'s kind, which then drives the stream.
fn connect(driver: Driver, addr: SocketAddr) -> TcpStream {
    let stream = match driver_handle(driver) {
        None => thread::spawn(move || TcpStream::connect(addr).run())
            .join()
            .unwrap(),
        Some(handle) => handle
            .spawn(TcpStream::connect(addr))
            .run()
            .expect("connect task"),
    };
    stream.expect("connect")
}

#[test]
fn sync_io_talks_over_loopback_tcp_in_every_context_whichever_runtime_drives_it() {
    let addr = echo_server();
    for driver in DRIVERS {
        for ctx in ALL {
            let stream = connect(driver, addr);
            let ran = within(ctx, move || {
                // `Write` + `BufRead` through tokio's `BufReader`, then plain `Read`.
                let mut io = SyncIo::new(BufReader::new(stream));
                io.write_all(format!("hello {ctx:?}\n").as_bytes()).unwrap();
                io.flush().unwrap();
                let mut line = String::new();
                io.read_line(&mut line).unwrap();
                let mut raw = SyncIo::new(io.into_inner().into_inner());
                raw.write_all(b"again\n").unwrap();
                let mut reply = [0; 12];
                raw.read_exact(&mut reply).unwrap();
                raw.shutdown().unwrap();
                (line, reply)
            });
            let (line, reply) = ran.value;
            assert_eq!(line, format!("echo: hello {ctx:?}\n"), "{driver:?} {ctx:?}");
            assert_eq!(&reply, b"echo: again\n", "{driver:?} {ctx:?}");
        }
    }
}

/// The bytes of a test stream: not periodic with any small buffer size.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn sync_io_streams_through_a_small_duplex_in_every_context() {
    const LEN: usize = 256 * 1024;
    for ctx in ALL {
        // Reading: a task of the global runtime writes, the context reads through `SyncIo`.
        let (mut tx, rx) = tokio::io::duplex(100);
        let writer = global().spawn(async move {
            tx.write_all(&pattern(LEN)).await.unwrap();
            tx.shutdown().await.unwrap();
        });
        let got = within(ctx, move || {
            let mut all = Vec::new();
            SyncIo::new(rx).read_to_end(&mut all).unwrap();
            all
        });
        writer.run().unwrap();
        assert!(got.value == pattern(LEN), "{ctx:?}: read what was written");

        // Writing: the context writes through `SyncIo`, a task reads.
        let (tx, mut rx) = tokio::io::duplex(100);
        let reader = global().spawn(async move {
            let mut all = Vec::new();
            rx.read_to_end(&mut all).await.unwrap();
            all
        });
        within(ctx, move || {
            let mut io = SyncIo::new(tx);
            io.write_all(&pattern(LEN)).unwrap();
            io.flush().unwrap();
            io.shutdown().unwrap();
        });
        assert!(
            reader.run().unwrap() == pattern(LEN),
            "{ctx:?}: wrote what was read"
        );
    }
}

#[test]
fn sync_io_reads_writes_and_seeks_a_real_file_in_every_context() {
    for ctx in ALL {
        let path = TempPath::new("file");
        let file_path = path.0.clone();
        let ran = within(ctx, move || {
            let file = tokio::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(file_path)
                .run()
                .unwrap();
            let mut io = SyncIo::new(file);
            io.write_all(b"first line\nsecond line\n").unwrap();
            io.flush().unwrap();
            assert_eq!(io.seek(SeekFrom::Start(0)).unwrap(), 0);
            let mut all = String::new();
            io.read_to_string(&mut all).unwrap();
            assert_eq!(io.seek(SeekFrom::Current(-5)).unwrap(), 18);
            let mut tail = String::new();
            io.read_to_string(&mut tail).unwrap();
            // Negative positions are the OS's `InvalidInput`, kind kept.
            let error = io.seek(SeekFrom::Current(-100)).unwrap_err();
            // `BufRead` over tokio's `BufReader` of the same file.
            let mut buffered = SyncIo::new(BufReader::new(io.into_inner()));
            buffered.seek(SeekFrom::Start(0)).unwrap();
            let lines: Vec<String> = buffered.lines().map(Result::unwrap).collect();
            (all, tail, error.kind(), lines)
        });
        let (all, tail, kind, lines) = ran.value;
        assert_eq!(all, "first line\nsecond line\n", "{ctx:?}");
        assert_eq!(tail, "line\n", "{ctx:?}");
        assert_eq!(kind, io::ErrorKind::InvalidInput, "{ctx:?}");
        assert_eq!(lines, ["first line", "second line"], "{ctx:?}");
        assert_eq!(
            std::fs::read(&path.0).unwrap(),
            b"first line\nsecond line\n",
            "{ctx:?}: on disk"
        );
    }
}

#[test]
fn buf_read_fill_buf_hands_out_the_readers_buffer_in_every_context() {
    // Fewer bytes than the `BufReader` holds arrive in three bursts, so each `fill_buf` waits
    // (pending polls, lent to a background thread where the context says so) and then
    // returns a slice of tokio's buffer, read after the poll loop is over.
    for ctx in ALL {
        let (mut tx, rx) = tokio::io::duplex(64);
        let (step_tx, mut step_rx) = tokio::sync::mpsc::unbounded_channel::<&'static [u8]>();
        let writer = global().spawn(async move {
            while let Some(chunk) = step_rx.recv().await {
                tx.write_all(chunk).await.unwrap();
            }
        });
        let got = within(ctx, move || {
            let mut io = SyncIo::new(BufReader::with_capacity(16, rx));
            let mut got = Vec::new();
            for chunk in [&b"abc"[..], b"defgh", b"ij"] {
                step_tx.send(chunk).unwrap();
                let filled = io.fill_buf().unwrap();
                got.push(filled.to_vec());
                let len = filled.len();
                io.consume(len);
            }
            drop(step_tx);
            got.push(io.fill_buf().unwrap().to_vec());
            got
        })
        .value;
        writer.run().unwrap();
        assert_eq!(
            got,
            [&b"abc"[..], b"defgh", b"ij", b""],
            "{ctx:?}: each burst, then EOF as an empty buffer"
        );
    }
}

#[test]
fn end_of_stream_and_peer_reset_follow_the_std_contract() {
    let _serial = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let addr = polite_then_rude_server();
    for ctx in ALL {
        let (kinds, greeting) = within(ctx, move || {
            let polite = TcpStream::connect(addr).run().unwrap();
            let mut polite = SyncIo::new(polite);
            let mut greeting = [0; 3];
            polite.read_exact(&mut greeting).unwrap();
            let mut byte = [0; 1];
            let eof = polite.read(&mut byte).unwrap();
            let again = polite.read(&mut byte).unwrap();
            let exact = polite.read_exact(&mut byte).unwrap_err().kind();
            let mut rude = SyncIo::new(TcpStream::connect(addr).run().unwrap());
            rude.write_all(b"?").unwrap();
            let reset = rude.read(&mut byte).unwrap_err().kind();
            // Writing to a pipe whose reader is gone.
            let (pipe, reader) = tokio::io::duplex(8);
            drop(reader);
            let broken = SyncIo::new(pipe).write(b"x").unwrap_err().kind();
            ((eof, again, exact, reset, broken), greeting)
        })
        .value;
        assert_eq!(&greeting, b"bye", "{ctx:?}");
        assert_eq!(
            kinds,
            (
                0,
                0,
                io::ErrorKind::UnexpectedEof,
                io::ErrorKind::ConnectionReset,
                io::ErrorKind::BrokenPipe
            ),
            "{ctx:?}: EOF reads 0 every time, a reset is ConnectionReset, a lost reader BrokenPipe"
        );
    }
}

#[test]
fn sync_io_allocates_nothing_per_call_on_a_plain_thread() {
    const CALLS: usize = 1_000;
    const WARM_UP: usize = 50;
    // A loopback connection on the global runtime (a duplex would not do: its own buffer
    // reallocates now and then, which the count would blame on `SyncIo`).
    let listener = anysync::run(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, a) =
        anysync::run(async move { tokio::join!(listener.accept(), TcpStream::connect(addr)) });
    let (a, b) = (a.unwrap(), accepted.unwrap().0);
    // A plain thread writes through `SyncIo` while this one reads, so reads wait (pending
    // polls, wake-ups from the IO driver) as well as find data ready.
    let writer = thread::spawn(move || {
        let mut io = SyncIo::new(a);
        let chunk = [7_u8; 64];
        // Warm-up outside the count: the first calls start the global runtime, and the first
        // wait makes this thread's parker.
        for _ in 0..WARM_UP {
            io.write_all(&chunk).unwrap();
        }
        let allocations = counting::allocations_in(|| {
            for _ in 0..CALLS {
                io.write_all(&chunk).unwrap();
                io.flush().unwrap();
            }
        });
        io.shutdown().unwrap();
        allocations
    });
    let mut io = SyncIo::new(BufReader::with_capacity(128, b));
    let mut buf = [0_u8; 64];
    io.read_exact(&mut buf).unwrap();
    let mut total = 0;
    let allocations = counting::allocations_in(|| {
        for i in 0..CALLS {
            if i % 2 == 0 {
                io.read_exact(&mut buf).unwrap();
                total += buf.len();
            } else {
                let n = io.fill_buf().unwrap().len().min(64);
                io.consume(n);
                total += n;
            }
        }
    });
    let mut rest = Vec::new();
    io.read_to_end(&mut rest).unwrap();
    assert_eq!(64 + total + rest.len(), (WARM_UP + CALLS) * 64);
    assert_eq!(allocations, 0, "allocations in {CALLS} reads");
    assert_eq!(writer.join().unwrap(), 0, "allocations in {CALLS} writes");
}

#[test]
fn the_counter_sees_what_a_reader_allocates_inside_sync_io_calls() {
    // The control for the test above: a `SyncIo` call on a plain thread polls `T` on the
    // counting thread, so an allocation made while polling would be counted.
    struct Allocating;
    impl AsyncRead for Allocating {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            let byte = std::hint::black_box(Box::new(1_u8));
            buf.put_slice(&[*byte]);
            std::task::Poll::Ready(Ok(()))
        }
    }
    let mut io = SyncIo::new(Allocating);
    let mut buf = [0_u8; 4];
    io.read_exact(&mut buf).unwrap(); // warm-up, as above
    let allocations = counting::allocations_in(|| {
        for _ in 0..10 {
            assert_eq!(io.read(&mut buf).unwrap(), 1);
        }
    });
    assert_eq!(allocations, 10);
}

// ---- AsyncIo -------------------------------------------------------------------------------

/// Where an `AsyncIo` test body runs: a task of each runtime flavor, of a `LocalSet`, and no
/// runtime at all.
#[derive(Clone, Copy, Debug)]
enum Executor {
    CurrentThread,
    MultiThread,
    LocalSet,
    NoRuntime,
}

const EXECUTORS: [Executor; 4] = [
    Executor::CurrentThread,
    Executor::MultiThread,
    Executor::LocalSet,
    Executor::NoRuntime,
];

fn block_on<F: Future + Send + 'static>(executor: Executor, future: F) -> F::Output
where
    F::Output: Send + 'static,
{
    watchdog(&format!("{executor:?}"), move || match executor {
        Executor::CurrentThread => common::current_thread().block_on(future),
        Executor::MultiThread => {
            let rt = common::multi_thread(2);
            rt.block_on(async move { tokio::spawn(future).await.unwrap() })
        }
        Executor::LocalSet => {
            let rt = common::current_thread();
            tokio::task::LocalSet::new().block_on(&rt, async move {
                tokio::task::spawn_local(future).await.unwrap()
            })
        }
        // `futures`' executor: no tokio context, so the operations run on the global runtime's
        // blocking pool.
        Executor::NoRuntime => futures::executor::block_on(future),
    })
}

#[test]
fn async_io_reads_a_real_file_in_tasks_and_without_a_runtime() {
    const LEN: usize = 3 * 1024 * 1024 + 17; // more than one 2 MiB operation
    let path = TempPath::new("read");
    std::fs::write(&path.0, pattern(LEN)).unwrap();
    for executor in EXECUTORS {
        let file_path = path.0.clone();
        let (all, chunked) = block_on(executor, async move {
            let mut file = AsyncIo::new(std::fs::File::open(&file_path).unwrap());
            let mut all = Vec::new();
            file.read_to_end(&mut all).await.unwrap();
            // Small reads see every byte in order too.
            let mut file = AsyncIo::new(std::fs::File::open(&file_path).unwrap());
            let mut chunked = Vec::new();
            let mut buf = [0; 1000];
            loop {
                let n = file.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                chunked.extend_from_slice(&buf[..n]);
            }
            (all, chunked)
        });
        assert!(all == pattern(LEN), "{executor:?}: read_to_end");
        assert!(chunked == pattern(LEN), "{executor:?}: small reads");
    }
}

#[test]
fn async_io_copies_a_file_into_a_loopback_socket() {
    const LEN: usize = 1024 * 1024;
    let path = TempPath::new("copy");
    std::fs::write(&path.0, pattern(LEN)).unwrap();
    let file_path = path.0.clone();
    let received = block_on(Executor::CurrentThread, async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let receiver = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut all = Vec::new();
            socket.read_to_end(&mut all).await.unwrap();
            all
        });
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let mut file = AsyncIo::new(std::fs::File::open(file_path).unwrap());
        let copied = tokio::io::copy(&mut file, &mut socket).await.unwrap();
        socket.shutdown().await.unwrap();
        assert_eq!(copied, LEN as u64);
        receiver.await.unwrap()
    });
    assert!(received == pattern(LEN));
}

#[test]
fn async_io_writes_and_seeks_a_real_file() {
    let path = TempPath::new("seek");
    for executor in EXECUTORS {
        let file_path = path.0.clone();
        let (tail, on_disk) = block_on(executor, async move {
            let file = create_read_write(&file_path);
            let mut io = AsyncIo::new(file);
            io.write_all(b"0123456789").await.unwrap();
            io.flush().await.unwrap();
            assert_eq!(io.seek(SeekFrom::Current(-4)).await.unwrap(), 6);
            let mut tail = Vec::new();
            io.read_to_end(&mut tail).await.unwrap();
            assert_eq!(io.seek(SeekFrom::Start(2)).await.unwrap(), 2);
            io.write_all(b"ab").await.unwrap();
            io.seek(SeekFrom::End(0)).await.unwrap();
            io.write_all(b"!").await.unwrap();
            io.shutdown().await.unwrap();
            (tail, std::fs::read(&file_path).unwrap())
        });
        assert_eq!(tail, b"6789", "{executor:?}");
        assert_eq!(on_disk, b"01ab456789!", "{executor:?}");
    }
}

#[test]
fn async_io_driven_by_run_works_in_every_context() {
    // Blocking code that holds an `AsyncIo` drives its operations with `.run()`: each one is
    // handed to the blocking pool of whichever runtime `.run()` polls it on, in every context.
    for ctx in ALL {
        let path = TempPath::new("run");
        let file_path = path.0.clone();
        let (tail, head, on_disk) = within(ctx, move || {
            let file = create_read_write(&file_path);
            let mut io = AsyncIo::new(file);
            let tail = anysync::run(async {
                io.write_all(b"hello world").await?;
                io.flush().await?;
                io.seek(SeekFrom::Start(6)).await?;
                let mut tail = String::new();
                io.read_to_string(&mut tail).await?;
                io::Result::Ok(tail)
            })
            .unwrap();
            // One operation per `.run()`.
            io.rewind().run().unwrap();
            let mut head = [0; 5];
            io.read_exact(&mut head).run().unwrap();
            io.seek(SeekFrom::End(0)).run().unwrap();
            io.write_all(b"!").run().unwrap();
            io.flush().run().unwrap();
            drop(io);
            (tail, head, std::fs::read(&file_path).unwrap())
        })
        .value;
        assert_eq!(tail, "world", "{ctx:?}");
        assert_eq!(&head, b"hello", "{ctx:?}");
        assert_eq!(on_disk, b"hello world!", "{ctx:?}");
    }
}

impl<T: Seek> Seek for Gated<T> {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        self.inner.seek(position)
    }
}

#[test]
fn async_io_seek_accounts_for_bytes_read_ahead_by_an_abandoned_read() {
    let (open, gate) = mpsc::channel();
    let (dropped_tx, _dropped) = mpsc::channel();
    let reader = Gated {
        inner: io::Cursor::new(b"0123456789".to_vec()),
        gate,
        dropped: dropped_tx,
    };
    let (head, position, rest) = block_on(Executor::CurrentThread, async move {
        let mut io = AsyncIo::new(reader);
        // A read for 10 bytes starts on a worker, which waits at the gate, and is abandoned
        // (its future dropped)...
        let started = std::future::poll_fn(|cx| {
            let mut big = [0; 10];
            let mut buf = tokio::io::ReadBuf::new(&mut big);
            std::task::Poll::Ready(std::pin::Pin::new(&mut io).poll_read(cx, &mut buf))
        })
        .await;
        assert!(started.is_pending());
        for _ in 0..10 {
            open.send(()).unwrap();
        }
        // ...so the next, smaller read gets 4 of its bytes and 6 stay buffered: the cursor is
        // at 10, the reader at 4.
        let mut head = [0; 4];
        io.read_exact(&mut head).await.unwrap();
        let position = io.seek(SeekFrom::Current(0)).await.unwrap();
        let mut rest = Vec::new();
        io.read_to_end(&mut rest).await.unwrap();
        (head, position, rest)
    });
    assert_eq!(&head, b"0123");
    assert_eq!(position, 4, "seek accounts for the buffered bytes");
    assert_eq!(rest, b"456789");
}

#[test]
fn async_io_write_errors_keep_their_kind_and_come_back_from_flush_or_the_next_write() {
    for executor in EXECUTORS {
        let (accepted, flushed, next_write, after) = block_on(executor, async move {
            let full = || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap()
            };
            // The write is accepted at once and fails on the worker: `flush` reports it.
            let mut io = AsyncIo::new(full());
            let accepted = io.write(b"data").await.unwrap();
            let flushed = io.flush().await.unwrap_err().kind();
            // Reported once: the next flush has nothing to report.
            let after = io.flush().await.map_err(|e| e.kind());
            // Or the next write reports it, and is not accepted.
            let mut io = AsyncIo::new(full());
            assert_eq!(io.write(b"data").await.unwrap(), 4);
            let next_write = io.write(b"more").await.unwrap_err().kind();
            (accepted, flushed, next_write, after)
        });
        assert_eq!(accepted, 4, "{executor:?}");
        assert_eq!(flushed, io::ErrorKind::StorageFull, "{executor:?}");
        assert_eq!(next_write, io::ErrorKind::StorageFull, "{executor:?}");
        assert_eq!(after, Ok(()), "{executor:?}");
    }
}

#[test]
fn async_io_read_errors_keep_their_kind() {
    let dir = TempPath::new("dir");
    std::fs::create_dir(&dir.0).unwrap();
    let dir_path = dir.0.clone();
    let kind = block_on(Executor::CurrentThread, async move {
        let mut io = AsyncIo::new(std::fs::File::open(dir_path).unwrap());
        io.read(&mut [0; 8]).await.unwrap_err().kind()
    });
    assert_eq!(kind, io::ErrorKind::IsADirectory);
}

/// A server on the global runtime: each client connects a polite peer (greets, then shuts
/// its write half), then a rude one (resets).
fn polite_then_rude_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let listener = anysync::run(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        global().spawn(async move {
            let mut open = Vec::new();
            loop {
                let (mut polite, _) = listener.accept().await.unwrap();
                polite.write_all(b"bye").await.unwrap();
                polite.shutdown().await.unwrap();
                open.push(polite); // only its write half is shut
                let (mut rude, _) = listener.accept().await.unwrap();
                // Reset only once the client has written: a reset that beats the end of
                // its `connect` would fail the connect instead of the read.
                let mut byte = [0; 1];
                rude.read_exact(&mut byte).await.unwrap();
                rude.set_zero_linger().unwrap();
                drop(rude); // sends RST
            }
        });
        addr
    })
}

#[test]
fn async_io_end_of_stream_and_peer_reset_follow_the_std_contract() {
    let _serial = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let addr = polite_then_rude_server();
    let outcome = block_on(Executor::CurrentThread, async move {
        let polite = std::net::TcpStream::connect(addr).unwrap();
        let mut polite = AsyncIo::new(polite);
        let mut greeting = [0; 3];
        polite.read_exact(&mut greeting).await.unwrap();
        let mut byte = [0; 1];
        let eof = polite.read(&mut byte).await.unwrap();
        let again = polite.read(&mut byte).await.unwrap();
        let exact = polite.read_exact(&mut byte).await.unwrap_err().kind();
        let mut rude = AsyncIo::new(std::net::TcpStream::connect(addr).unwrap());
        rude.write_all(b"?").await.unwrap();
        let reset = rude.read(&mut byte).await.unwrap_err().kind();
        (greeting, eof, again, exact, reset)
    });
    assert_eq!(
        outcome,
        (
            *b"bye",
            0,
            0,
            io::ErrorKind::UnexpectedEof,
            io::ErrorKind::ConnectionReset
        )
    );
}

/// The polite-then-rude server pairs connections by order: one client at a time.
static SERVER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A writer or reader that waits at a gate before each call, and reports when it is dropped.
struct Gated<T> {
    inner: T,
    gate: mpsc::Receiver<()>,
    dropped: mpsc::Sender<&'static str>,
}

impl<T: Write> Write for Gated<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.gate.recv().expect("gate");
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Read> Read for Gated<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.gate.recv().expect("gate");
        self.inner.read(buf)
    }
}

impl<T> Drop for Gated<T> {
    fn drop(&mut self) {
        let _ = self
            .dropped
            .send(thread::current().name().unwrap_or("").to_owned().leak());
    }
}

#[test]
fn async_io_drop_does_not_block_and_an_accepted_write_completes_in_the_background() {
    let path = TempPath::new("drop");
    let (open, gate) = mpsc::channel();
    let (dropped_tx, dropped) = mpsc::channel();
    let writer = Gated {
        inner: std::fs::File::create(&path.0).unwrap(),
        gate,
        dropped: dropped_tx,
    };
    // The runtime lives on until the write is done: dropping a runtime waits for its
    // blocking threads.
    let (caller, dropped_on) = watchdog("drop", move || {
        let rt = common::current_thread();
        let caller = rt.block_on(async move {
            let mut io = AsyncIo::new(writer);
            // Accepted at once, although the worker waits at the gate.
            io.write_all(b"accepted").await.unwrap();
            // Dropping returns while the write still waits: blocking here would hang.
            drop(io);
            thread::current().name().unwrap_or("").to_owned()
        });
        open.send(()).unwrap();
        let dropped_on = dropped
            .recv()
            .expect("the writer is dropped after its write");
        (caller, dropped_on)
    });
    assert_ne!(
        dropped_on, caller,
        "dropped on the worker, not by the caller"
    );
    assert_eq!(std::fs::read(&path.0).unwrap(), b"accepted");
}

#[test]
fn async_io_never_blocks_its_current_thread_runtime() {
    let (open, gate) = mpsc::channel();
    let (dropped_tx, _dropped) = mpsc::channel();
    let reader = Gated {
        inner: &b"through the gate"[..],
        gate,
        dropped: dropped_tx,
    };
    let got = block_on(Executor::CurrentThread, async move {
        let mut io = AsyncIo::new(reader);
        let mut text = String::new();
        // The read waits on a worker until a task of this same runtime opens the gate: had it
        // blocked the runtime's only thread, the task could never run (watchdog).
        let opener = tokio::spawn(async move {
            tokio::task::yield_now().await;
            for _ in 0..2 {
                open.send(()).unwrap(); // one read for the bytes, one for EOF
            }
        });
        io.read_to_string(&mut text).await.unwrap();
        opener.await.unwrap();
        text
    });
    assert_eq!(got, "through the gate");
}

/// Panics inside its read.
struct Exploding;

impl Read for Exploding {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        std::panic::panic_any(common::Boom(12))
    }
}

#[test]
fn async_io_a_panicking_operation_reaches_the_task_and_later_calls_fail() {
    use futures::FutureExt;
    let (payload, later) = block_on(Executor::CurrentThread, async {
        let mut io = AsyncIo::new(Exploding);
        let mut buf = [0; 4];
        let caught = std::panic::AssertUnwindSafe(io.read(&mut buf))
            .catch_unwind()
            .await
            .unwrap_err();
        let payload = caught.downcast_ref::<common::Boom>().map(|b| b.0);
        let later = io.read(&mut buf).await.unwrap_err();
        (payload, later.to_string())
    });
    assert_eq!(payload, Some(12));
    assert!(later.contains("panicked"), "{later}");
}

#[test]
fn async_io_runs_sync_io_inside_its_worker_on_the_awaiting_runtime() {
    // Both bridges together: `AsyncIo<SyncIo<DuplexStream>>`. The worker's `SyncIo::read`
    // blocks on IO that a task of the same current_thread runtime writes.
    let got = block_on(Executor::CurrentThread, async {
        let (mut tx, rx) = tokio::io::duplex(8);
        let writer = tokio::spawn(async move {
            tx.write_all(b"round trip through both").await.unwrap();
        });
        let mut io = AsyncIo::new(SyncIo::new(rx));
        let mut text = String::new();
        io.read_to_string(&mut text).await.unwrap();
        writer.await.unwrap();
        text
    });
    assert_eq!(got, "round trip through both");
}
