//! The bridges for values users already hold (issue 12, part A): `anysync::iter` (any
//! `Stream` as a blocking iterator that is still a `Stream`) and `anysync::unblock_iter` (any
//! blocking `Iterator` as a `Stream` pulled on a worker thread), in every calling context,
//! with real sources: a loopback `TcpStream`, a `ReceiverStream`, a file in a temp dir.

mod common;

use anysync::RunExt;
use common::ctx::{ALL, within};
use common::{Boom, here, panic_message};
use futures::Stream;
use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::{LinesStream, ReceiverStream};

/// The longest any test waits for something another thread does: a watchdog, not a timing.
const PATIENCE: Duration = Duration::from_secs(60);

/// Counts events across threads.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Counter {
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Wraps a stream: counts the items it produced and bumps `dropped` when it is dropped.
struct Counted<S> {
    stream: S,
    produced: Counter,
    dropped: Counter,
}

impl<S> Counted<S> {
    fn new(stream: S) -> (Self, Counter, Counter) {
        let (produced, dropped) = (Counter::default(), Counter::default());
        let counted = Counted {
            stream,
            produced: produced.clone(),
            dropped: dropped.clone(),
        };
        (counted, produced, dropped)
    }
}

impl<S: Stream + Unpin> Stream for Counted<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let poll = Pin::new(&mut self.stream).poll_next(cx);
        if let Poll::Ready(Some(_)) = poll {
            self.produced.bump();
        }
        poll
    }
}

impl<S> Drop for Counted<S> {
    fn drop(&mut self) {
        self.dropped.bump();
    }
}

/// A loopback TCP server on the global runtime: each connection gets the lines `0..lines`,
/// then the server shuts its side down and waits for the client to close; the number of
/// connections it saw closed goes out on the returned channel, one message per close.
fn line_server(lines: u32) -> (SocketAddr, mpsc::Receiver<()>) {
    let (closed_tx, closed) = mpsc::channel();
    let addr = thread::spawn(move || {
        anysync::run(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let closed_tx = closed_tx.clone();
                    tokio::spawn(async move {
                        for i in 0..lines {
                            if socket.write_all(format!("{i}\n").as_bytes()).await.is_err() {
                                break;
                            }
                        }
                        let _ = socket.shutdown().await;
                        // The client closing (FIN, or RST with data unread) ends this read.
                        let mut sink = [0; 64];
                        while let Ok(1..) = socket.read(&mut sink).await {}
                        let _ = closed_tx.send(());
                    });
                }
            });
            addr
        })
    })
    .join()
    .expect("line server");
    (addr, closed)
}

/// The lines a `line_server` sends, as a `Stream` over a loopback `TcpStream`. Connected with
/// `.run()`, so the socket is registered with a runtime that keeps running in every context.
fn tcp_lines(addr: SocketAddr) -> LinesStream<BufReader<TcpStream>> {
    let tcp = async move { TcpStream::connect(addr).await }
        .run()
        .expect("connect");
    LinesStream::new(BufReader::new(tcp).lines())
}

/// The same, with the socket registered on a current_thread runtime that runs on a thread of
/// its own (a source driven by a runtime the caller neither is in nor blocks).
fn tcp_lines_on_another_runtime(addr: SocketAddr) -> LinesStream<BufReader<TcpStream>> {
    static OTHER: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();
    let handle = OTHER.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let rt = common::current_thread();
            tx.send(rt.handle().clone()).expect("handle");
            rt.block_on(std::future::pending::<()>());
        });
        rx.recv().expect("the other runtime")
    });
    let connect = handle.spawn(async move { TcpStream::connect(addr).await });
    let tcp = futures::executor::block_on(connect)
        .expect("the connect task")
        .expect("connect");
    LinesStream::new(BufReader::new(tcp).lines())
}

