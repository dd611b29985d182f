//! Who may call what: JWT sessions (HS256, RS256 with a PEM key or a JWK set), roles and action
//! permissions, the unauthorized role, and a hostile set of tokens and role escalations. Also
//! the Standard Webhooks signature every webhook request carries when a secret is configured.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hookwing::config::Environment;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::conformance::webhook_reply;
use crate::harness::{Backend, TestDb, TestServer, WebhookServer, on_both_backends};

on_both_backends!(
    jwt_sessions_reach_both_handler_kinds_and_roles_see_only_their_actions,
    hostile_tokens_and_role_escalations_are_refused,
    webhooks_are_signed_per_standard_webhooks,
);

const HS_KEY: &str = "an-hmac-key-of-at-least-thirty-two-characters";
const ADMIN_SECRET: &str = "s3cret";

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Hasura-style claims for `user-id` with `roles` (the first is the default).
fn claims(user_id: &str, roles: &[&str]) -> Value {
    json!({
        "sub": user_id,
        "exp": now() + 600,
        "https://hasura.io/jwt/claims": {
            "x-hasura-allowed-roles": roles,
            "x-hasura-default-role": roles[0],
            "x-hasura-user-id": user_id,
        }
    })
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(HS_KEY.as_bytes()),
    )
    .expect("sign")
}

fn rs256(claims: &Value, private_pem: &str, kid: Option<&str>) -> String {
    signed(Algorithm::RS256, claims, private_pem, kid)
}

/// Two actions answered by the conformance twins, `whoamiHttp` (webhook) and `whoamiWasm`
/// (component), granted to `granted`.
async fn whoami_server(
    backend: Backend,
    adjust: impl FnOnce(&mut hookwing::Config),
    granted: &[&str],
) -> (TestDb, TestServer, WebhookServer) {
    let webhook = WebhookServer::start(|request, _| {
        let scenario = request.body["input"]["scenario"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        webhook_reply(&scenario, 1, &request.body["session_variables"])
    })
    .await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |config| {
        config.admin_secret = Some(ADMIN_SECRET.into());
        adjust(config);
    })
    .await;
    server
        .upload_guest("conformance", "conformance", json!({}))
        .await;
    let action = |name: &str, handler: &str| {
        json!({"type": "create_action", "args": {"name": name, "definition": {
            "arguments": [{"name": "scenario", "type": "String!"}],
            "output_type": "UserInfo", "handler": handler}}})
    };
    let mut ops = vec![
        json!({"type": "set_custom_types", "args": {"objects": [{"name": "UserInfo", "fields": [
            {"name": "accessToken", "type": "String!"}, {"name": "userId", "type": "Int!"}]}]}}),
        action("whoamiHttp", &format!("{}/whoami", webhook.url)),
        action("whoamiWasm", "wasm://conformance"),
    ];
    for role in granted {
        for name in ["whoamiHttp", "whoamiWasm"] {
            ops.push(json!({"type": "create_action_permission",
                "args": {"action": name, "role": role}}));
        }
    }
    server
        .metadata_ok(json!({"type": "bulk", "args": ops}))
        .await;
    (db, server, webhook)
}

