//! `#[tracing::instrument]` on a function the attributes convert.
//!
//! `#[instrument]` instruments the *future* of an `async fn`, and of a plain `fn` whose body
//! ends in an `async move` block (its async-trait support); on any other function it
//! instruments only the call. Written below `#[anysync::coroutine]` (or on a method of an
//! impl-level one) it would see our plain `fn` returning a `Coroutine`, and time only the
//! construction. So the converted body goes into a hidden function of that second shape,
//! which carries the user's `#[instrument]`, and the converted function calls it:
//
// Input:
//     #[tracing::instrument(skip(self), err)]
//     async fn get(&self, key: &str) -> Result<String, Error> { body }
// Output:
//     fn get<'a, 'b>(&'a self, key: &'b str) -> Coroutine<impl Future<..> + ..> {
//         Coroutine::new(Self::__anysync_get(self, key))
//     }
//     #[tracing::instrument(skip(self), err, name = "get")]
//     fn __anysync_get<'a, 'b>(&'a self, key: &'b str) -> impl Future<Output = ..> + .. {
//         async move { let _ = &self; let key = key; body }
//     }
//
// The span then has the name and fields the plain `async fn` would give it (parameters are
// the user's, by name), is entered on every poll of the body wherever it runs, and `err` and
// `ret` see the body's output. What differs: a parameter written as a pattern reaches the
// hidden function under a hidden name, so it is skipped rather than recorded (name its
// parts with `fields(..)`), and an iterator's yielder is skipped too.

use crate::args::{Args, Kind};
use crate::expand::Owner;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{Attribute, FnArg, Ident, Meta, Pat, Signature};

/// Removes the `#[instrument]` attributes (any path ending in `instrument`) and returns them,
/// or `None` if there were none.
pub(crate) fn take(attrs: &mut Vec<Attribute>) -> Option<Vec<Attribute>> {
    let is_instrument = |attr: &Attribute| {
        attr.path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "instrument")
    };
    let (taken, kept): (Vec<_>, Vec<_>) = attrs.drain(..).partition(is_instrument);
    *attrs = kept;
    (!taken.is_empty()).then_some(taken)
}

/// Where the hidden function goes.
#[derive(Clone, Copy)]
pub(crate) enum Place {
    /// Inside the converted function's body: it needs nothing from an impl block.
    Nested,
    /// Beside the converted function, in its impl block: it takes `self` or names `Self`.
    Beside,
}

/// The hidden function that carries `#[instrument]`.
pub(crate) struct Hidden {
    ident: Ident,
    place: Place,
    /// The yielder parameter (iterators, generators, contexts) and its type.
    yielder: Option<(Ident, TokenStream)>,
    /// Parameters the span must not record: hidden names, not the user's.
    skip: Vec<Ident>,
}

