//! [`Generator`]: an async generator that values can be sent into.

use super::core::{Core, Step, Yielder};
use crate::coroutine::{Coroutine, Local, Sendable};
use futures_core::Stream;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An async generator made by `#[anysync::generator]`: values go out with `yield_!(v)`, and
/// come back in as its result (Python's `send`).
///
/// Every operation follows the coroutine convention, one API for both worlds:
/// `g.resume()` / `g.send(x)` are `.await`ed in async code and `.run()` in blocking code, and
/// return `Some(item)` or `None` once the body has returned.
///
/// - `resume()` resumes with no value: the pending `yield_!` evaluates to `None` (Python's
///   `next(g)` / `send(None)`).
/// - `send(x)` resumes with `x`: the pending `yield_!` evaluates to `Some(x)`. A generator that
///   has not started is not suspended at a `yield_!`, so there is nothing to receive `x`:
///   `send` then panics, like Python's `TypeError` (start it with `resume()` first). The same
///   holds after a `resume()`/`send()` future was dropped while the body was at another
///   `.await` (a timeout, `select!`): the body stays there, and the next `resume()` carries
///   on from it; a `send` would panic (Python: `RuntimeError`).
/// - When the body returns, its value (Python's `StopIteration.value`) is kept:
///   [`return_value`](Generator::return_value) borrows it and
///   [`into_return_value`](Generator::into_return_value) takes it.
/// - A generator is also a [`Stream`] and iterable with `for` (resuming with no value).
///
/// Dropping it drops the body, running its cleanup (Rust's counterpart of `close()`).
///
/// # Example
///
/// ```
/// use anysync::yield_;
///
/// #[anysync::generator(item = u64, send = u64)]
/// async fn running_total() -> &'static str {
///     let mut total = 0;
///     while let Some(x) = yield_!(total) {
///         total += x;
///     }
///     "stopped"
/// }
///
/// let mut g = running_total();
/// assert_eq!(g.resume().run(), Some(0));  // next(g)
/// assert_eq!(g.send(5).run(), Some(5));   // g.send(5)
/// # anysync::run(async {
/// assert_eq!(g.send(2).await, Some(7));   // await g.asend(2)
/// assert_eq!(g.resume().await, None);     // a `None` ends the loop: StopIteration
/// # });
/// assert_eq!(g.return_value(), Some(&"stopped"));
/// ```
#[must_use = "a generator does nothing until you resume it (`.resume().run()`, `.send(x).await`, `for`)"]
pub struct Generator<F: Future, Y, S = (), M = Sendable> {
    core: Core<F, Y, S>,
    returned: Option<F::Output>,
    mode: PhantomData<fn() -> M>,
}

impl<F: Future, Y, S> Generator<F, Y, S> {
    /// Builds a generator from a body; used by `#[anysync::generator]`.
    #[doc(hidden)]
    pub fn new(make: impl FnOnce(Yielder<Y, S>) -> F) -> Self {
        Generator {
            core: Core::new("", make),
            returned: None,
            mode: PhantomData,
        }
    }
}

impl<F: Future, Y, S> Generator<F, Y, S, Local> {
    /// Builds a `!Send` generator from a body; used by `#[anysync::generator(?Send)]`.
    #[doc(hidden)]
    pub fn local(make: impl FnOnce(Yielder<Y, S>) -> F) -> Self {
        Generator {
            core: Core::new("", make),
            returned: None,
            mode: PhantomData,
        }
    }
}

impl<F: Future, Y, S, M> Generator<F, Y, S, M> {
    /// The body's return value, once it has returned.
    ///
    /// ```
    /// # use anysync::yield_;
    /// #[anysync::generator(item = u8)]
    /// async fn one() -> u32 {
    ///     yield_!(1);
    ///     99
    /// }
    ///
    /// let mut g = one();
    /// assert_eq!(g.return_value(), None);
    /// let items: Vec<u8> = (&mut g).into_iter().collect();
    /// assert_eq!(items, [1]);
    /// assert_eq!(g.return_value(), Some(&99));
    /// ```
    pub fn return_value(&self) -> Option<&F::Output> {
        self.returned.as_ref()
    }

    /// Takes the body's return value, if it has returned.
    ///
    /// ```
    /// # use anysync::yield_;
    /// #[anysync::generator(item = u8)]
    /// async fn none() -> String {
    ///     String::from("done")
    /// }
    ///
    /// let mut g = none();
    /// assert_eq!(g.resume().run(), None);
    /// assert_eq!(g.into_return_value().as_deref(), Some("done"));
    /// ```
    pub fn into_return_value(self) -> Option<F::Output> {
        self.returned
    }

    /// Whether the body has started running.
    ///
    /// ```
    /// # use anysync::yield_;
    /// # #[anysync::generator(item = u8)]
    /// # async fn one() { yield_!(1); }
    /// let mut g = one();
    /// assert!(!g.is_started());
    /// g.resume().run();
    /// assert!(g.is_started());
    /// ```
    pub fn is_started(&self) -> bool {
        self.core.started()
    }

    /// Whether the body has returned (or panicked): every later resume gives `None`.
    ///
    /// ```
    /// # use anysync::yield_;
    /// # #[anysync::generator(item = u8)]
    /// # async fn one() { yield_!(1); }
    /// let mut g = one();
    /// while g.resume().run().is_some() {}
    /// assert!(g.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.core.finished()
    }

    fn poll_step(&mut self, cx: &mut Context<'_>, send: &mut Option<S>) -> Poll<Option<Y>> {
        self.core.poll_resume(cx, send).map(|step| match step? {
            Step::Yielded(item) => Some(item),
            Step::Complete(output) => {
                self.returned = Some(output);
                None
            }
        })
    }

    #[track_caller]
    fn resume_with(&mut self, send: Option<S>) -> Resume<'_, F, Y, S, M> {
        if send.is_some() && !self.core.finished() && !self.core.at_yield() {
            if self.core.started() {
                panic!(
                    "anysync: `send` on a generator whose last resume was dropped before the \
                     body reached a `yield_!`: no `yield_!` is waiting for the value. Finish \
                     that step with `resume()` first (Python raises RuntimeError here)"
                );
            }
            panic!(
                "anysync: `send` on a generator that has not started: no `yield_!` is waiting \
                 for the value. Start it with `resume()` first (Python raises TypeError here)"
            );
        }
        Resume {
            generator: self,
            send,
        }
    }
}

