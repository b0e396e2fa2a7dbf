//! Runtime support for [`anysync`](https://docs.rs/anysync): the wrapper types, the global
//! runtime, context detection and the blocking bridge.
//!
//! This crate is an implementation detail: depend on `anysync`, which re-exports everything
//! here that is public API. Its version is pinned exactly by `anysync`.

#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
#![deny(unsafe_code)]

mod asyncgen;
mod background;
mod bridge;
mod config;
mod context;
mod coroutine;
mod global;
mod group;
pub mod io;
mod manager;
mod pool;
#[allow(unsafe_code)]
mod raw;
mod run;
mod span;
mod stall;
mod timeout;
mod unblock;
mod unblock_iter;

pub use asyncgen::core::Exit;
pub use asyncgen::generator::{Generator, GeneratorIter, Resume};
pub use asyncgen::iter::{IntoIter, ItemOf, Iter, IterOutput, Next};
pub use asyncgen::prefetch::{Prefetch, PrefetchIter, PrefetchIterMut, PrefetchNext};
pub use asyncgen::stream::{FromStream, StreamIter, iter, iter_local};
pub use bridge::is_internal_panic;
pub use config::{Config, ConfigError};
pub use coroutine::{Coroutine, Local, LocalOutput, Sendable};
pub use group::{Joined, Soon, TaskGroup, task_group};
pub use manager::{
    AsyncContext, AsyncGuard, Context, ContextOutput, Enter, EnterFuture, EnteredOf, SyncGuard,
};
pub use pool::Pool;
pub use run::{RunExt, run};
pub use timeout::Elapsed;
pub use unblock::{Blocking, CancelToken, Unblock, unblock, unblock_cancellable};
pub use unblock_iter::{UNBLOCK_ITER_BUFFER, UnblockIter, UnblockIterNext, unblock_iter};

/// Items for the code `anysync`'s macros generate. Not public API.
#[doc(hidden)]
pub mod __private {
    /// The name of the global runtime's threads.
    pub const RUNTIME_THREAD_NAME: &str = crate::global::THREAD_NAME;
    /// The name of anysync's background threads.
    pub const POOL_THREAD_NAME: &str = crate::background::THREAD_NAME;
    /// The name of the threads of an `anysync::Pool`.
    pub const BLOCKING_POOL_THREAD_NAME: &str = crate::pool::THREAD_NAME;
    pub use crate::asyncgen::core::{HandOver, Handback, YieldNow, Yielder};
    pub use crate::manager::Context;
    pub use crate::unblock::Blocking;
}
