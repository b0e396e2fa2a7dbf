//! A PostgreSQL-style client, shaped like tokio-postgres 0.7: statements that are `?Sized`
//! generics (`&str` or a prepared [`Statement`]), parameters as `&(dyn ToSql + Sync)`, rows
//! decoded through [`FromSql`], transactions that borrow the client (`impl<'a>
//! Transaction<'a>`), and deadpool-postgres' statement cache and pool managers.
//!
//! The server is the tests' line-echo server: a request is one line, and the client reads the
//! rows back out of the echoed line (`SELECT 1, a; SELECT 2, b` is two rows of two columns).

use crate::{managed, pooled};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::Mutex;

/// Errors of the client.
#[derive(Debug)]
pub enum Error {
    /// The connection failed.
    Io(io::Error),
    /// The server closed the connection.
    Closed,
    /// Connecting took longer than the configured timeout.
    Timeout,
    /// The statement has a different number of placeholders than parameters were given.
    Parameters {
        /// Placeholders in the statement.
        expected: usize,
        /// Parameters given.
        got: usize,
    },
    /// `query_one` found another number of rows.
    RowCount(usize),
    /// The reply could not be understood.
    Decode(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "io: {e}"),
            Error::Closed => f.write_str("connection closed"),
            Error::Timeout => f.write_str("timed out"),
            Error::Parameters { expected, got } => {
                write!(f, "expected {expected} parameters, got {got}")
            }
            Error::RowCount(n) => write!(f, "expected one row, got {n}"),
            Error::Decode(what) => write!(f, "cannot decode {what:?}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// A value that can be a query parameter.
pub trait ToSql: fmt::Debug {
    /// The parameter in the statement's text.
    fn to_sql(&self) -> String;
}

macro_rules! to_sql_display {
    ($($ty:ty),*) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

to_sql_display!(i32, i64, u32, bool, str, String);

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> String {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> String {
        self.as_ref()
            .map_or_else(|| "NULL".to_owned(), ToSql::to_sql)
    }
}

/// A value that can be read out of a column.
pub trait FromSql: Sized {
    /// Parses the column's text.
    fn from_sql(raw: &str) -> Result<Self, Error>;
}

macro_rules! from_sql_parse {
    ($($ty:ty),*) => {$(
        impl FromSql for $ty {
            fn from_sql(raw: &str) -> Result<Self, Error> {
                raw.parse().map_err(|_| Error::Decode(raw.to_owned()))
            }
        }
    )*};
}

from_sql_parse!(i32, i64, u32, bool, String);

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(raw: &str) -> Result<Self, Error> {
        if raw == "NULL" {
            Ok(None)
        } else {
            T::from_sql(raw).map(Some)
        }
    }
}

/// Something that names a statement: SQL text or a prepared [`Statement`].
pub trait ToStatement {
    /// The statement's SQL text.
    fn sql_text(&self) -> Cow<'_, str>;
}

impl ToStatement for str {
    fn sql_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl ToStatement for String {
    fn sql_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl ToStatement for Statement {
    fn sql_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.sql)
    }
}

/// A prepared statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    name: String,
    sql: String,
    params: usize,
}

impl Statement {
    /// The name the server knows it by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many parameters it takes.
    pub fn params(&self) -> usize {
        self.params
    }
}

/// Column types, for `prepare_typed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// `INT4`
    Int4,
    /// `TEXT`
    Text,
}

/// One row of a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    command: String,
    columns: Vec<String>,
}

impl Row {
    /// The command tag (`SELECT`, `INSERT`, ...).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Decodes column `idx`.
    pub fn try_get<T: FromSql>(&self, idx: usize) -> Result<T, Error> {
        let raw = self
            .columns
            .get(idx)
            .ok_or_else(|| Error::Decode(format!("column {idx}")))?;
        T::from_sql(raw)
    }

    /// Decodes column `idx`, panicking if it cannot.
    pub fn get<T: FromSql>(&self, idx: usize) -> T {
        self.try_get(idx)
            .unwrap_or_else(|e| panic!("column {idx}: {e}"))
    }
}

/// How to connect.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Gives up connecting after this long.
    pub connect_timeout: Duration,
    /// Sets `TCP_NODELAY`.
    pub nodelay: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connect_timeout: Duration::from_secs(30),
            nodelay: true,
        }
    }
}

