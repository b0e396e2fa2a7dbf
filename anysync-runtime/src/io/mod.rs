//! Bridges between async IO and `std::io`, for IO objects you already hold.
//!
//! - [`SyncIo`]: an async reader or writer (a `tokio::net::TcpStream`, a `tokio::fs::File`,
//!   an HTTP body turned into an [`AsyncRead`](tokio::io::AsyncRead)) as `std::io::Read`,
//!   `BufRead`, `Write` and `Seek`, for sync code such as `serde_json::from_reader`, `csv`,
//!   `tar` or `std::io::copy`. Every call works in every calling context, as `.run()` does.
//! - [`AsyncIo`]: a blocking `std::io` reader or writer (a `std::fs::File`, a child process's
//!   pipe, a sync decompressor) as tokio's `AsyncRead`, `AsyncWrite` and `AsyncSeek`, each
//!   operation run on a worker thread so the runtime is never blocked (smol's
//!   `blocking::Unblock`).
//!
//! These are adapters between the two worlds, not sync twins of async functions.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! // Blocking code writes to and reads from async IO...
//! let (a, b) = tokio::io::duplex(64);
//! let mut writer = anysync::io::SyncIo::new(a);
//! writer.write_all(b"ping")?;
//! writer.shutdown()?;
//! let mut text = String::new();
//! anysync::io::SyncIo::new(b).read_to_string(&mut text)?;
//! assert_eq!(text, "ping");
//! # std::io::Result::Ok(())
//! ```

mod async_io;
mod sync_io;

pub use async_io::AsyncIo;
pub use sync_io::SyncIo;
