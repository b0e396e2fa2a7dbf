//! Fixtures for the context-manager suites: async code run inside each calling context, a
//! loopback server that reports when a client closes its connection, a client for it, unique
//! temporary directories, an event log, and re-running one test in a child process.
#![allow(dead_code, unreachable_pub)]

use crate::common::ctx::Ctx;
use anysync::{Coroutine, Exit};
use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};
use std::{panic, thread};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::LocalSet;

/// The calling contexts that can `.await`: every async entry point of the runtime table.
pub const ASYNC: [Ctx; 10] = [
    Ctx::CurrentRoot,
    Ctx::CurrentTask,
    Ctx::MultiRoot,
    Ctx::MultiTask,
    Ctx::LocalSetCurrent,
    Ctx::LocalSetCurrentTask,
    Ctx::LocalSetMulti,
    Ctx::LocalSetMultiTask,
    Ctx::NestedPlain,
    Ctx::GlobalTask,
];

/// How long [`within_async`] waits before it calls the work hung: a limit that turns a
/// deadlock into a failure naming the context, not a timing assertion.
const HUNG: Duration = Duration::from_secs(60);

/// Awaits the future `make` builds inside `ctx` (one of [`ASYNC`]), on a fresh thread; a
/// panic in it reaches the caller with its payload, and a deadlock fails after [`HUNG`].
pub fn within_async<R, Fut>(ctx: Ctx, make: impl FnOnce() -> Fut + Send + 'static) -> R
where
    R: Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    // Dropped when the thread ends, by returning or by unwinding.
    let (done, finished) = mpsc::channel::<()>();
    let worker = thread::spawn(move || {
        let _done = done;
        let current = crate::common::current_thread;
        let multi = || crate::common::multi_thread(2);
        let unwind = |e: tokio::task::JoinError| panic::resume_unwind(e.into_panic());
        match ctx {
            Ctx::CurrentRoot => current().block_on(make()),
            Ctx::MultiRoot => multi().block_on(make()),
            Ctx::CurrentTask => current()
                .block_on(async move { tokio::spawn(make()).await })
                .unwrap_or_else(unwind),
            Ctx::MultiTask => multi()
                .block_on(async move { tokio::spawn(make()).await })
                .unwrap_or_else(unwind),
            Ctx::LocalSetCurrent => LocalSet::new().block_on(&current(), make()),
            Ctx::LocalSetMulti => LocalSet::new().block_on(&multi(), make()),
            Ctx::LocalSetCurrentTask => LocalSet::new()
                .block_on(
                    &current(),
                    async move { tokio::task::spawn_local(make()).await },
                )
                .unwrap_or_else(unwind),
            Ctx::LocalSetMultiTask => LocalSet::new()
                .block_on(
                    &multi(),
                    async move { tokio::task::spawn_local(make()).await },
                )
                .unwrap_or_else(unwind),
            Ctx::NestedPlain => anysync::run(make()),
            Ctx::GlobalTask => {
                anysync::run(async move { tokio::spawn(make()).await }).unwrap_or_else(unwind)
            }
            other => panic!("{other:?} cannot `.await`"),
        }
    });
    if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(HUNG) {
        panic!("{ctx:?}: the work did not finish within {HUNG:?} (deadlocked?)");
    }
    let joined = worker.join();
    joined.unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// Calls `f` (blocking code) from inside `ctx`, any context of the runtime table, on a fresh
/// thread; a panic in it reaches the caller with its payload (also from a task of the global
/// runtime, where `common::ctx::within` unwraps the `JoinError`).
pub fn within_sync<R: Send + 'static>(ctx: Ctx, f: impl FnOnce() -> R + Send + 'static) -> R {
    if ASYNC.contains(&ctx) {
        within_async(ctx, move || async move { f() })
    } else {
        crate::common::ctx::within(ctx, f).value
    }
}

/// What happened to a context, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Setup,
    Block,
    Teardown(Exit),
}

/// A shared record of [`Event`]s.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Event>>>);

impl Log {
    pub fn push(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }

    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

/// A name no other test uses.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A path in the system's temporary directory that does not exist yet.
pub fn unique_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(unique(&format!("anysync-context-{tag}")))
}

/// A loopback line server: a client's first line (`hello <token>`) names its connection; every
/// later line is echoed back as `echo: <line>`; when the client closes (EOF) the server records
/// the token as closed.
pub struct Server {
    addr: SocketAddr,
    closed: Arc<(Mutex<HashMap<String, bool>>, Condvar)>,
}

