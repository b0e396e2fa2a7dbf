//! `#[anysync::iterator]`, `#[anysync::generator]` and `#[anysync::context]` on methods of an
//! `#[anysync::coroutine]` trait: a whole client API (calls, listings, transactions) as one
//! trait, generic and `dyn`, from blocking and async code.

mod common;

use anysync::{AsyncContext, RunExt, yield_};
use common::ctx::{ALL, within};
use std::sync::{Arc, Mutex};

/// A client: a call, a listing, a running total and a transaction.
#[anysync::coroutine]
pub trait Client: Send + Sync {
    /// A plain call.
    async fn count(&self) -> u32;

    /// A listing: numbers below `n`, failing at `fail_at`.
    #[anysync::iterator(item = u32)]
    async fn list(&self, n: u32, fail_at: Option<u32>) -> Result<(), String>;

    /// A default listing over the call.
    #[anysync::iterator(item = u32)]
    async fn countdown(&self) {
        let mut n = self.count().await;
        while n > 0 {
            yield_!(n);
            n -= 1;
        }
    }

    /// A generator: adds what is sent to a running total.
    #[anysync::generator(item = u32, send = u32)]
    async fn totals(&self, start: u32) -> u32;

    /// A transaction: the log gets `begin`, then `commit` or `rollback`.
    #[anysync::context(item = Vec<String>)]
    async fn transaction(&self, name: &str) -> Result<(), String>;
}

struct Server {
    size: u32,
    log: Mutex<Vec<String>>,
}

#[anysync::coroutine]
impl Client for Server {
    async fn count(&self) -> u32 {
        tokio::task::yield_now().await;
        self.size
    }

    #[anysync::iterator(item = u32)]
    async fn list(&self, n: u32, fail_at: Option<u32>) -> Result<(), String> {
        for i in 0..n {
            tokio::task::yield_now().await;
            if Some(i) == fail_at {
                return Err(format!("failed at {i}"));
            }
            yield_!(i);
        }
        Ok(())
    }

    #[anysync::generator(item = u32, send = u32)]
    async fn totals(&self, start: u32) -> u32 {
        let mut total = start;
        while let Some(x) = yield_!(total) {
            total += x;
        }
        total
    }

    #[anysync::context(item = Vec<String>)]
    async fn transaction(&self, name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("no name".into());
        }
        self.log.lock().unwrap().push(format!("begin {name}"));
        let rows = yield_!(Vec::new());
        let verb = match anysync::exit_status!() {
            anysync::Exit::Normal => "commit",
            anysync::Exit::Panicked => "rollback",
        };
        self.log
            .lock()
            .unwrap()
            .push(format!("{verb} {name} {rows:?}"));
        Ok(())
    }
}

fn server(size: u32) -> Server {
    Server {
        size,
        log: Mutex::new(Vec::new()),
    }
}

/// What `use_client` saw: the listing, the countdown, the count and a running total.
type Seen = (Vec<Result<u32, String>>, Vec<u32>, u32, Option<u32>);

/// Blocking generic code over the whole API.
fn use_client<C: Client>(client: &C) -> Seen {
    let listed = client.list(4, Some(2)).into_iter().collect();
    let countdown = client.countdown().into_iter().collect();
    let mut totals = client.totals(10);
    assert_eq!(totals.resume().run(), Some(10));
    let after = totals.send(5).run();
    {
        let mut tx = client.transaction("t").enter().run().expect("setup");
        tx.push("row".into());
    }
    (listed, countdown, client.count().run(), after)
}

/// Async generic code over the whole API.
async fn use_client_async<C: Client>(client: &C) -> (Vec<u32>, Option<u32>) {
    let mut listed = Vec::new();
    let mut list = client.list(3, None);
    while let Some(item) = list.next().await {
        listed.push(item.expect("no failure"));
    }
    let mut totals = client.totals(1);
    assert_eq!(totals.resume().await, Some(1));
    let after = totals.send(2).await;
    let mut tx = client.transaction("a").enter().await.expect("setup");
    tx.push("async row".into());
    tx.exit().await.expect("teardown");
    (listed, after)
}

