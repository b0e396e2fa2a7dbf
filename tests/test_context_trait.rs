//! `AsyncContext` implemented by user types (Python's `AnySyncContextManager` subclassing), on
//! real resources: a loopback TCP connection opened in setup and closed in teardown (the
//! server observes the close), and a temporary directory created and removed. Sync guards,
//! async guards and the scoped forms in every calling context; teardown exactly once, on normal
//! exit, early return, `?` and panic; setup failure; teardown errors; dropped async guards;
//! a teardown that panics while unwinding; `?Send` contexts.

mod common;
mod managers;

use anysync::{AsyncContext, AsyncGuard, Exit, SyncGuard};
use common::Boom;
use common::ctx::{ALL, Ctx};
use managers::{
    ASYNC, Conn, Event, Log, server, unique, unique_dir, within_async, within_sync as within,
};
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::{fs, thread};

// ---------------------------------------------------------------------------------------------
// The user types
// ---------------------------------------------------------------------------------------------

/// A connection to the loopback server: connected in setup, shut down in teardown.
struct Connect {
    addr: SocketAddr,
    token: String,
    log: Log,
}

impl Connect {
    fn new(token: &str, log: &Log) -> Self {
        Connect {
            addr: server().addr(),
            token: token.to_owned(),
            log: log.clone(),
        }
    }
}

impl AsyncContext for Connect {
    type Target = Conn;
    type Output = io::Result<()>;

    async fn setup(&mut self) -> io::Result<Conn> {
        let conn = Conn::open(self.addr, &self.token).await?;
        self.log.push(Event::Setup);
        Ok(conn)
    }

    async fn teardown(&mut self, conn: Conn, exit: Exit) -> io::Result<()> {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        self.log.push(Event::Teardown(exit));
        conn.close().await
    }
}

/// A temporary directory: created in setup, removed (with its contents) in teardown.
struct TempDir {
    path: PathBuf,
    log: Log,
}

impl TempDir {
    fn new(tag: &str, log: &Log) -> Self {
        TempDir {
            path: unique_dir(tag),
            log: log.clone(),
        }
    }
}

impl AsyncContext for TempDir {
    type Target = PathBuf;
    type Output = io::Result<()>;

    async fn setup(&mut self) -> io::Result<PathBuf> {
        tokio::task::yield_now().await;
        fs::create_dir(&self.path)?;
        self.log.push(Event::Setup);
        Ok(self.path.clone())
    }

    async fn teardown(&mut self, dir: PathBuf, exit: Exit) -> io::Result<()> {
        tokio::task::yield_now().await;
        self.log.push(Event::Teardown(exit));
        fs::remove_dir_all(dir)
    }
}

fn setup_and(exit: Exit) -> Vec<Event> {
    vec![Event::Setup, Event::Teardown(exit)]
}

// ---------------------------------------------------------------------------------------------
// TCP: the server observes the close
// ---------------------------------------------------------------------------------------------

