//! A generator body and the one-value slots it shares with its driver: one allocation, no
//! locks.
//!
//! Every `yield_!` hands one value from the body to the driver (the item), and every resume
//! may hand one back (a generator's sent value). A `Mutex` per hand-over costs two atomic
//! read-modify-writes on each side; this costs a plain load and a plain store (on x86, no
//! locked instruction at all), which is what brings per-item cost level with async-stream.
//!
//! The body future lives in the same allocation as the slots (one allocation per generator,
//! iterator or context instead of two: ~14 ns of a context's enter and exit). The driver's
//! end owns it; the body's end (inside the body, as its yielder) reaches only the slots, and
//! keeps the allocation alive should it outlive the body. The allocation is freed by
//! whichever end goes last.
//!
//! Each slot has exactly one producer and one consumer, and that is enforced by types, not
//! by trust: [`new`] makes two ends, neither `Clone`, and every operation that touches a
//! value takes `&mut self`. A slot is a single-producer single-consumer queue of capacity one:
//! its `full` flag is written only by the producer (`false` to `true`) and by the consumer
//! (`true` to `false`), each side touches the value only in the state it owns, and the flag
//! alone says whether the value is initialised.
//!
//! Tests that would catch misuse: the unit tests below take the body end out of the body (as
//! only misuse of the hidden constructors could), move each end to its own thread and hand
//! values across thousands of times with drop counters, free from either end, and panic in
//! the body's destructor and while making it. A double drop or leak shows as a wrong count.
//! A weakened ordering may pass on x86; CI runs these tests under Miri (`.ci/miri`, Stacked
//! and Tree Borrows), and the loom models (`loom-models/src/exchange.rs`, run by `.ci/loom`)
//! check every interleaving of this very file: hand-over both ways, and freeing from either
//! end with values left in the slots. tests/test_iter.rs, tests/test_generator.rs and the
//! context tests drive every body through this module.

use super::sync::{AtomicBool, AtomicUsize, Cell, Ordering, unsync_load};
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;

/// One value in flight from a producer to a consumer.
struct Slot<T> {
    /// Whether `value` is initialised: a value the consumer has not taken.
    full: AtomicBool,
    value: Cell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            full: AtomicBool::new(false),
            value: Cell::new(MaybeUninit::uninit()),
        }
    }

    fn is_full(&self) -> bool {
        // Acquire, though nothing read after depends on it: the body only asks whether to stay
        // suspended, and its next `put` or `take` does its own Acquire before it touches a
        // value. So weakening this is invisible to the loom models (no access becomes
        // unordered); it stays Acquire as the cheap conservative choice (a plain load on
        // x86 either way).
        self.full.load(Ordering::Acquire)
    }

    /// Stores `value` unless the slot is full, in which case it is given back.
    ///
    /// # Safety
    /// The caller is this slot's only producer: no other `put` runs at the same time.
    unsafe fn put(&self, value: T) -> Result<(), T> {
        // Acquire: the consumer's last `take` (its read, then its `false`) happened before
        // the write below (loom: `items_cross_one_way_in_order` fails without it).
        if self.full.load(Ordering::Acquire) {
            return Err(value);
        }
        // SAFETY: the slot is empty, so the consumer does not touch `value` until it sees the
        // `true` stored below, and no other producer exists (the caller's contract). Nothing
        // is overwritten: an empty slot holds no value.
        self.value.with_mut(|slot| unsafe { (*slot).write(value) });
        // Release: the write above happens before the consumer's read (loom: each model that
        // takes a value fails without it).
        self.full.store(true, Ordering::Release);
        Ok(())
    }

    /// Takes the value, if the slot is full.
    ///
    /// # Safety
    /// The caller is this slot's only consumer: no other `take` runs at the same time.
    unsafe fn take(&self) -> Option<T> {
        // Acquire: the producer's write of `value` happened before its `true` (loom: each
        // model that takes a value fails without it).
        if !self.full.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: the slot is full, so `value` is initialised and the producer does not touch
        // it until it sees the `false` stored below; no other consumer exists (the caller's
        // contract). Storing `false` right after makes this the only read of this value.
        let value = self
            .value
            .with(|slot| unsafe { (*slot).assume_init_read() });
        // Release: the read above happens before the producer's next write (loom:
        // `items_cross_one_way_in_order` fails without it).
        self.full.store(false, Ordering::Release);
        Some(value)
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        if unsync_load(&mut self.full) {
            // SAFETY: `&mut self`: nobody else can reach the slot, and a full slot holds an
            // initialised value that nobody took.
            self.value
                .with_mut(|slot| unsafe { (*slot).assume_init_drop() });
        }
    }
}

