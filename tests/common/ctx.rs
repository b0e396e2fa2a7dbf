//! Every calling context of the runtime table, and a way to call code from inside each.
#![allow(dead_code, unreachable_pub)]

use super::here;
use std::panic;
use std::thread::{self, ThreadId};
use tokio::task::LocalSet;

/// A calling context from the runtime table.
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
}

pub const ALL: [Ctx; 15] = [
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
];

impl Ctx {
    /// Whether `.run()` polls in place here (the other contexts lend to a background thread).
    pub fn in_place(self) -> bool {
        matches!(
            self,
            Ctx::Plain
                | Ctx::MultiRoot
                | Ctx::MultiTask
                | Ctx::BlockingMulti
                | Ctx::EnterMulti
                | Ctx::NestedPlain
                | Ctx::GlobalTask
        )
    }

    /// Whether the caller's runtime is a user multi_thread runtime, which in-place runs use.
    pub fn user_multi_thread(self) -> bool {
        matches!(
            self,
            Ctx::MultiRoot | Ctx::MultiTask | Ctx::BlockingMulti | Ctx::EnterMulti
        )
    }

    /// Where a `?Send` future cannot run (tokio forbids blocking and it cannot move).
    pub fn forbids_local(self) -> bool {
        matches!(
            self,
            Ctx::CurrentRoot
                | Ctx::CurrentTask
                | Ctx::LocalSetCurrent
                | Ctx::LocalSetCurrentTask
                | Ctx::LocalSetMulti
                | Ctx::LocalSetMultiTask
        )
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
