//! A managed object pool, shaped like deadpool 0.12's `managed` module: a generic
//! `Pool<M: Manager>` whose objects and errors are the manager's associated types
//! (`Object<M>`, `PoolError<M::Error>`), with wait/create/recycle timeouts.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Creates and recycles the pool's objects.
pub trait Manager: Sync + Send {
    /// The objects.
    type Type: Send;
    /// The errors creating or recycling them.
    type Error: Send;

    /// Creates a new object.
    fn create(&self) -> impl Future<Output = Result<Self::Type, Self::Error>> + Send;

    /// Checks an object before it is handed out again.
    fn recycle(
        &self,
        obj: &mut Self::Type,
        metrics: &Metrics,
    ) -> impl Future<Output = RecycleResult<Self::Error>> + Send;
}

/// What recycling returns.
pub type RecycleResult<E> = Result<(), RecycleError<E>>;

/// Why an object could not be recycled (it is dropped, and another one created).
#[derive(Debug)]
pub enum RecycleError<E> {
    /// A message.
    Message(String),
    /// The backend's error.
    Backend(E),
}

/// Statistics of one object.
#[derive(Clone, Copy, Debug, Default)]
pub struct Metrics {
    /// How many times it was recycled.
    pub recycle_count: usize,
}

/// Which timeout struck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutType {
    /// Waiting for a free slot.
    Wait,
    /// Creating an object.
    Create,
    /// Recycling an object.
    Recycle,
}

/// Why `get` failed.
#[derive(Debug)]
pub enum PoolError<E> {
    /// A timeout struck.
    Timeout(TimeoutType),
    /// The manager failed to create an object.
    Backend(E),
    /// The pool was closed.
    Closed,
}

impl<E: fmt::Debug> fmt::Display for PoolError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The timeouts of `get`; `None` waits for ever.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    /// For a free slot.
    pub wait: Option<Duration>,
    /// For creating an object.
    pub create: Option<Duration>,
    /// For recycling an object.
    pub recycle: Option<Duration>,
}

/// The pool's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The most objects it holds.
    pub max_size: usize,
    /// Objects that exist.
    pub size: usize,
    /// Objects idle in the pool.
    pub available: usize,
}

struct ObjectInner<M: Manager> {
    obj: M::Type,
    metrics: Metrics,
}

struct PoolInner<M: Manager> {
    manager: M,
    idle: Mutex<VecDeque<ObjectInner<M>>>,
    size: Mutex<usize>,
    permits: Semaphore,
    max_size: usize,
    timeouts: Timeouts,
}

impl<M: Manager> PoolInner<M> {
    fn give_back(&self, inner: ObjectInner<M>) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(inner);
        self.permits.add_permits(1);
    }

    fn forget_one(&self) {
        *self.size.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    }
}

/// A generic pool of the objects `M` manages.
pub struct Pool<M: Manager> {
    inner: Arc<PoolInner<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.status())
            .finish()
    }
}

/// An object checked out of a [`Pool`]; it goes back when dropped.
pub struct Object<M: Manager> {
    inner: Option<ObjectInner<M>>,
    pool: Weak<PoolInner<M>>,
}

impl<M: Manager> Object<M> {
    /// How many times this object was recycled.
    pub fn metrics(this: &Self) -> Metrics {
        this.inner.as_ref().map(|i| i.metrics).unwrap_or_default()
    }
}

impl<M: Manager> fmt::Debug for Object<M>
where
    M::Type: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Object").field(&**self).finish()
    }
}

impl<M: Manager> Deref for Object<M> {
    type Target = M::Type;

    fn deref(&self) -> &M::Type {
        &self
            .inner
            .as_ref()
            .expect("object present until dropped")
            .obj
    }
}

impl<M: Manager> DerefMut for Object<M> {
    fn deref_mut(&mut self) -> &mut M::Type {
        &mut self
            .inner
            .as_mut()
            .expect("object present until dropped")
            .obj
    }
}

