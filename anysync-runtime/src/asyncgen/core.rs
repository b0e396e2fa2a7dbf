//! The machinery shared by iterators, generators and context managers: a body future that
//! hands values out through a typed slot.
//!
//! The macros rewrite `yield_!(v)` into `yielder.yield_(v).await`. That future stores `v` in
//! the slot and returns `Pending` once without scheduling a wake-up; the driver ([`Core`]),
//! which is the only thing that polls the body, sees the value in the slot and hands it to the
//! consumer. On the next resume it puts the sent value (if any) in the slot and polls the body
//! again, and the `yield_` future completes with it. The slot is typed by the item and sent
//! types and owned jointly by the driver and the yielder: no thread-local pointers, no
//! lifetime erasure.
//!
//! The slot lives in `raw::exchange`: one single-producer single-consumer cell each way,
//! whose ends are owned by the body's [`Yielder`] and by the [`Core`], so a hand-over costs a
//! plain load and store instead of a lock (and one allocation per body, not per item).

use crate::raw::exchange::{self, BodyEnd, DriverEnd};
use std::future::Future;
use std::mem;
use std::panic::UnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The body's handle for yielding: `yield_!(v)` becomes `yielder.yield_(v).await`.
///
/// Only generated code names this type (`::anysync::__private`): the yielder the macros
/// create has a hygienic name, so a macro body cannot reach it except through `yield_!`. A
/// body written by hand against the hidden constructors can do anything with it, and nothing
/// here relies on it not to. Yielding takes `&mut self`, so a body has at most one `yield_!`
/// in flight.
pub struct Yielder<Y, S = ()> {
    end: BodyEnd<Y, S>,
    /// For context managers: how the caller's block ended, once it has.
    exit: Exit,
}

impl<Y, S> Yielder<Y, S> {
    /// Hands `value` to the consumer; completes with what the consumer sends back.
    pub fn yield_(&mut self, value: Y) -> YieldNow<'_, Y, S> {
        YieldNow {
            yielder: self,
            value: Some(value),
        }
    }

    /// Leaves `value` for the driver, which takes it as soon as the body's poll returns
    /// `Pending`: what a body written as a plain `Future` does in place of
    /// `yield_(value).await` (`asyncgen/stream.rs`). Such a body must return `Pending` right
    /// after offering, and offer at most once per poll.
    #[inline]
    pub(crate) fn offer(&mut self, value: Y) {
        if let Err(value) = self.end.put(value) {
            // The driver takes the item after every poll that left one, so the slot is empty
            // at the next poll: only a body that offers twice in one poll gets here.
            drop(value);
            unreachable!("anysync: a body offered a second item in one poll");
        }
    }
}

/// How a context manager's block ended, as its body sees it after `yield_!`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// The block finished normally (also: an early `return` or `?` in the caller).
    Normal,
    /// The block is unwinding from a panic.
    Panicked,
}

impl Exit {
    /// Whether the block panicked.
    ///
    /// ```
    /// assert!(anysync::Exit::Panicked.is_panicked());
    /// assert!(!anysync::Exit::Normal.is_panicked());
    /// ```
    pub fn is_panicked(self) -> bool {
        self == Exit::Panicked
    }
}

/// What a context manager's caller hands back at exit: the value it was lent, and how the
/// block ended.
pub type Handback<T> = (T, Exit);

impl<T> Yielder<T, Handback<T>> {
    /// A context manager's `yield_!(value)`: lends `value` to the caller's block and completes
    /// with it again when the block ends. [`exit_status`](Self::exit_status) then tells how.
    pub fn hand_over(&mut self, value: T) -> HandOver<'_, T> {
        HandOver {
            inner: self.yield_(value),
        }
    }

    /// How the caller's block ended: [`Exit::Normal`] until the block has ended.
    pub fn exit_status(&self) -> Exit {
        self.exit
    }
}

/// The future of [`Yielder::hand_over`].
#[must_use = "`hand_over` does nothing unless awaited"]
pub struct HandOver<'a, T> {
    inner: YieldNow<'a, T, Handback<T>>,
}

