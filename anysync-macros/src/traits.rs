//! `#[anysync::coroutine]` on a trait declaration and on its impls.
//!
//! A trait's `async fn` becomes a method returning `impl Future<Output = T> + Send` (a
//! return-position `impl Trait` in a trait), the very signature a plain `async fn` in an
//! impl satisfies: an impl written without the attribute (a test double, a third party's
//! impl) compiles. Generic callers get `.await`, and `.run()` from `anysync::RunExt`.
//!
//! An impl with the attribute returns a `Coroutine` of that future, which refines the trait's
//! signature (`#[allow(refining_impl_trait)]`): callers that name the concrete type get the
//! inherent `.run()`, and the future is checked to be `Send` at the impl, as the trait asks.
//!
//! With `dyn` on the trait and its impls, each method in the vtable returns
//! `Coroutine<Pin<Box<dyn Future<Output = T> + Send + 'a>>>` instead (async-trait's shape,
//! one allocation per call), so `&dyn Trait` and `Arc<dyn Trait>` can call it.

use crate::args::{self, Args, Kind};
use crate::error::{Errors, bail, format_err};
use crate::expand::{self, Owner};
use crate::lifetime;
use crate::parse;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{
    Attribute, FnArg, ImplItem, ImplItemFn, ItemImpl, ItemTrait, Lifetime, ReceiverKind,
    ReturnType, Signature, TraitItem, Type, TypeParamBound, WherePredicate,
};

/// Checks a trait declaration before it is expanded.
pub(crate) fn validate(args: &Args, item: &ItemTrait) -> syn::Result<()> {
    let mut errors = Errors::default();
    let mut converted = 0;
    for method in parse::trait_methods(item) {
        match own_kind(&method.attrs) {
            Ok(Some(_)) | Ok(None) if method.sig.asyncness.is_some() => {}
            Ok(Some((kind, _))) => {
                if let Err(err) = parse::validate_sig(kind, &method.sig) {
                    errors.push(err);
                }
                continue;
            }
            Ok(None) => continue,
            Err(err) => {
                errors.push(err);
                continue;
            }
        }
        converted += 1;
        if let Err(err) = parse::validate_sig(Kind::Coroutine, &method.sig) {
            errors.push(err);
        }
        if let Some(attr) = method.attrs.iter().find(|attr| is_instrument(attr)) {
            errors.push(format_err!(
                attr,
                "`#[instrument]` on a method of an `#[anysync::coroutine]` trait is not \
                 supported; put it on the method in each impl"
            ));
        }
        if args.dyn_.is_some()
            && dispatchable(&method.sig)
            && let Some(generic) = own_generics(&method.sig)
        {
            errors.push(format_err!(
                generic,
                "`#[anysync::coroutine(dyn)]` trait `{}` cannot have a generic method: `dyn {}` \
                 has one vtable entry per method, not one per type; take a `&dyn Trait` or \
                 `Box<dyn Trait>` argument instead, or add `where Self: Sized` to leave `{}` \
                 out of `dyn {}`",
                item.ident,
                item.ident,
                method.sig.ident,
                item.ident
            ));
        }
    }
    errors.into_result()?;
    if converted == 0 {
        bail!(
            item.trait_token,
            "#[anysync::coroutine] found no `async fn` to convert in this trait"
        );
    }
    Ok(())
}

/// The kind and arguments of a method's own attribute (`#[anysync::iterator(item = Row)]`),
/// inside a trait or trait impl that has `#[anysync::coroutine]`.
pub(crate) fn own_kind(attrs: &[Attribute]) -> syn::Result<Option<(Kind, TokenStream)>> {
    let mut found = None;
    for attr in attrs {
        if !parse::has_own_attribute(std::slice::from_ref(attr)) {
            continue;
        }
        let Some(last) = attr.path().segments.last() else {
            continue;
        };
        let kind = match last.ident.to_string().as_str() {
            "coroutine" => Kind::Coroutine,
            "iterator" => Kind::Iterator,
            "generator" => Kind::Generator,
            _ => Kind::Context,
        };
        if found.is_some() {
            bail!(attr, "a method takes one of anysync's attributes, not two");
        }
        let tokens = match &attr.meta {
            syn::Meta::Path(_) => TokenStream::new(),
            syn::Meta::List(list) => list.tokens.clone(),
            syn::Meta::NameValue(_) => bail!(attr, "expected `{}(..)`", kind.attr()),
        };
        found = Some((kind, tokens));
    }
    Ok(found)
}

