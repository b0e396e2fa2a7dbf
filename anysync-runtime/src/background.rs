//! The background threads: where `.run()` sends a future that cannot be driven in place.
//!
//! Python anysync has one background thread, so one coroutine that blocks it stalls every
//! other caller (its bug 7). Here a job goes to an idle thread if there is one and to a new
//! thread otherwise, so concurrent callers never wait for each other. Idle threads are kept
//! on a stack and the most recently idle one is reused first, so sequential calls land on the
//! same thread; a thread idle for the keep-alive (10 s, or `Config::keep_alive`) exits. No
//! allocation happens per job once a thread exists.
//!
//! The mailboxes themselves live in [`raw::mailbox`](crate::raw::mailbox), where the loom
//! models reach them; this module holds the settings of anysync's own set of threads.

use crate::context;
use crate::raw::mailbox::{Settings, Workers};

/// The name every background thread carries (tests and debuggers can see it).
pub(crate) const THREAD_NAME: &str = "anysync-pool";

/// anysync's background threads.
pub(crate) static WORKERS: Workers = Workers::new(Settings {
    name: THREAD_NAME,
    // A lent future must have the stack it would have had in place (issue: a future that
    // needed 3 MiB ran on `main` and overflowed std's default 2 MiB here).
    stack_size: || crate::config::settings().stack_size,
    on_start: context::mark_pool_thread,
    keep_alive: || crate::config::settings().keep_alive,
});
