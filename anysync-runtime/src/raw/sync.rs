//! What `raw` synchronizes with: std's atomics, cells, locks and threads, or loom's under
//! `--cfg loom`.
//!
//! The loom models (`loom-models/`, run by `.ci/loom`) compile the very files of `raw` with
//! loom's types swapped in here, and check every interleaving of the hand-overs. So the rest
//! of `raw` names these, never `std::sync`, `std::thread` or `std::cell::UnsafeCell`.
//!
//! The std build is the real one, and must cost nothing: each item is std's own, or an
//! `#[inline(always)]` wrapper over it that compiles to the same code (the generator slot is
//! benchmarked). The loom build only has to be faithful: where loom lacks something (a timed
//! wait) or hides something (`unpark` always synchronizes), its version here says what it
//! models and why that covers the real one. Nothing in tokio builds under `--cfg loom`, so
//! only the models compile that half.

#[cfg(not(loom))]
pub(crate) use self::std_impl::*;

#[cfg(loom)]
pub(crate) use self::loom_impl::*;

#[cfg(not(loom))]
mod std_impl {
    use std::cell::UnsafeCell;
    use std::sync::PoisonError;
    use std::time::Duration;

    pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use std::thread::{self, Thread};

    /// `std::thread::park`.
    #[inline(always)]
    pub(crate) fn park() {
        thread::park();
    }

    /// Reads an atomic flag through `&mut` (`get_mut`; loom's `unsync_load`).
    #[inline(always)]
    pub(crate) fn unsync_load(flag: &mut AtomicBool) -> bool {
        *flag.get_mut()
    }

    /// Waits on `ready` for at most `timeout` (`Condvar::wait_timeout`, poison ignored);
    /// returns the guard again and whether the wait timed out. `_lock` is the mutex `guard`
    /// holds: the loom version needs it to let go of the lock and take it again.
    #[inline(always)]
    pub(crate) fn wait_timeout<'a, T>(
        ready: &Condvar,
        _lock: &'a Mutex<T>,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let (guard, wait) = ready
            .wait_timeout(guard, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        (guard, wait.timed_out())
    }

    /// An `UnsafeCell` with loom's API: the value is reached through a raw pointer handed to a
    /// closure, so that loom sees where each access starts and ends. The closures inline away.
    #[repr(transparent)]
    pub(crate) struct Cell<T: ?Sized>(UnsafeCell<T>);

    impl<T> Cell<T> {
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            Cell(UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }

    impl<T: ?Sized> Cell<T> {
        /// Reads through the pointer `f` is given.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Writes (or reads) through the pointer `f` is given.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        /// [`with`](Self::with) from a pointer to the cell, making no reference to it (so
        /// nothing is retagged: see `exchange::DriverEnd::driven`).
        ///
        /// # Safety
        /// `this` points to a live `Cell` (the loom version makes a reference to it).
        #[inline(always)]
        pub(crate) unsafe fn with_raw<R>(this: *const Self, f: impl FnOnce(*const T) -> R) -> R {
            // `repr(transparent)`: a pointer to the cell is a pointer to its `UnsafeCell`.
            f(UnsafeCell::raw_get(this as *const UnsafeCell<T>))
        }

        /// [`with_mut`](Self::with_mut) from a pointer to the cell, making no reference to it.
        ///
        /// # Safety
        /// As for [`with_raw`](Self::with_raw).
        #[inline(always)]
        pub(crate) unsafe fn with_mut_raw<R>(this: *const Self, f: impl FnOnce(*mut T) -> R) -> R {
            f(UnsafeCell::raw_get(this as *const UnsafeCell<T>))
        }
    }
}

#[cfg(loom)]
mod loom_impl {
    use std::mem::ManuallyDrop;
    use std::sync::PoisonError;
    use std::time::Duration;

    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

    /// `loom::thread`, with [`current`](thread::current) giving the [`Thread`] below.
    pub(crate) mod thread {
        pub(crate) use loom::thread::{Builder, yield_now};

        /// `loom::thread::current`.
        pub(crate) fn current() -> super::Thread {
            super::Thread(loom::thread::current())
        }
    }

    /// `loom::thread::Thread`, whose `unpark` may be preempted before it happens.
    ///
    /// Why: loom schedules other threads only at its own operations, and an `unpark` is
    /// none, so the store just before it (the loan's `done`) and the `unpark` would run as
    /// one step. loom's `unpark` also joins the unparking thread's view of memory into the
    /// unparked thread's at once, so no thread could ever see that store without being
    /// synchronized by the `unpark`, whatever the store's ordering. A real thread can be
    /// preempted between the two; the yield here lets loom run the other threads there.
    /// Without it no model fails when `done` is stored with `Relaxed` (checked).
    #[derive(Clone)]
    pub(crate) struct Thread(loom::thread::Thread);

    impl Thread {
        pub(crate) fn unpark(&self) {
            thread::yield_now();
            self.0.unpark();
        }
    }

    loom::thread_local! {
        /// Whether `park` on this thread returns at once (see [`park_spuriously`]).
        static PARK_RETURNS_AT_ONCE: std::cell::Cell<bool> = std::cell::Cell::new(false);
    }

