//! The scope-aware rewrite of `yield_!` (and `exit_status!`) in a body.
//!
//! async-stream's unsoundness issues #106/#107 came from rewriting `yield` inside closures and
//! nested `async` blocks, where it yields from the wrong future. Here:
//!
//! - `yield_!(v)` directly in the body becomes `yielder.yield_(v).await`;
//! - `yield_!` inside a closure, an `async` block or a nested item is replaced by a
//!   `compile_error!` that says why, spanned at the user's `yield_!`;
//! - `yield_!` inside another macro's arguments is not seen here (those tokens are not parsed),
//!   so it expands as `anysync::yield_!` itself, which is a `compile_error!` too;
//! - as a backstop for anything a visitor could miss, each rewrite also contains
//!   `break 'label`, with a label that only the body's own block defines: rustc rejects a
//!   `break` to it from inside any closure or `async` block (E0767). The label is
//!   `Span::mixed_site()`, so user code cannot name it.

use crate::args::Kind;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ExprMacro, Ident, Item, Lifetime, Macro, Stmt, StmtMacro};

/// The names a rewrite needs: the hidden yielder and the body's label.
pub(crate) struct Rewrite {
    pub(crate) kind: Kind,
    pub(crate) krate: TokenStream,
    pub(crate) yielder: Ident,
    pub(crate) label: Lifetime,
}

impl Rewrite {
    pub(crate) fn new(kind: Kind, krate: TokenStream) -> Self {
        Rewrite {
            kind,
            krate,
            yielder: Ident::new("__anysync_yielder", Span::mixed_site()),
            label: Lifetime {
                apostrophe: Span::mixed_site(),
                ident: Ident::new("__anysync_body", Span::mixed_site()),
            },
        }
    }

    /// Rewrites the statements of a body in place; returns how many `yield_!`s it rewrote.
    pub(crate) fn body(&self, stmts: &mut [Stmt]) -> usize {
        let mut visitor = Visitor {
            rewrite: self,
            yields: 0,
        };
        for stmt in stmts {
            visitor.visit_stmt_mut(stmt);
        }
        visitor.yields
    }
}

/// Which of our macros a macro call is, if any.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ours {
    Yield,
    ExitStatus,
}

fn ours(mac: &Macro) -> Option<Ours> {
    let segments = &mac.path.segments;
    let last = segments.last()?;
    // `yield_!`, `anysync::yield_!`, `::anysync::yield_!`, or through a re-export.
    if last.ident == "yield_" {
        Some(Ours::Yield)
    } else if last.ident == "exit_status" {
        Some(Ours::ExitStatus)
    } else {
        None
    }
}

struct Visitor<'a> {
    rewrite: &'a Rewrite,
    yields: usize,
}

