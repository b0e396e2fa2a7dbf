//! The background threads' mailboxes: how a lent [`Job`] reaches the thread that runs it.
//!
//! A job goes to an idle thread if there is one and to a new thread otherwise, so concurrent
//! callers never wait for each other. Idle threads are kept on a stack and the most recently
//! idle one is reused first, so sequential calls land on the same thread; a thread idle for
//! the keep-alive exits. No allocation happens per job once a thread exists.
//!
//! No `unsafe` here (denied below), but [`handoff`](super::handoff)'s soundness rests on one
//! promise of this module: [`Workers::submit`] gives a job back only if no thread has it or
//! ever will. It lives in `raw` so that the loom models drive this very code (`background`
//! holds only the settings of anysync's own set of threads).

#![deny(unsafe_code)]

use super::handoff::Job;
use super::sync::{self, Arc, Condvar, Mutex, MutexGuard, thread};
use std::sync::PoisonError;
use std::time::Duration;

/// How a set of background threads starts its threads and when it lets them go.
pub(crate) struct Settings {
    /// Every thread's name.
    pub(crate) name: &'static str,
    /// Each new thread's stack size, read when it starts.
    pub(crate) stack_size: fn() -> usize,
    /// Runs first on each new thread.
    pub(crate) on_start: fn(),
    /// How long an idle thread waits for work before it exits, read at each wait.
    pub(crate) keep_alive: fn() -> Duration,
}

/// A set of background threads, started on demand.
pub(crate) struct Workers {
    /// Idle threads, most recently idle last.
    idle: Mutex<Vec<Arc<Worker>>>,
    settings: Settings,
}

/// One background thread's mailbox.
struct Worker {
    mailbox: Mutex<Option<Job>>,
    ready: Condvar,
}

impl Workers {
    /// A set with no thread yet (`const` for a `static`; loom's locks are not `const`).
    #[cfg(not(loom))]
    pub(crate) const fn new(settings: Settings) -> Self {
        Workers {
            idle: Mutex::new(Vec::new()),
            settings,
        }
    }

    /// A set with no thread yet.
    #[cfg(loom)]
    pub(crate) fn new(settings: Settings) -> Self {
        Workers {
            idle: Mutex::new(Vec::new()),
            settings,
        }
    }

    /// Hands `job` to a background thread; gives it back if no thread could be started, and
    /// only then: a job given back was never seen by any thread.
    pub(super) fn submit(&'static self, job: Job) -> Result<(), Job> {
        let idle = lock(&self.idle).pop();
        let worker = match idle {
            Some(worker) => worker,
            None => return self.spawn(job),
        };
        // Popped: this thread is ours, and will not retire before it finds the job (see
        // `next_job`).
        *lock(&worker.mailbox) = Some(job);
        // Only for liveness: without it the worker would find the job when its wait times
        // out. (So the loom models, whose waits always time out, cannot miss it.)
        worker.ready.notify_one();
        Ok(())
    }

    fn spawn(&'static self, job: Job) -> Result<(), Job> {
        let worker = Arc::new(Worker {
            mailbox: Mutex::new(None),
            ready: Condvar::new(),
        });
        // The job waits in the mailbox so that a failed spawn can give it back.
        *lock(&worker.mailbox) = Some(job);
        let serving = Arc::clone(&worker);
        let spawned = thread::Builder::new()
            .name(self.settings.name.into())
            .stack_size((self.settings.stack_size)())
            .spawn(move || {
                (self.settings.on_start)();
                self.serve(&serving);
            });
        match spawned {
            Ok(_) => Ok(()),
            Err(_) => match lock(&worker.mailbox).take() {
                Some(job) => Err(job),
                // std says the closure never ran; should it have run all the same, the job is
                // being run, and its caller must wait for it, not take it back (no panic
                // here either: the caller's borrow is out).
                None => Ok(()),
            },
        }
    }

    /// A background thread's life: runs jobs until it retires.
    fn serve(&self, me: &Arc<Worker>) {
        while let Some(job) = self.next_job(me) {
            // Become idle *before* waking the caller, so that its next `.run()` finds this
            // thread.
            job.run(|| lock(&self.idle).push(Arc::clone(me)));
        }
    }

    /// Waits for `me`'s next job; `None` once `me` has retired after the keep-alive.
    fn next_job(&self, me: &Arc<Worker>) -> Option<Job> {
        let mut mailbox = lock(&me.mailbox);
        loop {
            if let Some(job) = mailbox.take() {
                return Some(job);
            }
            let (guard, timed_out) = sync::wait_timeout(
                &me.ready,
                &me.mailbox,
                mailbox,
                (self.settings.keep_alive)(),
            );
            mailbox = guard;
            if timed_out && mailbox.is_none() {
                let mut idle = lock(&self.idle);
                if let Some(at) = idle.iter().position(|w| Arc::ptr_eq(w, me)) {
                    idle.remove(at);
                    return None;
                }
                // Not idle any more: a caller popped this thread and its job is on the way.
            }
        }
    }
}

/// Our critical sections never panic, but a poisoned lock must not take the threads down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
