//! `anysync::Config::runtime`: an application's own multi_thread runtime replaces the global
//! one; a current_thread runtime is refused with an error value; a `.run()` after the supplied
//! runtime has shut down panics with anysync's own message.
//!
//! Settings are per process, so this binary holds one test, which installs them first.

mod common;

use common::EchoClient;
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use tokio::runtime::{Builder, Handle};

/// The names of this process's threads (Linux: `/proc/self/task/*/comm`).
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[test]
#[cfg_attr(miri, ignore = "tokio's IO driver does not run under Miri")]
fn a_supplied_runtime_drives_every_run_and_its_shutdown_is_reported() {
    let current = common::current_thread();
    let refused = anysync::Config::new()
        .runtime(current.handle().clone())
        .install()
        .expect_err("a current_thread runtime is refused");
    assert!(!refused.is_too_late());
    assert!(refused.to_string().contains("multi_thread"), "{refused}");

    let app = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("app-rt")
        .enable_all()
        .build()
        .expect("runtime");
    anysync::Config::new()
        .runtime(app.handle().clone())
        .install()
        .expect("a refused install changes nothing: nothing has used anysync yet");

    // A `.run()` on a plain thread polls with the supplied handle: its runtime, its tasks.
    let (runtime, spawned_on) = thread::spawn(|| {
        anysync::run(async {
            let name = tokio::spawn(async { thread::current().name().map(str::to_owned) })
                .await
                .expect("spawned task");
            (Handle::current().id(), name)
        })
    })
    .join()
    .expect("plain thread");
    assert_eq!(runtime, app.handle().id());
    assert_eq!(spawned_on.as_deref(), Some("app-rt"));
    // Lent from a current_thread runtime: polled with the supplied handle too.
    let lent = current.block_on(async { anysync::run(async { Handle::current().id() }) });
    assert_eq!(lent, app.handle().id());
    // Real IO: a loopback echo server started through anysync lives on the supplied runtime.
    let addr = common::echo_server();
    let client = EchoClient::connect(addr).run().expect("connect");
    assert_eq!(client.echo("hi").run().expect("echo"), "echo: hi");
    #[cfg(target_os = "linux")]
    assert!(
        !thread_names().iter().any(|name| name == common::GLOBAL),
        "anysync started a runtime of its own: {:?}",
        thread_names()
    );
    let late = anysync::Config::new().install();
    assert!(late.expect_err("anysync is in use").is_too_late());

    // Shut the supplied runtime down: `.run()` says so in its own words.
    drop(app);
    let after = thread::spawn(|| {
        panic::catch_unwind(AssertUnwindSafe(|| {
            anysync::run(async { tokio::task::yield_now().await })
        }))
    })
    .join()
    .expect("plain thread");
    let payload = after.expect_err("no runtime to run on");
    let message = common::panic_message(&*payload);
    assert!(
        message.starts_with(
            "anysync: the tokio runtime given to `anysync::Config::runtime` has shut down"
        ),
        "{message}"
    );
}
