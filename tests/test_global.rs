//! The global runtime is created exactly once even when many threads make their first call at
//! the same instant (Python anysync races here and leaks threads), and nothing a user future
//! does can leave it dead for later calls.
//!
//! This binary holds a single test so that its calls really are the process's first.

use anysync::RunExt;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;
use tokio::runtime::Handle;

fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn concurrent_first_calls_create_one_runtime_which_survives_panics_and_cancellation() {
    let callers = 16;
    let barrier = Arc::new(Barrier::new(callers));
    let ids: Vec<_> = (0..callers)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                anysync::run(async {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Handle::current().id()
                })
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let distinct: HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 1, "every first call used the same runtime");
    if cfg!(target_os = "linux") {
        let workers = thread_names()
            .iter()
            .filter(|n| *n == "anysync-runtime")
            .count();
        assert_eq!(workers, 1, "one global runtime worker thread");
    }

    // A panicking future, a panicking spawned task and a cancelled task leave it working.
    let caught = panic::catch_unwind(AssertUnwindSafe(|| anysync::run(async { panic!("boom") })));
    assert!(caught.is_err());
    let task_panic = anysync::run(async { tokio::spawn(async { panic!("task boom") }).await });
    assert!(task_panic.unwrap_err().is_panic());
    let cancelled = anysync::run(async {
        let task = tokio::spawn(std::future::pending::<()>());
        task.abort();
        task.await
    });
    assert!(cancelled.unwrap_err().is_cancelled());
    assert!(
        std::future::pending::<()>()
            .run_timeout(Duration::from_millis(5))
            .is_err()
    );
    let after = anysync::run(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Handle::current().id()
    });
    assert_eq!(after, ids[0], "the same runtime serves later calls");
}
