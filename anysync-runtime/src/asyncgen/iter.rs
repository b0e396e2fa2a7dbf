//! [`Iter`]: an async generator usable as a `Stream` and as a blocking iterator.

use super::core::{Core, Step, Yielder};
use super::prefetch::Prefetch;
use crate::coroutine::{Coroutine, Local, Sendable};
use futures_core::Stream;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How an iterator body's return value turns into items.
///
/// A body returning `()` yields its items as they are. A body returning `Result<(), E>`
/// yields `Ok(item)` for each `yield_!(item)`, and an `Err` it returns (for example with `?`)
/// becomes the last item, as in async-stream's `try_stream!`.
#[diagnostic::on_unimplemented(
    message = "an `#[anysync::iterator]` body must return `()` or `Result<(), E>`, not `{Self}`",
    label = "the body returns `{Self}`",
    note = "items are handed out with `yield_!`; the return value can only add a final error"
)]
pub trait IterOutput<T> {
    /// The items the iterator produces.
    type Item;
    /// Wraps a yielded value.
    fn item(value: T) -> Self::Item;
    /// The item the body's return value adds at the end, if any.
    fn last(self) -> Option<Self::Item>;
}

impl<T> IterOutput<T> for () {
    type Item = T;
    fn item(value: T) -> T {
        value
    }
    fn last(self) -> Option<T> {
        None
    }
}

impl<T, E> IterOutput<T> for Result<(), E> {
    type Item = Result<T, E>;
    fn item(value: T) -> Result<T, E> {
        Ok(value)
    }
    fn last(self) -> Option<Result<T, E>> {
        self.err().map(Err)
    }
}

/// An async generator made by `#[anysync::iterator]`: a [`Stream`] in async code, iterable
/// with `for` in blocking code.
///
/// - `it.next().await` in async code and `it.next().run()` in blocking code (an inherent
///   method, so importing `StreamExt` does not make `.next()` ambiguous);
/// - `for item in it` (or `for item in &mut it`) in blocking code, from any context `.run()`
///   works in;
/// - [`Stream`] for combinators.
///
/// Lazy and exact: the body runs only when the consumer asks for the next item, so no item is
/// produced that is not consumed. [`prefetch`](Iter::prefetch) opts into reading ahead.
/// Dropping the iterator drops the body, running its cleanup. A panic in the body reaches the
/// consumer; the iterator then ends.
///
/// [`anysync::iter`](crate::iter) makes one from any [`Stream`] (the stream is its body), so
/// all of this holds for a stream the caller already has.
///
/// # Example
///
/// ```
/// use anysync::yield_;
///
/// #[anysync::iterator(item = u32)]
/// async fn countdown(from: u32) {
///     for n in (1..=from).rev() {
///         tokio::task::yield_now().await;
///         yield_!(n);
///     }
/// }
///
/// // Blocking code:
/// let all: Vec<u32> = countdown(3).into_iter().collect();
/// assert_eq!(all, [3, 2, 1]);
///
/// // Async code:
/// # anysync::run(async {
/// let mut it = countdown(2);
/// assert_eq!(it.next().await, Some(2));
/// assert_eq!(it.next().await, Some(1));
/// assert_eq!(it.next().await, None);
/// # });
/// ```
#[must_use = "an iterator does nothing until you iterate it (`for`, `.next().run()`, or `.next().await`)"]
pub struct Iter<F: Future, T, M = Sendable> {
    core: Core<F, T, ()>,
    mode: PhantomData<fn() -> M>,
}

impl<F, T> Iter<F, T>
where
    F: Future,
    F::Output: IterOutput<T>,
{
    /// Builds an iterator from a body; used by `#[anysync::iterator]`.
    #[doc(hidden)]
    pub fn new(make: impl FnOnce(Yielder<T>) -> F) -> Self {
        Iter {
            core: Core::new("", make),
            mode: PhantomData,
        }
    }
}

impl<F, T> Iter<F, T, Local>
where
    F: Future,
    F::Output: IterOutput<T>,
{
    /// Builds a `!Send` iterator from a body; used by `#[anysync::iterator(?Send)]`.
    #[doc(hidden)]
    pub fn local(make: impl FnOnce(Yielder<T>) -> F) -> Self {
        Iter {
            core: Core::new("", make),
            mode: PhantomData,
        }
    }
}

impl<F, T, M> Iter<F, T, M>
where
    F: Future,
    F::Output: IterOutput<T>,
{
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<ItemOf<F, T>>> {
        self.core
            .poll_resume(cx, &mut None)
            .map(|step| match step? {
                Step::Yielded(value) => Some(<F::Output as IterOutput<T>>::item(value)),
                Step::Complete(output) => output.last(),
            })
    }
}

/// The item type of an [`Iter`] whose body returns `F::Output`.
pub type ItemOf<F, T> = <<F as Future>::Output as IterOutput<T>>::Item;

impl<F, T> Iter<F, T>
where
    F: Future + Send,
    F::Output: IterOutput<T>,
    T: Send,
    ItemOf<F, T>: Send,
{
    /// The next item: `.await` it in async code, `.run()` it in blocking code.
    ///
    /// ```
    /// # use anysync::yield_;
    /// #[anysync::iterator(item = char)]
    /// async fn letters() {
    ///     yield_!('a');
    ///     yield_!('b');
    /// }
    ///
    /// let mut it = letters();
    /// assert_eq!(it.next().run(), Some('a'));
    /// # anysync::run(async move {
    /// assert_eq!(it.next().await, Some('b'));
    /// assert_eq!(it.next().await, None);
    /// # });
    /// ```
    #[allow(clippy::should_implement_trait)] // deliberately not `Iterator::next`: see the type docs
    pub fn next(&mut self) -> Coroutine<Next<'_, F, T, Sendable>> {
        Coroutine::new(Next { iter: self })
    }
}

