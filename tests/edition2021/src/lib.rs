//! Edition-2021 user crate for anysync macro expansion tests.
#![deny(warnings, refining_impl_trait)]
// A public trait and its impl in a library: the impl's `Coroutine` refines the trait's
// `impl Future + Send`, which rustc's `refining_impl_trait_reachable` lint reports for a
// reachable trait unless the attribute allows it. Denied here, so a leak fails the build.

/// A store, as a library exports one.
#[anysync::coroutine]
pub trait Store: Send + Sync {
    /// The value under `key`.
    async fn get(&self, key: &str) -> Option<u32>;

    /// A default body.
    async fn get_or(&self, key: &str, default: u32) -> u32 {
        self.get(key).await.unwrap_or(default)
    }
}

/// A backend, exported too.
pub struct Fixed(pub u32);

#[anysync::coroutine]
impl Store for Fixed {
    async fn get(&self, key: &str) -> Option<u32> {
        (key == "k").then_some(self.0)
    }
}

/// The same as a `dyn` trait.
#[anysync::coroutine(dyn)]
pub trait DynStore: Send + Sync {
    /// The value under `key`.
    async fn get(&self, key: &str) -> Option<u32>;
}

#[anysync::coroutine(dyn)]
impl DynStore for Fixed {
    async fn get(&self, key: &str) -> Option<u32> {
        (key == "k").then_some(self.0)
    }
}
