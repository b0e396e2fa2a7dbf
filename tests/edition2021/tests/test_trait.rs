//! `#[anysync::coroutine]` on traits in an edition-2021 crate: borrowed arguments, outputs
//! that borrow `self`, impls with lifetimes of their own, default bodies, `dyn` traits.

use anysync::RunExt;
use std::collections::BTreeMap;
use std::sync::Arc;

#[anysync::coroutine]
pub trait Store: Send + Sync {
    async fn get(&self, key: &str) -> Option<u32>;
    async fn name(&self) -> &str;
    async fn get_or(&self, key: &str, default: &u32) -> u32 {
        self.get(key).await.unwrap_or(*default)
    }
}

struct Prefixed<'a> {
    prefix: &'a str,
    rows: BTreeMap<String, u32>,
}

#[anysync::coroutine]
impl<'a> Store for Prefixed<'a> {
    async fn get(&self, key: &str) -> Option<u32> {
        tokio::task::yield_now().await;
        self.rows.get(&format!("{}{key}", self.prefix)).copied()
    }

    async fn name(&self) -> &str {
        tokio::task::yield_now().await;
        self.prefix
    }
}

struct Elided<'a>(&'a u32);

#[anysync::coroutine]
impl Store for Elided<'_> {
    async fn get(&self, _key: &str) -> Option<u32> {
        Some(*self.0)
    }

    async fn name(&self) -> &str {
        "elided"
    }
}

/// A plain `async fn` impl, without the attribute.
struct Double;

impl Store for Double {
    async fn get(&self, key: &str) -> Option<u32> {
        Some(key.len() as u32)
    }

    async fn name(&self) -> &str {
        "double"
    }
}

fn generic<S: Store>(store: &S, key: &str) -> (Option<u32>, u32, String) {
    let missing = format!("{key}?");
    (
        store.get(key).run(),
        store.get_or(&missing, &99).run(),
        store.name().run().to_owned(),
    )
}

#[test]
fn traits_with_borrowed_arguments_work_in_edition_2021() {
    let prefix = String::from("p:");
    let store = Prefixed {
        prefix: &prefix,
        rows: BTreeMap::from([("p:a".to_owned(), 1)]),
    };
    assert_eq!(generic(&store, "a"), (Some(1), 99, "p:".to_owned()));
    assert_eq!(Store::get(&store, "a").run(), Some(1));
    let seven = 7;
    assert_eq!(
        generic(&Elided(&seven), "x"),
        (Some(7), 7, "elided".to_owned())
    );
    assert_eq!(generic(&Double, "abc"), (Some(3), 4, "double".to_owned()));
    let awaited = anysync::run(async { Store::get_or(&store, "zz", &5).await });
    assert_eq!(awaited, 5);
}

#[anysync::coroutine(dyn)]
pub trait DynStore: Send + Sync {
    async fn get(&self, key: &str) -> Option<u32>;
    async fn name(&self) -> &str;
    async fn get_or(&self, key: &str, default: &u32) -> u32 {
        self.get(key).await.unwrap_or(*default)
    }
}

#[anysync::coroutine(dyn)]
impl<'a> DynStore for Prefixed<'a> {
    async fn get(&self, key: &str) -> Option<u32> {
        tokio::task::yield_now().await;
        self.rows.get(&format!("{}{key}", self.prefix)).copied()
    }

    async fn name(&self) -> &str {
        self.prefix
    }
}

#[test]
fn dyn_traits_work_in_edition_2021() {
    let prefix = String::from("q:");
    let store = Prefixed {
        prefix: &prefix,
        rows: BTreeMap::from([("q:b".to_owned(), 2)]),
    };
    let object: &dyn DynStore = &store;
    assert_eq!(object.get("b").run(), Some(2));
    assert_eq!(object.name().run(), "q:");
    assert_eq!(object.get_or("c", &3).run(), 3);
    let static_store: Arc<dyn DynStore> = Arc::new(Prefixed {
        prefix: "s:",
        rows: BTreeMap::new(),
    });
    let awaited = anysync::run(async move { static_store.get_or("x", &4).await });
    assert_eq!(awaited, 4);
}

/// A generic `dyn` trait: a by-value parameter of the trait, and a generic method left out
/// of the vtable, whose impl does not repeat `where Self: Sized`.
#[anysync::coroutine(dyn)]
pub trait Sink<K: Send + Sync>: Send + Sync {
    async fn push(&self, key: K) -> usize;
    async fn push_all<I: IntoIterator<Item = K> + Send>(&self, keys: I) -> usize
    where
        Self: Sized,
        I::IntoIter: Send;
}

struct Count<'a>(&'a str);

#[anysync::coroutine(dyn)]
impl<'a, K: Send + Sync + std::fmt::Debug> Sink<K> for Count<'a> {
    async fn push(&self, key: K) -> usize {
        tokio::task::yield_now().await;
        format!("{}{key:?}", self.0).len()
    }
    async fn push_all<I: IntoIterator<Item = K> + Send>(&self, keys: I) -> usize
    where
        I::IntoIter: Send,
    {
        let mut total = 0;
        for key in keys {
            total += self.push(key).await;
        }
        total
    }
}

#[test]
fn generic_dyn_traits_work_in_edition_2021() {
    let prefix = String::from("p");
    let count = Count(&prefix);
    let object: &dyn Sink<u32> = &count;
    assert_eq!(object.push(10).run(), 3);
    assert_eq!(count.push_all(vec![1_u32, 22]).run(), 2 + 3);
    let text = String::from("ab");
    let borrowed: Arc<dyn Sink<&str> + '_> = Arc::new(Count(&prefix));
    assert_eq!(borrowed.push(&text).run(), 5);
}
