//! Kriti's own test corpus (templates, the input document, golden outputs and parser failure
//! cases from the language's repository), run against Hookwing's implementation.

use std::path::Path;

use hookwing::kriti::{ErrorCode, NoFunctions, Template, json_eq};
use serde_json::Value;

use crate::harness::shared_data;

/// `(name, text)` of every `.kriti` file in `dir`, sorted.
fn examples(dir: &Path) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("read examples")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "kriti"))
        .map(|path| {
            let name = path
                .file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read_to_string(&path).expect("read template"))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn every_eval_example_renders_its_golden_output() {
    let Some(root) = shared_data("kriti/test-data/eval/success") else {
        return;
    };
    let source: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("source.json")).expect("read source.json"),
    )
    .expect("source.json is JSON");
    let cases = examples(&root.join("examples"));
    assert!(
        cases.len() >= 34,
        "only {} eval examples found",
        cases.len()
    );
    let mut failures = Vec::new();
    for (name, text) in &cases {
        let golden: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("golden").join(format!("{name}.json")))
                .expect("read golden"),
        )
        .expect("golden is JSON");
        let rendered = Template::parse(text).and_then(|template| {
            template.render(&|name| (name == "$").then_some(&source), &NoFunctions)
        });
        match rendered {
            Ok(value) if json_eq(&value, &golden) => {}
            Ok(value) => failures.push(format!("{name}: got {value}, expected {golden}")),
            Err(error) => failures.push(format!("{name}: {error}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_parser_success_example_parses() {
    let Some(root) = shared_data("kriti/test-data/parser/success") else {
        return;
    };
    let cases = examples(&root.join("examples"));
    assert!(
        cases.len() >= 15,
        "only {} parser examples found",
        cases.len()
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, text)| Template::parse(text).err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_parser_failure_example_fails_with_kritis_message() {
    let Some(root) = shared_data("kriti/test-data/parser/failure") else {
        return;
    };
    let cases = examples(&root.join("examples"));
    assert!(
        cases.len() >= 3,
        "only {} failure examples found",
        cases.len()
    );
    for (name, text) in &cases {
        let golden = std::fs::read_to_string(root.join("golden").join(format!("{name}.txt")))
            .expect("read golden");
        // `SerializedError {_code = ParseErrorCode, _message = "…", _span = …}`
        let message = golden
            .split("_message = \"")
            .nth(1)
            .and_then(|rest| rest.split("\", _span").next())
            .unwrap_or_else(|| panic!("{name}: no message in {golden}"));
        let error = Template::parse(text).expect_err(name);
        assert_eq!(error.code, ErrorCode::Parse, "{name}");
        assert_eq!(error.message, message, "{name}");
    }
}
