//! Synchronous actions end to end: GraphQL in, webhook called, output validated, every event
//! and every attempt recorded, on both backends.

use std::time::Duration;

use hookwing::store::{AttemptOutcome, EventState};
use serde_json::json;

use crate::harness::{
    Backend, LOGIN_MUTATION, Reply, TestDb, TestServer, WebhookServer, login_server,
    on_both_backends,
};

on_both_backends!(
    null_elements_of_lists_stay_null_at_every_depth,
    mutation_returns_the_handler_output_and_records_one_completed_event,
    query_actions_take_input_objects_and_return_nested_lists_and_enums,
    rejection_becomes_one_graphql_error_with_the_handlers_extensions,
    rejection_without_extensions_gets_code_unexpected,
    retryable_failure_is_retried_within_the_budget_then_succeeds,
    retry_after_from_the_handler_is_honoured,
    exhausted_retries_end_in_error_with_every_attempt_recorded,
    junk_reply_is_a_failed_attempt_and_a_clear_error,
    hanging_handler_is_cut_off_at_the_timeout,
    output_that_breaks_the_output_type_is_an_error_and_not_retried,
);

async fn mutation_returns_the_handler_output_and_records_one_completed_event(backend: Backend) {
    let webhook = WebhookServer::start(|request, _| {
        let name = request.body["input"]["username"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Reply::json(
            200,
            json!({"accessToken": format!("token-{name}"), "userId": 7, "extra": 1}),
        )
    })
    .await;
    let (db, server) = login_server(backend, &webhook, json!({})).await;

    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(
        response,
        json!({"data": {"userLogin": {"accessToken": "token-ada", "userId": 7}}})
    );

    let requests = webhook.requests();
    assert_eq!(requests.len(), 1);
    let payload = &requests[0].body;
    assert_eq!(payload["action"], json!({"name": "userLogin"}));
    assert_eq!(
        payload["input"],
        json!({"username": "ada", "password": "pw"})
    );
    assert_eq!(
        payload["session_variables"],
        json!({"x-hasura-role": "admin"})
    );
    assert_eq!(payload["request_query"], LOGIN_MUTATION);
    assert_eq!(payload["event"]["attempt"], 1);
    let event_id: uuid::Uuid = payload["event"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    assert_eq!(requests[0].headers["webhook-id"], event_id.to_string());
    assert_eq!(requests[0].headers["content-type"], "application/json");

    let store = db.store().await;
    let event = store
        .event(event_id)
        .await
        .expect("read")
        .expect("event stored");
    assert_eq!(event.status, EventState::Completed);
    assert_eq!(event.action_name, "userLogin");
    assert_eq!(event.kind.as_str(), "synchronous");
    assert_eq!(
        event.input_payload,
        json!({"username": "ada", "password": "pw"})
    );
    assert_eq!(event.attempts, 1);
    assert_eq!(event.locked_by, None);
    assert!(event.response_payload.expect("payload")["accessToken"] == "token-ada");
    assert!(event.response_received_at.is_some());
    let attempts = store.attempts(event_id).await.expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Success);
    assert_eq!(attempts[0].status_code, Some(200));
    server.stop().await;
}

async fn query_actions_take_input_objects_and_return_nested_lists_and_enums(backend: Backend) {
    let webhook = WebhookServer::start(|request, _| {
        let filter = &request.body["input"]["filter"];
        Reply::json(
            200,
            json!([{"name": filter["prefix"], "color": "RED", "tags": [{"label": "a"}]},
                   {"name": "second", "color": "GREEN", "tags": []}]),
        )
    })
    .await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server
        .metadata_ok(json!({"type": "set_custom_types", "args": {
            "enums": [{"name": "Color", "values": [{"value": "RED"}, {"value": "GREEN"}]}],
            "input_objects": [{"name": "Filter", "fields": [
                {"name": "prefix", "type": "String!"}, {"name": "colors", "type": "[Color!]"}]}],
            "objects": [
                {"name": "Item", "fields": [{"name": "name", "type": "String!"},
                    {"name": "color", "type": "Color!"}, {"name": "tags", "type": "[Tag!]!"}]},
                {"name": "Tag", "fields": [{"name": "label", "type": "String"}]}
            ]
        }}))
        .await;
    server
        .metadata_ok(
            json!({"type": "create_action", "args": {"name": "findItems", "definition": {
            "type": "query", "output_type": "[Item!]!", "handler": format!("{}/find", webhook.url),
            "arguments": [{"name": "filter", "type": "Filter!"}]}}}),
        )
        .await;

    let response = server
        .graphql(
            "query($f: Filter!) { findItems(filter: $f) { name color tags { label } } }",
            json!({"f": {"prefix": "first", "colors": ["RED"]}}),
        )
        .await;
    assert_eq!(
        response["data"]["findItems"],
        json!([{"name": "first", "color": "RED", "tags": [{"label": "a"}]},
               {"name": "second", "color": "GREEN", "tags": []}])
    );
    assert_eq!(
        webhook.requests()[0].body["input"],
        json!({"filter": {"prefix": "first", "colors": ["RED"]}})
    );
    server.stop().await;
}

async fn rejection_becomes_one_graphql_error_with_the_handlers_extensions(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| {
        Reply::json(
            400,
            json!({"message": "wrong password", "extensions": {"code": "auth", "n": 3}}),
        )
    })
    .await;
    let retry = json!({"retry": {"max_attempts": 3, "initial_interval_ms": 10}});
    let (db, server) = login_server(backend, &webhook, retry).await;

    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert!(
        response["data"].is_null(),
        "as in Hasura, a failed action yields no data"
    );
    let errors = response["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["message"], "wrong password");
    assert_eq!(errors[0]["extensions"], json!({"code": "auth", "n": 3}));
    assert_eq!(webhook.requests().len(), 1, "a rejection is never retried");

    let store = db.store().await;
    let event = &db.events("userLogin").await[0];
    assert_eq!(event.status, EventState::Error);
    assert_eq!(
        event.errors.as_ref().expect("errors")[0]["message"],
        "wrong password"
    );
    let attempts = store.attempts(event.id).await.expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Rejected);
    assert_eq!(attempts[0].status_code, Some(400));
    server.stop().await;
}

