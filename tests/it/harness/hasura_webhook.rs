//! A webhook that behaves like the one Hasura's own action tests call (its routes, status codes,
//! bodies and headers, as those tests' README describes them), so that their fixtures can be
//! replayed against Hookwing. Users live in memory where Hasura's live in a table; a test seeds
//! them where Hasura's test inserts rows first.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Reply, WebhookServer};

/// The users the webhook knows, by id (from 1).
#[derive(Debug, Default)]
pub struct Users {
    rows: Vec<(String, String)>,
}

impl Users {
    /// Adds a user; their id.
    pub fn insert(&mut self, email: &str, name: &str) -> usize {
        self.rows.push((email.to_owned(), name.to_owned()));
        self.rows.len()
    }

    fn ids_with_email(&self, email: &str) -> Vec<usize> {
        (1..=self.rows.len())
            .filter(|id| self.rows[id - 1].0 == email)
            .collect()
    }
}

/// Hasura's test pattern for a valid address: word characters, dots and dashes around an `@`,
/// ending in a 2–3 letter suffix.
fn valid_email(email: &str) -> bool {
    fn words(part: &str) -> bool {
        // `\w+([\.-]?\w+)*`: runs of word characters joined by single dots or dashes.
        !part.is_empty()
            && part
                .split(['.', '-'])
                .all(|run| !run.is_empty() && run.chars().all(|c| c.is_alphanumeric() || c == '_'))
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let Some((host, suffix)) = domain.rsplit_once('.') else {
        return false;
    };
    words(local)
        && words(host)
        && (2..=3).contains(&suffix.len())
        && suffix.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn invalid(message: String) -> (u16, Value) {
    (400, json!({"message": message, "code": "invalid-email"}))
}

fn nested(id: usize) -> Value {
    json!({
        "id": id,
        "address": {"city": "New York", "country": "USA"},
        "addresses": [
            {"city": "Bangalore", "country": "India"},
            {"city": "Melbourne", "country": "Australia"}
        ],
        "user_id": {"id": id}
    })
}

/// What the webhook answers to a request for `path` with `body`.
fn answer(
    path: &str,
    body: &Value,
    headers: &[(String, String)],
    users: &Mutex<Users>,
) -> (u16, Value) {
    let input = &body["input"];
    let text = |key: &str| input[key].as_str().unwrap_or_default().to_owned();
    let mut users = users.lock().expect("users");
    match path {
        "/create-user" | "/create-user-timeout" | "/create-user-nested" => {
            let email = text("email");
            if !valid_email(&email) {
                return invalid("Given email address is not valid".into());
            }
            let id = users.insert(&email, &text("name"));
            if path == "/create-user-nested" {
                (200, json!({"userObj": {"id": id}}))
            } else {
                (200, json!({"id": id}))
            }
        }
        "/create-users" => {
            let list = input["users"].as_array().cloned().unwrap_or_default();
            for user in &list {
                let email = user["email"].as_str().unwrap_or_default();
                if !valid_email(email) {
                    return invalid(format!("Email address is not valid: {email}"));
                }
            }
            let ids: Vec<Value> = list
                .iter()
                .map(|user| {
                    let email = user["email"].as_str().unwrap_or_default();
                    let name = user["name"].as_str().unwrap_or_default();
                    json!({"id": users.insert(email, name)})
                })
                .collect();
            (200, Value::Array(ids))
        }
        "/get-user-by-email"
        | "/get-users-by-email"
        | "/get-user-by-email-nested"
        | "/get-users-by-email-nested" => {
            let email = text("email");
            if !valid_email(&email) {
                return invalid("Given email address is not valid".into());
            }
            let ids = users.ids_with_email(&email);
            let shape = |id: usize| {
                if path.ends_with("-nested") {
                    nested(id)
                } else {
                    json!({"id": id})
                }
            };
            if path.starts_with("/get-user-by") {
                match ids.first() {
                    Some(id) => (200, shape(*id)),
                    None => (500, json!({"message": "no such user"})),
                }
            } else {
                (200, ids.into_iter().map(shape).collect())
            }
        }
        "/mirror-action" => (200, input["arg"].clone()),
        "/mirror-headers" => {
            let listed: Vec<Value> = headers
                .iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect();
            (200, json!({"headers": listed}))
        }
        "/intentional-error" => (400, input["blob"].clone()),
        "/null-response" => (200, Value::Null),
        "/omitted-response-field" => (200, json!({"country": "India"})),
        "/scalar-response" => (200, json!("some-string")),
        "/json-response" => (200, json!({"foo": "bar"})),
        "/custom-scalar-array-response" => (200, json!([{"foo": "bar"}])),
        "/scalar-array-response" => (200, json!(["foo", "bar", null])),
        "/recursive-output" => (
            200,
            json!({
                "direct": {"id": 1, "this": {"id": 2, "this": {"id": 3}}},
                "list": {"id": 1, "these": [{"id": 2, "these": [{"id": 3}]}, {"id": 4}]},
                "mutual": {"id": 1, "that": {"id": 2, "other": {"id": 3, "that": {"id": 4}}}}
            }),
        ),
        "/get-results" => (200, json!({"result_ids": [1, 2, 3, 4]})),
        "/typed-nested-null" => (200, json!({"id": 1, "child": null})),
        "/typed-nested-null-wrong-field" => (200, json!({"id": null, "child": null})),
        "/get_messages" => (
            200,
            json!([
                {"content": "baz", "user_name": "foo"},
                {"content": "foo", "user_name": "bar"}
            ]),
        ),
        _ => (204, Value::Null),
    }
}

/// The webhook, and its users.
pub struct HasuraTestWebhook {
    pub server: WebhookServer,
    pub users: Arc<Mutex<Users>>,
}

impl HasuraTestWebhook {
    pub async fn start() -> Self {
        let users = Arc::new(Mutex::new(Users::default()));
        let state = Arc::clone(&users);
        let server = WebhookServer::start(move |request, _| {
            let mut headers: Vec<(String, String)> = request
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            headers.sort();
            let (status, body) = answer(&request.path, &request.body, &headers, &state);
            let reply = if status == 204 {
                Reply::raw(204, "")
            } else {
                Reply::json(status, body)
            };
            let reply = reply.with_header("Set-Cookie", "abcd");
            if request.path == "/create-user-timeout" {
                reply.after(Duration::from_secs(3))
            } else {
                reply
            }
        })
        .await;
        Self { server, users }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn email_check_matches_hasuras_pattern() {
        for good in ["clarke@gmail.com", "a.b-c@x-y.io", "blake@hasura.io"] {
            assert!(valid_email(good), "{good}");
        }
        for bad in [
            "random-email",
            "a@b",
            "a@b.comm",
            "@x.com",
            "a..b@x.com",
            "a@.com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
