//! `Context`, the type `#[anysync::context]` returns, built by hand the way the macro expands
//! (`Context::new(name, |yielder| async move { ... yielder.hand_over(v).await ... })`): a
//! session over loopback TCP in every calling context, sync and async; `yield_!` handing the
//! value back at exit with the block's changes; the body seeing how the block ended; setup
//! errors; a body that never yields or yields twice (a panic naming the function); laziness;
//! `?Send` contexts; `Send`-ness and `Debug`.

mod common;
mod managers;

use anysync::__private::{Handback, Yielder};
use anysync::{AsyncContext, Context, Exit};
use common::Boom;
use common::ctx::{ALL, Ctx};
use managers::{
    ASYNC, Conn, Event, Log, panic_message, server, unique, within_async, within_sync as within,
};
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

type Y<T> = Yielder<T, Handback<T>>;

/// The issue's example, as the macro would expand it:
///
/// ```ignore
/// #[anysync::context(item = Conn)]
/// async fn session(addr: SocketAddr, token: String, log: Log) -> io::Result<()> {
///     let conn = Conn::open(addr, &token).await?;
///     let conn = yield_!(conn);
///     conn.close().await?;
///     Ok(())
/// }
/// ```
fn session(
    addr: SocketAddr,
    token: String,
    log: Log,
) -> Context<impl Future<Output = io::Result<()>> + Send, Conn> {
    Context::new("session", move |mut y: Y<Conn>| async move {
        let conn = Conn::open(addr, &token).await?;
        log.push(Event::Setup);
        let conn = y.hand_over(conn).await;
        log.push(Event::Teardown(y.exit_status()));
        tokio::time::sleep(Duration::from_millis(1)).await;
        let spawned = tokio::spawn(async { 7 }).await.expect("spawn in teardown");
        assert_eq!(spawned, 7);
        conn.close().await?;
        Ok(())
    })
}

fn setup_and(exit: Exit) -> Vec<Event> {
    vec![Event::Setup, Event::Teardown(exit)]
}

#[test]
fn session_sync_guard_in_every_context_closes_the_connection() {
    for ctx in ALL {
        let token = unique(&format!("core-sync-{ctx:?}"));
        let log = Log::default();
        let (t, l) = (token.clone(), log.clone());
        let reply = within(ctx, move || -> io::Result<String> {
            let mut conn = session(server().addr(), t.clone(), l).enter().run()?;
            let reply = conn.echo("select 1").run()?;
            assert!(!server().is_closed(&t));
            Ok(reply)
        });
        assert_eq!(reply.unwrap(), "echo: select 1", "{ctx:?}");
        assert_eq!(log.events(), setup_and(Exit::Normal), "{ctx:?}");
        server().wait_closed(&token);
    }
}

#[test]
fn session_explicit_exit_and_scope_in_every_context() {
    for ctx in ALL {
        let token = unique(&format!("core-exit-{ctx:?}"));
        let t2 = unique(&format!("core-scope-{ctx:?}"));
        let log = Log::default();
        let (t, tt, l) = (token.clone(), t2.clone(), log.clone());
        let replies = within(ctx, move || -> io::Result<(String, String)> {
            let mut g = session(server().addr(), t, l.clone()).enter().run()?;
            let first = g.echo("one").run()?;
            g.exit()?;
            let second = session(server().addr(), tt, l).scope(|s| s.echo("two").run())??;
            Ok((first, second))
        });
        let (first, second) = replies.unwrap();
        assert_eq!(
            (first.as_str(), second.as_str()),
            ("echo: one", "echo: two")
        );
        assert_eq!(
            log.events(),
            [setup_and(Exit::Normal), setup_and(Exit::Normal)].concat(),
            "{ctx:?}"
        );
        server().wait_closed(&token);
        server().wait_closed(&t2);
    }
}

