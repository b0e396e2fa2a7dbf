//! A Redis-style client, shaped like redis 0.32: commands whose keys and values are any
//! `ToRedisArgs`, replies decoded into any `FromRedisValue` the caller names, commands and
//! pipelines run on `&mut impl ConnectionLike`, pub/sub taking `impl ToRedisArgs`, and a
//! multiplexed connection shared through `Arc`.
//!
//! The server is in process ([`Server`]): a key space behind a tokio `Mutex` and a broadcast
//! channel for pub/sub. Every request yields to the scheduler, as a round trip would.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, broadcast};

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// No value (a missing key).
    Nil,
    /// An integer.
    Int(i64),
    /// A bulk string.
    Data(Vec<u8>),
    /// An array.
    Bulk(Vec<Value>),
    /// `+OK`.
    Okay,
    /// Another status line.
    Status(String),
}

/// An error reply, or a reply of an unexpected type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisError(pub String);

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedisError {}

/// The result of a command.
pub type RedisResult<T> = Result<T, RedisError>;

/// A boxed future of a command's result, as `ConnectionLike` returns it.
pub type RedisFuture<'a, T> = Pin<Box<dyn Future<Output = RedisResult<T>> + Send + 'a>>;

/// A value that can be a command's arguments.
pub trait ToRedisArgs {
    /// Appends the arguments to `out`.
    fn write_redis_args(&self, out: &mut Vec<Vec<u8>>);

    /// The arguments.
    fn to_redis_args(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.write_redis_args(&mut out);
        out
    }
}

macro_rules! to_redis_display {
    ($($ty:ty),*) => {$(
        impl ToRedisArgs for $ty {
            fn write_redis_args(&self, out: &mut Vec<Vec<u8>>) {
                out.push(self.to_string().into_bytes());
            }
        }
    )*};
}

to_redis_display!(str, String, i64, i32, u64, u32, usize);

impl<T: ToRedisArgs + ?Sized> ToRedisArgs for &T {
    fn write_redis_args(&self, out: &mut Vec<Vec<u8>>) {
        (**self).write_redis_args(out);
    }
}

impl<T: ToRedisArgs> ToRedisArgs for [T] {
    fn write_redis_args(&self, out: &mut Vec<Vec<u8>>) {
        for item in self {
            item.write_redis_args(out);
        }
    }
}

impl<T: ToRedisArgs> ToRedisArgs for Vec<T> {
    fn write_redis_args(&self, out: &mut Vec<Vec<u8>>) {
        self.as_slice().write_redis_args(out);
    }
}

impl<A: ToRedisArgs, B: ToRedisArgs> ToRedisArgs for (A, B) {
    fn write_redis_args(&self, out: &mut Vec<Vec<u8>>) {
        self.0.write_redis_args(out);
        self.1.write_redis_args(out);
    }
}

/// A value that can be decoded from a reply.
pub trait FromRedisValue: Sized {
    /// Decodes `v`.
    fn from_redis_value(v: &Value) -> RedisResult<Self>;
}

fn type_error<T>(v: &Value, what: &str) -> RedisResult<T> {
    Err(RedisError(format!("cannot read {v:?} as {what}")))
}

impl FromRedisValue for Value {
    fn from_redis_value(v: &Value) -> RedisResult<Self> {
        Ok(v.clone())
    }
}

impl FromRedisValue for String {
    fn from_redis_value(v: &Value) -> RedisResult<Self> {
        match v {
            Value::Data(bytes) => {
                String::from_utf8(bytes.clone()).map_err(|_| RedisError("not utf-8".to_owned()))
            }
            Value::Okay => Ok("OK".to_owned()),
            Value::Status(s) => Ok(s.clone()),
            Value::Int(n) => Ok(n.to_string()),
            _ => type_error(v, "a string"),
        }
    }
}

macro_rules! from_redis_int {
    ($($ty:ty),*) => {$(
        impl FromRedisValue for $ty {
            fn from_redis_value(v: &Value) -> RedisResult<Self> {
                match v {
                    Value::Int(n) => <$ty>::try_from(*n)
                        .map_err(|_| RedisError(format!("{n} out of range"))),
                    Value::Data(bytes) => std::str::from_utf8(bytes)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| RedisError(format!("not a number: {bytes:?}"))),
                    _ => type_error(v, stringify!($ty)),
                }
            }
        }
    )*};
}

