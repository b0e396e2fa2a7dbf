//! `#[tracing::instrument]` with anysync's attributes: in every placement the span is current
//! while the body runs (also when `.run()` lends the future to a background thread), with the
//! name, fields, `err` and `ret` events a plain `async fn` would get.
//!
//! Regression tests: written below `#[anysync::coroutine]`, or on a method of an impl-level
//! one, `#[instrument]` instrumented only the call that built the coroutine, and
//! `#[instrument(err)]` there was a type error; written above an iterator, generator or
//! context, where tracing moves the body into its own `async` blocks, every `yield_!` was
//! refused.

mod common;

use anysync::yield_;
use common::ctx::{ALL, within};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use tracing::instrument;
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One event as the subscriber saw it.
#[derive(Clone, Debug)]
struct Seen {
    /// The `id` field of the event, or of the innermost span that has one.
    id: Option<u64>,
    message: String,
    /// The names of the spans in scope, outermost first.
    scope: Vec<&'static str>,
    /// The fields each span in scope was created with, as `name=value`.
    span_fields: Vec<String>,
    /// The event's own fields, as `name=value`.
    fields: Vec<String>,
}

/// Records every event with its span scope. Global (background threads must see it), and
/// shared by the tests of this file, which tell their events apart by a unique `id`.
struct Recorder;

#[derive(Default)]
struct Fields(Vec<String>, Option<u64>);

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "id" {
            self.1 = Some(value);
        }
        self.0.push(format!("{}={value}", field.name()));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut seen = Seen {
            id: fields.1,
            message: fields
                .0
                .iter()
                .find_map(|f| f.strip_prefix("message="))
                .unwrap_or_default()
                .to_owned(),
            scope: Vec::new(),
            span_fields: Vec::new(),
            fields: fields.0.clone(),
        };
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                seen.scope.push(span.name());
                if let Some(recorded) = span.extensions().get::<Fields>() {
                    seen.span_fields.extend(recorded.0.iter().cloned());
                    seen.id = seen.id.or(recorded.1);
                }
            }
        }
        events().push(seen);
    }
}

fn events() -> MutexGuard<'static, Vec<Seen>> {
    static EVENTS: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    EVENTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Recorder);
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    });
}

/// A fresh id, so concurrent tests never read each other's events.
fn fresh_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The events recorded for `id`.
fn seen(id: u64) -> Vec<Seen> {
    events()
        .iter()
        .filter(|seen| seen.id == Some(id))
        .cloned()
        .collect()
}

/// Asserts that every event of the body (`before` and `after` its `.await`) ran inside the
/// span `name`, and returns the events.
#[track_caller]
fn assert_in_span(id: u64, name: &str, place: &str) -> Vec<Seen> {
    let events = seen(id);
    for message in ["before", "after"] {
        let event = events
            .iter()
            .find(|event| event.message == message)
            .unwrap_or_else(|| {
                panic!(
                    "{place}: no `{message}` event for {id}: {events:?} all: {:?}",
                    crate::events().iter().take(6).collect::<Vec<_>>()
                )
            });
        assert!(
            event.scope.contains(&name),
            "{place}: `{message}` ran outside the span `{name}`: {event:?}"
        );
    }
    events
}

// --- every placement --------------------------------------------------------------------

#[anysync::coroutine]
#[tracing::instrument]
async fn below(id: u64) -> u64 {
    tracing::info!("before");
    tokio::task::yield_now().await;
    tracing::info!("after");
    id
}

#[tracing::instrument]
#[anysync::coroutine]
async fn above(id: u64) -> u64 {
    tracing::info!("before");
    tokio::task::yield_now().await;
    tracing::info!("after");
    id
}

#[derive(Debug)]
struct Client {
    host: &'static str,
}

#[anysync::coroutine]
impl Client {
    #[instrument(skip(self), fields(host = self.host))]
    async fn in_impl(&self, id: u64) -> u64 {
        tracing::info!("before");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        tracing::info!("after");
        id
    }

    #[instrument(skip(self), err)]
    async fn fails(&self, id: u64) -> Result<u64, String> {
        tracing::info!("before");
        tokio::task::yield_now().await;
        tracing::info!("after");
        Err(format!("no {id}"))
    }

    #[instrument(skip(self), ret, name = "renamed", level = "debug")]
    async fn returns(&self, id: u64) -> u64 {
        tracing::info!("before");
        tokio::task::yield_now().await;
        tracing::info!("after");
        id * 2
    }
}

