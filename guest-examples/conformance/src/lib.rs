//! The WebAssembly half of the conformance suite: `conformance(scenario): UserInfo` behaves
//! exactly like the suite's scripted webhook, so the two transports can be compared row by row.

use hookwing_sdk::{ActionError, Context};
use serde::Deserialize;
use serde_json::{Value, json};

/// The action's arguments.
#[derive(Debug, Deserialize)]
pub struct Scenario {
    pub scenario: String,
}

/// Plays `scenario`.
pub fn conformance(input: Scenario, ctx: &Context) -> Result<Value, ActionError> {
    let attempt = ctx.event().attempt;
    match input.scenario.as_str() {
        "success" => Ok(json!({"accessToken": "t-1", "userId": 7, "ignored": true})),
        "reject" => Err(ActionError::new("no such user")
            .with_code("user-not-found")
            .with_extension("hint", "sign up first")),
        "reject-plain" => Err(ActionError::new("denied")),
        "fail-then-succeed" if attempt == 1 => Err(ActionError::retry("warming up")),
        "fail-then-succeed" => {
            Ok(json!({"accessToken": format!("t-{attempt}"), "userId": attempt}))
        }
        "always-fail" => Err(ActionError::retry("down")),
        "invalid-output" => Ok(json!({"accessToken": 5})),
        "whoami" => Ok(json!({
            "accessToken": format!(
                "{}:{}",
                ctx.session_variable("x-hasura-role").unwrap_or("-"),
                ctx.session_variable("x-hasura-user-id").unwrap_or("-")
            ),
            "userId": 0
        })),
        "timeout" => loop {
            std::hint::black_box(attempt);
        },
        other => Err(ActionError::new(format!("unknown scenario {other}"))),
    }
}

hookwing_sdk::export_handler!(conformance);
