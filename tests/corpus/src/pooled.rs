//! A connection pool, shaped like bb8 0.9: `ManageConnection` with associated `Connection`
//! and `Error` types, a builder consumed by an async `build`, `PooledConnection<'_, M>`
//! borrowing the pool (or `'static` from `get_owned`), a closure-taking `run` with a
//! higher-ranked bound, and a reaper taking `self: Arc<Self>`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A boxed future borrowing for `'a`, as `run`'s closure returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens and checks connections.
pub trait ManageConnection: Sized + Send + Sync + 'static {
    /// The connections.
    type Connection: Send + 'static;
    /// The errors opening or checking them.
    type Error: fmt::Debug + Send + 'static;

    /// Opens a connection.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Checks a connection before it is handed out (with `test_on_check_out`).
    fn is_valid(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Whether a connection returned to the pool is broken (it is then dropped).
    fn has_broken(&self, conn: &mut Self::Connection) -> bool;
}

/// Why checking out failed.
#[derive(Debug)]
pub enum RunError<E> {
    /// The manager's error.
    User(E),
    /// No connection was free within the connection timeout.
    TimedOut,
}

/// Why `add` refused a connection, which it hands back.
#[derive(Debug)]
pub enum AddError<C> {
    /// `is_valid` failed.
    Broken(C),
    /// The pool is full.
    NoCapacity(C),
}

/// Configures a [`Pool`].
pub struct Builder<M: ManageConnection> {
    max_size: u32,
    min_idle: u32,
    connection_timeout: Duration,
    test_on_check_out: bool,
    manager: PhantomData<fn() -> M>,
}

impl<M: ManageConnection> fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_size", &self.max_size)
            .field("min_idle", &self.min_idle)
            .finish_non_exhaustive()
    }
}

impl<M: ManageConnection> Default for Builder<M> {
    fn default() -> Self {
        Builder {
            max_size: 10,
            min_idle: 0,
            connection_timeout: Duration::from_secs(30),
            test_on_check_out: true,
            manager: PhantomData,
        }
    }
}

/// The state shared by a pool's handles.
pub struct SharedPool<M: ManageConnection> {
    manager: M,
    idle: Mutex<Vec<M::Connection>>,
    permits: Arc<Semaphore>,
    max_size: u32,
    connection_timeout: Duration,
    test_on_check_out: bool,
}

impl<M: ManageConnection> SharedPool<M> {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<M::Connection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put_back(&self, mut conn: M::Connection) {
        if !self.manager.has_broken(&mut conn) {
            self.idle().push(conn);
        }
    }
}

/// A pool; cloning it gives another handle to the same connections.
pub struct Pool<M: ManageConnection> {
    inner: Arc<SharedPool<M>>,
}

impl<M: ManageConnection> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M: ManageConnection> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("idle", &self.idle_connections())
            .finish_non_exhaustive()
    }
}

enum PoolRef<'a, M: ManageConnection> {
    Borrowed(&'a SharedPool<M>),
    Owned(Arc<SharedPool<M>>),
}

/// A connection checked out of a [`Pool`]; it goes back when dropped.
pub struct PooledConnection<'a, M: ManageConnection> {
    pool: PoolRef<'a, M>,
    conn: Option<M::Connection>,
    _permit: OwnedSemaphorePermit,
}

impl<M: ManageConnection> fmt::Debug for PooledConnection<'_, M>
where
    M::Connection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PooledConnection").field(&**self).finish()
    }
}

impl<M: ManageConnection> Deref for PooledConnection<'_, M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        self.conn
            .as_ref()
            .expect("connection present until dropped")
    }
}

impl<M: ManageConnection> DerefMut for PooledConnection<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        self.conn
            .as_mut()
            .expect("connection present until dropped")
    }
}

impl<M: ManageConnection> Drop for PooledConnection<'_, M> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            match &self.pool {
                PoolRef::Borrowed(pool) => pool.put_back(conn),
                PoolRef::Owned(pool) => pool.put_back(conn),
            }
        }
    }
}

#[anysync::coroutine]
impl<M: ManageConnection> Builder<M> {
    /// A builder with bb8's defaults.
    pub fn new() -> Self {
        Builder::default()
    }

    /// The most connections the pool holds.
    pub fn max_size(mut self, max_size: u32) -> Self {
        self.max_size = max_size;
        self
    }

    /// Connections `build` opens up front.
    pub fn min_idle(mut self, min_idle: u32) -> Self {
        self.min_idle = min_idle;
        self
    }