/// The part of the allocation both ends reach: the slots, and what it takes to free it all.
struct Header<Y, S> {
    /// Body to driver: the yielded items.
    yielded: Slot<Y>,
    /// Driver to body: the values sent in on resume.
    sent: Slot<S>,
    /// How many of the two ends are alive; the one that brings it to 0 frees the allocation.
    ends: AtomicUsize,
    /// Frees the allocation, knowing its full type (the body end does not).
    free: unsafe fn(NonNull<Header<Y, S>>),
}

/// The allocation. `repr(C)` puts `header` at offset 0, so a pointer to the allocation is a
/// pointer to its header and back.
#[repr(C)]
struct Inner<Y, S, D, F> {
    header: Header<Y, S>,
    /// Only the driver end touches this.
    driven: Cell<Driven<D, F>>,
}

/// The driver's part of the allocation. It lives here rather than in the driver end so that
/// the end is one pointer: the types built on it (a context above all) are moved right after
/// being written, and a one-word move is forwarded from the store buffer where a wider copy
/// of freshly written fields stalls (measured: ~10 ns of a context's enter and exit).
struct Driven<D, F> {
    /// Whether `body` is initialised.
    alive: bool,
    /// The driver's own state. Dropped by the driver end, not by `free`: the body end may be
    /// the one that frees, on another thread, and `D` need not be `Send`.
    data: ManuallyDrop<D>,
    /// Initialised from [`new`] until [`DriverEnd::drop_body`]; never moved.
    body: MaybeUninit<F>,
}

/// Allocates the slots, creates the body end, and makes the body with it, in one allocation;
/// `data` is the driver's own state, kept beside the body.
pub(crate) fn new<Y, S, D, F>(
    data: D,
    make: impl FnOnce(BodyEnd<Y, S>) -> F,
) -> DriverEnd<Y, S, D, F> {
    let inner = Box::new(Inner {
        header: Header {
            yielded: Slot::new(),
            sent: Slot::new(),
            ends: AtomicUsize::new(2),
            free: free::<Y, S, D, F>,
        },
        driven: Cell::new(Driven {
            alive: false,
            data: ManuallyDrop::new(data),
            body: MaybeUninit::uninit(),
        }),
    });
    let inner = NonNull::from(Box::leak(inner));
    // The driver end exists first, without a body: should `make` panic, dropping both ends
    // frees the allocation.
    let driver = DriverEnd {
        inner,
        owns: PhantomData,
    };
    let body = make(BodyEnd {
        header: inner.cast(),
    });
    // SAFETY: the allocation is alive and only the driver end reaches `driven`; no reference
    // to it exists. Writing the body in place moves nothing that is pinned: nothing has
    // polled it yet.
    unsafe {
        Cell::with_mut_raw(driver.driven(), |driven| {
            (*driven).body.write(body);
            (*driven).alive = true;
        });
    }
    driver
}

/// # Safety
/// `header` points to the header of a live `Inner<Y, S, D, F>` with these very types (set by
/// `new`), and no end is alive any more.
unsafe fn free<Y, S, D, F>(header: NonNull<Header<Y, S>>) {
    // SAFETY: `new` made this pointer from a `Box<Inner<Y, S, D, F>>` (the header is at
    // offset 0), and both ends are gone. The body is `MaybeUninit`: freeing does not drop it
    // (the driver did, before it let go); the slots drop any value still in them.
    drop(unsafe { Box::from_raw(header.cast::<Inner<Y, S, D, F>>().as_ptr()) });
}

/// Lets go of one end's share of the allocation.
///
/// # Safety
/// `header` comes from `new`, and the calling end is alive and never uses it again.
unsafe fn release<Y, S>(header: NonNull<Header<Y, S>>) {
    // SAFETY: the calling end is alive, so the allocation is.
    let h = unsafe { header.as_ref() };
    // Release: this end's last uses of the allocation happen before the other end frees it
    // (loom: `the_last_end_out_frees_*` fail without it).
    if h.ends.fetch_sub(1, Ordering::Release) == 1 {
        // Acquire: the other end's last uses happened before we free (loom: as above). A
        // load rather than `Arc`'s `fence(Acquire)`: ThreadSanitizer does not model fences and
        // would report the free as a race (std's `Arc` does the same under TSan); it runs once,
        // on the last release only.
        h.ends.load(Ordering::Acquire);
        let free = h.free;
        // SAFETY: both ends are gone now; `free` was set by `new` for this allocation.
        unsafe { free(header) };
    }
}

