//! The stall diagnosis: a `.run()` still waiting after the threshold reports once for that
//! call, naming its call site, its calling context and the possible causes there.
//!
//! The threshold is fixed once per process, so each case runs in a child process (this test
//! binary again) whose stderr the parent reads. The hangs are real: accepting on a loopback
//! socket registered on a current_thread runtime that nothing drives (the idle-other-runtime
//! case), with a client connected so that the accept would succeed if that runtime ran. They
//! are bounded by a handshake, not by time: the parent reads the notices as they come, tells
//! the child to stop once it has seen them all, and kills it if that takes over two minutes.

mod common;

use anysync::RunExt;
use common::ctx::{ALL, Ctx, within};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const CHILD: &str = "ANYSYNC_TEST_STALL_CHILD";
/// The bound on every hang in a child; the handshake ends the child long before.
const LIMIT: Duration = Duration::from_secs(120);
/// The notice's first words, before the call site.
const NOTICE: &str = "anysync: `.run()` at ";

/// A listener registered on a current_thread runtime that is alive but never driven, with a
/// connection waiting to be accepted.
fn idle_listener() -> TcpListener {
    static IDLE: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let idle = IDLE.get_or_init(common::current_thread);
    let listener = idle
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::mem::forget(std::net::TcpStream::connect(addr).expect("connect"));
    listener
}

/// Prints which line of this file makes `ctx`'s call, then makes it: a `.run()` that waits on
/// the idle runtime's socket. One line per context, so each notice names its context's line.
#[rustfmt::skip]
fn hang(ctx: Ctx, listener: TcpListener) {
    let accept = async move { listener.accept().await.map(drop) };
    let site = |line: u32| eprintln!("anysync-test: site {ctx:?} {line}");
    let waited = match ctx {
        Ctx::Plain => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::CurrentRoot => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::CurrentTask => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::MultiRoot => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::MultiTask => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::LocalSetCurrent => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::LocalSetCurrentTask => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::LocalSetMulti => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::LocalSetMultiTask => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::BlockingCurrent => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::BlockingMulti => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::EnterCurrent => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::EnterMulti => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::NestedPlain => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::GlobalTask => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::DropCurrent => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::DropMulti => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::NestedCurrent => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::UnblockCurrent => { site(line!()); accept.run_timeout(LIMIT) }
        Ctx::UnblockMulti => { site(line!()); accept.run_timeout(LIMIT) }
    };
    panic!("{ctx:?}: the idle runtime's socket was accepted or timed out: {waited:?}");
}

/// An iterator whose body waits on the idle runtime's socket before its first item.
#[anysync::iterator(item = ())]
async fn accepting(listener: TcpListener) {
    if listener.accept().await.is_ok() {
        anysync::yield_!(());
    }
}

/// Blocking iteration of a prefetching iterator whose body waits on the idle runtime's socket.
#[rustfmt::skip]
fn hang_prefetch(listener: TcpListener) {
    let mut items = accepting(listener).prefetch(1).into_iter();
    let site = |line: u32| eprintln!("anysync-test: site Prefetch {line}");
    let item = { site(line!()); items.next() };
    panic!("the prefetching iterator gave {item:?}");
}

