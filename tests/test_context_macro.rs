//! `#[anysync::context]` end to end, through the macro: real resources (a loopback TCP
//! connection whose close the server observes, a temporary directory) in every calling context
//! of the runtime table, sync and async; teardown on panic, early return, `?`, explicit exit
//! and a dropped async guard; setup errors; `scope` / `scope_async`; what `yield_!` and
//! `exit_status!()` give the body; methods, generics, borrowed arguments, `crate = "..."` and
//! `?Send`; the run-time misuse panics; and `Send`-ness.

mod common;
mod managers;

use anysync::{AsyncContext, Exit, SyncGuard, exit_status, yield_};
use common::Boom;
use common::ctx::{ALL, Ctx};
use managers::{
    ASYNC, Conn, Event, Log, panic_message, refusing_addr, server, unique, unique_dir,
    within_async, within_sync as within,
};
use std::cell::Cell;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::{fs, io, thread};

fn setup_and(exit: Exit) -> Vec<Event> {
    vec![Event::Setup, Event::Teardown(exit)]
}

// ---------------------------------------------------------------------------------------------
// A loopback TCP session: opened in setup, closed in teardown, the server sees the close
// ---------------------------------------------------------------------------------------------

/// The example: connect in setup (an error there is what entering returns), lend the
/// connection, close it in teardown. The teardown also uses a timer and `tokio::spawn`, so it
/// needs a live runtime wherever it runs.
#[anysync::context(item = Conn)]
async fn session(addr: SocketAddr, token: &str, log: &Log) -> io::Result<()> {
    let conn = Conn::open(addr, token).await?;
    log.push(Event::Setup);
    let conn = yield_!(conn);
    log.push(Event::Teardown(exit_status!()));
    tokio::time::sleep(Duration::from_millis(1)).await;
    let spawned = tokio::spawn(async { 7 }).await.expect("spawn in teardown");
    assert_eq!(spawned, 7);
    conn.close().await?;
    Ok(())
}