from_redis_int!(i64, u64, usize);

impl FromRedisValue for bool {
    fn from_redis_value(v: &Value) -> RedisResult<Self> {
        match v {
            Value::Int(n) => Ok(*n != 0),
            Value::Okay => Ok(true),
            Value::Nil => Ok(false),
            _ => type_error(v, "a bool"),
        }
    }
}

impl FromRedisValue for () {
    fn from_redis_value(_: &Value) -> RedisResult<Self> {
        Ok(())
    }
}

impl<T: FromRedisValue> FromRedisValue for Option<T> {
    fn from_redis_value(v: &Value) -> RedisResult<Self> {
        match v {
            Value::Nil => Ok(None),
            v => T::from_redis_value(v).map(Some),
        }
    }
}

impl<T: FromRedisValue> FromRedisValue for Vec<T> {
    fn from_redis_value(v: &Value) -> RedisResult<Self> {
        match v {
            Value::Bulk(items) => items.iter().map(T::from_redis_value).collect(),
            Value::Nil => Ok(Vec::new()),
            v => T::from_redis_value(v).map(|one| vec![one]),
        }
    }
}

/// A command.
#[derive(Clone, Debug, Default)]
pub struct Cmd {
    args: Vec<Vec<u8>>,
}

/// Starts a command named `name`.
pub fn cmd(name: &str) -> Cmd {
    Cmd {
        args: vec![name.as_bytes().to_vec()],
    }
}

#[anysync::coroutine]
impl Cmd {
    /// Appends an argument.
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Cmd {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// Sends the command on `con` and decodes the reply as `T`.
    pub async fn query_async<T: FromRedisValue>(
        &self,
        con: &mut impl ConnectionLike,
    ) -> RedisResult<T> {
        let value = con.req_packed_command(self).await?;
        T::from_redis_value(&value)
    }
}

/// Several commands sent together; the reply is the array of their replies.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    commands: Vec<Cmd>,
}

/// Starts an empty pipeline.
pub fn pipe() -> Pipeline {
    Pipeline::default()
}

#[anysync::coroutine]
impl Pipeline {
    /// Appends a command named `name`.
    pub fn cmd(&mut self, name: &str) -> &mut Pipeline {
        self.commands.push(cmd(name));
        self
    }

    /// Appends an argument to the last command.
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Pipeline {
        if let Some(last) = self.commands.last_mut() {
            last.arg(arg);
        }
        self
    }

    /// Sends every command on `con` and decodes the array of replies as `T`.
    pub async fn query_async<T: FromRedisValue>(
        &self,
        con: &mut impl ConnectionLike,
    ) -> RedisResult<T> {
        let values = con.req_packed_commands(&self.commands).await?;
        T::from_redis_value(&Value::Bulk(values))
    }
}

/// Something commands can be sent on (redis' `aio::ConnectionLike`).
pub trait ConnectionLike {
    /// Sends one command.
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value>;

    /// Sends several commands, in order.
    fn req_packed_commands<'a>(&'a mut self, cmds: &'a [Cmd]) -> RedisFuture<'a, Vec<Value>>;
}

/// A published message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    channel: Vec<u8>,
    payload: Vec<u8>,
}

impl Msg {
    /// The channel it was published on.
    pub fn get_channel_name(&self) -> &str {
        std::str::from_utf8(&self.channel).unwrap_or("")
    }

    /// Decodes the payload.
    pub fn get_payload<T: FromRedisValue>(&self) -> RedisResult<T> {
        T::from_redis_value(&Value::Data(self.payload.clone()))
    }
}

/// The key space: values with their expiry.
type Keys = BTreeMap<Vec<u8>, (Vec<u8>, Option<Instant>)>;

/// The in-process server.
#[derive(Debug)]
pub struct Server {
    keys: Mutex<Keys>,
    messages: broadcast::Sender<Msg>,
}

impl Server {
    /// A server with no keys.
    pub fn new() -> Arc<Server> {
        Arc::new(Server {
            keys: Mutex::new(BTreeMap::new()),
            messages: broadcast::channel(64).0,
        })
    }

