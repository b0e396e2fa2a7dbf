//! Stress: 8 threads x 10,000 mixed `.run()` calls from every kind of calling context, with
//! nesting 33 deep and panics mixed in. It must finish (a watchdog aborts the process with a
//! message instead of hanging CI) and leave a bounded number of threads behind.

mod common;

use anysync::{Coroutine, RunExt};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;
use tokio::task::LocalSet;

const THREADS: u64 = 8;
const CALLS: u64 = 10_000;
const DEEP: u32 = 33;

fn work(x: u64) -> Coroutine<impl Future<Output = u64> + Send> {
    Coroutine::new(async move {
        tokio::task::yield_now().await;
        x + 1
    })
}

fn deep(n: u32) -> Coroutine<std::pin::Pin<Box<dyn Future<Output = u32> + Send>>> {
    Coroutine::new(Box::pin(async move {
        if n == 0 { 0 } else { deep(n - 1).run() + 1 }
    }))
}

/// One call in the context chosen by `k`; returns what the call computed.
fn mixed_call(k: u64, current: &tokio::runtime::Runtime, multi: &tokio::runtime::Runtime) -> u64 {
    match k % 8 {
        0 => work(k).run(),
        1 => current.block_on(async { work(k).run() }),
        2 => multi.block_on(async { tokio::spawn(async move { work(k).run() }).await.unwrap() }),
        3 => LocalSet::new().block_on(current, async { work(k).run() }),
        4 => multi.block_on(async {
            tokio::task::spawn_blocking(move || work(k).run())
                .await
                .unwrap()
        }),
        5 => anysync::run(async move { work(k).run() }),
        6 => {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1);
            tx.send(k).run().unwrap();
            rx.recv().run().unwrap() + 1
        }
        _ => {
            if k % 1_000 == 7 {
                let depth = match (k / 1_000) % 3 {
                    0 => deep(DEEP).run(),
                    1 => current.block_on(async { deep(DEEP).run() }),
                    _ => multi.block_on(async {
                        tokio::spawn(async { deep(DEEP).run() }).await.unwrap()
                    }),
                };
                assert_eq!(depth, DEEP);
            }
            if k.is_multiple_of(997) {
                let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                    current
                        .block_on(async { Coroutine::new(async { panic!("stress panic") }).run() })
                }));
                assert!(caught.is_err());
            }
            work(k).run()
        }
    }
}

fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|comm| comm.trim() == name)
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn eight_threads_ten_thousand_mixed_calls_each() {
    let done = Arc::new(AtomicBool::new(false));
    let watchdog_done = Arc::clone(&done);
    thread::spawn(move || {
        for _ in 0..600 {
            thread::sleep(Duration::from_secs(1));
            if watchdog_done.load(Ordering::SeqCst) {
                return;
            }
        }
        eprintln!("stress test watchdog: no progress after 600 s; a `.run()` path hangs");
        std::process::abort();
    });
    // Panics in this test are expected; keep the output readable.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("stress panic") {
            eprintln!("{info}");
        }
    }));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                let current = common::current_thread();
                let multi = common::multi_thread(2);
                let mut sum = 0;
                for i in 0..CALLS {
                    let k = t * CALLS + i;
                    assert_eq!(mixed_call(k, &current, &multi), k + 1);
                    sum += 1;
                }
                sum
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    done.store(true, Ordering::SeqCst);
    let _ = panic::take_hook();
    panic::set_hook(hook);
    assert_eq!(total, THREADS * CALLS);
    if cfg!(target_os = "linux") {
        // Background threads are only started while every existing one is busy, and a caller
        // occupies at most one at a time.
        let pool = threads_named(common::POOL);
        assert!(
            pool <= THREADS as usize,
            "{pool} background threads for {THREADS} callers"
        );
        assert_eq!(
            threads_named(common::GLOBAL).min(1),
            1,
            "the global runtime is alive"
        );
        let all = std::fs::read_dir("/proc/self/task")
            .map(Iterator::count)
            .unwrap_or(0);
        eprintln!("threads left: {all} in all, {pool} background");
        assert!(all < 64, "{all} threads left in the process");
    }
}
