//! [`Config`]: how anysync's runtime and threads are set up, fixed at first use.
//!
//! The settings are read once, the first time anysync uses its runtime or starts a thread of
//! its own (the global runtime's, a background thread, a [`Pool`](crate::Pool) thread, the
//! stall watchdog), and never change after that: a thread started with one stack size cannot
//! get another. [`Config::install`] before that moment chooses them; after it, it returns an
//! error instead of changing a process that is already running on the old ones.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};

/// The usual stack of a process's main thread on Linux and macOS (`ulimit -s`), and so what a
/// future that runs fine when polled on `main` may need. std gives spawned threads 2 MiB.
const DEFAULT_STACK_SIZE: usize = 8 << 20;

/// The global runtime's workers: one drives the timers and IO of every future anysync polls
/// elsewhere and runs what they spawn.
const DEFAULT_WORKER_THREADS: usize = 1;

/// How long an idle background thread waits for work before it exits.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How long a `.run()` may wait before it reports that it is still waiting.
const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_secs(10);

/// The environment variable that sets the stall threshold, in seconds (`0`: off).
pub(crate) const STALL_ENV: &str = "ANYSYNC_STALL_SECS";

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// What anysync's runtime and threads are set up with.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) stack_size: usize,
    pub(crate) worker_threads: usize,
    pub(crate) thread_name: String,
    pub(crate) keep_alive: Duration,
    /// `None`: the stall diagnosis is off.
    pub(crate) stall_threshold: Option<Duration>,
    /// A multi_thread runtime of the application's, used instead of a global runtime.
    pub(crate) runtime: Option<Handle>,
}

/// The settings in force, fixing them (from the environment, unless [`Config::install`] came
/// first): call it only where anysync's runtime is used or a thread is about to be started.
pub(crate) fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Config::new().settings())
}

/// The stall threshold in force, without fixing the settings: a `.run()` inside an `unblock`
/// closure on the application's own runtime (or nested in one) polls with that runtime and
/// has used neither anysync's runtime nor its threads, so asking whether it should be watched
/// is not yet a use (starting the watchdog for its first watch is).
pub(crate) fn stall_threshold() -> Option<Duration> {
    match SETTINGS.get() {
        Some(settings) => settings.stall_threshold,
        None => {
            static FROM_ENV: OnceLock<Option<Duration>> = OnceLock::new();
            *FROM_ENV.get_or_init(|| stall_threshold_from_env(None))
        }
    }
}

