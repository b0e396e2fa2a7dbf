//! `#[anysync::blocking]`: a blocking `fn` that async callers offload and blocking callers
//! call inline.

use crate::args::Args;
use crate::error::{Errors, bail, format_err};
use crate::expand::{move_arguments, respan, typed_body};
use quote::{ToTokens, quote_spanned};
use syn::visit::Visit;
use syn::{Block, FnArg, ReturnType, Signature, Type};

/// A blocking function's signature: not `async`, and nothing borrowed, since `.await`
/// offloads the call to a worker thread that may outlive the caller's borrows (a dropped
/// awaiter abandons the call, but the thread cannot be stopped).
pub(crate) fn validate(sig: &Signature) -> syn::Result<()> {
    if let Some(asyncness) = &sig.asyncness {
        bail!(
            asyncness,
            "#[anysync::blocking] is for a blocking `fn`; for an `async fn` use \
             #[anysync::coroutine]"
        );
    }
    if let Some(constness) = &sig.constness {
        bail!(
            constness,
            "#[anysync::blocking] cannot be applied to a `const fn`"
        );
    }
    if let Some(variadic) = &sig.variadic {
        bail!(
            variadic,
            "#[anysync::blocking] does not support variadic functions"
        );
    }
    let mut errors = Errors::default();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) if receiver_borrows(&receiver.kind) => {
                errors.push(format_err!(
                    receiver,
                    "#[anysync::blocking] cannot borrow `self`: `.await` runs the body on a \
                     worker thread that may outlive the borrow; take `self` by value (e.g. \
                     `self: Arc<Self>`) or clone what the body needs into an owned argument"
                ));
            }
            FnArg::Typed(arg) if borrows(&arg.ty) => {
                errors.push(format_err!(
                    arg.ty,
                    "#[anysync::blocking] cannot take borrowed arguments: `.await` runs the body \
                     on a worker thread that may outlive the borrow; pass an owned value \
                     instead (`String` for `&str`, `PathBuf` for `&Path`, `Arc<T>` for `&T`)"
                ));
            }
            _ => {}
        }
    }
    errors.into_result()
}

/// `&self`, `&mut self`, `self: &Self`, `self: Pin<&mut Self>`...
fn receiver_borrows(kind: &syn::ReceiverKind) -> bool {
    match kind {
        syn::ReceiverKind::Reference(..) => true,
        syn::ReceiverKind::Typed(_, ty) => borrows(ty),
        _ => false,
    }
}

/// Whether a type mentions a reference or a lifetime other than `'static`.
fn borrows(ty: &Type) -> bool {
    struct Finder(bool);
    impl Visit<'_> for Finder {
        fn visit_type_reference(&mut self, reference: &syn::TypeReference) {
            let is_static = reference
                .lifetime
                .as_ref()
                .is_some_and(|l| l.ident == "static");
            self.0 |= !is_static;
            syn::visit::visit_type_reference(self, reference);
        }
        fn visit_lifetime(&mut self, lifetime: &syn::Lifetime) {
            self.0 |= lifetime.ident != "static";
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

/// Turns a blocking `fn` into one returning a `Blocking` of the same call.
//
// Input:
//     fn hash_file(path: PathBuf) -> io::Result<Digest> { body }
// Output:
//     fn hash_file(path: PathBuf) -> ::anysync::Blocking<impl ::core::ops::FnOnce()
//         -> io::Result<Digest> + ::core::marker::Send + 'static>
//     {
//         ::anysync::__private::Blocking::new(move || {
//             let path = path;
//             let __anysync_ret: io::Result<Digest> = { body };
//             __anysync_ret
//         })
//     }
//
// Like the coroutine attributes, the arguments are moved into the returned value at the
// call, and nothing of the body runs until `.run()` or `.await`. With `?Send` the closure
// need not be `Send` (then only `.run()` compiles).
pub(crate) fn expand(args: &Args, sig: &mut Signature, block: &mut Block) {
    let span = sig.fn_token.span;
    let moves = move_arguments(sig);
    let body = typed_body(&sig.output, &block.stmts, None);
    let krate = &args.krate;
    let call = quote_spanned! {span=>
        #krate::__private::Blocking::new(move || {
            #(#moves)*
            #body
        })
    };
    *block = Block {
        brace_token: block.brace_token,
        stmts: vec![syn::Stmt::Expr(syn::Expr::Verbatim(call), None)],
    };
    let output = match &sig.output {
        ReturnType::Default => quote_spanned!(span=> ()),
        ReturnType::Type(_, ty) => ty.into_token_stream(),
    };
    let krate = respan(krate.clone(), span);
    let send = (!args.local).then(|| quote_spanned!(span=> + ::core::marker::Send));
    let arrow = match &sig.output {
        ReturnType::Type(arrow, _) => *arrow,
        ReturnType::Default => syn::Token![->](span),
    };
    let ty = quote_spanned! {span=>
        #krate::Blocking<impl ::core::ops::FnOnce() -> #output #send + 'static>
    };
    sig.output = ReturnType::Type(arrow, Box::new(Type::Verbatim(ty)));
}
