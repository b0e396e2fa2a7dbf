//! Filesystem functions, shaped like tokio 1.54's `tokio::fs`: free functions taking
//! `impl AsRef<Path>` (and `impl AsRef<[u8]>`), and a `File` whose methods take `&self` or
//! `&mut self`. As in tokio, the blocking call runs on the runtime's blocking pool.

use std::fs::Metadata;
use std::future::Future;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs `f` on the blocking pool of the runtime that polls the future (tokio's `asyncify`).
#[allow(
    clippy::manual_async_fn,
    reason = "a private helper, not part of the corpus: the corpus is the public async API"
)]
fn asyncify<F, T>(f: F) -> impl Future<Output = io::Result<T>> + Send
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    async move {
        match tokio::task::spawn_blocking(f).await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

/// The absolute, symlink-free form of `path`.
#[anysync::coroutine]
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::canonicalize(path)).await
}

/// The whole contents of a file.
#[anysync::coroutine]
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read(path)).await
}

/// The whole contents of a UTF-8 file.
#[anysync::coroutine]
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_to_string(path)).await
}

/// Creates or truncates a file and writes `contents` to it.
#[anysync::coroutine]
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_owned();
    asyncify(move || std::fs::write(path, contents)).await
}

/// Copies a file; returns the number of bytes copied.
#[anysync::coroutine]
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    asyncify(move || std::fs::copy(from, to)).await
}

/// Creates a directory and its missing parents.
#[anysync::coroutine]
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir_all(path)).await
}

/// Removes a file.
#[anysync::coroutine]
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_file(path)).await
}

/// The metadata of a path.
#[anysync::coroutine]
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::metadata(path)).await
}

/// Whether a path exists (an error if that cannot be told).
#[anysync::coroutine]
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    let path = path.as_ref().to_owned();
    asyncify(move || path.try_exists()).await
}

/// The entries of a directory, sorted (tokio's `read_dir` returns them as a stream).
#[anysync::coroutine]
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
    let path = path.as_ref().to_owned();
    asyncify(move || {
        let mut entries = std::fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()?;
        entries.sort();
        Ok(entries)
    })
    .await
}

/// An open file.
#[derive(Debug)]
pub struct File {
    std: Arc<std::fs::File>,
}

impl File {
    fn clone_std(&self) -> Arc<std::fs::File> {
        Arc::clone(&self.std)
    }
}

#[anysync::coroutine]
impl File {
    /// Opens a file for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let std = asyncify(move || std::fs::File::open(path)).await?;
        Ok(File { std: Arc::new(std) })
    }

    /// Creates (or truncates) a file for writing.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let std = asyncify(move || std::fs::File::create(path)).await?;
        Ok(File { std: Arc::new(std) })
    }

    /// Reads to the end of the file, appending to `buf`; returns the number of bytes read.
    pub async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let std = self.clone_std();
        let bytes = asyncify(move || {
            let mut bytes = Vec::new();
            (&*std).read_to_end(&mut bytes)?;
            Ok(bytes)
        })
        .await?;
        buf.extend_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// Writes all of `src`.
    pub async fn write_all(&mut self, src: &[u8]) -> io::Result<()> {
        let (std, src) = (self.clone_std(), src.to_owned());
        asyncify(move || (&*std).write_all(&src)).await
    }

    /// Flushes data and metadata to the disk.
    pub async fn sync_all(&self) -> io::Result<()> {
        let std = self.clone_std();
        asyncify(move || std.sync_all()).await
    }

    /// Truncates or extends the file to `size` bytes.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        let std = self.clone_std();
        asyncify(move || std.set_len(size)).await
    }

    /// The file's metadata.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let std = self.clone_std();
        asyncify(move || std.metadata()).await
    }
}
