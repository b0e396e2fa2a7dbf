//! `anysync::unblock` (asyncify) from every async context, syncify (`.run()` inside an
//! `unblock` closure goes back to the originating runtime), panics, abandoning and cooperative
//! cancellation, and the `Blocking` value that `#[anysync::blocking]` returns.

mod common;

use anysync::{Blocking, Pool, RunExt};
use common::{Boom, DropFlag, here};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread::{self, ThreadId};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Handle, Runtime};

/// Long enough that only a bug (a deadlock) reaches it; never a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until `flag` is set, failing the test instead of hanging if it never is.
fn eventually(what: &str, flag: &AtomicBool) {
    let give_up = std::time::Instant::now() + PATIENCE;
    while !flag.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < give_up,
            "never happened: {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// The closure blocks until a task of the *same* runtime sends it a message: if `unblock`
/// blocked the runtime, that task could never run. Returns the closure's thread.
async fn unblock_without_blocking_the_runtime() -> ThreadId {
    let (tx, rx) = mpsc::channel();
    let worker = anysync::unblock(move || {
        let got: &str = rx.recv_timeout(PATIENCE).expect("the runtime was blocked");
        assert_eq!(got, "from a task");
        here()
    });
    tokio::spawn(async move { tx.send("from a task").unwrap() });
    worker.await
}

#[test]
fn unblock_from_current_thread_runtime() {
    let rt = common::current_thread();
    let worker = rt.block_on(unblock_without_blocking_the_runtime());
    assert_ne!(worker, here());
}

#[test]
fn unblock_from_multi_thread_runtime() {
    let rt = common::multi_thread(1);
    let worker = rt.block_on(async { tokio::spawn(unblock_without_blocking_the_runtime()).await });
    assert_ne!(worker.unwrap(), here());
}

#[test]
fn unblock_uses_the_calling_runtimes_blocking_pool() {
    let rt = Builder::new_current_thread()
        .thread_name("caller-blocking-pool")
        .build()
        .unwrap();
    let (name, runtime) = rt.block_on(anysync::unblock(|| {
        (
            thread::current().name().map(str::to_owned),
            Handle::current().id(),
        )
    }));
    assert_eq!(name.as_deref(), Some("caller-blocking-pool"));
    assert_eq!(runtime, rt.handle().id());
}

#[test]
fn unblock_from_a_non_tokio_executor_uses_the_global_runtime() {
    let (tx, rx) = mpsc::channel();
    let (name, runtime) = futures::executor::block_on(async {
        let worker = anysync::unblock(move || {
            rx.recv_timeout(PATIENCE).expect("the executor was blocked");
            (
                thread::current().name().map(str::to_owned),
                Handle::current().id(),
            )
        });
        tx.send(()).unwrap();
        worker.await
    });
    assert_eq!(name.as_deref(), Some(common::GLOBAL));
    assert_eq!(runtime, common::global_id());
    // And from `pollster`, another executor.
    assert_eq!(pollster::block_on(anysync::unblock(|| 5)), 5);
}

#[test]
fn unblock_reads_a_real_file() {
    let path = std::env::temp_dir().join(format!("anysync-unblock-{}.txt", std::process::id()));
    std::fs::write(&path, "contents").unwrap();
    let rt = common::current_thread();
    let read = rt.block_on(anysync::unblock({
        let path = path.clone();
        move || std::fs::read_to_string(path)
    }));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(read.unwrap(), "contents");
}

#[test]
fn unblock_returns_the_panic_payload_to_the_awaiter() {
    for rt in [common::current_thread(), common::multi_thread(2)] {
        let caught = rt.block_on(async {
            AssertUnwindSafe(anysync::unblock(|| -> u32 {
                std::panic::panic_any(Boom(7))
            }))
            .catch_unwind()
            .await
        });
        let payload = caught.expect_err("the panic must reach the awaiter");
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
    }
    // The same from a non-tokio executor.
    let caught = futures::executor::block_on(
        AssertUnwindSafe(anysync::unblock(|| -> u32 {
            std::panic::panic_any(Boom(8))
        }))
        .catch_unwind(),
    );
    assert_eq!(caught.unwrap_err().downcast_ref::<Boom>(), Some(&Boom(8)));
}

/// What a closure returns; the flag tells whether anybody received it or it was dropped.
struct Output(#[allow(dead_code)] DropFlag);

#[test]
fn dropping_the_future_abandons_a_running_closure_and_its_result() {
    let rt = common::current_thread();
    let result_dropped = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (finished_tx, finished_rx) = mpsc::channel();
    let flag = Arc::clone(&result_dropped);
    rt.block_on(async move {
        let task = anysync::unblock(move || {
            started_tx.send(()).unwrap();
            go_rx.recv_timeout(PATIENCE).unwrap();
            finished_tx.send(()).unwrap();
            Output(DropFlag(flag))
        });
        // Wait (without blocking the runtime) until the closure runs, then give up on it.
        anysync::unblock(move || started_rx.recv_timeout(PATIENCE).unwrap()).await;
        drop(task);
    });
    // A thread cannot be killed: the closure goes on, and its result goes nowhere.
    assert!(!result_dropped.load(Ordering::SeqCst));
    go_tx.send(()).unwrap();
    finished_rx
        .recv_timeout(PATIENCE)
        .expect("the abandoned closure still finishes");
    eventually("the abandoned result is dropped", &result_dropped);
}

#[test]
fn dropping_the_future_before_the_closure_starts_means_it_never_runs() {
    // One blocking thread: the second closure waits behind the first.
    let rt = Builder::new_current_thread()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let queued_ran = Arc::new(AtomicBool::new(false));
    let captured_dropped = Arc::new(AtomicBool::new(false));
    let ran = Arc::clone(&queued_ran);
    let captured = DropFlag(Arc::clone(&captured_dropped));
    rt.block_on(async move {
        let busy = anysync::unblock(move || go_rx.recv_timeout(PATIENCE).unwrap());
        let queued = anysync::unblock(move || {
            let _captured = captured;
            ran.store(true, Ordering::SeqCst);
        });
        drop(queued);
        go_tx.send(()).unwrap();
        busy.await;
        // The blocking pool is FIFO: anything queued after the dropped closure runs after it
        // would have.
        anysync::unblock(|| ()).await;
    });
    drop(rt);
    assert!(
        !queued_ran.load(Ordering::SeqCst),
        "a dropped, unstarted closure ran"
    );
    assert!(captured_dropped.load(Ordering::SeqCst));
}

#[test]
fn cancel_token_is_set_when_the_awaiter_is_dropped() {
    let rt = common::multi_thread(1);
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped_rx) = mpsc::channel();
    rt.block_on(async move {
        let task = anysync::unblock_cancellable(move |token| {
            assert!(!token.is_cancelled());
            started_tx.send(token.clone()).unwrap();
            let mut steps = 0_u64;
            while !token.is_cancelled() {
                steps += 1;
                thread::sleep(Duration::from_millis(1));
            }
            stopped_tx.send(steps).unwrap();
        });
        let token = anysync::unblock(move || started_rx.recv_timeout(PATIENCE).unwrap()).await;
        assert!(!token.is_cancelled(), "set before the awaiter was dropped");
        drop(task);
        assert!(
            token.is_cancelled(),
            "dropping the awaiter sets the token at once"
        );
    });
    stopped_rx
        .recv_timeout(PATIENCE)
        .expect("the closure saw the token and stopped");
}

#[test]
fn cancel_token_stays_clear_when_the_result_is_awaited() {
    let rt = common::current_thread();
    let (token, seen) = rt.block_on(anysync::unblock_cancellable(|token| {
        let seen = token.is_cancelled();
        (token, seen)
    }));
    assert!(!seen);
    assert!(!token.is_cancelled(), "completed futures never cancel");
    // Also through a timeout that gives up: the dropped `Unblock` sets the token.
    //
    // The timeout starts only once the closure runs. (It used to start at once, which made the
    // test depend on scheduling: a closure whose `Unblock` is dropped before a thread picks it
    // up never runs, so if no blocking thread got to it within the 5 ms, nothing was sent.)
    let (started_tx, started_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    rt.block_on(async {
        let slow = anysync::unblock_cancellable(move |token| {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                thread::sleep(Duration::from_millis(1));
            }
            tx.send("cancelled").unwrap();
        });
        anysync::unblock(move || started_rx.recv_timeout(PATIENCE).unwrap()).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(5), slow)
                .await
                .is_err()
        );
    });
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "cancelled");
}

