//! Items that generated code names as `::anysync::__private::...`. Not public API.

pub use ::anysync_runtime::__private::*;
pub use ::anysync_runtime::{Coroutine, Local};
pub use ::core::future::Future;
pub use ::core::marker::Send;

/// Names a lifetime in the bounds of a returned `impl Trait`, so that edition 2021 lets the
/// hidden type capture it as edition 2024 (and an `async fn`) does. Implemented for every type.
pub trait Captures<'a> {}

impl<T: ?Sized> Captures<'_> for T {}

/// The value of the `break` that makes a misplaced `yield_!` a compile error (see the macro
/// crate's `yields` module). Only ever in an `if false` branch: never called.
#[inline(always)]
pub fn unreachable<T>() -> T {
    ::core::unreachable!("anysync: the `yield_!` backstop ran")
}

/// The output of a function type, so that `!` can be named on stable Rust.
pub trait FnOutput {
    /// What the function returns.
    type Output;
}

impl<T> FnOutput for fn() -> T {
    type Output = T;
}

/// `!`, which stable Rust accepts as a function's return type but not as `Output = !` or in a
/// `let`: the attributes write this for an `async fn f() -> !`.
pub type Never = <fn() -> ! as FnOutput>::Output;

pub use ::core::pin::Pin;
pub use ::std::boxed::Box;

/// Boxes the future of a method of an `#[anysync::coroutine(dyn)]` trait.
#[inline]
pub fn boxed<'a, F>(future: F) -> Pin<Box<dyn Future<Output = F::Output> + Send + 'a>>
where
    F: Future + Send + 'a,
{
    Box::pin(future)
}

/// Boxes the future of a method of an `#[anysync::coroutine(dyn, ?Send)]` trait.
#[inline]
pub fn boxed_local<'a, F>(future: F) -> Pin<Box<dyn Future<Output = F::Output> + 'a>>
where
    F: Future + 'a,
{
    Box::pin(future)
}
