//! Deadlines for blocking runs.

use crate::global;
use pin_project_lite::pin_project;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The error of a `run_timeout` whose future did not finish in time.
///
/// The future has been dropped by the time you see this.
///
/// ```
/// use std::time::Duration;
///
/// let err = anysync::Coroutine::new(std::future::pending::<()>())
///     .run_timeout(Duration::from_millis(5))
///     .unwrap_err();
/// assert_eq!(err.timeout(), Duration::from_millis(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    timeout: Duration,
}

impl Elapsed {
    /// The deadline that passed.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let err = anysync::Coroutine::new(std::future::pending::<()>())
    /// #     .run_timeout(Duration::from_millis(1)).unwrap_err();
    /// println!("gave up after {:?}", err.timeout());
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "future did not complete within {:?}", self.timeout)
    }
}

impl Error for Elapsed {}

pin_project! {
    /// `future`, or `Err(Elapsed)` once the global runtime's timer fires.
    pub(crate) struct Timeout<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: Sleep,
        timeout: Duration,
    }
}

impl<F: Future> Timeout<F> {
    pub(crate) fn new(future: F, timeout: Duration) -> Self {
        // The timer belongs to the global runtime, whose worker always drives it: the caller's
        // runtime (if any) may have no timer, or may be the one `.run()` is about to block.
        let _enter = global::handle().enter();
        let sleep = tokio::time::sleep(timeout);
        Timeout {
            future,
            sleep,
            timeout,
        }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed {
                timeout: *this.timeout,
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}
