//! `anysync::task_group` (asyncer's `create_task_group` + `soonify`): children start at once,
//! values are redeemed only with the group's `Joined` proof, the first error or panic cancels
//! the siblings and the body and surfaces at the group, and dropping the group cancels its
//! children.

mod common;

use anysync::{TaskGroup, task_group};
use common::{Boom, DropFlag, here};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// Long enough that only a bug (a deadlock) reaches it; never a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

fn flags(n: usize) -> Vec<Arc<AtomicBool>> {
    (0..n).map(|_| Arc::new(AtomicBool::new(false))).collect()
}

fn all_set(flags: &[Arc<AtomicBool>]) -> bool {
    flags.iter().all(|f| f.load(Ordering::SeqCst))
}

/// A child that announces it has started, then waits forever; its flag is set when dropped.
async fn forever(flag: Arc<AtomicBool>, started: mpsc::UnboundedSender<()>) -> Result<(), String> {
    let _dropped = DropFlag(flag);
    started.send(()).unwrap();
    std::future::pending::<()>().await;
    Ok(())
}

fn explode() -> Result<(), String> {
    std::panic::panic_any(Boom(9))
}

async fn recv_n(rx: &mut mpsc::UnboundedReceiver<()>, n: usize) {
    for _ in 0..n {
        tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("a child never started")
            .unwrap();
    }
}

#[test]
fn children_start_at_once_and_values_are_read_after_the_join() {
    let rt = common::current_thread();
    let ((number, text, greeting), joined) = rt
        .block_on(task_group(async |group| {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let number = group.spawn(async move {
                tx.send("hello from a child").unwrap();
                Ok(42_u32)
            });
            let text = group.spawn(async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok(String::from("slept"))
            });
            // The body waits for a child while the group is still open: the child must
            // already be running, or this would never finish.
            let greeting = tokio::time::timeout(PATIENCE, rx.recv())
                .await
                .unwrap()
                .unwrap();
            Ok::<_, std::io::Error>((number, text, greeting))
        }))
        .unwrap();
    assert_eq!(greeting, "hello from a child");
    assert_eq!(joined.take(number), 42);
    assert_eq!(joined.take(text), "slept");
}

#[test]
fn children_run_on_the_runtime_that_awaits_the_group_in_every_context() {
    async fn where_children_ran() -> Vec<tokio::runtime::Id> {
        let (soons, joined) = task_group(async |group| {
            let soons: Vec<_> = (0..4)
                .map(|_| {
                    group.spawn(async {
                        tokio::task::yield_now().await;
                        Ok::<_, ()>(Handle::current().id())
                    })
                })
                .collect();
            Ok(soons)
        })
        .await
        .unwrap();
        soons.into_iter().map(|s| joined.take(s)).collect()
    }
    let current = common::current_thread();
    let ids = current.block_on(where_children_ran());
    assert!(ids.iter().all(|id| *id == current.handle().id()));

    let multi = common::multi_thread(2);
    let ids = multi.block_on(async { tokio::spawn(where_children_ran()).await.unwrap() });
    assert!(ids.iter().all(|id| *id == multi.handle().id()));

    // No tokio context: the children are tasks of the global runtime.
    let ids = futures::executor::block_on(where_children_ran());
    assert!(ids.iter().all(|id| *id == common::global_id()));
}

#[test]
fn the_first_child_error_cancels_the_siblings_and_the_body_and_is_returned() {
    let rt = common::multi_thread(2);
    let siblings = flags(3);
    let body_dropped = Arc::new(AtomicBool::new(false));
    let result = rt.block_on(task_group(async |group| {
        let _body = DropFlag(Arc::clone(&body_dropped));
        let (started, mut rx) = mpsc::unbounded_channel();
        for flag in &siblings {
            let _ = group.spawn(forever(Arc::clone(flag), started.clone()));
        }
        recv_n(&mut rx, siblings.len()).await;
        let _ = group.spawn(async { Err::<(), _>(String::from("child failed")) });
        // The body would wait forever: the failure has to cancel it.
        std::future::pending::<()>().await;
        Ok(())
    }));
    // Where the error goes: the group's own result.
    assert_eq!(result.unwrap_err(), "child failed");
    // By the time the group returns, every sibling and the body are gone.
    assert!(all_set(&siblings), "a sibling outlived the group");
    assert!(body_dropped.load(Ordering::SeqCst));
}

