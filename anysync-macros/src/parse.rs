//! The input model, an attribute's arguments plus the item it is on, and its validation.

use crate::args::{self, Args, Kind};
use crate::error::{Errors, bail, format_err};
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, ImplItem, Item, ItemFn, ItemImpl, ItemTrait, Signature, TraitItem};

/// What an attribute was applied to, validated.
pub(crate) struct Model {
    pub(crate) args: Args,
    /// Errors in the arguments. The item is still expanded (with the valid arguments), so
    /// its callers see a coroutine and report nothing more.
    pub(crate) arg_errors: Errors,
    pub(crate) item: Input,
}

pub(crate) enum Input {
    /// `async fn`
    Fn(ItemFn),
    /// `impl Type { ... }` or `impl Trait for Type { ... }`: its `async fn`s are converted,
    /// other items left alone.
    Impl(ItemImpl),
    /// `trait Name { ... }`: its `async fn`s become methods returning a future.
    Trait(ItemTrait),
}

/// Parses and validates. An `Err` means the item cannot be expanded; the caller emits it
/// unchanged next to the error.
pub(crate) fn parse(kind: Kind, args: TokenStream, item: TokenStream) -> syn::Result<Model> {
    let (args, arg_errors) = args::parse_args(kind, args);
    let attr = kind.attr();
    let item = match syn::parse2::<Item>(item)? {
        Item::Fn(item) => {
            validate_sig(kind, &item.sig)?;
            not_dyn(&args)?;
            Input::Fn(item)
        }
        Item::Impl(item) if kind == Kind::Coroutine => {
            validate_impl(&item)?;
            if item.trait_.is_none() {
                not_dyn(&args)?;
            }
            Input::Impl(item)
        }
        Item::Impl(item) => bail!(
            item.impl_token,
            "{attr} goes on each function, not on an `impl` block"
        ),
        Item::Trait(item) if kind == Kind::Coroutine => {
            // Reported after the expansion, which leaves the faulty methods' attributes
            // out: emitting the trait unchanged would have rustc expand them on their own,
            // a second round of errors.
            if let Err(err) = crate::traits::validate(&args, &item) {
                let mut arg_errors = arg_errors;
                arg_errors.push(err);
                return Ok(Model {
                    args,
                    arg_errors,
                    item: Input::Trait(item),
                });
            }
            Input::Trait(item)
        }
        Item::Trait(item) => bail!(
            item.trait_token,
            "{attr} goes on a method inside a trait with `#[anysync::coroutine]`, not on the \
             trait itself"
        ),
        Item::Verbatim(tokens) if bodyless_fn(&tokens).is_some() => {
            return Err(bodyless_error(kind, &tokens));
        }
        other if kind == Kind::Blocking => bail!(
            item_keyword(&other),
            "{attr} can only be applied to a plain (non-async) `fn`"
        ),
        other if kind == Kind::Coroutine => bail!(
            item_keyword(&other),
            "{attr} can only be applied to an `async fn` or an `impl` block"
        ),
        other => bail!(
            item_keyword(&other),
            "{attr} can only be applied to an `async fn`"
        ),
    };
    Ok(Model {
        args,
        arg_errors,
        item,
    })
}

pub(crate) fn validate_sig(kind: Kind, sig: &Signature) -> syn::Result<()> {
    let attr = kind.attr();
    if kind == Kind::Blocking {
        return crate::blocking::validate(sig);
    }
    if sig.asyncness.is_none() {
        bail!(
            sig.fn_token,
            "{attr} requires an `async fn`; write `async fn {}`",
            sig.ident
        );
    }
    if let Some(constness) = &sig.constness {
        bail!(constness, "{attr} cannot be applied to a `const fn`");
    }
    if let Some(variadic) = &sig.variadic {
        bail!(variadic, "{attr} does not support variadic functions");
    }
    Ok(())
}

/// `dyn` makes sense only where there is a trait object: on a trait and its impls.
fn not_dyn(args: &Args) -> syn::Result<()> {
    if let Some(token) = &args.dyn_ {
        bail!(
            token,
            "`dyn` goes on a trait and on its impls (`#[anysync::coroutine(dyn)] trait Name`), \
             where it makes the trait usable as `dyn Name`"
        );
    }
    Ok(())
}

