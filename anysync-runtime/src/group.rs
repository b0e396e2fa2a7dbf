//! Structured concurrency with values: [`task_group`] (asyncer's `create_task_group` +
//! `soonify`), built on tokio's [`JoinSet`].

use std::any::Any;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use tokio::runtime::Handle;
use tokio::task::JoinSet;

/// Runs `body` with a [`TaskGroup`] in which it spawns child tasks, and returns once the body
/// and every child have finished (asyncer's `create_task_group` + `soonify`, a trio nursery).
///
/// `group.spawn(future)` starts a child at once, as a tokio task, and returns a [`Soon`]: a
/// claim on the child's value. A claim is redeemed with the [`Joined`] proof that the group
/// returns after joining every child, so reading a value early is not an error to handle at
/// run time: there is no way to write it.
///
/// # Where errors go
///
/// Children and the body return `Result<_, E>`, and so does the group. **The first `Err`, from
/// the body or from any child, is what `task_group(..).await` returns**; the first panic is
/// resumed there, with its payload. Either way the rest is cancelled first: the body is
/// dropped, the other children are aborted, and the group waits until they are gone before it
/// returns, so nothing the group started outlives it. Failures that happen during that
/// cancellation are dropped: the first one wins. On success it returns the body's value and
/// the [`Joined`] proof.
///
/// # Cancellation
///
/// Cancellation is never swallowed. If the future of `task_group` is dropped (a `select!`, a
/// timeout, an aborted task), every child is aborted: tokio drops each at its next `.await`
/// (or at once if it is waiting). A child that the group did not abort and that stops anyway
/// (its runtime is shutting down) is reported as a panic at the group, never as success.
///
/// # Children are `Send + 'static`; the body may borrow
///
/// Children are tokio tasks ([`JoinSet::spawn_on`]), so they must own what they use (`move`
/// values in, share with [`Arc`]) and be `Send`, like anything given to `tokio::spawn`. They
/// run on the runtime that awaits the group (the global runtime outside tokio), in parallel
/// on a multi_thread runtime. The body is not spawned: the group polls it in place, so it can
/// borrow from the caller. For concurrent futures that borrow or are `!Send`, join them inside
/// one task instead (`tokio::join!`, `futures::future::join_all`). A child cannot spawn
/// siblings (the group is borrowed by the body); it can open a `task_group` of its own.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// async fn fetch(id: u32) -> Result<String, std::io::Error> {
///     tokio::time::sleep(Duration::from_millis(u64::from(id))).await;
///     Ok(format!("item {id}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let ((first, second), joined) = anysync::task_group(async |group| {
///     let first = group.spawn(fetch(2)); // starts now
///     let second = group.spawn(async { Ok(fetch(1).await?.len()) });
///     Ok((first, second))
/// })
/// .await?; // the first error of any child, or of the body, lands here
///
/// assert_eq!(joined.take(first), "item 2");
/// assert_eq!(joined.take(second), 6);
/// # Ok(())
/// # }
/// ```
///
/// A value cannot be read before the group has joined its children: `Soon` has no getter,
/// and the only [`Joined`] for this group is what the group returns.
///
/// ```compile_fail
/// # async fn f() {
/// anysync::task_group(async |group| {
///     let soon = group.spawn(async { Ok::<_, ()>(1) });
///     let early = soon.value(); // error: no method `value`; use `Joined::take` after the group
///     Ok(())
/// })
/// .await;
/// # }
/// ```
///
/// # How it works
///
/// ```text
/// let group = TaskGroup { children: Mutex<JoinSet<Result<(), E>>>, .. };
/// let body = body(&group);                  // polled in place, not spawned
/// loop: poll body; then JoinSet::poll_join_next until it is pending or empty
///     body or child Err / child panic  =>  drop body, abort_all, wait for every child, Err / panic
///     body done and no child left       =>  Ok((body value, Joined))
/// ```
#[doc(alias(
    "create_task_group",
    "soonify",
    "nursery",
    "scope",
    "structured concurrency"
))]
pub async fn task_group<F, R, E>(body: F) -> Result<(R, Joined), E>
where
    F: AsyncFnOnce(&TaskGroup<E>) -> Result<R, E>,
    E: Send + 'static,
{
    let group = TaskGroup::new();
    let outcome = {
        let mut body = pin!(body(&group));
        let mut value = None;
        poll_fn(|cx| {
            if value.is_none()
                && let Poll::Ready(result) = body.as_mut().poll(cx)
            {
                match result {
                    Ok(v) => value = Some(v),
                    Err(error) => return Poll::Ready(Err(Failure::Error(error))),
                }
            }
            match ready!(group.poll_children(cx)) {
                Err(failure) => Poll::Ready(Err(failure)),
                Ok(()) => match value.take() {
                    Some(value) => Poll::Ready(Ok(value)),
                    // No child left, but the body is still running and may spawn more.
                    None => Poll::Pending,
                },
            }
        })
        .await
        // The body is dropped here: on failure, before the children are cancelled.
    };
    match outcome {
        Ok(value) => Ok((value, Joined { group: group.id })),
        Err(failure) => {
            group.cancel().await;
            match failure {
                Failure::Error(error) => Err(error),
                Failure::Panicked(payload) => panic::resume_unwind(payload),
                Failure::Stopped => panic!(
                    "anysync: a child of a `task_group` was cancelled from outside the group \
                     (its runtime is shutting down)"
                ),
            }
        }
    }
}

