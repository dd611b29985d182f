//! Property tests over everything that parses untrusted input: action SDL, metadata API
//! requests, handler references, and webhook replies. Whatever comes in, the answer is a value
//! or a clear error — never a panic. They run in CI with the default case count (a few seconds).

use hookwing::config::Environment;
use hookwing::handler::http::classify;
use hookwing::handler::wasm::KnownHandlers;
use hookwing::handler::{HandlerRef, UrlTemplate};
use hookwing::metadata::ops::{Request, apply};
use hookwing::metadata::{Metadata, sdl, validate};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "String!",
            "Int",
            "[UserInfo!]!",
            "UserInfo",
            "http://x/y",
            "wasm://h"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "name",
                    "type",
                    "args",
                    "definition",
                    "handler",
                    "arguments",
                    "output_type",
                    "objects",
                    "fields",
                    "kind",
                    "timeout",
                    "retry",
                    "role",
                    "action",
                    "headers",
                ])
                .prop_map(str::to_owned),
                inner,
                0..6,
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// SDL-ish text: GraphQL punctuation and keywords mixed with noise.
fn sdl_text() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "type ",
        "input ",
        "enum ",
        "scalar ",
        "extend ",
        "Mutation",
        "Query",
        "{",
        "}",
        "(",
        ")",
        ":",
        "!",
        "[",
        "]",
        ",",
        "\n",
        "\"\"\"doc\"\"\"",
        "userLogin",
        "String",
        "Int",
        "UserInfo",
        "@deprecated",
        "=",
        "#",
        "\"",
        "é",
        "\u{0}",
    ]);
    prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
}

proptest! {
    #[test]
    fn sdl_parser_never_panics(text in sdl_text()) {
        let _ = sdl::parse(&text, "actions.graphql");
    }

    #[test]
    fn sdl_parser_never_panics_on_raw_bytes(text in ".{0,200}") {
        let _ = sdl::parse(&text, "actions.graphql");
    }

    #[test]
    fn metadata_requests_never_panic_and_valid_results_validate(
        kind in prop::sample::select(vec![
            "set_custom_types", "create_action", "update_action", "drop_action",
            "create_action_permission", "drop_action_permission", "replace_metadata",
            "export_metadata", "bulk", "nonsense",
        ]),
        args in json_value(),
    ) {
        let body = json!({"type": kind, "args": args});
        if let Ok(request) = serde_json::from_value::<Request>(body) {
            let mut metadata = Metadata::empty();
            if apply(&request, &mut metadata, 1).is_ok() {
                let _ = validate(&metadata, &Environment::default(), &KnownHandlers::default());
            }
        }
    }

    #[test]
    fn handler_references_never_panic(text in "(https?://|wasm://|ftp://)?[a-z{}@:/._0-9A-Z-]{0,40}") {
        let _ = HandlerRef::parse(&text, &Environment::default());
        let _ = UrlTemplate::parse(&text);
    }

    #[test]
    fn webhook_replies_are_always_classified(status in 0_u16..1000, body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = classify(status, None, &body);
    }

    #[test]
    fn json_webhook_replies_are_always_classified(status in 100_u16..600, body in json_value()) {
        let _ = classify(status, None, body.to_string().as_bytes());
    }
}
