//! Signature and body rewrite, and orchestration.

use crate::args::{Args, Kind};
use crate::instrument;
use crate::lifetime::{self, ElidedLifetimes};
use crate::parse::{self, Input, Model};
use crate::receiver;
use crate::yields::Rewrite;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Block, FnArg, Ident, ImplItem, ItemImpl, Lifetime, Pat, PatIdent, ReturnType,
    Signature, Token, Type,
};

/// Expands a validated model, followed by the argument errors, if any.
pub(crate) fn expand(model: Model) -> TokenStream {
    let Model {
        args,
        arg_errors,
        item,
    } = model;
    let mut tokens = match item {
        Input::Fn(mut item) if args.kind == Kind::Blocking => {
            crate::blocking::expand(&args, &mut item.sig, &mut item.block);
            item.into_token_stream()
        }
        Input::Fn(mut item) => {
            let prefix = lifetime::fresh_prefix(|v| v.visit_item_fn(&item));
            let owner = Owner::Unknown;
            let (attrs, sig, block) = (&mut item.attrs, &mut item.sig, &mut *item.block);
            let sibling = expand_fn(&args, attrs, sig, block, owner, &[], &prefix);
            let mut tokens = item.into_token_stream();
            tokens.extend(sibling);
            tokens
        }
        Input::Impl(item) if item.trait_.is_some() => crate::traits::expand_impl(&args, item),
        Input::Impl(item) => expand_impl(&args, item),
        Input::Trait(item) => crate::traits::expand_trait(&args, item),
    };
    if let Some(err) = arg_errors.into_option() {
        tokens.extend(err.to_compile_error());
    }
    tokens
}

/// Converts every `async fn` of an inherent impl block; other items are left as they are.
//
// Input:  impl<'a> Client<'a> { async fn get(&self) -> u8 { .. } fn name(&self) -> &str { .. } }
// Output: impl<'a> Client<'a> {
//             fn get<'__anysync0>(&'__anysync0 self) -> ::anysync::Coroutine<impl
//                 Future<Output = u8> + Send + Captures<'__anysync0> + Captures<'a>> { .. }
//             fn name(&self) -> &str { .. }
//         }
//
// The impl's own lifetimes are captured too: in edition 2021 `&'x Client<'a>` in the future
// needs `'a` named in the bounds. Elided ones (`impl Client<'_>`) are named first.
fn expand_impl(args: &Args, mut item: ItemImpl) -> TokenStream {
    let (prefix, impl_lifetimes) = impl_lifetimes(&mut item);
    let owner = Owner::Impl {
        generic: has_type_or_const_params(&item.generics),
    };
    let mut siblings = Vec::new();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item
            && method.sig.asyncness.is_some()
            && !parse::has_own_attribute(&method.attrs)
        {
            let (attrs, sig, block) = (&mut method.attrs, &mut method.sig, &mut method.block);
            let sibling = expand_fn(args, attrs, sig, block, owner, &impl_lifetimes, &prefix);
            siblings.extend(sibling.map(ImplItem::Verbatim));
        }
    }
    item.items.extend(siblings);
    item.into_token_stream()
}

/// A prefix for generated lifetimes, and the lifetimes of the impl block's header, after
/// naming its elided ones (`impl Client<'_>`).
pub(crate) fn impl_lifetimes(item: &mut ItemImpl) -> (String, Vec<Lifetime>) {
    let prefix = lifetime::fresh_prefix(|v| v.visit_item_impl(item));
    let mut header = ElidedLifetimes::new(format!("{prefix}impl"));
    header.visit_type_mut(&mut item.self_ty);
    lifetime::add_params(&mut item.generics, &header.named);
    let mut impl_lifetimes: Vec<Lifetime> = item
        .generics
        .lifetimes()
        .map(|param| param.lifetime.clone())
        .collect();
    for lifetime in header.mentioned {
        if !impl_lifetimes
            .iter()
            .any(|seen| seen.ident == lifetime.ident)
        {
            impl_lifetimes.push(lifetime);
        }
    }
    (prefix, impl_lifetimes)
}

/// Where the function being expanded is defined, as far as the attribute can see.
#[derive(Clone, Copy)]
pub(crate) enum Owner {
    /// The attribute is on the function itself: it may be a free function or a method of an
    /// impl block the attribute cannot see.
    Unknown,
    /// A method of an impl block with the attribute, generic or not.
    Impl { generic: bool },
}