    /// Runs one command against the key space.
    fn apply(&self, keys: &mut Keys, cmd: &Cmd) -> Value {
        let now = Instant::now();
        keys.retain(|_, (_, expires)| expires.is_none_or(|at| at > now));
        let args = &cmd.args;
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        let int =
            |i: usize| -> Option<i64> { std::str::from_utf8(args.get(i)?).ok()?.parse().ok() };
        match (name.as_str(), args.len()) {
            ("PING", 1) => Value::Status("PONG".to_owned()),
            ("GET", 2) => keys
                .get(&args[1])
                .map_or(Value::Nil, |(v, _)| Value::Data(v.clone())),
            ("SET", 3) => {
                keys.insert(args[1].clone(), (args[2].clone(), None));
                Value::Okay
            }
            ("SETEX", 4) => match int(3) {
                Some(secs) if secs > 0 => {
                    let expires = now + Duration::from_secs(secs.unsigned_abs());
                    keys.insert(args[1].clone(), (args[2].clone(), Some(expires)));
                    Value::Okay
                }
                _ => Value::Status("ERR invalid expire time".to_owned()),
            },
            ("DEL", n) if n > 1 => {
                let removed = args[1..].iter().filter(|k| keys.remove(*k).is_some());
                Value::Int(removed.count() as i64)
            }
            ("EXISTS", n) if n > 1 => {
                Value::Int(args[1..].iter().filter(|k| keys.contains_key(*k)).count() as i64)
            }
            ("INCRBY", 3) => {
                let current = keys
                    .get(&args[1])
                    .and_then(|(v, _)| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
                    .unwrap_or(0);
                let next = current + int(2).unwrap_or(0);
                keys.insert(args[1].clone(), (next.to_string().into_bytes(), None));
                Value::Int(next)
            }
            ("MGET", n) if n > 1 => Value::Bulk(
                args[1..]
                    .iter()
                    .map(|k| {
                        keys.get(k)
                            .map_or(Value::Nil, |(v, _)| Value::Data(v.clone()))
                    })
                    .collect(),
            ),
            ("PUBLISH", 3) => {
                let msg = Msg {
                    channel: args[1].clone(),
                    payload: args[2].clone(),
                };
                Value::Int(self.messages.send(msg).map_or(0, |n| n as i64))
            }
            _ => Value::Status(format!("ERR unknown command {name}/{}", args.len())),
        }
    }
}

/// A client: opens connections to a server.
#[derive(Clone, Debug)]
pub struct Client {
    server: Arc<Server>,
}

impl Client {
    /// A client of `server` (redis' `Client::open(url)`).
    pub fn open(server: &Arc<Server>) -> Client {
        Client {
            server: Arc::clone(server),
        }
    }
}

#[anysync::coroutine]
impl Client {
    /// Opens a connection.
    pub async fn get_multiplexed_async_connection(&self) -> RedisResult<Connection> {
        let mut con = Connection {
            server: Arc::clone(&self.server),
        };
        con.ping().await?;
        Ok(con)
    }

    /// Opens a pub/sub connection.
    pub async fn get_async_pubsub(&self) -> RedisResult<PubSub> {
        tokio::task::yield_now().await;
        Ok(PubSub {
            messages: self.server.messages.subscribe(),
            channels: BTreeSet::new(),
        })
    }
}

/// A connection.
#[derive(Debug)]
pub struct Connection {
    server: Arc<Server>,
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut keys = self.server.keys.lock().await;
            tokio::task::yield_now().await;
            match self.server.apply(&mut keys, cmd) {
                Value::Status(s) if s.starts_with("ERR") => Err(RedisError(s)),
                value => Ok(value),
            }
        })
    }

    fn req_packed_commands<'a>(&'a mut self, cmds: &'a [Cmd]) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut values = Vec::with_capacity(cmds.len());
            for cmd in cmds {
                values.push(self.req_packed_command(cmd).await?);
            }
            Ok(values)
        })
    }
}

#[anysync::coroutine]
impl Connection {
    /// `GET key`.
    pub async fn get<K: ToRedisArgs, RV: FromRedisValue>(&mut self, key: K) -> RedisResult<RV> {
        cmd("GET").arg(key).query_async(self).await
    }