/// The arguments for one method: its own attribute's, with the trait-level `?Send`, `dyn`
/// and `crate`. Removes the method's own attribute.
fn method_args(outer: &Args, attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Args {
    let own = match own_kind(attrs) {
        Ok(own) => own,
        Err(err) => {
            errors.push(err);
            None
        }
    };
    attrs.retain(|attr| !parse::has_own_attribute(std::slice::from_ref(attr)));
    let mut args = match own {
        None => outer.clone(),
        Some((kind, tokens)) => {
            let (mut args, arg_errors) = args::parse_args(kind, tokens);
            if let Some(err) = arg_errors.into_option() {
                errors.push(err);
            }
            args.local |= outer.local;
            args.dyn_ = outer.dyn_;
            if args.krate.to_string() == quote!(::anysync).to_string() {
                args.krate = outer.krate.clone();
            }
            args
        }
    };
    // The trait states `+ Send`; each impl is checked against it where it is written.
    args.send_bound = true;
    args
}

/// Whether the method is in a `dyn` trait's vtable: it takes `self` and has no
/// `where Self: Sized`.
fn dispatchable(sig: &Signature) -> bool {
    sig.receiver().is_some() && !self_sized(sig)
}

fn self_sized(sig: &Signature) -> bool {
    sig.generics.where_clause.as_ref().is_some_and(|clause| {
        clause.predicates.iter().any(|predicate| match predicate {
            WherePredicate::Type(predicate) => {
                predicate.bounded_ty.to_token_stream().to_string() == "Self"
                    && has_bound(&predicate.bounds, "Sized")
            }
            _ => false,
        })
    })
}

fn has_bound<'a>(bounds: impl IntoIterator<Item = &'a TypeParamBound>, name: &str) -> bool {
    bounds.into_iter().any(|bound| {
        matches!(bound, TypeParamBound::Trait(bound)
            if bound.path.segments.last().is_some_and(|segment| segment.ident == name))
    })
}

/// The method's type or const parameters, or an `impl Trait` argument: what a vtable cannot
/// hold.
fn own_generics(sig: &Signature) -> Option<TokenStream> {
    if let Some(param) = sig
        .generics
        .params
        .iter()
        .find(|param| !matches!(param, syn::GenericParam::Lifetime(_)))
    {
        return Some(param.to_token_stream());
    }
    sig.inputs.iter().find_map(|input| match input {
        FnArg::Typed(arg) if args::contains_impl_trait(&arg.ty) => Some(arg.ty.to_token_stream()),
        _ => None,
    })
}

fn is_instrument(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "instrument")
}

