//! Procedural macros for anysync. Depend on `anysync`, which re-exports them.

// All of anysync's `unsafe` lives in `anysync-runtime/src/raw/`; the compiler checks that.
#![forbid(unsafe_code)]

mod args;
mod blocking;
mod error;
mod expand;
mod instrument;
mod lifetime;
mod parse;
mod receiver;
mod traits;
mod yields;

use args::Kind;
use proc_macro::TokenStream;

/// Turns an `async fn` into a function returning an [`anysync::Coroutine`]: `.await` it in
/// async code, `.run()` it in blocking code.
///
/// [`anysync::Coroutine`]: https://docs.rs/anysync/latest/anysync/struct.Coroutine.html
///
/// # Example
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::Duration;
///
/// struct Store {
///     rows: BTreeMap<String, u32>,
/// }
///
/// impl Store {
///     #[anysync::coroutine]
///     pub async fn get(&self, key: &str) -> Option<u32> {
///         tokio::time::sleep(Duration::from_millis(1)).await;
///         self.rows.get(key).copied()
///     }
/// }
///
/// let store = Store { rows: BTreeMap::from([("a".to_owned(), 1)]) };
///
/// // Blocking code, from any thread or runtime:
/// assert_eq!(store.get("a").run(), Some(1));
///
/// // Async code:
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert_eq!(store.get("b").await, None);
/// # });
/// ```
///
/// # How it works
///
/// The function keeps its name, visibility, attributes, generics and arguments; it stops
/// being `async` and returns the same future, wrapped. The example's `get` becomes:
///
/// ```
/// # use std::collections::BTreeMap;
/// # use std::time::Duration;
/// # struct Store { rows: BTreeMap<String, u32> }
/// # impl Store {
/// pub fn get<'__anysync0, '__anysync1>(
///     &'__anysync0 self,
///     key: &'__anysync1 str,
/// ) -> anysync::Coroutine<
///     impl Future<Output = Option<u32>> + Send + Captures<'__anysync0> + Captures<'__anysync1>,
/// > {
///     anysync::Coroutine::new(async move {
///         let _ = &self; // every argument moves into the future, as with `async fn`
///         let key = key;
///         let ret: Option<u32> = {
///             tokio::time::sleep(Duration::from_millis(1)).await;
///             self.rows.get(key).copied()
///         };
///         ret
///     })
/// }
/// # }
/// # trait Captures<'a> {}
/// # impl<T: ?Sized> Captures<'_> for T {}
/// ```
///
/// (The real expansion spells every path out, `::anysync::__private::Future`,
/// `::anysync::__private::Captures` and so on, so that no name in the user's scope can
/// change its meaning.)
///
/// - Calling it evaluates the arguments and moves them into the future; nothing of the body
///   runs until the coroutine is `.run()` or `.await`ed, and the arguments are dropped when
///   the future completes or is dropped, exactly as for an `async fn`.
/// - `+ Send` is part of the signature of a function that is not generic: its future is
///   always `Send` or never, so rustc checks it where the function is defined, with its
///   "value is used across an await" explanation, and a coroutine can call itself
///   (`Box::pin(f(n - 1)).await` or `f(n - 1).run()`).
/// - A generic function (type or const parameters, `impl Trait` arguments, or a method of a
///   generic impl block) has no `+ Send` in its signature: like a plain `async fn`, its future
///   is `Send` for each instantiation whose arguments allow it, and `.run()` on one that is
///   not is rustc's E0277 at the call, naming the type that is not `Send`. (A method that
///   carries the attribute alone, outside an impl-level one, counts as generic when it names
///   `Self`: the impl block is out of the attribute's sight.)
/// - A coroutine whose output type is never `Send` (an `Rc`, a `dyn Trait` without `+ Send`,
///   a lock guard, a raw pointer) returns `Coroutine<.., anysync::LocalOutput>`: its `.run()`
///   polls in place where it can and panics with advice where it would have to be lent.
/// - Elided lifetimes of the arguments are named (`'__anysync0`, ...) and each lifetime the
///   future borrows is listed in a `Captures<'a>` bound (a trait every type implements), so
///   the future captures its borrowed arguments in edition 2021 as well as in 2024.
/// - Arguments written as patterns (`(a, b): (u32, u32)`) are bound to hidden names in the
///   signature and destructured inside the future; `#[cfg]` on a parameter applies to both.
///
/// # Arguments
///
/// - `#[anysync::coroutine(?Send)]`: for futures that are not `Send` (they hold an `Rc`
///   across an `.await`, say). Returns `Coroutine<impl Future<Output = T>, anysync::Local>`
///   built with `Coroutine::local`; see `anysync::Local` for where it can `.run()`.
/// - `#[anysync::coroutine(Send)]`: writes `+ Send` into the signature of a generic function
///   too, so the check happens at the definition. A generic coroutine that calls itself
///   through `.run()` needs it (without it rustc reports E0283, "cannot satisfy `impl
///   Future<..>: Send`"):
///
/// ```
/// #[anysync::coroutine(Send)]
/// async fn total<T: Copy + Into<u64> + Send + Sync>(values: &[T]) -> u64 {
///     match values.split_first() {
///         None => 0,
///         Some((first, rest)) => (*first).into() + total(rest).run(),
///     }
/// }
///
/// assert_eq!(total(&[1_u8, 2, 3]).run(), 6);
/// ```
///
/// - `#[anysync::coroutine(dyn)]`: on a trait and its impls only; see [Traits](#traits).
/// - `#[anysync::coroutine(crate = "my_crate::anysync")]`: for crates that re-export
///   anysync; generated code then names that path instead of `::anysync`.
///
/// ```
/// mod reexport {
///     pub use ::anysync as renamed;
/// }
///
/// #[anysync::coroutine(?Send, crate = "crate::reexport::renamed")]
/// async fn shared(value: std::rc::Rc<u32>) -> u32 {
///     *value + 1
/// }
///
/// fn main() {
///     assert_eq!(shared(std::rc::Rc::new(1)).run(), 2);
/// }
/// ```
///
/// # Other attributes
///
/// `#[tracing::instrument]` (any path ending in `instrument`), above or below the attribute
/// or on a method of an impl-level one, instruments the body's execution, as on a plain
/// `async fn`: the span is entered on every poll, wherever `.run()` polls it, and `err` and
/// `ret` see the body's output. Below the attribute, the body goes into a hidden function
/// carrying the `#[instrument]`, with `name` set to the function's name; a parameter written
/// as a pattern is then skipped rather than recorded. `#[must_use]` is dropped from the
/// function (the returned coroutine is `#[must_use]` already); other attributes are kept.
///
/// # Supported items
///
/// - `async fn`: free functions, inherent methods with `&self`, `&mut self`, `self`,
///   `mut self`, `self: Box<Self>` or `self: Pin<&mut Self>`; generics, `impl Trait`
///   arguments, where-clauses, `const` generics, elided and explicit lifetimes, patterns in
///   arguments, `#[cfg]`/`#[cfg_attr]` on parameters, doc comments and other attributes,
///   any visibility, `unsafe fn`.
/// - An inherent `impl` block: every `async fn` in it is converted, other items are left as
///   they are. A method with its own `#[anysync::coroutine(...)]` uses its own arguments.
/// - A trait declaration and its impls: see [Traits](#traits) below.
///
/// A non-async `fn` is not supported: a compile error says to write `async fn`.
///
/// # Traits
///
/// On a trait declaration, each `async fn` (with or without a default body) becomes a method
/// returning `impl Future<Output = T> + Send`; other items are kept. On `impl Trait for T`,
/// each `async fn` returns an [`anysync::Coroutine`] of its future, which satisfies (refines)
/// the trait's type: callers naming `T` get the inherent `.run()`, generic callers `.await`
/// the trait's future or `.run()` it with `anysync::RunExt`. An impl written as plain
/// `async fn`s, without the attribute, implements the trait as well (test doubles).
///
/// ```
/// use anysync::RunExt;
///
/// #[anysync::coroutine]
/// pub trait Store: Send + Sync {
///     async fn get(&self, key: &str) -> Option<String>;
///     async fn get_or(&self, key: &str, default: &str) -> String {
///         self.get(key).await.unwrap_or_else(|| default.to_owned())
///     }
/// }
///
/// struct Memory;
///
/// #[anysync::coroutine]
/// impl Store for Memory {
///     async fn get(&self, key: &str) -> Option<String> {
///         tokio::task::yield_now().await;
///         (key == "a").then(|| "1".to_owned())
///     }
/// }
///
/// fn generic<S: Store>(store: &S) -> String {
///     store.get_or("b", "none").run()
/// }
///
/// assert_eq!(Memory.get("a").run(), Some("1".to_owned())); // the impl's `Coroutine`
/// assert_eq!(generic(&Memory), "none");
/// # anysync::run(async {
/// assert_eq!(Memory.get("a").await, Some("1".to_owned()));
/// # });
/// ```
///
/// The declaration becomes, in plain Rust:
///
/// ```
/// pub trait Store: Send + Sync {
///     fn get(&self, key: &str) -> impl Future<Output = Option<String>> + Send;
///     fn get_or(&self, key: &str, default: &str) -> impl Future<Output = String> + Send {
///         anysync::Coroutine::new(async move {
///             let _ = &self;
///             let (key, default) = (key, default);
///             self.get(key).await.unwrap_or_else(|| default.to_owned())
///         })
///     }
/// }
/// ```
///
/// - `+ Send` is part of the trait (a generic caller can rely only on what the trait says)
///   and checked in each impl. A generic method's parameters held by its future then need
///   `Send`, and a default body, which holds `&self`, needs `Self: Sync`: without a `Sync`
///   supertrait the attribute adds `where Self: Sync` to that method (`Self: Send` for `&mut
///   self`, `self` or `Box<Self>`, both for `Arc<Self>` and `&Arc<Self>`). `?Send` on the
///   trait and its impls opts out.
/// - `#[anysync::iterator(item = T)]`, `#[anysync::generator(..)]` and
///   `#[anysync::context(..)]` on a method inside the trait and the impl give `Iter`,
///   `Generator` and `Context` methods.
/// - `dyn` (`#[anysync::coroutine(dyn)]`, on the trait and on each impl) makes the methods
///   return `Coroutine<Pin<Box<dyn Future<Output = T> + Send + 'a>>>` (one allocation per
///   call), so the trait can be used as `&dyn Store`, `Box<dyn Store>` or `Arc<dyn Store>`:
///
/// ```
/// use std::sync::Arc;
///
/// #[anysync::coroutine(dyn)]
/// pub trait Store: Send + Sync {
///     async fn get(&self, key: &str) -> Option<String>;
/// }
///
/// struct Memory;
///
/// #[anysync::coroutine(dyn)]
/// impl Store for Memory {
///     async fn get(&self, key: &str) -> Option<String> {
///         Some(key.to_uppercase())
///     }
/// }
///
/// let store: Arc<dyn Store> = Arc::new(Memory);
/// assert_eq!(store.get("a").run(), Some("A".to_owned())); // no import: `Coroutine::run`
/// # anysync::run(async move {
/// assert_eq!(store.get("b").await, Some("B".to_owned()));
/// # });
/// ```
///
/// A `dyn` trait's methods may not be generic unless they have `where Self: Sized` (they are
/// then left out of the vtable); associated `async fn`s without `self` get that bound.
///
/// ```compile_fail
/// #[anysync::coroutine(dyn)]
/// pub trait Store: Send + Sync {
///     // error: `#[anysync::coroutine(dyn)]` trait `Store` cannot have a generic method
///     async fn get<K: AsRef<str> + Send>(&self, key: K) -> Option<String>;
/// }
/// ```
///
/// ```compile_fail
/// #[anysync::coroutine] // error: #[anysync::coroutine] requires an `async fn`
/// fn answer() -> u32 {
///     42
/// }
/// ```
///
/// In edition 2021, a lifetime hidden in a path (`fn f(r: Ref) -> ..` where `Ref<'a>`) is
/// invisible to the macro and therefore not captured: write it as `Ref<'_>`.
#[proc_macro_attribute]
pub fn coroutine(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_attribute(Kind::Coroutine, args, item)
}

