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
//!
//! One nesting is the user's own body in another form: `#[tracing::instrument]` written above
//! our attribute expands first and moves the body into `async move` blocks that it awaits in
//! place. [`Rewrite::instrumented`] recognises that shape and rewrites the body where it now
//! is, with the label on it there.

use crate::args::Kind;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, ExprMacro, Ident, Item, Lifetime, Local, Macro, Pat, Stmt, StmtMacro};

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

    /// The body of a function that `#[tracing::instrument]` (written above our attribute)
    /// has already expanded: rewrites the user's statements inside tracing's `async move`
    /// blocks and labels them there (a body that yields needs its label around the `yield_!`s;
    /// see the module docs). Returns how many `yield_!`s it rewrote, or `None` if `stmts` is
    /// not in that shape, when [`Rewrite::body`] applies.
    ///
    /// tracing-attributes 0.1 makes the body of an instrumented `async fn`:
    /// ```text
    /// <statements for its own warnings, if any>
    /// let __tracing_attr_span = <span>;
    /// let __tracing_instrument_future = <future>;
    /// if !__tracing_attr_span.is_disabled() { <instrumented future>.await } else { <future>.await }
    /// ```
    /// where `<future>` is `async move <block>`, or with `err`/`ret` an `async move` block
    /// that first awaits `async move <block>`; `<block>` is the user's block after a
    /// `return` that never runs (tracing's hint for type inference). The future is awaited at once, in
    /// place, and each block moves the yielder in, so a `yield_!` there still acts on the body
    /// of our function and on nothing else.
    pub(crate) fn instrumented(&self, stmts: &mut [Stmt]) -> Option<usize> {
        let future = stmts.windows(2).position(|pair| {
            matches!(pair, [Stmt::Local(span), Stmt::Local(future)]
                if binds(span, "__tracing_attr_span")
                    && binds(future, "__tracing_instrument_future"))
        })? + 1;
        let Stmt::Local(future) = &mut stmts[future] else {
            unreachable!("matched above");
        };
        let Expr::Async(outer) = &mut *future.init.as_mut()?.expr else {
            return None;
        };
        let block = match awaited_block(&mut outer.block) {
            Some(inner) => inner,
            None => &mut outer.block,
        };
        let yields = self.body(&mut block.stmts);
        if self.kind.yields() {
            let label = &self.label;
            let inner = &block.stmts;
            let labelled = quote!(#label: { #(#inner)* });
            block.stmts = vec![Stmt::Expr(Expr::Verbatim(labelled), None)];
        }
        Some(yields)
    }
}

/// Whether `local` is `let <name> = ...`.
fn binds(local: &Local, name: &str) -> bool {
    matches!(&local.pat, Pat::Ident(pat) if pat.ident == name)
}

/// Whether `pat` is `<name>(..)`.
fn variant(pat: &Pat, name: &str) -> bool {
    matches!(pat, Pat::TupleStruct(pat) if pat.path.is_ident(name))
}

/// The user's block in tracing's `err`/`ret` wrapper: `let __match_scrutinee = async move
/// <block>.await; ..`, `match async move <block>.await { Ok(x) => .., Err(e) => .. }` or
/// `let x = async move <block>.await; ..`.
fn awaited_block(wrapper: &mut Block) -> Option<&mut Block> {
    let len = wrapper.stmts.len();
    let awaited = match wrapper.stmts.first_mut()? {
        Stmt::Local(local)
            if binds(local, "__match_scrutinee") || (binds(local, "x") && len == 3) =>
        {
            &mut *local.init.as_mut()?.expr
        }
        Stmt::Expr(Expr::Match(matched), None)
            if len == 1
                && matched.arms.len() == 2
                && variant(&matched.arms[0].pat, "Ok")
                && variant(&matched.arms[1].pat, "Err") =>
        {
            &mut *matched.expr
        }
        _ => return None,
    };
    let Expr::Await(awaited) = awaited else {
        return None;
    };
    match &mut *awaited.base {
        Expr::Async(inner) => Some(&mut inner.block),
        _ => None,
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