impl Hidden {
    /// For the converted `sig` (plain parameter names already given, see `move_arguments`).
    pub(crate) fn new(args: &Args, sig: &Signature, yielder: &Ident, owner: Owner) -> Self {
        let beside = matches!(owner, Owner::Impl { .. })
            || sig.receiver().is_some()
            || crate::expand::mentions_self(sig.to_token_stream());
        let mut skip: Vec<Ident> = sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(arg) => match &*arg.pat {
                    Pat::Ident(pat) if pat.ident.to_string().starts_with("__arg") => {
                        Some(pat.ident.clone())
                    }
                    _ => None,
                },
                FnArg::Receiver(_) => None,
            })
            .collect();
        let yielder = args.kind.yields().then(|| {
            let krate = &args.krate;
            let item = &args.item;
            let ty = match args.kind {
                Kind::Generator => {
                    let send = args.send.clone().unwrap_or_else(|| syn::parse_quote!(()));
                    quote!(#krate::__private::Yielder<#item, #send>)
                }
                Kind::Context => {
                    quote!(#krate::__private::Yielder<#item, #krate::__private::Handback<#item>>)
                }
                _ => quote!(#krate::__private::Yielder<#item>),
            };
            skip.push(yielder.clone());
            (yielder.clone(), ty)
        });
        let name = sig.ident.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name);
        Hidden {
            ident: format_ident!("__anysync_{}", name, span = sig.ident.span()),
            place: if beside { Place::Beside } else { Place::Nested },
            yielder,
            skip,
        }
    }

    /// The call that makes the body's future: `Self::__anysync_get::<T>(self, key)`.
    pub(crate) fn call(&self, sig: &Signature, span: Span) -> TokenStream {
        let ident = &self.ident;
        let path = match self.place {
            Place::Nested => quote!(#ident),
            Place::Beside => quote_spanned!(span=> Self::#ident),
        };
        // Type and const parameters may not be inferable from the arguments (a generic
        // return type); lifetimes may be late-bound, so they are left to inference.
        let explicit: Vec<TokenStream> = sig
            .generics
            .params
            .iter()
            .filter_map(|param| match param {
                syn::GenericParam::Type(param) => Some(param.ident.to_token_stream()),
                syn::GenericParam::Const(param) => Some(param.ident.to_token_stream()),
                syn::GenericParam::Lifetime(_) => None,
            })
            .collect();
        let turbofish = (!explicit.is_empty()).then(|| quote!(::<#(#explicit),*>));
        let arguments = sig.inputs.iter().filter_map(|input| match input {
            FnArg::Receiver(receiver) => Some(receiver.self_token.to_token_stream()),
            FnArg::Typed(arg) => match &*arg.pat {
                Pat::Ident(pat) => Some(pat.ident.to_token_stream()),
                _ => None,
            },
        });
        let yielder = self.yielder.as_ref().map(|(ident, _)| ident);
        let call = quote_spanned!(span=> #path #turbofish(#(#arguments,)* #yielder));
        if matches!(sig.safety, syn::Safety::Unsafe(_)) {
            // SAFETY of the call is the caller's: the converted function is `unsafe` too.
            quote_spanned!(span=> #[allow(unused_unsafe)] unsafe { #call })
        } else {
            call
        }
    }

    /// The hidden function, with `future` (an `async move` block) as its body, and where it
    /// goes.
    pub(crate) fn item(
        &self,
        instrument: Vec<Attribute>,
        sig: &Signature,
        future_type: &TokenStream,
        future: &TokenStream,
    ) -> (TokenStream, Place) {
        let name = sig.ident.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
        let instrument = instrument
            .iter()
            .map(|attr| with_defaults(attr, &name, &self.skip));
        let Hidden { ident, yielder, .. } = self;
        let unsafety = &sig.safety;
        let (params, where_clause) = (&sig.generics.params, &sig.generics.where_clause);
        let inputs = &sig.inputs;
        let comma = (!inputs.empty_or_trailing() && yielder.is_some()).then(|| quote!(,));
        let yielder = yielder.as_ref().map(|(ident, ty)| quote!(mut #ident: #ty));
        let item = quote! {
            #(#instrument)*
            #[allow(clippy::too_many_arguments)]
            #unsafety fn #ident<#params>(#inputs #comma #yielder) -> #future_type #where_clause {
                #future
            }
        };
        (item, self.place)
    }
}

/// `attr` with `name = "<the user's function>"` unless it names the span itself, and the
/// hidden parameters in its `skip(..)` unless it has `skip_all`.
fn with_defaults(attr: &Attribute, name: &str, skip: &[Ident]) -> Attribute {
    let list = match &attr.meta {
        Meta::Path(_) => TokenStream::new(),
        Meta::List(list) => list.tokens.clone(),
        // Not a form `#[instrument]` accepts: leave it for tracing to report.
        Meta::NameValue(_) => return attr.clone(),
    };
    let mut arguments = split_arguments(list);
    let starts_with = |argument: &TokenStream, word: &str| matches!(argument.clone().into_iter().next(), Some(TokenTree::Ident(ident)) if ident == word);
    if !arguments
        .iter()
        .any(|argument| starts_with(argument, "name"))
    {
        arguments.push(quote!(name = #name));
    }
    if !skip.is_empty()
        && !arguments
            .iter()
            .any(|argument| starts_with(argument, "skip_all"))
    {
        match arguments
            .iter_mut()
            .find(|argument| starts_with(argument, "skip"))
        {
            Some(argument) => *argument = extend_skip(argument, skip),
            None => arguments.push(quote!(skip(#(#skip),*))),
        }
    }
    let path = attr.path();
    let mut attr = attr.clone();
    attr.meta = syn::parse_quote!(#path(#(#arguments),*));
    attr
}

/// Top-level comma-separated arguments.
fn split_arguments(tokens: TokenStream) -> Vec<TokenStream> {
    let mut arguments = vec![TokenStream::new()];
    for tt in tokens {
        match &tt {
            TokenTree::Punct(punct) if punct.as_char() == ',' => {
                arguments.push(TokenStream::new());
            }
            _ => arguments
                .last_mut()
                .unwrap_or_else(|| unreachable!("never empty"))
                .extend([tt]),
        }
    }
    arguments.retain(|argument| !argument.is_empty());
    arguments
}

/// `skip(a, b)` with `extra` appended inside the parentheses.
fn extend_skip(argument: &TokenStream, extra: &[Ident]) -> TokenStream {
    argument
        .clone()
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(group) => {
                let inner = group.stream();
                let comma = (!inner.is_empty()).then(|| quote!(,));
                let mut extended =
                    proc_macro2::Group::new(group.delimiter(), quote!(#inner #comma #(#extra),*));
                extended.set_span(group.span());
                TokenTree::Group(extended)
            }
            other => other,
        })
        .collect()
}
