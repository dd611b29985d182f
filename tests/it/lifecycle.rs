//! No state without an exit, with real processes: synchronous events whose server died
//! mid-call are finished by the next one, and SIGINT and SIGTERM both shut down gracefully —
//! in-flight calls answered, cut-short deliveries recorded as interrupted and not charged.

use std::time::Duration;

use hookwing::store::{AttemptOutcome, EventState};
use serde_json::{Value, json};

use crate::harness::{
    Backend, Reply, ServerProcess, TestDb, WebhookServer, async_login, http_client, login_action,
    login_types, on_both_backends,
};

on_both_backends!(
    sync_calls_of_a_killed_server_are_finished_as_abandoned,
    sigint_and_sigterm_shut_down_gracefully,
    listings_merge_every_state_newest_first,
    a_listing_sees_each_event_once_while_events_change_state,
);

const CALLS: usize = 20;

/// Polls `check` every 100 ms for up to `limit`; whether it ever held.
async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn sync_calls_of_a_killed_server_are_finished_as_abandoned(backend: Backend) {
    let webhook = WebhookServer::start(|_, _| {
        Reply::json(200, json!({"accessToken": "t", "userId": 1})).after(Duration::from_secs(30))
    })
    .await;
    let db = TestDb::new(backend).await;
    let cache = tempfile::tempdir().expect("cache");
    let doomed = ServerProcess::start(&db.url, cache.path()).await;
    doomed.post("/v1/metadata", login_types()).await;
    let handler = format!("{}/login", webhook.url);
    let created = doomed
        .post(
            "/v1/metadata",
            login_action(&handler, json!({"timeout": 2})),
        )
        .await;
    assert!(created.get("error").is_none(), "{created}");

    let url = format!("{}/v1/graphql", doomed.url);
    let calls: Vec<_> = (0..CALLS)
        .map(|_| {
            let (client, url) = (http_client(), url.clone());
            tokio::spawn(async move {
                let query = crate::harness::LOGIN_MUTATION;
                client.post(url).json(&json!({"query": query})).send().await
            })
        })
        .collect();
    let all_in_flight = eventually(Duration::from_secs(20), async || {
        webhook.requests().len() == CALLS
    })
    .await;
    assert!(all_in_flight, "every call reached the webhook");
    doomed.kill();
    for call in calls {
        assert!(
            call.await.expect("task").is_err(),
            "the killed server answered nobody"
        );
    }
    let events = db.events("userLogin").await;
    assert_eq!(events.len(), CALLS);
    assert!(events.iter().all(|e| e.status == EventState::Processing));

    // The next server finishes them once their leases (timeout + lease) have run out.
    let successor = ServerProcess::start(&db.url, cache.path()).await;
    let finished = eventually(Duration::from_secs(30), async || {
        db.events("userLogin")
            .await
            .iter()
            .all(|e| e.status == EventState::Error)
    })
    .await;
    assert!(finished, "{:?}", db.events("userLogin").await);
    let store = db.store().await;
    for event in db.events("userLogin").await {
        assert_eq!(
            event.errors.expect("errors")[0]["extensions"]["code"],
            "abandoned"
        );
        assert!(event.locked_by.is_none());
        let attempts = store.attempts(event.id).await.expect("attempts");
        let [attempt] = attempts.as_slice() else {
            panic!("one attempt row: {attempts:?}");
        };
        assert_eq!(attempt.outcome, AttemptOutcome::Abandoned);
        assert!(
            attempt
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("lost")),
            "{attempt:?}"
        );
    }

    // Finished, they are listable and deletable like any other.
    let listed = admin(&successor, reqwest::Method::GET, "/v1/events?status=error").await;
    assert_eq!(
        listed["events"].as_array().map(Vec::len),
        Some(CALLS),
        "{listed}"
    );
    let cleared = admin(
        &successor,
        reqwest::Method::DELETE,
        "/v1/events?action=userLogin",
    )
    .await;
    assert_eq!(cleared["deleted"], CALLS);
    assert!(db.events("userLogin").await.is_empty());
}

async fn admin(server: &ServerProcess, method: reqwest::Method, path: &str) -> Value {
    let response = http_client()
        .request(method, format!("{}{path}", server.url))
        .send()
        .await
        .expect("admin request");
    response.json().await.expect("JSON")
}

async fn sigint_and_sigterm_shut_down_gracefully(backend: Backend) {
    for signal in ["INT", "TERM"] {
        shuts_down_gracefully_on(backend, signal).await;
    }
}