#[test]
fn session_async_in_every_async_context() {
    for ctx in ASYNC {
        let [t1, t2, t3] = ["exit", "scope", "dropped"].map(|w| unique(&format!("core-{w}")));
        let log = Log::default();
        let (a, b, c, l) = (t1.clone(), t2.clone(), t3.clone(), log.clone());
        let replies = within_async(ctx, move || async move {
            let addr = server().addr();
            let mut s = session(addr, a, l.clone()).enter().await?;
            let one = s.echo("one").await?;
            s.exit().await?;
            let two = session(addr, b, l.clone())
                .scope_async(async |s| s.echo("two").await)
                .await??;
            let mut dropped = session(addr, c, l).enter().await?;
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
fn session_setup_error_is_what_entering_returns() {
    let log = Log::default();
    let refused = || session(managers::refusing_addr(), unique("refused"), log.clone());
    let err = refused().enter().run().err().expect("refused");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let ran = AtomicBool::new(false);
    let scoped = refused().scope(|_| ran.store(true, Ordering::SeqCst));
    assert_eq!(scoped.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    let awaited = anysync::run(async { refused().enter().await.err().map(|e| e.kind()) });
    assert_eq!(awaited, Some(io::ErrorKind::ConnectionRefused));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(log.events(), []);
}

/// What [`recorder`]'s teardown was handed back, and how the block ended.
type Seen = Arc<std::sync::Mutex<Option<(Vec<u32>, Exit)>>>;

/// A body that records what it was handed back, and how the block ended.
fn recorder(seen: Seen) -> Context<impl Future<Output = ()> + Send, Vec<u32>> {
    Context::new("recorder", move |mut y: Y<Vec<u32>>| async move {
        let list = y.hand_over(vec![1]).await;
        *seen.lock().unwrap() = Some((list, y.exit_status()));
    })
}

#[test]
fn yield_hands_back_the_value_with_the_blocks_changes_and_how_it_ended() {
    for ctx in ALL {
        let seen = Arc::new(std::sync::Mutex::new(None));
        let s = Arc::clone(&seen);
        within(ctx, move || {
            let mut list = recorder(s).enter().run();
            list.push(2);
        });
        assert_eq!(
            seen.lock().unwrap().take(),
            Some((vec![1, 2], Exit::Normal)),
            "{ctx:?}"
        );

        let s = Arc::clone(&seen);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within(ctx, move || {
                let mut list = recorder(s).enter().run();
                list.push(3);
                panic::panic_any(Boom(5));
            })
        }));
        let payload = caught.expect_err("the panic propagates");
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(5)), "{ctx:?}");
        assert_eq!(
            seen.lock().unwrap().take(),
            Some((vec![1, 3], Exit::Panicked)),
            "{ctx:?}"
        );
    }
    for ctx in ASYNC {
        let seen = Arc::new(std::sync::Mutex::new(None));
        let s = Arc::clone(&seen);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            within_async(ctx, move || async move {
                let mut list = recorder(s).enter().await;
                list.push(4);
                tokio::task::yield_now().await;
                panic::panic_any(Boom(6));
            })
        }));
        let payload = caught.expect_err("the panic propagates");
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(6)), "{ctx:?}");
        assert_eq!(
            seen.lock().unwrap().take(),
            Some((vec![1, 4], Exit::Panicked)),
            "{ctx:?}: the dropped async guard tore down"
        );
    }
}

/// A body with a fallible teardown.
fn flush(fail: bool) -> Context<impl Future<Output = Result<(), String>> + Send, u8> {
    Context::new("flush", move |mut y: Y<u8>| async move {
        let n = y.hand_over(0).await;
        if fail {
            return Err(format!("could not flush {n}"));
        }
        Ok(())
    })
}

#[test]
fn a_result_bodys_error_after_yield_is_what_exit_returns() {
    let mut g = flush(true).enter().run().unwrap();
    *g = 9;
    assert_eq!(g.exit(), Err("could not flush 9".to_owned()));
    assert_eq!(flush(false).enter().run().unwrap().exit(), Ok(()));
    assert_eq!(
        flush(true).scope(|n| *n = 1),
        Err("could not flush 1".into())
    );
    let awaited = anysync::run(async { flush(true).enter().await.unwrap().exit().await });
    assert_eq!(awaited, Err("could not flush 0".to_owned()));
}

