//! Property tests over the Kriti parser and evaluator: whatever the template and whatever the
//! data, the answer is a value or an error with a position inside the template — never a
//! panic. JSON is a Kriti template that renders to itself. They run in CI with the default
//! case count (a second or two).

use hookwing::kriti::{BASIC_FUNCTIONS, NoFunctions, Template, json_eq};
use proptest::prelude::*;
use serde_json::Value;

/// JSON whose strings hold no `{` or `\`: exactly the JSON that means the same in Kriti.
fn plain_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        "[^{\\\\\"]{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Source text that is mostly Kriti's own tokens, so the parser gets deep before it fails.
fn kriti_like_text() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "{{",
        "}}",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        ",",
        ":",
        ":=",
        ".",
        "?",
        "??",
        "?.",
        "==",
        "!=",
        ">",
        "<=",
        "&&",
        "||",
        " in ",
        "not ",
        "if ",
        "elif ",
        "else",
        "end",
        "range ",
        "_",
        "$",
        "$body",
        "x",
        "i",
        "'k'",
        "\"s\"",
        "\"a{{$x}}b\"",
        "1",
        "-2.5e3",
        "true",
        "null",
        "#c\n",
        " ",
        "\n",
        "\\",
        "\"",
        "toUpper(",
        "size(",
    ]);
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// Templates that parse: expressions over `$body`, nested with every construct.
fn template() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("$body".to_owned()),
        Just("$body.a".to_owned()),
        Just("$body?.a.b".to_owned()),
        Just("$body['a'][0]".to_owned()),
        Just("$body?[1]".to_owned()),
        Just("null".to_owned()),
        Just("1".to_owned()),
        Just("\"t{{ $body?.a }}\"".to_owned()),
        Just("true".to_owned()),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{\"k\": {a}, \"l\": {b}}}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{{{ ({a}) == ({b}) }}}}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{{{ ({a}) ?? ({b}) }}}}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{{{ ({a}) && ({b}) }}}}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{{{ ({a}) in ({b}) }}}}")),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, a, b)| format!(
                "{{{{ if {c} }}}} {a} {{{{ elif not {c} }}}} {b} {{{{ else }}}} null {{{{ end }}}}"
            )),
            (inner.clone(), inner.clone()).prop_map(|(s, b)| format!(
                "{{{{ range i, x := {s} }}}} [{b}, i, x] {{{{ end }}}}"
            )),
            (
                prop::sample::select(BASIC_FUNCTIONS.to_vec()),
                inner.clone()
            )
                .prop_map(|(f, a)| format!("{{{{ {f}({a}) }}}}")),
            inner.prop_map(|a| format!("\"<{{{{ {a} }}}}>\"")),
        ]
    })
}

fn lines(text: &str) -> usize {
    text.split('\n').count()
}

proptest! {
    #[test]
    fn any_text_parses_or_fails_at_a_position_within_it(text in prop_oneof![kriti_like_text(), ".{0,60}"]) {
        for parsed in [Template::parse(&text), Template::parse_interpolated(&text)] {
            if let Err(error) = parsed {
                prop_assert!(error.start.line >= 1 && error.start.line <= lines(&text));
                prop_assert!(error.start.column >= 1);
                prop_assert!(!error.message.is_empty());
            }
        }
    }

    #[test]
    fn generated_templates_parse_and_render_or_fail_cleanly(source in template(), body in plain_json()) {
        let template = Template::parse(&source);
        prop_assert!(template.is_ok(), "{source}: {:?}", template.err());
        let template = template.expect("parses");
        let rendered = template.render(&|name| (name == "$body").then_some(&body), &NoFunctions);
        if let Err(error) = rendered {
            prop_assert!(error.start.line >= 1 && error.start.line <= lines(&source));
            prop_assert!(!error.message.is_empty());
        }
    }

    #[test]
    fn json_is_a_template_of_itself(value in plain_json()) {
        for text in [value.to_string(), serde_json::to_string_pretty(&value).expect("json")] {
            let rendered = Template::parse(&text)
                .and_then(|template| template.render(&|_| None, &NoFunctions));
            prop_assert!(
                rendered.as_ref().is_ok_and(|out| json_eq(out, &value)),
                "{text} rendered {rendered:?}"
            );
        }
    }

    #[test]
    fn text_without_braces_or_escapes_interpolates_to_itself(text in "[^{\\\\]{0,40}") {
        let rendered = Template::parse_interpolated(&text)
            .and_then(|template| template.render(&|_| None, &NoFunctions));
        prop_assert_eq!(rendered, Ok(Value::String(text)));
    }
}
