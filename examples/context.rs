//! A database transaction, written once as an async context manager and used from a blocking
//! CLI path and from an async server path.
//!
//! A tiny key-value "database" listens on loopback TCP and speaks a line protocol (`BEGIN`,
//! `SET`, `GET`, `COMMIT`, `ROLLBACK`). `transaction` connects and begins in its setup, lends
//! the open transaction to the caller's block with `yield_!`, and in its teardown commits
//! (if the block asked for it and did not panic) or rolls back, then closes the connection.
//!
//! - The CLI path is plain blocking code: `transaction(..).enter().run()?` gives a guard that
//!   tears down when it drops (also on `?` and on panic), `exit()` returns the teardown's
//!   error, and `scope` runs a closure inside the transaction.
//! - The server path handles requests in tokio tasks: `transaction(..).enter().await?` and
//!   `exit().await`, and `scope_async`.
//!
//! Run it with `cargo run --example context`.

use anysync::{Exit, exit_status, yield_};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::panic;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// The client side: a transaction, and the context manager that scopes it
// ---------------------------------------------------------------------------------------------

/// An open transaction on a connection to the database.
pub struct Tx {
    conn: BufReader<TcpStream>,
    /// Set by the block: commit at exit instead of rolling back.
    commit: bool,
}

#[anysync::coroutine]
impl Tx {
    /// Stages `key = value` (visible to this transaction until it commits).
    pub async fn set(&mut self, key: &str, value: &str) -> io::Result<()> {
        self.request(&format!("SET {key} {value}")).await.map(drop)
    }

    /// Reads `key`, as this transaction sees it.
    pub async fn get(&mut self, key: &str) -> io::Result<Option<String>> {
        let reply = self.request(&format!("GET {key}")).await?;
        Ok(reply.strip_prefix("value ").map(str::to_owned))
    }
}

impl Tx {
    /// Asks for the transaction to be committed when the block ends normally.
    pub fn commit_on_exit(&mut self) {
        self.commit = true;
    }

    async fn request(&mut self, line: &str) -> io::Result<String> {
        self.conn
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await?;
        let mut reply = String::new();
        self.conn.read_line(&mut reply).await?;
        match reply.trim_end() {
            "" => Err(io::ErrorKind::UnexpectedEof.into()),
            error if error.starts_with("error:") => Err(io::Error::other(error.to_owned())),
            ok => Ok(ok.to_owned()),
        }
    }
}