/// Whether the future's `Send` can depend on how the function is instantiated: the function
/// or its impl block has type or const parameters, or the function takes `impl Trait`
/// arguments (lifetimes do not count). Such a future is left to be `Send` exactly when its
/// instantiation is, as a plain `async fn`'s is; any other future is always `Send` or never,
/// and is checked at the definition. `#[..(Send)]` asks for that check in every case.
///
/// With the attribute on a method alone, the impl block's parameters are out of sight: a
/// method whose signature or body names `Self` (a receiver does) counts as generic.
fn follows_generics(args: &Args, sig: &Signature, block: &Block, owner: Owner) -> bool {
    if args.send_bound {
        return false;
    }
    let own = has_type_or_const_params(&sig.generics)
        || sig.inputs.iter().any(|input| match input {
            FnArg::Typed(arg) => crate::args::contains_impl_trait(&arg.ty),
            FnArg::Receiver(_) => false,
        });
    own || match owner {
        Owner::Impl { generic } => generic,
        Owner::Unknown => {
            sig.receiver().is_some()
                || mentions_self(sig.to_token_stream())
                || mentions_self(block.to_token_stream())
        }
    }
}

pub(crate) fn has_type_or_const_params(generics: &syn::Generics) -> bool {
    generics
        .params
        .iter()
        .any(|param| !matches!(param, syn::GenericParam::Lifetime(_)))
}

pub(crate) fn mentions_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(ident) => ident == "Self",
        proc_macro2::TokenTree::Group(group) => mentions_self(group.stream()),
        _ => false,
    })
}

