//! Polling `AsyncBufRead::poll_fill_buf` until it is ready, as a future whose output borrows
//! the reader for the whole loan: what `SyncIo`'s `BufRead::fill_buf` blocks on.
//!
//! Safe code cannot write this future: each poll reborrows the reader for that poll only, so
//! the slice a ready poll returns lives no longer than the poll, and returning it with the
//! reader's full lifetime `'a` is refused (rustc's "conditional return of a borrow", which
//! Polonius accepts). tokio's `AsyncBufReadExt::fill_buf` (feature `io-util`, which anysync
//! does not enable) does the same with the same `unsafe` lifetime extension.
//!
//! Tests: `tests/test_io.rs` (`buf_read_*`) and the unit test below, run under Miri with
//! both aliasing models by `.ci/miri`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncBufRead;

/// The future of `reader.poll_fill_buf(..)`, resolved to a slice borrowed for `'a`.
pub(crate) struct FillBuf<'a, R: ?Sized> {
    /// The reader, until the poll that returns its buffer; `None` afterwards.
    reader: Option<&'a mut R>,
}

impl<'a, R: AsyncBufRead + Unpin + ?Sized> FillBuf<'a, R> {
    pub(crate) fn new(reader: &'a mut R) -> Self {
        FillBuf {
            reader: Some(reader),
        }
    }
}

impl<'a, R: AsyncBufRead + Unpin + ?Sized> Future for FillBuf<'a, R> {
    type Output = io::Result<&'a [u8]>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let reader = self
            .reader
            .take()
            .expect("anysync: `FillBuf` polled after it completed");
        match Pin::new(&mut *reader).poll_fill_buf(cx) {
            Poll::Ready(Ok(slice)) => {
                // SAFETY: `slice` borrows from `*reader`, a `&'a mut R` that this future owned
                // and has now given up: `reader` was taken out of `self.reader` above and is
                // dropped at the end of this arm without another use, so no other access to
                // `*reader` can happen for the rest of `'a` except through the returned
                // slice. Extending the slice's lifetime from this reborrow to `'a` therefore
                // creates no aliasing: it is the borrow `reader` held, turned shared. (A
                // shared reborrow of a unique reference stays valid under both Stacked and
                // Tree Borrows as long as the unique one is not used again; Miri checks it.)
                let slice: &'a [u8] = unsafe { std::mem::transmute::<&[u8], &'a [u8]>(slice) };
                Poll::Ready(Ok(slice))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                self.reader = Some(reader);
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FillBuf;
    use std::future::Future;
    use std::io;
    use std::pin::{Pin, pin};
    use std::task::{Context, Poll, Waker};
    use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

    /// Pending on every other poll, then hands out its buffer.
    struct Slow {
        data: Vec<u8>,
        pos: usize,
        ready: bool,
    }

    impl AsyncRead for Slow {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            unreachable!()
        }
    }

    impl AsyncBufRead for Slow {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            let this = self.get_mut();
            this.ready = !this.ready;
            if !this.ready {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(&this.data[this.pos..]))
        }

        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().pos += amt;
        }
    }

    #[test]
    fn the_slice_outlives_the_pending_polls_and_the_reader_is_usable_after() {
        let mut reader = Slow {
            data: b"hello world".to_vec(),
            pos: 0,
            ready: true,
        };
        let mut cx = Context::from_waker(Waker::noop());
        for expected in [&b"hello world"[..], b"world"] {
            let slice: &[u8] = {
                let mut future = pin!(FillBuf::new(&mut reader));
                let mut polls = 0;
                loop {
                    polls += 1;
                    if let Poll::Ready(result) = future.as_mut().poll(&mut cx) {
                        assert_eq!(polls, 2, "one pending poll, then the buffer");
                        break result.unwrap();
                    }
                }
            };
            // The future is gone; the slice it returned is still the reader's buffer.
            assert_eq!(slice, expected);
            Pin::new(&mut reader).consume(6);
        }
    }
}
