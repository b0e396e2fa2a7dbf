//! `#[anysync::coroutine]` on traits: one `Store` trait with an in-memory and a loopback-TCP
//! backend, called through static dispatch, generics and `dyn`, with `.run()` from every
//! calling context and `.await` from async code; borrowed arguments, panics, `run_timeout`, a
//! test double written as a plain `async fn` impl, and the trait features the attribute
//! supports (generics, associated types, `impl Trait` arguments, `where Self: Sized`,
//! associated functions, supertraits, `?Send`).

mod common;

use anysync::RunExt;
use common::ctx::{ALL, Ctx, within};
use common::{Boom, DropFlag, panic_message};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A key-value store: the SDK-shaped trait of the issue.
#[anysync::coroutine]
pub trait Store: Send + Sync {
    /// The value under `key`.
    async fn get(&self, key: &str) -> Option<String>;

    /// Stores `value` under `key`.
    async fn put(&self, key: &str, value: String);

    /// A default body: the value under `key`, or `default`.
    async fn get_or(&self, key: &str, default: &str) -> String {
        self.get(key).await.unwrap_or_else(|| default.to_owned())
    }

    /// Does one round trip, then panics with `Boom(code)` inside the future.
    async fn fail(&self, code: u32) -> u32;

    /// Never completes; holds `flag` until the future is dropped.
    async fn hang(&self, flag: DropFlag) -> u32;

    /// Not async: kept as it is.
    fn name(&self) -> &'static str;
}

/// The in-memory backend.
pub struct Memory {
    rows: tokio::sync::Mutex<BTreeMap<String, String>>,
}

impl Memory {
    fn new() -> Self {
        Memory {
            rows: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }
}

#[anysync::coroutine]
impl Store for Memory {
    async fn get(&self, key: &str) -> Option<String> {
        tokio::time::sleep(Duration::from_millis(1)).await; // a real timer
        self.rows.lock().await.get(key).cloned()
    }

    async fn put(&self, key: &str, value: String) {
        tokio::task::yield_now().await;
        self.rows.lock().await.insert(key.to_owned(), value);
    }

    async fn fail(&self, code: u32) -> u32 {
        tokio::task::yield_now().await;
        panic::panic_any(Boom(code))
    }

    async fn hang(&self, flag: DropFlag) -> u32 {
        let _flag = flag;
        std::future::pending().await
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

/// The network backend: each call is one request over a fresh loopback TCP connection to
/// [`server`], a line protocol (`GET k`, `PUT k v`, `PING`, `HANG`).
pub struct Tcp {
    addr: SocketAddr,
}

impl Tcp {
    fn new() -> Self {
        Tcp { addr: server() }
    }

    async fn request(&self, line: &str) -> String {
        let stream = TcpStream::connect(self.addr).await.expect("connect");
        let mut stream = BufReader::new(stream);
        stream
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write");
        let mut reply = String::new();
        stream.read_line(&mut reply).await.expect("read");
        reply.trim_end().to_owned()
    }
}

#[anysync::coroutine]
impl Store for Tcp {
    async fn get(&self, key: &str) -> Option<String> {
        let reply = self.request(&format!("GET {key}")).await;
        reply.strip_prefix("SOME ").map(str::to_owned)
    }

    async fn put(&self, key: &str, value: String) {
        assert_eq!(self.request(&format!("PUT {key} {value}")).await, "OK");
    }

    async fn fail(&self, code: u32) -> u32 {
        assert_eq!(self.request("PING").await, "PONG");
        panic::panic_any(Boom(code))
    }

    async fn hang(&self, flag: DropFlag) -> u32 {
        let _flag = flag;
        self.request("HANG").await; // the server never answers
        unreachable!("the server answered HANG")
    }

    fn name(&self) -> &'static str {
        "tcp"
    }
}

/// A key-value server on 127.0.0.1, on the global runtime, shared by the tests (each uses
/// its own keys).
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        std::thread::spawn(|| {
            anysync::run(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let addr = listener.local_addr().expect("addr");
                let rows = Arc::new(std::sync::Mutex::new(BTreeMap::<String, String>::new()));
                tokio::spawn(async move {
                    loop {
                        let Ok((socket, _)) = listener.accept().await else {
                            continue;
                        };
                        let rows = rows.clone();
                        tokio::spawn(async move {
                            let (read, mut write) = socket.into_split();
                            let mut lines = BufReader::new(read).lines();
                            while let Ok(Some(line)) = lines.next_line().await {
                                let mut words = line.splitn(3, ' ');
                                let reply = match (words.next(), words.next(), words.next()) {
                                    (Some("GET"), Some(key), None) => {
                                        match rows.lock().unwrap().get(key) {
                                            Some(value) => format!("SOME {value}"),
                                            None => "NONE".to_owned(),
                                        }
                                    }
                                    (Some("PUT"), Some(key), Some(value)) => {
                                        rows.lock().unwrap().insert(key.into(), value.into());
                                        "OK".to_owned()
                                    }
                                    (Some("PING"), None, None) => "PONG".to_owned(),
                                    (Some("HANG"), None, None) => continue,
                                    _ => "ERR".to_owned(),
                                };
                                if write
                                    .write_all(format!("{reply}\n").as_bytes())
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                            }
                        });
                    }
                });
                addr
            })
        })
        .join()
        .expect("server")
    })
}