#[test]
fn tcp_sync_guard_closes_the_connection_when_dropped_in_every_context() {
    for ctx in ALL {
        let token = unique(&format!("macro-sync-{ctx:?}"));
        let log = Log::default();
        let (t, l) = (token.clone(), log.clone());
        let reply = within(ctx, move || -> io::Result<String> {
            let mut conn = session(server().addr(), &t, &l).enter().run()?;
            let reply = conn.echo("select 1").run()?;
            assert!(!server().is_closed(&t), "open while the block runs");
            Ok(reply)
        });
        assert_eq!(reply.unwrap(), "echo: select 1", "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal), "{ctx:?}");
        server().wait_closed(&token);
    }
}

#[test]
fn tcp_explicit_exit_and_scope_close_the_connection_in_every_context() {
    for ctx in ALL {
        let [t1, t2] = ["exit", "scope"].map(|w| unique(&format!("macro-{w}-{ctx:?}")));
        let log = Log::default();
        let (a, b, l) = (t1.clone(), t2.clone(), log.clone());
        let replies = within(ctx, move || -> io::Result<[String; 2]> {
            let mut g = session(server().addr(), &a, &l).enter().run()?;
            let one = g.echo("one").run()?;
            g.exit()?;
            let two = session(server().addr(), &b, &l).scope(|s| s.echo("two").run())??;
            Ok([one, two])
        });
        assert_eq!(replies.unwrap(), ["echo: one", "echo: two"], "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal).repeat(2), "{ctx:?}");
        server().wait_closed(&t1);
        server().wait_closed(&t2);
    }
}

#[test]
fn tcp_async_exit_scope_async_and_dropped_guard_close_the_connection_in_every_async_context() {
    for ctx in ASYNC {
        let [t1, t2, t3] =
            ["exit", "scope-async", "dropped"].map(|w| unique(&format!("macro-{w}-{ctx:?}")));
        let log = Log::default();
        let (a, b, c, l) = (t1.clone(), t2.clone(), t3.clone(), log.clone());
        let replies = within_async(ctx, move || async move {
            let addr = server().addr();
            let mut s = session(addr, &a, &l).enter().await?;
            let one = s.echo("one").await?;
            s.exit().await?;
            let two = session(addr, &b, &l)
                .scope_async(async |s| s.echo("two").await)
                .await??;
            // Dropped without `exit()`: the guard still runs the teardown (blocking).
            let mut dropped = session(addr, &c, &l).enter().await?;
            let three = dropped.echo("three").await?;
            drop(dropped);
            io::Result::Ok([one, two, three])
        });
        assert_eq!(
            replies.unwrap(),
            ["echo: one", "echo: two", "echo: three"],
            "{ctx:?}"
        );
        assert_eq!(log.events(), setup_and(Exit::Normal).repeat(3), "{ctx:?}");
        for token in [t1, t2, t3] {
            server().wait_closed(&token);
        }
    }
}

#[test]
fn tcp_setup_error_is_what_entering_returns_and_nothing_else_runs() {
    let log = Log::default();
    let addr = refusing_addr();
    let token = unique("macro-refused");
    let refused = || session(addr, &token, &log);
    let err = refused().enter().run().err().expect("refused");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let block_ran = AtomicBool::new(false);
    let scoped = refused().scope(|_| block_ran.store(true, Ordering::SeqCst));
    assert_eq!(scoped.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    let (entered, scoped) = anysync::run(async {
        let entered = refused().enter().await.err().map(|e| e.kind());
        let scoped = refused()
            .scope_async(async |_| block_ran.store(true, Ordering::SeqCst))
            .await
            .map_err(|e| e.kind());
        (entered, scoped)
    });
    assert_eq!(entered, Some(io::ErrorKind::ConnectionRefused));
    assert_eq!(scoped, Err(io::ErrorKind::ConnectionRefused));
    assert!(!block_ran.load(Ordering::SeqCst), "the block never ran");
    assert_eq!(log.events(), [], "neither setup's end nor teardown ran");
}

// ---------------------------------------------------------------------------------------------
// A temporary directory: created in setup, removed in teardown
// ---------------------------------------------------------------------------------------------

/// Creates a fresh directory, lends its path, removes it with everything in it.
#[anysync::context(item = PathBuf)]
async fn temp_dir(tag: &str, log: &Log) -> io::Result<()> {
    let dir = unique_dir(tag);
    fs::create_dir(&dir)?;
    log.push(Event::Setup);
    let dir = yield_!(dir);
    log.push(Event::Teardown(exit_status!()));
    fs::remove_dir_all(&dir)
}

#[test]
fn temp_dir_exists_in_the_block_and_is_gone_after_it_in_every_context() {
    for ctx in ALL {
        let log = Log::default();
        let l = log.clone();
        let [guarded, scoped] = within(ctx, move || -> io::Result<[PathBuf; 2]> {
            let guarded = {
                let dir = temp_dir("sync", &l).enter().run()?;
                fs::write(dir.join("notes.txt"), "hello")?;
                assert_eq!(fs::read_to_string(dir.join("notes.txt"))?, "hello");
                dir.clone()
            };
            assert!(!guarded.exists(), "removed when the guard dropped");
            let scoped = temp_dir("scope", &l).scope(|dir| {
                fs::write(dir.join("a"), "a")?;
                io::Result::Ok(dir.clone())
            })??;
            Ok([guarded, scoped])
        })
        .expect("temp dirs");
        assert!(!guarded.exists() && !scoped.exists(), "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal).repeat(2), "{ctx:?}");
    }
}

#[test]
fn temp_dir_async_guard_scope_async_and_dropped_guard_in_every_async_context() {
    for ctx in ASYNC {
        let log = Log::default();
        let l = log.clone();
        let paths = within_async(ctx, move || async move {
            let dir = temp_dir("async", &l).enter().await?;
            tokio::task::yield_now().await;
            fs::write(dir.join("a"), "a")?;
            let exited = dir.clone();
            dir.exit().await?;
            assert!(!exited.exists());
            let scoped = temp_dir("scope-async", &l)
                .scope_async(async |dir| {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    dir.clone()
                })
                .await?;
            let dropped = temp_dir("dropped", &l).enter().await?;
            let kept = dropped.clone();
            drop(dropped);
            io::Result::Ok([exited, scoped, kept])
        })
        .expect("temp dirs");
        for path in paths {
            assert!(!path.exists(), "{ctx:?}: {path:?} removed");
        }
        assert_eq!(log.events(), setup_and(Exit::Normal).repeat(3), "{ctx:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Teardown on panic, early return, `?`, explicit exit
// ---------------------------------------------------------------------------------------------

#[test]
fn teardown_runs_on_panic_sees_it_and_the_panic_keeps_its_payload_in_every_context() {
    for ctx in ALL {
        let log = Log::default();
        let l = log.clone();
        let path = Arc::new(Mutex::new(PathBuf::new()));
        let p = Arc::clone(&path);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within(ctx, move || {
                let dir = temp_dir("panic", &l).enter().run().expect("create");
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
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn a_teardown_that_needs_the_runtime_runs_on_panic_in_every_context() {
    // Guards dropped by a panic, sync and async, whose teardown needs a live runtime (a timer,
    // `tokio::spawn`, closing a TCP connection), in every calling context. A regression here
    // is a deadlock of the global runtime, which would hang every later test of this process:
    // so the scenario runs in a child, bounded.
    let out = managers::rerun_bounded("runtime_teardown_on_panic_child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("child: every context torn down"),
        "the child failed or hung; its last line names the context:\n{stdout}\n{stderr}"
    );
}

#[test]
fn runtime_teardown_on_panic_child() {
    if !managers::is_child("runtime_teardown_on_panic_child") {
        return;
    }
    for ctx in ALL {
        println!("child: sync guard in {ctx:?}");
        let token = unique(&format!("macro-sync-panic-{ctx:?}"));
        let log = Log::default();
        let (t, l) = (token.clone(), log.clone());
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within(ctx, move || {
                let mut conn = session(server().addr(), &t, &l)
                    .enter()
                    .run()
                    .expect("connect");
                conn.echo("before the panic").run().expect("echo");
                panic::panic_any(Boom(41));
            })
        }));
        let payload = caught.expect_err("the panic propagates");
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(41)), "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Panicked), "{ctx:?}");
        server().wait_closed(&token);
    }
    for ctx in ASYNC {
        println!("child: async guard in {ctx:?}");
        let token = unique(&format!("macro-async-panic-{ctx:?}"));
        let log = Log::default();
        let (t, l) = (token.clone(), log.clone());
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within_async(ctx, move || async move {
                let mut conn = session(server().addr(), &t, &l)
                    .enter()
                    .await
                    .expect("connect");
                conn.echo("before the panic").await.expect("echo");
                panic::panic_any(Boom(42));
            })
        }));
        let payload = caught.expect_err("the panic propagates");
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(42)), "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Panicked), "{ctx:?}");
        server().wait_closed(&token);
    }
    println!("child: every context torn down");
}

#[test]
fn scope_and_scope_async_tear_down_on_panic() {
    let log = Log::default();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        temp_dir("scope-panic", &log).scope(|_| panic::panic_any(Boom(1)))
    }));
    assert_eq!(caught.unwrap_err().downcast_ref::<Boom>(), Some(&Boom(1)));
    let l = log.clone();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        within_async(Ctx::CurrentTask, move || async move {
            temp_dir("scope-async-panic", &l)
                .scope_async(async |_| {
                    tokio::task::yield_now().await;
                    panic::panic_any(Boom(2))
                })
                .await
        })
    }));
    assert_eq!(caught.unwrap_err().downcast_ref::<Boom>(), Some(&Boom(2)));
    assert_eq!(log.events(), setup_and(Exit::Panicked).repeat(2));
}

