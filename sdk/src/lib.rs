//! Write a [Hookwing](https://github.com/hookwing/hookwing) action handler as a plain Rust
//! function and run it inside the server as a WebAssembly component.
//!
//! ```no_run
//! use hookwing_sdk::{ActionError, Context};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct LoginInput {
//!     username: String,
//!     password: String,
//! }
//!
//! #[derive(Serialize)]
//! #[serde(rename_all = "camelCase")]
//! struct UserInfo {
//!     access_token: String,
//!     user_id: i64,
//! }
//!
//! fn login(input: LoginInput, ctx: &Context) -> Result<UserInfo, ActionError> {
//!     if input.password.is_empty() {
//!         return Err(ActionError::new("password required").with_code("invalid-input"));
//!     }
//!     ctx.info(format!("login for {}", input.username));
//!     Ok(UserInfo { access_token: format!("token-{}", input.username), user_id: 1 })
//! }
//!
//! hookwing_sdk::export_handler!(login);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` and upload the `.wasm` with
//! `PUT /v1/handlers/<name>`. The same function runs natively in unit tests against
//! [`testing::TestContext`], without WebAssembly.

#![deny(missing_docs)]

mod context;
mod error;
pub mod http;
pub mod kv;
pub mod testing;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private;

pub use context::{Context, Event, Level};
pub use error::ActionError;
pub use kv::{Kv, KvError};

/// Exports `handler` — a `fn(Input, &Context) -> Result<Output, ActionError>` where `Input`
/// deserializes from the action's arguments and `Output` serializes to its output type — as
/// the component's `hookwing:action/handler` implementation. Expands to nothing when not
/// compiling for WebAssembly, so the crate still builds and tests natively.
#[macro_export]
macro_rules! export_handler {
    ($handler:path) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct HookwingHandler;

            impl $crate::__private::Guest for HookwingHandler {
                fn handle(
                    request: $crate::__private::Request,
                ) -> ::core::result::Result<::std::string::String, $crate::__private::HandlerError>
                {
                    $crate::__private::run(request, $handler)
                }
            }

    $crate::__private::export!(HookwingHandler with_types_in $crate::__private::bindings);
        };
    };
}