/// A transaction scope: BEGIN in setup; COMMIT or ROLLBACK and close in teardown.
///
/// Setup errors (the database is unreachable) are what entering returns; teardown errors are
/// what `exit()` returns.
#[anysync::context(item = Tx)]
pub async fn transaction(addr: SocketAddr, client: &str) -> io::Result<()> {
    let conn = BufReader::new(TcpStream::connect(addr).await?);
    let mut tx = Tx {
        conn,
        commit: false,
    };
    tx.request(&format!("BEGIN {client}")).await?;
    // The caller's block runs here; the transaction comes back with its changes.
    let mut tx = yield_!(tx);
    let outcome = if tx.commit && exit_status!() == Exit::Normal {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    tx.request(outcome).await?;
    tx.conn.into_inner().shutdown().await
}

// ---------------------------------------------------------------------------------------------
// The blocking CLI path
// ---------------------------------------------------------------------------------------------

fn cli(addr: SocketAddr) -> io::Result<()> {
    println!("--- CLI (blocking code, no runtime in sight)");

    // A guard: the transaction ends when `tx` drops, or explicitly with `exit()`.
    let mut tx = transaction(addr, "cli-1").enter().run()?;
    tx.set("greeting", "hello").run()?;
    println!("[cli] staged greeting = {:?}", tx.get("greeting").run()?);
    tx.commit_on_exit();
    tx.exit()?;
    println!("[cli] exited: committed");

    // `?` inside the block: the guard still ends the transaction (without committing).
    let failed = (|| -> io::Result<()> {
        let mut tx = transaction(addr, "cli-2").enter().run()?;
        tx.set("greeting", "overwritten").run()?;
        tx.set("bad key with spaces", "x").run()?; // the server refuses this
        tx.commit_on_exit();
        Ok(())
    })();
    println!("[cli] block failed ({}): rolled back", failed.unwrap_err());

    // A panic inside the block: the teardown sees `Exit::Panicked` and rolls back.
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        println!("[cli] the block panicked: {info}")
    }));
    let panicked = panic::catch_unwind(|| {
        let mut tx = transaction(addr, "cli-3").enter().run().expect("begin");
        tx.set("greeting", "half-done").run().expect("set");
        tx.commit_on_exit();
        panic!("disk full");
    });
    panic::set_hook(previous);
    assert!(panicked.is_err());

    // The scoped form: the closure's value, or the transaction's error.
    let seen = transaction(addr, "cli-4").scope(|tx| tx.get("greeting").run())??;
    println!("[cli] scope read greeting = {seen:?}");
    assert_eq!(seen.as_deref(), Some("hello"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The async server path
// ---------------------------------------------------------------------------------------------

/// Records a visit for `user`: an `.await`ed guard, explicitly exited.
async fn record_visit(addr: SocketAddr, user: String) -> io::Result<u32> {
    let client = format!("handler-{user}");
    let mut tx = transaction(addr, &client).enter().await?;
    let key = format!("visits:{user}");
    let visits = match tx.get(&key).await? {
        Some(n) => n.parse::<u32>().map_err(io::Error::other)? + 1,
        None => 1,
    };
    tx.set(&key, &visits.to_string()).await?;
    tx.commit_on_exit();
    tx.exit().await?;
    Ok(visits)
}

async fn server_path(addr: SocketAddr) -> io::Result<()> {
    println!("--- server (tokio tasks, `.await`)");
    // One request after another (this toy database does not isolate transactions), each
    // handled in a task of its own.
    for user in ["ada", "alan", "ada"] {
        let handler = tokio::spawn(record_visit(addr, user.to_owned()));
        let visits = handler.await.expect("handler task")?;
        println!("[server path] {user}: visit #{visits} recorded");
    }

    // The scoped form, in a task of its own.
    let report = tokio::spawn(transaction(addr, "report").scope_async(async |tx| {
        let ada = tx.get("visits:ada").await?;
        let alan = tx.get("visits:alan").await?;
        io::Result::Ok(format!("ada: {ada:?}, alan: {alan:?}"))
    }));
    println!("[server path] report: {}", report.await.expect("task")??);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The database: committed data, per-connection staged writes, a line protocol
// ---------------------------------------------------------------------------------------------

type Store = Arc<Mutex<BTreeMap<String, String>>>;

async fn serve(listener: TcpListener, store: Store) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(session(socket, Arc::clone(&store)));
    }
}

async fn session(socket: TcpStream, store: Store) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut client = String::from("?");
    let mut staged = BTreeMap::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split(' ').collect();
        let reply = match words.as_slice() {
            ["BEGIN", who] => {
                client = (*who).to_owned();
                "ok".to_owned()
            }
            ["SET", key, value] => {
                staged.insert((*key).to_owned(), (*value).to_owned());
                "ok".to_owned()
            }
            ["GET", key] => {
                let committed = || store.lock().unwrap().get(*key).cloned();
                match staged.get(*key).cloned().or_else(committed) {
                    Some(value) => format!("value {value}"),
                    None => "none".to_owned(),
                }
            }
            ["COMMIT"] => {
                let n = staged.len();
                store.lock().unwrap().append(&mut staged);
                println!("[db] {client}: COMMIT ({n} writes)");
                "ok".to_owned()
            }
            ["ROLLBACK"] => {
                println!("[db] {client}: ROLLBACK ({} writes dropped)", staged.len());
                staged.clear();
                "ok".to_owned()
            }
            _ => format!("error: cannot parse {line:?}"),
        };
        if write
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
    }
    println!("[db] {client}: connection closed");
}

fn main() -> io::Result<()> {
    // The database runs on anysync's background runtime: `anysync::run` from plain `main`.
    let store = Store::default();
    let addr = anysync::run({
        let store = Arc::clone(&store);
        async move {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(serve(listener, store));
            io::Result::Ok(addr)
        }
    })?;

    cli(addr)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(server_path(addr))?;

    let committed = store.lock().unwrap().clone();
    println!("--- committed: {committed:?}");
    assert_eq!(committed["greeting"], "hello");
    assert_eq!(committed["visits:ada"], "2");
    Ok(())
}