impl<M: Manager> Drop for Object<M> {
    fn drop(&mut self) {
        if let (Some(inner), Some(pool)) = (self.inner.take(), self.pool.upgrade()) {
            pool.give_back(inner);
        }
    }
}

/// Gives a slot back unless defused: `get` keeps the slot only when it returns an object.
struct SlotGuard<'a, M: Manager> {
    pool: &'a PoolInner<M>,
    armed: bool,
}

impl<M: Manager> Drop for SlotGuard<'_, M> {
    fn drop(&mut self) {
        if self.armed {
            self.pool.permits.add_permits(1);
        }
    }
}

/// `future` within `limit`, if any; a timeout is reported as `kind`.
#[allow(
    clippy::manual_async_fn,
    reason = "a private helper, not part of the corpus: the corpus is the public async API"
)]
fn within<T, E>(
    kind: TimeoutType,
    limit: Option<Duration>,
    future: impl Future<Output = Result<T, PoolError<E>>>,
) -> impl Future<Output = Result<T, PoolError<E>>> {
    async move {
        match limit {
            Some(limit) => tokio::time::timeout(limit, future)
                .await
                .unwrap_or(Err(PoolError::Timeout(kind))),
            None => future.await,
        }
    }
}

impl<M: Manager> Pool<M> {
    /// A pool of at most `max_size` objects that `manager` creates, with `timeouts` for `get`.
    pub fn new(manager: M, max_size: usize, timeouts: Timeouts) -> Self {
        Pool {
            inner: Arc::new(PoolInner {
                manager,
                idle: Mutex::new(VecDeque::new()),
                size: Mutex::new(0),
                permits: Semaphore::new(max_size),
                max_size,
                timeouts,
            }),
        }
    }

    /// The pool's counters.
    pub fn status(&self) -> Status {
        Status {
            max_size: self.inner.max_size,
            size: *self.inner.size.lock().unwrap_or_else(|e| e.into_inner()),
            available: self
                .inner
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len(),
        }
    }

    /// Closes the pool: waiting and later `get`s fail with [`PoolError::Closed`].
    pub fn close(&self) {
        self.inner.permits.close();
    }
}

#[anysync::coroutine]
impl<M: Manager> Pool<M> {
    /// Checks out an object with the pool's timeouts: an idle one, recycled, or a new one.
    pub async fn get(&self) -> Result<Object<M>, PoolError<M::Error>> {
        self.timeout_get(&self.inner.timeouts).await
    }

    /// Checks out an object with the given timeouts.
    pub async fn timeout_get(&self, timeouts: &Timeouts) -> Result<Object<M>, PoolError<M::Error>> {
        let inner = &*self.inner;
        let permit = within(TimeoutType::Wait, timeouts.wait, async {
            inner.permits.acquire().await.map_err(|_| PoolError::Closed)
        })
        .await?;
        permit.forget();
        let mut slot = SlotGuard {
            pool: inner,
            armed: true,
        };
        loop {
            let idle = inner
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            let object = match idle {
                Some(mut object) => {
                    object.metrics.recycle_count += 1;
                    let recycled = within(TimeoutType::Recycle, timeouts.recycle, async {
                        let recycle = inner.manager.recycle(&mut object.obj, &object.metrics);
                        Ok(recycle.await.is_ok())
                    })
                    .await?;
                    if !recycled {
                        inner.forget_one();
                        continue;
                    }
                    object
                }
                None => {
                    *inner.size.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                    let created = within(TimeoutType::Create, timeouts.create, async {
                        inner.manager.create().await.map_err(PoolError::Backend)
                    })
                    .await;
                    match created {
                        Ok(obj) => ObjectInner {
                            obj,
                            metrics: Metrics::default(),
                        },
                        Err(e) => {
                            inner.forget_one();
                            return Err(e);
                        }
                    }
                }
            };
            slot.armed = false;
            return Ok(Object {
                inner: Some(object),
                pool: Arc::downgrade(&self.inner),
            });
        }
    }
}