/// Turns an `async fn` into a `fn` returning a `Coroutine` of the same future.
//
// Input:
//     async fn get(&self, key: &str, (a, b): (u8, u8), mut n: u32) -> Option<String> {
//         body
//     }
// Output:
//     fn get<'__anysync0, '__anysync1>(&'__anysync0 self, key: &'__anysync1 str,
//         __arg1: (u8, u8), n: u32)
//         -> ::anysync::Coroutine<impl ::anysync::__private::Future<Output = Option<String>>
//             + ::anysync::__private::Send
//             + ::anysync::__private::Captures<'__anysync0>
//             + ::anysync::__private::Captures<'__anysync1>>
//     {
//         ::anysync::__private::Coroutine::new(async move {
//             let _ = &self;
//             let key = key;
//             let __arg1 = __arg1;
//             let (a, b) = __arg1;
//             let mut n = n;
//             let __anysync_ret: Option<String> = { body }; // see `typed_body`
//             __anysync_ret
//         })
//     }
//
// Like `async fn`, every argument is moved into the future when the function is called and
// dropped when the future completes or is dropped; no code of the body runs before the
// first poll. With `?Send`: no `Send` bound, `Coroutine<.., ::anysync::Local>` and
// `Coroutine::local`. Generic functions get no `Send` bound either (see `follows_generics`):
// their future is `Send` whenever the instantiation's is, and `.run()` asks for it.
pub(crate) fn expand_fn(
    args: &Args,
    attrs: &mut Vec<Attribute>,
    sig: &mut Signature,
    block: &mut Block,
    owner: Owner,
    impl_lifetimes: &[Lifetime],
    prefix: &str,
) -> Option<TokenStream> {
    let instrument = instrument::take(attrs);
    // The returned type is `#[must_use]` already: with the function's own attribute too, an
    // unused call would warn twice (as a plain `async fn` does not: only its future warns).
    attrs.retain(|attr| !attr.path().is_ident("must_use"));
    let send_bound = !args.local && !follows_generics(args, sig, block, owner);
    // Item types are part of the output: their elided lifetimes are named below as the
    // return type's are.
    let mut args = args.clone();
    let args = &mut args;
    args.local_output = args.kind == Kind::Coroutine && !args.local && never_send(&sig.output);
    let async_span = sig
        .asyncness
        .take()
        .map_or_else(Span::call_site, |token| token.span);
    // Errors about the signature as a whole point at `async fn`.
    sig.fn_token.span = async_span
        .join(sig.fn_token.span)
        .unwrap_or(sig.fn_token.span);

    let mut elided = ElidedLifetimes::new(prefix.to_owned());
    // A trait's declaration returns an `impl Trait` that captures every lifetime in scope,
    // so its elided lifetimes stay as the user wrote them (and as rustdoc shows them).
    let name_lifetimes = !args.decl || args.boxed;
    for input in &mut sig.inputs {
        if name_lifetimes {
            elided.visit_fn_arg_mut(input);
        }
    }
    lifetime::add_params(&mut sig.generics, &elided.named);
    if let Some(output_lifetime) = elided.output_lifetime() {
        let mut output = lifetime::OutputLifetimes(output_lifetime);
        output.visit_return_type_mut(&mut sig.output);
        // Left elided, `item = &str` beside a named `&'__anysync0 self` made rustc's
        // `mismatched_lifetime_syntaxes` lint suggest the hidden name to the user.
        for ty in [&mut args.item, &mut args.send].into_iter().flatten() {
            output.visit_type_mut(ty);
        }
    }
    let captured = if args.decl {
        Vec::new()
    } else {
        captured_lifetimes(sig, &elided.mentioned, impl_lifetimes)
    };
    let boxed = args
        .boxed
        .then(|| crate::traits::box_lifetime(sig, &elided.mentioned, prefix, async_span));
    name_never(&mut sig.output, &args.krate);

    let moves = move_arguments(sig);

    if args.inert {
        block.stmts = vec![syn::parse_quote!(loop {})];
    }
    let rewrite = Rewrite::new(args.kind, args.krate.clone());
    // `#[tracing::instrument]` above us has moved the body into its own blocks: the label
    // goes on the body there.
    let (yields, labelled) = match rewrite.instrumented(&mut block.stmts) {
        Some(yields) => (yields, true),
        None => (rewrite.body(&mut block.stmts), false),
    };
    if args.kind == Kind::Context && yields == 0 && !args.inert {
        // The one mistake about `yield_!` that is visible before run time.
        let message = "#[anysync::context] needs exactly one `yield_!(value)` in its body: the \
                       caller's block runs there, between setup and teardown";
        block.stmts.insert(
            0,
            syn::Stmt::Expr(
                syn::Expr::Verbatim(
                    quote_spanned!(sig.ident.span()=> ::core::compile_error!(#message);),
                ),
                None,
            ),
        );
    }
    let label = (args.kind.yields() && !labelled).then_some(&rewrite.label);
    let body = typed_body(&sig.output, &block.stmts, label);
    // `#[instrument]` records the parameters, so a plain instrumented `async fn` never warns
    // that one is unused; neither may the move that takes it into the future.
    let allow_unused = instrument
        .is_some()
        .then(|| quote!(#[allow(unused_variables)]));
    let future = quote_spanned! {async_span=>
        async move {
            #(#allow_unused #moves)*
            #body
        }
    };
    let (future, hidden) = match instrument {
        None => (future, None),
        Some(instrument) => {
            let hidden = instrument::Hidden::new(args, sig, &rewrite.yielder, owner);
            let call = hidden.call(sig, async_span);
            let future_type = future_type(args, &sig.output, &captured, false, async_span);
            let item = hidden.item(instrument, sig, &future_type, &future);
            (call, Some(item))
        }
    };
    let future = match &boxed {
        // The boxing is spanned at the user's `async`, like the rest of the glue.
        Some(_) if args.local => {
            let krate = respan(args.krate.clone(), async_span);
            quote_spanned!(async_span=> #krate::__private::boxed_local(#future))
        }
        Some(_) => {
            let krate = respan(args.krate.clone(), async_span);
            quote_spanned!(async_span=> #krate::__private::boxed(#future))
        }
        None => future,
    };
    let body = wrap_body(args, &sig.ident, &rewrite.yielder, &future, async_span);
    // A hidden function local to this one goes inside its body; one that needs `Self` goes
    // beside it, in the same impl block.
    let (local, sibling) = match hidden {
        Some((item, instrument::Place::Nested)) => (Some(item), None),
        Some((item, instrument::Place::Beside)) => (None, Some(item)),
        None => (None, None),
    };
    *block = Block {
        brace_token: block.brace_token,
        stmts: vec![syn::Stmt::Expr(
            syn::Expr::Verbatim(quote!(#local #body)),
            None,
        )],
    };
    sig.output = return_type(
        args,
        &sig.output,
        if args.refines { &[] } else { &captured },
        send_bound,
        boxed.as_ref(),
        async_span,
    );
    sibling
}

/// The body inside the value the attribute returns.
//
// Output, by kind (`new` becomes `local` with `?Send`):
//     coroutine: ::anysync::__private::Coroutine::new(async move { moves; body })
//     iterator:  ::anysync::Iter::new(move |y: Yielder<Item>| async move { moves; body })
//     generator: ::anysync::Generator::new(move |y: Yielder<Item, Send>| async move { .. })
//     context:   ::anysync::Context::new("name", move |y: Yielder<Item, Handback<Item>>|
//                    async move { .. })
//
// The closure is called at once by the constructor, so, as with `async fn`, the arguments
// are moved into the future when the function is called and nothing of the body runs yet.
fn wrap_body(
    args: &Args,
    name: &Ident,
    yielder: &Ident,
    future: &TokenStream,
    span: Span,
) -> TokenStream {
    let krate = &args.krate;
    let constructor = if args.local {
        quote_spanned!(span=> local)
    } else if args.local_output {
        quote_spanned!(span=> local_output)
    } else {
        quote_spanned!(span=> new)
    };
    let item = &args.item;
    let send = args.send.clone().unwrap_or_else(|| syn::parse_quote!(()));
    let private = quote_spanned!(span=> #krate::__private);
    match args.kind {
        Kind::Coroutine => quote_spanned!(span=> #private::Coroutine::#constructor(#future)),
        Kind::Iterator => quote_spanned! {span=>
            #krate::Iter::#constructor(move |mut #yielder: #private::Yielder<#item>| #future)
        },
        Kind::Generator => quote_spanned! {span=>
            #krate::Generator::#constructor(
                move |mut #yielder: #private::Yielder<#item, #send>| #future
            )
        },
        Kind::Blocking => unreachable!("`blocking::expand` handles blocking functions"),
        Kind::Context => {
            let name = name.to_string();
            quote_spanned! {span=>
                #krate::Context::#constructor(
                    #name,
                    move |mut #yielder: #private::Yielder<#item, #private::Handback<#item>>| #future
                )
            }
        }
    }
}

/// The body, with its type fixed to the declared output (async-trait's device), so that
/// `return &self.name;` and the tail `&self.name` coerce to `&str` as in an `async fn`: an
/// `async` block infers its output from its first return instead.
//
// Input:  -> T { body }
// Output: if let ::core::option::Option::Some(__anysync_ret) = ::core::option::Option::None::<T> {
//             return __anysync_ret;
//         }
//         let __anysync_ret: T = { body };
//         __anysync_ret
//
// `impl Trait` in `T` becomes `_` (it cannot be written in a `let`).
pub(crate) fn typed_body(
    output: &ReturnType,
    stmts: &[syn::Stmt],
    label: Option<&Lifetime>,
) -> TokenStream {
    // Bodies that yield are a labelled block: see `yields` for the label's purpose.
    let label = label.map(|label| quote!(#label:));
    let ty = match output {
        ReturnType::Default => return quote!(let () = #label { #(#stmts)* };),
        ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            ImplTraitToInfer.visit_type_mut(&mut ty);
            ty
        }
    };
    let ret = Ident::new("__anysync_ret", Span::mixed_site());
    quote! {
        // For `-> !` this `return` of a `!` is unreachable; the lint must not reach the user.
        #[allow(unreachable_code)]
        if let ::core::option::Option::Some(#ret) = ::core::option::Option::None::<#ty> {
            return #ret;
        }
        // A body that only panics would otherwise trip this lint on our `let`, not its code.
        #[allow(clippy::diverging_sub_expression)]
        let #ret: #ty = #label { #(#stmts)* };
        #[allow(unreachable_code)]
        #ret
    }
}

/// `-> !` becomes `-> ::anysync::__private::Never`, the same type under a name stable Rust
/// accepts where the attribute writes it (`Output = !` and `let _: ! = ..` are E0658).
fn name_never(output: &mut ReturnType, krate: &TokenStream) {
    if let ReturnType::Type(_, ty) = output
        && let Type::Never(never) = &**ty
    {
        let span = never.bang_token.span;
        let krate = respan(krate.clone(), span);
        **ty = Type::Verbatim(quote_spanned!(span=> #krate::__private::Never));
    }
}

struct ImplTraitToInfer;

impl VisitMut for ImplTraitToInfer {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            let underscore = Token![_](impl_trait.impl_token.span);
            *ty = Type::Infer(syn::TypeInfer {
                attrs: Vec::new(),
                underscore_token: underscore,
            });
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

/// The function's declared lifetimes, then those its arguments mention, then the impl's.
fn captured_lifetimes(
    sig: &Signature,
    mentioned: &[Lifetime],
    impl_lifetimes: &[Lifetime],
) -> Vec<Lifetime> {
    let mut captured: Vec<Lifetime> = Vec::new();
    let declared = sig.generics.lifetimes().map(|param| &param.lifetime);
    for lifetime in declared.chain(mentioned).chain(impl_lifetimes) {
        if lifetime.ident != "static" && !captured.iter().any(|seen| seen.ident == lifetime.ident) {
            captured.push(lifetime.clone());
        }
    }
    captured
}

/// `-> T` becomes `-> ::anysync::Coroutine<impl Future<Output = T> + Send + Captures<'a>..>`,
/// or `Iter<impl Future<..>, Item>`, `Generator<impl Future<..>, Item, Send>`,
/// `Context<impl Future<..>, Item>` (each with `, ::anysync::Local` for `?Send`). `+ Send`
/// only with `send_bound`.
///
/// All of it but `T` and the lifetimes is spanned at the user's `async`, so errors about the
/// returned future ("future cannot be sent between threads safely") point there rather than
/// at the attribute.
fn return_type(
    args: &Args,
    output: &ReturnType,
    captured: &[Lifetime],
    send_bound: bool,
    boxed: Option<&Lifetime>,
    async_span: Span,
) -> ReturnType {
    let krate = respan(args.krate.clone(), async_span);
    let arrow = match output {
        ReturnType::Default => Token![->](async_span),
        ReturnType::Type(arrow, _) => *arrow,
    };
    let mode = if args.local {
        Some(quote_spanned!(async_span=> , #krate::Local))
    } else if args.local_output {
        Some(quote_spanned!(async_span=> , #krate::LocalOutput))
    } else {
        None
    };
    let future = match boxed {
        Some(lifetime) => crate::traits::boxed_type(args, output, lifetime, async_span),
        None => future_type(args, output, captured, send_bound, async_span),
    };
    let item = &args.item;
    let sent = args.send.clone().unwrap_or_else(|| syn::parse_quote!(()));
    // Kept as tokens rather than reparsed: no input can make the macro panic here.
    let ty = match args.kind {
        // A trait declares the bare future, which a plain `async fn` in an impl satisfies.
        Kind::Coroutine if args.decl && boxed.is_none() => future,
        Kind::Coroutine => quote_spanned!(async_span=> #krate::Coroutine<#future #mode>),
        Kind::Iterator => quote_spanned!(async_span=> #krate::Iter<#future, #item #mode>),
        Kind::Generator => {
            quote_spanned!(async_span=> #krate::Generator<#future, #item, #sent #mode>)
        }
        Kind::Context => quote_spanned!(async_span=> #krate::Context<#future, #item #mode>),
        Kind::Blocking => unreachable!("`blocking::expand` handles blocking functions"),
    };
    ReturnType::Type(arrow, Box::new(Type::Verbatim(ty)))
}

/// Whether the declared output is a type that is never `Send`, whatever its parameters: an
/// `Rc`, a raw pointer or `NonNull`, a std lock guard, a `dyn Trait` without `+ Send`, a
/// reference to a `Cell` or `RefCell`, or anything containing one. A coroutine returning one
/// cannot bring its output back from a background thread, so its `.run()` polls in place (the
/// `LocalOutput` mode) instead of failing to compile. Other types are left to `.run()`'s
/// `Send` bound, which names them if they are not `Send`.
pub(crate) fn never_send(output: &ReturnType) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_ptr(&mut self, _: &'ast syn::TypePtr) {
            self.0 = true;
        }
        fn visit_type_path(&mut self, ty: &'ast syn::TypePath) {
            const NEVER: [&str; 6] = [
                "Rc",
                "NonNull",
                "MutexGuard",
                "RwLockReadGuard",
                "RwLockWriteGuard",
                "ReentrantLockGuard",
            ];
            if ty.qself.is_none()
                && let Some(last) = ty.path.segments.last()
                && NEVER.iter().any(|name| last.ident == name)
            {
                self.0 = true;
            }
            syn::visit::visit_type_path(self, ty);
        }
        fn visit_type_trait_object(&mut self, ty: &'ast syn::TypeTraitObject) {
            let send = ty.bounds.iter().any(|bound| {
                matches!(bound, syn::TypeParamBound::Trait(bound)
                    if bound.path.segments.last().is_some_and(|s| s.ident == "Send"))
            });
            self.0 |= !send;
            syn::visit::visit_type_trait_object(self, ty);
        }
        fn visit_type_reference(&mut self, ty: &'ast syn::TypeReference) {
            if let Type::Path(path) = &*ty.elem
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Cell" || s.ident == "RefCell")
            {
                self.0 = true;
            }
            syn::visit::visit_type_reference(self, ty);
        }
        // What an `impl Trait` output hides is not written here: leave it to `.run()`.
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {}
    }
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    let mut finder = Finder(false);
    syn::visit::Visit::visit_type(&mut finder, ty);
    finder.0
}

/// `impl Future<Output = T> + Send + Captures<'a>..`, the future type inside the return type
/// (`+ Send` only with `send_bound`).
pub(crate) fn future_type(
    args: &Args,
    output: &ReturnType,
    captured: &[Lifetime],
    send_bound: bool,
    async_span: Span,
) -> TokenStream {
    let krate = respan(args.krate.clone(), async_span);
    let output = match output {
        ReturnType::Default => quote_spanned!(async_span=> ()),
        ReturnType::Type(_, ty) => ty.into_token_stream(),
    };
    let send = send_bound.then(|| quote_spanned!(async_span=> + #krate::__private::Send));
    let capture_bounds = captured
        .iter()
        .map(|lifetime| quote_spanned!(async_span=> + #krate::__private::Captures<#lifetime>));
    quote_spanned! {async_span=>
        impl #krate::__private::Future<Output = #output> #send #(#capture_bounds)*
    }
}

/// Gives each argument a plain name in the signature and returns the statements that move
/// the arguments into the future, in order (so they drop in reverse order, as in `async fn`).
//
// Input:  (&self, key: &str, mut n: u32, (a, b): (u8, u8), _: Guard, #[cfg(x)] c: u8)
// Output: (&self, key: &str, n: u32, __arg2: (u8, u8), __arg3: Guard, #[cfg(x)] c: u8)
//         let _ = &self; let key = key; let mut n = n;
//         let mut __arg2 = __arg2; let (a, b) = __arg2; let mut __arg3 = __arg3; #[cfg(x)] let c = c;
//
// `__argN` is `Span::mixed_site()`: the body cannot name it or clash with it. Attributes of
// a parameter (`#[cfg]`, lints) are copied onto its statements so a cfg'd-out parameter
// has no statement either.
pub(crate) fn move_arguments(sig: &mut Signature) -> Vec<TokenStream> {
    let mut moves = Vec::new();
    for (i, input) in sig.inputs.iter_mut().enumerate() {
        let arg = match input {
            FnArg::Receiver(receiver) => {
                moves.push(receiver::capture(receiver));
                continue;
            }
            FnArg::Typed(arg) => arg,
        };
        let attrs = &arg.attrs;
        match &mut *arg.pat {
            Pat::Ident(PatIdent {
                by_ref: None,
                mutability,
                ident,
                subpat: None,
                ..
            }) => {
                let mutability = mutability.take();
                // `_name` is the user's way to say "unused"; moving it into the future is
                // ours, so the lints about using or rebinding it must not fire on it.
                let underscore = ident.to_string().starts_with('_').then(|| {
                    quote!(#[allow(
                        clippy::used_underscore_binding,
                        clippy::no_effect_underscore_binding
                    )])
                });
                moves.push(quote!(#(#attrs)* #underscore let #mutability #ident = #ident;));
            }
            pat => {
                let name = format_ident!("__arg{}", i, span = Span::mixed_site());
                // Mutable, for a `ref mut` binding in the pattern (`ref mut v: Vec<u8>`), as
                // `async fn` allows; the hidden name is mixed-site, so the lint never fires on
                // user code.
                moves.push(quote!(#(#attrs)* #[allow(unused_mut)] let mut #name = #name;));
                if !matches!(pat, Pat::Wild(_)) {
                    moves.push(quote!(#(#attrs)* let #pat = #name;));
                }
                *pat = Pat::Ident(PatIdent {
                    attrs: Vec::new(),
                    by_ref: None,
                    mutability: None,
                    ident: name,
                    subpat: None,
                });
            }
        }
    }
    moves
}

/// `tokens` with every span set to `span`, for glue whose errors should point at user code.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(group) = &tt {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                tt = proc_macro2::TokenTree::Group(new);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}