    /// Makes every later `park` on the calling thread return at once, without waiting for or
    /// consuming an `unpark`: a spurious wakeup each time, which `park` allows.
    ///
    /// Why models need it: loom's `unpark` joins the unparking thread's view of memory into
    /// the parked thread's, so a thread woken by `unpark` is synchronized with its waker
    /// whatever the atomics around it say. A real `park` can also return spuriously, with no
    /// such edge; then only the flag the caller loops on orders what it reads after. With
    /// this (and [`Thread::unpark`]'s preemption point), that flag's Release/Acquire pair
    /// is all that is left, and loom checks it.
    pub(crate) fn park_spuriously() {
        PARK_RETURNS_AT_ONCE.with(|at_once| at_once.set(true));
    }

    /// `loom::thread::park`, or a spurious wakeup on a thread that asked for them.
    #[track_caller]
    pub(crate) fn park() {
        if PARK_RETURNS_AT_ONCE.with(std::cell::Cell::get) {
            loom::thread::yield_now();
        } else {
            loom::thread::park();
        }
    }

    /// loom's atomics have no `get_mut`; `unsync_load` also checks that every store to `flag`
    /// happened before this read.
    pub(crate) fn unsync_load(flag: &mut AtomicBool) -> bool {
        // SAFETY: `&mut`: no other thread can reach `flag`, so no store races this load.
        unsafe { flag.unsync_load() }
    }

    /// A timed wait that has always timed out: lets go of the lock, lets every other thread
    /// run (loom explores each point at which this thread takes the lock again), and reports
    /// a timeout.
    ///
    /// Why this covers the real wait: loom's `Condvar::wait_timeout` never times out, so a
    /// worker could never retire, and a model could never end (loom calls a thread blocked at
    /// the end a deadlock). A real wait ends on a notification, spuriously, or on timeout,
    /// after at most the keep-alive; the caller (`mailbox::Workers::next_job`) looks only at
    /// the mailbox and at "timed out". A wait that ends with a job in the mailbox is handled
    /// alike whatever ended it; one that ends with an empty mailbox and no timeout only waits
    /// again, which is the same as a longer wait; and one that ends in a timeout is this. So
    /// every path of the caller that a real wait can lead to, this leads to, after any
    /// interleaving of the other threads. What it cannot check is liveness through the
    /// condition variable (a lost `notify_one` would cost a real worker its keep-alive, not
    /// correctness): the job itself is handed over under the mutex.
    pub(crate) fn wait_timeout<'a, T>(
        _ready: &Condvar,
        lock: &'a Mutex<T>,
        guard: MutexGuard<'a, T>,
        _timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        drop(guard);
        thread::yield_now();
        (lock.lock().unwrap_or_else(PoisonError::into_inner), true)
    }

    /// A cell whose accesses loom tracks, as it does `loom::cell::UnsafeCell`'s, and whose
    /// drop also counts as a write: loom then checks that freeing a cell (dropping or
    /// deallocating what holds it) happens after every other thread's last access, which is
    /// what the allocation's `ends` counter and the loan's `done` flag are for.
    ///
    /// The value sits in a std `UnsafeCell` beside loom's (which tracks, holding nothing) so
    /// that nothing is tracked while a thread unwinds: that is loom reporting a failure (or a
    /// model's own panic), and loom asked again from a destructor panics again, which aborts
    /// the whole test binary instead of failing one model.
    pub(crate) struct Cell<T: ?Sized> {
        accesses: loom::cell::UnsafeCell<()>,
        value: std::cell::UnsafeCell<T>,
    }

    impl<T> Cell<T> {
        #[track_caller]
        pub(crate) fn new(value: T) -> Self {
            Cell {
                accesses: loom::cell::UnsafeCell::new(()),
                value: std::cell::UnsafeCell::new(value),
            }
        }

        /// Moving the value out is a write, like a drop.
        #[track_caller]
        pub(crate) fn into_inner(self) -> T {
            let this = ManuallyDrop::new(self);
            // SAFETY: `this` is never used or dropped again, so this moves the value out once.
            this.with_mut(|value| unsafe { value.read() })
        }
    }

    impl<T: ?Sized> Cell<T> {
        #[track_caller]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            if std::thread::panicking() {
                return f(self.value.get());
            }
            self.accesses.with(|_| f(self.value.get()))
        }

        #[track_caller]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            if std::thread::panicking() {
                return f(self.value.get());
            }
            self.accesses.with_mut(|_| f(self.value.get()))
        }

        /// # Safety
        /// `this` points to a live `Cell`.
        #[track_caller]
        pub(crate) unsafe fn with_raw<R>(this: *const Self, f: impl FnOnce(*const T) -> R) -> R {
            // SAFETY: the caller's contract. Stacked Borrows does not apply: Miri does not
            // run the loom build.
            unsafe { &*this }.with(f)
        }

        /// # Safety
        /// `this` points to a live `Cell`.
        #[track_caller]
        pub(crate) unsafe fn with_mut_raw<R>(this: *const Self, f: impl FnOnce(*mut T) -> R) -> R {
            // SAFETY: as in `with_raw`.
            unsafe { &*this }.with_mut(f)
        }
    }

    impl<T: ?Sized> Drop for Cell<T> {
        fn drop(&mut self) {
            self.with_mut(|_| ());
        }
    }
}
