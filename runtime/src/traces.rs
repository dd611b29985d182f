//! Traces: the server's `tracing` spans as OpenTelemetry spans, exported over OTLP (HTTP,
//! protobuf) when configured, and the W3C trace context in and out.
//!
//! One GraphQL call is a tree: the request (continuing the caller's `traceparent`), each
//! action it calls, each attempt (handler kind, outcome), and the store's writes. Webhooks get
//! the attempt's `traceparent`; a component's outbound `wasi:http` requests carry it too, so
//! what a handler calls joins the same trace.
//!
//! These spans are at debug level under the `hookwing::trace` target: without an exporter no
//! subscriber wants them, and they cost next to nothing; the exporter's layer enables them for
//! itself alone, so the log's level is unchanged.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub use crate::config::TracesConfig;

/// The target of every span exported.
pub const TARGET: &str = "hookwing::trace";

/// The running exporter (`shutdown` sends what is still buffered).
pub type Exporter = SdkTracerProvider;

/// Why export could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up trace export: {0}")]
pub struct TracesError(String);

/// The exporter when export is configured: spans go out in batches from a thread of its own.
/// Build it outside any async runtime, after `crate::install_crypto_provider`, and [`SdkTracerProvider::shutdown`] it on the way out,
/// which sends what is still buffered.
pub fn provider(config: &TracesConfig) -> Result<Option<SdkTracerProvider>, TracesError> {
    let from_environment = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    if config.otlp_endpoint.is_none() && !from_environment {
        return Ok(None);
    }
    use opentelemetry_otlp::WithExportConfig as _;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http();
    if let Some(base) = &config.otlp_endpoint {
        exporter = exporter.with_endpoint(traces_url(base));
    }
    let exporter = exporter.build().map_err(|e| TracesError(e.to_string()))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

/// The tracing layer that turns spans into OpenTelemetry spans for `provider`, seeing only
/// [`TARGET`]'s spans (and everything at info and above, for span events).
pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use tracing_subscriber::Layer as _;
    let only_ours = tracing_subscriber::filter::Targets::new()
        .with_target(TARGET, tracing::Level::DEBUG)
        .with_default(tracing::Level::INFO);
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("hookwing"))
        .with_filter(only_ours)
}

/// `base` with the OTLP traces path, unless it has it already.
fn traces_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

/// Makes `span` continue the trace named by the `traceparent` (and `tracestate`) among
/// `headers`: a request's, or those stored with an event for its later deliveries. A missing
/// or malformed header starts a new trace.
pub fn continue_trace<'a>(
    span: &tracing::Span,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    let context: HashMap<String, String> = headers
        .into_iter()
        .filter(|(name, _)| {
            name.eq_ignore_ascii_case("traceparent") || name.eq_ignore_ascii_case("tracestate")
        })
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    if context.is_empty() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&context);
    // Err only for a span that is disabled (no exporter) or already started.
    let _ = span.set_parent(parent);
}

/// The W3C trace context of the current span, as headers (`traceparent`, `tracestate`), for a
/// request it makes; empty when there is no trace (export off).
pub fn current_context_headers() -> Vec<(String, String)> {
    let span = tracing::Span::current();
    // Without an exporter the spans are disabled: nothing to carry, and nothing to compute.
    if span.is_disabled() {
        return Vec::new();
    }
    let context = span.context();
    let mut headers = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut headers);
    headers.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }

    #[test]
    fn without_a_trace_no_context_is_sent() {
        assert!(current_context_headers().is_empty());
    }
}
