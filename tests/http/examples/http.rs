//! "reqwest::blocking that works everywhere": one HTTP client, written once as `async fn` on
//! reqwest, used by a blocking command-line client (`.run()`, `for`, `std::io::copy`) and by
//! an async axum handler (`.await`), against a loopback axum server.
//!
//! - a JSON call: `api.user(1).run()` / `api.user(1).await`;
//! - a streamed download: the body as tokio `AsyncRead`, turned into `std::io::Read` by
//!   `anysync::io::SyncIo` for `std::io::copy` (and copied with `tokio::io::copy` in async
//!   code);
//! - a paginated listing: `#[anysync::iterator]` fetches page after page as the consumer asks,
//!   `for item in api.items()` in blocking code, `.next().await` in async code.
//!
//! Run it with `cargo run -p anysync-http --example http`; `cargo test -p anysync-http` runs it
//! too (tests/http.rs).

use anysync::io::SyncIo;
use anysync::yield_;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use futures::TryStreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::io::StreamReader;

/// A response body as tokio's `AsyncRead`: read it with `.await` in async code, or wrap it in
/// [`SyncIo`] for `std::io::Read` in blocking code.
pub(crate) type BodyReader = StreamReader<BoxStream<'static, io::Result<Bytes>>, Bytes>;

/// The HTTP client, written once.
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
}

#[anysync::coroutine]
impl Api {
    /// `GET /users/{id}`, parsed as JSON.
    pub(crate) async fn user(&self, id: u32) -> reqwest::Result<Value> {
        self.json(format!("{}/users/{id}", self.base)).await
    }

    /// `GET /files/{name}`: the body, streamed, not collected.
    pub(crate) async fn download(&self, name: &str) -> reqwest::Result<BodyReader> {
        let url = format!("{}/files/{name}", self.base);
        let response = self.http.get(url).send().await?.error_for_status()?;
        let chunks = response.bytes_stream().map_err(io::Error::other);
        Ok(StreamReader::new(Box::pin(chunks) as BoxStream<'static, _>))
    }

    /// `GET /items?page={page}`: one page of the listing.
    pub(crate) async fn page(&self, page: u64) -> reqwest::Result<Value> {
        self.json(format!("{}/items?page={page}", self.base)).await
    }

    /// `GET url`, parsed as JSON.
    async fn json(&self, url: String) -> reqwest::Result<Value> {
        self.http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
}

impl Api {
    /// A client for the server at `base` (`http://127.0.0.1:port`).
    pub(crate) fn new(base: String) -> Self {
        Api {
            http: reqwest::Client::new(),
            base,
        }
    }

    /// Every item of every page, each page fetched only when the consumer gets to it. Items
    /// come as `reqwest::Result<Value>`: a failed page ends the listing with its error.
    #[anysync::iterator(item = Value)]
    pub(crate) async fn items(&self) -> reqwest::Result<()> {
        let mut page = Some(0);
        while let Some(number) = page {
            let body = self.page(number).await?;
            for item in body["items"].as_array().into_iter().flatten() {
                yield_!(item.clone());
            }
            page = body["next"].as_u64();
        }
        Ok(())
    }
}

/// The upstream service: users, files and a paginated listing of 3 pages.
fn upstream() -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move {
                Json(json!({ "id": id, "name": format!("user {id}"), "roles": ["reader"] }))
            }),
        )
        .route(
            "/files/{name}",
            // Chunked: no length is known up front, each line goes out as it is made.
            get(|Path(name): Path<String>| async move {
                let lines =
                    (0..100).map(move |i| Ok::<_, Infallible>(format!("{name} line {i}\n")));
                Body::from_stream(futures::stream::iter(lines))
            }),
        )
        .route(
            "/items",
            get(|Query(query): Query<HashMap<String, u64>>| async move {
                let page = query.get("page").copied().unwrap_or(0);
                let items: Vec<Value> = (0..4).map(|i| json!({ "n": page * 4 + i })).collect();
                let next = (page < 2).then_some(page + 1);
                Json(json!({ "items": items, "next": next }))
            }),
        )
}

/// A gateway whose async handler uses the same client with `.await`.
fn gateway(api: Arc<Api>) -> Router {
    Router::new()
        .route(
            "/summary/{id}",
            get(
                |State(api): State<Arc<Api>>, Path(id): Path<u32>| async move {
                    let user = api.user(id).await.map_err(|e| e.to_string())?;
                    let mut items = api.items();
                    let mut total = 0;
                    while let Some(item) = items.next().await {
                        total += item.map_err(|e| e.to_string())?["n"].as_u64().unwrap_or(0);
                    }
                    let mut file = api.download("notes").await.map_err(|e| e.to_string())?;
                    let bytes = tokio::io::copy(&mut file, &mut tokio::io::sink())
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>(Json(
                        json!({ "name": user["name"], "total": total, "bytes": bytes }),
                    ))
                },
            ),
        )
        .with_state(api)
}

/// Serves `app` on 127.0.0.1 from anysync's global runtime; returns its base URL.
pub(crate) fn serve(app: Router) -> String {
    let listener = anysync::run(TcpListener::bind("127.0.0.1:0")).expect("bind 127.0.0.1");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    let global = anysync::run(async { tokio::runtime::Handle::current() });
    global.spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

/// The two servers: the upstream service, and a gateway using `Api` from async code.
pub(crate) fn start() -> (String, String) {
    let upstream = serve(upstream());
    let gateway = serve(gateway(Arc::new(Api::new(upstream.clone()))));
    (upstream, gateway)
}

/// The blocking command-line client.
pub(crate) fn cli(
    upstream: &str,
    gateway: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let api = Api::new(upstream.to_owned());
    let mut out = Vec::new();

    // A JSON call.
    let user = api.user(1).run()?;
    out.push(format!("user: {}", user["name"]));

    // A streamed download, copied chunk by chunk with std's `io::copy`.
    let mut body = SyncIo::new(api.download("notes").run()?);
    let mut file = Vec::new();
    let bytes = std::io::copy(&mut body, &mut file)?;
    out.push(format!(
        "downloaded: {bytes} bytes, last line {:?}",
        last_line(&file)
    ));

    // A paginated listing: pages are fetched as the loop gets to them.
    let mut total = 0;
    for item in api.items() {
        total += item?["n"].as_u64().unwrap_or(0);
    }
    out.push(format!("items: total {total}"));

    // The gateway's async handler did the same three calls with `.await`.
    let summary: Value = reqwest_json(&api.http, &format!("{gateway}/summary/1"))?;
    out.push(format!("gateway: {summary}"));
    Ok(out)
}

/// One more reqwest call, made by hand with `anysync::run` (no coroutine needed).
fn reqwest_json(http: &reqwest::Client, url: &str) -> reqwest::Result<Value> {
    let request = http.get(url);
    anysync::run(async move { request.send().await?.error_for_status()?.json().await })
}

fn last_line(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    text.lines().last().unwrap_or_default().to_owned()
}

#[allow(dead_code)] // tests/http.rs includes this file and calls `cli` itself
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (upstream, gateway) = start();
    for line in cli(&upstream, &gateway)? {
        println!("{line}");
    }
    Ok(())
}
