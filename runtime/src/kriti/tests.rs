//! One test per construct and error class. Kriti's own corpus runs in `tests/it/kriti.rs`.

use serde_json::{Value, json};

use super::*;

fn render_with(template: &str, bindings: &[(&str, Value)]) -> Result<Value, Error> {
    let template = Template::parse(template)?;
    let lookup = |name: &str| {
        bindings
            .iter()
            .find(|(bound, _)| *bound == name)
            .map(|(_, value)| value)
    };
    template.render(&lookup, &NoFunctions)
}

fn render(template: &str) -> Value {
    let body = json!({"a": {"b": [10, 20, {"c": "x"}]}, "name": "Ann", "n": 3, "t": true});
    render_with(template, &[("$body", body)]).expect("renders")
}

fn fails(template: &str) -> Error {
    let body = json!({"a": {"b": [1]}, "s": "text", "n": 3});
    render_with(template, &[("$body", body)]).expect_err("fails")
}

#[test]
fn json_is_a_template() {
    assert_eq!(
        render(r#"{"a": [1, 2.5, -3e2, true, false, null, "s\n\u00e9"], "b": {}}"#),
        json!({"a": [1, 2.5, -300.0, true, false, null, "s\né"], "b": {}})
    );
    assert_eq!(render("  # a comment\n [1, # two\n 2]"), json!([1, 2]));
}

#[test]
fn paths_fields_indices_and_quoted_keys() {
    assert_eq!(render("{{ $body.a.b[1] }}"), json!(20));
    assert_eq!(render("{{ $body['a']['b'][2].c }}"), json!("x"));
    assert_eq!(render(r#"{{ $body.a[{{ "b" }}][0] }}"#), json!(10));
    assert_eq!(
        render(
            "{{ $body?['na' + 'me'] ?? 0 }}"
                .replace(" + 'me'", "")
                .as_str()
        ),
        json!(0)
    );
}

#[test]
fn optional_chaining_yields_null_at_the_first_missing_step() {
    assert_eq!(render("{{ $body?.nope.deeper }}"), json!(null));
    assert_eq!(render("{{ $body.a?.b[9] }}"), json!(null));
    assert_eq!(render("{{ $body.a.b?[9].c }}"), json!(null));
    assert_eq!(render("{{ $body?['a']?.b[0] }}"), json!(10));
    assert_eq!(render("{{ $unbound? }}"), json!(null));
    assert_eq!(render("{{ $unbound?.x ?? 5 }}"), json!(5));
    assert_eq!(render("{{ $body?.name.first }}"), json!(null));
    assert_eq!(render("{{ $body.a.b[1.0] }}"), json!(20));
    assert_eq!(render("{{ $body.x-y? }}"), json!(null));
}

#[test]
fn defaulting_replaces_null_only() {
    assert_eq!(render("{{ null ?? null ?? \"z\" }}"), json!("z"));
    assert_eq!(render("{{ $body?.missing ?? 1 }}"), json!(1));
    assert_eq!(render("{{ $nothing? ?? $body.n }}"), json!(3));
    assert_eq!(render("{{ $body.n ?? 1 }}"), json!(3));
    assert_eq!(render("{{ false ?? 1 }}"), json!(false));
    assert_eq!(
        fails("{{ $body.missing ?? 1 }}").code,
        ErrorCode::InvalidPath
    );
}

#[test]
fn conditions_and_operators() {
    assert_eq!(
        render(
            "[{{ if $body.n > 2 }} 1 {{ elif $body.n == 2 }} 2 {{ else }} 3 {{ end }},
              {{ if $body.n < 2 }} 1 {{ elif $body.n == 3 }} 2 {{ else }} 3 {{ end }},
              {{ if not $body.t }} 1 {{ else }} 0 {{ end }}]"
        ),
        json!([1, 2, 0])
    );
    assert_eq!(
        render(
            r#"[{{ 1 == 1.0 }}, {{ "a" < "b" }}, {{ 2 >= 2 }}, {{ 1 != 2 }}, {{ true && false }},
               {{ false || true }}, {{ "a" in ["a"] }}, {{ "b" in {"b": 1} }},
               {{ {"x": [1]} == {"x": [1.0]} }}, {{ not(true) && false }}, {{ 1 > true }},
               {{ "a" < 1 }}, {{ null > 5 }}, {{ [1, 2] < [1, 3] }}]"#
        ),
        json!([
            true, true, true, true, false, true, true, true, true, true, false, true, true, true
        ])
    );
}

#[test]
fn ranges_bind_index_and_item() {
    assert_eq!(
        render("{{ range i, x := $body.a.b }} {{ i }} {{ end }}"),
        json!([0, 1, 2])
    );
    assert_eq!(
        render("[{{ range _, $x := [1, 2] }} {\"v\": {{ $x }}} {{ end }}]"),
        json!([[{"v": 1}, {"v": 2}]])
    );
    assert_eq!(
        render(
            "{{ range i, _ := [[1], [2]] }} {{ range j, y := [7] }} {{ i }} {{ end }} {{ end }}"
        ),
        json!([[0], [1]])
    );
    assert_eq!(render(r#"{"k": 1, "k": 2}"#), json!({"k": 1}));
}

#[test]
fn strings_interpolate_values_as_text() {
    assert_eq!(
        render(r#""{{ $body.name }}-{{ $body.n }}-{{ $body.t }}-{{ null }}-{{ $body.a.b[2] }}""#),
        json!(r#"Ann-3-true-null-{"c":"x"}"#)
    );
    assert_eq!(
        render(r#""\{{ not interpolated""#),
        json!("{{ not interpolated")
    );
    assert_eq!(render(r#""a { b }""#), json!("a { b }"));
}

#[test]
fn interpolated_text_keeps_quotes_and_always_renders_a_string() {
    let template = Template::parse_interpolated(r#"{{$base}}/x?q="{{ $n }}""#).expect("parses");
    let base = json!("http://h");
    let n = json!(3);
    let lookup = |name: &str| match name {
        "$base" => Some(&base),
        "$n" => Some(&n),
        _ => None,
    };
    assert_eq!(
        template.render(&lookup, &NoFunctions),
        Ok(json!("http://h/x?q=\"3\""))
    );
    let empty = Template::parse_interpolated("").expect("parses");
    assert_eq!(empty.render(&lookup, &NoFunctions), Ok(json!("")));
}

#[test]
fn nested_mustaches_are_expressions() {
    assert_eq!(
        render("{{ removeNulls({{ range _, x := [1, null, 2] }} {{ x }} {{ end }}) }}"),
        json!([1, 2])
    );
}

#[test]
fn host_functions_are_called_after_the_basic_ones() {
    struct Upper;
    impl Functions for Upper {
        fn call(&self, name: &str, argument: &Value) -> Option<Result<Value, String>> {
            (name == "shout").then(|| Ok(json!(format!("{}!", to_text(argument)))))
        }
    }
    let template = Template::parse(r#"{{ shout(toUpper("hi")) }}"#).expect("parses");
    assert_eq!(template.render(&|_| None, &Upper), Ok(json!("HI!")));
    assert!(template.check_functions(&["shout"]).is_ok());
    let unknown = template.check_functions(&[]).expect_err("unknown");
    assert_eq!(unknown.code, ErrorCode::Function);
    assert_eq!((unknown.start.line, unknown.start.column), (1, 4));
}

#[test]
fn parse_errors_name_the_token_and_its_position() {
    let cases = [
        ("{{ $.path }\n", "Unexpected token '}'.", (1, 11)),
        ("{ 1: null }\n", "Unexpected token '1'.", (1, 3)),
        ("[true, ]\n", "Unexpected token ']'.", (1, 8)),
        (
            "{\n  \"a\": {{ $x. }}\n}",
            "Unexpected token '}}'.",
            (2, 15),
        ),
        ("[1, 2", "Unexpected end of template.", (1, 6)),
        (
            "{{ if true }} 1 {{ end }}",
            "Unexpected token 'end'.",
            (1, 20),
        ),
        ("\"abc", "Unexpected end of template.", (1, 5)),
        (
            "{{ range x := y }} 1 {{ end }}",
            "Unexpected token ':='.",
            (1, 12),
        ),
        ("1 2", "Unexpected token '2'.", (1, 3)),
    ];
    for (template, message, (line, column)) in cases {
        let error = Template::parse(template).expect_err(template);
        assert_eq!(error.code, ErrorCode::Parse, "{template}");
        assert_eq!(error.message, message, "{template}");
        assert_eq!(
            (error.start.line, error.start.column),
            (line, column),
            "{template}"
        );
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = "[".repeat(100_000);
    let error = Template::parse(&deep).expect_err("too deep");
    assert!(
        error.message.contains("nests more than"),
        "{}",
        error.message
    );
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
    assert!(Template::parse(&ok).is_ok());
}

#[test]
fn evaluation_errors_have_a_code_a_message_and_a_position() {
    let missing = fails("{\n  \"x\": {{ $body.a.nope }}\n}");
    assert_eq!(missing.code, ErrorCode::InvalidPath);
    assert_eq!(missing.message, "'$body.a.nope' is not defined");
    assert_eq!((missing.start.line, missing.start.column), (2, 11));
    let unbound = fails("{{ $nope }}");
    assert_eq!(unbound.code, ErrorCode::InvalidPath);
    let not_object = fails("{{ $body.s.x }}");
    assert_eq!(not_object.code, ErrorCode::Type);
    assert_eq!(not_object.message, "'$body.s' is a string, not an object");
    assert_eq!(fails("{{ $body.a.b[5] }}").code, ErrorCode::InvalidPath);
    assert_eq!(fails("{{ $body.a.b[-1] }}").code, ErrorCode::InvalidPath);
    assert_eq!(fails("{{ $body.a.b[0.5] }}").code, ErrorCode::Type);
    assert_eq!(
        fails("{{ if $body.n }} 1 {{ else }} 2 {{ end }}").code,
        ErrorCode::Type
    );
    assert_eq!(
        fails("{{ range _, x := $body.n }} 1 {{ end }}").code,
        ErrorCode::Type
    );
    assert_eq!(fails("{{ 1 in 2 }}").code, ErrorCode::Type);
    assert_eq!(fails("{{ \"k\" in \"key\" }}").code, ErrorCode::Type);
    assert_eq!(fails("{{ $body.s? }}").code, ErrorCode::Type);
    assert_eq!(fails("{{ 1 && true }}").code, ErrorCode::Type);
    assert_eq!(fails("{{ head([]) }}").code, ErrorCode::Function);
    assert_eq!(fails("{{ nope(1) }}").code, ErrorCode::Function);
    let hasura = missing.to_hasura_json();
    assert_eq!(hasura["error_code"], "Invalid Path");
    assert_eq!(hasura["source_position"]["start_line"], 1);
}
