//! `.run()` in every calling context of the runtime table: results, thread identity, timers,
//! IO, `tokio::spawn`, nesting, panics, timeouts, borrowed and `!Send` futures.

mod common;

use anysync::{Coroutine, RunExt};
use common::ctx::{ALL, Ctx, Ran, within};
use common::{
    Boom, DropFlag, EchoClient, GLOBAL, POOL, Probe, echo_server, global_id, here, panic_message,
    probe,
};
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, ThreadId};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::LocalSet;

/// Checks where a probe ran, given the context it was called from.
fn assert_placement(ctx: Ctx, ran: &Ran<Probe>) {
    let probe = &ran.value;
    assert_eq!(probe.spawned, 7, "{ctx:?}: tokio::spawn inside the future");
    if ctx.in_place() {
        assert_eq!(
            probe.thread, ran.caller,
            "{ctx:?}: polled in place on the caller's thread"
        );
    } else {
        assert_ne!(
            probe.thread, ran.caller,
            "{ctx:?}: lent to a background thread"
        );
        assert_eq!(
            probe.name.as_deref(),
            Some(POOL),
            "{ctx:?}: on anysync's background thread"
        );
    }
    let expected_runtime = if ctx.user_runtime() {
        ran.runtime.unwrap()
    } else {
        global_id()
    };
    assert_eq!(
        probe.runtime, expected_runtime,
        "{ctx:?}: runtime that drove the future"
    );
}

#[test]
fn every_context_runs_timers_spawn_and_yield_and_polls_where_the_table_says() {
    for ctx in ALL {
        let ran = within(ctx, || probe().run());
        assert_placement(ctx, &ran);
    }
}

#[test]
fn plain_thread_polls_on_the_caller_thread_without_a_runtime_of_its_own() {
    assert!(Handle::try_current().is_err());
    let first = probe().run();
    let second = probe().run();
    assert_eq!(first.thread, here());
    assert_eq!(second.thread, here());
    assert_eq!(first.runtime, global_id());
    assert!(
        Handle::try_current().is_err(),
        "`.run()` leaves no runtime entered behind"
    );
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn background_thread_is_reused_across_sequential_calls() {
    // Regression (flaky): the idle background threads are shared by the whole process, and the
    // most recently idle one goes to whoever asks first. The other tests of this binary lend
    // futures in parallel, so one of them could take this test's thread between its calls.
    // Reuse is a fact only where nobody else asks: the calls run in a child process, alone.
    const CHILD: &str = "ANYSYNC_TEST_REUSE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let ran = within(Ctx::CurrentRoot, || {
            let first = probe().run();
            let second = probe().run();
            let third = anysync::run(async { here() });
            (first.thread, second.thread, third)
        });
        let (first, second, third) = ran.value;
        assert_eq!(first, second);
        assert_eq!(second, third);
        assert_ne!(first, ran.caller);
        println!("child: one background thread served every call");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "background_thread_is_reused_across_sequential_calls",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("child: one background thread served every call"),
        "the child failed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn concurrent_callers_in_current_thread_runtimes_do_not_wait_for_each_other() {
    // Python anysync's bug 7: one coroutine blocking its single background thread stalls every
    // other caller. Here a caller whose future blocks its thread for good (until released)
    // must not stop a second caller from finishing. The second caller starts only once the
    // first one is known to hold its thread: started together, the second could finish before
    // the first began, and the test would prove nothing.
    let (holding_tx, holding) = mpsc::channel();
    // Dropped if this test fails, which releases the first caller too.
    let (release, released) = mpsc::channel::<()>();
    let held = thread::spawn(move || {
        within(Ctx::CurrentRoot, move || {
            anysync::run(async move {
                holding_tx.send(here()).unwrap();
                let _ = released.recv();
            })
        })
    });
    let holder = holding
        .recv_timeout(Duration::from_secs(60))
        .expect("the first caller never started");
    let other = within(Ctx::CurrentRoot, || {
        probe().run_timeout(Duration::from_secs(30))
    });
    let other = other
        .value
        .expect("the second caller finished while the first was blocked");
    assert_ne!(
        other.thread, holder,
        "the second caller got a thread of its own"
    );
    release.send(()).unwrap();
    held.join().unwrap();
}

