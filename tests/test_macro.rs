//! Behaviour of `#[anysync::coroutine]`: every supported signature, called both ways
//! (`.run()` from blocking code, `.await` from async code), in this edition-2024 crate.
//! `tests/edition2021` proves the same expansions in an edition-2021 crate.

use anysync::{Coroutine, RunExt, yield_};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

async fn tick() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

// ---------------------------------------------------------------------------------------
// Free functions

#[anysync::coroutine]
async fn add(a: u32, b: u32) -> u32 {
    tick().await;
    a + b
}

#[anysync::coroutine]
async fn unit(counter: &AtomicUsize) {
    tick().await;
    counter.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn free_fn_run() {
    assert_eq!(add(1, 2).run(), 3);
    let counter = AtomicUsize::new(0);
    unit(&counter).run();
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn free_fn_await() {
    assert_eq!(add(2, 3).await, 5);
    let counter = AtomicUsize::new(0);
    unit(&counter).await;
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

#[test]
fn return_type_is_a_coroutine() {
    // The signature rustdoc shows: `Coroutine<impl Future<Output = u32> + Send>`.
    let c: Coroutine<_> = add(1, 1);
    let future = c.into_inner();
    fn is_send<T: Send>(_: &T) {}
    is_send(&future);
    assert_eq!(anysync::run(future), 2);
}

// ---------------------------------------------------------------------------------------
// Methods

struct Store {
    map: BTreeMap<String, u32>,
    hits: u32,
}

impl Store {
    fn new() -> Self {
        let mut map = BTreeMap::new();
        map.insert("a".to_owned(), 1);
        map.insert("b".to_owned(), 2);
        Store { map, hits: 0 }
    }

    /// Borrowed arguments are captured: `&self` and `key`.
    #[anysync::coroutine]
    async fn get(&self, key: &str) -> Option<u32> {
        tick().await;
        self.map.get(key).copied()
    }

    /// The output borrows from `self`, as elision says.
    #[anysync::coroutine]
    async fn first_key(&self) -> Option<&str> {
        tick().await;
        self.map.keys().next().map(String::as_str)
    }

    #[anysync::coroutine]
    async fn insert(&mut self, key: &str, value: u32) -> Option<u32> {
        tick().await;
        self.hits += 1;
        self.map.insert(key.to_owned(), value)
    }

    #[anysync::coroutine]
    async fn into_len(self) -> usize {
        tick().await;
        self.map.len()
    }

    #[anysync::coroutine]
    async fn boxed_len(self: Box<Self>) -> usize {
        tick().await;
        self.map.len()
    }

    #[anysync::coroutine]
    async fn into_hits(mut self) -> u32 {
        tick().await;
        self.hits += 10;
        self.hits
    }

    #[anysync::coroutine]
    async fn pinned(self: std::pin::Pin<&mut Self>) -> u32 {
        tick().await;
        self.hits
    }
}

#[test]
fn methods_run() {
    let mut store = Store::new();
    assert_eq!(store.get("a").run(), Some(1));
    assert_eq!(store.get("zz").run(), None);
    assert_eq!(store.first_key().run(), Some("a"));
    assert_eq!(store.insert("c", 3).run(), None);
    assert_eq!(store.insert("c", 4).run(), Some(3));
    assert_eq!(std::pin::Pin::new(&mut store).pinned().run(), 2);
    assert_eq!(Box::new(Store::new()).boxed_len().run(), 2);
    assert_eq!(Store::new().into_hits().run(), 10);
    assert_eq!(store.into_len().run(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_await() {
    let mut store = Store::new();
    let key = String::from("b");
    assert_eq!(store.get(&key).await, Some(2));
    assert_eq!(store.first_key().await, Some("a"));
    assert_eq!(store.insert("c", 3).await, None);
    assert_eq!(Box::new(Store::new()).boxed_len().await, 2);
    assert_eq!(Store::new().into_hits().await, 10);
    assert_eq!(store.into_len().await, 3);
}

#[tokio::test]
async fn borrowed_future_is_send_and_spawnable() {
    let store = Arc::new(Store::new());
    let handle = tokio::spawn({
        let store = Arc::clone(&store);
        async move { store.get("a").await }
    });
    assert_eq!(handle.await.unwrap(), Some(1));
}

// ---------------------------------------------------------------------------------------
// `#[anysync::coroutine]` on an impl block

struct Client {
    base: String,
}

#[anysync::coroutine]
impl Client {
    async fn fetch(&self, path: &str) -> String {
        tick().await;
        format!("{}{path}", self.base)
    }

    /// Not async: left alone.
    fn base(&self) -> &str {
        &self.base
    }

    async fn fetch_both(&self, a: &str, b: &str) -> (String, String) {
        (self.fetch(a).await, self.fetch(b).await)
    }

    const NAME: &'static str = "client";

    /// Its own attribute wins over the block's.
    #[anysync::coroutine(?Send)]
    async fn local(&self) -> std::rc::Rc<String> {
        tick().await;
        std::rc::Rc::new(self.base.clone())
    }
}

#[test]
fn impl_block_run() {
    let client = Client {
        base: "http://x/".to_owned(),
    };
    assert_eq!(client.fetch("a").run(), "http://x/a");
    assert_eq!(client.base(), "http://x/");
    assert_eq!(Client::NAME, "client");
    assert_eq!(
        client.fetch_both("a", "b").run(),
        ("http://x/a".to_owned(), "http://x/b".to_owned())
    );
    assert_eq!(*client.local().run(), "http://x/");
}

#[tokio::test]
async fn impl_block_await() {
    let client = Client {
        base: "u:".to_owned(),
    };
    assert_eq!(client.fetch("a").await, "u:a");
    assert_eq!(*client.local().await, "u:");
}

struct Borrowing<'a> {
    text: &'a str,
}

#[anysync::coroutine]
impl Borrowing<'_> {
    async fn text(&self) -> &str {
        tick().await;
        self.text
    }
}

#[anysync::coroutine]
impl<'a> Borrowing<'a> {
    async fn prefixed(&self, prefix: &str) -> String {
        tick().await;
        format!("{prefix}{}", self.text)
    }

    async fn inner(&self) -> &'a str {
        self.text
    }
}

impl<'a> Borrowing<'a> {
    /// Method-level attribute inside an impl with a lifetime.
    #[anysync::coroutine]
    async fn len_plus(&self, extra: &usize) -> usize {
        self.text.len() + extra
    }
}

#[test]
fn impl_with_lifetimes() {
    let owned = String::from("hello");
    let b = Borrowing { text: &owned };
    assert_eq!(b.text().run(), "hello");
    assert_eq!(b.prefixed(">").run(), ">hello");
    assert_eq!(b.inner().run(), "hello");
    assert_eq!(b.len_plus(&1).run(), 6);
}

struct Wrapper<T>(T);

#[anysync::coroutine]
impl<T: Clone + Send + Sync> Wrapper<T> {
    async fn get(&self) -> T {
        tick().await;
        self.0.clone()
    }
}

#[tokio::test]
async fn generic_impl_block() {
    assert_eq!(Wrapper(5).get().await, 5);
    assert_eq!(Wrapper("s").get().run(), "s");
}

// ---------------------------------------------------------------------------------------
// Generics, `impl Trait` arguments, where-clauses, lifetimes, const generics

#[anysync::coroutine]
async fn describe<T: std::fmt::Debug + Send>(value: T, label: impl AsRef<str> + Send) -> String {
    tick().await;
    format!("{}={value:?}", label.as_ref())
}

#[anysync::coroutine]
async fn sum_all<I>(items: I) -> u64
where
    I: IntoIterator<Item = u64> + Send,
    I::IntoIter: Send,
{
    tick().await;
    items.into_iter().sum()
}

#[anysync::coroutine]
async fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    tick().await;
    if a.len() >= b.len() { a } else { b }
}

#[anysync::coroutine]
async fn mixed<'a>(a: &'a str, b: &str, c: &mut Vec<u8>) -> &'a str {
    tick().await;
    c.extend_from_slice(b.as_bytes());
    a
}