/// The driver's end: owns the body and the driver's state `D`, takes the items, sends
/// values in. One pointer.
pub(crate) struct DriverEnd<Y, S, D, F> {
    inner: NonNull<Inner<Y, S, D, F>>,
    /// For drop check: this end drops a `D` and an `F`.
    owns: PhantomData<(D, F)>,
}

// SAFETY: the driver end is the only one that touches the body and `D`, `&mut` for writes, so
// it may move to another thread with them (`F: Send`, `D: Send`), and be shared when they may
// (`&self` reaches `D` and `alive`, never the body). Each end is the only producer of one slot
// and the only consumer of the other, so slot values cross threads (`Y: Send`, `S: Send`) but
// are never shared. The counter is atomic.
unsafe impl<Y: Send, S: Send, D: Send, F: Send> Send for DriverEnd<Y, S, D, F> {}
// SAFETY: as above.
unsafe impl<Y: Send, S: Send, D: Sync, F: Sync> Sync for DriverEnd<Y, S, D, F> {}
// The body is pinned in the allocation, not in the end: moving the end moves a pointer.
impl<Y, S, D, F> Unpin for DriverEnd<Y, S, D, F> {}
// A panic never leaves a slot half-updated (no user code runs between a flag and its value),
// so the ends are as unwind-safe as what they own, like `Box<(D, F)>`.
impl<Y, S, D: UnwindSafe, F: UnwindSafe> UnwindSafe for DriverEnd<Y, S, D, F> {}
impl<Y, S, D: RefUnwindSafe, F: RefUnwindSafe> RefUnwindSafe for DriverEnd<Y, S, D, F> {}

impl<Y, S, D, F> DriverEnd<Y, S, D, F> {
    fn header(&self) -> &Header<Y, S> {
        // SAFETY: this end is alive, so the allocation is; the header is only ever read
        // through shared references (its mutable parts are atomics and cells).
        unsafe { &(*self.inner.as_ptr()).header }
    }

    /// The driver's part of the allocation. Only ever a raw pointer: every access below
    /// projects to one field (`alive`, `data`, `body`) and makes a reference to that field
    /// alone, never to the whole `Driven`.
    ///
    /// Why: a suspended body holds references into itself (every `yield_!` future holds a
    /// `&mut Yielder` that lives inside the body). A reference to the whole `Driven`, even a
    /// shared one made only to read `alive`, covers the body's bytes; under Stacked Borrows
    /// making it is a read of them all, which invalidates those inner `&mut`, and the body's
    /// next poll then uses a dead reference (found by Miri; regression test:
    /// `a_body_that_borrows_itself_across_a_suspension_stays_valid`).
    ///
    /// So this is a pointer to the cell, and every access goes through `Cell::with_raw` or
    /// `Cell::with_mut_raw`, which make no reference to it either (in the std build).
    fn driven(&self) -> *const Cell<Driven<D, F>> {
        // SAFETY: this end is alive, so the allocation is; `&raw const` makes no reference,
        // so nothing is retagged.
        unsafe { &raw const (*self.inner.as_ptr()).driven }
    }

    /// The driver's state.
    pub(crate) fn data(&self) -> &D {
        // SAFETY: the cell is alive (this end is). `data` is initialised from `new` until
        // this end is dropped; only this end reaches it, and it is changed only through
        // `&mut self`, so no `&mut` to it exists while this `&` does. The reference covers
        // `data` alone.
        unsafe { Cell::with_raw(self.driven(), |driven| &(*driven).data) }
    }

    /// The driver's state, to change it.
    pub(crate) fn data_mut(&mut self) -> &mut D {
        // SAFETY: as in `data`; `&mut self` makes the reference unique.
        unsafe { Cell::with_mut_raw(self.driven(), |driven| &mut (*driven).data) }
    }

    /// Whether the body is alive (not yet dropped).
    pub(crate) fn has_body(&self) -> bool {
        // SAFETY: the cell is alive; a plain read of `alive`, which only this end writes,
        // through `&mut self`.
        unsafe { Cell::with_raw(self.driven(), |driven| (*driven).alive) }
    }