#[test]
fn echo_client_works_from_every_context_and_resources_outlive_calls() {
    let addr = echo_server();
    let shared = Arc::new(EchoClient::connect(addr).run().expect("connect"));
    for ctx in ALL {
        let client = Arc::clone(&shared);
        let ran = within(ctx, move || {
            let reused = client
                .echo(&format!("{ctx:?}"))
                .run()
                .expect("echo on shared client");
            // A connection made by one `.run()` is used by the next ones in the same context.
            let own = EchoClient::connect(addr).run().expect("connect");
            let a = own.echo("one").run().expect("echo");
            let b = own.echo("two").run().expect("echo");
            (reused, a, b)
        });
        assert_eq!(ran.value.0, format!("echo: {ctx:?}"));
        assert_eq!(ran.value.1, "echo: one");
        assert_eq!(ran.value.2, "echo: two");
    }
}

#[test]
fn multi_thread_runtime_keeps_going_while_run_blocks_a_worker() {
    // One worker: if `.run()` blocked it without handing the worker's core to another thread,
    // the task that sends the value could never run and this would hang (bounded below).
    let rt = common::multi_thread(1);
    let got = rt.block_on(async {
        tokio::spawn(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move { tx.send(42).unwrap() });
            rx.run_timeout(Duration::from_secs(30))
        })
        .await
        .unwrap()
    });
    assert_eq!(got.expect("runtime stalled").unwrap(), 42);
}

fn levels(n: u32) -> Coroutine<impl Future<Output = Vec<ThreadId>> + Send> {
    Coroutine::new(async move {
        tokio::task::yield_now().await;
        let mut seen = if n == 0 {
            Vec::new()
        } else {
            levels(n - 1).into_inner_boxed().run()
        };
        seen.push(here());
        seen
    })
}

/// Recursion through `.run()` needs a nameable future type; boxing gives one.
trait Boxed: Future + Sized {
    fn into_inner_boxed(
        self,
    ) -> Coroutine<std::pin::Pin<Box<dyn Future<Output = Self::Output> + Send>>>
    where
        Self: Send + 'static,
    {
        Coroutine::new(Box::pin(self))
    }
}

impl<F: Future> Boxed for F {}

#[test]
fn three_level_nesting_never_deadlocks_and_uses_one_polling_thread() {
    for ctx in ALL {
        let ran = within(ctx, || levels(2).run());
        let threads: HashSet<_> = ran.value.iter().copied().collect();
        assert_eq!(ran.value.len(), 3);
        assert_eq!(
            threads.len(),
            1,
            "{ctx:?}: all three levels polled on one thread"
        );
        if ctx.in_place() {
            assert!(
                threads.contains(&ran.caller),
                "{ctx:?}: on the caller's thread"
            );
        } else {
            assert!(
                !threads.contains(&ran.caller),
                "{ctx:?}: on a background thread"
            );
        }
    }
}

#[test]
fn nesting_forty_deep_works_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || levels(40).run().len());
        assert_eq!(ran.value, 41, "{ctx:?}");
    }
}

#[test]
fn tasks_of_the_global_runtime_can_run_nested_coroutines() {
    let names = anysync::run(async {
        tokio::spawn(async {
            let outer = thread::current().name().map(str::to_owned);
            let inner = levels(3).run();
            (outer, inner.len())
        })
        .await
        .unwrap()
    });
    assert_eq!(names.0.as_deref(), Some(GLOBAL));
    assert_eq!(names.1, 4);
}