async fn rejection_without_extensions_gets_code_unexpected(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| Reply::json(422, json!({"message": "no"}))).await;
    let (_db, server) = login_server(backend, &webhook, json!({})).await;
    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(response["errors"][0]["message"], "no");
    assert_eq!(
        response["errors"][0]["extensions"],
        json!({"code": "unexpected", "path": "$"})
    );
    server.stop().await;
}

async fn retryable_failure_is_retried_within_the_budget_then_succeeds(backend: Backend) {
    let webhook = WebhookServer::start(|_, earlier| match earlier {
        0 => Reply::json(503, json!({"message": "busy"})),
        _ => Reply::json(200, json!({"accessToken": "t", "userId": 1})),
    })
    .await;
    let retry = json!({"retry": {"max_attempts": 3, "initial_interval_ms": 50, "jitter": 0}});
    let (db, server) = login_server(backend, &webhook, retry).await;

    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(response["data"]["userLogin"]["accessToken"], "t");
    let requests = webhook.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].body["event"]["id"],
        requests[1].body["event"]["id"]
    );
    assert_eq!(requests[1].body["event"]["attempt"], 2);
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(50));

    let store = db.store().await;
    let event = &db.events("userLogin").await[0];
    assert_eq!((event.status, event.attempts), (EventState::Completed, 2));
    let outcomes: Vec<_> = store
        .attempts(event.id)
        .await
        .expect("attempts")
        .iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, [AttemptOutcome::Failed, AttemptOutcome::Success]);
    server.stop().await;
}

async fn retry_after_from_the_handler_is_honoured(backend: Backend) {
    let webhook = WebhookServer::start(|_, earlier| match earlier {
        0 => Reply::json(429, json!({})).with_header("retry-after", "1"),
        _ => Reply::json(200, json!({"accessToken": "t", "userId": 1})),
    })
    .await;
    let retry = json!({"retry": {"max_attempts": 2, "initial_interval_ms": 10}});
    let (_db, server) = login_server(backend, &webhook, retry).await;

    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    assert_eq!(response["data"]["userLogin"]["userId"], 1);
    let requests = webhook.requests();
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(950));
    server.stop().await;
}

async fn exhausted_retries_end_in_error_with_every_attempt_recorded(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| Reply::json(500, json!({}))).await;
    let retry =
        json!({"retry": {"max_attempts": 3, "initial_interval_ms": 10, "max_interval_ms": 20}});
    let (db, server) = login_server(backend, &webhook, retry).await;

    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    let error = &response["errors"][0];
    assert_eq!(error["message"], "the action handler failed");
    assert_eq!(error["extensions"]["code"], "unexpected");
    // Dev mode: internal details are shown.
    assert_eq!(error["extensions"]["internal"]["attempts"], 3);
    assert_eq!(webhook.requests().len(), 3);

    let store = db.store().await;
    let event = &db.events("userLogin").await[0];
    assert_eq!((event.status, event.attempts), (EventState::Error, 3));
    let attempts = store.attempts(event.id).await.expect("attempts");
    assert!(attempts.iter().all(|a| a.outcome == AttemptOutcome::Failed));
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    server.stop().await;
}