#[test]
fn tcp_sync_guard_closes_the_connection_in_every_context() {
    for ctx in ALL {
        let token = unique(&format!("sync-{ctx:?}"));
        let log = Log::default();
        let (t, l) = (token.clone(), log.clone());
        let ran = within(ctx, move || {
            let mut conn = Connect::new(&t, &l).enter().run().expect("connect");
            let reply = conn.echo("ping").run().expect("echo");
            assert!(!server().is_closed(&t), "{ctx:?}: open inside the block");
            reply
        });
        assert_eq!(ran, "echo: ping", "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal), "{ctx:?}");
        server().wait_closed(&token);
    }
}

#[test]
fn tcp_async_guard_exit_closes_the_connection_in_every_async_context() {
    for ctx in ASYNC {
        let token = unique(&format!("async-{ctx:?}"));
        let log = Log::default();
        let (t, l) = (token.clone(), log.clone());
        let reply = within_async(ctx, move || async move {
            let mut conn = Connect::new(&t, &l).enter().await?;
            let reply = conn.echo("ping").await?;
            conn.exit().await?;
            io::Result::Ok(reply)
        });
        assert_eq!(reply.unwrap(), "echo: ping", "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal), "{ctx:?}");
        server().wait_closed(&token);
    }
}

#[test]
fn tcp_async_guard_dropped_without_exit_still_closes_the_connection() {
    for ctx in ASYNC {
        let token = unique(&format!("dropped-{ctx:?}"));
        let log = Log::default();
        let (t, l) = (token.clone(), log.clone());
        let seen = within_async(ctx, move || async move {
            let mut conn = Connect::new(&t, &l).enter().await.expect("connect");
            conn.echo("ping").await.expect("echo");
            drop(conn);
            // The teardown ran inside `drop`, before the next statement.
            l.events()
        });
        assert_eq!(seen, setup_and(Exit::Normal), "{ctx:?}");
        server().wait_closed(&token);
    }
}

#[test]
fn tcp_setup_failure_is_returned_and_nothing_else_runs() {
    let log = Log::default();
    let refused = || Connect {
        addr: managers::refusing_addr(),
        token: unique("refused"),
        log: log.clone(),
    };
    let err = refused().enter().run().err().expect("connection refused");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let ran = AtomicU32::new(0);
    let scoped = refused().scope(|_| ran.fetch_add(1, Ordering::SeqCst));
    assert_eq!(scoped.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    let awaited = anysync::run(async { refused().enter().await.err() });
    assert_eq!(
        awaited.map(|e| e.kind()),
        Some(io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the block never ran");
    assert_eq!(log.events(), [], "neither setup's success nor a teardown");
}

#[test]
fn tcp_scope_async_runs_in_a_spawned_task() {
    // `tokio::spawn` needs the whole future `Send`: it leaks through `enter()`'s and
    // `scope_async()`'s `impl Future` for a concrete context.
    let token = unique("spawned");
    let log = Log::default();
    let context = Connect::new(&token, &log);
    let reply = anysync::run(async move {
        tokio::spawn(context.scope_async(async |conn| conn.echo("spawned").await))
            .await
            .unwrap()
    });
    assert_eq!(reply.unwrap().unwrap(), "echo: spawned");
    assert_eq!(log.events(), setup_and(Exit::Normal));
    server().wait_closed(&token);
}

// ---------------------------------------------------------------------------------------------
// Temporary directory: exits and errors
// ---------------------------------------------------------------------------------------------

#[test]
fn temp_dir_exists_inside_the_block_and_is_gone_after_it_in_every_context() {
    for ctx in ALL {
        let log = Log::default();
        let l = log.clone();
        let ran = within(ctx, move || {
            let path = {
                let dir = TempDir::new("sync", &l).enter().run().expect("create");
                fs::write(dir.join("data.txt"), "hello").expect("write");
                assert!(dir.join("data.txt").is_file());
                dir.clone()
            };
            (path.clone(), path.exists())
        });
        let (path, exists_after) = ran;
        assert!(!exists_after, "{ctx:?}: removed when the guard dropped");
        assert!(!path.exists(), "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal), "{ctx:?}");
    }
}

#[test]
fn temp_dir_async_guard_in_every_async_context() {
    for ctx in ASYNC {
        let log = Log::default();
        let l = log.clone();
        let path = within_async(ctx, move || async move {
            let dir = TempDir::new("async", &l).enter().await?;
            fs::write(dir.join("data.txt"), "hello")?;
            let path = dir.clone();
            dir.exit().await?;
            io::Result::Ok(path)
        })
        .expect("async use");
        assert!(!path.exists(), "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal), "{ctx:?}");
    }
}

#[test]
fn teardown_runs_on_panic_sees_it_and_the_panic_keeps_its_payload_in_every_context() {
    for ctx in ALL {
        let log = Log::default();
        let l = log.clone();
        let path = Arc::new(std::sync::Mutex::new(PathBuf::new()));
        let p = Arc::clone(&path);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within(ctx, move || {
                let dir = TempDir::new("panic", &l).enter().run().expect("create");
                *p.lock().unwrap() = dir.clone();
                fs::write(dir.join("half-written"), "..").expect("write");
                panic::panic_any(Boom(41));
            })
        }));
        let payload = caught.expect_err("the panic propagates");
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(41)), "{ctx:?}");
        assert!(!path.lock().unwrap().exists(), "{ctx:?}: removed");
        assert_eq!(log.events(), setup_and(Exit::Panicked), "{ctx:?}");
    }
}

#[test]
fn async_guard_dropped_by_a_panic_tears_down_with_panicked_in_every_async_context() {
    for ctx in ASYNC {
        let log = Log::default();
        let l = log.clone();
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within_async(ctx, move || async move {
                let _dir = TempDir::new("async-panic", &l)
                    .enter()
                    .await
                    .expect("create");
                tokio::task::yield_now().await;
                panic::panic_any(Boom(42));
            })
        }));
        let payload = caught.expect_err("the panic propagates");
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(42)), "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Panicked), "{ctx:?}");
    }
}