async fn shuts_down_gracefully_on(backend: Backend, signal: &str) {
    let slow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let script_slow = std::sync::Arc::clone(&slow);
    let webhook = WebhookServer::start(move |request, _| {
        let reply = Reply::json(200, json!({"accessToken": "t", "userId": 1}));
        match request.path.as_str() {
            // A synchronous call that finishes within the grace period.
            "/login" => reply.after(Duration::from_millis(700)),
            // An asynchronous delivery that would outlast it.
            _ if script_slow.load(std::sync::atomic::Ordering::SeqCst) => {
                reply.after(Duration::from_secs(30))
            }
            _ => reply,
        }
    })
    .await;
    let db = TestDb::new(backend).await;
    let cache = tempfile::tempdir().expect("cache");
    let env = [("HOOKWING_DELIVERY__SHUTDOWN_GRACE_SECS", "2")];
    let mut server = ServerProcess::start_with(&db.url, cache.path(), &env).await;
    // One attempt in all: an interrupted attempt must not use it up.
    let retry = json!({"max_attempts": 1});
    let applied = server
        .post(
            "/v1/metadata",
            async_login(&format!("{}/slow", webhook.url), json!({"retry": retry})),
        )
        .await;
    assert!(applied.get("error").is_none(), "{applied}");
    let sync_action = login_action(&format!("{}/login", webhook.url), json!({"timeout": 10}));
    server.post("/v1/metadata", sync_action).await;
    server
        .post(
            "/v1/graphql",
            json!({"query": "mutation { asyncLogin(username: \"ada\") }"}),
        )
        .await;
    let delivering = eventually(Duration::from_secs(10), async || {
        webhook.requests().iter().any(|r| r.path == "/slow")
    })
    .await;
    assert!(delivering, "the asynchronous delivery started");

    let url = format!("{}/v1/graphql", server.url);
    let call = tokio::spawn(async move {
        let query = crate::harness::LOGIN_MUTATION;
        let response = http_client()
            .post(url)
            .json(&json!({"query": query}))
            .send()
            .await
            .expect("the in-flight call is answered");
        response.json::<Value>().await.expect("JSON")
    });
    let calling = eventually(Duration::from_secs(10), async || {
        webhook.requests().iter().any(|r| r.path == "/login")
    })
    .await;
    assert!(calling, "the synchronous call reached the webhook");
    server.signal(signal);

    let answered = call.await.expect("task");
    assert_eq!(
        answered["data"]["userLogin"]["accessToken"], "t",
        "SIG{signal}: {answered}"
    );
    let status = server.exited_within(Duration::from_secs(15)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "SIG{signal}: exit {status:?}"
    );

    let [event] = db.events("asyncLogin").await.try_into().expect("one event");
    assert_eq!(
        (
            event.status,
            event.attempts,
            event.retry_base,
            event.locked_by.as_deref()
        ),
        (EventState::Created, 1, 1, None),
        "SIG{signal}: handed back, the attempt not charged"
    );
    let attempts = db.store().await.attempts(event.id).await.expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Interrupted);
    let [sync_event] = db.events("userLogin").await.try_into().expect("one event");
    assert_eq!(sync_event.status, EventState::Completed);

    // The next server delivers it, within the one attempt the policy allows.
    slow.store(false, std::sync::atomic::Ordering::SeqCst);
    let _successor = ServerProcess::start(&db.url, cache.path()).await;
    let delivered = eventually(Duration::from_secs(20), async || {
        db.events("asyncLogin")
            .await
            .first()
            .is_some_and(|e| e.status == EventState::Completed)
    })
    .await;
    assert!(
        delivered,
        "SIG{signal}: {:?}",
        db.events("asyncLogin").await
    );
}

/// A new event of `action` created at `created_at`: waiting (asynchronous), or, if not
/// `asynchronous`, a synchronous one being delivered by `node`.
fn new_event(
    action: &str,
    created_at: chrono::DateTime<chrono::Utc>,
    asynchronous: bool,
) -> hookwing::store::NewEvent {
    use hookwing::store::{ActionKind, NewEvent, RequestDocument};
    NewEvent {
        id: uuid::Uuid::now_v7(),
        action_name: action.into(),
        kind: if asynchronous {
            ActionKind::Asynchronous
        } else {
            ActionKind::Synchronous
        },
        input_payload: json!({"n": 1}),
        request_headers: json!({}),
        session_variables: json!({}),
        created_at,
        status: if asynchronous {
            EventState::Created
        } else {
            EventState::Processing
        },
        locked_by: (!asynchronous).then(|| "node".to_owned()),
        lease_expires_at: (!asynchronous).then(|| chrono::Utc::now() + chrono::Duration::hours(1)),
        request_query: Some(RequestDocument::new(format!("mutation {{ {action} }}"))),
    }
}