/// A GraphQL request with the given headers only (no admin secret unless given).
async fn call(server: &TestServer, query: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = server.client.post(format!("{}/v1/graphql", server.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .json(&json!({"query": query}))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

const WHOAMI: &str = "mutation { http: whoamiHttp(scenario: \"whoami\") { accessToken } \
                      wasm: whoamiWasm(scenario: \"whoami\") { accessToken } }";
const MUTATIONS: &str =
    "{ __schema { mutationType { fields { name } } } __type(name: \"UserInfo\") { name } }";

fn hs256_config(config: &mut hookwing::Config) {
    config.jwt_secret = Some(json!({"type": "HS256", "key": HS_KEY}));
}

async fn jwt_sessions_reach_both_handler_kinds_and_roles_see_only_their_actions(backend: Backend) {
    let (db, server, _webhook) = whoami_server(backend, hs256_config, &["user"]).await;
    let token = hs256(&claims("42", &["user", "editor"]));
    let bearer = format!("Bearer {token}");

    let (status, body) = call(&server, WHOAMI, &[("authorization", &bearer)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"http": {"accessToken": "user:42"}, "wasm": {"accessToken": "user:42"}}),
        "{body}"
    );
    let stored = &db.events("whoamiWasm").await[0];
    assert_eq!(
        stored.session_variables,
        json!({"x-hasura-role": "user", "x-hasura-user-id": "42"})
    );

    // The token is the authority: headers cannot change its variables.
    let (_, body) = call(
        &server,
        WHOAMI,
        &[("authorization", &bearer), ("x-hasura-user-id", "99")],
    )
    .await;
    assert_eq!(body["data"]["http"]["accessToken"], "user:42", "{body}");

    // A role without permissions sees neither the actions nor their types.
    let (_, user_view) = call(&server, MUTATIONS, &[("authorization", &bearer)]).await;
    let fields = &user_view["data"]["__schema"]["mutationType"]["fields"];
    assert_eq!(
        fields,
        &json!([{"name": "whoamiHttp"}, {"name": "whoamiWasm"}])
    );
    assert_eq!(user_view["data"]["__type"], json!({"name": "UserInfo"}));
    let editor = [
        ("authorization", bearer.as_str()),
        ("x-hasura-role", "editor"),
    ];
    let (_, editor_view) = call(&server, MUTATIONS, &editor).await;
    assert_eq!(
        editor_view["data"],
        json!({"__schema": {"mutationType": null}, "__type": null}),
        "{editor_view}"
    );
    let (_, denied) = call(&server, WHOAMI, &editor).await;
    assert_eq!(
        denied["errors"][0]["extensions"]["code"], "validation-failed",
        "{denied}"
    );

    // The admin can act as a role, and then sees what the role sees.
    let as_editor = [
        ("x-hasura-admin-secret", ADMIN_SECRET),
        ("x-hasura-role", "editor"),
    ];
    let (_, admin_as_editor) = call(&server, MUTATIONS, &as_editor).await;
    assert_eq!(
        admin_as_editor["data"]["__schema"]["mutationType"],
        Value::Null
    );

    // A JWT never opens the admin APIs.
    let response = server
        .client
        .post(format!("{}/v1/metadata", server.url))
        .header("authorization", &bearer)
        .json(&json!({"type": "export_metadata", "args": {}}))
        .send()
        .await
        .expect("metadata");
    assert_eq!(response.status().as_u16(), 401);
    server.stop().await;
}

fn unsigned(header: Value, claims: &Value) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.", part(&header), part(claims))
}

async fn hostile_tokens_and_role_escalations_are_refused(backend: Backend) {
    let (db, server, webhook) = whoami_server(backend, hs256_config, &["user"]).await;
    let good = claims("42", &["user"]);
    let mut expired = good.clone();
    expired["exp"] = json!(now() - 3600);
    let mut early = good.clone();
    early["nbf"] = json!(now() + 3600);
    let mut no_exp = good.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    let mut no_namespace = good.clone();
    no_namespace
        .as_object_mut()
        .expect("object")
        .remove("https://hasura.io/jwt/claims");
    let mut foreign_default = good.clone();
    foreign_default["https://hasura.io/jwt/claims"]["x-hasura-default-role"] = json!("admin");
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"not-the-servers-key-not-the-servers-key"),
    )
    .expect("sign");
    let tampered = {
        let token = hs256(&good);
        let parts: Vec<&str> = token.split('.').collect();
        let mut escalated = good.clone();
        escalated["https://hasura.io/jwt/claims"]["x-hasura-allowed-roles"] =
            json!(["user", "admin"]);
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(escalated.to_string()),
            parts[2]
        )
    };
    let tokens = [
        ("forged", forged),
        ("tampered", tampered),
        ("expired", hs256(&expired)),
        ("not yet valid", hs256(&early)),
        ("no exp", hs256(&no_exp)),
        ("no namespace", hs256(&no_namespace)),
        ("default role not allowed", hs256(&foreign_default)),
        (
            "alg none",
            unsigned(json!({"alg": "none", "typ": "JWT"}), &good),
        ),
        (
            "wrong alg",
            rs256(&good, &fixture("jwt-rs256-private.pem"), None),
        ),
        ("garbage", "abc.def".to_owned()),
    ];
    for (what, token) in tokens {
        let (status, body) = call(
            &server,
            WHOAMI,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "invalid-jwt",
            "{what}: {body}"
        );
    }

    let bearer = format!("Bearer {}", hs256(&good));
    let escalations: [&[(&str, &str)]; 4] = [
        &[("authorization", &bearer), ("x-hasura-role", "admin")],
        &[("authorization", &bearer), ("x-hasura-role", "editor")],
        &[("x-hasura-role", "admin")],
        &[
            ("x-hasura-admin-secret", "guess"),
            ("x-hasura-role", "user"),
        ],
    ];
    let expected = [
        (403, "access-denied"),
        (403, "access-denied"),
        (401, "access-denied"),
        (401, "access-denied"),
    ];
    for (headers, (status, code)) in escalations.iter().zip(expected) {
        let (got, body) = call(&server, WHOAMI, headers).await;
        assert_eq!(
            (got, body["errors"][0]["extensions"]["code"].as_str()),
            (status, Some(code)),
            "{headers:?}: {body}"
        );
    }
    assert!(
        webhook.requests().is_empty(),
        "no refused request reached a handler"
    );
    assert!(db.events("whoamiHttp").await.is_empty() && db.events("whoamiWasm").await.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_tokens_verify_against_a_pem_key_or_a_jwk_set() {
    let private = fixture("jwt-rs256-private.pem");
    let public = fixture("jwt-rs256-public.pem");
    let good = claims("7", &["user"]);
    let pem_config = {
        let public = public.clone();
        move |config: &mut hookwing::Config| {
            config.jwt_secret = Some(json!({"type": "RS256", "key": public}));
        }
    };
    let (_db, server, _webhook) = whoami_server(Backend::Sqlite, pem_config, &["user"]).await;
    let ok = format!("Bearer {}", rs256(&good, &private, None));
    let (status, body) = call(&server, WHOAMI, &[("authorization", &ok)]).await;
    assert_eq!(
        (status, body["data"]["wasm"]["accessToken"].as_str()),
        (200, Some("user:7")),
        "{body}"
    );
    // Signed by another key; and the classic confusion attack: HS256 keyed with the public key.
    let other = rs256(&good, &fixture("jwt-rs256-other-private.pem"), None);
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(public.as_bytes()),
    )
    .expect("sign");
    for token in [other, confused] {
        let (status, body) = call(
            &server,
            WHOAMI,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(
            (status, body["errors"][0]["extensions"]["code"].as_str()),
            (401, Some("invalid-jwt"))
        );
    }
    server.stop().await;

    let jwks = format!("{}/fixtures/jwks.json", env!("CARGO_MANIFEST_DIR"));
    let jwk_config = move |config: &mut hookwing::Config| {
        config.jwt_secret = Some(json!({"type": "RS256", "jwk_file": jwks}));
    };
    let (_db, server, _webhook) = whoami_server(Backend::Sqlite, jwk_config, &["user"]).await;
    let with_kid = format!("Bearer {}", rs256(&good, &private, Some("test-key-1")));
    let (status, _) = call(&server, WHOAMI, &[("authorization", &with_kid)]).await;
    assert_eq!(status, 200);
    let unknown_kid = format!("Bearer {}", rs256(&good, &private, Some("rotated-away")));
    let (status, body) = call(&server, WHOAMI, &[("authorization", &unknown_kid)]).await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].as_str()),
        (401, Some("invalid-jwt"))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_role_sees_only_what_it_is_granted() {
    let anonymous = |config: &mut hookwing::Config| {
        hs256_config(config);
        config.unauthorized_role = Some("anonymous".into());
    };
    let (_db, server, _webhook) = whoami_server(Backend::Sqlite, anonymous, &["anonymous"]).await;
    let (status, body) = call(&server, WHOAMI, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["http"]["accessToken"], "anonymous:-", "{body}");
    // Headers do not make an anonymous caller anyone else.
    let (_, body) = call(
        &server,
        WHOAMI,
        &[("x-hasura-role", "user"), ("x-hasura-user-id", "1")],
    )
    .await;
    assert_eq!(body["data"]["wasm"]["accessToken"], "anonymous:-", "{body}");
    // A bad token is an error, not a fallback to anonymous.
    let (status, _) = call(&server, WHOAMI, &[("authorization", "Bearer abc.def.ghi")]).await;
    assert_eq!(status, 401);
    server.stop().await;
}

