//! Building the guest examples as WebAssembly components, shared by the build scripts of the
//! integration tests and the benchmark (each includes this file with `#[path]`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest example crates: every directory of `dir` with a `Cargo.toml`, sorted.
pub fn guest_crates(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("guest-examples/ exists")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Builds `guests` (crate names in the workspace at `root`) for `wasm32-wasip2` with the `guest`
/// profile into `target_dir`; returns each crate with its component's path.
pub fn build(root: &Path, target_dir: &Path, guests: &[String]) -> Vec<(String, PathBuf)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(root)
        .args([
            "build",
            "--profile",
            "guest",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(target_dir);
    for guest in guests {
        build.args(["-p", guest]);
    }
    // The outer build's settings are for the host, not for the guests.
    for var in [
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        build.env_remove(var);
    }
    let status = build
        .status()
        .expect("run cargo to build the guest examples");
    assert!(
        status.success(),
        "building guest-examples for wasm32-wasip2 failed (is the target installed? \
         `rustup target add wasm32-wasip2`)"
    );
    guests
        .iter()
        .map(|guest| {
            let file = target_dir
                .join("wasm32-wasip2/guest")
                .join(format!("{}.wasm", guest.replace('-', "_")));
            assert!(file.exists(), "{} was not built", file.display());
            (guest.clone(), file)
        })
        .collect()
}
