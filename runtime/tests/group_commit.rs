//! The store commits concurrent writes together. A write that fails inside a shared batch must
//! fail alone: everything committed with it still lands, and every caller hears its own outcome.

use chrono::Utc;
use hookwing::metadata::ActionKind;
use hookwing::store::{EventState, NewEvent, Store, StoreOptions};
use serde_json::json;
use uuid::Uuid;

fn event() -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        action_name: "batched".into(),
        kind: ActionKind::Asynchronous,
        input_payload: json!({"n": 1}),
        request_headers: json!({}),
        session_variables: json!({"x-hasura-role": "admin"}),
        created_at: Utc::now(),
        status: EventState::Created,
        locked_by: None,
        lease_expires_at: None,
        request_query: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_fails_alone_and_its_batch_lands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("batch.db").display());
    let store = Store::connect(&url, &StoreOptions { pool_size: 4 })
        .await
        .expect("store");
    let taken = event();
    store.insert_event(&taken).await.expect("first insert");

    // Many writes at once, so they queue behind each other and commit in shared batches; one
    // of them reuses an id that exists already.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..200 {
        let store = store.clone();
        let event = if i == 100 { taken.clone() } else { event() };
        writes.spawn(async move { (event.id, store.insert_event(&event).await) });
    }
    let mut failed = Vec::new();
    while let Some(joined) = writes.join_next().await {
        let (id, outcome) = joined.expect("write task");
        if outcome.is_err() {
            failed.push(id);
        }
    }
    assert_eq!(failed, vec![taken.id], "only the duplicate failed");
    let stored = store.events_of_action("batched", 1000).await.expect("read");
    assert_eq!(stored.len(), 200, "the first insert and the 199 good ones");
}
