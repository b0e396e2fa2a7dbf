//! Task and timer utilities, shaped like tokio's and tower's: combinators over any `Future`
//! returning its `F::Output`, a `Service<R>` driven to its associated `Response`, channel
//! helpers generic over the message, an interval ticked through `Pin<&mut Self>`, a rate
//! limiter handing out permits through `self: Arc<Self>`, observers behind `&dyn Trait`.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinError;
use tokio::time::{Instant, Sleep};

/// The deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

/// `future`'s output, or [`Elapsed`] if it takes longer than `duration`.
#[anysync::coroutine]
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    tokio::time::timeout(duration, future)
        .await
        .map_err(|_| Elapsed)
}

/// Polls every future concurrently; their outputs in the order given.
#[anysync::coroutine]
pub async fn join_all<I>(futures: I) -> Vec<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future,
{
    let mut pending: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<<I::Item as Future>::Output>> =
        pending.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

/// Calls `op` (with the attempt number, from 1) until it succeeds or `attempts` are used up,
/// sleeping a millisecond between attempts.
#[anysync::coroutine]
pub async fn retry<T, E, F, Fut>(mut op: F, attempts: u32) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Err(_) if attempt < attempts => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            result => return result,
        }
    }
}

/// `value`, after `duration`.
#[anysync::coroutine]
pub async fn sleep_then<T>(duration: Duration, value: T) -> T {
    tokio::time::sleep(duration).await;
    value
}

/// Sleeps for both durations at once; returns the longer.
#[anysync::coroutine]
pub async fn sleep_both((first, second): (Duration, Duration)) -> Duration {
    let (a, b) = (tokio::time::sleep(first), tokio::time::sleep(second));
    let mut pair = (Box::pin(a), Box::pin(b));
    poll_fn(|cx| {
        let a = pair.0.as_mut().poll(cx).is_ready();
        let b = pair.1.as_mut().poll(cx).is_ready();
        if a && b {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    first.max(second)
}

/// A request handler (tower's `Service`).
pub trait Service<Request> {
    /// The response.
    type Response;
    /// What can go wrong.
    type Error;

    /// Waits until the service can take a request.
    fn ready(&mut self) -> impl Future<Output = Result<(), Self::Error>>;

    /// Handles a request.
    fn call(
        &mut self,
        request: Request,
    ) -> impl Future<Output = Result<Self::Response, Self::Error>>;
}

/// Waits for `service` to be ready and sends it one request (tower's `ServiceExt::oneshot`).
#[anysync::coroutine]
pub async fn oneshot<S, R>(mut service: S, request: R) -> Result<S::Response, S::Error>
where
    S: Service<R>,
{
    service.ready().await?;
    service.call(request).await
}

/// Spawns `future` on the current runtime and waits for it.
#[anysync::coroutine]
pub async fn spawn_and_wait<F>(future: F) -> Result<F::Output, JoinError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future).await
}

/// Yields to the scheduler `times` times; returns `times`.
#[anysync::coroutine]
pub async fn yield_many(times: u32) -> u32 {
    for _ in 0..times {
        tokio::task::yield_now().await;
    }
    times
}

/// Receives up to `limit` messages, fewer if the channel closes first.
#[anysync::coroutine]
pub async fn recv_many<T>(rx: &mut mpsc::Receiver<T>, limit: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(limit);
    while out.len() < limit {
        match rx.recv().await {
            Some(message) => out.push(message),
            None => break,
        }
    }
    out
}

/// Forwards messages from `rx` to `tx` until either closes; returns how many.
#[anysync::coroutine]
pub async fn forward<T: Send>(rx: &mut mpsc::Receiver<T>, tx: &mpsc::Sender<T>) -> usize {
    let mut forwarded = 0;
    while let Some(message) = rx.recv().await {
        if tx.send(message).await.is_err() {
            break;
        }
        forwarded += 1;
    }
    forwarded
}

/// Waits until the watched value satisfies `predicate`; `None` if the sender is gone first.
#[anysync::coroutine]
pub async fn wait_for<T, F>(rx: &mut watch::Receiver<T>, mut predicate: F) -> Option<T>
where
    T: Clone,
    F: FnMut(&T) -> bool,
{
    rx.wait_for(|value| predicate(value))
        .await
        .ok()
        .map(|value| value.clone())
}

/// Ticks every `period`, the first tick after one period.
#[derive(Debug)]
pub struct Interval {
    sleep: Pin<Box<Sleep>>,
    period: Duration,
    ticks: u64,
}

/// An [`Interval`]; made in async code, since its timer belongs to the runtime that polls it.
#[anysync::coroutine]
pub async fn interval(period: Duration) -> Interval {
    tokio::task::yield_now().await;
    Interval {
        sleep: Box::pin(tokio::time::sleep(period)),
        period,
        ticks: 0,
    }
}

#[anysync::coroutine]
impl Interval {
    /// Waits for the next tick; returns how many ticks there have been.
    pub async fn tick(self: Pin<&mut Self>) -> u64 {
        let this = self.get_mut();
        this.sleep.as_mut().await;
        let next = this.sleep.deadline() + this.period;
        this.sleep.as_mut().reset(next.max(Instant::now()));
        this.ticks += 1;
        this.ticks
    }
}

/// Hands out at most a fixed number of permits at a time.
#[derive(Debug)]
pub struct Limiter {
    permits: Semaphore,
    granted: AtomicU64,
}

impl Limiter {
    /// A limiter with `permits` permits.
    pub fn new(permits: usize) -> Arc<Limiter> {
        Arc::new(Limiter {
            permits: Semaphore::new(permits),
            granted: AtomicU64::new(0),
        })
    }

    /// How many permits were ever granted.
    pub fn granted(&self) -> u64 {
        self.granted.load(Ordering::Relaxed)
    }
}

/// Permits borrowed from a [`Limiter`], given back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
    count: u32,
}