fn numbers(n: u32) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[test]
fn a_tcp_stream_iterates_with_for_and_awaits_in_every_context() {
    let (addr, _closed) = line_server(50);
    for ctx in ALL {
        let ran = within(ctx, move || {
            // Blocking: `for` over the whole stream.
            let mut by_for = Vec::new();
            for line in anysync::iter(tcp_lines(addr)) {
                by_for.push(line.expect("line"));
            }
            // Part of the way with `&mut it` and `.next().run()`, the rest with `into_iter`.
            let mut it = anysync::iter(tcp_lines(addr));
            let head: Vec<String> = (&mut it).into_iter().take(3).map(Result::unwrap).collect();
            let fourth = it.next().run().expect("fourth").expect("line");
            let tail = it.into_iter().count();
            // Async: the same value is a `Stream`, and `.next()` is inherent.
            let awaited = anysync::run(async move {
                let mut it = anysync::iter(tcp_lines(addr));
                let mut got = Vec::new();
                while let Some(line) = it.next().await {
                    got.push(line.expect("line"));
                }
                got
            });
            // A socket driven by a runtime running on another thread.
            let other: Vec<String> = anysync::iter(tcp_lines_on_another_runtime(addr))
                .into_iter()
                .map(Result::unwrap)
                .collect();
            (by_for, head, fourth, tail, awaited, other)
        });
        let (by_for, head, fourth, tail, awaited, other) = ran.value;
        assert_eq!(other, numbers(50), "{ctx:?}: another runtime's socket");
        assert_eq!(by_for, numbers(50), "{ctx:?}: `for`");
        assert_eq!(head, numbers(3), "{ctx:?}: `&mut it`");
        assert_eq!((fourth.as_str(), tail), ("3", 46), "{ctx:?}: the rest");
        assert_eq!(awaited, numbers(50), "{ctx:?}: `.next().await`");
    }
}

#[test]
fn a_receiver_stream_takes_ten_with_stream_ext_in_scope_and_closes_the_channel_in_every_context() {
    // `futures::StreamExt` is in scope: `.next()` is still the inherent one, `.take(10)` on the
    // iterator is `Iterator::take` and on the `Iter` itself `StreamExt::take` (no E0034).
    use futures::StreamExt;
    for ctx in ALL {
        let (tx, rx) = tokio::sync::mpsc::channel::<u32>(4);
        let (sent_tx, sent) = mpsc::channel();
        // A plain thread feeds the channel; the bound of 4 makes the consumer really wait.
        thread::spawn(move || {
            let mut count = 0;
            while tx.blocking_send(count).is_ok() {
                count += 1;
            }
            sent_tx.send(count).expect("report");
        });
        let ran = within(ctx, move || {
            let mut it = anysync::iter(ReceiverStream::new(rx));
            let first = it.next().run();
            let firsts: Vec<u32> = (&mut it).into_iter().take(10).collect();
            let by_stream_ext: Vec<u32> =
                anysync::run(async { (&mut it).take(3).collect::<Vec<_>>().await });
            drop(it);
            (first, firsts, by_stream_ext)
        });
        let (first, firsts, by_stream_ext) = ran.value;
        assert_eq!(first, Some(0), "{ctx:?}");
        assert_eq!(firsts, (1..=10).collect::<Vec<_>>(), "{ctx:?}");
        assert_eq!(by_stream_ext, [11, 12, 13], "{ctx:?}");
        // Dropping the iterator dropped the receiver: the producer's next send failed.
        let count = sent
            .recv_timeout(PATIENCE)
            .expect("the channel was never closed");
        assert!(
            (14..=14 + 4 + 1).contains(&count),
            "{ctx:?}: sent {count}: at most the channel's bound past what was taken"
        );
    }
}

#[test]
fn tokio_stream_ext_in_scope_is_not_ambiguous_either() {
    use tokio_stream::StreamExt;
    let mut it = anysync::iter(tokio_stream::iter([1, 2, 3, 4]));
    assert_eq!(it.next().run(), Some(1));
    let two: Vec<u32> = (&mut it).into_iter().take(2).collect();
    assert_eq!(two, [2, 3]);
    let rest: Vec<u32> = anysync::run((&mut it).take(5).collect::<Vec<_>>());
    assert_eq!(rest, [4]);
}

