//! Issue 13, point 1: a `.run()` future behaves the same in every poll. Blocking tokio calls
//! inside it (a runtime of its own created, used and dropped, as `reqwest::blocking` does; a
//! nested `Handle::block_on`) work before its first waiting `.await` and after it, in every
//! calling context; and tokio's cooperative budget never forces it to yield.
//!
//! Regression: on a plain thread the first poll was made under `Handle::enter` and the later
//! ones inside `Handle::block_on`, so `anysync::run(async { f() })` worked and
//! `anysync::run(async { yield_now().await; f() })` panicked with "Cannot drop a runtime in a
//! context where blocking is not allowed".

mod common;

use common::ctx::{ALL, Ctx, within};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use tokio::runtime::{Builder, Handle};

/// Blocking tokio calls, each of which tokio refuses where a thread runs a runtime.
fn blocking_calls() -> (u32, u32) {
    // A runtime of its own: created, blocked on, dropped (`reqwest::blocking`'s pattern).
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    let own = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        1
    });
    drop(rt);
    // The runtime that `.run()` entered, blocked on again from inside its future.
    let nested = Handle::current().block_on(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        tokio::task::yield_now().await;
        2
    });
    (own, nested)
}

/// How many of `n` budgeted tokio operations returned `Pending` to force a yield.
async fn forced_yields(n: usize) -> usize {
    let mut forced = 0;
    for _ in 0..n {
        let mut op = pin!(tokio::task::consume_budget());
        poll_fn(|cx| {
            let poll = op.as_mut().poll(cx);
            forced += usize::from(poll.is_pending());
            poll
        })
        .await;
    }
    forced
}

#[test]
fn blocking_tokio_calls_work_before_and_after_the_first_await_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || {
            anysync::run(async {
                let before = blocking_calls();
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(1)).await;
                let after = blocking_calls();
                (before, after)
            })
        });
        assert_eq!(ran.value, ((1, 2), (1, 2)), "{ctx:?}");
    }
}

#[test]
fn the_issue_example_works_on_a_plain_thread() {
    // The two lines of the issue: the second used to panic.
    let first = anysync::run(async { blocking_calls() });
    let second = anysync::run(async {
        tokio::task::yield_now().await;
        blocking_calls()
    });
    assert_eq!((first, second), ((1, 2), (1, 2)));
}

#[test]
fn no_cooperative_budget_forces_a_run_future_to_yield_in_any_context() {
    // `Handle::block_on` polls under a budget of 128 operations; after 300 of them a budgeted
    // poll would have returned `Pending` at least twice.
    for ctx in ALL {
        let ran = within(ctx, || {
            anysync::run(async {
                tokio::task::yield_now().await;
                forced_yields(300).await
            })
        });
        assert_eq!(ran.value, 0, "{ctx:?}");
    }
    // The anchor, so that the assertion above can fail: tokio's own `block_on` does force.
    let rt = common::current_thread();
    assert!(rt.block_on(forced_yields(300)) >= 2);
}

#[test]
fn blocking_calls_work_inside_a_nested_run_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || {
            anysync::run(async {
                tokio::task::yield_now().await;
                anysync::run(async {
                    tokio::task::yield_now().await;
                    blocking_calls()
                })
            })
        });
        assert_eq!(ran.value, (1, 2), "{ctx:?}");
    }
}

#[test]
fn a_run_inside_a_runtime_the_future_started_is_judged_by_that_runtime() {
    // Inside a `.run()` future, a runtime of the user's own is a calling context like any
    // other: a current_thread one lends, a multi_thread worker polls in place.
    for ctx in [
        Ctx::Plain,
        Ctx::CurrentTask,
        Ctx::MultiTask,
        Ctx::UnblockCurrent,
    ] {
        let ran = within(ctx, || {
            anysync::run(async {
                tokio::task::yield_now().await;
                let current = common::current_thread();
                let lent = current.block_on(async { common::probe().run() });
                let multi = common::multi_thread(1);
                let in_place = multi.block_on(async {
                    tokio::spawn(async { (common::here(), common::probe().run()) })
                        .await
                        .unwrap()
                });
                (lent, in_place)
            })
        });
        let (lent, (worker, in_place)) = ran.value;
        assert_eq!(lent.name.as_deref(), Some(common::POOL), "{ctx:?}");
        assert_eq!(in_place.thread, worker, "{ctx:?}");
        assert_eq!(lent.runtime, common::global_id(), "{ctx:?}");
        assert_eq!(in_place.runtime, common::global_id(), "{ctx:?}");
    }
}

#[test]
fn a_wake_of_the_outer_future_during_a_nested_run_is_not_lost() {
    // Nested `.run()` calls park on the same thread. The outer future registers its waker,
    // then a nested `.run()` waits while the outer's wake-up arrives: the inner loop consumes
    // it, and the outer future must still be polled again (bounded by a watchdog: a lost
    // wake-up would park the outer loop forever).
    let (done, watched) = mpsc::channel();
    thread::spawn(move || {
        let value = anysync::run(async {
            // The first poll has a no-op waker: get to the real one first.
            tokio::task::yield_now().await;
            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            let nested = async move {
                anysync::run(async move {
                    // As above, so that the task starts while this loop polls with its waker.
                    tokio::task::yield_now().await;
                    let (finished, finish) = tokio::sync::oneshot::channel();
                    tokio::spawn(async move {
                        tx.send(5).unwrap();
                        finished.send(()).unwrap();
                    });
                    finish.await.unwrap();
                });
                std::future::pending::<u32>().await
            };
            match futures::future::select(rx, pin!(nested)).await {
                futures::future::Either::Left((value, _)) => value.unwrap(),
                futures::future::Either::Right(_) => unreachable!(),
            }
        });
        done.send(value).unwrap();
    });
    let value = watched
        .recv_timeout(Duration::from_secs(60))
        .expect("the outer `.run()` missed its wake-up and hung");
    assert_eq!(value, 5);
}

