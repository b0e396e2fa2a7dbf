//! Every calling context of the runtime table, and a way to call code from inside each.
#![allow(dead_code, unreachable_pub)]

use super::here;
use std::panic;
use std::thread::{self, ThreadId};
use tokio::task::LocalSet;

/// A calling context from the runtime table.
///
/// The project's "every calling context" is seventeen places, each one of these variants:
///
/// | context | variant |
/// |---|---|
/// | plain thread: the main thread | `Plain` (see below) |
/// | plain thread: a spawned one | `Plain` |
/// | current_thread runtime: root future (a sync helper called from it) | `CurrentRoot` |
/// | `#[tokio::main(flavor = "current_thread")]` | `CurrentRoot` (see below) |
/// | current_thread runtime: spawned task | `CurrentTask` |
/// | multi_thread runtime: root future | `MultiRoot` |
/// | multi_thread runtime: worker task | `MultiTask` |
/// | `spawn_blocking` on a current_thread / multi_thread runtime | `BlockingCurrent` / `BlockingMulti` |
/// | `LocalSet` on a current_thread / multi_thread runtime | `LocalSetCurrent` / `LocalSetMulti` |
/// | a `Drop` running inside a current_thread / multi_thread runtime | `DropCurrent` / `DropMulti` |
/// | nested in another `.run()`, from a plain thread | `NestedPlain` |
/// | nested in another `.run()`, from a current_thread runtime | `NestedCurrent` |
/// | inside an `anysync::unblock` closure, current_thread / multi_thread | `UnblockCurrent` / `UnblockMulti` |
///
/// Two rows share a variant rather than duplicating one:
/// - The test harness never runs a test on the process's main thread (each test gets a thread
///   of its own), and nothing in anysync tells the main thread apart: `detect()` sees no
///   runtime, no origin and no `.run()` in progress on either, so `Plain` (a fresh spawned
///   thread) takes the main thread's path.
/// - `#[tokio::main(flavor = "current_thread")]` expands to
///   `Builder::new_current_thread().enable_all().build().unwrap().block_on(body)`: exactly
///   `CurrentRoot`.
///
/// The others are extra places worth a test of their own: tasks of a `LocalSet`
/// (`LocalSetCurrentTask`, `LocalSetMultiTask`), a thread holding an `enter()` guard
/// (`EnterCurrent`, `EnterMulti`) and a task of the global runtime (`GlobalTask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctx {
    Plain,
    CurrentRoot,
    CurrentTask,
    MultiRoot,
    MultiTask,
    LocalSetCurrent,
    LocalSetCurrentTask,
    LocalSetMulti,
    LocalSetMultiTask,
    BlockingCurrent,
    BlockingMulti,
    EnterCurrent,
    EnterMulti,
    NestedPlain,
    GlobalTask,
    /// A value whose `Drop` calls the code, dropped by the root future of a current_thread
    /// runtime (`rt.block_on(async { .. })`) after it was held across an `.await`.
    DropCurrent,
    /// The same inside a multi_thread runtime's root future.
    DropMulti,
    /// `rt.block_on(async { anysync::run(async { call() }) })` on a current_thread runtime:
    /// the outer `.run()` is lent to a background thread, where the code runs nested.
    NestedCurrent,
    /// Inside a closure `anysync::unblock` runs for a current_thread runtime's root future.
    UnblockCurrent,
    /// The same for a multi_thread runtime.
    UnblockMulti,
}

/// Under Miri (minutes per context), one context for each path through the bridge and
/// through `raw/`: polled in place with the global handle, lent from a current_thread
/// runtime (the loan and the mailbox), in place through `block_in_place` on a worker, lent
/// from a multi_thread runtime's `LocalSet` (no core to hand over), nested on a background
/// thread, and polled with an `unblock` origin.
/// Every other run takes all of [`ALL`]; no assertion differs.
#[cfg(miri)]
pub const ALL: [Ctx; 6] = [
    Ctx::Plain,
    Ctx::CurrentTask,
    Ctx::MultiTask,
    Ctx::LocalSetMulti,
    Ctx::NestedCurrent,
    Ctx::UnblockCurrent,
];

#[cfg(not(miri))]
pub const ALL: [Ctx; 20] = [
    Ctx::Plain,
    Ctx::CurrentRoot,
    Ctx::CurrentTask,
    Ctx::MultiRoot,
    Ctx::MultiTask,
    Ctx::LocalSetCurrent,
    Ctx::LocalSetCurrentTask,
    Ctx::LocalSetMulti,
    Ctx::LocalSetMultiTask,
    Ctx::BlockingCurrent,
    Ctx::BlockingMulti,
    Ctx::EnterCurrent,
    Ctx::EnterMulti,
    Ctx::NestedPlain,
    Ctx::GlobalTask,
    Ctx::DropCurrent,
    Ctx::DropMulti,
    Ctx::NestedCurrent,
    Ctx::UnblockCurrent,
    Ctx::UnblockMulti,
];

impl Ctx {
    /// Whether `.run()` polls a `Send` future in place here (the other contexts lend it to a
    /// background thread).
    ///
    /// `NestedCurrent` polls in place on the background thread its outer `.run()` was lent
    /// to, which is where the code was called; the `Unblock*` contexts poll in place on the
    /// blocking thread with the handle of the runtime that called `unblock` (its origin). On a
    /// multi_thread runtime only a worker that holds its core (`MultiTask`, `GlobalTask`)
    /// polls in place, through `block_in_place`: elsewhere there tokio might refuse that call
    /// (a `LocalSet` looks the same as a root future), and its refusal is a panic that panic
    /// hooks would see, so the future is lent.
    pub fn in_place(self) -> bool {
        matches!(
            self,
            Ctx::Plain
                | Ctx::MultiTask
                | Ctx::NestedPlain
                | Ctx::GlobalTask
                | Ctx::NestedCurrent
                | Ctx::UnblockCurrent
                | Ctx::UnblockMulti
        )
    }