/// Reads a file that is not there: `?` leaves the block early.
fn read_missing(log: &Log) -> io::Result<String> {
    let dir = temp_dir("question-mark", log).enter().run()?;
    fs::read_to_string(dir.join("missing.txt"))
}

/// Returns from inside the block.
fn return_early(log: &Log) -> PathBuf {
    let dir = temp_dir("return", log).enter().run().expect("create");
    if dir.is_dir() {
        return dir.clone();
    }
    unreachable!("the directory was just created")
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

    // The same from async code: `?` drops the async guard, which still tears down.
    let log = Log::default();
    let l = log.clone();
    let err = within_async(Ctx::MultiTask, move || async move {
        let dir = temp_dir("question-mark-async", &l).enter().await?;
        tokio::task::yield_now().await;
        fs::read_to_string(dir.join("missing.txt"))
    });
    assert_eq!(err.unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(log.events(), setup_and(Exit::Normal));
}

#[test]
fn explicit_exit_returns_the_teardowns_error_in_every_context() {
    // The block removes the directory itself: the teardown's `remove_dir_all` fails.
    for ctx in ALL {
        let log = Log::default();
        let l = log.clone();
        let exit = within(ctx, move || {
            let dir = temp_dir("exit-error", &l).enter().run().expect("create");
            fs::remove_dir(&*dir).expect("remove");
            dir.exit().map_err(|e| e.kind())
        });
        assert_eq!(exit, Err(io::ErrorKind::NotFound), "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal), "{ctx:?}");
    }
    for ctx in ASYNC {
        let exit = within_async(ctx, move || async move {
            let log = Log::default();
            let dir = temp_dir("exit-error-async", &log)
                .enter()
                .await
                .expect("create");
            fs::remove_dir(&*dir).expect("remove");
            dir.exit().await.map_err(|e| e.kind())
        });
        assert_eq!(exit, Err(io::ErrorKind::NotFound), "{ctx:?}");
    }
    // `scope` returns the teardown's error instead of the block's value; dropping a guard
    // runs the failing teardown and discards the error.
    let log = Log::default();
    let scoped = temp_dir("scope-error", &log).scope(|dir| fs::remove_dir(&*dir));
    assert_eq!(scoped.unwrap_err().kind(), io::ErrorKind::NotFound);
    drop({
        let dir = temp_dir("drop-error", &log).enter().run().expect("create");
        fs::remove_dir(&*dir).expect("remove");
        dir
    });
    assert_eq!(log.events(), setup_and(Exit::Normal).repeat(2));
}

// ---------------------------------------------------------------------------------------------
// What the body sees: `yield_!` hands the value back, `exit_status!()` tells how the block ended
// ---------------------------------------------------------------------------------------------

/// What [`recorder`]'s teardown was handed back, and how the block ended.
type Seen = Arc<Mutex<Vec<(Vec<u32>, Exit)>>>;

/// Infallible: `enter()` gives the guard itself, no `Result`.
#[anysync::context(item = Vec<u32>)]
async fn recorder(seen: Seen) {
    let list = yield_!(vec![1]);
    seen.lock().unwrap().push((list, exit_status!()));
}

#[test]
fn yield_hands_back_the_value_with_the_blocks_changes_and_exit_status_tells_how_it_ended() {
    for ctx in ALL {
        let seen = Seen::default();
        let s = Arc::clone(&seen);
        within(ctx, move || {
            let mut list: SyncGuard<_> = recorder(s.clone()).enter().run();
            list.push(2);
            drop(list);
            recorder(s.clone()).enter().run().exit();
            recorder(s).scope(|list| list.push(3));
        });
        let s = Arc::clone(&seen);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within(ctx, move || {
                let mut list = recorder(s).enter().run();
                list.push(4);
                panic::panic_any(Boom(5));
            })
        }));
        assert_eq!(
            caught.unwrap_err().downcast_ref(),
            Some(&Boom(5)),
            "{ctx:?}"
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (vec![1, 2], Exit::Normal),
                (vec![1], Exit::Normal),
                (vec![1, 3], Exit::Normal),
                (vec![1, 4], Exit::Panicked),
            ],
            "{ctx:?}"
        );
    }
    for ctx in ASYNC {
        let seen = Seen::default();
        let s = Arc::clone(&seen);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within_async(ctx, move || async move {
                let mut list = recorder(s.clone()).enter().await;
                list.push(6);
                list.exit().await;
                recorder(s.clone())
                    .scope_async(async |list| list.push(7))
                    .await;
                let mut list = recorder(s).enter().await;
                list.push(8);
                tokio::task::yield_now().await;
                panic::panic_any(Boom(9));
            })
        }));
        assert_eq!(
            caught.unwrap_err().downcast_ref(),
            Some(&Boom(9)),
            "{ctx:?}"
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (vec![1, 6], Exit::Normal),
                (vec![1, 7], Exit::Normal),
                (vec![1, 8], Exit::Panicked),
            ],
            "{ctx:?}"
        );
    }
}