/// What the notice must say of the context, and of the causes there.
fn expected(ctx: Ctx) -> (&'static str, &'static str) {
    const LENT: &str = "the future was lent to a background thread, and this call blocks";
    const OWN: &str = "the caller's own runtime is blocked by this call";
    const OTHER: &str = "a resource bound to a runtime that is not running";
    match ctx {
        Ctx::Plain => ("a thread with no tokio runtime", OTHER),
        Ctx::CurrentRoot
        | Ctx::CurrentTask
        | Ctx::DropCurrent
        | Ctx::LocalSetCurrent
        | Ctx::LocalSetCurrentTask
        | Ctx::BlockingCurrent
        | Ctx::EnterCurrent => (LENT, OWN),
        // No worker core to hand over: lent.
        Ctx::LocalSetMulti | Ctx::LocalSetMultiTask => ("away from its workers", OWN),
        Ctx::MultiRoot | Ctx::BlockingMulti | Ctx::EnterMulti | Ctx::DropMulti => {
            ("away from its workers", OTHER)
        }
        // A worker: in place, the worker handed over.
        Ctx::MultiTask | Ctx::GlobalTask => ("inside `block_in_place`", OTHER),
        Ctx::NestedPlain | Ctx::NestedCurrent => ("nested inside another `.run()`", OTHER),
        Ctx::UnblockCurrent | Ctx::UnblockMulti => (
            "a closure run by `anysync::unblock`",
            "the runtime that called `unblock` is not running",
        ),
    }
}

/// The child's side: the calls of `mode`, then a wait for the parent's word (or, for
/// `Bounded`, a return once the calls end), then an exit while the hangs still wait.
fn child(mode: &str) {
    match mode {
        "contexts" => {
            // Calls that finish at once print nothing.
            anysync::run(async {});
            anysync::run(tokio::task::yield_now());
            for ctx in ALL {
                let listener = idle_listener();
                thread::spawn(move || within(ctx, move || hang(ctx, listener)));
            }
            let listener = idle_listener();
            thread::spawn(move || hang_prefetch(listener));
        }
        "configured" => {
            anysync::Config::new()
                .stall_threshold(Duration::from_millis(300))
                .install()
                .expect("first");
            let listener = idle_listener();
            thread::spawn(move || hang(Ctx::Plain, listener));
        }
        "off" => {
            anysync::Config::new()
                .stall_threshold(Duration::ZERO)
                .install()
                .expect("first");
            let accept = async move { idle_listener().accept().await.map(drop) };
            // The variable says 0.2 s; the configuration turned the diagnosis off.
            eprintln!("anysync-test: site Plain {}", line!() + 1);
            let waited = accept.run_timeout(Duration::from_secs(2));
            assert!(waited.is_err(), "the socket cannot be accepted");
            eprintln!("anysync-test: done");
            std::process::exit(0);
        }
        other => panic!("unknown mode {other}"),
    }
    // Told that every notice was seen: wait a little longer (five thresholds) so that a
    // repeated notice would show, then leave without waiting for the hung calls.
    let mut word = String::new();
    std::io::stdin().read_line(&mut word).expect("stdin");
    thread::sleep(Duration::from_secs(1));
    eprintln!("anysync-test: done");
    std::process::exit(0);
}

/// What a child printed: the line of each context's call, and the notices.
#[derive(Default, Debug)]
struct Output {
    sites: BTreeMap<String, u32>,
    notices: Vec<String>,
    all: String,
}

impl Output {
    fn notices_at(&self, line: u32) -> Vec<&String> {
        let site = format!("{NOTICE}{}:{line}:", file!());
        self.notices
            .iter()
            .filter(|n| n.starts_with(&site))
            .collect()
    }
}