/// The three steps every attribute shares: parse, expand, or emit the item with the error.
fn expand_attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    parse::parse(kind, args.into(), item.clone())
        .map_or_else(|err| error::with_item(item, &err), expand::expand)
        .into()
}

/// Turns an `async fn` whose body hands out values with `yield_!` into an
/// [`anysync::Iter`]: a `Stream` in async code, iterable with `for` in blocking code.
///
/// [`anysync::Iter`]: https://docs.rs/anysync/latest/anysync/struct.Iter.html
///
/// `item = T` declares what `yield_!(value)` hands out. The function's own return type is
/// what the body returns: `()`, or `Result<(), E>`, which makes the items `Result<T, E>` and
/// turns an `Err` the body returns (with `?`, say) into the last item.
///
/// # Example
///
/// ```
/// use anysync::yield_;
/// use std::num::ParseIntError;
///
/// #[anysync::iterator(item = u32)]
/// async fn parse_all(lines: &str) -> Result<(), ParseIntError> {
///     for line in lines.lines() {
///         tokio::task::yield_now().await; // stands in for reading the next line
///         yield_!(line.trim().parse()?);
///     }
///     Ok(())
/// }
///
/// // Blocking code:
/// let numbers: Result<Vec<u32>, _> = parse_all("1\n2\n3").into_iter().collect();
/// assert_eq!(numbers.unwrap(), [1, 2, 3]);
///
/// // Async code: `.next()` is inherent, so importing `StreamExt` does not make it ambiguous.
/// # anysync::run(async {
/// let mut it = parse_all("4\nx\n5");
/// assert_eq!(it.next().await, Some(Ok(4)));
/// assert!(matches!(it.next().await, Some(Err(_)))); // the error ends the iteration
/// assert_eq!(it.next().await, None);
/// # });
/// ```
///
/// # How it works
///
/// The example's function becomes, in plain Rust:
///
/// ```
/// # use std::num::ParseIntError;
/// fn parse_all(
///     lines: &str,
/// ) -> anysync::Iter<impl Future<Output = Result<(), ParseIntError>> + Send + '_, u32> {
///     anysync::Iter::new(move |mut yielder: anysync::__private::Yielder<u32>| async move {
///         for line in lines.lines() {
///             tokio::task::yield_now().await;
///             yielder.yield_(line.trim().parse()?).await;
///         }
///         Ok(())
///     })
/// }
/// # assert_eq!(parse_all("7").into_iter().next(), Some(Ok(7)));
/// ```
///
/// `yield_` leaves the value in a slot typed by the item, shared by the iterator and the body
/// (a one-value lock-free cell; the yielder is its only writer, since yielding takes
/// `&mut`); the iterator polls the body, finds the value and hands it to the consumer. The
/// body only runs when the consumer asks for the next item, so no item is produced and lost.
///
/// # Rules for `yield_!`
///
/// `yield_!(value)` may appear anywhere in the body itself: in loops, `match` arms, `if`s.
/// It may not appear inside a closure, an `async` block or a nested `fn` in the body (it
/// would yield from that inner scope; async-stream's issues #106/#107 were this bug), nor
/// inside another macro's arguments, nor outside these attributes: each is a compile error
/// that says so.
///
/// ```compile_fail
/// use anysync::yield_;
///
/// #[anysync::iterator(item = u32)]
/// async fn numbers() {
///     let produce = || yield_!(1); // error: `yield_!` cannot be used inside a closure
///     produce();
/// }
/// ```
///
/// # Arguments
///
/// `item = T` (required), `Send` and `?Send` (as for [`macro@coroutine`]: a generic
/// iterator is `Send` when its instantiation is; with `?Send` the iterator is
/// `Iter<.., Local>`, which never moves to another thread), `crate = "path"` (for crates that
/// re-export anysync). Methods, generics, lifetimes and borrowed arguments work as with
/// [`macro@coroutine`].
#[proc_macro_attribute]
pub fn iterator(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_attribute(Kind::Iterator, args, item)
}

