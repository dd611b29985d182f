//! A handler that misbehaves on request, to show the server contains it: `mode` picks an
//! infinite loop, a memory bomb, unbounded recursion, a trap, output that is not JSON, a flood
//! of log lines, log lines of markup and a refusal (`log-html`: the console must show them as
//! text), or tries to escape its sandbox (`escape:<host:port>`: read a file, list the
//! environment, open a TCP connection). Written against the raw WIT bindings, not the SDK, so
//! it can return what the SDK never would.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.1.0",
        world: "hookwing:action/action-handler@0.1.0",
        generate_all,
    });
}

/// What each mode does, as plain Rust (natively testable where that makes sense).
pub fn misbehave(mode: &str, log: &mut dyn FnMut(&str)) -> Result<String, String> {
    match mode {
        "ok" => Ok(r#"{"accessToken": "fine", "userId": 1}"#.into()),
        "loop" => loop {
            std::hint::black_box(0_u64);
        },
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "recursion" => Ok(recurse(std::hint::black_box(0)).to_string()),
        "trap" => panic!("hostile handler trapped on purpose"),
        "garbage" => Ok("\u{0}this is { not json".into()),
        "log-flood" => {
            for i in 0..10_000 {
                log(&format!("line {i} {}", "x".repeat(100)));
            }
            Ok(r#"{"accessToken": "flooded", "userId": 2}"#.into())
        }
        "log-html" => {
            log(r#"<img src=x onerror="window.__hookwingXss=true">"#);
            log("<script>window.__hookwingXss=true</script> and <b>bold</b>");
            Err("refused after logging <i>markup</i>".into())
        }
        other => match other.strip_prefix("escape:") {
            Some(target) => Ok(format!(
                r#"{{"accessToken": "{}", "userId": 0}}"#,
                escape(target)
            )),
            None => Err(format!("unknown mode {other}")),
        },
    }
}

/// Reports which doors were open: `fs=… env=… tcp=…`.
fn escape(target: &str) -> String {
    let fs = match std::fs::read("/etc/passwd") {
        Ok(_) => "READ",
        Err(_) => "denied",
    };
    let env = std::env::vars().count();
    let tcp = match std::net::TcpStream::connect(target) {
        Ok(_) => "CONNECTED",
        Err(_) => "denied",
    };
    format!("fs={fs} env={env} tcp={tcp}")
}

#[expect(unconditional_recursion, reason = "the stack overflow is the point")]
fn recurse(depth: u64) -> u64 {
    let padding = std::hint::black_box([depth; 64]);
    recurse(depth + 1) + padding[63]
}

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::bindings::exports::hookwing::action::handler::Guest;
    use super::bindings::hookwing::action::log;
    use super::bindings::hookwing::action::types::{ActionError, HandlerError, Request};

    struct Hostile;

    impl Guest for Hostile {
        fn handle(request: Request) -> Result<String, HandlerError> {
            let mode = request
                .input
                .split("\"mode\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_owned();
            super::misbehave(&mode, &mut |line| log::log(log::Level::Info, line)).map_err(
                |message| {
                    HandlerError::Reject(ActionError {
                        message,
                        extensions: None,
                    })
                },
            )
        }
    }

    super::bindings::export!(Hostile with_types_in super::bindings);
}

#[cfg(test)]
mod tests {
    #[test]
    fn benign_modes_behave_natively() {
        let mut lines = 0;
        assert!(super::misbehave("ok", &mut |_| lines += 1).is_ok());
        assert!(super::misbehave("garbage", &mut |_| lines += 1).is_ok());
        assert!(super::misbehave("log-flood", &mut |_| lines += 1).is_ok());
        assert_eq!(lines, 10_000);
        assert!(super::misbehave("nope", &mut |_| lines += 1).is_err());
    }
}
