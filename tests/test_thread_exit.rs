//! Blocking calls from a thread-local's destructor that runs after tokio's own thread-locals
//! are gone (the thread is exiting).
//!
//! Regression tests: `.run()` there chose the plain path, `Handle::enter` panicked inside the
//! destructor, and a panic in a thread-local destructor aborts the process. Every blocking
//! entry point must now complete there for `Send` work; a `?Send` future cannot, and its
//! panic (which aborts, as any panic there does) must say why.

mod common;

use anysync::{RunExt, yield_};
use std::cell::RefCell;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use tokio::runtime::Handle;

/// Runs `work` from the destructor of a thread-local registered before tokio's, on a fresh
/// thread, and returns what it produced. Fails the test if tokio's thread-locals were still
/// alive at that point (then the test would prove nothing).
fn in_late_destructor<R: Send + 'static>(work: fn() -> R) -> R {
    struct Late<R: Send + 'static> {
        work: fn() -> R,
        out: mpsc::Sender<(bool, R)>,
    }
    impl<R: Send + 'static> Drop for Late<R> {
        fn drop(&mut self) {
            let destroyed = Handle::try_current().is_err_and(|e| e.is_thread_local_destroyed());
            let _ = self.out.send((destroyed, (self.work)()));
        }
    }
    thread_local! {
        static LATE: RefCell<Option<Box<dyn std::any::Any>>> = const { RefCell::new(None) };
    }

    let (out, results) = mpsc::channel();
    thread::spawn(move || {
        // Registered first, so destroyed last: thread-local destructors run in reverse order
        // of registration.
        LATE.with_borrow_mut(|late| *late = Some(Box::new(Late { work, out })));
        // Now tokio's thread-locals: entering a runtime (as a `.run()` here would) sets them up.
        let runtime = common::current_thread();
        runtime.block_on(async { tokio::task::yield_now().await });
    })
    .join()
    .expect("the thread exits cleanly");
    let (destroyed, value) = results
        .recv_timeout(Duration::from_secs(60))
        .expect("the destructor ran and sent its result");
    assert!(
        destroyed,
        "tokio's thread-locals were still alive: the test proves nothing"
    );
    value
}

#[anysync::coroutine]
async fn timer_and_spawn(x: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    tokio::spawn(async move { x * 2 }).await.expect("spawned")
}

#[anysync::iterator(item = u32)]
async fn counting(n: u32) {
    for i in 0..n {
        tokio::task::yield_now().await;
        yield_!(i);
    }
}

#[anysync::generator(item = u32, send = u32)]
async fn adder() -> u32 {
    let mut total = 0;
    while let Some(x) = yield_!(total) {
        total += x;
    }
    total
}

#[anysync::context(item = String)]
async fn resource(name: &'static str) {
    tokio::task::yield_now().await;
    yield_!(name.to_uppercase());
    tokio::task::yield_now().await;
}

#[test]
fn run_and_run_timeout_complete_in_a_late_destructor() {
    assert_eq!(in_late_destructor(|| timer_and_spawn(21).run()), 42);
    assert_eq!(in_late_destructor(|| anysync::run(timer_and_spawn(1))), 2);
    let timed = in_late_destructor(|| timer_and_spawn(4).run_timeout(Duration::from_secs(60)));
    assert_eq!(timed.ok(), Some(8));
    let gave_up = in_late_destructor(|| {
        std::future::pending::<()>()
            .run_timeout(Duration::from_millis(1))
            .is_err()
    });
    assert!(gave_up);
}

#[test]
fn iterators_generators_and_contexts_complete_in_a_late_destructor() {
    let items = in_late_destructor(|| counting(4).into_iter().collect::<Vec<_>>());
    assert_eq!(items, [0, 1, 2, 3]);
    let prefetched = in_late_destructor(|| counting(5).prefetch(2).into_iter().sum::<u32>());
    assert_eq!(prefetched, 10);
    let sent = in_late_destructor(|| {
        let mut g = adder();
        let seen = [g.resume().run(), g.send(3).run(), g.send(4).run()];
        (seen, g.resume().run(), g.into_return_value())
    });
    assert_eq!(sent, ([Some(0), Some(3), Some(7)], None, Some(7)));
    let entered = in_late_destructor(|| {
        let guard = resource("db").enter().run();
        let value = guard.clone();
        drop(guard); // the teardown blocks too
        value
    });
    assert_eq!(entered, "DB");
}

#[test]
fn unblock_and_pools_complete_in_a_late_destructor() {
    let unblocked = in_late_destructor(|| anysync::unblock(|| timer_and_spawn(5).run()).run());
    assert_eq!(unblocked, 10);
    let pooled = in_late_destructor(|| anysync::Pool::new(1).unblock(|| 6 * 7).run());
    assert_eq!(pooled, 42);
    let blocking = in_late_destructor(|| triple(3).run());
    assert_eq!(blocking, 9);
    let grouped = in_late_destructor(|| {
        let (soon, joined) = anysync::task_group(async |group| {
            Ok::<_, ()>(group.spawn(async { Ok(timer_and_spawn(8).await) }))
        })
        .run()
        .expect("no child failed");
        joined.take(soon)
    });
    assert_eq!(grouped, 16);
}

#[anysync::blocking]
fn triple(x: u32) -> u32 {
    x * 3
}

/// A `?Send` future cannot leave this thread, and no runtime can be entered on it: the
/// panic that says so aborts the process (any panic in a thread-local destructor does), so
/// it runs in a child process, and its message is what the user sees.
#[test]
#[cfg_attr(miri, ignore = "re-launches the test binary")]
fn a_local_future_in_a_late_destructor_explains_itself_before_the_abort() {
    const CHILD: &str = "ANYSYNC_TEST_LATE_LOCAL_CHILD";
    if std::env::var_os(CHILD).is_some() {
        in_late_destructor(|| anysync::Coroutine::local(async { 1 }).run());
        unreachable!("the destructor aborts the process");
    }
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_local_future_in_a_late_destructor_explains_itself_before_the_abort",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the child must not succeed");
    assert!(stderr.contains("thread-local destructor"), "{stderr}");
    assert!(stderr.contains("not `Send`"), "{stderr}");
    assert!(
        stderr.contains("test_thread_exit.rs"),
        "names the call site: {stderr}"
    );
}
