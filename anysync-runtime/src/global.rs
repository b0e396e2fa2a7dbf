//! The global runtime: created once, on first use, and never shut down.
//!
//! It is a multi_thread runtime with one worker. The worker drives timers and IO for every
//! future anysync polls on other threads (a plain thread's `.run()` polls in place under
//! `Handle::enter`: no allocation) and runs what those futures `tokio::spawn`, whatever the
//! calling context (issue 13: one placement rule). Multi-thread rather than current_thread because a task running on it can
//! call `.run()` again: `block_in_place` hands the worker to another thread, where on a
//! current_thread runtime the same call would deadlock its own driver.
//!
//! The runtime lives in a `static`, so it is never dropped and its threads never hold up
//! process exit. `OnceLock` makes concurrent first calls build it exactly once.

use crate::context;
use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle, Runtime};

/// The name of the global runtime's threads.
pub(crate) const THREAD_NAME: &str = "anysync-runtime";

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The global runtime's handle, starting the runtime on first use.
pub(crate) fn handle() -> &'static Handle {
    RUNTIME.get_or_init(build).handle()
}

fn build() -> Runtime {
    // Wrap the panic hook now, while no panic is in flight (see `install_quiet_hook`).
    crate::bridge::install_quiet_hook();
    Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(THREAD_NAME)
        // Its worker and blocking threads poll what `.run()` and `unblock` hand them.
        .thread_stack_size(crate::config::settings().stack_size)
        .on_thread_start(context::mark_runtime_thread)
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("anysync: cannot start the global tokio runtime: {err}"))
}
