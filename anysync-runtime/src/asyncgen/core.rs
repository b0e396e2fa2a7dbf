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
//! The cost that remains per value is what safe code needs to share a typed slot: one
//! allocation for the slot (next to the boxed body) and a lock on each side of each hand-over.
//! Two flags, read and written only by the thread that is polling, let either side skip the
//! lock when there is nothing for it: a resume without a sent value (every iterator step) and
//! a poll that ended at an `.await` other than `yield_!`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

/// The body's handle for yielding: `yield_!(v)` becomes `yielder.yield_(v).await`.
///
/// Only generated code names this type (`::anysync::__private`); user code cannot reach the
/// yielder the macros create, because its identifier is hygienic.
pub struct Yielder<Y, S = ()> {
    shared: Arc<Shared<Y, S>>,
}

/// What the driver and the body share.
struct Shared<Y, S> {
    slot: Mutex<Slot<Y, S>>,
    /// Whether `slot.yielded` holds a value the driver has not taken.
    yielded: AtomicBool,
    /// Whether `slot.sent` holds a value the body has not taken.
    sent: AtomicBool,
    /// For context managers: whether the caller's block ended by panic.
    panicked: AtomicBool,
}

struct Slot<Y, S> {
    yielded: Option<Y>,
    sent: Option<S>,
}

impl<Y, S> Shared<Y, S> {
    fn lock(&self) -> MutexGuard<'_, Slot<Y, S>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<Y, S> Yielder<Y, S> {
    /// Hands `value` to the consumer; completes with what the consumer sends back.
    pub fn yield_(&self, value: Y) -> YieldNow<'_, Y, S> {
        YieldNow {
            yielder: self,
            value: Some(value),
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
    pub fn hand_over(&self, value: T) -> HandOver<'_, T> {
        HandOver {
            inner: self.yield_(value),
        }
    }

    /// How the caller's block ended: [`Exit::Normal`] until the block has ended.
    pub fn exit_status(&self) -> Exit {
        if self.shared.panicked.load(Ordering::Acquire) {
            Exit::Panicked
        } else {
            Exit::Normal
        }
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
                let panicked = exit == Exit::Panicked;
                self.inner
                    .yielder
                    .shared
                    .panicked
                    .store(panicked, Ordering::Release);
                Poll::Ready(value)
            }
            // The context driver always hands the value back; a bare resume is a bug there.
            Poll::Ready(None) => unreachable!("anysync: a context body resumed without its value"),
        }
    }
}

/// The future of [`Yielder::yield_`].
#[must_use = "`yield_` does nothing unless awaited"]
pub struct YieldNow<'a, Y, S> {
    yielder: &'a Yielder<Y, S>,
    value: Option<Y>,
}

impl<Y, S> Unpin for YieldNow<'_, Y, S> {}

impl<Y, S> Future for YieldNow<'_, Y, S> {
    type Output = Option<S>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<S>> {
        let shared = &*self.yielder.shared;
        match self.value.take() {
            // First poll: leave the value for the driver. No wake-up is scheduled: the driver
            // returns the value to its consumer and polls the body again on the next request.
            Some(value) => {
                shared.lock().yielded = Some(value);
                shared.yielded.store(true, Ordering::Release);
                Poll::Pending
            }
            // Resumed: take what the driver sent, if anything (never, for an iterator).
            None if shared.sent.load(Ordering::Acquire) => {
                shared.sent.store(false, Ordering::Relaxed);
                Poll::Ready(shared.lock().sent.take())
            }
            None => Poll::Ready(None),
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
    /// `None` once the body completed or panicked: the core is then fused.
    body: Option<Pin<Box<F>>>,
    shared: Arc<Shared<Y, S>>,
    started: bool,
}

impl<F: Future, Y, S> Core<F, Y, S> {
    /// Creates the body lazily: `make` only builds the future; nothing in it runs yet.
    pub(crate) fn new(make: impl FnOnce(Yielder<Y, S>) -> F) -> Self {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot {
                yielded: None,
                sent: None,
            }),
            yielded: AtomicBool::new(false),
            sent: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
        });
        let body = make(Yielder {
            shared: Arc::clone(&shared),
        });
        Core {
            body: Some(Box::pin(body)),
            shared,
            started: false,
        }
    }

    pub(crate) fn started(&self) -> bool {
        self.started
    }

    pub(crate) fn finished(&self) -> bool {
        self.body.is_none()
    }

    /// Resumes the body until it yields or completes; `send` is delivered on the first poll
    /// as the result of the `yield_!` the body is suspended at. `None` once finished.
    pub(crate) fn poll_resume(
        &mut self,
        cx: &mut Context<'_>,
        send: &mut Option<S>,
    ) -> Poll<Option<Step<Y, F::Output>>> {
        // Taken out while polling: if the body panics, it is dropped during unwinding and the
        // core stays finished instead of polling a panicked future again.
        let Some(mut body) = self.body.take() else {
            return Poll::Ready(None);
        };
        self.started = true;
        let shared = &*self.shared;
        if let Some(value) = send.take() {
            shared.lock().sent = Some(value);
            shared.sent.store(true, Ordering::Release);
        }
        match body.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(Step::Complete(output))),
            // Suspended at an `.await` other than `yield_!`: it will wake us.
            Poll::Pending if !shared.yielded.load(Ordering::Acquire) => {
                self.body = Some(body);
                Poll::Pending
            }
            Poll::Pending => {
                shared.yielded.store(false, Ordering::Relaxed);
                let yielded = shared.lock().yielded.take();
                self.body = Some(body);
                match yielded {
                    Some(item) => Poll::Ready(Some(Step::Yielded(item))),
                    None => unreachable!("anysync: a yield flagged without its value"),
                }
            }
        }
    }
}