/// Turns an `async fn` into an [`anysync::Generator`]: it hands values out with
/// `yield_!(value)`, and `yield_!` evaluates to what the consumer sends back in.
///
/// [`anysync::Generator`]: https://docs.rs/anysync/latest/anysync/struct.Generator.html
///
/// `item = T` declares what `yield_!` hands out and `send = S` (default `()`) what it receives:
/// `yield_!(value)` evaluates to `Option<S>`, `None` when the generator was resumed without a
/// value (`resume()`, or iteration) and `Some(x)` after `send(x)`. The function's return type
/// is the body's return value, readable after exhaustion with `return_value()` (Python's
/// `StopIteration.value`).
///
/// # Example
///
/// ```
/// use anysync::yield_;
///
/// #[anysync::generator(item = u64, send = u64)]
/// async fn running_total() {
///     let mut total = 0;
///     loop {
///         if let Some(x) = yield_!(total) {
///             total += x;
///         }
///     }
/// }
///
/// let mut g = running_total();
/// assert_eq!(g.resume().run(), Some(0)); // Python: next(g)
/// assert_eq!(g.send(5).run(), Some(5));  // Python: g.send(5)
/// # anysync::run(async move {
/// assert_eq!(g.send(2).await, Some(7));  // Python: await g.asend(2)
/// # });
/// ```
///
/// # How it works
///
/// As for [`macro@iterator`], with `Generator::new` and a yielder that also carries the sent
/// value back:
///
/// ```
/// fn running_total() -> anysync::Generator<impl Future<Output = ()> + Send, u64, u64> {
///     anysync::Generator::new(move |mut yielder: anysync::__private::Yielder<u64, u64>| async move {
///         let mut total = 0;
///         loop {
///             if let Some(x) = yielder.yield_(total).await {
///                 total += x;
///             }
///         }
///     })
/// }
/// # let mut g = running_total();
/// # assert_eq!(g.resume().run(), Some(0));
/// ```
///
/// The rules for `yield_!` and the arguments (`?Send`, `crate`) are those of
/// [`macro@iterator`], plus `send = S`.
#[proc_macro_attribute]
pub fn generator(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_attribute(Kind::Generator, args, item)
}