/// A test double: a plain `async fn` impl, without the attribute, as a test (or a third
/// party) writes one. It records the calls and serves canned values.
struct Recording {
    calls: std::sync::Mutex<Vec<String>>,
}

impl Store for Recording {
    async fn get(&self, key: &str) -> Option<String> {
        self.calls.lock().unwrap().push(format!("get {key}"));
        tokio::task::yield_now().await;
        (key == "known").then(|| "canned".to_owned())
    }

    async fn put(&self, key: &str, value: String) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("put {key} {value}"));
    }

    async fn fail(&self, code: u32) -> u32 {
        tokio::task::yield_now().await;
        panic::panic_any(Boom(code))
    }

    async fn hang(&self, flag: DropFlag) -> u32 {
        let _flag = flag;
        std::future::pending().await
    }

    fn name(&self) -> &'static str {
        "double"
    }
}

/// Generic blocking code: `.run()` on the trait's futures (from `RunExt`), with borrowed
/// arguments.
fn sync_roundtrip<S: Store>(store: &S, key: &str) -> (Option<String>, Option<String>, String) {
    let before = store.get(key).run();
    let value = format!("{}-value", store.name());
    store.put(key, value).run();
    let after = store.get(key).run();
    let missing = format!("{key}-missing");
    let default = store.get_or(&missing, "fallback").run();
    (before, after, default)
}

/// Generic async code: `.await` on the same methods.
async fn async_roundtrip<S: Store>(store: &S, key: &str) -> (Option<String>, Option<String>) {
    let value = format!("{}-async", store.name());
    store.put(key, value).await;
    (
        store.get(key).await,
        store.get(&format!("{key}-none")).await,
    )
}

fn key(test: &str, ctx: Ctx, backend: &str) -> String {
    format!("{test}-{ctx:?}-{backend}")
}

#[test]
fn static_dispatch_runs_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, move || {
            let memory = Memory::new();
            let tcp = Tcp::new();
            // Concrete types: the impl's `Coroutine` gives the inherent `.run()` (the path
            // names the trait only because both traits of this file have a `get`).
            let memory_key = key("static", ctx, "memory");
            Store::put(&memory, &memory_key, "m".to_owned()).run();
            let tcp_key = key("static", ctx, "tcp");
            Store::put(&tcp, &tcp_key, "t".to_owned()).run();
            (
                Store::get(&memory, &memory_key).run(),
                Store::get(&tcp, &tcp_key).run(),
                Store::get_or(&memory, "absent", "d1").run(),
                Store::get_or(&tcp, "absent", "d2").run(),
            )
        });
        assert_eq!(
            ran.value,
            (
                Some("m".to_owned()),
                Some("t".to_owned()),
                "d1".to_owned(),
                "d2".to_owned()
            ),
            "{ctx:?}"
        );
    }
}

#[test]
fn generic_callers_run_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, move || {
            (
                sync_roundtrip(&Memory::new(), &key("generic", ctx, "memory")),
                sync_roundtrip(&Tcp::new(), &key("generic", ctx, "tcp")),
            )
        });
        let (memory, tcp) = ran.value;
        assert_eq!(
            memory,
            (None, Some("memory-value".into()), "fallback".into()),
            "{ctx:?}"
        );
        assert_eq!(
            tcp,
            (None, Some("tcp-value".into()), "fallback".into()),
            "{ctx:?}"
        );
    }
}

#[test]
fn generic_callers_await_on_every_runtime_flavor() {
    let memory = Memory::new();
    let tcp = Tcp::new();
    for rt in [common::current_thread(), common::multi_thread(2)] {
        let flavor = format!("{:?}", rt.handle().runtime_flavor());
        let (m, t) = rt.block_on(async {
            (
                async_roundtrip(&memory, &format!("await-{flavor}-m")).await,
                async_roundtrip(&tcp, &format!("await-{flavor}-t")).await,
            )
        });
        assert_eq!(m, (Some("memory-async".into()), None), "{flavor}");
        assert_eq!(t, (Some("tcp-async".into()), None), "{flavor}");
    }
    // And from async code that `.run()` drives.
    let (m, _) = anysync::run(async_roundtrip(&memory, "await-run"));
    assert_eq!(m, Some("memory-async".into()));
}