#[anysync::coroutine]
async fn fixed<const N: usize>(values: [u8; N]) -> usize {
    tick().await;
    values.len() * N
}

#[anysync::coroutine]
async fn via_dyn(
    f: &(dyn Fn(u8) -> u8 + Sync),
    g: fn(&u8) -> u8,
    h: impl Fn(&u8) -> u8 + Send,
) -> u8 {
    f(1) + g(&2) + h(&3)
}

/// The user's lifetime already has the name the macro would generate first.
#[anysync::coroutine]
async fn user_named<'__anysync0>(a: &'__anysync0 str, b: &str) -> &'__anysync0 str {
    tick().await;
    if b.is_empty() { "" } else { a }
}

#[test]
fn generated_lifetimes_do_not_collide() {
    assert_eq!(user_named("a", "b").run(), "a");
}

#[test]
fn generics_and_lifetimes_run() {
    assert_eq!(describe(7, "n").run(), "n=7");
    assert_eq!(describe(vec![1], String::from("v")).run(), "v=[1]");
    assert_eq!(sum_all(vec![1, 2, 3]).run(), 6);
    assert_eq!(longest("ab", "abc").run(), "abc");
    let mut buf = Vec::new();
    assert_eq!(mixed("x", "yz", &mut buf).run(), "x");
    assert_eq!(buf, b"yz");
    assert_eq!(fixed([1, 2, 3]).run(), 9);
    assert_eq!(via_dyn(&|x| x, |x| *x, |x: &u8| *x).run(), 6);
}