async fn junk_reply_is_a_failed_attempt_and_a_clear_error(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| Reply::raw(200, "<html>surprise</html>")).await;
    let (db, server) = login_server(backend, &webhook, json!({})).await;

    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    let reason = response["errors"][0]["extensions"]["internal"]["reason"]
        .as_str()
        .expect("why");
    assert!(reason.contains("not JSON"), "{reason}");

    let store = db.store().await;
    let event = &db.events("userLogin").await[0];
    assert_eq!(event.status, EventState::Error);
    let attempt = &store.attempts(event.id).await.expect("attempts")[0];
    assert_eq!(attempt.outcome, AttemptOutcome::Failed);
    assert!(
        attempt
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("not JSON"))
    );
    server.stop().await;
}

async fn hanging_handler_is_cut_off_at_the_timeout(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| {
        Reply::json(200, json!({"accessToken": "late", "userId": 1})).after(Duration::from_secs(10))
    })
    .await;
    let (db, server) = login_server(backend, &webhook, json!({"timeout": 1})).await;

    let started = std::time::Instant::now();
    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    let reason = response["errors"][0]["extensions"]["internal"]["reason"]
        .as_str()
        .expect("why");
    assert!(reason.starts_with("Response timeout"), "{reason}");
    assert!(reason.contains("did not answer within"), "{reason}");

    let event = &db.events("userLogin").await[0];
    assert_eq!((event.status, event.attempts), (EventState::Error, 1));
    server.stop().await;
}

async fn output_that_breaks_the_output_type_is_an_error_and_not_retried(backend: Backend) {
    let webhook =
        WebhookServer::start(|_, _| Reply::json(200, json!({"accessToken": "t", "userId": "x"})))
            .await;
    let retry = json!({"retry": {"max_attempts": 3, "initial_interval_ms": 10}});
    let (db, server) = login_server(backend, &webhook, retry).await;

    let response = server.graphql(LOGIN_MUTATION, json!({})).await;
    let error = &response["errors"][0];
    // Hasura's code and words; the exact place is kept for admins.
    assert_eq!(error["extensions"]["code"], "unexpected");
    assert_eq!(
        error["message"],
        "got scalar String for the action webhook response, expecting Int"
    );
    assert!(
        error["extensions"]["internal"]["reason"]
            .as_str()
            .expect("reason")
            .contains("$.userId")
    );
    assert_eq!(webhook.requests().len(), 1);

    let store = db.store().await;
    let event = &db.events("userLogin").await[0];
    assert_eq!(event.status, EventState::Error);
    let attempt = &store.attempts(event.id).await.expect("attempts")[0];
    assert_eq!(attempt.outcome, AttemptOutcome::InvalidOutput);
    server.stop().await;
}

async fn null_elements_of_lists_stay_null_at_every_depth(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| {
        Reply::json(
            200,
            json!({"places": [null, {"city": "Oslo", "near": [null, {"city": "Bergen", "near": []}]}],
                   "grid": [[null, {"city": "Turku", "near": null}], null]}),
        )
    })
    .await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    server
        .metadata_ok(json!({"type": "set_custom_types", "args": {"objects": [
            {"name": "Place", "fields": [{"name": "city", "type": "String!"}, {"name": "near", "type": "[Place]"}]},
            {"name": "Atlas", "fields": [{"name": "places", "type": "[Place]!"}, {"name": "grid", "type": "[[Place]]"}]}
        ]}}))
        .await;
    server
        .metadata_ok(json!({"type": "create_action", "args": {"name": "atlas", "definition": {
            "type": "query", "output_type": "Atlas!", "handler": format!("{}/atlas", webhook.url)}}}))
        .await;
    let response = server
        .graphql(
            "{ atlas { places { city near { city } } grid { city } } again: atlas { places { city } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        response,
        json!({"data": {
            "atlas": {
                "places": [null, {"city": "Oslo", "near": [null, {"city": "Bergen"}]}],
                "grid": [[null, {"city": "Turku"}], null]
            },
            "again": {"places": [null, {"city": "Oslo"}]}
        }})
    );
    server.stop().await;
}
