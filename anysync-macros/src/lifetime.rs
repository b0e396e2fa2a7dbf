//! Naming elided lifetimes, collision-free, and listing the lifetimes a coroutine captures.
//!
//! An `async fn` future captures every lifetime of its arguments. A plain `fn` returning
//! `impl Trait` captures all of them only in edition 2024; in edition 2021 it captures just
//! the lifetimes its bounds name. So the macro names each elided lifetime of the arguments
//! (`&str` becomes `&'__anysync0 str`) and names every captured lifetime in a
//! `Captures<'a>` bound, which expands the same in both editions. `+ use<..>` cannot be used
//! instead: it must list every type parameter in scope, and neither `impl Trait` arguments
//! nor the generics of an enclosing `impl` (invisible to a method's attribute) can be listed.

use proc_macro2::Span;
use syn::visit::Visit;
use syn::visit_mut::{self, VisitMut};
use syn::{
    GenericParam, Generics, Lifetime, LifetimeParam, ParenthesizedGenericArguments, Receiver,
    ReceiverKind, TraitBound, TypeFnPtr, TypeImplTrait, TypeReference,
};

/// A prefix for generated lifetimes that no lifetime in `node` starts with:
/// `'__anysync`, extended with `_` while it clashes.
pub(crate) fn fresh_prefix<'ast>(node: impl FnOnce(&mut dyn Visit<'ast>)) -> String {
    struct Names(Vec<String>);
    impl<'ast> Visit<'ast> for Names {
        fn visit_lifetime(&mut self, lifetime: &'ast Lifetime) {
            self.0.push(lifetime.ident.to_string());
        }
    }
    let mut names = Names(Vec::new());
    node(&mut names);
    let mut prefix = "__anysync".to_owned();
    while names.0.iter().any(|name| name.starts_with(&prefix)) {
        prefix.push('_');
    }
    prefix
}

/// Names the elided lifetimes in a function's arguments and collects the lifetimes they
/// mention, in order of first appearance (deterministic output).
//
// Input:  fn get(&self, key: &str, cache: Cache<'_>, name: &'a str)
// Output: fn get(&'__anysync0 self, key: &'__anysync1 str, cache: Cache<'__anysync2>, name: &'a str)
//         named = ['__anysync0, '__anysync1, '__anysync2]
//         mentioned = ['__anysync0, '__anysync1, '__anysync2, 'a]
pub(crate) struct ElidedLifetimes {
    prefix: String,
    /// Lifetimes created for elided ones; they become generic parameters of the function.
    pub(crate) named: Vec<Lifetime>,
    /// Every lifetime the arguments mention (except `'static`), named ones included.
    pub(crate) mentioned: Vec<Lifetime>,
    /// Every distinct lifetime of the arguments, `'static` included: elision's input count.
    distinct: Vec<String>,
    /// The lifetime of a `&self`, `&mut self` or `self: &Self`-like receiver.
    receiver: Option<Lifetime>,
    in_receiver: bool,
    /// Depth inside `impl Trait` arguments: lifetimes there are mentioned, never elided
    /// (rustc rejects `'_` in `impl Trait` arguments).
    in_impl_trait: usize,
}

impl ElidedLifetimes {
    pub(crate) fn new(prefix: String) -> Self {
        ElidedLifetimes {
            prefix,
            named: Vec::new(),
            mentioned: Vec::new(),
            distinct: Vec::new(),
            receiver: None,
            in_receiver: false,
            in_impl_trait: 0,
        }
    }

    fn fresh(&mut self, span: Span) -> Lifetime {
        let name = format!("'{}{}", self.prefix, self.named.len());
        // Located at the user's `&` for diagnostics, but resolved at the macro (mixed-site):
        // lints see it as generated (clippy's `elidable_lifetime_names` would flag it).
        let lifetime = Lifetime::new(&name, Span::mixed_site().located_at(span));
        self.named.push(lifetime.clone());
        lifetime
    }

    fn name_if_elided(&mut self, lifetime: &mut Option<Lifetime>, span: Span) {
        if lifetime.is_none() && self.in_impl_trait == 0 {
            *lifetime = Some(self.fresh(span));
        }
    }