async fn webhooks_are_signed_per_standard_webhooks(backend: Backend) {
    let global = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    // The base64 alone, without `whsec_`: the official library reads it the same way.
    let per_action = "cGVyLWFjdGlvbi1zaWduaW5nLXNlY3JldA==";
    let webhook = WebhookServer::login_ok().await;
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(&db, |config| {
        config.webhook_signing_secret = Some(global.into());
        config.environment = Environment::default()
            .with("LOGIN_SIGNING_SECRET", per_action)
            .with("PLAIN_SECRET", "a-plain-text-signing-secret");
    })
    .await;
    server.metadata_ok(crate::harness::login_types()).await;
    let url = format!("{}/login", webhook.url);
    server
        .metadata_ok(crate::harness::login_action(&url, json!({})))
        .await;
    server
        .graphql(crate::harness::LOGIN_MUTATION, json!({}))
        .await;
    let signed_with = |verifier: &standardwebhooks::Webhook, request: &crate::harness::Recorded| {
        let mut headers = http::HeaderMap::new();
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let value = request
                .headers
                .get(name)
                .unwrap_or_else(|| panic!("{name} header"));
            headers.insert(name, value.parse().expect("header value"));
        }
        verifier.verify(&request.raw, &headers).is_ok()
    };
    let global_verifier = standardwebhooks::Webhook::new(global).expect("whsec secret");
    let action_verifier =
        standardwebhooks::Webhook::new(per_action).expect("the secret as configured");
    let first = &webhook.requests()[0];
    assert!(
        signed_with(&global_verifier, first),
        "signed with the server's secret"
    );
    assert!(!signed_with(&action_verifier, first));

    let update = crate::harness::login_action(
        &url,
        json!({"signing_secret_from_env": "LOGIN_SIGNING_SECRET"}),
    );
    server
        .metadata_ok(json!({"type": "update_action", "args": update["args"]}))
        .await;
    server
        .graphql(crate::harness::LOGIN_MUTATION, json!({}))
        .await;
    let second = &webhook.requests()[1];
    assert!(
        signed_with(&action_verifier, second),
        "the action's own secret wins"
    );
    assert!(!signed_with(&global_verifier, second));

    // A plain-text secret, which no Standard Webhooks library could be configured with, is
    // refused with advice.
    let plain =
        crate::harness::login_action(&url, json!({"signing_secret_from_env": "PLAIN_SECRET"}));
    let (status, body) = server
        .metadata(json!({"type": "update_action", "args": plain["args"]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("whsec_"),
        "{body}"
    );

    let missing = crate::harness::login_action(&url, json!({"signing_secret_from_env": "NOPE"}));
    let (status, body) = server
        .metadata(json!({"type": "update_action", "args": missing["args"]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["path"], "$.definition.signing_secret_from_env");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_issuer_or_audience_must_be_in_the_token() {
    let config = |config: &mut hookwing::Config| {
        config.jwt_secret = Some(json!({"type": "HS256", "key": HS_KEY,
            "issuer": "https://issuer.example.test/", "audience": ["hookwing", "other"]}));
    };
    let (_db, server, _webhook) = whoami_server(Backend::Sqlite, config, &["user"]).await;
    let with = |iss: Option<&str>, aud: Option<&str>| {
        let mut token = claims("7", &["user"]);
        if let Some(iss) = iss {
            token["iss"] = json!(iss);
        }
        if let Some(aud) = aud {
            token["aud"] = json!(aud);
        }
        format!("Bearer {}", hs256(&token))
    };
    let issuer = Some("https://issuer.example.test/");
    for (token, expected) in [
        (with(issuer, Some("hookwing")), 200),
        (with(None, Some("hookwing")), 401),
        (with(issuer, None), 401),
        (with(Some("https://elsewhere.test/"), Some("hookwing")), 401),
        (with(issuer, Some("someone-else")), 401),
    ] {
        let (status, body) = call(&server, WHOAMI, &[("authorization", &token)]).await;
        assert_eq!(status, expected, "{body}");
    }
    server.stop().await;
}

/// A token signed with `private_pem` by `algorithm`.
fn signed(algorithm: Algorithm, claims: &Value, private_pem: &str, kid: Option<&str>) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    let pem = private_pem.as_bytes();
    let key = match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        _ => EncodingKey::from_rsa_pem(pem),
    }
    .expect("private key");
    encode(&header, claims, &key).expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwk_url_is_cached_and_a_rotated_key_is_fetched_when_first_seen() {
    let rotated = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let serving = std::sync::Arc::clone(&rotated);
    let provider = WebhookServer::start(move |_, _| {
        let set = if serving.load(std::sync::atomic::Ordering::SeqCst) {
            "jwks-rotated.json"
        } else {
            "jwks.json"
        };
        crate::harness::Reply::raw(200, &fixture(set)).with_header("cache-control", "max-age=3600")
    })
    .await;
    let jwk_url = format!("{}/.well-known/jwks.json", provider.url);
    let config = move |config: &mut hookwing::Config| {
        config.jwt_secret = Some(json!({"jwk_url": jwk_url}));
    };
    let (_db, server, _webhook) = whoami_server(Backend::Sqlite, config, &["user"]).await;
    let good = claims("7", &["user"]);
    let first = format!(
        "Bearer {}",
        signed(
            Algorithm::RS256,
            &good,
            &fixture("jwt-rs256-private.pem"),
            Some("test-key-1")
        )
    );
    for _ in 0..3 {
        let (status, body) = call(&server, WHOAMI, &[("authorization", &first)]).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        provider.requests().len(),
        1,
        "the set is cached for its max-age"
    );

    // The provider rotates: a token with the new key id works at once.
    rotated.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = format!(
        "Bearer {}",
        signed(
            Algorithm::RS256,
            &good,
            &fixture("jwt-rs256-other-private.pem"),
            Some("test-key-2")
        )
    );
    let (status, body) = call(&server, WHOAMI, &[("authorization", &second)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(provider.requests().len(), 2);

    // Made-up key ids are refused, and cannot make the server hammer the provider.
    for _ in 0..5 {
        let forged = format!(
            "Bearer {}",
            signed(
                Algorithm::RS256,
                &good,
                &fixture("jwt-rs256-private.pem"),
                Some("made-up")
            )
        );
        let (status, _) = call(&server, WHOAMI, &[("authorization", &forged)]).await;
        assert_eq!(status, 401);
    }
    assert!(
        provider.requests().len() <= 3,
        "{}",
        provider.requests().len()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_provider_token_shapes_are_read_as_configured() {
    // AWS Cognito: the Hasura claims as a JSON string, at a path.
    let cognito = |config: &mut hookwing::Config| {
        config.jwt_secret = Some(json!({"type": "HS256", "key": HS_KEY,
            "claims_format": "stringified_json", "claims_namespace_path": "$.hasura"}));
    };
    let (_db, server, _webhook) = whoami_server(Backend::Sqlite, cognito, &["user"]).await;
    let token = hs256(&json!({"sub": "c1", "exp": now() + 600, "hasura": json!({
        "x-hasura-allowed-roles": ["user"], "x-hasura-default-role": "user",
        "x-hasura-user-id": "c1"}).to_string()}));
    let (status, body) = call(
        &server,
        WHOAMI,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(
        (status, body["data"]["wasm"]["accessToken"].as_str()),
        (200, Some("user:c1")),
        "{body}"
    );
    server.stop().await;

    // Firebase, Clerk: no Hasura claims at all, mapped from the provider's own, in a cookie.
    let mapped = |config: &mut hookwing::Config| {
        config.jwt_secret = Some(json!({"type": "HS256", "key": HS_KEY,
        "header": {"type": "Cookie", "name": "__session"},
        "claims_map": {
            "x-hasura-allowed-roles": {"path": "$.roles"},
            "x-hasura-default-role": {"path": "$.primary_role", "default": "user"},
            "x-hasura-user-id": {"path": "$.sub"}
        }}));
    };
    let (_db, server, _webhook) = whoami_server(Backend::Sqlite, mapped, &["user"]).await;
    let token = hs256(&json!({"sub": "f9", "exp": now() + 600, "roles": ["user", "editor"]}));
    let cookie = format!("theme=dark; __session={token}");
    let (status, body) = call(&server, WHOAMI, &[("cookie", &cookie)]).await;
    assert_eq!(
        (status, body["data"]["wasm"]["accessToken"].as_str()),
        (200, Some("user:f9")),
        "{body}"
    );
    // The bearer header is not where this server looks.
    let (status, _) = call(
        &server,
        WHOAMI,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_and_ed25519_tokens_verify_against_their_keys() {
    for (algorithm, name, kind) in [
        (Algorithm::ES256, "es256", "ES256"),
        (Algorithm::EdDSA, "ed25519", "Ed25519"),
    ] {
        let public = fixture(&format!("jwt-{name}-public.pem"));
        let config = move |config: &mut hookwing::Config| {
            config.jwt_secret = Some(
                json!({"type": kind, "key": public, "header": {"type": "CustomHeader", "name": "x-token"}}),
            );
        };
        let (_db, server, _webhook) = whoami_server(Backend::Sqlite, config, &["user"]).await;
        let token = signed(
            algorithm,
            &claims("5", &["user"]),
            &fixture(&format!("jwt-{name}-private.pem")),
            None,
        );
        let (status, body) = call(&server, WHOAMI, &[("x-token", &token)]).await;
        assert_eq!(status, 200, "{name}: {body}");
        let forged = signed(
            Algorithm::RS256,
            &claims("5", &["user"]),
            &fixture("jwt-rs256-private.pem"),
            None,
        );
        let (status, _) = call(&server, WHOAMI, &[("x-token", &forged)]).await;
        assert_eq!(status, 401, "{name}: another algorithm is refused");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auth_webhook_decides_who_calls_in_get_and_post_modes_and_its_answers_are_cached() {
    for mode in ["GET", "POST"] {
        // The hook knows one token; it lets its answer be kept for ten minutes.
        let hook = WebhookServer::start(|request, _| {
            let token = request.headers.get("authorization").cloned().or_else(|| {
                request.body["headers"]["authorization"]
                    .as_str()
                    .map(str::to_owned)
            });
            match token.as_deref() {
                Some("Bearer good") => crate::harness::Reply::json(
                    200,
                    json!({"X-Hasura-Role": "user", "X-Hasura-User-Id": "42",
                           "Cache-Control": "max-age=600"}),
                ),
                _ => crate::harness::Reply::json(401, json!({})),
            }
        })
        .await;
        let url = format!("{}/auth", hook.url);
        let config = move |config: &mut hookwing::Config| {
            config.auth_hook = Some(url);
            config.auth_hook_mode = if mode == "GET" {
                hookwing::config::AuthHookMode::Get
            } else {
                hookwing::config::AuthHookMode::Post
            };
        };
        let (_db, server, _webhook) = whoami_server(Backend::Sqlite, config, &["user"]).await;
        for _ in 0..3 {
            let (status, body) = call(&server, WHOAMI, &[("authorization", "Bearer good")]).await;
            assert_eq!(
                (status, body["data"]["wasm"]["accessToken"].as_str()),
                (200, Some("user:42")),
                "{mode}: {body}"
            );
        }
        assert_eq!(
            hook.requests().len(),
            1,
            "{mode}: cached for its max-age: {:?}",
            hook.requests()
                .iter()
                .map(|r| &r.headers)
                .collect::<Vec<_>>()
        );
        let sent = &hook.requests()[0];
        match mode {
            "GET" => assert_eq!(sent.headers["authorization"], "Bearer good"),
            _ => assert_eq!(sent.body["headers"]["authorization"], "Bearer good"),
        }
        let (status, body) = call(&server, WHOAMI, &[("authorization", "Bearer bad")]).await;
        assert_eq!(
            (status, body["errors"][0]["extensions"]["code"].as_str()),
            (401, Some("access-denied")),
            "{mode}"
        );
        // The admin secret never reaches the hook.
        let (status, _) = call(&server, WHOAMI, &[("x-hasura-admin-secret", ADMIN_SECRET)]).await;
        assert_eq!(status, 200);
        assert!(
            hook.requests()
                .iter()
                .all(|r| !r.headers.contains_key("x-hasura-admin-secret"))
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_jwt_settings_each_verify_their_own_tokens() {
    let public = fixture("jwt-rs256-public.pem");
    let config = move |config: &mut hookwing::Config| {
        // Hasura's JWT_SECRETS: a JSON list in a string, e.g. while moving between providers.
        config.jwt_secrets = vec![
            json!({"type": "HS256", "key": HS_KEY}),
            json!({"type": "RS256", "key": public, "header": {"type": "CustomHeader", "name": "x-rsa-token"}}),
        ];
    };
    let (_db, server, _webhook) = whoami_server(Backend::Sqlite, config, &["user"]).await;
    let hs = format!("Bearer {}", hs256(&claims("1", &["user"])));
    let rs = rs256(
        &claims("2", &["user"]),
        &fixture("jwt-rs256-private.pem"),
        None,
    );
    for (headers, user) in [
        (vec![("authorization", hs.as_str())], "user:1"),
        (vec![("x-rsa-token", rs.as_str())], "user:2"),
    ] {
        let (status, body) = call(&server, WHOAMI, &headers).await;
        assert_eq!(
            (status, body["data"]["wasm"]["accessToken"].as_str()),
            (200, Some(user)),
            "{body}"
        );
    }
    let forged = format!(
        "Bearer {}",
        rs256(
            &claims("3", &["user"]),
            &fixture("jwt-rs256-other-private.pem"),
            None
        )
    );
    let (status, _) = call(&server, WHOAMI, &[("authorization", &forged)]).await;
    assert_eq!(status, 401);
    server.stop().await;
}

/// Opens a WebSocket authenticated by `token` in `connection_init` and waits for the ack.
async fn websocket_with(
    server: &TestServer,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!("{}/v1/graphql", server.url.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let init = json!({"type": "connection_init",
        "payload": {"headers": {"Authorization": format!("Bearer {token}")}}});
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .expect("init");
    loop {
        let message = socket
            .next()
            .await
            .expect("a message")
            .expect("not an error");
        if let Message::Text(text) = message {
            let message: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(message["type"], "connection_ack", "{message}");
            return socket;
        }
    }
}

/// A WebSocket authenticated by a JWT is closed when the token expires, as Hasura closes it;
/// one whose token is still valid stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_when_its_token_expires() {
    use futures::StreamExt;
    let (_db, server, _webhook) = whoami_server(Backend::Sqlite, hs256_config, &["user"]).await;
    let mut expiring = claims("7", &["user"]);
    expiring["exp"] = json!(now() + 2);
    let mut expiring = websocket_with(&server, &hs256(&expiring)).await;
    let mut lasting = websocket_with(&server, &hs256(&claims("8", &["user"]))).await;
    let opened = std::time::Instant::now();

    // Whatever arrives (a keep-alive, a close frame), the stream ends within a few seconds.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(8), async {
        while let Some(Ok(message)) = expiring.next().await {
            if message.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the connection with an expired token is still open"
    );
    assert!(
        opened.elapsed() >= std::time::Duration::from_millis(500),
        "closed before the token expired"
    );
    // The other connection is still there.
    let still_open = tokio::time::timeout(std::time::Duration::from_millis(500), async {
        loop {
            match lasting.next().await {
                Some(Ok(message)) if !message.is_close() => {}
                _ => return,
            }
        }
    })
    .await;
    assert!(still_open.is_err(), "the valid connection was closed");
    server.stop().await;
}

/// The graphql-ws client library, as applications use it: a refused `connection_init` closes
/// the socket with 4403 Forbidden (the code its protocol gives, on which clients stop
/// retrying), and accepted credentials run the operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_clients_see_4403_for_refused_credentials() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start_with(&db, |config| {
        config.admin_secret = Some(ADMIN_SECRET.into())
    })
    .await;
    let url = format!("{}/v1/graphql", server.url.replacen("http", "ws", 1));
    let run = |secret: &'static str| {
        let url = url.clone();
        async move {
            crate::harness::node_client("graphql-ws-client.mjs", &[&url, secret, "{ __typename }"])
                .await
        }
    };
    let refused = run("not-the-secret").await;
    assert_eq!(refused["closed"]["code"], 4403, "{refused}");
    assert!(refused["data"].is_null(), "{refused}");
    let accepted = run(ADMIN_SECRET).await;
    assert_eq!(
        accepted["data"]["data"]["__typename"], "query_root",
        "{accepted}"
    );
    server.stop().await;
}