    /// The body, pinned where it lives; `None` once dropped.
    pub(crate) fn body(&mut self) -> Option<Pin<&mut F>> {
        if !self.has_body() {
            return None;
        }
        // SAFETY: the cell is alive. The body is initialised (`alive`), and the reference is
        // unique (`&mut self`; the body end never reaches `driven`); it covers the body
        // alone. Pinning: the body never moves (it was written in place by `new` before
        // anything polled it) and is dropped in place, before its memory is freed or reused.
        Some(unsafe {
            Cell::with_mut_raw(self.driven(), |driven| {
                Pin::new_unchecked((*driven).body.assume_init_mut())
            })
        })
    }

    /// Drops the body in place (running its cleanup) if it is alive.
    pub(crate) fn drop_body(&mut self) {
        if self.has_body() {
            let driven = self.driven();
            // SAFETY: the cell is alive; `alive` is written only by this end, through `&mut
            // self`. First: should the body's destructor panic, it is not dropped again.
            unsafe { Cell::with_mut_raw(driven, |driven| (*driven).alive = false) };
            // SAFETY: the body was initialised, and `alive` now says it is gone, so nothing
            // reads or drops it again. Its destructor may let go of the body end, which only
            // reaches the header, not `driven`, and cannot free the allocation: this end
            // still holds its share.
            unsafe { Cell::with_mut_raw(driven, |driven| (*driven).body.assume_init_drop()) };
        }
    }

    /// Takes the item the body yielded, if there is one.
    pub(crate) fn take(&mut self) -> Option<Y> {
        // SAFETY: this end is the only consumer of `yielded` (see the `Send` impls).
        unsafe { self.header().yielded.take() }
    }

    /// Leaves `value` for the body; gives it back if the body has not received the last one.
    pub(crate) fn send(&mut self, value: S) -> Result<(), S> {
        // SAFETY: this end is the only producer of `sent`.
        unsafe { self.header().sent.put(value) }
    }
}

impl<Y, S, D, F> Drop for DriverEnd<Y, S, D, F> {
    fn drop(&mut self) {
        /// Lets go of the allocation, also when a destructor below panics.
        struct Release<Y, S>(NonNull<Header<Y, S>>);
        impl<Y, S> Drop for Release<Y, S> {
            fn drop(&mut self) {
                // SAFETY: the driver end is being dropped and never uses the pointer again.
                unsafe { release(self.0) };
            }
        }
        /// Drops the driver's state, also when the body's destructor panics.
        struct DropData<Y, S, D, F>(NonNull<Inner<Y, S, D, F>>);
        impl<Y, S, D, F> Drop for DropData<Y, S, D, F> {
            fn drop(&mut self) {
                // SAFETY: the allocation is alive (`Release` runs after this), only the driver
                // end reaches `driven`, and it is being dropped: `data`, initialised by `new`,
                // is dropped here once and never used again.
                unsafe {
                    Cell::with_mut_raw(&raw const (*self.0.as_ptr()).driven, |driven| {
                        ManuallyDrop::drop(&mut (*driven).data);
                    });
                }
            }
        }
        let _release = Release(self.inner.cast::<Header<Y, S>>());
        let _data = DropData(self.inner);
        // Usually the body holds the body end, which this lets go of first.
        self.drop_body();
    }
}

/// The body's end: yields items, receives sent values.
pub(crate) struct BodyEnd<Y, S> {
    header: NonNull<Header<Y, S>>,
}

// SAFETY: the body end only reaches the header: one slot it is the only producer of, one it
// is the only consumer of (through `&mut self`), and atomics. Values cross threads but are
// never shared.
unsafe impl<Y: Send, S: Send> Send for BodyEnd<Y, S> {}
// SAFETY: its only `&self` method reads an atomic.
unsafe impl<Y: Send, S: Send> Sync for BodyEnd<Y, S> {}
impl<Y, S> UnwindSafe for BodyEnd<Y, S> {}
impl<Y, S> RefUnwindSafe for BodyEnd<Y, S> {}

impl<Y, S> BodyEnd<Y, S> {
    fn header(&self) -> &Header<Y, S> {
        // SAFETY: this end is alive, so the allocation is.
        unsafe { self.header.as_ref() }
    }

    /// Leaves `item` for the driver; gives it back if the driver has not taken the last one.
    pub(crate) fn put(&mut self, item: Y) -> Result<(), Y> {
        // SAFETY: this end is the only producer of `yielded`.
        unsafe { self.header().yielded.put(item) }
    }

    /// Whether the last item is still waiting for the driver.
    pub(crate) fn is_pending(&self) -> bool {
        self.header().yielded.is_full()
    }