#[test]
fn a_test_double_without_the_attribute_works_through_generics() {
    let double = Recording {
        calls: std::sync::Mutex::new(Vec::new()),
    };
    let (before, after, default) = sync_roundtrip(&double, "k");
    assert_eq!((before, after), (None, None)); // canned: only "known" is known
    assert_eq!(default, "fallback");
    assert_eq!(double.get_or("known", "x").run(), "canned"); // the trait's default body
    let awaited = common::current_thread().block_on(async_roundtrip(&double, "known"));
    assert_eq!(awaited, (Some("canned".into()), None));
    assert_eq!(
        *double.calls.lock().unwrap(),
        [
            "get k",
            "put k double-value",
            "get k",
            "get k-missing",
            "get known",
            "put known double-async",
            "get known",
            "get known-none",
        ]
    );
}

/// `.run()` of a panicking trait method, generic and static, in `ctx`: the payload.
fn panics_of<S: Store + 'static>(ctx: Ctx, store: S) -> (u32, u32) {
    let store = Arc::new(store);
    let ran = within(ctx, move || {
        let generic = |s: &S| {
            panic::catch_unwind(AssertUnwindSafe(|| s.fail(1).run()))
                .expect_err("generic .run() panics")
        };
        let payload = generic(&store);
        let awaited = panic::catch_unwind(AssertUnwindSafe(|| {
            anysync::run(async { store.fail(2).await })
        }))
        .expect_err("awaited panics");
        (
            payload.downcast_ref::<Boom>().map(|b| b.0),
            awaited.downcast_ref::<Boom>().map(|b| b.0),
            panic_message(&*payload),
        )
    });
    let (generic, awaited, message) = ran.value;
    assert!(
        message.is_empty(),
        "{ctx:?}: the payload is Boom, not a message"
    );
    (
        generic.unwrap_or_else(|| panic!("{ctx:?}: payload lost")),
        awaited.unwrap_or_else(|| panic!("{ctx:?}: payload lost")),
    )
}

#[test]
fn panics_in_trait_methods_keep_their_payload_in_every_context() {
    for ctx in ALL {
        assert_eq!(panics_of(ctx, Memory::new()), (1, 2), "{ctx:?} memory");
        assert_eq!(panics_of(ctx, Tcp::new()), (1, 2), "{ctx:?} tcp");
    }
    // Static dispatch too: the impl's own `Coroutine`.
    let payload = panic::catch_unwind(|| Store::fail(&Tcp::new(), 9).run()).expect_err("panics");
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(9)));
}

#[test]
fn run_timeout_drops_trait_futures_in_every_context() {
    fn hang_with_timeout<S: Store>(store: &S) -> (bool, bool) {
        let dropped = Arc::new(AtomicBool::new(false));
        let result = store
            .hang(DropFlag(dropped.clone()))
            .run_timeout(Duration::from_millis(20));
        (result.is_err(), dropped.load(Ordering::SeqCst))
    }
    for ctx in ALL {
        let ran = within(ctx, move || {
            let static_dispatch = {
                let dropped = Arc::new(AtomicBool::new(false));
                let result = Store::hang(&Tcp::new(), DropFlag(dropped.clone()))
                    .run_timeout(Duration::from_millis(20));
                (result.is_err(), dropped.load(Ordering::SeqCst))
            };
            (
                hang_with_timeout(&Memory::new()),
                hang_with_timeout(&Tcp::new()),
                static_dispatch,
                Store::get(&Memory::new(), "quick").run_timeout(Duration::from_secs(30)),
            )
        });
        let (memory, tcp, static_dispatch, quick) = ran.value;
        assert_eq!(memory, (true, true), "{ctx:?}: timed out, future dropped");
        assert_eq!(tcp, (true, true), "{ctx:?}: timed out, future dropped");
        assert_eq!(static_dispatch, (true, true), "{ctx:?}");
        assert_eq!(quick, Ok(None), "{ctx:?}: a quick call beats the deadline");
    }
}

// ---- What else a trait may contain. ----

/// No `Sync` supertrait: the default body gets `where Self: Sync`. A generic trait
/// parameter, an associated type, an `impl Trait` argument, a generic method (whose
/// parameter needs `Send`: the future holds it), `&mut self`, an associated function without
/// `self`, and a method only for sized types.
#[anysync::coroutine]
pub trait Repository<K: Send + Sync + 'static> {
    /// An associated type, used in a signature.
    type Row: Clone + Send;

    /// Looks up one row.
    async fn find(&self, key: &K) -> Option<Self::Row>;

    /// A default body over `find`.
    async fn find_all(&self, keys: &[K]) -> Vec<Self::Row> {
        let mut rows = Vec::new();
        for key in keys {
            rows.extend(self.find(key).await);
        }
        rows
    }

    /// An `impl Trait` argument.
    async fn describe(&self, label: impl std::fmt::Display + Send) -> String;

    /// A generic method with its own parameter.
    async fn tagged<T: std::fmt::Debug + Send>(&self, tag: T) -> String {
        format!("{tag:?}")
    }

    /// `&mut self`.
    async fn insert(&mut self, key: K, row: Self::Row);

    /// No `self`.
    async fn open(capacity: usize) -> Self
    where
        Self: Sized;
}