impl<F, T> Iter<F, T>
where
    F: Future + Send + 'static,
    F::Output: IterOutput<T>,
    T: Send + 'static,
    ItemOf<F, T>: Send + 'static,
{
    /// Reads up to `n` items ahead on the global runtime while the consumer works.
    ///
    /// By default an iterator is lazy and exact: each item is produced when it is asked for,
    /// which inside a current_thread runtime costs one cross-thread round trip per item. With
    /// `prefetch(n)` the body runs on the global runtime and fills a buffer of `n` items, so a
    /// blocking consumer pays for a buffer hand-off instead. The price: up to `n` items are
    /// produced that a consumer who stops early never sees. Dropping the result stops the
    /// body (on the global runtime, where it lives) and runs its cleanup.
    ///
    /// `n` is at least 1. The iterator must be `'static`, since it moves to the global runtime.
    ///
    /// ```
    /// # use anysync::yield_;
    /// #[anysync::iterator(item = u32)]
    /// async fn numbers() {
    ///     for n in 0..100 {
    ///         yield_!(n);
    ///     }
    /// }
    ///
    /// let total: u32 = numbers().prefetch(16).into_iter().sum();
    /// assert_eq!(total, 4950);
    /// ```
    pub fn prefetch(self, n: usize) -> Prefetch<ItemOf<F, T>> {
        Prefetch::spawn(self, n)
    }
}

impl<F, T> Iter<F, T, Local>
where
    F: Future,
    F::Output: IterOutput<T>,
{
    /// The next item: `.await` it in async code, `.run()` it in blocking code (where the
    /// iterator must stay on the calling thread; see [`Local`]).
    ///
    /// ```
    /// # use anysync::yield_;
    /// # use std::rc::Rc;
    /// #[anysync::iterator(item = Rc<u8>, ?Send)]
    /// async fn shared() {
    ///     yield_!(Rc::new(1));
    /// }
    ///
    /// let mut it = shared();
    /// assert_eq!(it.next().run().as_deref(), Some(&1));
    /// ```
    #[allow(clippy::should_implement_trait)] // deliberately not `Iterator::next`: see the type docs
    pub fn next(&mut self) -> Coroutine<Next<'_, F, T, Local>, Local> {
        Coroutine::local(Next { iter: self })
    }
}

/// The future of [`Iter::next`].
#[must_use = "futures do nothing unless you `.await` or `.run()` them"]
pub struct Next<'a, F: Future, T, M> {
    iter: &'a mut Iter<F, T, M>,
}

impl<F, T, M> Future for Next<'_, F, T, M>
where
    F: Future,
    F::Output: IterOutput<T>,
{
    type Output = Option<ItemOf<F, T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.iter.poll_item(cx)
    }
}

impl<F, T, M> Stream for Iter<F, T, M>
where
    F: Future,
    F::Output: IterOutput<T>,
{
    type Item = ItemOf<F, T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_item(cx)
    }
}

impl<F: Future, T, M> fmt::Debug for Iter<F, T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("started", &self.core.started())
            .field("finished", &self.core.finished())
            .finish_non_exhaustive()
    }
}

/// The blocking iterator of an [`Iter`] (`for item in iter`): each step is `iter.next().run()`.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct IntoIter<I>(I);

macro_rules! blocking_iteration {
    ($mode:ty, [$($bounds:tt)*]) => {
        impl<F, T> IntoIterator for Iter<F, T, $mode>
        where
            F: Future + $($bounds)*,
            F::Output: IterOutput<T>,
            T: $($bounds)*,
            ItemOf<F, T>: $($bounds)*,
        {
            type Item = ItemOf<F, T>;
            type IntoIter = IntoIter<Self>;

            fn into_iter(self) -> IntoIter<Self> {
                IntoIter(self)
            }
        }

        impl<'a, F, T> IntoIterator for &'a mut Iter<F, T, $mode>
        where
            F: Future + $($bounds)*,
            F::Output: IterOutput<T>,
            T: $($bounds)*,
            ItemOf<F, T>: $($bounds)*,
        {
            type Item = ItemOf<F, T>;
            type IntoIter = IntoIter<Self>;

            fn into_iter(self) -> IntoIter<Self> {
                IntoIter(self)
            }
        }

        impl<F, T> Iterator for IntoIter<Iter<F, T, $mode>>
        where
            F: Future + $($bounds)*,
            F::Output: IterOutput<T>,
            T: $($bounds)*,
            ItemOf<F, T>: $($bounds)*,
        {
            type Item = ItemOf<F, T>;

            #[track_caller]
            fn next(&mut self) -> Option<Self::Item> {
                self.0.next().run()
            }
        }

        impl<F, T> Iterator for IntoIter<&mut Iter<F, T, $mode>>
        where
            F: Future + $($bounds)*,
            F::Output: IterOutput<T>,
            T: $($bounds)*,
            ItemOf<F, T>: $($bounds)*,
        {
            type Item = ItemOf<F, T>;

            #[track_caller]
            fn next(&mut self) -> Option<Self::Item> {
                self.0.next().run()
            }
        }
    };
}

blocking_iteration!(Sendable, [Send]);
blocking_iteration!(Local, []);

impl<I> fmt::Debug for IntoIter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").finish_non_exhaustive()
    }
}
