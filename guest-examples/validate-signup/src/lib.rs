//! `validateSignup(email, username, age): SignupCheck` — data validation: refuses bad input
//! with a rejection whose extensions name the field and the rule, and normalises good input.

use hookwing_sdk::{ActionError, Context};
use serde::{Deserialize, Serialize};

/// The action's arguments.
#[derive(Debug, Deserialize)]
pub struct Signup {
    pub email: String,
    pub username: String,
    pub age: i64,
}

/// The action's output type.
#[derive(Debug, PartialEq, Serialize)]
pub struct SignupCheck {
    pub email: String,
    pub username: String,
}

fn invalid(field: &str, rule: &str, message: &str) -> ActionError {
    ActionError::new(message)
        .with_code("invalid-input")
        .with_extension("field", field)
        .with_extension("rule", rule)
}

/// Validates and normalises a signup.
pub fn validate(input: Signup, _ctx: &Context) -> Result<SignupCheck, ActionError> {
    let email = input.email.trim().to_ascii_lowercase();
    let valid_email = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.ends_with('.')
    });
    if !valid_email {
        return Err(invalid(
            "email",
            "format",
            "email must look like name@example.com",
        ));
    }
    let username = input.username.trim();
    if !(3..=20).contains(&username.len())
        || !username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(invalid(
            "username",
            "format",
            "username must be 3-20 letters, digits or _",
        ));
    }
    if !(13..=130).contains(&input.age) {
        return Err(invalid("age", "range", "age must be between 13 and 130"));
    }
    Ok(SignupCheck {
        email,
        username: username.to_owned(),
    })
}

hookwing_sdk::export_handler!(validate);

#[cfg(test)]
mod tests {
    use hookwing_sdk::testing::TestContext;
    use serde_json::json;

    use super::*;

    #[test]
    fn good_input_is_normalised() {
        let output = TestContext::new("validateSignup").call(
            validate,
            json!({"email": " Ada@Example.COM ", "username": "ada_l", "age": 36}),
        );
        assert_eq!(
            output,
            Ok(json!({"email": "ada@example.com", "username": "ada_l"}))
        );
    }

    #[test]
    fn each_rule_names_its_field() {
        let test = TestContext::new("validateSignup");
        for (input, field) in [
            (
                json!({"email": "nope", "username": "ada", "age": 30}),
                "email",
            ),
            (
                json!({"email": "a@b.io", "username": "a!", "age": 30}),
                "username",
            ),
            (
                json!({"email": "a@b.io", "username": "ada", "age": 7}),
                "age",
            ),
        ] {
            let error = test.call(validate, input).expect_err("rejected");
            assert_eq!(error.extensions["field"], field);
            assert_eq!(error.code(), Some("invalid-input"));
        }
    }
}
