//! The caller's `tracing` context, carried to where lent work runs (feature `tracing`).
//!
//! A `tracing` span is thread-local state: entered around `.run()`, it is current inside the
//! future only where the future is polled on the caller's thread, during the call. Where the
//! work moves to another thread (a future lent to a background thread, an `unblock` or `Pool`
//! closure), [`Caller::capture`] takes the caller's current span and subscriber on the calling
//! thread and [`Caller::in_scope`] makes them current again around the work on the other
//! thread, as `Instrument` and `WithSubscriber` do for a future, and as Python's anysync
//! copies context variables into the thread it runs on. So events inside the work are
//! recorded by the caller's subscriber inside the caller's span, and a span created there
//! (`#[instrument]` on the coroutine) is a child of the caller's.
//!
//! Paths that poll in place carry nothing: the span is already current there (the stall
//! diagnosis still captures it when it arms a watch, to report inside it). Without the
//! feature, [`Caller`] is empty and both calls compile to nothing.

/// The caller's current span and subscriber.
#[cfg(feature = "tracing")]
pub(crate) struct Caller {
    dispatch: tracing::Dispatch,
    span: tracing::Span,
}

#[cfg(feature = "tracing")]
impl Caller {
    /// Takes the calling thread's current subscriber and span.
    pub(crate) fn capture() -> Self {
        Caller {
            dispatch: tracing::dispatcher::get_default(tracing::Dispatch::clone),
            span: tracing::Span::current(),
        }
    }

    /// Runs `f` with the captured subscriber as this thread's default and the captured span
    /// entered.
    pub(crate) fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        tracing::dispatcher::with_default(&self.dispatch, || self.span.in_scope(f))
    }

    /// The captured subscriber, unless there is none (then `tracing` would drop an event).
    pub(crate) fn subscriber(&self) -> Option<&tracing::Dispatch> {
        (!self.dispatch.is::<tracing::subscriber::NoSubscriber>()).then_some(&self.dispatch)
    }

    /// The captured span.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }
}

/// Nothing to carry without the `tracing` feature.
#[cfg(not(feature = "tracing"))]
pub(crate) struct Caller;

#[cfg(not(feature = "tracing"))]
impl Caller {
    #[inline(always)]
    pub(crate) fn capture() -> Self {
        Caller
    }

    #[inline(always)]
    pub(crate) fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        f()
    }
}
