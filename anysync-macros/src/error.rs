//! Error helpers around `syn::Error`.

use proc_macro2::TokenStream;
use quote::ToTokens;

/// `syn::Error::new_spanned(node, format!(...))`.
macro_rules! format_err {
    ($node:expr, $($msg:tt)+) => {
        ::syn::Error::new_spanned(&$node, format!($($msg)+))
    };
}

/// Returns `Err(format_err!(...))` from the enclosing function.
macro_rules! bail {
    ($($tt:tt)+) => {
        return Err(format_err!($($tt)+))
    };
}

pub(crate) use {bail, format_err};

/// Independent problems, collected and reported together (serde's `Ctxt`).
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn into_result(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }

    pub(crate) fn into_option(self) -> Option<syn::Error> {
        self.0
    }
}

/// The user's item unchanged, followed by the error (tokio-macros): the rest of the crate
/// still sees the item, so IDE completion works and no secondary errors cascade from it.
pub(crate) fn with_item(item: TokenStream, err: &syn::Error) -> TokenStream {
    let mut tokens = item;
    err.to_compile_error().to_tokens(&mut tokens);
    tokens
}