/// How anysync's runtime and threads are set up, applied once, before anysync uses them.
///
/// anysync uses a runtime and starts threads of its own: the global runtime (a multi_thread
/// tokio runtime with one worker, by default) with its worker and blocking threads, the
/// background threads that drive the futures `.run()` lends (from a current_thread runtime,
/// a `LocalSet`, a multi_thread runtime's context away from its workers), the
/// threads of each [`Pool`](crate::Pool), and a watchdog thread for the stall diagnosis. They
/// are started on first use; `install` the settings before that, at the top of `main`, as
/// with rayon's global pool.
///
/// | setting | default | applies to |
/// |---|---|---|
/// | [`worker_threads`](Self::worker_threads) | 1 | the global runtime |
/// | [`thread_name`](Self::thread_name) | `anysync-runtime` | the global runtime's threads |
/// | [`stack_size`](Self::stack_size) | `RUST_MIN_STACK`, else 8 MiB | every thread anysync starts |
/// | [`keep_alive`](Self::keep_alive) | 10 s | the background threads |
/// | [`stall_threshold`](Self::stall_threshold) | `ANYSYNC_STALL_SECS`, else 10 s | every `.run()` |
/// | [`runtime`](Self::runtime) | none: anysync starts its own | replaces the global runtime |
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
/// and no setting here changes it. The same goes for the threads of a runtime given with
/// [`runtime`](Self::runtime): they are the application's.
///
/// # First use
///
/// The settings are fixed the first time anysync uses its runtime (any `.run()` except one
/// inside an `unblock` closure, an `unblock` outside any runtime, ...) or starts a thread of
/// its own.
/// From then on `install` returns a [`ConfigError`] and changes nothing; it never panics.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// // First thing in `main`, before anything runs through anysync:
/// anysync::Config::new()
///     .worker_threads(2)
///     .thread_name("my-app-anysync")
///     .stack_size(16 << 20)
///     .keep_alive(Duration::from_secs(60))
///     .stall_threshold(Duration::from_secs(30))
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
    worker_threads: Option<usize>,
    thread_name: Option<String>,
    keep_alive: Option<Duration>,
    stall_threshold: Option<Duration>,
    runtime: Option<Handle>,
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

    /// The number of worker threads of the global runtime (default 1; at least 1).
    ///
    /// The workers drive the timers and IO of every future anysync polls on other threads and
    /// run the tasks those futures `tokio::spawn`. One is enough for light use; an
    /// application that spawns much work from `.run()` futures may want more, or may give
    /// anysync its own runtime with [`runtime`](Self::runtime).
    ///
    /// ```
    /// let config = anysync::Config::new().worker_threads(4);
    /// # drop(config);
    /// ```
    pub fn worker_threads(mut self, count: usize) -> Self {
        self.worker_threads = Some(count);
        self
    }

    /// The name of the global runtime's threads, its workers and its blocking threads
    /// (default `anysync-runtime`).
    ///
    /// ```
    /// let config = anysync::Config::new().thread_name("my-app-io");
    /// # drop(config);
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = Some(name.into());
        self
    }

    /// How long an idle background thread (one that drove a future lent by `.run()`) waits
    /// for more work before it exits (default 10 s). Sequential calls reuse a waiting thread;
    /// a short keep-alive trades that reuse for fewer idle threads.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = anysync::Config::new().keep_alive(Duration::from_secs(1));
    /// # drop(config);
    /// ```
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// How long a `.run()` may wait before anysync reports, once for that call, that it is
    /// still waiting, where it was called and what may be holding it up; `Duration::ZERO`
    /// turns the report off. The default is the environment variable `ANYSYNC_STALL_SECS` (in
    /// seconds, fractions allowed, `0` for off) if set, else 10 s.
    ///
    /// The report is a notice, not a verdict: a long download is legitimate. It names the
    /// call site (`file:line:col`), the calling context, and what can hold up a call there
    /// (the caller's own runtime, blocked by this very call; or a resource bound to a runtime
    /// that is not running). It goes to `tracing` as a `WARN` event of target `anysync` when
    /// the `tracing` feature is on and the caller has a subscriber, and to stderr otherwise.
    /// Calls that finish at once arm nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = anysync::Config::new().stall_threshold(Duration::from_secs(60));
    /// # drop(config);
    /// ```
    pub fn stall_threshold(mut self, threshold: Duration) -> Self {
        self.stall_threshold = Some(threshold);
        self
    }

    /// Uses the application's own multi_thread runtime instead of starting a global one.
    ///
    /// Everything anysync would do on its global runtime happens on this one: a `.run()` on a
    /// plain thread polls its future with this handle (its tasks and IO live here), lent
    /// futures are polled with it, and `unblock` outside any runtime uses its blocking pool.
    /// anysync then starts no runtime of its own; the [`worker_threads`](Self::worker_threads)
    /// and [`thread_name`](Self::thread_name) settings are ignored.
    ///
    /// Build it with `enable_all()`: `.run_timeout` uses its timer, and futures polled with it
    /// use its IO driver. The runtime must keep running for as long as anything runs through
    /// anysync: a `.run()` that needs it after it has shut down panics with a message that
    /// says so. A current_thread runtime cannot be used (nothing drives it while its own
    /// thread is busy elsewhere): [`install`](Self::install) refuses its handle with an error.
    ///
    /// ```
    /// let runtime = tokio::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .thread_name("my-app-rt")
    ///     .enable_all()
    ///     .build()
    ///     .unwrap();
    /// anysync::Config::new()
    ///     .runtime(runtime.handle().clone())
    ///     .install()
    ///     .expect("nothing has used anysync yet");
    ///
    /// // A task spawned by a `.run()` future now runs on the application's runtime.
    /// let name = anysync::run(async {
    ///     tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
    ///         .await
    ///         .unwrap()
    /// });
    /// assert_eq!(name.as_deref(), Some("my-app-rt"));
    /// ```
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Makes these the settings of this process.
    ///
    /// Fails, changing nothing, once anysync has used its runtime or started a thread of its
    /// own (the settings in force are then the ones those threads have), when settings were
    /// installed before, when [`worker_threads`](Self::worker_threads) is zero, or when
    /// [`runtime`](Self::runtime) was given a current_thread runtime. A failed `install`
    /// leaves the process as it was, so a corrected `Config` can still be installed.
    ///
    /// ```
    /// # fn main() -> Result<(), anysync::ConfigError> {
    /// anysync::Config::new().stack_size(16 << 20).install()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn install(self) -> Result<(), ConfigError> {
        if SETTINGS.get().is_some() {
            return Err(ConfigError(Problem::TooLate));
        }
        if self.worker_threads == Some(0) {
            return Err(ConfigError(Problem::NoWorkers));
        }
        if let Some(handle) = &self.runtime
            && handle.runtime_flavor() != RuntimeFlavor::MultiThread
        {
            return Err(ConfigError(Problem::NotMultiThread));
        }
        let settings = self.settings();
        let runtime = settings.runtime.clone();
        SETTINGS
            .set(settings)
            .map_err(|_| ConfigError(Problem::TooLate))?;
        if let Some(handle) = runtime {
            crate::global::watch_supplied(&handle);
        }
        Ok(())
    }

    fn settings(self) -> Settings {
        Settings {
            stack_size: self
                .stack_size
                .or_else(stack_size_from_env)
                .unwrap_or(DEFAULT_STACK_SIZE),
            worker_threads: self.worker_threads.unwrap_or(DEFAULT_WORKER_THREADS),
            thread_name: self
                .thread_name
                .unwrap_or_else(|| crate::global::THREAD_NAME.to_owned()),
            keep_alive: self.keep_alive.unwrap_or(DEFAULT_KEEP_ALIVE),
            stall_threshold: stall_threshold_from_env(self.stall_threshold),
            runtime: self.runtime,
        }
    }
}

