//! The attributes' arguments: `#[anysync::coroutine(?Send, dyn, crate = "path")]`,
//! `#[anysync::iterator(item = T)]`, `#[anysync::generator(item = T, send = S)]`,
//! `#[anysync::context(item = T)]`.

use crate::error::{Errors, format_err};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Path, Token, Type};

/// Which attribute is being expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Coroutine,
    Iterator,
    Generator,
    Context,
    Blocking,
}

impl Kind {
    /// The attribute as users write it, for messages.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Coroutine => "#[anysync::coroutine]",
            Kind::Iterator => "#[anysync::iterator]",
            Kind::Generator => "#[anysync::generator]",
            Kind::Context => "#[anysync::context]",
            Kind::Blocking => "#[anysync::blocking]",
        }
    }

    /// The attribute's name (`coroutine`), as in `#[anysync::coroutine]`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Coroutine => "coroutine",
            Kind::Iterator => "iterator",
            Kind::Generator => "generator",
            Kind::Context => "context",
            Kind::Blocking => "blocking",
        }
    }

    /// Whether the body may use `yield_!`.
    pub(crate) fn yields(self) -> bool {
        matches!(self, Kind::Iterator | Kind::Generator | Kind::Context)
    }

    fn accepted(self) -> &'static str {
        match self {
            Kind::Blocking => "`?Send` or `crate = \"...\"`",
            Kind::Coroutine => "`Send`, `?Send`, `dyn` or `crate = \"...\"`",
            Kind::Iterator | Kind::Context => "`item = Type`, `Send`, `?Send` or `crate = \"...\"`",
            Kind::Generator => "`item = Type`, `send = Type`, `Send`, `?Send` or `crate = \"...\"`",
        }
    }
}

/// Parsed arguments of an attribute.
#[derive(Clone)]
pub(crate) struct Args {
    pub(crate) kind: Kind,
    /// `?Send`: the future need not be `Send`; the result uses the `Local` mode.
    pub(crate) local: bool,
    /// Not an argument: set by the expansion for a coroutine whose output type is never
    /// `Send` (see `expand::never_send`); the result uses the `LocalOutput` mode.
    pub(crate) local_output: bool,
    /// `Send`: check at the definition that the future is `Send`, also for a generic
    /// function (whose future is otherwise `Send` exactly when its instantiation is).
    pub(crate) send_bound: bool,
    /// The path generated code starts with: `::anysync`, or the `crate = "..."` path.
    pub(crate) krate: TokenStream,
    /// `item = T`: what `yield_!` hands out (iterators, generators, contexts).
    pub(crate) item: Option<Type>,
    /// `send = S`: what a generator's `yield_!` receives (`()` when absent).
    pub(crate) send: Option<Type>,
    /// `item` is missing (an error already): the body is not expanded, since its `yield_!`s
    /// would only add type errors about a guessed item type.
    pub(crate) inert: bool,
    /// `dyn` (on a trait or a trait impl): methods return a boxed future, so the trait can be
    /// a trait object. The token, for errors about where it was written.
    pub(crate) dyn_: Option<Token![dyn]>,
    /// Not an argument: set for a method of a `dyn` trait or impl that is in the vtable; its
    /// future is boxed (`Coroutine<Pin<Box<dyn Future<..> + Send + 'a>>>`).
    pub(crate) boxed: bool,
    /// Not an argument: set for a method of a trait declaration. Its return type names no
    /// `Captures` (a return-position `impl Trait` in a trait captures every lifetime).
    pub(crate) decl: bool,
    /// Not an argument: set for a method of a trait impl. Its return type names no
    /// `Captures`: an impl's `impl Trait` captures every lifetime in scope, in edition 2021
    /// too, and the bounds would make rustc equate the lifetimes of a `#[instrument]` body's
    /// hidden function (which has its own `Captures`).
    pub(crate) refines: bool,
}