/// A connection to the server.
pub struct Client {
    conn: Mutex<BufReader<TcpStream>>,
    next_statement: AtomicU32,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

fn placeholders(sql: &str) -> usize {
    (1..).take_while(|n| sql.contains(&format!("${n}"))).count()
}

/// Substitutes `$1`, `$2`, ... with the parameters' text (highest first, so `$1` does not
/// match the start of `$10`).
fn bind(sql: &str, params: &[String]) -> Result<String, Error> {
    let expected = placeholders(sql);
    if expected != params.len() {
        return Err(Error::Parameters {
            expected,
            got: params.len(),
        });
    }
    let mut bound = sql.to_owned();
    for (i, param) in params.iter().enumerate().rev() {
        bound = bound.replace(&format!("${}", i + 1), param);
    }
    Ok(bound)
}

fn parse_rows(reply: &str) -> Vec<Row> {
    reply
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (command, rest) = part.split_once(' ').unwrap_or((part, ""));
            let columns = rest
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            Row {
                command: command.to_owned(),
                columns,
            }
        })
        .collect()
}

fn new_client(stream: TcpStream) -> Client {
    Client {
        conn: Mutex::new(BufReader::new(stream)),
        next_statement: AtomicU32::new(0),
    }
}

#[anysync::coroutine]
impl Client {
    /// Connects to the server at `addr` (tokio-postgres' `connect` takes a config and a TLS
    /// connector; any `ToSocketAddrs` plays that part here).
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> Result<Client, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(new_client(stream))
    }

    /// Connects to `(host, port)` with the timeout and socket options of `config`.
    pub async fn connect_host(
        (host, port): (&str, u16),
        &Config {
            connect_timeout,
            nodelay,
        }: &Config,
    ) -> Result<Client, Error> {
        let stream = tokio::time::timeout(connect_timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| Error::Timeout)??;
        stream.set_nodelay(nodelay)?;
        Ok(new_client(stream))
    }

    /// Sends `query` as it is and returns the rows of the reply (the simple query protocol).
    pub async fn simple_query(&self, query: &str) -> Result<Vec<Row>, Error> {
        let mut conn = self.conn.lock().await;
        conn.get_mut()
            .write_all(format!("{query}\n").as_bytes())
            .await?;
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Err(Error::Closed);
        }
        let reply = line
            .trim_end()
            .strip_prefix("echo: ")
            .ok_or_else(|| Error::Decode(line.clone()))?;
        Ok(parse_rows(reply))
    }

    /// Prepares `query` on the server.
    pub async fn prepare(&self, query: &str) -> Result<Statement, Error> {
        let name = format!("s{}", self.next_statement.fetch_add(1, Ordering::Relaxed));
        let rows = self.simple_query(&format!("PARSE {name}")).await?;
        match rows.first() {
            Some(row) if row.command == "PARSE" && row.columns == [name.clone()] => Ok(Statement {
                name,
                sql: query.to_owned(),
                params: placeholders(query),
            }),
            _ => Err(Error::Decode(format!("{rows:?}"))),
        }
    }

    /// Runs a statement and returns its rows.
    pub async fn query<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        let params: Vec<String> = params.iter().map(|p| p.to_sql()).collect();
        let sql = bind(&statement.sql_text(), &params)?;
        self.simple_query(&sql).await
    }

    /// Runs a statement that returns exactly one row.
    pub async fn query_one<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error>
    where
        T: ?Sized + ToStatement,
    {
        let mut rows = self.query(statement, params).await?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(Error::RowCount(n)),
        }
    }

    /// Runs a statement that returns at most one row.
    pub async fn query_opt<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        let mut rows = self.query(statement, params).await?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(rows.pop()),
            n => Err(Error::RowCount(n)),
        }
    }

    /// Runs a statement with parameters from any iterator (tokio-postgres' `query_raw`).
    pub async fn query_raw<T, I>(&self, statement: &T, params: I) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + ToStatement,
        I: IntoIterator,
        I::Item: ToSql,
    {
        let params: Vec<String> = params.into_iter().map(|p| p.to_sql()).collect();
        let sql = bind(&statement.sql_text(), &params)?;
        self.simple_query(&sql).await
    }

    /// Runs a statement and returns how many rows it touched.
    pub async fn execute<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error>
    where
        T: ?Sized + ToStatement,
    {
        let rows = self.query(statement, params).await?;
        Ok(rows.len() as u64)
    }

    /// Runs several `;`-separated statements, discarding their rows.
    pub async fn batch_execute(&self, query: &str) -> Result<(), Error> {
        let rows = self.simple_query(query).await?;
        let expected = query.split(';').filter(|s| !s.trim().is_empty()).count();
        if rows.len() == expected {
            Ok(())
        } else {
            Err(Error::RowCount(rows.len()))
        }
    }

    /// Begins a transaction; it borrows the client until it is committed or rolled back.
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        self.batch_execute("BEGIN").await?;
        Ok(Transaction {
            client: self,
            savepoint: None,
        })
    }
}

