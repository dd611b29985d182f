//! `userLogin(username, password): UserInfo` — the quick start's action as a WebAssembly
//! handler. The accepted password comes from the handler's config (`password`, default
//! `secret`), so the same build can be deployed with different settings.

use hookwing_sdk::{ActionError, Context};
use serde::{Deserialize, Serialize};

/// The action's arguments.
#[derive(Debug, Deserialize)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
}

/// The action's output type.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    pub access_token: String,
    pub user_id: i64,
}

/// Checks the password and issues a token.
pub fn login(input: LoginInput, ctx: &Context) -> Result<UserInfo, ActionError> {
    let expected = ctx.config("password").unwrap_or_else(|| "secret".into());
    if input.password != expected {
        ctx.warn(format!("failed login for {}", input.username));
        return Err(ActionError::new("invalid credentials").with_code("invalid-credentials"));
    }
    ctx.info(format!(
        "login for {} (event {})",
        input.username,
        ctx.event().id
    ));
    Ok(UserInfo {
        access_token: format!("token-for-{}", input.username),
        user_id: user_id(&input.username),
    })
}

/// A stable id per username, as the quick start's webhook computes it.
fn user_id(username: &str) -> i64 {
    let hash = username
        .bytes()
        .fold(7_i32, |acc, b| acc.wrapping_mul(31).wrapping_add(b.into()));
    i64::from(hash.rem_euclid(100_000))
}

hookwing_sdk::export_handler!(login);

#[cfg(test)]
mod tests {
    use hookwing_sdk::testing::TestContext;
    use serde_json::json;

    use super::*;

    #[test]
    fn right_password_gets_a_token() {
        let test = TestContext::new("userLogin");
        let output = test.call(login, json!({"username": "ada", "password": "secret"}));
        assert_eq!(
            output,
            Ok(json!({"accessToken": "token-for-ada", "userId": 4951}))
        );
        assert_eq!(test.logs().len(), 1);
    }

    #[test]
    fn wrong_password_is_rejected_with_a_code() {
        let test = TestContext::new("userLogin").config("password", "hunter2");
        let error = test
            .call(login, json!({"username": "ada", "password": "secret"}))
            .expect_err("rejected");
        assert_eq!(error.code(), Some("invalid-credentials"));
    }
}
