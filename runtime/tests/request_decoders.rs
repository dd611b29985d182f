//! Property tests over the decoders of what clients and uploaders send: the GraphQL request
//! (a JSON body, a `GET` query string, the document and its cost) and the handler config
//! (the upload header, and the command line's ASCII encoding of it). Whatever comes in, the
//! answer is a value or an error — never a panic — and what is accepted reads back the same.

use async_graphql::BatchRequest;
use hookwing::graphql::budget;
use hookwing::handler::wasm::HandlerConfig;
use hookwing::remote::ascii_json;
use proptest::prelude::*;

/// Text made mostly of GraphQL's own tokens, so the parser and the cost walk get deep.
fn graphql_like() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "{",
        "}",
        "(",
        ")",
        ":",
        "...",
        "on",
        "query",
        "mutation",
        "subscription",
        "fragment",
        "F",
        "G",
        "a",
        "b:",
        "x",
        "__typename",
        "$v",
        "Int",
        "!",
        "[",
        "]",
        "\"s\"",
        "1",
        ",",
        " ",
        "\n",
        "@skip(if: true)",
        "#c\n",
        "...F",
        "...G",
        "fragment F on T",
        "fragment G on T",
    ]);
    prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.join(" "))
}

proptest! {
    #[test]
    fn any_body_decodes_or_is_refused(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = serde_json::from_slice::<BatchRequest>(&bytes);
    }

    #[test]
    fn any_json_body_decodes_or_is_refused(text in r#"[\[\]{}":,a-z0-9 ]{0,80}"#) {
        let _ = serde_json::from_str::<BatchRequest>(&text);
    }

    #[test]
    fn any_query_string_decodes_or_is_refused(text in ".{0,120}") {
        let _ = async_graphql::http::parse_query_string(&text);
    }

    #[test]
    fn the_cost_of_any_document_is_counted_and_bounded(text in graphql_like(), name in prop::option::of("[A-Za-z]{1,3}")) {
        if let Ok(document) = async_graphql::parser::parse_query(&text) {
            let cost = budget::cost(&document, name.as_deref());
            prop_assert!(cost.calls <= cost.fields, "{text}: {cost:?}");
            // Fragment cycles end the walk: the count stays finite and small.
            prop_assert!(cost.fields <= text.len() * 64, "{text}: {cost:?}");
        }
    }

    #[test]
    fn any_handler_config_header_decodes_or_is_refused(text in r#"[\[\]{}":,a-z_0-9 ]{0,120}"#) {
        if let Ok(config) = serde_json::from_str::<HandlerConfig>(&text) {
            let again: HandlerConfig =
                serde_json::from_value(serde_json::to_value(&config).expect("encodes")).expect("decodes");
            prop_assert_eq!(again, config);
        }
    }

    #[test]
    fn any_utf8_config_survives_the_command_lines_encoding(
        values in prop::collection::btree_map("[a-z]{1,6}", any::<String>(), 0..4),
        hosts in prop::collection::vec("[a-z.*:0-9]{1,12}", 0..3),
    ) {
        let config = HandlerConfig {
            allowed_hosts: hosts,
            config: values,
            ..HandlerConfig::default()
        };
        let text = ascii_json(&serde_json::to_value(&config).expect("encodes"));
        prop_assert!(text.is_ascii());
        let back: HandlerConfig = serde_json::from_str(&text).expect("decodes");
        prop_assert_eq!(back, config);
    }
}
