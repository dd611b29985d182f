//! Traces: one call's span tree as an OpenTelemetry collector receives it over OTLP/HTTP
//! (protobuf, decoded with the OTLP messages of `opentelemetry-proto`), continuing the
//! caller's `traceparent`, and the trace context a webhook and a component's outbound request
//! receive.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};

use crate::harness::{Backend, Reply, ServerProcess, TestDb, WebhookServer, http_client};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?;
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(text) => text.clone(),
        any_value::Value::IntValue(n) => n.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        other => format!("{other:?}"),
    })
}

/// `traceparent`'s trace id and parent span id.
fn parts(traceparent: &str) -> (String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    (fields[1].to_owned(), fields[2].to_owned())
}

const LOGIN_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ENRICH_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_calls_spans_reach_an_otlp_collector_and_its_handlers_carry_the_trace() {
    let collector = WebhookServer::start(|_, _| {
        Reply::raw(200, "").with_header("content-type", "application/x-protobuf")
    })
    .await;
    let api = WebhookServer::start(|request, _| match request.path.as_str() {
        "/login" => Reply::json(200, json!({"accessToken": "t", "userId": 1})),
        "/postcodes/FR/75001" => Reply::json(200, json!({"city": "Paris", "region": "IDF"})),
        _ => Reply::json(404, json!({})),
    })
    .await;
    let db = TestDb::new(Backend::Sqlite).await;
    let cache = tempfile::tempdir().expect("cache");
    let server = ServerProcess::start_with(
        &db.url,
        cache.path(),
        &[
            ("HOOKWING_TRACES__OTLP_ENDPOINT", collector.url.as_str()),
            // Batches go out every 100 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let client = http_client();
    let configured = server
        .post(
            "/v1/metadata",
            json!({"type": "bulk", "args": [
                {"type": "set_custom_types", "args": {"objects": [
                    {"name": "UserInfo", "fields": [
                        {"name": "accessToken", "type": "String!"}, {"name": "userId", "type": "Int!"}]},
                    {"name": "Address", "fields": [
                        {"name": "country", "type": "String!"}, {"name": "postcode", "type": "String!"},
                        {"name": "city", "type": "String!"}, {"name": "region", "type": "String!"}]}]}},
                {"type": "create_action", "args": {"name": "userLogin", "definition": {
                    "type": "mutation", "arguments": [{"name": "username", "type": "String!"}],
                    "output_type": "UserInfo", "handler": format!("{}/login", api.url)}}}
            ]}),
        )
        .await;
    assert!(configured.get("error").is_none(), "{configured}");
    let handler_config = json!({
        "allowed_hosts": [api.url.trim_start_matches("http://")],
        "allow_private_network": true,
        "config": {"api_url": api.url},
    });
    let uploaded = client
        .put(format!("{}/v1/handlers/enrich", server.url))
        .header("x-hookwing-handler-config", handler_config.to_string())
        .body(crate::harness::guest_wasm("enrich-address"))
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status().as_u16(), 200);
    let enrich = server
        .post(
            "/v1/metadata",
            json!({"type": "create_action", "args": {"name": "enrichAddress", "definition": {
                "type": "query", "arguments": [{"name": "country", "type": "String!"},
                    {"name": "postcode", "type": "String!"}],
                "output_type": "Address", "handler": "wasm://enrich", "timeout": 5}}}),
        )
        .await;
    assert!(enrich.get("error").is_none(), "{enrich}");

    let call = |query: &'static str, trace: &str| {
        let request = client
            .post(format!("{}/v1/graphql", server.url))
            .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
            .json(&json!({"query": query}));
        async move {
            let reply: Value = request
                .send()
                .await
                .expect("call")
                .json()
                .await
                .expect("JSON");
            assert!(reply["errors"].is_null(), "{reply}");
        }
    };
    call(
        "mutation { userLogin(username: \"ada\") { accessToken } }",
        LOGIN_TRACE,
    )
    .await;
    call(
        "{ enrichAddress(country: \"fr\", postcode: \"75001\") { city } }",
        ENRICH_TRACE,
    )
    .await;

    // The webhook and the component's outbound request carry the trace, their parent being
    // the attempt that made them.
    let sent: HashMap<String, String> = api
        .requests()
        .iter()
        .map(|request| {
            let traceparent = request.headers.get("traceparent").cloned();
            (request.path.clone(), traceparent.unwrap_or_default())
        })
        .collect();
    let (login_trace, login_parent) = parts(&sent["/login"]);
    assert_eq!(login_trace, LOGIN_TRACE);
    let (enrich_trace, enrich_parent) = parts(&sent["/postcodes/FR/75001"]);
    assert_eq!(enrich_trace, ENRICH_TRACE);

    // The spans, as the collector received them.
    let mut spans: Vec<Span> = Vec::new();
    for _ in 0..100 {
        spans = collector
            .requests()
            .iter()
            .filter(|request| request.path == "/v1/traces")
            .flat_map(|request| {
                let export = ExportTraceServiceRequest::decode(request.raw.as_slice())
                    .expect("OTLP protobuf");
                export
                    .resource_spans
                    .into_iter()
                    .flat_map(|resource| resource.scope_spans)
                    .flat_map(|scope| scope.spans)
            })
            .collect();
        let attempts = spans.iter().filter(|span| span.name == "attempt").count();
        if attempts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let of_trace = |trace: &str| -> Vec<&Span> {
        spans
            .iter()
            .filter(|span| hex(&span.trace_id) == trace)
            .collect()
    };
    let login = of_trace(LOGIN_TRACE);
    let named = |spans: &[&Span], name: &str| -> Vec<Span> {
        spans
            .iter()
            .filter(|span| span.name == name)
            .map(|span| (*span).clone())
            .collect()
    };
    let request = named(&login, "graphql request");
    assert_eq!(request.len(), 1, "{:#?}", login);
    assert_eq!(
        hex(&request[0].parent_span_id),
        CALLER_SPAN,
        "continues the caller"
    );
    let action = named(&login, "action");
    assert_eq!(action.len(), 1);
    assert_eq!(action[0].parent_span_id, request[0].span_id);
    assert_eq!(
        attribute(&action[0], "action").as_deref(),
        Some("userLogin")
    );
    let attempt = named(&login, "attempt");
    assert_eq!(attempt.len(), 1);
    assert_eq!(attempt[0].parent_span_id, action[0].span_id);
    assert_eq!(
        attribute(&attempt[0], "handler.kind").as_deref(),
        Some("http")
    );
    assert_eq!(
        attribute(&attempt[0], "outcome").as_deref(),
        Some("success")
    );
    assert_eq!(
        hex(&attempt[0].span_id),
        login_parent,
        "the webhook's parent is the attempt"
    );
    let stores: Vec<Option<String>> = named(&login, "store")
        .iter()
        .filter(|store| store.parent_span_id == action[0].span_id)
        .map(|store| attribute(store, "db.operation.name"))
        .collect();
    assert_eq!(
        stores,
        [
            Some("insert_event".to_owned()),
            Some("record_attempt".to_owned())
        ]
    );

    let enrich = of_trace(ENRICH_TRACE);
    let attempt = named(&enrich, "attempt");
    assert_eq!(attempt.len(), 1, "{enrich:#?}");
    assert_eq!(
        attribute(&attempt[0], "handler.kind").as_deref(),
        Some("wasm")
    );
    assert_eq!(
        hex(&attempt[0].span_id),
        enrich_parent,
        "the outbound request's parent"
    );
}