// ---------------------------------------------------------------------------------------------
// Syncify: `.run()` inside an `unblock` closure runs on the runtime that called `unblock`.
// ---------------------------------------------------------------------------------------------

/// Where a future passed to `.run()` inside an `unblock` closure was polled.
#[derive(Debug)]
struct Syncified {
    closure_thread: ThreadId,
    polled_on: ThreadId,
    runtime: tokio::runtime::Id,
    spawned_on: ThreadId,
    spawned_runtime: tokio::runtime::Id,
}

fn syncify_probe() -> Syncified {
    let closure_thread = here();
    let (polled_on, runtime, (spawned_on, spawned_runtime)) = async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        tokio::task::yield_now().await;
        let spawned = tokio::spawn(async { (here(), Handle::current().id()) })
            .await
            .unwrap();
        (here(), Handle::current().id(), spawned)
    }
    .run();
    Syncified {
        closure_thread,
        polled_on,
        runtime,
        spawned_on,
        spawned_runtime,
    }
}

#[test]
fn syncify_on_a_current_thread_runtime_runs_on_that_runtime() {
    let rt = common::current_thread();
    let origin = rt.handle().id();
    let seen = rt.block_on(anysync::unblock(syncify_probe));
    assert_ne!(
        seen.closure_thread,
        here(),
        "the closure ran on a worker thread"
    );
    assert_eq!(
        seen.polled_on, seen.closure_thread,
        "polled in place on the worker"
    );
    assert_eq!(seen.runtime, origin, "on the runtime that called unblock");
    // A task spawned there is a task of the current_thread runtime: it runs on the thread that
    // drives that runtime, which is the one awaiting the `unblock`.
    assert_eq!(seen.spawned_on, here());
    assert_eq!(seen.spawned_runtime, origin);
}