/// Counts its setups and teardowns.
#[anysync::context(item = u32)]
async fn counted(setups: &AtomicU32, teardowns: &AtomicU32) {
    let n = setups.fetch_add(1, Ordering::SeqCst) + 1;
    yield_!(n);
    teardowns.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn teardown_runs_exactly_once_on_every_exit_path_and_creating_runs_nothing() {
    let (setups, teardowns) = (AtomicU32::new(0), AtomicU32::new(0));
    let counts = || {
        (
            setups.load(Ordering::SeqCst),
            teardowns.load(Ordering::SeqCst),
        )
    };
    drop(counted(&setups, &teardowns));
    drop(counted(&setups, &teardowns).enter());
    assert_eq!(counts(), (0, 0), "nothing runs before entering");
    drop(counted(&setups, &teardowns).enter().run());
    counted(&setups, &teardowns).enter().run().exit();
    assert_eq!(counted(&setups, &teardowns).scope(|n| *n), 3);
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard = counted(&setups, &teardowns).enter().run();
        panic!("in the block");
    }));
    anysync::run(async {
        counted(&setups, &teardowns).enter().await.exit().await;
        drop(counted(&setups, &teardowns).enter().await);
        counted(&setups, &teardowns).scope_async(async |_| ()).await;
    });
    assert_eq!(counts(), (7, 7));
}