#[test]
fn the_first_child_panic_cancels_the_siblings_and_resumes_at_the_group() {
    let rt = common::current_thread();
    let siblings = flags(2);
    let caught = rt.block_on(
        AssertUnwindSafe(task_group(async |group| {
            let (started, mut rx) = mpsc::unbounded_channel();
            for flag in &siblings {
                let _ = group.spawn(forever(Arc::clone(flag), started.clone()));
            }
            recv_n(&mut rx, siblings.len()).await;
            let _ = group.spawn(async {
                tokio::task::yield_now().await;
                explode()
            });
            std::future::pending::<()>().await;
            Ok(())
        }))
        .catch_unwind(),
    );
    let payload = caught.expect_err("the child's panic must reach the group");
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(9)));
    assert!(all_set(&siblings));
}

#[test]
fn a_body_error_cancels_the_children() {
    let rt = common::current_thread();
    let children = flags(3);
    let result = rt.block_on(task_group(async |group| {
        let (started, mut rx) = mpsc::unbounded_channel();
        for flag in &children {
            let _ = group.spawn(forever(Arc::clone(flag), started.clone()));
        }
        recv_n(&mut rx, children.len()).await;
        Err::<(), _>(String::from("body failed"))
    }));
    assert_eq!(result.unwrap_err(), "body failed");
    assert!(all_set(&children));
}

#[test]
fn dropping_the_group_future_cancels_its_children() {
    let rt = common::multi_thread(2);
    let children = flags(3);
    rt.block_on(async {
        let (started, mut rx) = mpsc::unbounded_channel();
        let group = tokio::spawn({
            let children = children.clone();
            async move {
                task_group(async |group: &TaskGroup<String>| {
                    for flag in &children {
                        let _ = group.spawn(forever(Arc::clone(flag), started.clone()));
                    }
                    std::future::pending::<()>().await;
                    Ok(())
                })
                .await
            }
        });
        recv_n(&mut rx, children.len()).await;
        group.abort();
        assert!(group.await.unwrap_err().is_cancelled());
        // The group cannot wait in `drop`: its children are aborted, and tokio drops each
        // one when it next gets to it.
        let give_up = Instant::now() + PATIENCE;
        while !all_set(&children) {
            assert!(
                Instant::now() < give_up,
                "a child outlived its dropped group"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    // Also through a timeout around the group.
    let children = flags(2);
    let rt = common::current_thread();
    rt.block_on(async {
        let (started, mut rx) = mpsc::unbounded_channel();
        let group = task_group(async |group: &TaskGroup<String>| {
            for flag in &children {
                let _ = group.spawn(forever(Arc::clone(flag), started.clone()));
            }
            std::future::pending::<()>().await;
            Ok(())
        });
        let waiting = async {
            recv_n(&mut rx, children.len()).await;
        };
        tokio::select! {
            _ = group => unreachable!("the group never finishes"),
            () = waiting => {}
        }
        // The group future was dropped by `select!`.
        let give_up = Instant::now() + PATIENCE;
        while !all_set(&children) {
            assert!(
                Instant::now() < give_up,
                "a child outlived its dropped group"
            );
            tokio::task::yield_now().await;
        }
    });
}

#[test]
fn the_body_may_borrow_and_children_may_nest_groups() {
    let rt = common::multi_thread(2);
    let words = ["a", "bb", "ccc"];
    let (total, joined) = rt
        .block_on(task_group(async |group| {
            // The body borrows `words`; the children own what they use.
            let soons: Vec<_> = words
                .iter()
                .map(|word| {
                    let len = word.len();
                    group.spawn(async move {
                        // A child opens a group of its own.
                        let (inner, joined) = task_group(async |inner| {
                            Ok::<_, ()>(inner.spawn(async move { Ok(len * 10) }))
                        })
                        .await?;
                        Ok(joined.take(inner))
                    })
                })
                .collect();
            Ok::<_, ()>(soons)
        }))
        .unwrap();
    let total: usize = total.into_iter().map(|s| joined.take(s)).sum();
    assert_eq!(total, 60);
}

#[test]
fn a_value_cannot_be_redeemed_with_another_groups_proof() {
    let rt = common::current_thread();
    let (soon, _) = rt
        .block_on(task_group(async |g| Ok::<_, ()>(g.spawn(async { Ok(1) }))))
        .unwrap();
    let (_, other) = rt
        .block_on(task_group(async |_: &TaskGroup<()>| Ok(())))
        .unwrap();
    let misuse = std::panic::catch_unwind(AssertUnwindSafe(|| other.take(soon)));
    let payload = misuse.unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(
        message.contains("belongs to another task group"),
        "{message}"
    );
}

#[test]
fn a_group_with_no_children_returns_the_body_value() {
    let rt = common::current_thread();
    let (value, _joined) = rt
        .block_on(task_group(async |_: &TaskGroup<()>| {
            tokio::task::yield_now().await;
            Ok(here())
        }))
        .unwrap();
    assert_eq!(value, here());
}