struct Rows(Vec<(u32, String)>);

#[anysync::coroutine]
impl Repository<u32> for Rows {
    type Row = String;

    async fn find(&self, key: &u32) -> Option<String> {
        tokio::task::yield_now().await;
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    async fn describe(&self, label: impl std::fmt::Display + Send) -> String {
        format!("{label}: {} rows", self.0.len())
    }

    async fn insert(&mut self, key: u32, row: String) {
        tokio::task::yield_now().await;
        self.0.push((key, row));
    }

    async fn open(capacity: usize) -> Self {
        Rows(Vec::with_capacity(capacity))
    }
}

async fn fill<R: Repository<u32, Row = String> + Sync>(repo: &mut R) -> Vec<String> {
    repo.insert(1, "one".into()).await;
    repo.insert(2, "two".into()).await;
    repo.find_all(&[2, 3, 1]).await
}

#[test]
fn trait_generics_associated_types_and_functions() {
    let mut rows = Rows::open(4).run(); // an associated async fn, `.run()`
    assert_eq!(anysync::run(fill(&mut rows)), ["two", "one"]);
    assert_eq!(rows.describe("repo").run(), "repo: 2 rows");
    assert_eq!(rows.tagged(7_u8).run(), "7");
    assert_eq!(rows.find_all(&[1]).run(), ["one"]);
    // Generic code that only knows the trait.
    fn first<R: Repository<u32> + Sync>(repo: &R) -> Option<R::Row> {
        repo.find(&1).run()
    }
    assert_eq!(first(&rows), Some("one".into()));
    for ctx in ALL {
        let ran = within(ctx, || {
            let mut rows = Rows::open(1).run();
            rows.insert(5, "five".into()).run();
            rows.find_all(&[5]).run_timeout(Duration::from_secs(30))
        });
        assert_eq!(ran.value.unwrap(), ["five"], "{ctx:?}");
    }
}

/// Supertraits: one with an async method of its own, used through the subtrait.
#[anysync::coroutine]
pub trait Named: Send + Sync {
    /// The name, fetched.
    async fn fetch_name(&self) -> String;
}

/// A subtrait whose default body calls the supertrait's method.
#[anysync::coroutine]
pub trait Greeter: Named {
    /// A greeting built from the supertrait's method.
    async fn greet(&self, greeting: &str) -> String {
        format!("{greeting}, {}", self.fetch_name().await)
    }
}

#[anysync::coroutine]
impl Named for Memory {
    async fn fetch_name(&self) -> String {
        tokio::task::yield_now().await;
        "memory".into()
    }
}

impl Greeter for Memory {}

fn greet_all<G: Greeter>(greeters: &[G]) -> Vec<String> {
    greeters.iter().map(|g| g.greet("hello").run()).collect()
}

#[test]
fn supertraits_and_default_bodies() {
    assert_eq!(greet_all(&[Memory::new()]), ["hello, memory"]);
    let awaited = common::current_thread().block_on(Memory::new().greet("hi"));
    assert_eq!(awaited, "hi, memory");
}

/// `?Send`: a local trait, whose futures may hold an `Rc`.
#[anysync::coroutine(?Send)]
pub trait Cache {
    /// A shared value.
    async fn shared(&self) -> std::rc::Rc<String>;
}

struct Local(std::rc::Rc<String>);

#[anysync::coroutine(?Send)]
impl Cache for Local {
    async fn shared(&self) -> std::rc::Rc<String> {
        let held = self.0.clone();
        tokio::task::yield_now().await; // an `Rc` across an `.await`
        held
    }
}

#[test]
fn local_traits_await_and_run_in_place() {
    let local = Local(std::rc::Rc::new("here".into()));
    // Static dispatch: the impl's `Coroutine<.., Local>`.
    assert_eq!(*Cache::shared(&local).run(), "here");
    // Generic callers: `.await`, or `Coroutine::local(..).run()`, the local `.run()` path.
    fn generic<C: Cache>(cache: &C) -> std::rc::Rc<String> {
        anysync::Coroutine::local(cache.shared()).run()
    }
    assert_eq!(*generic(&local), "here");
    let awaited = tokio::task::LocalSet::new().block_on(&common::current_thread(), async {
        Cache::shared(&local).await
    });
    assert_eq!(*awaited, "here");
}

// ---- `dyn`: the same store as a trait object. ----

/// The store as a trait object: `#[anysync::coroutine(dyn)]` boxes each call's future.
#[anysync::coroutine(dyn)]
pub trait Backend: Send + Sync {
    /// The value under `key`.
    async fn get(&self, key: &str) -> Option<String>;