#[test]
fn nested_guards_tear_down_innermost_first_in_every_context() {
    for ctx in ALL {
        let order = within(ctx, || {
            let order = Arc::new(Mutex::new(Vec::new()));
            {
                let _outer = labelled("outer", &order).enter().run();
                let _inner = labelled("inner", &order).enter().run();
                labelled("scoped", &order).scope(|_| ());
            }
            Arc::try_unwrap(order).unwrap().into_inner().unwrap()
        });
        assert_eq!(
            order,
            ["+outer", "+inner", "+scoped", "-scoped", "-inner", "-outer"],
            "{ctx:?}"
        );
    }
}

#[anysync::context(item = ())]
async fn labelled(label: &'static str, order: &Mutex<Vec<String>>) {
    order.lock().unwrap().push(format!("+{label}"));
    yield_!(());
    order.lock().unwrap().push(format!("-{label}"));
}

// ---------------------------------------------------------------------------------------------
// Misuse at run time: a body that reaches `yield_!` twice or never
// ---------------------------------------------------------------------------------------------

/// Reaches `yield_!` `times` times: the macro cannot tell at compile time.
#[anysync::context(item = u32)]
async fn lends_times(times: u32) {
    for i in 0..times {
        yield_!(i);
    }
}

/// The same with a `Result` body: `Ok(())` without yielding is not a setup error.
#[anysync::context(item = u32)]
async fn lends_times_ok(times: u32) -> io::Result<()> {
    for i in 0..times {
        yield_!(i);
    }
    Ok(())
}

fn caught_message(f: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("panics");
    panic_message(&*payload)
}

#[test]
fn a_body_that_never_reaches_yield_panics_at_enter_naming_the_function() {
    for ctx in [
        Ctx::Plain,
        Ctx::CurrentTask,
        Ctx::MultiTask,
        Ctx::NestedPlain,
    ] {
        let messages = within(ctx, || {
            [
                caught_message(|| drop(lends_times(0).enter().run())),
                caught_message(|| lends_times(0).scope(|_| ())),
                caught_message(|| drop(lends_times_ok(0).enter().run())),
            ]
        });
        for (message, name) in messages
            .iter()
            .zip(["lends_times", "lends_times", "lends_times_ok"])
        {
            assert!(
                message.contains(&format!(
                    "context `{name}` returned without reaching `yield_!`"
                )),
                "{ctx:?}: {message}"
            );
        }
    }
    let message = caught_message(|| anysync::run(async { drop(lends_times(0).enter().await) }));
    assert!(
        message.contains("context `lends_times` returned without"),
        "{message}"
    );
}