#[test]
fn a_result_body_that_fails_before_yield_fails_entering_and_runs_nothing_more() {
    let after = Arc::new(AtomicBool::new(false));
    let a = Arc::clone(&after);
    let refuse = move || {
        let a = Arc::clone(&a);
        Context::new("refuse", move |mut y: Y<u8>| async move {
            tokio::task::yield_now().await;
            Err::<(), _>("not today")?;
            y.hand_over(1).await;
            a.store(true, Ordering::SeqCst);
            Ok::<(), &str>(())
        })
    };
    assert_eq!(refuse().enter().run().err(), Some("not today"));
    let block = AtomicBool::new(false);
    assert_eq!(
        refuse().scope(|_| block.store(true, Ordering::SeqCst)),
        Err("not today")
    );
    let awaited = anysync::run(async { refuse().enter().await.err() });
    assert_eq!(awaited, Some("not today"));
    assert!(!block.load(Ordering::SeqCst));
    assert!(!after.load(Ordering::SeqCst));
}

fn never_yields() -> Context<impl Future<Output = ()> + Send, u8> {
    Context::new("never_yields", move |_y: Y<u8>| async move {})
}

fn never_yields_ok() -> Context<impl Future<Output = Result<(), io::Error>> + Send, u8> {
    Context::new("never_yields_ok", move |_y: Y<u8>| async move { Ok(()) })
}

fn yields_twice() -> Context<impl Future<Output = ()> + Send, u8> {
    Context::new("yields_twice", move |mut y: Y<u8>| async move {
        let n = y.hand_over(1).await;
        y.hand_over(n).await;
    })
}

fn caught_message(f: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("panics");
    panic_message(&*payload)
}

#[test]
fn a_body_that_never_yields_panics_naming_the_function() {
    for ctx in [Ctx::Plain, Ctx::CurrentTask, Ctx::MultiTask] {
        let message = within(ctx, || {
            caught_message(|| drop(never_yields().enter().run()))
        });
        assert!(
            message.contains("context `never_yields` returned without reaching `yield_!`"),
            "{ctx:?}: {message}"
        );
        let message = within(ctx, || {
            caught_message(|| drop(never_yields_ok().enter().run()))
        });
        assert!(
            message.contains("context `never_yields_ok` returned without reaching `yield_!`"),
            "{ctx:?}: {message}"
        );
    }
    let message = caught_message(|| {
        anysync::run(async { drop(never_yields().enter().await) });
    });
    assert!(message.contains("`never_yields`"), "{message}");
}

#[test]
fn a_body_that_yields_twice_panics_at_exit_naming_the_function() {
    for ctx in [Ctx::Plain, Ctx::CurrentTask, Ctx::MultiTask] {
        let messages = within(ctx, || {
            [
                caught_message(|| drop(yields_twice().enter().run())),
                caught_message(|| yields_twice().enter().run().exit()),
                caught_message(|| yields_twice().scope(|_| ())),
            ]
        });
        for message in messages {
            assert!(
                message.contains("context `yields_twice` reached `yield_!` twice"),
                "{ctx:?}: {message}"
            );
        }
    }
    let message = caught_message(|| {
        anysync::run(async { yields_twice().enter().await.exit().await });
    });
    assert!(
        message.contains("`yields_twice` reached `yield_!` twice"),
        "{message}"
    );
}