#[tokio::test]
async fn generics_and_lifetimes_await() {
    assert_eq!(describe(1.5, "f").await, "f=1.5");
    assert_eq!(sum_all([4, 5]).await, 9);
    let a = String::from("long one");
    let result = {
        let b = String::from("b");
        longest(&a, &b).await.to_owned()
    };
    assert_eq!(result, "long one");
    assert_eq!(fixed::<2>([0, 0]).await, 4);
}

// ---------------------------------------------------------------------------------------
// Patterns, attributes on parameters, visibility, `unsafe`, docs

#[derive(Clone, Copy)]
struct Point {
    x: i32,
    y: i32,
}

#[anysync::coroutine]
async fn patterns((a, b): (u32, u32), Point { x, y }: Point, mut n: u32, _: u8, ref r: u32) -> i64 {
    tick().await;
    n += 1;
    i64::from(a + b + n + *r) + i64::from(x * y)
}

#[anysync::coroutine]
async fn cfg_params(
    a: u32,
    #[cfg(not(test))] missing: u32,
    #[cfg(test)] present: u32,
    #[cfg_attr(test, allow(unused_variables))] unused: u32,
) -> u32 {
    a + present
}

mod visibility {
    /// Documented, `pub(crate)`.
    #[anysync::coroutine]
    pub(crate) async fn hidden() -> &'static str {
        "crate-visible"
    }
}

/// # Safety
/// `ptr` must point to a live `u32`. (Raw pointers are not `Send`, hence `?Send`.)
#[anysync::coroutine(?Send)]
async unsafe fn read_raw(ptr: *const u32) -> u32 {
    // SAFETY: the caller promises `ptr` is live.
    unsafe { *ptr }
}

#[test]
fn patterns_and_attributes() {
    assert_eq!(
        patterns((1, 2), Point { x: 3, y: 4 }, 5, 0, 6).run(),
        1 + 2 + 6 + 6 + 12
    );
    assert_eq!(cfg_params(1, 2, 3).run(), 3);
    assert_eq!(visibility::hidden().run(), "crate-visible");
    let value = 9;
    // SAFETY: `value` outlives the call.
    let c = unsafe { read_raw(&raw const value) };
    assert_eq!(c.run_timeout(Duration::from_secs(5)).unwrap_or(0), 9);
}

// ---------------------------------------------------------------------------------------
// Argument evaluation: eager arguments, lazy body, arguments held until completion

struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[anysync::coroutine]
async fn count(counter: Arc<AtomicUsize>, _guard: Guard, _: Guard) -> usize {
    counter.fetch_add(100, Ordering::SeqCst);
    counter.load(Ordering::SeqCst)
}

#[test]
fn body_is_lazy_and_arguments_are_held() {
    let counter = Arc::new(AtomicUsize::new(0));
    let mut evaluated = 0;
    let c = count(
        {
            evaluated += 1;
            Arc::clone(&counter)
        },
        Guard(Arc::clone(&counter)),
        Guard(Arc::clone(&counter)),
    );
    // The arguments were evaluated at the call...
    assert_eq!(evaluated, 1);
    // ...but the body has not run, and the unused guards are held by the future.
    assert_eq!(counter.load(Ordering::SeqCst), 0);
    assert_eq!(c.run(), 100);
    // Both guards dropped when the future completed.
    assert_eq!(counter.load(Ordering::SeqCst), 102);

    let dropped = count(
        Arc::clone(&counter),
        Guard(Arc::clone(&counter)),
        Guard(Arc::clone(&counter)),
    );
    assert_eq!(counter.load(Ordering::SeqCst), 102);
    drop(dropped);
    assert_eq!(counter.load(Ordering::SeqCst), 104);
}

