//! The stack of every thread anysync starts: 8 MiB by default (a main thread's usual stack),
//! `RUST_MIN_STACK` when set.
//!
//! Regression tests: background threads had std's default 2 MiB, so a future that ran fine
//! when polled on `main` (8 MiB) overflowed its stack (SIGSEGV, abort) as soon as `.run()`
//! lent it from a current_thread runtime.

mod common;

use anysync::RunExt;
use std::hint::black_box;
use std::process::Command;
use std::thread;

/// How much stack the work below needs: more than std's 2 MiB for spawned threads, well
/// below the 8 MiB a main thread usually has.
const NEEDS: usize = 4 << 20;

/// Uses about `bytes` of stack, in 64 KiB frames that the optimiser cannot remove.
fn use_stack(bytes: usize) -> u64 {
    const FRAME: usize = 64 << 10;
    #[inline(never)]
    fn frame(depth: usize) -> u64 {
        let mut buffer = [depth as u8; FRAME];
        black_box(&mut buffer);
        let below = if depth == 0 { 0 } else { frame(depth - 1) };
        below + u64::from(black_box(&buffer)[FRAME / 2])
    }
    frame(bytes / FRAME)
}

/// The expected result of `use_stack(NEEDS)`: the sum of each frame's depth, as bytes.
fn expected() -> u64 {
    (0..=(NEEDS / (64 << 10))).map(|d| u64::from(d as u8)).sum()
}

#[anysync::coroutine]
async fn stack_hungry() -> u64 {
    tokio::task::yield_now().await;
    use_stack(NEEDS)
}

/// Runs `f` on a fresh thread with a main thread's stack, as `main` would.
fn on_big_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no overflow")
}

#[test]
#[cfg_attr(miri, ignore = "megabytes of stack frames take minutes under Miri")]
fn a_stack_hungry_future_runs_in_place_and_lent_alike() {
    // In place: polled on the caller's thread, whose stack is the limit.
    assert_eq!(on_big_thread(|| stack_hungry().run()), expected());
    // Lent from a current_thread runtime to a background thread.
    let lent = on_big_thread(|| {
        common::current_thread().block_on(async {
            let value = stack_hungry().run();
            let thread = anysync::run(async { thread::current().name().map(str::to_owned) });
            (value, thread)
        })
    });
    assert_eq!(lent.0, expected());
    assert_eq!(
        lent.1.as_deref(),
        Some(common::POOL),
        "lent, as the test intends"
    );
}

#[test]
#[cfg_attr(miri, ignore = "megabytes of stack frames take minutes under Miri")]
fn the_global_runtime_and_pools_have_the_same_stack() {
    // A task spawned by a `.run()` future runs on the global runtime's worker.
    let spawned = anysync::run(async {
        tokio::spawn(async {
            let name = thread::current().name().map(str::to_owned);
            (use_stack(NEEDS), name)
        })
        .await
        .expect("no overflow")
    });
    assert_eq!(spawned.0, expected());
    assert_eq!(spawned.1.as_deref(), Some(common::GLOBAL));
    // `unblock` outside any runtime: the global runtime's blocking pool.
    let unblocked = thread::spawn(|| anysync::unblock(|| use_stack(NEEDS)).run())
        .join()
        .expect("no overflow");
    assert_eq!(unblocked, expected());
    // A `Pool`'s threads.
    let pool = anysync::Pool::new(1);
    assert_eq!(pool.unblock(|| use_stack(NEEDS)).run(), expected());
}

/// `RUST_MIN_STACK` raises the size, read by anysync itself (std ignores it for threads
/// spawned with an explicit size). Settings are fixed once per process: a child process.
#[test]
#[cfg_attr(miri, ignore = "re-launches the test binary")]
fn rust_min_stack_sets_the_stack_of_anysync_threads() {
    const CHILD: &str = "ANYSYNC_TEST_MIN_STACK_CHILD";
    const BIG: usize = 12 << 20; // above the 8 MiB default
    if std::env::var_os(CHILD).is_some() {
        let lent = on_big_thread(|| {
            common::current_thread().block_on(async { anysync::run(async { use_stack(BIG) }) })
        });
        assert!(lent > 0);
        return;
    }
    let run = |min_stack: Option<usize>| {
        let mut child = Command::new(std::env::current_exe().expect("test binary"));
        child
            .args([
                "--exact",
                "rust_min_stack_sets_the_stack_of_anysync_threads",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env_remove("RUST_MIN_STACK");
        if let Some(bytes) = min_stack {
            child.env("RUST_MIN_STACK", (bytes + (4 << 20)).to_string());
        }
        child.output().expect("the child runs")
    };
    let raised = run(Some(BIG));
    assert!(
        raised.status.success(),
        "{}",
        String::from_utf8_lossy(&raised.stderr)
    );
    // The control: without the variable the same work overflows the default 8 MiB, so the
    // run above shows that the variable was read.
    let default = run(None);
    assert!(
        !default.status.success(),
        "12 MiB fits in the default stack?"
    );
    assert!(
        String::from_utf8_lossy(&default.stderr).contains("overflow"),
        "{}",
        String::from_utf8_lossy(&default.stderr)
    );
}