    /// `SET key value`.
    pub async fn set<K: ToRedisArgs, V: ToRedisArgs, RV: FromRedisValue>(
        &mut self,
        key: K,
        value: V,
    ) -> RedisResult<RV> {
        cmd("SET").arg(key).arg(value).query_async(self).await
    }

    /// `SETEX key seconds value`.
    pub async fn set_ex<K, V, RV>(&mut self, key: K, value: V, seconds: u64) -> RedisResult<RV>
    where
        K: ToRedisArgs,
        V: ToRedisArgs,
        RV: FromRedisValue,
    {
        cmd("SETEX")
            .arg(key)
            .arg(value)
            .arg(seconds)
            .query_async(self)
            .await
    }

    /// `DEL key..`: how many keys were removed.
    pub async fn del<K: ToRedisArgs>(&mut self, key: K) -> RedisResult<usize> {
        cmd("DEL").arg(key).query_async(self).await
    }

    /// `INCRBY key delta`: the new value.
    pub async fn incr<K: ToRedisArgs, D: ToRedisArgs, RV: FromRedisValue>(
        &mut self,
        key: K,
        delta: D,
    ) -> RedisResult<RV> {
        cmd("INCRBY").arg(key).arg(delta).query_async(self).await
    }

    /// `EXISTS key`.
    pub async fn exists<K: ToRedisArgs + Send + Sync>(&mut self, key: K) -> RedisResult<bool> {
        cmd("EXISTS").arg(key).query_async(self).await
    }

    /// `MGET key..`.
    pub async fn mget<K: ToRedisArgs + Send + Sync, RV: FromRedisValue>(
        &mut self,
        keys: &[K],
    ) -> RedisResult<RV> {
        cmd("MGET").arg(keys).query_async(self).await
    }

    /// `PUBLISH channel message`: how many subscribers received it.
    pub async fn publish<C: ToRedisArgs, M: ToRedisArgs>(
        &mut self,
        channel: C,
        message: M,
    ) -> RedisResult<usize> {
        cmd("PUBLISH")
            .arg(channel)
            .arg(message)
            .query_async(self)
            .await
    }

    /// `PING`.
    pub async fn ping(&mut self) -> RedisResult<String> {
        cmd("PING").query_async(self).await
    }

    /// Makes this connection shareable between tasks.
    pub fn into_shared(self) -> Arc<MultiplexedConnection> {
        Arc::new(MultiplexedConnection {
            inner: Mutex::new(self),
        })
    }
}

/// A connection that several tasks share through an `Arc`.
#[derive(Debug)]
pub struct MultiplexedConnection {
    inner: Mutex<Connection>,
}

#[anysync::coroutine]
impl MultiplexedConnection {
    /// Sends a command; the connection stays shared, the `Arc` is consumed.
    pub async fn send_packed_command(self: Arc<Self>, cmd: Cmd) -> RedisResult<Value> {
        let mut con = self.inner.lock().await;
        con.req_packed_command(&cmd).await
    }
}

/// A pub/sub connection.
#[derive(Debug)]
pub struct PubSub {
    messages: broadcast::Receiver<Msg>,
    channels: BTreeSet<Vec<u8>>,
}

#[anysync::coroutine]
impl PubSub {
    /// Subscribes to a channel (or several: any `ToRedisArgs`).
    pub async fn subscribe(&mut self, channel: impl ToRedisArgs) -> RedisResult<()> {
        tokio::task::yield_now().await;
        self.channels.extend(channel.to_redis_args());
        Ok(())
    }

    /// Unsubscribes from a channel (or several).
    pub async fn unsubscribe(&mut self, channel: impl ToRedisArgs) -> RedisResult<()> {
        tokio::task::yield_now().await;
        for name in channel.to_redis_args() {
            self.channels.remove(&name);
        }
        Ok(())
    }

    /// Waits for the next message on a subscribed channel.
    pub async fn recv(&mut self) -> RedisResult<Msg> {
        loop {
            match self.messages.recv().await {
                Ok(msg) if self.channels.contains(&msg.channel) => return Ok(msg),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(RedisError("server closed".to_owned()));
                }
            }
        }
    }
}
