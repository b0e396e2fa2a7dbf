//! Framing, shaped like tokio-util's codec: `Framed<T, C>` generic over the transport and the
//! codec, with methods whose where-clauses pick the codec's traits and whose types are the
//! codec's associated types (`C::Item`, `<C as Encoder<I>>::Error`); length-prefixed frames
//! over any `?Sized` reader or writer; const-generic buffers.

use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Splits bytes into frames.
pub trait Decoder {
    /// A frame.
    type Item;
    /// What can go wrong.
    type Error: From<io::Error>;

    /// Takes one frame off the front of `src`, if it holds a whole one.
    fn decode(&mut self, src: &mut Vec<u8>) -> Result<Option<Self::Item>, Self::Error>;
}

/// Turns an `Item` into bytes.
pub trait Encoder<Item> {
    /// What can go wrong.
    type Error: From<io::Error>;

    /// Appends `item` to `dst`.
    fn encode(&mut self, item: Item, dst: &mut Vec<u8>) -> Result<(), Self::Error>;
}

/// Newline-terminated UTF-8 lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinesCodec;

impl Decoder for LinesCodec {
    type Item = String;
    type Error = io::Error;

    fn decode(&mut self, src: &mut Vec<u8>) -> io::Result<Option<String>> {
        let Some(end) = src.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let line: Vec<u8> = src.drain(..=end).collect();
        String::from_utf8(line[..end].to_vec())
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

impl<T: AsRef<str>> Encoder<T> for LinesCodec {
    type Error = io::Error;

    fn encode(&mut self, item: T, dst: &mut Vec<u8>) -> io::Result<()> {
        dst.extend_from_slice(item.as_ref().as_bytes());
        dst.push(b'\n');
        Ok(())
    }
}

/// A transport with a codec on it.
#[derive(Debug)]
pub struct Framed<T, C> {
    io: T,
    codec: C,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
}

impl<T, C> Framed<T, C> {
    /// Frames `io` with `codec`.
    pub fn new(io: T, codec: C) -> Self {
        Framed {
            io,
            codec,
            read_buf: Vec::new(),
            write_buf: Vec::new(),
        }
    }

    /// The transport.
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

#[anysync::coroutine]
impl<T: AsyncRead + AsyncWrite + Unpin, C> Framed<T, C> {
    /// Reads until the codec yields a frame; `None` at the end of the stream.
    pub async fn next_frame(&mut self) -> Option<Result<C::Item, C::Error>>
    where
        C: Decoder,
    {
        loop {
            match self.codec.decode(&mut self.read_buf) {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            let mut chunk = [0; 256];
            match self.io.read(&mut chunk).await {
                Ok(0) => return None,
                Ok(n) => self.read_buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    /// Encodes `item` and writes it out.
    pub async fn send<I>(&mut self, item: I) -> Result<(), <C as Encoder<I>>::Error>
    where
        C: Encoder<I>,
    {
        self.codec.encode(item, &mut self.write_buf)?;
        self.flush().await?;
        Ok(())
    }

    /// Writes out what is buffered.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.io.write_all(&self.write_buf).await?;
        self.write_buf.clear();
        self.io.flush().await
    }

    /// Reads exactly `N` bytes, bypassing the codec (buffered bytes first).
    pub async fn read_exact<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut out = [0; N];
        let buffered = self.read_buf.len().min(N);
        out[..buffered].copy_from_slice(&self.read_buf[..buffered]);
        self.read_buf.drain(..buffered);
        self.io.read_exact(&mut out[buffered..]).await?;
        Ok(out)
    }
}

/// Reads one frame: a big-endian `u16` length, then that many bytes.
#[anysync::coroutine]
pub async fn read_frame<R>(reader: &mut R) -> io::Result<Vec<u8>>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let len = reader.read_u16().await?;
    let mut frame = vec![0; usize::from(len)];
    reader.read_exact(&mut frame).await?;
    Ok(frame)
}

/// Writes one frame (see [`read_frame`]).
#[anysync::coroutine]
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(
    writer: &mut W,
    frame: &[u8],
) -> io::Result<()> {
    let len = u16::try_from(frame.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    writer.write_u16(len).await?;
    writer.write_all(frame).await?;
    writer.flush().await
}

/// A buffer of at most `N` bytes.
#[derive(Clone, Debug)]
pub struct FixedBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Default for FixedBuf<N> {
    fn default() -> Self {
        FixedBuf {
            buf: [0; N],
            len: 0,
        }
    }
}

impl<const N: usize> FixedBuf<N> {
    /// The bytes held.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[anysync::coroutine]
impl<const N: usize> FixedBuf<N> {
    /// Reads until the buffer is full or `reader` ends; returns the bytes read.
    pub async fn fill_from<R: AsyncRead + Unpin>(&mut self, reader: &mut R) -> io::Result<usize> {
        let start = self.len;
        while self.len < N {
            match reader.read(&mut self.buf[self.len..]).await? {
                0 => break,
                n => self.len += n,
            }
        }
        Ok(self.len - start)
    }

    /// Sends the bytes held on `tx` as one message and empties the buffer; returns how many.
    pub async fn drain_into(&mut self, tx: &mpsc::Sender<Vec<u8>>) -> Result<usize, io::Error> {
        let bytes = self.as_slice().to_vec();
        tx.send(bytes)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(std::mem::replace(&mut self.len, 0))
    }
}