#[test]
fn breaking_out_of_a_for_closes_the_tcp_stream_at_once_in_every_context() {
    for ctx in ALL {
        // More lines than the consumer reads, and more than the socket buffers hold.
        let (addr, closed) = line_server(200_000);
        let ran = within(ctx, move || {
            let (lines, produced, dropped) = Counted::new(tcp_lines(addr));
            let mut taken = Vec::new();
            let mut open_while_iterating = true;
            for line in anysync::iter(lines) {
                taken.push(line.expect("line"));
                open_while_iterating &= dropped.get() == 0;
                if taken.len() == 3 {
                    break;
                }
            }
            (taken, open_while_iterating, produced.get(), dropped.get())
        });
        let (taken, open_while_iterating, produced, dropped) = ran.value;
        assert_eq!(taken, numbers(3), "{ctx:?}");
        assert!(open_while_iterating, "{ctx:?}");
        assert_eq!(produced, 3, "{ctx:?}: lazy and exact: no line read ahead");
        assert_eq!(dropped, 1, "{ctx:?}: the `break` dropped the stream");
        closed
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("{ctx:?}: the server never saw the close: {e}"));
    }
}

/// Yields `0..`, suspending before each item, and panics with `Boom(at)` instead of item `at`.
fn explodes_at(at: u32) -> impl Stream<Item = u32> + Send + Unpin {
    Box::pin(futures::stream::unfold(0, move |i| async move {
        tokio::task::yield_now().await;
        if i == at {
            panic::panic_any(Boom(at));
        }
        Some((i, i + 1))
    }))
}

#[test]
fn a_panic_in_the_stream_reaches_the_consumer_with_its_payload_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let (stream, _, dropped) = Counted::new(explodes_at(2));
            let mut it = anysync::iter(stream);
            let mut seen = Vec::new();
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                for i in &mut it {
                    seen.push(i);
                }
            }));
            let boom = caught.unwrap_err().downcast::<Boom>().map(|b| b.0).ok();
            let dropped_at_panic = dropped.get();
            let after = it.next().run();
            (seen, boom, dropped_at_panic, after)
        });
        assert_eq!(
            ran.value,
            (vec![0, 1], Some(2), 1, None),
            "{ctx:?}: items, payload, the stream dropped at the panic, then the end"
        );
    }
    // Async consumers see it from `poll_next`, prefetching consumers from their `next()`.
    let joined = common::current_thread().block_on(async {
        tokio::spawn(async {
            let mut it = anysync::iter(explodes_at(1));
            while it.next().await.is_some() {}
        })
        .await
    });
    let payload = joined.unwrap_err().into_panic();
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    let caught = panic::catch_unwind(|| {
        anysync::iter(explodes_at(3))
            .prefetch(2)
            .into_iter()
            .count()
    });
    assert_eq!(caught.unwrap_err().downcast_ref::<Boom>(), Some(&Boom(3)));
}

/// `0..`, counting the items produced, with a timer before each one.
fn ticking() -> (
    impl Stream<Item = u32> + Send + Unpin + 'static,
    Counter,
    Counter,
) {
    let (stream, produced, dropped) =
        Counted::new(Box::pin(futures::stream::unfold(0, |i| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Some((i, i + 1))
        })));
    (stream, produced, dropped)
}

#[test]
fn prefetch_reads_ahead_within_its_bound_and_drops_the_stream_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let (stream, produced, dropped) = ticking();
            let mut ahead = anysync::iter(stream).prefetch(4);
            // With nothing consumed, the pump fills its buffer and stops there; the timeout
            // only turns a pump that never fills into a failure instead of a hang.
            let filling = produced.clone();
            anysync::Coroutine::new(async move {
                while filling.get() < 4 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .run_timeout(PATIENCE)
            .expect("the pump never filled its buffer");
            let when_full = produced.get();
            let first = ahead.next().run();
            drop(ahead);
            let after_drop = (produced.get(), dropped.get());
            anysync::run(async { tokio::time::sleep(Duration::from_millis(20)).await });
            (when_full, first, after_drop, produced.get())
        });
        let (when_full, first, (produced, dropped), later) = ran.value;
        assert_eq!(when_full, 4, "{ctx:?}: read ahead exactly the bound");
        assert_eq!(first, Some(0), "{ctx:?}");
        assert!(
            produced <= 1 + 4 + 1,
            "{ctx:?}: within the bound: {produced}"
        );
        assert_eq!(
            dropped, 1,
            "{ctx:?}: dropping the prefetch dropped the stream"
        );
        assert_eq!(later, produced, "{ctx:?}: nothing is polled after the drop");
    }
}