impl Visitor<'_> {
    // Input:  yield_!(value)
    // Output: {
    //             yield_!(@__anysync_resolve);  // no-op: resolves the user's path
    //             if false { break '__anysync_body (::anysync::__private::unreachable()); }
    //             __anysync_yielder.yield_(value).await       // generators: `Option<S>`
    //             __anysync_yielder.hand_over(value).await    // contexts: the value back
    //             __anysync_yielder.yield_(value).await;      // iterators: `()`
    //         }
    //
    // An iterator's `yield_!` is a statement-like `()` (it receives nothing), so that
    // `for x in v { yield_!(x) }` and `match` arms with a `yield_!` type-check as written.
    // and exit_status!() -> __anysync_yielder.exit_status()    // contexts only
    fn replace(&mut self, mac: &Macro) -> TokenStream {
        let Rewrite {
            kind,
            yielder,
            label,
            ..
        } = self.rewrite;
        let span = mac.span();
        // Resolve the path the user wrote, through a no-op arm of the real macro: their
        // `use anysync::yield_;` then counts as used, and a missing import is reported by
        // rustc as for any macro.
        let path = &mac.path;
        let resolve = quote!(#path!(@__anysync_resolve););
        match ours(mac) {
            Some(Ours::ExitStatus) if *kind == Kind::Context => {
                if !mac.tokens.is_empty() {
                    return misuse(mac, "`exit_status!()` takes no arguments");
                }
                quote_spanned!(span=> { #resolve #yielder.exit_status() })
            }
            Some(Ours::ExitStatus) => misuse(
                mac,
                &format!(
                    "`exit_status!()` can only be used in the body of a #[anysync::context], \
                     not a {}",
                    kind.attr()
                ),
            ),
            Some(Ours::Yield) if !kind.yields() => misuse(
                mac,
                "`yield_!` cannot be used in a #[anysync::coroutine]; use \
                 #[anysync::iterator(item = T)] or #[anysync::generator(item = T)] for a body \
                 that yields",
            ),
            Some(Ours::Yield) => {
                self.yields += 1;
                let value = match parse_value(mac) {
                    Ok(value) => value,
                    Err(err) => return err.to_compile_error(),
                };
                let method = if *kind == Kind::Context {
                    quote_spanned!(span=> hand_over)
                } else {
                    quote_spanned!(span=> yield_)
                };
                // The backstop is glue, not user code: mixed-site, so lints skip it.
                let krate = &self.rewrite.krate;
                let backstop = quote_spanned! {Span::mixed_site()=>
                    if false {
                        // Parenthesised: `break 'l ::path` reads as a label definition
                        // (`'l:`) to syn 2, so `#[tracing::instrument]` could not parse it.
                        break #label (#krate::__private::unreachable());
                    }
                };
                // Iterators receive nothing: `()`, not the `Option<()>` that `yield_` returns.
                let unit = (*kind == Kind::Iterator).then(|| quote_spanned!(span=> ;));
                quote_spanned! {span=>
                    {
                        #resolve
                        #backstop
                        #yielder.#method(#value).await #unit
                    }
                }
            }
            None => mac.to_token_stream(),
        }
    }
}

/// `yield_!(value)`; `yield_!()` yields `()`.
fn parse_value(mac: &Macro) -> syn::Result<TokenStream> {
    if mac.tokens.is_empty() {
        return Ok(quote!(()));
    }
    let value: Expr = mac.parse_body()?;
    Ok(value.into_token_stream())
}

impl VisitMut for Visitor<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(ExprMacro { mac, .. }) if ours(mac).is_some() => {
                *expr = Expr::Verbatim(self.replace(mac));
            }
            Expr::Closure(_) => Forbid("a closure").visit_expr_mut(expr),
            Expr::Async(_) => Forbid("an `async` block").visit_expr_mut(expr),
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(StmtMacro {
            mac, semi_token, ..
        }) = stmt
            && ours(mac).is_some()
        {
            *stmt = Stmt::Expr(Expr::Verbatim(self.replace(mac)), *semi_token);
            return;
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_item_mut(&mut self, item: &mut Item) {
        Forbid("a nested item").visit_item_mut(item);
    }
}

/// Replaces every `yield_!` in a nested scope by a `compile_error!` saying why.
struct Forbid(&'static str);

impl Forbid {
    fn error(&self, mac: &Macro) -> TokenStream {
        let what = match ours(mac) {
            Some(Ours::ExitStatus) => "`exit_status!()`",
            _ => "`yield_!`",
        };
        misuse(
            mac,
            &format!(
                "{what} cannot be used inside {}: it would act on that inner scope, not on the \
                 body of the #[anysync] function; move it out to the body itself",
                self.0
            ),
        )
    }
}

impl VisitMut for Forbid {
    // A nested function with its own attribute is expanded by that attribute: its `yield_!`s
    // belong to it.
    fn visit_item_fn_mut(&mut self, item: &mut syn::ItemFn) {
        if !crate::parse::has_own_attribute(&item.attrs) {
            visit_mut::visit_item_fn_mut(self, item);
        }
    }

    fn visit_impl_item_fn_mut(&mut self, item: &mut syn::ImplItemFn) {
        if !crate::parse::has_own_attribute(&item.attrs) {
            visit_mut::visit_impl_item_fn_mut(self, item);
        }
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::Macro(ExprMacro { mac, .. }) = expr
            && ours(mac).is_some()
        {
            *expr = Expr::Verbatim(self.error(mac));
            return;
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(StmtMacro {
            mac, semi_token, ..
        }) = stmt
            && ours(mac).is_some()
        {
            *stmt = Stmt::Expr(Expr::Verbatim(self.error(mac)), *semi_token);
            return;
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }
}

/// A `compile_error!` in place of one of our macros. The user's path is still resolved, so
/// that their `use anysync::yield_;` is not reported as unused next to the real error.
fn misuse(mac: &Macro, message: &str) -> TokenStream {
    let path = &mac.path;
    quote_spanned!(mac.span()=> { #path!(@__anysync_resolve); ::core::compile_error!(#message) })
}