#[test]
fn a_body_that_reaches_yield_twice_panics_at_exit_naming_the_function() {
    for ctx in [
        Ctx::Plain,
        Ctx::CurrentTask,
        Ctx::MultiTask,
        Ctx::NestedPlain,
    ] {
        let messages = within(ctx, || {
            [
                caught_message(|| drop(lends_times(2).enter().run())),
                caught_message(|| lends_times(2).enter().run().exit()),
                caught_message(|| lends_times(2).scope(|_| ())),
                caught_message(|| drop(lends_times_ok(2).enter().run().unwrap().exit())),
            ]
        });
        for message in messages {
            assert!(
                message.contains("context `lends_times"),
                "{ctx:?}: {message}"
            );
            assert!(
                message.contains("reached `yield_!` twice"),
                "{ctx:?}: {message}"
            );
        }
    }
    let message = caught_message(|| {
        anysync::run(async { lends_times(2).enter().await.exit().await });
    });
    assert!(
        message.contains("context `lends_times` reached `yield_!` twice"),
        "{message}"
    );
    // Exactly once is fine.
    assert_eq!(lends_times(1).scope(|n| *n), 0);
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn a_teardown_panic_while_unwinding_is_reported_by_function_name_and_does_not_abort() {
    // An abort would take the whole test process down, so the scenario runs in a child.
    let out = managers::rerun("fragile_teardown_child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains("child: first panic kept"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains(
            "anysync: the teardown of context `fragile` panicked while unwinding from an \
             earlier panic (cleanup failed too); the earlier panic continues"
        ),
        "{stderr}"
    );
}

/// Its teardown panics when the block panicked.
#[anysync::context(item = ())]
async fn fragile() {
    yield_!(());
    if exit_status!().is_panicked() {
        panic!("cleanup failed too");
    }
}

#[test]
fn fragile_teardown_child() {
    if !managers::is_child("fragile_teardown_child") {
        return;
    }
    let caught = panic::catch_unwind(|| {
        let _guard = fragile().enter().run();
        panic::panic_any(Boom(1));
    });
    assert_eq!(caught.unwrap_err().downcast_ref::<Boom>(), Some(&Boom(1)));
    // Outside unwinding, a teardown panic propagates from `exit()` as any panic does.
    fragile().enter().run().exit();
    println!("child: first panic kept");
}

// ---------------------------------------------------------------------------------------------
// Signatures: methods, generics, borrowed arguments, `crate = "..."`
// ---------------------------------------------------------------------------------------------

/// Hands out connections to one server and counts them.
struct Pool {
    addr: SocketAddr,
    open: AtomicU32,
}