impl Client {
    #[anysync::coroutine]
    #[tracing::instrument(skip(self))]
    async fn on_method(&self, id: u64, (a, b): (u64, u64)) -> u64 {
        tracing::info!("before");
        tokio::task::yield_now().await;
        tracing::info!("after");
        id + a + b
    }
}

#[anysync::coroutine]
#[instrument]
async fn generic<T: std::fmt::Debug + Send + Sync>(id: u64, value: T) -> String {
    tracing::info!("before");
    tokio::task::yield_now().await;
    tracing::info!("after");
    format!("{value:?}")
}

#[anysync::iterator(item = u64)]
#[instrument]
async fn listing(id: u64) {
    tracing::info!("before");
    tokio::task::yield_now().await;
    yield_!(id);
    tracing::info!("after");
}

#[anysync::generator(item = u64, send = u64)]
#[instrument]
async fn accumulate(id: u64) -> u64 {
    tracing::info!("before");
    let mut total = 0;
    while let Some(x) = yield_!(total) {
        total += x;
    }
    tracing::info!("after");
    total
}

#[anysync::context(item = u64)]
#[instrument]
async fn session(id: u64) {
    tracing::info!("before");
    yield_!(id);
    tracing::info!("after");
}

// `#[instrument]` above the attribute: tracing expands first and moves the body, `yield_!`s
// and all, into its own `async move` blocks (with `err` or `ret`, two of them).

#[instrument(err)]
#[anysync::iterator(item = u64)]
async fn listing_above(id: u64) -> Result<(), String> {
    tracing::info!("before");
    tokio::task::yield_now().await;
    yield_!(id);
    for x in [1, 2] {
        yield_!(x);
    }
    tracing::info!("after");
    Err(format!("no {id}"))
}

#[instrument(ret)]
#[anysync::generator(item = u64, send = u64)]
async fn accumulate_above(id: u64) -> u64 {
    tracing::info!("before");
    let mut total = 0;
    while let Some(x) = yield_!(total) {
        total += x;
    }
    tracing::info!("after");
    total + id
}

#[instrument]
#[anysync::context(item = u64)]
async fn session_above(id: u64) {
    tracing::info!("before");
    tokio::task::yield_now().await;
    yield_!(id);
    tracing::info!("after");
}

/// Runs each placement with `.run()` in `ctx` and checks its events.
fn check_every_placement_in(ctx: common::ctx::Ctx) {
    let client = Client { host: "db" };
    let ids: [u64; 9] = std::array::from_fn(|_| fresh_id());
    let place = format!("{ctx:?}");
    let ran = within(ctx, move || {
        let client = client;
        (
            below(ids[0]).run(),
            above(ids[1]).run(),
            client.in_impl(ids[2]).run(),
            client.fails(ids[3]).run(),
            client.returns(ids[4]).run(),
            client.on_method(ids[5], (1, 2)).run(),
            generic(ids[6], "x").run(),
            listing(ids[7]).into_iter().collect::<Vec<_>>(),
            {
                let mut g = accumulate(ids[8]);
                (g.resume().run(), g.send(5).run(), g.resume().run())
            },
        )
    })
    .value;
    assert_eq!(ran.0, ids[0]);
    assert_eq!(ran.1, ids[1]);
    assert_eq!(ran.2, ids[2]);
    assert_eq!(ran.3, Err(format!("no {}", ids[3])));
    assert_eq!(ran.4, ids[4] * 2);
    assert_eq!(ran.5, ids[5] + 3);
    assert_eq!(ran.6, "\"x\"");
    assert_eq!(ran.7, [ids[7]]);
    assert_eq!(ran.8, (Some(0), Some(5), None));

    assert_in_span(ids[0], "below", &place);
    assert_in_span(ids[1], "above", &place);
    let in_impl = assert_in_span(ids[2], "in_impl", &place);
    assert!(
        in_impl[0].span_fields.contains(&"host=db".to_owned()),
        "{place}: fields(host = ..) recorded: {:?}",
        in_impl[0]
    );
    let fails = assert_in_span(ids[3], "fails", &place);
    let error = format!("error=no {}", ids[3]);
    assert!(
        fails
            .iter()
            .any(|e| e.scope.contains(&"fails") && e.fields.contains(&error)),
        "{place}: `err` logs the body's error inside the span: {fails:?}"
    );
    let returns = assert_in_span(ids[4], "renamed", &place);
    let value = format!("return={}", ids[4] * 2);
    assert!(
        returns
            .iter()
            .any(|e| e.scope.contains(&"renamed") && e.fields.contains(&value)),
        "{place}: `ret` logs the body's value inside the span: {returns:?}"
    );
    let on_method = assert_in_span(ids[5], "on_method", &place);
    assert!(
        !on_method[0]
            .span_fields
            .iter()
            .any(|f| f.starts_with("self=")),
        "{place}: skip(self) holds"
    );
    assert_in_span(ids[6], "generic", &place);
    assert_in_span(ids[7], "listing", &place);
    assert_in_span(ids[8], "accumulate", &place);
    check_above_in(ctx);
}

