//! `anysync::Pool`: the concurrency limit (observed with a counter, not timing), FIFO order,
//! removal of abandoned queued jobs, thread exit when the pool is dropped, panics, cooperative
//! cancellation and syncify on the pool's threads.

mod common;

use anysync::{Pool, RunExt};
use common::{Boom, DropFlag, here};
use futures::FutureExt;
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// Long enough that only a bug (a deadlock) reaches it; never a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until `done()` holds, failing the test instead of hanging if it never does.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A gate closures wait at until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, changed) = &*self.0;
        let guard = open.lock().unwrap();
        let (guard, timeout) = changed
            .wait_timeout_while(guard, PATIENCE, |open| !*open)
            .unwrap();
        assert!(*guard && !timeout.timed_out(), "the gate never opened");
    }

    fn open(&self) {
        let (open, changed) = &*self.0;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }
}

#[test]
fn at_most_n_closures_run_at_once() {
    const LIMIT: usize = 3;
    const JOBS: usize = 12;
    let pool = Pool::new(LIMIT);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let gate = Gate::default();
    let rt = common::current_thread();
    let tasks: Vec<_> = rt.block_on(async {
        (0..JOBS)
            .map(|i| {
                let (running, peak, gate) = (running.clone(), peak.clone(), gate.clone());
                pool.unblock(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    gate.wait();
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
            .collect()
    });
    // The pool fills up to its limit while every closure is held at the gate...
    eventually("the pool reaches its limit", || {
        running.load(Ordering::SeqCst) == LIMIT
    });
    gate.open();
    // ...and the rest run as places free up, never more than the limit at once.
    let done: Vec<usize> = rt.block_on(async {
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await);
        }
        done
    });
    assert_eq!(done, (0..JOBS).collect::<Vec<_>>());
    assert_eq!(peak.load(Ordering::SeqCst), LIMIT);
    assert_eq!(running.load(Ordering::SeqCst), 0);
}

#[test]
fn queued_closures_start_in_fifo_order() {
    let pool = Pool::new(1);
    let gate = Gate::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    let rt = common::multi_thread(2);
    let seen = rt.block_on(async {
        let blocker = pool.unblock({
            let gate = gate.clone();
            move || gate.wait()
        });
        let tasks: Vec<_> = (1..=10)
            .map(|i| {
                let order = Arc::clone(&order);
                pool.unblock(move || order.lock().unwrap().push(i))
            })
            .collect();
        gate.open();
        blocker.await;
        // Awaited in reverse: the order is the pool's, not the awaiter's.
        for task in tasks.into_iter().rev() {
            task.await;
        }
        order.lock().unwrap().clone()
    });
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
}

#[test]
fn dropping_a_queued_waiter_removes_its_job() {
    let pool = Pool::new(1);
    let gate = Gate::default();
    let dropped_ran = Arc::new(AtomicBool::new(false));
    let captures_dropped = Arc::new(AtomicBool::new(false));
    let rt = common::current_thread();
    rt.block_on(async {
        let blocker = pool.unblock({
            let gate = gate.clone();
            move || gate.wait()
        });
        let queued = pool.unblock({
            let ran = Arc::clone(&dropped_ran);
            let captured = DropFlag(Arc::clone(&captures_dropped));
            move || {
                let _captured = captured;
                ran.store(true, Ordering::SeqCst);
            }
        });
        let after = pool.unblock(|| "after");
        drop(queued);
        // Removed from the queue at once: what it captured is already gone, though the
        // pool's only thread is still busy.
        assert!(captures_dropped.load(Ordering::SeqCst));
        gate.open();
        blocker.await;
        // FIFO: the dropped job would have run before this one.
        assert_eq!(after.await, "after");
    });
    assert!(!dropped_ran.load(Ordering::SeqCst), "a removed job ran");
}

thread_local! {
    /// Set on a pool thread by a job; dropped (setting the flag) when that thread exits.
    static ON_EXIT: RefCell<Option<DropFlag>> = const { RefCell::new(None) };
}

/// A job that marks its thread, so that the test sees when the thread exits.
fn mark_thread(exited: Arc<AtomicBool>, barrier: Arc<Barrier>) -> impl FnOnce() + Send {
    move || {
        ON_EXIT.with_borrow_mut(|slot| *slot = Some(DropFlag(exited)));
        // Both jobs wait for each other, so they must be on two different threads.
        barrier.wait();
    }
}

#[test]
fn idle_threads_exit_when_the_pool_is_dropped() {
    let pool = Pool::new(2);
    let exits = [
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    ];
    let barrier = Arc::new(Barrier::new(2));
    let rt = common::current_thread();
    rt.block_on(async {
        let a = pool.unblock(mark_thread(exits[0].clone(), barrier.clone()));
        let b = pool.unblock(mark_thread(exits[1].clone(), barrier.clone()));
        a.await;
        b.await;
        // Idle, but the pool is alive: its threads wait for more work.
        let again = pool
            .unblock(|| thread::current().name().map(str::to_owned))
            .await;
        assert_eq!(again.as_deref(), Some("anysync-blocking"));
    });
    assert!(exits.iter().all(|e| !e.load(Ordering::SeqCst)));
    drop(pool);
    eventually("both pool threads exit", || {
        exits.iter().all(|e| e.load(Ordering::SeqCst))
    });
}

#[test]
fn dropping_the_pool_lets_queued_and_running_jobs_finish_then_threads_exit() {
    let pool = Pool::new(1);
    let gate = Gate::default();
    let exited = Arc::new(AtomicBool::new(false));
    let rt = common::current_thread();
    let results = rt.block_on(async {
        let running = pool.unblock({
            let (gate, exited) = (gate.clone(), exited.clone());
            move || {
                ON_EXIT.with_borrow_mut(|slot| *slot = Some(DropFlag(exited)));
                gate.wait();
                "was running"
            }
        });
        let queued = pool.unblock(|| "was queued");
        drop(pool);
        gate.open();
        (running.await, queued.await)
    });
    assert_eq!(results, ("was running", "was queued"));
    eventually("the pool thread exits once the queue is empty", || {
        exited.load(Ordering::SeqCst)
    });
}

#[test]
fn a_panic_reaches_the_awaiter_and_the_thread_survives() {
    let pool = Pool::new(1);
    let rt = common::current_thread();
    let (caught, before, after) = rt.block_on(async {
        let before = pool.unblock(here).await;
        let caught = AssertUnwindSafe(pool.unblock(|| -> u32 { std::panic::panic_any(Boom(3)) }))
            .catch_unwind()
            .await;
        let after = pool.unblock(here).await;
        (caught, before, after)
    });
    assert_eq!(caught.unwrap_err().downcast_ref::<Boom>(), Some(&Boom(3)));
    assert_eq!(before, after, "the same pool thread took the next job");
}

#[test]
fn cancel_token_is_set_when_a_pool_waiter_is_dropped() {
    let pool = Pool::new(1);
    let (started_tx, started_rx) = mpsc::channel();
    let (stopped_tx, stopped_rx) = mpsc::channel();
    let rt = common::current_thread();
    rt.block_on(async {
        let task = pool.unblock_cancellable(move |token| {
            started_tx.send(()).unwrap();
            while !token.is_cancelled() {
                thread::sleep(Duration::from_millis(1));
            }
            stopped_tx.send("stopped").unwrap();
        });
        anysync::unblock(move || started_rx.recv_timeout(PATIENCE).unwrap()).await;
        drop(task);
    });
    assert_eq!(stopped_rx.recv_timeout(PATIENCE).unwrap(), "stopped");
    // Awaited to the end: the token stays clear.
    let cancelled = rt.block_on(pool.unblock_cancellable(|token| token.is_cancelled()));
    assert!(!cancelled);
}

#[test]
fn syncify_on_a_pool_thread_goes_back_to_the_calling_runtime() {
    let pool = Pool::new(2);
    let rt = common::current_thread();
    let origin = rt.handle().id();
    let (closure_thread, entered, polled_on, runtime, spawned_on) =
        rt.block_on(pool.unblock(|| {
            let entered = Handle::current().id();
            let (polled_on, runtime, spawned_on) = async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let spawned_on = tokio::spawn(async { here() }).await.unwrap();
                (here(), Handle::current().id(), spawned_on)
            }
            .run();
            (here(), entered, polled_on, runtime, spawned_on)
        }));
    assert_ne!(closure_thread, here());
    assert_eq!(
        entered, origin,
        "the closure runs with the calling runtime entered"
    );
    assert_eq!(
        polled_on, closure_thread,
        "polled in place on the pool thread"
    );
    assert_eq!(runtime, origin);
    assert_eq!(
        spawned_on,
        here(),
        "a task spawned there runs on the current_thread runtime"
    );
}

#[test]
fn pool_from_a_non_tokio_executor_and_from_blocking_code() {
    let pool = Pool::new(1);
    let runtime = futures::executor::block_on(pool.unblock(|| Handle::current().id()));
    assert_eq!(runtime, common::global_id());
    // Blocking code can wait for a pool job with `.run()` too.
    assert_eq!(pool.unblock(|| 2 + 2).run(), 4);
    let pool = Arc::new(pool);
    let from_thread = thread::spawn({
        let pool = Arc::clone(&pool);
        move || pool.unblock(|| "from a plain thread").run()
    });
    assert_eq!(from_thread.join().unwrap(), "from a plain thread");
}

#[test]
#[should_panic(expected = "at least one thread")]
fn a_pool_of_zero_threads_is_refused() {
    let _ = Pool::new(0);
}
