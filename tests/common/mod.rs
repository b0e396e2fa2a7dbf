//! Shared fixtures: a loopback TCP echo server, probes that report where they were polled,
//! and runtime builders for each calling context.
#![allow(dead_code, unreachable_pub)]

pub mod ctx;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, ThreadId};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Handle, Runtime};

pub const POOL: &str = "anysync-pool";
pub const GLOBAL: &str = "anysync-runtime";

/// Where a probe future was polled, and what worked there.
#[derive(Debug, Clone)]
pub struct Probe {
    pub thread: ThreadId,
    pub name: Option<String>,
    pub runtime: tokio::runtime::Id,
    pub spawned: u32,
}

/// A future that uses a tokio timer, `tokio::spawn` and `yield_now`, then reports where it ran.
#[anysync::coroutine]
pub async fn probe() -> Probe {
    tokio::time::sleep(Duration::from_millis(1)).await;
    tokio::task::yield_now().await;
    let spawned = tokio::spawn(async { 7 }).await.expect("spawned task");
    Probe {
        thread: thread::current().id(),
        name: thread::current().name().map(str::to_owned),
        runtime: Handle::current().id(),
        spawned,
    }
}

pub fn here() -> ThreadId {
    thread::current().id()
}

/// The global runtime's id, as seen from inside a `.run()` on a plain thread.
pub fn global_id() -> tokio::runtime::Id {
    static ID: OnceLock<tokio::runtime::Id> = OnceLock::new();
    *ID.get_or_init(|| {
        thread::spawn(|| anysync::run(async { Handle::current().id() }))
            .join()
            .expect("global id")
    })
}

pub fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn multi_thread(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Starts a line-echo server on 127.0.0.1 on the global runtime and returns its address.
pub fn echo_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        thread::spawn(|| {
            anysync::run(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let addr = listener.local_addr().expect("addr");
                tokio::spawn(async move {
                    loop {
                        let Ok((socket, _)) = listener.accept().await else {
                            continue;
                        };
                        tokio::spawn(async move {
                            let (read, mut write) = socket.into_split();
                            let mut lines = BufReader::new(read).lines();
                            while let Ok(Some(line)) = lines.next_line().await {
                                let reply = format!("echo: {line}\n");
                                if write.write_all(reply.as_bytes()).await.is_err() {
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
        .expect("echo server")
    })
}

/// A client for the echo server whose methods are coroutines.
pub struct EchoClient {
    stream: tokio::sync::Mutex<BufReader<TcpStream>>,
}

#[anysync::coroutine]
impl EchoClient {
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        Ok(EchoClient {
            stream: tokio::sync::Mutex::new(BufReader::new(stream)),
        })
    }

    pub async fn echo(&self, message: &str) -> io::Result<String> {
        let mut stream = self.stream.lock().await;
        stream
            .get_mut()
            .write_all(format!("{message}\n").as_bytes())
            .await?;
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        Ok(line.trim_end().to_owned())
    }
}

/// Sets a flag when dropped: proves a future was dropped (and when).
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A panic payload that tests can recognise.
#[derive(Debug, PartialEq, Eq)]
pub struct Boom(pub u32);

/// The message of a panic payload (`&str` or `String`), or empty.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}