/// Turns an `async fn` that reaches `yield_!(value)` exactly once into an async context
/// manager, an [`anysync::Context`]: the code before `yield_!` is the setup, the code after
/// it the teardown, and the caller's block runs in between.
///
/// [`anysync::Context`]: https://docs.rs/anysync/latest/anysync/struct.Context.html
///
/// `yield_!(value)` lends `value` to the caller's block and evaluates to it again when the
/// block ends, so the teardown can use it; `anysync::exit_status!()` then tells whether the
/// block ended normally or by panic. A body returning `()` gives an infallible `enter()`; a
/// body returning `Result<(), E>` makes a setup error (returned before `yield_!`) the result
/// of `enter()`, and a teardown error the result of `exit()`.
///
/// # Example
///
/// ```
/// use anysync::{AsyncContext, Exit, exit_status, yield_};
/// use std::sync::Mutex;
///
/// static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
///
/// #[anysync::context(item = String)]
/// async fn transaction(name: &str) {
///     LOG.lock().unwrap().push(format!("begin {name}"));
///     let work = yield_!(String::new());
///     let verb = if exit_status!() == Exit::Normal { "commit" } else { "rollback" };
///     LOG.lock().unwrap().push(format!("{verb} {work}"));
/// }
///
/// // Blocking code: a guard whose drop runs the teardown.
/// {
///     let mut tx = transaction("t1").enter().run();
///     tx.push_str("insert");
/// }
/// // Async code: `exit().await` runs the teardown.
/// # anysync::run(async {
/// let mut tx = transaction("t2").enter().await;
/// tx.push_str("update");
/// tx.exit().await;
/// # });
/// assert_eq!(*LOG.lock().unwrap(), ["begin t1", "commit insert", "begin t2", "commit update"]);
/// ```
///
/// # How it works
///
/// As for [`macro@iterator`], with `Context::new` (which implements `anysync::AsyncContext`,
/// the trait a hand-written context manager implements too) and a yielder that hands the
/// value back with the block's exit status. Reaching `yield_!` twice, or returning without
/// reaching it, is a panic naming the function.
///
/// The rules for `yield_!` and the arguments (`item`, `?Send`, `crate`) are those of
/// [`macro@iterator`].
#[proc_macro_attribute]
pub fn context(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_attribute(Kind::Context, args, item)
}

