//! `anysync::Config`: settings installed before first use reach every thread anysync starts;
//! installing after first use is an error value that changes nothing.
//!
//! Settings are per process, so this binary holds one test, which installs them first.

mod common;

use anysync::RunExt;
use std::hint::black_box;
use std::thread;

/// Uses about `bytes` of stack in 64 KiB frames (see tests/test_stack.rs).
fn use_stack(bytes: usize) -> u64 {
    const FRAME: usize = 64 << 10;
    #[inline(never)]
    fn frame(depth: usize) -> u64 {
        let mut buffer = [1_u8; FRAME];
        black_box(&mut buffer);
        let below = if depth == 0 { 0 } else { frame(depth - 1) };
        below + u64::from(black_box(&buffer)[FRAME / 2])
    }
    frame(bytes / FRAME)
}

#[test]
#[cfg_attr(miri, ignore = "megabytes of stack frames take minutes under Miri")]
fn an_installed_stack_size_reaches_every_thread_and_later_installs_fail() {
    const STACK: usize = 24 << 20;
    const NEEDS: usize = 14 << 20; // above the 8 MiB default, below the installed size
    anysync::Config::new()
        .stack_size(STACK)
        .install()
        .expect("nothing has used anysync yet");
    let twice = anysync::Config::new().stack_size(STACK).install();
    assert!(twice.is_err(), "settings are installed once");

    // Lent from a current_thread runtime (on a thread big enough to call from).
    let lent = thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| {
            common::current_thread().block_on(async { anysync::run(async { use_stack(NEEDS) }) })
        })
        .expect("spawn")
        .join()
        .expect("no overflow on the background thread");
    assert!(lent > 0);
    // The global runtime's worker, and a `Pool`'s thread.
    let spawned = anysync::run(async { tokio::spawn(async { use_stack(NEEDS) }).await });
    assert!(spawned.expect("no overflow on the runtime worker") > 0);
    assert!(anysync::Pool::new(1).unblock(|| use_stack(NEEDS)).run() > 0);

    let late = anysync::Config::new()
        .stack_size(1 << 20)
        .install()
        .expect_err("anysync is in use");
    let message = late.to_string();
    assert!(message.contains("install a `Config` before"), "{message}");
    // Nothing changed: the threads keep the installed size.
    assert!(anysync::Pool::new(1).unblock(|| use_stack(NEEDS)).run() > 0);
}