#[tokio::test]
async fn body_is_lazy_when_awaited() {
    let counter = Arc::new(AtomicUsize::new(0));
    let c = count(
        Arc::clone(&counter),
        Guard(Arc::clone(&counter)),
        Guard(Arc::clone(&counter)),
    );
    tick().await;
    assert_eq!(counter.load(Ordering::SeqCst), 0);
    assert_eq!(c.await, 100);
    assert_eq!(counter.load(Ordering::SeqCst), 102);
}

// ---------------------------------------------------------------------------------------
// `?` and `return` in the body

#[anysync::coroutine]
async fn parse_sum(a: &str, b: &str) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    let a: i64 = a.parse()?;
    if a < 0 {
        return Err("negative".into());
    }
    let b: i64 = b.parse()?;
    Ok(a + b)
}

struct Named {
    name: String,
}

impl Named {
    /// Regression: an `async` block infers its output from its first `return`, so without
    /// the typed body `&self.name` stayed `&String` and did not coerce to `&str`.
    #[anysync::coroutine]
    async fn name(&self, early: bool) -> &str {
        if early {
            return &self.name;
        }
        &self.name
    }
}

#[anysync::coroutine]
async fn displayable(n: u8) -> impl std::fmt::Display {
    tick().await;
    n * 2
}

#[test]
fn return_coercions_and_impl_trait_output() {
    let named = Named {
        name: "n".to_owned(),
    };
    assert_eq!(named.name(true).run(), "n");
    assert_eq!(named.name(false).run(), "n");
    assert_eq!(displayable(4).run().to_string(), "8");
}

#[test]
fn question_mark_and_return() {
    assert_eq!(parse_sum("1", "2").run().unwrap(), 3);
    assert!(parse_sum("x", "2").run().is_err());
    assert_eq!(
        parse_sum("-1", "2").run().unwrap_err().to_string(),
        "negative"
    );
}

// ---------------------------------------------------------------------------------------
// Recursion: the `Send` bound in the signature lets a coroutine call itself.

#[anysync::coroutine]
async fn fact_boxed(n: u64) -> u64 {
    if n <= 1 {
        1
    } else {
        n * Box::pin(fact_boxed(n - 1)).await
    }
}

#[anysync::coroutine]
async fn fact_run(n: u64) -> u64 {
    if n <= 1 { 1 } else { n * fact_run(n - 1).run() }
}

/// A generic coroutine's future is `Send` only per instantiation, which its own body cannot
/// rely on while it is being defined (E0283): `Send` asks for the check at the definition,
/// which makes recursion through `.run()` and `Box::pin(..).await` compile again.
#[anysync::coroutine(Send)]
async fn sum_run<T: Copy + Into<u64> + Send + Sync>(values: &[T]) -> u64 {
    match values.split_first() {
        None => 0,
        Some((first, rest)) => (*first).into() + sum_run(rest).run(),
    }
}

#[anysync::coroutine(Send)]
async fn sum_boxed<T: Copy + Into<u64> + Send + Sync>(values: &[T]) -> u64 {
    match values.split_first() {
        None => 0,
        Some((first, rest)) => (*first).into() + Box::pin(sum_boxed(rest)).await,
    }
}

#[test]
fn recursion() {
    assert_eq!(fact_boxed(10).run(), 3_628_800);
    assert_eq!(fact_run(5).run(), 120);
    assert_eq!(sum_run(&[1_u8, 2, 3]).run(), 6);
    assert_eq!(sum_boxed(&[4_u32, 5]).run(), 9);
}

#[tokio::test(flavor = "multi_thread")]
async fn recursion_await() {
    assert_eq!(fact_boxed(6).await, 720);
    assert_eq!(fact_run(4).await, 24);
    assert_eq!(sum_run(&[1_u16, 2]).await, 3);
    assert_eq!(sum_boxed(&[7_u8]).await, 7);
}

// ---------------------------------------------------------------------------------------
// `?Send`

#[anysync::coroutine(?Send)]
async fn local_rc(value: std::rc::Rc<u32>) -> u32 {
    tick().await;
    *value + 1
}

