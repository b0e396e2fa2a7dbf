//! Deadlines for blocking runs.

use crate::global;
use pin_project_lite::pin_project;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
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
        // Made at the first poll, not in `new`: making a timer enters a runtime, which the
        // calling thread may not be able to (a thread-local destructor after tokio's own), and
        // the first poll happens where anysync drives the future.
        #[pin]
        sleep: Option<Sleep>,
        // `None`: so far away that it never comes (what `Instant + Duration` overflows to).
        deadline: Option<Instant>,
        timeout: Duration,
    }
}

impl<F: Future> Timeout<F> {
    pub(crate) fn new(future: F, timeout: Duration) -> Self {
        Timeout {
            future,
            sleep: None,
            deadline: Instant::now().checked_add(timeout),
            timeout,
        }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let Some(deadline) = *this.deadline else {
            return Poll::Pending;
        };
        if this.sleep.is_none() {
            // The timer belongs to the global runtime, whose worker always drives it: the
            // caller's runtime (if any) may have no timer, or may be the one `.run()` blocks.
            let _enter = global::handle().enter();
            this.sleep
                .set(Some(tokio::time::sleep_until(deadline.into())));
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(Elapsed {
                timeout: *this.timeout,
            })),
            _ => Poll::Pending,
        }
    }
}