    /// Receives the value the driver sent, if there is one.
    pub(crate) fn receive(&mut self) -> Option<S> {
        // SAFETY: this end is the only consumer of `sent`.
        unsafe { self.header().sent.take() }
    }
}

impl<Y, S> Drop for BodyEnd<Y, S> {
    fn drop(&mut self) {
        // SAFETY: this end is being dropped and never uses the pointer again.
        unsafe { release(self.header) };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::Arc;
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

    /// A driver whose body is `body`, and the body end, taken out of the body (what only
    /// misuse of the hidden constructors could do; the ends must stay sound regardless).
    fn escaped<Y, S, F>(body: F) -> (DriverEnd<Y, S, (), F>, BodyEnd<Y, S>) {
        let mut end = None;
        let driver = new((), |e| {
            end = Some(e);
            body
        });
        (driver, end.expect("`new` calls `make`"))
    }

    #[test]
    fn values_cross_in_both_directions_in_order() {
        let (mut driver, mut body) = escaped::<u64, &str, _>(());
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
    fn values_left_in_the_slots_are_dropped_once_by_whichever_end_goes_last() {
        let live = Arc::new(AtomicUsize::new(0));
        for driver_first in [true, false] {
            let (mut driver, mut body) = escaped::<Counted, Counted, _>(());
            assert!(body.put(Counted::new(1, &live)).is_ok());
            assert!(driver.send(Counted::new(2, &live)).is_ok());
            if driver_first {
                drop(driver);
                assert_eq!(live.load(Ordering::Relaxed), 2, "the body end keeps them");
                drop(body);
            } else {
                drop(body);
                assert_eq!(live.load(Ordering::Relaxed), 2, "the driver end keeps them");
                drop(driver);
            }
            assert_eq!(live.load(Ordering::Relaxed), 0);
        }
    }

    /// The usual shape: the body owns the body end. Dropping the driver drops the body in
    /// place exactly once, which lets go of the body end, which frees the allocation.
    #[test]
    fn the_body_is_pinned_in_place_and_dropped_exactly_once() {
        struct Body {
            end: BodyEnd<Counted, ()>,
            _token: Counted,
        }
        let live = Arc::new(AtomicUsize::new(0));
        let mut driver = new((), |end| Body {
            end,
            _token: Counted::new(0, &live),
        });
        assert!(driver.has_body());
        let address = {
            let mut body = driver.body().expect("alive");
            assert!(body.end.put(Counted::new(7, &live)).is_ok());
            &raw const *body.as_mut()
        };
        assert_eq!(driver.take().map(|c| c.0), Some(7));
        let again = &raw const *driver.body().expect("alive");
        assert_eq!(address, again, "the body does not move");
        assert_eq!(live.load(Ordering::Relaxed), 1, "the body's token");
        drop(driver);
        assert_eq!(live.load(Ordering::Relaxed), 0);

        // `drop_body` drops it early, once; the driver then has no body.
        let mut driver = new((), |end| Body {
            end,
            _token: Counted::new(0, &live),
        });
        driver.drop_body();
        assert_eq!(live.load(Ordering::Relaxed), 0);
        assert!(!driver.has_body() && driver.body().is_none());
        driver.drop_body();
        drop(driver);
    }

    /// Regression test: a reference to the whole driver part (made by `has_body`, `data` and
    /// `data_mut` between two polls) invalidated the `&mut` a suspended body holds into
    /// itself, and its next poll used a dead reference: undefined behaviour under Stacked
    /// Borrows that Miri reported on every `for` over an iterator. Run it under Miri.
    #[test]
    fn a_body_that_borrows_itself_across_a_suspension_stays_valid() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};

        /// Pending once, like a `yield_!`: the driver resumes the body by polling it again.
        struct Suspend(bool);
        impl Future for Suspend {
            type Output = ();
            fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
                if std::mem::replace(&mut self.0, true) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }

        let mut driver = new(0_u32, |mut end: BodyEnd<u32, u32>| async move {
            let mut total = 0_u32;
            // Both live inside the body and are held across every suspension below, as a
            // `yield_!` future holds `&mut Yielder`.
            let total = &mut total;
            let end = &mut end;
            for i in 1..=3 {
                *total += i;
                assert!(end.put(*total).is_ok());
                Suspend(false).await;
                *total += end.receive().unwrap_or(0);
            }
            *total
        });
        let mut cx = Context::from_waker(Waker::noop());
        let mut seen = Vec::new();
        let output = loop {
            // What the driver does between resumes: read and write its own state.
            assert!(driver.has_body());
            *driver.data_mut() += 1;
            let polls = *driver.data();
            let poll = driver.body().expect("alive").poll(&mut cx);
            match poll {
                Poll::Ready(output) => break (output, polls),
                Poll::Pending => {
                    seen.push(driver.take().expect("suspended at a put"));
                    assert!(driver.has_body());
                    assert_eq!(driver.send(10), Ok(()));
                }
            }
        };
        driver.drop_body();
        assert!(!driver.has_body());
        assert_eq!(seen, [1, 13, 26]);
        assert_eq!(output, (36, 4));
    }