impl Pool {
    /// A method: the context borrows `self` until the guard is gone.
    #[anysync::context(item = Conn)]
    async fn connection(&self, token: &str) -> io::Result<()> {
        let conn = Conn::open(self.addr, token).await?;
        self.open.fetch_add(1, Ordering::SeqCst);
        let conn = yield_!(conn);
        conn.close().await?;
        self.open.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    /// A `&mut self` method with an explicit lifetime and a generic argument.
    #[anysync::context(item = Vec<T>)]
    async fn batch<'a, T: Clone + Send + Sync + 'a>(&mut self, first: &'a T) {
        let batch = yield_!(vec![first.clone()]);
        self.open.store(batch.len() as u32, Ordering::SeqCst);
    }
}

#[test]
fn methods_borrow_self_for_as_long_as_the_guard_lives() {
    let mut pool = Pool {
        addr: server().addr(),
        open: AtomicU32::new(0),
    };
    let token = unique("macro-method");
    {
        let mut conn = pool.connection(&token).enter().run().expect("connect");
        assert_eq!(pool.open.load(Ordering::SeqCst), 1);
        assert_eq!(conn.echo("method").run().unwrap(), "echo: method");
    }
    assert_eq!(pool.open.load(Ordering::SeqCst), 0);
    server().wait_closed(&token);
    let token = unique("macro-method-async");
    let reply = anysync::run(async {
        pool.connection(&token)
            .scope_async(async |c| c.echo("awaited").await)
            .await
    });
    assert_eq!(reply.unwrap().unwrap(), "echo: awaited");
    server().wait_closed(&token);

    let first = String::from("a");
    pool.batch(&first).scope(|batch| batch.push("b".to_owned()));
    assert_eq!(pool.open.load(Ordering::SeqCst), 2);
}

/// Generic over the value it lends; records what came back.
#[anysync::context(item = T)]
async fn lend<T>(value: T, returned: &mut Vec<T>)
where
    T: Clone + Send,
{
    let value = yield_!(value);
    returned.push(value);
}

#[test]
fn generics_and_borrowed_arguments_live_until_the_teardown() {
    let mut returned = Vec::new();
    {
        let mut word = lend(String::from("hello"), &mut returned).enter().run();
        word.push_str(", world");
    }
    lend(String::from("async"), &mut returned).scope(|w| w.push('!'));
    anysync::run(async {
        let mut n = lend(String::from("awaited"), &mut returned).enter().await;
        n.push('.');
        n.exit().await;
    });
    assert_eq!(returned, ["hello, world", "async!", "awaited."]);

    let mut numbers = Vec::new();
    *lend(1u8, &mut numbers).enter().run() += 1;
    assert_eq!(numbers, [2]);
}

mod reexport {
    pub(crate) use ::anysync as renamed;
}

#[anysync::context(item = u8, crate = "crate::reexport::renamed")]
async fn through_a_reexport() {
    let n = crate::reexport::renamed::yield_!(7);
    let exit = crate::reexport::renamed::exit_status!();
    assert_eq!(exit, Exit::Normal);
    assert_eq!(n, 8);
}

#[anysync::context(item = Rc<u8>, ?Send, crate = "crate::reexport::renamed")]
async fn through_a_reexport_local() {
    crate::reexport::renamed::yield_!(Rc::new(3));
}

#[test]
fn crate_argument_names_a_reexported_anysync() {
    through_a_reexport().scope(|n| *n += 1);
    anysync::run(async {
        through_a_reexport().scope_async(async |n| *n += 1).await;
    });
    assert_eq!(through_a_reexport_local().scope(|n| **n), 3);
}

// ---------------------------------------------------------------------------------------------
// `?Send` contexts
// ---------------------------------------------------------------------------------------------

/// `?Send`: the body holds an `Rc` across `yield_!`.
#[anysync::context(item = Rc<Cell<u32>>, ?Send)]
async fn shared(count: Rc<Cell<u32>>) {
    count.set(count.get() + 1);
    let count = yield_!(count);
    tokio::task::yield_now().await;
    count.set(count.get() + 10);
}

#[test]
fn local_contexts_block_where_the_thread_may_and_panic_with_advice_elsewhere() {
    for ctx in ALL {
        let outcome = within(ctx, move || {
            let count = Rc::new(Cell::new(0));
            let entered = panic::catch_unwind(AssertUnwindSafe(|| {
                let guard = shared(Rc::clone(&count)).enter().run();
                guard.set(guard.get() + 100);
            }));
            let scoped = panic::catch_unwind(AssertUnwindSafe(|| {
                shared(Rc::clone(&count)).scope(|c| c.get())
            }));
            (
                entered.map_err(|p| panic_message(&*p)),
                scoped.map_err(|p| panic_message(&*p)),
                count.get(),
            )
        });
        match outcome {
            (Ok(()), Ok(seen), count) => {
                assert!(!ctx.forbids_local(), "{ctx:?}");
                assert_eq!((seen, count), (112, 122), "{ctx:?}");
            }
            (Err(a), Err(b), count) => {
                assert!(ctx.forbids_local(), "{ctx:?}: {a}");
                assert!(a.contains(".await") && b.contains(".await"), "{ctx:?}: {a}");
                assert_eq!(count, 0, "{ctx:?}");
            }
            other => panic!("{ctx:?}: {other:?}"),
        }
    }
}

#[test]
fn local_contexts_await_in_a_local_set() {
    let count = Rc::new(Cell::new(0));
    let rt = common::current_thread();
    let seen = tokio::task::LocalSet::new().block_on(&rt, async {
        let guard = shared(Rc::clone(&count)).enter().await;
        guard.set(guard.get() + 100);
        guard.exit().await;
        let c = Rc::clone(&count);
        tokio::task::spawn_local(shared(c).scope_async(async |c| c.get()))
            .await
            .unwrap()
    });
    assert_eq!((seen, count.get()), (112, 122));
}

// ---------------------------------------------------------------------------------------------
// `Send`: contexts, guards and scopes move between threads and into spawned tasks
// ---------------------------------------------------------------------------------------------

#[test]
fn contexts_guards_and_entering_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let context = recorder(Seen::default());
    is_send(&context);
    let entering = std::future::IntoFuture::into_future(context.enter());
    is_send(&entering);
    let guard = recorder(Seen::default()).enter().run();
    is_send(&guard);
    let scoping = recorder(Seen::default()).scope_async(async |list| list.len());
    is_send(&scoping);
    drop((entering, guard, scoping));
}