#[test]
fn panics_reach_the_caller_with_their_payload_and_the_next_call_works() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                Coroutine::new(async {
                    tokio::task::yield_now().await;
                    panic::panic_any(Boom(7));
                })
                .run()
            }));
            let payload = caught.expect_err("the panic propagates");
            let boom = payload.downcast_ref::<Boom>().map(|b| b.0);
            (boom, probe().run())
        });
        assert_eq!(ran.value.0, Some(7), "{ctx:?}: original payload");
        assert_eq!(ran.value.1.spawned, 7, "{ctx:?}: the next call still works");
    }
}

#[test]
fn run_timeout_gives_up_and_drops_the_future_on_every_path() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let dropped = Arc::new(AtomicBool::new(false));
            let flag = DropFlag(Arc::clone(&dropped));
            let result = Coroutine::new(async move {
                let _flag = flag;
                std::future::pending::<()>().await;
            })
            .run_timeout(Duration::from_millis(20));
            (result, dropped.load(Ordering::SeqCst))
        });
        let (result, dropped) = ran.value;
        assert_eq!(
            result.unwrap_err().timeout(),
            Duration::from_millis(20),
            "{ctx:?}"
        );
        assert!(
            dropped,
            "{ctx:?}: the future was dropped before run_timeout returned"
        );
        let quick = within(ctx, || probe().run_timeout(Duration::from_secs(30)));
        assert!(
            quick.value.is_ok(),
            "{ctx:?}: a fast future beats the deadline"
        );
    }
}

fn count_words<'t, 'o>(
    text: &'t str,
    out: &'o mut Vec<&'t str>,
) -> Coroutine<impl Future<Output = usize> + Send + use<'t, 'o>> {
    Coroutine::new(async move {
        for word in text.split_whitespace() {
            tokio::task::yield_now().await;
            out.push(word);
        }
        out.len()
    })
}

#[test]
fn futures_borrowing_from_the_caller_run_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, move || {
            let text = format!("borrowed from {ctx:?} here");
            let mut words = Vec::new();
            let n = count_words(&text, &mut words).run();
            (n, words.join(" ") == text)
        });
        assert_eq!(ran.value, (4, true), "{ctx:?}");
    }
}

fn local_probe() -> Coroutine<impl Future<Output = (ThreadId, u32)>, anysync::Local> {
    let rc = std::rc::Rc::new(3);
    Coroutine::local(async move {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        (here(), *rc)
    })
}

#[test]
fn local_futures_run_in_place_or_panic_with_advice_never_hang() {
    for ctx in ALL {
        let ran = within(ctx, || {
            panic::catch_unwind(AssertUnwindSafe(|| local_probe().run()))
                .map_err(|payload| panic_message(&*payload))
        });
        if ctx.forbids_local() {
            let message = ran.value.expect_err("a !Send future cannot run here");
            assert!(
                message.contains("`.await` it instead"),
                "{ctx:?}: {message}"
            );
            assert!(
                message.contains("test_contexts.rs"),
                "{ctx:?}: names the caller: {message}"
            );
        } else {
            let (thread, value) = ran.value.unwrap_or_else(|m| panic!("{ctx:?}: {m}"));
            assert_eq!(value, 3);
            assert_eq!(
                thread, ran.caller,
                "{ctx:?}: a !Send future never leaves its thread"
            );
        }
    }
}

#[test]
fn run_ext_and_run_work_on_third_party_futures_everywhere() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1);
            tx.send("ping").run().unwrap();
            let got = rx.recv().run();
            let slept = anysync::run(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                "slept"
            });
            (got, slept)
        });
        assert_eq!(ran.value, (Some("ping"), "slept"), "{ctx:?}");
    }
}