impl<T> Future for HandOver<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some((value, exit))) => {
                self.inner.yielder.exit = exit;
                Poll::Ready(value)
            }
            // The context driver hands the value back at teardown; only a second `setup` on an
            // entered context resumes it bare.
            Poll::Ready(None) => {
                panic!("anysync: a context body was resumed without its value: `setup` ran twice")
            }
        }
    }
}

/// The future of [`Yielder::yield_`].
#[must_use = "`yield_` does nothing unless awaited"]
pub struct YieldNow<'a, Y, S> {
    yielder: &'a mut Yielder<Y, S>,
    value: Option<Y>,
}

impl<Y, S> Unpin for YieldNow<'_, Y, S> {}
// A panic cannot leave the yielder half-updated: it only holds an exchange end and a `Copy`
// status. (Without this, `&mut` would make every body, and so every iterator, unwind-unsafe.)
impl<Y: UnwindSafe, S> UnwindSafe for YieldNow<'_, Y, S> {}

impl<Y, S> Future for YieldNow<'_, Y, S> {
    type Output = Option<S>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<S>> {
        let this = &mut *self;
        let end = &mut this.yielder.end;
        match this.value.take() {
            // First poll: leave the value for the driver. No wake-up is scheduled: the driver
            // returns the value to its consumer and polls the body again on the next request.
            Some(value) => {
                // A value sent to an earlier `yield_` future that was dropped unfinished (only
                // a hand-written body can do that) is not this one's to receive.
                drop(end.receive());
                match end.put(value) {
                    Ok(()) => Poll::Pending,
                    // Likewise: only a hand-written body that dropped a `yield_` future before
                    // the driver took its item gets here (generated code awaits each in place).
                    Err(item) => {
                        drop(item);
                        panic!(
                            "anysync: a value was yielded while the previous one was still \
                             waiting for the consumer (a `yield_` future was dropped unfinished)"
                        )
                    }
                }
            }
            // Polled again before the driver took the item (a combinator inside the body
            // re-polled it): still suspended.
            None if end.is_pending() => Poll::Pending,
            // Resumed: take what the driver sent, if anything (never, for an iterator).
            None => Poll::Ready(end.receive()),
        }
    }
}

/// What one resume of the body produced.
pub(crate) enum Step<Y, R> {
    Yielded(Y),
    Complete(R),
}

/// Drives a body future: resumes it, collects what it yields, and remembers when it is done.
pub(crate) struct Core<F, Y, S> {
    /// Owns the body (dropped once it completed or panicked: the core is then fused) and the
    /// core's state, in one allocation; the core itself is one pointer.
    end: DriverEnd<Y, S, Driver, F>,
}

/// What the core keeps beside the body.
struct Driver {
    state: State,
    /// What the body is called in messages (a context's function name).
    name: &'static str,
}

/// Where a body that has not finished is suspended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not polled yet.
    Fresh,
    /// At a `yield_!`: it can receive a sent value.
    AtYield,
    /// At another `.await` (it will wake its waker), or after a resume that was cancelled
    /// there.
    Awaiting,
}

impl<F: Future, Y, S> Core<F, Y, S> {
    /// Creates the body lazily: `make` only builds the future; nothing in it runs yet.
    pub(crate) fn new(name: &'static str, make: impl FnOnce(Yielder<Y, S>) -> F) -> Self {
        let driver = Driver {
            state: State::Fresh,
            name,
        };
        let end = exchange::new(driver, |end| {
            make(Yielder {
                end,
                exit: Exit::Normal,
            })
        });
        Core { end }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.end.data().name
    }

    fn state(&self) -> State {
        self.end.data().state
    }

    fn set_state(&mut self, state: State) {
        self.end.data_mut().state = state;
    }

    pub(crate) fn started(&self) -> bool {
        self.state() != State::Fresh || self.finished()
    }

    pub(crate) fn finished(&self) -> bool {
        !self.end.has_body()
    }