#[test]
fn syncify_on_a_multi_thread_runtime_runs_on_that_runtime() {
    let rt = common::multi_thread(2);
    let origin = rt.handle().id();
    let seen = rt
        .block_on(async { tokio::spawn(anysync::unblock(syncify_probe)).await })
        .unwrap();
    assert_eq!(seen.polled_on, seen.closure_thread);
    assert_eq!(seen.runtime, origin);
    assert_eq!(seen.spawned_runtime, origin);
}

#[test]
fn syncify_from_a_non_tokio_executor_runs_on_the_global_runtime() {
    let seen = futures::executor::block_on(anysync::unblock(syncify_probe));
    assert_eq!(seen.polled_on, seen.closure_thread);
    assert_eq!(seen.runtime, common::global_id());
    assert_eq!(seen.spawned_runtime, common::global_id());
}

#[test]
fn syncify_uses_a_socket_bound_to_a_current_thread_runtime() {
    let rt = common::current_thread();
    let origin = rt.handle().id();
    let (reply, runtime, polled_on, closure_thread) = rt.block_on(async {
        // A loopback echo server and a client socket, both registered with this runtime's IO
        // driver, which only this thread drives.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Some(line) = lines.next_line().await.unwrap() {
                write
                    .write_all(format!("echo: {line}\n").as_bytes())
                    .await
                    .unwrap();
            }
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        // Blocking code that needs the socket, and uses it through `.run()`.
        anysync::unblock(move || {
            let mut stream = BufReader::new(stream);
            let reply = async {
                stream.get_mut().write_all(b"ping\n").await?;
                let mut line = String::new();
                stream.read_line(&mut line).await?;
                Ok::<_, std::io::Error>(line)
            }
            .run()
            .unwrap();
            let (runtime, polled_on) = anysync::run(async { (Handle::current().id(), here()) });
            (reply, runtime, polled_on, here())
        })
        .await
    });
    assert_eq!(reply, "echo: ping\n");
    assert_eq!(runtime, origin);
    assert_eq!(polled_on, closure_thread);
    assert_ne!(closure_thread, here());
}

