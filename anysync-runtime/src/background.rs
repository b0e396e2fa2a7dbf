//! The background threads: where `.run()` sends a future that cannot be driven in place.
//!
//! Python anysync has one background thread, so one coroutine that blocks it stalls every
//! other caller (its bug 7). Here a job goes to an idle thread if there is one and to a new
//! thread otherwise, so concurrent callers never wait for each other. Idle threads are kept
//! on a stack and the most recently idle one is reused first, so sequential calls land on the
//! same thread; a thread idle for [`KEEP_ALIVE`] exits. No allocation happens per job once a
//! thread exists.

use crate::context;
use crate::raw::handoff::Job;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

/// How long an idle background thread waits for work before it exits.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The name every background thread carries (tests and debuggers can see it).
pub(crate) const THREAD_NAME: &str = "anysync-pool";

/// Idle threads, most recently idle last.
static IDLE: Mutex<Vec<Arc<Worker>>> = Mutex::new(Vec::new());

#[derive(Default)]
struct Worker {
    mailbox: Mutex<Option<Job>>,
    ready: Condvar,
}

/// Hands `job` to a background thread; gives it back if no thread could be started.
pub(crate) fn submit(job: Job) -> Result<(), Job> {
    let idle = lock(&IDLE).pop();
    let worker = match idle {
        Some(worker) => worker,
        None => return spawn(job),
    };
    *lock(&worker.mailbox) = Some(job);
    worker.ready.notify_one();
    Ok(())
}

fn spawn(job: Job) -> Result<(), Job> {
    let worker = Arc::new(Worker::default());
    // The job waits in the mailbox so that a failed spawn can give it back.
    *lock(&worker.mailbox) = Some(job);
    let serving = Arc::clone(&worker);
    let spawned = thread::Builder::new()
        .name(THREAD_NAME.into())
        // A lent future must have the stack it would have had in place (issue: a future that
        // needed 3 MiB ran on `main` and overflowed std's default 2 MiB here).
        .stack_size(crate::config::settings().stack_size)
        .spawn(move || serve(&serving));
    match spawned {
        Ok(_) => Ok(()),
        // The closure never ran, so nobody else can have taken the job.
        Err(_) => match lock(&worker.mailbox).take() {
            Some(job) => Err(job),
            None => unreachable!("anysync: a job vanished from an unstarted thread"),
        },
    }
}

fn serve(me: &Arc<Worker>) {
    context::mark_pool_thread();
    while let Some(job) = me.next_job() {
        // Become idle *before* waking the caller, so that its next `.run()` finds this thread.
        job.run(|| lock(&IDLE).push(Arc::clone(me)));
    }
}

impl Worker {
    /// Waits for the next job; `None` once this thread has retired after `KEEP_ALIVE`.
    fn next_job(self: &Arc<Self>) -> Option<Job> {
        let mut mailbox = lock(&self.mailbox);
        loop {
            if let Some(job) = mailbox.take() {
                return Some(job);
            }
            let (guard, wait) = self
                .ready
                .wait_timeout(mailbox, KEEP_ALIVE)
                .unwrap_or_else(PoisonError::into_inner);
            mailbox = guard;
            if wait.timed_out() && mailbox.is_none() {
                let mut idle = lock(&IDLE);
                if let Some(at) = idle.iter().position(|w| Arc::ptr_eq(w, self)) {
                    idle.remove(at);
                    return None;
                }
                // Not idle any more: a caller took this thread and its job is on the way.
            }
        }
    }
}

/// Our critical sections never panic, but a poisoned lock must not take the pool down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
