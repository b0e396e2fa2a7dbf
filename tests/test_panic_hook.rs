//! Issue 13, point 6: no panic that anysync raises and catches itself reaches a user's panic
//! hook when a `Send` future is run, in any context, whether the hook was installed before or
//! after anysync's first use; where a `?Send` future makes anysync ask tokio (and tokio
//! refuses), `anysync::is_internal_panic` recognises the refusal.
//!
//! Regression: tokio's refusal of `block_in_place` inside a `LocalSet` on a multi_thread
//! runtime, which anysync caught to lend the future instead, reached every hook installed
//! after anysync's (sentry, color-eyre, a test harness's) as a crash report.
//!
//! A panic hook is process-wide, and so is "first use": each scenario runs in a child process
//! of this test binary.

mod common;

use anysync::{Coroutine, RunExt, yield_};
use common::ctx::{ALL, Ctx, within};
use common::panic_message;
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// What the counting hook saw: (recognised as internal, message) for every panic.
static SEEN: Mutex<Vec<(bool, String)>> = Mutex::new(Vec::new());

fn counting_hook() {
    panic::set_hook(Box::new(|info| {
        let message = panic_message(info.payload());
        SEEN.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((anysync::is_internal_panic(info), message));
    }));
}

fn seen() -> Vec<(bool, String)> {
    std::mem::take(&mut *SEEN.lock().unwrap_or_else(|e| e.into_inner()))
}

#[anysync::iterator(item = u32)]
async fn count_to(n: u32) {
    for i in 1..=n {
        tokio::task::yield_now().await;
        yield_!(i);
    }
}

#[anysync::context(item = u32)]
async fn scoped() {
    tokio::task::yield_now().await;
    yield_!(7);
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Every blocking entry point, with `Send` futures.
fn run_send_futures() -> u32 {
    let a = common::probe().run().spawned;
    let b = anysync::run(async {
        tokio::task::yield_now().await;
        1
    });
    let c = std::future::ready(1)
        .run_timeout(Duration::from_secs(30))
        .unwrap();
    let d: u32 = count_to(3).into_iter().sum();
    let e = *scoped().enter().run();
    let f = Coroutine::new(async { anysync::run(async { 1 }) }).run();
    a + b + c + d + e + f
}

fn send_futures_reach_no_hook() {
    for ctx in ALL {
        let ran = within(ctx, run_send_futures);
        assert_eq!(ran.value, 7 + 1 + 1 + 6 + 7 + 1, "{ctx:?}");
        assert_eq!(seen(), Vec::new(), "{ctx:?}: panics seen by the hook");
    }
}

/// A `?Send` future inside a multi_thread `LocalSet`: the one place anysync still asks tokio.
/// The hook sees tokio's refusal, recognised as internal, then anysync's advice, which is not.
fn local_future_refusal_is_recognised() {
    for ctx in [Ctx::LocalSetMulti, Ctx::LocalSetMultiTask] {
        let ran = within(ctx, || {
            let local = Coroutine::local(async { std::rc::Rc::new(1) });
            panic::catch_unwind(AssertUnwindSafe(|| *local.run()))
                .map_err(|payload| panic_message(&*payload))
        });
        let advice = ran.value.expect_err("a ?Send future cannot run here");
        assert!(advice.contains("`.await` it instead"), "{ctx:?}: {advice}");
        let seen = seen();
        let (internal, user): (Vec<_>, Vec<_>) = seen.iter().partition(|(internal, _)| *internal);
        assert_eq!(internal.len(), 1, "{ctx:?}: tokio's refusal: {seen:?}");
        assert!(
            internal[0].1.contains("can call blocking only"),
            "{ctx:?}: {seen:?}"
        );
        assert_eq!(user.len(), 1, "{ctx:?}: anysync's advice: {seen:?}");
        assert_eq!(user[0].1, advice, "{ctx:?}");
    }
    // A panic of the user's own is never taken for an internal one.
    let _ = panic::catch_unwind(|| {
        panic!("can call blocking only when running on the multi-threaded runtime")
    });
    assert_eq!(
        seen(),
        vec![(
            false,
            "can call blocking only when running on the multi-threaded runtime".to_owned()
        )]
    );
}

/// The one place where a `Send` future still makes tokio refuse (documented on
/// `is_internal_panic`): a multi_thread handle entered inside a current_thread runtime's task
/// looks like a multi_thread worker. The future is lent, and the refusal is recognised.
fn multi_thread_handle_entered_in_a_current_thread_task() {
    let multi = common::multi_thread(1);
    let handle = multi.handle().clone();
    let ran = within(Ctx::CurrentTask, move || {
        let _entered = handle.enter();
        common::probe().run()
    });
    assert_eq!(ran.value.name.as_deref(), Some(common::POOL));
    assert_eq!(ran.value.runtime, common::global_id());
    let seen = seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].0, "recognised as internal: {seen:?}");
}

