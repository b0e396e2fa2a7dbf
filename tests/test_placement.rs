//! Issue 13, point 2: one placement rule. What a `.run()` future spawns or registers (tasks,
//! IO, timers) lives on anysync's global runtime in every calling context, except inside an
//! `unblock` closure, where `.run()` goes back to the runtime that called `unblock` on purpose.
//!
//! Regression: a connection made by `.run()` inside a multi_thread runtime (polled in place)
//! bound itself to that runtime, and answered "broken pipe" once it was dropped; made inside a
//! current_thread runtime (lent) it bound to the global one and kept working.

mod common;

use common::ctx::{ALL, Ctx, within};
use common::echo_server;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

type Request = (String, oneshot::Sender<io::Result<String>>);

/// A connection in the style of redis's `MultiplexedConnection` and hyper's pool: a loopback
/// TCP stream owned by a driver task that `tokio::spawn`s on whatever runtime is current when
/// the connection is made, and a handle that talks to the driver.
struct Multiplexed {
    requests: mpsc::UnboundedSender<Request>,
}

fn driver_gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the connection's driver task is gone",
    )
}

#[anysync::coroutine]
impl Multiplexed {
    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        let (requests, mut incoming) = mpsc::unbounded_channel::<Request>();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Some((message, reply)) = incoming.recv().await {
                let answer = async {
                    write.write_all(format!("{message}\n").as_bytes()).await?;
                    lines.next_line().await?.ok_or_else(driver_gone)
                };
                let _ = reply.send(answer.await);
            }
        });
        Ok(Multiplexed { requests })
    }

    async fn echo(&self, message: &str) -> io::Result<String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((message.to_owned(), reply))
            .map_err(|_| driver_gone())?;
        answer.await.map_err(|_| driver_gone())?
    }
}

#[test]
fn a_connection_made_by_run_outlives_every_runtime_of_its_caller() {
    let addr = echo_server();
    for ctx in ALL {
        // `within` returns once the context's thread has ended and its runtime (if any) has
        // been dropped, with every task that ran on it.
        let ran = within(ctx, move || {
            let conn = Multiplexed::connect(addr).run().expect("connect");
            let first = conn
                .echo("made here")
                .run()
                .expect("echo where it was made");
            (conn, first)
        });
        let (conn, first) = ran.value;
        assert_eq!(first, "echo: made here", "{ctx:?}");
        // Bounded: a driver task stranded on a runtime that does not run would hang.
        let later = conn.echo("later").run_timeout(Duration::from_secs(30));
        let unblock = matches!(ctx, Ctx::UnblockCurrent | Ctx::UnblockMulti);
        if unblock {
            // The documented exception: inside `unblock`, `.run()` uses the runtime that
            // called `unblock`, and so the driver task died with it.
            let error = later
                .expect("a dead driver answers at once")
                .expect_err("the driver died with the origin runtime");
            assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "{ctx:?}");
        } else {
            let later = later.unwrap_or_else(|_| panic!("{ctx:?}: the connection hung"));
            assert_eq!(
                later.expect("echo later").as_str(),
                "echo: later",
                "{ctx:?}"
            );
        }
    }
}

#[test]
fn timers_and_tasks_of_a_run_future_live_on_the_global_runtime_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || {
            anysync::run(async {
                // A task spawned by the future, and the runtime a timer is registered on.
                let spawned = tokio::spawn(async { tokio::runtime::Handle::current().id() })
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
                (tokio::runtime::Handle::current().id(), spawned)
            })
        });
        let (polled_with, spawned_on) = ran.value;
        let expected = if ctx.user_runtime() {
            ran.runtime.expect("an unblock context has a runtime")
        } else {
            common::global_id()
        };
        assert_eq!(polled_with, expected, "{ctx:?}");
        assert_eq!(spawned_on, expected, "{ctx:?}");
    }
}

#[test]
fn a_socket_registered_by_run_outlives_every_runtime_of_its_caller() {
    // The plain form of the connection test above: a `TcpStream` made by `.run()` is
    // registered with the reactor of the runtime that drove it, and used after the caller's
    // runtimes are gone.
    let addr = echo_server();
    for ctx in ALL {
        let ran = within(ctx, move || {
            anysync::run(async move { BufReader::new(TcpStream::connect(addr).await.unwrap()) })
        });
        let mut stream = ran.value;
        let later = anysync::run(async move {
            stream.get_mut().write_all(b"later\n").await?;
            let mut line = String::new();
            stream.read_line(&mut line).await?;
            io::Result::Ok(line)
        });
        if ctx.user_runtime() {
            // Registered with the origin runtime, whose reactor is gone.
            assert!(later.is_err(), "{ctx:?}");
        } else {
            assert_eq!(later.expect("echo later"), "echo: later\n", "{ctx:?}");
        }
    }
}