    /// Whether the future is driven by the caller's own runtime rather than the global one:
    /// only inside an `unblock` closure, whose `.run()` uses the runtime that called
    /// `unblock` whatever its flavor (asyncer's `syncify`). Everywhere else what a `.run()`
    /// future spawns or registers lives on the global runtime.
    pub fn user_runtime(self) -> bool {
        matches!(self, Ctx::UnblockCurrent | Ctx::UnblockMulti)
    }

    /// Where a `?Send` future cannot run (tokio forbids blocking and it cannot move).
    ///
    /// `DropCurrent` is a current_thread scheduler thread, like `CurrentRoot`. The nested and
    /// `unblock` contexts poll in place inside `Handle::block_on`, where tokio allows blocking.
    pub fn forbids_local(self) -> bool {
        matches!(
            self,
            Ctx::CurrentRoot
                | Ctx::CurrentTask
                | Ctx::LocalSetCurrent
                | Ctx::LocalSetCurrentTask
                | Ctx::LocalSetMulti
                | Ctx::LocalSetMultiTask
                | Ctx::DropCurrent
        )
    }
}

/// Calls its closure when dropped: the `Drop` contexts.
struct CallOnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for CallOnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// What `f` returned in a context, on which thread it was called, and the user runtime's id.
pub struct Ran<R> {
    pub value: R,
    pub caller: ThreadId,
    pub runtime: Option<tokio::runtime::Id>,
}

/// Calls `f` (which calls `.run()`) from inside `ctx`, on a fresh thread.
pub fn within<R: Send + 'static>(ctx: Ctx, f: impl FnOnce() -> R + Send + 'static) -> Ran<R> {
    let call = move || (f(), here());
    let ran = thread::spawn(move || {
        let current = super::current_thread;
        let multi = || super::multi_thread(2);
        let (rt, (value, caller)) = match ctx {
            Ctx::Plain => (None, call()),
            Ctx::NestedPlain => (None, anysync::run(async move { call() })),
            Ctx::GlobalTask => (
                None,
                anysync::run(async move { tokio::spawn(async move { call() }).await })
                    .unwrap_or_else(|e| panic::resume_unwind(e.into_panic())),
            ),
            Ctx::CurrentRoot | Ctx::MultiRoot => {
                let rt = if ctx == Ctx::CurrentRoot {
                    current()
                } else {
                    multi()
                };
                let out = rt.block_on(async move { call() });
                (Some(rt), out)
            }
            Ctx::CurrentTask | Ctx::MultiTask => {
                let rt = if ctx == Ctx::CurrentTask {
                    current()
                } else {
                    multi()
                };
                let out = rt.block_on(async move { tokio::spawn(async move { call() }).await });
                (
                    Some(rt),
                    out.unwrap_or_else(|e| panic::resume_unwind(e.into_panic())),
                )
            }
            Ctx::LocalSetCurrent | Ctx::LocalSetMulti => {
                let rt = if ctx == Ctx::LocalSetCurrent {
                    current()
                } else {
                    multi()
                };
                let out = LocalSet::new().block_on(&rt, async move { call() });
                (Some(rt), out)
            }
            Ctx::LocalSetCurrentTask | Ctx::LocalSetMultiTask => {
                let rt = if ctx == Ctx::LocalSetCurrentTask {
                    current()
                } else {
                    multi()
                };
                let out = LocalSet::new().block_on(&rt, async move {
                    tokio::task::spawn_local(async move { call() }).await
                });
                (
                    Some(rt),
                    out.unwrap_or_else(|e| panic::resume_unwind(e.into_panic())),
                )
            }
            Ctx::BlockingCurrent | Ctx::BlockingMulti => {
                let rt = if ctx == Ctx::BlockingCurrent {
                    current()
                } else {
                    multi()
                };
                let out = rt.block_on(async move { tokio::task::spawn_blocking(call).await });
                (
                    Some(rt),
                    out.unwrap_or_else(|e| panic::resume_unwind(e.into_panic())),
                )
            }
            Ctx::DropCurrent | Ctx::DropMulti => {
                let rt = if ctx == Ctx::DropCurrent {
                    current()
                } else {
                    multi()
                };
                let out = rt.block_on(async move {
                    let mut out = None;
                    {
                        let _guard = CallOnDrop(Some(|| out = Some(call())));
                        tokio::task::yield_now().await;
                    } // `_guard` is dropped here, while the runtime polls this future.
                    out.expect("the guard was dropped")
                });
                (Some(rt), out)
            }
            Ctx::NestedCurrent => {
                let rt = current();
                let out = rt.block_on(async move { anysync::run(async move { call() }) });
                (Some(rt), out)
            }
            Ctx::UnblockCurrent | Ctx::UnblockMulti => {
                let rt = if ctx == Ctx::UnblockCurrent {
                    current()
                } else {
                    multi()
                };
                // Inside the async block, so `unblock` sees the runtime that awaits it.
                let out = rt.block_on(async move { anysync::unblock(call).await });
                (Some(rt), out)
            }
            Ctx::EnterCurrent | Ctx::EnterMulti => {
                let rt = if ctx == Ctx::EnterCurrent {
                    current()
                } else {
                    multi()
                };
                let out = {
                    let _enter = rt.enter();
                    call()
                };
                (Some(rt), out)
            }
        };
        Ran {
            value,
            caller,
            runtime: rt.map(|rt| rt.handle().id()),
        }
    })
    .join();
    ran.unwrap_or_else(|payload| panic::resume_unwind(payload))
}
