//! The corpus under `#[anysync::coroutine]`, called for real: every async fn with `.run()` in
//! every calling context of `common::ctx::ALL`, the same calls `.await`ed in every async
//! context, and non-`Send` instantiations `.await`ed on one thread. One scenario, written
//! once (`scenario!`), runs both ways and must give the same results, which are checked
//! against a table of what each call returns.

#[path = "../../common/mod.rs"]
mod common;
#[path = "../../managers/mod.rs"]
mod managers;

use anysync::Coroutine;
use anysync_corpus::{codec, fs, kv, managed, pooled, sql, task, unmanaged};
use common::ctx::{ALL, Ctx};
use std::cell::{Cell, RefCell};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;
use std::{panic, thread};
use tokio::io::AsyncRead;
use tokio::task::LocalSet;

/// How long a context's whole scenario may take before it is called hung: a bound that turns
/// a deadlock into a failure naming the context, not a timing assertion.
const HUNG: Duration = Duration::from_secs(120);

/// What one scenario needs from outside: the echo server and a fresh directory.
struct Env {
    addr: SocketAddr,
    dir: PathBuf,
}

impl Env {
    fn new(tag: &str) -> Env {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "anysync-corpus-{}-{tag}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        Env {
            addr: common::echo_server(),
            dir,
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Each corpus fn's name and what it returned, in call order.
#[derive(Default)]
struct Log(Vec<(&'static str, String)>);

impl Log {
    fn push(&mut self, name: &'static str, value: impl Debug) {
        self.0.push((name, format!("{value:?}")));
    }
}

/// A tower-style service for `task::oneshot`: doubles its request once it is ready.
struct Doubler {
    ready: bool,
}

impl task::Service<u32> for Doubler {
    type Response = u32;
    type Error = String;

    async fn ready(&mut self) -> Result<(), String> {
        tokio::task::yield_now().await;
        self.ready = true;
        Ok(())
    }

    async fn call(&mut self, request: u32) -> Result<u32, String> {
        if self.ready {
            Ok(request * 2)
        } else {
            Err("called before ready".to_owned())
        }
    }
}

/// An observer interested in events that contain its keyword.
struct Keyword(&'static str);

impl task::Observer for Keyword {
    fn observe(&self, event: &str) -> bool {
        event.contains(self.0)
    }
}

fn pairs(rows: &[sql::Row]) -> Vec<(i32, String)> {
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

macro_rules! blocking {
    ($e:expr) => {
        $e.run()
    };
}

macro_rules! awaiting {
    ($e:expr) => {
        $e.await
    };
}

/// Calls every corpus fn once (a few twice, to see both outcomes), through `$go!`: `.run()`
/// (`blocking`) or `.await` (`awaiting`). Helpers that are not corpus fns go through
/// `Coroutine::new` so that they too can be run either way.
macro_rules! scenario {
    ($go:ident, $env:expr) => {{
        let env: &Env = $env;
        let mut log = Log::default();

        // sql: tokio-postgres' shapes.
        let mut client = $go!(sql::Client::connect(env.addr)).expect("connect");
        log.push("sql::Client::connect", "connected");
        let config = sql::Config::default();
        let other = $go!(sql::Client::connect_host(
            ("127.0.0.1", env.addr.port()),
            &config
        ));
        log.push("sql::Client::connect_host", other.map(|_| "connected"));
        log.push(
            "sql::Client::simple_query",
            $go!(client.simple_query("SELECT 1, one; SELECT 2, two")).map(|rows| pairs(&rows)),
        );
        let statement = $go!(client.prepare("SELECT $1, $2")).expect("prepare");
        log.push(
            "sql::Client::prepare",
            (statement.name().to_owned(), statement.params()),
        );
        log.push(
            "sql::Client::query",
            $go!(client.query("SELECT $1, $2; SELECT $3, $4", &[&1, &"one", &2, &"two"]))
                .map(|rows| pairs(&rows)),
        );
        log.push(
            "sql::Client::query_one",
            $go!(client.query_one(&statement, &[&42, &"answer"])).map(|row| pairs(&[row])),
        );
        log.push(
            "sql::Client::query_opt",
            $go!(client.query_opt("SELECT $1", &[&None::<i32>]))
                .map(|row| row.map(|r| r.get::<Option<i32>>(0))),
        );
        log.push(
            "sql::Client::query_raw",
            $go!(client.query_raw(&"SELECT $1, $2, $3".to_owned(), [1_i64, 2, 3])).map(|rows| {
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| r.get::<i64>(i)).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            }),
        );
        log.push(
            "sql::Client::execute",
            $go!(client.execute("INSERT $1; INSERT $2", &[&true, &false])),
        );
        log.push(
            "sql::Client::batch_execute",
            $go!(client.batch_execute("CREATE a; CREATE b")),
        );
        let transaction = $go!(client.transaction());
        log.push("sql::Client::transaction", &transaction);
        let mut transaction = transaction.expect("begin");
        log.push(
            "sql::Transaction::prepare",
            $go!(transaction.prepare("SELECT $1")).map(|s| s.params()),
        );
        log.push(
            "sql::Transaction::query",
            $go!(transaction.query("SELECT $1", &[&"in a transaction"]))
                .map(|rows| rows[0].get::<String>(0)),
        );
        let savepoint = $go!(transaction.savepoint("sp1"));
        log.push("sql::Transaction::savepoint", &savepoint);
        log.push(
            "sql::Transaction::rollback",
            $go!(savepoint.expect("savepoint").rollback()),
        );
        log.push("sql::Transaction::commit", $go!(transaction.commit()));

        // managed: deadpool's generic pool, over the sql manager.
        let pool = managed::Pool::new(sql::Manager::new(env.addr), 2, managed::Timeouts::default());
        let object = $go!(pool.get()).expect("get");
        log.push(
            "managed::Pool::get",
            (
                managed::Object::metrics(&object).recycle_count,
                pool.status(),
            ),
        );
        let first = $go!(object.prepare_cached("SELECT $1"));
        let again = $go!(object.prepare_cached("SELECT $1"));
        log.push(
            "sql::ClientWrapper::prepare_cached",
            (
                first.map(|s| s.name().to_owned()),
                again.map(|s| s.name().to_owned()),
            ),
        );
        drop(object);
        let timeouts = managed::Timeouts {
            wait: Some(Duration::from_secs(30)),
            ..managed::Timeouts::default()
        };
        log.push(
            "managed::Pool::timeout_get",
            $go!(pool.timeout_get(&timeouts)).map(|o| managed::Object::metrics(&o).recycle_count),
        );

        // unmanaged: deadpool's `Pool<T>`.
        let objects = unmanaged::Pool::<Vec<u8>>::new(1, Some(Duration::from_secs(30)));
        log.push("unmanaged::Pool::add", $go!(objects.add(b"first".to_vec())));
        log.push(
            "unmanaged::Pool::get",
            $go!(objects.get()).map(|o| String::from_utf8_lossy(&o).into_owned()),
        );
        let grown = $go!(objects.timeout_get(None)).map(|mut o| {
            o.push(b'!');
            o.len()
        });
        let empty = {
            let _held = $go!(objects.get()).expect("get");
            $go!(objects.timeout_get(Some(Duration::from_millis(1)))).map(|_| ())
        };
        log.push("unmanaged::Pool::timeout_get", (grown, empty));
        log.push(
            "unmanaged::Pool::remove",
            $go!(objects.remove()).map(String::from_utf8),
        );

        // pooled: bb8's pool, over the sql manager.
        let builder = pooled::Pool::<sql::Manager>::builder()
            .max_size(2)
            .min_idle(1);
        let connections = $go!(builder.build(sql::Manager::new(env.addr))).expect("build");
        log.push("pooled::Builder::build", connections.idle_connections());
        log.push(
            "pooled::Pool::get",
            $go!(connections.get()).map(|_conn| connections.idle_connections()),
        );
        let owned = $go!(connections.get_owned()).expect("get_owned");
        let rows = $go!(owned.simple_query("SELECT 3, three")).map(|rows| pairs(&rows));
        log.push(
            "pooled::Pool::get_owned",
            (rows, connections.idle_connections()),
        );
        drop(owned);
        let dedicated = $go!(connections.dedicated_connection());
        log.push(
            "pooled::Pool::dedicated_connection",
            (
                dedicated.as_ref().map(|_| "connected"),
                connections.idle_connections(),
            ),
        );
        let added = $go!(connections.add(dedicated.expect("connection")));
        let extra = $go!(sql::Client::connect(env.addr)).expect("connect");
        let full = $go!(connections.add(extra));
        log.push(
            "pooled::Pool::add",
            (added, full, connections.idle_connections()),
        );
        log.push(
            "pooled::Pool::run",
            $go!(connections.run(|client| Box::pin(async move {
                client
                    .simple_query("SELECT 5, five")
                    .await
                    .map(|rows| pairs(&rows))
            }))),
        );
        log.push(
            "pooled::SharedPool::reap",
            $go!(connections.shared().reap()),
        );

        // kv: redis' shapes.
        let server = kv::Server::new();
        let redis = kv::Client::open(&server);
        let mut con = $go!(redis.get_multiplexed_async_connection()).expect("connection");
        log.push("kv::Client::get_multiplexed_async_connection", "connected");
        log.push("kv::Connection::ping", $go!(con.ping()));
        log.push(
            "kv::Connection::set",
            $go!(con.set::<_, _, String>("name", "anysync")),
        );
        log.push(
            "kv::Connection::get",
            (
                $go!(con.get::<_, Option<String>>("name")),
                $go!(con.get::<_, Option<String>>(String::from("missing"))),
            ),
        );
        log.push(
            "kv::Connection::set_ex",
            $go!(con.set_ex::<_, _, ()>("session", 42_i64, 60)),
        );
        log.push(
            "kv::Connection::incr",
            $go!(con.incr::<_, _, i64>("session", 8)),
        );
        log.push(
            "kv::Connection::exists",
            ($go!(con.exists("session")), $go!(con.exists("missing"))),
        );
        log.push(
            "kv::Connection::mget",
            $go!(con.mget::<_, Vec<Option<String>>>(&["name", "missing", "session"])),
        );
        log.push(
            "kv::Cmd::query_async",
            $go!(
                kv::cmd("INCRBY")
                    .arg("hits")
                    .arg(3)
                    .query_async::<u64>(&mut con)
            ),
        );
        let mut pipeline = kv::pipe();
        pipeline
            .cmd("SET")
            .arg("a")
            .arg(1)
            .cmd("INCRBY")
            .arg("a")
            .arg(2)
            .cmd("GET")
            .arg("a");
        log.push(
            "kv::Pipeline::query_async",
            $go!(pipeline.query_async::<Vec<String>>(&mut con)),
        );
        let shared = $go!(redis.get_multiplexed_async_connection())
            .expect("connection")
            .into_shared();
        let mut exists = kv::cmd("EXISTS");
        exists.arg(("a", "hits"));
        log.push(
            "kv::MultiplexedConnection::send_packed_command",
            $go!(Arc::clone(&shared).send_packed_command(exists)),
        );
        let mut pubsub = $go!(redis.get_async_pubsub()).expect("pubsub");
        log.push("kv::Client::get_async_pubsub", "subscribed to nothing yet");
        log.push(
            "kv::PubSub::subscribe",
            $go!(pubsub.subscribe(vec!["news", "sports"])),
        );
        log.push(
            "kv::PubSub::unsubscribe",
            $go!(pubsub.unsubscribe("sports")),
        );
        log.push(
            "kv::Connection::publish",
            (
                $go!(con.publish("sports", "ignored")),
                $go!(con.publish(String::from("news"), 7_i64)),
            ),
        );
        log.push(
            "kv::PubSub::recv",
            $go!(pubsub.recv()).map(|m| (m.get_channel_name().to_owned(), m.get_payload::<i64>())),
        );
        log.push(
            "kv::Connection::del",
            $go!(con.del(vec!["name", "session", "missing"])),
        );

        // fs: tokio::fs' shapes.
        let dir = &env.dir;
        let hello = dir.join("a/b/hello.txt");
        log.push(
            "fs::create_dir_all",
            $go!(fs::create_dir_all(dir.join("a/b"))),
        );
        log.push("fs::write", $go!(fs::write(&hello, "hello")));
        log.push("fs::read", $go!(fs::read(&hello)));
        log.push(
            "fs::read_to_string",
            $go!(fs::read_to_string(hello.as_path())),
        );
        log.push("fs::copy", $go!(fs::copy(&hello, dir.join("copy.txt"))));
        log.push(
            "fs::metadata",
            $go!(fs::metadata(dir.join("copy.txt"))).map(|m| (m.is_file(), m.len())),
        );
        log.push(
            "fs::canonicalize",
            $go!(fs::canonicalize(dir.join("a/b/../b/hello.txt")))
                .map(|p| (p.is_absolute(), p.ends_with("a/b/hello.txt"))),
        );
        log.push(
            "fs::read_dir",
            $go!(fs::read_dir(dir)).map(|entries| {
                entries
                    .iter()
                    .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            }),
        );
        log.push(
            "fs::remove_file",
            $go!(fs::remove_file(dir.join("copy.txt"))),
        );
        log.push(
            "fs::try_exists",
            (
                $go!(fs::try_exists(&hello)),
                $go!(fs::try_exists(dir.join("copy.txt"))),
            ),
        );
        let file = $go!(fs::File::create(dir.join("file.bin")));
        log.push("fs::File::create", file.as_ref().map(|_| "created"));
        let mut file = file.expect("create");
        log.push("fs::File::write_all", $go!(file.write_all(b"0123456789")));
        log.push("fs::File::set_len", $go!(file.set_len(4)));
        log.push("fs::File::sync_all", $go!(file.sync_all()));
        log.push("fs::File::metadata", $go!(file.metadata()).map(|m| m.len()));
        let file = $go!(fs::File::open(dir.join("file.bin")));
        log.push("fs::File::open", file.as_ref().map(|_| "opened"));
        let mut bytes = b">".to_vec();
        let read = $go!(file.expect("open").read_to_end(&mut bytes));
        log.push("fs::File::read_to_end", (read, String::from_utf8(bytes)));

        // codec: tokio-util's shapes, over loopback TCP and in-memory pipes.
        let stream = $go!(Coroutine::new(tokio::net::TcpStream::connect(env.addr))).expect("tcp");
        let mut framed = codec::Framed::new(stream, codec::LinesCodec);
        log.push("codec::Framed::send", $go!(framed.send("ping")));
        log.push("codec::Framed::next_frame", $go!(framed.next_frame()));
        log.push("codec::Framed::flush", $go!(framed.flush()));
        $go!(framed.send(String::from("abc"))).expect("send");
        log.push(
            "codec::Framed::read_exact",
            $go!(framed.read_exact::<9>()).map(|b| String::from_utf8_lossy(&b).into_owned()),
        );
        let (mut near, mut far) = tokio::io::duplex(64);
        log.push(
            "codec::write_frame",
            (
                $go!(codec::write_frame(&mut near, b"one")),
                $go!(codec::write_frame(&mut near, b"two")),
            ),
        );
        let sized = $go!(codec::read_frame(&mut far));
        let unsized_reader: &mut (dyn AsyncRead + Unpin + Send) = &mut far;
        let unsized_ = $go!(codec::read_frame(unsized_reader));
        log.push(
            "codec::read_frame",
            (
                sized.map(String::from_utf8),
                unsized_.map(String::from_utf8),
            ),
        );
        let mut buf = codec::FixedBuf::<4>::default();
        let mut source: &[u8] = b"abcdef";
        let filled = $go!(buf.fill_from(&mut source));
        log.push(
            "codec::FixedBuf::fill_from",
            (filled, String::from_utf8_lossy(buf.as_slice()).into_owned()),
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let drained = $go!(buf.drain_into(&tx));
        log.push(
            "codec::FixedBuf::drain_into",
            (drained, rx.try_recv(), buf.as_slice().len()),
        );

        // task: tokio's and tower's shapes.
        log.push(
            "task::timeout",
            (
                $go!(task::timeout(Duration::from_secs(30), async { 5 })),
                $go!(task::timeout(
                    Duration::from_millis(1),
                    std::future::pending::<()>()
                )),
            ),
        );
        log.push(
            "task::join_all",
            $go!(task::join_all((1..=3_u64).map(|i| task::sleep_then(
                Duration::from_millis(3 - i),
                i * 10
            )))),
        );
        log.push(
            "task::retry",
            $go!(task::retry(
                |attempt| async move {
                    tokio::task::yield_now().await;
                    if attempt < 3 {
                        Err(attempt)
                    } else {
                        Ok(attempt * 100)
                    }
                },
                5
            )),
        );
        log.push(
            "task::sleep_then",
            $go!(task::sleep_then(Duration::from_millis(1), "slept")),
        );
        log.push(
            "task::sleep_both",
            $go!(task::sleep_both((
                Duration::from_millis(2),
                Duration::from_millis(1)
            ))),
        );
        log.push(
            "task::oneshot",
            $go!(task::oneshot(Doubler { ready: false }, 21)),
        );
        log.push(
            "task::spawn_and_wait",
            $go!(task::spawn_and_wait(async {
                tokio::task::yield_now().await;
                "spawned"
            }))
            .map_err(|e| e.to_string()),
        );
        log.push("task::yield_many", $go!(task::yield_many(3)));
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        for n in 1..=3 {
            tx.try_send(n).expect("room");
        }
        drop(tx);
        log.push("task::recv_many", $go!(task::recv_many(&mut rx, 2)));
        let (forward_tx, mut forward_rx) = tokio::sync::mpsc::channel(8);
        log.push(
            "task::forward",
            (
                $go!(task::forward(&mut rx, &forward_tx)),
                forward_rx.try_recv(),
            ),
        );
        let (watch_tx, mut watch_rx) = tokio::sync::watch::channel(0);
        watch_tx.send_replace(5);
        let reached = $go!(task::wait_for(&mut watch_rx, |v| *v >= 5));
        drop(watch_tx);
        let never = $go!(task::wait_for(&mut watch_rx, |v| *v > 5));
        log.push("task::wait_for", (reached, never));
        let mut interval = $go!(task::interval(Duration::from_millis(1)));
        log.push("task::interval", "made");
        log.push(
            "task::Interval::tick",
            (
                $go!(Pin::new(&mut interval).tick()),
                $go!(Pin::new(&mut interval).tick()),
            ),
        );
        let limiter = task::Limiter::new(2);
        let permit = $go!(Arc::clone(&limiter).acquire_owned());
        log.push(
            "task::Limiter::acquire_owned",
            (Arc::ptr_eq(permit.limiter(), &limiter), limiter.granted()),
        );
        drop(permit);
        let permits = $go!(limiter.acquire_many(2));
        log.push(
            "task::Limiter::acquire_many",
            (permits.count(), limiter.granted()),
        );
        drop(permits);
        let (deploys, alerts) = (Keyword("deploy"), Keyword("alert"));
        log.push(
            "task::notify_all",
            $go!(task::notify_all(
                &[&deploys as &dyn task::Observer, &alerts],
                "deploy v2"
            )),
        );
        let as_dyn: &dyn task::Observer = &alerts;
        log.push(
            "task::notify_each",
            (
                $go!(task::notify_each(
                    &deploys,
                    &["deploy", "noise", "deploy again"]
                )),
                $go!(task::notify_each(as_dyn, &["alert"])),
            ),
        );

        log
    }};
}

/// The scenario with `.run()`: blocking code, in any context.
fn blocking_pass(env: &Env) -> Log {
    scenario!(blocking, env)
}

/// The scenario with `.await`: async code.
async fn async_pass(env: &Env) -> Log {
    scenario!(awaiting, env)
}

/// What each call returns, in call order: the same in every context, either way.
const EXPECTED: &[(&str, &str)] = &[
    ("sql::Client::connect", r#""connected""#),
    ("sql::Client::connect_host", r#"Ok("connected")"#),
    (
        "sql::Client::simple_query",
        r#"Ok([(1, "one"), (2, "two")])"#,
    ),
    ("sql::Client::prepare", r#"("s0", 2)"#),
    ("sql::Client::query", r#"Ok([(1, "one"), (2, "two")])"#),
    ("sql::Client::query_one", r#"Ok([(42, "answer")])"#),
    ("sql::Client::query_opt", "Ok(Some(None))"),
    ("sql::Client::query_raw", "Ok([[1, 2, 3]])"),
    ("sql::Client::execute", "Ok(2)"),
    ("sql::Client::batch_execute", "Ok(())"),
    (
        "sql::Client::transaction",
        "Ok(Transaction { client: Client { .. }, savepoint: None })",
    ),
    ("sql::Transaction::prepare", "Ok(1)"),
    ("sql::Transaction::query", r#"Ok("in a transaction")"#),
    (
        "sql::Transaction::savepoint",
        r#"Ok(Transaction { client: Client { .. }, savepoint: Some("sp1") })"#,
    ),
    ("sql::Transaction::rollback", "Ok(())"),
    ("sql::Transaction::commit", "Ok(())"),
    (
        "managed::Pool::get",
        "(0, Status { max_size: 2, size: 1, available: 0 })",
    ),
    (
        "sql::ClientWrapper::prepare_cached",
        r#"(Ok("s0"), Ok("s0"))"#,
    ),
    ("managed::Pool::timeout_get", "Ok(1)"),
    ("unmanaged::Pool::add", "Ok(())"),
    ("unmanaged::Pool::get", r#"Ok("first")"#),
    ("unmanaged::Pool::timeout_get", "(Ok(6), Err(Timeout))"),
    ("unmanaged::Pool::remove", r#"Ok(Ok("first!"))"#),
    ("pooled::Builder::build", "1"),
    ("pooled::Pool::get", "Ok(0)"),
    ("pooled::Pool::get_owned", r#"(Ok([(3, "three")]), 0)"#),
    (
        "pooled::Pool::dedicated_connection",
        r#"(Ok("connected"), 1)"#,
    ),
    (
        "pooled::Pool::add",
        "(Ok(()), Err(NoCapacity(Client { .. })), 2)",
    ),
    ("pooled::Pool::run", r#"Ok(Ok([(5, "five")]))"#),
    ("pooled::SharedPool::reap", "2"),
    (
        "kv::Client::get_multiplexed_async_connection",
        r#""connected""#,
    ),
    ("kv::Connection::ping", r#"Ok("PONG")"#),
    ("kv::Connection::set", r#"Ok("OK")"#),
    ("kv::Connection::get", r#"(Ok(Some("anysync")), Ok(None))"#),
    ("kv::Connection::set_ex", "Ok(())"),
    ("kv::Connection::incr", "Ok(50)"),
    ("kv::Connection::exists", "(Ok(true), Ok(false))"),
    (
        "kv::Connection::mget",
        r#"Ok([Some("anysync"), None, Some("50")])"#,
    ),
    ("kv::Cmd::query_async", "Ok(3)"),
    ("kv::Pipeline::query_async", r#"Ok(["OK", "3", "3"])"#),
    (
        "kv::MultiplexedConnection::send_packed_command",
        "Ok(Int(2))",
    ),
    (
        "kv::Client::get_async_pubsub",
        r#""subscribed to nothing yet""#,
    ),
    ("kv::PubSub::subscribe", "Ok(())"),
    ("kv::PubSub::unsubscribe", "Ok(())"),
    ("kv::Connection::publish", "(Ok(1), Ok(1))"),
    ("kv::PubSub::recv", r#"Ok(("news", Ok(7)))"#),
    ("kv::Connection::del", "Ok(2)"),
    ("fs::create_dir_all", "Ok(())"),
    ("fs::write", "Ok(())"),
    ("fs::read", "Ok([104, 101, 108, 108, 111])"),
    ("fs::read_to_string", r#"Ok("hello")"#),
    ("fs::copy", "Ok(5)"),
    ("fs::metadata", "Ok((true, 5))"),
    ("fs::canonicalize", "Ok((true, true))"),
    ("fs::read_dir", r#"Ok(["a", "copy.txt"])"#),
    ("fs::remove_file", "Ok(())"),
    ("fs::try_exists", "(Ok(true), Ok(false))"),
    ("fs::File::create", r#"Ok("created")"#),
    ("fs::File::write_all", "Ok(())"),
    ("fs::File::set_len", "Ok(())"),
    ("fs::File::sync_all", "Ok(())"),
    ("fs::File::metadata", "Ok(4)"),
    ("fs::File::open", r#"Ok("opened")"#),
    ("fs::File::read_to_end", r#"(Ok(4), Ok(">0123"))"#),
    ("codec::Framed::send", "Ok(())"),
    ("codec::Framed::next_frame", r#"Some(Ok("echo: ping"))"#),
    ("codec::Framed::flush", "Ok(())"),
    ("codec::Framed::read_exact", r#"Ok("echo: abc")"#),
    ("codec::write_frame", "(Ok(()), Ok(()))"),
    ("codec::read_frame", r#"(Ok(Ok("one")), Ok(Ok("two")))"#),
    ("codec::FixedBuf::fill_from", r#"(Ok(4), "abcd")"#),
    (
        "codec::FixedBuf::drain_into",
        "(Ok(4), Ok([97, 98, 99, 100]), 0)",
    ),
    ("task::timeout", "(Ok(5), Err(Elapsed))"),
    ("task::join_all", "[10, 20, 30]"),
    ("task::retry", "Ok(300)"),
    ("task::sleep_then", r#""slept""#),
    ("task::sleep_both", "2ms"),
    ("task::oneshot", "Ok(42)"),
    ("task::spawn_and_wait", r#"Ok("spawned")"#),
    ("task::yield_many", "3"),
    ("task::recv_many", "[1, 2]"),
    ("task::forward", "(1, Ok(3))"),
    ("task::wait_for", "(Some(5), None)"),
    ("task::interval", r#""made""#),
    ("task::Interval::tick", "(1, 2)"),
    ("task::Limiter::acquire_owned", "(true, 1)"),
    ("task::Limiter::acquire_many", "(2, 3)"),
    ("task::notify_all", "1"),
    ("task::notify_each", "(2, 1)"),
];

fn check(ctx: Ctx, how: &str, log: &Log) {
    if std::env::var_os("ANYSYNC_CORPUS_PRINT").is_some() {
        for (name, value) in &log.0 {
            println!("    ({name:?}, {value:?}),");
        }
    }
    let got: Vec<(&str, &str)> = log.0.iter().map(|(n, v)| (*n, v.as_str())).collect();
    for (i, (got, expected)) in got.iter().zip(EXPECTED).enumerate() {
        assert_eq!(got, expected, "{ctx:?}, {how}: call #{i}");
    }
    assert_eq!(got.len(), EXPECTED.len(), "{ctx:?}, {how}: number of calls");
}

/// Runs `f` on a fresh thread, failing after [`HUNG`] rather than hanging.
fn bounded<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, finished) = mpsc::channel();
    let worker = thread::spawn(move || {
        let value = f();
        let _ = done.send(());
        value
    });
    if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(HUNG) {
        panic!("{what}: did not finish within {HUNG:?} (deadlocked?)");
    }
    worker
        .join()
        .unwrap_or_else(|payload| panic::resume_unwind(payload))
}

#[test]
fn every_corpus_fn_runs_with_run_in_every_context() {
    for ctx in ALL {
        let log = bounded(&format!("{ctx:?}"), move || {
            common::ctx::within(ctx, move || {
                let env = Env::new(&format!("{ctx:?}-run"));
                blocking_pass(&env)
            })
            .value
        });
        check(ctx, ".run()", &log);
    }
}

#[test]
fn every_corpus_fn_awaits_in_every_async_context() {
    for ctx in managers::ASYNC {
        let log = managers::within_async(ctx, move || async move {
            let env = Env::new(&format!("{ctx:?}-await"));
            async_pass(&env).await
        });
        check(ctx, ".await", &log);
    }
    // Async code in a future that `.run()` lent to a background thread from a current_thread
    // runtime (`Ctx::NestedCurrent`; `managers::ASYNC` does not have it).
    let log = bounded("NestedCurrent", || {
        common::current_thread().block_on(async {
            anysync::run(async {
                let env = Env::new("NestedCurrent-await");
                async_pass(&env).await
            })
        })
    });
    check(Ctx::NestedCurrent, ".await", &log);
}

/// Compiles only for a value whose type is not `Send`: for a `Send` one both impls apply and
/// `A` cannot be inferred (static_assertions' `assert_not_impl_any!`, for an unnameable type).
trait NotSend<A> {}
impl<T: ?Sized> NotSend<()> for T {}
impl<T: ?Sized + Send> NotSend<u8> for T {}
fn assert_not_send<T: ?Sized + NotSend<A>, A>(_: &T) {}

/// A statement that counts its uses in a `Cell`: `ToStatement`, but not `Sync`.
struct CountingStatement {
    sql: &'static str,
    uses: Cell<u32>,
}

impl sql::ToStatement for CountingStatement {
    fn sql_text(&self) -> std::borrow::Cow<'_, str> {
        self.uses.set(self.uses.get() + 1);
        self.sql.into()
    }
}

/// A key shared through an `Rc`: `ToRedisArgs`, but not `Send`.
struct RcKey(Rc<str>);

impl kv::ToRedisArgs for RcKey {
    fn write_redis_args(&self, out: &mut Vec<Vec<u8>>) {
        out.push(self.0.as_bytes().to_vec());
    }
}

/// A service that counts its calls in an `Rc`: not `Send`.
struct RcCounter(Rc<Cell<u32>>);

impl task::Service<u32> for RcCounter {
    type Response = u32;
    type Error = String;

    async fn ready(&mut self) -> Result<(), String> {
        tokio::task::yield_now().await;
        Ok(())
    }

    async fn call(&mut self, request: u32) -> Result<u32, String> {
        self.0.set(self.0.get() + request);
        Ok(self.0.get())
    }
}

/// Holds an `Rc` across an `.await`. (A fn of its own: the `Send`-ness of an `async` block
/// cannot be asked in the body that defines it.)
async fn bump(counter: Rc<Cell<u32>>) -> u32 {
    tokio::task::yield_now().await;
    counter.set(counter.get() + 1);
    counter.get()
}

/// Generic corpus fns instantiated with arguments that are not `Send` (or not `Sync`): each
/// future is checked to be `!Send`, then awaited. (`.run()` on one is rustc's E0277 at the
/// call: ui-tests/run-not-send-instantiation.rs pins that.)
async fn non_send_pass(addr: SocketAddr) -> Vec<String> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let note = |what: String| log.borrow_mut().push(what);

    let slept = task::sleep_then(Duration::from_millis(1), Rc::clone(&log));
    assert_not_send(&slept);
    note(format!(
        "task::sleep_then: {}",
        Rc::ptr_eq(&slept.await, &log)
    ));

    let pool = unmanaged::Pool::<Rc<Cell<u32>>>::new(1, None);
    let added = pool.add(Rc::new(Cell::new(1)));
    assert_not_send(&added);
    added.await.map_err(|(_, e)| e).expect("add");
    let object = pool.get();
    assert_not_send(&object);
    object.await.expect("get").set(2);
    let removed = pool.remove();
    assert_not_send(&removed);
    note(format!(
        "unmanaged::Pool: {}",
        removed.await.expect("remove").get()
    ));

    let (mut near, mut far) = tokio::io::duplex(64);
    codec::write_frame(&mut near, b"local")
        .await
        .expect("write");
    let reader: &mut (dyn AsyncRead + Unpin) = &mut far;
    let frame = codec::read_frame(reader);
    assert_not_send(&frame);
    note(format!(
        "codec::read_frame: {:?}",
        frame.await.map(String::from_utf8)
    ));

    let shared = Rc::new(Cell::new(0));
    let timed = task::timeout(Duration::from_secs(30), bump(Rc::clone(&shared)));
    assert_not_send(&timed);
    note(format!("task::timeout: {:?}", timed.await));

    let served = task::oneshot(RcCounter(Rc::clone(&shared)), 10);
    assert_not_send(&served);
    note(format!("task::oneshot: {:?}", served.await));

    let mut con = kv::Client::open(&kv::Server::new())
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let set = con.set::<_, _, String>(RcKey("local".into()), 5_i64);
    assert_not_send(&set);
    note(format!("kv::Connection::set: {:?}", set.await));
    let incr = con.incr::<_, _, i64>(RcKey("local".into()), 1_i64);
    assert_not_send(&incr);
    note(format!("kv::Connection::incr: {:?}", incr.await));

    let client = sql::Client::connect(addr).await.expect("connect");
    let statement = CountingStatement {
        sql: "SELECT $1",
        uses: Cell::new(0),
    };
    let rows = client.query_one(&statement, &[&"not Sync"]);
    assert_not_send(&rows);
    let value = rows.await.map(|row| row.get::<String>(0));
    note(format!(
        "sql::Client::query_one: {value:?}, used {}",
        statement.uses.get()
    ));

    Rc::try_unwrap(log).expect("one owner left").into_inner()
}

const NON_SEND: &[&str] = &[
    "task::sleep_then: true",
    "unmanaged::Pool: 2",
    r#"codec::read_frame: Ok(Ok("local"))"#,
    "task::timeout: Ok(1)",
    "task::oneshot: Ok(11)",
    r#"kv::Connection::set: Ok("OK")"#,
    "kv::Connection::incr: Ok(6)",
    r#"sql::Client::query_one: Ok("not Sync"), used 1"#,
];

#[test]
fn non_send_instantiations_compile_and_await_on_one_thread() {
    let addr = common::echo_server();
    // The root future of a current_thread runtime.
    let root = bounded("current_thread root", move || {
        common::current_thread().block_on(non_send_pass(addr))
    });
    assert_eq!(root, NON_SEND);
    // A `LocalSet` task, on either flavor.
    for multi in [false, true] {
        let local = bounded("LocalSet task", move || {
            let rt = if multi {
                common::multi_thread(2)
            } else {
                common::current_thread()
            };
            LocalSet::new().block_on(&rt, async move {
                tokio::task::spawn_local(non_send_pass(addr))
                    .await
                    .expect("local task")
            })
        });
        assert_eq!(local, NON_SEND, "multi_thread: {multi}");
    }
}

/// The corpus's async fns, read from its source: `module::Type::name` for a method of an
/// inherent impl block, `module::name` for a free fn (async fns of trait impls are not
/// coroutines and are left out).
fn corpus_fns() -> Vec<String> {
    let sources = [
        ("codec", include_str!("../src/codec.rs")),
        ("fs", include_str!("../src/fs.rs")),
        ("kv", include_str!("../src/kv.rs")),
        ("managed", include_str!("../src/managed.rs")),
        ("pooled", include_str!("../src/pooled.rs")),
        ("sql", include_str!("../src/sql.rs")),
        ("task", include_str!("../src/task.rs")),
        ("unmanaged", include_str!("../src/unmanaged.rs")),
    ];
    let mut fns = Vec::new();
    for (module, source) in sources {
        // `Some(None)`: inside a trait impl; `Some(Some(ty))`: inside `impl ty`.
        let mut block: Option<Option<String>> = None;
        for line in source.lines() {
            if let Some(header) = line.strip_prefix("impl") {
                block = Some((!header.contains(" for ")).then(|| self_type(header)));
            } else if line == "}" {
                block = None;
            } else if let Some((_, rest)) = line.split_once("async fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                match &block {
                    Some(Some(ty)) => fns.push(format!("{module}::{ty}::{name}")),
                    Some(None) => {}
                    None => fns.push(format!("{module}::{name}")),
                }
            }
        }
    }
    fns.sort();
    fns
}

/// `Transaction` out of `<'a> Transaction<'a> {`.
fn self_type(header: &str) -> String {
    let mut rest = header;
    if rest.starts_with('<') {
        let mut depth = 0;
        for (i, c) in rest.char_indices() {
            depth += match c {
                '<' => 1,
                '>' => -1,
                _ => 0,
            };
            if depth == 0 {
                rest = &rest[i + 1..];
                break;
            }
        }
    }
    rest.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn the_scenario_calls_every_async_fn_of_the_corpus_once() {
    let corpus = corpus_fns();
    let mut called: Vec<String> = EXPECTED
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    called.sort();
    assert_eq!(called, corpus);
    // The count stated in the crate docs.
    assert_eq!(corpus.len(), 89);
}