/// Reads a file that is not there: `?` leaves the block early.
fn read_missing(log: &Log) -> io::Result<(PathBuf, String)> {
    let dir = TempDir::new("question-mark", log).enter().run()?;
    let text = fs::read_to_string(dir.join("missing.txt"))?;
    Ok((dir.clone(), text))
}

/// Returns early from inside the block.
fn return_early(log: &Log) -> PathBuf {
    let dir = TempDir::new("return", log).enter().run().expect("create");
    if dir.is_dir() {
        return dir.clone();
    }
    unreachable!()
}

#[test]
fn early_return_and_question_mark_run_the_teardown() {
    let log = Log::default();
    let err = read_missing(&log).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(log.events(), setup_and(Exit::Normal));

    let log = Log::default();
    let path = return_early(&log);
    assert!(!path.exists());
    assert_eq!(log.events(), setup_and(Exit::Normal));
}

#[test]
fn explicit_exit_returns_the_teardowns_error() {
    // The block removes the directory itself: the teardown's `remove_dir_all` fails.
    for ctx in ALL {
        let log = Log::default();
        let l = log.clone();
        let ran = within(ctx, move || {
            let dir = TempDir::new("exit-error", &l)
                .enter()
                .run()
                .expect("create");
            fs::remove_dir(&*dir).expect("remove");
            dir.exit().map_err(|e| e.kind())
        });
        assert_eq!(ran, Err(io::ErrorKind::NotFound), "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal), "{ctx:?}");
    }
    for ctx in ASYNC {
        let log = Log::default();
        let l = log.clone();
        let exit = within_async(ctx, move || async move {
            let dir = TempDir::new("exit-error-async", &l)
                .enter()
                .await
                .expect("create");
            fs::remove_dir(&*dir).expect("remove");
            dir.exit().await.map_err(|e| e.kind())
        });
        assert_eq!(exit, Err(io::ErrorKind::NotFound), "{ctx:?}");
    }
}

#[test]
fn dropping_the_guard_runs_a_failing_teardown_and_discards_its_error() {
    let log = Log::default();
    {
        let dir = TempDir::new("drop-error", &log)
            .enter()
            .run()
            .expect("create");
        fs::remove_dir(&*dir).expect("remove");
    }
    assert_eq!(log.events(), setup_and(Exit::Normal));
}

#[test]
fn setup_failure_returns_the_error_and_neither_block_nor_teardown_run() {
    let log = Log::default();
    let nowhere = || TempDir {
        path: unique_dir("no-parent").join("child"),
        log: log.clone(),
    };
    let err = nowhere().enter().run().expect_err("no parent directory");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let called = AtomicBool::new(false);
    let scoped = nowhere().scope(|_| called.store(true, Ordering::SeqCst));
    assert_eq!(scoped.unwrap_err().kind(), io::ErrorKind::NotFound);
    let awaited = anysync::run(async {
        let entered = nowhere().enter().await.err().map(|e| e.kind());
        let scoped = nowhere()
            .scope_async(async |_| called.store(true, Ordering::SeqCst))
            .await
            .map_err(|e| e.kind());
        (entered, scoped)
    });
    assert_eq!(
        awaited,
        (Some(io::ErrorKind::NotFound), Err(io::ErrorKind::NotFound))
    );
    assert!(!called.load(Ordering::SeqCst), "the block never ran");
    assert_eq!(log.events(), [], "no teardown");
}

#[test]
fn scope_returns_the_blocks_value_or_the_contexts_error() {
    let log = Log::default();
    let (len, path) = TempDir::new("scope", &log)
        .scope(|dir| {
            fs::write(dir.join("a"), "abc").unwrap();
            (fs::read(dir.join("a")).unwrap().len(), dir.clone())
        })
        .expect("scope");
    assert_eq!(len, 3);
    assert!(!path.exists());
    // The teardown's error replaces the block's value.
    let failed = TempDir::new("scope-error", &log).scope(|dir| fs::remove_dir(&*dir));
    assert_eq!(failed.unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(
        log.events(),
        [setup_and(Exit::Normal), setup_and(Exit::Normal)].concat()
    );
}

#[test]
fn scope_async_in_every_async_context() {
    for ctx in ASYNC {
        let log = Log::default();
        let l = log.clone();
        let (len, path) = within_async(ctx, move || async move {
            TempDir::new("scope-async", &l)
                .scope_async(async |dir| {
                    tokio::task::yield_now().await;
                    fs::write(dir.join("a"), "abcd").unwrap();
                    (fs::read(dir.join("a")).unwrap().len(), dir.clone())
                })
                .await
        })
        .expect("scope_async");
        assert_eq!(len, 4, "{ctx:?}");
        assert!(!path.exists(), "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal), "{ctx:?}");
    }
}

#[test]
fn scope_and_scope_async_tear_down_on_panic() {
    let log = Log::default();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        TempDir::new("scope-panic", &log).scope(|_| panic::panic_any(Boom(1)))
    }));
    assert_eq!(caught.unwrap_err().downcast_ref::<Boom>(), Some(&Boom(1)));
    let l = log.clone();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        within_async(Ctx::CurrentTask, move || async move {
            TempDir::new("scope-async-panic", &l)
                .scope_async(async |_| {
                    tokio::task::yield_now().await;
                    panic::panic_any(Boom(2))
                })
                .await
        })
    }));
    assert_eq!(caught.unwrap_err().downcast_ref::<Boom>(), Some(&Boom(2)));
    assert_eq!(
        log.events(),
        [setup_and(Exit::Panicked), setup_and(Exit::Panicked)].concat()
    );
}