    /// Stores `value` under `key`.
    async fn put(&self, key: &str, value: String);

    /// A default body, boxed too.
    async fn get_or(&self, key: &str, default: &str) -> String {
        self.get(key).await.unwrap_or_else(|| default.to_owned())
    }

    /// Panics with `Boom(code)` after a round trip.
    async fn fail(&self, code: u32) -> u32;

    /// Never completes; holds `flag` until dropped.
    async fn hang(&self, flag: DropFlag) -> u32;

    /// An associated function: kept out of the vtable (`where Self: Sized` is added).
    async fn open() -> Self;

    /// Not async.
    fn name(&self) -> &'static str;
}

#[anysync::coroutine(dyn)]
impl Backend for Memory {
    async fn get(&self, key: &str) -> Option<String> {
        Store::get(self, key).await
    }

    async fn put(&self, key: &str, value: String) {
        Store::put(self, key, value).await;
    }

    async fn fail(&self, code: u32) -> u32 {
        Store::fail(self, code).await
    }

    async fn hang(&self, flag: DropFlag) -> u32 {
        Store::hang(self, flag).await
    }

    async fn open() -> Self {
        Memory::new()
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[anysync::coroutine(dyn)]
impl Backend for Tcp {
    async fn get(&self, key: &str) -> Option<String> {
        Store::get(self, key).await
    }

    async fn put(&self, key: &str, value: String) {
        Store::put(self, key, value).await;
    }

    async fn fail(&self, code: u32) -> u32 {
        Store::fail(self, code).await
    }

    async fn hang(&self, flag: DropFlag) -> u32 {
        Store::hang(self, flag).await
    }

    async fn open() -> Self {
        Tcp::new()
    }

    fn name(&self) -> &'static str {
        "tcp"
    }
}

/// The object type is `Send + Sync` (the trait's supertraits), so `Arc<dyn Backend>` moves
/// into `tokio::spawn` and across threads.
fn assert_send_sync<T: Send + Sync + ?Sized>() {}

fn backends() -> Vec<Arc<dyn Backend>> {
    vec![Arc::new(Memory::open().run()), Arc::new(Tcp::open().run())]
}

#[test]
fn dyn_objects_run_in_every_context() {
    assert_send_sync::<dyn Backend>();
    for ctx in ALL {
        let ran = within(ctx, move || {
            let mut seen = Vec::new();
            for backend in backends() {
                let key = key("dyn", ctx, backend.name());
                // `&dyn`, `Box<dyn>` and `Arc<dyn>`, each with `.run()`.
                let by_ref: &dyn Backend = &*backend;
                by_ref.put(&key, format!("{}-v", backend.name())).run();
                let boxed: Box<dyn Backend> = match backend.name() {
                    "memory" => Box::new(Memory::new()),
                    _ => Box::new(Tcp::new()),
                };
                seen.push((
                    backend.get(&key).run(),
                    by_ref.get_or("absent", "default").run(),
                    boxed.get(&key).run(), // a fresh memory store has nothing
                    backend.get(&key).run_timeout(Duration::from_secs(30)).ok(),
                ));
            }
            seen
        });
        let tcp_key = Some("tcp-v".to_owned());
        assert_eq!(
            ran.value,
            [
                (
                    Some("memory-v".to_owned()),
                    "default".to_owned(),
                    None,
                    Some(Some("memory-v".to_owned()))
                ),
                (
                    tcp_key.clone(),
                    "default".to_owned(),
                    tcp_key.clone(), // the server is shared
                    Some(tcp_key)
                ),
            ],
            "{ctx:?}"
        );
    }
}

#[test]
fn dyn_objects_await_and_move_into_spawned_tasks() {
    let rt = common::multi_thread(2);
    let results = rt.block_on(async {
        let mut handles = Vec::new();
        for backend in backends() {
            // `tokio::spawn` needs a `'static` future: an `Arc<dyn Backend>` moves in.
            handles.push(tokio::spawn(async move {
                let key = format!("spawned-{}", backend.name());
                backend.put(&key, "s".into()).await;
                (backend.get(&key).await, backend.get_or("nope", "d").await)
            }));
        }
        let mut results = Vec::new();
        for handle in handles {
            results.push(handle.await.expect("task"));
        }
        results
    });
    for result in results {
        assert_eq!(result, (Some("s".into()), "d".into()));
    }
    // And a `Box<dyn>` awaited inside `.run()`, on a current_thread runtime's task.
    let ran = within(Ctx::CurrentTask, || {
        let boxed: Box<dyn Backend> = Box::new(Memory::new());
        anysync::run(async move {
            boxed.put("k", "v".into()).await;
            boxed.get("k").await
        })
    });
    assert_eq!(ran.value, Some("v".into()));
}

#[test]
fn dyn_panics_and_timeouts_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, move || {
            backends()
                .into_iter()
                .map(|backend| {
                    let payload = panic::catch_unwind(AssertUnwindSafe(|| backend.fail(4).run()))
                        .expect_err("panics");
                    let dropped = Arc::new(AtomicBool::new(false));
                    let timed_out = backend
                        .hang(DropFlag(dropped.clone()))
                        .run_timeout(Duration::from_millis(20))
                        .is_err();
                    (
                        payload.downcast_ref::<Boom>().map(|b| b.0),
                        timed_out,
                        dropped.load(Ordering::SeqCst),
                    )
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(ran.value, [(Some(4), true, true); 2], "{ctx:?}");
    }
}

/// `dyn` and `?Send` together: a local trait object, boxed without `Send`.
#[anysync::coroutine(dyn, ?Send)]
pub trait LocalObject {
    /// A shared value, held across an `.await` as an `Rc`.
    async fn shared(&self) -> std::rc::Rc<String>;
}

#[anysync::coroutine(dyn, ?Send)]
impl LocalObject for Local {
    async fn shared(&self) -> std::rc::Rc<String> {
        let held = self.0.clone();
        tokio::task::yield_now().await;
        held
    }
}

/// A `Send` trait whose output is never `Send`: the impl's coroutine runs in place
/// (`LocalOutput`), generic callers `.await` it.
#[anysync::coroutine]
pub trait Shares: Send + Sync {
    /// A fresh `Rc`, made after an `.await`.
    async fn make(&self) -> std::rc::Rc<u32>;
}

#[anysync::coroutine]
impl Shares for Memory {
    async fn make(&self) -> std::rc::Rc<u32> {
        tokio::task::yield_now().await;
        std::rc::Rc::new(7)
    }
}

#[test]
fn local_trait_objects_and_outputs_that_are_never_send() {
    let local = Local(std::rc::Rc::new("object".into()));
    let object: &dyn LocalObject = &local;
    assert_eq!(*object.shared().run(), "object");
    let awaited = tokio::task::LocalSet::new()
        .block_on(&common::current_thread(), async { object.shared().await });
    assert_eq!(*awaited, "object");

    let memory = Memory::new();
    assert_eq!(*memory.make().run(), 7); // the impl's `Coroutine<.., LocalOutput>`
    async fn generic<S: Shares>(s: &S) -> u32 {
        *s.make().await
    }
    assert_eq!(anysync::run(generic(&memory)), 7);
}

/// `#[tracing::instrument]` on a method of a trait impl: the body's hidden function goes in
/// an inherent impl beside the trait impl.
#[anysync::coroutine]
pub trait Traced: Send + Sync {
    /// Returns the length of `key`.
    async fn traced(&self, key: &str) -> usize;
}

#[anysync::coroutine]
impl Traced for Memory {
    #[tracing::instrument(skip(self))]
    async fn traced(&self, key: &str) -> usize {
        tokio::task::yield_now().await;
        key.len()
    }
}

/// A second trait with a method of the same name, instrumented on the same type: the two
/// hidden functions must not clash.
#[anysync::coroutine]
pub trait TracedToo: Send + Sync {
    /// Returns twice the length of `key`.
    async fn traced(&self, key: &str) -> usize;
}

#[anysync::coroutine]
impl TracedToo for Memory {
    #[tracing::instrument(skip(self))]
    async fn traced(&self, key: &str) -> usize {
        2 * key.len()
    }
}

#[test]
fn instrumented_trait_impl_methods_run() {
    assert_eq!(TracedToo::traced(&Memory::new(), "abc").run(), 6);
    let memory = Memory::new();
    assert_eq!(Traced::traced(&memory, "four").run(), 4);
    fn generic<T: Traced>(t: &T) -> usize {
        t.traced("ab").run()
    }
    assert_eq!(generic(&memory), 2);
}

/// A generic trait implemented twice for one type, and a trait named like `Traced` in another
/// module, all instrumented: their hidden functions must not clash either.
#[anysync::coroutine]
pub trait Lookup<K>: Send + Sync {
    /// Describes `key`.
    async fn lookup(&self, key: K) -> String;
}

#[anysync::coroutine]
impl Lookup<u32> for Memory {
    #[tracing::instrument(skip(self))]
    async fn lookup(&self, key: u32) -> String {
        format!("u32 {key}")
    }
}

#[anysync::coroutine]
impl Lookup<&'static str> for Memory {
    #[tracing::instrument(skip(self))]
    async fn lookup(&self, key: &'static str) -> String {
        format!("str {key}")
    }
}

mod other {
    /// The same name as the outer `Traced`.
    #[anysync::coroutine]
    pub(crate) trait Traced: Send + Sync {
        /// Returns three times the length of `key`.
        async fn traced(&self, key: &str) -> usize;
    }
}

#[anysync::coroutine]
impl other::Traced for Memory {
    #[tracing::instrument(skip(self))]
    async fn traced(&self, key: &str) -> usize {
        3 * key.len()
    }
}

#[test]
fn instrumented_impls_of_one_trait_name_do_not_clash() {
    let memory = Memory::new();
    assert_eq!(Lookup::<u32>::lookup(&memory, 7).run(), "u32 7");
    assert_eq!(Lookup::<&str>::lookup(&memory, "k").run(), "str k");
    assert_eq!(other::Traced::traced(&memory, "ab").run(), 6);
    assert_eq!(Traced::traced(&memory, "ab").run(), 2);
}

/// An impl for every key type, instrumented: `K` is not in the type `Echo`, so the hidden
/// function (in an inherent impl of `Echo`) must take `K` as its own parameter.
struct Echo;

#[anysync::coroutine]
impl<K> Lookup<K> for Echo
where
    K: std::fmt::Debug + Send + Sync,
{
    #[tracing::instrument(skip(self))]
    async fn lookup(&self, key: K) -> String {
        tokio::task::yield_now().await;
        format!("echo {key:?}")
    }
}

/// `K` again, and a parameter of the type bounded by it.
struct Keyed<S>(S);

#[anysync::coroutine]
impl<K: std::fmt::Debug + Send + Sync, S: std::borrow::Borrow<str> + Send + Sync + PartialEq<K>>
    Lookup<K> for Keyed<S>
{
    #[tracing::instrument(skip(self))]
    async fn lookup(&self, key: K) -> String {
        let same = self.0 == key;
        format!("{} {key:?} {same}", self.0.borrow())
    }
}

#[test]
fn instrumented_impls_generic_over_the_trait_only() {
    assert_eq!(
        Keyed("ab").lookup(String::from("ab")).run(),
        "ab \"ab\" true"
    );
    assert_eq!(Echo.lookup(7_u8).run(), "echo 7");
    assert_eq!(Lookup::<&str>::lookup(&Echo, "k").run(), "echo \"k\"");
    fn generic<L: Lookup<u32>>(lookup: &L) -> String {
        lookup.lookup(1).run()
    }
    assert_eq!(generic(&Echo), "echo 1");
}

// ---- Receivers of default bodies: each gets the bound its future needs. ----

/// `&self` needs `Self: Sync`, `self` and `Box<Self>` `Self: Send`, `Arc<Self>` both; an
/// output that is itself an `impl Trait`.
#[anysync::coroutine]
pub trait Owned {
    /// The value.
    async fn value(&self) -> u32;
    /// Takes `self`.
    async fn consume(self) -> u32
    where
        Self: Sized,
    {
        1
    }
    /// Takes an `Arc<Self>`.
    async fn shared(self: Arc<Self>) -> u32 {
        self.value().await
    }
    /// Takes a `&Arc<Self>` (needs `Self: Send + Sync`, as `Arc<Self>` does).
    async fn shared_ref(self: &Arc<Self>) -> u32 {
        self.value().await + 1
    }
    /// Takes a `&mut Box<Self>` (needs `Self: Send`).
    async fn boxed_mut(self: &mut Box<Self>) -> u32 {
        self.value().await + 2
    }
    /// An `impl Trait` output.
    async fn iter(&self) -> impl Iterator<Item = u32> + Send {
        vec![1, 2].into_iter()
    }
}
/// A value.
struct V(u32);
#[anysync::coroutine]
impl Owned for V {
    async fn value(&self) -> u32 {
        self.0
    }
    async fn iter(&self) -> impl Iterator<Item = u32> + Send {
        vec![self.0].into_iter()
    }
}
#[test]
fn default_bodies_take_any_receiver() {
    assert_eq!(V(3).consume().run(), 1);
    assert_eq!(Arc::new(V(4)).shared().run(), 4);
    assert_eq!(Arc::new(V(4)).shared_ref().run(), 5);
    assert_eq!(Box::new(V(4)).boxed_mut().run(), 6);
    assert_eq!(V(5).iter().run().collect::<Vec<_>>(), [5]);
    fn g<O: Owned + Send + Sync>(o: O) -> u32 {
        o.consume().run()
    }
    assert_eq!(g(V(1)), 1);
}
/// Pinned and boxed receivers.
#[anysync::coroutine]
pub trait Pinned {
    /// `Pin<&Self>`.
    async fn a(self: std::pin::Pin<&Self>) -> u32 {
        1
    }
    /// `Pin<&mut Self>`.
    async fn b(self: std::pin::Pin<&mut Self>) -> u32 {
        2
    }
    /// `Box<Self>`.
    async fn c(self: Box<Self>) -> u32 {
        3
    }
}
impl Pinned for V {}
#[test]
fn default_bodies_take_pinned_and_boxed_receivers() {
    let mut v = V(0);
    assert_eq!(std::pin::Pin::new(&v).a().run(), 1);
    assert_eq!(std::pin::Pin::new(&mut v).b().run(), 2);
    assert_eq!(Box::new(v).c().run(), 3);
}

// ---- `dyn` traits with methods left out of the vtable. ----

/// A `dyn` trait with a generic method and an `impl Trait` argument, both `where Self: Sized`
/// (so out of the vtable, unboxed).
#[anysync::coroutine(dyn)]
pub trait Tagger: Send + Sync {
    /// In the vtable.
    async fn tag(&self) -> String;
    /// Generic: out of the vtable.
    async fn tagged<T: std::fmt::Debug + Send>(&self, value: T) -> String
    where
        Self: Sized;
    /// An `impl Trait` argument: out of the vtable.
    async fn shown(&self, value: impl std::fmt::Display + Send) -> String
    where
        Self: Sized;
}

/// Its impl, written as Rust allows: without repeating the `where Self: Sized` that only the
/// declaration needs (the impl's type is sized).
#[anysync::coroutine(dyn)]
impl Tagger for V {
    async fn tag(&self) -> String {
        format!("v{}", self.0)
    }
    async fn tagged<T: std::fmt::Debug + Send>(&self, value: T) -> String {
        format!("{}:{value:?}", self.tag().await)
    }
    async fn shown(&self, value: impl std::fmt::Display + Send) -> String {
        format!("{}={value}", self.tag().await)
    }
}

#[test]
fn dyn_impls_need_not_repeat_where_self_sized_on_generic_methods() {
    let v = V(2);
    assert_eq!(v.tagged(7u8).run(), "v2:7");
    assert_eq!(v.shown("x").run(), "v2=x");
    let object: &dyn Tagger = &v;
    assert_eq!(object.tag().run(), "v2");
}

/// A generic `dyn` trait whose methods take its parameter by value: the boxed future holds
/// a `K`, so `K` must outlive it, a bound the user could not write (the future's lifetime is
/// hidden); the attribute writes it, in the declaration and in each impl.
#[anysync::coroutine(dyn)]
pub trait Sink<K: Send + Sync>: Send + Sync {
    /// Takes `key` by value.
    async fn push(&self, key: K) -> usize;
    /// A default body holding `key`.
    async fn push_twice(&self, key: K) -> usize
    where
        K: Clone,
    {
        self.push(key.clone()).await + self.push(key).await
    }
}

/// Counts what it is given.
struct Pushed(std::sync::Mutex<Vec<String>>);

#[anysync::coroutine(dyn)]
impl<K: Send + Sync + std::fmt::Debug> Sink<K> for Pushed {
    async fn push(&self, key: K) -> usize {
        tokio::task::yield_now().await;
        let mut seen = self.0.lock().unwrap();
        seen.push(format!("{key:?}"));
        seen.len()
    }
}

/// An impl whose own parameter is only in `Self`.
#[anysync::coroutine(dyn)]
impl<T: Send + Sync + Clone> Sink<u32> for Wrapper<T> {
    async fn push(&self, key: u32) -> usize {
        tokio::task::yield_now().await;
        let _copy = self.0.clone();
        key as usize
    }
}

/// Wraps a value.
struct Wrapper<T>(T);

#[test]
fn generic_dyn_traits_take_their_parameter_by_value() {
    let pushed = Pushed(std::sync::Mutex::new(Vec::new()));
    let numbers: &dyn Sink<u32> = &pushed;
    assert_eq!(numbers.push(1).run(), 1);
    assert_eq!(numbers.push_twice(2).run(), 2 + 3);
    let text = String::from("borrowed");
    let borrowed: &dyn Sink<&str> = &pushed;
    assert_eq!(anysync::run(async { borrowed.push(&text).await }), 4);
    let wrapped: Arc<dyn Sink<u32>> = Arc::new(Wrapper("w"));
    assert_eq!(wrapped.push(7).run(), 7);
    assert_eq!(*pushed.0.lock().unwrap(), ["1", "2", "2", "\"borrowed\""]);
}
