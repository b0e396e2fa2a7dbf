//! Async generators: the `yield_!` machinery, [`Iter`], [`Generator`] and [`Prefetch`], and
//! [`iter`](stream::iter), which makes any `Stream` an [`Iter`].

pub(crate) mod core;
pub(crate) mod generator;
pub(crate) mod iter;
pub(crate) mod prefetch;
pub(crate) mod stream;
