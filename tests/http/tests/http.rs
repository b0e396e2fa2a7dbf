//! anysync's HTTP story against a real axum server on 127.0.0.1 and a real reqwest client:
//! a JSON body parsed by `serde_json::from_reader` through `anysync::io::SyncIo`, and a chunked
//! body streamed into `std::io::copy`, in every calling context (plain `main`, a sync helper
//! inside a current_thread runtime, a multi_thread task and the rest), compared with
//! `reqwest::blocking`, which panics inside runtimes; the same chunked body iterated with `for`
//! over `anysync::iter`, and closed by an early `break`. And the example, run.

#[path = "../../common/mod.rs"]
mod common;
#[path = "../examples/http.rs"]
mod example;

use anysync::RunExt;
use anysync::io::SyncIo;
use common::ctx::{ALL, Ctx, within};
use futures::stream::BoxStream;
use futures::{Stream, TryStreamExt};
use serde_json::{Value, json};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tokio_util::io::StreamReader;

/// The example's upstream and gateway servers, started once on the global runtime.
fn servers() -> &'static (String, String) {
    static SERVERS: OnceLock<(String, String)> = OnceLock::new();
    SERVERS.get_or_init(example::start)
}

/// A GET made with `.run()`, so its connection lives on a running runtime (the global one,
/// or the caller's multi_thread runtime), and its body as `std::io::Read`.
fn get(
    url: &str,
) -> SyncIo<StreamReader<BoxStream<'static, io::Result<axum::body::Bytes>>, axum::body::Bytes>> {
    let response = reqwest::Client::new()
        .get(url)
        .send()
        .run()
        .expect("request")
        .error_for_status()
        .expect("status");
    let chunks: BoxStream<'static, _> = Box::pin(response.bytes_stream().map_err(io::Error::other));
    SyncIo::new(StreamReader::new(chunks))
}

/// What a sync caller does with a JSON body: hand the reader to `serde_json`.
fn user_json(base: &str) -> Value {
    serde_json::from_reader(get(&format!("{base}/users/7"))).expect("JSON body")
}

/// A chunked body streamed into a writer with `std::io::copy`.
fn download(base: &str) -> (u64, Vec<u8>) {
    let mut file = Vec::new();
    let bytes = std::io::copy(&mut get(&format!("{base}/files/log")), &mut file).expect("copy");
    (bytes, file)
}

fn expected_file() -> Vec<u8> {
    (0..100)
        .flat_map(|i| format!("log line {i}\n").into_bytes())
        .collect()
}

#[test]
fn json_and_chunked_bodies_through_sync_io_in_every_context() {
    let base = &servers().0;
    for ctx in ALL {
        let url = base.clone();
        let (user, (bytes, file)) = within(ctx, move || (user_json(&url), download(&url))).value;
        assert_eq!(
            user,
            json!({ "id": 7, "name": "user 7", "roles": ["reader"] }),
            "{ctx:?}"
        );
        assert_eq!(bytes, expected_file().len() as u64, "{ctx:?}");
        assert!(file == expected_file(), "{ctx:?}: the streamed file");
    }
}

/// A response body as a stream of chunks, which notes when it is dropped. The request is made
/// with `.run()`, as in [`get`].
struct Body {
    chunks: BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    dropped: Arc<AtomicBool>,
}

impl Body {
    fn get(url: &str) -> Body {
        let response = reqwest::Client::new()
            .get(url)
            .send()
            .run()
            .expect("request")
            .error_for_status()
            .expect("status");
        Body {
            chunks: Box::pin(response.bytes_stream()),
            dropped: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Stream for Body {
    type Item = reqwest::Result<axum::body::Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.chunks.as_mut().poll_next(cx)
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_chunked_body_iterates_with_for_and_an_early_break_closes_it_in_every_context() {
    let base = &servers().0;
    for ctx in ALL {
        let url = format!("{base}/files/log");
        let ((file, chunks, dropped_at_end), (first, dropped_at_break)) = within(ctx, move || {
            // Every chunk, with `for`.
            let body = Body::get(&url);
            let dropped = Arc::clone(&body.dropped);
            let mut file = Vec::new();
            let mut chunks = 0;
            for chunk in anysync::iter(body) {
                file.extend_from_slice(&chunk.expect("chunk"));
                chunks += 1;
            }
            let whole = (file, chunks, dropped.load(Ordering::SeqCst));
            // Only the first chunk: `break` drops the body, and with it the connection.
            let body = Body::get(&url);
            let dropped = Arc::clone(&body.dropped);
            let mut first = None;
            for chunk in anysync::iter(body) {
                let chunk = chunk.expect("chunk");
                if !chunk.is_empty() {
                    first = Some(chunk);
                    break;
                }
            }
            (whole, (first, dropped.load(Ordering::SeqCst)))
        })
        .value;
        assert!(file == expected_file(), "{ctx:?}: the streamed file");
        assert!(chunks >= 1, "{ctx:?}");
        assert!(dropped_at_end, "{ctx:?}: the body is dropped at its end");
        let first = first.expect("a first chunk");
        assert!(
            expected_file().starts_with(&first),
            "{ctx:?}: the first chunk is the file's start"
        );
        assert!(dropped_at_break, "{ctx:?}: `break` dropped the body");
    }
}

/// What `reqwest::blocking` does in `ctx`: its result, or its panic message.
fn reqwest_blocking(ctx: Ctx, url: String) -> Result<Value, String> {
    within(ctx, move || {
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            reqwest::blocking::get(&url)
                .and_then(|response| response.json::<Value>())
                .map_err(|e| e.to_string())
        }));
        caught.unwrap_or_else(|payload| Err(common::panic_message(&*payload)))
    })
    .value
}

#[test]
fn reqwest_blocking_panics_inside_runtimes_where_sync_io_does_not() {
    let url = format!("{}/users/7", servers().0);
    // Plain `main` (a plain thread): both work.
    assert_eq!(reqwest_blocking(Ctx::Plain, url.clone()).unwrap()["id"], 7);
    // A sync helper inside a current_thread runtime, and a multi_thread task: reqwest's
    // blocking client panics (it drives its own runtime, which tokio forbids there)...
    for ctx in [Ctx::CurrentRoot, Ctx::MultiTask] {
        let outcome = reqwest_blocking(ctx, url.clone());
        let message = outcome.expect_err("reqwest::blocking inside a runtime");
        assert!(message.contains("runtime"), "{ctx:?}: {message}");
        // ...where the same request, made with `.run()` and read through `SyncIo`, works.
        let base = servers().0.clone();
        let user = within(ctx, move || user_json(&base)).value;
        assert_eq!(user["id"], 7, "{ctx:?}");
    }
}

#[test]
fn the_example_runs_its_blocking_cli_and_async_handler() {
    let (upstream, gateway) = servers();
    let lines = example::cli(upstream, gateway).expect("the example's CLI");
    // 3 pages of 4 items numbered 0..12.
    let total: u64 = (0..12).sum();
    let bytes = (0..100)
        .map(|i| format!("notes line {i}\n").len())
        .sum::<usize>();
    assert_eq!(
        lines,
        [
            "user: \"user 1\"".to_owned(),
            format!("downloaded: {bytes} bytes, last line \"notes line 99\""),
            format!("items: total {total}"),
            format!(
                "gateway: {}",
                json!({ "bytes": bytes, "name": "user 1", "total": total })
            ),
        ]
    );
}