#[test]
fn a_sync_guard_entered_in_a_runtime_exits_on_another_thread() {
    // Entered in a current_thread task (setup lent to a background thread), exited from a
    // plain thread (teardown polled in place): the body moves between threads mid-way.
    let token = unique("macro-moves");
    let log = Log::default();
    let (t, l) = (token.clone(), log.clone());
    let mut guard = within(Ctx::CurrentTask, move || {
        // `'static` arguments, so that the guard can leave the closure.
        let (t, l): (&'static str, &'static Log) = (t.leak(), Box::leak(Box::new(l)));
        session(server().addr(), t, l)
            .enter()
            .run()
            .expect("connect")
    });
    assert_eq!(guard.echo("here").run().unwrap(), "echo: here");
    thread::spawn(move || {
        assert_eq!(guard.echo("moved").run().unwrap(), "echo: moved");
        guard.exit().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(log.events(), setup_and(Exit::Normal));
    server().wait_closed(&token);
}

#[test]
fn tokio_spawn_takes_an_async_scope_and_an_async_guard() {
    let [t1, t2] = ["spawned-scope", "spawned-guard"].map(|w| unique(&format!("macro-{w}")));
    // Two logs: the tasks run concurrently.
    let [l1, l2]: [&'static Log; 2] = [(); 2].map(|()| &*Box::leak(Box::default()));
    let (a, b): (&'static str, &'static str) = (t1.clone().leak(), t2.clone().leak());
    let replies = anysync::run(async move {
        let scoped = tokio::spawn(
            session(server().addr(), a, l1).scope_async(async |s| s.echo("spawned").await),
        );
        let guarded = tokio::spawn(async move {
            let mut s = session(server().addr(), b, l2).enter().await?;
            tokio::task::yield_now().await;
            let reply = s.echo("guarded").await?;
            s.exit().await?;
            io::Result::Ok(reply)
        });
        (scoped.await.unwrap(), guarded.await.unwrap())
    });
    assert_eq!(replies.0.unwrap().unwrap(), "echo: spawned");
    assert_eq!(replies.1.unwrap(), "echo: guarded");
    assert_eq!(l1.events(), setup_and(Exit::Normal));
    assert_eq!(l2.events(), setup_and(Exit::Normal));
    server().wait_closed(&t1);
    server().wait_closed(&t2);
}

#[test]
fn macro_contexts_implement_the_trait() {
    // One mechanism: generic code over `AsyncContext` takes a macro context as it is.
    fn entered_twice<C: AsyncContext<Output = ()> + Send>(make: impl Fn() -> C) -> usize
    where
        C::Target: Send + Clone,
    {
        let first = make().enter().run().clone();
        let second = AsyncContext::scope(make(), |t| t.clone());
        drop((first, second));
        2
    }
    assert_eq!(entered_twice(|| recorder(Seen::default())), 2);
    assert_eq!(AsyncContext::name(&recorder(Seen::default())), "recorder");
}
