//! `#[anysync::coroutine]` in an edition-2021 crate, where a returned `impl Trait` captures
//! only the lifetimes its bounds name: every borrowed argument below must still be captured.

use std::collections::BTreeMap;
use std::time::Duration;

use anysync::RunExt;

async fn tick() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[anysync::coroutine]
async fn len_of(text: &str) -> usize {
    tick().await;
    text.len()
}

#[anysync::coroutine]
async fn join(a: &str, b: &str, out: &mut String) -> usize {
    tick().await;
    out.push_str(a);
    out.push_str(b);
    out.len()
}

#[anysync::coroutine]
async fn pick<'a>(a: &'a str, b: &str) -> &'a str {
    tick().await;
    if b.is_empty() {
        ""
    } else {
        a
    }
}

#[anysync::coroutine]
async fn show<T: std::fmt::Debug + Sync>(value: &T, label: impl AsRef<str> + Send) -> String {
    tick().await;
    format!("{}={:?}", label.as_ref(), value)
}

#[anysync::coroutine]
async fn first<I>(items: I) -> Option<I::Item>
where
    I: IntoIterator + Send,
    I::IntoIter: Send,
    I::Item: Send,
{
    tick().await;
    items.into_iter().next()
}

#[anysync::coroutine(?Send)]
async fn local_len(text: &str, rc: std::rc::Rc<u8>) -> usize {
    tick().await;
    text.len() + usize::from(*rc)
}

struct Db {
    rows: BTreeMap<String, u32>,
}

impl Db {
    #[anysync::coroutine]
    async fn get(&self, key: &str) -> Option<u32> {
        tick().await;
        self.rows.get(key).copied()
    }

    #[anysync::coroutine]
    async fn key_of(&self, value: u32) -> Option<&str> {
        tick().await;
        self.rows
            .iter()
            .find(|(_, v)| **v == value)
            .map(|(k, _)| k.as_str())
    }
}

struct Client<'a> {
    db: &'a Db,
    prefix: &'a str,
}

#[anysync::coroutine]
impl<'a> Client<'a> {
    async fn lookup(&self, key: &str) -> Option<u32> {
        let full = format!("{}{}", self.prefix, key);
        self.db.get(&full).await
    }

    async fn prefix(&self) -> &'a str {
        self.prefix
    }

    fn sync_prefix_len(&self) -> usize {
        self.prefix.len()
    }
}

impl<'a> Client<'a> {
    /// Method-level attribute inside an `impl` with a lifetime the macro cannot see.
    #[anysync::coroutine]
    async fn prefixed(&self, key: &str) -> String {
        tick().await;
        format!("{}{}", self.prefix, key)
    }
}

struct View<'a>(&'a [u32]);

#[anysync::coroutine]
impl View<'_> {
    async fn sum(&self, extra: &u32) -> u32 {
        tick().await;
        self.0.iter().sum::<u32>() + extra
    }
}

fn db() -> Db {
    let mut rows = BTreeMap::new();
    rows.insert("k:a".to_owned(), 1);
    rows.insert("k:b".to_owned(), 2);
    Db { rows }
}

#[test]
fn borrowed_arguments_run() {
    let text = String::from("four");
    assert_eq!(len_of(&text).run(), 4);
    let mut out = String::new();
    assert_eq!(join("a", "bc", &mut out).run(), 3);
    assert_eq!(out, "abc");
    assert_eq!(pick("x", "y").run(), "x");
    assert_eq!(show(&5, "n").run(), "n=5");
    assert_eq!(first(vec![7, 8]).run(), Some(7));
    assert_eq!(local_len("ab", std::rc::Rc::new(1)).run(), 3);
}

#[tokio::test]
async fn borrowed_arguments_await() {
    let text = String::from("three");
    assert_eq!(len_of(&text).await, 5);
    assert_eq!(show(&"s", String::from("str")).await, "str=\"s\"");
    assert_eq!(first(Vec::<u8>::new()).await, None);
    assert_eq!(local_len("abc", std::rc::Rc::new(0)).await, 3);
}

#[test]
fn methods_and_impl_blocks_run() {
    let db = db();
    assert_eq!(db.get("k:a").run(), Some(1));
    assert_eq!(db.key_of(2).run(), Some("k:b"));
    let client = Client {
        db: &db,
        prefix: "k:",
    };
    assert_eq!(client.lookup("b").run(), Some(2));
    assert_eq!(client.prefix().run(), "k:");
    assert_eq!(client.sync_prefix_len(), 2);
    assert_eq!(client.prefixed("z").run(), "k:z");
    assert_eq!(async { client.lookup("a").await }.run(), Some(1));
    let rows = [1, 2, 3];
    assert_eq!(View(&rows).sum(&4).run(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_and_impl_blocks_await() {
    let db = db();
    let client = Client {
        db: &db,
        prefix: "k:",
    };
    assert_eq!(client.lookup("a").await, Some(1));
    assert_eq!(db.key_of(1).await, Some("k:a"));
    let rows = vec![5];
    assert_eq!(View(&rows).sum(&0).await, 5);
}

// The yielding attributes and #[anysync::blocking] in an edition-2021 crate: borrowed
// arguments, methods and `?Send` need the same lifetime capture as coroutines.

use anysync::{exit_status, yield_, Exit};

#[anysync::iterator(item = &'a str)]
async fn split_words<'a>(text: &'a str) {
    for word in text.split_whitespace() {
        tick().await;
        yield_!(word);
    }
}

#[anysync::iterator(item = usize)]
async fn lengths(words: &[&str]) -> Result<(), String> {
    for word in words {
        if word.is_empty() {
            return Err("empty word".to_owned());
        }
        yield_!(word.len());
    }
    Ok(())
}

#[anysync::generator(item = u32, send = u32)]
async fn accumulate(start: &u32) -> u32 {
    let mut total = *start;
    while let Some(x) = yield_!(total) {
        total += x;
    }
    total
}

#[anysync::context(item = String)]
async fn scoped_log(log: &std::sync::Mutex<Vec<String>>) {
    log.lock().unwrap().push("enter".to_owned());
    let value = yield_!(String::from("value"));
    let how = if exit_status!() == Exit::Normal {
        "normal"
    } else {
        "panicked"
    };
    log.lock().unwrap().push(format!("exit {value} {how}"));
}

#[anysync::blocking]
fn owned_len(text: String) -> usize {
    text.len()
}

#[test]
fn yielding_attributes_and_blocking_work_in_edition_2021() {
    let text = String::from("a bb ccc");
    let words: Vec<&str> = split_words(&text).into_iter().collect();
    assert_eq!(words, ["a", "bb", "ccc"]);
    let ok: Result<Vec<usize>, String> = lengths(&["ab", "c"]).into_iter().collect();
    assert_eq!(ok.unwrap(), [2, 1]);
    let start = 10;
    let mut g = accumulate(&start);
    assert_eq!(g.resume().run(), Some(10));
    assert_eq!(g.send(5).run(), Some(15));
    let log = std::sync::Mutex::new(Vec::new());
    {
        let mut guard = scoped_log(&log).enter().run();
        guard.push('!');
    }
    assert_eq!(*log.lock().unwrap(), ["enter", "exit value! normal"]);
    assert_eq!(owned_len(text.clone()).run(), 8);
    let awaited = anysync::run(async move { owned_len(text).await });
    assert_eq!(awaited, 8);
}