#[test]
fn not_send_run() {
    let c: Coroutine<_, anysync::Local> = local_rc(std::rc::Rc::new(1));
    assert_eq!(c.run(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn not_send_await() {
    assert_eq!(local_rc(std::rc::Rc::new(2)).await, 3);
}

// ---------------------------------------------------------------------------------------
// `crate = "..."` for crates that re-export anysync

mod reexport {
    pub(crate) use ::anysync as renamed;
}

#[anysync::coroutine(crate = "crate::reexport::renamed")]
async fn through_reexport(x: &str) -> usize {
    x.len()
}

#[anysync::coroutine(?Send, crate = "crate::reexport::renamed")]
async fn through_reexport_local() -> std::rc::Rc<u8> {
    std::rc::Rc::new(1)
}

#[test]
fn crate_argument() {
    assert_eq!(through_reexport("abc").run(), 3);
    assert_eq!(*through_reexport_local().run(), 1);
}

// ---------------------------------------------------------------------------------------
// Real IO: loopback TCP through a coroutine, from blocking and async code.

#[anysync::coroutine]
async fn echo_once(message: &[u8]) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        let mut buf = vec![0; 64];
        let n = socket.read(&mut buf).await?;
        socket.write_all(&buf[..n]).await?;
        std::io::Result::Ok(())
    });
    let mut client = tokio::net::TcpStream::connect(addr).await?;
    client.write_all(message).await?;
    let mut reply = vec![0; message.len()];
    client.read_exact(&mut reply).await?;
    server.await.map_err(std::io::Error::other)??;
    Ok(reply)
}

#[test]
fn tcp_run() {
    assert_eq!(echo_once(b"ping").run().unwrap(), b"ping");
}

#[tokio::test]
async fn tcp_await() {
    assert_eq!(echo_once(b"pong").await.unwrap(), b"pong");
}

#[test]
fn run_ext_still_works_next_to_the_macro() {
    assert_eq!(async { add(1, 1).await + 1 }.run(), 3);
}

mod sizes {
    //! The macro adds nothing to the future an `async fn` would have returned.

    async fn bare(data: &[u64], scale: u64) -> u64 {
        let mut total = 0;
        for x in data {
            tokio::task::yield_now().await;
            total += x * scale;
        }
        total
    }

    #[anysync::coroutine]
    async fn wrapped(data: &[u64], scale: u64) -> u64 {
        let mut total = 0;
        for x in data {
            tokio::task::yield_now().await;
            total += x * scale;
        }
        total
    }

    #[test]
    fn a_coroutine_is_no_larger_than_the_bare_async_fn_future() {
        let data = [1, 2, 3];
        let bare_future = bare(&data, 2);
        let coroutine = wrapped(&data, 2);
        assert!(
            size_of_val(&coroutine) <= size_of_val(&bare_future),
            "coroutine {} bytes, bare async fn future {} bytes",
            size_of_val(&coroutine),
            size_of_val(&bare_future)
        );
        let inner = coroutine.into_inner();
        assert_eq!(
            size_of_val(&wrapped(&data, 2)),
            size_of_val(&inner),
            "no wrapper overhead"
        );
        assert_eq!(anysync::run(inner), anysync::run(bare_future));
    }
}

// ---------------------------------------------------------------------------------------
// Signatures that compile as a plain `async fn` compile with the attribute.

/// Regression test: `ref mut` in a parameter pattern was E0596 (the hidden argument the
/// pattern binds from was not mutable).
#[anysync::coroutine]
async fn push_twice(ref mut v: Vec<u8>, (mut a, b): (u8, u8)) -> Vec<u8> {
    tokio::task::yield_now().await;
    a += 1;
    v.push(a);
    v.push(b);
    v.clone()
}

/// Regression test: `-> !` was E0658 ("the `!` type is experimental"): the attribute wrote
/// `Output = !`.
#[anysync::coroutine]
async fn give_up(why: &str) -> ! {
    tokio::task::yield_now().await;
    panic!("gave up: {why}")
}

/// Regression test: an iterator's `yield_!(x)` was `Option<()>`, so it could not be the tail
/// of a `for` body or a `match` arm next to `()`.
#[anysync::iterator(item = u32)]
async fn evens_and_odds(v: Vec<u32>) {
    for x in v.iter().copied() {
        yield_!(x)
    }
    for x in v {
        match x % 4 {
            0 => yield_!(x * 100),
            2 => yield_!(x * 10),
            _ => {}
        }
    }
}

#[test]
fn signatures_that_compile_as_async_fn_compile_with_the_attribute() {
    assert_eq!(push_twice(vec![9], (1, 3)).run(), [9, 2, 3]);
    let payload = std::panic::catch_unwind(|| give_up("on purpose").run()).unwrap_err();
    let message = payload.downcast_ref::<String>().map(String::as_str);
    assert_eq!(message, Some("gave up: on purpose"));
    let items: Vec<u32> = evens_and_odds(vec![1, 2, 4]).into_iter().collect();
    assert_eq!(items, [1, 2, 4, 20, 400]);
}
