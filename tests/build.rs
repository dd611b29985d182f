//! Builds every crate in `guest-examples/` as a WebAssembly component and tells the tests where
//! each one is (`guests.rs` in OUT_DIR), so `cargo test` alone exercises real components.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../guest-examples/build_support.rs"]
mod guest_build;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // Relative to this package, so a target dir shared by two checkouts watches the right one.
    for watched in ["guest-examples", "sdk", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed=../{watched}");
    }

    let guests = guest_build::guest_crates(&root.join("guest-examples"));
    let built = guest_build::build(&root, &out_dir.join("guest-target"), &guests);

    let mut source = String::from("/// Every guest example: (crate name, component path).\n");
    source.push_str("pub const ALL: &[(&str, &str)] = &[\n");
    for (guest, file) in &built {
        source.push_str(&format!(
            "    ({guest:?}, {:?}),\n",
            file.display().to_string()
        ));
    }
    source.push_str("];\n");
    let python = build_python_guest(&root, &out_dir);
    source.push_str("/// The Python user-login example, if componentize-py was available.\n");
    source.push_str(&format!(
        "pub const USER_LOGIN_PY: Option<&str> = {python:?};\n"
    ));
    std::fs::write(out_dir.join("guests.rs"), source).expect("write guests.rs");
}

/// Builds `guest-examples/user-login-py` with componentize-py (`pip install componentize-py`).
/// Without it the Python test is skipped — except under `CI=true`, where that is an error.
fn build_python_guest(root: &Path, out_dir: &Path) -> Option<String> {
    let source = root.join("guest-examples/user-login-py");
    let output = out_dir.join("user_login_py.wasm");
    let built = Command::new("componentize-py")
        .current_dir(&source)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg("-d")
        .arg(root.join("wit"))
        .args([
            "-w",
            "hookwing:action/action-handler@0.2.0",
            "componentize",
            "app",
            "-o",
        ])
        .arg(&output)
        .status();
    match built {
        Ok(status) if status.success() => Some(output.display().to_string()),
        Ok(status) => panic!(
            "componentize-py failed ({status}) building {}",
            source.display()
        ),
        Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("componentize-py is required under CI=true: {error}")
        }
        Err(error) => {
            println!(
                "cargo:warning=skipping the Python guest: componentize-py not found ({error})"
            );
            None
        }
    }
}
