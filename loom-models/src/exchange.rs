//! Models of `raw::exchange`: the body end on a thread of its own (as only misuse of the
//! hidden constructors could put it, and as the ends must survive regardless), the driver on
//! the model's main thread.
//!
//! loom sees every access to a slot's value (its `Cell`), every store to a slot's `full`
//! flag, and, through the loom `Cell`'s drop, the freeing of the allocation. A value read
//! before it was written, overwritten before it was read, or freed while the other end may
//! still touch it is reported as a causality violation; a value lost or dropped twice shows
//! in the drop counts.

use crate::model;
use crate::raw::exchange::{self, BodyEnd, DriverEnd};
use loom::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts its live instances, so a lost or doubled value shows. The counter is std's, not
/// loom's: it is bookkeeping, and must add no synchronization that could hide a race.
struct Counted(u64, Arc<AtomicUsize>);

impl Counted {
    fn new(value: u64, live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::Relaxed);
        Counted(value, Arc::clone(live))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A driver with no body, and the body end, taken out of the body.
fn escaped<Y, S>() -> (DriverEnd<Y, S, (), ()>, BodyEnd<Y, S>) {
    let mut end = None;
    let driver = exchange::new((), |e| end = Some(e));
    (driver, end.expect("`new` calls `make`"))
}

/// Gives `value` to `put` until it takes it, letting the other thread run in between.
fn put_until_taken<T>(mut value: T, mut put: impl FnMut(T) -> Result<(), T>) {
    while let Err(back) = put(value) {
        value = back;
        thread::yield_now();
    }
}

/// Asks `take` until it has something, letting the other thread run in between.
fn take_until_some<T>(mut take: impl FnMut() -> Option<T>) -> T {
    loop {
        if let Some(value) = take() {
            return value;
        }
        thread::yield_now();
    }
}

/// Items from the body to the driver, no replies: the slot is reused, so the driver's read
/// of one item must happen before the body writes the next one over it, and only the
/// `yielded` flag orders that. Each item arrives once, in order.
#[test]
fn items_cross_one_way_in_order() {
    model(|| {
        const ITEMS: u64 = 3;
        let live = Arc::new(AtomicUsize::new(0));
        let (mut driver, mut body) = escaped::<Counted, ()>();
        let producer = {
            let live = Arc::clone(&live);
            thread::spawn(move || {
                for i in 0..ITEMS {
                    put_until_taken(Counted::new(i, &live), |item| body.put(item));
                }
            })
        };
        for i in 0..ITEMS {
            let item = take_until_some(|| driver.take());
            assert_eq!(item.0, i, "an item was lost, repeated or torn");
        }
        producer.join().unwrap();
        assert!(driver.take().is_none());
        drop(driver);
        assert_eq!(live.load(Ordering::Relaxed), 0, "a value leaked");
    });
}

/// Items one way, replies the other, each end waiting for the other: both slots are used
/// by both threads in turn.
#[test]
fn values_cross_both_ways() {
    model(|| {
        const ROUNDS: u64 = 2;
        let live = Arc::new(AtomicUsize::new(0));
        let (mut driver, mut body) = escaped::<Counted, Counted>();
        let producer = {
            let live = Arc::clone(&live);
            thread::spawn(move || {
                for i in 0..ROUNDS {
                    put_until_taken(Counted::new(i, &live), |item| body.put(item));
                    let reply = take_until_some(|| body.receive());
                    assert_eq!(reply.0, i * 10, "a reply was lost, repeated or torn");
                }
            })
        };
        for i in 0..ROUNDS {
            let item = take_until_some(|| driver.take());
            assert_eq!(item.0, i, "an item was lost, repeated or torn");
            put_until_taken(Counted::new(i * 10, &live), |reply| driver.send(reply));
        }
        producer.join().unwrap();
        drop(driver);
        assert_eq!(live.load(Ordering::Relaxed), 0, "a value leaked");
    });
}

/// Both ends let go at once, on two threads, with a value left in each slot: whichever
/// goes last frees the allocation and drops both values, once, after the other end's last
/// use (its write of a value, its flag, the driver's own part).
#[test]
fn the_last_end_out_frees_with_values_left_in_the_slots() {
    model(|| {
        let live = Arc::new(AtomicUsize::new(0));
        let (mut driver, mut body) = escaped::<Counted, Counted>();
        let body_thread = {
            let live = Arc::clone(&live);
            thread::spawn(move || {
                assert!(body.put(Counted::new(1, &live)).is_ok());
                drop(body);
            })
        };
        assert!(driver.send(Counted::new(2, &live)).is_ok());
        drop(driver);
        body_thread.join().unwrap();
        assert_eq!(live.load(Ordering::Relaxed), 0, "a value leaked");
    });
}

/// As above, with the driver taking the item it may find first: a value is freed with the
/// allocation or taken, never both, never neither, from either end.
#[test]
fn the_last_end_out_frees_after_the_other_took_or_left_a_value() {
    model(|| {
        let live = Arc::new(AtomicUsize::new(0));
        let (mut driver, mut body) = escaped::<Counted, Counted>();
        let body_thread = {
            let live = Arc::clone(&live);
            thread::spawn(move || {
                assert!(body.put(Counted::new(1, &live)).is_ok());
                // Receives the reply if it came in time; otherwise it is freed with the slots.
                drop(body.receive());
            })
        };
        if let Some(item) = driver.take() {
            assert_eq!(item.0, 1);
            assert!(driver.send(Counted::new(2, &live)).is_ok());
        }
        drop(driver);
        body_thread.join().unwrap();
        assert_eq!(live.load(Ordering::Relaxed), 0, "a value leaked");
    });
}
