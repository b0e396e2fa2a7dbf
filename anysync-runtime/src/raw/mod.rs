//! The only `unsafe` code in anysync, each piece behind a safe interface whose soundness
//! does not depend on its callers. The crate root denies `unsafe_code` everywhere else.
//!
//! - [`handoff`]: lends a borrowed future to a background thread while the caller blocks
//!   (a lifetime-erasing loan; needed to `.run()` non-`'static` futures inside a
//!   current_thread runtime), through [`mailbox`], the background threads' mailboxes.
//! - [`exchange`]: the lock-free one-value slots between a generator body and its driver
//!   (a `Mutex` there cost 1.7× async-stream per item).
//! - [`fill_buf`]: `AsyncBufRead::poll_fill_buf` as a future whose slice outlives the poll
//!   loop (`anysync::io::SyncIo`'s `BufRead`).
//! - [`sync`]: std's atomics, cells, locks and threads, or loom's under `--cfg loom`: the
//!   loom models in `loom-models/` compile these very files (run by `.ci/loom`).

pub(crate) mod exchange;
// Single-threaded, and built on tokio's IO traits, which the loom models cannot compile: Miri
// covers it (`.ci/miri`), loom has nothing to interleave.
#[cfg(not(loom))]
pub(crate) mod fill_buf;
pub(crate) mod handoff;
pub(crate) mod mailbox;
pub(crate) mod sync;