/// The advice inside a current_thread `LocalSet` names both places it cannot tell apart.
fn advice_in_a_current_thread_local_set_names_it() {
    for ctx in [Ctx::LocalSetCurrent, Ctx::LocalSetCurrentTask] {
        let ran = within(ctx, || {
            let local = Coroutine::local(async { std::rc::Rc::new(1) });
            panic::catch_unwind(AssertUnwindSafe(|| *local.run()))
                .map_err(|payload| panic_message(&*payload))
        });
        let advice = ran.value.expect_err("a ?Send future cannot run here");
        assert!(
            advice.contains("a current_thread runtime or a `LocalSet`"),
            "{ctx:?}: {advice}"
        );
        // Told without asking tokio: the hook saw the advice only.
        assert_eq!(seen(), vec![(false, advice)], "{ctx:?}");
    }
}

const SCENARIO: &str = "ANYSYNC_TEST_HOOK_SCENARIO";

/// Runs `name` in a child process of this binary with `scenario` set, and checks it passed.
fn in_child(name: &str, scenario: &str) {
    if std::env::var_os(SCENARIO).is_some() {
        unreachable!("children run the scenario, not this");
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test:\n{stdout}"
    );
}

fn scenario() -> Option<String> {
    std::env::var(SCENARIO).ok()
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn a_hook_installed_after_first_use_sees_no_internal_panic_of_send_futures() {
    match scenario().as_deref() {
        Some("after") => {
            // anysync's first use: it starts and wraps the hook of that moment.
            assert_eq!(anysync::run(async { 1 }), 1);
            counting_hook();
            send_futures_reach_no_hook();
            local_future_refusal_is_recognised();
            advice_in_a_current_thread_local_set_names_it();
            multi_thread_handle_entered_in_a_current_thread_task();
        }
        _ => in_child(
            "a_hook_installed_after_first_use_sees_no_internal_panic_of_send_futures",
            "after",
        ),
    }
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn a_hook_installed_before_first_use_sees_no_internal_panic() {
    match scenario().as_deref() {
        Some("before") => {
            counting_hook();
            send_futures_reach_no_hook();
            // anysync's wrapper sits in front of this hook: not even the refusal of a `?Send`
            // probe reaches it, only the advice.
            for ctx in [Ctx::LocalSetMulti, Ctx::LocalSetMultiTask] {
                let ran = within(ctx, || {
                    let local = Coroutine::local(async { std::rc::Rc::new(1) });
                    panic::catch_unwind(AssertUnwindSafe(|| *local.run()))
                        .map_err(|payload| panic_message(&*payload))
                });
                let advice = ran.value.expect_err("a ?Send future cannot run here");
                assert_eq!(seen(), vec![(false, advice)], "{ctx:?}");
            }
        }
        _ => in_child(
            "a_hook_installed_before_first_use_sees_no_internal_panic",
            "before",
        ),
    }
}