/// `Context` implements the public `AsyncContext` trait, so its `setup` can be called by
/// hand; a second call is refused by name instead of resuming the body without its value.
#[test]
fn calling_setup_twice_by_hand_panics_naming_the_context() {
    let torn_down = Arc::new(AtomicBool::new(false));
    let mut ctx = Context::new("by_hand", {
        let torn_down = Arc::clone(&torn_down);
        move |mut y: Y<u8>| async move {
            let n = y.hand_over(1).await;
            assert_eq!(n, 2, "the value handed back at teardown");
            torn_down.store(true, Ordering::SeqCst);
        }
    });
    let target = anysync::run(ctx.setup());
    assert_eq!(target, 1);
    let message = caught_message(|| drop(ctx.setup()));
    assert!(
        message.contains("context `by_hand` entered twice"),
        "{message}"
    );
    anysync::run(ctx.teardown(target + 1, Exit::Normal));
    assert!(
        torn_down.load(Ordering::SeqCst),
        "the refused setup broke nothing"
    );
}

#[test]
fn creating_or_dropping_an_unentered_context_runs_nothing() {
    let started = Arc::new(AtomicBool::new(false));
    let make = |started: Arc<AtomicBool>| {
        Context::new("lazy", move |mut y: Y<()>| async move {
            started.store(true, Ordering::SeqCst);
            y.hand_over(()).await;
        })
    };
    let context = make(Arc::clone(&started));
    assert!(format!("{context:?}").contains("started: false"));
    drop(context);
    drop(make(Arc::clone(&started)).enter());
    assert!(!started.load(Ordering::SeqCst));
    make(Arc::clone(&started)).scope(|()| ());
    assert!(started.load(Ordering::SeqCst));
}

#[test]
fn debug_shows_the_name_and_progress() {
    let context = recorder(Arc::default());
    let shown = format!("{context:?}");
    assert!(shown.starts_with("Context {"), "{shown}");
    assert!(shown.contains("name: \"recorder\""), "{shown}");
    assert!(shown.contains("finished: false"), "{shown}");
    assert_eq!(context.name(), "recorder");
    let guard = session(managers::refusing_addr(), unique("debug"), Log::default()).enter();
    assert!(format!("{guard:?}").starts_with("Enter { context: Context {"));
}

#[test]
fn contexts_and_their_entering_futures_are_send_and_spawnable() {
    fn is_send<T: Send>(_: &T) {}
    let context = recorder(Arc::default());
    is_send(&context);
    let entering = std::future::IntoFuture::into_future(context.enter());
    is_send(&entering);
    let seen = Arc::new(std::sync::Mutex::new(None));
    let s = Arc::clone(&seen);
    anysync::run(async move {
        tokio::spawn(async move {
            let mut list = recorder(s).enter().await;
            list.push(8);
            tokio::task::yield_now().await;
            list.exit().await;
        })
        .await
        .unwrap();
    });
    assert_eq!(
        seen.lock().unwrap().take(),
        Some((vec![1, 8], Exit::Normal))
    );
}

#[test]
fn the_body_runs_where_the_bridge_polls_it_and_teardown_survives_thread_changes() {
    // Entered in a current_thread task (setup lent to a background thread), exited from a
    // plain thread (teardown polled in place): the boxed body moves between threads.
    let token = unique("moves");
    let log = Log::default();
    let (t, l) = (token.clone(), log.clone());
    let guard = within(Ctx::CurrentTask, move || {
        session(server().addr(), t, l)
            .enter()
            .run()
            .expect("connect")
    });
    std::thread::spawn(move || {
        let mut guard = guard;
        assert_eq!(guard.echo("moved").run().unwrap(), "echo: moved");
        guard.exit().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(log.events(), setup_and(Exit::Normal));
    server().wait_closed(&token);
}

/// A body whose teardown panics when the block panicked.
fn fragile() -> Context<impl Future<Output = ()> + Send, ()> {
    Context::new("fragile", move |mut y: Y<()>| async move {
        y.hand_over(()).await;
        if y.exit_status().is_panicked() {
            panic!("cleanup failed too");
        }
    })
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn a_body_that_panics_in_teardown_while_unwinding_is_reported_by_its_function_name() {
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
    // Without a panic in the block, the body's teardown runs normally.
    fragile().enter().run().exit();
    println!("child: first panic kept");
}