#[test]
fn iterators_generators_and_contexts_in_a_trait_in_every_context() {
    for ctx in ALL {
        let ran = within(ctx, || {
            let client = server(3);
            let result = use_client(&client);
            (result, client.log.into_inner().unwrap())
        });
        let ((listed, countdown, count, after), log) = ran.value;
        assert_eq!(listed, [Ok(0), Ok(1), Err("failed at 2".into())], "{ctx:?}");
        assert_eq!(countdown, [3, 2, 1], "{ctx:?}");
        assert_eq!((count, after), (3, Some(15)), "{ctx:?}");
        assert_eq!(log, ["begin t", "commit t [\"row\"]"], "{ctx:?}");
    }
}

#[test]
fn iterators_generators_and_contexts_in_a_trait_await() {
    let client = server(0);
    let (listed, after) = common::current_thread().block_on(use_client_async(&client));
    assert_eq!(listed, [0, 1, 2]);
    assert_eq!(after, Some(3));
    assert_eq!(
        *client.log.lock().unwrap(),
        ["begin a", "commit a [\"async row\"]"]
    );
    // A setup error, and a rollback on panic, through the trait.
    assert_eq!(
        client.transaction("").enter().run().err(),
        Some("no name".into())
    );
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _tx = client.transaction("p").enter().run();
        panic!("the block failed");
    }));
    assert!(panicked.is_err());
    assert_eq!(client.log.lock().unwrap().last().unwrap(), "rollback p []");
}

/// The same API as a trait object.
#[anysync::coroutine(dyn)]
pub trait DynClient: Send + Sync {
    /// A listing.
    #[anysync::iterator(item = u32)]
    async fn list(&self, n: u32) -> Result<(), String>;

    /// A generator.
    #[anysync::generator(item = u32, send = u32)]
    async fn totals(&self, start: u32) -> u32;

    /// A transaction, with a default body.
    #[anysync::context(item = u32)]
    async fn scope(&self, name: &str) {
        let value = yield_!(name.len() as u32);
        let _ = value;
    }
}

#[anysync::coroutine(dyn)]
impl DynClient for Server {
    #[anysync::iterator(item = u32)]
    async fn list(&self, n: u32) -> Result<(), String> {
        for i in 0..n {
            tokio::task::yield_now().await;
            yield_!(i * self.size);
        }
        Ok(())
    }

    #[anysync::generator(item = u32, send = u32)]
    async fn totals(&self, start: u32) -> u32 {
        let mut total = start;
        while let Some(x) = yield_!(total) {
            total += x;
        }
        total
    }
}

#[test]
fn yielding_methods_of_a_dyn_trait() {
    let object: Arc<dyn DynClient> = Arc::new(server(2));
    for ctx in ALL {
        let object = object.clone();
        let ran = within(ctx, move || {
            let listed: Result<Vec<u32>, String> = object.list(3).into_iter().collect();
            let mut totals = object.totals(1);
            let first = totals.resume().run();
            let second = totals.send(4).run();
            let entered = *object.scope("four").enter().run();
            (listed, first, second, entered)
        });
        assert_eq!(
            ran.value,
            (Ok(vec![0, 2, 4]), Some(1), Some(5), 4),
            "{ctx:?}"
        );
    }
    let awaited = anysync::run(async move {
        let mut list = object.list(2);
        let mut items = Vec::new();
        while let Some(item) = list.next().await {
            items.push(item.unwrap());
        }
        let guard = object.scope("ab").enter().await;
        let value = *guard;
        guard.exit().await;
        (items, value)
    });
    assert_eq!(awaited, (vec![0, 2], 2));
}

#[test]
fn a_context_manager_from_a_trait_is_an_async_context() {
    fn takes<C: AsyncContext>(_: &C) {}
    let client = server(1);
    takes(&client.transaction("x"));
}