/// The handle [`task_group`]'s body uses to start children.
///
/// It is only ever borrowed, for the duration of the body, so nothing can be added to a group
/// after it has joined. `E` is the error type shared by the body, the children and the group.
pub struct TaskGroup<E> {
    id: u64,
    handle: Handle,
    children: Mutex<JoinSet<Result<(), E>>>,
}

enum Failure<E> {
    /// A child or the body returned this error.
    Error(E),
    /// A child panicked with this payload.
    Panicked(Box<dyn Any + Send>),
    /// A child was cancelled, and not by the group.
    Stopped,
}

impl<E> TaskGroup<E> {
    fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        TaskGroup {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            handle: Handle::try_current().unwrap_or_else(|_| crate::global::handle().clone()),
            children: Mutex::new(JoinSet::new()),
        }
    }
}

impl<E: Send + 'static> TaskGroup<E> {
    /// Starts `child` now, as a task of the group, and returns the claim on its value (asyncer's
    /// `soonify`).
    ///
    /// If the child returns `Err` or panics, the group cancels everything else and returns the
    /// error (resumes the panic); see [`task_group`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (soon, joined) = anysync::task_group(async |group| {
    ///     Ok::<_, std::convert::Infallible>(group.spawn(async { Ok(6 * 7) }))
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(joined.take(soon), 42);
    /// # }
    /// ```
    #[doc(alias = "soonify")]
    pub fn spawn<C, T>(&self, child: C) -> Soon<T>
    where
        C: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::new(Mutex::new(None));
        let filled = Arc::clone(&slot);
        let task = async move {
            let value = child.await?;
            *lock(&filled) = Some(value);
            Ok(())
        };
        lock(&self.children).spawn_on(task, &self.handle);
        Soon {
            slot,
            group: self.id,
        }
    }

    /// Collects finished children; `Ready(Ok(()))` once none is left.
    fn poll_children(&self, cx: &mut Context<'_>) -> Poll<Result<(), Failure<E>>> {
        let mut children = lock(&self.children);
        loop {
            match ready!(children.poll_join_next(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(error))) => return Poll::Ready(Err(Failure::Error(error))),
                Some(Err(error)) if error.is_panic() => {
                    return Poll::Ready(Err(Failure::Panicked(error.into_panic())));
                }
                Some(Err(_)) => return Poll::Ready(Err(Failure::Stopped)),
            }
        }
    }

    /// Aborts every child and waits until all of them are gone.
    async fn cancel(&self) {
        lock(&self.children).abort_all();
        poll_fn(|cx| {
            let mut children = lock(&self.children);
            // The first failure has been taken; what the others end with is dropped.
            while ready!(children.poll_join_next(cx)).is_some() {}
            Poll::Ready(())
        })
        .await;
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("id", &self.id)
            .field("running", &lock(&self.children).len())
            .finish()
    }
}

/// A claim on the value of a child of a [`task_group`] (asyncer's `SoonValue`).
///
/// It has no getter: redeem it with [`Joined::take`], using the proof the group returns after
/// every child has finished.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (soon, joined) = anysync::task_group(async |group| {
///     let soon: anysync::Soon<&str> = group.spawn(async { Ok::<_, ()>("done") });
///     Ok(soon)
/// })
/// .await
/// .unwrap();
/// assert_eq!(joined.take(soon), "done");
/// # }
/// ```
#[must_use = "a `Soon` is how the child's value is read: redeem it with `Joined::take`"]
pub struct Soon<T> {
    slot: Arc<Mutex<Option<T>>>,
    group: u64,
}

impl<T> fmt::Debug for Soon<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Soon").field("group", &self.group).finish()
    }
}

/// Proof that a [`task_group`] has joined every child successfully: redeems its [`Soon`]s.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (soons, joined) = anysync::task_group(async |group| {
///     Ok::<_, ()>((1..=3).map(|i| group.spawn(async move { Ok(i * 10) })).collect::<Vec<_>>())
/// })
/// .await
/// .unwrap();
/// let values: Vec<i32> = soons.into_iter().map(|soon| joined.take(soon)).collect();
/// assert_eq!(values, [10, 20, 30]);
/// # }
/// ```
pub struct Joined {
    group: u64,
}

impl Joined {
    /// The value of the child that `soon` stands for.
    ///
    /// # Panics
    ///
    /// If `soon` was spawned in a different group: a `Joined` only vouches for its own group.
    ///
    /// ```should_panic
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (soon, _) = anysync::task_group(async |g| Ok::<_, ()>(g.spawn(async { Ok(1) })))
    ///     .await
    ///     .unwrap();
    /// let (_, other) = anysync::task_group(async |_: &anysync::TaskGroup<()>| Ok(()))
    ///     .await
    ///     .unwrap();
    /// other.take(soon); // panics: `soon` belongs to the first group
    /// # }
    /// ```
    #[track_caller]
    pub fn take<T>(&self, soon: Soon<T>) -> T {
        assert!(
            soon.group == self.group,
            "anysync: this `Soon` belongs to another task group: redeem it with the `Joined` \
             that its own `task_group` returned"
        );
        match lock(&soon.slot).take() {
            Some(value) => value,
            None => unreachable!("anysync: a joined child left no value"),
        }
    }
}

impl fmt::Debug for Joined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Joined")
            .field("group", &self.group)
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent even if a holder panics.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
