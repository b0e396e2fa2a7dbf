//! `#[anysync::generator]`: `resume`/`send` interleavings, the same calls awaited and run, in
//! every calling context; send before start; the return value; iteration; drop; panics.

mod common;

use anysync::yield_;
use common::ctx::{ALL, within};
use common::{Boom, panic_message};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[anysync::generator(item = u64, send = u64)]
async fn running_total() -> u64 {
    let mut total = 0;
    while let Some(x) = yield_!(total) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        total += x;
    }
    total
}

#[test]
fn resume_and_send_interleave_the_same_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let mut g = running_total();
            let mut seen = vec![g.resume().run(), g.send(5).run(), g.send(2).run()];
            let stopped = g.resume().run(); // `None` into the loop ends it: StopIteration
            seen.push(stopped);
            seen.push(g.resume().run()); // fused
            (seen, g.return_value().copied(), g.is_finished())
        });
        assert_eq!(
            ran.value.0,
            [Some(0), Some(5), Some(7), None, None],
            "{ctx:?}"
        );
        assert_eq!(ran.value.1, Some(7), "{ctx:?}: the return value is kept");
        assert!(ran.value.2, "{ctx:?}");
    }
}

#[test]
fn the_same_calls_are_awaited_in_async_code() {
    for rt in [common::current_thread(), common::multi_thread(2)] {
        let (seen, returned) = rt.block_on(async {
            tokio::spawn(async {
                let mut g = running_total();
                let seen = [
                    g.resume().await,
                    g.send(1).await,
                    g.send(10).await,
                    g.resume().await,
                ];
                (seen, g.into_return_value())
            })
            .await
            .unwrap()
        });
        assert_eq!(seen, [Some(0), Some(1), Some(11), None]);
        assert_eq!(returned, Some(11));
    }
    // Blocking and async calls mix on one generator.
    let mut g = running_total();
    assert_eq!(g.resume().run(), Some(0));
    let mut g = anysync::run(async move {
        assert_eq!(g.send(3).await, Some(3));
        g
    });
    assert_eq!(g.send(4).run(), Some(7));
}

#[test]
fn sending_into_a_generator_that_has_not_started_panics_with_advice() {
    let mut g = running_total();
    let message = panic::catch_unwind(AssertUnwindSafe(|| g.send(1).run()))
        .map_err(|payload| panic_message(&*payload))
        .unwrap_err();
    assert!(message.contains("has not started"), "{message}");
    assert!(message.contains("resume()"), "{message}");
    assert!(!g.is_started(), "the refused send did not start the body");
    assert_eq!(g.resume().run(), Some(0), "and it still works");
}

/// `running_total`, except that after each `yield_!` the body waits at `gate` until the test
/// lets it through: a step stays pending for exactly as long as the test decides.
#[anysync::generator(item = u64, send = u64)]
async fn gated_total(gate: Arc<tokio::sync::Semaphore>) -> u64 {
    let mut total = 0;
    while let Some(x) = yield_!(total) {
        gate.acquire()
            .await
            .expect("the gate is never closed")
            .forget();
        total += x;
    }
    total
}

/// A resume cancelled while the body waits at an `.await` leaves it there, not at a `yield_!`:
/// a value sent then would have nowhere to go. `resume()` finishes the step; `send` works again
/// once the body is back at a `yield_!`.
///
/// Regression (flaky, about 1 run in 8): the body used to sleep 1 ms under a zero timeout. A
/// zero timeout is not guaranteed to fire first: tokio checks both deadlines when its timer
/// next turns, and if the thread was descheduled for a millisecond both had passed and the
/// step completed. The body now waits at a gate that only the test opens.
#[test]
fn a_resume_cancelled_mid_await_continues_and_refuses_a_send_until_the_next_yield() {
    let rt = common::current_thread();
    rt.block_on(async {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let mut g = gated_total(Arc::clone(&gate));
        assert_eq!(g.resume().await, Some(0));
        // The body receives 5, then waits at the closed gate: the timeout drops the step there.
        let cancelled = tokio::time::timeout(Duration::ZERO, g.send(5)).await;
        assert!(cancelled.is_err(), "the step is held at the gate");
        let message = panic::catch_unwind(AssertUnwindSafe(|| drop(g.send(9))))
            .map_err(|payload| panic_message(&*payload))
            .unwrap_err();
        assert!(message.contains("resume()"), "{message}");
        assert!(message.contains("not waiting") || message.contains("no `yield_!` is waiting"));
        // Open the gate for this step and the next one.
        gate.add_permits(2);
        // Nothing was lost or duplicated: the 5 arrived once, the 9 never did.
        assert_eq!(g.resume().await, Some(5), "the cancelled step carries on");
        assert_eq!(g.send(2).await, Some(7), "and sends work again");
    });
}

#[anysync::generator(item = String)]
async fn words(text: &str) -> usize {
    let mut count = 0;
    for word in text.split_whitespace() {
        tokio::task::yield_now().await;
        let resumed_with = yield_!(word.to_uppercase());
        assert_eq!(resumed_with, None, "iteration resumes with no value");
        count += 1;
    }
    count
}

#[test]
fn generators_iterate_and_stream_resuming_with_no_value() {
    let text = String::from("one two three");
    let mut g = words(&text);
    let all: Vec<String> = (&mut g).into_iter().collect();
    assert_eq!(all, ["ONE", "TWO", "THREE"]);
    assert_eq!(g.return_value(), Some(&3));
    let streamed: Vec<String> = anysync::run(async {
        use futures::StreamExt;
        words("a b").collect::<Vec<_>>().await
    });
    assert_eq!(streamed, ["A", "B"]);
}

