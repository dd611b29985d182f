//! Golden files: what each language's output is for one metadata document that uses every
//! kind of type. `HOOKWING_UPDATE_GOLDEN=1 cargo test -p hookwing codegen` rewrites them after
//! an intended change (then read the diff).

use std::path::PathBuf;
use std::sync::Arc;

use super::{Language, Model, generate};
use crate::metadata::Metadata;

/// Every kind of type an action can reach: built-in and Postgres scalars, a custom scalar,
/// an enum, input objects (one nested), objects (one nested, one in a list), nullable and
/// list arguments, and field names that are keywords or not snake case.
fn metadata() -> Metadata {
    serde_json::from_value(serde_json::json!({
        "version": 3,
        "actions": [
            {"name": "placeOrder", "comment": "Places an order for the signed-in user.",
             "definition": {"kind": "asynchronous", "type": "mutation", "handler": "wasm://orders",
                "output_type": "OrderReceipt!",
                "arguments": [
                    {"name": "order", "type": "OrderInput!"},
                    {"name": "coupon", "type": "String"},
                    {"name": "tags", "type": "[String!]"},
                    {"name": "requestId", "type": "uuid!"}]}},
            {"name": "orderStatus", "definition": {"type": "query", "handler": "https://x.example/status",
                "output_type": "[OrderLine!]!",
                "arguments": [{"name": "id", "type": "ID!"}]}}
        ],
        "custom_types": {
            "scalars": [{"name": "Email"}],
            "enums": [{"name": "Priority", "values": [{"value": "LOW"}, {"value": "HIGH_NOW"}]}],
            "input_objects": [
                {"name": "OrderInput", "fields": [
                    {"name": "email", "type": "Email!"},
                    {"name": "priority", "type": "Priority"},
                    {"name": "lines", "type": "[LineInput!]!"},
                    {"name": "notes", "type": "jsonb"}]},
                {"name": "LineInput", "fields": [
                    {"name": "sku", "type": "String!"},
                    {"name": "quantity", "type": "Int!"},
                    {"name": "unitPrice", "type": "numeric!"}]}
            ],
            "objects": [
                {"name": "OrderReceipt", "fields": [
                    {"name": "orderId", "type": "bigint!"},
                    {"name": "placedAt", "type": "timestamptz!"},
                    {"name": "type", "type": "String!"},
                    {"name": "total", "type": "Float!"},
                    {"name": "lines", "type": "[OrderLine!]!"},
                    {"name": "express", "type": "Boolean"}]},
                {"name": "OrderLine", "fields": [
                    {"name": "sku", "type": "String!"},
                    {"name": "quantity", "type": "Int!"}]},
                {"name": "Unused", "fields": [{"name": "x", "type": "String"}]}
            ]
        }
    }))
    .expect("metadata")
}

fn check(language: Language, only: Option<&str>, file: &str) {
    let model = Model::new(&metadata(), only).expect("a model");
    let generated = generate(&model, language);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/codegen/golden")
        .join(file);
    if std::env::var_os("HOOKWING_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &generated).expect("write golden");
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == golden,
        "{} differs from the generated code (HOOKWING_UPDATE_GOLDEN=1 rewrites it):\n{generated}",
        path.display()
    );
}

#[test]
fn rust_types_and_skeleton_match_the_golden_file() {
    check(Language::Rust, Some("placeOrder"), "place_order.rs.txt");
}

#[test]
fn rust_types_of_every_action_match_the_golden_file() {
    check(Language::Rust, None, "all_actions.rs.txt");
}

#[test]
fn typescript_matches_the_golden_file() {
    check(Language::Typescript, None, "all_actions.ts");
}

#[test]
fn python_matches_the_golden_file() {
    check(Language::Python, None, "all_actions.py");
}

#[test]
fn only_the_types_an_action_reaches_are_emitted() {
    let model = Model::new(&metadata(), Some("orderStatus")).expect("a model");
    let names: Vec<&str> = model.types.keys().map(String::as_str).collect();
    assert_eq!(names, ["OrderLine"]);
}

#[test]
fn unknown_actions_and_undeclared_types_are_refused() {
    let error = Model::new(&metadata(), Some("nope")).expect_err("no such action");
    assert_eq!(error.to_string(), "no action `nope` in the metadata");
    let mut broken = metadata();
    Arc::make_mut(&mut broken.actions[1]).definition.output_type = "Missing".into();
    let error = Model::new(&broken, Some("orderStatus")).expect_err("undeclared");
    assert_eq!(
        error.to_string(),
        "type `Missing` is used but not declared in custom_types"
    );
}
