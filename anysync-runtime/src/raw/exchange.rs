//! A pair of one-value slots between a generator body and its driver, without locks.
//!
//! Every `yield_!` hands one value from the body to the driver (the item), and every resume
//! may hand one back (a generator's sent value). A `Mutex` per hand-over costs two atomic
//! read-modify-writes on each side; this costs a plain load and a plain store (on x86, no
//! locked instruction at all), which is what brings per-item cost level with async-stream.
//!
//! Each slot has exactly one producer and one consumer, and that is enforced by types, not
//! by trust: [`pair`] returns two ends, neither `Clone`, and every operation that touches a
//! value takes `&mut self`. A slot is a single-producer single-consumer queue of capacity one:
//! its `full` flag is written only by the producer (`false` to `true`) and by the consumer
//! (`true` to `false`), each side touches the value only in the state it owns, and the flag
//! alone says whether the value is initialised.
//!
//! Tests that would catch misuse: the unit tests below move each end to its own thread and
//! hand values across thousands of times with drop counters (a race or a double drop shows
//! up as a wrong count, and under Miri as an error); tests/test_iter.rs and
//! tests/test_generator.rs drive every body through this module.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One value in flight from a producer to a consumer.
struct Slot<T> {
    /// Whether `value` is initialised: a value the consumer has not taken.
    full: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    const fn new() -> Self {
        Slot {
            full: AtomicBool::new(false),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    fn is_full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }

    /// Stores `value` unless the slot is full, in which case it is given back.
    ///
    /// # Safety
    /// The caller is this slot's only producer: no other `put` runs at the same time.
    unsafe fn put(&self, value: T) -> Result<(), T> {
        // Acquire: the consumer's last `take` (its read, then its `false`) happened before.
        if self.full.load(Ordering::Acquire) {
            return Err(value);
        }
        // SAFETY: the slot is empty, so the consumer does not touch `value` until it sees the
        // `true` stored below, and no other producer exists (the caller's contract). Nothing
        // is overwritten: an empty slot holds no value.
        unsafe { (*self.value.get()).write(value) };
        self.full.store(true, Ordering::Release);
        Ok(())
    }

    /// Takes the value, if the slot is full.
    ///
    /// # Safety
    /// The caller is this slot's only consumer: no other `take` runs at the same time.
    unsafe fn take(&self) -> Option<T> {
        // Acquire: the producer's write of `value` happened before its `true`.
        if !self.full.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: the slot is full, so `value` is initialised and the producer does not touch
        // it until it sees the `false` stored below; no other consumer exists (the caller's
        // contract). Storing `false` right after makes this the only read of this value.
        let value = unsafe { (*self.value.get()).assume_init_read() };
        self.full.store(false, Ordering::Release);
        Some(value)
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        if *self.full.get_mut() {
            // SAFETY: `&mut self`: nobody else can reach the slot, and a full slot holds an
            // initialised value that nobody took.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

struct Shared<Y, S> {
    /// Body to driver: the yielded items.
    yielded: Slot<Y>,
    /// Driver to body: the values sent in on resume.
    sent: Slot<S>,
}

// SAFETY: the cells are only reached through `Slot::put` and `Slot::take`, whose callers are
// the two ends below. Each end is the only producer of one slot and the only consumer of the
// other, because the ends are not `Clone` and call `put`/`take` only from `&mut self` methods.
// Values cross threads, hence the `Send` bounds.
unsafe impl<Y: Send, S: Send> Sync for Shared<Y, S> {}

/// Creates the two ends: the driver's and the body's.
pub(crate) fn pair<Y, S>() -> (DriverEnd<Y, S>, BodyEnd<Y, S>) {
    let shared = Arc::new(Shared {
        yielded: Slot::new(),
        sent: Slot::new(),
    });
    (
        DriverEnd {
            shared: Arc::clone(&shared),
        },
        BodyEnd { shared },
    )
}

/// The driver's end: takes the items, sends values in.
pub(crate) struct DriverEnd<Y, S> {
    shared: Arc<Shared<Y, S>>,
}

impl<Y, S> DriverEnd<Y, S> {
    /// Takes the item the body yielded, if there is one.
    pub(crate) fn take(&mut self) -> Option<Y> {
        // SAFETY: this end is the only consumer of `yielded` (see `Shared`'s `Sync`).
        unsafe { self.shared.yielded.take() }
    }

    /// Leaves `value` for the body; gives it back if the body has not received the last one.
    pub(crate) fn send(&mut self, value: S) -> Result<(), S> {
        // SAFETY: this end is the only producer of `sent`.
        unsafe { self.shared.sent.put(value) }
    }
}

/// The body's end: yields items, receives sent values.
pub(crate) struct BodyEnd<Y, S> {
    shared: Arc<Shared<Y, S>>,
}

impl<Y, S> BodyEnd<Y, S> {
    /// Leaves `item` for the driver; gives it back if the driver has not taken the last one.
    pub(crate) fn put(&mut self, item: Y) -> Result<(), Y> {
        // SAFETY: this end is the only producer of `yielded`.
        unsafe { self.shared.yielded.put(item) }
    }

    /// Whether the last item is still waiting for the driver.
    pub(crate) fn is_pending(&self) -> bool {
        self.shared.yielded.is_full()
    }

    /// Receives the value the driver sent, if there is one.
    pub(crate) fn receive(&mut self) -> Option<S> {
        // SAFETY: this end is the only consumer of `sent`.
        unsafe { self.shared.sent.take() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::thread;

    /// Counts its live instances, so a lost or doubled value shows.
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

    #[test]
    fn values_cross_in_both_directions_in_order() {
        let (mut driver, mut body) = pair::<u64, &str>();
        assert_eq!(driver.take(), None);
        assert!(!body.is_pending());
        assert_eq!(body.put(1), Ok(()));
        assert!(body.is_pending());
        assert_eq!(body.put(2), Err(2), "a full slot gives the value back");
        assert_eq!(driver.take(), Some(1));
        assert_eq!(driver.take(), None);
        assert!(!body.is_pending());
        assert_eq!(driver.send("a"), Ok(()));
        assert_eq!(driver.send("b"), Err("b"));
        assert_eq!(body.receive(), Some("a"));
        assert_eq!(body.receive(), None);
    }

    #[test]
    fn a_value_left_in_a_slot_is_dropped_once_with_the_last_end() {
        let live = Arc::new(AtomicUsize::new(0));
        let (driver, mut body) = pair::<Counted, Counted>();
        assert!(body.put(Counted::new(1, &live)).is_ok());
        drop(body);
        assert_eq!(
            live.load(Ordering::Relaxed),
            1,
            "the driver's end still holds it"
        );
        drop(driver);
        assert_eq!(live.load(Ordering::Relaxed), 0);
    }

    /// Each end on its own thread, spinning on the other: a missing ordering or a shared
    /// access would lose, repeat or corrupt values (and Miri would report the race).
    #[test]
    fn ends_on_two_threads_hand_over_every_value_exactly_once() {
        const N: u64 = if cfg!(miri) { 200 } else { 100_000 };
        let live = Arc::new(AtomicUsize::new(0));
        let (mut driver, mut body) = pair::<Counted, u64>();
        let producer = {
            let live = Arc::clone(&live);
            thread::spawn(move || {
                let mut echoed = 0;
                for i in 0..N {
                    let mut item = Counted::new(i, &live);
                    while let Err(back) = body.put(item) {
                        item = back;
                        thread::yield_now();
                    }
                    loop {
                        if let Some(reply) = body.receive() {
                            assert_eq!(reply, i * 2, "a reply arrived out of order");
                            echoed += 1;
                            break;
                        }
                        thread::yield_now();
                    }
                }
                echoed
            })
        };
        for i in 0..N {
            let item = loop {
                if let Some(item) = driver.take() {
                    break item;
                }
                thread::yield_now();
            };
            assert_eq!(item.0, i, "an item arrived out of order");
            drop(item);
            assert_eq!(
                driver.send(i * 2),
                Ok(()),
                "the body received the last reply"
            );
        }
        assert_eq!(producer.join().unwrap(), N);
        assert_eq!(
            live.load(Ordering::Relaxed),
            0,
            "a value leaked or dropped twice"
        );
    }
}