/// Runs this binary's test `name` as a child in `mode`, with `ANYSYNC_STALL_SECS=0.2`; tells
/// it to finish once each of `expect` contexts has printed its site and a notice for it.
fn run_child(name: &str, mode: &str, expect: &[&str]) -> Output {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .env("ANYSYNC_STALL_SECS", "0.2")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("child");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Output::default();
    let mut stdin = child.stdin.take();
    let watchdog = Instant::now() + Duration::from_secs(120);
    loop {
        let left = watchdog.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("watchdog: the child did not finish: {}", out.all);
            }
        };
        out.all.push_str(&line);
        out.all.push('\n');
        if let Some(site) = line.strip_prefix("anysync-test: site ") {
            let (ctx, at) = site.split_once(' ').expect("site line");
            out.sites
                .insert(ctx.to_owned(), at.parse().expect("line number"));
        } else if line.starts_with(NOTICE) {
            out.notices.push(line);
        } else if line.starts_with("  ")
            && let Some(notice) = out.notices.last_mut()
        {
            notice.push('\n');
            notice.push_str(&line);
        }
        let all_seen = expect.iter().all(|place| {
            out.sites
                .get(*place)
                .is_some_and(|&at| !out.notices_at(at).is_empty())
        });
        if all_seen && let Some(mut stdin) = stdin.take() {
            stdin.write_all(b"go\n").expect("tell the child");
        }
    }
    let status = child.wait().expect("child exit");
    assert!(status.success(), "child failed: {}", out.all);
    assert!(out.all.contains("anysync-test: done"), "{}", out.all);
    out
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn a_waiting_run_reports_once_with_its_call_site_context_and_causes_in_every_context() {
    const NAME: &str =
        "a_waiting_run_reports_once_with_its_call_site_context_and_causes_in_every_context";
    if let Ok(mode) = std::env::var(CHILD) {
        return child(&mode);
    }
    let mut expect: Vec<String> = ALL.iter().map(|ctx| format!("{ctx:?}")).collect();
    expect.push("Prefetch".to_owned());
    let expect: Vec<&str> = expect.iter().map(String::as_str).collect();
    let out = run_child(NAME, "contexts", &expect);
    for ctx in ALL {
        let at = out.sites[&format!("{ctx:?}")];
        let notices = out.notices_at(at);
        assert_eq!(notices.len(), 1, "{ctx:?}: once per call: {}", out.all);
        let notice = notices[0];
        let (context, cause) = expected(ctx);
        assert!(
            notice.contains("is still waiting after 0.2 s"),
            "{ctx:?}: {notice}"
        );
        assert!(notice.contains(context), "{ctx:?}: the context: {notice}");
        assert!(notice.contains(cause), "{ctx:?}: the cause: {notice}");
    }
    // Blocking iteration of a prefetching iterator waits on its buffer, and is watched too.
    let notices = out.notices_at(out.sites["Prefetch"]);
    assert_eq!(notices.len(), 1, "prefetch: once: {}", out.all);
    assert!(
        notices[0].contains("`.prefetch(n)` iterator"),
        "{}",
        notices[0]
    );
    assert!(
        notices[0].contains("a resource bound to a runtime that is not running"),
        "{}",
        notices[0]
    );
    // Every notice belongs to a waiting call: the quick calls printed none. (The contexts
    // that wrap the call in a `.run()` of their own, nested and on the global runtime, wait
    // too, and report from their own call site.)
    let sites: Vec<String> = out.sites.values().map(|at| format!(":{at}:")).collect();
    for notice in &out.notices {
        assert!(
            sites.iter().any(|s| notice.contains(s.as_str())) || notice.contains("ctx.rs"),
            "a notice for a call that did not wait: {notice}"
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "re-runs the test binary; Miri cannot spawn processes")]
fn the_configured_threshold_wins_over_the_environment() {
    const NAME: &str = "the_configured_threshold_wins_over_the_environment";
    if let Ok(mode) = std::env::var(CHILD) {
        return child(&mode);
    }
    // Configured 0.3 s where the variable says 0.2 s: the notice gives the configured value.
    let configured = run_child(NAME, "configured", &["Plain"]);
    let at = configured.sites["Plain"];
    let notices = configured.notices_at(at);
    assert_eq!(notices.len(), 1, "{}", configured.all);
    assert!(
        notices[0].contains("still waiting after 0.3 s"),
        "{}",
        notices[0]
    );
    assert!(notices[0].contains("a thread with no tokio runtime"));
    // Configured off: no notice, although the variable asks for one after 0.2 s and the
    // call waits ten times as long.
    let off = run_child(NAME, "off", &[]);
    assert!(off.notices.is_empty(), "{}", off.all);
    assert!(off.sites.contains_key("Plain"), "{}", off.all);
}