/// A transaction (or, nested, a savepoint) on a borrowed [`Client`].
#[derive(Debug)]
pub struct Transaction<'a> {
    client: &'a Client,
    savepoint: Option<String>,
}

#[anysync::coroutine]
impl<'a> Transaction<'a> {
    /// Commits (or releases the savepoint).
    pub async fn commit(mut self) -> Result<(), Error> {
        let query = match self.savepoint.take() {
            Some(name) => format!("RELEASE {name}"),
            None => "COMMIT".to_owned(),
        };
        self.client.batch_execute(&query).await
    }

    /// Rolls back (to the savepoint, if this is one).
    pub async fn rollback(self) -> Result<(), Error> {
        let query = match &self.savepoint {
            Some(name) => format!("ROLLBACK TO {name}"),
            None => "ROLLBACK".to_owned(),
        };
        self.client.batch_execute(&query).await
    }

    /// Starts a savepoint: a nested transaction borrowing this one.
    pub async fn savepoint<I>(&mut self, name: I) -> Result<Transaction<'_>, Error>
    where
        I: Into<String>,
    {
        let name = name.into();
        self.client
            .batch_execute(&format!("SAVEPOINT {name}"))
            .await?;
        Ok(Transaction {
            client: self.client,
            savepoint: Some(name),
        })
    }

    /// Like [`Client::query`], inside the transaction.
    pub async fn query<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.client.query(statement, params).await
    }

    /// Like [`Client::prepare`], inside the transaction.
    pub async fn prepare(&self, query: &str) -> Result<Statement, Error> {
        self.client.prepare(query).await
    }
}

/// A pooled client with a statement cache (deadpool-postgres' `ClientWrapper`).
#[derive(Debug)]
pub struct ClientWrapper {
    client: Client,
    cache: Mutex<HashMap<String, Statement>>,
}

impl Deref for ClientWrapper {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

#[anysync::coroutine]
impl ClientWrapper {
    /// Prepares `query` once per connection; later calls return the cached statement.
    pub async fn prepare_cached(&self, query: &str) -> Result<Statement, Error> {
        if let Some(statement) = self.cache.lock().await.get(query) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(query).await?;
        self.cache
            .lock()
            .await
            .insert(query.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Creates and checks connections for [`managed::Pool`] and [`pooled::Pool`].
#[derive(Clone, Copy, Debug)]
pub struct Manager {
    addr: SocketAddr,
}

impl Manager {
    /// A manager connecting to `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Manager { addr }
    }
}

// deadpool's `Manager` and bb8's `ManageConnection` are declared by hand (`fn create(&self) ->
// impl Future<..> + Send`), as a third party's trait is: the attribute on the impl matches
// them all the same, and gives callers that name `sql::Manager` the inherent `.run()`.
#[anysync::coroutine]
impl managed::Manager for Manager {
    type Type = ClientWrapper;
    type Error = Error;

    async fn create(&self) -> Result<ClientWrapper, Error> {
        Ok(ClientWrapper {
            client: Client::connect(self.addr).await?,
            cache: Mutex::new(HashMap::new()),
        })
    }

    async fn recycle(
        &self,
        client: &mut ClientWrapper,
        _: &managed::Metrics,
    ) -> managed::RecycleResult<Error> {
        client
            .batch_execute("SELECT 1")
            .await
            .map_err(managed::RecycleError::Backend)
    }
}

#[anysync::coroutine]
impl pooled::ManageConnection for Manager {
    type Connection = Client;
    type Error = Error;

    async fn connect(&self) -> Result<Client, Error> {
        Client::connect(self.addr).await
    }

    async fn is_valid(&self, client: &mut Client) -> Result<(), Error> {
        client.batch_execute("SELECT 1").await
    }

    fn has_broken(&self, _: &mut Client) -> bool {
        false
    }
}