#[test]
fn a_prefetch_iterates_by_mut_reference_breaks_and_carries_on_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let mut ahead = anysync::iter(futures::stream::iter(0..10_u32)).prefetch(3);
            // `for` over `&mut`, as over an `Iter`: a `break` keeps the rest.
            let mut head = Vec::new();
            for n in &mut ahead {
                head.push(n);
                if n == 3 {
                    break;
                }
            }
            let middle: Vec<u32> = (&mut ahead).into_iter().take(2).collect();
            let rest: Vec<u32> = ahead.into_iter().collect();
            (head, middle, rest)
        });
        let (head, middle, rest) = ran.value;
        assert_eq!(head, [0, 1, 2, 3], "{ctx:?}");
        assert_eq!(middle, [4, 5], "{ctx:?}");
        assert_eq!(rest, [6, 7, 8, 9], "{ctx:?}");
    }
}

#[test]
fn lazy_iteration_polls_the_stream_only_when_asked() {
    let (stream, produced, dropped) = ticking();
    let mut it = anysync::iter(stream);
    anysync::run(async { tokio::time::sleep(Duration::from_millis(5)).await });
    assert_eq!(produced.get(), 0, "nothing before the first request");
    assert_eq!(it.next().run(), Some(0));
    assert_eq!(it.next().run(), Some(1));
    assert_eq!(produced.get(), 2);
    drop(it);
    assert_eq!(dropped.get(), 1);
}

#[test]
fn a_local_stream_iterates_where_it_can_stay_and_panics_with_advice_elsewhere() {
    use std::rc::Rc;
    for ctx in ALL {
        let ran = within(ctx, || {
            panic::catch_unwind(|| {
                let stream = futures::stream::iter([Rc::new(1_u32), Rc::new(2)]);
                let mut sum = 0;
                for n in anysync::iter_local(stream) {
                    sum += *n;
                }
                (here(), sum)
            })
            .map_err(|payload| panic_message(&*payload))
        });
        if ctx.forbids_local() {
            let message = ran
                .value
                .expect_err("a !Send stream cannot be iterated here");
            assert!(
                message.contains("`.await` it instead"),
                "{ctx:?}: {message}"
            );
            assert!(
                message.contains("use `anysync::iter`"),
                "{ctx:?}: {message}"
            );
            assert!(
                message.contains("test_stream_bridge.rs"),
                "{ctx:?}: names the caller: {message}"
            );
        } else {
            let (thread, sum) = ran.value.unwrap_or_else(|m| panic!("{ctx:?}: {m}"));
            assert_eq!((thread, sum), (ran.caller, 3), "{ctx:?}");
        }
    }
    // Async code can await it anywhere, a current_thread runtime's task included.
    let rt = common::current_thread();
    let local = tokio::task::LocalSet::new();
    let sum = local.block_on(&rt, async {
        let mut it = anysync::iter_local(futures::stream::iter([Rc::new(4_u32), Rc::new(5)]));
        let mut sum = 0;
        while let Some(n) = it.next().await {
            sum += *n;
        }
        sum
    });
    assert_eq!(sum, 9);
}

// ---------------------------------------------------------------------------------------------
// unblock_iter
// ---------------------------------------------------------------------------------------------

