//! Feature `tracing`: the stall notice is a `WARN` event of target `anysync`, recorded by the
//! caller's subscriber inside the caller's span, with the call site as a field.
//!
//! The threshold is set once per process: this binary holds one test, which installs it.

use anysync::RunExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Debug, Default)]
struct Notice {
    level: Option<Level>,
    target: String,
    message: String,
    call_site: String,
    scope: Vec<&'static str>,
}

struct Fields<'a>(&'a mut Notice);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.0.message = format!("{value:?}"),
            "call_site" => self.0.call_site = format!("{value:?}"),
            _ => {}
        }
    }
}

/// Records anysync's events, and wakes the waiting future once one has arrived.
struct Recorder {
    notices: Arc<Mutex<Vec<Notice>>>,
    seen: Arc<Notify>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() != "anysync" {
            return;
        }
        let mut notice = Notice {
            level: Some(*meta.level()),
            target: meta.target().to_owned(),
            ..Notice::default()
        };
        event.record(&mut Fields(&mut notice));
        notice.scope = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|s| s.name()).collect())
            .unwrap_or_default();
        self.notices.lock().unwrap().push(notice);
        self.seen.notify_one();
    }
}

#[test]
fn the_stall_notice_is_a_tracing_event_in_the_callers_span() {
    anysync::Config::new()
        .stall_threshold(Duration::from_millis(200))
        .install()
        .expect("first");
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Notify::new());
    let subscriber = tracing_subscriber::registry().with(Recorder {
        notices: Arc::clone(&notices),
        seen: Arc::clone(&seen),
    });
    // A scoped subscriber: the watchdog thread reports to the caller's, not to a global one.
    let line = tracing::subscriber::with_default(subscriber, || {
        // A socket of a current_thread runtime that nothing drives: accepting it waits until
        // the notice arrives (the recorder wakes the future), bounded by `run_timeout`.
        let idle = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = idle.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        let wait = async move {
            tokio::select! {
                accepted = listener.accept() => panic!("the idle runtime accepted: {accepted:?}"),
                () = seen.notified() => {}
            }
        };
        let line = line!() + 1;
        wait.run_timeout(Duration::from_secs(60))
            .expect("the notice arrived before the bound");
        line
    });
    let notices = notices.lock().unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let notice = &notices[0];
    assert_eq!(notice.level, Some(Level::WARN));
    assert_eq!(notice.target, "anysync");
    let site = format!("{}:{line}:", file!());
    assert!(notice.call_site.starts_with(&site), "{notice:?}");
    assert!(notice.message.contains(&site), "{notice:?}");
    assert!(
        notice.message.contains("still waiting after 0.2 s"),
        "{notice:?}"
    );
    assert!(
        notice.message.contains("a thread with no tokio runtime"),
        "{notice:?}"
    );
    assert_eq!(
        notice.scope,
        ["request"],
        "in the caller's span: {notice:?}"
    );
}