#[test]
fn coroutine_is_a_real_future_for_spawn_join_and_select() {
    let rt = common::current_thread();
    rt.block_on(async {
        let spawned = tokio::spawn(probe()).await.unwrap();
        assert_eq!(spawned.spawned, 7);
        let (a, b) = tokio::join!(Coroutine::new(async { 1 }), Coroutine::new(async { 2 }));
        assert_eq!(a + b, 3);
        let winner = tokio::select! {
            v = Coroutine::new(async { "fast" }) => v,
            () = tokio::time::sleep(Duration::from_secs(30)) => "slow",
        };
        assert_eq!(winner, "fast");
        use futures::StreamExt;
        let unordered: futures::stream::FuturesUnordered<_> = (0..4u32)
            .map(|i| Coroutine::new(async move { i }))
            .collect();
        let mut all: Vec<u32> = unordered.collect().await;
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
    });
}

#[test]
fn coroutine_adds_nothing_to_the_future_size() {
    async fn bare(x: u64) -> u64 {
        tokio::task::yield_now().await;
        x
    }
    let future = bare(1);
    let bare_size = size_of_val(&future);
    let wrapped = Coroutine::new(future);
    assert_eq!(size_of_val(&wrapped), bare_size);
    let local = Coroutine::local(bare(2));
    assert_eq!(size_of_val(&local), bare_size);
    assert_eq!(wrapped.run() + local.run(), 3);
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn blocking_warning_is_opt_in_and_printed_once() {
    const CHILD: &str = "ANYSYNC_TEST_WARNING_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let rt = common::current_thread();
        rt.block_on(async {
            probe().run();
            probe().run();
        });
        return;
    }
    let run_child = |warn: bool| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "blocking_warning_is_opt_in_and_printed_once",
            "--nocapture",
        ])
        .env(CHILD, "1");
        if warn {
            cmd.env("ANYSYNC_WARN_BLOCKING", "1");
        } else {
            cmd.env_remove("ANYSYNC_WARN_BLOCKING");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let warned = run_child(true);
    assert_eq!(warned.matches("anysync: warning").count(), 1, "{warned}");
    assert!(
        warned.contains("test_contexts.rs"),
        "names the call site: {warned}"
    );
    assert!(
        warned.contains(".await"),
        "says what to do instead: {warned}"
    );
    // Regression test: the warning said the call "blocked ... until it returned", of a call
    // that may never return (issue 13).
    assert!(!warned.contains("until it returned"), "{warned}");
    assert!(
        warned.contains("never returns"),
        "says the call may hang: {warned}"
    );
    let quiet = run_child(false);
    assert!(!quiet.contains("anysync: warning"), "{quiet}");
}

tokio::task_local! {
    static REQUEST_ID: u32;
}

fn read_request_id() -> Coroutine<impl Future<Output = Option<u32>> + Send> {
    Coroutine::new(async {
        tokio::task::yield_now().await;
        REQUEST_ID.try_with(|id| *id).ok()
    })
}

#[test]
fn task_locals_are_seen_in_place_and_not_on_background_threads() {
    // In place: the caller's scope is still on this thread's stack while the future is polled.
    let nested = anysync::run(REQUEST_ID.scope(7, async { read_request_id().run() }));
    assert_eq!(nested, Some(7));
    let multi = common::multi_thread(2).block_on(async {
        tokio::spawn(REQUEST_ID.scope(8, async { read_request_id().run() })).await
    });
    assert_eq!(multi.unwrap(), Some(8));
    // Lent to a background thread: the value does not travel.
    let lent =
        common::current_thread().block_on(REQUEST_ID.scope(9, async { read_request_id().run() }));
    assert_eq!(lent, None);
    // Nothing set inside a `.run()` leaks out to the caller.
    let leaked = anysync::run(async {
        Coroutine::new(REQUEST_ID.scope(10, async {})).run();
        REQUEST_ID.try_with(|id| *id).ok()
    });
    assert_eq!(leaked, None);
}

/// A waker whose `wake` panics with a recognisable payload.
struct PanickyWaker;

impl std::task::Wake for PanickyWaker {
    fn wake(self: Arc<Self>) {
        panic::panic_any(Boom(99));
    }
}