/// On SQLite a claim used to be a deferred transaction: it read the due events, then failed
/// at once ("database is locked") whenever another write had committed meanwhile, and each
/// failure cost a back-off: async delivery ran at 605 events/s. Claims now take the write
/// lock first and wait their turn, however busy the writers are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_on_sqlite_wait_for_busy_writers_instead_of_failing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let writer = store.clone();
    let inserting = tokio::spawn(async move {
        for _ in 0..3000 {
            let event = new_event("busy", chrono::Utc::now(), true);
            writer.insert_event(&event).await.expect("insert");
        }
    });
    let mut claimed = 0;
    let mut failures = Vec::new();
    while !inserting.is_finished() {
        match store.claim_due("node", 8, Duration::from_secs(30)).await {
            Ok(events) => claimed += events.len(),
            Err(error) => failures.push(error.to_string()),
        }
    }
    inserting.await.expect("inserts");
    assert!(claimed > 0, "the claims ran beside the inserts");
    assert!(
        failures.is_empty(),
        "{} claims failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
}

/// A listing reads each state on its own, newest first, and merges them: across states, with
/// an action, a state and time bounds, it returns the newest events that match, newest first,
/// and no more than asked for.
async fn listings_merge_every_state_newest_first(backend: Backend) {
    use hookwing::store::{EventFilter, Finish};
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let base = chrono::Utc::now() - chrono::Duration::hours(1);
    let at = |i: i64| base + chrono::Duration::milliseconds(i);
    let states = [
        EventState::Created,
        EventState::Processing,
        EventState::Completed,
        EventState::Error,
    ];
    let mut ids = Vec::new();
    for i in 0..12_i64 {
        let state = states[usize::try_from(i % 4).expect("small")];
        let action = if i % 2 == 0 { "even" } else { "odd" };
        let event = new_event(action, at(i), state == EventState::Created);
        store.insert_event(&event).await.expect("insert");
        if state.is_finished() {
            let finish = Finish {
                state,
                response_payload: None,
                errors: None,
                announce: false,
            };
            assert!(
                store
                    .finish_event(event.id, "node", &finish)
                    .await
                    .expect("finish")
            );
        }
        ids.push(event.id);
    }
    let listed = async |filter: EventFilter, limit: i64| -> Vec<usize> {
        store
            .list_events(&filter, limit)
            .await
            .expect("list")
            .iter()
            .map(|event| {
                ids.iter()
                    .position(|id| *id == event.id)
                    .expect("a known event")
            })
            .collect()
    };
    assert_eq!(listed(EventFilter::default(), 5).await, [11, 10, 9, 8, 7]);
    assert_eq!(
        listed(EventFilter::default(), 100).await,
        (0..12).rev().collect::<Vec<_>>()
    );
    let action = |name: &str| EventFilter {
        action: Some(name.into()),
        ..Default::default()
    };
    assert_eq!(listed(action("even"), 3).await, [10, 8, 6]);
    let state = |state| EventFilter {
        status: Some(state),
        ..Default::default()
    };
    assert_eq!(listed(state(EventState::Error), 10).await, [11, 7, 3]);
    assert_eq!(listed(state(EventState::Created), 2).await, [8, 4]);
    let between = EventFilter {
        created_before: Some(at(6)),
        created_after: Some(at(2)),
        ..Default::default()
    };
    assert_eq!(listed(between, 3).await, [5, 4, 3]);
    let odd_processing = EventFilter {
        status: Some(EventState::Processing),
        ..action("odd")
    };
    assert_eq!(listed(odd_processing, 10).await, [9, 5, 1]);
}

/// The states of a listing are read in one snapshot: while events are claimed and finished
/// beside it, each listing holds every event exactly once. (Read one after the other, an event
/// claimed between two reads was listed twice.)
async fn a_listing_sees_each_event_once_while_events_change_state(backend: Backend) {
    use hookwing::store::{EventFilter, Finish};
    const EVENTS: usize = 200;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for _ in 0..EVENTS {
        let event = new_event("moving", chrono::Utc::now(), true);
        store.insert_event(&event).await.expect("insert");
    }
    let worker = store.clone();
    let moving = tokio::spawn(async move {
        loop {
            let claimed = worker
                .claim_due("node", 4, Duration::from_secs(60))
                .await
                .expect("claim");
            if claimed.is_empty() {
                return;
            }
            for event in claimed {
                let finish = Finish {
                    state: EventState::Completed,
                    response_payload: Some(json!({"ok": true})),
                    errors: None,
                    announce: false,
                };
                assert!(
                    worker
                        .finish_event(event.id, "node", &finish)
                        .await
                        .expect("finish")
                );
            }
        }
    });
    let mut listings = 0;
    while !moving.is_finished() {
        let listed = store
            .list_events(&EventFilter::default(), 1000)
            .await
            .expect("list");
        let distinct: std::collections::HashSet<_> = listed.iter().map(|e| e.id).collect();
        assert_eq!(
            (listed.len(), distinct.len()),
            (EVENTS, EVENTS),
            "listing {listings}: every event once"
        );
        listings += 1;
    }
    moving.await.expect("the worker");
    assert!(listings > 0, "listings ran while events moved");
    let finished = store
        .list_events(&EventFilter::default(), 1000)
        .await
        .expect("list");
    assert!(finished.iter().all(|e| e.status == EventState::Completed));
}
