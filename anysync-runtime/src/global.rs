//! The global runtime: created once, on first use, and never shut down; or the application's
//! own multi_thread runtime, given with [`Config::runtime`](crate::Config::runtime).
//!
//! By default it is a multi_thread runtime with one worker ([`Config`](crate::Config) sets the
//! count, the threads' names and stack). The worker drives timers and IO for every future
//! anysync polls on other threads (a plain thread's `.run()` polls in place under
//! `Handle::enter`: no allocation) and runs what those futures `tokio::spawn`, whatever the
//! calling context (one placement rule). Multi-thread rather than current_thread because a
//! task running on it can call `.run()` again: `block_in_place` hands the worker to another
//! thread, where on a current_thread runtime the same call would deadlock its own driver
//! (which is also why a supplied runtime must be multi_thread).
//!
//! The runtime lives in a `static`, so it is never dropped and its threads never hold up
//! process exit. `OnceLock` makes concurrent first calls build it exactly once.

use crate::config;
use crate::context;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::runtime::{Builder, Handle, Runtime};

/// The default name of the global runtime's threads.
pub(crate) const THREAD_NAME: &str = "anysync-runtime";

/// The runtime anysync uses: its own (kept alive here) or the application's.
enum Global {
    Own(Runtime),
    Supplied(Handle),
}

static RUNTIME: OnceLock<Global> = OnceLock::new();

/// Set once a runtime given with `Config::runtime` has shut down (see [`watch_supplied`]).
static SUPPLIED_DOWN: AtomicBool = AtomicBool::new(false);

/// The global runtime's handle, starting the runtime on first use.
///
/// # Panics
///
/// If the runtime was supplied with `Config::runtime` and has shut down since.
pub(crate) fn handle() -> &'static Handle {
    match RUNTIME.get_or_init(start) {
        Global::Own(runtime) => runtime.handle(),
        Global::Supplied(handle) => {
            if SUPPLIED_DOWN.load(Ordering::Acquire) {
                supplied_down();
            }
            handle
        }
    }
}

#[cold]
#[track_caller]
fn supplied_down() -> ! {
    panic!(
        "anysync: the tokio runtime given to `anysync::Config::runtime` has shut down, and \
         anysync has no other: keep that runtime running (do not drop it) for as long as \
         anything runs through anysync, or give anysync no runtime and let it start its own"
    )
}

fn start() -> Global {
    // Wrap the panic hook now, while no panic is in flight (see `install_quiet_hook`).
    crate::bridge::install_quiet_hook();
    let settings = config::settings();
    if let Some(handle) = &settings.runtime {
        return Global::Supplied(handle.clone());
    }
    let runtime = Builder::new_multi_thread()
        .worker_threads(settings.worker_threads)
        .thread_name(settings.thread_name.clone())
        // Its worker and blocking threads poll what `.run()` and `unblock` hand them.
        .thread_stack_size(settings.stack_size)
        .on_thread_start(context::mark_runtime_thread)
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("anysync: cannot start the global tokio runtime: {err}"));
    Global::Own(runtime)
}

/// Notes when a supplied runtime shuts down, so that a later `.run()` can say so itself
/// instead of failing inside tokio ("A Tokio 1.x context was found, but it is being
/// shutdown", or a timer or socket that never fires). tokio has no public "is this runtime
/// shut down?" query, but its shutdown drops every task it owns: a task that never finishes
/// and sets the flag when dropped is that query.
pub(crate) fn watch_supplied(handle: &Handle) {
    struct Sentinel;
    impl Drop for Sentinel {
        fn drop(&mut self) {
            SUPPLIED_DOWN.store(true, Ordering::Release);
        }
    }
    let sentinel = Sentinel;
    drop(handle.spawn(async move {
        let _sentinel = sentinel;
        std::future::pending::<()>().await;
    }));
}
