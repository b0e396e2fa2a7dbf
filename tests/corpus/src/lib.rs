//! A corpus of real-shaped async APIs under `#[anysync::coroutine]`: the shapes of
//! tokio-postgres 0.7, redis 0.32, deadpool 0.12, bb8 0.9 and tokio 1.54, written anew (no
//! code copied), each with a small body that awaits something real (loopback TCP, tokio
//! timers, channels, semaphores, the blocking pool). As in the real-crate experiment, the
//! attribute is on every inherent impl block and every free async fn; each function compiles
//! as a plain `async fn` would, unchanged.
//!
//! **Result: 89 of 89 corpus async fns compile with the attribute unchanged.** Under the old
//! rule (`+ Send` written into every signature) **49 of them would not**: their future is
//! `Send` only for `Send` instantiations (it holds a generic or `impl Trait` argument, or a
//! reference to one, across an `.await`). Measured, not only counted: with every attribute
//! turned into `#[anysync::coroutine(Send)]`, which asks for that definition-site check, rustc
//! rejects exactly the 49 fns marked `*` below and no other.
//!
//! `tests/test_corpus.rs` calls every one of them with `.run()` in every calling context of
//! `tests/common/ctx.rs` and with `.await` in every async one, checking what each returns, and
//! awaits non-`Send` instantiations on one thread.
//!
//! | shape | n | `*` | corpus fns (`*`: `Send` only for `Send` instantiations) |
//! |---|---|---|---|
//! | type parameters, no `Send`/`Sync` bound | 10 | 10 | `sql::Client::connect<A: ToSocketAddrs>`\*, `sql::Transaction::savepoint<I: Into<String>>`\*, `kv::Connection::{get, set, set_ex (where-clause), del, incr, publish}`\* (`K: ToRedisArgs`, `RV: FromRedisValue` returns), `task::sleep_then<T>`\*, `task::recv_many<T>`\* |
//! | type parameters with `Send`/`Sync` bounds | 4 | 0 | `kv::Connection::exists<K: .. + Send + Sync>`, `kv::Connection::mget` (`&[K]`), `task::forward<T: Send>`, `task::spawn_and_wait<F: Future + Send + 'static>` (`F::Output`) |
//! | `impl Trait` arguments | 16 | 16 | `fs::{canonicalize, read, read_to_string, write, copy, create_dir_all, remove_file, metadata, try_exists, read_dir}`\* (`impl AsRef<Path>`, `impl AsRef<[u8]>`), `fs::File::{open, create}`\*, `kv::{Cmd, Pipeline}::query_async`\* (`&mut impl ConnectionLike`), `kv::PubSub::{subscribe, unsubscribe}`\* (`impl ToRedisArgs`) |
//! | `?Sized` generics, `&(dyn Trait + Sync)` | 9 | 8 | `sql::Client::{query, query_one, query_opt, execute}<T: ?Sized + ToStatement>`\*, `sql::Client::query_raw` (`I::Item: ToSql`)\*, `sql::Transaction::query`\*, `codec::{read_frame, write_frame}<R: AsyncRead + Unpin + ?Sized>`\*, `task::notify_each<O: Observer + ?Sized>` |
//! | `&dyn Trait` | 1 | 0 | `task::notify_all(&[&dyn Observer], ..)` |
//! | associated types of generic traits, closures | 5 | 5 | `task::timeout -> F::Output`\*, `task::join_all -> Vec<<I::Item as Future>::Output>`\*, `task::oneshot -> Result<S::Response, S::Error>`\* (`mut service`), `task::retry<F: FnMut(u32) -> Fut>`\* (`mut op`), `task::wait_for`\* (`mut predicate`) |
//! | methods of generic impl blocks | 15 | 8 | `managed::Pool<M: Manager>::{get, timeout_get} -> Result<Object<M>, PoolError<M::Error>>`, `unmanaged::Pool<T>::{get, timeout_get, add, remove}`\*, `pooled::Builder<M>::build(self, M)`, `pooled::Pool<M>::{get -> PooledConnection<'_, M>, get_owned, dedicated_connection -> M::Connection, add}`, `pooled::Pool::run<F: for<'c> FnOnce(&'c mut M::Connection) -> BoxFuture<'c, R>>`\*, `codec::Framed<T, C>::{next_frame (where C: Decoder, -> C::Item), send (where C: Encoder<I>, -> <C as Encoder<I>>::Error), flush}`\* |
//! | `self: Arc<Self>` | 3 | 0 | `kv::MultiplexedConnection::send_packed_command`, `task::Limiter::acquire_owned`, `pooled::SharedPool<M>::reap` |
//! | `self: Pin<&mut Self>` | 1 | 0 | `task::Interval::tick` |
//! | const generics | 3 | 2 | `codec::Framed::read_exact<const N: usize>`\*, `codec::FixedBuf<const N: usize>::fill_from<R>`\*, `codec::FixedBuf::drain_into` |
//! | patterns, `mut` bindings | 3 | 0 | `sql::Client::connect_host((host, port): (&str, u16), &Config { .. }: &Config)`, `task::sleep_both((first, second): ..)`, `sql::Transaction::commit(mut self)` |
//! | lifetimes: `impl<'a> Transaction<'a>`, `-> T<'_>` | 4 | 0 | `sql::Transaction::{rollback, prepare}`, `sql::Client::transaction -> Transaction<'_>`, `task::Limiter::acquire_many -> Permit<'_>` |
//! | plain methods and free fns | 15 | 0 | `sql::Client::{simple_query, prepare, batch_execute}`, `sql::ClientWrapper::prepare_cached`, `kv::Client::{get_multiplexed_async_connection, get_async_pubsub}`, `kv::Connection::ping`, `kv::PubSub::recv`, `fs::File::{read_to_end, write_all, sync_all, set_len, metadata}`, `task::{yield_many, interval}` |
//! | **total** | **89** | **49** | |
//!
//! Each fn is listed once, under its most telling shape; many have several (the `?Sized`
//! statements also take `&[&(dyn ToSql + Sync)]`, `Transaction::query` is also in an impl with
//! a lifetime, `read_exact` is also in a generic impl). The pool managers' traits
//! (`managed::Manager`, deadpool's, and `pooled::ManageConnection`, bb8's) are declared by
//! hand with `-> impl Future<..> + Send`, as those crates do, and `sql::Manager` implements
//! both with `#[anysync::coroutine]` on each impl (the attribute matches such a trait, see
//! tests/test_trait.rs); they are not counted above.
//!
//! To measure the old rule again: replace `#[anysync::coroutine]` with
//! `#[anysync::coroutine(Send)]` in `src/*.rs` and `cargo check -p anysync-corpus`; every
//! error is a "future cannot be sent between threads safely" inside one of the `*` fns.

pub mod codec;
pub mod fs;
pub mod kv;
pub mod managed;
pub mod pooled;
pub mod sql;
pub mod task;
pub mod unmanaged;