impl Args {
    fn new(kind: Kind) -> Self {
        Args {
            kind,
            local: false,
            local_output: false,
            send_bound: false,
            krate: quote!(::anysync),
            item: None,
            send: None,
            inert: false,
            dyn_: None,
            boxed: false,
            decl: false,
            refines: false,
        }
    }
}

/// Parses the arguments, keeping every valid one so the item can still be expanded when
/// some other argument is wrong (then the error and the expansion are emitted together).
pub(crate) fn parse_args(kind: Kind, tokens: TokenStream) -> (Args, Errors) {
    let mut args = Args::new(kind);
    let mut errors = Errors::default();
    // `Send` or `?Send`, and the tokens that said it.
    let mut seen_send: Option<TokenStream> = None;
    let mut seen_crate = false;
    // Type arguments given with an invalid value: already reported, not "missing" as well.
    let mut attempted = Vec::new();
    let parser = |input: ParseStream<'_>| -> syn::Result<()> {
        while !input.is_empty() {
            if input.peek(Token![,]) {
                // `(,)`, `(?Send,,)`: a separator with nothing before it.
                let comma: Token![,] = input.parse()?;
                errors.push(format_err!(
                    comma,
                    "expected an argument before this `,`: {}",
                    kind.accepted()
                ));
                continue;
            }
            if input.peek(Token![?]) {
                let question: Token![?] = input.parse()?;
                if input.is_empty() || input.peek(Token![,]) {
                    errors.push(format_err!(question, "expected `?Send` after `?`"));
                    if !input.is_empty() {
                        let _: Token![,] = input.parse()?;
                    }
                    continue;
                }
                let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                if name != "Send" {
                    errors.push(format_err!(
                        quote!(#question #name),
                        "unknown argument `?{name}`; did you mean `?Send`"
                    ));
                } else if let Some(earlier) = &seen_send {
                    errors.push(send_conflict(quote!(#question #name), earlier));
                } else {
                    seen_send = Some(quote!(#question #name));
                    args.local = true;
                }
            } else if kind != Kind::Blocking && input.peek(Ident) && is_send(input) {
                let name: Ident = input.parse()?;
                if let Some(earlier) = &seen_send {
                    errors.push(send_conflict(quote!(#name), earlier));
                } else {
                    seen_send = Some(quote!(#name));
                    args.send_bound = true;
                }
            } else if kind == Kind::Coroutine && input.peek(Token![dyn]) {
                let token: Token![dyn] = input.parse()?;
                if args.dyn_.is_some() {
                    errors.push(format_err!(token, "duplicate argument `dyn`"));
                } else {
                    args.dyn_ = Some(token);
                }
            } else if input.peek(Token![crate]) {
                let key: Token![crate] = input.parse()?;
                let Some(eq) = input.parse::<Option<Token![=]>>()? else {
                    let rest = skip_to_comma(input);
                    errors.push(format_err!(
                        quote!(#key #rest),
                        "`crate` expects a path in a string, like `crate = \"my_crate::anysync\"`"
                    ));
                    if !input.is_empty() {
                        let _: Token![,] = input.parse()?;
                    }
                    continue;
                };
                if input.peek(LitStr) {
                    let lit: LitStr = input.parse()?;
                    if seen_crate {
                        errors.push(format_err!(
                            quote!(#key = #lit),
                            "duplicate argument `crate`"
                        ));
                    } else {
                        seen_crate = true;
                        match lit.parse_with(Path::parse_mod_style) {
                            Ok(path) => args.krate = path.into_token_stream(),
                            Err(_) => errors.push(format_err!(
                                lit,
                                "`crate` must be a path to anysync, like `crate = \"my_crate::anysync\"`"
                            )),
                        }
                    }
                } else {
                    let value = skip_to_comma(input);
                    // Point at the value if there is one, else at `crate =`.
                    let at = if value.is_empty() {
                        quote!(#key #eq)
                    } else {
                        value
                    };
                    errors.push(format_err!(
                        at,
                        "`crate` expects a path in a string, like `crate = \"my_crate::anysync\"`"
                    ));
                }
            } else if let Some(slot) = type_argument(input, kind, &mut args) {
                let key: Ident = input.parse()?;
                let eq: Token![=] = input.parse()?;
                match input.parse::<Type>() {
                    Ok(ty) if slot.is_some() => {
                        errors.push(format_err!(
                            quote!(#key #eq #ty),
                            "duplicate argument `{key}`"
                        ));
                    }
                    Ok(ty) if contains_impl_trait(&ty) => {
                        attempted.push(key.to_string());
                        errors.push(format_err!(
                            ty,
                            "`{key}` must name a type: `impl Trait` cannot be the type of a \
                             yielded value here; write the concrete type, or box it \
                             (`{key} = Box<dyn Trait>`)"
                        ));
                    }
                    Ok(ty) => *slot = Some(ty),
                    Err(_) => {
                        attempted.push(key.to_string());
                        let value = skip_to_comma(input);
                        errors.push(format_err!(
                            quote!(#key #eq #value),
                            "`{key}` expects a type, like `{key} = u32`"
                        ));
                    }
                }
            } else {
                let unknown = skip_to_comma(input);
                let message = if unknown.to_string() == "Send" {
                    format!(
                        "{} is `Send` whenever its arguments are; write `?Send` to opt out",
                        kind.attr()
                    )
                } else {
                    format!("unknown argument `{unknown}`; expected {}", kind.accepted())
                };
                errors.push(format_err!(unknown, "{message}"));
            }
            if !input.is_empty() {
                let _: Token![,] = input.parse()?;
            }
        }
        Ok(())
    };
    if let Err(err) = parser.parse2(tokens) {
        errors.push(err);
    }
    if kind.yields() && args.item.is_none() && !attempted.iter().any(|key| key == "item") {
        errors.push(syn::Error::new(
            Span::call_site(),
            format!(
                "{} needs `item = Type`, the type of the values `yield_!` hands out",
                kind.attr()
            ),
        ));
    }
    // Expand anyway (see `Args::inert`), so that callers see the right kind of value.
    if kind.yields() && args.item.is_none() {
        args.item = Some(syn::parse_quote!(()));
        args.inert = true;
    }
    (args, errors)
}

/// Whether `ty` has an `impl Trait` anywhere in it.
pub(crate) fn contains_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_type(&mut finder, ty);
    finder.0
}

/// Whether the next argument is exactly `Send` (followed by a comma or the end).
fn is_send(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    fork.parse::<Ident>().is_ok_and(|name| name == "Send")
        && (fork.is_empty() || fork.peek(Token![,]))
}

/// `Send` or `?Send` given twice, or both.
fn send_conflict(tokens: TokenStream, earlier: &TokenStream) -> syn::Error {
    if tokens.to_string() == earlier.to_string() {
        format_err!(
            tokens,
            "duplicate argument `{}`",
            tokens.to_string().replace(' ', "")
        )
    } else {
        format_err!(
            tokens,
            "`Send` and `?Send` contradict each other; keep one: `Send` checks at the definition \
             that the future is `Send`, `?Send` allows a future that is not"
        )
    }
}

/// If the next argument is `item = ..` or `send = ..` and `kind` accepts it, its slot.
fn type_argument<'a>(
    input: ParseStream<'_>,
    kind: Kind,
    args: &'a mut Args,
) -> Option<&'a mut Option<Type>> {
    if !input.peek(Ident) || !input.peek2(Token![=]) {
        return None;
    }
    let key = input.fork().parse::<Ident>().ok()?;
    match (kind, key.to_string().as_str()) {
        (Kind::Iterator | Kind::Generator | Kind::Context, "item") => Some(&mut args.item),
        (Kind::Generator, "send") => Some(&mut args.send),
        _ => None,
    }
}

/// Consumes the tokens of one argument and returns them, for an error spanned on all of them.
fn skip_to_comma(input: ParseStream<'_>) -> TokenStream {
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        match input.parse::<proc_macro2::TokenTree>() {
            Ok(tt) => tt.to_tokens(&mut tokens),
            Err(_) => break,
        }
    }
    tokens
}