    #[test]
    fn a_body_whose_destructor_panics_is_not_dropped_again() {
        struct Explodes(#[allow(dead_code)] Counted); // held only for its drop count
        impl Drop for Explodes {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let live = Arc::new(AtomicUsize::new(0));
        let mut driver: DriverEnd<(), (), (), _> = new((), |_| Explodes(Counted::new(0, &live)));
        let unwound = panic::catch_unwind(AssertUnwindSafe(|| driver.drop_body()));
        assert!(unwound.is_err());
        assert_eq!(
            live.load(Ordering::Relaxed),
            0,
            "its fields were still dropped"
        );
        assert!(!driver.has_body());
        drop(driver);

        // The same from the driver's own `Drop`: the allocation is still let go of.
        let driver: DriverEnd<Counted, (), _, _> = new(Counted::new(9, &live), |mut end| {
            assert!(end.put(Counted::new(1, &live)).is_ok());
            (end, Explodes(Counted::new(0, &live)))
        });
        assert!(panic::catch_unwind(AssertUnwindSafe(|| drop(driver))).is_err());
        assert_eq!(
            live.load(Ordering::Relaxed),
            0,
            "slot value and body both dropped"
        );
    }

    #[test]
    fn a_panic_while_making_the_body_frees_everything() {
        let live = Arc::new(AtomicUsize::new(0));
        let made = panic::catch_unwind(AssertUnwindSafe(|| {
            new::<Counted, (), _, ()>(Counted::new(9, &live), |mut end| {
                assert!(end.put(Counted::new(1, &live)).is_ok());
                panic!("no body today");
            })
        }));
        assert!(made.is_err());
        assert_eq!(live.load(Ordering::Relaxed), 0);
    }

    /// Items one way only, no replies: nothing but the `yielded` flag orders the driver's
    /// read of a value before the body's next write (the ping-pong test below would hide a
    /// weakened ordering behind its reply slot; ThreadSanitizer or Miri catch it here, and the
    /// loom model `items_cross_one_way_in_order` proves it for every interleaving). Both
    /// sides yield while they wait, so a busy machine slows the test, not starves it; the
    /// count is small because proving orderings is loom's job, not this test's.
    #[test]
    fn a_one_way_stream_across_threads_delivers_every_item_once() {
        const N: u64 = if cfg!(miri) { 200 } else { 1_000 };
        let live = Arc::new(AtomicUsize::new(0));
        let (mut driver, mut body) = escaped::<Counted, (), _>(());
        let producer = {
            let live = Arc::clone(&live);
            thread::spawn(move || {
                for i in 0..N {
                    let mut item = Counted::new(i, &live);
                    while let Err(back) = body.put(item) {
                        item = back;
                        thread::yield_now();
                    }
                }
            })
        };
        let mut next = 0;
        while next < N {
            if let Some(item) = driver.take() {
                assert_eq!(item.0, next, "an item was lost, repeated or torn");
                next += 1;
            } else {
                thread::yield_now();
            }
        }
        producer.join().unwrap();
        assert_eq!(driver.take().map(|c| c.0), None);
        drop(driver);
        assert_eq!(live.load(Ordering::Relaxed), 0);
    }

    /// Each end on its own thread, spinning on the other: a missing ordering or a shared
    /// access would lose, repeat or corrupt values; the last one out frees.
    #[test]
    fn ends_on_two_threads_hand_over_every_value_exactly_once() {
        const N: u64 = if cfg!(miri) { 200 } else { 1_000 };
        let live = Arc::new(AtomicUsize::new(0));
        let (mut driver, mut body) = escaped::<Counted, u64, _>(Counted::new(u64::MAX, &live));
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
        drop(driver);
        assert_eq!(
            live.load(Ordering::Relaxed),
            0,
            "a value leaked or dropped twice"
        );
    }
}
