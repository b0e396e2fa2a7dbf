//! The global runtime is created exactly once even when many threads make their first call at
//! the same instant (Python anysync races here and leaks threads), and nothing a user future
//! does can leave it dead for later calls.
//!
//! The first test is the only one that calls anysync in this process, so that its calls really
//! are the process's first (the second only runs the first again in a child process).

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
    if std::env::var_os(EXIT_CHILD).is_some() {
        return exit_child();
    }
    if cfg!(target_os = "linux") {
        let started = thread_names().iter().any(|n| n == "anysync-runtime");
        assert!(
            !started,
            "nothing starts the global runtime before the first call"
        );
    }
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

const EXIT_CHILD: &str = "ANYSYNC_TEST_EXIT_CHILD";

/// In a child process: leave the global runtime and a background thread busy forever, then
/// return from the test so the process exits.
fn exit_child() {
    anysync::run(async {
        tokio::spawn(std::future::pending::<()>());
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async { anysync::run(async {}) });
}

#[test]
fn a_busy_global_runtime_never_holds_up_process_exit() {
    if std::env::var_os(EXIT_CHILD).is_some() {
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "concurrent_first_calls_create_one_runtime_which_survives_panics_and_cancellation",
        ])
        .env(EXIT_CHILD, "1")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A watchdog, not a timing assertion: a child that never exits fails after a minute.
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the child exited with {status}");
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("a process whose global runtime was busy did not exit");
}
