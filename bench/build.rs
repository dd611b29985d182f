//! Builds the `user-login` guest example, the handler every WASM scenario runs, and tells the
//! benchmark where it is (`USER_LOGIN_WASM`).

use std::path::PathBuf;

#[path = "../guest-examples/build_support.rs"]
#[allow(dead_code)] // only `build` is needed here
mod guest_build;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("bench/ sits in the workspace");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // Relative to this package, so a target dir shared by two checkouts watches the right one.
    for watched in ["guest-examples/user-login", "sdk", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed=../{watched}");
    }
    let built = guest_build::build(
        root,
        &out_dir.join("guest-target"),
        &["user-login".to_owned()],
    );
    let (_, wasm) = &built[0];
    println!("cargo:rustc-env=USER_LOGIN_WASM={}", wasm.display());
}