/// The bodies that yield, with `#[instrument]` above the attribute, run with `.run()` in
/// `ctx`: each yields what it should and logs inside its span, and `err`/`ret` see its output.
fn check_above_in(ctx: common::ctx::Ctx) {
    let ids: [u64; 3] = std::array::from_fn(|_| fresh_id());
    let place = format!("{ctx:?}, #[instrument] above");
    let ran = within(ctx, move || {
        let listed = listing_above(ids[0]).into_iter().collect::<Vec<_>>();
        let mut g = accumulate_above(ids[1]);
        let sent = (g.resume().run(), g.send(5).run(), g.resume().run());
        let guard = session_above(ids[2]).enter().run();
        let held = *guard;
        guard.exit();
        (listed, sent, held)
    })
    .value;
    assert_eq!(
        ran.0,
        [Ok(ids[0]), Ok(1), Ok(2), Err(format!("no {}", ids[0]))],
        "{place}"
    );
    assert_eq!(ran.1, (Some(0), Some(5), None), "{place}");
    assert_eq!(ran.2, ids[2], "{place}");

    let listing = assert_in_span(ids[0], "listing_above", &place);
    let error = format!("error=no {}", ids[0]);
    assert!(
        listing
            .iter()
            .any(|e| e.scope.contains(&"listing_above") && e.fields.contains(&error)),
        "{place}: `err` logs the body's error inside the span: {listing:?}"
    );
    let accumulate = assert_in_span(ids[1], "accumulate_above", &place);
    let value = format!("return={}", ids[1] + 5);
    assert!(
        accumulate
            .iter()
            .any(|e| e.scope.contains(&"accumulate_above") && e.fields.contains(&value)),
        "{place}: `ret` logs the body's value inside the span: {accumulate:?}"
    );
    assert_in_span(ids[2], "session_above", &place);
}

#[test]
fn the_span_covers_the_body_in_every_placement_and_context() {
    install();
    for ctx in ALL {
        check_every_placement_in(ctx);
    }
}

#[test]
fn the_span_covers_the_body_when_awaited() {
    install();
    let id = fresh_id();
    let ctx_id = fresh_id();
    let rt = common::multi_thread(2);
    let (value, guard) = rt.block_on(async move {
        let value = below(id).await;
        let entered = session(ctx_id).enter().await;
        let guard = *entered;
        entered.exit().await;
        (value, guard)
    });
    assert_eq!((value, guard), (id, ctx_id));
    assert_in_span(id, "below", "awaited");
    assert_in_span(ctx_id, "session", "awaited context");
}

// --- trait impls ---------------------------------------------------------------------------

/// A trait whose impl instruments its method (the declaration cannot carry `#[instrument]`:
/// it has no body to instrument).
#[anysync::coroutine]
trait Lookup: Send + Sync {
    async fn lookup(&self, id: u64) -> u64;
}

#[anysync::coroutine]
impl Lookup for Client {
    #[instrument(skip(self), fields(host = self.host))]
    async fn lookup(&self, id: u64) -> u64 {
        tracing::info!("before");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        tracing::info!("after");
        id
    }
}

fn generic_lookup<L: Lookup>(lookup: &L, id: u64) -> u64 {
    anysync::RunExt::run(lookup.lookup(id))
}

#[test]
fn the_span_covers_an_instrumented_trait_impl_method_in_every_context() {
    install();
    for ctx in ALL {
        let ids = [fresh_id(), fresh_id()];
        let ran = within(ctx, move || {
            let client = Client { host: "db" };
            (generic_lookup(&client, ids[0]), client.lookup(ids[1]).run())
        });
        assert_eq!(ran.value, (ids[0], ids[1]), "{ctx:?}");
        for id in ids {
            let events = assert_in_span(id, "lookup", &format!("{ctx:?} trait impl"));
            assert!(
                events[0].span_fields.contains(&"host=db".to_owned()),
                "{ctx:?}: {events:?}"
            );
        }
    }
    let id = fresh_id();
    let awaited =
        common::current_thread().block_on(async move { Client { host: "db" }.lookup(id).await });
    assert_eq!(awaited, id);
    assert_in_span(id, "lookup", "awaited trait impl");
}