fn validate_impl(item: &ItemImpl) -> syn::Result<()> {
    let mut errors = Errors::default();
    for other in &item.items {
        if let ImplItem::Verbatim(tokens) = other
            && bodyless_fn(tokens).is_some()
        {
            errors.push(bodyless_error(Kind::Coroutine, tokens));
        }
    }
    let mut converted = 0;
    for method in methods(item) {
        if item.trait_.is_some() {
            // Methods of a trait impl are converted by this attribute, also those with
            // their own (see `traits::own_kind`).
            match crate::traits::own_kind(&method.attrs) {
                Ok(Some(_)) => {
                    if let Err(err) = validate_sig(Kind::Coroutine, &method.sig) {
                        errors.push(err);
                    }
                }
                Ok(_) => {}
                Err(err) => errors.push(err),
            }
            converted += 1;
            continue;
        }
        if let Err(err) = validate_sig(Kind::Coroutine, &method.sig) {
            // Non-async methods are left alone on purpose; only report real problems.
            if method.sig.asyncness.is_some() {
                errors.push(err);
            }
        } else {
            converted += 1;
        }
    }
    errors.into_result()?;
    // A trait impl may rely on default bodies alone.
    if converted == 0 && item.trait_.is_none() {
        return Err(format_err!(
            item.impl_token,
            "#[anysync::coroutine] found no `async fn` to convert in this impl block"
        ));
    }
    Ok(())
}

/// The methods the `impl`-level attribute converts (or leaves): those without their own
/// `#[anysync::coroutine(...)]`, which expands them itself with its own arguments, except in
/// a trait impl, where the impl-level attribute expands every method.
pub(crate) fn methods(item: &ItemImpl) -> impl Iterator<Item = &syn::ImplItemFn> {
    let in_trait = item.trait_.is_some();
    item.items.iter().filter_map(move |item| match item {
        ImplItem::Fn(method) if in_trait || !has_own_attribute(&method.attrs) => Some(method),
        _ => None,
    })
}

/// A trait's methods, for validation.
pub(crate) fn trait_methods(item: &ItemTrait) -> impl Iterator<Item = &syn::TraitItemFn> {
    item.items.iter().filter_map(|item| match item {
        TraitItem::Fn(method) => Some(method),
        _ => None,
    })
}

pub(crate) fn has_own_attribute(attrs: &[Attribute]) -> bool {
    const OURS: [Kind; 4] = [
        Kind::Coroutine,
        Kind::Iterator,
        Kind::Generator,
        Kind::Context,
    ];
    attrs.iter().any(|attr| {
        let path = attr.path();
        path.segments
            .last()
            .is_some_and(|segment| OURS.iter().any(|kind| segment.ident == kind.name()))
            && (path.segments.len() == 1 || path.segments[0].ident == "anysync")
    })
}

/// A function declared without a body (`async fn f();`), which syn leaves as verbatim tokens.
fn bodyless_fn(tokens: &TokenStream) -> Option<syn::ForeignItemFn> {
    syn::parse2::<syn::ForeignItemFn>(tokens.clone()).ok()
}

fn bodyless_error(kind: Kind, tokens: &TokenStream) -> syn::Error {
    let attr = kind.attr();
    match bodyless_fn(tokens) {
        Some(decl) if decl.sig.asyncness.is_some() || kind == Kind::Blocking => format_err!(
            decl.semi_token,
            "`{}` has no body: {attr} rewrites a function's body, so it needs one (`{{ ... }}` \
             instead of `;`); a declaration without a body belongs in a trait",
            decl.sig.ident
        ),
        Some(decl) => format_err!(
            decl.sig.fn_token,
            "{attr} requires an `async fn` with a body; write `async fn {} (..) {{ ... }}`",
            decl.sig.ident
        ),
        None => format_err!(
            tokens,
            "{attr} can only be applied to a function with a body"
        ),
    }
}

/// The token to point at when the item is of the wrong kind: its keyword, when it has one.
fn item_keyword(item: &Item) -> TokenStream {
    match item {
        Item::Struct(item) => item.struct_token.into_token_stream(),
        Item::Enum(item) => item.enum_token.into_token_stream(),
        Item::Union(item) => item.union_token.into_token_stream(),
        Item::Const(item) => item.const_token.into_token_stream(),
        Item::Static(item) => item.static_token.into_token_stream(),
        Item::Mod(item) => item.mod_token.into_token_stream(),
        Item::Type(item) => item.type_token.into_token_stream(),
        Item::Use(item) => item.use_token.into_token_stream(),
        Item::Macro(item) => item.mac.path.to_token_stream(),
        other => other.to_token_stream(),
    }
}