#[test]
fn syncify_with_a_coroutine_and_a_shared_echo_client() {
    // The echo server of the shared fixtures lives on the global runtime; the client is made
    // on a current_thread runtime and used from the worker thread with `Coroutine::run`.
    let addr = common::echo_server();
    let rt = common::current_thread();
    let replies = rt.block_on(async move {
        let client = Arc::new(common::EchoClient::connect(addr).await.unwrap());
        let first = client.echo("from async").await.unwrap();
        let second = anysync::unblock({
            let client = Arc::clone(&client);
            move || client.echo("from the worker").run().unwrap()
        })
        .await;
        (first, second)
    });
    assert_eq!(replies.0, "echo: from async");
    assert_eq!(replies.1, "echo: from the worker");
}

#[test]
fn syncify_nested_unblock_inside_the_run() {
    // unblock -> .run() -> unblock -> .run(): every level stays on the original runtime.
    let rt = common::current_thread();
    let origin = rt.handle().id();
    let inner = rt.block_on(anysync::unblock(|| {
        async { anysync::unblock(|| async { Handle::current().id() }.run()).await }.run()
    }));
    assert_eq!(inner, origin);
}

// ---------------------------------------------------------------------------------------------
// `Blocking`: what `#[anysync::blocking]` returns, constructed by hand.
// ---------------------------------------------------------------------------------------------

/// A blocking function written once, usable both ways.
fn whereabouts(tag: &'static str) -> Blocking<impl FnOnce() -> (&'static str, ThreadId) + Send> {
    Blocking::new(move || (tag, here()))
}

#[test]
fn blocking_run_is_inline_on_the_calling_thread() {
    assert_eq!(whereabouts("sync").run(), ("sync", here()));
    // Inline even inside a runtime: `.run()` on a `Blocking` never hops.
    let rt = common::current_thread();
    let (_, ran_on) = rt.block_on(async { whereabouts("in async").run() });
    assert_eq!(ran_on, here());
    // Closures that borrow or are not `Send` are fine inline.
    let local = std::rc::Rc::new(5);
    assert_eq!(Blocking::new(|| *local + 1).run(), 6);
}

#[test]
fn blocking_await_is_offloaded_to_a_worker_thread() {
    let rt = common::current_thread();
    let (tag, ran_on) = rt.block_on(async { whereabouts("async").await });
    assert_eq!(tag, "async");
    assert_ne!(ran_on, here());
    let (_, ran_on) = futures::executor::block_on(whereabouts("other executor").into_future());
    assert_ne!(ran_on, here());
}

#[test]
fn blocking_on_a_pool_runs_on_the_pools_threads() {
    let pool = Pool::new(1);
    let rt = common::current_thread();
    let name = rt.block_on(Blocking::new(|| thread::current().name().map(str::to_owned)).on(&pool));
    assert_eq!(name.as_deref(), Some("anysync-blocking"));
}

#[test]
fn blocking_panics_reach_the_caller_both_ways() {
    let inline = std::panic::catch_unwind(|| {
        Blocking::new(|| -> u32 { std::panic::panic_any(Boom(1)) }).run()
    });
    assert_eq!(inline.unwrap_err().downcast_ref::<Boom>(), Some(&Boom(1)));
    let rt = common::current_thread();
    let offloaded = rt.block_on(
        AssertUnwindSafe(Blocking::new(|| -> u32 { std::panic::panic_any(Boom(2)) }).into_future())
            .catch_unwind(),
    );
    assert_eq!(
        offloaded.unwrap_err().downcast_ref::<Boom>(),
        Some(&Boom(2))
    );
}

#[test]
fn unblock_from_many_tasks_at_once() {
    // Several closures blocked at the same time: each waits until all are running.
    const N: usize = 8;
    let rt: Runtime = common::multi_thread(2);
    let barrier = Arc::new(Barrier::new(N));
    let sum: usize = rt.block_on(async {
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                anysync::unblock(move || {
                    barrier.wait();
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await;
        }
        sum
    });
    assert_eq!(sum, (0..N).sum());
}