    /// How long `get` waits for a free connection.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// A pool that opens connections only when asked for them.
    pub fn build_unchecked(self, manager: M) -> Pool<M> {
        Pool {
            inner: Arc::new(SharedPool {
                manager,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(self.max_size as usize)),
                max_size: self.max_size,
                connection_timeout: self.connection_timeout,
                test_on_check_out: self.test_on_check_out,
            }),
        }
    }

    /// Builds the pool and opens `min_idle` connections, failing on the first error.
    pub async fn build(self, manager: M) -> Result<Pool<M>, M::Error> {
        let min_idle = self.min_idle.min(self.max_size);
        let pool = self.build_unchecked(manager);
        for _ in 0..min_idle {
            let conn = pool.inner.manager.connect().await?;
            pool.inner.idle().push(conn);
        }
        Ok(pool)
    }
}

impl<M: ManageConnection> Pool<M> {
    /// A builder.
    pub fn builder() -> Builder<M> {
        Builder::new()
    }

    /// Idle connections.
    pub fn idle_connections(&self) -> usize {
        self.inner.idle().len()
    }

    /// The state shared by this pool's handles.
    pub fn shared(&self) -> Arc<SharedPool<M>> {
        Arc::clone(&self.inner)
    }

    /// Waits for a permit, then takes an idle connection (checked) or opens one.
    #[allow(
        clippy::manual_async_fn,
        reason = "a private helper, not part of the corpus: the corpus is the public async API"
    )]
    fn checkout(
        &self,
    ) -> impl Future<Output = Result<(M::Connection, OwnedSemaphorePermit), RunError<M::Error>>>
    + Send
    + '_ {
        async move {
            let inner = &*self.inner;
            let permit = tokio::time::timeout(
                inner.connection_timeout,
                Arc::clone(&inner.permits).acquire_owned(),
            )
            .await
            .map_err(|_| RunError::TimedOut)?
            .expect("the semaphore is never closed");
            loop {
                let idle = inner.idle().pop();
                match idle {
                    Some(mut conn) => {
                        if !inner.test_on_check_out
                            || inner.manager.is_valid(&mut conn).await.is_ok()
                        {
                            return Ok((conn, permit));
                        }
                    }
                    None => {
                        let conn = inner.manager.connect().await.map_err(RunError::User)?;
                        return Ok((conn, permit));
                    }
                }
            }
        }
    }
}

#[anysync::coroutine]
impl<M: ManageConnection> Pool<M> {
    /// Checks out a connection that borrows the pool.
    pub async fn get(&self) -> Result<PooledConnection<'_, M>, RunError<M::Error>> {
        let (conn, permit) = self.checkout().await?;
        Ok(PooledConnection {
            pool: PoolRef::Borrowed(&self.inner),
            conn: Some(conn),
            _permit: permit,
        })
    }

    /// Checks out a connection that owns a handle to the pool.
    pub async fn get_owned(&self) -> Result<PooledConnection<'static, M>, RunError<M::Error>> {
        let (conn, permit) = self.checkout().await?;
        Ok(PooledConnection {
            pool: PoolRef::Owned(Arc::clone(&self.inner)),
            conn: Some(conn),
            _permit: permit,
        })
    }

    /// Opens a connection outside the pool's accounting.
    pub async fn dedicated_connection(&self) -> Result<M::Connection, M::Error> {
        self.inner.manager.connect().await
    }

    /// Adds a connection opened elsewhere, if it is valid and there is room.
    pub async fn add(&self, mut conn: M::Connection) -> Result<(), AddError<M::Connection>> {
        if self.inner.manager.is_valid(&mut conn).await.is_err() {
            return Err(AddError::Broken(conn));
        }
        let mut idle = self.inner.idle();
        if idle.len() >= self.inner.max_size as usize {
            return Err(AddError::NoCapacity(conn));
        }
        idle.push(conn);
        Ok(())
    }

    /// Runs `f` with a checked-out connection (bb8 0.7's `run`).
    pub async fn run<F, R>(&self, f: F) -> Result<R, RunError<M::Error>>
    where
        F: for<'c> FnOnce(&'c mut M::Connection) -> BoxFuture<'c, R>,
    {
        let mut conn = self.get().await?;
        Ok(f(&mut *conn).await)
    }
}

#[anysync::coroutine]
impl<M: ManageConnection> SharedPool<M> {
    /// Drops idle connections that fail `is_valid`, as bb8's reaper does; returns how many
    /// are left.
    pub async fn reap(self: Arc<Self>) -> usize {
        let idle = std::mem::take(&mut *self.idle());
        let mut kept = Vec::with_capacity(idle.len());
        for mut conn in idle {
            if self.manager.is_valid(&mut conn).await.is_ok() {
                kept.push(conn);
            }
        }
        let left = kept.len();
        self.idle().extend(kept);
        left
    }
}
