//! One `Store` trait, two backends, two kinds of callers.
//!
//! `Store` is declared once with `async fn`s under `#[anysync::coroutine]`. `Memory` keeps the
//! rows in a map; `Remote` talks to a key-value server over loopback TCP (a line protocol:
//! `GET k`, `PUT k v`, `KEYS`).
//!
//! - The **server path** is async: the server in this file serves any `Store` (here a
//!   `Memory`) from tokio tasks, calling it with `.await`; each task owns an `Arc<S>`, since
//!   `tokio::spawn` needs a `'static` future.
//! - The **CLI path** is blocking: `cli` parses a command line and calls the same trait with
//!   `.run()`, against either backend, from `main` and from inside a tokio runtime, where
//!   `Handle::block_on` would panic.
//!
//! Run it with `cargo run --example storage`.

use anysync::{RunExt, yield_};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// A key-value store, async and blocking alike.
#[anysync::coroutine]
pub trait Store: Send + Sync {
    /// The value under `key`.
    async fn get(&self, key: &str) -> io::Result<Option<String>>;

    /// Stores `value` under `key`.
    async fn put(&self, key: &str, value: &str) -> io::Result<()>;

    /// The keys, in order, as an iterator (`for` in blocking code, `.next().await` in async
    /// code).
    #[anysync::iterator(item = String)]
    async fn keys(&self) -> io::Result<()>;

    /// A default body: the value under `key`, or `default`.
    async fn get_or(&self, key: &str, default: &str) -> io::Result<String> {
        Ok(self.get(key).await?.unwrap_or_else(|| default.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

/// Rows in memory.
#[derive(Default)]
pub struct Memory {
    rows: Mutex<BTreeMap<String, String>>,
}

#[anysync::coroutine]
impl Store for Memory {
    async fn get(&self, key: &str) -> io::Result<Option<String>> {
        Ok(self.rows.lock().await.get(key).cloned())
    }

    async fn put(&self, key: &str, value: &str) -> io::Result<()> {
        self.rows.lock().await.insert(key.into(), value.into());
        Ok(())
    }

    #[anysync::iterator(item = String)]
    async fn keys(&self) -> io::Result<()> {
        let keys: Vec<String> = self.rows.lock().await.keys().cloned().collect();
        for key in keys {
            yield_!(key);
        }
        Ok(())
    }
}

/// Rows on a server, one connection per client.
pub struct Remote {
    conn: Mutex<BufReader<TcpStream>>,
}

impl Remote {
    /// Sends one request line and reads the reply lines up to `END`.
    async fn request(&self, line: &str) -> io::Result<Vec<String>> {
        let mut conn = self.conn.lock().await;
        conn.get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await?;
        let mut lines = Vec::new();
        loop {
            let mut reply = String::new();
            if conn.read_line(&mut reply).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            match reply.trim_end() {
                "END" => return Ok(lines),
                line => lines.push(line.to_owned()),
            }
        }
    }
}

#[anysync::coroutine]
impl Remote {
    /// Connects to the server at `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Remote> {
        let stream = TcpStream::connect(addr).await?;
        Ok(Remote {
            conn: Mutex::new(BufReader::new(stream)),
        })
    }
}

#[anysync::coroutine]
impl Store for Remote {
    async fn get(&self, key: &str) -> io::Result<Option<String>> {
        Ok(self.request(&format!("GET {key}")).await?.pop())
    }

    async fn put(&self, key: &str, value: &str) -> io::Result<()> {
        self.request(&format!("PUT {key} {value}")).await?;
        Ok(())
    }

    #[anysync::iterator(item = String)]
    async fn keys(&self) -> io::Result<()> {
        for key in self.request("KEYS").await? {
            yield_!(key);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The async server path: serves any `Store` with `.await`
// ---------------------------------------------------------------------------------------------

/// Accepts connections forever, one task each; every task owns a handle to the store.
async fn serve<S: Store + 'static>(store: Arc<S>, listener: TcpListener) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            if let Err(err) = handle(&*store, socket).await {
                eprintln!("server: connection failed: {err}");
            }
        });
    }
}

async fn handle<S: Store>(store: &S, socket: TcpStream) -> io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let mut words = line.splitn(3, ' ');
        let mut reply = String::new();
        match (words.next(), words.next(), words.next()) {
            (Some("GET"), Some(key), None) => {
                if let Some(value) = store.get(key).await? {
                    reply.push_str(&format!("{value}\n"));
                }
            }
            (Some("PUT"), Some(key), Some(value)) => store.put(key, value).await?,
            (Some("KEYS"), None, None) => {
                let mut keys = store.keys();
                while let Some(key) = keys.next().await {
                    reply.push_str(&format!("{}\n", key?));
                }
            }
            _ => reply.push_str("ERR unknown command\n"),
        }
        reply.push_str("END\n");
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

/// Starts a server backed by `Memory` on 127.0.0.1, on anysync's global runtime.
fn start_server() -> io::Result<SocketAddr> {
    anysync::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(serve(Arc::new(Memory::default()), listener));
        Ok(addr)
    })
}

// ---------------------------------------------------------------------------------------------
// The blocking CLI path: the same trait with `.run()`
// ---------------------------------------------------------------------------------------------

/// Runs one command line (`get k`, `put k v`, `keys`, `get-or k default`) against `store`.
fn cli<S: Store>(store: &S, line: &str) -> io::Result<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    Ok(match words.as_slice() {
        ["get", key] => format!("{:?}", store.get(key).run()?),
        ["put", key, value] => {
            store.put(key, value).run()?;
            "ok".to_owned()
        }
        ["keys"] => store
            .keys()
            .into_iter()
            .collect::<io::Result<Vec<_>>>()?
            .join(","),
        ["get-or", key, default] => store.get_or(key, default).run()?,
        _ => format!("usage: get K | put K V | keys | get-or K DEFAULT (got {line:?})"),
    })
}

fn main() -> io::Result<()> {
    let addr = start_server()?;
    println!("server (async path, Memory backend) on {addr}");

    let remote = Remote::connect(addr).run()?;
    let memory = Memory::default();
    let script = [
        "put a 1",
        "put b 2",
        "get a",
        "get zz",
        "keys",
        "get-or zz none",
    ];
    for line in script {
        let over_tcp = cli(&remote, line)?;
        let in_memory = cli(&memory, line)?;
        assert_eq!(over_tcp, in_memory, "both backends agree on {line:?}");
        println!("cli> {line:<15} -> {over_tcp}");
    }

    // The same CLI function called from inside a current_thread runtime (a sync callback in
    // an async application), where `Handle::block_on` would panic.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let inside = rt.block_on(async { cli(&remote, "get b") })?;
    println!("cli inside a runtime: get b -> {inside}");
    assert_eq!(inside, "Some(\"2\")");

    // And async code awaits the same trait.
    let keys = rt.block_on(async {
        let mut keys = Vec::new();
        let mut stream = remote.keys();
        while let Some(key) = stream.next().await {
            keys.push(key?);
        }
        io::Result::Ok(keys)
    })?;
    println!("async keys over tcp: {keys:?}");
    assert_eq!(keys, ["a", "b"]);
    Ok(())
}
