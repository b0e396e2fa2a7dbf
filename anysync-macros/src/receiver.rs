//! `self` handling.
//!
//! The body stays inside the method, so `self` and `Self` keep their meaning in the `async`
//! block without any rewriting (unlike async-trait, whose body moves to a free function).
//! What remains is to move `self` into the future even when the body never mentions it:
//! an `async fn` holds all of its arguments until it completes, and so must we.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Receiver;

/// A statement that moves `self` into the `async move` block.
//
// Input:  &mut self
// Output: let _ = &self;
//
// `let _ = &self;` borrows inside the block, so the block captures `self` by value (it is
// `move`) without moving out of it: the body can still use `self` as it likes.
pub(crate) fn capture(receiver: &Receiver) -> TokenStream {
    let self_token = &receiver.self_token;
    quote!(let _ = &#self_token;)
}
