//! A synchronous producer feeding an asynchronous consumer, and the answers coming back.
//!
//! The story: an old, blocking part of a program (here a plain thread reading log lines)
//! hands each line to the async part of the program and waits for the verdict. The async
//! consumer offloads the CPU-heavy step to a worker thread with `anysync::unblock`, and that
//! blocking step calls back into async code (a shared, async-locked cache) with `.run()`,
//! which runs on the consumer's own runtime. Only anysync and tokio's channels are used: the
//! sync side blocks on them with `.run()`, the async side awaits them.
//!
//! ```text
//! cargo run --example bridge
//! ```

use anysync::RunExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use tokio::sync::{Mutex, mpsc, oneshot};

/// What the sync side asks: a line, and where to send the verdict.
struct Request {
    line: String,
    reply: oneshot::Sender<Verdict>,
}

#[derive(Debug)]
struct Verdict {
    checksum: u64,
    seen_before: bool,
    worker: String,
}

const LOG: &str = "\
GET /index.html 200
GET /missing 404
POST /login 302
GET /index.html 200
GET /admin 403";

fn thread_name() -> String {
    thread::current().name().unwrap_or("unnamed").to_owned()
}

/// The CPU-heavy, blocking step (stands in for parsing, hashing, compression...).
fn checksum(line: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for _ in 0..10_000 {
        for byte in line.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Async code the blocking step needs: a cache behind an async mutex.
async fn remember(cache: &Mutex<HashMap<u64, usize>>, checksum: u64) -> bool {
    let mut cache = cache.lock().await;
    let count = cache.entry(checksum).or_default();
    *count += 1;
    *count > 1
}

/// The async consumer: takes requests until the producer hangs up.
async fn consume(mut requests: mpsc::Receiver<Request>) -> usize {
    let cache = Arc::new(Mutex::new(HashMap::new()));
    let mut handled = 0;
    while let Some(Request { line, reply }) = requests.recv().await {
        let cache = Arc::clone(&cache);
        let verdict = anysync::unblock(move || {
            // A worker thread: block as much as we like here.
            let checksum = checksum(&line);
            // Syncify: back into async code, on the consumer's runtime.
            let seen_before = remember(&cache, checksum).run();
            Verdict {
                checksum,
                seen_before,
                worker: thread_name(),
            }
        })
        .await;
        // The producer may have stopped waiting; that is fine.
        let _ = reply.send(verdict);
        handled += 1;
    }
    handled
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("consumer-runtime")
        .enable_all()
        .build()
        .expect("runtime");

    // Bounded: if the consumer falls behind, the producer's `send(..).run()` waits.
    let (requests, incoming) = mpsc::channel::<Request>(2);
    let consumer = rt.spawn(consume(incoming));

    let producer = thread::Builder::new()
        .name("sync-producer".into())
        .spawn(move || {
            for line in LOG.lines() {
                let (reply, verdict) = oneshot::channel();
                let request = Request {
                    line: line.to_owned(),
                    reply,
                };
                // Blocking code, blocking on async channels.
                if requests.send(request).run().is_err() {
                    break;
                }
                let verdict = verdict.run().expect("the consumer answers every request");
                println!(
                    "[{}] {line:<22} -> checksum {:016x}{} (worked on {})",
                    thread_name(),
                    verdict.checksum,
                    if verdict.seen_before {
                        ", seen before"
                    } else {
                        ""
                    },
                    verdict.worker,
                );
            }
            // Dropping `requests` tells the consumer there is no more work.
        })
        .expect("producer thread");

    producer.join().expect("producer");
    let handled = rt.block_on(consumer).expect("consumer");
    println!("consumer handled {handled} requests and stopped when the producer hung up");
}