/// The process's [`Server`], started on first use (plain std threads, no runtime).
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let closed = Arc::new((Mutex::new(HashMap::new()), Condvar::new()));
        let state = Arc::clone(&closed);
        thread::spawn(move || {
            for socket in listener.incoming() {
                let Ok(socket) = socket else { continue };
                let state = Arc::clone(&state);
                thread::spawn(move || serve(socket, &state));
            }
        });
        Server { addr, closed }
    })
}

fn serve(socket: std::net::TcpStream, state: &(Mutex<HashMap<String, bool>>, Condvar)) {
    let mut reply = socket.try_clone().expect("clone socket");
    let mut lines = io::BufReader::new(socket).lines();
    let Some(Ok(hello)) = lines.next() else {
        return;
    };
    let token = hello.trim_start_matches("hello ").to_owned();
    state.0.lock().unwrap().insert(token.clone(), false);
    for line in lines {
        let Ok(line) = line else { break };
        if writeln!(reply, "echo: {line}").is_err() {
            break;
        }
    }
    // EOF (or a reset): the client closed its end.
    state.0.lock().unwrap().insert(token, true);
    state.1.notify_all();
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the server has seen the connection `token` close.
    pub fn is_closed(&self, token: &str) -> bool {
        self.closed.0.lock().unwrap().get(token) == Some(&true)
    }

    /// Waits until the server sees the connection `token` close. The limit only turns a
    /// regression into a failure instead of a hang; it is not a timing assertion.
    pub fn wait_closed(&self, token: &str) {
        let (map, changed) = &*self.closed;
        let (map, timeout) = changed
            .wait_timeout_while(map.lock().unwrap(), Duration::from_secs(60), |m| {
                m.get(token) != Some(&true)
            })
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "the server never saw `{token}` close: {map:?}"
        );
    }
}

/// A client connection to the [`Server`]; its methods are coroutines.
pub struct Conn {
    stream: BufReader<TcpStream>,
    pub token: String,
}

impl Conn {
    /// Connects and introduces itself as `token`.
    pub async fn open(addr: SocketAddr, token: &str) -> io::Result<Conn> {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(format!("hello {token}\n").as_bytes())
            .await?;
        Ok(Conn {
            stream: BufReader::new(stream),
            token: token.to_owned(),
        })
    }

    /// Sends a line and returns the server's answer.
    pub fn echo<'a>(
        &'a mut self,
        message: &'a str,
    ) -> Coroutine<impl Future<Output = io::Result<String>> + Send + 'a> {
        Coroutine::new(async move {
            let stream = self.stream.get_mut();
            stream.write_all(format!("{message}\n").as_bytes()).await?;
            let mut line = String::new();
            self.stream.read_line(&mut line).await?;
            Ok(line.trim_end().to_owned())
        })
    }

    /// Closes the connection: the server sees EOF.
    pub async fn close(self) -> io::Result<()> {
        self.stream.into_inner().shutdown().await
    }
}

/// An address where nothing listens: connecting is refused.
pub fn refusing_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Whether this process is the child that [`rerun`] started for `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var("ANYSYNC_CONTEXT_CHILD").as_deref() == Ok(test)
}

/// Runs the test named `test` alone in a child process of this test binary (with
/// [`is_child`] true there) and returns what it printed and how it ended: for behaviour that
/// would take the whole test process down if it regressed (an abort).
pub fn rerun(test: &str) -> Output {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("ANYSYNC_CONTEXT_CHILD", test)
        .output()
        .expect("run the child")
}

/// [`rerun`], killing the child if it has not finished within [`HUNG`]: for scenarios whose
/// regression is a deadlock. The child's output so far is returned either way.
pub fn rerun_bounded(test: &str) -> Output {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("ANYSYNC_CONTEXT_CHILD", test)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child");
    // Drain both pipes while waiting: a child whose panics print backtraces (RUST_BACKTRACE)
    // would otherwise fill a pipe and block, which looks exactly like the hang we test for.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let deadline = Instant::now() + HUNG;
    while child.try_wait().expect("poll the child").is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    // A no-op if it has exited; otherwise the failure shows as an unsuccessful status.
    let _ = child.kill();
    let status = child.wait().expect("reap the child");
    Output {
        status,
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}

pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}