/// Counts drops of the body's cleanup guard.
struct Cleanup(Arc<AtomicUsize>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[anysync::generator(item = u32, send = u32)]
async fn guarded(cleaned: Arc<AtomicUsize>) {
    let _cleanup = Cleanup(cleaned);
    let mut n = 0;
    loop {
        tokio::task::yield_now().await;
        n += yield_!(n).unwrap_or(1);
    }
}

#[test]
fn dropping_a_suspended_generator_runs_its_cleanup_exactly_once_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let cleaned = Arc::new(AtomicUsize::new(0));
            let mut g = guarded(Arc::clone(&cleaned));
            let seen = (g.resume().run(), g.send(5).run());
            let before = cleaned.load(Ordering::SeqCst);
            drop(g);
            (seen, before, cleaned.load(Ordering::SeqCst))
        });
        assert_eq!(ran.value, ((Some(0), Some(5)), 0, 1), "{ctx:?}");
    }
    // A generator that never started has a body future but no cleanup guard yet.
    let cleaned = Arc::new(AtomicUsize::new(0));
    drop(guarded(Arc::clone(&cleaned)));
    assert_eq!(cleaned.load(Ordering::SeqCst), 0);
}

#[anysync::generator(item = u32, send = u32)]
async fn fragile() {
    let first = yield_!(1);
    if first == Some(13) {
        panic::panic_any(Boom(13));
    }
}

#[test]
fn a_panic_in_the_body_reaches_send_with_its_payload_and_ends_the_generator() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let mut g = fragile();
            let first = g.resume().run();
            let caught = panic::catch_unwind(AssertUnwindSafe(|| g.send(13).run()));
            let boom = caught.unwrap_err().downcast::<Boom>().map(|b| b.0).ok();
            (first, boom, g.resume().run(), g.is_finished())
        });
        assert_eq!(ran.value, (Some(1), Some(13), None, true), "{ctx:?}");
    }
}

#[test]
fn generators_are_send_when_their_parts_are() {
    let mut g = running_total();
    assert_eq!(g.resume().run(), Some(0));
    let mut g = std::thread::spawn(move || {
        assert_eq!(g.send(2).run(), Some(2));
        g
    })
    .join()
    .unwrap();
    assert_eq!(g.send(3).run(), Some(5));
}

#[anysync::generator(item = u32, send = u32)]
async fn doubler() {
    let mut x = 0;
    while let Some(v) = yield_!(x * 2) {
        x = v;
    }
}

#[anysync::iterator(item = u32)]
async fn up_to(n: u32) {
    for i in 0..n {
        yield_!(i);
    }
}

/// Like the standard library's types, generators and iterators are unwind-safe when their
/// bodies are, so `catch_unwind(|| ...)` takes them without `AssertUnwindSafe`.
#[test]
fn generators_and_iterators_are_unwind_safe_when_their_bodies_are() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>(t: T) -> T {
        t
    }
    let mut g = unwind_safe(doubler());
    assert_eq!(g.resume().run(), Some(0));
    let mut g = panic::catch_unwind(move || {
        assert_eq!(g.send(4).run(), Some(8));
        g
    })
    .unwrap();
    assert_eq!(g.send(1).run(), Some(2));
    let mut it = unwind_safe(up_to(2));
    assert_eq!(
        panic::catch_unwind(move || it.next().run()).unwrap(),
        Some(0)
    );
}

#[test]
fn sending_into_a_finished_generator_gives_none() {
    let mut g = running_total();
    assert_eq!(g.resume().run(), Some(0));
    assert_eq!(g.resume().run(), None, "a `None` ends the loop");
    assert_eq!(
        g.send(5).run(),
        None,
        "nothing to receive it: fused, like `resume`"
    );
    assert_eq!(g.return_value(), Some(&0));
}

/// A future that is pending once, waking itself: the body stops there for one resume.
async fn pending_once() {
    let mut pending = true;
    std::future::poll_fn(move |cx| {
        if std::mem::take(&mut pending) {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
}

/// A body written by hand against the hidden constructor can poll a `yield_` future once and
/// drop it. The value sent after that step must not reach a later `yield_`: each `yield_`
/// receives only what was sent after its own item went out.
#[test]
fn a_hand_written_body_that_drops_a_yield_gets_no_stale_value() {
    use anysync::__private::Yielder;
    let mut g = anysync::Generator::new(|mut y: Yielder<u32, u32>| async move {
        let first = y.yield_(1).await;
        {
            let mut abandoned = y.yield_(2);
            assert!(futures::poll!(&mut abandoned).is_pending());
        }
        pending_once().await; // the driver takes the 2 here; `send(20)` resumes this
        let third = y.yield_(3).await;
        (first, third)
    });
    assert_eq!(g.resume().run(), Some(1));
    assert_eq!(g.send(10).run(), Some(2));
    assert_eq!(
        g.send(20).run(),
        Some(3),
        "the 20 went to the abandoned `yield_`"
    );
    assert_eq!(g.send(30).run(), None);
    assert_eq!(g.into_return_value(), Some((Some(10), Some(30))));
}

#[anysync::generator(item = std::rc::Rc<u32>, send = u32, ?Send)]
async fn local_counter() {
    let mut n = 0;
    while let Some(step) = yield_!(std::rc::Rc::new(n)) {
        n += step;
    }
}

#[test]
fn a_local_generator_stays_on_its_thread() {
    let mut g = local_counter();
    assert_eq!(g.resume().run().as_deref(), Some(&0));
    assert_eq!(g.send(4).run().as_deref(), Some(&4));
    let in_task = common::current_thread().block_on(async {
        let mut g = local_counter();
        g.resume().await;
        *g.send(9).await.unwrap()
    });
    assert_eq!(
        in_task, 9,
        "awaited, a local generator works inside any runtime"
    );
}