/// The lifetime of a boxed future, `'__anysync`, added to the method's parameters with a
/// bound from each lifetime the arguments mention (and from `Self`), as async-trait does.
//
// Input:  fn get<'__anysync0, '__anysync1>(&'__anysync0 self, key: &'__anysync1 str)
// Output: fn get<'__anysync0, '__anysync1, '__anysync>(&'__anysync0 self, key: &'__anysync1 str)
//         where '__anysync0: '__anysync, '__anysync1: '__anysync, Self: '__anysync
pub(crate) fn box_lifetime(
    sig: &mut Signature,
    mentioned: &[Lifetime],
    prefix: &str,
    span: Span,
) -> Lifetime {
    let boxed = Lifetime::new(&format!("'{prefix}"), Span::mixed_site().located_at(span));
    let mut bounded: Vec<Lifetime> = Vec::new();
    let declared = sig.generics.lifetimes().map(|param| &param.lifetime);
    for lifetime in declared.chain(mentioned) {
        if lifetime.ident != "static" && !bounded.iter().any(|seen| seen.ident == lifetime.ident) {
            bounded.push(lifetime.clone());
        }
    }
    lifetime::add_params(&mut sig.generics, std::slice::from_ref(&boxed));
    let has_self = sig.receiver().is_some();
    let clause = where_clause(sig, span);
    for lifetime in bounded {
        push_predicate(
            clause,
            syn::parse_quote_spanned!(span=> #lifetime: #boxed),
            span,
        );
    }
    if has_self {
        push_predicate(clause, syn::parse_quote_spanned!(span=> Self: #boxed), span);
    }
    // The signature's last token is then the user's: ending with the mixed-site lifetime,
    // rustc would point at the attribute for the whole method.
    if !clause.predicates.empty_or_trailing() {
        clause.predicates.push_punct(syn::Token![,](span));
    }
    boxed
}

/// The signature's where-clause, made with a `where` spanned at `span` if there was none (a
/// call-site `where` would make rustc point at the attribute for the whole method).
fn where_clause(sig: &mut Signature, span: Span) -> &mut syn::WhereClause {
    sig.generics
        .where_clause
        .get_or_insert_with(|| syn::WhereClause {
            where_token: syn::Token![where](span),
            predicates: syn::punctuated::Punctuated::new(),
        })
}

/// `T: '__anysync` for each type parameter of the trait or impl, in a boxed method: the boxed
/// future may hold a `T` (an argument `key: K` of `trait Repo<K>`), and the user cannot name
/// `'__anysync` to add the bound. In an impl, each such bound follows from the trait's
/// (`Self: '__anysync` and one per trait parameter), so the impl is no stricter.
fn bound_type_params(sig: &mut Signature, generics: &syn::Generics, prefix: &str) {
    let Some(boxed) = sig
        .generics
        .lifetimes()
        .map(|param| param.lifetime.clone())
        .find(|lifetime| lifetime.ident == prefix)
    else {
        return;
    };
    let span = sig.ident.span();
    let params: Vec<syn::Ident> = generics.type_params().map(|p| p.ident.clone()).collect();
    if params.is_empty() {
        return;
    }
    let clause = where_clause(sig, span);
    for param in params {
        push_predicate(
            clause,
            syn::parse_quote_spanned!(span=> #param: #boxed),
            span,
        );
    }
    // As in `box_lifetime`: the signature ends with the user's span, not the lifetime's.
    clause.predicates.push_punct(syn::Token![,](span));
}

/// A boxed signature (`Iter<Pin<Box<dyn Future<..> + Send + 'a>>, T>`) is ours, not the
/// user's: clippy's `type_complexity` must not fire on it.
fn boxed_lints() -> Attribute {
    syn::parse_quote!(#[allow(clippy::type_complexity)])
}

/// Adds a predicate, with its comma spanned at `span` too.
fn push_predicate(clause: &mut syn::WhereClause, predicate: WherePredicate, span: Span) {
    if !clause.predicates.empty_or_trailing() {
        clause.predicates.push_punct(syn::Token![,](span));
    }
    clause.predicates.push_value(predicate);
}

/// `Pin<Box<dyn Future<Output = T> + Send + 'a>>` (no `Send` with `?Send`).
pub(crate) fn boxed_type(
    args: &Args,
    output: &ReturnType,
    lifetime: &Lifetime,
    span: Span,
) -> TokenStream {
    let krate = expand::respan(args.krate.clone(), span);
    let output = match output {
        ReturnType::Default => quote_spanned!(span=> ()),
        ReturnType::Type(_, ty) => ty.into_token_stream(),
    };
    let send = (!args.local).then(|| quote_spanned!(span=> + #krate::__private::Send));
    quote_spanned! {span=>
        #krate::__private::Pin<#krate::__private::Box<
            dyn #krate::__private::Future<Output = #output> #send + #lifetime
        >>
    }
}

/// Converts every `async fn` of a trait declaration; other items are left as they are.
//
// Input:
//     trait Store: Send + Sync {
//         async fn get(&self, key: &str) -> Option<String>;
//         async fn get_or(&self, key: &str) -> String { body }
//         fn name(&self) -> &str;
//     }
// Output:
//     trait Store: Send + Sync {
//         fn get(&self, key: &str) -> impl Future<Output = Option<String>> + Send;
//         fn get_or(&self, key: &str) -> impl Future<Output = String> + Send {
//             ::anysync::__private::Coroutine::new(async move { let _ = &self; .. body })
//         }
//         fn name(&self) -> &str;
//     }
//
// A default body holds `&self` across its `.await`s, so its future is `Send` only if `Self`
// is `Sync` (`Send` for `&mut self` or `self`): without that supertrait, the method gets
// `where Self: Sync` (async-trait does the same). With `dyn`, see `box_lifetime`; an
// associated `async fn` without `self` gets `where Self: Sized`, which keeps it out of the
// vtable (and unboxed).
pub(crate) fn expand_trait(outer: &Args, mut item: ItemTrait) -> TokenStream {
    let prefix = lifetime::fresh_prefix(|v| v.visit_item_trait(&item));
    let trait_lifetimes: Vec<Lifetime> = item
        .generics
        .lifetimes()
        .map(|param| param.lifetime.clone())
        .collect();
    let owner = Owner::Impl {
        generic: expand::has_type_or_const_params(&item.generics),
    };
    let mut errors = Errors::default();
    let supertraits = item.supertraits.clone();
    for trait_item in &mut item.items {
        let TraitItem::Fn(method) = trait_item else {
            continue;
        };
        if method.sig.asyncness.is_none() {
            // Reported by `validate`; left in, rustc would expand it on a bodyless method.
            method
                .attrs
                .retain(|attr| !parse::has_own_attribute(std::slice::from_ref(attr)));
            continue;
        }
        // Reported by `validate` (`#[instrument]` cannot go on a declaration).
        method.attrs.retain(|attr| !is_instrument(attr));
        let mut args = method_args(outer, &mut method.attrs, &mut errors);
        args.decl = true;
        let dyn_ = outer.dyn_.is_some();
        if dyn_ && method.sig.receiver().is_none() && !self_sized(&method.sig) {
            let span = method.sig.ident.span();
            push_predicate(
                where_clause(&mut method.sig, span),
                syn::parse_quote_spanned!(span=> Self: ::core::marker::Sized),
                span,
            );
        }
        args.boxed = dyn_ && dispatchable(&method.sig);
        if args.boxed {
            method.attrs.push(boxed_lints());
        }
        let bounds: Vec<_> = match &method.default {
            Some(_) if !args.local => self_bounds(&method.sig)
                .into_iter()
                .filter(|(name, _)| !has_bound(&supertraits, &name.to_string()))
                .collect(),
            _ => Vec::new(),
        };
        let boxed = args.boxed;
        let (attrs, sig) = (&mut method.attrs, &mut method.sig);
        match &mut method.default {
            Some(block) => {
                expand::expand_fn(&args, attrs, sig, block, owner, &trait_lifetimes, &prefix);
            }
            None => {
                // Only the signature is wanted: expand an empty body and drop it.
                args.inert = true;
                let mut block: syn::Block = syn::parse_quote!({});
                expand::expand_fn(&args, attrs, sig, &mut block, owner, &[], &prefix);
            }
        }
        for (name, span) in bounds {
            push_predicate(
                where_clause(sig, span),
                syn::parse_quote_spanned!(span=> Self: ::core::marker::#name),
                span,
            );
        }
        if boxed {
            bound_type_params(sig, &item.generics, &prefix);
        }
    }
    if let Some(token) = &outer.dyn_ {
        let span = token.span;
        item.items.push(syn::parse_quote_spanned! {span=>
            /// Written by `#[anysync::coroutine(dyn)]` on each impl, so that an impl without
            /// it (whose methods cannot match the boxed signatures) gets an error naming it.
            #[doc(hidden)]
            fn __impl_with_anysync_coroutine_dyn()
            where
                Self: ::core::marker::Sized;
        });
    }
    let mut tokens = item.into_token_stream();
    if let Some(err) = errors.into_option() {
        tokens.extend(err.to_compile_error());
    }
    tokens
}

/// The bounds on `Self` a default body's future needs to be `Send`, spanned at the receiver:
/// `Sync` for `&self` and `Pin<&Self>`; `Send` for `&mut self`, `self`, `Box<Self>` and
/// `Pin<&mut Self>`; both for `Arc<Self>`, `&Arc<Self>` and any receiver type not known here.
fn self_bounds(sig: &Signature) -> Vec<(syn::Ident, Span)> {
    let Some(receiver) = sig.receiver() else {
        return Vec::new();
    };
    let (send, sync) = match &receiver.kind {
        ReceiverKind::Reference(_, _, None) => (false, true),
        ReceiverKind::Typed(_, ty) => held_send(ty),
        _ => (true, false),
    };
    let span = receiver.self_token.span;
    [(send, "Send"), (sync, "Sync")]
        .into_iter()
        .filter(|(needed, _)| *needed)
        .map(|(_, name)| (syn::Ident::new(name, span), span))
        .collect()
}

/// Whether `Self` must be `Send`, and `Sync`, for a value of receiver type `ty` to be `Send`.
fn held_send(ty: &Type) -> (bool, bool) {
    match ty {
        Type::Reference(reference) if reference.mutability.is_none() => held_sync(&reference.elem),
        Type::Reference(reference) => held_send(&reference.elem),
        Type::Paren(paren) => held_send(&paren.elem),
        _ => match wrapper(ty) {
            Some(("Self", None)) => (true, false),
            Some(("Box" | "Pin", Some(inner))) => held_send(inner),
            _ => (true, true),
        },
    }
}

/// Whether `Self` must be `Send`, and `Sync`, for a value of type `ty` to be `Sync`.
fn held_sync(ty: &Type) -> (bool, bool) {
    match ty {
        Type::Reference(reference) => held_sync(&reference.elem),
        Type::Paren(paren) => held_sync(&paren.elem),
        _ => match wrapper(ty) {
            Some(("Self", None)) => (false, true),
            Some(("Box" | "Pin", Some(inner))) => held_sync(inner),
            _ => (true, true),
        },
    }
}

/// `Self` as `("Self", None)`, `Box<T>` and `Pin<T>` as their name and `T`; `None` for any
/// other type.
fn wrapper(ty: &Type) -> Option<(&'static str, Option<&Type>)> {
    let Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let segment = path.path.segments.last()?;
    let name = match segment.ident.to_string().as_str() {
        "Self" if path.path.segments.len() == 1 => "Self",
        "Box" => "Box",
        "Pin" => "Pin",
        _ => return None,
    };
    match &segment.arguments {
        syn::PathArguments::None if name == "Self" => Some((name, None)),
        syn::PathArguments::AngleBracketed(arguments) if arguments.args.len() == 1 => {
            match arguments.args.first() {
                Some(syn::GenericArgument::Type(inner)) => Some((name, Some(inner))),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Converts every `async fn` of a trait impl to match a declaration made by
/// `#[anysync::coroutine]` (with the same `dyn` and `?Send`).
//
// Input:  impl Store for Memory { async fn get(&self, key: &str) -> Option<String> { .. } }
// Output: impl Store for Memory {
//             #[allow(refining_impl_trait)]
//             fn get<'__anysync0, '__anysync1>(&'__anysync0 self, key: &'__anysync1 str)
//                 -> ::anysync::Coroutine<impl Future<Output = Option<String>> + Send> { .. }
//         }
//
// No `Captures` bounds (see `Args::refines`): an impl's `impl Trait` captures every lifetime.
// The `Coroutine` refines the trait's `impl Future + Send`: callers that name `Memory` get
// its inherent `.run()`; generic ones see the trait's type. Hidden functions for
// `#[instrument]` go in an inherent impl of the same type beside it (a trait impl can hold
// only the trait's items).
pub(crate) fn expand_impl(outer: &Args, mut item: ItemImpl) -> TokenStream {
    let (prefix, impl_lifetimes) = expand::impl_lifetimes(&mut item);
    let trait_name = item
        .trait_
        .as_ref()
        .map_or_else(String::new, |(path, _)| hidden_trait_name(path));
    let owner = Owner::Impl {
        generic: expand::has_type_or_const_params(&item.generics),
    };
    let mut errors = Errors::default();
    let mut siblings = Vec::new();
    let (inherent_generics, moved) = split_unconstrained(&item.generics, &item.self_ty);
    let moved_idents: Vec<syn::Ident> = moved.params.iter().map(param_ident).collect();
    let has_inherent_impl = may_have_inherent_impl(&item.self_ty, &item.generics);
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        if method.sig.asyncness.is_none() {
            continue;
        }
        if !has_inherent_impl
            && let Some(attr) = method.attrs.iter().find(|attr| is_instrument(attr))
        {
            errors.push(format_err!(
                attr,
                "`#[instrument]` on a method of a trait impl for `{}` is not supported: the \
                 instrumented body goes in an inherent impl of the type, which `{}` cannot have; \
                 put `#[instrument]` on an `async fn` of your own that this method awaits",
                item.self_ty.to_token_stream(),
                item.self_ty.to_token_stream()
            ));
            method.attrs.retain(|attr| !is_instrument(attr));
        }
        let mut args = method_args(outer, &mut method.attrs, &mut errors);
        args.refines = true;
        // A generic method of a `dyn` trait is out of its vtable (`validate` requires `where
        // Self: Sized` on the declaration), so it is unboxed here too, even when the impl,
        // as Rust allows, does not repeat that `where` clause.
        args.boxed = outer.dyn_.is_some()
            && dispatchable(&method.sig)
            && own_generics(&method.sig).is_none();
        if args.boxed {
            method.attrs.push(boxed_lints());
        } else {
            method
                .attrs
                .push(syn::parse_quote!(#[allow(refining_impl_trait)]));
        }
        let (attrs, sig, block) = (&mut method.attrs, &mut method.sig, &mut method.block);
        let sibling = expand::expand_fn(&args, attrs, sig, block, owner, &impl_lifetimes, &prefix);
        if args.boxed {
            bound_type_params(sig, &item.generics, &prefix);
        }
        if let Some(sibling) = sibling {
            // `__anysync_get` becomes `__anysync_store_get`: the inherent impl it goes in is
            // shared with the type's other trait impls (and its own inherent methods).
            let name = sig.ident.to_string();
            let name = name.strip_prefix("r#").unwrap_or(&name);
            let from = format!("__anysync_{name}");
            let to = format!("__anysync_{trait_name}_{name}");
            let body = rename_call(block.to_token_stream(), &from, &to, &moved_idents);
            match syn::parse2(body) {
                Ok(renamed) => *block = renamed,
                Err(err) => errors.push(err),
            }
            let sibling = rename_ident(sibling, &from, &to);
            match with_moved_params(sibling, &moved) {
                Ok(sibling) => siblings.push(sibling),
                Err(err) => errors.push(err),
            }
        }
    }
    if let Some(token) = &outer.dyn_ {
        let span = token.span;
        item.items.push(syn::parse_quote_spanned! {span=>
            fn __impl_with_anysync_coroutine_dyn() {}
        });
    }
    let hidden = (!siblings.is_empty()).then(|| {
        let (impl_generics, _, where_clause) = inherent_generics.split_for_impl();
        let self_ty = &item.self_ty;
        quote! {
            impl #impl_generics #self_ty #where_clause {
                #(#siblings)*
            }
        }
    });
    let mut tokens = item.into_token_stream();
    tokens.extend(hidden);
    if let Some(err) = errors.into_option() {
        tokens.extend(err.to_compile_error());
    }
    tokens
}

/// The trait's part of a hidden function's name: `store` for `Store`. The inherent impl the
/// hidden functions go in is shared by every impl for the type, so a trait written as more
/// than one bare name (`Lookup<u32>` beside `Lookup<String>`, `a::Store` beside `Store`) gets
/// a hash of its path too.
fn hidden_trait_name(path: &syn::Path) -> String {
    use std::hash::{Hash, Hasher};
    let Some(last) = path.segments.last() else {
        return String::new();
    };
    let name = last.ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name).to_lowercase();
    if path.leading_colon.is_none()
        && path.segments.len() == 1
        && matches!(last.arguments, syn::PathArguments::None)
    {
        return name;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.to_token_stream().to_string().hash(&mut hasher);
    format!("{name}_{:016x}", hasher.finish())
}

/// Whether `ty` can have an inherent impl, as far as its syntax tells: a path that is not one
/// of the impl's type parameters (`impl<T: Backend> Store for T`). Slices, tuples, references
/// and trait objects cannot; a foreign path type (`String`) cannot either, which rustc reports
/// (E0116).
fn may_have_inherent_impl(ty: &Type, generics: &syn::Generics) -> bool {
    match ty {
        Type::Paren(paren) => may_have_inherent_impl(&paren.elem, generics),
        Type::Group(group) => may_have_inherent_impl(&group.elem, generics),
        Type::Path(path) if path.qself.is_none() => !generics
            .type_params()
            .any(|param| path.path.is_ident(&param.ident)),
        _ => false,
    }
}

/// The impl's generics split in two: those an inherent impl of the self type can have, and
/// the type and const parameters the self type does not mention (`K` in `impl<K> Lookup<K>
/// for Echo`), with the where-predicates that name them. An inherent impl cannot have those
/// (E0207), so each hidden function takes them as parameters of its own.
fn split_unconstrained(generics: &syn::Generics, self_ty: &Type) -> (syn::Generics, syn::Generics) {
    let mut mentioned = Vec::new();
    collect_idents(self_ty.to_token_stream(), &mut mentioned);
    let mut kept = generics.clone();
    let mut moved = syn::Generics::default();
    kept.params = syn::punctuated::Punctuated::new();
    for param in &generics.params {
        let unconstrained = match param {
            syn::GenericParam::Lifetime(_) => false,
            _ => !mentioned.contains(&param_ident(param)),
        };
        if unconstrained {
            moved.params.push(param.clone());
        } else {
            kept.params.push(param.clone());
        }
    }
    if moved.params.is_empty() {
        return (kept, moved);
    }
    let moved_idents: Vec<syn::Ident> = moved.params.iter().map(param_ident).collect();
    let names_moved = |tokens: TokenStream| {
        let mut named = Vec::new();
        collect_idents(tokens, &mut named);
        named.iter().any(|ident| moved_idents.contains(ident))
    };
    // A kept parameter's bound that names a moved one (`S: Borrow<K>`) moves as a predicate.
    for param in kept.type_params_mut() {
        let bounds = std::mem::take(&mut param.bounds);
        for bound in bounds {
            if names_moved(bound.to_token_stream()) {
                let ident = &param.ident;
                moved
                    .make_where_clause()
                    .predicates
                    .push(syn::parse_quote!(#ident: #bound));
            } else {
                param.bounds.push(bound);
            }
        }
        if param.bounds.is_empty() {
            param.colon_token = None;
        }
    }
    if let Some(clause) = &mut kept.where_clause {
        let predicates = std::mem::take(&mut clause.predicates);
        for predicate in predicates {
            if names_moved(predicate.to_token_stream()) {
                moved.make_where_clause().predicates.push(predicate);
            } else {
                clause.predicates.push(predicate);
            }
        }
    }
    (kept, moved)
}

fn param_ident(param: &syn::GenericParam) -> syn::Ident {
    match param {
        syn::GenericParam::Type(param) => param.ident.clone(),
        syn::GenericParam::Const(param) => param.ident.clone(),
        syn::GenericParam::Lifetime(param) => param.lifetime.ident.clone(),
    }
}

fn collect_idents(tokens: TokenStream, out: &mut Vec<syn::Ident>) {
    for tt in tokens {
        match tt {
            proc_macro2::TokenTree::Ident(ident) => out.push(ident),
            proc_macro2::TokenTree::Group(group) => collect_idents(group.stream(), out),
            _ => {}
        }
    }
}

/// A hidden function with the impl's `moved` parameters (see `split_unconstrained`) added
/// after its own, and their where-predicates.
fn with_moved_params(sibling: TokenStream, moved: &syn::Generics) -> syn::Result<TokenStream> {
    if moved.params.is_empty() {
        return Ok(sibling);
    }
    let mut function: ImplItemFn = syn::parse2(sibling)?;
    let generics = &mut function.sig.generics;
    for param in &moved.params {
        generics.params.push(param.clone());
    }
    if generics.lt_token.is_none() {
        generics.lt_token = Some(Default::default());
        generics.gt_token = Some(Default::default());
    }
    if let Some(clause) = &moved.where_clause {
        let target = generics.make_where_clause();
        for predicate in &clause.predicates {
            if !target.predicates.empty_or_trailing() {
                target.predicates.push_punct(Default::default());
            }
            target.predicates.push_value(predicate.clone());
        }
    }
    Ok(function.into_token_stream())
}

/// `tokens` with the hidden function's name `from` replaced by `to`, and the `moved`
/// parameters appended to the call's turbofish (`Self::to::<T, K>`), added if there was none.
fn rename_call(tokens: TokenStream, from: &str, to: &str, moved: &[syn::Ident]) -> TokenStream {
    use proc_macro2::{Punct, Spacing, TokenTree};
    let renamed = rename_ident(tokens, from, to);
    if moved.is_empty() {
        return renamed;
    }
    let mut out: Vec<TokenTree> = Vec::new();
    let mut tokens = renamed.into_iter().peekable();
    while let Some(tt) = tokens.next() {
        match tt {
            TokenTree::Ident(ident) if ident == to => {
                let span = ident.span();
                out.push(TokenTree::Ident(ident));
                // The call's turbofish names only the method's own parameters: identifiers
                // and commas, no nested `<>`.
                let rest: Vec<TokenTree> = tokens.clone().take(3).collect();
                let has_turbofish = matches!(
                    rest.as_slice(),
                    [TokenTree::Punct(a), TokenTree::Punct(b), TokenTree::Punct(c)]
                        if a.as_char() == ':' && b.as_char() == ':' && c.as_char() == '<'
                );
                let moved = quote_spanned!(span=> #(#moved),*);
                if has_turbofish {
                    for _ in 0..3 {
                        out.extend(tokens.next());
                    }
                    for tt in tokens.by_ref() {
                        if matches!(&tt, TokenTree::Punct(p) if p.as_char() == '>') {
                            out.push(TokenTree::Punct(Punct::new(',', Spacing::Alone)));
                            out.extend(moved.clone());
                            out.push(tt);
                            break;
                        }
                        out.push(tt);
                    }
                } else {
                    out.extend(quote_spanned!(span=> ::<#moved>));
                }
            }
            TokenTree::Group(group) => {
                let mut renamed = proc_macro2::Group::new(
                    group.delimiter(),
                    rename_call(group.stream(), to, to, moved),
                );
                renamed.set_span(group.span());
                out.push(TokenTree::Group(renamed));
            }
            other => out.push(other),
        }
    }
    out.into_iter().collect()
}

/// `tokens` with every identifier `from` replaced by `to` (same span).
fn rename_ident(tokens: TokenStream, from: &str, to: &str) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match tt {
            proc_macro2::TokenTree::Ident(ident) if ident == from => {
                proc_macro2::TokenTree::Ident(syn::Ident::new(to, ident.span()))
            }
            proc_macro2::TokenTree::Group(group) => {
                let mut renamed = proc_macro2::Group::new(
                    group.delimiter(),
                    rename_ident(group.stream(), from, to),
                );
                renamed.set_span(group.span());
                proc_macro2::TokenTree::Group(renamed)
            }
            other => other,
        })
        .collect()
}
