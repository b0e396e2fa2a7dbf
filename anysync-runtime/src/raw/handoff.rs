//! Lending a borrowed future to a background thread.
//!
//! Inside a current_thread runtime the caller's thread cannot drive a future (tokio panics
//! with "Cannot start a runtime from within a runtime"), so `.run()` lends the future to a
//! background thread and blocks until that thread is done with it. The future may borrow from
//! the caller (`&self`, `&str` arguments), so it is not `'static`; a `'static` API such as
//! `spawn_blocking` cannot take it. This module erases the lifetime instead, and is sound for
//! one reason only: [`lend`] does not return, and cannot unwind, until the background thread
//! has signalled that it will never touch the borrowed data again.
//!
//! Tests that would catch misuse: `tests/test_contexts.rs` runs borrowed futures through this
//! path from current_thread runtimes and LocalSets, with panics, timeouts and drop counters,
//! under the stress test's thousands of concurrent calls. The loom models
//! (`loom-models/src/handoff.rs`) check every interleaving of a loan with the real
//! [`mailbox`](super::mailbox): the borrow is over before `lend` returns, with a worker
//! reused, retiring or started, and with a task that panics.

use super::mailbox::Workers;
use super::sync::{self, AtomicBool, Cell, Ordering, Thread, thread};
use std::panic::{self, AssertUnwindSafe};

/// A type-erased pointer to a [`Loan`] on a blocked caller's stack.
pub(crate) struct Job {
    loan: *const (),
    poll: unsafe fn(*const ()),
    finish: unsafe fn(*const ()),
}

// SAFETY: a `Job` is only created by `lend_to` for a `Loan<T, R>` with `T: Send` and
// `R: Send`, so the task may run, and its result be stored, on the background thread. The
// pointer stays valid until `finish` runs, because `lend_to` blocks until then.
unsafe impl Send for Job {}

impl Job {
    /// Runs the lent task, stores its outcome in the loan, calls `before_wake`, then wakes the
    /// caller. Consuming the job makes this the only use of the pointer.
    pub(crate) fn run(self, before_wake: impl FnOnce()) {
        // SAFETY: `loan` points to a live `Loan<T, R>` matching `poll` (both set by `lend_to`),
        // whose caller is blocked until `finish` runs.
        unsafe { (self.poll)(self.loan) };
        before_wake();
        // SAFETY: as above; `finish` is the last use of the pointer (`self` is consumed).
        unsafe { (self.finish)(self.loan) };
    }
}

struct Loan<T, R> {
    task: Cell<Option<T>>,
    outcome: Cell<Option<std::thread::Result<R>>>,
    done: AtomicBool,
    caller: Thread,
}

/// Runs `task` on a background thread while the calling thread blocks, and returns its result;
/// a panic in `task` is resumed here with its original payload.
///
/// `task` may borrow from the caller (it is not `'static`). Gives `task` back untouched if no
/// background thread could be started.
#[cfg(not(loom))]
pub(crate) fn lend<T, R>(task: T) -> Result<R, T>
where
    T: FnOnce() -> R + Send,
    R: Send,
{
    lend_to(&crate::background::WORKERS, task)
}

/// [`lend`] to one of `workers`' threads (the loom models bring their own set).
pub(crate) fn lend_to<T, R>(workers: &'static Workers, task: T) -> Result<R, T>
where
    T: FnOnce() -> R + Send,
    R: Send,
{
    let loan = Loan {
        task: Cell::new(Some(task)),
        outcome: Cell::new(None),
        done: AtomicBool::new(false),
        caller: thread::current(),
    };
    let job = Job {
        loan: (&raw const loan).cast(),
        poll: run_loan::<T, R>,
        finish: finish_loan::<T, R>,
    };
    if workers.submit(job).is_err() {
        // The job never reached a thread (`submit`'s promise): the task is still in the loan.
        let task = loan.task.into_inner();
        return Err(task.unwrap_or_else(|| unreachable!("anysync: an unsubmitted task ran")));
    }
    // A background thread now holds a pointer to `loan`. Nothing below can panic or return
    // before `done` is set: that is what makes the erased borrow sound. `park` may return
    // spuriously, without the synchronization an `unpark` brings, so `done`'s Acquire (with
    // the Release in `finish_loan`) alone orders the thread's writes to `loan` (the outcome,
    // the task it took, whatever the task wrote through its borrows) before the reads below
    // and before `loan` dies. Checked by every loom model of this module, one of them
    // (`a_spurious_wakeup_does_not_end_the_loan_early`) with a `park` that never waits.
    while !loan.done.load(Ordering::Acquire) {
        sync::park();
    }
    match loan.outcome.into_inner() {
        Some(Ok(output)) => Ok(output),
        Some(Err(payload)) => panic::resume_unwind(payload),
        // `finish` only runs after `poll` stored an outcome.
        None => unreachable!("anysync: background thread finished without an outcome"),
    }
}

/// # Safety
/// `ptr` must come from `lend_to::<T, R>`, whose caller is still blocked.
unsafe fn run_loan<T: FnOnce() -> R, R>(ptr: *const ()) {
    // SAFETY: `ptr` was made from `&loan` in `lend_to` with these very `T` and `R`, and
    // `lend_to` is blocked until `finish_loan` runs, so the loan is alive and only this thread
    // uses its cells until then.
    let loan = unsafe { &*ptr.cast::<Loan<T, R>>() };
    // SAFETY: as above.
    let task = loan.task.with_mut(|task| unsafe { (*task).take() });
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| match task {
        Some(task) => task(),
        None => unreachable!("anysync: a lent task ran twice"),
    }));
    // SAFETY: as above.
    loan.outcome
        .with_mut(|slot| unsafe { *slot = Some(outcome) });
}

/// # Safety
/// As for [`run_loan`]; this is the last use of `ptr`.
unsafe fn finish_loan<T, R>(ptr: *const ()) {
    // SAFETY: as in `run_loan`.
    let loan = unsafe { &*ptr.cast::<Loan<T, R>>() };
    // Clone the handle first: once `done` is stored the caller may return and free `loan`.
    let caller = loan.caller.clone();
    // Release: this thread's writes to the loan (and the task's, through its borrows) happen
    // before the caller's Acquire load sees `true`; `unpark` need not synchronize (see
    // `lend_to`).
    loan.done.store(true, Ordering::Release);
    caller.unpark();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Under Miri (`.ci/miri`) this checks the loan's raw pointer and the caller's stack frame
    /// across real threads; the loom models check the interleavings.
    #[test]
    fn a_lent_task_borrows_from_the_caller_and_its_panic_comes_back() {
        let caller = std::thread::current().id();
        let mut seen = Vec::new();
        let ran_on = lend(|| {
            seen.push(1);
            std::thread::current().id()
        });
        let ran_on = ran_on.unwrap_or_else(|_| panic!("no background thread"));
        assert_ne!(ran_on, caller, "lent, not run in place");
        assert_eq!(seen, [1], "the task's write through its borrow is visible");

        // `resume_unwind`: a panic that skips the panic hook, so the test prints nothing.
        let borrowed = &mut seen;
        let unwound = panic::catch_unwind(AssertUnwindSafe(move || {
            lend(move || -> () {
                borrowed.push(2);
                panic::resume_unwind(Box::new("boom"))
            })
        }));
        let payload = unwound
            .err()
            .expect("the task's panic is resumed in the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(seen, [1, 2]);
    }
}
