//! Hygiene of `#[anysync::coroutine]`'s expansion: the user's own `core`, `Result`, `Box`,
//! `Pin`, `Future`, `Send` and `Option` must not change what generated code means, and the
//! expansion must be clean under strict lints (run `cargo clippy --all-targets` to check the
//! clippy half).
#![deny(warnings, clippy::pedantic)]
#![allow(dead_code)]

/// A user's `mod core` at the crate root: generated code must say `::core`, never `core`.
mod core {}

/// The user's error type, used by the `Result` alias below.
#[derive(Debug, PartialEq, Eq)]
pub struct MyErr;

/// Shadows the prelude's `Result`.
type Result<T> = std::result::Result<T, MyErr>;

/// Shadows the prelude's `Box`.
struct Box;

/// Shadows `Pin`, `Future`, `Send`, `Option` and `Sync` for code written in this module.
struct Pin;
struct Future;
struct Send;
struct Option;
struct Sync;

mod every_feature {
    use super::{MyErr, Result};
    use anysync::yield_;
    use std::fmt::Debug;

    pub(crate) struct Service {
        pub(crate) name: String,
        pub(crate) calls: u32,
    }

    pub(crate) struct Point {
        pub(crate) x: i32,
        pub(crate) y: i32,
    }

    /// A documented free coroutine using the shadowed `Result`.
    #[anysync::coroutine]
    pub(crate) async fn checked(value: u32) -> Result<u32> {
        if value == 0 { Err(MyErr) } else { Ok(value) }
    }

    #[anysync::coroutine]
    pub(crate) async fn generic<T, const N: usize>(
        items: &[T; N],
        label: impl AsRef<str> + core::marker::Send,
    ) -> String
    where
        T: Debug + Sync + core::marker::Send,
    {
        format!("{}:{:?}", label.as_ref(), items.first())
    }

    #[anysync::coroutine]
    pub(crate) async fn patterns(
        (a, b): (u32, u32),
        Point { x, y }: Point,
        mut n: u32,
        _: u8,
        #[cfg(not(test))] missing: u8,
    ) -> i64 {
        n += a + b;
        i64::from(n) + i64::from(x) * i64::from(y)
    }

    #[anysync::coroutine]
    pub(crate) async fn by_ref_mut(ref mut bytes: Vec<u8>, _guard: u8) -> usize {
        bytes.push(0);
        bytes.len()
    }

    #[anysync::coroutine]
    pub(crate) async fn diverges(code: i32) -> ! {
        panic!("exit {code}")
    }

    #[anysync::iterator(item = u32)]
    pub(crate) async fn yields_as_statements(values: Vec<u32>) {
        for value in values {
            match value {
                0 => {}
                value => yield_!(value),
            }
        }
    }

    #[anysync::coroutine(Send)]
    pub(crate) async fn checked_generic<T: Debug + core::marker::Send>(value: T) -> String {
        format!("{value:?}")
    }

    #[anysync::coroutine(?Send)]
    pub(crate) async fn local(shared: std::rc::Rc<u32>) -> u32 {
        *shared
    }

    /// # Safety
    /// None needed; `unsafe` is only here to be expanded.
    #[anysync::coroutine]
    pub(crate) async unsafe fn marked_unsafe() -> u8 {
        1
    }

    #[anysync::coroutine]
    impl Service {
        /// Borrows `self` and `suffix`.
        pub(crate) async fn describe(&self, suffix: &str) -> String {
            format!("{}{suffix}", self.name)
        }

        pub(crate) async fn name(&self) -> &str {
            &self.name
        }

        pub(crate) async fn bump(&mut self) -> u32 {
            self.calls += 1;
            self.calls
        }

        pub(crate) async fn into_calls(self) -> u32 {
            self.calls
        }

        pub(crate) async fn boxed(self: std::boxed::Box<Self>) -> u32 {
            self.calls
        }

        pub(crate) fn sync_name(&self) -> &str {
            &self.name
        }
    }

    pub(crate) mod reexport {
        pub(crate) use ::anysync as renamed;
    }

    #[anysync::coroutine(crate = "crate::every_feature::reexport::renamed")]
    pub(crate) async fn renamed(text: &str) -> usize {
        text.len()
    }
}

use every_feature::{Point, Service};

/// Traits at the crate root, where `Box`, `Pin`, `Future`, `Send`, `Sync`, `Option` and
/// `Result` are the user's: the declaration, its impl and the `dyn` forms must not care.
mod traits {
    use super::Result;
    use anysync::yield_;

