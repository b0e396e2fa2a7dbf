//! `#[anysync::blocking]`: one blocking function, `.run()` inline and `.await` offloaded.

mod common;

use common::here;
use std::future::IntoFuture;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::ThreadId;

/// Reads a real file and reports the thread the body ran on.
#[anysync::blocking]
fn read_len(path: PathBuf) -> std::io::Result<(usize, ThreadId)> {
    Ok((std::fs::read(path)?.len(), here()))
}

fn temp_file(contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "anysync-blocking-{}-{}.txt",
        std::process::id(),
        contents.len()
    ));
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn run_calls_inline_and_await_offloads() {
    let path = temp_file("twelve bytes");
    let (len, thread) = read_len(path.clone()).run().unwrap();
    assert_eq!((len, thread), (12, here()), "`.run()` is inline");
    for rt in [common::current_thread(), common::multi_thread(2)] {
        let (caller, (len, worker)) = rt.block_on(async {
            let caller = here();
            (caller, read_len(path.clone()).await.unwrap())
        });
        assert_eq!(len, 12);
        assert_ne!(worker, caller, "`.await` offloads to a worker thread");
    }
    std::fs::remove_file(path).unwrap();
}

#[anysync::blocking]
fn counted(calls: Arc<AtomicUsize>, (a, b): (u32, u32), _unused: String) -> u32 {
    calls.fetch_add(1, Ordering::SeqCst);
    a + b
}

#[test]
fn nothing_runs_until_run_or_await_and_patterns_work() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pending = counted(Arc::clone(&calls), (1, 2), String::new());
    assert_eq!(calls.load(Ordering::SeqCst), 0, "lazy");
    assert_eq!(pending.run(), 3);
    let awaited = anysync::run(counted(Arc::clone(&calls), (3, 4), String::new()).into_future());
    assert_eq!(awaited, 7);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[anysync::blocking]
fn fails() -> u32 {
    std::panic::panic_any(common::Boom(5))
}

#[test]
fn panics_reach_the_caller_both_ways() {
    let inline = std::panic::catch_unwind(|| fails().run()).unwrap_err();
    assert_eq!(
        inline.downcast_ref::<common::Boom>(),
        Some(&common::Boom(5))
    );
    let offloaded = std::panic::catch_unwind(|| anysync::run(fails().into_future())).unwrap_err();
    assert_eq!(
        offloaded.downcast_ref::<common::Boom>(),
        Some(&common::Boom(5))
    );
}

struct Service {
    base: u32,
}

impl Service {
    #[anysync::blocking]
    fn add(self: Arc<Self>, n: u32) -> u32 {
        self.base + n
    }
}

#[test]
fn methods_taking_owned_self_work() {
    let service = Arc::new(Service { base: 40 });
    assert_eq!(Arc::clone(&service).add(2).run(), 42);
    assert_eq!(anysync::run(service.add(3).into_future()), 43);
}

#[anysync::blocking(?Send)]
fn local(value: std::rc::Rc<u32>) -> u32 {
    *value + 1
}

#[test]
fn a_local_blocking_fn_runs_inline() {
    assert_eq!(local(std::rc::Rc::new(1)).run(), 2);
}