/// A file of `lines` numbered lines in the temp dir, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn with_lines(name: &str, lines: u32) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "anysync-test-{name}-{}-{}.txt",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let text: String = (0..lines).map(|i| format!("{i}\n")).collect();
        std::fs::write(&path, text).expect("write the temp file");
        TempFile(path)
    }

    /// Its lines as a blocking iterator that records the thread each one was read on.
    fn lines(
        &self,
        threads: &Arc<Mutex<Vec<ThreadId>>>,
    ) -> impl Iterator<Item = io::Result<String>> + Send + 'static {
        let file = std::fs::File::open(&self.0).expect("open the temp file");
        let threads = Arc::clone(threads);
        io::BufReader::new(file)
            .lines()
            .inspect(move |_| threads.lock().unwrap().push(here()))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_file_read_through_unblock_iter_works_in_every_context_and_reads_on_workers() {
    use futures::StreamExt;
    let file = Arc::new(TempFile::with_lines("lines", 300));
    for ctx in ALL {
        let file = Arc::clone(&file);
        let ran = within(ctx, move || {
            let threads = Arc::new(Mutex::new(Vec::new()));
            // Async code with combinators, awaited through `.run()` in this context.
            let lines = file.lines(&threads);
            let evens: Vec<u32> = async move {
                anysync::unblock_iter(lines)
                    .buffer(16)
                    .map(|line| line.expect("line").parse::<u32>().expect("number"))
                    .filter(|n| std::future::ready(n % 2 == 0))
                    .collect()
                    .await
            }
            .run();
            // Blocking code: the stream wrapped in `anysync::iter`.
            let mut by_for = Vec::new();
            for line in anysync::iter(anysync::unblock_iter(file.lines(&threads))) {
                by_for.push(line.expect("line"));
            }
            let threads = threads.lock().unwrap().clone();
            (evens, by_for, threads)
        });
        let (evens, by_for, threads) = ran.value;
        assert_eq!(evens, (0..300).step_by(2).collect::<Vec<_>>(), "{ctx:?}");
        assert_eq!(by_for, numbers(300), "{ctx:?}");
        assert_eq!(threads.len(), 600, "{ctx:?}: every line read once");
        assert!(
            threads.iter().all(|t| *t != ran.caller),
            "{ctx:?}: the file is read on worker threads, never the caller's"
        );
    }
}

/// `0..`, counting each `next()`, and telling `dropped` when it is dropped.
struct Pulls {
    next: u32,
    pulled: Counter,
    dropped: mpsc::Sender<()>,
    /// If set, `next()` waits for a message before producing this item.
    gate: Option<(u32, mpsc::Receiver<()>)>,
}

impl Pulls {
    fn new() -> (Self, Counter, mpsc::Receiver<()>) {
        let pulled = Counter::default();
        let (dropped, drops) = mpsc::channel();
        let pulls = Pulls {
            next: 0,
            pulled: pulled.clone(),
            dropped,
            gate: None,
        };
        (pulls, pulled, drops)
    }

    fn gated_at(mut self, at: u32) -> (Self, mpsc::Sender<()>) {
        let (open, gate) = mpsc::channel();
        self.gate = Some((at, gate));
        (self, open)
    }
}

impl Iterator for Pulls {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if let Some((at, gate)) = &self.gate
            && self.next == *at
        {
            gate.recv_timeout(PATIENCE).expect("the gate never opened");
        }
        self.pulled.bump();
        self.next += 1;
        Some(self.next - 1)
    }
}

impl Drop for Pulls {
    fn drop(&mut self) {
        let _ = self.dropped.send(());
    }
}