// ---------------------------------------------------------------------------------------------
// Infallible contexts, nesting, exactly-once, Send and ?Send
// ---------------------------------------------------------------------------------------------

/// An infallible context that counts its setups and teardowns.
struct Counted {
    setups: Arc<AtomicU32>,
    teardowns: Arc<AtomicU32>,
}

impl Counted {
    fn new() -> (Self, Arc<AtomicU32>, Arc<AtomicU32>) {
        let (s, t) = (Arc::default(), Arc::default());
        let counted = Counted {
            setups: Arc::clone(&s),
            teardowns: Arc::clone(&t),
        };
        (counted, s, t)
    }
}

impl AsyncContext for Counted {
    type Target = u32;
    type Output = ();

    async fn setup(&mut self) -> u32 {
        self.setups.fetch_add(1, Ordering::SeqCst) + 1
    }

    async fn teardown(&mut self, _: u32, _: Exit) {
        self.teardowns.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_infallible_context_enters_without_result_noise() {
    let (counted, _, teardowns) = Counted::new();
    let guard: SyncGuard<Counted> = counted.enter().run();
    assert_eq!(*guard, 1);
    let (): () = guard.exit();
    let (counted, _, _) = Counted::new();
    let n: u32 = counted.scope(|n| *n * 10);
    assert_eq!(n, 10);
    let (counted, _, _) = Counted::new();
    anysync::run(async {
        let guard: AsyncGuard<Counted> = counted.enter().await;
        guard.exit().await;
    });
    assert_eq!(teardowns.load(Ordering::SeqCst), 1);
}

#[test]
fn teardown_runs_exactly_once_on_every_exit_path() {
    let (c, s, t) = Counted::new();
    drop(c.enter().run());
    let (c2, s2, t2) = Counted::new();
    c2.enter().run().exit();
    let (c3, s3, t3) = Counted::new();
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let _g = c3.enter().run();
        panic!("block failed");
    }));
    let (c4, s4, t4) = Counted::new();
    anysync::run(async move { drop(c4.enter().await) });
    for (setups, teardowns) in [(s, t), (s2, t2), (s3, t3), (s4, t4)] {
        assert_eq!(setups.load(Ordering::SeqCst), 1);
        assert_eq!(teardowns.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn entering_without_running_runs_nothing() {
    let (c, setups, teardowns) = Counted::new();
    let entering = c.enter();
    drop(entering);
    let (c, s2, _) = Counted::new();
    drop(std::future::IntoFuture::into_future(c.enter()));
    assert_eq!(setups.load(Ordering::SeqCst), 0);
    assert_eq!(s2.load(Ordering::SeqCst), 0);
    assert_eq!(teardowns.load(Ordering::SeqCst), 0);
}

#[test]
fn nested_guards_tear_down_innermost_first_in_every_context() {
    for ctx in ALL {
        let log = Log::default();
        let l = log.clone();
        within(ctx, move || {
            let outer = TempDir::new("outer", &l).enter().run().expect("outer");
            let inner = TempDir {
                path: outer.join("inner"),
                log: l.clone(),
            }
            .enter()
            .run()
            .expect("inner");
            assert!(inner.starts_with(&*outer));
            l.push(Event::Block);
            // `inner` drops first: its directory is gone before `outer` removes its own.
        });
        assert_eq!(
            log.events(),
            [
                Event::Setup,
                Event::Setup,
                Event::Block,
                Event::Teardown(Exit::Normal),
                Event::Teardown(Exit::Normal)
            ],
            "{ctx:?}"
        );
    }
}

/// Send, but its setup future is not: it holds an `Rc` across an `.await`.
struct NotSendSetup;

impl AsyncContext for NotSendSetup {
    type Target = String;
    type Output = ();

    async fn setup(&mut self) -> String {
        let local = Rc::new("made where it was polled");
        tokio::task::yield_now().await;
        local.to_string()
    }

    async fn teardown(&mut self, _: String, _: Exit) {
        let local = Rc::new(());
        tokio::task::yield_now().await;
        drop(local);
    }
}

#[test]
fn setup_and_teardown_futures_need_not_be_send_for_blocking_use_in_every_context() {
    // `.run()` lends the *context* to a background thread where it must, and creates the
    // setup and teardown futures there: only the context, target and output must be `Send`.
    for ctx in ALL {
        let ran = within(ctx, || NotSendSetup.scope(|s| s.clone()));
        assert_eq!(ran, "made where it was polled", "{ctx:?}");
    }
}

/// Not `Send`: shares an `Rc` with its caller.
struct Shared(Rc<Cell<u32>>);

impl AsyncContext for Shared {
    type Target = Rc<Cell<u32>>;
    type Output = ();

    async fn setup(&mut self) -> Rc<Cell<u32>> {
        self.0.set(self.0.get() + 1);
        Rc::clone(&self.0)
    }

    async fn teardown(&mut self, _: Rc<Cell<u32>>, exit: Exit) {
        assert_eq!(exit, Exit::Normal);
        self.0.set(self.0.get() + 10);
    }
}

#[test]
fn local_contexts_block_where_the_thread_may_and_await_everywhere() {
    for ctx in ALL {
        let ran = within(ctx, move || {
            let count = Rc::new(Cell::new(0));
            let entered = panic::catch_unwind(AssertUnwindSafe(|| {
                let guard = Shared(Rc::clone(&count)).enter().local().run();
                guard.set(guard.get() + 100);
            }));
            (
                entered.map_err(|p| managers::panic_message(&*p)),
                count.get(),
            )
        });
        match ran {
            (Ok(()), count) => {
                assert!(!ctx.forbids_local(), "{ctx:?}");
                assert_eq!(count, 111, "{ctx:?}");
            }
            (Err(message), count) => {
                assert!(ctx.forbids_local(), "{ctx:?}: {message}");
                assert!(message.contains(".await"), "{ctx:?}: advice: {message}");
                assert_eq!(count, 0, "{ctx:?}: nothing ran");
            }
        }
    }
    // `.await` works in a `LocalSet` on a current_thread runtime, with `exit().await`.
    let count = Rc::new(Cell::new(0));
    let rt = common::current_thread();
    tokio::task::LocalSet::new().block_on(&rt, async {
        let guard = Shared(Rc::clone(&count)).enter().local().await;
        tokio::task::yield_now().await;
        guard.exit().await;
    });
    assert_eq!(count.get(), 11);
}

#[test]
fn a_guard_made_while_unwinding_ends_normally() {
    // Only a panic that starts after the guard was made ends its block with `Panicked`.
    struct EntersOnDrop(Log);
    impl Drop for EntersOnDrop {
        fn drop(&mut self) {
            let _dir = TempDir::new("in-drop", &self.0)
                .enter()
                .run()
                .expect("create");
        }
    }
    let log = Log::default();
    let guard = EntersOnDrop(log.clone());
    let _ = panic::catch_unwind(AssertUnwindSafe(move || {
        let _guard = guard;
        panic!("unwinding");
    }));
    assert_eq!(log.events(), setup_and(Exit::Normal));
}

// ---------------------------------------------------------------------------------------------
// A teardown that panics
// ---------------------------------------------------------------------------------------------

/// A context whose teardown panics.
struct Fragile(Arc<AtomicU32>);

impl AsyncContext for Fragile {
    type Target = ();
    type Output = ();

    async fn setup(&mut self) {}

    async fn teardown(&mut self, (): (), exit: Exit) {
        tokio::task::yield_now().await;
        self.0.fetch_add(1, Ordering::SeqCst);
        panic::panic_any(format!("teardown failed after {exit:?}"));
    }
}

#[test]
fn a_teardown_panic_outside_unwinding_propagates_from_drop_and_exit() {
    let runs = Arc::new(AtomicU32::new(0));
    let dropped = panic::catch_unwind(AssertUnwindSafe(|| {
        drop(Fragile(runs.clone()).enter().run())
    }));
    let message = managers::panic_message(&*dropped.unwrap_err());
    assert_eq!(message, "teardown failed after Normal");
    let exited = panic::catch_unwind(AssertUnwindSafe(|| {
        Fragile(runs.clone()).enter().run().exit()
    }));
    assert!(exited.is_err());
    assert_eq!(runs.load(Ordering::SeqCst), 2, "once each");
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn a_teardown_panic_while_unwinding_is_reported_and_does_not_abort() {
    // An abort would take the whole test process down, so the scenario runs in a child.
    let test = "teardown_panic_while_unwinding_child";
    let out = managers::rerun(test);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains("child: survived 3 contexts"),
        "{stdout}\n{stderr}"
    );
    let reports = stderr
        .matches("anysync: the teardown of context `test_context_trait::Fragile` panicked while unwinding")
        .count();
    assert_eq!(reports, 3, "{stderr}");
    assert!(
        stderr.contains("(teardown failed after Panicked)"),
        "{stderr}"
    );
}

#[test]
fn teardown_panic_while_unwinding_child() {
    if !managers::is_child("teardown_panic_while_unwinding_child") {
        return;
    }
    let mut survived = 0;
    for ctx in [Ctx::Plain, Ctx::CurrentTask, Ctx::MultiTask] {
        let runs = Arc::new(AtomicU32::new(0));
        let r = Arc::clone(&runs);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within(ctx, move || {
                let _guard = Fragile(r).enter().run();
                panic::panic_any(Boom(9));
            })
        }));
        let payload = caught.expect_err("the block's panic propagates");
        assert_eq!(
            payload.downcast_ref::<Boom>(),
            Some(&Boom(9)),
            "{ctx:?}: the first panic"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{ctx:?}: the teardown ran");
        survived += 1;
    }
    println!("child: survived {survived} contexts");
}

