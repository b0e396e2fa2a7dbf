//! `anysync::Config` for the global runtime and the background threads: the worker count,
//! the threads' name and the background threads' keep-alive, each observed.
//!
//! Settings are per process, so this binary holds one test, which installs them first.

mod common;

use anysync::RunExt;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use tokio::runtime::Handle;

/// Sends on its channel when dropped: put in a thread-local, it reports the thread's exit.
struct OnExit(mpsc::Sender<thread::ThreadId>);

impl Drop for OnExit {
    fn drop(&mut self) {
        let _ = self.0.send(thread::current().id());
    }
}

thread_local! {
    static EXIT: std::cell::RefCell<Option<OnExit>> = const { std::cell::RefCell::new(None) };
}

#[test]
#[cfg_attr(miri, ignore = "waits for a thread to retire")]
fn worker_count_thread_name_and_keep_alive_are_applied() {
    const NAME: &str = "custom-anysync";
    // Far below the default 10 s, so that the wait below (bounded by half the default)
    // succeeds only if the setting was applied.
    const KEEP_ALIVE: Duration = Duration::from_millis(1);
    let refused = anysync::Config::new().worker_threads(0).install();
    let refused = refused.expect_err("no worker is refused");
    assert!(!refused.is_too_late(), "{refused}");
    assert!(refused.to_string().contains("at least one"), "{refused}");
    anysync::Config::new()
        .worker_threads(3)
        .thread_name(NAME)
        .keep_alive(KEEP_ALIVE)
        .install()
        .expect("a refused install changes nothing: nothing has used anysync yet");

    // The global runtime: its worker count, and its workers' name (a spawned task runs on one).
    let (workers, spawned_on) = anysync::run(async {
        let workers = Handle::current().metrics().num_workers();
        let name = tokio::spawn(async { thread::current().name().map(str::to_owned) })
            .await
            .expect("spawned task");
        (workers, name)
    });
    assert_eq!(workers, 3);
    assert_eq!(spawned_on.as_deref(), Some(NAME));
    // Its blocking threads carry the name too (`unblock` outside any runtime runs there).
    let blocking = anysync::unblock(|| thread::current().name().map(str::to_owned)).run();
    assert_eq!(blocking.as_deref(), Some(NAME));

    // A background thread (lent to from a current_thread runtime) retires after the
    // keep-alive: it reports its exit from a thread-local destructor.
    let (tx, exits) = mpsc::channel();
    let lent_to = common::current_thread().block_on(async move {
        anysync::run(async move {
            EXIT.with_borrow_mut(|slot| *slot = Some(OnExit(tx)));
            (
                thread::current().id(),
                thread::current().name().map(str::to_owned),
            )
        })
    });
    assert_eq!(
        lent_to.1.as_deref(),
        Some(common::POOL),
        "lent, as intended"
    );
    let exited = exits
        .recv_timeout(Duration::from_secs(5))
        .expect("the background thread retired within half the default keep-alive");
    assert_eq!(exited, lent_to.0);

    let late = anysync::Config::new().worker_threads(2).install();
    assert!(late.expect_err("anysync is in use").is_too_late());
}