    fn mention(&mut self, lifetime: &Lifetime) {
        let name = lifetime.ident.to_string();
        if !self.distinct.contains(&name) {
            self.distinct.push(name);
        }
        if self.in_receiver && self.receiver.is_none() {
            self.receiver = Some(lifetime.clone());
        }
        if lifetime.ident != "static"
            && lifetime.ident != "_"
            && !self
                .mentioned
                .iter()
                .any(|seen| seen.ident == lifetime.ident)
        {
            self.mentioned.push(lifetime.clone());
        }
    }
}

impl VisitMut for ElidedLifetimes {
    fn visit_receiver_mut(&mut self, receiver: &mut Receiver) {
        if let ReceiverKind::Reference(and, lifetime, _) = &mut receiver.kind {
            self.name_if_elided(lifetime, and.span);
        }
        self.in_receiver = true;
        visit_mut::visit_receiver_mut(self, receiver);
        self.in_receiver = false;
    }

    fn visit_type_reference_mut(&mut self, ty: &mut TypeReference) {
        self.name_if_elided(&mut ty.lifetime, ty.and_token.span);
        visit_mut::visit_type_reference_mut(self, ty);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" && self.in_impl_trait == 0 {
            *lifetime = self.fresh(lifetime.span());
        }
        self.mention(lifetime);
    }

    fn visit_type_impl_trait_mut(&mut self, ty: &mut TypeImplTrait) {
        self.in_impl_trait += 1;
        visit_mut::visit_type_impl_trait_mut(self, ty);
        self.in_impl_trait -= 1;
    }

    // Elision inside `fn(&T)`, `Fn(&T)` and `for<'a>` bounds is higher-ranked: it belongs to
    // the bound, not to the function, and must stay as written.
    fn visit_type_fn_ptr_mut(&mut self, _: &mut TypeFnPtr) {}

    fn visit_parenthesized_generic_arguments_mut(&mut self, _: &mut ParenthesizedGenericArguments) {
    }

    fn visit_trait_bound_mut(&mut self, bound: &mut TraitBound) {
        if bound.lifetimes.is_none() {
            visit_mut::visit_trait_bound_mut(self, bound);
        }
    }
}

impl ElidedLifetimes {
    /// The lifetime that elided lifetimes of the output stand for, by rustc's elision rules:
    /// the receiver's, else the only lifetime of the arguments.
    pub(crate) fn output_lifetime(&self) -> Option<&Lifetime> {
        match &self.receiver {
            Some(receiver) => Some(receiver),
            None if self.distinct.len() == 1 => self.mentioned.first(),
            None => None,
        }
    }
}

/// Writes out the elided lifetimes of the output, which the arguments' lifetimes now name:
/// rustc's `mismatched_lifetime_syntaxes` lint rejects `&'__anysync0 self -> &str`.
//
// Input:  (&'__anysync0 self) -> Option<&str>
// Output: (&'__anysync0 self) -> Option<&'__anysync0 str>
pub(crate) struct OutputLifetimes<'a>(pub(crate) &'a Lifetime);

impl VisitMut for OutputLifetimes<'_> {
    fn visit_type_reference_mut(&mut self, ty: &mut TypeReference) {
        if ty.lifetime.is_none() {
            let mut lifetime = self.0.clone();
            lifetime.set_span(ty.and_token.span);
            ty.lifetime = Some(lifetime);
        }
        visit_mut::visit_type_reference_mut(self, ty);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" {
            let span = lifetime.span();
            *lifetime = self.0.clone();
            lifetime.set_span(span);
        }
    }

    fn visit_type_fn_ptr_mut(&mut self, _: &mut TypeFnPtr) {}

    fn visit_parenthesized_generic_arguments_mut(&mut self, _: &mut ParenthesizedGenericArguments) {
    }

    fn visit_trait_bound_mut(&mut self, bound: &mut TraitBound) {
        if bound.lifetimes.is_none() {
            visit_mut::visit_trait_bound_mut(self, bound);
        }
    }
}

/// Adds `lifetimes` as generic parameters, after the lifetimes already declared.
//
// Input:  <'a, T>          + ['__anysync0]
// Output: <'a, '__anysync0, T>
pub(crate) fn add_params(generics: &mut Generics, lifetimes: &[Lifetime]) {
    let at = generics.lifetimes().count();
    for (i, lifetime) in lifetimes.iter().enumerate() {
        let param = LifetimeParam {
            attrs: Vec::new(),
            lifetime: lifetime.clone(),
            colon_token: None,
            bounds: syn::punctuated::Punctuated::new(),
        };
        generics
            .params
            .insert(at + i, GenericParam::Lifetime(param));
    }
}