#[test]
fn a_user_panic_raised_inside_block_in_place_is_not_mistaken_for_tokios_refusal() {
    // Regression (review finding): tokio wakes a worker's deferred wakers inside
    // `block_in_place`, before running our closure. A user's panicking waker there used to be
    // taken for tokio's refusal: swallowed, and the work silently lent elsewhere.
    let rt = common::multi_thread(2);
    let payload = rt.block_on(async {
        tokio::spawn(async {
            let waker = std::task::Waker::from(Arc::new(PanickyWaker));
            let mut cx = std::task::Context::from_waker(&waker);
            let mut yielded = std::pin::pin!(tokio::task::yield_now());
            // Pending: tokio defers the panicky waker on this worker.
            assert!(yielded.as_mut().poll(&mut cx).is_pending());
            let caught = panic::catch_unwind(|| anysync::run(async { 1 }));
            caught.unwrap_err().downcast::<Boom>().map(|b| b.0).ok()
        })
        .await
        .unwrap()
    });
    assert_eq!(payload, Some(99));
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn run_inside_a_panic_hook_in_a_local_set_does_not_abort() {
    // Regression (review finding): a panic while a panic hook runs aborts the process, and
    // tokio's refusal inside a `LocalSet` is a panic. Inside a hook, `.run()` lends instead.
    const CHILD: &str = "ANYSYNC_TEST_HOOK_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // The order of a real program: its hook first, then anysync starts (and wraps it).
        panic::set_hook(Box::new(|_| {
            let n = anysync::run(async { 41 }) + 1;
            eprintln!("hook ran .run(): {n}");
        }));
        assert_eq!(anysync::run(async { 1 }), 1);
        let rt = common::multi_thread(2);
        LocalSet::new().block_on(&rt, async {
            let caught = panic::catch_unwind(|| panic!("inside the LocalSet"));
            assert!(caught.is_err());
        });
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "run_inside_a_panic_hook_in_a_local_set_does_not_abort",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert!(stderr.contains("hook ran .run(): 42"), "{stderr}");
}

#[test]
fn local_future_advice_with_a_multi_thread_handle_entered_in_a_current_thread_local_set() {
    // Regression (review): with a multi_thread runtime's handle entered inside a
    // current_thread runtime's `LocalSet` (which looks like a multi_thread worker), the
    // `?Send` advice named only "a current_thread runtime": tokio's refusal does not say which
    // of the two it is, so the advice names both, as elsewhere on a current_thread runtime.
    let multi = common::multi_thread(1);
    let handle = multi.handle().clone();
    for ctx in [
        Ctx::LocalSetCurrent,
        Ctx::LocalSetCurrentTask,
        Ctx::CurrentTask,
    ] {
        let handle = handle.clone();
        let ran = within(ctx, move || {
            let _entered = handle.enter();
            panic::catch_unwind(AssertUnwindSafe(|| local_probe().run()))
                .map_err(|payload| panic_message(&*payload))
        });
        let advice = ran.value.expect_err("a !Send future cannot run here");
        assert!(
            advice.contains("cannot block inside a current_thread runtime or a `LocalSet`"),
            "{ctx:?}: {advice}"
        );
    }
}

#[test]
fn inside_a_block_in_place_closure_a_send_future_is_lent_and_a_local_one_runs_in_place() {
    // As the README's table says: a worker inside `block_in_place` has handed its core over,
    // and nothing public tells it from a `LocalSet`, so a `Send` future is lent there; a
    // `?Send` one runs in place (tokio allows blocking there).
    let rt = common::multi_thread(2);
    let (lent, (local_thread, value), caller) = rt.block_on(async {
        tokio::spawn(async {
            tokio::task::block_in_place(|| (common::probe().run(), local_probe().run(), here()))
        })
        .await
        .unwrap()
    });
    assert_eq!(lent.name.as_deref(), Some(common::POOL));
    assert_eq!(lent.runtime, common::global_id());
    assert_eq!((local_thread, value), (caller, 3));
}
