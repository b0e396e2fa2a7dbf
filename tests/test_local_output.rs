//! A coroutine whose future is `Send` but whose output is not (`-> Rc<T>`,
//! `-> Box<dyn Display>`): `.run()` polls it on the calling thread wherever tokio allows that,
//! and panics before starting it where it would have to be lent; `.await` works everywhere.
//!
//! Regression test: `.run()` on such a coroutine did not compile ("method `run` exists but its
//! trait bounds were not satisfied", with a hint to import `RunExt` that did not help).

mod common;

use common::ctx::{ALL, within};
use std::fmt::Display;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[anysync::coroutine]
async fn shared(n: u32, started: Arc<AtomicBool>) -> Rc<u32> {
    started.store(true, Ordering::SeqCst);
    tokio::task::yield_now().await;
    Rc::new(n)
}

#[anysync::coroutine]
async fn shown<'a>(text: &'a str) -> Box<dyn Display + 'a> {
    tokio::task::yield_now().await;
    Box::new(text)
}

/// Generic: its future is `Send` per instantiation, its output never.
#[anysync::coroutine]
async fn wrapped<T: Clone>(value: T) -> Rc<T> {
    tokio::task::yield_now().await;
    Rc::new(value.clone())
}

/// Its output is never `Send`, so the attribute picks the `LocalOutput` mode.
fn is_local_output<F>(_: &anysync::Coroutine<F, anysync::LocalOutput>) {}

#[test]
fn a_non_send_output_runs_in_place_and_refuses_a_lend_with_advice() {
    is_local_output(&shown("x"));
    is_local_output(&wrapped(1));
    assert_eq!(*wrapped("generic").run(), "generic");
    for ctx in ALL {
        let ran = within(ctx, || {
            let started = Arc::new(AtomicBool::new(false));
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                let value = shared(5, Arc::clone(&started)).run();
                let text = shown("hi").run().to_string();
                (*value, text)
            }))
            .map_err(|payload| common::panic_message(&*payload));
            (outcome, started.load(Ordering::SeqCst))
        });
        let (outcome, started) = ran.value;
        if ctx.forbids_local() {
            let message = outcome.expect_err("a lend would be needed here");
            assert!(message.contains("is not `Send`"), "{ctx:?}: {message}");
            assert!(message.contains("`.await` it"), "{ctx:?}: {message}");
            assert!(
                message.contains("test_local_output.rs"),
                "{ctx:?}: {message}"
            );
            assert!(!started, "{ctx:?}: refused before the future started");
        } else {
            assert_eq!(outcome, Ok((5, "hi".to_owned())), "{ctx:?}");
        }
    }
}

#[test]
fn a_non_send_output_is_awaited_anywhere() {
    let rt = common::current_thread();
    let local = tokio::task::LocalSet::new();
    let (n, text) = local.block_on(&rt, async {
        let n = *shared(3, Arc::default()).await;
        (n, shown("there").await.to_string())
    });
    assert_eq!((n, text.as_str()), (3, "there"));
}
