//! An unmanaged object pool, shaped like deadpool 0.12's `unmanaged` module: `Pool<T>` for
//! any `T` (no `Send` bound: its futures are `Send` exactly when `T` is), filled by `add` and
//! emptied by `remove`.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Why a pool operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The timeout struck before an object (or room for one) was free.
    Timeout,
    /// The pool was closed.
    Closed,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

struct Inner<T> {
    objects: Mutex<Vec<T>>,
    /// One permit per object idle in `objects`.
    available: Semaphore,
    /// One permit per object the pool still has room for.
    room: Semaphore,
    timeout: Option<Duration>,
}

impl<T> Inner<T> {
    fn push(&self, obj: T) {
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(obj);
        self.available.add_permits(1);
    }

    fn pop(&self) -> T {
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .expect("a permit of `available` stands for an idle object")
    }
}

/// A pool of objects the caller creates.
pub struct Pool<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("available", &self.inner.available.available_permits())
            .finish()
    }
}

/// An object checked out of a [`Pool`]; it goes back when dropped.
pub struct Object<T> {
    obj: Option<T>,
    pool: Weak<Inner<T>>,
}

impl<T: fmt::Debug> fmt::Debug for Object<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Object").field(&self.obj).finish()
    }
}

impl<T> Object<T> {
    /// Takes the object out of the pool for good.
    pub fn take(mut this: Self) -> T {
        let obj = this.obj.take().expect("object present until dropped");
        if let Some(pool) = this.pool.upgrade() {
            pool.room.add_permits(1);
        }
        obj
    }
}

impl<T> Deref for Object<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.obj.as_ref().expect("object present until dropped")
    }
}

impl<T> DerefMut for Object<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.obj.as_mut().expect("object present until dropped")
    }
}

impl<T> Drop for Object<T> {
    fn drop(&mut self) {
        if let (Some(obj), Some(pool)) = (self.obj.take(), self.pool.upgrade()) {
            pool.push(obj);
        }
    }
}

impl<T> Pool<T> {
    /// An empty pool with room for `max_size` objects; `get` waits up to `timeout`.
    pub fn new(max_size: usize, timeout: Option<Duration>) -> Self {
        Pool {
            inner: Arc::new(Inner {
                objects: Mutex::new(Vec::with_capacity(max_size)),
                available: Semaphore::new(0),
                room: Semaphore::new(max_size),
                timeout,
            }),
        }
    }

    /// Idle objects.
    pub fn available(&self) -> usize {
        self.inner.available.available_permits()
    }

    /// Closes the pool: waiting and later calls fail with [`PoolError::Closed`].
    pub fn close(&self) {
        self.inner.available.close();
        self.inner.room.close();
    }
}

#[anysync::coroutine]
impl<T> Pool<T> {
    /// Checks out an object, waiting up to the pool's timeout for one to be free.
    pub async fn get(&self) -> Result<Object<T>, PoolError> {
        self.timeout_get(self.inner.timeout).await
    }

    /// Checks out an object, waiting up to `timeout` (`None`: for ever).
    pub async fn timeout_get(&self, timeout: Option<Duration>) -> Result<Object<T>, PoolError> {
        let acquire = self.inner.available.acquire();
        let permit = match timeout {
            Some(limit) => tokio::time::timeout(limit, acquire)
                .await
                .map_err(|_| PoolError::Timeout)?,
            None => acquire.await,
        }
        .map_err(|_| PoolError::Closed)?;
        permit.forget();
        Ok(Object {
            obj: Some(self.inner.pop()),
            pool: Arc::downgrade(&self.inner),
        })
    }

    /// Adds an object, waiting for room if the pool is full; a closed pool hands it back.
    pub async fn add(&self, object: T) -> Result<(), (T, PoolError)> {
        match self.inner.room.acquire().await {
            Ok(permit) => {
                permit.forget();
                self.inner.push(object);
                Ok(())
            }
            Err(_) => Err((object, PoolError::Closed)),
        }
    }

    /// Removes an idle object for good, waiting for one.
    pub async fn remove(&self) -> Result<T, PoolError> {
        let permit = self
            .inner
            .available
            .acquire()
            .await
            .map_err(|_| PoolError::Closed)?;
        permit.forget();
        let obj = self.inner.pop();
        self.inner.room.add_permits(1);
        Ok(obj)
    }
}