    /// Whether the body is suspended at a `yield_!`, so that it can receive a sent value.
    pub(crate) fn at_yield(&self) -> bool {
        self.state() == State::AtYield && !self.finished()
    }

    /// Resumes the body until it yields or completes; `send` is delivered on the first poll
    /// as the result of the `yield_!` the body is suspended at. `None` once finished.
    // Inlined into each `poll`/`poll_next`: a call here measured 1.1-1.17x async-stream per
    // item, inlined 1.00x (benches/iter.rs).
    #[inline]
    pub(crate) fn poll_resume(
        &mut self,
        cx: &mut Context<'_>,
        send: &mut Option<S>,
    ) -> Poll<Option<Step<Y, F::Output>>> {
        if self.finished() {
            // Fused: a value sent now has nobody to receive it.
            *send = None;
            return Poll::Ready(None);
        }
        if let Some(value) = send.take() {
            assert!(
                self.at_yield(),
                "anysync: a value sent to a body that is not waiting at a `yield_!`"
            );
            if self.end.send(value).is_err() {
                // The `yield_!` the body is suspended at receives the last value as soon as it
                // is polled, which is the first thing each resume does. Only a yielder used
                // outside its body's polls (moved to another thread through the hidden
                // constructors) can yield again without receiving it.
                panic!(
                    "anysync: a value was sent to a generator body that never received the \
                     previous one: its `Yielder` is used outside the body's own polls (moved to \
                     another thread or task?). Use a yielder only inside the body it was made \
                     for, through `yield_!`"
                );
            }
        }
        // If the body panics, the guard drops it during unwinding, which runs its cleanup
        // then, and leaves the core finished instead of polling a panicked future again.
        let fuse = Fuse(&mut self.end);
        let Some(body) = fuse.0.body() else {
            unreachable!("anysync: a finished body was polled");
        };
        let poll = body.poll(cx);
        mem::forget(fuse);
        match poll {
            Poll::Ready(output) => {
                self.end.drop_body();
                Poll::Ready(Some(Step::Complete(output)))
            }
            Poll::Pending => match self.end.take() {
                Some(item) => {
                    self.set_state(State::AtYield);
                    Poll::Ready(Some(Step::Yielded(item)))
                }
                // Suspended at an `.await` other than `yield_!`: it will wake us.
                None => {
                    self.set_state(State::Awaiting);
                    Poll::Pending
                }
            },
        }
    }
}

/// Drops the body it guards, unless forgotten: armed only while the body is polled.
struct Fuse<'a, Y, S, D, F>(&'a mut DriverEnd<Y, S, D, F>);

impl<Y, S, D, F> Drop for Fuse<'_, Y, S, D, F> {
    fn drop(&mut self) {
        self.0.drop_body();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::panic::{self, AssertUnwindSafe};
    use std::task::Waker;

    /// Regression test: a yielder used outside its body's polls (a hand-written body that
    /// moved it to another thread) can yield again before it received the last sent value;
    /// the driver's next send hit an `unreachable!`. This plays that interleaving on one
    /// thread: the body puts an item on every poll and never receives.
    #[test]
    fn a_yielder_that_skips_its_sent_value_gets_a_panic_with_advice() {
        let mut core = Core::new("racy", |mut yielder: Yielder<u32, u32>| {
            poll_fn(move |_| {
                // What another thread's `yield_` may do between two resumes.
                let _ = yielder.end.put(7);
                Poll::<()>::Pending
            })
        });
        let mut cx = Context::from_waker(Waker::noop());
        let mut resume = |send: Option<u32>| {
            let mut send = send;
            matches!(
                core.poll_resume(&mut cx, &mut send),
                Poll::Ready(Some(Step::Yielded(7)))
            )
        };
        assert!(resume(None));
        assert!(resume(Some(1)), "the 1 waits in the slot, never received");
        let payload = panic::catch_unwind(AssertUnwindSafe(|| resume(Some(2))))
            .expect_err("a second send cannot be delivered");
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(message.contains("`Yielder` is used outside"), "{message}");
        assert!(message.contains("`yield_!`"), "{message}");
    }
}
