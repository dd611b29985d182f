//! Runs a list of key-value operations against the handler's namespace and reports each one's
//! result: `kvProbe(ops: String!): KvProbe`, where `ops` is a JSON list such as
//! `[{"op": "set", "key": "a", "value": "1", "ttlMs": 500}, {"op": "get", "key": "a"}]` and
//! the answer's `results` is a JSON list with `{"ok": …}` or `{"error": {"kind", "message"}}`
//! per operation. Values are text. `fill` writes `count` keys `prefix0…` of `size` bytes, to
//! reach a quota; `retry-if` asks for a retry when the previous result equals `ok`, so that a
//! test can see what an attempt that gave up left behind.

use hookwing_sdk::{ActionError, Context, KvError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The action's arguments.
#[derive(Debug, Deserialize)]
pub struct Probe {
    pub ops: String,
}

/// The action's output.
#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    pub results: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", rename_all_fields = "camelCase")]
enum Op {
    Get {
        key: String,
    },
    Set {
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    },
    Delete {
        key: String,
    },
    Cas {
        key: String,
        expected: Option<String>,
        new: Option<String>,
        ttl_ms: Option<u64>,
    },
    Fill {
        prefix: String,
        count: usize,
        size: usize,
    },
    RetryIf {
        ok: Value,
    },
}

fn ttl(ms: Option<u64>) -> Option<std::time::Duration> {
    ms.map(std::time::Duration::from_millis)
}

fn outcome(result: Result<Value, KvError>) -> Value {
    match result {
        Ok(value) => json!({"ok": value}),
        Err(error) => {
            let kind = match &error {
                KvError::Invalid(_) => "invalid",
                KvError::QuotaExceeded(_) => "quota-exceeded",
                KvError::Unavailable(_) => "unavailable",
            };
            json!({"error": {"kind": kind, "message": error.to_string()}})
        }
    }
}

fn run(op: Op, ctx: &Context) -> Result<Value, KvError> {
    let kv = ctx.kv();
    Ok(match op {
        Op::Get { key } => json!(kv.get_string(&key)?),
        Op::Set { key, value, ttl_ms } => {
            kv.set(&key, value, ttl(ttl_ms))?;
            Value::Null
        }
        Op::Delete { key } => json!(kv.delete(&key)?),
        Op::Cas {
            key,
            expected,
            new,
            ttl_ms,
        } => json!(kv.compare_and_swap(
            &key,
            expected.as_deref().map(str::as_bytes),
            new.as_deref().map(str::as_bytes),
            ttl(ttl_ms),
        )?),
        Op::Fill {
            prefix,
            count,
            size,
        } => {
            let value = "x".repeat(size);
            for n in 0..count {
                kv.set(&format!("{prefix}{n}"), &value, None)?;
            }
            json!(count)
        }
        // Conditions, handled by the caller.
        Op::RetryIf { .. } => Value::Null,
    })
}

/// Runs every operation in turn; an error is reported, not returned, so later operations
/// still run.
pub fn kv_probe(input: Probe, ctx: &Context) -> Result<Report, ActionError> {
    let ops: Vec<Op> = serde_json::from_str(&input.ops)
        .map_err(|e| ActionError::new(format!("ops: {e}")).with_code("invalid-input"))?;
    let mut results: Vec<Value> = Vec::new();
    for op in ops {
        let previous = results.last().and_then(|r| r.get("ok")).cloned();
        match &op {
            Op::RetryIf { ok } if previous.as_ref() == Some(ok) => {
                return Err(ActionError::retry("retry on purpose"));
            }
            // A condition that does not hold has no result of its own.
            Op::RetryIf { .. } => continue,
            _ => {}
        }
        results.push(outcome(run(op, ctx)));
    }
    Ok(Report {
        results: Value::Array(results).to_string(),
    })
}

hookwing_sdk::export_handler!(kv_probe);

#[cfg(test)]
mod tests {
    use super::*;
    use hookwing_sdk::testing::TestContext;

    fn probe(test: &TestContext, ops: Value) -> Value {
        let report = kv_probe(
            Probe {
                ops: ops.to_string(),
            },
            &test.context(),
        )
        .expect("runs");
        serde_json::from_str(&report.results).expect("JSON results")
    }

    #[test]
    fn every_operation_runs_against_the_test_host() {
        let test = TestContext::new("kvProbe").kv("seeded", "1");
        let results = probe(
            &test,
            json!([
                {"op": "get", "key": "seeded"},
                {"op": "cas", "key": "seeded", "expected": "1", "new": "2"},
                {"op": "cas", "key": "seeded", "expected": "1", "new": "3"},
                {"op": "set", "key": "short", "value": "v", "ttlMs": 10},
                {"op": "delete", "key": "nothing"},
                {"op": "get", "key": ""},
            ]),
        );
        assert_eq!(results[0], json!({"ok": "1"}));
        assert_eq!(results[1], json!({"ok": true}));
        assert_eq!(results[2], json!({"ok": false}));
        assert_eq!(results[4], json!({"ok": false}));
        assert_eq!(results[5]["error"]["kind"], "invalid");
        assert_eq!(test.kv_value("seeded"), Some(b"2".to_vec()));
        test.advance(std::time::Duration::from_millis(10));
        assert_eq!(test.kv_value("short"), None);
    }

    #[test]
    fn an_unavailable_store_is_reported() {
        let test = TestContext::new("kvProbe").kv_unavailable();
        let results = probe(&test, json!([{"op": "get", "key": "a"}]));
        assert_eq!(results[0]["error"]["kind"], "unavailable");
    }
}