/// `RUST_MIN_STACK`, read as std reads it (a decimal number of bytes); ignored if not one.
fn stack_size_from_env() -> Option<usize> {
    std::env::var("RUST_MIN_STACK").ok()?.trim().parse().ok()
}

/// The stall threshold: `configured` if given, else `ANYSYNC_STALL_SECS` (seconds, fractions
/// allowed) if it is a number, else the default; zero means off.
fn stall_threshold_from_env(configured: Option<Duration>) -> Option<Duration> {
    let threshold = configured
        .or_else(|| parse_stall_secs(&std::env::var(STALL_ENV).ok()?))
        .unwrap_or(DEFAULT_STALL_THRESHOLD);
    (!threshold.is_zero()).then_some(threshold)
}

/// `ANYSYNC_STALL_SECS`: a non-negative number of seconds; `None` (the default applies) if it
/// is not one.
fn parse_stall_secs(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stall_variable_takes_seconds_and_zero_turns_the_diagnosis_off() {
        assert_eq!(parse_stall_secs("0"), Some(Duration::ZERO));
        assert_eq!(parse_stall_secs(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_stall_secs("0.25"), Some(Duration::from_millis(250)));
        for bad in ["", "ten", "-1", "NaN", "inf"] {
            assert_eq!(parse_stall_secs(bad), None, "{bad:?}");
        }
        // Zero is off; a configured value wins over the variable and the default.
        assert_eq!(stall_threshold_from_env(Some(Duration::ZERO)), None);
        let configured = Some(Duration::from_millis(1500));
        assert_eq!(stall_threshold_from_env(configured), configured);
    }
}

/// [`Config::install`] refused the settings; the process keeps the settings it has.
///
/// ```
/// # anysync::run(async {});
/// let late = anysync::Config::new().install().unwrap_err();
/// assert!(late.to_string().contains("before"));
/// ```
#[derive(Debug)]
pub struct ConfigError(Problem);

#[derive(Debug)]
enum Problem {
    /// anysync already used its runtime or threads, or settings were installed before.
    TooLate,
    /// `worker_threads(0)`.
    NoWorkers,
    /// `runtime(..)` with a current_thread runtime's handle.
    NotMultiThread,
}

impl ConfigError {
    /// Whether the settings came too late: anysync had already used its runtime or started a
    /// thread (or settings were installed before). The other errors are settings that can
    /// never work, and a corrected `Config` can still be installed after them.
    ///
    /// ```
    /// # anysync::run(async {});
    /// assert!(anysync::Config::new().install().unwrap_err().is_too_late());
    /// ```
    pub fn is_too_late(&self) -> bool {
        matches!(self.0, Problem::TooLate)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Problem::TooLate => {
                "anysync is already configured: its settings are fixed the first time it uses \
                 its runtime or starts a thread (or by an earlier `Config::install`); install a \
                 `Config` before anything runs through anysync, at the top of `main`"
            }
            Problem::NoWorkers => {
                "anysync: `Config::worker_threads(0)`: the global runtime needs at least one \
                 worker thread"
            }
            Problem::NotMultiThread => {
                "anysync: `Config::runtime` needs a multi_thread runtime: a current_thread \
                 runtime is driven only while its own thread waits in `block_on`, so the \
                 futures anysync runs on it would hang whenever that thread is busy; build the \
                 runtime with `Builder::new_multi_thread()`"
            }
        })
    }
}

impl std::error::Error for ConfigError {}
