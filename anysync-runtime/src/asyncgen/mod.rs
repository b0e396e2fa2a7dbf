//! Async generators: the `yield_!` machinery, [`Iter`], [`Generator`] and [`Prefetch`].

pub(crate) mod core;
pub(crate) mod generator;
pub(crate) mod iter;
pub(crate) mod prefetch;