#[test]
fn guards_and_contexts_are_send_when_their_parts_are() {
    fn is_send<T: Send>(_: &T) {}
    let (c, _, teardowns) = Counted::new();
    is_send(&c.enter());
    let (c, _, _) = Counted::new();
    let guard = c.enter().run();
    is_send(&guard);
    // A guard can move to another thread and be dropped there.
    thread::spawn(move || drop(guard)).join().unwrap();
    let (c, _, _) = Counted::new();
    let entering = std::future::IntoFuture::into_future(c.enter());
    is_send(&entering);
    let guard = anysync::run(entering);
    is_send(&guard);
    thread::spawn(move || drop(guard)).join().unwrap();
    assert_eq!(teardowns.load(Ordering::SeqCst), 0, "a different context");
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn unwinding_teardown_as_the_first_in_place_block_does_not_break_later_runs() {
    // Regression: the bridge installs its quiet panic hook on the first in-place block, and std
    // panics when a panicking thread touches the hook; done from a guard's teardown during
    // unwinding, that poisoned the bridge's `Once`, and every later in-place `.run()` in the
    // process panicked. Needs a fresh process to be the first.
    let test = "first_in_place_block_while_unwinding_child";
    let out = managers::rerun(test);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains("child: later runs work"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn first_in_place_block_while_unwinding_child() {
    if !managers::is_child("first_in_place_block_while_unwinding_child") {
        return;
    }
    let log = Log::default();
    // Entered on this plain thread (not in place), dropped in a multi_thread task (in place).
    let dir = TempDir::new("first", &log).enter().run().expect("create");
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        within(Ctx::MultiTask, move || {
            let _dir = dir;
            panic::panic_any(Boom(3));
        })
    }));
    assert_eq!(caught.err().unwrap().downcast_ref::<Boom>(), Some(&Boom(3)));
    assert_eq!(log.events(), setup_and(Exit::Panicked));
    for ctx in [Ctx::MultiTask, Ctx::MultiRoot, Ctx::NestedPlain] {
        let (counted, _, teardowns) = Counted::new();
        within(ctx, move || counted.scope(|n| *n));
        assert_eq!(teardowns.load(Ordering::SeqCst), 1, "{ctx:?}");
    }
    println!("child: later runs work");
}