/// Makes a blocking `fn` usable both ways: `.await` it in async code (the call is offloaded
/// to a worker thread with `anysync::unblock`), `.run()` it in blocking code (the call runs
/// inline, on the calling thread).
///
/// The function returns an [`anysync::Blocking`]. Nothing runs until it is awaited or run.
///
/// [`anysync::Blocking`]: https://docs.rs/anysync/latest/anysync/struct.Blocking.html
///
/// # Example
///
/// ```
/// use std::path::PathBuf;
///
/// #[anysync::blocking]
/// fn line_count(path: PathBuf) -> std::io::Result<usize> {
///     Ok(std::fs::read_to_string(path)?.lines().count())
/// }
///
/// let path = std::env::temp_dir().join(format!("anysync-doc-{}.txt", std::process::id()));
/// std::fs::write(&path, "a\nb\nc\n").unwrap();
///
/// // Blocking code: inline.
/// assert_eq!(line_count(path.clone()).run().unwrap(), 3);
///
/// // Async code: offloaded, so the runtime keeps running other tasks meanwhile.
/// # anysync::run(async {
/// assert_eq!(line_count(path.clone()).await.unwrap(), 3);
/// # });
/// # std::fs::remove_file(path).unwrap();
/// ```
///
/// # How it works
///
/// ```
/// # use std::path::PathBuf;
/// fn line_count(
///     path: PathBuf,
/// ) -> anysync::Blocking<impl FnOnce() -> std::io::Result<usize> + Send + 'static> {
///     anysync::Blocking::new(move || Ok(std::fs::read_to_string(path)?.lines().count()))
/// }
/// # let _ = line_count(PathBuf::from("/nonexistent")).run();
/// ```
///
/// # Borrowed arguments
///
/// An offloaded call runs on a worker thread, which a dropped awaiter cannot stop, so it may
/// outlive anything the caller lent it. Borrowed arguments (`&str`, `&self`, `Foo<'a>`) are
/// therefore a compile error pointing at the argument: pass owned values (`String`,
/// `PathBuf`, `Arc<T>`).
///
/// ```compile_fail
/// #[anysync::blocking]
/// fn count(text: &str) -> usize { // error: cannot take borrowed arguments
///     text.len()
/// }
/// ```
///
/// # Arguments
///
/// `?Send` (the arguments need not be `Send`; only `.run()` then compiles) and `crate =
/// "path"` (for crates that re-export anysync).
#[proc_macro_attribute]
pub fn blocking(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_attribute(Kind::Blocking, args, item)
}