#[test]
fn unblock_iter_pulls_within_its_bound_and_only_once_polled() {
    use futures::StreamExt;
    let (pulls, pulled, _drops) = Pulls::new();
    let rt = common::multi_thread(2);
    let (first, when_full, later, after_more) = rt.block_on(async {
        let mut stream = anysync::unblock_iter(pulls).buffer(8);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(pulled.get(), 0, "nothing is pulled before the first poll");
        let first = stream.next().await;
        // The batch fills the buffer and stops there; the limit only bounds a hang.
        tokio::time::timeout(PATIENCE, async {
            while pulled.get() < 8 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the batch never filled the buffer");
        let when_full = pulled.get();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let later = pulled.get();
        let more: Vec<u32> = (&mut stream).take(20).collect().await;
        assert_eq!(more, (1..=20).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(20)).await;
        (first, when_full, later, pulled.get())
    });
    assert_eq!(first, Some(0));
    // 8 buffered, plus item 0 if it was taken before the buffer filled (the batch may still
    // be pulling that 9th one when `when_full` is read).
    assert!((8..=9).contains(&when_full), "{when_full}");
    assert!(
        (when_full..=9).contains(&later),
        "a full buffer stops the batch: {later}"
    );
    assert!(
        after_more <= 21 + 8,
        "at most the buffer ahead of what was taken: {after_more}"
    );
}

#[test]
fn dropping_unblock_iter_drops_the_iterator_also_mid_batch() {
    use futures::StreamExt;
    // Never polled: dropped at once, on this thread.
    let (pulls, pulled, drops) = Pulls::new();
    drop(anysync::unblock_iter(pulls));
    assert_eq!(drops.try_recv(), Ok(()), "dropped with the stream");
    assert_eq!(pulled.get(), 0);

    // Dropped while a batch is blocked in `next()`: the iterator goes as soon as that call
    // returns, and nothing more is pulled.
    let (pulls, pulled, drops) = Pulls::new();
    let (pulls, open) = pulls.gated_at(1);
    let rt = common::current_thread();
    rt.block_on(async {
        let mut stream = anysync::unblock_iter(pulls);
        assert_eq!(stream.next().await, Some(0));
        // The batch is now waiting at the gate for item 1.
        let waited = tokio::time::timeout(Duration::from_millis(10), stream.next()).await;
        assert!(waited.is_err(), "item 1 is held at the gate");
        drop(stream);
    });
    assert!(
        drops.try_recv().is_err(),
        "still inside `next()` on the worker"
    );
    open.send(()).unwrap();
    drops
        .recv_timeout(PATIENCE)
        .expect("the iterator was never dropped");
    assert_eq!(pulled.get(), 2, "no item pulled after the drop");

    // Run to the end: the end is seen only once the iterator is gone.
    let (pulls, _, drops) = Pulls::new();
    let total =
        anysync::run(anysync::unblock_iter(pulls.take(5)).fold(0, |a, b| async move { a + b }));
    assert_eq!(total, 10);
    assert_eq!(
        drops.try_recv(),
        Ok(()),
        "dropped before the end was reported"
    );
}

#[test]
fn a_panic_in_the_iterator_reaches_the_consumer_after_the_items_before_it() {
    let exploding = (0..5_u32).inspect(|&i| {
        if i == 3 {
            panic::panic_any(Boom(3));
        }
    });
    let joined = common::current_thread().block_on(async move {
        tokio::spawn(async move {
            let mut stream = anysync::unblock_iter(exploding);
            let mut seen = Vec::new();
            let caught = AssertUnwindSafe(async {
                while let Some(i) = stream.next().await {
                    seen.push(i);
                }
            });
            let caught = futures::FutureExt::catch_unwind(caught).await;
            let after = stream.next().await;
            (
                seen,
                caught.map_err(|p| p.downcast::<Boom>().ok().map(|b| b.0)),
                after,
            )
        })
        .await
    });
    let (seen, caught, after) = joined.expect("the task");
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(caught, Err(Some(3)));
    assert_eq!(after, None, "the stream ends after the panic");
}

#[test]
fn unblock_iter_in_select_loses_no_item_when_the_other_branch_wins() {
    let (pulls, _, _drops) = Pulls::new();
    let (pulls, open) = pulls.gated_at(1);
    let rt = common::current_thread();
    let got = rt.block_on(async move {
        let mut stream = anysync::unblock_iter(pulls);
        let mut got = Vec::new();
        got.push(stream.next().await.unwrap());
        let (tick_tx, tick) = tokio::sync::oneshot::channel::<()>();
        tick_tx.send(()).unwrap();
        tokio::select! {
            biased;
            _ = tick => {}
            item = stream.next() => panic!("item 1 is held at the gate: {item:?}"),
        }
        open.send(()).unwrap();
        tokio::select! {
            item = stream.next() => got.push(item.unwrap()),
            _ = tokio::time::sleep(PATIENCE) => panic!("item 1 never came"),
        }
        got
    });
    assert_eq!(got, [0, 1]);
}

#[test]
fn unblock_iter_next_awaits_with_no_import_and_with_both_stream_exts_in_scope() {
    // The loop, `while let Some(line) = lines.next().await`: `next` is inherent, so it
    // needs no trait and is not ambiguous (rustc's E0034) between `futures::StreamExt` and
    // `tokio_stream::StreamExt`, which both have one.
    let file = TempFile::with_lines("next", 5);
    let threads = Arc::new(Mutex::new(Vec::new()));
    let rt = common::current_thread();
    let (plain, both) = rt.block_on(async {
        let plain = {
            let mut lines = anysync::unblock_iter(file.lines(&threads));
            let mut seen = Vec::new();
            while let Some(line) = lines.next().await {
                seen.push(line.expect("line"));
            }
            seen
        };
        let both = {
            use futures::StreamExt;
            // In scope as in a user's module; unused, since `next` is inherent.
            #[allow(unused_imports)]
            use tokio_stream::StreamExt as _;
            let mut lines = anysync::unblock_iter(file.lines(&threads)).buffer(2);
            let mut seen = Vec::new();
            loop {
                tokio::select! {
                    line = lines.next() => match line {
                        Some(line) => seen.push(line.expect("line")),
                        None => break,
                    },
                    _ = tokio::time::sleep(PATIENCE) => panic!("no line for a minute"),
                }
            }
            // `StreamExt` itself still applies, by path.
            assert_eq!(StreamExt::next(&mut lines).await.map(|_| ()), None);
            seen
        };
        (plain, both)
    });
    assert_eq!(plain, numbers(5));
    assert_eq!(both, numbers(5));
}

#[test]
fn run_inside_the_iterators_next_goes_back_to_the_runtime_that_polled_the_stream() {
    // What the docs promise (syncify): the iterator's `next()` runs on a worker thread, and a
    // `.run()` there reaches the current_thread runtime that polls the stream, whose task
    // feeds the channel read here.
    let rt = common::current_thread();
    let polled_by = rt.handle().id();
    let got = rt.block_on(async {
        let (ask, mut asked) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (answer, answers) = tokio::sync::mpsc::unbounded_channel::<u32>();
        tokio::spawn(async move {
            let mut n = 0;
            while asked.recv().await.is_some() {
                answer.send(n).expect("answer");
                n += 1;
            }
        });
        let answers = Arc::new(tokio::sync::Mutex::new(answers));
        let pulls = (0..3).map(move |_| {
            let runtime = async { tokio::runtime::Handle::current().id() }.run();
            ask.send(()).expect("ask");
            let answers = Arc::clone(&answers);
            let answer = async move { answers.lock().await.recv().await }.run();
            (runtime, answer.expect("an answer"), here())
        });
        let mut stream = anysync::unblock_iter(pulls);
        let mut got = Vec::new();
        while let Some(pulled) = stream.next().await {
            got.push(pulled);
        }
        (got, here())
    });
    let (got, consumer) = got;
    assert_eq!(got.len(), 3);
    for (i, (runtime, answer, thread)) in got.into_iter().enumerate() {
        assert_eq!(
            runtime, polled_by,
            "pull {i}: `.run()` on the polling runtime"
        );
        assert_eq!(answer, i as u32, "pull {i}");
        assert_ne!(thread, consumer, "pull {i}: on a worker thread");
    }
}

#[test]
fn unblock_iter_works_outside_tokio_and_is_fused() {
    use futures::StreamExt;
    use futures::stream::FusedStream;
    let mut stream = anysync::unblock_iter(vec!["a", "b"].into_iter());
    // A foreign executor: the batch goes to the global runtime's blocking pool.
    let all: Vec<&str> = futures::executor::block_on((&mut stream).collect());
    assert_eq!(all, ["a", "b"]);
    assert!(stream.is_terminated());
    assert_eq!(futures::executor::block_on(stream.next()), None);
}

#[test]
fn debug_output_names_the_types() {
    let it = anysync::iter(futures::stream::iter([1]));
    assert!(format!("{it:?}").starts_with("Iter"));
    let stream = anysync::unblock_iter([1].into_iter());
    assert!(
        format!("{stream:?}").starts_with("UnblockIter"),
        "{stream:?}"
    );
}