#[test]
fn a_run_inside_a_runtime_an_unblock_closure_started_is_judged_by_that_runtime() {
    // Regression (review): inside an `unblock` closure, every `.run()` went back to the
    // origin runtime and polled in place, even inside a current_thread runtime the closure
    // had started itself: a `yield_now` there deferred its wake-up to that runtime's
    // scheduler, which the `.run()` was blocking, and hung. Like a runtime started inside a
    // `.run()` future, such a runtime is a calling context like any other.
    let (done, watched) = mpsc::channel();
    thread::spawn(move || {
        for ctx in [Ctx::UnblockCurrent, Ctx::UnblockMulti] {
            let ran = within(ctx, || {
                let twice = || {
                    anysync::run(async {
                        // The first poll's wake-up is not the one that matters: yield twice.
                        tokio::task::yield_now().await;
                        tokio::task::yield_now().await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        (common::probe().run(), blocking_calls())
                    })
                };
                let lent = common::current_thread().block_on(async { twice() });
                let root = common::multi_thread(1).block_on(async { twice() });
                let origin = common::probe().run();
                (lent, root, origin, Handle::current().id())
            });
            done.send((ctx, ran.value)).unwrap();
        }
    });
    for _ in 0..2 {
        let (ctx, (lent, root, origin, origin_id)) = watched
            .recv_timeout(Duration::from_secs(60))
            .expect("a `.run()` inside a runtime started by an unblock closure hung");
        assert_eq!(lent.0.name.as_deref(), Some(common::POOL), "{ctx:?}");
        assert_eq!(lent.0.runtime, common::global_id(), "{ctx:?}");
        assert_eq!(lent.1, (1, 2), "{ctx:?}");
        assert_eq!(root.0.runtime, common::global_id(), "{ctx:?}");
        assert_eq!(root.1, (1, 2), "{ctx:?}");
        // Outside those runtimes, the closure's `.run()` still goes back to its origin.
        assert_eq!(origin.runtime, origin_id, "{ctx:?}");
    }
}

#[test]
fn blocking_calls_work_in_a_run_inside_a_users_block_on_of_the_same_runtime() {
    // Regression (review): a `.run()` inside the user's own `Handle::current().block_on(..)`
    // in a `.run()` future (or an `unblock` closure) polled in place inside tokio's "running a
    // runtime" state, which that user `block_on` had set: blocking calls there panicked with
    // "Cannot start a runtime from within a runtime", where the same call one level up worked.
    for ctx in ALL {
        let ran = within(ctx, move || {
            let inner = || {
                Handle::current().block_on(async {
                    anysync::run(async {
                        tokio::task::yield_now().await;
                        blocking_calls()
                    })
                })
            };
            let nested = anysync::run(async {
                tokio::task::yield_now().await;
                inner()
            });
            // Inside an `unblock` closure, the same one level down, with its origin.
            let origin = ctx.user_runtime().then(inner);
            (nested, origin)
        });
        assert_eq!(ran.value.0, (1, 2), "{ctx:?}");
        assert_eq!(ran.value.1, ctx.user_runtime().then_some((1, 2)), "{ctx:?}");
    }
}

#[test]
fn a_run_with_its_runtime_entered_inside_a_current_thread_task_does_not_hang() {
    // Regression (review): with the handle of the runtime that an outer `.run()` drives
    // entered inside a current_thread runtime's task, an inner `.run()` took itself for
    // nested and polled in place on that runtime's scheduler thread: `yield_now` deferred its
    // wake-up to that scheduler, which the inner `.run()` was blocking, and it hung. It is
    // lent, as in any current_thread task (a watchdog bounds the hang).
    let (done, watched) = mpsc::channel();
    thread::spawn(move || {
        let value = anysync::run(async {
            tokio::task::yield_now().await;
            let driving = Handle::current();
            common::current_thread().block_on(async move {
                let _entered = driving.enter();
                anysync::run(async {
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    thread::current().name().map(str::to_owned)
                })
            })
        });
        done.send(value).unwrap();
    });
    let name = watched
        .recv_timeout(Duration::from_secs(60))
        .expect("the inner `.run()` hung");
    assert_eq!(name.as_deref(), Some(common::POOL));
}

#[test]
fn a_multi_thread_runtime_is_created_used_and_dropped_after_an_await_in_every_context() {
    // The issue's form with `Runtime::new()`: a multi_thread runtime, whose drop waits for
    // its worker threads (a different blocking path from a current_thread runtime's).
    for ctx in ALL {
        let ran = within(ctx, || {
            anysync::run(async {
                tokio::task::yield_now().await;
                let rt = tokio::runtime::Runtime::new().unwrap();
                let value = rt.block_on(async {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    tokio::spawn(async { 3 }).await.unwrap()
                });
                drop(rt);
                value
            })
        });
        assert_eq!(ran.value, 3, "{ctx:?}");
    }
}