    /// No `Sync` supertrait: the default body's `where Self: Sync` is generated.
    #[anysync::coroutine]
    pub(crate) trait Store {
        async fn get(&self, key: &str) -> Result<u32>;

        async fn get_or(&self, key: &str, default: u32) -> u32 {
            self.get(key).await.unwrap_or(default)
        }

        #[anysync::iterator(item = u32)]
        async fn all(&self) -> Result<()>;

        async fn open() -> Self
        where
            Self: Sized;
    }

    pub(crate) struct Memory(pub(crate) u32);

    #[anysync::coroutine]
    impl Store for Memory {
        async fn get(&self, key: &str) -> Result<u32> {
            if key.is_empty() {
                Err(super::MyErr)
            } else {
                Ok(self.0)
            }
        }

        #[anysync::iterator(item = u32)]
        async fn all(&self) -> Result<()> {
            yield_!(self.0);
            Ok(())
        }

        async fn open() -> Self {
            Memory(0)
        }
    }

    #[anysync::coroutine(dyn)]
    pub(crate) trait DynStore: ::core::marker::Send + ::core::marker::Sync {
        async fn get(&self, key: &str) -> Result<u32>;

        async fn get_or(&self, key: &str, default: u32) -> u32 {
            self.get(key).await.unwrap_or(default)
        }

        #[anysync::generator(item = u32, send = u32)]
        async fn echo(&self) -> u32;
    }

    #[anysync::coroutine(dyn)]
    impl DynStore for Memory {
        async fn get(&self, key: &str) -> Result<u32> {
            Store::get(self, key).await
        }

        #[anysync::generator(item = u32, send = u32)]
        async fn echo(&self) -> u32 {
            let mut last = self.0;
            while let Some(x) = yield_!(last) {
                last = x;
            }
            last
        }
    }
}

#[test]
fn trait_expansions_are_hygienic_and_lint_clean() {
    use anysync::RunExt;
    use traits::{DynStore, Memory, Store};
    fn generic<S: Store + std::marker::Sync>(store: &S) -> u32 {
        store.get_or("", 9).run()
    }
    let memory = Memory(3);
    assert_eq!(Store::get(&memory, "k").run(), Ok(3));
    assert_eq!(generic(&memory), 9);
    assert_eq!(memory.all().into_iter().collect::<Vec<_>>(), [Ok(3)]);
    assert_eq!(Store::get(&Memory::open().run(), "k").run(), Ok(0));
    let object: &dyn DynStore = &memory;
    assert_eq!(object.get_or("", 8).run(), 8);
    let mut echo = object.echo();
    assert_eq!(echo.resume().run(), ::core::option::Option::Some(3));
    assert_eq!(echo.send(5).run(), ::core::option::Option::Some(5));
}

#[test]
fn expansion_is_hygienic_and_lint_clean() {
    assert_eq!(every_feature::by_ref_mut(vec![1], 0).run(), 2);
    assert!(std::panic::catch_unwind(|| every_feature::diverges(3).run()).is_err());
    let items: Vec<u32> = every_feature::yields_as_statements(vec![5, 6])
        .into_iter()
        .collect();
    assert_eq!(items, [5, 6]);
    assert_eq!(every_feature::checked_generic(7).run(), "7");
    assert_eq!(every_feature::checked(1).run(), Ok(1));
    assert_eq!(every_feature::checked(0).run(), Err(MyErr));
    assert_eq!(every_feature::generic(&[1, 2], "l").run(), "l:Some(1)");
    assert_eq!(
        every_feature::patterns((1, 2), Point { x: 2, y: 3 }, 3, 0).run(),
        12
    );
    assert_eq!(every_feature::local(std::rc::Rc::new(4)).run(), 4);
    // SAFETY: `marked_unsafe` has no safety requirements.
    assert_eq!(unsafe { every_feature::marked_unsafe() }.run(), 1);
    let mut service = Service {
        name: "svc".to_owned(),
        calls: 0,
    };
    assert_eq!(service.describe("!").run(), "svc!");
    assert_eq!(service.name().run(), "svc");
    assert_eq!(service.bump().run(), 1);
    assert_eq!(service.sync_name(), "svc");
    assert_eq!(
        std::boxed::Box::new(Service {
            name: String::new(),
            calls: 7
        })
        .boxed()
        .run(),
        7
    );
    assert_eq!(service.into_calls().run(), 1);
    assert_eq!(every_feature::renamed("abc").run(), 3);
}

#[tokio::test]
async fn expansion_awaits() {
    assert_eq!(every_feature::checked(2).await, Ok(2));
    assert_eq!(every_feature::local(std::rc::Rc::new(1)).await, 1);
}
