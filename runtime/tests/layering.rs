//! The crate's top-level modules form layers, and dependencies point one way, down: the HTTP
//! edge (`api`) over the wiring (`server`), over what is served (`live`), over the GraphQL
//! layer, over dispatch, over metadata, over the handlers, over the store, auth, config and
//! the Kriti template language.
//! This test reads every source file and fails on any `crate::…` path that points up (or
//! sideways into a module of the same rank), so a cycle cannot come back unnoticed.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module and its rank: a module may use only modules of a lower rank.
const LAYERS: [(&str, u8); 19] = [
    ("config", 0),
    ("telemetry", 0),
    // The template language of transforms: it depends on nothing in the crate.
    ("kriti", 0),
    ("auth", 1),
    ("cli", 1),
    // Trace export and context propagation, used from the edge down to the handlers.
    ("traces", 1),
    ("store", 1),
    ("handler", 2),
    ("metadata", 3),
    ("dispatch", 4),
    // Code generation reads metadata alone.
    ("codegen", 4),
    ("graphql", 5),
    ("live", 6),
    ("server", 7),
    ("api", 8),
    ("ops", 8),
    ("remote", 9),
    // The handler author's loop drives a server through `remote`.
    ("dev", 10),
    // The crate root re-exports; it may name anything.
    ("lib", 11),
];

fn rank(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, rank)| *rank)
}

/// The top-level modules each `crate::name` path in `code` points at (comments skipped).
fn uses(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
            rest = after;
        }
        // `use crate::{a, b}` groups.
        if let Some(group) = line.strip_prefix("use crate::{") {
            for item in group.split([',', '}', ';']) {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        }
    }
    found
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn dependencies_between_top_level_modules_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if first == "main" {
            continue; // the binary, above everything
        }
        let from = rank(&first)
            .unwrap_or_else(|| panic!("top-level module `{first}` has no layer: add it to LAYERS"));
        let code = std::fs::read_to_string(file).expect("read source");
        for used in uses(&code) {
            checked += 1;
            if used == first {
                continue;
            }
            // Items of the crate root (`crate::install_crypto_provider`) are below everything.
            let Some(to) = rank(&used) else { continue };
            if to >= from {
                upward
                    .entry(format!("{} ({first})", relative.display()))
                    .or_default()
                    .push(used);
            }
        }
    }
    assert!(
        checked > 100,
        "the scan found the crate's paths ({checked})"
    );
    assert!(
        upward.is_empty(),
        "dependencies pointing up or sideways: {upward:#?}"
    );
}

#[test]
fn the_scan_sees_grouped_and_nested_paths() {
    let code = "use crate::{store, config::Config};\n// crate::api\nlet x = crate::live::Live;";
    assert_eq!(uses(code), ["store", "config", "live"].map(String::from));
}
