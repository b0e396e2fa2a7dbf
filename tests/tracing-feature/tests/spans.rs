//! Feature `tracing`: the caller's span (and subscriber) is current inside a `.run()` future,
//! an `unblock` closure and a `Pool` closure in every calling context, also where anysync
//! moves the work to another thread; a coroutine's `#[instrument]` span is a child of the
//! caller's. Recorded by a real `tracing-subscriber` registry with a layer that notes parents.

#[path = "../../common/mod.rs"]
mod common;

use anysync::RunExt;
use common::EchoClient;
use common::ctx::{ALL, within};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The `case` field of a span or event.
#[derive(Default)]
struct Case(Option<u64>);

impl tracing::field::Visit for Case {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "case" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

/// A span as created: its name, `case`, and its parent's name and `case`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NewSpan {
    name: &'static str,
    case: Option<u64>,
    parent: Option<(&'static str, Option<u64>)>,
}

/// An event: its `case` and the names and cases of the spans around it, innermost last.
#[derive(Clone, Debug)]
struct Seen {
    case: Option<u64>,
    scope: Vec<(&'static str, Option<u64>)>,
}

/// Records new spans with their parents, and events with their scope.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<NewSpan>>>,
    events: Arc<Mutex<Vec<Seen>>>,
}

fn case_of<S: for<'a> LookupSpan<'a>>(
    span: &tracing_subscriber::registry::SpanRef<'_, S>,
) -> Option<u64> {
    span.extensions().get::<Case>().and_then(|case| case.0)
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut case = Case::default();
        attrs.record(&mut case);
        let span = ctx.span(id).expect("new span");
        let parent = span.parent().map(|p| (p.name(), case_of(&p)));
        self.spans.lock().unwrap().push(NewSpan {
            name: span.name(),
            case: case.0,
            parent,
        });
        span.extensions_mut().insert(case);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut case = Case::default();
        event.record(&mut case);
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|s| (s.name(), case_of(&s))).collect())
            .unwrap_or_default();
        self.events.lock().unwrap().push(Seen {
            case: case.0,
            scope,
        });
    }
}

/// The global subscriber (background threads see it without anysync's help).
fn global() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder = Recorder::default();
        let subscriber = tracing_subscriber::registry().with(recorder.clone());
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        recorder
    })
}

fn fresh_case() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The id of the current span, as a number.
fn current() -> Option<u64> {
    tracing::Span::current().id().map(|id| id.into_u64())
}

static POOL: LazyLock<anysync::Pool> = LazyLock::new(|| anysync::Pool::new(2));

#[anysync::coroutine]
#[tracing::instrument]
async fn traced(case: u64) -> Option<u64> {
    tokio::task::yield_now().await;
    current()
}

/// What each kind of work saw as its current span, in a context.
#[derive(Debug)]
struct Views {
    caller: Option<u64>,
    run_before: Option<u64>,
    run_after: Option<u64>,
    unblock: Option<u64>,
    pool: Option<u64>,
    traced: Option<u64>,
}

fn views(case: u64, addr: std::net::SocketAddr) -> Views {
    let span = tracing::info_span!("caller", case);
    let _entered = span.enter();
    let (run_before, run_after) = anysync::run(async move {
        let before = current();
        tokio::task::yield_now().await;
        // Real IO across the wait: a loopback round trip.
        let client = EchoClient::connect(addr).await.expect("connect");
        assert_eq!(client.echo("span").await.expect("echo"), "echo: span");
        (before, current())
    });
    Views {
        caller: current(),
        run_before,
        run_after,
        unblock: anysync::unblock(current).run(),
        pool: POOL.unblock(current).run(),
        traced: traced(case).run(),
    }
}

#[test]
fn the_callers_span_is_current_in_every_context_and_instrument_spans_are_its_children() {
    let recorder = global();
    let addr = common::echo_server();
    for ctx in ALL {
        let case = fresh_case();
        let seen = within(ctx, move || views(case, addr)).value;
        assert!(seen.caller.is_some(), "{ctx:?}: no span: {seen:?}");
        assert_eq!(
            seen.run_before, seen.caller,
            "{ctx:?}: first poll: {seen:?}"
        );
        assert_eq!(
            seen.run_after, seen.caller,
            "{ctx:?}: after a wait: {seen:?}"
        );
        assert_eq!(seen.unblock, seen.caller, "{ctx:?}: unblock: {seen:?}");
        assert_eq!(seen.pool, seen.caller, "{ctx:?}: Pool: {seen:?}");
        assert!(
            seen.traced.is_some() && seen.traced != seen.caller,
            "{ctx:?}: {seen:?}"
        );
        let spans = recorder.spans.lock().unwrap().clone();
        let traced = NewSpan {
            name: "traced",
            case: Some(case),
            parent: Some(("caller", Some(case))),
        };
        assert!(
            spans.contains(&traced),
            "{ctx:?}: `#[instrument]` span not a child of the caller's: {:?}",
            spans
                .iter()
                .filter(|s| s.case == Some(case))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn events_in_lent_work_reach_the_callers_own_subscriber_in_every_context() {
    global();
    for ctx in ALL {
        let case = fresh_case();
        let scoped = Recorder::default();
        let events = Arc::clone(&scoped.events);
        within(ctx, move || {
            let subscriber = tracing_subscriber::registry().with(scoped);
            tracing::subscriber::with_default(subscriber, || {
                let span = tracing::info_span!("scoped", case);
                let _entered = span.enter();
                anysync::run(async move {
                    tokio::task::yield_now().await;
                    tracing::info!(case, "in the future");
                });
                anysync::unblock(move || tracing::info!(case, "in unblock")).run();
                POOL.unblock(move || tracing::info!(case, "in a Pool"))
                    .run();
            });
        });
        let events = events.lock().unwrap();
        let mine: Vec<_> = events.iter().filter(|e| e.case == Some(case)).collect();
        assert_eq!(mine.len(), 3, "{ctx:?}: {events:?}");
        for event in mine {
            assert_eq!(event.scope, [("scoped", Some(case))], "{ctx:?}: {event:?}");
        }
    }
}