impl Permit<'_> {
    /// How many permits this holds.
    pub fn count(&self) -> u32 {
        self.count
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.permits.add_permits(self.count as usize);
    }
}

/// A permit that keeps its [`Limiter`] alive, given back when dropped.
#[derive(Debug)]
pub struct OwnedPermit {
    limiter: Arc<Limiter>,
}

impl OwnedPermit {
    /// The limiter it came from.
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.limiter.permits.add_permits(1);
    }
}

#[anysync::coroutine]
impl Limiter {
    /// Waits for one permit, keeping the limiter alive through the `Arc`.
    pub async fn acquire_owned(self: Arc<Self>) -> OwnedPermit {
        self.permits
            .acquire()
            .await
            .expect("the semaphore is never closed")
            .forget();
        self.granted.fetch_add(1, Ordering::Relaxed);
        OwnedPermit { limiter: self }
    }

    /// Waits for `count` permits at once.
    pub async fn acquire_many(&self, count: u32) -> Permit<'_> {
        self.permits
            .acquire_many(count)
            .await
            .expect("the semaphore is never closed")
            .forget();
        self.granted.fetch_add(u64::from(count), Ordering::Relaxed);
        Permit {
            limiter: self,
            count,
        }
    }
}

/// Receives events.
pub trait Observer: Send + Sync {
    /// Handles `event`; whether it was of interest.
    fn observe(&self, event: &str) -> bool;
}

/// Tells every observer about `event`, yielding between them; returns how many cared.
#[anysync::coroutine]
pub async fn notify_all(observers: &[&dyn Observer], event: &str) -> usize {
    let mut interested = 0;
    for observer in observers {
        tokio::task::yield_now().await;
        interested += usize::from(observer.observe(event));
    }
    interested
}

/// Tells one observer (possibly a `dyn Observer`) about every event; returns how many it
/// cared about.
#[anysync::coroutine]
pub async fn notify_each<O: Observer + ?Sized>(observer: &O, events: &[&str]) -> usize {
    let mut interested = 0;
    for event in events {
        tokio::task::yield_now().await;
        interested += usize::from(observer.observe(event));
    }
    interested
}
