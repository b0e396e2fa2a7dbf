//! [`Config`]: settings for the threads anysync starts, fixed at first use.
//!
//! The settings are read once, the first time anysync starts a thread of its own (the global
//! runtime's, a background thread, a [`Pool`](crate::Pool) thread), and never change after
//! that: a thread started with one stack size cannot get another. [`Config::install`] before
//! that moment chooses them; after it, it returns an error instead of changing a process that
//! is already running on the old ones.

use std::fmt;
use std::sync::OnceLock;

/// The usual stack of a process's main thread on Linux and macOS (`ulimit -s`), and so what a
/// future that runs fine when polled on `main` may need. std gives spawned threads 2 MiB.
const DEFAULT_STACK_SIZE: usize = 8 << 20;

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// What anysync's threads are started with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) stack_size: usize,
}

/// The settings in force, fixing them (from the environment, unless [`Config::install`] came
/// first): call it only where a thread is about to be started.
pub(crate) fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Config::new().settings())
}

/// Settings for the threads anysync starts, applied once, before anysync starts any.
///
/// anysync starts threads of its own: the global runtime's worker and blocking threads, the
/// background threads that drive futures lent by `.run()` from a current_thread runtime, and
/// the threads of each [`Pool`](crate::Pool). They are started on first use; `install` the
/// settings before that, at the top of `main`, as with rayon's global pool.
///
/// # Stack size
///
/// Every thread anysync starts gets the same stack size: [`stack_size`](Self::stack_size) if
/// set, else the environment variable `RUST_MIN_STACK` (in bytes) if set, else 8 MiB, the
/// usual stack of a main thread. So a future that runs on `main` also runs when `.run()`
/// lends it to a background thread. (std reads `RUST_MIN_STACK` only for threads spawned
/// without an explicit size; anysync reads it itself.)
///
/// A future that `.run()` polls in place runs on the caller's own thread (a plain thread, a
/// multi_thread worker, a `spawn_blocking` thread): there, that thread's stack is the limit,
/// and no setting here changes it.
///
/// # Example
///
/// ```
/// // First thing in `main`, before anything runs through anysync:
/// anysync::Config::new()
///     .stack_size(16 << 20)
///     .install()
///     .expect("nothing has used anysync yet");
///
/// // Too late now: anysync's threads already run with the settings above.
/// # anysync::run(async {});
/// assert!(anysync::Config::new().stack_size(1 << 20).install().is_err());
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a `Config` does nothing until `install()` is called"]
pub struct Config {
    stack_size: Option<usize>,
}

impl Config {
    /// The default settings, as anysync would choose them (see the type's docs).
    ///
    /// ```
    /// let config = anysync::Config::new();
    /// # drop(config);
    /// ```
    pub fn new() -> Self {
        Config::default()
    }

    /// The stack size, in bytes, of every thread anysync starts; see [the type's
    /// docs](Config#stack-size) for the default.
    ///
    /// ```
    /// let config = anysync::Config::new().stack_size(32 << 20);
    /// # drop(config);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Makes these the settings of this process.
    ///
    /// Fails, changing nothing, once anysync has started a thread of its own (the settings
    /// in force are then the ones those threads have), or when settings were installed
    /// before.
    ///
    /// ```
    /// # fn main() -> Result<(), anysync::ConfigError> {
    /// anysync::Config::new().stack_size(16 << 20).install()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn install(self) -> Result<(), ConfigError> {
        SETTINGS.set(self.settings()).map_err(|_| ConfigError(()))
    }

    fn settings(&self) -> Settings {
        Settings {
            stack_size: self
                .stack_size
                .or_else(stack_size_from_env)
                .unwrap_or(DEFAULT_STACK_SIZE),
        }
    }
}

/// `RUST_MIN_STACK`, read as std reads it (a decimal number of bytes); ignored if not one.
fn stack_size_from_env() -> Option<usize> {
    std::env::var("RUST_MIN_STACK").ok()?.trim().parse().ok()
}

/// [`Config::install`] came too late: anysync had already started its threads (or settings
/// were installed before), and they keep the settings they have.
///
/// ```
/// # anysync::run(async {});
/// let late = anysync::Config::new().install().unwrap_err();
/// assert!(late.to_string().contains("before"));
/// ```
#[derive(Debug)]
pub struct ConfigError(());

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "anysync is already configured: its settings are fixed the first time it starts a \
             thread (or by an earlier `Config::install`); install a `Config` before anything \
             runs through anysync, at the top of `main`",
        )
    }
}

impl std::error::Error for ConfigError {}