macro_rules! operations {
    ($mode:ty, $wrap:ident, [$($bounds:tt)*]) => {
        impl<F, Y, S> Generator<F, Y, S, $mode>
        where
            F: Future + $($bounds)*,
            F::Output: $($bounds)*,
            Y: $($bounds)*,
            S: $($bounds)*,
        {
            /// Resumes the body with no value: the pending `yield_!` evaluates to `None`.
            /// `.await` it in async code, `.run()` it in blocking code; `Some(item)` for the
            /// next yielded item, `None` once the body has returned.
            ///
            /// ```
            /// # use anysync::yield_;
            /// # #[anysync::generator(item = u8)]
            /// # async fn one() { yield_!(1); }
            /// let mut g = one();
            /// assert_eq!(g.resume().run(), Some(1));
            /// assert_eq!(g.resume().run(), None);
            /// ```
            pub fn resume(&mut self) -> Coroutine<Resume<'_, F, Y, S, $mode>, $mode> {
                Coroutine::$wrap(self.resume_with(None))
            }

            /// Resumes the body with `value`: the pending `yield_!` evaluates to
            /// `Some(value)`. Panics if the generator has not started (see the type docs).
            ///
            /// ```
            /// # use anysync::yield_;
            /// #[anysync::generator(item = String, send = String)]
            /// async fn echo() {
            ///     let mut reply = String::from("ready");
            ///     while let Some(heard) = yield_!(reply) {
            ///         reply = heard.to_uppercase();
            ///     }
            /// }
            ///
            /// let mut g = echo();
            /// assert_eq!(g.resume().run().as_deref(), Some("ready"));
            /// assert_eq!(g.send("hi".into()).run().as_deref(), Some("HI"));
            /// ```
            #[track_caller]
            pub fn send(&mut self, value: S) -> Coroutine<Resume<'_, F, Y, S, $mode>, $mode> {
                Coroutine::$wrap(self.resume_with(Some(value)))
            }
        }

        impl<F, Y, S> IntoIterator for Generator<F, Y, S, $mode>
        where
            F: Future + $($bounds)*,
            F::Output: $($bounds)*,
            Y: $($bounds)*,
            S: $($bounds)*,
        {
            type Item = Y;
            type IntoIter = GeneratorIter<Self>;

            fn into_iter(self) -> GeneratorIter<Self> {
                GeneratorIter(self)
            }
        }

        impl<'a, F, Y, S> IntoIterator for &'a mut Generator<F, Y, S, $mode>
        where
            F: Future + $($bounds)*,
            F::Output: $($bounds)*,
            Y: $($bounds)*,
            S: $($bounds)*,
        {
            type Item = Y;
            type IntoIter = GeneratorIter<Self>;

            fn into_iter(self) -> GeneratorIter<Self> {
                GeneratorIter(self)
            }
        }

        impl<F, Y, S> Iterator for GeneratorIter<Generator<F, Y, S, $mode>>
        where
            F: Future + $($bounds)*,
            F::Output: $($bounds)*,
            Y: $($bounds)*,
            S: $($bounds)*,
        {
            type Item = Y;

            #[track_caller]
            fn next(&mut self) -> Option<Y> {
                self.0.resume().run()
            }
        }

        impl<F, Y, S> Iterator for GeneratorIter<&mut Generator<F, Y, S, $mode>>
        where
            F: Future + $($bounds)*,
            F::Output: $($bounds)*,
            Y: $($bounds)*,
            S: $($bounds)*,
        {
            type Item = Y;

            #[track_caller]
            fn next(&mut self) -> Option<Y> {
                self.0.resume().run()
            }
        }
    };
}

operations!(Sendable, new, [Send]);
operations!(Local, local, []);

/// The future of [`Generator::resume`] and [`Generator::send`].
#[must_use = "futures do nothing unless you `.await` or `.run()` them"]
pub struct Resume<'a, F: Future, Y, S, M> {
    generator: &'a mut Generator<F, Y, S, M>,
    send: Option<S>,
}

impl<F: Future, Y, S, M> Unpin for Resume<'_, F, Y, S, M> {}

impl<F: Future, Y, S, M> Future for Resume<'_, F, Y, S, M> {
    type Output = Option<Y>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Y>> {
        let this = self.get_mut();
        this.generator.poll_step(cx, &mut this.send)
    }
}

impl<F: Future, Y, S, M> Stream for Generator<F, Y, S, M> {
    type Item = Y;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Y>> {
        self.get_mut().poll_step(cx, &mut None)
    }
}

impl<F: Future, Y, S, M> Unpin for Generator<F, Y, S, M> {}

impl<F: Future, Y, S, M> fmt::Debug for Generator<F, Y, S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("started", &self.core.started())
            .field("finished", &self.core.finished())
            .finish_non_exhaustive()
    }
}

/// The blocking iterator of a [`Generator`] (`for item in generator`), resuming with no value.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct GeneratorIter<G>(G);

impl<G> fmt::Debug for GeneratorIter<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratorIter").finish_non_exhaustive()
    }
}
