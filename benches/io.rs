//! Throughput of `anysync::io`, against what users reach for today, in the same process.
//!
//! - `SyncIo` reading 64 MiB from a `tokio::io::duplex` on a plain thread, against tokio-util's
//!   `SyncIoBridge::new_with_handle` (the bridge works there when given a handle). Target:
//!   throughput at least 0.95× the anchor's, so time at most 1/0.95 = 1.053×.
//! - `AsyncIo` reading a 64 MiB file in a tokio task, against `tokio::fs::File` (which also
//!   runs each blocking read on the runtime's blocking pool). Target: throughput at least 0.9×,
//!   so time at most 1/0.9 = 1.111×.
//!
//! In both, the same runtime feeds the two sides, the buffers are the same size, and each round
//! alternates ours and the anchor (harness: median of per-round ratios, p25–p75 spread).
//!
//! ```text
//! taskset -c 0 cargo bench --bench io              # the figures in BENCHMARKS.md
//! taskset -c 0 cargo bench --bench io -- --quick   # smoke run
//! ANYSYNC_BENCH_ROUNDS=31 cargo bench --bench io   # more rounds (default 21, quick 7)
//! ```

use std::hint::black_box;
use std::io::Read;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

mod harness;

use harness::{Bench, Target, side};

/// Bytes per transfer.
const TOTAL: usize = 64 * 1024 * 1024;
/// The read buffer and the duplex capacity.
const CHUNK: usize = 64 * 1024;

/// Starts a task of `rt` that writes `TOTAL` bytes into a fresh duplex; returns the read end.
fn feed(rt: &Runtime) -> tokio::io::DuplexStream {
    let (mut tx, rx) = tokio::io::duplex(CHUNK);
    rt.spawn(async move {
        static CHUNK_BYTES: [u8; CHUNK] = [7; CHUNK];
        for _ in 0..TOTAL / CHUNK {
            tx.write_all(&CHUNK_BYTES).await.unwrap();
        }
    });
    rx
}

/// Reads `reader` to its end with a `CHUNK` buffer; returns the bytes read.
fn drain(mut reader: impl Read) -> usize {
    let mut buf = vec![0; CHUNK];
    let mut total = 0;
    loop {
        match reader.read(&mut buf).unwrap() {
            0 => return total,
            n => total += black_box(n),
        }
    }
}

async fn drain_async(mut reader: impl AsyncRead + Unpin) -> usize {
    let mut buf = vec![0; CHUNK];
    let mut total = 0;
    loop {
        match reader.read(&mut buf).await.unwrap() {
            0 => return total,
            n => total += black_box(n),
        }
    }
}

fn main() {
    let mut b = Bench::from_args(21);
    eprintln!(
        "{} rounds{}; pin with `taskset -c 0` for stable figures",
        b.rounds,
        if b.quick { " (quick)" } else { "" }
    );
    let rt = harness::driven_runtime();

    // --- SyncIo ------------------------------------------------------------------------------
    b.paired(
        "anysync::io",
        "SyncIo: 64 MiB from tokio::io::duplex on a plain thread",
        Target::AtMost(1.053), // throughput ≥ 0.95×
        side("SyncIo::new(duplex)", 1, |iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let rx = feed(&rt);
                assert_eq!(drain(anysync::io::SyncIo::new(rx)), TOTAL);
                elapsed += start.elapsed();
            }
            elapsed
        }),
        side("SyncIoBridge::new_with_handle(duplex, h)", 1, |iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let rx = feed(&rt);
                let bridge = tokio_util::io::SyncIoBridge::new_with_handle(rx, rt.handle().clone());
                assert_eq!(drain(bridge), TOTAL);
                elapsed += start.elapsed();
            }
            elapsed
        }),
    );

    // --- AsyncIo -----------------------------------------------------------------------------
    let path = std::env::temp_dir().join(format!("anysync-bench-io-{}", std::process::id()));
    std::fs::write(&path, vec![7_u8; TOTAL]).unwrap();
    let file_path = path.clone();
    b.paired(
        "anysync::io",
        "AsyncIo: a 64 MiB file into a tokio task",
        Target::AtMost(1.111), // throughput ≥ 0.9×
        side("AsyncIo::new(std::fs::File)", 1, |iters| {
            let path = file_path.clone();
            rt.block_on(async move {
                tokio::spawn(async move {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let file = std::fs::File::open(&path).unwrap();
                        assert_eq!(drain_async(anysync::io::AsyncIo::new(file)).await, TOTAL);
                        elapsed += start.elapsed();
                    }
                    elapsed
                })
                .await
                .unwrap()
            })
        }),
        side("tokio::fs::File", 1, |iters| {
            let path = file_path.clone();
            rt.block_on(async move {
                tokio::spawn(async move {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let file = tokio::fs::File::open(&path).await.unwrap();
                        assert_eq!(drain_async(file).await, TOTAL);
                        elapsed += start.elapsed();
                    }
                    elapsed
                })
                .await
                .unwrap()
            })
        }),
    );
    std::fs::remove_file(&path).unwrap();

    b.report();
}
